// Each sink against a real local HTTP endpoint: the generic webhook (retries with backoff), the
// Slack format, and Sentry's own @sentry/node transport posting an envelope to a DSN on 127.0.0.1.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  type Alert,
  AlertManager,
  type AlertSinkError,
  createSink,
  retryDelay,
  SentrySink,
  SlackSink,
  WebhookSink,
} from '../../src/alerts/index.js';
import { startReceiver } from './receiver.js';

const alert: Alert = {
  key: 'crash-loop:web',
  status: 'firing',
  severity: 'critical',
  summary: 'group web is crash-looping',
  group: 'web',
  details: { crashes: 3 },
  startsAt: new Date(0).toISOString(),
  occurrences: 1,
  source: 'scaleplane',
};
const fast = { backoffMs: 10, maxBackoffMs: 20 };
/** errorFields lets JSON.stringify show an Error's message (its fields are not enumerable). */
const errorFields = (_key: string, value: unknown) =>
  value instanceof Error ? { message: value.message, cause: String(value.cause) } : value;

describe('alert sinks', () => {
  const closers: (() => Promise<void>)[] = [];
  after(() => Promise.all(closers.map((c) => c())));

  it('retryDelay doubles from the base with ±20 % jitter, capped', () => {
    assert.deepEqual(
      [1, 2, 3, 4].map((n) => retryDelay(n, 500, 1500, () => 0.5)),
      [500, 1000, 1500, 1500],
    );
    assert.equal(
      retryDelay(1, 500, 10_000, () => 0),
      400,
    );
    assert.equal(
      retryDelay(1, 500, 10_000, () => 0.999999),
      600,
    );
  });

  it('webhook: POSTs the alert as JSON and retries 503s until it is taken', async () => {
    const receiver = await startReceiver((_r, i) => (i < 2 ? 503 : 200));
    closers.push(receiver.close);
    await new WebhookSink({ url: receiver.url, headers: { 'x-token': 's3cret' }, ...fast }).send(alert);
    assert.equal(receiver.received.length, 3);
    assert.equal(receiver.received[2]!.headers['content-type'], 'application/json');
    assert.equal(receiver.received[2]!.headers['x-token'], 's3cret');
    assert.deepEqual(receiver.json()[2], alert);
  });

  it('webhook: credentials in the URL are sent as Basic auth, and no log or error carries them', async () => {
    // Before, fetch refused the URL ('Request cannot be constructed from a URL that includes
    // credentials: http://ops:p%40ss-s3cret@…'): 0 requests reached the receiver, after 4 attempts,
    // and the message logged and emitted held the password and the query's token.
    const receiver = await startReceiver((r) =>
      r.headers.authorization === `Basic ${Buffer.from('ops:p@ss-s3cret').toString('base64')}` ? 200 : 401,
    );
    closers.push(receiver.close);
    const url = `http://ops:p%40ss-s3cret@127.0.0.1:${receiver.port}/hook?token=tok-s3cret`;
    const logged: string[] = [];
    const log = (obj: object, msg?: string) => logged.push(`${msg} ${JSON.stringify(obj, errorFields)}`);
    const errors: string[] = [];
    const manager = new AlertManager({
      sinks: [new WebhookSink({ url, ...fast }), new SlackSink({ url, ...fast })],
      logger: { info: log, warn: log, error: log },
    });
    manager.on('sinkError', (err) => errors.push(err.message));
    manager.fire('crash-loop:web', { summary: 'group web is crash-looping', group: 'web' });
    await manager.flush();
    assert.equal(errors.length, 0, `delivered: ${errors.join('; ')}`);
    assert.deepEqual(
      receiver.received.map((r) => r.url),
      ['/hook?token=tok-s3cret', '/hook?token=tok-s3cret'],
    );
    // An explicit authorization header wins over the URL's credentials.
    const own = await startReceiver((r) => (r.headers.authorization === 'Bearer tok' ? 200 : 401));
    closers.push(own.close);
    const ownUrl = `http://ops:p%40ss-s3cret@127.0.0.1:${own.port}/hook`;
    await new WebhookSink({ url: ownUrl, headers: { Authorization: 'Bearer tok' }, ...fast }).send(alert);
    assert.equal(own.received.length, 1);
    // A sink that cannot deliver says why without the URL's secrets.
    await own.close();
    const failing = new AlertManager({
      sinks: [new WebhookSink({ url: ownUrl, retries: 1, ...fast })],
      logger: { info: log, warn: log, error: log },
    });
    failing.on('sinkError', (err) => errors.push(err.message));
    failing.fire('crash-loop:web', { summary: 'group web is crash-looping', group: 'web' });
    await failing.flush();
    assert.equal(errors.length, 1, 'the delivery failed');
    for (const line of [...logged, ...errors]) assert.doesNotMatch(line, /s3cret/);
  });

  it('webhook and slack: a redirect is not followed, so their headers never reach another origin', async () => {
    // fetch drops Authorization on a redirect to another origin, but not custom headers: before,
    // the receiver's 307 got the other port the alert with `x-api-key` (1 request per sink).
    const elsewhere = await startReceiver();
    const front = await startReceiver(() => ({
      status: 307,
      headers: { location: `http://127.0.0.1:${elsewhere.port}/collect/hook-s3cret` },
    }));
    closers.push(elsewhere.close, front.close);
    const headers = { 'x-api-key': 'key-s3cret' };
    for (const sink of [
      new WebhookSink({ url: front.url, headers, ...fast }),
      new SlackSink({ url: front.url, headers, ...fast }),
    ]) {
      await assert.rejects(sink.send(alert), (err: AlertSinkError) => {
        assert.equal(err.code, 'ALERT_SINK_FAILED', err.message);
        // Names where it points by origin only: a webhook's path can be its token.
        assert.match(
          err.message,
          new RegExp(`HTTP 307 redirect to http://127\\.0\\.0\\.1:${elsewhere.port}/…`),
        );
        assert.doesNotMatch(err.message, /s3cret/, 'no secret of the Location in the error');
        return true;
      });
    }
    assert.equal(front.received.length, 2, 'one attempt per sink: a redirect is not retried');
    assert.equal(
      elsewhere.received.length,
      0,
      `the other origin got no request: ${JSON.stringify(elsewhere.received.map((r) => r.headers))}`,
    );
  });

  it('webhook: gives up on a 4xx at once and after the retries on 5xx', async () => {
    const bad = await startReceiver(() => 400);
    const down = await startReceiver(() => 500);
    closers.push(bad.close, down.close);
    await assert.rejects(new WebhookSink({ url: bad.url, ...fast }).send(alert), {
      code: 'ALERT_SINK_FAILED',
    });
    assert.equal(bad.received.length, 1);
    await assert.rejects(new WebhookSink({ url: down.url, retries: 2, ...fast }).send(alert), /HTTP 500/);
    assert.equal(down.received.length, 3);
  });

  it("slack: a 429's Retry-After is waited for (up to maxBackoffMs), so a rate-limited alert is delivered", async () => {
    // Slack rate-limits a webhook for the seconds its Retry-After says; the sink's sleeps advance
    // the receiver's clock, so no test time passes.
    let clock = 0;
    const sleeps: number[] = [];
    const receiver = await startReceiver(() =>
      clock < 8000 ? { status: 429, headers: { 'retry-after': '8' } } : 200,
    );
    closers.push(receiver.close);
    const sink = new SlackSink({
      url: receiver.url,
      random: () => 0.5,
      sleep: async (ms) => {
        sleeps.push(ms);
        clock += ms;
      },
    });
    await sink
      .send(alert)
      .catch((err: Error) =>
        assert.fail(
          `gave up on a Slack that said Retry-After: 8 (waits ${sleeps.join(', ')} ms): ${err.message}`,
        ),
      );
    assert.deepEqual(sleeps, [8000], 'one wait of the 8 s the receiver asked for');
    assert.equal(receiver.received.length, 2, 'the refused attempt and the one after the wait');
  });

  it('a resolve never overtakes its firing that is being retried: the receiver ends with resolved', async () => {
    // The firing gets a 503 and is retried after the backoff; the resolve, sent meanwhile, is taken
    // at once. Delivered side by side, the retried firing arrived last and the receiver kept an
    // alert firing that had cleared (measured: receiver's last accepted status 'firing').
    const receiver = await startReceiver((_r, i) => (i === 0 ? 503 : 200));
    closers.push(receiver.close);
    const alerts = new AlertManager({
      sinks: [new WebhookSink({ url: receiver.url, backoffMs: 150, maxBackoffMs: 150 })],
    });
    alerts.fire('crash-loop:web', { severity: 'critical', group: 'web', summary: 'crash-looping' });
    alerts.resolve('crash-loop:web', 'healthy again');
    await alerts.flush();
    const accepted = receiver.json().slice(1);
    assert.deepEqual(
      accepted.map((a) => a.status),
      ['firing', 'resolved'],
    );
    await alerts.close();
  });

  it('slack: a text line and a colored attachment, resolves in green', async () => {
    const receiver = await startReceiver();
    closers.push(receiver.close);
    const slack = new SlackSink({ url: receiver.url, channel: '#ops', ...fast });
    await slack.send(alert);
    await slack.send({ ...alert, status: 'resolved', endsAt: new Date(1000).toISOString() });
    const [firing, resolved] = receiver.json() as {
      text: string;
      channel: string;
      attachments: { color: string }[];
    }[];
    assert.match(firing!.text, /\[CRITICAL\] group web is crash-looping/);
    assert.equal(firing!.channel, '#ops');
    assert.match(resolved!.text, /\[RESOLVED\]/);
    assert.equal(resolved!.attachments[0]!.color, '#2eb67d');
  });

  it('slack: <, > and & in a summary or a detail are escaped, so an error text cannot mention @channel or hide a link', async () => {
    const receiver = await startReceiver();
    closers.push(receiver.close);
    const summary = 'queue jobs: job 7 dead-lettered: <!channel> disk < 5% & <https://evil.example|retry>';
    await new SlackSink({ url: receiver.url, ...fast }).send({
      ...alert,
      summary,
      details: { error: '<!here> failed' },
    });
    const [message] = receiver.json() as {
      text: string;
      attachments: { fallback: string; fields: { title: string; value: string }[] }[];
    }[];
    const escaped =
      'queue jobs: job 7 dead-lettered: &lt;!channel&gt; disk &lt; 5% &amp; &lt;https://evil.example|retry&gt;';
    assert.equal(message!.text, `:rotating_light: [CRITICAL] ${escaped}`);
    assert.equal(message!.attachments[0]!.fallback, escaped);
    const error = message!.attachments[0]!.fields.find((f) => f.title === 'error');
    assert.equal(error!.value, '&lt;!here&gt; failed');
  });

  it('sentry: @sentry/node delivers the event envelope to a DSN on 127.0.0.1', async () => {
    const receiver = await startReceiver();
    closers.push(receiver.close);
    const sink = createSink(
      { type: 'sentry', dsnEnv: 'TEST_SENTRY_DSN', environment: 'test', sendResolved: true },
      { TEST_SENTRY_DSN: `http://publickey@127.0.0.1:${receiver.port}/42` },
    );
    assert.ok(sink instanceof SentrySink, 'sink instanceof SentrySink');
    const alerts = new AlertManager({ sinks: [sink] });
    alerts.fire(alert.key, {
      summary: alert.summary,
      severity: 'critical',
      group: 'web',
      details: { crashes: 3 },
    });
    await alerts.flush();
    await alerts.close();
    assert.equal(receiver.received.length, 1);
    const request = receiver.received[0]!;
    assert.equal(request.method, 'POST');
    assert.match(request.url, /^\/api\/42\/envelope\/\?.*sentry_key=publickey/);
    // An envelope: a header line, then item header + payload lines.
    const [header, itemHeader, payload] = request.body.split('\n').map((line) => JSON.parse(line));
    assert.equal(header.sdk.name, 'sentry.javascript.node');
    assert.equal(itemHeader.type, 'event');
    assert.equal(payload.message, 'group web is crash-looping');
    assert.equal(payload.level, 'fatal');
    assert.equal(payload.environment, 'test');
    assert.deepEqual(payload.fingerprint, ['scaleplane', 'crash-loop:web']);
    assert.equal(payload.tags.group, 'web');
    assert.equal(payload.extra.crashes, 3);
  });

  it('sentry: a 503 or a refused connection is retried with backoff until Sentry takes the event; a 400 is not retried', async () => {
    // Before, @sentry/node's client dropped the refused event and flush() still said true: one
    // request, send() resolved, the alert was lost with no sinkError.
    const flaky = await startReceiver((_r, i) => (i < 2 ? 503 : 200));
    closers.push(flaky.close);
    const sink = new SentrySink({ dsn: `http://publickey@127.0.0.1:${flaky.port}/42`, ...fast });
    closers.push(() => sink.close());
    await sink.send(alert);
    assert.equal(flaky.received.length, 3);
    const payload = JSON.parse(flaky.received[2]!.body.split('\n')[2]!);
    assert.deepEqual(payload.fingerprint, ['scaleplane', 'crash-loop:web']);

    const down = await startReceiver(() => 503);
    closers.push(down.close);
    const alerts = new AlertManager({
      sinks: [new SentrySink({ dsn: `http://publickey@127.0.0.1:${down.port}/42`, retries: 2, ...fast })],
    });
    const errors: Error[] = [];
    alerts.on('sinkError', (err) => errors.push(err));
    alerts.fire(alert.key, { summary: alert.summary, severity: 'critical' });
    await alerts.close();
    assert.equal(down.received.length, 3);
    assert.equal(errors.length, 1);
    assert.equal((errors[0] as AlertSinkError).code, 'ALERT_SINK_FAILED');
    assert.match(errors[0]!.message, /HTTP 503/);

    const refused = await startReceiver();
    await refused.close();
    const gone = new SentrySink({
      dsn: `http://publickey@127.0.0.1:${refused.port}/42`,
      retries: 1,
      ...fast,
    });
    closers.push(() => gone.close());
    await assert.rejects(gone.send(alert), { code: 'ALERT_SINK_FAILED' });

    const bad = await startReceiver(() => 400);
    closers.push(bad.close);
    const once = new SentrySink({ dsn: `http://publickey@127.0.0.1:${bad.port}/42`, ...fast });
    closers.push(() => once.close());
    await assert.rejects(once.send(alert), /HTTP 400/);
    assert.equal(bad.received.length, 1);
  });

  it('createSink refuses a sink whose secret is unset, with a stable code', () => {
    assert.throws(
      () => createSink({ type: 'sentry', dsnEnv: 'NOPE_DSN', environment: 'x', sendResolved: true }, {}),
      { code: 'ALERT_SINK_INVALID' },
    );
    assert.throws(() => createSink({ type: 'slack', urlEnv: 'NOPE_URL', retries: 1, timeout: 1000 }, {}), {
      code: 'ALERT_SINK_INVALID',
    });
  });

  it('createSink names the variable whose URL or DSN is not an http(s) URL, and never quotes its value', () => {
    const secret = 's3cr3tTOKEN';
    const cases = [
      {
        config: { type: 'slack', urlEnv: 'SLACK_URL', retries: 1, timeout: 1000 },
        value: `hooks.slack.com/services/T0/B0/${secret}`,
      },
      {
        config: { type: 'webhook', urlEnv: 'HOOK_URL', retries: 1, timeout: 1000, headers: {} },
        value: `mailto:ops@example.com?x=${secret}`,
      },
      {
        config: { type: 'sentry', dsnEnv: 'SENTRY_DSN', environment: 'x', sendResolved: true },
        value: `${secret}@o1.ingest.sentry.io/1`,
      },
    ] as const;
    for (const { config, value } of cases) {
      const variable = config.type === 'sentry' ? config.dsnEnv : config.urlEnv;
      let thrown: unknown;
      try {
        createSink(config, { [variable]: value });
      } catch (err) {
        thrown = err;
      }
      const text = JSON.stringify(thrown, errorFields);
      assert.equal(
        (thrown as { code?: string } | undefined)?.code,
        'ALERT_SINK_INVALID',
        `${config.type} with $${variable}=${value}: ${thrown === undefined ? 'accepted' : text}`,
      );
      assert.match(
        (thrown as Error).message,
        new RegExp(`\\$${variable} is not`),
        `names $${variable}: ${text}`,
      );
      assert.ok(!text.includes(secret), `the error quotes the secret: ${text}`);
    }
  });
});
