#!/usr/bin/python3
"""Interop: GET /metrics of the built `huddle serve`, scraped while clients chat, parsed by
Prometheus's own Python parser (Debian's python3-prometheus-client): any line it cannot
parse fails the test. Then the values are checked against the traffic the test made.

usage: metrics_test.py HUDDLE_EXE    (run with /usr/bin/python3, where the modules live)
"""
import asyncio
import json
import os
import socket
import sys
import urllib.request

import websockets
from prometheus_client.parser import text_string_to_metric_families

# The check-and-report helpers of the command-line tests.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
import checks  # noqa: E402
from checks import check, finish  # noqa: E402
from interop_test import Server  # noqa: E402  (huddle serve in a child process)

TIMEOUT = 10
CLIENTS = 4
MESSAGES = 50  # per client


def scrape(port):
    """One scrape, parsed: {(sample name, sorted labels): value} and {family: type}.
    A parse error of prometheus_client fails the test."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=TIMEOUT) as answer:
        content_type = answer.headers.get("Content-Type", "")
        text = answer.read().decode("utf-8")
    check(content_type.startswith("text/plain; version=0.0.4"), f"content type {content_type!r}")
    samples, types = {}, {}
    try:
        for family in text_string_to_metric_families(text):
            types[family.name] = family.type
            for sample in family.samples:
                if not sample.name.startswith(family.name):
                    check(False, f"sample {sample.name} outside its family {family.name}")
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    except Exception as error:  # the parser raises ValueError and friends on a bad line
        check(False, f"prometheus_client parses the exposition: {error!r}\n{text}")
    return samples, types


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


async def chat(port):
    base = f"ws://127.0.0.1:{port}/ws/1"
    clients = []
    for i in range(CLIENTS):
        ws = await websockets.connect(f"{base}?name=user{i}", open_timeout=TIMEOUT)
        clients.append(ws)
    expected = MESSAGES * (CLIENTS - 1)  # each gets everyone else's messages

    async def member(i, ws):
        received = 0

        async def sender():
            for n in range(MESSAGES):
                await ws.send(json.dumps({"type": "message", "text": f"m{n}", "ref": f"r{n}"}))

        send_task = asyncio.create_task(sender())
        # The acks are read too: frames left unread fill the client's queue, and then it
        # cannot see the server's close frame when it closes.
        acks = 0
        while received < expected or acks < MESSAGES:
            frame = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
            if frame.get("type") == "message":
                received += 1
            elif frame.get("type") == "ack":
                acks += 1
        await send_task
        return received

    async def scraper(done):
        scrapes = 0
        while not done.is_set() or scrapes < 3:
            await asyncio.to_thread(scrape, port)
            scrapes += 1
            await asyncio.sleep(0.01)
        return scrapes

    done = asyncio.Event()
    scrape_task = asyncio.create_task(scraper(done))
    received = await asyncio.gather(*(member(i, ws) for i, ws in enumerate(clients)))
    done.set()
    scrapes = await scrape_task
    check(all(r == expected for r in received), f"every client got {expected} messages")
    check(scrapes >= 3, f"scraped during traffic ({scrapes} times)")
    return clients


def refused_upgrade(port):
    """The status of an upgrade request to a bad group id (raw: urllib would send its own
    Connection header)."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(b"GET /ws/abc HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n"
                     b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        status_line = sock.makefile("rb").readline().decode()
    parts = status_line.split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


async def run(port):
    check(refused_upgrade(port) == 400, "an upgrade to /ws/abc is refused with 400")
    clients = await chat(port)
    samples, types = scrape(port)
    sent = CLIENTS * MESSAGES
    check(value(samples, "huddle_connections") == CLIENTS, "huddle_connections")
    check(value(samples, "huddle_groups") == 1, "huddle_groups")
    check(value(samples, "huddle_messages_received_total") == sent,
          "huddle_messages_received_total counts every message sent")
    check(value(samples, "huddle_messages_delivered_total") == sent * (CLIENTS - 1),
          "huddle_messages_delivered_total counts one per recipient")
    check(value(samples, "huddle_upgrades_refused_total", status="400") == 1,
          "huddle_upgrades_refused_total{status=\"400\"}")
    check(value(samples, "huddle_bytes_written_total") > 0, "huddle_bytes_written_total")
    check(types.get("huddle_history_commit_seconds") == "histogram", "commit latency histogram")
    buckets = sorted(((float(dict(labels)["le"]), v) for (name, labels), v in samples.items()
                      if name == "huddle_history_commit_seconds_bucket"))
    check(len(buckets) > 1 and all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])),
          "commit latency buckets never decrease")
    check(buckets and buckets[-1][1] == value(samples, "huddle_history_commit_seconds_count"),
          "the +Inf bucket equals _count")
    for name in ("process_resident_memory_bytes", "process_open_fds",
                 "process_start_time_seconds"):
        check((value(samples, name) or 0) > 0, name)
    check(value(samples, "process_cpu_seconds_total") is not None, "process_cpu_seconds_total")
    check(any(name == "huddle_build_info" for name, _ in samples), "huddle_build_info")
    for ws in clients:
        await ws.close()


def main():
    server = Server(sys.argv[1], "--message-burst", str(MESSAGES))  # no message waits
    try:
        asyncio.run(asyncio.wait_for(run(server.port), 60))
    finally:
        server.kill()
    if checks.failures and server.stderr:
        print("huddle serve stderr:\n" + "".join(server.stderr))
    finish("metrics")


if __name__ == "__main__":
    main()
