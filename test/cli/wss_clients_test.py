#!/usr/bin/python3
"""`huddle chat` and `huddle-load` over wss:// against `huddle serve --tls-cert`: one server on
127.0.0.1 per certificate test/tls/make-test-certs made, plus a plain one.

Checked: with --ca-file both clients connect by name and by IP address and exchange
messages; an expired certificate, a certificate for another name or address, a self-signed
one and one from a CA not trusted are refused with the reason and exit 1, quickly (never a
hang); --insecure accepts the self-signed one; a wss:// URL on a plain server says the
server does not speak TLS; an unusable --ca-file is a usage error (exit 2) naming the flag.

usage: wss_clients_test.py HUDDLE HUDDLE_LOAD|'' MAKE_TEST_CERTS
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

from checks import check, finish
from child import Child

HUDDLE = os.path.abspath(sys.argv[1])
LOAD = os.path.abspath(sys.argv[2]) if sys.argv[2] else None
MAKE_CERTS = os.path.abspath(sys.argv[3])
TIMEOUT = 15
# A server per certificate, by name; "plain" is ws://.
LISTENERS = ["server", "expired", "wrong-name", "self-signed"]


def start_servers(certs):
    """A `huddle serve` per certificate and a plain one: ([Child], {name: port})."""
    servers, ports = [], {}
    for name in LISTENERS + ["plain"]:
        tls = [] if name == "plain" else ["--tls-cert", f"{certs}/{name}.pem",
                                          "--tls-key", f"{certs}/{name}.key"]
        server = Child([HUDDLE, "serve", "--address", "127.0.0.1", "--port", "0", "--threads",
                        "1", "--auth", "none", "--db", "", "--log-level", "warning",
                        "--message-rate", "0", *tls], timeout=TIMEOUT)
        servers.append(server)
        line = server.expect(lambda l: l.startswith("listening on 127.0.0.1:"),
                             f"huddle serve ({name}) listens")
        if line is None:
            for started in servers:
                started.kill()
            sys.exit("cannot go on without a server")
        ports[name] = int(line.rsplit(":", 1)[1])
    return servers, ports


def run(args, timeout=TIMEOUT):
    """(exit code, stdout, stderr); exit code None when it did not end within `timeout`."""
    try:
        result = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                timeout=timeout)
        return result.returncode, result.stdout, result.stderr
    except subprocess.TimeoutExpired as e:
        return None, e.stdout or "", e.stderr or ""


def test_chat(ports, certs):
    ca = f"{certs}/ca.pem"
    good = ports["server"]
    bob = Child([HUDDLE, "chat", f"wss://localhost:{good}/ws/7", "--ca-file", ca,
                   "--name", "bob"], stdin=subprocess.PIPE, timeout=TIMEOUT)
    alice = None
    try:
        bob.expect(lambda l: l.startswith("* joined group 7 as bob"),
                   "chat: wss://localhost with --ca-file joins")
        # By IP address: the certificate's IP SAN is checked, and no SNI is sent.
        alice = Child([HUDDLE, "chat", f"wss://127.0.0.1:{good}/ws/7", "--ca-file", ca,
                         "--name", "alice"], stdin=subprocess.PIPE, timeout=TIMEOUT)
        alice.expect(lambda l: l.startswith("* joined group 7 as alice"),
                     "chat: wss://127.0.0.1 with --ca-file joins")
        alice.proc.stdin.write("hello over tls\n")
        alice.proc.stdin.flush()
        bob.expect(lambda l: l.endswith(" alice: hello over tls"),
                   "chat: a message goes from one wss chat to the other")
        alice.proc.stdin.close()
        code = alice.wait()
        check(code == 0, f"chat: exit 0 at end of input over wss (got {code}; {alice.stderr})")
        bob.expect(lambda l: l == "* alice left", "chat: the other sees the leave")
        bob.proc.stdin.close()
        code = bob.wait()
        check(code == 0, f"chat: exit 0 at end of input over wss (got {code}; {bob.stderr})")
    finally:
        bob.kill()
        if alice is not None:
            alice.kill()

    insecure = Child([HUDDLE, "chat", f"wss://localhost:{ports['self-signed']}/ws/8",
                        "--insecure", "--name", "carol"], stdin=subprocess.PIPE, timeout=TIMEOUT)
    try:
        insecure.expect(lambda l: l.startswith("* joined group 8 as carol"),
                        "chat: --insecure accepts a self-signed certificate")
        insecure.proc.stdin.close()
        code = insecure.wait()
        check(code == 0, f"chat: --insecure session ends with exit 0 (got {code})")
    finally:
        insecure.kill()


# (listener, host, extra flags, what stderr must say) of connections a client must refuse.
def refusals(ports, certs):
    ca = ["--ca-file", f"{certs}/ca.pem"]
    return [
        ("expired", "localhost", ca, "certificate has expired"),
        ("wrong-name", "localhost", ca, "hostname mismatch"),
        ("wrong-name", "127.0.0.1", ca, "IP address mismatch"),
        ("self-signed", "localhost", ca, "self-signed certificate"),
        ("server", "localhost", [], "unable to get local issuer certificate"),  # CA not trusted
        ("plain", "127.0.0.1", [], "does not speak TLS"),
    ]


def check_refusal(tool, code, stderr, says, hint):
    check(code == 1 and says in stderr,
          f"{tool}: refused with exit 1, naming '{says}' (got {code}: {stderr.strip()})")
    if hint:
        check("--ca-file" in stderr and "--insecure" in stderr,
              f"{tool}: a refused certificate points at --ca-file and --insecure")


def test_chat_refusals(ports, certs):
    for listener, host, flags, says in refusals(ports, certs):
        url = f"wss://{host}:{ports[listener]}/ws/1"
        code, _, stderr = run([HUDDLE, "chat", url, *flags])
        check_refusal(f"chat {listener} via {host}", code, stderr, says,
                      listener != "plain")
        check(len(stderr.strip().splitlines()) == 1, f"chat: one line on stderr: {stderr!r}")


def test_bad_ca_file(ports, certs):
    url = f"wss://localhost:{ports['server']}/ws/1"
    missing = f"{certs}/missing.pem"
    not_pem = f"{certs}/ca.key"
    tools = [("chat", [HUDDLE, "chat", url])]
    if LOAD:
        tools.append(("huddle-load", [LOAD, "--url", url.replace("/1", "/{group}"), "--quiet"]))
    for tool, command in tools:
        code, _, stderr = run([*command, "--ca-file", missing])
        check(code == 2 and "--ca-file" in stderr and missing in stderr and
              "No such file" in stderr,
              f"{tool}: a missing --ca-file is a usage error naming the flag (got {code}: "
              f"{stderr.strip()})")
        code, _, stderr = run([*command, "--ca-file", not_pem])
        check(code == 2 and "--ca-file" in stderr and "no PEM certificate" in stderr,
              f"{tool}: a --ca-file without a certificate is a usage error (got {code}: "
              f"{stderr.strip()})")
        code, _, stderr = run([*command, "--ca-file", f"{certs}/ca.pem", "--insecure"])
        check(code == 2 and "--insecure" in stderr,
              f"{tool}: --ca-file with --insecure is a usage error (got {code}: {stderr.strip()})")


def load(*args):
    """huddle-load's JSON report of a short run, and its exit code."""
    code, stdout, stderr = run([LOAD, *args, "--groups", "2", "--clients", "3", "--duration", "1",
                                "--warmup", "200ms", "--drain", "500ms", "--quiet", "--json"],
                               timeout=30)
    try:
        report = json.loads(stdout)
    except ValueError:
        report = None
    return code, report, stderr


