#!/usr/bin/env python3
"""HTTP/1.x peers for the injection framing tests: request bodies that look like requests.

usage: framing_http.py server PORT OUTDIR
       framing_http.py client PORT OUTDIR SCENARIO...
       framing_http.py fuzz PORT OUTDIR SEED REQUESTS WORKERS

The server records every byte it reads on a connection in OUTDIR/recv-<client port>-<k>.bin
(the k-th connection from that port: loopback connections reuse ports quickly),
parses requests (Content-Length or chunked bodies, chunk extensions, trailers), answers
"100 Continue" to an HTTP/1.1 "Expect: 100-continue" whose body has not arrived yet, then
200 with the request's (decoded) body as its body, none for HEAD. It closes after an HTTP/1.0
request without "Connection: keep-alive", after "Connection: close", and after a request it
cannot parse (400).

The clients write, per connection, OUTDIR/sent-<name>.bin (every byte sent) and
OUTDIR/heads-<name>.txt, one line per request: "<start> <line end> <path> <expect>", the
offsets of the request's first byte and of the byte after its request line in
sent-<name>.bin, and what the agent's rules say of it: "inject" (a traceparent line goes in
after its request line), "keep" (sent unchanged) or "any" (the fuzz). They print per
connection "conn <name> port=<local port> seq=<k> requests=<n> echo_errors=<e>" (k: the
order in which the client made its connections, which for one port is the server's accept
order; a response body that is not the request's body is an echo error) and exit 1 on any
error. Each element of a
write list is one send call (sendmsg for a list of buffers).

Scenarios (paths /shape/<scenario>/<n>; connection <scenario>-<k>):
  length      Content-Length bodies that look like requests: with their head in one write,
              and in the next write
  chunked     chunked bodies whose chunks look like requests: each chunk line and chunk in a
              write of its own; one sendmsg per chunk, extensions, a trailer; Transfer-Encoding
              next to Content-Length
  later       bodies written 20 ms after their head
  many        a body of requests, written one per write, and in pieces of 1-7 bytes
  http10      HTTP/1.0 keep-alive with such bodies, then an HTTP/1.0 request the server closes
  pipelined   two GETs in one write; a body's request-looking end written together with the
              next request
  continue    "Expect: 100-continue": the body (a request) after "100 Continue"
  vectored    sendmsg: head and body in two buffers of one call; a head split over buffers
  dup         a body written through another fd of the socket (dup)
  sendfile    a body sent with sendfile
  partial     a body of 1.25 MiB in non-blocking writes through a 4 KiB send buffer
"""
import itertools
import os
import random
import select
import socket
import sys
import threading
import time

PAUSE_S = 0.02
TIMEOUT_S = 10
INNER = b"GET /inner HTTP/1.1\r\nHost: y\r\n\r\nbody\n"  # issue 21's body


# ---------------------------------------------------------------------------------------
# Messages


def header_value(head, name):
    for line in head.split(b"\r\n")[1:]:
        k, sep, v = line.partition(b":")
        if sep and k.strip().lower() == name:
            return v.strip()
    return None


class Request:
    """One request's bytes, where its head and body are, and its decoded body."""

    def __init__(self, method, path, body=b"", version="HTTP/1.1", headers=(), chunks=None,
                 trailers=(), extensions=None, expect="inject"):
        self.method, self.path, self.version, self.expect = method, path, version, expect
        lines = ["%s %s %s" % (method, path, version), "Host: 127.0.0.1"]
        lines += ["%s: %s" % kv for kv in headers]
        if chunks is not None:
            lines.append("Transfer-Encoding: chunked")
        elif body or method in ("POST", "PUT", "PATCH"):
            lines.append("Content-Length: %d" % len(body))
        self.line_end = len(lines[0]) + 2
        self.head = ("\r\n".join(lines) + "\r\n\r\n").encode()
        self.body = body
        self.pieces = []  # the body as sent: (bytes, starts a chunk's data)
        if chunks is None:
            if body:
                self.pieces.append((body, True))
        else:
            at = 0
            for i, n in enumerate(chunks):
                ext = (extensions[i] if extensions else b"")
                self.pieces.append((b"%x%s\r\n" % (n, ext), False))
                self.pieces.append((body[at:at + n], True))
                self.pieces.append((b"\r\n", False))
                at += n
            assert at == len(body)
            tail = b"0\r\n" + b"".join(b"%s: %s\r\n" % kv for kv in trailers) + b"\r\n"
            self.pieces.append((tail, False))
        self.wire = self.head + b"".join(p for p, _ in self.pieces)
        self.waits_for_continue = any(k.lower() == "expect" for k, _ in headers)

    def cuts(self):
        """Offsets in self.wire where a write may start something that looks like a request."""
        out, at = [len(self.head)], len(self.head)
        for piece, _ in self.pieces:
            at += len(piece)
            out.append(at)
        return out


