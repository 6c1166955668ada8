"""Several `huddle serve --broker redis://...` nodes as one chat service, against a real
redis-server this test starts (ephemeral loopback port, temporary directory, AOF with
appendfsync always) and stops by PID:

- one order: 10 senders and 30 receivers spread over 3 nodes; every receiver sees the same
  consecutive ids, every acked message once, and no id names two messages;
- a client moving from one node to another with ?since= and the epoch: no gap, no repeat;
- presence across nodes (a user with tabs on two nodes is online once; the members API
  answers for every node), and revocation closing sockets on every node (builtin accounts in
  one shared database file);
- Redis killed and restarted during traffic: senders get broker_unavailable meanwhile,
  nothing acked is lost, deliveries resume in order;
- a node SIGKILLed during traffic: its clients reconnect elsewhere with ?since= and miss
  nothing acked, the other nodes' members never notice, and its users go offline within
  --presence-ttl;
- subscriber connections killed (CLIENT KILL TYPE pubsub): what was published meanwhile is
  filled from the stream, so receivers still see no gap;
- retention by count (truncated replay) and by age, from the streams;
- Redis losing its data (FLUSHALL): the nodes close their sessions, a reconnect from the old
  epoch gets reset:true, and the new epoch's messages flow.

Usage: cluster_test.py HUDDLE_EXE. Plain Python 3 (and redis-server/redis-cli from Debian)."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import check, finish  # noqa: E402
from raw_ws import Ws, start_server, TIMEOUT  # noqa: E402

EXE = os.path.abspath(sys.argv[1])
PRESENCE_TTL_S = 3


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis:
    """redis-server on an ephemeral loopback port in `directory`, AOF fsync'ed per write."""

    def __init__(self, directory):
        self.directory = directory
        self.port = free_port()
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", self.directory,
             "--maxmemory-policy", "noeviction", "--logfile", "redis.log"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + TIMEOUT
        while self.cli("PING") != "PONG":
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()

    def cli(self, *args):
        result = subprocess.run(["redis-cli", "-p", str(self.port), *args],
                                capture_output=True, text=True, timeout=TIMEOUT)
        return result.stdout.strip()

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}"


class Node:
    def __init__(self, redis, *options, probe=True):
        self.proc, self.port = start_server(
            EXE, "--broker", redis.url, "--presence-ttl", f"{PRESENCE_TTL_S}s",
            "--message-rate", "0", "--broker-command-timeout", "1s", *options)
        if probe:  # a guest's join tells when the node is connected to Redis
            wait_joinable(self.port).close()

    def stop(self):
        """SIGTERM; the exit status (0 after a clean stop; a sanitizer's report is not)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=TIMEOUT)
        return self.proc.returncode

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def wait_joinable(port, target="/ws/999?name=probe"):
    """Until the node answers a join with a welcome (it is connected to Redis); returns that
    connection."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            ws = Ws(port, target)
            welcome = ws.recv_json()
            if welcome.get("type") == "welcome":
                ws.welcome_epoch = welcome.get("epoch")
                return ws
            ws.close()
        except (EOFError, OSError, RuntimeError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"node on port {port} never accepted a join")
        time.sleep(0.1)


