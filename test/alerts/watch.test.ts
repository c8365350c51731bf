import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { type Alert, AlertManager, alertKeys, WebhookSink, watchForAlerts } from '../../src/alerts/index.js';
import type { JournalEntry } from '../../src/controller/journal.js';
import { startReceiver } from './receiver.js';

function entry(source: JournalEntry['source'], reasons: string[], before = 3, after = 3): JournalEntry {
  return {
    seq: 0,
    time: new Date(0).toISOString(),
    group: 'web',
    source,
    before,
    after,
    reasons,
    message: `${before} → ${after}`,
    inputs: { prenormalized: 5 },
  };
}

describe('blocked-at-max alert', () => {
  it('stays firing through entries that are not policy decisions, and resolves on the next one', () => {
    const alerts = new AlertManager();
    const journal = new EventEmitter<{ entry: [JournalEntry] }>();
    watchForAlerts(alerts, { providers: new Map(), journal });
    const key = alertKeys.blockedAtMax('web');

    journal.emit('entry', entry('policy', ['AboveTarget', 'TooManyReplicas'], 2, 3));
    assert.equal(alerts.isFiring(key), true);
    // An instance replaced, a manual change, a learnt start-up: the policy still wants 5 of max 3.
    journal.emit('entry', entry('health', ['Unhealthy']));
    journal.emit('entry', entry('api', ['ManualScale'], 3, 2));
    journal.emit('entry', entry('policy', ['StartupLearnt']));
    assert.equal(alerts.isFiring(key), true);
    alerts.resolve(key);
    // A start (or reload) that lowered a count to max says TooManyReplicas about a count, not the load.
    journal.emit('entry', entry('startup', ['Adopted', 'TooManyReplicas'], 7, 3));
    assert.equal(alerts.isFiring(key), false);
    journal.emit('entry', entry('policy', ['AboveTarget', 'TooManyReplicas'], 2, 3));

    journal.emit('entry', entry('policy', ['BelowTarget'], 3, 2));
    assert.equal(alerts.isFiring(key), false);
  });
});

describe('resize alert', () => {
  it("ResizeFailed fires resize:<group> once with its code; only that group's ResizeFinished resolves it", async (t) => {
    const receiver = await startReceiver();
    t.after(receiver.close);
    const alerts = new AlertManager({ sinks: [new WebhookSink({ url: receiver.url })] });
    const journal = new EventEmitter<{ entry: [JournalEntry] }>();
    watchForAlerts(alerts, { providers: new Map(), journal });
    const failed = (group: string, source: JournalEntry['source']): JournalEntry => ({
      ...entry(source, ['ResizeFailed']),
      group,
      message: 'resize to 500m/512Mi failed: canary not ready',
      inputs: { error: 'canary not ready', code: 'RESIZE_FAILED' },
    });
    const finished = (group: string): JournalEntry => ({
      ...entry('api', ['ResizeFinished']),
      group,
      message: 'resize to 500m/512Mi: finished',
    });

    journal.emit('entry', finished('web')); // nothing firing: no resolve sent
    journal.emit('entry', failed('web', 'api'));
    journal.emit('entry', { ...entry('startup', ['ResizeResumed']) });
    journal.emit('entry', failed('web', 'startup'));
    journal.emit('entry', finished('api'));
    assert.equal(alerts.isFiring(alertKeys.resize('web')), true);
    journal.emit('entry', finished('web'));
    await alerts.close();

    const [firing, resolved, ...rest] = receiver.json();
    assert.deepEqual(rest, []);
    assert.equal(firing!.key, 'resize:web');
    assert.equal(firing!.status, 'firing');
    assert.equal(firing!.severity, 'warning');
    assert.equal(firing!.group, 'web');
    assert.deepEqual(firing!.details, { code: 'RESIZE_FAILED', source: 'api' });
    assert.equal(resolved!.key, 'resize:web');
    assert.equal(resolved!.status, 'resolved');
    assert.equal(resolved!.occurrences, 2);
    assert.equal(resolved!.summary, 'group web: resize to 500m/512Mi: finished');
  });
});

describe('state-lost alert', () => {
  it("a takeover's StateLost notifies once per takeover (not once per group), critical; the next loss notifies again", async () => {
    const sent: Alert[] = [];
    const alerts = new AlertManager({ sinks: [{ name: 'capture', send: async (a) => void sent.push(a) }] });
    const journal = new EventEmitter<{ entry: [JournalEntry] }>();
    watchForAlerts(alerts, { providers: new Map(), journal });
    const became = (group: string, token: number, lost: boolean): JournalEntry => ({
      ...entry('leader', lost ? ['BecameLeader', 'StateLost'] : ['BecameLeader']),
      group,
      message: `became leader (fencing token ${token}, b)${lost ? '; the state store holds no desired count' : ''}`,
      inputs: { token, holder: 'b', ...(lost && { stateLost: true }) },
    });
    for (const group of ['web', 'api']) journal.emit('entry', became(group, 4, true));
    for (const group of ['web', 'api']) journal.emit('entry', became(group, 5, false));
    for (const group of ['web', 'api']) journal.emit('entry', became(group, 7, true));
    await alerts.close();
    assert.deepEqual(
      sent.map((a) => [a.key, a.status, a.severity, a.details.token]),
      [
        ['state-lost', 'firing', 'critical', 4],
        ['state-lost', 'resolved', 'critical', 4],
        ['state-lost', 'firing', 'critical', 7],
        ['state-lost', 'resolved', 'critical', 7],
      ],
    );
    assert.match(sent[0]!.summary, /fencing token 4.*holds no desired count/);
  });
});
