#!/usr/bin/python3
"""Replay is bounded (issue 6): a reconnect with ?since=0 to a group with a large history,
from a client that does not read, must not make the server hold the history in memory. The
history (20,000 messages of 4 KB: 80 MB) is written straight into the SQLite file before the
server starts, and --replay-limit lets the client ask for all of it. The server's own
accounting (/proc/PID/status: VmRSS now, VmHWM the peak) must stay within a bound far below
the history's size while the client stalls, and the whole history must still arrive, in
order, once it reads.

usage: replay_memory_test.py HUDDLE_EXE [B_SANITIZE]
B_SANITIZE: meson's b_sanitize of the build; other than "none", the memory bounds are
reported but not enforced (ASan holds freed memory in quarantine, TSan shadows it).
"""
import os
import shutil
import signal
import sqlite3
import sys
import tempfile
import time

from checks import check, finish
from raw_ws import TIMEOUT, Ws, start_server

EXE = os.path.abspath(sys.argv[1])
SANITIZED = len(sys.argv) > 2 and sys.argv[2] not in ("", "none")
GROUP = 9
MESSAGES = 20_000
TEXT_BYTES = 4_000
# What the server may gain while replaying 80 MB: pages (a quarter of --send-queue-bytes),
# socket buffers, SQLite's page cache, allocator slack. Without paging it gains >= 80 MB.
BOUND_BYTES = 32 * 1024 * 1024


def check_memory(grown, what):
    text = (f"{what} {grown / 2**20:.1f} MiB more (bound {BOUND_BYTES / 2**20:.0f} MiB, "
            f"history {MESSAGES * TEXT_BYTES / 2**20:.0f} MiB)")
    if SANITIZED:
        print(f"info {text}: not enforced under a sanitizer")
    else:
        check(grown < BOUND_BYTES, text)


def status_bytes(pid, field):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def fill(db):
    conn = sqlite3.connect(db)
    ts = int(time.time() * 1000)
    conn.executemany("INSERT INTO messages(group_id, id, sender, text, ts) VALUES(?,?,?,?,?)",
                     ((GROUP, i, "filler", f"{i:08d} " + "x" * TEXT_BYTES, ts)
                      for i in range(1, MESSAGES + 1)))
    conn.execute("INSERT INTO groups(group_id, last_id) VALUES(?, ?)", (GROUP, MESSAGES))
    conn.commit()
    conn.close()


def main():
    workdir = tempfile.mkdtemp(prefix="huddle-replay-memory-")
    db = os.path.join(workdir, "history.db")
    extra = ["--replay-limit", str(MESSAGES), "--send-queue-bytes", "1048576"]
    try:
        server, _ = start_server(EXE, "--db", db, "--auth", "none", *extra)  # creates the schema
        server.send_signal(signal.SIGTERM)
        check(server.wait(timeout=TIMEOUT) == 0, "the first server stops cleanly")
        fill(db)

        server, port = start_server(EXE, "--db", db, "--auth", "none", *extra)
        warm = Ws(port, f"/ws/{GROUP}?name=warm&since={MESSAGES - 10}")  # code and caches in use
        for _ in range(11):
            warm.recv_json()
        warm.close()
        baseline = status_bytes(server.pid, "VmRSS")

        staller = Ws(port, f"/ws/{GROUP}?name=staller&since=0")
        time.sleep(2)  # the server replays into a socket nobody reads
        check_memory(status_bytes(server.pid, "VmRSS") - baseline,
                     "while the reader stalls the server holds")

        welcome = staller.recv_json()
        check(welcome.get("type") == "welcome" and welcome.get("truncated") is False,
              "the welcome promises the whole history")
        ids = []
        while len(ids) < MESSAGES:
            frame = staller.recv_json()
            if frame.get("type") == "message":
                ids.append(frame["id"])
        check(ids == list(range(1, MESSAGES + 1)), "every message arrives once, in order")
        check_memory(status_bytes(server.pid, "VmHWM") - baseline,
                     "over the whole replay the server's peak is")
        staller.close()
        server.send_signal(signal.SIGTERM)
        check(server.wait(timeout=TIMEOUT) == 0, "the server stops cleanly")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    finish("replay memory")


if __name__ == "__main__":
    main()
