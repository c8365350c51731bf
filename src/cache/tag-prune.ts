/**
 * Tag indexes (a Redis SET per tag of the keys carrying it: the cache's `__tag:` sets, the HTTP
 * response cache's `t:` sets) gain a member on every tagged write, and nothing removes one whose key
 * expired or was evicted: a tag that is always being written (`products` over search results keyed
 * by query) never expires as a whole, so its index grew with every distinct key it ever held. Each
 * index is pruned by sampling instead: every PRUNE_EVERY_WRITES tagged writes, PRUNE_SAMPLE random
 * members are checked and the gone ones removed. Each write adds at most one member that will later
 * go, and each prune removes on average PRUNE_SAMPLE × (the gone fraction), so the gone fraction
 * settles near PRUNE_EVERY_WRITES / PRUNE_SAMPLE: an index stays within about twice its live keys,
 * at two PTTLs per tagged write. The index stays a SET, so instances of an older version share it
 * unchanged (a sorted set by expiry would make their SADD fail WRONGTYPE during a rolling deploy).
 */

import type { Redis } from 'ioredis';

export const PRUNE_EVERY_WRITES = 8;
export const PRUNE_SAMPLE = 16;

/** IndexClient is what a prune sends (a `Redis` or a `Cluster`: one key per command). */
export type IndexClient = Pick<Redis, 'srandmember' | 'srem' | 'pttl'>;

/** TagIndex names one index and how its members map to the keys they stand for. */
export interface TagIndex {
  readonly indexKey: string;
  /** keyOf is the Redis key a member stands for. */
  keyOf(member: string): string;
  /** putBack indexes `member` again, the index living at least `ttlMs` (-1: the key has no expiry). */
  putBack(member: string, ttlMs: number): Promise<unknown>;
}

/**
 * pruneTagSample removes from the index the members of a random sample whose keys no longer exist,
 * and resolves how many it removed. A member written again between the check and the removal (its
 * key set, then its SADD) is put back, so a live key never loses its index entry (a later purge by
 * tag would miss it) and an index emptied meanwhile comes back with an expiry.
 */
export async function pruneTagSample(client: IndexClient, index: TagIndex): Promise<number> {
  // A positive count: distinct members, at most the set's size.
  const sample = await client.srandmember(index.indexKey, PRUNE_SAMPLE);
  const firstLook = await remainingMs(
    client,
    sample.map((member) => index.keyOf(member)),
  );
  const removable = sample.filter((_, i) => firstLook[i] === KEY_MISSING);
  if (removable.length === 0) return 0;
  await client.srem(index.indexKey, ...removable);
  const secondLook = await remainingMs(
    client,
    removable.map((member) => index.keyOf(member)),
  );
  const revived = removable.filter((_, i) => secondLook[i] !== KEY_MISSING);
  await Promise.all(revived.map((member) => index.putBack(member, secondLook[removable.indexOf(member)]!)));
  return removable.length - revived.length;
}

/** PTTL's answer for a key Redis does not hold. */
const KEY_MISSING = -2;

/** remainingMs is PTTL of each of `keys` (one command each, so it works on Cluster). */
function remainingMs(client: IndexClient, keys: readonly string[]): Promise<number[]> {
  return Promise.all(keys.map((key) => client.pttl(key)));
}
