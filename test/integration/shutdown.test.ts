// Shutdown (what `scaleplane up` runs on SIGTERM/SIGINT): the balancer stops accepting connections
// before the instances drain, as NGINX's graceful shutdown closes its listeners first, and requests
// in flight finish. Before, it kept accepting while every instance drained, and answered each new
// request 503 (no backend) for as long as the slowest request in flight took: 25 of 25 requests over
// a 2.9 s drain. A refused connect is what a client or a load balancer in front retries elsewhere.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { startInProcess } from '../helpers/scaleplane.js';

const APP = fileURLToPath(new URL('../fixtures/provider-app.mjs', import.meta.url));

/** get sends one GET on a fresh connection: the status, or the connection error's code. */
function get(host: string, port: number, path: string): Promise<string> {
  return new Promise((resolve) => {
    const req = request({ host, port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(String(res.statusCode)));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.end();
  });
}

describe('shutdown', () => {
  it('stops accepting before the instances drain: no 503 while a slow request finishes', async (t) => {
    const app = await startInProcess(`
api: { listen: 127.0.0.1:0 }
balancer: { listen: 127.0.0.1:0, health: { path: /healthz, interval: 500ms } }
controller: { interval: 1s }
groups:
  web:
    command: node "${APP}"
    min_instances: 2
    max_instances: 2
`);
    t.after(() => app.close());
    const { host, port } = app.balancerAddress!;
    assert.equal(await get(host, port, '/'), '200');

    // One request holds an instance for 2 s: the drain waits for it.
    const slow = get(host, port, '/slow?ms=2000');
    const instances = app.providers.get('web')!.instances();
    const held = async () => {
      let n = 0;
      for (const i of instances) {
        const [h, p] = [i.address.slice(0, i.address.lastIndexOf(':')), Number(i.address.split(':').pop())];
        const res = await new Promise<string>((resolve) => {
          request({ host: h, port: p, path: '/held', agent: false }, (r) => {
            let body = '';
            r.on('data', (c) => {
              body += c;
            });
            r.on('end', () => resolve(body));
          })
            .on('error', () => resolve('0'))
            .end();
        });
        n += Number(res);
      }
      return n;
    };
    for (let i = 0; i < 100 && (await held()) < 1; i++) await delay(20);
    assert.equal(await held(), 1, 'the slow request is held by an instance');

    let closed = false;
    const closing = app.close().then(() => {
      closed = true;
    });
    const during: Record<string, number> = {};
    for (let i = 0; i < 40 && !closed; i++) {
      const outcome = await get(host, port, '/');
      if (!closed) during[outcome] = (during[outcome] ?? 0) + 1;
      await delay(50);
    }
    await closing;
    assert.equal(await slow, '200', 'the request in flight finished');
    const sent = Object.values(during).reduce((a, b) => a + b, 0);
    assert.ok(sent >= 5, `requests sent while closing: ${JSON.stringify(during)}`);
    assert.equal(during['503'] ?? 0, 0, `answered while closing: ${JSON.stringify(during)}`);
    assert.deepEqual(Object.keys(during), ['ECONNREFUSED'], JSON.stringify(during));
  });
});
