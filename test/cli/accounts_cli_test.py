#!/usr/bin/python3
"""Command-line tests of `huddle user` and `huddle group` against a temporary database:
add/list/remove/passwd users (passwords on stdin, and typed on a terminal without echo;
Ctrl-C there gives the echo back), add/grant/revoke/list groups, exit codes (0 ok, 1 a
refused change with one line naming the thing, 2 a usage error), the migration of a
history-only file, and the commands working on the file of a running `huddle serve`.

usage: accounts_cli_test.py HUDDLE_EXE
"""
import fcntl
import os
import queue
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import termios
import threading
import time

from checks import check, finish

EXE = os.path.abspath(sys.argv[1])
TIMEOUT = 30  # Argon2id hashing takes ~0.1 s; a loaded CI machine more


def huddle(*args, stdin=None):
    """Runs huddle in a session of its own: no controlling terminal, so a password prompt
    cannot hang the test (it is a usage error instead)."""
    return subprocess.run([EXE, *args], input=stdin,
                          stdin=None if stdin is not None else subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=TIMEOUT,
                          start_new_session=True)


def db_args(db):
    return ["--db", db]


def expect(result, code, what, stderr_has=None, stdout_has=None):
    ok = result.returncode == code
    if ok and stderr_has is not None:
        lines = result.stderr.strip().splitlines()
        ok = (len(lines) == 1 and lines[0].startswith("huddle: ")
              and all(part in lines[0] for part in stderr_has))
    if ok and stdout_has is not None:
        ok = all(part in result.stdout for part in stdout_has)
    detail = "" if ok else (f" (exit {result.returncode}, stdout {result.stdout!r}, "
                            f"stderr {result.stderr!r})")
    check(ok, f"{what}: exit {code}{detail}")
    return result


def query(db, sql):
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_help(db):
    result = huddle("--help")
    check(result.returncode == 0 and "user" in result.stdout and "group" in result.stdout,
          "huddle --help names user and group")
    expect(huddle("user", "--help"), 0, "user --help",
           stdout_has=["add NAME", "list", "remove NAME", "passwd NAME"])
    expect(huddle("group", "--help"), 0, "group --help",
           stdout_has=["add ID", "grant ID USER", "revoke ID USER", "list"])
    expect(huddle("user", "add", "--help"), 0, "user add --help",
           stdout_has=["--password-stdin", "--db", "huddle.db"])
    expect(huddle("group", "grant", "--help"), 0, "group grant --help",
           stdout_has=["--role", "member"])
    check(not os.path.exists(db), "--help creates no database")


def test_users(db):
    d = db_args(db)
    expect(huddle("user", "add", "alice", *d, "--password-stdin", stdin="first pw\n"), 0,
           "user add alice", stdout_has=["alice"])
    expect(huddle("user", "add", "bob", *d, "--password-stdin", stdin="bob's\n"), 0,
           "user add bob")
    hashes = dict(query(db, "SELECT name, password_hash FROM users"))
    check(hashes.get("alice", "").startswith("$argon2id$") and "first pw" not in hashes["alice"],
          "the password is stored as an Argon2id hash, not in clear")
    check(query(db, "SELECT version FROM schema_version") == [(3,)], "schema version 3")

    result = expect(huddle("user", "list", *d), 0, "user list")
    lines = result.stdout.splitlines()
    check(len(lines) == 3 and lines[0].split()[:3] == ["NAME", "CREATED", "GROUPS"]
          and lines[1].startswith("alice ") and lines[2].startswith("bob "),
          f"user list: a header, then alice and bob by name: {lines}")

    expect(huddle("user", "add", "alice", *d, "--password-stdin", stdin="x\n"), 1,
           "a duplicate user", stderr_has=['"alice"', "exists"])
    expect(huddle("user", "add", "carol", *d, "--password-stdin", stdin=""), 1,
           "an empty password (empty stdin) is refused", stderr_has=["empty password"])
    expect(huddle("user", "add", "carol", *d, "--password-stdin", stdin="\n"), 1,
           "an empty password line is refused", stderr_has=["empty password"])
    expect(huddle("user", "add", "carol", *d), 2,
           "no terminal and no --password-stdin", stderr_has=["--password-stdin"])
    check(query(db, "SELECT count(*) FROM users WHERE name = 'carol'") == [(0,)],
          "refused adds added nobody")

    before = hashes["alice"]
    expect(huddle("user", "passwd", "alice", *d, "--password-stdin", stdin="second pw\n"), 0,
           "user passwd alice")
    after = dict(query(db, "SELECT name, password_hash FROM users"))["alice"]
    check(after != before and after.startswith("$argon2id$"), "passwd changed the hash")
    expect(huddle("user", "passwd", "nobody", *d, "--password-stdin", stdin="x\n"), 1,
           "passwd of an unknown user", stderr_has=['no user "nobody"'])

    expect(huddle("user", "remove", "nobody", *d), 1, "remove an unknown user",
           stderr_has=['no user "nobody"'])
    expect(huddle("user", "add", "a b", *d, "--password-stdin", stdin="x\n"), 2,
           "an invalid user name", stderr_has=['"a b"'])
    expect(huddle("user", "remove", "x" * 33, *d), 2, "a 33-character name")


