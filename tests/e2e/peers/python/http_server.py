#!/usr/bin/env python3
"""HTTP/1.1 keep-alive server for the ztrace end-to-end tests.

usage: http_server.py PORT

Routes (every response carries Content-Length, so connections stay open, and
X-Client-Port, the peer's port as the server sees it):
  GET/HEAD /ok/...        200 "ok <path>\n"
  GET      /slow/...      200 after 150 ms (lets an agent attach mid-request)
  GET      /error/...     500
  POST     /echo/...      200, echoes the request body
  anything else           404
"""
import http.client
import http.server
import sys
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
        self._route_get(True)

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
