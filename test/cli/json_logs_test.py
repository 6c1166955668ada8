#!/usr/bin/python3
"""Structured logs (issue 14): a real `huddle serve --log-format json --log-level debug` through
a short session (a failed and a good login, a WebSocket to group 7, a message, a close with
1000 "bye", another WebSocket closed by the shutdown) writes only JSON objects on stderr, one
per line, each with `ts`, `level` and `event`, and the session's events carry their fields
(`group`, `user`, `remote`, `code`, `reason`, ...) as typed values, not as text inside a
message. A hostile user name stays inside its field. The same session with `--log-format
text` reads as `TS LEVEL EVENT key=value ...`. No event is logged once per message.

usage: json_logs_test.py HUDDLE_EXE
"""
import http.client
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading

from checks import check, finish
from raw_ws import Ws

EXE = os.path.abspath(sys.argv[1])
TIMEOUT = 30
PASSWORD = "correct-horse-battery"
# Quotes, a newline and a forged record: must stay one field of one line.
HOSTILE_USER = 'mallory" level=fatal\n{"event":"forged"}'
MESSAGES = 20
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
EVENT = re.compile(r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$")
LEVELS = {"trace", "debug", "info", "warning", "error", "fatal"}


def huddle(*args, stdin=None):
    result = subprocess.run([EXE, *args], input=stdin, capture_output=True, text=True,
                            timeout=TIMEOUT, start_new_session=True)
    check(result.returncode == 0, f"huddle {' '.join(args[:3])} exits 0 ({result.stderr.strip()})")


def start_server(db, log_format):
    proc = subprocess.Popen(
        [EXE, "serve", "--db", db, "--address", "127.0.0.1", "--port", "0", "--threads", "1",
         "--log-level", "debug", "--log-format", log_format],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stderr = []
    reader = threading.Thread(target=lambda: stderr.extend(proc.stderr), daemon=True)
    reader.start()
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on 127.0.0.1:"):
        proc.kill()
        sys.exit(f"FAIL: no 'listening on' line, got {line!r}; stderr: {''.join(stderr)}")
    return proc, int(line.rsplit(":", 1)[1]), stderr, reader


def login(port, user, password):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        conn.request("POST", "/api/login", body=json.dumps({"username": user, "password": password}),
                     headers={"Content-Type": "application/json"})
        answer = conn.getresponse()
        return answer.status, json.loads(answer.read())
    finally:
        conn.close()


def send_close(ws, code, reason):
    """A masked close frame (RFC 6455 §5.5.1) with `code` and `reason`."""
    payload = struct.pack("!H", code) + reason.encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    ws.sock.sendall(struct.pack("!BB", 0x88, 0x80 | len(payload)) + mask + masked)


def until_closed(ws):
    """Reads until the server's close frame or the end of the connection."""
    try:
        while True:
            ws.recv_json()
    except (EOFError, OSError):
        pass
    ws.close()


def session(db, log_format):
    """Runs the session against a fresh server; returns (its stderr lines, the token)."""
    proc, port, stderr, reader = start_server(db, log_format)
    token = ""
    try:
        status, _ = login(port, HOSTILE_USER, "wrong")
        check(status == 401, f"{log_format}: a wrong login is refused ({status})")
        status, body = login(port, "alice", PASSWORD)
        check(status == 200, f"{log_format}: alice logs in ({status})")
        token = body.get("token", "")

        talker = Ws(port, f"/ws/7?token={token}")
        talker.recv_type("welcome")
        stayer = Ws(port, f"/ws/7?token={token}")
        stayer.recv_type("welcome")
        for i in range(MESSAGES):
            talker.send_message(f"hello {i}", f"c{i}")
            talker.recv_type("ack")
        send_close(talker, 1000, "bye")
        until_closed(talker)

        proc.send_signal(signal.SIGTERM)
        until_closed(stayer)  # the shutdown's 1001, answered by closing
        code = proc.wait(timeout=TIMEOUT)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    reader.join(timeout=TIMEOUT)
    check(code == 0, f"{log_format}: the server exits 0 on SIGTERM (got {code})")
    return "".join(stderr).splitlines(), token


def events_named(records, name):
    return [r for r in records if r.get("event") == name]


def check_json(lines, token):
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            check(False, f"json: a line that is not JSON: {line!r}")
            continue
        if not isinstance(record, dict):
            check(False, f"json: a line that is not an object: {line!r}")
            continue
        records.append(record)
    check(len(records) == len(lines) and records, f"json: all {len(lines)} lines are JSON objects")
    malformed = [r for r in records
                 if not (isinstance(r.get("ts"), str) and TS.match(r["ts"])
                         and r.get("level") in LEVELS
                         and isinstance(r.get("event"), str) and EVENT.match(r["event"])
                         and "msg" not in r)]
    check(not malformed, f"json: each has ts, level and a dotted event, no msg {malformed[:3]}")

    def expect(name, level, **fields):
        """One record of `name` at `level` with these field values (None: present, any value)."""
        found = [r for r in events_named(records, name)
                 if r["level"] == level
                 and all(key in r and (value is None or r[key] == value)
                         for key, value in fields.items())]
        check(found, f"json: {name} at {level} with {fields}"
                     + ("" if found else f" (got {events_named(records, name)})"))
        return found

    listening = expect("server.listening", "info", address="127.0.0.1", port=None)
    check(all(isinstance(r["port"], int) for r in listening), "json: the port is a number")
    expect("login.failed", "warning", user=HOSTILE_USER, remote="127.0.0.1", throttled=False)
    expect("login.succeeded", "info", user="alice", remote="127.0.0.1")
    expect("http.request", "debug", method="POST", target="/api/login", remote="127.0.0.1")
    expect("http.request", "debug", method="GET", target="/ws/7?token=<redacted>",
           remote="127.0.0.1")
    joined = expect("group.joined", "info", group=7, user="alice", connections=None, online=1)
    check(sorted(r["connections"] for r in joined) == [1, 2],
          f"json: group.joined counts the connections ({joined})")
    expect("ws.peer_closed", "debug", group=7, user="alice", code=1000, reason="bye")
    expect("ws.closed", "debug", group=7, user="alice", code=1000, reason="", written=True)
    expect("ws.closed", "debug", group=7, user="alice", code=1001, reason=None, written=True)
    expect("group.left", "info", group=7, user="alice", connections=None, online=None)
    expect("server.signal", "info", signal=signal.SIGTERM.value)
    expect("server.stopped", "info")
    check(all(isinstance(r["group"], int) for r in records if "group" in r),
          "json: every group is a number")

    counts = {}
    for record in records:
        counts[record["event"]] = counts.get(record["event"], 0) + 1
    check(max(counts.values()) < MESSAGES,
          f"json: no event is logged per message at debug ({counts})")
    check(not [line for line in lines if token in line or PASSWORD in line],
          "json: the token and the password are in no line")


def check_text(lines, token):
    pattern = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (trace|debug|info|warning|"
                         r"error|fatal) +[a-z_]+(\.[a-z_]+)+( |$)")
    bad = [line for line in lines if not pattern.match(line)]
    check(lines and not bad, f"text: every line is TS LEVEL EVENT ... ({bad[:3]})")
    for expected in ("info    server.listening address=127.0.0.1 port=",
                     "info    login.succeeded user=alice remote=127.0.0.1",
                     'debug   ws.peer_closed group=7 user=alice code=1000 reason=bye',
                     'debug   ws.closed group=7 user=alice code=1000 reason="" written=true',
                     "info    group.joined group=7 user=alice connections=1 online=1",
                     r'warning login.failed user="mallory\" level=fatal\n{\"event\":\"forged\"}" '
                     "remote=127.0.0.1 throttled=false"):
        check(any(expected in line for line in lines), f"text: a line has {expected!r}")
    check(not [line for line in lines if token in line or PASSWORD in line],
          "text: the token and the password are in no line")


def main():
    workdir = tempfile.mkdtemp(prefix="huddle-json-logs-")
    try:
        db = os.path.join(workdir, "huddle.db")
        huddle("user", "add", "alice", "--db", db, "--password-stdin", stdin=PASSWORD + "\n")
        huddle("group", "add", "7", "--db", db)
        huddle("group", "grant", "7", "alice", "--db", db)
        check_json(*session(db, "json"))
        check_text(*session(db, "text"))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    finish("structured log")


if __name__ == "__main__":
    main()
