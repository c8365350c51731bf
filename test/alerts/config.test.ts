import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseConfig } from '../../src/config/index.js';

const base = 'groups:\n  web: { command: node server.js }\n';

describe('alerts: config section', () => {
  it('reads sinks, rate limit and repeat interval, with defaults', () => {
    const config = parseConfig(
      `${base}alerts:
  rate_limit: 5
  repeat_interval: 1h
  sinks:
    - webhook: { url: "http://127.0.0.1:9/hook", headers: { x-token: abc } }
    - slack: { url_env: SLACK_URL, channel: "#ops" }
    - sentry: {}
`,
      { baseDir: '/' },
    );
    assert.deepEqual(config.alerts, {
      rateLimit: 5,
      repeatInterval: 3_600_000,
      keepFiringFor: 0,
      sinks: [
        {
          type: 'webhook',
          url: 'http://127.0.0.1:9/hook',
          retries: 3,
          timeout: 5000,
          headers: { 'x-token': 'abc' },
        },
        { type: 'slack', urlEnv: 'SLACK_URL', retries: 3, timeout: 5000, channel: '#ops' },
        { type: 'sentry', dsnEnv: 'SENTRY_DSN', environment: 'production', sendResolved: true },
      ],
    });
    assert.equal(parseConfig(base, { baseDir: '/' }).alerts, undefined);
  });

  it('keep_firing_for: a duration, named when it is not one', () => {
    const parse = (value: string) =>
      parseConfig(`${base}alerts:\n  keep_firing_for: ${value}\n`, { baseDir: '/' }).alerts?.keepFiringFor;
    assert.equal(parse('5m'), 300_000);
    assert.equal(parse('0s'), 0);
    assert.throws(
      () => parse('-1s'),
      (err: Error) => err instanceof ConfigError && /alerts\.keep_firing_for/.test(err.message),
    );
    assert.throws(
      () => parse('soon'),
      (err: Error) => err instanceof ConfigError && /alerts\.keep_firing_for/.test(err.message),
    );
  });

  it('names the path of a bad sink', () => {
    const bad = (sinks: string) => {
      try {
        parseConfig(`${base}alerts:\n  sinks:\n${sinks}`, { baseDir: '/' });
      } catch (err) {
        assert.ok(err instanceof ConfigError, 'err instanceof ConfigError');
        return err.message;
      }
      assert.fail('accepted');
    };
    assert.match(bad('    - pager: { url: "http://x" }\n'), /alerts\.sinks\.0\.pager.*unknown sink/);
    assert.match(bad('    - webhook: { channel: x }\n'), /alerts\.sinks\.0\.webhook/);
    assert.match(
      bad('    - webhook: {}\n'),
      /alerts\.sinks\.0\.webhook\.url.*exactly one of url and url_env/,
    );
  });
});
