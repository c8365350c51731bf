// A kubeconfig whose user has `token-file` (a projected service-account token mounted into a pod
// that talks to another cluster, a CI runner's short-lived token): the kubelet rotates the file
// (hourly; tokens expire), and client-go, so kubectl and the HPA's own clients, read it again.
// Against KubeServer (kube-server.ts), through the official client over real HTTP.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it, type TestContext } from 'node:test';
import { KubernetesProvider } from '../../src/providers/index.js';
import { until } from '../helpers/until.js';
import { KubeServer, WEB_DEPLOYMENT } from './kube-server.js';

async function setup(t: TestContext, tokenFile: (dir: string) => string) {
  const server = new KubeServer();
  await server.start();
  t.after(() => server.close());
  server.addWorkload('Deployment', 'shop', 'web', 1);
  const dir = mkdtempSync(join(tmpdir(), 'scaleplane-token-file-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const kubeconfig = join(dir, 'kubeconfig.yaml');
  writeFileSync(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster: { server: "${server.url}", insecure-skip-tls-verify: true }
users:
- name: ci
  user: { token-file: "${tokenFile(dir)}" }
contexts:
- name: fake
  context: { cluster: fake, user: ci, namespace: shop }
current-context: fake
`,
  );
  const provider = new KubernetesProvider({
    group: 'web',
    config: { ...WEB_DEPLOYMENT, kubeconfig },
    minInstances: 1,
    maxInstances: 5,
    requestTimeout: 5000,
  });
  t.after(() => provider.close());
  return { server, provider, dir };
}

/** tokens are the distinct bearer tokens the server saw, in order of first use. */
const tokens = (server: KubeServer) => [...new Set(server.requests.map((r) => r.token ?? '(none)'))];

it('a rotated token file is read again: the requests after the rotation carry the new token', async (t) => {
  const { server, provider, dir } = await setup(t, (d) => {
    writeFileSync(join(d, 'token'), 'token-one\n');
    return join(d, 'token');
  });
  await provider.start();
  assert.deepEqual(tokens(server), ['token-one'], 'the token, without the file’s newline');
  // The kubelet writes the new token (atomically, through a symlink swap; here, in place).
  writeFileSync(join(dir, 'token'), 'token-two\n');
  const before = server.requests.length;
  await provider.scaleTo(2);
  await until(() => server.requests.length > before, 5000, 'a request after the rotation');
  const after = server.requests.slice(before).map((r) => r.token);
  assert.ok(
    after.length > 0 && after.every((token) => token === 'token-two'),
    `every request after the rotation carries the new token: ${JSON.stringify(after)}`,
  );
});

it('a relative token-file is read from the kubeconfig’s folder, as client-go reads it', async (t) => {
  const { server, provider } = await setup(t, (d) => {
    writeFileSync(join(d, 'relative-token'), 'token-rel');
    return 'relative-token';
  });
  await provider.start();
  assert.deepEqual(tokens(server), ['token-rel']);
});

it('a missing or empty token file fails the start naming the file, never the token', async (t) => {
  const { provider: missing, dir } = await setup(t, (d) => join(d, 'gone'));
  await assert.rejects(missing.start(), (err: Error) => {
    assert.match(
      err.message,
      new RegExp(`kubeconfig token-file ${join(dir, 'gone')} cannot be read \\(ENOENT\\)`),
    );
    return true;
  });
  const { provider: twoLines } = await setup(t, (d) => {
    writeFileSync(join(d, 'token'), 'secret-one\nsecret-two\n');
    return join(d, 'token');
  });
  await assert.rejects(twoLines.start(), (err: Error) => {
    assert.match(err.message, /token-file .*token holds more than one token/);
    assert.doesNotMatch(err.message, /secret/, 'the token stays out of the message');
    return true;
  });
});
