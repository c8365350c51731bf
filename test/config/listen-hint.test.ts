// A top-level `listen:` (what an NGINX user writes first, to move off 8080) was refused
// as a bare `unknown key`, not saying where Scaleplane's two listeners are set. It now names
// balancer.listen and api.listen, in the short form and the full form.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseConfig } from '../../src/config/index.js';

const SHORT = ['command: node server.js', 'scaling: { min_instances: 1, max_instances: 5, threshold: 80 }'];
const FULL = ['groups:', '  web: { command: node server.js, min_instances: 1, max_instances: 2 }'];

function issuesOf(lines: string[]): { path: string; line?: number; message: string }[] {
  try {
    parseConfig(lines.join('\n'), { baseDir: '/' });
  } catch (err) {
    assert.ok(err instanceof ConfigError, `threw ${String(err)}, not a ConfigError`);
    return err.issues;
  }
  assert.fail(`accepted ${JSON.stringify(lines)}`);
}

describe('a top-level listen', () => {
  for (const [form, body] of [
    ['short form', SHORT],
    ['full form', FULL],
  ] as const) {
    for (const key of ['listen']) {
      it(`${form}: ${key}: is refused naming balancer.listen and api.listen`, () => {
        const issues = issuesOf([`${key}: 127.0.0.1:18080`, ...body]);
        const seen = JSON.stringify(issues);
        assert.equal(issues.length, 1, `one issue expected: ${seen}`);
        assert.equal(issues[0]!.path, key, seen);
        assert.equal(issues[0]!.line, 1, seen);
        assert.match(issues[0]!.message, /^unknown key: set balancer\.listen .* and api\.listen /, seen);
      });
    }
  }

  it('balancer.listen and api.listen, as the hint says, are accepted in the short form', () => {
    const config = parseConfig(
      ['balancer: { listen: 127.0.0.1:18080 }', 'api: { listen: 127.0.0.1:19090 }', ...SHORT].join('\n'),
      { baseDir: '/' },
    );
    assert.equal(config.balancer.listen.port, 18080, JSON.stringify(config.balancer.listen));
    assert.equal(config.api.listen.port, 19090, JSON.stringify(config.api.listen));
  });
});
