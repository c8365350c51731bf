// readRedisDepth turned any error reply of its MULTI into "nothing there": XLEN refused WRONGTYPE
// (the key is not a stream) read as depth 0, which can scale a worker group to zero, XINFO GROUPS
// refused as pending 0, and the delayed-job count refused (an ACL user denied the script's ZCOUNT,
// a `:delayed` key of another type) as no due jobs: 2 due jobs read depth 0. Commands an ACL user
// may not run at all (XLEN, XINFO) abort the MULTI as it is queued, which rejected with a bare
// EXECABORT naming neither the queue nor the command. Only a stream that does not exist reads empty
// now; any other failure rejects with a QUEUE_BACKEND QueueError naming the queue, the command and
// the cause. Shown on the shared Redis with ACL users of the test's own (deleted after), allowed
// only this run's key prefix, and keys of the wrong type under that prefix.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { createQueue, type Queue, QueueError, readRedisDepth, redisKeys } from '../../src/queue/index.js';
import { uniqueName, waitFor } from './helpers.js';

const URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** settled resolves with the reading or the rejection, so either can be asserted on. */
const settled = <T>(promise: Promise<T>): Promise<T | unknown> =>
  promise.then(
    (value) => value,
    (error: unknown) => error,
  );

describe('Redis depth when a command of the reading fails', () => {
  const run = randomBytes(4).toString('hex');
  const prefix = `t-depth-err-${run}`;
  const users = {
    noLen: `sp-depth-nolen-${run}`,
    noInfo: `sp-depth-noinfo-${run}`,
    noZcount: `sp-depth-nozcount-${run}`,
  };
  const password = `pw-${run}`;
  const cleanup: (() => Promise<unknown>)[] = [];
  let admin: Redis;

  const clientAs = (user: string): Redis => {
    const redis = new Redis(URL, { username: user, password, lazyConnect: true, maxRetriesPerRequest: 0 });
    redis.on('error', () => {});
    cleanup.push(async () => redis.disconnect());
    return redis;
  };
  const queueAs = (user?: string): Queue => {
    const redis = user === undefined ? URL : { host: '127.0.0.1', port: 6379, username: user, password };
    const queue = createQueue({ backend: 'redis', redis, prefix });
    queue.on('error', () => {});
    cleanup.push(() => queue.close());
    return queue;
  };

  before(async () => {
    admin = new Redis(URL);
    // Only this run's keys; everything else allowed but the commands each user is to be refused.
    const common = ['on', `>${password}`, 'resetkeys', `~${prefix}:*`, 'resetchannels', '+@all'];
    await admin.call('ACL', 'SETUSER', users.noLen, ...common, '-xlen', '-xinfo');
    await admin.call('ACL', 'SETUSER', users.noInfo, ...common, '-xinfo');
    await admin.call('ACL', 'SETUSER', users.noZcount, ...common, '-zcount');
  });
  after(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => {});
    await admin.call('ACL', 'DELUSER', ...Object.values(users));
    let cursor = '0';
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length > 0) await admin.del(...keys);
      cursor = next;
    } while (cursor !== '0');
    admin.disconnect();
  });

  /** filled makes a queue with 5 jobs, 2 of them delivered and unacked: depth 3, pending 2. */
  const filled = async (): Promise<string> => {
    const name = uniqueName('depth-err');
    const queue = queueAs();
    for (let i = 0; i < 5; i++) await queue.publish(name, i);
    const keys = redisKeys(prefix, name);
    await admin.xreadgroup('GROUP', 'workers', 'taker', 'COUNT', 2, 'STREAMS', keys.stream, '>');
    const truth = await readRedisDepth(admin, name, { prefix });
    assert.deepEqual({ depth: truth.depth, pending: truth.pending }, { depth: 3, pending: 2 });
    return name;
  };

  const assertRejected = (outcome: unknown, name: string, command: string, cause: RegExp): void => {
    console.log(`${command}:`, outcome instanceof Error ? outcome.message : outcome);
    assert.ok(outcome instanceof QueueError, `rejects, not a reading: ${JSON.stringify(outcome)}`);
    assert.equal(outcome.code, 'QUEUE_BACKEND');
    assert.ok(outcome.message.includes(`"${name}"`), `names the queue: ${outcome.message}`);
    assert.ok(outcome.message.includes(command), `names the command ${command}: ${outcome.message}`);
    assert.match(outcome.message, cause, 'says why (the server refused it)');
    assert.ok(outcome.cause instanceof Error, 'keeps the reply error as its cause');
  };

  it('an ACL user refused XLEN gets no reading (not depth 0)', async () => {
    const name = await filled();
    const outcome = await settled(readRedisDepth(clientAs(users.noLen), name, { prefix }));
    assertRejected(outcome, name, 'XLEN', /NOPERM/);
  });

  it('an ACL user refused XINFO gets no reading (not pending 0), directly and through queue.depth', async () => {
    const name = await filled();
    const outcome = await settled(readRedisDepth(clientAs(users.noInfo), name, { prefix }));
    assertRejected(outcome, name, 'XINFO GROUPS', /NOPERM/);
    const viaQueue = await settled(queueAs(users.noInfo).depth(name));
    assertRejected(viaQueue, name, 'XINFO GROUPS', /NOPERM/);
  });

  it('an ACL user whose delayed-job count is refused gets no reading (not the due jobs left out)', async () => {
    const name = uniqueName('depth-err');
    const queue = queueAs();
    await queue.publish(name, 'due', { delay: 1 });
    await queue.publish(name, 'due', { delay: 1 });
    await waitFor(
      async () => (await readRedisDepth(admin, name, { prefix })).depth === 2,
      'the two delayed jobs to fall due',
    );
    const outcome = await settled(readRedisDepth(clientAs(users.noZcount), name, { prefix }));
    assertRejected(outcome, name, 'delayed-job count', /can't run this command/);
  });

  it('a key that is not a stream gets no reading (not depth 0), nor a delayed key that is not a set', async () => {
    const name = uniqueName('depth-err');
    await admin.set(redisKeys(prefix, name).stream, 'not a stream');
    assertRejected(await settled(readRedisDepth(admin, name, { prefix })), name, 'XLEN', /WRONGTYPE/);

    const other = await filled();
    await admin.set(redisKeys(prefix, other).delayed, 'not a sorted set');
    assertRejected(
      await settled(readRedisDepth(admin, other, { prefix })),
      other,
      'delayed-job count',
      /WRONGTYPE/,
    );
  });

  it('a stream that does not exist reads empty, as does a group that does not exist', async () => {
    const name = uniqueName('depth-missing');
    const reading = await readRedisDepth(admin, name, { prefix });
    assert.deepEqual(
      { depth: reading.depth, pending: reading.pending, delayed: reading.delayed },
      { depth: 0, pending: 0, delayed: 0 },
    );
    assert.equal(await admin.exists(redisKeys(prefix, name).stream), 0, 'the reading made no key');

    const filledName = await filled();
    const noGroup = await readRedisDepth(admin, filledName, { prefix, group: 'nobody' });
    assert.deepEqual({ depth: noGroup.depth, pending: noGroup.pending }, { depth: 5, pending: 0 });
  });
});
