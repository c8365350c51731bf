import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ConfigError,
  formatListen,
  type HostPort,
  parseConfig,
  parseListen,
} from '../../src/config/index.js';

describe('parseListen', () => {
  const good: [string | number, HostPort][] = [
    ['127.0.0.1:8080', { host: '127.0.0.1', port: 8080 }],
    ['0.0.0.0:80', { host: '0.0.0.0', port: 80 }],
    ['localhost:9090', { host: 'localhost', port: 9090 }],
    ['[::1]:8080', { host: '::1', port: 8080 }],
    ['[::]:443', { host: '::', port: 443 }],
    ['[fe80::1%eth0]:8080', { host: 'fe80::1%eth0', port: 8080 }],
    ['8080', { host: '127.0.0.1', port: 8080 }],
    [8080, { host: '127.0.0.1', port: 8080 }],
    ['host:1', { host: 'host', port: 1 }],
    ['host:65535', { host: 'host', port: 65535 }],
    ['host:0', { host: 'host', port: 0 }],
    [0, { host: '127.0.0.1', port: 0 }],
  ];
  for (const [input, expected] of good) {
    it(`reads ${JSON.stringify(input)}`, () => {
      assert.deepEqual(parseListen(input), expected);
    });
  }

  const bad: (string | number)[] = [
    '',
    ':8080',
    '::1:8080',
    '[::1]',
    '[localhost]:80',
    'host',
    'host:',
    'host:-1',
    'host:65536',
    'host:http',
    'a b:80',
    // Not IPv4 addresses (`up` failed on getaddrinfo ENOTFOUND; validate called them valid).
    '999.1.1.1:80',
    '127.0.0.256:80',
    '10.0.0:80',
    -1,
    65536,
    80.5,
  ];
  for (const input of bad) {
    it(`rejects ${JSON.stringify(input)}`, () => {
      assert.throws(() => parseListen(input), { message: /invalid listen address/ });
    });
  }

  it('names a dotted host that is no IPv4 address, at its line in a config', () => {
    assert.throws(() => parseListen('999.1.1.1:8080'), {
      message:
        'invalid listen address "999.1.1.1:8080": 999.1.1.1 is not an IPv4 address (four numbers 0-255, such as 127.0.0.1)',
    });
    assert.throws(
      () =>
        parseConfig('groups: { web: { command: x } }\nbalancer:\n  listen: 999.1.1.1:18080\n', {
          baseDir: '/',
        }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.issues.length === 1 &&
        err.issues[0]!.path === 'balancer.listen' &&
        err.issues[0]!.line === 3 &&
        /999\.1\.1\.1 is not an IPv4 address/.test(err.issues[0]!.message),
    );
  });
});

describe('formatListen', () => {
  for (const text of ['127.0.0.1:8080', '[::1]:9090', 'example.com:443']) {
    it(`round-trips ${text}`, () => {
      assert.equal(formatListen(parseListen(text)), text);
    });
  }
});

describe('api.listen and balancer.listen on one port', () => {
  // `up` on such a file failed with "cannot listen on 127.0.0.1:8080: EADDRINUSE" from its own API,
  // which reads like another program holding the port; validate called the file valid.
  const cases: [api: string, balancer: string | undefined, clash: boolean][] = [
    ['127.0.0.1:8080', undefined, true], // the balancer's default
    ['8080', '127.0.0.1:8080', true],
    ['0.0.0.0:9000', '127.0.0.1:9000', true],
    ['127.0.0.1:9000', '"[::]:9000"', true],
    ['127.0.0.1:9000', '127.0.0.2:9000', false],
    ['127.0.0.1:9000', '127.0.0.1:9001', false],
    ['0', '0', false], // a free port each
  ];
  for (const [api, balancer, clash] of cases) {
    it(`api ${api}, balancer ${balancer ?? 'default'}: ${clash ? 'refused' : 'fine'}`, () => {
      for (const form of ['groups:\n  web: { command: x }', 'command: x']) {
        const yaml = [
          `api: { listen: ${api} }`,
          ...(balancer ? [`balancer: { listen: ${balancer} }`] : []),
          form,
        ];
        const parse = () => parseConfig(yaml.join('\n'), { baseDir: '/' });
        if (!clash) {
          parse();
          continue;
        }
        assert.throws(
          parse,
          (err: unknown) =>
            err instanceof ConfigError &&
            err.issues.length === 1 &&
            err.issues[0]!.path === 'api.listen' &&
            err.issues[0]!.line === 1 &&
            /is balancer\.listen's too .*: give the API and the balancer different ports$/.test(
              err.issues[0]!.message,
            ),
          yaml.join('\n'),
        );
      }
    });
  }

  // A file setting only balancer.listen to the API's default port was told `api.listen (line 1)`,
  // a key it does not have, at the line of whatever came first.
  it('balancer.listen on the default API port: named at its own line, with the API default', () => {
    for (const form of ['groups:\n  web: { command: x }', 'command: x']) {
      for (const balancer of ['9090', '127.0.0.1:9090', '0.0.0.0:9090']) {
        const yaml = `# one listener\nbalancer:\n  listen: ${balancer}\n${form}\n`;
        assert.throws(
          () => parseConfig(yaml, { baseDir: '/' }),
          (err: unknown) => {
            assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
            assert.deepEqual(
              err.issues.map(({ path, line, message }) => ({ path, line, message })),
              [
                {
                  path: 'balancer.listen',
                  line: 3,
                  message:
                    "port 9090 is api.listen's too (127.0.0.1:9090): give the API and the balancer different ports",
                },
              ],
              yaml,
            );
            return true;
          },
        );
      }
    }
  });
});
