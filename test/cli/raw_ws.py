"""What the CLI tests that talk to a running `huddle serve` share: just enough of a WebSocket
client (RFC 6455 framing over a plain socket, so a test controls exactly when it reads),
starting a server on an ephemeral loopback port, and paging through the messages API.
Plain Python 3, no third-party module."""
import base64
import json
import os
import socket
import struct
import subprocess
import sys
import urllib.request

TIMEOUT = 20


def upgrade_request(port, target, headers=()):
    """The bytes of a WebSocket upgrade request; `headers` are extra "Name: value" lines."""
    lines = [f"GET {target} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
             "Connection: Upgrade",
             f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}",
             "Sec-WebSocket-Version: 13", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def refused_upgrade(port, target, headers=()):
    """(status, JSON body or None) of an upgrade request the server is expected to refuse."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(upgrade_request(port, target, headers))
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        lines = head.decode(errors="replace").split("\r\n")
        status = int(lines[0].split()[1]) if lines[0].startswith("HTTP/1.1 ") else 0
        length = next((int(line.split(":", 1)[1]) for line in lines[1:]
                       if line.lower().startswith("content-length:")), 0)
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    try:
        return status, json.loads(body)
    except ValueError:
        return status, None


class Ws:
    """Text frames, masked as RFC 6455 §5.3 requires; over TLS (wss) when given an
    ssl.SSLContext."""

    def __init__(self, port, target, headers=(), tls=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        if tls is not None:
            self.sock = tls.wrap_socket(self.sock, server_hostname="127.0.0.1")
        self.sock.sendall(upgrade_request(port, target, headers))
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise RuntimeError(f"upgrade refused: {head!r}")

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed")
        self.buffer += chunk

    def _take(self, n):
        while len(self.buffer) < n:
            self._fill()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def send(self, text):
        payload = text.encode()
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", 0x81, 0x80 | n)
        elif n < 65536:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def send_message(self, text, ref):
        self.send(json.dumps({"type": "message", "text": text, "ref": ref}))

    def recv_json(self):
        """The next text frame as JSON; EOFError when the connection ends."""
        while True:
            b0, b1 = self._take(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._take(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._take(8))[0]
            payload = self._take(n)
            opcode = b0 & 0x0F
            if opcode == 8:
                raise EOFError("close frame")
            if opcode == 1:
                return json.loads(payload)

    def recv_type(self, kind):
        """The next frame of type `kind`, skipping others (presence)."""
        frame = self.recv_json()
        while frame.get("type") != kind:
            frame = self.recv_json()
        return frame

    def close(self):
        self.sock.close()


def start_server(exe, *options):
    """`huddle serve OPTIONS` on 127.0.0.1, an ephemeral port; returns (process, port)."""
    proc = subprocess.Popen([exe, "serve", "--address", "127.0.0.1", "--port", "0",
                             "--log-level", "warning", *options],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on 127.0.0.1:"):
        proc.kill()
        proc.wait()
        sys.exit(f"FAIL: no 'listening on' line, got {line!r}")
    return proc, int(line.rsplit(":", 1)[1])


def history(port, group):
    """Every stored message of `group`, paging through the messages API."""
    messages, since = [], 0
    while True:
        url = f"http://127.0.0.1:{port}/api/groups/{group}/messages?since={since}&limit=1000"
        with urllib.request.urlopen(url, timeout=TIMEOUT) as answer:
            page = json.loads(answer.read())
        if not page:
            return messages
        messages += page
        since = page[-1]["id"]
