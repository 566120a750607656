#!/usr/bin/env python3
"""Peak memory of `ztrace view` on a large JSON-lines file (README "Viewing traces").

    bench/view_memory.py [--mb 1024] [--spans-per-trace 12] [--check] [--ztrace build/ztrace]

Writes a file of about --mb MiB of spans shaped like the agent's (12-span chain traces with a
few attributes, about 900 bytes a line) in a scratch folder, runs `ztrace view --last 1` on it
(one full indexing pass, one trace read back) and prints the file's size, spans, traces, the
peak RSS and the wall time. --check exits 1 when the peak RSS exceeds the README's bound:
24 MiB (the binary, the read buffer, the shown trace) + 40 bytes per span + 300 bytes per
trace (the index's 12 bytes per span and its trace record, with the vectors' growth room).
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

SERVICES = ["curl", "nginx", "java", "gopeer", "node", "python3.11"]


def span_line(trace, span, parent, service, kind, start, end, filler):
    return (
        '{"trace_id":"%032x","span_id":"%016x","parent_span_id":"%s","name":"GET /chain/seq-1",'
        '"kind":"%s","start_time_unix_nano":%d,"end_time_unix_nano":%d,'
        '"status":{"code":"UNSET","message":""},"attributes":{"http.request.method":"GET",'
        '"url.path":"/chain/seq-1","http.response.status_code":200,"server.address":"127.0.0.1",'
        '"server.port":8080,"network.peer.address":"127.0.0.1","user_agent.original":"%s"},'
        '"resource":{"service.name":"%s","process.pid":4242,"host.name":"bench"},"links":[]}\n'
        % (trace, span, parent, kind, start, end, filler, service))


def write_file(path, megabytes, spans_per_trace):
    target = megabytes << 20
    written = spans = traces = 0
    filler = "x" * 300
    start = 1_800_000_000_000_000_000
    with open(path, "w") as out:
        while written < target:
            traces += 1
            lines = []
            parent = ""
            for i in range(spans_per_trace):
                span = traces * 64 + i + 1
                lines.append(span_line(traces, span, parent, SERVICES[i // 2 % len(SERVICES)],
                                       "SERVER" if i % 2 else "CLIENT", start + i * 1000,
                                       start + 10_000_000 - i * 1000, filler))
                parent = "%016x" % span
            chunk = "".join(lines)
            out.write(chunk)
            written += len(chunk)
            spans += spans_per_trace
            start += 20_000_000
    return written, spans, traces


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=1024)
    parser.add_argument("--spans-per-trace", type=int, default=12)
    parser.add_argument("--ztrace", default="build/ztrace")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ztrace-view-memory-") as scratch:
        path = os.path.join(scratch, "spans.jsonl")
        size, spans, traces = write_file(path, args.mb, args.spans_per_trace)
        began = time.monotonic()
        run = subprocess.run([args.ztrace, "view", "--last", "1", path],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seconds = time.monotonic() - began
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    bound_kib = (24 * 2**20 + 40 * spans + 300 * traces) // 1024
    print("| file | spans | traces | peak RSS | bound | time |")
    print("|---|---|---|---|---|---|")
    print("| %.0f MiB | %d | %d | %.1f MiB | %.1f MiB | %.1f s |" %
          (size / 2**20, spans, traces, peak_kib / 1024, bound_kib / 1024, seconds))
    expected = "1 of %d traces shown (%d spans read)" % (traces, spans)
    if run.returncode != 0 or expected not in run.stderr:
        print("ztrace view failed or read something else:\n" + run.stderr, file=sys.stderr)
        return 1
    if args.check and peak_kib > bound_kib:
        print("peak RSS above the bound", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
