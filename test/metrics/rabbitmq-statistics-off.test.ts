// A RabbitMQ whose management API keeps no statistics (`management_agent.disable_metrics_collector
// = true`, as the official Docker image sets it for its Prometheus metrics): its queue objects have
// no `messages` and no rates, for good. Before, `rabbitmq` through the management API (mode: rate,
// or length with management_url) read that as "not sampled yet", no value and no failure, on every
// read: the metric missing for good, neither logged nor alerted. Now the source asks the overview,
// and a broker that says `disable_stats` is a failure naming the setting; one that keeps statistics
// (a queue made a moment ago) is still no value yet.
// The shared broker keeps statistics and must not be reconfigured, so a loopback server answers
// what RabbitMQ 3.10.8 answered with the collector off (a private node on this machine, once).
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { describe, it, type TestContext } from 'node:test';
import { MetricSourceError, RabbitMqSource, statisticsDisabled } from '../../src/metrics/index.js';
import { listen } from '../helpers/http-server.js';

/** The queue object RabbitMQ 3.10.8 answered, 7 s after 5 publishes, with the collector off. */
const QUEUE_WITHOUT_STATISTICS = {
  arguments: {},
  auto_delete: false,
  durable: true,
  exclusive: false,
  name: 'jobs',
  node: 'rabbit@localhost',
  state: 'live',
  type: 'classic',
  vhost: '/',
};

/** managementApi answers the queue without statistics, and an overview saying `disableStats`. */
async function managementApi(t: TestContext, disableStats: boolean): Promise<string> {
  const server = createServer((req, res) => {
    const body = req.url?.startsWith('/api/overview')
      ? { disable_stats: disableStats }
      : req.url?.startsWith('/api/queues/%2F/jobs')
        ? QUEUE_WITHOUT_STATISTICS
        : undefined;
    if (body === undefined) res.writeHead(404).end('{"error":"Object Not Found","reason":"Not Found"}');
    else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  return listen(t, server);
}

/** outcome is the read's code and message. */
async function outcome(source: RabbitMqSource): Promise<{ code: string; message: string }> {
  try {
    return { code: 'value', message: String(await source.read()) };
  } catch (err) {
    assert.ok(err instanceof MetricSourceError, `expected a MetricSourceError, got ${String(err)}`);
    return { code: err.code, message: err.message };
  }
}

describe('rabbitmq through a management API that keeps no statistics', () => {
  it('statisticsDisabled reads the overview', () => {
    assert.equal(statisticsDisabled('{"disable_stats":true,"rabbitmq_version":"3.10.8"}'), true);
    assert.equal(statisticsDisabled('{"disable_stats":false}'), false);
    assert.equal(statisticsDisabled('{}'), false);
    assert.equal(statisticsDisabled('<html>'), false);
  });

  for (const mode of ['length', 'rate'] as const) {
    it(`mode ${mode}: a failure naming the setting, not "not sampled yet" for good`, async (t) => {
      const managementUrl = await managementApi(t, true);
      const source = new RabbitMqSource({ url: 'amqp://127.0.0.1', queue: 'jobs', mode, managementUrl });
      t.after(() => source.close());
      const { code, message } = await outcome(source);
      console.log(`${mode}, statistics off: ${code}: ${message}`);
      assert.equal(code, 'SOURCE_FAILED', 'a failure: logged and alerted');
      assert.match(message, /keeps no queue statistics .*disable_metrics_collector/);
    });

    it(`mode ${mode}: a broker that keeps statistics has no value yet for a queue it has not sampled`, async (t) => {
      const managementUrl = await managementApi(t, false);
      const source = new RabbitMqSource({ url: 'amqp://127.0.0.1', queue: 'jobs', mode, managementUrl });
      t.after(() => source.close());
      const { code, message } = await outcome(source);
      assert.equal(code, 'SOURCE_NOT_READ', message);
      assert.match(message, /not sampled the queue's/);
    });
  }
});
