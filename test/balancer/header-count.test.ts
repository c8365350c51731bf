// Many small header lines within `max_header_size`: node:http keeps only its first 2000 header
// fields by default (`maxHeadersCount`) and drops the rest without a word, while its parser still
// frames the body by them. The byte limit is the balancer's only limit on a header section, as
// NGINX's is: every field within it is forwarded, both ways.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sendRaw } from '../helpers/raw-http.js';
import { ready, startBackend, startBalancer } from './helpers.js';

const FIELDS = 2100;
// One short name repeated, so that 2100 of them stay well within the default 16 KiB.
const junk = (name: string) => `${name}:1\r\n`.repeat(FIELDS);

test('a request with more than 2000 header fields within max_header_size reaches the backend whole', async (t) => {
  const seen: string[] = [];
  const backend = await startBackend(t, (req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => {
      const junkFields = req.rawHeaders.filter((name, i) => i % 2 === 0 && name === 'a').length;
      seen.push(`${req.method} fields=${junkFields} auth=${req.headers.authorization} body=${body}`);
      res.end('ok');
    });
  });
  // The test's backend must not drop them itself.
  backend.server.maxHeadersCount = 0;
  const { balancer, port } = await startBalancer(t);
  balancer.setGroup('web', ready(['a', backend.address]));
  const head = `POST / HTTP/1.1\r\nHost: x\r\n${junk('a')}Authorization: Bearer t\r\nContent-Length: 5\r\n`;
  assert.ok(head.length < 16 * 1024, `the header section (${head.length} bytes) is within max_header_size`);
  const answer = await sendRaw(port, `${head}Connection: close\r\n\r\nhello`, { keepOpen: true });
  assert.equal(answer.status, 200, answer.text);
  // Before: the backend got a POST without Authorization and without its body (its Content-Length
  // was among the dropped fields), and answered it.
  assert.deepEqual(seen, [`POST fields=${FIELDS} auth=Bearer t body=hello`]);
});

test('a response with more than 2000 header fields reaches the client whole, on GET and POST', async (t) => {
  const backend = await startBackend(t, (req, res) => {
    req.resume();
    const raw: string[] = [];
    for (let i = 0; i < FIELDS; i++) raw.push('b', '1');
    raw.push('X-Last', 'here');
    req.on('end', () => {
      res.writeHead(200, raw);
      res.end('ok');
    });
  });
  const { balancer, port } = await startBalancer(t);
  balancer.setGroup('web', ready(['a', backend.address]));
  // GET goes through the undici pool, POST through node:http; read raw, since node:http's client
  // would drop fields past 2000 itself.
  for (const method of ['GET', 'POST']) {
    const answer = await sendRaw(
      port,
      `${method} / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
      {
        keepOpen: true,
      },
    );
    assert.equal(answer.status, 200, `${method}: ${answer.text.slice(0, 300)}`);
    assert.equal(answer.text.split('\r\nb: 1').length - 1, FIELDS, `${method}: every field arrived`);
    assert.match(answer.text, /\r\nX-Last: here\r\n/, `${method}: the last field arrived`);
  }
});
