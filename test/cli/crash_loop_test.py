#!/usr/bin/python3
"""Message ids across crashes (issue 6): `huddle serve --db FILE` is killed with SIGKILL at a
random moment of a flood from several senders, ROUNDS times on the same file. Receivers
reconnect after each restart with ?since=<last id seen>&epoch=<their epoch>. Across all
rounds:
- no id ever names two different messages, as seen by any client (live or replayed);
- every acked message is in history with its text, and history agrees with what was seen;
- after each crash the epoch changes, and a since from the old epoch is answered with
  `reset`; ids handed out before the crash are never handed out again.

usage: crash_loop_test.py HUDDLE_EXE [ROUNDS]
"""
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
import urllib.request

from checks import check, finish
from raw_ws import TIMEOUT, Ws, history, start_server

EXE = os.path.abspath(sys.argv[1])
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 20
GROUP = 1
SENDERS = 3
RECEIVERS = 2


class World:
    """Everything every client saw, across rounds."""

    def __init__(self):
        self.lock = threading.Lock()
        self.seen = {}         # id -> (from, text)
        self.conflicts = []    # (id, first, second)
        self.acked = {}        # text -> id
        self.max_id_seen = 0

    def saw(self, frame):
        key = (frame["from"], frame["text"])
        with self.lock:
            first = self.seen.setdefault(frame["id"], key)
            if first != key:
                self.conflicts.append((frame["id"], first, key))
            self.max_id_seen = max(self.max_id_seen, frame["id"])

    def ack(self, text, id_):
        with self.lock:
            self.acked[text] = id_
            self.max_id_seen = max(self.max_id_seen, id_)


def read_frames(ws, world, on_frame=None):
    try:
        while True:
            frame = ws.recv_json()
            if frame.get("type") == "message":
                world.saw(frame)
            if on_frame:
                on_frame(frame)
    except (EOFError, OSError, ValueError):
        pass


def run_round(round_, db, world, receivers, epochs):
    server, port = start_server(EXE, "--db", db, "--auth", "none", "--threads", "2", "--durability", "batch",
                                "--history-per-group", "0", "--message-rate", "0")
    threads = []
    clients = []
    ids_before = world.max_id_seen
    # Receivers come back with what they last saw, in the epoch they saw it in.
    for r in range(RECEIVERS):
        state = receivers[r]
        query = f"?name=receiver{r}"
        if state["epoch"] is not None:
            query += f"&since={state['last']}&epoch={state['epoch']}"
        ws = Ws(port, f"/ws/{GROUP}{query}")
        welcome = ws.recv_json()
        check(welcome.get("type") == "welcome", f"round {round_}: receiver {r} welcomed")
        epochs.add(welcome["epoch"])
        if state["epoch"] is not None:
            changed = welcome["epoch"] != state["epoch"]
            if round_ > 1:
                check(changed and welcome.get("reset") is True,
                      f"round {round_}: after a crash the epoch is new and since is reset")
        state["epoch"] = welcome["epoch"]
        state["last"] = welcome["last_id"] if welcome.get("reset") else state["last"]

        def track(frame, state=state):
            if frame.get("type") == "message":
                state["last"] = max(state["last"], frame["id"])

        clients.append(ws)
        threads.append(threading.Thread(target=read_frames, args=(ws, world, track), daemon=True))

    def flood(k):
        ws = Ws(port, f"/ws/{GROUP}?name=sender{k}")
        clients.append(ws)
        texts = {}

        def on_frame(frame):
            if frame.get("type") == "ack":
                world.ack(texts[frame["ref"]], frame["id"])

        reader = threading.Thread(target=read_frames, args=(ws, world, on_frame), daemon=True)
        try:
            welcome = ws.recv_json()
            if welcome.get("last_id", 0) < ids_before:
                world.conflicts.append(("last_id went back", ids_before, welcome["last_id"]))
            reader.start()
            for i in range(1, 100_001):
                ref = str(i)
                texts[ref] = f"round {round_} sender {k} message {i}"
                ws.send_message(texts[ref], ref)
        except (EOFError, OSError, ValueError):
            pass

    threads += [threading.Thread(target=flood, args=(k,), daemon=True) for k in range(SENDERS)]
    for thread in threads:
        thread.start()
    time.sleep(random.uniform(0.05, 0.6))  # a random moment of the flood
    os.kill(server.pid, signal.SIGKILL)
    server.wait()
    for thread in threads:
        thread.join(TIMEOUT)
    for ws in clients:
        ws.close()


def main():
    workdir = tempfile.mkdtemp(prefix="huddle-crash-loop-")
    db = os.path.join(workdir, "history.db")
    world = World()
    receivers = [{"epoch": None, "last": 0} for _ in range(RECEIVERS)]
    epochs = set()
    try:
        for round_ in range(1, ROUNDS + 1):
            run_round(round_, db, world, receivers, epochs)
        check(len(world.acked) >= ROUNDS * 10,
              f"messages were acked before the kills ({len(world.acked)} over {ROUNDS} rounds)")
        check(len(epochs) == ROUNDS, f"one epoch per unclean start ({len(epochs)} seen)")
        check(not world.conflicts,
              f"no id names two messages across {ROUNDS} crashes ({len(world.seen)} ids seen; "
              f"conflicts: {world.conflicts[:3]})")

        server, port = start_server(EXE, "--db", db, "--auth", "none")
        stored = history(port, GROUP)
        by_id = {m["id"]: (m["from"], m["text"]) for m in stored}
        ids = [m["id"] for m in stored]
        check(ids == sorted(set(ids)), "history is in id order, without duplicates")
        lost = [text for text, id_ in world.acked.items()
                if id_ not in by_id or by_id[id_][1] != text]
        check(not lost, f"every acked message is in history with its text ({len(world.acked)} "
                        f"acked, {len(stored)} stored, lost: {lost[:5]})")
        disagree = [id_ for id_, key in by_id.items() if world.seen.get(id_, key) != key]
        check(not disagree, f"history agrees with every client about every id ({disagree[:5]})")
        # What the web client does on reset: reload the newest history, then reconnect from
        # its newest id. The ids burnt after it named no stored message: nothing was missed.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/groups/{GROUP}/messages",
                                    timeout=TIMEOUT) as answer:
            epoch = answer.headers["Huddle-Epoch"]
            newest = json.loads(answer.read())[-1]["id"]
        ws = Ws(port, f"/ws/{GROUP}?name=last&since={newest}&epoch={epoch}")
        welcome = ws.recv_json()
        check(welcome.get("reset") is None and welcome.get("truncated") is False,
              f"a reload after the crash continues without reset or truncated ({welcome})")
        ws.send_message("after every crash", "x")
        frame = ws.recv_json()
        while frame.get("type") != "ack":
            frame = ws.recv_json()
        check(frame["id"] > world.max_id_seen,
              f"the next id {frame['id']} is above every id ever seen ({world.max_id_seen})")
        ws.close()
        server.send_signal(signal.SIGTERM)
        check(server.wait(timeout=TIMEOUT) == 0, "the restarted server exits 0 on SIGTERM")
        print(f"crash loop: {ROUNDS} rounds, {len(world.acked)} acked, {len(world.seen)} ids seen,"
              f" {len(stored)} stored, newest id {world.max_id_seen}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    finish("crash loop")


if __name__ == "__main__":
    main()
