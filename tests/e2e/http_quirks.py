#!/usr/bin/env python3
"""http_quirks.py - a small HTTP/1.1 server with the framings and faults a
load sender must survive, for test_tc_sender.sh. Reads requests as they
come (pipelined ones too) and answers by path:
  /chunked  200, chunked body, X-Served-By node1; every 5th answer on a
            connection says Connection: close and closes it, and so does
            an answer after the 2nd with another request read behind it
  /length   200, Content-Length, X-Served-By node2, sent in two writes
  /eof      HTTP/1.0 200, no length, body until close
  /bad      a bad status line
Writes its port to --port-file; counts requests per path in --log, and
as "unanswered" those read but left behind when it closed."""
import argparse
import socket
import socketserver
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("--port-file", required=True)
ap.add_argument("--log", required=True)
args = ap.parse_args()
lock = threading.Lock()
counts = {}


def answer(path, n, behind):
    if path.startswith("/chunked"):
        close = n % 5 == 0 or (n >= 2 and behind)
        head = ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                "X-Served-By: node1\r\n%s\r\n"
                % ("Connection: close\r\n" if close else ""))
        return [head.encode() + b"4\r\nwxyz\r\n2;x=y\r\nok\r\n0\r\n\r\n"], close
    if path.startswith("/length"):
        return [b"HTTP/1.1 200 OK\r\nX-Served-By: node2\r\nContent-Len",
                b"gth: 5\r\n\r\nhello"], False
    if path.startswith("/eof"):
        return [b"HTTP/1.0 200 OK\r\n\r\nuntil the end"], True
    return [b"HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n"], True


def count(key, k):
    with lock:
        counts[key] = counts.get(key, 0) + k
        with open(args.log, "w") as f:
            for key, v in sorted(counts.items()):
                f.write("%s %d\n" % (key, v))


class H(socketserver.BaseRequestHandler):
    def handle(self):
        s, buf, n = self.request, b"", 0
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            while b"\r\n\r\n" not in buf:
                d = s.recv(65536)
                if not d:
                    return
                buf += d
            head, buf = buf.split(b"\r\n\r\n", 1)
            path = head.split(b" ")[1].decode()
            n += 1
            count(path, 1)
            parts, close = answer(path, n, b"\r\n\r\n" in buf)
            for p in parts:
                s.sendall(p)
                time.sleep(0.001)
            if close:
                left = buf.count(b"\r\n\r\n")
                if left:
                    count("unanswered", left)
                return


class S(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


srv = S(("127.0.0.1", 0), H)
with open(args.port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(args.port_file + ".tmp", args.port_file)
srv.serve_forever()
