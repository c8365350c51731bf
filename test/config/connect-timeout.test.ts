// balancer.connect_timeout at or above request_timeout never fires: the request timer, running from
// the first connect, cuts the request first (a 504, where a connect failure is retried on another
// instance). A written one is refused, naming both keys and their values; a short request_timeout
// alone is meant and accepted, and the balancer's default connect timeout follows it (see
// test/balancer/connect-timeout.test.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseConfig } from '../../src/config/index.js';
import { connectTimeoutIssue } from '../../src/config/schema.js';

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

describe('config: balancer connect_timeout against request_timeout', () => {
  it('equal: refused at connect_timeout, naming both and their values', () => {
    const issues = issuesOf('  request_timeout: 30s', '  connect_timeout: 30s');
    assert.equal(issues.length, 1, JSON.stringify(issues));
    assert.equal(issues[0]!.path, 'balancer.connect_timeout');
    assert.equal(issues[0]!.line, 3);
    assert.match(
      issues[0]!.message,
      /connect_timeout \(30000 ms\) must be below request_timeout \(30000 ms\)/,
    );
  });

  it('above the default request_timeout (60s): refused', () => {
    const issues = issuesOf('  connect_timeout: 90s');
    assert.deepEqual(
      issues.map((i) => [i.path, i.line]),
      [['balancer.connect_timeout', 2]],
    );
    assert.match(
      issues[0]!.message,
      /connect_timeout \(90000 ms\) must be below request_timeout \(60000 ms\)/,
    );
  });

  it("not a duration: one issue, the duration's, not a second comparing it with request_timeout", () => {
    // Before, a second issue read `connect_timeout ([object Object] ms) must be below …`.
    for (const balancer of [
      ['  connect_timeout: soon'],
      ['  request_timeout: soon', '  connect_timeout: 1s'],
    ]) {
      const issues = issuesOf(...balancer);
      assert.equal(issues.length, 1, JSON.stringify(issues));
      assert.match(issues[0]!.message, /invalid duration "soon"/);
    }
  });

  it('below: accepted', () => {
    const config = parse('  request_timeout: 5s', '  connect_timeout: 2s');
    assert.equal(config.balancer.requestTimeout, 5_000);
    assert.equal(config.balancer.connectTimeout, 2_000);
  });

  it('not written: left to the balancer, which derives it from request_timeout', () => {
    // Before, 10s whatever request_timeout was: with request_timeout 5s it never fired.
    assert.equal(parse('  request_timeout: 5s').balancer.connectTimeout, undefined, 'request_timeout 5s');
    assert.equal(parse('  listen: 127.0.0.1:8080').balancer.connectTimeout, undefined, 'neither written');
  });

  it('connectTimeoutIssue at the boundary (pure)', () => {
    const cases: Array<[number, number | undefined, boolean]> = [
      [1000, 999, false],
      [1000, 1000, true],
      [1000, 1001, true],
      [1000, undefined, false],
    ];
    for (const [request, connect, refused] of cases)
      assert.equal(connectTimeoutIssue(request, connect) !== undefined, refused, `${request} / ${connect}`);
  });
});