def test_usage_errors(db):
    d = db_args(db)
    expect(huddle("user"), 2, "user without a subcommand", stderr_has=["subcommand"])
    expect(huddle("user", "frob"), 2, "an unknown subcommand", stderr_has=['"frob"'])
    expect(huddle("user", "list", "--bogus", *d), 2, "an unknown flag", stderr_has=["bogus"])
    expect(huddle("user", "add", *d), 2, "user add without NAME", stderr_has=["NAME"])
    expect(huddle("user", "list", "extra", *d), 2, "an extra argument", stderr_has=['"extra"'])
    expect(huddle("user", "list", "--db"), 2, "--db without a value", stderr_has=["db"])
    expect(huddle("group", "grant", "5", *d), 2, "group grant without USER",
           stderr_has=["USER"])
    for bad in ("abc", "0", "-1", "5x", "9223372036854775808"):
        expect(huddle("group", "add", bad, *d), 2, f"group id {bad!r}")
        expect(huddle("group", "revoke", bad, "alice", *d), 2, f"group revoke with id {bad!r}")
    missing = os.path.join(os.path.dirname(db), "typo.db")
    expect(huddle("user", "list", "--db", missing), 1, "user list on a missing file",
           stderr_has=["typo.db"])
    check(not os.path.exists(missing), "...which it does not create")


