/**
 * FENCED_WRITE makes one state write only while the lease's fencing counter holds the writer's
 * token: every takeover increments the counter, so a deposed leader's write is refused. And, when
 * the writer names its tenure `<token>:<holder>`, only while the lease key, if it exists, holds that
 * tenure: a Redis that lost its latest writes (a replica promoted before they reached it) hands the
 * next leader the token the old one still writes with, the counter then matches both. A lease key
 * that is gone refuses it too: a leader stops writing before its key can expire (renew deadline),
 * and after a loss the counter can match again with nobody holding the lease (a fresh controller won
 * the lost lease under the old token, then released it), where the old leader must not write.
 * KEYS[1] fencing counter (`<lease>:fencing-token`), KEYS[2] the key written, KEYS[3] the lease key
 * (`<lease>:leader`)
 * ARGV[1] token, or `<token>:<holder>`, ARGV[2] command: HSET (ARGV[3] field, ARGV[4] value), HDEL (ARGV[3] field) or
 * RPUSH (ARGV[3] entry, ARGV[4] how many to keep, newest; ARGV[5], when given, the entry it replaces:
 * removed first, the newest such)
 * Returns {1} when written, else {0, current counter (false when there is none), or the lease's tenure}.
 */
export const FENCED_WRITE = `
local sep = string.find(ARGV[1], ':', 1, true)
local token = ARGV[1]
if sep then
  token = string.sub(ARGV[1], 1, sep - 1)
end
local current = redis.call('GET', KEYS[1])
if current ~= token then
  return {0, current}
end
if sep then
  local lease = redis.call('GET', KEYS[3])
  if lease ~= ARGV[1] then
    return {0, lease}
  end
end
if ARGV[2] == 'HSET' then
  redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
elseif ARGV[2] == 'HDEL' then
  redis.call('HDEL', KEYS[2], ARGV[3])
elseif ARGV[2] == 'RPUSH' then
  if ARGV[5] then
    redis.call('LREM', KEYS[2], -1, ARGV[5])
  end
  redis.call('RPUSH', KEYS[2], ARGV[3])
  redis.call('LTRIM', KEYS[2], -tonumber(ARGV[4]), -1)
else
  return redis.error_reply('unknown command ' .. ARGV[2])
end
return {1}
`;

/**
 * JOURNAL_AFTER reads the journal list's entries with a seq above ARGV[1], from the newest back a
 * page (ARGV[2] entries) at a time, stopping at the first entry at or below it: the list is in seq
 * order (appended newest last; a repeat's twin removed as it moves to the end). Only those entries
 * are sent, none when nothing is new, where LRANGE 0 -1 sent the whole journal on every poll.
 * KEYS[1] the journal list. ARGV[1] seq, ARGV[2] page size.
 * Returns {seq of the entry it stopped at (false: none, the list ended), that entry's time (false:
 * none), {the newer entries as stored, newest first}}.
 */
export const JOURNAL_AFTER = `
local after = tonumber(ARGV[1])
local page = tonumber(ARGV[2])
local len = redis.call('LLEN', KEYS[1])
local fresh = {}
local stopSeq = false
local stopTime = false
local offset = 0
while offset < len and stopSeq == false do
  local items = redis.call('LRANGE', KEYS[1], -(offset + page), -(offset + 1))
  for i = #items, 1, -1 do
    local entry = cjson.decode(items[i])
    if entry.seq <= after then
      stopSeq = entry.seq
      stopTime = entry.time or false
      break
    end
    fresh[#fresh + 1] = items[i]
  end
  offset = offset + page
end
return {stopSeq, stopTime, fresh}
`;
