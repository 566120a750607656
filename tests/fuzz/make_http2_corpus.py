#!/usr/bin/env python3
"""Writes the seed corpus of http2_fuzz (format: see http2_fuzz.cc) into corpus/http2/."""

import pathlib
import struct

EGRESS, INGRESS = 0, 1
UNKNOWN, CLIENT, SERVER = 0, 1, 2
DATA, HEADERS, PRIORITY, RST, SETTINGS, PUSH, PING, GOAWAY, WINDOW, CONT = range(10)
END_STREAM, END_HEADERS, PADDED = 0x1, 0x4, 0x8
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


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


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def lit(name, value, first=0x00):
    return bytes([first, len(name)]) + name + bytes([len(value)]) + value


CLOSE = b"\xff"
REQ = b"\x83\x86" + lit(b":path", b"/pkg.Svc/Get") + lit(b"content-type", b"application/grpc")
REQ_HUFFMAN = b"\x82\x86\x84\x41\x8c\xf1\xe3\xc2\xe5\xf2\x3a\x6b\xa0\xab\x90\xf4\xff"
RESP = b"\x88" + lit(b"content-type", b"application/grpc")
TRAILERS = lit(b"grpc-status", b"0")

SEEDS = {
    "grpc_unary_client": seed(
        CLIENT, False,
        record(EGRESS, PREFACE + frame(SETTINGS, 0, 0, b"\x00\x01\x00\x00\x10\x00")),
        record(INGRESS, frame(SETTINGS, 0, 0) + frame(SETTINGS, 1, 0)),
        record(EGRESS, frame(HEADERS, END_HEADERS, 1, REQ) + frame(DATA, END_STREAM, 1, b"x" * 12)),
        record(INGRESS, frame(HEADERS, END_HEADERS, 1, RESP) + frame(DATA, 0, 1, b"y" * 7)),
        record(INGRESS, frame(HEADERS, END_HEADERS | END_STREAM, 1, TRAILERS)), CLOSE),
    "huffman_indexed_server": seed(
        SERVER, False,
        record(INGRESS, PREFACE + frame(HEADERS, END_HEADERS | END_STREAM, 1, REQ_HUFFMAN)),
        record(INGRESS, frame(HEADERS, END_HEADERS | END_STREAM, 3, b"\x82\x86\x84\xbe")),
        record(EGRESS, frame(HEADERS, END_HEADERS | END_STREAM, 1, b"\x88")),
        record(EGRESS, frame(HEADERS, END_HEADERS | END_STREAM, 3, b"\x8d"))),
    "continuation_padding": seed(
        CLIENT, False,
        record(EGRESS, PREFACE + frame(HEADERS, PADDED | 0x20, 1, b"\x02" + b"\0\0\0\0\x10" + REQ[:5] + b"\0\0")
               + frame(CONT, END_HEADERS, 1, REQ[5:])
               + frame(DATA, PADDED | END_STREAM, 1, b"\x03abc\0\0\0")),
        record(INGRESS, frame(RST, 0, 1, b"\0\0\0\x08") + frame(GOAWAY, 0, 0, b"\0\0\0\x01\0\0\0\0"))),
    "midstream_dynamic": seed(
        UNKNOWN, True,
        record(INGRESS, b"\x00\x03partial frame"),
        record(INGRESS, frame(HEADERS, END_HEADERS | END_STREAM, 9, b"\x83\xbe\xbf")),
        record(EGRESS, frame(HEADERS, END_HEADERS | END_STREAM, 9, b"\x88")),
        record(INGRESS, frame(HEADERS, END_HEADERS | END_STREAM, 11, b"\x83\x44\x04/new")), CLOSE),
    "gaps": seed(
        CLIENT, False,
        record(EGRESS, PREFACE + frame(HEADERS, END_HEADERS, 1, REQ) + frame(DATA, END_STREAM, 1, b"z" * 200)[:30], 179),
        record(EGRESS, frame(HEADERS, END_HEADERS, 3, REQ)[:4], 20),
        record(EGRESS, frame(HEADERS, END_HEADERS | END_STREAM, 5, REQ)),
        record(INGRESS, frame(HEADERS, END_HEADERS | END_STREAM, 5, b"\x88"))),
    "ping_window_priority": seed(
        CLIENT, False,
        record(EGRESS, PREFACE + frame(PING, 0, 0, b"12345678") + frame(WINDOW, 0, 0, b"\0\0\x10\0")
               + frame(PRIORITY, 0, 1, b"\0\0\0\0\x10") + frame(0x20, 0, 0, b"ext"))),
}

if __name__ == "__main__":
    out = pathlib.Path(__file__).resolve().parent / "corpus" / "http2"
    out.mkdir(parents=True, exist_ok=True)
    for name, data in SEEDS.items():
        (out / name).write_bytes(data)