def test_groups(db):
    d = db_args(db)
    expect(huddle("group", "add", "5", "--title", "General chat", *d), 0, "group add 5",
           stdout_has=["5"])
    expect(huddle("group", "add", "12", *d), 0, "group add 12 (no title)")
    expect(huddle("group", "add", "5", *d), 1, "a duplicate group",
           stderr_has=["group 5", "exists"])

    expect(huddle("group", "grant", "5", "alice", *d), 0, "grant 5 alice (member)")
    expect(huddle("group", "grant", "5", "bob", "--role", "admin", *d), 0, "grant 5 bob admin")
    expect(huddle("group", "grant", "12", "alice", "--role", "member", *d), 0, "grant 12 alice")
    expect(huddle("group", "grant", "5", "alice", "--role", "owner", *d), 2, "--role owner",
           stderr_has=['"owner"'])
    expect(huddle("group", "grant", "9", "alice", *d), 1, "grant to an unknown group",
           stderr_has=["no group 9"])
    expect(huddle("group", "grant", "5", "zed", *d), 1, "grant to an unknown user",
           stderr_has=['no user "zed"'])
    check(sorted(query(db, "SELECT group_id, user_name, role FROM memberships")) ==
          [(5, "alice", "member"), (5, "bob", "admin"), (12, "alice", "member")],
          "the memberships are in the file")

    result = expect(huddle("group", "list", *d), 0, "group list")
    lines = result.stdout.splitlines()
    check(len(lines) == 3 and lines[0].split() == ["ID", "TITLE", "MEMBERS"]
          and lines[1].startswith("5 ") and "General chat" in lines[1]
          and "alice" in lines[1] and "bob (admin)" in lines[1]
          and lines[2].startswith("12 ") and "alice" in lines[2],
          f"group list: id, title, members with roles: {lines}")
    result = expect(huddle("user", "list", *d), 0, "user list shows the groups")
    alice = [line for line in result.stdout.splitlines() if line.startswith("alice ")]
    check(alice and alice[0].rstrip().endswith("5, 12"), f"alice's groups: {alice}")

    revision = query(db, "SELECT revision FROM access_revision")[0][0]
    expect(huddle("group", "revoke", "12", "bob", *d), 1, "revoke of a non-member",
           stderr_has=['"bob"', "not a member", "12"])
    expect(huddle("group", "revoke", "7", "bob", *d), 1, "revoke in an unknown group",
           stderr_has=["no group 7"])
    check(query(db, "SELECT revision FROM access_revision")[0][0] == revision,
          "refused revokes leave the access revision alone")
    expect(huddle("group", "revoke", "12", "alice", *d), 0, "revoke 12 alice")
    check(query(db, "SELECT revision FROM access_revision")[0][0] > revision,
          "a revoke raises the access revision")
    result = expect(huddle("group", "list", *d), 0, "group list after the revoke")
    check(any(line.startswith("12 ") and line.rstrip().endswith("-")
              for line in result.stdout.splitlines()), "group 12 has no members left")

    expect(huddle("user", "remove", "bob", *d), 0, "user remove bob")
    check(query(db, "SELECT user_name FROM memberships") == [("alice",)],
          "removing bob removed his membership")


