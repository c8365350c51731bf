// A Prometheus reached the way hosted and cluster setups expose it: over https with a private CA,
// behind a proxy that wants a bearer token and a tenant header (a Thanos querier behind
// kube-rbac-proxy, Mimir's X-Scope-OrgID). Here a real NGINX terminates TLS with a self-signed
// certificate, checks the token and the tenant, and proxies to a real Prometheus. Before
// bearer_token_file, ca_file and headers, no configuration could read it: every query failed with
// "self-signed certificate" or a 401.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../../src/config/index.js';
import { createMetricSource, PrometheusSource } from '../../src/metrics/index.js';
import { fetchPrometheusTrace } from '../../src/sim/index.js';
import { runCli } from '../helpers/cli-process.js';
import { NGINX, nginxFolder } from '../helpers/nginx.js';
import { freePort } from '../helpers/ports.js';
import { PROMETHEUS, type RunningPrometheus, startPrometheus } from '../helpers/prometheus.js';
import { makeCertificate, type TestCertificate } from '../helpers/tls.js';

const TOKEN = 'tok-2f9c1e';
const TENANT = 'tenant-1';

describe('Prometheus over https behind a bearer-token proxy', {
  skip: !PROMETHEUS ? 'run scripts/services/prometheus.sh' : NGINX === undefined && 'nginx not installed',
}, () => {
  let prometheus: RunningPrometheus;
  let certificate: TestCertificate;
  let dir: string;
  let conf: string;
  let url: string;

  before(async () => {
    prometheus = await startPrometheus([]);
    certificate = await makeCertificate();
    dir = await nginxFolder('scaleplane-prom-proxy-');
    const port = await freePort();
    url = `https://127.0.0.1:${port}`;
    conf = join(dir, 'nginx.conf');
    await writeFile(
      conf,
      `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `  ${k}_temp_path ${dir}/${k === 'client_body' ? 'body' : k};`).join('\n')}
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${certificate.certPath};
    ssl_certificate_key ${certificate.keyPath};
    location / {
      if ($http_authorization != "Bearer ${TOKEN}") { return 401; }
      if ($http_x_scope_orgid != "${TENANT}") { return 403; }
      proxy_pass ${prometheus.url};
    }
  }
}
`,
    );
    execFileSync(NGINX!, ['-c', conf]);
    await writeFile(join(dir, 'token'), `${TOKEN}\n`);
  });

  after(async () => {
    if (conf) spawnSync(NGINX!, ['-c', conf, '-s', 'stop']);
    await prometheus?.close();
    await certificate?.remove();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** failure is the error `read` rejects with (failing the test if it resolves). */
  const failure = (source: PrometheusSource) =>
    source.read().then(
      (value) => assert.fail(`read gave ${JSON.stringify(value)}`),
      (err: Error & { code?: string }) => err,
    );

  it('config with relative token and CA files, resolved against its folder, reads the query', async () => {
    const config = parseConfig(
      `
groups:
  web:
    command: node app.js
    max_instances: 3
    scaling:
      metrics:
        - prometheus:
            url: ${url}
            query: vector(7)
            target: 1
            bearer_token_file: token
            ca_file: ${certificate.certPath}
            headers: { X-Scope-OrgID: ${TENANT} }
`,
      { source: join(dir, 'scaleplane.yaml'), baseDir: dir },
    );
    const metric = config.groups.web!.scaling!.metrics[0]!;
    assert.equal(metric.type, 'prometheus');
    const source = createMetricSource(metric as Extract<typeof metric, { type: 'prometheus' }>, {
      balancer: undefined as never,
      registry: undefined as never,
    });
    try {
      assert.deepEqual(
        await source.read({ group: 'web', instances: [], now: 0 }),
        [7],
        'the query through the proxy',
      );
    } finally {
      await source.close();
    }
  });

  it('the token file is read on every query: a rotated token is used without a restart', async () => {
    const file = join(dir, 'rotating');
    await writeFile(file, 'expired-token\n');
    const source = new PrometheusSource({
      url,
      query: 'vector(3)',
      bearerTokenFile: file,
      caFile: certificate.certPath,
      headers: { 'X-Scope-OrgID': TENANT },
    });
    try {
      const refused = await failure(source);
      assert.equal(refused.code, 'SOURCE_FAILED');
      assert.match(refused.message, /401.*check the token in bearer_token_file .*rotating/);
      assert.doesNotMatch(refused.message, /expired-token/, 'the token stays out of the message');
      await writeFile(file, `${TOKEN}\n`);
      assert.deepEqual(await source.read(), [3], 'the rotated token');
    } finally {
      await source.close();
    }
  });

  it('a missing tenant header is the proxy’s 403; no CA, no token file: each error says what to give', async () => {
    const noTenant = new PrometheusSource({
      url,
      query: 'vector(1)',
      bearerTokenFile: join(dir, 'token'),
      caFile: certificate.certPath,
    });
    const untrusted = new PrometheusSource({
      url,
      query: 'vector(1)',
      bearerTokenFile: join(dir, 'token'),
      headers: { 'X-Scope-OrgID': TENANT },
    });
    const noToken = new PrometheusSource({
      url,
      query: 'vector(1)',
      bearerTokenFile: join(dir, 'no-such-token'),
      caFile: certificate.certPath,
    });
    try {
      assert.match((await failure(noTenant)).message, /403/);
      assert.match((await failure(untrusted)).message, /self-signed certificate.*give its PEM as ca_file/);
      assert.match((await failure(noToken)).message, /cannot read bearer_token_file .*no-such-token: ENOENT/);
    } finally {
      await Promise.all([noTenant.close(), untrusted.close(), noToken.close()]);
    }
  });

  it('simulate --prometheus reads it with --bearer-token-file, --ca-file and --header', async () => {
    const end = Math.floor(Date.now() / 1000);
    const trace = await fetchPrometheusTrace({
      url,
      query: 'vector(3)',
      start: end - 120,
      end,
      step: 60,
      bearerTokenFile: join(dir, 'token'),
      caFile: certificate.certPath,
      headers: { 'X-Scope-OrgID': TENANT },
    });
    const values = [...trace.perSecond];
    assert.ok(values.length > 0 && values.every((v) => v === 3), `the range through the proxy: ${values}`);
    const flags = ['simulate', '--prometheus', url, '--query', 'vector(3)', '--since', '5m'];
    const auth = ['--bearer-token-file', join(dir, 'token'), '--header', `X-Scope-OrgID: ${TENANT}`];
    const ok = await runCli([...flags, ...auth, '--ca-file', certificate.certPath, '--json']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal((JSON.parse(ok.stdout) as { policy: string }).policy, 'default', ok.stdout);
    const untrusted = await runCli([...flags, ...auth]);
    assert.equal(untrusted.code, 1, untrusted.stderr);
    assert.match(untrusted.stderr, /self-signed certificate.*give its PEM as --ca-file/);
    const noTenant = await runCli([
      ...flags,
      '--bearer-token-file',
      join(dir, 'token'),
      '--ca-file',
      certificate.certPath,
    ]);
    assert.equal(noTenant.code, 1, noTenant.stderr);
    assert.match(noTenant.stderr, /HTTP 403/);
    const notAHeader = await runCli([...flags, '--header', 'X-Scope-OrgID tenant-1']);
    assert.equal(notAHeader.code, 2, notAHeader.stderr);
    assert.match(notAHeader.stderr, /not a header: "X-Scope-OrgID tenant-1"/);
    const withTrace = await runCli(['simulate', '--trace', 'x.csv', '--ca-file', certificate.certPath]);
    assert.equal(withTrace.code, 2, withTrace.stderr);
    assert.match(withTrace.stderr, /--ca-file goes with --prometheus, not --trace/);
  });
});
