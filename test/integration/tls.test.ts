// TLS on both listeners: `api.tls` and `balancer.tls` serve HTTPS with a certificate made by openssl
// in the test; clients trust exactly that certificate. The HTTP/1.1 upgrade (WebSocket) path works
// through the TLS balancer, and a bad certificate path is a config error naming the field.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { copyFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type tls from 'node:tls';
import { connect as connectTls } from 'node:tls';
import { Scaleplane } from '../../src/app.js';
import { Balancer } from '../../src/balancer/index.js';
import { ConfigError, loadConfig, parseConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/log/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { config as balancerConfig, ready } from '../balancer/helpers.js';
import { DEMO_DIR, INTEGRATION_TOKEN, startInProcess, writeTempConfig } from '../helpers/scaleplane.js';
import { makeCertificate, type TestCertificate } from '../helpers/tls.js';

/** get makes one HTTPS GET trusting only `ca`, and reads the whole answer. */
function get(
  port: number,
  path: string,
  ca: Buffer,
  headers: http.OutgoingHttpHeaders = {},
): Promise<{ status: number; body: string; protocol: string | null }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path, ca, agent: false, headers }, (res) => {
      const protocol = (res.socket as tls.TLSSocket).getProtocol();
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, protocol }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** post makes one HTTPS POST without a body trusting only `ca`, and reads the whole answer. */
function post(
  port: number,
  path: string,
  ca: Buffer[],
  headers: http.OutgoingHttpHeaders,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port, path, ca, agent: false, method: 'POST', headers },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('TLS listeners', () => {
  let cert: TestCertificate;
  before(async () => {
    cert = await makeCertificate();
  });
  after(() => cert.remove());

  describe('a whole Scaleplane with api.tls and balancer.tls', () => {
    let app: Scaleplane;
    before(async () => {
      app = await startInProcess(`
api:
  listen: 127.0.0.1:0
  tls: { cert: ${cert.certPath}, key: ${cert.keyPath} }
balancer:
  listen: 127.0.0.1:0
  tls: { cert: ${cert.certPath}, key: ${cert.keyPath} }
  health: { path: /healthz, interval: 500ms }
groups:
  web: { command: node server.js, min_instances: 1, max_instances: 2 }
`);
    });
    after(() => app?.close());

    it('the balancer serves HTTPS to a client that trusts the certificate', async () => {
      const res = await get(app.balancerAddress!.port, '/', cert.cert);
      assert.equal(res.status, 200);
      assert.match(res.protocol ?? '', /^TLSv1\.[23]$/);
    });

    it('the API serves HTTPS, with the token, and /metrics too', async () => {
      const auth = { authorization: `Bearer ${INTEGRATION_TOKEN}` };
      const groups = await get(app.apiAddress!.port, '/api/scalability/groups', cert.cert, auth);
      assert.equal(groups.status, 200);
      assert.deepEqual(
        JSON.parse(groups.body).groups.map((g: { name: string }) => g.name),
        ['web'],
      );
      assert.equal((await get(app.apiAddress!.port, '/api/scalability/groups', cert.cert)).status, 401);
      const metrics = await get(app.apiAddress!.port, '/metrics', cert.cert, auth);
      assert.match(metrics.body, /scaleplane_group_desired_instances\{group="web"\} 1/);
    });

    it('refuses a client that does not trust the certificate, and plain HTTP gets no answer', async () => {
      await assert.rejects(
        () => get(app.apiAddress!.port, '/healthz', Buffer.from('')),
        (err: NodeJS.ErrnoException) =>
          /certificate|self.signed|UNABLE|DEPTH_ZERO/i.test(`${err.code} ${err.message}`),
      );
      const plain = await new Promise<string>((resolve) => {
        const req = http.get({ host: '127.0.0.1', port: app.balancerAddress!.port, path: '/', agent: false });
        req.on('response', (res) => resolve(`status ${res.statusCode}`));
        req.on('error', (err) => resolve(`error ${(err as NodeJS.ErrnoException).code ?? err.message}`));
      });
      assert.match(plain, /^(error|status 400)/, plain);
    });
  });

  it('the WebSocket upgrade path works through a TLS balancer', async (t) => {
    const backend = http.createServer((_req, res) => res.end());
    backend.on('upgrade', (req, socket) => {
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `X-Path: ${req.url}\r\n\r\n`,
      );
      socket.on('data', (chunk: Buffer) => socket.write(`echo:${chunk}`));
    });
    backend.listen(0, '127.0.0.1');
    await once(backend, 'listening');
    t.after(() => {
      backend.closeAllConnections();
      backend.close();
    });
    const balancer = new Balancer({
      config: balancerConfig({ tls: { cert: cert.certPath, key: cert.keyPath } }),
      metrics: createMetrics({ defaultMetrics: false }),
    });
    t.after(() => balancer.close());
    const { port } = await balancer.listen();
    balancer.setGroup('web', ready(['a', `127.0.0.1:${(backend.address() as AddressInfo).port}`]));

    const req = https.request({
      host: '127.0.0.1',
      port,
      path: '/chat',
      ca: cert.cert,
      agent: false,
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
        'Sec-WebSocket-Version': '13',
      },
    });
    req.end();
    const [res, socket] = (await once(req, 'upgrade')) as [http.IncomingMessage, tls.TLSSocket];
    assert.equal(res.statusCode, 101);
    assert.equal(res.headers['x-path'], '/chat');
    assert.ok(socket.encrypted, 'the upgraded socket is the TLS one');
    socket.write('ping');
    const [echo] = (await once(socket, 'data')) as [Buffer];
    assert.equal(echo.toString(), 'echo:ping');
    socket.destroy();
  });

  describe('config errors name the field', () => {
    const yaml = (tlsLine: string) => `api:\n  tls: ${tlsLine}\ngroups:\n  web: { command: x }\n`;
    it('a missing certificate file', () => {
      assert.throws(
        () => parseConfig(yaml(`{ cert: ${cert.dir}/nope.pem, key: ${cert.keyPath} }`), { baseDir: '/' }),
        (err: unknown) =>
          err instanceof ConfigError &&
          /api\.tls\.cert \(line 2\): cannot read .*nope\.pem \(ENOENT\)/.test(err.message),
      );
    });
    it('a file that holds no key, and relative paths resolved against the config folder', async () => {
      await writeFile(join(cert.dir, 'junk.pem'), 'not a key\n');
      assert.throws(
        () => parseConfig(yaml('{ cert: cert.pem, key: junk.pem }'), { baseDir: cert.dir }),
        (err: unknown) =>
          err instanceof ConfigError &&
          /api\.tls\.key \(line 2\): .*junk\.pem holds no PEM private key/.test(err.message),
      );
      const config = parseConfig(yaml('{ cert: cert.pem, key: key.pem }'), { baseDir: cert.dir });
      assert.deepEqual(config.api.tls, { cert: cert.certPath, key: cert.keyPath });
    });
    it('a key of another certificate', async () => {
      const other = await makeCertificate();
      try {
        assert.throws(
          () => parseConfig(yaml(`{ cert: ${cert.certPath}, key: ${other.keyPath} }`), { baseDir: '/' }),
          /api\.tls\.key \(line 2\): .* is not the key of the certificate/,
        );
      } finally {
        await other.remove();
      }
    });
  });
});

