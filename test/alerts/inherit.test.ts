// A new leader takes over the alerts its predecessor sent as firing and never resolved (as the state
// store kept them) and closes, at the receiver, those that no longer hold on its own facts. Each
// kind's own resolve then works on an inherited alert as on one fired here. A local HTTP receiver
// behind a webhook sink shows what a person would see.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import {
  type Alert,
  AlertManager,
  alertKeys,
  judgeInherited,
  WebhookSink,
  watchForAlerts,
} from '../../src/alerts/index.js';
import type { JournalEntry } from '../../src/controller/journal.js';
import { MemoryProvider } from '../helpers/memory-provider.js';
import { startReceiver } from './receiver.js';

function open(key: string, group: string, details: Record<string, unknown> = {}): Alert {
  return {
    key,
    status: 'firing',
    severity: 'warning',
    summary: `${key} (sent by the old leader)`,
    group,
    details,
    startsAt: new Date(1_000).toISOString(),
    occurrences: 4,
    source: 'scaleplane',
  };
}

function policy(reasons: string[]): JournalEntry {
  return {
    seq: 1,
    time: new Date(0).toISOString(),
    group: 'web',
    source: 'policy',
    before: 4,
    after: 4,
    reasons,
    message: '4 → 4',
    inputs: {},
  };
}

describe('alerts inherited from the previous leader', () => {
  it('judgeInherited: what the new leader sees says which still hold', () => {
    const facts = { groups: new Set(['web']), healthy: (g: string) => g === 'web' };
    const sick = { groups: new Set(['web']), healthy: () => false };
    assert.match(judgeInherited(open('crash-loop:web', 'web'), facts)!, /healthy again/);
    assert.equal(judgeInherited(open('crash-loop:web', 'web'), sick), undefined);
    for (const key of ['blocked-at-max:web', 'resize:web', 'provider:web'])
      assert.equal(judgeInherited(open(key, 'web'), facts), undefined, key);
    assert.match(judgeInherited(open('metric-source:web:rps', 'web'), facts)!, /no longer fires/);
    assert.match(judgeInherited(open('unhealthy:web:web-7', 'web'), facts)!, /no longer fires/);
    assert.match(judgeInherited(open('crash-loop:gone', 'gone'), sick)!, /no longer configured/);
  });

  it('resolves at the receiver what no longer holds; the rest is closed by its own next evaluation', async (t) => {
    const receiver = await startReceiver();
    t.after(receiver.close);
    const alerts = new AlertManager({ sinks: [new WebhookSink({ url: receiver.url, retries: 0 })] });
    const provider = new MemoryProvider('web');
    const journal = new EventEmitter<{ entry: [JournalEntry] }>();
    watchForAlerts(alerts, { providers: new Map([['web', provider]]), journal });
    const mine = alertKeys.unhealthy('web', 'web-1');
    alerts.fire(mine, { summary: 'web-1 failed its health check', group: 'web' });
    await alerts.flush();
    const before = receiver.json().length;

    const facts = { groups: new Set(['web']), healthy: () => false };
    alerts.inherit(
      [
        open(mine, 'web'), // firing here too: this controller's own already
        open(alertKeys.metricSource('web', 'rps'), 'web'),
        open(alertKeys.crashLoop('web'), 'web'),
        open(alertKeys.blockedAtMax('web'), 'web'),
        open(alertKeys.provider('web'), 'web', { operation: 'patch scale' }),
        { ...open('nginx-sync', 'web'), status: 'resolved' },
      ],
      (alert) => judgeInherited(alert, facts),
    );
    await alerts.flush();
    const sent = () => receiver.json().slice(before);
    assert.deepEqual(
      sent().map((b) => [b.key, b.status]),
      [['metric-source:web:rps', 'resolved']],
      'only what no longer holds is resolved; nothing is sent firing again',
    );
    assert.equal(sent()[0]!.occurrences, 4, 'the receiver sees the alert it showed, now resolved');

    // Each inherited alert closes by its own resolve, as one fired here would.
    journal.emit('entry', policy(['WithinTolerance']));
    provider.emit('operation', { operation: 'list pods' }); // another operation: says nothing
    provider.emit('operation', { operation: 'patch scale' });
    await provider.scaleTo(1); // every wanted instance ready
    await alerts.flush();
    assert.deepEqual(
      sent().map((b) => [b.key, b.status]),
      [
        ['metric-source:web:rps', 'resolved'],
        ['blocked-at-max:web', 'resolved'],
        ['provider:web', 'resolved'],
        ['crash-loop:web', 'resolved'],
      ],
    );
    assert.equal(alerts.isFiring(mine), true);
    await alerts.close();
  });

  it('a standby inherits nothing: the leader does', async (t) => {
    const receiver = await startReceiver();
    t.after(receiver.close);
    const alerts = new AlertManager({
      sinks: [new WebhookSink({ url: receiver.url, retries: 0 })],
      notifying: false,
    });
    alerts.inherit([open(alertKeys.metricSource('web', 'rps'), 'web')], () => 'gone');
    await alerts.close();
    assert.deepEqual(receiver.json(), []);
    assert.deepEqual(alerts.active(), []);
  });
});
