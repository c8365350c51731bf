// The Redis clients Scaleplane makes (lease, state store, the cache's Redis tier, the Redis
// Streams queue, the HTTP cache's store) against a redis-server of the test's own that wants a
// password, given a wrong one. ioredis's refused HELLO/AUTH is a ReplyError whose `command.args`
// hold the password, and the same object rejects every queued command and is emitted as 'error':
// each error a client throws, emits or reports is checked as JSON with every own field, as
// util.inspect shows it (hidden fields too) and as pino writes it. A URL the client cannot read is
// checked too: ioredis's TypeError carried it as written in `input`. ioredis takes the password
// from the URL's userinfo or from its query (`/0?password=…`, which was not hidden), and a
// Cluster's seed may carry one of its own (which was not hidden either).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { on, once } from 'node:events';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { inspect } from 'node:util';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { RedisHttpStore } from '../../src/balancer/cache/index.js';
import { type CacheError, createCache } from '../../src/cache/index.js';
import { RedisLease } from '../../src/controller/lease/index.js';
import { RedisState } from '../../src/controller/state/index.js';
import { RedisSource } from '../../src/metrics/redis.js';
import { createQueue, type QueueError } from '../../src/queue/index.js';
import { freePort } from '../helpers/ports.js';
import { within } from '../helpers/until.js';

const PASSWORD = 'right-pa55word';
// Percent-encoded in the URL (`%2F`): ioredis sends it decoded, so both forms must stay hidden.
const SECRET = 's3cr3t/wr0ng';
const ENCODED = 's3cr3t%2Fwr0ng';
const WAIT = 10_000;

/** serialized is `error` as JSON with every own field of each error in it, as inspect and as pino print it. */
function serialized(error: unknown): string {
  const seen = new WeakSet<object>();
  const json = JSON.stringify(error, (_key, value: unknown) => {
    if (typeof value !== 'object' || value === null) return value;
    if (seen.has(value)) return '[seen]';
    seen.add(value);
    if (!(value instanceof Error)) return value;
    const own = value as unknown as Record<string, unknown>;
    return Object.fromEntries(Object.getOwnPropertyNames(value).map((k) => [k, own[k]]));
  });
  let logged = '';
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logged += String(chunk);
      done();
    },
  });
  pino({ level: 'error' }, sink).error({ err: error }, 'logged');
  return `${json}\n${inspect(error, { depth: Number.POSITIVE_INFINITY, showHidden: true })}\n${logged}`;
}

function assertHidden(error: unknown): void {
  assert.ok(error instanceof Error, `not an Error: ${inspect(error)}`);
  const printed = serialized(error);
  for (const secret of [SECRET, ENCODED])
    assert.ok(!printed.includes(secret), `the password is in the error:\n${printed}`);
}

/** assertRefusedAuth checks that `error` (or an error in its causes) is the server's WRONGPASS, and hides the password. */
function assertRefusedAuth(error: unknown): void {
  assertHidden(error);
  let at: unknown = error;
  while (at instanceof Error && !at.message.startsWith('WRONGPASS')) at = at.cause;
  assert.ok(at instanceof Error, `no WRONGPASS in the causes of ${inspect(error)}`);
}

