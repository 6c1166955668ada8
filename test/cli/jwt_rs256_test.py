#!/usr/bin/python3
"""RS256 tokens end to end through a running `huddle serve --auth jwt --jwt-public-key FILE`
(with --jwt-issuer and --jwt-audience), as another service would mint them: an RSA key pair
made with `openssl` at test time, tokens signed with `openssl dgst -sha256 -sign`. Over real
sockets: a valid token opens /ws/{group} and two clients exchange messages, the HTTP API takes
it as a Bearer token; refused with 401 before any upgrade are a token signed by another key,
an expired one, a wrong or missing issuer or audience, HS256 "signed" with the public key's
bytes (algorithm confusion) and alg none; 403 for a group not in the token's `groups` claim,
and for a token without the claim (then the database's memberships apply: there are none).

usage: jwt_rs256_test.py HUDDLE_EXE
Plain Python 3 (a minimal WebSocket client, urllib) and the openssl command.
"""
import base64
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from checks import check, finish

EXE = os.path.abspath(sys.argv[1])
TIMEOUT = 20
ISSUER = "https://issuer.test"
AUDIENCE = "huddle-test"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def openssl(*args, stdin=None):
    return subprocess.run(["openssl", *args], input=stdin, capture_output=True, check=True,
                          timeout=TIMEOUT).stdout


def make_key_pair(workdir, name):
    """(private key file, public key PEM file) of a fresh 2048-bit RSA key."""
    private = os.path.join(workdir, f"{name}.key")
    public = os.path.join(workdir, f"{name}.pub.pem")
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", private)
    openssl("pkey", "-in", private, "-pubout", "-out", public)  # "BEGIN PUBLIC KEY"
    return private, public


def claims(user="alice", groups=(1,), lifetime=600, **overrides):
    now = int(time.time())
    body = {"sub": user, "iat": now, "exp": now + lifetime, "iss": ISSUER, "aud": AUDIENCE}
    if groups is not None:
        body["groups"] = list(groups)
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}  # None: leave the claim out


def unsigned(header, payload):
    return (b64url(json.dumps(header).encode()) + "." +
            b64url(json.dumps(payload).encode())).encode()


def rs256(private_key, payload):
    signing_input = unsigned({"alg": "RS256", "typ": "JWT"}, payload)
    signature = openssl("dgst", "-sha256", "-sign", private_key, stdin=signing_input)
    return signing_input.decode() + "." + b64url(signature)


def hs256(secret, payload):
    signing_input = unsigned({"alg": "HS256", "typ": "JWT"}, payload)
    return signing_input.decode() + "." + b64url(
        hmac.new(secret, signing_input, hashlib.sha256).digest())


def alg_none(payload):
    return unsigned({"alg": "none", "typ": "JWT"}, payload).decode() + "."


def upgrade_request(port, target, token=None, bearer=None):
    headers = [f"GET {target} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
               "Connection: Upgrade",
               f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}",
               "Sec-WebSocket-Version: 13"]
    if bearer is not None:
        headers.append(f"Authorization: Bearer {bearer}")
    if token is not None:
        headers[0] = f"GET {target}{'&' if '?' in target else '?'}token={token} HTTP/1.1"
    return ("\r\n".join(headers) + "\r\n\r\n").encode()