# ---------------------------------------------------------------------------------------
# Server


class Closed(Exception):
    pass


def serve_connection(conn, outdir, recording):
    port = conn.getpeername()[1]
    with conn, open(os.path.join(outdir, recording), "wb") as record:
        conn.settimeout(30)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = bytearray()

        def more():
            data = conn.recv(1 << 20)
            if not data:
                raise Closed()
            record.write(data)
            record.flush()
            buf.extend(data)

        def line():
            while True:
                end = buf.find(b"\r\n")
                if end >= 0:
                    out = bytes(buf[:end])
                    del buf[:end + 2]
                    return out
                more()

        def take(n):
            while len(buf) < n:
                more()
            out = bytes(buf[:n])
            del buf[:n]
            return out

        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    more()
                end = buf.index(b"\r\n\r\n") + 4
                head = bytes(buf[:end])
                del buf[:end]
                request_line = head.split(b"\r\n", 1)[0].split(b" ")
                if len(request_line) != 3 or not request_line[2].startswith(b"HTTP/1."):
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                    return
                method, version = request_line[0], request_line[2]
                chunked = (header_value(head, b"transfer-encoding") or b"").lower() == b"chunked"
                length = header_value(head, b"content-length")
                expect = (header_value(head, b"expect") or b"").lower()
                if version == b"HTTP/1.1" and expect == b"100-continue" and not buf:
                    conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                if chunked:
                    body = bytearray()
                    while True:
                        size = int(line().split(b";", 1)[0], 16)
                        if size == 0:
                            break
                        body += take(size)
                        if take(2) != b"\r\n":
                            raise ValueError("chunk not ended by CRLF")
                    while line():  # trailers
                        pass
                    body = bytes(body)
                else:
                    body = take(int(length)) if length else b""
                keep_alive = (header_value(head, b"connection") or b"").lower()
                close = (keep_alive == b"close" or
                         (version != b"HTTP/1.1" and keep_alive != b"keep-alive"))
                answer = b"%s 200 OK\r\nContent-Length: %d\r\n%s\r\n" % (
                    version, len(body), b"Connection: close\r\n" if close else
                    b"Connection: keep-alive\r\n" if version != b"HTTP/1.1" else b"")
                conn.sendall(answer + (body if method != b"HEAD" else b""))
                if close:
                    return
        except Closed:
            pass
        except (OSError, ValueError) as e:
            sys.stderr.write("connection from %d: %r\n" % (port, e))
            try:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            except OSError:
                pass


def server(port, outdir):
    os.makedirs(outdir, exist_ok=True)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(128)
    print("listening %d" % port, flush=True)
    accepted = {}  # client port -> connections from it so far (loopback reuses ports)
    while True:
        conn, peer = listener.accept()
        accepted[peer[1]] = accepted.get(peer[1], 0) + 1
        recording = "recv-%d-%d.bin" % (peer[1], accepted[peer[1]])
        threading.Thread(target=serve_connection, args=(conn, outdir, recording),
                         daemon=True).start()


# ---------------------------------------------------------------------------------------
# Client


SAY = threading.Lock()


def say(line):
    """One whole line on stdout: print() from two threads can mix their lines."""
    with SAY:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


OPEN = []  # connections a failing scenario leaves open: closed (and recorded) after it
CONNECTED = itertools.count(1)  # connections made so far: per port, the server's accept order