describe('Redis clients: a wrong password is in no error they throw, emit or report', () => {
  let server: ChildProcess;
  let port = 0;

  before(async () => {
    port = await freePort();
    server = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--requirepass',
        PASSWORD,
        '--save',
        '',
        '--appendonly',
        'no',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let log = '';
    const ready = new Promise<void>((resolve, reject) => {
      server.stdout!.on('data', (chunk: Buffer) => {
        log += chunk.toString();
        if (log.includes('Ready to accept connections')) resolve();
      });
      server.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${log}`)));
    });
    await within('redis-server ready', WAIT, ready);
  });

  after(async () => {
    if (server.exitCode !== null || server.signalCode !== null) return;
    const exited = once(server, 'exit');
    server.kill('SIGTERM');
    await exited;
  });

  // The same wrong password in the URL's userinfo and in its query: ioredis sends either.
  const forms: [string, () => string][] = [
    ['password in the userinfo', () => `redis://:${ENCODED}@127.0.0.1:${port}`],
    ['password as a query parameter', () => `redis://127.0.0.1:${port}/0?password=${ENCODED}`],
  ];
  for (const [form, makeUrl] of forms)
    describe(form, () => {
      let url = '';
      before(() => {
        url = makeUrl();
      });

      it('state store: a read fails with the refused AUTH, without the password', async (t) => {
        const state = new RedisState({ url });
        t.after(() => state.close());
        // Lazy: the read connects, and is rejected with the handshake's own error.
        await assert.rejects(within('load', WAIT, state.load()), (error) => {
          assertRefusedAuth(error);
          return true;
        });
        await assert.rejects(within('connect', WAIT, state.connect()), (error) => {
          assertHidden(error);
          return true;
        });
      });

      it('lease: connect fails naming the refused AUTH, without the password', async (t) => {
        const lease = new RedisLease({ url });
        t.after(() => lease.close());
        // Before, it said only "lease: cannot reach Redis (Connection is closed.)".
        await assert.rejects(within('connect', WAIT, lease.connect()), (error) => {
          assert.match(String(error), /lease: cannot reach Redis \(WRONGPASS/);
          assertRefusedAuth(error);
          assert.equal((error as { code?: string }).code, 'LEASE_UNAVAILABLE');
          return true;
        });
      });

      it("cache: the Redis tier's reported error is the refused AUTH, without the password", async (t) => {
        const cache = createCache({ redis: { url } });
        t.after(() => cache.close());
        const [error] = await within('cache error', WAIT, once(cache, 'error'));
        assertRefusedAuth(error);
      });

      it('queue (Redis Streams): the reported connection error is the refused AUTH, without the password', async (t) => {
        const queue = createQueue({ backend: 'redis', redis: url });
        t.after(() => queue.close());
        const [error] = (await within('queue error', WAIT, once(queue, 'error'))) as [QueueError];
        assert.equal(error.code, 'QUEUE_CONNECTION');
        assertRefusedAuth(error);
      });

      it('HTTP cache store: the error it reports is the refused AUTH, without the password', async (t) => {
        let reported: (error: Error) => void = () => {};
        const first = new Promise<Error>((resolve) => {
          reported = resolve;
        });
        const store = new RedisHttpStore({ url, keyPrefix: 'secrets-test:' }, (error) => reported(error));
        t.after(() => store.close());
        assertRefusedAuth(await within('store error', WAIT, first));
      });

      it('redis metric source: a failed read names the refused AUTH, without the password', async (t) => {
        const source = new RedisSource({ url, key: 'jobs' });
        t.after(() => source.close());
        // Before, it said only "redis jobs: Connection is closed.", and the reason was dropped.
        await assert.rejects(within('read', WAIT, source.read()), (error) => {
          assert.match(String(error), /redis jobs: WRONGPASS/);
          assertRefusedAuth(error);
          return true;
        });
      });

      it("cache on a Cluster: a seed's password is in no error it reports", async (t) => {
        // Not a cluster-enabled server: the seed's refused AUTH comes first, and holds the password.
        const cache = createCache({ redis: { cluster: { nodes: [url] } } });
        t.after(() => cache.close());
        const [error] = await within('cache error', WAIT, once(cache, 'error'));
        assertHidden(error);
      });

      it("cache on the user's own client: its invalidation channel's errors are the refused AUTH, without the password", async (t) => {
        // The user's client is theirs (its errors reach their own handlers as ioredis makes them);
        // the connection the cache subscribes on is the cache's, duplicated from it.
        const client = new Redis(url, { enableOfflineQueue: false, commandTimeout: 500 });
        client.on('error', () => {});
        t.after(() => client.disconnect());
        const cache = createCache({ redis: { client } });
        t.after(() => cache.close());
        const busError = async (): Promise<CacheError> => {
          for await (const [error] of on(cache, 'error'))
            if ((error as CacheError).code === 'CACHE_BUS') return error as CacheError;
          throw new Error('the cache stopped emitting errors');
        };
        assertRefusedAuth(await within('CACHE_BUS error', WAIT, busError()));
      });
    });

  describe('a URL the client cannot read is named with its password as ***', () => {
    const bad = [
      [`redis://:${ENCODED}@ho st:6379`, /not a URL: redis:\/\/:\*\*\*@ho st:6379$/],
      [`redis://u:${ENCODED}@h:99999`, /not a URL: redis:\/\/u:\*\*\*@h:99999$/],
      [`redis://:${ENCODED}%zz@h`, /bad percent-encoding in the credentials of redis:\/\/:\*\*\*@h$/],
      [`redis://ho st:6379/0?password=${ENCODED}`, /not a URL: redis:\/\/ho st:6379\/0\?password=\*\*\*$/],
    ] as const;
    const clients: [string, (url: string) => unknown, RegExp][] = [
      ['lease', (u) => new RedisLease({ url: u }), /^lease: url: /],
      ['state store', (u) => new RedisState({ url: u }), /^state: url: /],
      ['cache', (u) => createCache({ redis: { url: u } }), /^redis\.url: /],
      ['queue', (u) => createQueue({ backend: 'redis', redis: u }), /^redis: /],
      ['HTTP cache store', (u) => new RedisHttpStore({ url: u, keyPrefix: 'x:' }), /^url: /],
      ['redis metric source', (u) => new RedisSource({ url: u, key: 'k' }), /^url: /],
    ];
    for (const [name, build, field] of clients)
      for (const [badUrl, shown] of bad)
        it(`${name}: ${badUrl.replace(ENCODED, 'SECRET')}`, () => {
          assert.throws(
            () => build(badUrl),
            (error: Error) => {
              assertHidden(error);
              assert.match(error.message, field);
              assert.match(error.message, shown);
              return true;
            },
          );
        });
  });
});
