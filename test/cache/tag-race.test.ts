/**
 * A set with a tag that lands while another instance's deleteByTag of that tag is under way must not
 * leave its value in Redis unlisted by the tag's index, where no later deleteByTag reaches it.
 * B's SREM is held (B's own ioredis client, its srem gated) so that A's set falls in between B's
 * tombstones and B's SREM: the interleaving a busy Redis, or two Cluster nodes, can give.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import { createCache } from '../../src/cache/index.js';
import { cleanupPrefix, SHARED_REDIS_URL, uniquePrefix } from './helpers.js';

const admin = new Redis(SHARED_REDIS_URL);
const prefix = uniquePrefix('tag-race');

after(async () => {
  await cleanupPrefix(admin, prefix);
  admin.disconnect();
});

test('a set landing inside another instance’s deleteByTag stays reachable by the next deleteByTag', async () => {
  const bClient = new Redis(SHARED_REDIS_URL);
  let holdSrem: Promise<void> | undefined;
  let sremReached: (() => void) | undefined;
  const realSrem = bClient.srem.bind(bClient) as (...args: unknown[]) => Promise<number>;
  (bClient as unknown as { srem: (...args: unknown[]) => Promise<number> }).srem = async (...args) => {
    if (holdSrem !== undefined) {
      sremReached?.();
      await holdSrem;
    }
    return realSrem(...args);
  };
  const a = createCache({ prefix, redis: { url: SHARED_REDIS_URL }, memory: false, jitter: 0 });
  const b = createCache({ prefix, redis: { client: bClient }, memory: false, jitter: 0 });
  try {
    assert.equal(await a.ready(), true, 'A ready');
    assert.equal(await b.ready(), true, 'B ready');
    await a.set('k', 'v1', { tags: ['t'] });
    let release!: () => void;
    holdSrem = new Promise((resolve) => {
      release = resolve;
    });
    const reached = new Promise<void>((resolve) => {
      sremReached = resolve;
    });
    const deleting = b.deleteByTag('t');
    await reached;
    // B has read the index (k listed); its SREM waits. A's set with the tag lands now.
    await a.set('k', 'v2', { tags: ['t'] });
    holdSrem = undefined;
    release();
    await deleting;
    await a.deleteByTag('t');
    // deleteByTag resolves once its tombstones are written: what Redis holds now is final.
    const raw = await admin.get(`${prefix}k`);
    const listed = await admin.smembers(`${prefix}__tag:t`);
    assert.ok(
      raw === null || raw.startsWith('spdel '),
      `after a second deleteByTag('t') Redis still holds ${JSON.stringify(raw)} for k (index lists ${JSON.stringify(listed)})`,
    );
  } finally {
    await a.close();
    await b.close();
    bClient.disconnect();
  }
});