class Conn:
    def __init__(self, port, outdir, name):
        self.name, self.outdir = name, outdir
        OPEN.append(self)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
        self.seq = next(CONNECTED)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sent = bytearray()
        self.heads = []
        self.buf = b""
        self.requests = 0
        self.echo_errors = 0
        self.pending = []  # requests sent and not answered, in order

    def write(self, data):
        if isinstance(data, list):  # one sendmsg call with these buffers
            n = self.sock.sendmsg(data)
            joined = b"".join(data)
            if n < len(joined):
                self.sock.sendall(joined[n:])
            data = joined
        else:
            self.sock.sendall(data)
        self.sent += data

    def mark(self, requests):
        """Notes where the heads of `requests` start: they are the next bytes sent."""
        at = len(self.sent)
        for r in requests:
            self.heads.append((at, at + r.line_end, r.path, r.expect))
            at += len(r.wire)
            self.requests += 1
            self.pending.append(r)

    def send(self, requests, writes):
        """Sends `requests` (their wire bytes, in order) as the given writes."""
        joined = b"".join(b"".join(w) if isinstance(w, list) else w for w in writes)
        assert joined == b"".join(r.wire for r in requests), "test bug: writes != requests"
        self.mark(requests)
        for w in writes:
            self.write(w)

    def fill(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise EOFError("%s: closed by the server with %d requests unanswered" %
                           (self.name, len(self.pending)))
        self.buf += data

    def read_head(self):
        while b"\r\n\r\n" not in self.buf:
            self.fill()
        end = self.buf.index(b"\r\n\r\n") + 4
        head, self.buf = self.buf[:end], self.buf[end:]
        return head

    def read_continue(self):
        head = self.read_head()
        if int(head.split(b" ", 2)[1]) != 100:
            raise ValueError("%s: expected 100 Continue, got %r" % (self.name, head[:80]))

    def answers(self):
        """Reads the answers of every request sent (1xx skipped); checks each echoes its body."""
        while self.pending:
            r = self.pending.pop(0)
            while True:
                head = self.read_head()
                status = int(head.split(b" ", 2)[1])
                if not 100 <= status < 200:
                    break
            if status != 200:
                raise ValueError("%s: %s %s answered %r" % (self.name, r.method, r.path, head))
            length = int(header_value(head, b"content-length") or b"0")
            if r.method == "HEAD":
                length = 0
            while len(self.buf) < length:
                self.fill()
            body, self.buf = self.buf[:length], self.buf[length:]
            if r.method != "HEAD" and body != r.body:
                self.echo_errors += 1

    def close(self):
        if self in OPEN:
            OPEN.remove(self)
        local_port = self.sock.getsockname()[1]
        self.sock.close()
        with open(os.path.join(self.outdir, "sent-%s.bin" % self.name), "wb") as f:
            f.write(self.sent)
        with open(os.path.join(self.outdir, "heads-%s.txt" % self.name), "w") as f:
            for start, line_end, path, expect in self.heads:
                f.write("%d %d %s %s\n" % (start, line_end, path, expect))
        say("conn %s port=%d seq=%d requests=%d echo_errors=%d" % (
            self.name, local_port, self.seq, self.requests, self.echo_errors))
        return self.echo_errors == 0


def one(c, r, writes=None, pause=0.0):
    """Sends one request (head and body in one write unless `writes` says otherwise) and
    reads its answer; `pause` before each write after the first."""
    writes = writes or [r.wire]
    assert b"".join(b"".join(w) if isinstance(w, list) else w for w in writes) == r.wire
    c.mark([r])
    for i, w in enumerate(writes):
        if i and pause:
            time.sleep(pause)
        c.write(w)
    c.answers()


def split_at(data, *offsets):
    cuts = [0] + sorted(offsets) + [len(data)]
    return [data[a:b] for a, b in zip(cuts, cuts[1:]) if b > a]


def scenario_length(port, outdir):
    c = Conn(port, outdir, "length-1")
    r = Request("POST", "/shape/length/1", INNER)
    one(c, r)
    r = Request("POST", "/shape/length/2", INNER)
    one(c, r, split_at(r.wire, len(r.head)))
    one(c, Request("GET", "/shape/length/3"))
    return c.close()


def scenario_chunked(port, outdir):
    c = Conn(port, outdir, "chunked-1")
    one(c, Request("GET", "/shape/chunked/1"))
    second = b"POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
    r = Request("POST", "/shape/chunked/2", INNER + second, chunks=[len(INNER), len(second)])
    one(c, r, split_at(r.wire, *r.cuts()[:-1]))  # each chunk line and chunk its own write
    # As a Node client writes: one sendmsg per chunk, its size line, data and CRLF in buffers
    # of their own; extensions and a trailer.
    r = Request("POST", "/shape/chunked/3", INNER * 3, chunks=[len(INNER)] * 3,
                extensions=[b";a=1", b"", b';q="x y"'], trailers=[(b"X-Sum", b"1")])
    pieces = [p for p, _ in r.pieces]
    one(c, r, [r.head] + [pieces[i:i + 3] for i in range(0, len(pieces) - 1, 3)] + [pieces[-1]])
    # The chunked bodies' ends were followed: the next request is at a known boundary.
    one(c, Request("GET", "/shape/chunked/4"))
    ok = c.close()
    c = Conn(port, outdir, "chunked-2")
    # Transfer-Encoding next to Content-Length: servers differ about it, nothing is injected.
    r = Request("POST", "/shape/chunked/5", INNER, chunks=[len(INNER)],
                headers=[("Content-Length", "5")], expect="keep")
    one(c, r, split_at(r.wire, *r.cuts()[:-1]))
    one(c, Request("GET", "/shape/chunked/6", expect="keep"))
    return c.close() and ok


def scenario_later(port, outdir):
    c = Conn(port, outdir, "later-1")
    r = Request("POST", "/shape/later/1", INNER)
    one(c, r, split_at(r.wire, len(r.head)), pause=PAUSE_S)
    r = Request("PUT", "/shape/later/2", b"x" + INNER)
    one(c, r, split_at(r.wire, len(r.head) + 1), pause=PAUSE_S)
    one(c, Request("GET", "/shape/later/3"))
    return c.close()


def scenario_many(port, outdir):
    c = Conn(port, outdir, "many-1")
    parts = [b"GET /inner/%d HTTP/1.1\r\nHost: y\r\n\r\n" % i for i in range(6)]
    r = Request("POST", "/shape/many/1", b"".join(parts))
    one(c, r, [r.head] + parts)
    body = b"".join(parts)
    r = Request("POST", "/shape/many/2", body)
    rng = random.Random(21)
    cuts, at = [], len(r.head)
    while at < len(r.wire):
        cuts.append(at)
        at += rng.randint(1, 7)
    one(c, r, split_at(r.wire, *cuts))
    one(c, Request("GET", "/shape/many/3"))
    return c.close()


def scenario_http10(port, outdir):
    c = Conn(port, outdir, "http10-1")
    keep = [("Connection", "keep-alive")]
    r = Request("POST", "/shape/http10/1", INNER, version="HTTP/1.0", headers=keep)
    one(c, r, split_at(r.wire, len(r.head)))
    one(c, Request("GET", "/shape/http10/2", version="HTTP/1.0", headers=keep))
    r = Request("POST", "/shape/http10/3", INNER, version="HTTP/1.0")
    one(c, r, split_at(r.wire, len(r.head)))
    return c.close()


def scenario_pipelined(port, outdir):
    c = Conn(port, outdir, "pipelined-1")
    a = Request("GET", "/shape/pipelined/1")
    b = Request("GET", "/shape/pipelined/2", expect="keep")
    c.send([a, b], [a.wire + b.wire])
    c.answers()
    # The write went on past the first request: the kernel does not follow the next one.
    one(c, Request("GET", "/shape/pipelined/3", expect="keep"))
    ok = c.close()

    c = Conn(port, outdir, "pipelined-2")
    body = b"GET /a HTTP/1.1\r\n\r\n" + b"GET /b HTTP/1.1\r\n\r\n"
    a = Request("POST", "/shape/pipelined/4", body)
    b = Request("GET", "/shape/pipelined/5", expect="keep")
    wire = a.wire + b.wire
    c.send([a, b], split_at(wire, len(a.head) + 19))  # the 2nd write starts "GET /b": body
    c.answers()
    one(c, Request("GET", "/shape/pipelined/6", expect="keep"))
    return c.close() and ok


def scenario_continue(port, outdir):
    c = Conn(port, outdir, "continue-1")
    for i in (1, 2):
        r = Request("POST", "/shape/continue/%d" % i, INNER, headers=[("Expect", "100-continue")])
        c.mark([r])
        c.write(r.head)
        c.read_continue()
        c.write(r.body)
        c.answers()
    one(c, Request("GET", "/shape/continue/3"))
    return c.close()


def scenario_vectored(port, outdir):
    c = Conn(port, outdir, "vectored-1")
    r = Request("POST", "/shape/vectored/1", INNER)
    one(c, r, [[r.head, r.body]])
    one(c, Request("GET", "/shape/vectored/2"))
    ok = c.close()
    c = Conn(port, outdir, "vectored-2")
    # A head over two buffers is not whole in the first: not injected, and nothing after it.
    r = Request("POST", "/shape/vectored/3", INNER, expect="keep")
    one(c, r, [[r.head[:r.line_end], r.head[r.line_end:], r.body]])
    one(c, Request("GET", "/shape/vectored/4", expect="keep"))
    return c.close() and ok


def scenario_dup(port, outdir):
    c = Conn(port, outdir, "dup-1")
    r = Request("POST", "/shape/dup/1", INNER)
    c.mark([r])
    c.write(r.head)
    other = os.dup(c.sock.fileno())  # the body through another fd of the same socket
    os.write(other, r.body)
    os.close(other)
    c.sent += r.body
    c.answers()
    # The connection's stream moved by bytes its own fd's hooks did not count.
    one(c, Request("GET", "/shape/dup/2", expect="keep"))
    return c.close()


def scenario_sendfile(port, outdir):
    c = Conn(port, outdir, "sendfile-1")
    body = INNER * 100
    path = os.path.join(outdir, "sendfile-body.bin")
    with open(path, "wb") as f:
        f.write(body)
    r = Request("POST", "/shape/sendfile/1", body)
    c.mark([r])
    c.write(r.head)
    with open(path, "rb") as f:
        c.sock.sendfile(f)  # os.sendfile: counted by its result, never read
    c.sent += body
    c.answers()
    one(c, Request("GET", "/shape/sendfile/2"))
    return c.close()


def scenario_partial(port, outdir):
    c = Conn(port, outdir, "partial-1")
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    body = INNER * (1 << 15)  # 1.25 MiB through a small send buffer: many partial writes
    r = Request("POST", "/shape/partial/1", body)
    c.mark([r])
    c.write(r.head)
    c.sock.setblocking(False)
    at, partial = 0, 0
    while at < len(body):
        try:
            n = os.write(c.sock.fileno(), body[at:at + 65536])
        except BlockingIOError:
            select.select([], [c.sock], [], TIMEOUT_S)
            continue
        partial += n < min(65536, len(body) - at)
        at += n
    c.sock.setblocking(True)
    c.sock.settimeout(TIMEOUT_S)
    c.sent += body
    c.answers()
    one(c, Request("GET", "/shape/partial/2"))
    if not partial:
        say("error partial: no write was partial")
    return c.close() and partial > 0


SCENARIOS = {
    "length": scenario_length,
    "chunked": scenario_chunked,
    "later": scenario_later,
    "many": scenario_many,
    "http10": scenario_http10,
    "pipelined": scenario_pipelined,
    "continue": scenario_continue,
    "vectored": scenario_vectored,
    "dup": scenario_dup,
    "sendfile": scenario_sendfile,
    "partial": scenario_partial,
}


# ---------------------------------------------------------------------------------------
# Fuzz: random request sequences over keep-alive connections


METHODS = ["GET", "GET", "GET", "POST", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]


def random_body(rng):
    """Bytes that often look like requests, responses or chunk lines."""
    parts = []
    for _ in range(rng.choice([0, 1, 1, 2, 3, 6])):
        kind = rng.random()
        if kind < 0.45:
            parts.append(b"%s /in/%d HTTP/1.%d\r\nHost: y\r\n%s\r\n" % (
                rng.choice([b"GET", b"POST", b"PUT", b"DELETE", b"HEAD"]), rng.randrange(1000),
                rng.randrange(2), b"Content-Length: 0\r\n" if rng.random() < 0.3 else b""))
        elif kind < 0.55:
            parts.append(b"HTTP/1.1 200 OK\r\n\r\n")
        elif kind < 0.65:
            parts.append(b"0\r\n\r\n")
        elif kind < 0.9:
            parts.append(bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 200))))
        else:
            parts.append(b"x" * rng.randrange(1000, 20000))
    return b"".join(parts)


