#!/usr/bin/env python3
"""Writes the seed corpus of kafka_fuzz (format: see kafka_fuzz.cc) into corpus/kafka/."""

import pathlib
import struct
import zlib

EGRESS, INGRESS = 0, 1
UNKNOWN, CLIENT, SERVER = 0, 1, 2
TRACEPARENT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


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


def uvarint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def varint(v):
    return uvarint((v << 1) ^ (v >> 63))


def string(s, compact=False):
    return uvarint(len(s) + 1) + s if compact else struct.pack(">h", len(s)) + s


def data(b, compact=False):
    return uvarint(len(b) + 1) + b if compact else struct.pack(">i", len(b)) + b


def sized(m):
    return struct.pack(">i", len(m)) + m


def request(key, version, corr, body, flexible=False):
    return sized(struct.pack(">hhi", key, version, corr) + string(b"fuzz") +
                 (b"\0" if flexible else b"") + body)


def response(corr, body, flexible=False):
    return sized(struct.pack(">i", corr) + (b"\0" if flexible else b"") + body)


def batch(base, records, codec=0):
    body = b""
    for i, (key, value, headers) in enumerate(records):
        r = b"\0" + varint(0) + varint(i) + varint(len(key)) + key + varint(len(value)) + value
        r += varint(len(headers))
        for n, v in headers:
            r += varint(len(n)) + n + varint(len(v)) + v
        body += varint(len(r)) + r
    if codec == 1:
        c = zlib.compressobj(wbits=31)
        body = c.compress(body) + c.flush()
    rest = struct.pack(">ibihiqqqhii", 0, 2, 0, codec, len(records) - 1, 0, 0, -1, -1, -1,
                       len(records)) + body
    return struct.pack(">qi", base, len(rest)) + rest


RECS = [(b"k1", b"v1", [(b"traceparent", TRACEPARENT)]), (b"k2", b"v2", [])]
API_VERSIONS = request(18, 3, 1, string(b"kcat", True) + string(b"1.7", True) + b"\0", True)
API_VERSIONS_RESP = response(1, struct.pack(">h", 0) + uvarint(1) + b"")


def produce(v, corr, codec):
    c = v >= 9
    body = (string(b"", c) if v >= 3 else b"") + struct.pack(">hi", -1, 1000)
    body += uvarint(2) if c else struct.pack(">i", 1)
    body += string(b"orders", c) + (uvarint(2) if c else struct.pack(">i", 1))
    body += struct.pack(">i", 0) + data(batch(0, RECS, codec), c) + (b"\0\0" if c else b"")
    body += b"\0" if c else b""
    return request(0, v, corr, body, c)


def produce_resp(v, corr):
    c = v >= 9
    body = (uvarint(2) if c else struct.pack(">i", 1)) + string(b"orders", c)
    body += (uvarint(2) if c else struct.pack(">i", 1)) + struct.pack(">ihq", 0, 0, 42)
    body += struct.pack(">q", -1) if v >= 2 else b""
    body += struct.pack(">q", 0) if v >= 5 else b""
    body += (uvarint(1) + uvarint(0) if c else struct.pack(">ih", 0, -1)) if v >= 8 else b""
    body += b"\0\0" if c else b""
    body += struct.pack(">i", 0) + (b"\0" if c else b"")
    return response(corr, body, c)


def fetch_resp(v, corr):
    c = v >= 12
    body = struct.pack(">i", 0) + struct.pack(">hi", 0, 0)
    body += uvarint(2) if c else struct.pack(">i", 1)
    body += (b"\x07" * 16 if v >= 13 else string(b"orders", c))
    body += (uvarint(2) if c else struct.pack(">i", 1))
    body += struct.pack(">ihqqq", 0, 0, 10, 10, 0) + (uvarint(1) if c else struct.pack(">i", 0))
    body += struct.pack(">i", -1) + data(batch(5, RECS, 1), c) + (b"\0\0\0" if c else b"")
    return response(corr, body, c)


SEEDS = {
    "produce_v7": seed(CLIENT, False, record(EGRESS, API_VERSIONS), record(INGRESS, API_VERSIONS_RESP),
                       record(EGRESS, produce(7, 2, 0)), record(INGRESS, produce_resp(7, 2)), b"\xff"),
    "produce_v9_gzip": seed(CLIENT, False, record(EGRESS, produce(9, 2, 1)),
                            record(INGRESS, produce_resp(9, 2))),
    "fetch_v11_gzip": seed(CLIENT, False, record(EGRESS, request(1, 11, 3, b"")),
                           record(INGRESS, fetch_resp(11, 3))),
    "fetch_v13": seed(CLIENT, False, record(EGRESS, request(1, 13, 3, b"", True)),
                      record(INGRESS, fetch_resp(13, 3))),
    "pipelined_gap": seed(UNKNOWN, False, record(EGRESS, request(1, 11, 3, b"") + request(1, 11, 4, b"")),
                          record(INGRESS, fetch_resp(11, 3)[:40], gap_code=20),
                          record(INGRESS, fetch_resp(11, 4))),
}

if __name__ == "__main__":
    out = pathlib.Path(__file__).parent / "corpus" / "kafka"
    out.mkdir(parents=True, exist_ok=True)
    for name, data_ in SEEDS.items():
        (out / name).write_bytes(data_)
