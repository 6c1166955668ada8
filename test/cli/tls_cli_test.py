#!/usr/bin/python3
"""`huddle serve --tls-cert FILE --tls-key FILE` from the command line (issue 14), with the
certificates of test/tls/make-test-certs made in a temporary directory:
- the served certificate is the file's (its subject and its bytes, read by the ssl module);
- SIGHUP after the files were replaced: `tls.reloaded` is logged, new connections get the
  new certificate, and wss connections opened before it keep chatting, with each other and
  with a new one;
- SIGHUP with a broken certificate file, or with a key that is not the certificate's:
  `tls.reload_failed` naming the file is logged and the previous certificate is still
  served; repaired files are taken at the next SIGHUP; SIGTERM still exits 0;
- without TLS, SIGHUP is logged and ignored: the server goes on serving;
- --tls-cert without --tls-key (and the reverse) is a usage error naming the missing flag;
  a missing certificate or key file ends `huddle serve` with exit 1 and a line naming it.

usage: tls_cli_test.py HUDDLE_EXE
"""
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

import checks
from checks import check, finish
from raw_ws import Ws

EXE = os.path.abspath(sys.argv[1])
MAKE_TEST_CERTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tls",
                               "make-test-certs")
TIMEOUT = 15


class Server:
    """`huddle serve` over TLS (plain without `cert`) on an ephemeral port; its stderr lines
    are kept as they come, so a test can wait for a log event."""

    def __init__(self, cert=None, key=None):
        tls = ["--tls-cert", cert, "--tls-key", key] if cert else []
        self.proc = subprocess.Popen(
            [EXE, "serve", "--address", "127.0.0.1", "--port", "0", "--threads", "2",
             "--auth", "none", "--db", "", "--log-level", "info", *tls],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.stderr = []
        self.changed = threading.Condition()
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        line = self.proc.stdout.readline().strip()
        if not line.startswith("listening on 127.0.0.1:"):
            self.kill()
            sys.exit(f"FAIL: no 'listening on' line, got {line!r}; stderr: {self.stderr}")
        self.port = int(line.rsplit(":", 1)[1])

    def _drain_stderr(self):
        for line in self.proc.stderr:
            with self.changed:
                self.stderr.append(line.rstrip("\n"))
                self.changed.notify_all()

    def signal_and_wait(self, signum, events):
        """Sends `signum`, then waits for the first log line of one of `events` written after
        it (text format: TS LEVEL EVENT key=value...); returns that line, or None."""
        with self.changed:
            seen = len(self.stderr)
        os.kill(self.proc.pid, signum)
        deadline = time.monotonic() + TIMEOUT
        with self.changed:
            while True:
                for line in self.stderr[seen:]:
                    fields = line.split()
                    if len(fields) > 2 and fields[2] in events:
                        return line
                seen = len(self.stderr)
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.changed.wait(left)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def trusting(certs):
    """A client that trusts the test CA only. The name is not checked: the test serves the
    wrong-name certificate on purpose, and tells certificates apart by their bytes."""
    context = ssl.create_default_context(cafile=os.path.join(certs, "ca.pem"))
    context.check_hostname = False
    return context


def served(port, certs):
    """(DER bytes, subject CN) of the certificate a new TLS connection gets."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock, \
            trusting(certs).wrap_socket(sock, server_hostname="127.0.0.1") as tls:
        subject = dict(pair for rdn in tls.getpeercert()["subject"] for pair in rdn)
        return tls.getpeercert(binary_form=True), subject.get("commonName")


def der(path):
    with open(path) as pem:
        return ssl.PEM_cert_to_DER_cert(pem.read())


def check_served(port, certs, name, what):
    certificate, common_name = served(port, certs)
    check(certificate == der(os.path.join(certs, f"{name}.pem")) and common_name == name,
          f"{what}: {name}.pem is served (subject CN={common_name})")


def exchange(sender, receivers, text, ref):
    """`sender` sends `text`; it gets its ack and each receiver the message."""
    sender.send_message(text, ref)
    ack = sender.recv_type("ack")
    got = [receiver.recv_type("message").get("text") for receiver in receivers]
    return ack.get("ref") == ref and got == [text] * len(receivers)


def test_reload(certs, work):
    cert, key = os.path.join(work, "served.pem"), os.path.join(work, "served.key")

    def install(pem, private_key):
        # Copied over the served files in place, as a renewal does.
        shutil.copyfile(os.path.join(certs, pem), cert)
        shutil.copyfile(os.path.join(certs, private_key), key)

    install("server.pem", "server.key")
    server = Server(cert, key)
    try:
        port = server.port
        check_served(port, certs, "server", "at start")
        alice = Ws(port, "/ws/1?name=alice", tls=trusting(certs))
        alice.recv_type("welcome")
        bob = Ws(port, "/ws/1?name=bob", tls=trusting(certs))
        bob.recv_type("welcome")
        alice.recv_type("join")
        check(exchange(alice, [bob], "before the reload", "a1"), "alice and bob chat over wss")

        install("wrong-name.pem", "wrong-name.key")
        line = server.signal_and_wait(signal.SIGHUP, {"tls.reloaded", "tls.reload_failed"})
        check(line is not None and "tls.reloaded" in line, f"SIGHUP logs tls.reloaded: {line}")
        check_served(port, certs, "wrong-name", "after SIGHUP, for a new connection")
        check(exchange(bob, [alice], "after the reload", "b1")
              and exchange(alice, [bob], "still here", "a2"),
              "the wss connections opened before SIGHUP keep chatting")
        carol = Ws(port, "/ws/1?name=carol", tls=trusting(certs))
        carol.recv_type("welcome")
        check(exchange(carol, [alice, bob], "new certificate, same group", "c1"),
              "a connection with the new certificate chats with the older ones")

        with open(cert, "w") as broken:
            broken.write("-----BEGIN CERTIFICATE-----\nnot base64 at all\n"
                         "-----END CERTIFICATE-----\n")
        line = server.signal_and_wait(signal.SIGHUP, {"tls.reloaded", "tls.reload_failed"})
        check(line is not None and "tls.reload_failed" in line and cert in line,
              f"SIGHUP with a broken certificate logs tls.reload_failed naming it: {line}")
        check_served(port, certs, "wrong-name", "after the failed reload")

        # A renewal caught halfway: the new certificate, the old key.
        shutil.copyfile(os.path.join(certs, "server.pem"), cert)
        line = server.signal_and_wait(signal.SIGHUP, {"tls.reloaded", "tls.reload_failed"})
        check(line is not None and "tls.reload_failed" in line and key in line,
              f"SIGHUP with a key that is not the certificate's logs tls.reload_failed: {line}")
        check_served(port, certs, "wrong-name", "after the mismatched reload")
        check(exchange(carol, [alice, bob], "after two failed reloads", "c2"),
              "the failed reloads dropped no connection")

        shutil.copyfile(os.path.join(certs, "server.key"), key)
        line = server.signal_and_wait(signal.SIGHUP, {"tls.reloaded", "tls.reload_failed"})
        check(line is not None and "tls.reloaded" in line,
              f"SIGHUP once the files are whole again logs tls.reloaded: {line}")
        check_served(port, certs, "server", "after the repaired reload")

        for ws in (alice, bob, carol):
            ws.close()
        os.kill(server.proc.pid, signal.SIGTERM)
        try:
            code = server.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            code = None
        check(code == 0, f"SIGTERM after the reloads: exit 0 (got {code})")
    finally:
        server.kill()
    return server


def test_plain_sighup():
    server = Server()
    try:
        line = server.signal_and_wait(signal.SIGHUP, {"server.signal"})
        check(line is not None and "signal=1" in line, f"SIGHUP without TLS is logged: {line}")
        time.sleep(0.2)
        check(server.proc.poll() is None,
              f"SIGHUP without TLS does not stop the server (exit {server.proc.poll()})")
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = sock.recv(4096).decode(errors="replace")
        check(answer.startswith("HTTP/1.1 200"), f"it still answers after SIGHUP: {answer[:40]!r}")
    finally:
        server.kill()


def serve(*args):
    """`huddle serve ARGS` expected to fail at once: (exit code or None, stderr lines)."""
    try:
        result = subprocess.run(
            [EXE, "serve", "--address", "127.0.0.1", "--port", "0", "--db", "", *args],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:  # it served instead
        return None, []
    return result.returncode, result.stderr.strip().splitlines()


def test_start_errors(certs):
    pem, key = os.path.join(certs, "server.pem"), os.path.join(certs, "server.key")
    for given, value, missing in (("--tls-cert", pem, "--tls-key"),
                                  ("--tls-key", key, "--tls-cert")):
        code, lines = serve(given, value)
        check(code == 2 and len(lines) == 1 and f"{given} needs {missing}" in lines[0],
              f"{given} alone: exit 2 (got {code}), one line naming {missing}: {lines}")

    for what, cert_file, key_file in (
            ("certificate", os.path.join(certs, "no-such.pem"), key),
            ("key", pem, os.path.join(certs, "no-such.key"))):
        code, lines = serve("--tls-cert", cert_file, "--tls-key", key_file)
        missing = cert_file if what == "certificate" else key_file
        check(code == 1 and len(lines) == 1 and missing in lines[0],
              f"a missing {what} file: exit 1 (got {code}), one line naming it: {lines}")


def main():
    with tempfile.TemporaryDirectory(prefix="huddle-tls-cli-") as work:
        certs = os.path.join(work, "certs")
        made = subprocess.run([MAKE_TEST_CERTS, certs], capture_output=True, text=True,
                              timeout=60)
        if made.returncode != 0:
            sys.exit(f"FAIL: make-test-certs exited {made.returncode}: {made.stderr}")
        server = test_reload(certs, work)
        test_start_errors(certs)
        test_plain_sighup()
    if checks.failures:
        print("huddle serve stderr:\n" + "\n".join(server.stderr))
    finish("TLS command-line")


if __name__ == "__main__":
    main()
