// The provider's waits (a resize's rollout, a replacement, a roll left half-done) end after
// `timeout`. They were timed on Date.now: a step of the system clock forward (NTP, a VM resumed,
// `date -s`) failed a wait under way at once (RESIZE_FAILED, the resize reverted), a step back held
// it for as long as the step. Date.now steps forward an hour here in the middle of a resize;
// performance.now, the monotonic clock, is left alone.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KubernetesProvider } from '../../src/providers/index.js';
import { KubeServer, kubeConfig, WEB_DEPLOYMENT } from './kube-server.js';

describe('kubernetes provider: a step of the system clock', () => {
  it('forward 1 h while a resize waits for its rollout: the resize completes', async (t) => {
    // New pods take 300 ms to be Ready: the rollout is under way when the clock steps.
    const server = new KubeServer({ podReadyMs: 300 });
    await server.start();
    t.after(() => server.close());
    server.addWorkload('Deployment', 'shop', 'web', 2);
    const provider = new KubernetesProvider({
      group: 'web',
      config: { ...WEB_DEPLOYMENT, kind: 'Deployment' },
      minInstances: 1,
      maxInstances: 5,
      cpuTarget: 70,
      client: { kubeConfig: kubeConfig(server.url) },
      rolloutPoll: 50,
      rewatchDelay: 50,
      timeout: 15_000,
    });
    t.after(() => provider.close());
    await provider.start();
    await provider.scaleTo(2);
    const real = Date.now;
    const restore = () => {
      Date.now = real;
    };
    t.after(restore);
    // The first change of the pods after the PATCH (the roll's new pod): the resize's wait has begun.
    provider.once('change', () => {
      Date.now = () => real() + 3_600_000;
    });
    const outcome = await provider.resize({ cpu: 0.5, memory: 256 * 1024 * 1024 }).then(
      () => 'resized',
      (err: Error) => `failed: ${err.message}`,
    );
    const stepped = Date.now !== real;
    restore();
    assert.ok(stepped, 'the clock stepped forward during the resize');
    assert.equal(outcome, 'resized', 'the resize completes');
  });
});
