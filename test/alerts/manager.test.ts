import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it, mock } from 'node:test';
import {
  type Alert,
  AlertManager,
  type AlertSink,
  AlertSinkError,
  createAlertManager,
  reconfigureAlertManager,
  WebhookSink,
} from '../../src/alerts/index.js';
import type { AlertsConfig } from '../../src/config/index.js';
import { startReceiver } from './receiver.js';

function recorder(fail = false): AlertSink & { got: Alert[] } {
  const got: Alert[] = [];
  return {
    name: 'memory',
    got,
    async send(alert) {
      got.push(alert);
      if (fail) throw new AlertSinkError('memory', 'down');
    },
  };
}

function manager(options: { limit?: number; repeat?: number; fail?: boolean; notifying?: boolean } = {}) {
  let now = 1_000_000;
  const sink = recorder(options.fail);
  const alerts = new AlertManager({
    sinks: [sink],
    now: () => now,
    ...(options.limit !== undefined && { rateLimitPerMinute: options.limit }),
    ...(options.repeat !== undefined && { repeatInterval: options.repeat }),
    ...(options.notifying !== undefined && { notifying: options.notifying }),
  });
  return { alerts, sink, advance: (ms: number) => (now += ms) };
}

describe('AlertManager', () => {
  it('de-duplicates a firing alert and sends one resolve', async () => {
    const { alerts, sink } = manager();
    alerts.fire('crash-loop:web', { summary: 'web crash-looping', severity: 'critical', group: 'web' });
    alerts.fire('crash-loop:web', { summary: 'web crash-looping again' });
    alerts.fire('crash-loop:web', { summary: 'web crash-looping again' });
    assert.equal(alerts.active()[0]?.occurrences, 3);
    alerts.resolve('crash-loop:web');
    alerts.resolve('crash-loop:web');
    await alerts.flush();
    assert.deepEqual(
      sink.got.map((a) => [a.key, a.status, a.severity]),
      [
        ['crash-loop:web', 'firing', 'critical'],
        ['crash-loop:web', 'resolved', 'critical'],
      ],
    );
    assert.ok(sink.got[1]!.endsAt, 'sink.got[1]!.endsAt');
    assert.equal(alerts.isFiring('crash-loop:web'), false);
  });

  it('rate-limits firing notifications across keys, never resolves of sent alerts', async () => {
    const { alerts, sink, advance } = manager({ limit: 2 });
    for (const key of ['a', 'b', 'c']) alerts.fire(key, { summary: key });
    assert.equal(alerts.suppressed, 1);
    alerts.resolve('a');
    alerts.resolve('c'); // never sent: its resolve is not sent either
    await alerts.flush();
    assert.deepEqual(
      sink.got.map((a) => `${a.key}:${a.status}`),
      ['a:firing', 'b:firing', 'a:resolved'],
    );
    advance(60_000);
    alerts.fire('b', { summary: 'b' }); // still firing and already sent: de-duplicated
    alerts.fire('d', { summary: 'd' });
    await alerts.flush();
    assert.deepEqual(sink.got.map((a) => `${a.key}:${a.status}`).slice(3), ['d:firing']);
  });

  it('a firing the rate limit held is sent once the minute has room, most severe first', async (t) => {
    // Before, a held firing went out only if its caller fired it again; a crash loop fires once,
    // so after two warnings (limit 2) the critical alert was never sent, nor its resolve.
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    t.after(() => mock.timers.reset());
    const sink = recorder();
    // The mocked Date is the manager's clock here (its default, monotonic time, is not mocked).
    const alerts = new AlertManager({ sinks: [sink], rateLimitPerMinute: 2, now: () => Date.now() });
    t.after(() => alerts.close());
    alerts.fire('unhealthy:web:1', { summary: 'web-1 unhealthy' });
    mock.timers.tick(10_000);
    alerts.fire('unhealthy:web:2', { summary: 'web-2 unhealthy' });
    alerts.fire('unhealthy:web:3', { summary: 'web-3 unhealthy' });
    alerts.fire('crash-loop:web', { summary: 'web crash-looping', severity: 'critical' });
    alerts.fire('unhealthy:web:4', { summary: 'web-4 unhealthy' });
    alerts.resolve('unhealthy:web:4'); // cleared while held: never sent
    assert.equal(alerts.suppressed, 3);
    const sent = () => sink.got.map((a) => `${a.key}:${a.status}`);
    await alerts.flush();
    assert.deepEqual(sent(), ['unhealthy:web:1:firing', 'unhealthy:web:2:firing']);
    mock.timers.tick(49_999);
    await alerts.flush();
    assert.equal(sink.got.length, 2, 'the minute of the first firing has not passed');
    mock.timers.tick(1); // the first firing leaves the minute: room for one
    await alerts.flush();
    assert.deepEqual(sent().slice(2), ['crash-loop:web:firing']);
    mock.timers.tick(10_000); // the second leaves it
    await alerts.flush();
    assert.deepEqual(sent().slice(3), ['unhealthy:web:3:firing']);
    alerts.resolve('crash-loop:web');
    await alerts.flush();
    assert.deepEqual(sent().slice(4), ['crash-loop:web:resolved']);
    assert.equal(alerts.suppressed, 3);
  });

  it('keep_firing_for: a condition that flaps within it is one alert, resolved once it stays clear that long', async (t) => {
    // Before (and with keep_firing_for 0), every clear sent a resolve and every return a new firing:
    // a health check failing every other minute sent a pair each time.
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    t.after(() => mock.timers.reset());
    const sink = recorder();
    const alerts = new AlertManager({ sinks: [sink], keepFiringFor: 60_000, now: () => Date.now() });
    t.after(() => alerts.close());
    const sent = () => sink.got.map((a) => `${a.status}:${a.occurrences}:${a.summary}`);
    for (let flap = 0; flap < 3; flap++) {
      alerts.fire('unhealthy:web:1', { summary: 'web-1 unhealthy' });
      mock.timers.tick(30_000);
      assert.equal(alerts.resolve('unhealthy:web:1', `web-1 healthy (${flap})`), undefined, 'kept firing');
      assert.equal(alerts.isFiring('unhealthy:web:1'), true);
      mock.timers.tick(59_999); // back 1 ms before keep_firing_for runs out
    }
    await alerts.flush();
    assert.deepEqual(sent(), ['firing:1:web-1 unhealthy'], 'three flaps: one firing, no resolve yet');
    mock.timers.tick(1); // the last clear has lasted keep_firing_for: resolved, with its summary
    await alerts.flush();
    assert.equal(alerts.isFiring('unhealthy:web:1'), false);
    assert.deepEqual(sent(), ['firing:1:web-1 unhealthy', 'resolved:3:web-1 healthy (2)']);
    // `immediately` (a notice, an instance that is gone) does not wait.
    alerts.fire('state-lost', { summary: 'lost' });
    alerts.resolve('state-lost', undefined, { immediately: true });
    await alerts.flush();
    assert.deepEqual(sent().slice(2), ['firing:1:lost', 'resolved:1:lost']);
  });

  it('keep_firing_for from the config, at start and on a reload', async (t) => {
    const config = (keepFiringFor: number): AlertsConfig => ({
      sinks: [],
      rateLimit: 30,
      repeatInterval: 0,
      keepFiringFor,
    });
    const alerts = createAlertManager(config(60_000));
    t.after(() => alerts.close());
    alerts.fire('a', { summary: 'a' });
    alerts.resolve('a');
    assert.equal(alerts.isFiring('a'), true, 'kept firing (keep_firing_for: 1m)');
    await reconfigureAlertManager(alerts, config(0));
    alerts.fire('b', { summary: 'b' });
    alerts.resolve('b');
    assert.equal(alerts.isFiring('b'), false, 'resolved at once after a reload to 0');
    assert.equal(alerts.isFiring('a'), true, 'one already clearing keeps its wait');
  });

  it('keep_firing_for: an alert clearing when the manager closes sends no late resolve', async (t) => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    t.after(() => mock.timers.reset());
    const sink = recorder();
    const alerts = new AlertManager({ sinks: [sink], keepFiringFor: 60_000, now: () => Date.now() });
    alerts.fire('k', { summary: 'k' });
    alerts.resolve('k');
    await alerts.close();
    mock.timers.tick(60_000);
    await alerts.flush();
    assert.deepEqual(
      sink.got.map((a) => a.status),
      ['firing'],
    );
  });

  it('sends a still-firing alert again after repeat_interval', async () => {
    const { alerts, sink, advance } = manager({ repeat: 10_000 });
    alerts.fire('k', { summary: 'k' });
    advance(9_999);
    alerts.fire('k', { summary: 'k' });
    advance(1);
    alerts.fire('k', { summary: 'k' });
    await alerts.flush();
    assert.deepEqual(
      sink.got.map((a) => a.occurrences),
      [1, 3],
    );
  });

  it('re-sends a still-firing alert after repeat_interval even when nothing fires it again; its resolve stops the repeats', {
    timeout: 10_000,
  }, async (t) => {
    // Before, a repeat went out only from a later fire(); a crash loop (replacement paused) or a
    // group held at max fires once, so it was never sent again however long it fired.
    const sink = recorder();
    const alerts = new AlertManager({ sinks: [sink], repeatInterval: 30 });
    alerts.fire('crash-loop:web', { summary: 'web crash-looping', severity: 'critical' });
    const repeats: Alert[] = [];
    // The manager's timers are unref'd (they must not keep a program alive): this one keeps the test's.
    const keepAlive = setInterval(() => {}, 1000);
    t.after(() => clearInterval(keepAlive));
    await new Promise<void>((resolve) => {
      alerts.on('alert', (alert) => {
        repeats.push(alert);
        if (repeats.length === 2) resolve();
      });
    });
    alerts.resolve('crash-loop:web');
    await alerts.close();
    assert.deepEqual(
      sink.got.map((a) => `${a.key}:${a.status}`),
      ['crash-loop:web:firing', 'crash-loop:web:firing', 'crash-loop:web:firing', 'crash-loop:web:resolved'],
    );
  });

  it('a step back of the system clock delays no repeat: the rate limit and repeat_interval run on monotonic time', {
    timeout: 10_000,
  }, async (t) => {
    // The step is made by replacing Date.now before the manager is made (a default taken as a
    // function reference sees it, as it sees a real one); performance.now is left alone.
    const real = Date.now;
    let step = 0;
    Date.now = () => real() + step;
    t.after(() => {
      Date.now = real;
    });
    const sink = recorder();
    const alerts = new AlertManager({ sinks: [sink], repeatInterval: 200 });
    t.after(() => alerts.close());
    const keepAlive = setInterval(() => {}, 1000);
    t.after(() => clearInterval(keepAlive));
    alerts.fire('crash-loop:web', { summary: 'web crash-looping', severity: 'critical' });
    step = -3600_000;
    const repeated = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 5_000);
      alerts.on('alert', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    assert.ok(
      repeated,
      `no repeat within 5 s of a 200 ms repeat_interval once the clock stepped back 1 h (sent: ${sink.got.length})`,
    );
  });

  it('reconfigure (a reload) returns while an old sink is still delivering; that sink finishes, then is closed', {
    timeout: 10_000,
  }, async (t) => {
    // A receiver that holds each request until released: a sink that is slow or down.
    const held: ServerResponse[] = [];
    let arrived: () => void = () => {};
    const server = createServer((req, res) => {
      req.resume();
      held.push(res);
      arrived();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => {
      server.closeAllConnections();
      server.close();
    });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    const events: string[] = [];
    const webhook = new WebhookSink({ url, retries: 0, timeoutMs: 60_000 });
    const old: AlertSink = {
      name: webhook.name,
      send: (alert) => webhook.send(alert),
      close: async () => {
        events.push('old closed');
      },
    };
    const alerts = new AlertManager({ sinks: [old] });
    const got = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    alerts.fire('k', { summary: 'k' });
    await got;
    // Before, this waited for the held request (up to the sink's timeout, for each retry).
    await alerts.reconfigure({ sinks: [recorder()] });
    events.push('reconfigured');
    held[0]!.end();
    await alerts.flush();
    events.push('flushed');
    await alerts.close();
    assert.deepEqual(events, ['reconfigured', 'old closed', 'flushed']);
  });

  it('a reload that adds a webhook sends it the alerts still firing, then their resolves; the kept webhook gets no second firing', {
    timeout: 20_000,
  }, async (t) => {
    // Before, the added webhook got only the resolve of an alert it never saw fire.
    const first = await startReceiver();
    const second = await startReceiver();
    t.after(() => Promise.all([first.close(), second.close()]));
    const config = (urls: string[]): AlertsConfig => ({
      sinks: urls.map((url) => ({ type: 'webhook', url, headers: {}, retries: 0, timeout: 5000 })),
      rateLimit: 30,
      repeatInterval: 0,
      keepFiringFor: 0,
    });
    const alerts = createAlertManager(config([first.url]));
    t.after(() => alerts.close());
    alerts.fire('crash-loop:web', { summary: 'web crash-looping', severity: 'critical', group: 'web' });
    await alerts.flush();
    await reconfigureAlertManager(alerts, config([first.url, second.url]));
    await alerts.flush();
    alerts.resolve('crash-loop:web');
    await alerts.flush();
    const got = (r: typeof first) => r.json().map((a) => `${String(a.key)}:${String(a.status)}`);
    assert.deepEqual(got(first), ['crash-loop:web:firing', 'crash-loop:web:resolved']);
    assert.deepEqual(got(second), ['crash-loop:web:firing', 'crash-loop:web:resolved']);
    assert.equal(second.json()[0]?.startsAt, first.json()[0]?.startsAt);
  });

  describe('reconfigure adding a sink, within the rate limit', () => {
    type Step = { fire: string } | { resolve: string } | { add: true } | { tick: number } | { lead: boolean };
    const cases: {
      name: string;
      steps: Step[];
      kept: string[];
      added: string[];
      notifying?: boolean;
      limit?: number;
    }[] = [
      {
        name: 'the added sink gets what fires, once, most severe first; a resolved alert is not sent',
        limit: 10,
        steps: [
          { fire: 'w' },
          { fire: 'c' },
          { fire: 'gone' },
          { resolve: 'gone' },
          { add: true },
          { resolve: 'w' },
        ],
        kept: ['w:firing', 'c:firing', 'gone:firing', 'gone:resolved', 'w:resolved'],
        added: ['c:firing', 'w:firing', 'w:resolved'],
      },
      {
        name: 'one the limit holds goes to the added sink alone once the minute has room',
        steps: [{ fire: 'a' }, { fire: 'b' }, { add: true }, { tick: 60_000 }],
        kept: ['a:firing', 'b:firing'],
        added: ['a:firing', 'b:firing'],
      },
      {
        name: 'one still held when it resolves: the added sink gets neither firing nor resolve',
        steps: [
          { fire: 'a' },
          { fire: 'b' },
          { add: true },
          { resolve: 'a' },
          { resolve: 'b' },
          { tick: 60_000 },
        ],
        kept: ['a:firing', 'b:firing', 'a:resolved', 'b:resolved'],
        added: [],
      },
      {
        name: 'a standby sends the added sink nothing; taking over sends both what fires',
        steps: [{ fire: 'a' }, { add: true }, { lead: true }],
        kept: ['a:firing'],
        added: ['a:firing'],
        notifying: false,
      },
    ];
    for (const c of cases) {
      it(c.name, async (t) => {
        mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
        t.after(() => mock.timers.reset());
        const kept = recorder();
        const added = recorder();
        const options = { rateLimitPerMinute: c.limit ?? 2, repeatInterval: 0 };
        const alerts = new AlertManager({
          sinks: [kept],
          notifying: c.notifying ?? true,
          now: () => Date.now(), // the mocked Date (see above)
          ...options,
        });
        t.after(() => alerts.close());
        for (const step of c.steps) {
          if ('fire' in step)
            alerts.fire(step.fire, {
              summary: step.fire,
              severity: step.fire === 'c' ? 'critical' : 'warning',
            });
          else if ('resolve' in step) alerts.resolve(step.resolve);
          else if ('add' in step) await alerts.reconfigure({ sinks: [kept, added], ...options });
          else if ('lead' in step) alerts.setNotifying(step.lead);
          else mock.timers.tick(step.tick);
          await alerts.flush();
        }
        const sent = (sink: typeof kept) => sink.got.map((a) => `${a.key}:${a.status}`);
        assert.deepEqual(sent(kept), c.kept);
        assert.deepEqual(sent(added), c.added);
      });
    }
  });

  it('reports sink failures as sinkError events, never as rejections; close is idempotent', async () => {
    const { alerts } = manager({ fail: true });
    const errors: string[] = [];
    alerts.on('sinkError', (err) => errors.push((err as AlertSinkError).code));
    alerts.fire('k', { summary: 'k' });
    await alerts.close();
    await alerts.close();
    assert.deepEqual(errors, ['ALERT_SINK_FAILED']);
    assert.equal(alerts.fire('k2', { summary: 'after close' }), undefined);
  });

  describe('setNotifying (an HA standby holds its notifications; the leader sends)', () => {
    type Step =
      | { fire: string }
      | { fireLocal: string }
      | { resolve: string }
      | { lead: boolean }
      | { advance: number };
    const cases: { name: string; steps: Step[]; sent: string[]; limit?: number; repeat?: number }[] = [
      {
        name: 'a standby sends nothing: no firing, no resolve',
        steps: [{ fire: 'a' }, { fire: 'a' }, { resolve: 'a' }],
        sent: [],
      },
      {
        name: 'taking over sends what still fires, once; its resolve follows',
        steps: [
          { fire: 'a' },
          { fire: 'b' },
          { resolve: 'b' },
          { lead: true },
          { lead: true },
          { fire: 'a' },
          { resolve: 'a' },
        ],
        sent: ['a:firing', 'a:resolved'],
      },
      {
        name: 'deposed: stops at once, resolves included; leading again re-sends what still fires',
        steps: [
          { lead: true },
          { fire: 'a' },
          { fire: 'b' },
          { lead: false },
          { resolve: 'a' },
          { fire: 'b' },
          { lead: true },
        ],
        sent: ['a:firing', 'b:firing', 'b:firing'],
      },
      {
        name: 'a standby uses no rate limit and repeats nothing',
        steps: [{ fire: 'a' }, { advance: 5000 }, { fire: 'a' }, { lead: true }, { fire: 'b' }],
        sent: ['a:firing'],
        limit: 1,
        repeat: 1000,
      },
      {
        name: "a standby sends its own host's alerts (its NGINX), firing and resolve, and taking over does not repeat them",
        steps: [{ fireLocal: 'n' }, { lead: true }, { lead: false }, { resolve: 'n' }],
        sent: ['n:firing', 'n:resolved'],
      },
    ];
    for (const c of cases) {
      it(c.name, async () => {
        const { alerts, sink, advance } = manager({
          notifying: false,
          ...(c.limit !== undefined && { limit: c.limit }),
          ...(c.repeat !== undefined && { repeat: c.repeat }),
        });
        for (const step of c.steps) {
          if ('fire' in step) alerts.fire(step.fire, { summary: step.fire });
          else if ('fireLocal' in step) alerts.fire(step.fireLocal, { summary: step.fireLocal, local: true });
          else if ('resolve' in step) alerts.resolve(step.resolve);
          else if ('lead' in step) alerts.setNotifying(step.lead);
          else advance(step.advance);
        }
        await alerts.flush();
        assert.deepEqual(
          sink.got.map((a) => `${a.key}:${a.status}`),
          c.sent,
        );
      });
    }
  });
  it('close() waits a bounded time for a sink still retrying, then says what it left undelivered', async (t) => {
    // A receiver rate-limiting for 8 s at a time: honoured, 3 retries held a shutdown ~50 s.
    const receiver = await startReceiver(() => ({ status: 429, headers: { 'retry-after': '8' } }));
    t.after(() => receiver.close());
    const warned: string[] = [];
    const logger = {
      info: () => {},
      error: () => {},
      warn: (_: object, msg?: string) => warned.push(msg ?? ''),
    };
    const alerts = new AlertManager({
      sinks: [new WebhookSink({ url: receiver.url, retries: 3, timeoutMs: 5000 })],
      closeFlushTimeout: 300,
      logger,
    });
    alerts.fire('k', { summary: 'k' });
    await receiver.waitFor(1);
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      alerts.close().then(() => 'closed'),
      new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve('still closing after 5 s'), 5000);
      }),
    ]);
    clearTimeout(timer);
    assert.equal(outcome, 'closed', 'close() ends once closeFlushTimeout has passed');
    assert.ok(
      warned.some((m) => /1 notification\(s\) still being delivered after 300 ms at shutdown/.test(m)),
      `the undelivered notification is logged: ${JSON.stringify(warned)}`,
    );
  });
});
