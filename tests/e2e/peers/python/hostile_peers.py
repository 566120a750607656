#!/usr/bin/env python3
"""Peers that do legal but unusual things to a tracer (issue 21), on the real Python runtime.

usage: hostile_peers.py fd-reuse-server PORT DIR
       hostile_peers.py expect-server PORT
       hostile_peers.py bodies-client PORT OUTDIR CONNECTIONS

fd-reuse-server: for each connection, reads one request head, then closes the socket with
  close_range(2) (os.closerange) instead of close(). Every second connection (the first, the
  third, ...) then opens a file in DIR, which takes the socket's fd number, and writes an HTTP
  response into it. Prints "fd <n> reused=<true|false>" per connection. The client gets no
  answer: the connection just closes.

expect-server: HTTP/1.1 keep-alive server for POSTs with Content-Length; it answers
  "Expect: 100-continue" with "100 Continue" before reading the body, then "200 OK" with the
  body length. One thread per connection.

bodies-client: CONNECTIONS keep-alive connections, one thread each, sending
  POST /upload/<k>/<n> with "Expect: 100-continue", the body (which begins with a request
  line: "GET /inner HTTP/1.1 ...") only after "100 Continue", until OUTDIR/stop exists. It
  pauses 5 ms between requests, so a server spends most of its time waiting for a head. Prints
  "conn <k> port=<local port> requests=<n> statuses=<set>" per connection at the end.
"""
import os
import socket
import sys
import threading
import time

BODY = b"GET /inner HTTP/1.1\r\nHost: y\r\n\r\nbody\n"


def read_head(conn, buf):
    while b"\r\n\r\n" not in buf:
        data = conn.recv(65536)
        if not data:
            return None, buf
        buf += data
    end = buf.index(b"\r\n\r\n") + 4
    return buf[:end], buf[end:]


def header_value(head, name):
    for line in head.split(b"\r\n")[1:]:
        key, sep, value = line.partition(b":")
        if sep and key.strip().lower() == name:
            return value.strip()
    return None


def listen(port):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(64)
    print("listening %d" % port, flush=True)
    return listener


def fd_reuse_server(port, directory):
    listener = listen(port)
    for index in range(1 << 30):
        conn, _ = listener.accept()
        head, _ = read_head(conn, b"")
        fd = conn.detach()  # the socket object must not close the fd a second time
        os.closerange(fd, fd + 1)
        reused = index % 2 == 0
        if reused:
            with open(os.path.join(directory, "reused-%d.txt" % index), "wb", buffering=0) as f:
                if f.fileno() != fd:
                    print("fd %d not reused: the file got %d" % (fd, f.fileno()), flush=True)
                f.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        print("fd %d reused=%s" % (fd, "true" if reused else "false"), flush=True)


def serve_expect(conn):
    buf = b""
    with conn:
        try:
            while True:
                head, buf = read_head(conn, buf)
                if head is None:
                    return
                length = int(header_value(head, b"content-length") or b"0")
                expect = (header_value(head, b"expect") or b"").lower()
                if expect == b"100-continue" and len(buf) < length:
                    conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                while len(buf) < length:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                buf = buf[length:]
                body = b"got %d\n" % length
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        except OSError:
            pass


def expect_server(port):
    listener = listen(port)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve_expect, args=(conn,), daemon=True).start()


def read_response(sock, buf):
    """Reads one response; returns (status, rest of the buffer)."""
    head, buf = read_head(sock, buf)
    if head is None:
        raise EOFError("connection closed")
    status = int(head.split(b" ", 2)[1])
    length = int(header_value(head, b"content-length") or b"0")
    while len(buf) < length:
        data = sock.recv(65536)
        if not data:
            raise EOFError("connection closed in a body")
        buf += data
    return status, buf[length:]


def bodies_connection(port, outdir, k, results):
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    local_port = sock.getsockname()[1]
    statuses = set()
    buf = b""
    n = 0
    while not os.path.exists(os.path.join(outdir, "stop")):
        n += 1
        head = (b"POST /upload/%d/%d HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\n"
                b"Content-Length: %d\r\n\r\n" % (k, n, len(BODY)))
        sock.sendall(head)
        status, buf = read_response(sock, buf)
        if status != 100:
            raise ValueError("conn %d: expected 100 Continue, got %d" % (k, status))
        sock.sendall(BODY)
        status, buf = read_response(sock, buf)
        statuses.add(status)
        time.sleep(0.005)
    sock.close()
    results[k] = (local_port, n, statuses)


def bodies_client(port, outdir, connections):
    results = {}
    threads = [threading.Thread(target=bodies_connection, args=(port, outdir, k, results))
               for k in range(1, connections + 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in sorted(results):
        local_port, n, statuses = results[k]
        print("conn %d port=%d requests=%d statuses=%s" % (
            k, local_port, n, ",".join(map(str, sorted(statuses)))), flush=True)
    if len(results) != connections:
        sys.exit(1)


def main():
    args = sys.argv[1:]
    if len(args) == 3 and args[0] == "fd-reuse-server":
        fd_reuse_server(int(args[1]), args[2])
    elif len(args) == 2 and args[0] == "expect-server":
        expect_server(int(args[1]))
    elif len(args) == 4 and args[0] == "bodies-client":
        bodies_client(int(args[1]), args[2], int(args[3]))
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
