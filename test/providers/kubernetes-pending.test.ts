// A scale whose new pods no node fits: they stay Pending without an IP (until cluster-autoscaler
// adds a node). The timeout's message counts them and gives the scheduler's reason. Against
// KubeServer (kube-server.ts), through the official client over real HTTP.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ProviderError } from '../../src/providers/index.js';
import { until } from '../helpers/until.js';
import { webOnKube } from './kube-server.js';

it("scaleTo that times out on unschedulable pods names them and the scheduler's reason", async (t) => {
  const { server, provider } = await webOnKube(t, 1, { options: { timeout: 1500 } });
  await provider.start();
  await until(() => provider.instances()[0]?.state === 'ready', 5000, 'the first pod Ready');
  server.unschedulable = '0/3 nodes are available: 3 Insufficient cpu.';
  await assert.rejects(provider.scaleTo(3), (err: unknown) => {
    assert.ok(err instanceof ProviderError, 'a ProviderError');
    assert.equal(err.code, 'API_ERROR');
    t.diagnostic(err.message);
    // Before: "(1 of 3 pods Ready, 0 not Ready, 0 terminating)": the two Pending pods unmentioned.
    assert.equal(
      err.message,
      'Deployment shop/web: scale to 3 not done within 1.5 s (1 of 3 pods Ready, 0 not Ready, 0 terminating, 2 Pending without an IP: PodScheduled False Unschedulable: 0/3 nodes are available: 3 Insufficient cpu.)',
    );
    return true;
  });
});
