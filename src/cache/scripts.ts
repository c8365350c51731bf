/**
 * The Lua scripts the Redis tier runs. Each touches only the keys it declares, so every one is
 * valid on Redis Cluster.
 */

/**
 * RELEASE_LOCK deletes the lock only if it still holds our token, so a holder whose lock expired
 * never frees a lock another process has since taken.
 *   KEYS[1] lock key
 *   ARGV[1] token
 * Returns 1 when released, 0 when the lock was not ours (or gone).
 */
export const RELEASE_LOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`;

/**
 * TAG_ADD adds a key to a tag's set and stretches the set's expiry to cover the key, never shortening
 * it (so the index outlives every member, and dies once they are all gone). Works on Redis 6 too,
 * where PEXPIRE has no GT flag.
 *   KEYS[1] tag set key
 *   ARGV[1] member (the value's Redis key)
 *   ARGV[2] ms the member lives
 * Returns 1.
 */
export const TAG_ADD = `
redis.call('SADD', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
local want = tonumber(ARGV[2])
if ttl == -1 or ttl < want then
  redis.call('PEXPIRE', KEYS[1], want)
end
return 1
`;

/**
 * INDEX_TAIL ends SET_IF_UNCHANGED and SET_IF_NOT_OLDER once they have stored the value: it lists the
 * value's key (KEYS[1]) in each tag set KEYS[2..], as TAG_ADD does, in the same script. Sent as a
 * command of its own after the value's reply, a connection lost or a process killed in between left
 * the value in Redis listed by no tag: no deleteByTag of any instance reached it for its whole TTL.
 * With no tag keys (numberOfKeys 1) it does nothing.
 */
const INDEX_TAIL = `
local want = tonumber(ARGV[3])
for i = 2, #KEYS do
  redis.call('SADD', KEYS[i], KEYS[1])
  local ttl = redis.call('PTTL', KEYS[i])
  if ttl == -1 or ttl < want then
    redis.call('PEXPIRE', KEYS[i], want)
  end
end`;

/**
 * SET_IF_UNCHANGED stores a loaded value only if the key still holds what the load saw before it
 * ran: another instance's set or delete meanwhile means the load may predate that write. A delete
 * leaves a tombstone (`spdel …`, unique per delete) rather than no key, so a delete of a key that
 * was not there is a change too.
 *   KEYS[1] the value's key
 *   ARGV[1] what the load saw: '' for no key, the tombstone itself (short: compared as it is), or
 *           the SHA-1 (hex) of the entry's bytes
 *   ARGV[2] the entry to store
 *   ARGV[3] ms it lives
 *   KEYS[2..] tag sets to list the key in once stored (the `…Indexed` command; see INDEX_TAIL)
 * Returns 1 when stored, 0 when the key changed.
 */
export const SET_IF_UNCHANGED = `
local current = redis.call('GET', KEYS[1])
local seen = ARGV[1]
if seen == '' then
  if current then return 0 end
elseif string.sub(seen, 1, 6) == 'spdel ' then
  if current ~= seen then return 0 end
elseif not current or redis.sha1hex(current) ~= seen then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
${INDEX_TAIL}
return 1
`;

/**
 * SET_IF_NOT_OLDER stores an entry replayed from the offline queue unless the key holds something
 * written after it: an entry whose `createdAt` is later, or a delete's tombstone whose time is later.
 * Another instance may have set or deleted the key while this one was cut off from Redis; replayed
 * as a plain SET, the older value overwrote the newer one, for its whole TTL, in every instance.
 * Only the head of the value is read (GETRANGE), so a large entry is not copied into the script.
 * Times are the writers' clocks (ms since the epoch): writes closer together than the clocks' skew
 * are ordered by those clocks. Anything else at the key (no key, foreign data, a tombstone without
 * a time) is overwritten, as a plain SET does.
 *   KEYS[1] the value's key
 *   ARGV[1] the replayed entry's createdAt
 *   ARGV[2] the entry to store
 *   ARGV[3] ms it lives
 *   KEYS[2..] tag sets to list the key in once stored (the `…Indexed` command; see INDEX_TAIL)
 * Returns 1 when stored, 0 when the key holds a newer write.
 */
export const SET_IF_NOT_OLDER = `
local head = ''
if redis.call('TYPE', KEYS[1])['ok'] == 'string' then
  head = redis.call('GETRANGE', KEYS[1], 0, 127)
end
local at
if string.sub(head, 1, 4) == 'sp2 ' then
  at = tonumber(string.match(head, '^sp2 (%S+) '))
elseif string.sub(head, 1, 6) == 'spdel ' then
  at = tonumber(string.match(head, '^spdel %S+ %S+ (%S+)'))
end
if at and at > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
${INDEX_TAIL}
return 1
`;

/** ScriptCommands are the commands `defineScripts` adds to an ioredis client. */
export interface ScriptCommands {
  scaleplaneReleaseLock(lockKey: string, token: string): Promise<number>;
  scaleplaneTagAdd(tagKey: string, member: string, ttlMs: number): Promise<number>;
  scaleplaneSetIfUnchanged(key: string, seen: string, text: string, ttlMs: number): Promise<number>;
  scaleplaneSetIfNotOlder(key: string, createdAt: number, text: string, ttlMs: number): Promise<number>;
  /** scaleplaneSetIfUnchangedIndexed is SET_IF_UNCHANGED with tag keys: `(1 + tags, key, ...tagKeys, seen, text, ttlMs)`. */
  scaleplaneSetIfUnchangedIndexed(keyCount: number, ...keysThenArgs: (string | number)[]): Promise<number>;
  /** scaleplaneSetIfNotOlderIndexed is SET_IF_NOT_OLDER with tag keys: `(1 + tags, key, ...tagKeys, createdAt, text, ttlMs)`. */
  scaleplaneSetIfNotOlderIndexed(keyCount: number, ...keysThenArgs: (string | number)[]): Promise<number>;
}

/** defineScripts registers the scripts on `client` (ioredis runs them by EVALSHA, falling back to EVAL). */
export function defineScripts(client: {
  defineCommand(name: string, definition: { numberOfKeys?: number; lua: string }): void;
}): void {
  client.defineCommand('scaleplaneReleaseLock', { numberOfKeys: 1, lua: RELEASE_LOCK });
  client.defineCommand('scaleplaneTagAdd', { numberOfKeys: 1, lua: TAG_ADD });
  client.defineCommand('scaleplaneSetIfUnchanged', { numberOfKeys: 1, lua: SET_IF_UNCHANGED });
  client.defineCommand('scaleplaneSetIfNotOlder', { numberOfKeys: 1, lua: SET_IF_NOT_OLDER });
  // The same scripts, the key count given per call: the value's key, then its tag sets.
  client.defineCommand('scaleplaneSetIfUnchangedIndexed', { lua: SET_IF_UNCHANGED });
  client.defineCommand('scaleplaneSetIfNotOlderIndexed', { lua: SET_IF_NOT_OLDER });
}
