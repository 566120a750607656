#!/usr/bin/env python3
"""Opens N keep-alive connections to 127.0.0.1:PORT, sends one GET on each, reads every
response, prints "idle-connections: answered=A closed=C" and holds the connections idle until
killed (the benchmark measures the agent's memory meanwhile)."""
import socket
import sys
import time

port, count = int(sys.argv[1]), int(sys.argv[2])
connections = []
for _ in range(count):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /index.html HTTP/1.1\r\nHost: bench\r\n\r\n")
    connections.append(s)
answered = closed = 0
for s in connections:
    s.settimeout(30)
    got = b""
    try:
        while b"\r\n\r\n" not in got or len(got.split(b"\r\n\r\n", 1)[1]) < 612:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    except socket.timeout:
        pass
    if b"\r\n\r\n" in got and len(got.split(b"\r\n\r\n", 1)[1]) >= 612:
        answered += 1
    else:
        closed += 1
print(f"idle-connections: answered={answered} closed={closed}", flush=True)
time.sleep(3600)
