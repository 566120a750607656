#!/usr/bin/env python3
"""Non-HTTP server: reads whatever a client sends, answers with random bytes, closes.

usage: junk_server.py PORT
"""
import os
import socket
import sys
import threading


def serve(conn):
    with conn:
        conn.settimeout(5)
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                # Starts with a byte no HTTP message starts with.
                conn.sendall(b"\x00" + os.urandom(len(data)))
        except OSError:
            pass


def main():
    port = int(sys.argv[1])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(16)
    print("listening %d" % port, flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
