import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import { NatsSource, natsServers } from '../../src/metrics/index.js';

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

/** closedPort is a port nothing listens on (just released by a listener). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
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
