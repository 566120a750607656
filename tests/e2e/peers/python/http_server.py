#!/usr/bin/env python3
"""HTTP/1.1 keep-alive server for the ztrace end-to-end tests.

usage: http_server.py PORT

Routes (every response carries Content-Length, so connections stay open, and
X-Client-Port, the peer's port as the server sees it):
  GET/HEAD /ok/...        200 "ok <path>\n"
  GET      /slow/...      200 after 150 ms (lets an agent attach mid-request)
  GET      /error/...     500
  POST     /echo/...      200, echoes the request body
  GET      /chain/...     one hop of the trace-context chain (below)
  anything else           404

Chain mode (the e2e chain tests), set by environment variables:
  CHAIN_NEXT             base URL of the next hop (http://127.0.0.1:PORT). The handler sends
                         GET CHAIN_NEXT<same path> over a keep-alive http.client connection
                         (one per server thread) and embeds the JSON answer. Unset: the leaf.
  CHAIN_NAME             this hop's name in the report (default "python")
  CHAIN_OWN_TRACEPARENT  the hop sends its own traceparent header downstream, like an
                         instrumented application: "propagate" keeps the incoming trace id
                         (a new one without a valid incoming header) with a new random span
                         id; any other value is sent as it is.
The answer is a JSON object: {"hop", "pid", "method", "path", "peer_port", "traceparent":
[every traceparent value received], "tracestate": [...], "sent_traceparent" ("" unless own),
"headers": [[name, value], ...] (all request headers, in order), "next_status", "next"
(the next hop's JSON, or null at the leaf)}. A failing next hop gives 502.
"""
import http.client
import http.server
import json
import os
import re
import sys
import threading
import time

# The stdlib refuses more than 100 header lines (answers 431); the large-header test sends
# hundreds, so lift the limit. A single line is still capped at 64 KiB by the stdlib.
http.client._MAXHEADERS = 100000


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ztrace-e2e-python"

    def _reply(self, code, body, send_body=True):
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Client-Port", str(self.client_address[1]))
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def _route_get(self, send_body):
        path = self.path.split("?", 1)[0]
        if path.startswith("/ok/"):
            self._reply(200, ("ok %s\n" % path).encode(), send_body)
        elif path.startswith("/slow/"):
            time.sleep(0.15)
            self._reply(200, ("slow %s\n" % path).encode(), send_body)
        elif path.startswith("/error/"):
            self._reply(500, b"error\n", send_body)
        else:
            self._reply(404, b"not found\n", send_body)

    def do_GET(self):
        if self.path.startswith("/chain/"):
            self._chain()
        else:
            self._route_get(True)

    def _chain(self):
        received = self.headers.get_all("traceparent") or []
        report = {
            "hop": os.environ.get("CHAIN_NAME", "python"),
            "pid": os.getpid(),
            "method": self.command,
            "path": self.path,
            "peer_port": self.client_address[1],
            "traceparent": received,
            "tracestate": self.headers.get_all("tracestate") or [],
            "sent_traceparent": "",
            "headers": [[k, v] for k, v in self.headers.items()],
            "next_status": 0,
            "next": None,
        }
        code = 200
        next_base = os.environ.get("CHAIN_NEXT", "")
        if next_base:
            headers = {}
            own = os.environ.get("CHAIN_OWN_TRACEPARENT", "")
            if own:
                headers["traceparent"] = own_traceparent(own, received)
                report["sent_traceparent"] = headers["traceparent"]
            try:
                status, body = call_next(next_base, self.path, headers)
                report["next_status"] = status
                try:
                    report["next"] = json.loads(body)
                except ValueError:
                    report["next"] = body.decode("utf-8", "replace")
                if status != 200:
                    code = 502
            except (OSError, http.client.HTTPException) as e:
                report["next"] = "error: %s" % e
                code = 502
        self._reply_json(code, report)

    def _reply_json(self, code, report):
        body = json.dumps(report).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Client-Port", str(self.client_address[1]))
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self):
        self._route_get(False)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length) if length > 0 else b""
        if self.path.startswith("/echo/"):
            self._reply(200, body)
        else:
            self._reply(404, b"not found\n")

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))
        sys.stderr.flush()


TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def own_traceparent(mode, received):
    if mode != "propagate":
        return mode
    m = TRACEPARENT.match(received[0].strip()) if len(received) == 1 else None
    trace_id = m.group(1) if m else os.urandom(16).hex()
    return "00-%s-%s-01" % (trace_id, os.urandom(8).hex())


# One keep-alive connection to the next hop per server thread (ThreadingHTTPServer runs one
# thread per accepted connection), so a request's outgoing call is made on the thread that
# serves it, as in a thread-per-request application.
_next_connection = threading.local()


def call_next(base, path, headers):
    host_port = base.split("://", 1)[-1].rstrip("/")
    host, port = host_port.rsplit(":", 1)
    for attempt in (0, 1):
        conn = getattr(_next_connection, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(host, int(port), timeout=20)
            _next_connection.conn = conn
        try:
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            return resp.status, body
        except (OSError, http.client.HTTPException):
            conn.close()
            _next_connection.conn = None
            if attempt == 1:
                raise
    raise AssertionError("unreachable")


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    port = int(sys.argv[1])
    server = Server(("127.0.0.1", port), Handler)
    print("listening %d" % port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
