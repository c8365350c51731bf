// The demo service Scaleplane scales in its quick start: one cheap endpoint, one that burns CPU.
// Plain Node, no dependencies, so it runs wherever Scaleplane does.
import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? '127.0.0.1';
let shuttingDown = false;

function burn(ms) {
  const end = performance.now() + ms;
  let x = 0;
  while (performance.now() < end) x += Math.sqrt(x + 1);
  return x;
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://demo');
  if (url.pathname === '/healthz') {
    // 503 while stopping takes this instance out of rotation before it goes away.
    res.writeHead(shuttingDown ? 503 : 200, { 'content-type': 'text/plain' });
    res.end(shuttingDown ? 'stopping\n' : 'ok\n');
    return;
  }
  if (url.pathname === '/work') {
    const ms = Math.min(Math.max(Number(url.searchParams.get('ms') ?? 50) || 0, 0), 2000);
    burn(ms);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ pid: process.pid, port, burnedMs: ms }));
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ hello: 'from the demo app', pid: process.pid, port }));
});

server.keepAliveTimeout = 65_000;
server.listen(port, host);

process.on('SIGTERM', () => {
  // Finish what is in flight, then exit; Scaleplane has already stopped sending new requests.
  shuttingDown = true;
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});
