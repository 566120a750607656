#!/usr/bin/env python3
"""Opens N keep-alive connections to 127.0.0.1:PORT, sends one GET on each, reads every
response, prints "idle-connections: answered=A failed=F" (A: whole 200 answers) and holds the
connections idle until killed (the benchmark measures the agent's memory meanwhile)."""
import socket
import sys
import time

port, count = int(sys.argv[1]), int(sys.argv[2])
connections = []
for _ in range(count):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /index.html HTTP/1.1\r\nHost: bench\r\n\r\n")
    connections.append(s)
answered = failed = 0
for s in connections:
    s.settimeout(30)
    got = b""
    complete = False
    try:
        while not complete:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
            head, sep, body = got.partition(b"\r\n\r\n")
            if sep:
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                complete = len(body) >= length
    except socket.timeout:
        pass
    if complete and got.startswith(b"HTTP/1.1 200"):
        answered += 1
    else:
        failed += 1
print(f"idle-connections: answered={answered} failed={failed}", flush=True)
time.sleep(3600)
