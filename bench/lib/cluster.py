#!/usr/bin/python3
"""Helpers for scripts/bench's Redis cluster servers (redisN): a free loopback port for
redis-server, and waiting until huddle nodes accept a join.

  cluster.py free-port                   prints a port free on 127.0.0.1 now
  cluster.py wait-joinable PORT... [--timeout S] [--target /ws/G?name=probe]

wait-joinable returns (exit 0) once every node answered a guest's join with a `welcome`
frame, which a node in broker mode sends only once it is connected to Redis (it closes
joins with 1011 "broker unavailable" before). Exit 1, naming the port, when one did not
within the timeout. Standard library only: a minimal WebSocket client (RFC 6455) that
reads one server frame.
"""

import argparse
import base64
import json
import os
import socket
import struct
import sys
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("connection closed")
        data += chunk
    return data


def first_frame(port, target, timeout):
    """Opens a WebSocket on 127.0.0.1:PORT, returns the first text frame's payload."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall((f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                      "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += recv_exact(sock, 1)
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status + b" ":
            raise RuntimeError(status.decode(errors="replace"))
        b0, b1 = recv_exact(sock, 2)
        length = b1 & 0x7F
        if length == 126:
            length = struct.unpack("!H", recv_exact(sock, 2))[0]
        elif length == 127:
            length = struct.unpack("!Q", recv_exact(sock, 8))[0]
        payload = recv_exact(sock, length)
        if b0 & 0x0F == 0x8:  # close frame: e.g. 1011 broker unavailable
            raise RuntimeError("closed: " + payload[2:].decode(errors="replace"))
        return payload.decode(errors="replace")


def wait_joinable(args):
    deadline = time.monotonic() + args.timeout
    for port in args.ports:
        last = ""
        while True:
            try:
                frame = json.loads(first_frame(port, args.target, 2.0))
                if frame.get("type") == "welcome":
                    break
                last = f"first frame was {frame.get('type')!r}"
            except (OSError, EOFError, RuntimeError, ValueError) as e:
                last = str(e)
            if time.monotonic() > deadline:
                print(f"node on port {port} did not accept a join within {args.timeout} s"
                      f" ({last})", file=sys.stderr)
                return 1
            time.sleep(0.1)
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("free-port")
    wj = sub.add_parser("wait-joinable")
    wj.add_argument("ports", nargs="+", type=int)
    wj.add_argument("--timeout", type=float, default=10.0)
    wj.add_argument("--target", default="/ws/1?name=probe")
    args = parser.parse_args()
    if args.command == "free-port":
        print(free_port())
        return 0
    return wait_joinable(args)


if __name__ == "__main__":
    sys.exit(main())
