// Reference chat server for `scripts/bench --compare`: GET /ws/{group} joins a group;
// every text a member sends is relayed, as is, to the other members of that group.
// Usage: node server.js [port] [host]   (port 0 = ephemeral). Prints
// "listening on HOST:PORT" on stdout once bound, like `huddle serve`.
'use strict';
const http = require('http');
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2] || 0);
const host = process.argv[3] || '127.0.0.1';
const groups = new Map(); // group id -> Set of sockets

const server = http.createServer((req, res) => {
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('not found\n');
});
// No per-message deflate: huddle does not compress either, and it costs CPU per frame.
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });

server.on('upgrade', (req, socket, head) => {
  const match = /^\/ws\/(\d+)(?:\?.*)?$/.exec(req.url || '');
  if (!match) {
    socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    return;
  }
  const group = Number(match[1]);
  wss.handleUpgrade(req, socket, head, (ws) => {
    let members = groups.get(group);
    if (!members) {
      members = new Set();
      groups.set(group, members);
    }
    members.add(ws);
    ws.on('message', (data, isBinary) => {
      for (const peer of members) {
        if (peer !== ws && peer.readyState === 1) peer.send(data, { binary: isBinary });
      }
    });
    ws.on('close', () => {
      members.delete(ws);
      if (members.size === 0 && groups.get(group) === members) groups.delete(group);
    });
    ws.on('error', () => ws.terminate());
  });
});

server.listen(port, host, () => {
  const addr = server.address();
  process.stdout.write(`listening on ${addr.address}:${addr.port}\n`);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
