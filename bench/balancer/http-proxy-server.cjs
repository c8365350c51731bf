// http-proxy in front of the two bench backends, round-robin, with a keep-alive agent: the usual
// way a Node proxy is written. Loaded from the temp folder the bench installed http-proxy into.
const http = require('node:http');
const httpProxy = require(process.env.HTTP_PROXY_MODULE);

const targets = process.env.BACKENDS.split(',').map((a) => `http://${a}`);
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const proxy = httpProxy.createProxyServer({ agent });
proxy.on('error', (_err, _req, res) => {
  res.writeHead?.(502);
  res.end();
});
let next = 0;
http
  .createServer((req, res) => {
    next = (next + 1) % targets.length;
    proxy.web(req, res, { target: targets[next] });
  })
  .listen(Number(process.env.PORT), '127.0.0.1', () => process.send?.('ready'));
