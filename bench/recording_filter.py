#!/usr/bin/env python3
"""Keeps the connection events of a recording (`ztrace run --record-events`) and drops the
process events: those name every program the host ran while recording, which is nothing a
pipeline replay needs and nothing to publish.

    bench/recording_filter.py IN OUT
"""
import struct
import sys

MAGIC = b"ZTEVREC1"
PROCESS_EVENTS = {4, 5}  # ZT_EVENT_PROC_EXEC, ZT_EVENT_PROC_EXIT (bpf/socket_trace.h)


def records(data):
    if data[:8] != MAGIC:
        sys.exit("not a ztrace event recording")
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack_from("=Q", data, pos)
        padded = (length + 7) & ~7
        yield data[pos : pos + 8 + padded], data[pos + 8 : pos + 9]
        pos += 8 + padded


def main():
    with open(sys.argv[1], "rb") as f:
        data = f.read()
    kept = dropped = 0
    with open(sys.argv[2], "wb") as out:
        out.write(MAGIC)
        for record, first_byte in records(data):
            if first_byte and first_byte[0] in PROCESS_EVENTS:
                dropped += 1
                continue
            out.write(record)
            kept += 1
    print(f"kept {kept} events, dropped {dropped} process events", file=sys.stderr)


if __name__ == "__main__":
    main()
