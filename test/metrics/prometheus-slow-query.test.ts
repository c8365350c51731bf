// A prometheus metric whose `timeout` is longer than the polled read's default (6 s): the read is
// waited for until the query's own timeout (and a second's grace), not failed at 6 s while the
// source still waits for its answer. A loopback HTTP server stands in for a Prometheus that takes
// 6.5 s to answer (a real one cannot be made that slow on purpose without burning the CPU; the
// `timeout` parameter itself is tested against a real Prometheus in
// test/integration/metrics-prometheus-answers.test.ts).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { monotonicNow } from '../../src/clock.js';
import { parseConfig } from '../../src/config/index.js';
import { GroupReadings } from '../../src/metrics/group-readings.js';
import { createMetricSource, type SourceDependencies } from '../../src/metrics/index.js';
import { until } from '../helpers/until.js';

const ANSWER_AFTER_MS = 6_500;

describe('prometheus metric: a query slower than 6 s within its timeout', { timeout: 30_000 }, () => {
  it('is waited for: its value is read, no failure reported', async (t) => {
    const timeouts: (string | null)[] = [];
    let answered = 0;
    const server = createServer((req, res) => {
      timeouts.push(new URL(req.url ?? '/', 'http://x').searchParams.get('timeout'));
      const data = { resultType: 'vector', result: [{ metric: {}, value: [1_700_000_000, '4'] }] };
      const timer = setTimeout(() => {
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ status: 'success', data }));
        answered++;
      }, ANSWER_AFTER_MS);
      res.on('close', () => clearTimeout(timer));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => {
      server.closeAllConnections();
      server.close();
    });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const group = parseConfig(
      [
        'groups:',
        '  web:',
        '    command: node app.js',
        '    max_instances: 4',
        '    scaling:',
        '      metrics:',
        `        - prometheus: { url: "${url}", query: sum(jobs), target: 2, timeout: 10s }`,
        '',
      ].join('\n'),
      { baseDir: '/srv/app' },
    ).groups.web!;
    const failures: string[] = [];
    const readings = new GroupReadings({
      group,
      instances: () => [],
      sampleCpu: () => new Map(),
      sampleMemory: () => new Map(),
      memoryMaxAge: 10_000,
      createSource: (metric) => createMetricSource(metric, {} as SourceDependencies),
      // One poll a minute: the test's read is the first, started at once.
      interval: 60_000,
      onSourceError: (err) => failures.push(err?.message ?? 'recovered'),
    });
    t.after(() => readings.close());
    await until(() => answered === 1, 15_000, 'the slow answer');
    await until(() => readings.read([], monotonicNow())[0]?.error === undefined, 5_000, 'the value read');
    assert.deepEqual(readings.read([], monotonicNow())[0]?.values, [4]);
    assert.deepEqual(failures, [], 'no failure reported while the source waited for its answer');
    assert.deepEqual(timeouts, ['10000ms'], "the metric's timeout sent as the query's");
  });
});
