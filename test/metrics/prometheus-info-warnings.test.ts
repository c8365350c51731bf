// PromQL info annotations in an answer's `warnings`: Prometheus 2.48 to 2.53 answered them there
// (2.54 moved them to `infos`), as a Thanos querier may still. They are notes that may be false
// positives, not partial data, so they do not make the metric missing. The Prometheus on this
// machine (Debian's 2.42) predates annotations, so a loopback HTTP server answers here what 2.48's
// API answers (util/annotations: the text, then the position in the query).
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { describe, it, type TestContext } from 'node:test';
import { PrometheusSource, partialDataWarnings } from '../../src/metrics/index.js';
import { listen } from '../helpers/http-server.js';

const NOT_A_COUNTER =
  'PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "jobs_processed" (1:10)';
const MONOTONICITY =
  'PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name "http_request_duration_seconds_bucket" (1:20)';
const RANGE_TOO_SHORT =
  'PromQL warning: range too short; does not contain enough samples to extrapolate rate (1:5)';
const REMOTE_READ =
  'remote_read: Post "http://10.0.0.9:9201/read": dial tcp 10.0.0.9:9201: connect: connection refused';

/** answering is a server answering every query 4 with `warnings`; its base URL. */
async function answering(t: TestContext, warnings: string[]): Promise<string> {
  const server = createServer((_req, res) => {
    const data = { resultType: 'vector', result: [{ metric: {}, value: [1_700_000_000, '4'] }] };
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ status: 'success', data, warnings }));
  });
  return listen(t, server);
}

describe('PromQL info annotations among warnings', () => {
  it('partialDataWarnings keeps warnings, drops info annotations', () => {
    assert.deepEqual(partialDataWarnings(undefined), []);
    assert.deepEqual(partialDataWarnings([NOT_A_COUNTER, MONOTONICITY]), []);
    assert.deepEqual(partialDataWarnings([NOT_A_COUNTER, REMOTE_READ, RANGE_TOO_SHORT]), [
      REMOTE_READ,
      RANGE_TOO_SHORT,
    ]);
  });

  it('a rate() of a counter not named _total is read, as 2.54 on answers it (in infos)', async (t) => {
    const url = await answering(t, [NOT_A_COUNTER]);
    const source = new PrometheusSource({ url, query: 'sum(rate(jobs_processed[1m]))' });
    t.after(() => source.close());
    const read = await source.read().catch((err: Error) => err.message);
    console.log(`warnings: [info not a counter]: read ${JSON.stringify(read)}`);
    assert.deepEqual(read, [4], 'the value, not a missing metric');
  });

  it('a warning beside an info annotation is still partial data: missing, naming the warning only', async (t) => {
    const url = await answering(t, [MONOTONICITY, REMOTE_READ]);
    const source = new PrometheusSource({ url, query: 'q' });
    t.after(() => source.close());
    await assert.rejects(source.read(), (err: Error) => {
      assert.match(err.message, /answered with warnings \(the data may be partial\): remote_read: /);
      assert.doesNotMatch(err.message, /PromQL info/, 'the info annotation is not named');
      return true;
    });
  });
});
