// A tiny HTTP backend for bench/balancer: answers every request with a short body, keep-alive on.
import { createServer } from 'node:http';

const port = Number(process.env.PORT);
const body = Buffer.from(`hello from ${port}\n`);
const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1', () => process.send?.('ready'));
