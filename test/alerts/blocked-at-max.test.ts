// blocked-at-max end to end: a real GroupController on a journal, watchForAlerts, a webhook sink
// and a local HTTP receiver. The load climbs past what max_instances allows, then falls back to
// exactly max's worth: the group stays at max, no longer held back. Before, nothing was journaled
// on that second step, so the receiver kept the alert open for as long as the group sat at max.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AlertManager, alertKeys, WebhookSink, watchForAlerts } from '../../src/alerts/index.js';
import { DecisionJournal, GroupController } from '../../src/controller/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { groupConfig } from '../helpers/group-config.js';
import { MemoryProvider } from '../helpers/memory-provider.js';
import { startReceiver } from './receiver.js';

const silent = { info() {}, warn() {}, error() {} };

function setup(cpu: { value: number; blind?: boolean }, journal = new DecisionJournal()) {
  const group = new GroupController({
    config: groupConfig({
      maxInstances: 4,
      scaling: {
        metrics: [{ type: 'cpu', target: 50 }],
        tolerance: 0.1,
        scaleDownStabilization: 0,
        scaleUpStabilization: 0,
        metricWindow: 1_000,
      },
    }),
    provider: new MemoryProvider('web'),
    journal,
    metrics: createMetrics({ defaultMetrics: false }),
    logger: silent,
    readMetrics: (instances) => [
      { name: 'cpu', target: 50, values: cpu.blind ? [] : instances.map(() => cpu.value) },
    ],
  });
  return { group, journal };
}

describe('blocked-at-max: a group that stays at max once the load fits', () => {
  it('resolves the alert at the receiver; a missing metric resolves nothing', async (t) => {
    const receiver = await startReceiver();
    t.after(receiver.close);
    const alerts = new AlertManager({ sinks: [new WebhookSink({ url: receiver.url, retries: 0 })] });
    const cpu: { value: number; blind?: boolean } = { value: 50 };
    const { group, journal } = setup(cpu);
    watchForAlerts(alerts, { providers: new Map(), journal });
    const key = alertKeys.blockedAtMax('web');
    await group.start(0, 4);

    cpu.value = 100; // 4 × 100 / 50: wants 8, max is 4
    group.evaluate(1_000);
    assert.equal(alerts.isFiring(key), true);

    cpu.blind = true; // no sample: says nothing about the load
    const blind = group.evaluate(2_000);
    assert.equal(blind, undefined);
    assert.equal(alerts.isFiring(key), true, 'a blind decision must not resolve it');

    cpu.blind = false;
    cpu.value = 50; // exactly 4 instances' worth: stays at 4, no longer held back
    const released = group.evaluate(3_000);
    assert.deepEqual([released?.before, released?.after], [4, 4]);
    assert.equal(alerts.isFiring(key), false, 'resolved by the release');
    assert.equal(group.evaluate(4_000), undefined, 'journaled once');

    await alerts.close();
    const bodies = receiver.json().filter((b) => b.key === key);
    assert.deepEqual(
      bodies.map((b) => b.status),
      ['firing', 'resolved'],
    );
    assert.match(String(bodies[1]!.summary), /no limit holds the group back any more/);
  });

  it('a successor restoring the journal neither repeats the notice nor misses its release', async () => {
    const cpu = { value: 100 };
    const first = setup(cpu);
    await first.group.start(0, 4);
    const notice = first.group.evaluate(1_000);
    assert.ok(notice?.reasons.includes('TooManyReplicas'), "notice?.reasons.includes('TooManyReplicas')");

    // The successor (a new leader, or a restart) starts from the persisted journal.
    const journal = new DecisionJournal();
    journal.restore(first.journal.entries());
    const next = setup(cpu, journal);
    await next.group.start(10_000, 4);
    assert.equal(next.group.evaluate(11_000), undefined, 'still held: not journaled again');
    cpu.value = 50;
    const released = next.group.evaluate(12_000);
    assert.deepEqual([released?.before, released?.after, released?.source], [4, 4, 'policy']);
    assert.ok(
      !released?.reasons.includes('TooManyReplicas'),
      "!released?.reasons.includes('TooManyReplicas')",
    );
  });
});
