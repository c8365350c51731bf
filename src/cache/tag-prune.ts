/**
 * Tag indexes (a Redis SET of the value keys under each tag) gain a member on every tagged write,
 * and nothing removes one whose key expired or was evicted: a tag that is always being written
 * (`products` over search results keyed by query) never expires as a whole, so its index grew with
 * every distinct key it ever held. Each index is pruned by sampling instead: every
 * PRUNE_EVERY_WRITES tagged writes, PRUNE_SAMPLE random members are checked and the gone ones
 * removed. Each write adds at most one member that will later go, and each prune removes on average
 * PRUNE_SAMPLE × (the gone fraction), so the gone fraction settles near
 * PRUNE_EVERY_WRITES / PRUNE_SAMPLE: an index stays within about twice its live keys, at two EXISTS
 * per tagged write. The index stays a SET, so instances of an older version share it unchanged
 * (a sorted set by expiry would make their SADD fail WRONGTYPE during a rolling deploy).
 */

import type { RedisClient } from './redis-tier.js';
import type { ScriptCommands } from './scripts.js';

export const PRUNE_EVERY_WRITES = 8;
export const PRUNE_SAMPLE = 16;

/**
 * pruneTagSample removes from `tagKey` the members of a random sample whose keys no longer exist,
 * and resolves how many it removed. A member written again between the check and the removal
 * (SET, then TAG_ADD's SADD) is put back through TAG_ADD, so a live key never loses its index entry
 * (a later deleteByTag would miss it) and an index emptied meanwhile comes back with an expiry.
 */
export async function pruneTagSample(client: RedisClient, tagKey: string): Promise<number> {
  // A positive count: distinct members, at most the set's size.
  const sample = await client.srandmember(tagKey, PRUNE_SAMPLE);
  const firstLook = await remainingMs(client, sample);
  const removable = sample.filter((_, i) => firstLook[i] === KEY_MISSING);
  if (removable.length === 0) return 0;
  await client.srem(tagKey, ...removable);
  const secondLook = await remainingMs(client, removable);
  const scripts = client as unknown as ScriptCommands;
  let revived = 0;
  await Promise.all(
    removable.map((key, i) => {
      const ttl = secondLook[i]!;
      if (ttl === KEY_MISSING) return undefined;
      revived++;
      // A key without expiry (-1) is not one the cache wrote; indexed again all the same.
      return ttl > 0 ? scripts.scaleplaneTagAdd(tagKey, key, ttl) : client.sadd(tagKey, key);
    }),
  );
  return removable.length - revived;
}

/** PTTL's answer for a key Redis does not hold. */
const KEY_MISSING = -2;

/** remainingMs is PTTL of each of `keys` (one command each, so it works on Cluster). */
function remainingMs(client: RedisClient, keys: readonly string[]): Promise<number[]> {
  return Promise.all(keys.map((key) => client.pttl(key)));
}
