#!/usr/bin/python3
"""Crash safety of the history (issue 5): `huddle serve --db FILE` (durability batch) is
killed with SIGKILL during a flood of messages; restarted on the same file, every message
that was acked must be in history (the messages API) with its text, and new ids continue
after the old ones without reuse.

usage: history_crash_test.py HUDDLE_EXE
Plain Python 3: a minimal WebSocket client (RFC 6455 framing) and urllib.
"""
import base64
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from checks import check, finish

EXE = os.path.abspath(sys.argv[1])
TIMEOUT = 20


class Ws:
    """Just enough of a WebSocket client: text frames, masked as RFC 6455 §5.3 requires."""

    def __init__(self, port, target):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
                          .encode())
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

    def close(self):
        self.sock.close()


def start_server(db):
    proc = subprocess.Popen([EXE, "serve", "--address", "127.0.0.1", "--port", "0", "--threads",
                             "2", "--db", db, "--durability", "batch", "--history-per-group", "0",
                             "--log-level", "warning", "--auth", "none",
                             "--message-rate", "0"],  # a flood, on purpose
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on 127.0.0.1:"):
        proc.kill()
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


def main():
    workdir = tempfile.mkdtemp(prefix="huddle-crash-")
    db = os.path.join(workdir, "history.db")
    try:
        server, port = start_server(db)
        flood = Ws(port, "/ws/1?name=flood")
        welcome = flood.recv_json()
        check(welcome.get("type") == "welcome", "welcome first")

        acked = {}  # ref number -> id
        ended = threading.Event()

        def read_acks():
            try:
                while True:
                    frame = flood.recv_json()
                    if frame.get("type") == "ack":
                        acked[int(frame["ref"])] = frame["id"]
            except (EOFError, OSError, ValueError):
                pass
            ended.set()

        def send_flood():
            try:
                for i in range(1, 50_001):
                    flood.send(json.dumps({"type": "message", "text": f"text {i}", "ref": str(i)}))
            except OSError:
                pass

        threading.Thread(target=read_acks, daemon=True).start()
        sender = threading.Thread(target=send_flood, daemon=True)
        sender.start()
        deadline = time.monotonic() + TIMEOUT
        while len(acked) < 2000 and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(server.pid, signal.SIGKILL)  # mid-flood: the sender is still sending
        server.wait()
        ended.wait(TIMEOUT)
        sender.join(TIMEOUT)
        flood.close()
        acks = dict(acked)
        check(len(acks) >= 2000, f"at least 2000 messages acked before the kill ({len(acks)})")

        server, port = start_server(db)
        stored = history(port, 1)
        ids = [m["id"] for m in stored]
        by_id = {m["id"]: m for m in stored}
        check(ids == sorted(set(ids)), "history is in id order, without duplicates")
        lost = [ref for ref, id_ in acks.items()
                if id_ not in by_id or by_id[id_]["text"] != f"text {ref}"]
        check(not lost, f"every acked message is in history with its text ({len(acks)} acked, "
                        f"{len(stored)} stored, missing refs: {sorted(lost)[:10]})")
        newest = max(ids + list(acks.values()))

        client = Ws(port, "/ws/1?name=after")
        welcome = client.recv_json()
        check(welcome.get("last_id", -1) >= newest,
              f"welcome.last_id {welcome.get('last_id')} >= newest id before the crash {newest}")
        client.send(json.dumps({"type": "message", "text": "after the crash", "ref": "x"}))
        frame = client.recv_json()
        while frame.get("type") != "ack":
            frame = client.recv_json()
        check(frame["id"] > newest, f"the next id {frame['id']} continues after {newest}")
        client.close()
        server.send_signal(signal.SIGTERM)
        check(server.wait(timeout=TIMEOUT) == 0, "the restarted server exits 0 on SIGTERM")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    finish("history crash")


if __name__ == "__main__":
    main()
