#!/usr/bin/env python3
"""httpsnoop's test peer: a slow HTTP/1.1 server and clients whose bytes on
the wire are known exactly.

  httprig.py serve PORT            keep-alive server; GET /slow sleeps 100 ms,
                                   every other path answers at once; prints
                                   "ready PID" once it listens
  httprig.py pipeline PORT N       N GET requests in one write on one
                                   connection, then reads N responses
  httprig.py reuse PORT            two connections one after the other that
                                   get the same fd number; prints both fds
  httprig.py garbage PORT          bytes that are not HTTP
  httprig.py bigheader PORT        a request whose header line is 1 MiB
  httprig.py slowloris PORT SECS   a request head trickled a byte at a time,
                                   then the connection is closed unfinished
  httprig.py rstthenget PORT N     N times: GET /rst/I, which the server
                                   answers then resets, the answer read after
                                   the reset; then GET /after/I on a new
                                   connection (a socket freed just before: the
                                   kernel often gives it the same address)
  httprig.py reconnect PORT        one socket connected three times (connect
                                   with AF_UNSPEC ends each connection): GET
                                   /reconn/0 to PORT, then 5 lines that are
                                   not HTTP to an echo server of its own, then
                                   GET /reconn/1 to PORT; prints the fd and the
                                   local port of each HTTP connection
  httprig.py hop PORT N            N GET /hop/I on one keep-alive connection,
                                   each written on one CPU and its answer read
                                   on the next (of those it may run on)
Every client prints its pid first ("pid N").
"""
import ctypes
import http.server
import os
import socket
import struct
import sys
import time


class Slow(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path.startswith("/slow"):
            time.sleep(0.1)
        body = b"slow\n" if self.path.startswith("/slow") else b"fast\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if self.path.startswith("/rst"):
            # The answer, then a reset (SO_LINGER 0) rather than a FIN.
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True

    def log_message(self, *a):
        pass


def disconnect(s):
    """connect() with an AF_UNSPEC address: the connection ends (the socket
    goes to TCP_CLOSE) and the same socket may connect again."""
    libc = ctypes.CDLL(None, use_errno=True)
    unspec = struct.pack("H14x", socket.AF_UNSPEC)
    if libc.connect(s.fileno(), unspec, len(unspec)) != 0:
        raise OSError(ctypes.get_errno(), "connect(AF_UNSPEC)")


def echo_server():
    """A TCP server that echoes lines (not HTTP), in a thread; returns its port."""
    import threading

    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)

    def run():
        c, _ = ls.accept()
        try:
            while True:
                b = c.recv(4096)
                if not b:
                    break
                c.sendall(b)
        except OSError:  # the client's AF_UNSPEC connect resets the connection
            pass
        c.close()

    threading.Thread(target=run, daemon=True).start()
    return ls.getsockname()[1]


def connect(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def drain_and_close(s):
    """Reads what the server says until it closes (or 3 s pass)."""
    s.settimeout(3)
    try:
        while s.recv(65536):
            pass
    except OSError:
        pass
    s.close()


def read_responses(s, n):
    """Reads until n responses with Content-Length bodies have arrived."""
    buf = b""
    got = 0
    while got < n:
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            if not d:
                return got
            buf += d
        head, _, rest = buf.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v)
        while len(rest) < length:
            d = s.recv(65536)
            if not d:
                return got
            rest += d
        buf = rest[length:]
        got += 1
    return got


def main():
    cmd, port = sys.argv[1], int(sys.argv[2])
    if cmd == "serve":
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Slow)
        print("ready", os.getpid(), flush=True)
        srv.serve_forever()
        return
    print("pid", os.getpid(), flush=True)
    if cmd == "pipeline":
        n = int(sys.argv[3])
        s = connect(port)
        req = b"".join(b"GET /pipe/%d HTTP/1.1\r\nHost: rig\r\n\r\n" % i for i in range(n))
        s.sendall(req)
        print("responses", read_responses(s, n), flush=True)
        s.close()
    elif cmd == "reuse":
        for i in range(2):
            s = connect(port)
            s.sendall(b"GET /reuse/%d HTTP/1.1\r\nHost: rig\r\n\r\n" % i)
            read_responses(s, 1)
            print("fd", s.fileno(), "port", s.getsockname()[1], flush=True)
            s.close()
    elif cmd == "reconnect":
        echo = echo_server()
        s = socket.socket()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i, to in enumerate((port, echo, port)):
            s.connect(("127.0.0.1", to))
            if to == echo:
                for j in range(5):
                    line = b"hello %d, not http\n" % j
                    s.sendall(line)
                    got = b""
                    while len(got) < len(line):
                        got += s.recv(4096)
            else:
                s.sendall(b"GET /reconn/%d HTTP/1.1\r\nHost: rig\r\n\r\n" % (i // 2))
                read_responses(s, 1)
                print("fd", s.fileno(), "port", s.getsockname()[1], flush=True)
            disconnect(s)
        s.close()
    elif cmd == "garbage":
        s = connect(port)
        s.sendall(b"\x16\x03\x01\x00\xffTHIS IS NOT HTTP\r\n\r\n" + os.urandom(64))
        drain_and_close(s)
    elif cmd == "bigheader":
        s = connect(port)
        s.sendall(b"GET /big HTTP/1.1\r\nHost: rig\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n")
        drain_and_close(s)
    elif cmd == "rstthenget":
        for i in range(int(sys.argv[3])):
            s = connect(port)
            s.sendall(b"GET /rst/%d HTTP/1.1\r\nHost: rig\r\n\r\n" % i)
            time.sleep(0.05)  # the reset is in before the answer is read
            try:
                read_responses(s, 1)
            except OSError:
                pass
            s.close()
            s = connect(port)
            s.sendall(b"GET /after/%d HTTP/1.1\r\nHost: rig\r\n\r\n" % i)
            read_responses(s, 1)
            print("after", i, "port", s.getsockname()[1], flush=True)
            s.close()
    elif cmd == "hop":
        cpus = sorted(os.sched_getaffinity(0))
        s = connect(port)
        got = 0
        for i in range(int(sys.argv[3])):
            os.sched_setaffinity(0, {cpus[i % len(cpus)]})
            s.sendall(b"GET /hop/%d HTTP/1.1\r\nHost: rig\r\n\r\n" % i)
            os.sched_setaffinity(0, {cpus[(i + 1) % len(cpus)]})
            got += read_responses(s, 1)
        print("cpus", len(cpus), "responses", got, flush=True)
        s.close()
    elif cmd == "slowloris":
        secs = float(sys.argv[3])
        s = connect(port)
        head = b"GET /loris HTTP/1.1\r\nHost: rig\r\nX-Slow: "
        end = time.time() + secs
        i = 0
        while time.time() < end:
            s.send(head[i:i + 1] if i < len(head) else b"a")
            i += 1
            time.sleep(0.05)
        s.close()


if __name__ == "__main__":
    main()
