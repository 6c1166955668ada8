#!/usr/bin/python3
"""Interop: a third-party WebSocket client (Debian's python3-websockets) against the built
`huddle serve`: two clients join, chat, check their acks and the message frames, then the
server is stopped with SIGTERM and must close the open client with 1001 and exit 0. Then,
against `huddle serve --deflate`, clients with and without permessage-deflate (websockets'
compression="deflate", RFC 7692) chat in one group.

Both scenarios run twice: over ws://, then over wss:// against `huddle serve --tls-cert
--tls-key` with the certificates of test/tls/make-test-certs (made in a temporary directory),
the client trusting only the test CA and checking the name 127.0.0.1. Then, over TLS: plain
ws:// to the TLS port is refused with 400 {"error": "tls_required"}, and a verifying client
refuses a server that presents the expired or the wrong-name certificate.

usage: interop_test.py HUDDLE_EXE    (run with /usr/bin/python3, where websockets lives)
"""
import asyncio
import http.client
import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import threading

import websockets
import websockets.exceptions

TIMEOUT = 10
MAKE_TEST_CERTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tls",
                               "make-test-certs")
# What a refused upgrade raises: InvalidStatus since websockets 11 (InvalidStatusCode, its
# older name, in Debian 12's 10.4).
REFUSED_UPGRADE = tuple(getattr(websockets.exceptions, name)
                        for name in ("InvalidStatus", "InvalidStatusCode")
                        if hasattr(websockets.exceptions, name))


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


class Transport:
    """How the scenarios reach a server: ws:// to a plain one, or wss:// to one started with
    the TLS pair `name` of the certificate directory `certs`, through a client that trusts
    only the test CA and checks the server's name (the IP address 127.0.0.1 of the URL)."""

    def __init__(self, certs=None, name="server"):
        self.secure = certs is not None
        self.scheme = "wss" if self.secure else "ws"
        self.server_args = ()
        self.ssl = None
        if self.secure:
            self.server_args = ("--tls-cert", os.path.join(certs, f"{name}.pem"),
                                "--tls-key", os.path.join(certs, f"{name}.key"))
            self.ssl = verifying_context(certs)

    def connect(self, port, target, **options):
        if self.ssl is not None:  # websockets refuses an ssl argument for ws:// URLs
            options.setdefault("ssl", self.ssl)
        return websockets.connect(f"{self.scheme}://127.0.0.1:{port}{target}",
                                  open_timeout=TIMEOUT, **options)


def verifying_context(certs):
    """A client context that trusts the test CA alone, checks the name and offers ALPN."""
    context = ssl.create_default_context(cafile=os.path.join(certs, "ca.pem"))
    context.set_alpn_protocols(["http/1.1"])
    return context


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


def check_transport(transport, ws):
    """The connection is TLS (1.2 at least, ALPN http/1.1) exactly when it should be."""
    tls = ws.transport.get_extra_info("ssl_object")
    if transport.secure:
        check(tls is not None and tls.version() in ("TLSv1.2", "TLSv1.3")
              and tls.selected_alpn_protocol() == "http/1.1",
              f"the connection is TLS ({tls and tls.version()}, ALPN "
              f"{tls and tls.selected_alpn_protocol()})")
    else:
        check(tls is None, "the connection is plain TCP")


async def chat(transport, server):
    port = server.port
    async with transport.connect(port, "/ws/42?name=alice") as alice:
        check_transport(transport, alice)
        welcome = await recv_json(alice)
        epoch = welcome.get("epoch")
        check(isinstance(epoch, str) and len(epoch) == 16, f"alice's welcome has an epoch: {welcome}")
        check(welcome == {"type": "welcome", "group": 42, "user": "alice", "last_id": 0,
                          "epoch": epoch, "members": []}, f"alice's welcome: {welcome}")

        bob = await transport.connect(port, "/ws/42?name=bob")
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
        async with transport.connect(port, "/ws/42?name=carol&echo=1") as carol:
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


async def deflate_chat(transport, port):
    long_text = "the quarterly numbers are in, and they look good " * 20
    async with transport.connect(port, "/ws/43?name=dana", compression="deflate") as dana, \
            transport.connect(port, "/ws/43?name=eve", compression=None) as eve:
        check_transport(transport, dana)
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


