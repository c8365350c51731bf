// The kubernetes provider follows a workload's spec.replicas set by another client (`kubectl scale`,
// an HPA, the leader seen from a standby): through the official client over real HTTP against
// KubeServer (see kube-server.ts), the other client being a second client with its own token.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import type { KubernetesProviderConfig } from '../../src/config/types.js';
import { KubernetesProvider, type KubernetesProviderOptions } from '../../src/providers/index.js';
import { until } from '../helpers/until.js';
import { KubeServer, kubeConfig, WEB_DEPLOYMENT } from './kube-server.js';

interface Logged {
  warnings: string[];
  notes: string[];
}

function provider(
  t: TestContext,
  server: KubeServer,
  token: string,
  config: Partial<KubernetesProviderConfig> = {},
  extra: Partial<KubernetesProviderOptions> = {},
): { provider: KubernetesProvider; logged: Logged } {
  const logged: Logged = { warnings: [], notes: [] };
  const p = new KubernetesProvider({
    group: 'web',
    config: { ...WEB_DEPLOYMENT, ...config },
    minInstances: 1,
    maxInstances: 6,
    client: { kubeConfig: kubeConfig(server.url, token) },
    rewatchDelay: 50,
    replicasReadInterval: 20,
    timeout: 15_000,
    logger: {
      info: (_f, msg) => logged.notes.push(msg),
      warn: (_f, msg) => logged.warnings.push(msg),
      error() {},
    },
    ...extra,
  });
  t.after(() => p.close());
  return { provider: p, logged };
}

async function fake(t: TestContext, replicas: number, kind: 'Deployment' | 'StatefulSet' = 'Deployment') {
  const server = new KubeServer();
  await server.start();
  t.after(() => server.close());
  server.addWorkload(kind, 'shop', 'web', replicas);
  return server;
}

