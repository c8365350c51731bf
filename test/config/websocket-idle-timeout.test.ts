// balancer.websocket_idle_timeout: an open WebSocket tunnel silent both ways this long is closed
// (NGINX's proxy_read_timeout, 60 s by default); 0 = never. Errors name the key and its line; a
// Balancer built in code refuses the same values (see test/balancer/websocket-timeouts.test.ts
// for the timeout itself).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Balancer, BalancerError } from '../../src/balancer/index.js';
import { ConfigError, parseConfig } from '../../src/config/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { config } from '../balancer/helpers.js';

const lines = (...text: string[]) => `${text.join('\n')}\n`;
const GROUP = ['groups:', '  web:', '    command: node server.js'];

function parse(...balancer: string[]) {
  return parseConfig(lines('balancer:', ...balancer, ...GROUP), { baseDir: '/srv/app' });
}

function issuesOf(...balancer: string[]): { path: string; line: number | undefined; message: string }[] {
  try {
    parse(...balancer);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.issues.map(({ path, line, message }) => ({ path, line, message }));
  }
  assert.fail('expected a ConfigError');
}

describe('config: balancer websocket_idle_timeout', () => {
  it('not written: 60 s; written: as written; 0: never', () => {
    assert.equal(parse('  listen: 127.0.0.1:8080').balancer.websocketIdleTimeout, 60_000);
    assert.equal(parse('  websocket_idle_timeout: 5m').balancer.websocketIdleTimeout, 300_000);
    assert.equal(parse('  websocket_idle_timeout: 0s').balancer.websocketIdleTimeout, 0);
  });

  it('not a duration, negative or beyond a timer: refused at its path and line', () => {
    for (const value of ['soon', '-5s', '30d']) {
      const issues = issuesOf('  listen: 127.0.0.1:8080', `  websocket_idle_timeout: ${value}`);
      assert.deepEqual(
        issues.map((i) => [i.path, i.line]),
        [['balancer.websocket_idle_timeout', 3]],
        `${value}: ${JSON.stringify(issues)}`,
      );
    }
  });

  it('a Balancer built in code refuses what the config refuses, naming the field', () => {
    for (const websocketIdleTimeout of [-1, Number.NaN, 2 ** 31]) {
      assert.throws(
        () =>
          new Balancer({
            config: config({ websocketIdleTimeout }),
            metrics: createMetrics({ defaultMetrics: false }),
          }),
        (err: unknown) =>
          err instanceof BalancerError &&
          err.code === 'BALANCER_INVALID_ARGUMENT' &&
          /^websocketIdleTimeout must be 0 \(never\) or a duration up to 2147483647 ms, got /.test(
            err.message,
          ),
        String(websocketIdleTimeout),
      );
    }
  });
});