def check_load_run(what, code, report, stderr):
    check(code == 0 and report is not None,
          f"huddle-load {what}: exit 0 with a report (got {code}: {stderr.strip()})")
    if report is None:
        return
    check(report["connected"] == report["planned_connections"] == 6,
          f"huddle-load {what}: all 6 clients connect (connected {report['connected']})")
    check(report["delivered"] > 0 and report["lost"] == 0,
          f"huddle-load {what}: messages delivered, none lost (delivered {report['delivered']}, "
          f"lost {report['lost']})")


def test_load(ports, certs):
    ca = ["--ca-file", f"{certs}/ca.pem"]
    good = ports["server"]
    check_load_run("over wss with --ca-file",
                   *load("--url", f"wss://localhost:{good}/ws/{{group}}", *ca))
    check_load_run("over wss by IP address",
                   *load("--url", f"wss://127.0.0.1:{good}/ws/{{group}}", *ca))
    check_load_run("with --insecure on a self-signed certificate",
                   *load("--url", f"wss://localhost:{ports['self-signed']}/ws/{{group}}",
                         "--insecure"))
    for listener, host, flags, says in refusals(ports, certs):
        code, _, stderr = load("--url", f"wss://{host}:{ports[listener]}/ws/{{group}}", *flags)
        check_refusal(f"huddle-load {listener} via {host}", code, stderr, says,
                      listener != "plain")


def main():
    work = tempfile.mkdtemp(prefix="huddle-wss-")
    servers = []
    try:
        certs = os.path.join(work, "certs")
        subprocess.run([MAKE_CERTS, certs], check=True, timeout=60)
        servers, ports = start_servers(certs)
        test_chat(ports, certs)
        test_chat_refusals(ports, certs)
        test_bad_ca_file(ports, certs)
        if LOAD:
            test_load(ports, certs)
    finally:
        for server in servers:
            server.proc.terminate()
            try:
                server.proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(work, ignore_errors=True)
    finish("wss clients")


if __name__ == "__main__":
    main()
