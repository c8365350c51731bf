// A Prometheus behind HTTP Basic auth, given as `http://user:password@host:port` (as Grafana and
// promtool take it): a real Prometheus run with `--web.config.file` (basic_auth_users, the user of
// Prometheus' own basic-auth guide). fetch refuses a URL with credentials, so before the fix every
// read failed with "Request cannot be constructed from a URL that includes credentials: <the URL,
// password included>".
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../../src/config/index.js';
import { PrometheusSource } from '../../src/metrics/index.js';
import { fetchPrometheusTrace } from '../../src/sim/index.js';
import { runCli } from '../helpers/cli-process.js';
import {
  PROMETHEUS,
  PROMETHEUS_DOCS_USER,
  type RunningPrometheus,
  startPrometheus,
} from '../helpers/prometheus.js';

const WRONG = 'Wr0ng-s3cret';
const OPTS = { source: 'test.yaml', baseDir: '/tmp' };

describe('Prometheus behind Basic auth', {
  skip: PROMETHEUS ? false : 'run scripts/services/prometheus.sh',
}, () => {
  let prometheus: RunningPrometheus;
  /** The URL with `user:password@` inserted after the scheme. */
  const withUser = (password: string) =>
    prometheus.url.replace('http://', `http://${PROMETHEUS_DOCS_USER.username}:${password}@`);

  before(async () => {
    prometheus = await startPrometheus([], { basicAuth: PROMETHEUS_DOCS_USER });
    // The server really refuses a request without credentials.
    assert.equal((await fetch(`${prometheus.url}/api/v1/query?query=1`)).status, 401);
  });
  after(async () => {
    await prometheus?.close();
  });

  it('a metric source reads with the URL credentials; a wrong password is a 401 that hides it', async () => {
    const ok = new PrometheusSource({ url: withUser(PROMETHEUS_DOCS_USER.password), query: 'vector(7)' });
    assert.deepEqual(await ok.read(), [7]);
    const wrong = new PrometheusSource({ url: withUser(WRONG), query: 'vector(7)' });
    const err = await wrong.read().then(
      () => assert.fail('read with a wrong password succeeded'),
      (e: Error) => e,
    );
    assert.equal((err as { code?: string }).code, 'SOURCE_FAILED');
    assert.match(err.message, /401/);
    assert.match(err.message, /admin:\*\*\*@/);
    assert.doesNotMatch(`${err.message} ${String(err.cause ?? '')}`, new RegExp(WRONG));
  });

  it('simulate --prometheus fetches the range with them; a wrong password is a 401 that hides it', async () => {
    const end = Math.floor(Date.now() / 1000);
    const trace = await fetchPrometheusTrace({
      url: withUser(PROMETHEUS_DOCS_USER.password),
      query: 'vector(3)',
      start: end - 120,
      end,
      step: 60,
    });
    const values = [...trace.perSecond];
    assert.ok(values.length > 0 && values.every((v) => v === 3), String(values));
    const cli = await runCli([
      'simulate',
      '--prometheus',
      withUser(WRONG),
      '--query',
      'vector(3)',
      '--since',
      '5m',
    ]);
    assert.equal(cli.code, 1, cli.stderr);
    assert.match(cli.stderr, /HTTP 401 .*check the user and password/);
    assert.doesNotMatch(cli.stdout + cli.stderr, new RegExp(WRONG));
  });

  it('config: url must be http(s) with well-encoded credentials, and the error does not echo it', () => {
    const yaml = (url: string) => `
groups:
  web:
    command: node server.js
    max_instances: 2
    scaling:
      metrics:
        - prometheus: { url: "${url}", query: "vector(1)", target: 1 }
`;
    assert.doesNotThrow(() => parseConfig(yaml(withUser(PROMETHEUS_DOCS_USER.password)), OPTS));
    assert.throws(
      () => parseConfig(yaml(`http://admin:${WRONG}%zz@127.0.0.1:9090`), OPTS),
      (e: Error) => {
        assert.match(e.message, /prometheus\.url.*bad percent-encoding/);
        assert.doesNotMatch(e.message, new RegExp(WRONG));
        return true;
      },
    );
    assert.throws(
      () => parseConfig(yaml('ftp://127.0.0.1:9090'), OPTS),
      /prometheus\.url.*expected http:\/\//,
    );
  });
});
