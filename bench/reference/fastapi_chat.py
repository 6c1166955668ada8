"""Reference chat server for `scripts/bench --compare`: the original app's design in FastAPI.

Groups are a Dict[int, List[WebSocket]] under one asyncio.Lock. connect adds a socket
once; broadcast sends each received text to every member but the sender, over a copy of
the list taken under the lock, then removes under the lock the sockets whose send
failed; disconnect deletes a group left empty.

Run with Debian's interpreter and packages (python3-fastapi, python3-uvicorn):
    /usr/bin/python3 bench/reference/fastapi_chat.py [--host 127.0.0.1] [--port 0]
Prints "listening on HOST:PORT" on stdout once bound, like `huddle serve`.
"""

import argparse
import asyncio
import socket
import sys
from typing import Dict, List

import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect


class ConnectionManager:
    def __init__(self) -> None:
        self.groups: Dict[int, List[WebSocket]] = {}
        self.lock = asyncio.Lock()

    async def connect(self, group_id: int, websocket: WebSocket) -> None:
        await websocket.accept()
        async with self.lock:
            members = self.groups.setdefault(group_id, [])
            if websocket not in members:
                members.append(websocket)

    async def disconnect(self, group_id: int, websocket: WebSocket) -> None:
        async with self.lock:
            members = self.groups.get(group_id)
            if members is None:
                return
            if websocket in members:
                members.remove(websocket)
            if not members:
                del self.groups[group_id]

    async def broadcast(self, group_id: int, text: str, sender: WebSocket) -> None:
        async with self.lock:
            members = list(self.groups.get(group_id, []))
        failed = []
        for member in members:
            if member is sender:
                continue
            try:
                await member.send_text(text)
            except Exception:  # the peer went away: drop it below
                failed.append(member)
        if failed:
            async with self.lock:
                current = self.groups.get(group_id)
                if current is not None:
                    for member in failed:
                        if member in current:
                            current.remove(member)
                    if not current:
                        del self.groups[group_id]


app = FastAPI()
manager = ConnectionManager()


@app.websocket("/ws/{group_id}")
async def chat(websocket: WebSocket, group_id: int) -> None:
    await manager.connect(group_id, websocket)
    try:
        while True:
            text = await websocket.receive_text()
            await manager.broadcast(group_id, text, websocket)
    except WebSocketDisconnect:
        pass
    finally:
        await manager.disconnect(group_id, websocket)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    # Bind here so port 0 gives a real port to print before uvicorn starts serving.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(4096)
    host, port = sock.getsockname()[:2]
    print(f"listening on {host}:{port}", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, backlog=4096)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
