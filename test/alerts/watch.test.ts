import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import {
  type Alert,
  AlertManager,
  alertKeys,
  type HealthChange,
  WebhookSink,
  watchForAlerts,
} from '../../src/alerts/index.js';
import type { JournalEntry } from '../../src/controller/journal.js';
import type { Provider } from '../../src/providers/index.js';
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

describe('alerts only a leader evaluates, across a loss of the lease', () => {
  // Leader A fires an alert, loses the lease (its successor inherits the alert from the state store
  // and resolves it), then leads again. Before, A kept the alert it could no longer evaluate and sent
  // it firing once more: a resize or a crash loop the successor had closed paged again, and only the
  // group's next resize (or recovery here) closed it.
  const cases: { name: string; raise: (w: ReturnType<typeof watched>) => void; sent: string[] }[] = [
    {
      name: 'resize:<group> (the journal ResizeFailed)',
      raise: (w) =>
        w.journal.emit('entry', {
          ...entry('api', ['ResizeFailed']),
          inputs: { code: 'RESIZE_FAILED' },
        }),
      sent: ['resize:web:firing'],
    },
    {
      name: 'blocked-at-max:<group> (the policy at max)',
      raise: (w) => w.journal.emit('entry', entry('policy', ['AboveTarget', 'TooManyReplicas'], 2, 3)),
      sent: ['blocked-at-max:web:firing'],
    },
    {
      name: 'crash-loop:<group> (the provider)',
      raise: (w) => w.provider.emit('crashLoop', { crashes: 3, windowMs: 60_000 }),
      sent: ['crash-loop:web:firing'],
    },
    {
      name: 'provider:<group> (an engine write failing)',
      raise: (w) => {
        for (let i = 0; i < 3; i++) {
          w.provider.emit('operation', { operation: 'patch scale', error: '403 Forbidden' });
          w.advance(20_000);
        }
      },
      sent: ['provider:web:firing'],
    },
    {
      name: 'crash-loop:<group> inherited from the leader before, kept firing here',
      raise: (w) =>
        w.alerts.inherit(
          [
            {
              key: alertKeys.crashLoop('web'),
              status: 'firing',
              severity: 'critical',
              summary: 'group web is crash-looping',
              group: 'web',
              details: {},
              startsAt: new Date(0).toISOString(),
              occurrences: 1,
              source: 'scaleplane',
            },
          ],
          () => undefined,
        ),
      sent: [],
    },
    {
      // Every controller's balancer checks the instances: a standby goes on evaluating it, and the
      // next tenure re-sends it (at least once), as a takeover does.
      name: 'unhealthy:<group>:<id>, evaluated by every controller, is still re-sent',
      raise: (w) =>
        w.balancer.emit('health', {
          group: 'web',
          id: 'web-1',
          address: '127.0.0.1:1',
          healthy: false,
          detail: '503',
        }),
      sent: ['unhealthy:web:web-1:firing', 'unhealthy:web:web-1:firing'],
    },
  ];
  function watched() {
    const sent: Alert[] = [];
    let now = 1_000_000;
    const alerts = new AlertManager({ sinks: [{ name: 'capture', send: async (a) => void sent.push(a) }] });
    const journal = new EventEmitter<{ entry: [JournalEntry] }>();
    const balancer = new EventEmitter<{ health: [HealthChange] }>();
    const provider = Object.assign(new EventEmitter(), {
      kind: 'kubernetes',
      desired: () => 3,
      instances: () => [],
    });
    watchForAlerts(
      alerts,
      { providers: new Map([['web', provider as unknown as Provider]]), journal, balancer },
      { now: () => now },
    );
    return { alerts, journal, balancer, provider, sent, advance: (ms: number) => (now += ms) };
  }
  for (const c of cases) {
    it(`${c.name}: leading again does not send it anew`, async () => {
      const w = watched();
      c.raise(w);
      w.alerts.setNotifying(false);
      w.alerts.setNotifying(true);
      await w.alerts.close();
      const sent = w.sent.map((a) => `${a.key}:${a.status}`);
      console.log(`${c.name}: sent ${JSON.stringify(sent)}`);
      assert.deepEqual(sent, c.sent);
    });
  }
});
