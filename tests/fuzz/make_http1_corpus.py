#!/usr/bin/env python3
"""Writes the seed corpus of http1_fuzz (format: see http1_fuzz.cc) into corpus/http1/."""

import pathlib

EGRESS, INGRESS = 0, 1
UNKNOWN, CLIENT, SERVER = 0, 1, 2


def record(direction, data, gap_code=None, syscall_start=True):
    data = data.replace(b"\n", b"\r\n") if isinstance(data, bytes) else data
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


CLOSE = b"\xff"
GET = b"GET /index.html?q=1 HTTP/1.1\nHost: example.com\nUser-Agent: curl/8\n\n"
OK = b"HTTP/1.1 200 OK\nContent-Length: 5\n\nhello"

SEEDS = {
    "get_keepalive": seed(SERVER, False, record(INGRESS, GET), record(EGRESS, OK),
                          record(INGRESS, GET), record(EGRESS, OK)),
    "pipelined": seed(SERVER, False, record(INGRESS, GET + GET + b"HEAD / HTTP/1.1\n\n"),
                      record(EGRESS, OK + OK + b"HTTP/1.1 200 OK\nContent-Length: 9\n\n")),
    "chunked_post": seed(CLIENT, False,
                         record(EGRESS, b"POST /up HTTP/1.1\nTransfer-Encoding: chunked\n\n"
                                        b"5;ext=1\nhello\n0\nX-Trailer: t\n\n"),
                         record(INGRESS, b"HTTP/1.1 201 Created\nTransfer-Encoding: chunked\n\n"),
                         record(INGRESS, b"3\nabc\n0\n\n", syscall_start=False)),
    "continue_100": seed(SERVER, False,
                         record(INGRESS, b"PUT /f HTTP/1.1\nContent-Length: 4\n"
                                         b"Expect: 100-continue\n\n"),
                         record(EGRESS, b"HTTP/1.1 100 Continue\n\n"), record(INGRESS, b"data"),
                         record(EGRESS, b"HTTP/1.1 204 No Content\n\n")),
    "http10_close": seed(SERVER, False, record(INGRESS, b"GET / HTTP/1.0\n\n"),
                         record(EGRESS, b"HTTP/1.0 200 OK\n\nbody"), record(EGRESS, b"more"),
                         CLOSE),
    "upgrade_101": seed(SERVER, False,
                        record(INGRESS, b"GET /ws HTTP/1.1\nUpgrade: websocket\n\n"),
                        record(EGRESS, b"HTTP/1.1 101 Switching Protocols\n\n\x81\x02hi")),
    "connect": seed(CLIENT, False, record(EGRESS, b"CONNECT h:443 HTTP/1.1\n\n"),
                    record(INGRESS, b"HTTP/1.1 200 Connection established\n\n"),
                    record(EGRESS, b"\x16\x03\x01\x00\x00")),
    "gaps": seed(SERVER, False, record(INGRESS, b"GET /big HTTP/1.1\nCookie: a", 200),
                 record(EGRESS, b"HTTP/1.1 200 OK\nContent-Length: 9000\n\nabc", 130),
                 record(EGRESS, b"", 100), record(INGRESS, GET),
                 record(EGRESS, b"HTTP/1.1 304 Not Modified\n\n")),
    "midstream_unknown": seed(UNKNOWN, True, record(INGRESS, b"tail of a body"),
                              record(EGRESS, OK), record(INGRESS, GET), record(EGRESS, OK),
                              CLOSE),
    "junk": seed(SERVER, False, record(INGRESS, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc")),
}

if __name__ == "__main__":
    out_dir = pathlib.Path(__file__).resolve().parent / "corpus" / "http1"
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, data in SEEDS.items():
        (out_dir / name).write_bytes(data)
