"""HTTPS peer for the ztrace end-to-end tests: Python's ssl module (OpenSSL) on both sides.

  tls_http.py server PORT CERT KEY      http.server (HTTP/1.1 keep-alive) wrapped in ssl
  tls_http.py client URL...             urllib, one connection per URL; prints
                                        "STATUS URL port=CLIENT_PORT" per request

The server answers GET /ok/* with 200 and a short body, /missing/* with 404, and echoes the
client's port in X-Client-Port (as the other peers do). GET /call?to=URL first makes an HTTPS
request to URL from the handler's thread (urllib) and answers 200 when that one did.
"""
import http.server
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path.startswith("/call?"):
            downstream = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)["to"][0]
            with urllib.request.urlopen(downstream, context=insecure_context(), timeout=10) as a:
                a.read()
            self.path = "/ok/call"
        status = 200 if self.path.startswith("/ok/") else 404
        body = b"hello tls\n" if status == 200 else b"missing\n"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Client-Port", str(self.client_address[1]))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve(port, cert, key):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


def insecure_context():
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the tests' certificates are self-signed
    return context


def client(urls):
    context = insecure_context()
    for url in urls:
        try:
            with urllib.request.urlopen(url, context=context, timeout=10) as answer:
                answer.read()
                status, port = answer.status, answer.headers.get("X-Client-Port")
        except urllib.error.HTTPError as error:
            error.read()
            status, port = error.code, error.headers.get("X-Client-Port")
        print(f"{status} {url} port={port}", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        serve(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        client(sys.argv[2:])
