#!/usr/bin/python3
"""Interop: a third-party WebSocket client (Debian's python3-websockets) against the built
`huddle serve`: two clients join, chat, check their acks and the message frames, then the
server is stopped with SIGTERM and must close the open client with 1001 and exit 0. Then,
against `huddle serve --deflate`, clients with and without permessage-deflate (websockets'
compression="deflate", RFC 7692) chat in one group.

usage: interop_test.py HUDDLE_EXE    (run with /usr/bin/python3, where websockets lives)
"""
import asyncio
import json
import os
import signal
import subprocess
import sys
import threading

import websockets

TIMEOUT = 10


class Server:
    """`huddle serve --port 0` in a child process; its stdout's first line gives the port."""

    def __init__(self, exe, *extra):
        self.proc = subprocess.Popen(
            [exe, "serve", "--address", "127.0.0.1", "--port", "0", "--threads", "2",
             "--log-level", "warning", "--db", "",  # history in memory: nothing on disk
             "--auth", "none", *extra],  # python-websockets against the chat, not the accounts
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.stderr = []
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        line = self._first_line()
        prefix = "listening on 127.0.0.1:"
        if not line.startswith(prefix):
            self.kill()
            sys.exit(f"FAIL: unexpected first line {line!r}; stderr: {''.join(self.stderr)}")
        self.port = int(line[len(prefix):])

    def _drain_stderr(self):
        for line in self.proc.stderr:
            self.stderr.append(line)

    def _first_line(self):
        result = []
        reader = threading.Thread(target=lambda: result.append(self.proc.stdout.readline()),
                                  daemon=True)
        reader.start()
        reader.join(TIMEOUT)
        if not result:
            self.kill()
            sys.exit("FAIL: huddle serve printed no 'listening on' line")
        return result[0].strip()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


failures = []


def check(condition, what):
    if condition:
        print(f"ok   {what}")
    else:
        print(f"FAIL {what}")
        failures.append(what)


async def recv_json(ws):
    frame = await asyncio.wait_for(ws.recv(), TIMEOUT)
    if not isinstance(frame, str):
        check(False, f"frames are text, got {frame!r}")
    return json.loads(frame)


async def chat(port, server):
    base = f"ws://127.0.0.1:{port}/ws/42"
    async with websockets.connect(f"{base}?name=alice", open_timeout=TIMEOUT) as alice:
        welcome = await recv_json(alice)
        epoch = welcome.get("epoch")
        check(isinstance(epoch, str) and len(epoch) == 16, f"alice's welcome has an epoch: {welcome}")
        check(welcome == {"type": "welcome", "group": 42, "user": "alice", "last_id": 0,
                          "epoch": epoch, "members": []}, f"alice's welcome: {welcome}")

        bob = await websockets.connect(f"{base}?name=bob", open_timeout=TIMEOUT)
        welcome = await recv_json(bob)
        check(welcome.get("type") == "welcome" and welcome.get("members") == ["alice"],
              f"bob's welcome lists alice: {welcome}")
        join = await recv_json(alice)
        check(join == {"type": "join", "group": 42, "user": "bob"}, f"alice sees bob join: {join}")

        # A protocol frame with a ref: the sender gets an ack, the other the message.
        await alice.send(json.dumps({"type": "message", "text": "hi bob", "ref": "a1"}))
        ack = await recv_json(alice)
        check(ack == {"type": "ack", "ref": "a1", "id": 1}, f"alice's ack: {ack}")
        message = await recv_json(bob)
        check(message.get("type") == "message" and message.get("id") == 1
              and message.get("from") == "alice" and message.get("text") == "hi bob"
              and message.get("group") == 42 and isinstance(message.get("ts"), int),
              f"bob gets alice's message: {message}")

        # Plain text (not a JSON object) is a message too; non-ASCII survives the trip.
        await bob.send("héllo alice ✓")
        ack = await recv_json(bob)
        check(ack == {"type": "ack", "id": 2}, f"bob's ack without ref: {ack}")
        message = await recv_json(alice)
        check(message.get("id") == 2 and message.get("from") == "bob"
              and message.get("text") == "héllo alice ✓", f"alice gets bob's text: {message}")

        # A bad frame gets an error frame; the connection stays usable.
        await bob.send(json.dumps({"type": "nope"}))
        error = await recv_json(bob)
        check(error.get("type") == "error" and error.get("code") == "unknown_type",
              f"unknown type is an error frame: {error}")
        await bob.send(json.dumps({"type": "message", "text": "still here", "ref": "b2"}))
        ack = await recv_json(bob)
        check(ack == {"type": "ack", "ref": "b2", "id": 3}, f"bob's second ack: {ack}")
        message = await recv_json(alice)
        check(message.get("id") == 3 and message.get("text") == "still here",
              f"alice gets message 3: {message}")

        # A client with echo=1 gets its own message, then the ack.
        async with websockets.connect(f"{base}?name=carol&echo=1", open_timeout=TIMEOUT) as carol:
            await recv_json(carol)  # welcome
            for ws in (alice, bob):
                join = await recv_json(ws)
                check(join.get("type") == "join" and join.get("user") == "carol",
                      f"carol's join: {join}")
            await carol.send(json.dumps({"type": "message", "text": "echo", "ref": "c1"}))
            own = await recv_json(carol)
            check(own.get("type") == "message" and own.get("id") == 4 and own.get("from") == "carol",
                  f"carol's echo: {own}")
            ack = await recv_json(carol)
            check(ack == {"type": "ack", "ref": "c1", "id": 4}, f"carol's ack: {ack}")
            for ws in (alice, bob):
                message = await recv_json(ws)
                check(message.get("id") == 4, f"carol's message reaches everyone: {message}")
        for ws in (alice, bob):
            leave = await recv_json(ws)
            check(leave == {"type": "leave", "group": 42, "user": "carol"}, f"carol left: {leave}")

        # Bob closes normally; alice sees him leave.
        await bob.close()
        check(bob.close_code == 1000, f"bob's close code: {bob.close_code}")
        leave = await recv_json(alice)
        check(leave == {"type": "leave", "group": 42, "user": "bob"}, f"alice sees bob leave: {leave}")

        # SIGTERM with alice still connected: she gets 1001 "server shutdown".
        os.kill(server.proc.pid, signal.SIGTERM)
        try:
            extra = await asyncio.wait_for(alice.recv(), TIMEOUT)
            check(False, f"no frame after SIGTERM, got {extra!r}")
        except websockets.exceptions.ConnectionClosed as closed:
            check(closed.rcvd is not None and closed.rcvd.code == 1001
                  and closed.rcvd.reason == "server shutdown",
                  f"alice gets 1001 'server shutdown': {closed}")


def deflate_of(ws):
    """The permessage-deflate extension websockets negotiated, or None."""
    return next((e for e in ws.extensions if e.name == "permessage-deflate"), None)


async def deflate_chat(port):
    base = f"ws://127.0.0.1:{port}/ws/43"
    long_text = "the quarterly numbers are in, and they look good " * 20
    async with websockets.connect(f"{base}?name=dana", compression="deflate",
                                  open_timeout=TIMEOUT) as dana, \
            websockets.connect(f"{base}?name=eve", compression=None,
                               open_timeout=TIMEOUT) as eve:
        extension = deflate_of(dana)
        check(extension is not None, f"dana negotiated permessage-deflate: {dana.extensions}")
        # The server's frames have no context takeover (one compressed frame serves every
        # recipient), nor may the client's.
        check(extension is not None and extension.remote_no_context_takeover
              and extension.local_no_context_takeover,
              "no context takeover either way")
        check(deflate_of(eve) is None, "eve, who offered nothing, goes without")
        welcome = await recv_json(dana)
        check(welcome.get("type") == "welcome", f"dana's welcome: {welcome}")
        await recv_json(eve)  # welcome
        join = await recv_json(dana)
        check(join.get("type") == "join" and join.get("user") == "eve", f"eve's join: {join}")
        for n, (sender, receiver) in enumerate([(dana, eve), (eve, dana), (dana, eve),
                                                (eve, dana)]):
            text = f"{n}: " + (long_text if n < 2 else "short ✓")
            await sender.send(json.dumps({"type": "message", "text": text, "ref": f"r{n}"}))
            ack = await recv_json(sender)
            check(ack.get("type") == "ack" and ack.get("ref") == f"r{n}", f"ack {n}: {ack}")
            message = await recv_json(receiver)
            check(message.get("type") == "message" and message.get("text") == text,
                  f"message {n} arrives whole ({len(text)} characters)")


def main():
    server = Server(sys.argv[1])
    try:
        asyncio.run(asyncio.wait_for(chat(server.port, server), 60))
        try:
            code = server.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            code = None
        check(code == 0, f"huddle serve exits 0 after SIGTERM (got {code})")
    finally:
        server.kill()
    if server.stderr:
        print("huddle serve stderr:\n" + "".join(server.stderr))
    deflating = Server(sys.argv[1], "--deflate")
    try:
        asyncio.run(asyncio.wait_for(deflate_chat(deflating.port), 60))
    finally:
        deflating.kill()
    if deflating.stderr:
        print("huddle serve --deflate stderr:\n" + "".join(deflating.stderr))
    if failures:
        sys.exit(f"{len(failures)} check(s) failed")
    print("all interop checks passed")


if __name__ == "__main__":
    main()
