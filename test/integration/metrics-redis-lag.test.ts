// `redis: { key, group }` against the real Redis (127.0.0.1:6379) when Redis cannot tell the
// group's lag (`XINFO GROUPS` answers `lag: null` once an entry the group has not read was deleted;
// Redis < 7 has no lag at all): the backlog is the entries after the group's last-delivered-id plus
// its pending ones, as when the lag is known. Before, the stream's length stood in for the lag, and
// it also holds the delivered entries: the pending ones were counted twice and the acknowledged
// ones a stream keeps were counted as work.
// The count of entries after the last-delivered-id goes past one page, and a lag Redis tells is
// bounded by what the stream holds (Redis counts trimmed entries in it).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { RedisSource } from '../../src/metrics/index.js';

const URL = 'redis://127.0.0.1:6379';

describe('Redis stream backlog of a consumer group', () => {
  const redis = new Redis(URL);
  const cleanup: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => {});
    redis.disconnect();
  });

  it('counts undelivered + pending, not the stream length + pending', async () => {
    const key = `scaleplane-lag-${randomUUID().slice(0, 8)}`;
    cleanup.push(() => redis.del(key));
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push((await redis.xadd(key, '*', 'n', String(i)))!);
    await redis.xgroup('CREATE', key, 'workers', '0');
    // Four delivered, two of them acknowledged (kept in the stream, as a stream without XDEL keeps
    // them); one undelivered entry deleted, which makes the lag unknown.
    await redis.xreadgroup('GROUP', 'workers', 'w1', 'COUNT', 4, 'STREAMS', key, '>');
    await redis.xack(key, 'workers', ids[0]!, ids[1]!);
    await redis.xdel(key, ids[9]!);
    const groups = (await redis.xinfo('GROUPS', key)) as unknown[][];
    const fields = groups[0]!;
    const lag = fields[fields.indexOf('lag') + 1];
    assert.equal(lag, null, `Redis should answer lag null here, got ${String(lag)}`);

    const source = new RedisSource({ url: URL, key, group: 'workers' });
    cleanup.push(() => source.close());
    // Undelivered: entries 5–9 less the deleted one = 5 (ids[4..8]); pending: 2.
    assert.deepEqual(await source.read(), [7], 'undelivered 5 + pending 2 (the length, 9, + 2 read 11)');

    // The group reads on; undelivered ones left: 2, pending 5.
    await redis.xreadgroup('GROUP', 'workers', 'w1', 'COUNT', 3, 'STREAMS', key, '>');
    assert.deepEqual(await source.read(), [7], 'undelivered 2 + pending 5');
    await redis.xreadgroup('GROUP', 'workers', 'w1', 'COUNT', 10, 'STREAMS', key, '>');
    await redis.xack(key, 'workers', ...ids.slice(2, 9));
    assert.deepEqual(await source.read(), [0], 'all delivered and acknowledged: no backlog');
  });

  it('counts past 1000 undelivered entries when the delivered one is still in the stream', async () => {
    // The lag unknown (an undelivered entry deleted) sends the read to counting entries after the
    // group's last-delivered-id. That count stopped at 1000 when the last delivered entry, still
    // pending, was the first of the page: 1499 undelivered + 1 pending read 1001. Past the scan the
    // stream's length (1500, the pending entry with them) stands in for the undelivered ones.
    const key = `sp-metrics-h-scan-${randomUUID().slice(0, 8)}`;
    cleanup.push(() => redis.del(key));
    const adds = redis.pipeline();
    for (let i = 0; i < 1501; i++) adds.xadd(key, '*', 'n', String(i));
    const ids = ((await adds.exec()) ?? []).map(([, id]) => id as string);
    await redis.xgroup('CREATE', key, 'workers', '0');
    await redis.xreadgroup('GROUP', 'workers', 'w1', 'COUNT', 1, 'STREAMS', key, '>');
    await redis.xdel(key, ids[1500]!);
    const source = new RedisSource({ url: URL, key, group: 'workers' });
    cleanup.push(() => source.close());
    const [backlog] = await source.read();
    console.log(`1499 undelivered + 1 pending, lag unknown: read ${backlog}`);
    assert.equal(backlog, 1501, 'the length 1500 + pending 1, not the 1000 the scan got to + 1');
  });

  it('counts no more undelivered entries than a trimmed stream holds', async () => {
    // Redis's lag is entries added less entries read: entries a MAXLEN trim took before the group
    // read them stay counted (10 added, 2 read, trimmed to 5: lag 8).
    const key = `sp-metrics-h-trim-${randomUUID().slice(0, 8)}`;
    cleanup.push(() => redis.del(key));
    for (let i = 0; i < 10; i++) await redis.xadd(key, '*', 'n', String(i));
    await redis.xgroup('CREATE', key, 'workers', '0');
    await redis.xreadgroup('GROUP', 'workers', 'w1', 'COUNT', 2, 'STREAMS', key, '>');
    await redis.xtrim(key, 'MAXLEN', 5);
    const fields = ((await redis.xinfo('GROUPS', key)) as unknown[][])[0]!;
    const lag = fields[fields.indexOf('lag') + 1];
    const source = new RedisSource({ url: URL, key, group: 'workers' });
    cleanup.push(() => source.close());
    const [backlog] = await source.read();
    console.log(`5 entries left, 2 pending, Redis lag ${String(lag)}: read ${backlog}`);
    assert.equal(backlog, 7, 'undelivered 5 (all the stream holds) + pending 2');
  });
});
