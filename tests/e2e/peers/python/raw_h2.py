#!/usr/bin/env python3
"""Raw HTTP/2 (h2c, prior knowledge) peers for the injection byte test.

  raw_h2.py server PORT DIR   accepts connections one after the other and writes every byte
                              read on the n-th one to DIR/<n>.recv before closing it
  raw_h2.py client PORT DIR   one connection per scenario, in order: writes the bytes it sent
                              to DIR/<n>.sent and prints "<n> <scenario>"

The client's frames are written with write, send, sendmsg (several iovecs) and writev, in
shapes that test how the agent follows frames: several HEADERS per write, frames across
iovecs and writes, padding and priority, CONTINUATION, the application's own traceparent
(raw and Huffman-coded name), a write that ends inside a frame header, trailers.
No response is needed: the server only records.
"""
import os
import socket
import struct
import sys
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
HEADERS, DATA, SETTINGS, CONTINUATION = 1, 0, 4, 9
END_STREAM, END_HEADERS, PADDED, PRIORITY = 0x1, 0x4, 0x8, 0x20
# :method GET, :scheme http, :path / (static table), :authority "localhost" (literal without
# indexing, indexed name 1): a block that leaves the dynamic tables alone.
BLOCK = bytes([0x82, 0x86, 0x84, 0x01, 0x09]) + b"localhost"
TRACEPARENT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
OWN_RAW = bytes([0x00, 0x0B]) + b"traceparent" + bytes([len(TRACEPARENT)]) + TRACEPARENT
OWN_HUFFMAN = (bytes([0x00, 0x88, 0x4D, 0x83, 0x21, 0x6B, 0x1D, 0x85, 0xA9, 0x3F])
               + bytes([len(TRACEPARENT)]) + TRACEPARENT)


def frame(ftype, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream) + payload


def headers(stream, block=BLOCK, flags=END_HEADERS | END_STREAM):
    return frame(HEADERS, flags, stream, block)


SETTINGS_FRAME = frame(SETTINGS, 0, 0, b"")


def scenarios():
    """name -> list of (syscall, [buffers]); every write is made exactly as listed."""
    s = {}
    # One HEADERS per write.
    s["single"] = [("write", [PREFACE + SETTINGS_FRAME]), ("write", [headers(1)]),
                   ("send", [headers(3)])]
    # Several HEADERS in one write, with DATA between them.
    s["multi"] = [("write", [PREFACE + SETTINGS_FRAME + headers(1, flags=END_HEADERS) +
                             frame(DATA, END_STREAM, 1, b"x" * 100) + headers(3) +
                             headers(5)])]
    # A HEADERS frame's header alone in one iovec, its block over the next two.
    h = headers(1)
    s["iovecs"] = [("sendmsg", [PREFACE, SETTINGS_FRAME + h[:9], h[9:12], h[12:]]),
                   ("writev", [headers(3)[:4], headers(3)[4:] + headers(5)])]
    # A DATA frame that goes on in the next writes, then HEADERS after it.
    data = frame(DATA, END_STREAM, 1, b"y" * 3000)
    s["mid_frame"] = [("write", [PREFACE + SETTINGS_FRAME + headers(1, flags=END_HEADERS) +
                                 data[:1000]]),
                      ("write", [data[1000:2000]]), ("write", [data[2000:] + headers(3)])]
    # PADDED and PRIORITY: the field goes before the padding.
    padded = bytes([7]) + bytes(5) + BLOCK + b"\0" * 7
    s["padded"] = [("write", [PREFACE + SETTINGS_FRAME]),
                   ("write", [frame(HEADERS, END_HEADERS | END_STREAM | PADDED | PRIORITY, 1,
                                    padded)]),
                   ("write", [headers(3)])]
    # CONTINUATION: never injected, and the connection is not followed further.
    s["continuation"] = [("write", [PREFACE + SETTINGS_FRAME]),
                         ("write", [frame(HEADERS, END_STREAM, 1, BLOCK[:3]) +
                                    frame(CONTINUATION, END_HEADERS, 1, BLOCK[3:])]),
                         ("write", [headers(3)])]
    # The application's own traceparent: never a second one, on this stream or later ones.
    s["own_raw"] = [("write", [PREFACE + SETTINGS_FRAME + headers(1)]),
                    ("write", [headers(3, BLOCK + OWN_RAW)]), ("write", [headers(5)])]
    s["own_huffman"] = [("write", [PREFACE + SETTINGS_FRAME]),
                        ("write", [headers(1, BLOCK + OWN_HUFFMAN)]), ("write", [headers(3)])]
    # A write that ends inside a frame header: framing is not followed across it.
    h = headers(3)
    s["header_split"] = [("write", [PREFACE + SETTINGS_FRAME + headers(1) + h[:5]]),
                         ("write", [h[5:]]), ("write", [headers(5)])]
    # DATA payloads that look like HEADERS frames and like HTTP/1 requests, each starting a
    # write (their frame headers end the write before): the frames are followed, not guessed.
    looks_headers = headers(3) + headers(5)
    looks_http1 = b"GET /inner HTTP/1.1\r\nHost: y\r\n\r\n"
    s["data_like_headers"] = [
        ("write", [PREFACE + SETTINGS_FRAME + headers(1, flags=END_HEADERS) +
                   frame(DATA, 0, 1, looks_headers)[:9]]),
        ("write", [looks_headers]),
        ("write", [frame(DATA, END_STREAM, 1, looks_http1)[:9]]),
        ("send", [looks_http1]),
        ("writev", [looks_headers[:9], looks_headers[9:]]),  # the real stream 3 and 5
    ]
    # Trailers: HEADERS on a stream already open is no new request.
    s["trailers"] = [("write", [PREFACE + SETTINGS_FRAME + headers(1, flags=END_HEADERS)]),
                     ("write", [frame(DATA, 0, 1, b"z" * 10) + headers(1)])]
    return s


def send_all(sock, how, buffers):
    total = sum(len(b) for b in buffers)
    if how == "write":
        n = os.write(sock.fileno(), b"".join(buffers))
    elif how == "send":
        n = sock.send(b"".join(buffers))
    elif how == "sendmsg":
        n = sock.sendmsg(buffers)
    else:
        n = os.writev(sock.fileno(), buffers)
    if n != total:
        raise SystemExit(f"short {how}: {n} of {total}")


def client(port, out):
    for index, (name, writes) in enumerate(scenarios().items()):
        sock = socket.create_connection(("127.0.0.1", port))
        sent = b""
        for how, buffers in writes:
            send_all(sock, how, buffers)
            sent += b"".join(buffers)
            time.sleep(0.01)  # one message per write on the wire side too
        with open(os.path.join(out, f"{index}.sent"), "wb") as f:
            f.write(sent)
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(4096):
            pass
        sock.close()
        print(index, name, flush=True)


def server(port, out):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(16)
    print("listening", flush=True)
    index = 0
    while True:
        conn, _ = listener.accept()
        received = b""
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            received += chunk
        with open(os.path.join(out, f"{index}.recv"), "wb") as f:
            f.write(received)
        conn.close()
        index += 1


if __name__ == "__main__":
    mode, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    (server if mode == "server" else client)(port, out)
