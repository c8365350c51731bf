// A Kubernetes namespace or workload name that breaks Kubernetes' rules (a namespace is a DNS-1123
// label, a Deployment's or StatefulSet's name a DNS-1123 subdomain) is refused naming the field and
// the rule, in scaleplane.yaml and in the provider's options. Before, it went into the API paths as
// written and the start failed with the API server's 404 (`deployments.apps "Web" not found`),
// naming no rule. Against KubeServer (kube-server.ts), through the official client over real HTTP.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ConfigError, parseConfig } from '../../src/config/index.js';
import { webOnKube } from './kube-server.js';

const BAD: [field: 'namespace' | 'name', value: string, says: RegExp][] = [
  ['namespace', 'Shop', /"Shop" is no DNS-1123 label/],
  ['namespace', 'shop.eu', /"shop.eu" is no DNS-1123 label/],
  ['namespace', 'a'.repeat(64), /must be no more than 63 characters \(a DNS-1123 label\), not 64/],
  ['name', 'Web', /"Web" is no DNS-1123 subdomain/],
  ['name', 'web_api', /"web_api" is no DNS-1123 subdomain/],
  ['name', 'shop/web', /"shop\/web" is no DNS-1123 subdomain/],
  ['name', '-web', /"-web" is no DNS-1123 subdomain/],
];

it('the provider refuses a namespace or name Kubernetes would not take, naming the field and the rule', async (t) => {
  for (const [field, value, says] of BAD) {
    let made: unknown;
    let thrown: unknown;
    const server = await webOnKube(t, 1, {
      config: { [field]: value },
      options: { timeout: 2_000 },
    }).then(
      (out) => {
        made = out.provider;
        return out.server;
      },
      (err: unknown) => {
        thrown = err;
        return undefined;
      },
    );
    if (made !== undefined) {
      // Without the check: the provider was made; its start meets the API server's answer.
      const start = await (made as { start(): Promise<void> }).start().then(
        () => 'started',
        (err: Error) => err.message,
      );
      assert.fail(`${field} ${value}: the provider was made; its start: ${start}`);
    }
    assert.ok(server === undefined, `${field} ${value}: no server handed back when the provider is refused`);
    assert.equal(
      (thrown as { code?: string }).code,
      'INVALID_ARGUMENT',
      `${field} ${value}: ${String(thrown)}`,
    );
    const message = (thrown as Error).message;
    assert.ok(
      message.startsWith(`group web: kubernetes ${field}: `),
      `${field} ${value}: names the field: ${message}`,
    );
    assert.match(message, says, `${field} ${value}: says the rule`);
  }
});

it('scaleplane.yaml: a kubernetes group whose namespace or name breaks the rule is an error naming the key and its line', () => {
  for (const [field, value, says] of BAD) {
    const other = field === 'name' ? '    namespace: shop' : '    name: web';
    const yaml = `groups:\n  web:\n    provider: kubernetes\n${other}\n    ${field}: ${JSON.stringify(value)}\n`;
    let issues: { path: string; line?: number; message: string }[] = [];
    try {
      parseConfig(yaml, { baseDir: '/srv/app' });
    } catch (err) {
      assert.ok(err instanceof ConfigError, `${field} ${value}: a ConfigError, got ${String(err)}`);
      issues = err.issues;
    }
    assert.deepEqual(
      issues.map(({ path, line }) => ({ path, line })),
      [{ path: `groups.web.${field}`, line: 5 }],
      `${field} ${value}: ${JSON.stringify(issues)}`,
    );
    assert.match(issues[0]!.message, says, `${field} ${value}: says the rule`);
  }
  // Names Kubernetes takes: a subdomain with dots, digits first, the longest label.
  for (const [namespace, name] of [
    ['shop', 'web.v2'],
    ['0team', '9web'],
    ['a'.repeat(63), 'web-api'],
  ]) {
    const config = parseConfig(
      `groups:\n  web:\n    provider: kubernetes\n    namespace: ${namespace}\n    name: ${name}\n`,
      { baseDir: '/srv/app' },
    );
    assert.equal(
      (config.groups.web!.provider as { name: string }).name,
      name,
      `${namespace}/${name} is taken`,
    );
  }
});