/** servedCertificate is the SHA-256 fingerprint of the certificate a TLS listener presents now (a new connection). */
async function servedCertificate(port: number, ca: Buffer[], alpn = ['http/1.1']): Promise<[string, string]> {
  const socket = connectTls({ host: '127.0.0.1', port, ca, ALPNProtocols: alpn });
  try {
    await once(socket, 'secureConnect');
    return [socket.getPeerCertificate().fingerprint256, String(socket.alpnProtocol)];
  } finally {
    socket.destroy();
  }
}

describe('a certificate renewed in place is served after a config reload', () => {
  let first: TestCertificate;
  let second: TestCertificate;
  let app: Scaleplane;
  let dir: string;
  before(async () => {
    [first, second] = await Promise.all([makeCertificate(), makeCertificate()]);
    const path = await writeTempConfig(`
api:
  listen: 127.0.0.1:0
  tls: { cert: tls.pem, key: tls-key.pem }
balancer:
  listen: 127.0.0.1:0
  tls: { cert: tls.pem, key: tls-key.pem }
  health: { path: /healthz, interval: 500ms }
groups:
  web: { command: node server.js, cwd: ${DEMO_DIR}, min_instances: 1, max_instances: 2 }
`);
    dir = dirname(path);
    await copyFile(first.certPath, join(dir, 'tls.pem'));
    await copyFile(first.keyPath, join(dir, 'tls-key.pem'));
    app = await Scaleplane.start({
      config: await loadConfig(path),
      logger: createLogger({ level: 'silent' }),
      env: { SCALEPLANE_API_KEY: INTEGRATION_TOKEN },
    });
  });
  after(async () => {
    await app?.close();
    await Promise.all([first?.remove(), second?.remove(), dir && rm(dir, { recursive: true, force: true })]);
  });

  const reload = async (): Promise<{ status: number; body: string }> => {
    const auth = { authorization: `Bearer ${INTEGRATION_TOKEN}` };
    return post(app.apiAddress!.port, '/api/scalability/reload', [first.cert, second.cert], auth);
  };

  it('the API and the balancer (h2 and http/1.1) present the new certificate to new connections', async () => {
    const ca = [first.cert, second.cert];
    const fingerprint = (cert: TestCertificate) => new X509Certificate(cert.cert).fingerprint256;
    const api = app.apiAddress!.port;
    const balancer = app.balancerAddress!.port;
    assert.deepEqual(
      (await servedCertificate(api, ca))[0],
      fingerprint(first),
      'the API starts with the first',
    );
    // Renewed in place, as cert-manager or certbot does: same paths, new files.
    await copyFile(second.keyPath, join(dir, 'tls-key.pem'));
    await copyFile(second.certPath, join(dir, 'tls.pem'));
    const answer = await reload();
    assert.equal(answer.status, 200, answer.body);
    assert.deepEqual(
      [
        await servedCertificate(api, ca),
        await servedCertificate(balancer, ca, ['h2', 'http/1.1']),
        await servedCertificate(balancer, ca),
      ],
      [
        [fingerprint(second), 'http/1.1'],
        [fingerprint(second), 'h2'],
        [fingerprint(second), 'http/1.1'],
      ],
      'before, both listeners presented the first certificate until a restart',
    );
    const { applied, needsRestart } = JSON.parse(answer.body);
    assert.deepEqual([applied, needsRestart], [['api.tls', 'balancer.tls'], []], 'reported as applied');
    // Unchanged files: nothing to report.
    const again = await reload();
    assert.deepEqual(JSON.parse(again.body).applied, [], 'a reload with the same files re-applies nothing');
  });

  it('a certificate half written (no key of it yet) is refused whole; the served one stays', async () => {
    await copyFile(first.certPath, join(dir, 'tls.pem'));
    const answer = await reload();
    assert.equal(answer.status, 400, answer.body);
    assert.match(
      JSON.parse(answer.body).error,
      /api\.tls\.key \(line 4\): .*is not the key of the certificate/,
    );
    const served = await servedCertificate(app.balancerAddress!.port, [first.cert, second.cert]);
    assert.equal(served[0], new X509Certificate(second.cert).fingerprint256, 'still the second');
    await copyFile(second.certPath, join(dir, 'tls.pem'));
  });
});
