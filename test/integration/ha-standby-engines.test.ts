// Acceptance: a standby's balancer serves a kubernetes group. Two whole Scaleplanes in this process
// on one config with a Redis lease, each with its own kubeconfig (its own bearer token) for the
// fake API server (test/providers/kube-server.ts: no cluster runs here). The fake gives each Ready
// pod a loopback IP (127.0.0.n) where a real HTTP server answers on the container port, and a pod
// it deletes keeps serving for its termination grace, then answers 503. Steady GET load goes to
// the standby's balancer: it serves from the leader's pods, follows the leader's scale-out and
// scale-in with 0 non-2xx, and made nothing but GET requests; closing the leader hands the lease
// over and the load through the takeover stays 2xx, after which the same controller scales.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Scaleplane } from '../../src/app.js';
import { startLoad } from '../helpers/load.js';
import { startInProcess } from '../helpers/scaleplane.js';
import { dropRedisState, REDIS_URL } from '../helpers/shared-stores.js';
import { until } from '../helpers/until.js';
import { KubeServer } from '../providers/kube-server.js';

/** Pods get 127.0.0.2 … 127.0.0.(1 + POD_IPS). */
const POD_IPS = 24;
/** How long a deleted pod keeps serving: far below Kubernetes' default 30 s, far above a watch event's delay. */
const GRACE_MS = 300;

