// A pod terminating long past the end of its grace period (its node lost, a finalizer holding it)
// is stranded: its ReplicaSet counts it no more and replaced it. A scale does not wait on it.
// Against KubeServer (kube-server.ts), through the official client over real HTTP.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { until } from '../helpers/until.js';
import { webOnKube } from './kube-server.js';

it('a scale whose count is met does not wait on a pod stranded terminating on a lost node', async (t) => {
  const warnings: string[] = [];
  const { server, provider } = await webOnKube(t, 2, {
    options: {
      timeout: 3000,
      logger: { info() {}, warn: (_f: unknown, msg: string) => warnings.push(msg), error() {} },
    },
  });
  await provider.start();
  await until(
    () => provider.instances().filter((i) => i.state === 'ready').length === 2,
    5000,
    'the two pods of web Ready',
  );
  const lost = provider.instances()[0]!.id;
  // Its node went away 10 minutes ago: deleted then, never gone; the ReplicaSet made another.
  server.strandPod(lost, 600_000);
  await until(
    () => provider.instances().filter((i) => i.state === 'ready').length === 2,
    5000,
    'the replacement of the stranded pod Ready',
  );
  const began = Date.now();
  await provider.scaleTo(3);
  const took = Date.now() - began;
  t.diagnostic(`scale to 3 took ${took} ms beside the stranded pod`);
  assert.equal(provider.instances().filter((i) => i.state === 'ready').length, 3);
  assert.ok(
    provider.instances().some((i) => i.id === lost && i.state === 'stopping'),
    'the stranded pod is still listed, terminating',
  );
  const warning = warnings.find((w) => w.includes(lost));
  assert.match(
    warning ?? '',
    /still terminating \d+ s past its grace period \(its node lost, or a finalizer holds it\)/,
  );
});

it('a pod within its grace period is still waited for', async (t) => {
  const { server, provider } = await webOnKube(t, 3, {});
  await provider.start();
  await until(
    () => provider.instances().filter((i) => i.state === 'ready').length === 3,
    5000,
    'the three pods of web Ready',
  );
  await provider.scaleTo(2);
  assert.ok(
    !provider.instances().some((i) => i.state === 'stopping'),
    `the scale-in resolved only once the removed pod was gone: ${JSON.stringify(provider.instances())}`,
  );
  assert.equal(server.workloads.get('shop/web')!.object.spec.replicas, 2);
});

it('a resize does not wait on a pod stranded terminating on a lost node', async (t) => {
  const { server, provider } = await webOnKube(t, 2, { options: { timeout: 4000, rolloutPoll: 50 } });
  await provider.start();
  await until(
    () => provider.instances().filter((i) => i.state === 'ready').length === 2,
    5000,
    'the two pods of web Ready',
  );
  const lost = provider.instances()[0]!.id;
  server.strandPod(lost, 600_000);
  await until(
    () => provider.instances().filter((i) => i.state === 'ready').length === 2,
    5000,
    'the replacement of the stranded pod Ready',
  );
  await provider.resize({ cpu: 0.5 });
  const ready = provider.instances().filter((i) => i.state === 'ready');
  assert.equal(ready.length, 2);
  assert.ok(
    ready.every((i) => i.size?.cpu === 0.5),
    `both pods at the new size: ${JSON.stringify(ready)}`,
  );
});