def api(port, path, token=None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
        return json.loads(answer.read()), answer.headers


def history(port, group):
    messages, since = [], 0
    while True:
        page, _ = api(port, f"/api/groups/{group}/messages?since={since}&limit=1000")
        if not page:
            return messages
        messages += page
        since = page[-1]["id"]


class Receiver(threading.Thread):
    """Reads a group's messages until told to stop, or the connection ends."""

    def __init__(self, port, group, name, since=None, epoch=None):
        super().__init__(daemon=True)
        target = f"/ws/{group}?name={name}"
        if since is not None:
            target += f"&since={since}" + (f"&epoch={epoch}" if epoch else "")
        self.ws = Ws(port, target)
        self.welcome = self.ws.recv_json()
        self.ids, self.texts, self.presence = [], {}, []
        self.ended = None
        self.start()

    def run(self):
        try:
            while True:
                frame = self.ws.recv_json()
                if frame["type"] == "message":
                    self.ids.append(frame["id"])
                    self.texts[frame["id"]] = frame["text"]
                elif frame["type"] in ("join", "leave"):
                    self.presence.append((frame["type"], frame["user"]))
        except (EOFError, OSError) as e:
            self.ended = str(e)

    def wait_for(self, count, seconds=TIMEOUT):
        deadline = time.monotonic() + seconds
        while len(self.ids) < count and time.monotonic() < deadline and self.ended is None:
            time.sleep(0.02)
        return len(self.ids) >= count

    def close(self):
        # shutdown() ends the reading thread's recv at once; close() alone would not.
        try:
            self.ws.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.ws.close()
        self.join(TIMEOUT)


class Sender(threading.Thread):
    """Sends `count` messages one after another, each after the previous one's answer;
    records acked ids and refusals (error frames)."""

    def __init__(self, port, group, name, count, pause=0.0):
        super().__init__(daemon=True)
        self.ws = Ws(port, f"/ws/{group}?name={name}")
        self.ws.recv_json()  # welcome
        self.name, self.count, self.pause = name, count, pause
        self.acked = {}  # id -> text
        self.refused = []
        self.failed = None
        self.start()

    def run(self):
        try:
            for n in range(self.count):
                text = f"{self.name}-{n}"
                self.ws.send_message(text, str(n))
                frame = self.ws.recv_json()
                while frame["type"] not in ("ack", "error"):
                    frame = self.ws.recv_json()
                if frame["type"] == "ack":
                    self.acked[frame["id"]] = text
                else:
                    self.refused.append(frame.get("code"))
                if self.pause:
                    time.sleep(self.pause)
        except (EOFError, OSError) as e:
            self.failed = str(e)
        finally:
            self.ws.close()


def consecutive(ids, first):
    return ids == list(range(first, first + len(ids)))


def missed_nothing(ids, welcome, acked):
    """`ids` (as one client saw them, across reconnects) follow `welcome`'s last_id with no
    gap or repeat, and hold every acked id."""
    return consecutive(ids, welcome["last_id"] + 1) and set(acked) <= set(ids)


def test_one_order(redis, nodes):
    group = 1
    receivers = [Receiver(nodes[i % 3].port, group, f"r{i}") for i in range(30)]
    senders = [Sender(nodes[i % 3].port, group, f"s{i}", 40) for i in range(10)]
    for s in senders:
        s.join(TIMEOUT * 3)
    acked = {}
    for s in senders:
        acked.update(s.acked)
    check(len(acked) == 400 and all(not s.refused and not s.failed for s in senders),
          f"10 senders on 3 nodes: 400 acks ({len(acked)})")
    total = max(acked) if acked else 0
    for r in receivers:
        r.wait_for(total - r.welcome["last_id"])
    first = receivers[0]
    same = all(r.ids == first.ids for r in receivers)
    check(same, "30 receivers on 3 nodes saw the identical id sequence")
    check(all(consecutive(r.ids, r.welcome["last_id"] + 1) for r in receivers),
          "every receiver's ids are consecutive from its welcome's last_id (no gap, no repeat)")
    wrong = [i for r in receivers for i, text in r.texts.items() if acked.get(i, text) != text]
    check(not wrong, f"no id names two messages ({len(wrong)} mismatches)")
    check(all(set(acked) <= set(r.ids) for r in receivers),
          "every acked message reached every receiver")
    stored = {m["id"]: m["text"] for m in history(nodes[2].port, group)}
    check(all(stored.get(i) == t for i, t in acked.items()),
          "every acked message is in the history, read through another node")
    for r in receivers:
        r.close()


def test_move_between_nodes(redis, nodes):
    group = 2
    reader = Receiver(nodes[0].port, group, "mover")
    epoch = reader.welcome["epoch"]
    sender = Sender(nodes[1].port, group, "talker", 200, pause=0.002)
    reader.wait_for(50)
    reader.close()
    seen = list(reader.ids)
    moved = Receiver(nodes[2].port, group, "mover", since=seen[-1], epoch=epoch)
    check(moved.welcome.get("epoch") == epoch and not moved.welcome.get("reset"),
          "the other node honours the same epoch")
    sender.join(TIMEOUT * 2)
    moved.wait_for(max(sender.acked) - seen[-1])
    combined = seen + moved.ids
    check(missed_nothing(combined, reader.welcome, sender.acked),
          f"moved from node A to node C mid-stream: no gap, no repeat ({len(combined)} ids)")
    moved.close()


def test_presence(redis, nodes):
    group = 3
    watcher = Receiver(nodes[0].port, group, "watcher")
    tab1 = Ws(nodes[1].port, f"/ws/{group}?name=pat")
    tab1.recv_json()
    tab2 = Ws(nodes[2].port, f"/ws/{group}?name=pat")
    welcome = tab2.recv_json()
    check(welcome.get("members") == ["watcher"] or sorted(welcome.get("members", [])) ==
          ["watcher"], f"the welcome lists users on other nodes ({welcome.get('members')})")
    time.sleep(0.5)
    for node in nodes:
        body, _ = api(node.port, f"/api/groups/{group}/members")
        check(sorted(body["members"]) == ["pat", "watcher"],
              f"members API on port {node.port}: pat once ({body['members']})")
    tab1.close()
    time.sleep(0.5)
    check(watcher.presence == [("join", "pat")],
          f"a user with tabs on two nodes joined once, one tab leaving is no leave "
          f"({watcher.presence})")
    tab2.close()
    deadline = time.monotonic() + TIMEOUT
    while ("leave", "pat") not in watcher.presence and time.monotonic() < deadline:
        time.sleep(0.05)
    check(watcher.presence == [("join", "pat"), ("leave", "pat")],
          f"the last tab leaving is a leave ({watcher.presence})")
    watcher.close()


def test_redis_restart(redis, nodes):
    group = 4
    receivers = [Receiver(nodes[i].port, group, f"w{i}") for i in range(3)]
    senders = [Sender(nodes[i].port, group, f"u{i}", 150, pause=0.01) for i in range(3)]
    time.sleep(0.4)
    redis.kill()
    time.sleep(1.0)
    try:
        api(nodes[0].port, "/healthz")
        health = 200
    except urllib.error.HTTPError as e:
        health = e.code
    check(health == 503, f"while Redis is down /healthz answers 503 ({health})")
    redis.start()
    for s in senders:
        s.join(TIMEOUT * 3)
    acked = {}
    for s in senders:
        acked.update(s.acked)
    refused = [code for s in senders for code in s.refused]
    check(refused and set(refused) == {"broker_unavailable"},
          f"while Redis was down, sends got broker_unavailable ({len(refused)}: {set(refused)})")
    check(all(s.failed is None for s in senders), "senders' connections stayed open")
    wait_joinable(nodes[0].port).close()
    stored = {m["id"]: m["text"] for m in history(nodes[0].port, group)}
    check(all(stored.get(i) == t for i, t in acked.items()),
          f"nothing acked was lost ({len(acked)} acked)")
    last = max(acked)
    for r in receivers:
        r.wait_for(last - r.welcome["last_id"])
    check(all(missed_nothing(r.ids, r.welcome, acked) for r in receivers),
          "deliveries resumed in order: every receiver's ids consecutive, every ack there")
    for r in receivers:
        r.close()


def test_pubsub_loss(redis, nodes):
    group = 5
    receivers = [Receiver(nodes[i].port, group, f"v{i}") for i in range(3)]
    sender = Sender(nodes[0].port, group, "loud", 300, pause=0.003)
    time.sleep(0.3)
    killed = redis.cli("CLIENT", "KILL", "TYPE", "pubsub")
    sender.join(TIMEOUT * 2)
    last = max(sender.acked)
    for r in receivers:
        r.wait_for(last - r.welcome["last_id"])
    check(killed not in ("", "0"), f"subscriber connections killed ({killed})")
    check(all(missed_nothing(r.ids, r.welcome, sender.acked) for r in receivers),
          "after the subscribers were killed the gap was filled from the stream")
    for r in receivers:
        r.close()


def test_node_killed(redis, nodes):
    group = 6
    survivor = Receiver(nodes[0].port, group, "survivor")
    doomed = Receiver(nodes[2].port, group, "doomed")
    sender = Sender(nodes[1].port, group, "steady", 300, pause=0.005)
    doomed.wait_for(30)
    nodes[2].kill()
    doomed.join(TIMEOUT)
    seen = list(doomed.ids)
    back = Receiver(nodes[0].port, group, "doomed2", since=seen[-1],
                    epoch=doomed.welcome["epoch"])
    sender.join(TIMEOUT * 2)
    last = max(sender.acked)
    back.wait_for(last - seen[-1])
    survivor.wait_for(last - survivor.welcome["last_id"])
    combined = seen + back.ids
    check(missed_nothing(combined, doomed.welcome, sender.acked),
          "a killed node's client reconnected elsewhere with since= and missed nothing acked")
    check(missed_nothing(survivor.ids, survivor.welcome, sender.acked),
          "the other nodes' members never noticed")
    deadline = time.monotonic() + PRESENCE_TTL_S * 3
    while ("leave", "doomed") not in survivor.presence and time.monotonic() < deadline:
        time.sleep(0.1)
    check(("leave", "doomed") in survivor.presence,
          f"the dead node's user went offline within the presence TTL ({survivor.presence})")
    back.close()
    survivor.close()


def test_revocation(redis, workdir):
    db = os.path.join(workdir, "accounts.db")

    def huddle(*args, stdin=None):
        return subprocess.run([EXE, *args, "--db", db], input=stdin, capture_output=True,
                              text=True, timeout=TIMEOUT)

    huddle("user", "add", "alice", "--password-stdin", stdin="secret pw\n")
    huddle("group", "add", "7")
    huddle("group", "grant", "7", "alice")
    nodes = [Node(redis, "--auth", "builtin", "--db", db, "--broker-prefix", "acl:", probe=False)
             for _ in range(2)]
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{nodes[0].port}/api/login",
            data=json.dumps({"username": "alice", "password": "secret pw"}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
            token = json.loads(answer.read())["token"]
        sockets = [wait_joinable(node.port, f"/ws/7?token={token}") for node in nodes]
        revoked = huddle("group", "revoke", "7", "alice")
        check(revoked.returncode == 0, "revoke alice from group 7")
        closed = []
        for ws in sockets:
            try:
                while True:
                    ws.recv_json()
            except EOFError:
                closed.append(True)
            except OSError:
                closed.append(False)
        check(closed == [True, True], f"the revocation closed her sockets on both nodes ({closed})")
    finally:
        codes = [node.stop() for node in nodes]
        check(codes == [0, 0], f"both nodes stopped cleanly on SIGTERM (exit {codes})")


def test_data_loss(redis, nodes):
    group = 8
    reader = Receiver(nodes[0].port, group, "keeper")
    sender = Sender(nodes[1].port, group, "early", 20)
    sender.join(TIMEOUT)
    reader.wait_for(20)
    old_epoch = reader.welcome["epoch"]
    redis.cli("FLUSHALL")  # Redis lost its data: counters start again
    reader.join(TIMEOUT)
    check(reader.ended is not None, "after Redis lost its data the node closed its sessions")
    again = Receiver(nodes[0].port, group, "keeper", since=reader.ids[-1], epoch=old_epoch)
    check(again.welcome.get("reset") is True and again.welcome["epoch"] != old_epoch,
          f"a reconnect from the old epoch gets reset:true and the new epoch ({again.welcome})")
    # The other node notices at its next heartbeat (or its next send).
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        probe = wait_joinable(nodes[1].port)
        probe.close()
        if probe.welcome_epoch == again.welcome["epoch"]:
            break
        time.sleep(0.2)
    later = Sender(nodes[1].port, group, "later", 10)
    later.join(TIMEOUT)
    again.wait_for(10)
    check(again.ids == sorted(later.acked) and len(later.acked) == 10,
          f"the new epoch's messages are delivered ({again.ids}, acked {sorted(later.acked)})")
    again.close()


def test_retention(redis):
    node = Node(redis, "--auth", "none", "--db", "", "--broker-prefix", "ret:",
                "--history-per-group", "50", "--history-max-age", "1s")
    try:
        sender = Sender(node.port, 1, "many", 400)
        sender.join(TIMEOUT * 2)
        kept = history(node.port, 1)
        ids = [m["id"] for m in kept]
        check(len(sender.acked) == 400 and 50 <= len(ids) < 400 and ids[-1] == 400 and
              consecutive(ids, ids[0]),
              f"--history-per-group 50 keeps the newest 50 or a few more ({len(ids)} kept)")
        late = Receiver(node.port, 1, "late", since=1, epoch=sender_epoch(node.port, 1))
        late.wait_for(len(ids))
        check(late.welcome.get("truncated") is True and late.ids == ids,
              f"a replay past what retention kept says truncated and sends the rest "
              f"({late.welcome.get('truncated')}, {len(late.ids)} replayed)")
        # Max age: the heartbeat trims a group with members here (a message every 0.25 s
        # keeps its stream from expiring); a group nobody visits expires as a whole.
        Sender(node.port, 2, "once", 5).join(TIMEOUT)
        ticker = Sender(node.port, 1, "ticker", 10, pause=0.25)
        ticker.join(TIMEOUT)
        kept = [m["id"] for m in history(node.port, 1)]
        check(kept and min(kept) > 400 and max(kept) == max(ticker.acked),
              f"--history-max-age 1s: a busy group's old messages are trimmed ({kept})")
        time.sleep(1.2)
        check(history(node.port, 2) == [],
              "--history-max-age 1s: an unvisited group's messages are gone")
        late.close()
    finally:
        node.stop()


def sender_epoch(port, group):
    ws = Ws(port, f"/ws/{group}?name=epoch-probe")
    epoch = ws.recv_json()["epoch"]
    ws.close()
    return epoch


def test_refusals(workdir):
    result = subprocess.run([EXE, "serve", "--broker", "redis://u:p@127.0.0.1:1"],
                            capture_output=True, text=True, timeout=TIMEOUT)
    check(result.returncode == 2 and "--broker" in result.stderr and "password" in
          result.stderr, f"a password in the URL is refused, naming the flag ({result.stderr!r})")
    result = subprocess.run([EXE, "serve", "--broker", "redis://127.0.0.1:6379", "--db", ""],
                            capture_output=True, text=True, timeout=TIMEOUT)
    check(result.returncode == 2 and "--auth builtin" in result.stderr,
          f"builtin accounts in memory with --broker are refused ({result.stderr!r})")


def timed(test, *args):
    start = time.monotonic()
    test(*args)
    print(f"     ({test.__name__}: {time.monotonic() - start:.1f} s)")


def main():
    workdir = tempfile.mkdtemp(prefix="huddle-cluster-")
    redis = Redis(workdir)
    nodes = []
    try:
        timed(test_refusals, workdir)
        nodes = [Node(redis, "--auth", "none", "--db", "") for _ in range(3)]
        timed(test_one_order, redis, nodes)
        timed(test_move_between_nodes, redis, nodes)
        timed(test_presence, redis, nodes)
        timed(test_pubsub_loss, redis, nodes)
        timed(test_redis_restart, redis, nodes)
        timed(test_retention, redis)
        timed(test_revocation, redis, workdir)
        timed(test_node_killed, redis, nodes)
        timed(test_data_loss, redis, nodes[:2])
    finally:
        codes = [node.stop() for node in nodes if node.proc.poll() is None]
        redis.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    check(codes and all(code == 0 for code in codes),
          f"the nodes still running stopped cleanly on SIGTERM (exit {codes})")
    finish("cluster")


if __name__ == "__main__":
    main()