describe('a standby balancer serves a kubernetes group (two controllers, Redis lease)', () => {
  const name = `ha_engines_${randomBytes(3).toString('hex')}`;
  const backends: Server[] = [];
  /** Answers per pod IP. */
  const hits = new Map<string, number>();
  /** For each request a terminating pod answered: how long after its deletionTimestamp (ms). */
  const lateMs: number[] = [];
  let port = 0;
  let dir = '';
  const kube = new KubeServer({ podReadyMs: 50, terminationGraceMs: GRACE_MS, podIp: (n) => `127.0.0.${n}` });
  const apps: Scaleplane[] = [];

  before(async () => {
    // One server per pod IP, all on the same port (the container port).
    for (let n = 2; n < 2 + POD_IPS; n++) {
      const ip = `127.0.0.${n}`;
      const server = createServer((req, res) => {
        // A pod the fake no longer lists (deleted, grace over) is gone: nothing of it answers 2xx.
        const pod = [...kube.pods.values()].find((p) => p.status?.podIP === ip);
        if (!pod) {
          res.writeHead(503).end('pod gone');
          return;
        }
        if (req.url !== '/healthz') {
          hits.set(ip, (hits.get(ip) ?? 0) + 1);
          const deleted = pod.metadata.deletionTimestamp;
          if (deleted) lateMs.push(Date.now() - Date.parse(deleted));
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ip }));
      });
      server.listen(port, ip);
      await once(server, 'listening');
      port = (server.address() as AddressInfo).port;
      backends.push(server);
    }
    await kube.start();
    kube.addWorkload('Deployment', 'shop', 'web', 2);
    dir = await mkdtemp(join(tmpdir(), 'scaleplane-engines-'));
  });

  after(async () => {
    await Promise.all(apps.map((a) => a.close()));
    await kube.close();
    for (const b of backends) b.closeAllConnections();
    await Promise.all(backends.map((b) => new Promise((r) => b.close(r))));
    await dropRedisState(name);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** start runs one controller whose kubeconfig carries `token`. */
  async function start(token: string): Promise<Scaleplane> {
    const kubeconfig = join(dir, `${token}.kubeconfig`);
    await writeFile(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'fake', cluster: { server: kube.url, 'insecure-skip-tls-verify': true } }],
        users: [{ name: token, user: { token } }],
        contexts: [{ name: 'fake', context: { cluster: 'fake', user: token, namespace: 'shop' } }],
        'current-context': 'fake',
      }),
    );
    const app = await startInProcess(`
api: { listen: 127.0.0.1:0 }
balancer: { listen: 127.0.0.1:0, health: { path: /healthz, interval: 1s } }
controller:
  lease: { backend: redis, url: "${REDIS_URL}", ttl: 3000ms, name: ${name} }
groups:
  web:
    provider: kubernetes
    namespace: shop
    name: web
    port: ${port}
    kubeconfig: ${kubeconfig}
    min_instances: 1
    max_instances: 6
`);
    apps.push(app);
    return app;
  }

  const readyPods = () =>
    [...kube.pods.values()].filter(
      (p) =>
        !p.metadata.deletionTimestamp &&
        p.status?.conditions?.some(
          (c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True',
        ),
    );

  it('serves from the Ready pods, follows scaling, writes nothing, and takes over with 0 non-2xx', async () => {
    const leader = await start('leader-a');
    assert.equal(leader.controller.leading, true);
    const standby = await start('standby-b');
    assert.equal(standby.controller.leading, false);
    const load = startLoad({
      url: `http://127.0.0.1:${standby.balancerAddress!.port}/`,
      concurrency: 3,
      maxDurationMs: 60_000,
    });
    try {
      await load.reached(200);
      assert.equal(load.result.ok, load.result.ok + load.result.non2xx + load.result.errors, 'all 2xx');
      const first = readyPods().map((p) => p.status.podIP as string);
      assert.equal(first.length, 2);
      assert.deepEqual([...hits.keys()].sort(), [...first].sort(), 'the standby serves from both pods');

      leader.controller.scale('web', 'set', 4);
      await until(() => readyPods().length === 4, 10_000, '4 Ready pods');
      hits.clear();
      await until(() => hits.size === 4, 10_000, 'the standby serving from 4 pods');

      leader.controller.scale('web', 'set', 2);
      await until(() => kube.pods.size === 2, 10_000, 'the 2 removed pods gone');
      hits.clear();
      await load.reached(200);
      assert.equal(hits.size, 2, 'after the scale-in, the standby serves from the 2 pods left');

      const mine = kube.requests.filter((r) => r.token === 'standby-b');
      assert.ok(
        mine.some((r) => r.query.watch === 'true'),
        'the standby watched the pods',
      );
      assert.deepEqual(
        mine.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`),
        [],
        'the standby made no write request',
      );
      assert.ok(
        kube.requests.some((r) => r.token === 'leader-a' && r.method === 'PATCH'),
        "kube.requests.some((r) => r.token === 'leader-a' && r.method === 'PATCH')",
      );

      // Takeover: the leader steps down (releasing the lease); the standby leads on the same watch.
      const lists = () =>
        kube.requests.filter(
          (r) => r.token === 'standby-b' && r.path.endsWith('/pods') && r.query.watch !== 'true',
        ).length;
      const listed = lists();
      await leader.close();
      await until(() => standby.controller.leading, 10_000, 'the standby leads');
      await load.reached(200);
      assert.equal(lists(), listed, 'no new list: the watch the standby had goes on');
      standby.controller.scale('web', 'set', 3);
      await until(() => readyPods().length === 3, 10_000, '3 Ready pods, scaled by the new leader');
      assert.ok(
        kube.requests.some((r) => r.token === 'standby-b' && r.method === 'PATCH'),
        "kube.requests.some((r) => r.token === 'standby-b' && r.method === 'PATCH')",
      );
      hits.clear();
      await until(() => hits.size === 3, 10_000, 'serving from 3 pods');
    } finally {
      const result = await load.stop();
      console.log(
        `[kubernetes standby] ${result.ok} × 2xx, ${result.non2xx} non-2xx ${JSON.stringify(result.statuses)}, ${result.errors} errors ${JSON.stringify(result.errorCodes)} through the standby (scale 2→4→2, takeover, 2→3); ` +
          `${lateMs.length} answered by a terminating pod (sent before the watch event reached the standby), at most ${Math.max(0, ...lateMs)} ms after its deletionTimestamp`,
      );
      assert.equal(result.non2xx, 0);
      assert.equal(result.errors, 0);
    }
  });
});
