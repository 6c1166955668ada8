#!/usr/bin/python3
"""A small stand-in for a huddle server with TLS, for testing the clients' wss:// until
`huddle serve --tls-cert` exists: Debian's python3-websockets on 127.0.0.1, one listener
per --listen, all sharing the groups, so a group's members may come over ws:// and wss://.

It speaks enough of protocol v1 (docs/protocol.md) for `huddle chat` and huddle-load: the
welcome, join and leave; a text frame (a {"type":"message"} object or any other text) is
given the group's next id, sent to the other members (to the sender too with ?echo=1) as a
"message" frame, and acked to the sender. Each listener prints "listening NAME PORT" once
bound; the test stops the server by its PID (SIGTERM).

usage: wss_server.py --listen NAME[:CERT:KEY] ...   (no CERT: plain ws://)
"""
import argparse
import asyncio
import itertools
import json
import signal
import ssl
import sys
import time
import urllib.parse

import websockets

groups = {}  # group id -> {"last_id": int, "members": {websocket: name}}
guests = itertools.count(1)


async def send_all(members, frame):
    text = json.dumps(frame)
    for member in list(members):
        try:
            await member.send(text)
        except websockets.ConnectionClosed:
            pass


async def session(websocket):
    target = urllib.parse.urlsplit(websocket.path)
    if not target.path.startswith("/ws/") or not target.path[4:].isdigit():
        await websocket.close(1008, "no such group")
        return
    group_id = int(target.path[4:])
    query = urllib.parse.parse_qs(target.query)
    name = query.get("name", [f"guest-{next(guests)}"])[0]
    echo = query.get("echo", ["0"])[0] == "1"
    group = groups.setdefault(group_id, {"last_id": 0, "members": {}})
    members = group["members"]
    await websocket.send(json.dumps({"type": "welcome", "group": group_id, "user": name,
                                     "last_id": group["last_id"],
                                     "members": sorted(set(members.values()))}))
    await send_all(members, {"type": "join", "group": group_id, "user": name})
    members[websocket] = name
    try:
        async for data in websocket:
            text, ref = data, None
            try:
                frame = json.loads(data)
                if isinstance(frame, dict):
                    text, ref = frame.get("text", ""), frame.get("ref")
            except ValueError:
                pass
            group["last_id"] += 1
            message = {"type": "message", "group": group_id, "id": group["last_id"],
                       "from": name, "text": text, "ts": int(time.time() * 1000)}
            await send_all([m for m in members if m is not websocket or echo], message)
            ack = {"type": "ack", "id": group["last_id"]}
            if ref is not None:
                ack["ref"] = ref
            await websocket.send(json.dumps(ack))
    except websockets.ConnectionClosed:
        pass
    finally:
        del members[websocket]
        await send_all(members, {"type": "leave", "group": group_id, "user": name})


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", action="append", required=True)
    args = parser.parse_args()
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    servers = []
    for listen in args.listen:
        name, *tls = listen.split(":")
        context = None
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls[0], tls[1])
        server = await websockets.serve(session, "127.0.0.1", 0, ssl=context)
        servers.append(server)
        print(f"listening {name} {server.sockets[0].getsockname()[1]}", flush=True)
    await stop
    for server in servers:
        server.close()
        await server.wait_closed()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