class Ws:
    """Just enough of a WebSocket client: text frames, masked as RFC 6455 §5.3 requires."""

    def __init__(self, port, target, token=None, bearer=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.sock.sendall(upgrade_request(port, target, token, bearer))
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
        assert len(payload) < 126
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(struct.pack("!BB", 0x81, 0x80 | len(payload)) + mask + masked)

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
            if b0 & 0x0F == 8:
                raise EOFError("close frame")
            if b0 & 0x0F == 1:
                return json.loads(payload)

    def recv_type(self, kind):
        """The next frame of type `kind`, skipping others (presence)."""
        frame = self.recv_json()
        while frame.get("type") != kind:
            frame = self.recv_json()
        return frame

    def close(self):
        self.sock.close()


def raw_upgrade(port, target, token=None, bearer=None):
    """(status, JSON body or None) of an upgrade request the server is expected to refuse."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(upgrade_request(port, target, token, bearer))
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


def api(port, path, bearer=None):
    """(status, JSON body) of GET path, with `Authorization: Bearer` when given."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if bearer is not None:
        request.add_header("Authorization", f"Bearer {bearer}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def start_server(workdir, public_key):
    proc = subprocess.Popen([EXE, "serve", "--address", "127.0.0.1", "--port", "0", "--threads",
                             "1", "--db", os.path.join(workdir, "huddle.db"), "--auth", "jwt",
                             "--jwt-public-key", public_key, "--jwt-issuer", ISSUER,
                             "--jwt-audience", AUDIENCE, "--log-level", "warning"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on 127.0.0.1:"):
        proc.kill()
        proc.wait()
        sys.exit(f"FAIL: no 'listening on' line, got {line!r}")
    return proc, int(line.rsplit(":", 1)[1])


def test_chat(port, alice_token, bob_token):
    # One token in the query (as browsers send it), one in the Authorization header.
    alice = Ws(port, "/ws/1", token=alice_token)
    welcome = alice.recv_json()
    check(welcome.get("type") == "welcome" and welcome.get("user") == "alice",
          f"alice's RS256 token opens /ws/1 as alice (?token=): {welcome}")
    bob = Ws(port, "/ws/1?name=mallory", bearer=bob_token)
    welcome = bob.recv_json()
    check(welcome.get("type") == "welcome" and welcome.get("user") == "bob"
          and welcome.get("members") == ["alice"],
          f"bob's opens it as bob, whatever ?name= says (Bearer): {welcome}")

    alice.send(json.dumps({"type": "message", "text": "hello bob", "ref": "a1"}))
    got = bob.recv_type("message")
    check(got.get("from") == "alice" and got.get("text") == "hello bob",
          f"bob receives alice's message: {got}")
    ack = alice.recv_type("ack")
    check(ack.get("ref") == "a1" and ack.get("id") == got.get("id"), f"alice's ack: {ack}")
    bob.send(json.dumps({"type": "message", "text": "hi alice"}))
    got = alice.recv_type("message")
    check(got.get("from") == "bob" and got.get("text") == "hi alice",
          f"alice receives bob's message: {got}")
    alice.close()
    bob.close()


def test_api(port, alice_token):
    status, body = api(port, "/api/groups", bearer=alice_token)
    check(status == 200 and body.get("user") == "alice"
          and [g["id"] for g in body.get("groups", [])] == [1],
          f"GET /api/groups with Bearer: alice and the groups claim ({status} {body})")
    status, body = api(port, "/api/groups/1/messages", bearer=alice_token)
    check(status == 200 and [m.get("text") for m in body] == ["hello bob", "hi alice"],
          f"GET /api/groups/1/messages with Bearer: the history ({status} {body})")
    status, body = api(port, "/api/groups/1/members", bearer=alice_token)
    check(status == 200 and body.get("group") == 1,
          f"GET /api/groups/1/members with Bearer ({status} {body})")
    status, body = api(port, "/api/groups/2/messages", bearer=alice_token)
    check(status == 403 and body.get("error") == "forbidden",
          f"the API refuses group 2, not in the groups claim, with 403 ({status} {body})")
    status, body = api(port, "/api/groups/1/messages")
    check(status == 401 and body.get("error") == "unauthorized",
          f"the API without a token: 401 ({status} {body})")


def test_refusals(port, private_key, other_key, public_key):
    with open(public_key, "rb") as f:
        public_pem = f.read()
    header, _, signature = rs256(private_key, claims()).split(".")
    swapped = f"{header}.{b64url(json.dumps(claims(groups=(1, 2))).encode())}.{signature}"
    refused = [
        ("a token signed by another key", rs256(other_key, claims()), "bad_signature"),
        ("an expired token", rs256(private_key, claims(lifetime=-60)), "expired"),
        ("a token without exp", rs256(private_key, claims(exp=None)), "expired"),
        ("a wrong issuer", rs256(private_key, claims(iss="https://other.test")), "wrong_issuer"),
        ("no issuer", rs256(private_key, claims(iss=None)), "wrong_issuer"),
        ("a wrong audience", rs256(private_key, claims(aud="other-app")), "wrong_audience"),
        ("no audience", rs256(private_key, claims(aud=None)), "wrong_audience"),
        ("HS256 keyed with the public key's PEM (algorithm confusion)",
         hs256(public_pem, claims()), "wrong_algorithm"),
        ("alg none", alg_none(claims()), "wrong_algorithm"),
        ("a valid signature over another payload", swapped, "bad_signature"),
    ]
    for what, token, reason in refused:
        for how in ("token", "bearer"):
            status, body = raw_upgrade(port, "/ws/1", **{how: token})
            check(status == 401 and body is not None and body.get("error") == "unauthorized"
                  and reason in body.get("detail", ""),
                  f"/ws/1 with {what} ({how}): 401 {reason}, no upgrade ({status} {body})")
        status, body = api(port, "/api/groups/1/messages", bearer=token)
        check(status == 401 and reason in body.get("detail", ""),
              f"the API with {what}: 401 {reason} ({status} {body})")

    status, body = raw_upgrade(port, "/ws/2", bearer=rs256(private_key, claims()))
    check(status == 403 and body is not None and body.get("error") == "forbidden",
          f"/ws/2 with groups [1]: 403 before any upgrade ({status} {body})")
    status, body = raw_upgrade(port, "/ws/1", bearer=rs256(private_key, claims(groups=None)))
    check(status == 403 and body is not None and body.get("error") == "forbidden",
          f"/ws/1 with no groups claim and no membership in the database: 403 ({status} {body})")


def main():
    workdir = tempfile.mkdtemp(prefix="huddle-rs256-")
    try:
        private_key, public_key = make_key_pair(workdir, "issuer")
        other_key, _ = make_key_pair(workdir, "other")
        server, port = start_server(workdir, public_key)
        try:
            test_chat(port, rs256(private_key, claims("alice")),
                      rs256(private_key, claims("bob")))
            test_api(port, rs256(private_key, claims("alice")))
            test_refusals(port, private_key, other_key, public_key)
            check(server.poll() is None, "the server is still running")
        finally:
            os.kill(server.pid, signal.SIGTERM)
            try:
                code = server.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                server.kill()
                code = server.wait()
        check(code == 0, f"the server exits 0 on SIGTERM (got {code})")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    finish("RS256")


if __name__ == "__main__":
    main()
