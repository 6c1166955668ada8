#!/usr/bin/python3
"""Command-line tests of the built `huddle` binary: --version, --help, serve --help,
usage errors (exit 2, one line naming the flag), start-up failures (exit 1, one line),
SIGTERM/SIGINT (exit 0), and `huddle chat` between two processes fed from pipes.

usage: cli_test.py HUDDLE_EXE [VERSION]
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

from checks import check, finish
from child import Child

EXE = os.path.abspath(sys.argv[1])
VERSION = sys.argv[2] if len(sys.argv) > 2 else None
TIMEOUT = 15


def run(*args, timeout=TIMEOUT):
    return subprocess.run([EXE, *args], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)


class Process(Child):
    """`huddle ARGS...` as a Child."""

    def __init__(self, *args, stdin=subprocess.DEVNULL):
        super().__init__([EXE, *args], stdin=stdin, timeout=TIMEOUT)


def start_server(*extra):
    # Anonymous (--auth none): these tests are about the command line, not accounts.
    server = Process("serve", "--address", "127.0.0.1", "--port", "0", "--threads", "2",
                     "--auth", "none", *extra)
    line = server.expect(lambda l: l.startswith("listening on 127.0.0.1:"),
                         "serve prints 'listening on ADDRESS:PORT'")
    if line is None:
        server.kill()
        sys.exit("cannot go on without a server")
    return server, int(line.rsplit(":", 1)[1])


def test_version_and_help():
    result = run("--version")
    check(result.returncode == 0, "--version exits 0")
    first = result.stdout.strip()
    check(first.startswith("huddle "), f"--version prints 'huddle VERSION': {first!r}")
    if VERSION:
        check(first == f"huddle {VERSION}", f"--version matches the project version {VERSION}")

    result = run("--help")
    check(result.returncode == 0, "--help exits 0")
    check("serve" in result.stdout and "chat" in result.stdout, "--help names serve and chat")

    result = run("serve", "--help")
    check(result.returncode == 0, "serve --help exits 0")
    for flag in ["--address", "--port", "--threads", "--max-message-bytes", "--send-queue-bytes",
                 "--handshake-timeout", "--ping-interval", "--idle-timeout", "--max-connections",
                 "--shutdown-timeout", "--log-level", "--log-format", "--db", "--durability",
                 "--history-per-group", "--history-max-age", "--auth",
                 "--insecure-allow-anonymous", "--jwt-secret-file", "--jwt-public-key",
                 "--token-ttl", "--access-check-interval", "--login-burst"]:
        check(flag in result.stdout, f"serve --help lists {flag}")

    result = run("chat", "--help")
    check(result.returncode == 0 and "huddle chat" in result.stdout, "chat --help exits 0 with usage")


def check_usage_error(args, named):
    result = run(*args)
    lines = result.stderr.strip().splitlines()
    what = f"huddle {' '.join(args)}"
    check(result.returncode == 2, f"{what}: exit 2 (got {result.returncode})")
    check(len(lines) == 1, f"{what}: one line on stderr (got {lines})")
    check(any(named in line for line in lines), f"{what}: the error names {named!r}: {lines}")
    check("listening" not in result.stdout, f"{what}: does not start a server")


def test_usage_errors():
    check_usage_error(["serve", "--bogus"], "bogus")
    check_usage_error(["serve", "--port", "70000"], "port")
    check_usage_error(["serve", "--port", "-1"], "port")
    check_usage_error(["serve", "--port", "abc"], "port")
    check_usage_error(["serve", "--port"], "port")
    check_usage_error(["serve", "--idle-timeout", "abc"], "idle-timeout")
    check_usage_error(["serve", "--ping-interval", "10x"], "ping-interval")
    check_usage_error(["serve", "--handshake-timeout", "0"], "handshake-timeout")
    check_usage_error(["serve", "--shutdown-timeout", ""], "shutdown-timeout")
    check_usage_error(["serve", "--log-format", "xml"], "log-format")
    check_usage_error(["serve", "--log-level", "loud"], "log-level")
    check_usage_error(["serve", "--threads", "0"], "threads")
    check_usage_error(["serve", "--max-connections", "0"], "max-connections")
    check_usage_error(["serve", "--max-message-bytes", "lots"], "max-message-bytes")
    check_usage_error(["serve", "--send-queue-bytes", "1e6"], "send-queue-bytes")
    check_usage_error(["serve", "--durability", "maybe"], "durability")
    check_usage_error(["serve", "--history-per-group", "many"], "history-per-group")
    check_usage_error(["serve", "--history-max-age", "1y"], "history-max-age")
    check_usage_error(["serve", "--ping-interval", "10s", "--idle-timeout", "5s"], "idle-timeout")
    check_usage_error(["serve", "--auth", "maybe"], "auth")
    check_usage_error(["serve", "--auth", "none", "--address", "0.0.0.0"],
                      "insecure-allow-anonymous")
    check_usage_error(["serve", "--auth", "jwt"], "jwt-secret-file")
    check_usage_error(["serve", "--auth", "builtin", "--jwt-public-key", "k.pem"], "jwt-public-key")
    check_usage_error(["serve", "--token-ttl", "0"], "token-ttl")
    check_usage_error(["serve", "--login-burst", "0"], "login-burst")
    check_usage_error(["frobnicate"], "frobnicate")
    check_usage_error(["chat"], "URL")
    check_usage_error(["chat", "http://127.0.0.1:1/ws/1"], "ws://")
    check_usage_error(["chat", "ws://127.0.0.1:1/ws/1", "--bogus"], "bogus")


def test_startup_failures():
    # A port somebody else listens on.
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        result = run("serve", "--address", "127.0.0.1", "--port", str(port), "--db", "")
        lines = result.stderr.strip().splitlines()
        check(result.returncode == 1, f"port in use: exit 1 (got {result.returncode})")
        check(len(lines) == 1 and str(port) in lines[0],
              f"port in use: one line on stderr naming the port: {lines}")
        check("listening" not in result.stdout, "port in use: no 'listening' line")
    finally:
        holder.close()

    result = run("serve", "--address", "no-such-host.invalid", "--port", "0", "--db", "",
                 timeout=60)
    lines = result.stderr.strip().splitlines()
    check(result.returncode == 1, f"unresolvable address: exit 1 (got {result.returncode})")
    check(len(lines) == 1 and "no-such-host.invalid" in lines[0],
          f"unresolvable address: one line naming it: {lines}")


def test_unusable_db():
    result = run("serve", "--address", "127.0.0.1", "--port", "0", "--db", "/no-such-dir/h.db")
    lines = result.stderr.strip().splitlines()
    check(result.returncode == 1, f"unusable --db: exit 1 (got {result.returncode})")
    check(len(lines) == 1 and "/no-such-dir/h.db" in lines[0],
          f"unusable --db: one line naming the file: {lines}")
    check("listening" not in result.stdout, "unusable --db: no 'listening' line")

    # Ids come from the server's memory: a second server on the same file must not start.
    first, _ = start_server("--db", "shared.db")
    try:
        result = run("serve", "--address", "127.0.0.1", "--port", "0", "--auth", "none",
                     "--db", "shared.db")
        lines = result.stderr.strip().splitlines()
        check(result.returncode == 1, f"a database in use: exit 1 (got {result.returncode})")
        check(len(lines) == 1 and "another huddle server" in lines[0],
              f"a database in use: one line saying so: {lines}")
    finally:
        os.kill(first.proc.pid, signal.SIGTERM)
        check(first.wait() == 0, "the first server exits 0 on SIGTERM")


def test_signals():
    for signum in (signal.SIGTERM, signal.SIGINT):
        server, _ = start_server()
        os.kill(server.proc.pid, signum)
        code = server.wait()
        check(code == 0, f"{signal.Signals(signum).name} with no client: exit 0 (got {code})")


def test_chat_between_two_processes():
    server, port = start_server("--log-level", "warning")
    url = f"ws://127.0.0.1:{port}/ws/7"
    processes = [server]

    def chat(name):
        process = Process("chat", url, "--name", name, stdin=subprocess.PIPE)
        processes.append(process)
        return process

    try:
        bob = chat("bob")
        bob.expect(lambda l: l.startswith("* joined group 7 as bob"), "bob's chat shows its welcome")
        alice = chat("alice")
        alice.expect(lambda l: l.startswith("* joined group 7 as alice") and "bob" in l,
                     "alice's chat shows its welcome with bob online")
        bob.expect(lambda l: l == "* alice joined", "bob sees '* alice joined'")

        alice.proc.stdin.write("hello bob\n")
        alice.proc.stdin.flush()
        bob.expect(lambda l: l == "[1] alice: hello bob", "bob prints '[1] alice: hello bob'")
        bob.proc.stdin.write("hi alice, ça va ✓\n")
        bob.proc.stdin.flush()
        alice.expect(lambda l: l == "[2] bob: hi alice, ça va ✓", "alice prints '[2] bob: ...'")

        # End of input: a normal close and exit 0; the other side sees the leave.
        alice.proc.stdin.close()
        code = alice.wait()
        check(code == 0, f"alice's chat exits 0 at end of input (got {code}; stderr {alice.stderr})")
        bob.expect(lambda l: l == "* alice left", "bob sees '* alice left'")
        check(not any(line.startswith("[") and " alice: " in line for line in alice.seen),
              "alice is not shown her own message")
        bob.proc.stdin.close()
        code = bob.wait()
        check(code == 0, f"bob's chat exits 0 at end of input (got {code}; stderr {bob.stderr})")

        # A chat still connected when the server gets SIGTERM sees it close; the server exits 0.
        carol = chat("carol")
        carol.expect(lambda l: l.startswith("* joined group 7 as carol"), "carol joins")
        os.kill(server.proc.pid, signal.SIGTERM)
        code = server.wait()
        check(code == 0, f"SIGTERM with a client connected: exit 0 (got {code})")
        carol_code = carol.wait()
        check(carol_code is not None, "carol's chat ends when the server shuts down")
        check(any("1001" in line for line in carol.stderr),
              f"carol's chat reports the 1001 close: {carol.stderr}")
        carol.proc.stdin.close()
    finally:
        for process in processes:
            process.kill()

    # A server that is not there: exit 1, one line.
    result = run("chat", url, "--name", "dave")
    check(result.returncode == 1, f"chat to a closed port: exit 1 (got {result.returncode})")
    check(len(result.stderr.strip().splitlines()) == 1, f"chat to a closed port: one line: {result.stderr}")


def main():
    # `huddle serve` keeps its history in ./huddle.db: run it in a directory of its own.
    workdir = tempfile.mkdtemp(prefix="huddle-cli-")
    os.chdir(workdir)
    try:
        run_tests()
    finally:
        os.chdir("/")
        shutil.rmtree(workdir, ignore_errors=True)


def run_tests():
    test_version_and_help()
    test_usage_errors()
    test_startup_failures()
    test_unusable_db()
    test_signals()
    test_chat_between_two_processes()
    finish("CLI")


if __name__ == "__main__":
    main()
