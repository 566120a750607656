#!/usr/bin/env python3
"""Writes the seed corpus of postgresql_fuzz (format: see postgresql_fuzz.cc) into
corpus/postgresql/."""

import pathlib
import struct

EGRESS, INGRESS = 0, 1
UNKNOWN, CLIENT, SERVER = 0, 1, 2


def record(direction, data, gap_code=None, syscall_start=True):
    control = direction | (0 if syscall_start else 2) | (4 if gap_code is not None else 0)
    out = bytearray()
    if len(data) < 31:
        out.append(control | (len(data) << 3))
    else:
        out += bytes([control | (31 << 3), len(data) & 0xFF, len(data) >> 8])
    if gap_code is not None:
        out.append(gap_code)
    return bytes(out) + data


def seed(role, midstream, *records):
    return bytes([role | (4 if midstream else 0)]) + b"".join(records)


def msg(t, body=b""):
    return t + struct.pack(">I", len(body) + 4) + body


def startup(user=b"u", db=b"d"):
    params = b"user\0" + user + b"\0database\0" + db + b"\0\0"
    return struct.pack(">II", len(params) + 8, 196608) + params


ANSWER = (msg(b"R", struct.pack(">I", 0)) + msg(b"S", b"server_version\x0015\0") +
          msg(b"K", struct.pack(">II", 1, 2)) + msg(b"Z", b"I"))
Q = msg(b"Q", b"select name from t where id = 'x'\0")
ROWS = (msg(b"T", b"\0\1c\0" + b"\0" * 18) + msg(b"D", b"\0\1\0\0\0\1a") +
        msg(b"C", b"SELECT 1\0") + msg(b"Z", b"I"))
PARSE = msg(b"P", b"S_1\0select $1\0\0\1\0\0\0\x17")
BIND = msg(b"B", b"\0S_1\0\0\0\0\1\0\0\0\1" + b"7" + b"\0\0")
EXEC = msg(b"E", b"\0\0\0\0\0")
SYNC = msg(b"S")
ERROR = msg(b"E", b"SERROR\0C42P01\0Mno\0\0") + msg(b"Z", b"I")
CLOSE = b"\xff"

SEEDS = {
    "simple": seed(CLIENT, False, record(EGRESS, startup()), record(INGRESS, ANSWER),
                   record(EGRESS, Q), record(INGRESS, ROWS), record(EGRESS, Q),
                   record(INGRESS, ERROR), CLOSE),
    "extended": seed(CLIENT, False, record(EGRESS, startup()), record(INGRESS, ANSWER),
                     record(EGRESS, PARSE + BIND + EXEC + BIND + EXEC + SYNC),
                     record(INGRESS, msg(b"1") + msg(b"2") + msg(b"C", b"SELECT 1\0") +
                            msg(b"2") + msg(b"C", b"SELECT 1\0") + msg(b"Z", b"I"))),
    "ssl_then_startup": seed(CLIENT, False, record(EGRESS, struct.pack(">II", 8, 80877103)),
                             record(INGRESS, b"N"), record(EGRESS, startup()),
                             record(INGRESS, ANSWER), record(EGRESS, Q), record(INGRESS, ROWS)),
    "joined_late": seed(UNKNOWN, True, record(EGRESS, BIND + EXEC + SYNC),
                        record(INGRESS, msg(b"2") + msg(b"C", b"SELECT 1\0") + msg(b"Z", b"I"))),
    "copy": seed(CLIENT, False, record(EGRESS, startup()), record(INGRESS, ANSWER),
                 record(EGRESS, msg(b"Q", b"copy t from stdin\0")),
                 record(INGRESS, msg(b"G", b"\0\0\0")),
                 record(EGRESS, msg(b"d", b"1\tx\n") + msg(b"c")),
                 record(INGRESS, msg(b"C", b"COPY 1\0") + msg(b"Z", b"I"))),
    "gaps": seed(CLIENT, False, record(EGRESS, startup()), record(INGRESS, ANSWER),
                 record(EGRESS, Q), record(INGRESS, ROWS[:20], gap_code=200),
                 record(INGRESS, ROWS[-12:]), record(EGRESS, Q), record(INGRESS, ROWS)),
}

if __name__ == "__main__":
    out = pathlib.Path(__file__).parent / "corpus" / "postgresql"
    out.mkdir(parents=True, exist_ok=True)
    for name, data in SEEDS.items():
        (out / name).write_bytes(data)
