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
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import raw_ws
from checks import check, finish
from raw_ws import TIMEOUT, Ws, refused_upgrade

EXE = os.path.abspath(sys.argv[1])
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


def auth_headers(bearer):
    return [f"Authorization: Bearer {bearer}"] if bearer is not None else []


def with_token(target, token):
    return target if token is None else f"{target}{'&' if '?' in target else '?'}token={token}"


def connect(port, target, token=None, bearer=None):
    return Ws(port, with_token(target, token), auth_headers(bearer))


def raw_upgrade(port, target, token=None, bearer=None):
    """(status, JSON body or None) of an upgrade request the server is expected to refuse."""
    return refused_upgrade(port, with_token(target, token), auth_headers(bearer))


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
    return raw_ws.start_server(EXE, "--threads", "1", "--db", os.path.join(workdir, "huddle.db"),
                               "--auth", "jwt", "--jwt-public-key", public_key,
                               "--jwt-issuer", ISSUER, "--jwt-audience", AUDIENCE)


def test_chat(port, alice_token, bob_token):
    # One token in the query (as browsers send it), one in the Authorization header.
    alice = connect(port, "/ws/1", token=alice_token)
    welcome = alice.recv_json()
    check(welcome.get("type") == "welcome" and welcome.get("user") == "alice",
          f"alice's RS256 token opens /ws/1 as alice (?token=): {welcome}")
    bob = connect(port, "/ws/1?name=mallory", bearer=bob_token)
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
