#!/usr/bin/env python3
"""Raw-socket HTTP/1.x client and server that record every byte, for the injection tests.

usage: raw_http.py server PORT OUTDIR
       raw_http.py client PORT OUTDIR SCENARIO...

The server writes every byte it reads on a connection to OUTDIR/recv-<client port>.bin and
answers each request (Content-Length bodies only) with 200 "ok <path> <body bytes>\\n": it
sends "100 Continue" first when an HTTP/1.1 request has "Expect: 100-continue" and its body
has not arrived yet, and closes after an HTTP/1.0 request or "Connection: close".

The client writes the exact bytes it sent on each connection to
OUTDIR/sent-<scenario>-<k>.bin, and prints per connection
"conn <scenario>-<k> port=<local port> requests=<n> statuses=<s,s,...>" and per request
"request <path>". Every send listed in a scenario is one send call (socket.sendall on a
blocking socket, which is one sendto unless the kernel takes it partially). The client never
sends a traceparent: an injecting agent must add exactly one per request, nothing else.

Scenarios (paths /bytes/<scenario>/<n>):
  split      one keep-alive connection: requests written in several send calls, split in
             the request line, inside a header line, between "\\r\\n" and "\\r\\n", and bodies
             in pieces (headers alone, headers with part of the body)
  pipelined  three GETs in one send call; then a POST plus the first half of a GET in one send
             call and the rest in the next; five answers read after the sends
  large      a GET with a 1.5 KiB header, a POST with a 1.5 KiB body, a GET with 20 KiB of
             headers, each in one send call
  huge       a POST over 64 KiB (100 KiB body) in one send call; a POST with its headers in
             one send call and a 100 KiB body in the next
  http10     HTTP/1.0: a GET with a Host header, a GET without any header, a POST with a body
             (one connection each, closed by the server)
  continue   "Expect: 100-continue": the client waits for "100 Continue" before the body
             (2000 bytes, then 10 bytes) on one keep-alive connection
"""
import os
import socket
import sys
import threading
import time

PAUSE_S = 0.02  # between the send calls of one request: separate calls, separate segments


def header_value(header_block, name):
    for line in header_block.split(b"\r\n")[1:]:
        k, sep, v = line.partition(b":")
        if sep and k.strip().lower() == name:
            return v.strip()
    return None


# ---------------------------------------------------------------------------------------
# Server


def serve_connection(conn, outdir):
    port = conn.getpeername()[1]
    path = os.path.join(outdir, "recv-%d.bin" % port)
    buf = b""
    with conn, open(path, "wb") as record:
        conn.settimeout(30)

        def more():
            data = conn.recv(1 << 20)
            if data:
                record.write(data)
                record.flush()
            return data

        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = more()
                    if not data:
                        return
                    buf += data
                end = buf.index(b"\r\n\r\n") + 4
                head, buf = buf[:end], buf[end:]
                request_line = head.split(b"\r\n", 1)[0].split(b" ")
                target = request_line[1].decode("latin-1") if len(request_line) > 1 else "?"
                version = request_line[2] if len(request_line) > 2 else b"HTTP/1.0"
                length = int(header_value(head, b"content-length") or b"0")
                expect = (header_value(head, b"expect") or b"").lower()
                if version == b"HTTP/1.1" and expect == b"100-continue" and len(buf) < length:
                    conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                while len(buf) < length:
                    data = more()
                    if not data:
                        return
                    buf += data
                buf = buf[length:]
                close = version != b"HTTP/1.1" or (
                    header_value(head, b"connection") or b"").lower() == b"close"
                body = ("ok %s %d\n" % (target, length)).encode()
                conn.sendall(b"%s 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                             b"%s\r\n%s" % (version, len(body),
                                            b"Connection: close\r\n" if close else b"", body))
                if close:
                    return
        except OSError as e:
            sys.stderr.write("connection from %d: %s\n" % (port, e))


def server(port, outdir):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(64)
    print("listening %d" % port, flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve_connection, args=(conn, outdir), daemon=True).start()


# ---------------------------------------------------------------------------------------
# Client