/** scaleElsewhere is `kubectl scale --replicas=N` by another client (its own token). */
async function scaleElsewhere(server: KubeServer, replicas: number): Promise<void> {
  const apps = kubeConfig(server.url, 'operator').makeApiClient(k8s.AppsV1Api);
  await apps.patchNamespacedDeploymentScale(
    { name: 'web', namespace: 'shop', body: { spec: { replicas } } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
}

/** scaleReads counts the reads of the replicas (GETs of the scale subresource) one client sent. */
const scaleReads = (server: KubeServer, token = 'leader') =>
  server.requests.filter((r) => r.method === 'GET' && r.path.endsWith('/scale') && r.token === token).length;

const ready = (p: KubernetesProvider) => p.instances().filter((i) => i.state === 'ready').length;

describe('kubernetes provider: replicas set by another client', () => {
  it('kubectl scale 2 → 4 while nothing runs: desired() follows, warned once, with a change event; a standby only notes it', async (t) => {
    // Before, desired() kept the replicas read at start until this process's next scale.
    const server = await fake(t, 2);
    const { provider: leader, logged } = provider(t, server, 'leader');
    const { provider: standby, logged: standbyLogged } = provider(t, server, 'standby');
    await leader.start();
    await standby.observe();
    await until(() => ready(leader) === 2 && ready(standby) === 2, 5000, '2 Ready pods');
    const seen: number[] = [];
    leader.on('change', () => seen.push(leader.desired()));
    const changed = Date.now();
    // Counted before the change: under load the new pods' Ready events (and the read they send) can
    // come before desired() is seen to follow, and a count taken then waited for a read already made.
    const sent = scaleReads(server);
    await scaleElsewhere(server, 4);
    await until(() => leader.desired() === 4 && standby.desired() === 4, 5000, 'desired() follows');
    t.diagnostic(`desired() followed ${Date.now() - changed} ms after the other client's scale`);
    assert.ok(seen.includes(4), `a change event with desired() 4 (saw ${seen.join(',')})`);
    // The pods' Ready events send one more read; the warning stays one.
    await until(() => ready(leader) === 4, 5000, '4 Ready pods');
    await until(() => scaleReads(server) > sent, 5000, 'a read after the change');
    assert.deepEqual(logged.warnings, [
      'Deployment shop/web: replicas is 4, set by another client (it was 2); desired is 4 now',
    ]);
    assert.deepEqual(standbyLogged.warnings, []);
    assert.deepEqual(
      standbyLogged.notes.filter((m) => m.includes('replicas')),
      ['Deployment shop/web: replicas is 4 (it was 2); desired is 4 now'],
    );
    assert.equal(server.workloads.get('shop/web')!.object.spec.replicas, 4, 'nothing written back');
    assert.ok(
      !server.requests.some((r) => r.method === 'PATCH' && r.token !== 'operator'),
      'no scale by the providers',
    );
  });

  it('mode hpa: desired() follows the HPA scaling the workload, noted as info (the HPA owns replicas)', async (t) => {
    const server = await fake(t, 2);
    const { provider: p, logged } = provider(t, server, 'leader', { mode: 'hpa' });
    await p.start();
    await scaleElsewhere(server, 3);
    await until(() => p.desired() === 3, 5000, 'desired() follows the HPA');
    assert.deepEqual(logged.warnings, []);
    assert.deepEqual(
      logged.notes.filter((m) => m.includes('replicas')),
      ['Deployment shop/web: replicas is 3 (it was 2); desired is 3 now'],
    );
  });

  it('its own scaleTo(3), with a read sent before the write and answered after it, never warns nor flips desired() back', async (t) => {
    const server = await fake(t, 1);
    const { provider: p, logged } = provider(t, server, 'leader', {}, { replicasReadInterval: 5 });
    await p.start();
    await until(() => ready(p) === 1, 5000, 'the first pod Ready');
    const seen: number[] = [];
    p.on('change', () => seen.push(p.desired()));
    // A read answered 300 ms late with replicas 1, what it found when it arrived: before our write.
    server.scaleReadLagMs = 300;
    const sent = scaleReads(server);
    const answered = server.scaleReadsAnswered;
    // Any pod event sends a read: the operator deletes the pod, the Deployment recreates it.
    const core = kubeConfig(server.url, 'operator').makeApiClient(k8s.CoreV1Api);
    await core.deleteNamespacedPod({ name: p.instances()[0]!.id, namespace: 'shop' });
    await until(() => scaleReads(server) > sent, 5000, 'a read of the replicas sent');
    await p.scaleTo(3);
    server.scaleReadLagMs = 0;
    await until(() => server.scaleReadsAnswered > answered, 5000, 'the late read answered');
    // The new pods' events came while it was out: one more read follows, sent once it was taken in.
    await until(() => scaleReads(server) > sent + 1, 5000, 'a read after the late one');
    assert.deepEqual(logged.warnings, []);
    assert.equal(p.desired(), 3);
    const first = seen.indexOf(3);
    assert.ok(first >= 0, `a change event with desired() 3 (saw ${seen.join(',')})`);
    assert.deepEqual(
      seen.slice(first).filter((d) => d !== 3),
      [],
      `desired() stayed 3 (saw ${seen.join(',')})`,
    );
  });

  it('a scaleTo(5) during which another client sets 2 ends at once with desired 2, warning with both numbers', async (t) => {
    const server = await fake(t, 2);
    const { provider: p, logged } = provider(t, server, 'leader');
    await p.start();
    await until(() => ready(p) === 2, 5000, '2 Ready pods');
    // The three new pods never pass their readiness probe: alone, scaleTo(5) would wait 15 s.
    server.podsBecomeReady = false;
    const scaling = p.scaleTo(5);
    await until(() => p.desired() === 5, 5000, 'the scale to 5 written');
    const changed = Date.now();
    await scaleElsewhere(server, 2);
    await scaling;
    const waited = Date.now() - changed;
    t.diagnostic(`scaleTo(5) resolved ${waited} ms after the other client set 2 (timeout 15 s)`);
    assert.ok(waited < 5000, `ended after ${waited} ms`);
    assert.equal(p.desired(), 2);
    assert.equal(logged.warnings.length, 1, logged.warnings.join('\n'));
    assert.match(
      logged.warnings[0]!,
      /^Deployment shop\/web: replicas is 2, set by another client while scaling to 5 \(.*\); not waiting for 5 any more; desired is 2 now$/,
    );
  });
});

describe('kubernetes provider: the Deployment is watched, and watches outlive API failures', () => {
  it('kubectl scale 2 → 4 that creates no pod (a ResourceQuota refuses them) is followed at once: the Deployment itself is watched', async (t) => {
    // Before, only pod events sent a read of the replicas: with no pod created, desired() stayed 2.
    const server = await fake(t, 2);
    server.podQuota = 2;
    const { provider: p, logged } = provider(t, server, 'leader');
    await p.start();
    await until(() => ready(p) === 2, 5000, '2 Ready pods');
    const changed = Date.now();
    await scaleElsewhere(server, 4);
    await until(() => p.desired() === 4, 2000, 'desired() follows with no pod event');
    t.diagnostic(`desired() followed ${Date.now() - changed} ms after the other client's scale`);
    assert.equal(p.instances().length, 2, 'no pod was created');
    assert.deepEqual(logged.warnings, [
      'Deployment shop/web: replicas is 4, set by another client (it was 2); desired is 4 now',
    ]);
    assert.ok(
      !server.requests.some((r) => r.method === 'PATCH' && r.token === 'leader'),
      'nothing written back',
    );
    const watches = server.requests.filter((r) => r.path === '/apis/apps/v1/namespaces/shop/deployments');
    assert.deepEqual(
      watches.map((r) => [r.query.watch, r.query.fieldSelector]),
      [['true', 'metadata.name=web']],
    );
  });

  it('a network failure mid-watch: reported, re-listed with a growing backoff while the API is down, and followed again once it is back', async (t) => {
    // Before, the first re-list that failed ended the pods watch for good: instances() stale for ever.
    const server = await fake(t, 2);
    const { provider: p } = provider(t, server, 'leader');
    const errors: string[] = [];
    p.on('error', (err) => errors.push(err.message));
    await p.start();
    await until(() => ready(p) === 2, 5000, '2 Ready pods');
    const down = Date.now();
    server.disconnect();
    const lists = () =>
      server.arrivals.filter((at, i) => {
        const r = server.requests[i]!;
        return (
          at >= down &&
          r.token === 'leader' &&
          r.path === '/api/v1/namespaces/shop/pods' &&
          r.query.watch !== 'true'
        );
      });
    await until(() => lists().length >= 4, 5000, 'four lists tried while the API is down');
    const at = lists();
    const gaps = at.slice(1).map((a, i) => a - at[i]!);
    t.diagnostic(`gaps between the failed lists: ${gaps.join(', ')} ms (base 50 ms)`);
    assert.ok(gaps.at(-1)! >= 150, `the backoff grows (gaps ${gaps.join(', ')} ms)`);
    // Each failure reported once, naming the watch and the reason: the watch's own, or its re-list's
    // (and a read of the replicas a pod event sent before the outage, answered during it).
    const shape =
      /^Deployment shop\/web: (pods|Deployment) watch failed \((Premature close|(list: )?request to \S+ failed, reason: socket hang up)\); watching again in \d+ ms \(attempt \d+\)$/;
    const read = /^Deployment shop\/web: read scale failed: request to \S+ failed, reason: socket hang up$/;
    assert.deepEqual(
      errors.filter((m) => !shape.test(m) && !read.test(m)),
      [],
    );
    assert.ok(
      errors.some((m) => m.includes('pods watch failed (list: ')),
      "errors.some((m) => m.includes('pods watch failed (list: '))",
    );
    assert.ok(
      errors.some((m) => m.includes('Deployment watch failed (request to ')),
      "errors.some((m) => m.includes('Deployment watch failed (request to '))",
    );
    server.reconnect();
    await scaleElsewhere(server, 4);
    await until(() => ready(p) === 4 && p.desired() === 4, 5000, 'the pods followed again after the outage');
  });

  it('an API server that goes silent while the watches re-open: each re-open fails after requestTimeout, reported and tried again; once it answers, both watches follow again', {
    timeout: 30_000,
  }, async (t) => {
    // Before: the client gives a watch's request no timeout, so the Deployment watch re-opened during
    // the silence waited for its headers for ever: never reported again, never re-opened, and a
    // kubectl scale that creates no pod was not followed after the API server came back.
    const server = await fake(t, 2);
    server.podQuota = 2;
    const { provider: p } = provider(t, server, 'leader', {}, { requestTimeout: 300 });
    const errors: string[] = [];
    p.on('error', (err) => errors.push(err.message));
    const outcomes: string[] = [];
    p.on('operation', (o) => outcomes.push(`${o.operation}${o.error ? '!' : ''}`));
    await p.start();
    await until(() => ready(p) === 2, 5000, '2 Ready pods');
    // A paused API server: open watches cut, every request after that read and never answered.
    server.silent = true;
    server.disconnect();
    server.reconnect();
    await until(
      () =>
        errors.some((m) => /Deployment watch failed \(no answer within 0\.3 s \(request timeout\)\)/.test(m)),
      10_000,
      'the silent Deployment watch reported',
    );
    await until(
      () => errors.some((m) => /pods watch failed \(list: no answer within 0\.3 s/.test(m)),
      10_000,
      'the silent pods list reported',
    );
    const answering = outcomes.length;
    server.silent = false;
    await until(
      () => outcomes.slice(answering).includes('Deployment watch'),
      10_000,
      'the Deployment watch open again',
    );
    await scaleElsewhere(server, 4);
    await until(() => p.desired() === 4, 5000, 'a scale that creates no pod followed again');
    assert.equal(p.instances().length, 2, 'no pod was created: the Deployment watch saw it');
  });

  it('watches whose connection goes half-open (nothing more arrives, not even their end) are aborted past their timeoutSeconds, reported, and opened again', {
    timeout: 30_000,
  }, async (t) => {
    // Before: no timeoutSeconds and no deadline, so a stalled watch looked open for good: pods created
    // and a kubectl scale after the stall were never seen (instances() and desired() stale for ever).
    const server = await fake(t, 2);
    const { provider: p } = provider(t, server, 'leader', {}, { watchTimeout: 1000, requestTimeout: 300 });
    const errors: string[] = [];
    p.on('error', (err) => errors.push(err.message));
    await p.start();
    await until(() => ready(p) === 2, 5000, '2 Ready pods');
    const watches = server.requests.filter((r) => r.query.watch === 'true');
    assert.deepEqual(
      watches.map((r) => r.query.timeoutSeconds),
      ['1', '1'],
      'each watch asks the API server to end it after watchTimeout',
    );
    server.stallWatches();
    await scaleElsewhere(server, 4);
    await until(
      () => ready(p) === 4 && p.desired() === 4,
      10_000,
      'the pods and replicas followed after the stall',
    );
    const stalled = errors.filter((m) => m.includes('(a stalled connection)'));
    assert.ok(
      stalled.some((m) =>
        /^Deployment shop\/web: pods watch failed \(still open 1\.3 s after it began, past its timeoutSeconds \(a stalled connection\)\); watching again in \d+ ms \(attempt \d+\)$/.test(
          m,
        ),
      ),
      errors.join('\n'),
    );
    assert.ok(
      stalled.some((m) => m.includes('Deployment watch failed (still open')),
      errors.join('\n'),
    );
  });
});
