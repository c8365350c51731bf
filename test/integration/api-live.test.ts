// Acceptance: a scale-out through the control API gives ready instances that the balancer sends
// traffic to, on the real system (local processes, real balancer).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Scaleplane } from '../../src/app.js';
import { settled, startInProcess } from '../helpers/scaleplane.js';

describe('control API on the live system', () => {
  let app: Scaleplane;
  after(() => app?.close());

  it('scale-out 2 → new instances ready within 10 s and serving', async () => {
    app = await startInProcess(`
api: { listen: 127.0.0.1:0 }
balancer: { listen: 127.0.0.1:0, algorithm: round-robin }
groups:
  web: { command: node server.js, min_instances: 1, max_instances: 5 }
`);
    const api = `http://127.0.0.1:${app.apiAddress!.port}`;
    const res = await fetch(`${api}/api/scalability/scale-group`, {
      method: 'POST',
      headers: { authorization: 'Bearer integration-token', 'content-type': 'application/json' },
      body: JSON.stringify({ group: 'web', action: 'scale-out', instances: 2 }),
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { group: 'web', previous: 1, desired: 3 });
    const started = Date.now();
    await settled(app, 'web', 3, 10_000);
    console.log(`3 instances ready ${Date.now() - started} ms after the API call`);

    const status = (await (
      await fetch(`${api}/api/scalability/groups/web`, {
        headers: { authorization: 'Bearer integration-token' },
      })
    ).json()) as { instances: { address: string; state: string; health: string }[] };
    assert.deepEqual(
      status.instances.map((i) => [i.state, i.health]),
      [
        ['ready', 'healthy'],
        ['ready', 'healthy'],
        ['ready', 'healthy'],
      ],
    );
    // Round-robin over three: nine requests reach every instance (the demo answers with its port).
    const ports = new Set<number>();
    for (let i = 0; i < 9; i++) {
      const body = (await (await fetch(`http://127.0.0.1:${app.balancerAddress!.port}/`)).json()) as {
        port: number;
      };
      ports.add(body.port);
    }
    assert.deepEqual([...ports].sort(), status.instances.map((i) => Number(i.address.split(':')[1])).sort());
  });
});
