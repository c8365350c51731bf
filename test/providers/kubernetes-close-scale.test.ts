// A close that lands while a scale's PATCH is on its way: close() ends the waits for a scale that
// are running (the count is written; Kubernetes carries it out), but the scale whose answer came
// after it began a wait no close would end, and hung until its timeout (the StatefulSet roll cases
// spent 60 s there). Against KubeServer (kube-server.ts: no cluster runs on these machines),
// through the official client over real HTTP.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { until } from '../helpers/until.js';
import { webOnKube } from './kube-server.js';

it('a scale answered after close() ends with it, not at its timeout', async (t) => {
  const { server, provider } = await webOnKube(t, 2, { options: { timeout: 600_000 } });
  await provider.start();
  let release!: () => void;
  let held = false;
  server.hold = (method, path) => {
    if (method !== 'PATCH' || !path.endsWith('/deployments/web/scale')) return undefined;
    held = true;
    return new Promise<void>((resolve) => {
      release = resolve;
    });
  };
  // Pods never Ready: the scale to 4 could only end by its 10-minute timeout, or by the close.
  server.podsBecomeReady = false;
  let settled: string | undefined;
  const scaling = provider.scaleTo(4).then(
    () => (settled = 'resolved'),
    (err: Error & { code?: string }) => (settled = `rejected ${err.code}`),
  );
  await until(() => held, 10_000, 'the PATCH of the scale to 4 held');
  await provider.close();
  release();
  await until(() => settled !== undefined, 10_000, 'the scale settled after the close').catch(
    (err: Error) => {
      throw new Error(`${err.message}: it still waits for 4 Ready pods, as it would for 600 s`);
    },
  );
  await scaling;
  assert.equal(server.workloads.get('shop/web')!.object.spec.replicas, 4, 'the count was written');
  assert.equal(settled, 'resolved', 'ended as close() ends the waits already running: the count is written');
});