class Connection:
    def __init__(self, port, outdir, name):
        self.name = name
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.record = open(os.path.join(outdir, "sent-%s.bin" % name), "wb")
        self.buf = b""
        self.statuses = []
        self.requests = 0

    def send(self, data):
        self.sock.sendall(data)
        self.record.write(data)
        self.record.flush()

    def send_pieces(self, pieces):
        for i, piece in enumerate(pieces):
            if i:
                time.sleep(PAUSE_S)
            self.send(piece)

    def _fill(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise EOFError("%s: connection closed with %d bytes pending" % (self.name, len(self.buf)))
        self.buf += data

    def read_head(self):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        end = self.buf.index(b"\r\n\r\n") + 4
        head, self.buf = self.buf[:end], self.buf[end:]
        return head

    def read_response(self):
        """Reads one final response (skipping 1xx); returns its status."""
        while True:
            head = self.read_head()
            status = int(head.split(b" ", 2)[1])
            if 100 <= status < 200:
                continue
            length = int(header_value(head, b"content-length") or b"0")
            while len(self.buf) < length:
                self._fill()
            self.buf = self.buf[length:]
            self.statuses.append(status)
            return status

    def read_interim(self):
        head = self.read_head()
        status = int(head.split(b" ", 2)[1])
        if status != 100:
            raise ValueError("%s: expected 100 Continue, got %r" % (self.name, head))

    def close(self):
        local_port = self.sock.getsockname()[1]
        self.sock.close()
        self.record.close()
        print("conn %s port=%d requests=%d statuses=%s" % (
            self.name, local_port, self.requests, ",".join(map(str, self.statuses))), flush=True)


def request(method, path, headers=(), body=b"", version="HTTP/1.1", host=True):
    """The bytes of one request (Content-Length set when there is a body)."""
    lines = ["%s %s %s" % (method, path, version)]
    if host:
        lines.append("Host: 127.0.0.1")
    lines += ["%s: %s" % kv for kv in headers]
    if body:
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def pattern(n, seed=0):
    return bytes((seed + i * 7) % 251 for i in range(n))


def announce(conn, *paths):
    for p in paths:
        print("request %s" % p, flush=True)
    conn.requests += len(paths)


def scenario_split(port, outdir):
    c = Connection(port, outdir, "split-1")
    p = "/bytes/split/1"
    announce(c, p)
    c.send_pieces([b"GET " + p.encode() + b" HTTP/1.1\r\n", b"Host: 127.0.0.1\r\nX-Split: a",
                   b"b\r\nUser-Agent: raw-http\r\n", b"\r\n"])
    c.read_response()
    p = "/bytes/split/2"
    announce(c, p)
    r = request("GET", p, [("X-Split", "request line")])
    c.send_pieces([r[:1], r[1:9], r[9:-1], r[-1:]])  # the last piece is the final "\n"
    c.read_response()
    p = "/bytes/split/3"
    announce(c, p)
    body = pattern(30, 3)
    r = request("POST", p, [("Content-Type", "application/octet-stream")], body)
    head = len(r) - len(body)
    c.send_pieces([r[:head - 2], r[head - 2:head], body[:10], body[10:20], body[20:]])
    c.read_response()
    p = "/bytes/split/4"
    announce(c, p)
    body = pattern(600, 4)
    r = request("POST", p, [("Content-Type", "application/octet-stream")], body)
    head = len(r) - len(body)
    c.send_pieces([r[:head + 100], r[head + 100:]])
    c.read_response()
    c.close()


def scenario_pipelined(port, outdir):
    c = Connection(port, outdir, "pipelined-1")
    paths = ["/bytes/pipelined/%d" % i for i in range(1, 6)]
    announce(c, *paths)
    c.send(b"".join(request("GET", p, [("X-Pipelined", str(i))]) for i, p in enumerate(paths[:3])))
    post = request("POST", paths[3], [("Content-Type", "text/plain")], pattern(200, 5))
    get = request("GET", paths[4], [("X-Pipelined", "split across sends")])
    time.sleep(PAUSE_S)
    c.send(post + get[:len(get) // 2])
    time.sleep(PAUSE_S)
    c.send(get[len(get) // 2:])
    for _ in paths:
        c.read_response()
    c.close()


def scenario_large(port, outdir):
    c = Connection(port, outdir, "large-1")
    p = "/bytes/large/1"
    announce(c, p)
    c.send(request("GET", p, [("X-Pad", "p" * 1536)]))
    c.read_response()
    p = "/bytes/large/2"
    announce(c, p)
    c.send(request("POST", p, [("Content-Type", "application/octet-stream")], pattern(1536, 6)))
    c.read_response()
    p = "/bytes/large/3"
    announce(c, p)
    c.send(request("GET", p, [("X-Pad-%02d" % i, chr(ord("a") + i) * 1024) for i in range(20)]))
    c.read_response()
    c.close()


def scenario_huge(port, outdir):
    c = Connection(port, outdir, "huge-1")
    p = "/bytes/huge/1"
    announce(c, p)
    c.send(request("POST", p, [("Content-Type", "application/octet-stream")],
                   pattern(100 * 1024, 7)))
    c.read_response()
    p = "/bytes/huge/2"
    announce(c, p)
    body = pattern(100 * 1024, 8)
    r = request("POST", p, [("Content-Type", "application/octet-stream")], body)
    head = len(r) - len(body)
    c.send_pieces([r[:head], body])
    c.read_response()
    c.close()


def scenario_http10(port, outdir):
    cases = [
        ("/bytes/http10/1", lambda p: request("GET", p, [("User-Agent", "raw-http")],
                                               version="HTTP/1.0")),
        ("/bytes/http10/2", lambda p: request("GET", p, version="HTTP/1.0", host=False)),
        ("/bytes/http10/3", lambda p: request("POST", p, [("Content-Type", "text/plain")],
                                               pattern(100, 9), version="HTTP/1.0")),
    ]
    for k, (p, make) in enumerate(cases, 1):
        c = Connection(port, outdir, "http10-%d" % k)
        announce(c, p)
        c.send(make(p))
        c.read_response()
        c.close()


def scenario_continue(port, outdir):
    c = Connection(port, outdir, "continue-1")
    for i, size in ((1, 2000), (2, 10)):
        p = "/bytes/continue/%d" % i
        announce(c, p)
        body = pattern(size, 10 + i)
        r = request("POST", p, [("Expect", "100-continue")], body)
        c.send(r[:len(r) - len(body)])
        c.read_interim()
        c.send(body)
        c.read_response()
    c.close()


SCENARIOS = {
    "split": scenario_split,
    "pipelined": scenario_pipelined,
    "large": scenario_large,
    "huge": scenario_huge,
    "http10": scenario_http10,
    "continue": scenario_continue,
}


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "server":
        server(int(sys.argv[2]), sys.argv[3])
    elif len(sys.argv) >= 5 and sys.argv[1] == "client":
        for name in sys.argv[4:]:
            SCENARIOS[name](int(sys.argv[2]), sys.argv[3])
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