def random_request(rng, path, pipelined):
    method = rng.choice(METHODS)
    version = "HTTP/1.0" if rng.random() < 0.08 else "HTTP/1.1"
    headers = [("X-Fuzz-%d" % i, rng.choice(["a", "GET / HTTP/1.1", "0", "v" * rng.randrange(60)]))
               for i in range(rng.randrange(4))]
    if version == "HTTP/1.0":
        headers.append(("Connection", "keep-alive"))
    body = b"" if method in ("HEAD", "OPTIONS") or (method != "POST" and rng.random() < 0.6) \
        else random_body(rng)
    chunks = None
    if body and version == "HTTP/1.1" and rng.random() < 0.3:
        chunks, left = [], len(body)
        while left:
            n = min(left, rng.choice([1, 5, 40, 500, 5000]))
            chunks.append(n)
            left -= n
    if body and not chunks and not pipelined and version == "HTTP/1.1" and rng.random() < 0.12:
        headers.append(("Expect", "100-continue"))
    return Request(method, path, body, version=version, headers=headers, chunks=chunks,
                   trailers=[(b"X-Trailer", b"t")] if chunks and rng.random() < 0.3 else (),
                   extensions=[b";e=%d" % i if rng.random() < 0.2 else b""
                               for i in range(len(chunks))] if chunks else None,
                   expect="any")


