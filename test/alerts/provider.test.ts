// Acceptance: `provider:<group>` fires when a group's provider keeps failing and resolves when it
// succeeds again, delivered to a real webhook receiver. The provider is the Kubernetes one driving
// the official client over HTTP against KubeServer (test/providers/kube-server.ts: no cluster runs
// on these machines), which answers 403 as RBAC does and plays a network failure. The rule's clock
// is injected, so "30 s of failures" takes no 30 s.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it, type TestContext } from 'node:test';
import { AlertManager, alertKeys, WebhookSink, watchForAlerts } from '../../src/alerts/index.js';
import type { JournalEntry } from '../../src/controller/index.js';
import { KubernetesProvider } from '../../src/providers/index.js';
import { MemoryProvider } from '../helpers/memory-provider.js';
import { KubeServer, kubeConfig, WEB_DEPLOYMENT } from '../providers/kube-server.js';
import { startReceiver } from './receiver.js';

/** setup runs KubeServer with Deployment shop/web at 1, its provider, and alerts to a webhook receiver. */
async function setup(t: TestContext, now: () => number) {
  const server = new KubeServer();
  await server.start();
  t.after(() => server.close());
  server.addWorkload('Deployment', 'shop', 'web', 1);
  const provider = new KubernetesProvider({
    group: 'web',
    config: WEB_DEPLOYMENT,
    minInstances: 1,
    maxInstances: 5,
    cpuTarget: 70,
    client: { kubeConfig: kubeConfig(server.url) },
    rolloutPoll: 50,
    rewatchDelay: 50,
    timeout: 15_000,
  });
  provider.on('error', () => {}); // background failures are what this test causes
  t.after(() => provider.close());
  const receiver = await startReceiver();
  t.after(() => receiver.close());
  const alerts = new AlertManager({ sinks: [new WebhookSink({ url: receiver.url, retries: 2 })] });
  t.after(() => alerts.close());
  const journal = new EventEmitter<{ entry: [JournalEntry] }>();
  watchForAlerts(alerts, { providers: new Map([['web', provider]]), journal }, { now });
  await provider.start();
  return { server, provider, receiver, alerts };
}

describe('provider alert (kubernetes, official client)', () => {
  it('403 on every scale write: not on the first two, fires on the third 30 s on, resolves on the write that succeeds', async (t) => {
    let clock = 1_000_000;
    const { server, provider, receiver, alerts } = await setup(t, () => clock);
    const key = alertKeys.provider('web');
    server.forbid = (method, path) => method === 'PATCH' && path.endsWith('/scale');
    for (const step of [1, 2, 3]) {
      await assert.rejects(provider.scaleTo(2), { code: 'API_ERROR' });
      assert.equal(alerts.isFiring(key), step === 3, `after failure ${step}`);
      clock += 15_000;
    }
    await receiver.waitFor(1);
    const [firing] = receiver.json();
    assert.equal(firing!.key, 'provider:web');
    assert.equal(firing!.status, 'firing');
    assert.equal(firing!.severity, 'warning');
    assert.equal(firing!.group, 'web');
    assert.equal(
      firing!.summary,
      'group web: kubernetes provider failing: patch scale failed 3 times in a row over 30 s: ' +
        'Deployment shop/web: patch scale failed: 403 Forbidden: web/scale is forbidden: ' +
        'User "system:serviceaccount:shop:scaleplane" cannot patch it',
    );
    const details = firing!.details as Record<string, unknown>;
    assert.deepEqual(
      [details.provider, details.operation, details.failures, details.since],
      ['kubernetes', 'patch scale', 3, new Date(1_000_000).toISOString()],
    );

    server.forbid = undefined;
    await provider.scaleTo(1);
    await receiver.waitFor(2);
    const resolved = receiver.json()[1]!;
    assert.equal(resolved.key, 'provider:web');
    assert.equal(resolved.status, 'resolved');
    assert.equal(
      resolved.summary,
      'group web: kubernetes provider recovered: patch scale succeeded after 3 failures in a row',
    );
    assert.equal(alerts.isFiring(key), false);
  });

  it('network down: the watches fail again and again and fire it; back up, they re-open and resolve it', async (t) => {
    // Every operation outcome is 10 s after the one before: retries in a row span "30 s" quickly.
    let clock = 1_000_000;
    const { server, receiver, alerts } = await setup(t, () => (clock += 10_000));
    const key = alertKeys.provider('web');
    server.disconnect();
    await receiver.waitFor(1);
    const [firing] = receiver.json();
    assert.equal(firing!.key, 'provider:web');
    assert.equal(firing!.status, 'firing');
    // The pods watch re-lists before it watches again, so the list and the Deployment watch repeat.
    assert.match(
      String(firing!.summary),
      /^group web: kubernetes provider failing: (list pods|Deployment watch) failed \d+ times in a row over \d+ s: Deployment shop\/web: \1 failed/,
    );
    server.reconnect();
    await receiver.waitFor(2);
    const resolved = receiver.json()[1]!;
    assert.equal(resolved.status, 'resolved');
    assert.match(
      String(resolved.summary),
      /kubernetes provider recovered: .* succeeded after \d+ failures in a row/,
    );
    assert.equal(alerts.isFiring(key), false);
    assert.equal(receiver.received.length, 2, 'one firing, one resolve');
  });
});

// The rule's default clock: the outcomes are emitted by a memory provider, as any provider emits them.
describe('provider alert clock', () => {
  it('a step back of the system clock during a failure streak does not keep it from firing', async (t) => {
    // The step is made by replacing Date.now before the watch is set up (a default taken as a
    // function reference sees it, as it sees a real one); performance.now is left alone. The rule
    // asks for 3 failures over 50 ms, so the test need not wait 30 s.
    const real = Date.now;
    let step = 0;
    Date.now = () => real() + step;
    t.after(() => {
      Date.now = real;
    });
    const provider = new MemoryProvider('web');
    const alerts = new AlertManager();
    t.after(() => alerts.close());
    const journal = new EventEmitter<{ entry: [JournalEntry] }>();
    watchForAlerts(
      alerts,
      { providers: new Map([['web', provider]]), journal },
      { providerFailure: { after: 50, minFailures: 3 } },
    );
    const fail = () =>
      provider.emit('operation', { operation: 'patch scale', error: new Error('403 Forbidden') });
    fail();
    step = -3600_000;
    const since = performance.now();
    while (performance.now() - since < 60) await new Promise((r) => setTimeout(r, 20));
    fail();
    fail();
    assert.equal(
      alerts.isFiring(alertKeys.provider('web')),
      true,
      '3 failures in a row over 60 ms (rule: 3 over 50 ms) fired nothing once the clock stepped back 1 h',
    );
  });
});
