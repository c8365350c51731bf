// balancer.per_try_timeout at or above request_timeout never fires: the request timer, running
// across every try, cuts the request first (a 504 where the per-try timeout would have retried a
// GET on another instance). A written one is refused naming both keys and their values; not
// written, it is off. A Balancer built in code refuses the same (see
// test/balancer/per-try-timeout.test.ts for the timeout itself).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Balancer, BalancerError } from '../../src/balancer/index.js';
import { ConfigError, parseConfig } from '../../src/config/index.js';
import { perTryTimeoutIssue } from '../../src/config/schema.js';
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

describe('config: balancer per_try_timeout', () => {
  it('equal to request_timeout: refused at per_try_timeout, naming both and their values', () => {
    const issues = issuesOf('  request_timeout: 5s', '  per_try_timeout: 5s');
    assert.deepEqual(
      issues.map((i) => [i.path, i.line]),
      [['balancer.per_try_timeout', 3]],
    );
    assert.match(issues[0]!.message, /per_try_timeout \(5000 ms\) must be below request_timeout \(5000 ms\)/);
  });

  it('above the default request_timeout (60s): refused', () => {
    const issues = issuesOf('  per_try_timeout: 2m');
    assert.deepEqual(
      issues.map((i) => [i.path, i.line]),
      [['balancer.per_try_timeout', 2]],
    );
    assert.match(
      issues[0]!.message,
      /per_try_timeout \(120000 ms\) must be below request_timeout \(60000 ms\)/,
    );
  });

  it('zero or not a duration: refused at per_try_timeout', () => {
    for (const value of ['0s', 'soon']) {
      const issues = issuesOf(`  per_try_timeout: ${value}`);
      assert.deepEqual(
        issues.map((i) => i.path),
        ['balancer.per_try_timeout'],
        JSON.stringify(issues),
      );
    }
  });

  it('below: accepted; not written: off', () => {
    assert.equal(parse('  request_timeout: 5s', '  per_try_timeout: 1500ms').balancer.perTryTimeout, 1_500);
    assert.equal(parse('  request_timeout: 5s').balancer.perTryTimeout, undefined);
  });

  it('perTryTimeoutIssue at the boundary (pure)', () => {
    const cases: Array<[number, number | undefined, boolean]> = [
      [1000, 999, false],
      [1000, 1000, true],
      [1000, 1001, true],
      [1000, undefined, false],
    ];
    for (const [request, perTry, refused] of cases)
      assert.equal(perTryTimeoutIssue(request, perTry) !== undefined, refused, `${request} / ${perTry}`);
  });

  it('a Balancer built in code refuses it too, naming the field', () => {
    const cases: Array<[number, RegExp]> = [
      [10_000, /perTryTimeout \(10000 ms\) must be below requestTimeout \(10000 ms\)/],
      [0, /perTryTimeout must be > 0 ms, got 0/],
      [Number.NaN, /perTryTimeout must be > 0 ms, got NaN/],
    ];
    for (const [perTryTimeout, message] of cases) {
      assert.throws(
        () =>
          new Balancer({
            config: config({ requestTimeout: 10_000, perTryTimeout }),
            metrics: createMetrics({ defaultMetrics: false }),
          }),
        (err: unknown) =>
          err instanceof BalancerError &&
          err.code === 'BALANCER_INVALID_ARGUMENT' &&
          message.test(err.message),
        String(perTryTimeout),
      );
    }
  });
});