def random_writes(rng, wire, cuts, heads):
    """`wire` in writes cut at some of `cuts` (where heads, chunk lines and requests end), at
    random places outside the `heads` ((start, end) ranges) and, rarely, anywhere: a head split
    across writes or buffers ends injection on its connection for good, so that shape is kept
    rare to leave the rest of the sequence something to inject. Some writes are sendmsg calls
    of two buffers."""
    def in_head(x):
        return any(a < x < b for a, b in heads)

    anywhere = rng.random() < 0.03  # this time a head may be split too

    def random_point(lo, hi):
        if hi <= lo:
            return None
        for _ in range(8):
            x = rng.randrange(lo, hi)
            if anywhere or not in_head(x):
                return x
        return None

    points = {x for x in cuts if 0 < x < len(wire) and rng.random() < 0.6}
    for _ in range(rng.choice([0, 0, 1, 2, 4])):
        x = random_point(1, len(wire))
        if x:
            points.add(x)
    writes, at = [], 0
    for p in split_at(wire, *points):
        k = random_point(at + 1, at + len(p)) if len(p) > 2 and rng.random() < 0.15 else None
        writes.append([p[:k - at], p[k - at:]] if k else p)
        at += len(p)
    return writes


def fuzz_worker(port, outdir, rng, worker, budget, errors):
    conn_index = 0
    while True:
        with budget[1]:
            if budget[0] <= 0:
                return
            n = min(budget[0], rng.randint(1, 60))
            budget[0] -= n
        conn_index += 1
        c = Conn(port, outdir, "fuzz-%d-%d" % (worker, conn_index))
        try:
            done = 0
            while done < n:
                batch = 1 if n - done < 2 or rng.random() > 0.06 else rng.randint(2, min(3, n - done))
                reqs = [random_request(rng, "/fuzz/%d/%d/%d" % (worker, conn_index, done + i),
                                       batch > 1) for i in range(batch)]
                done += batch
                wire, cuts, heads, at = b"", [], [], 0
                for r in reqs:
                    cuts += [at] + [at + x for x in r.cuts()]
                    heads.append((at, at + len(r.head)))
                    wire += r.wire
                    at += len(r.wire)
                if batch == 1 and reqs[0].waits_for_continue:
                    r = reqs[0]
                    c.mark([r])
                    for w in random_writes(rng, r.head, [], [(0, len(r.head))]):
                        c.write(w)
                    c.read_continue()
                    body = r.wire[len(r.head):]
                    for w in random_writes(rng, body, [x - len(r.head) for x in r.cuts()], []):
                        c.write(w)
                else:
                    c.send(reqs, random_writes(rng, wire, cuts, heads))
                c.answers()
        except Exception as e:  # noqa: BLE001 - any failure is the test's
            errors.append("%s: %r" % (c.name, e))
        if not c.close():
            errors.append("%s: %d echo errors" % (c.name, c.echo_errors))
        if errors:
            return


def fuzz(port, outdir, seed, total, workers):
    budget = [total, threading.Lock()]
    errors = []
    threads = [threading.Thread(target=fuzz_worker,
                                args=(port, outdir, random.Random(seed * 1000 + w), w, budget,
                                      errors)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in errors:
        say("error %s" % e)
    return not errors


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "server":
        server(int(sys.argv[2]), sys.argv[3])
    elif len(sys.argv) >= 5 and sys.argv[1] == "client":
        os.makedirs(sys.argv[3], exist_ok=True)
        ok = True
        for name in sys.argv[4:]:
            try:
                ok = SCENARIOS[name](int(sys.argv[2]), sys.argv[3]) and ok
            except Exception as e:  # noqa: BLE001 - reported, the other scenarios still run
                say("error %s: %r" % (name, e))
                ok = False
                while OPEN:
                    OPEN[0].close()
        sys.exit(0 if ok else 1)
    elif len(sys.argv) == 7 and sys.argv[1] == "fuzz":
        os.makedirs(sys.argv[3], exist_ok=True)
        sys.exit(0 if fuzz(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]),
                           int(sys.argv[6])) else 1)
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
