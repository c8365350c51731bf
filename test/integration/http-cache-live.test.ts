// The HTTP response cache on the whole system: `balancer.cache` in front of the demo app run as
// local processes, purged through the live control API (the wiring in app.ts), journaled.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Scaleplane } from '../../src/app.js';
import { INTEGRATION_TOKEN, startInProcess } from '../helpers/scaleplane.js';

describe('HTTP cache on the live system', () => {
  let app: Scaleplane;
  after(() => app?.close());

  it('caches the demo app by default_ttl, and POST /api/scalability/cache/purge clears it', async () => {
    app = await startInProcess(`
api: { listen: 127.0.0.1:0 }
balancer:
  listen: 127.0.0.1:0
  cache: { default_ttl: 60s }
groups:
  web: { command: node server.js, min_instances: 1, max_instances: 1 }
`);
    const site = `http://127.0.0.1:${app.balancerAddress!.port}`;
    const get = async () => {
      const res = await fetch(`${site}/hello`);
      return { cache: res.headers.get('x-cache'), body: await res.text() };
    };
    const first = await get();
    assert.equal(first.cache, 'MISS');
    const second = await get();
    assert.equal(second.cache, 'HIT');
    assert.equal(second.body, first.body);

    const api = `http://127.0.0.1:${app.apiAddress!.port}`;
    const res = await fetch(`${api}/api/scalability/cache/purge`, {
      method: 'POST',
      headers: { authorization: `Bearer ${INTEGRATION_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ urls: ['/hello'] }),
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { purged: 1 });
    assert.equal((await get()).cache, 'MISS');
    const entry = app.controller.journal.entries().find((e) => e.reasons.includes('CachePurge'));
    assert.equal(entry?.inputs.by, 'api-key');
  });
});
