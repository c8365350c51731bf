import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import { createCache } from '../../src/cache/index.js';
import { NatsSource, natsServers, RabbitMqSource, RedisSource } from '../../src/metrics/index.js';
import { closedPort } from '../helpers/ports.js';

// A URL's password or token must never reach a message, a log line or an alert: an error is
// checked as a logger would print it (inspect: message, stack, own fields such as a URL error's
// `input`, and its causes).
const SECRET = 's3cr3t';

function assertHidden(err: unknown): void {
  const printed = inspect(err, { depth: 10 });
  assert.ok(!printed.includes(SECRET), `the secret is printed:\n${printed}`);
}

function throwsHidden(build: () => unknown, shown?: RegExp): void {
  assert.throws(build, (err: Error) => {
    assertHidden(err);
    if (shown) assert.match(err.message, shown);
    return true;
  });
}

describe('NATS URLs: no token or password in messages', () => {
  // A token URL (`nats://token@host`) was shown as written: only a password was hidden.
  for (const [url, shown] of [
    [`nats://${SECRET}@ho st:4222`, /not a URL: nats:\/\/\*\*\*@ho st:4222/],
    [`${SECRET}@ho st:4222`, /not a URL: nats:\/\/\*\*\*@ho st:4222/],
    [`nats://${SECRET}%zz@h:4222`, /bad percent-encoding .* nats:\/\/\*\*\*@h:4222/],
    [`nats://${SECRET}@h:99999`, /not a URL: nats:\/\/\*\*\*@h:99999/],
    [`nats://u:${SECRET}@ho st:4222`, /not a URL: nats:\/\/\*\*\*@ho st:4222/],
    [`nats://u:${SECRET}%zz@h:4222`, /bad percent-encoding .* nats:\/\/\*\*\*@h:4222/],
    [`nats://a:4222,nats://${SECRET}@[b`, /entry 2 of 2 .*: not a URL: nats:\/\/\*\*\*@\[b/],
  ] as const) {
    it(`natsServers and NatsSource refuse ${url.replace(SECRET, 'SECRET')} without showing it`, () => {
      throwsHidden(() => natsServers(url), shown);
      throwsHidden(() => new NatsSource({ url, stream: 's', consumer: 'c' }), shown);
    });
  }

  for (const auth of [`${SECRET}@`, `u:${SECRET}@`]) {
    it(`a read from an unreachable server (nats://${auth.replace(SECRET, 'SECRET')}…) fails without showing it`, async (t) => {
      const source = new NatsSource({
        url: `nats://${auth}127.0.0.1:${await closedPort()}`,
        stream: 's',
        consumer: 'c',
      });
      t.after(() => source.close());
      await assert.rejects(source.read(), (err: Error) => {
        assert.equal((err as { code?: string }).code, 'SOURCE_FAILED');
        assertHidden(err);
        return true;
      });
    });
  }
});

describe('RabbitMQ URLs: no password in messages', () => {
  // Read from the management API (mode rate, or management_url): the URLs are taken apart at once.
  // Before, a URL that did not parse was quoted as written, a badly encoded password as it was.
  for (const [options, shown] of [
    [{ url: `amqp://u:${SECRET}@ho st`, mode: 'rate' }, /^url: not a URL: "amqp:\/\/u:\*\*\*@ho st"/],
    [{ url: `amqp://u:${SECRET}@h:99999`, mode: 'rate' }, /^url: not a URL: "amqp:\/\/u:\*\*\*@h:99999"/],
    [{ url: `amqp://u:${SECRET}%zz@h`, mode: 'rate' }, /^url: bad percent-encoding in its password$/],
    [{ url: `amqp://${SECRET}%zz:p@h`, mode: 'rate' }, /^url: bad percent-encoding in its user$/],
    [
      { url: 'amqp://h', managementUrl: `http://u:${SECRET}@ho st:15672` },
      /^management_url: not a URL: "http:\/\/u:\*\*\*@ho st:15672"/,
    ],
    [
      { url: 'amqp://h', managementUrl: `http://u:${SECRET}%zz@h:15672` },
      /^management_url: bad percent-encoding in its password$/,
    ],
  ] as const) {
    it(`refuses ${JSON.stringify(options).replace(SECRET, 'SECRET')} without showing it`, () => {
      throwsHidden(() => new RabbitMqSource({ queue: 'q', ...options }), shown);
    });
  }

  for (const mode of ['length', 'rate'] as const) {
    it(`a ${mode} read from an unreachable broker fails without showing it`, async (t) => {
      const port = await closedPort();
      const source = new RabbitMqSource({
        url: `amqp://u:${SECRET}@127.0.0.1:${port}`,
        queue: 'q',
        mode,
        ...(mode === 'rate' && { managementUrl: `http://u:${SECRET}@127.0.0.1:${port}` }),
        timeout: 2000,
      });
      t.after(() => source.close());
      await assert.rejects(source.read(), (err: Error) => {
        assert.equal((err as { code?: string }).code, 'SOURCE_FAILED');
        assertHidden(err);
        return true;
      });
    });
  }
});

describe('Redis URLs: no password in messages', () => {
  // Before, the client's URL error carried the URL as written (its `input`), which a logger prints.
  const topologies = {
    server: {},
    sentinel: { sentinel: { name: 'm', sentinels: [{ host: '127.0.0.1', port: 1 }] } },
    cluster: { cluster: [{ host: '127.0.0.1', port: 1 }] },
  };
  for (const [name, topology] of Object.entries(topologies)) {
    for (const [url, shown] of [
      [`redis://:${SECRET}@ho st:6379`, /^url: not a URL: redis:\/\/:\*\*\*@ho st:6379$/],
      [`redis://u:${SECRET}@h:99999`, /^url: not a URL: redis:\/\/u:\*\*\*@h:99999$/],
      [`redis://:${SECRET}%zz@h`, /^url: bad percent-encoding in the credentials of redis:\/\/:\*\*\*@h$/],
    ] as const) {
      it(`${name}: refuses ${url.replace(SECRET, 'SECRET')} without showing it`, () => {
        throwsHidden(() => new RedisSource({ url, key: 'k', ...topology }), shown);
      });
    }
  }

  it('a read from an unreachable server fails without showing it', async (t) => {
    const source = new RedisSource({ url: `redis://:${SECRET}@127.0.0.1:${await closedPort()}`, key: 'k' });
    t.after(() => source.close());
    await assert.rejects(source.read(), (err: Error) => {
      assert.equal((err as { code?: string }).code, 'SOURCE_FAILED');
      assertHidden(err);
      return true;
    });
  });

  it('the cache refuses a redis URL of another scheme without showing its password', () => {
    throwsHidden(
      () => createCache({ redis: { url: `valkey://:${SECRET}@h:6379` } }),
      /redis:\/\/ or rediss:\/\/ URL, got "valkey:\/\/:\*\*\*@h:6379"/,
    );
  });
});