async def tls_refusals(exe, certs):
    """Over TLS, what must fail fails cleanly: plain ws:// to the TLS port (400 and the JSON
    error tls_required, and the server goes on serving wss), and a verifying client against
    the expired and the wrong-name certificates (refused by the client, while one that does
    not verify connects: the certificate is the reason, not the server)."""
    transport = Transport(certs)
    server = Server(exe, *transport.server_args)
    try:
        try:
            async with websockets.connect(f"ws://127.0.0.1:{server.port}/ws/44?name=mallory",
                                          open_timeout=TIMEOUT):
                check(False, "plain ws:// to the TLS port is refused (it was upgraded)")
        except REFUSED_UPGRADE as refused:
            response = getattr(refused, "response", None)  # websockets >= 11
            status = response.status_code if response is not None else refused.status_code
            check(status == 400, f"plain ws:// to the TLS port is refused with 400 ({refused})")
        # The body, which websockets 10 does not keep, through a plain HTTP client.
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
        try:
            connection.request("GET", "/ws/44?name=mallory", headers={
                "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
            answer = connection.getresponse()
            status, body = answer.status, answer.read()
        finally:
            connection.close()
        try:
            error = json.loads(body).get("error")
        except ValueError:
            error = None
        check(status == 400 and error == "tls_required",
              f"the refusal is 400 with the JSON error tls_required ({status} {body!r})")
        async with transport.connect(server.port, "/ws/44?name=alice") as alice:
            welcome = await recv_json(alice)
            check(welcome.get("type") == "welcome", "wss on the same port still works after it")
        # The DNS name of the certificate is checked too, not only its IP address.
        async with transport.connect(server.port, "/ws/44?name=alice",
                                     server_hostname="localhost") as alice:
            welcome = await recv_json(alice)
            check(welcome.get("type") == "welcome", "wss checking the name localhost works")
    finally:
        server.kill()

    # OpenSSL's verification results (X509_V_ERR_*): what each refusal must be for.
    expired, hostname_mismatch, ip_address_mismatch = 10, 62, 64
    lax = ssl.create_default_context()
    lax.check_hostname = False
    lax.verify_mode = ssl.CERT_NONE
    for name, reasons in (("expired", [(None, expired), ("localhost", expired)]),
                          ("wrong-name", [(None, ip_address_mismatch),
                                          ("localhost", hostname_mismatch)])):
        transport = Transport(certs, name)
        server = Server(exe, *transport.server_args)
        try:
            for hostname, reason in reasons:
                options = {"server_hostname": hostname} if hostname else {}
                as_name = hostname or "127.0.0.1"
                try:
                    async with transport.connect(server.port, "/ws/44?name=alice", **options):
                        check(False, f"a verifying client refuses the {name} certificate "
                                     f"as {as_name} (it connected)")
                except ssl.SSLCertVerificationError as refused:
                    check(refused.verify_code == reason,
                          f"a verifying client refuses the {name} certificate as {as_name}: "
                          f"{refused.verify_message} (code {refused.verify_code})")
            async with websockets.connect(f"wss://127.0.0.1:{server.port}/ws/44?name=alice",
                                          ssl=lax, open_timeout=TIMEOUT) as alice:
                welcome = await recv_json(alice)
                check(welcome.get("type") == "welcome",
                      f"a client that does not verify gets through to the {name} server")
        finally:
            server.kill()
        if server.stderr:
            print(f"huddle serve ({name} certificate) stderr:\n" + "".join(server.stderr))


def run_scenarios(exe, transport):
    """The chat and the deflate scenarios against servers reached through `transport`."""
    print(f"# over {transport.scheme}://")
    server = Server(exe, *transport.server_args)
    try:
        asyncio.run(asyncio.wait_for(chat(transport, server), 60))
        try:
            code = server.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            code = None
        check(code == 0, f"huddle serve exits 0 after SIGTERM (got {code})")
    finally:
        server.kill()
    if server.stderr:
        print("huddle serve stderr:\n" + "".join(server.stderr))
    deflating = Server(exe, "--deflate", *transport.server_args)
    try:
        asyncio.run(asyncio.wait_for(deflate_chat(transport, deflating.port), 60))
    finally:
        deflating.kill()
    if deflating.stderr:
        print("huddle serve --deflate stderr:\n" + "".join(deflating.stderr))


def main():
    exe = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="huddle-interop-") as certs:
        made = subprocess.run([MAKE_TEST_CERTS, certs], capture_output=True, text=True,
                              timeout=60)
        if made.returncode != 0:
            sys.exit(f"FAIL: make-test-certs exited {made.returncode}: {made.stderr}")
        for transport in (Transport(), Transport(certs)):
            run_scenarios(exe, transport)
        print("# TLS refusals")
        asyncio.run(asyncio.wait_for(tls_refusals(exe, certs), 60))
    if failures:
        sys.exit(f"{len(failures)} check(s) failed")
    print("all interop checks passed")


if __name__ == "__main__":
    main()
