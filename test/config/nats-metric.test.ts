// `nats:` metrics in scaleplane.yaml: credentials in the URL (user:password or a token), which the
// source takes apart, and an error naming the field and line when they cannot be read.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseConfig } from '../../src/config/index.js';
import { workerScaledOn } from '../helpers/group-config.js';

/** worker is a group scaled on one nats metric given as its YAML flow mapping. */
const worker = (metric: string) => workerScaledOn(`nats: ${metric}`);

describe('nats metric config', () => {
  it('keeps a URL with credentials as written', () => {
    const config = parseConfig(
      worker('{ url: "nats://u:p%40ss@h:4222", stream: S, consumer: w, target: 5 }'),
      { baseDir: '/srv' },
    );
    assert.deepEqual(config.groups.workers!.scaling!.metrics[0], {
      type: 'nats',
      target: 5,
      stream: 'S',
      consumer: 'w',
      url: 'nats://u:p%40ss@h:4222',
    });
  });

  it('takes filter_subject as filterSubject (what a consumer not made yet reads)', () => {
    const config = parseConfig(worker('{ stream: S, consumer: w, filter_subject: S.orders, target: 5 }'), {
      baseDir: '/srv',
    });
    assert.deepEqual(config.groups.workers!.scaling!.metrics[0], {
      type: 'nats',
      target: 5,
      stream: 'S',
      consumer: 'w',
      filterSubject: 'S.orders',
      url: 'nats://127.0.0.1:4222',
    });
  });

  it('error: credentials with bad percent-encoding, naming url and its line, not the password', () => {
    try {
      parseConfig(worker('{ url: "nats://u:s3cret%zz@h:4222", stream: S, consumer: w, target: 5 }'), {
        baseDir: '/srv',
      });
    } catch (error) {
      assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
      const issues = error.issues.map(({ path, line, message }) => ({ path, line, message }));
      assert.deepEqual(
        issues.map((i) => [i.path, i.line]),
        [['groups.workers.scaling.metrics.0.nats.url', 8]],
      );
      assert.match(issues[0]!.message, /percent-encoding/);
      assert.doesNotMatch(error.message, /s3cret/);
      return;
    }
    assert.fail('expected a ConfigError');
  });

  it('keeps a comma-separated list of servers as written (the source splits it)', () => {
    const url = 'nats://u:p@a:4222, nats://u:p@b:4222,c:4222';
    const config = parseConfig(worker(`{ url: "${url}", stream: S, consumer: w, target: 5 }`), {
      baseDir: '/srv',
    });
    assert.equal((config.groups.workers!.scaling!.metrics[0] as { url: string }).url, url);
  });

  for (const [url, problem] of [
    ['nats://a:4222,,nats://b:4222', /^entry 2 of 3 \(""\): empty/],
    ['nats://a:4222,nats://[b:4222', /^entry 2 of 2 \("nats:\/\/\[b:4222"\): not a URL/],
    [
      'nats://a:4222,nats://u:s3cret%zz@b:4222',
      /^entry 2 of 2 \("nats:\/\/\*\*\*@b:4222"\): bad percent-encoding/,
    ],
    ['nats://u:s3cret@a:4222,nats://v:s3cret@b:4222', /different credentials/],
  ] as const) {
    it(`error: ${url} names the url field and the bad entry, not the password`, () => {
      try {
        parseConfig(worker(`{ url: "${url}", stream: S, consumer: w, target: 5 }`), { baseDir: '/srv' });
      } catch (error) {
        assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
        const issues = error.issues.map(({ path, message }) => ({ path, message }));
        assert.deepEqual(
          issues.map((i) => i.path),
          ['groups.workers.scaling.metrics.0.nats.url'],
        );
        assert.match(issues[0]!.message, problem);
        assert.doesNotMatch(error.message, /s3cret/);
        return;
      }
      assert.fail('expected a ConfigError');
    });
  }
});