def run_on_terminal(args, answers):
    """Runs huddle with a pseudo-terminal as its controlling terminal, typing each answer
    (with its own line ending, if any) once the prompt before it shows. Returns (exit code,
    everything the terminal showed, whether the terminal echoes again afterwards)."""
    master, slave = os.openpty()
    # start_new_session: setsid() runs before preexec_fn, which then makes the terminal on
    # fd 0 the session's controlling one (what /dev/tty opens), its group the foreground.
    proc = subprocess.Popen([EXE, *args], stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True,
                            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
    shown = b""
    pending = list(answers)
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            shown += os.read(master, 4096)
        elif proc.poll() is not None:
            break  # gone, and everything it wrote has been read
        if pending and shown.rstrip().endswith(pending[0][0].encode()):
            os.write(master, pending.pop(0)[1].encode())
            shown += b"<typed>"  # so the same prompt is not answered twice
    if proc.poll() is None:
        proc.kill()
    code = proc.wait()
    echoes = bool(termios.tcgetattr(slave)[3] & termios.ECHO)
    os.close(master)
    os.close(slave)
    return code, shown.decode(errors="replace"), echoes


def test_terminal_prompt(db):
    d = db_args(db)
    code, shown, echoes = run_on_terminal(
        ["user", "add", "tina", *d], [("Password:", "tty secret\n"), ("Again:", "tty secret\n")])
    check(code == 0 and "Password:" in shown and "Again:" in shown,
          f"user add asks twice on the terminal (exit {code}, shown {shown!r})")
    check("tty secret" not in shown, "the typed password is not echoed")
    check(echoes, "the terminal echoes again afterwards")
    check(query(db, "SELECT count(*) FROM users WHERE name = 'tina'") == [(1,)],
          "the user typed for was added")

    code, shown, _ = run_on_terminal(["user", "passwd", "tina", *d],
                                     [("Password:", "one\n"), ("Again:", "two\n")])
    check(code == 1 and "differ" in shown, f"two different answers: exit 1 ({shown!r})")
    code, shown, _ = run_on_terminal(["user", "add", "tom", *d], [("Password:", "\n")])
    check(code == 1 and "empty" in shown, f"an empty answer: exit 1 ({shown!r})")

    code, shown, echoes = run_on_terminal(["user", "add", "tom", *d], [("Password:", "\x03")])
    check(code == -signal.SIGINT, f"Ctrl-C at the prompt ends the command (exit {code})")
    check(echoes, "...and leaves the terminal echoing")
    check(query(db, "SELECT count(*) FROM users WHERE name = 'tom'") == [(0,)],
          "...and adds nobody")


def test_history_file_migrates(workdir):
    db = os.path.join(workdir, "v1.db")
    with sqlite3.connect(db) as conn:  # a history-only file, as huddle before accounts made it
        conn.executescript(
            "CREATE TABLE schema_version(version INTEGER NOT NULL);"
            "INSERT INTO schema_version VALUES(1);"
            "CREATE TABLE messages(group_id INTEGER NOT NULL, id INTEGER NOT NULL,"
            " sender TEXT NOT NULL, text TEXT NOT NULL, ts INTEGER NOT NULL,"
            " PRIMARY KEY(group_id, id)) WITHOUT ROWID;"
            "CREATE INDEX messages_by_ts ON messages(ts);"
            "CREATE TABLE groups(group_id INTEGER PRIMARY KEY, last_id INTEGER NOT NULL);"
            "INSERT INTO messages VALUES(3, 1, 'x', 'kept', 1000);"
            "INSERT INTO groups VALUES(3, 1);")
    conn.close()
    expect(huddle("group", "add", "3", *db_args(db)), 0, "group add on a version 1 file")
    check(query(db, "SELECT version FROM schema_version") == [(3,)], "migrated to version 3")
    check(query(db, "SELECT text FROM messages") == [("kept",)], "the history is kept")


class Server:
    """`huddle serve` on a file; its stdout lines are collected by a thread."""

    def __init__(self, db):
        help_text = huddle("serve", "--help").stdout
        # --auth arrives with the accounts; without it, every client is anonymous anyway.
        auth = ["--auth", "none"] if "--auth" in help_text else []
        self.proc = subprocess.Popen(
            [EXE, "serve", "--db", db, "--address", "127.0.0.1", "--port", "0", "--threads", "1",
             *auth], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, bufsize=1)
        self.lines = queue.Queue()
        self.stderr = []
        threading.Thread(target=self._pump, daemon=True).start()
        threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr), daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_listening(self):
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                return False
            if line.startswith("listening on "):
                return True
        return False

    def stop(self):
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None


def test_with_a_running_server(workdir):
    db = os.path.join(workdir, "served.db")  # the server creates it
    server = Server(db)
    try:
        listening = server.wait_listening()
        check(listening, f"serve prints 'listening on' (stderr: {server.stderr})")
        if not listening:
            return
        d = db_args(db)
        expect(huddle("user", "add", "sam", *d, "--password-stdin", stdin="pw\n"), 0,
               "user add while the server runs")
        expect(huddle("group", "add", "1", "--title", "live", *d), 0,
               "group add while the server runs")
        expect(huddle("group", "grant", "1", "sam", *d), 0, "grant while the server runs")
        expect(huddle("group", "list", *d), 0, "group list while the server runs",
               stdout_has=["live", "sam"])
        expect(huddle("group", "revoke", "1", "sam", *d), 0, "revoke while the server runs")
        expect(huddle("user", "remove", "sam", *d), 0, "user remove while the server runs")
        check(server.proc.poll() is None, "the server is still running")
    finally:
        code = server.stop()
    check(code == 0, f"the server exits 0 on SIGTERM (got {code}, stderr: {server.stderr})")


def main():
    workdir = tempfile.mkdtemp(prefix="huddle-accounts-cli-")
    try:
        db = os.path.join(workdir, "huddle.db")
        test_help(db)
        test_users(db)
        test_usage_errors(db)
        test_groups(db)
        test_terminal_prompt(db)
        test_history_file_migrates(workdir)
        test_with_a_running_server(workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    finish("account CLI")


if __name__ == "__main__":
    main()
