#!/usr/bin/python3
"""Secrets never reach the logs (issue 11): `huddle serve --log-level debug` logs every
request's target, yet a token sent as `?token=`, as `Authorization: Bearer` or as the login
cookie, valid or not, appears in none of its log lines, text or JSON; the lines show
`token=<redacted>` instead. Also: behind a trusted proxy (--trusted-proxies) the lines name
the forwarded client, and from any other peer X-Forwarded-For is ignored.

usage: log_redaction_test.py HUDDLE_EXE
"""
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

from checks import check, finish

EXE = os.path.abspath(sys.argv[1])
TIMEOUT = 30  # Argon2id hashing takes ~0.1 s; a loaded CI machine more
PASSWORD = "correct-horse-battery"
# Tokens a client might send that are not valid: they must stay out of the logs too.
FORGED = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.forged-signature-4711"
STRAY = "stray-secret-in-a-404-target-0815"


def huddle(*args, stdin=None):
    result = subprocess.run([EXE, *args], input=stdin, capture_output=True, text=True,
                            timeout=TIMEOUT, start_new_session=True)
    check(result.returncode == 0, f"huddle {' '.join(args[:3])} exits 0 ({result.stderr.strip()})")
    return result


def start_server(db, log_format, extra=()):
    proc = subprocess.Popen(
        [EXE, "serve", "--db", db, "--address", "127.0.0.1", "--port", "0", "--threads", "1",
         "--log-level", "debug", "--log-format", log_format, *extra],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stderr = []
    threading.Thread(target=lambda: stderr.extend(proc.stderr), daemon=True).start()
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on 127.0.0.1:"):
        proc.kill()
        sys.exit(f"FAIL: no 'listening on' line, got {line!r}; stderr: {''.join(stderr)}")
    return proc, int(line.rsplit(":", 1)[1]), stderr


def stop_server(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def request(port, method, target, headers=None, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        conn.request(method, target, body=body, headers=headers or {})
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def upgrade(port, target, headers=None):
    """A WebSocket upgrade request; returns the status (the connection closes after it)."""
    base = {"Connection": "Upgrade", "Upgrade": "websocket",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13"}
    base.update(headers or {})
    status, _ = request(port, "GET", target, base)
    return status


def exercise(db, log_format):
    """Sends every kind of secret to a debug-logging server; returns its log."""
    proc, port, stderr = start_server(db, log_format)
    try:
        status, body = request(port, "POST", "/api/login",
                               {"Content-Type": "application/json"},
                               json.dumps({"username": "alice", "password": PASSWORD}))
        check(status == 200, f"{log_format}: login works ({status})")
        token = json.loads(body)["token"]
        check(upgrade(port, f"/ws/7?token={token}&since=0") == 101,
              f"{log_format}: upgrade with ?token=")
        check(upgrade(port, "/ws/7", {"Authorization": f"Bearer {token}"}) == 101,
              f"{log_format}: upgrade with Authorization: Bearer")
        check(upgrade(port, "/ws/7", {"Cookie": f"huddle_token={token}"}) == 101,
              f"{log_format}: upgrade with the login cookie")
        check(upgrade(port, f"/ws/7?token={FORGED}") == 401,
              f"{log_format}: a forged ?token= is refused")
        check(request(port, "GET", "/api/groups/7/messages",
                      {"Authorization": f"Bearer {FORGED}"})[0] == 401,
              f"{log_format}: a forged Bearer token is refused")
        check(request(port, "GET", f"/nowhere?access_token={STRAY}")[0] == 404,
              f"{log_format}: a token in a 404's target")
        check(request(port, "GET", f"/api/groups/7/messages?token={STRAY}",
                      {"Authorization": f"Bearer {token}"})[0] == 200,
              f"{log_format}: the history API with a token in its target")
    finally:
        code = stop_server(proc)
    check(code == 0, f"{log_format}: the server exits 0 on SIGTERM (got {code})")
    return token, "".join(stderr)


def main():
    workdir = tempfile.mkdtemp(prefix="huddle-redaction-")
    try:
        db = os.path.join(workdir, "huddle.db")
        huddle("user", "add", "alice", "--db", db, "--password-stdin", stdin=PASSWORD + "\n")
        huddle("group", "add", "7", "--db", db)
        huddle("group", "grant", "7", "alice", "--db", db)

        for log_format in ("text", "json"):
            token, log = exercise(db, log_format)
            lines = log.splitlines()
            signature = token.rsplit(".", 1)[-1]
            for secret, what in ((token, "the issued token"), (signature, "its signature"),
                                 (FORGED, "a forged token"), (STRAY, "a token in a target"),
                                 (PASSWORD, "the password")):
                leaks = [line for line in lines if secret in line]
                check(not leaks, f"{log_format}: {what} is in no log line {leaks[:2]}")
            redacted = [line for line in lines if "token=<redacted>" in line]
            check(any("/ws/7?token=<redacted>&since=0" in line for line in redacted),
                  f"{log_format}: the upgrade's target is logged, redacted")
            check(any("access_token=<redacted>" in line for line in redacted),
                  f"{log_format}: access_token= is redacted too")
            logged_request = ('http.request method=GET target=/ws/7 remote=127.0.0.1'
                              if log_format == "text" else
                              '"event":"http.request","method":"GET","target":"/ws/7",'
                              '"remote":"127.0.0.1"')
            check(any(logged_request in line for line in lines),
                  f"{log_format}: requests are logged with the client's address")

        # Behind a trusted proxy the log names the forwarded client; the header is ignored
        # from anyone else.
        for trusted, expected in ((["--trusted-proxies", "127.0.0.0/8"], "remote=203.0.113.7"),
                                  ([], "remote=127.0.0.1")):
            proc, port, stderr = start_server(db, "text", trusted)
            try:
                request(port, "GET", "/healthz", {"X-Forwarded-For": "203.0.113.7"})
            finally:
                stop_server(proc)
            logged = [line for line in "".join(stderr).splitlines() if "/healthz" in line]
            check(any(expected in line for line in logged),
                  f"trusted proxies {trusted or 'none'}: the log says {expected} ({logged})")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    finish("log redaction")


if __name__ == "__main__":
    main()
