// What a real Prometheus (scripts/services/prometheus.sh; one unprivileged instance on a spare
// port) answers an instant query that is not one finite number, and what PrometheusSource makes
// of it: several series are summed; NaN and ±Inf (0/0, a division by a zero vector), an empty
// vector, a matrix or a string, and a query Prometheus refuses are errors that name the query and
// what came back. Before, +Inf and NaN samples were read as NaN, which the poller refused as
// "non-numeric value NaN", naming neither.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../../src/config/index.js';
import {
  createMetricSource,
  MetricSourceError,
  PrometheusSource,
  type SourceDependencies,
} from '../../src/metrics/index.js';
import { PROMETHEUS, type RunningPrometheus, startPrometheus } from '../helpers/prometheus.js';

describe('Prometheus instant query answers that are not one number', {
  skip: PROMETHEUS ? false : 'run scripts/services/prometheus.sh',
}, () => {
  let prometheus: RunningPrometheus | undefined;
  before(async () => {
    prometheus = await startPrometheus([]);
  });
  after(async () => {
    await prometheus?.close();
  });

  const read = (query: string) => new PrometheusSource({ url: prometheus!.url, query }).read();

  /** refused asserts that `query` fails with `code` and a message naming it and matching `message`. */
  async function refused(query: string, code: MetricSourceError['code'], message: RegExp): Promise<void> {
    await refusedBy(read(query), query, code, message);
  }

  /** refusedBy asserts that `reading` (of `query`) fails with `code` and a message naming it and matching `message`. */
  async function refusedBy(
    reading: Promise<unknown>,
    query: string,
    code: MetricSourceError['code'],
    message: RegExp,
  ): Promise<void> {
    await assert.rejects(reading, (err: unknown) => {
      assert.ok(
        err instanceof MetricSourceError,
        `${query}: expected a MetricSourceError, got ${String(err)}`,
      );
      assert.equal(err.code, code, `${query}: ${err.message}`);
      assert.ok(err.message.includes(JSON.stringify(query)), `names the query: ${err.message}`);
      assert.match(err.message, message);
      return true;
    });
  }

  it('sums several series, reads a scalar', async () => {
    const two = 'label_replace(vector(1), "a", "x", "", "") or label_replace(vector(2), "a", "y", "", "")';
    assert.deepEqual(await read(two), [3]);
    assert.deepEqual(await read('scalar(vector(2.5))'), [2.5]);
  });

  it('refuses NaN and ±Inf, naming the query and the value', async () => {
    await refused('vector(1) / vector(0)', 'SOURCE_BAD_RESPONSE', /returned "\+Inf", not a finite number/);
    await refused('-1 / 0', 'SOURCE_BAD_RESPONSE', /returned "-Inf"/);
    await refused('0 / 0', 'SOURCE_BAD_RESPONSE', /returned "NaN"/);
    // One NaN series among finite ones is no sum either.
    const mixed =
      'label_replace(vector(1), "a", "x", "", "") or label_replace(vector(0) / vector(0), "a", "y", "", "")';
    await refused(mixed, 'SOURCE_BAD_RESPONSE', /returned "NaN"/);
  });

  it('an empty vector, a matrix, a string and a refused query are errors naming the query', async () => {
    await refused('sum(no_such_metric_here)', 'SOURCE_BAD_RESPONSE', /returned no series/);
    await refused('vector(1)[1m:30s]', 'SOURCE_BAD_RESPONSE', /returned a matrix, not a vector or scalar/);
    await refused('"text"', 'SOURCE_BAD_RESPONSE', /returned a string/);
    await refused('sum(', 'SOURCE_FAILED', /400 bad_data: invalid parameter "query"/);
  });

  it("the metric's timeout is sent as the query's: Prometheus gives up itself and says so", async () => {
    // Not step-invariant (time()), so evaluated at each of 86,400 steps: some 250 ms here, checked
    // against the deadline at every step. Before, no `timeout` parameter was sent: the only timeout
    // was the HTTP request's, which left Prometheus evaluating a query nobody waited for.
    const slow = 'count_over_time(vector(time())[1d:1s])';
    const config = parseConfig(
      [
        'groups:',
        '  web:',
        '    command: node server.js',
        '    max_instances: 3',
        '    scaling:',
        '      metrics:',
        `        - prometheus: { url: "${prometheus!.url}", query: "${slow}", target: 1, timeout: 10ms }`,
        '',
      ].join('\n'),
      { baseDir: '/srv' },
    );
    const metric = config.groups.web!.scaling!.metrics[0]!;
    assert.equal(metric.type, 'prometheus');
    if (metric.type !== 'prometheus') return;
    const source = createMetricSource(metric, {} as SourceDependencies);
    await refusedBy(
      source.read({ group: 'web', instances: [], now: 0 }),
      slow,
      'SOURCE_FAILED',
      /: 503 timeout: query timed out in /,
    );
    // The query itself is fine: given the default 5 s, it is answered.
    assert.deepEqual(await new PrometheusSource({ url: prometheus!.url, query: slow }).read(), [86_400]);
  });
});
