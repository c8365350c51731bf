/**
 * APPEND_IN_ORDER defines `appendInOrder(key, entry, keep, replaced)`, the journal list's one write:
 * it removes `replaced` (when given; the newest such), puts `entry` after every entry with a seq at
 * or below its own and before those above it, and keeps the newest `keep`. So the list stays in seq
 * order, which JOURNAL_AFTER's scan from the end relies on, even when an append lands after a newer
 * one: an unfenced store's deposed leader whose queued write lands after its successor's (see the
 * README, Fencing), a write the store runs late. An `entry` the list already holds (the same JSON at
 * the same seq: a write that timed out but ran, then written again by the retry) is not added twice.
 * In order, the usual case, it reads the last entry alone. An entry's seq is read from its JSON's
 * start, where JSON.stringify of a JournalEntry puts it, else the entry is decoded.
 */
const APPEND_IN_ORDER = `
local function seqOf(item)
  local seq = string.match(item, '^{"seq":(%d+)[,}]')
  if seq then
    return tonumber(seq)
  end
  return tonumber(cjson.decode(item).seq)
end
local function appendInOrder(key, entry, keep, replaced)
  if replaced then
    redis.call('LREM', key, -1, replaced)
  end
  local seq = seqOf(entry)
  local pivot = false
  local same = false
  local i = -1
  while true do
    local item = redis.call('LINDEX', key, i)
    if not item then
      break
    end
    local at = seqOf(item)
    if at > seq and not same then
      pivot = item
    elseif at == seq then
      if item == entry then
        return
      end
      same = true
    else
      break
    end
    i = i - 1
  end
  if pivot then
    redis.call('LINSERT', key, 'BEFORE', pivot, entry)
  else
    redis.call('RPUSH', key, entry)
  end
  redis.call('LTRIM', key, -tonumber(keep), -1)
end
`;

/**
 * JOURNAL_APPEND is an unfenced store's journal write (a store without `lease`): appendInOrder alone.
 * KEYS[1] the journal list. ARGV[1] entry, ARGV[2] how many to keep, ARGV[3] (optional) the entry it replaces.
 */
export const JOURNAL_APPEND = `${APPEND_IN_ORDER}
appendInOrder(KEYS[1], ARGV[1], ARGV[2], ARGV[3])
return 1
`;

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
 * removed first, the newest such; the entry goes in at its seq's place, see APPEND_IN_ORDER)
 * Returns {1} when written, else {0, current counter (false when there is none), or the lease's tenure}.
 */
export const FENCED_WRITE = `${APPEND_IN_ORDER}
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
  appendInOrder(KEYS[2], ARGV[3], ARGV[4], ARGV[5])
else
  return redis.error_reply('unknown command ' .. ARGV[2])
end
return {1}
`;

/**
 * JOURNAL_AFTER reads the journal list's entries with a seq above ARGV[1], from the newest back a
 * page (ARGV[2] entries) at a time, stopping at the first entry at or below it: the list is in seq
 * order (APPEND_IN_ORDER puts each entry at its seq's place; a repeat's twin removed as it moves).
 * Before, an append went to the end whatever its seq, and an entry that landed late (below newer
 * ones) stopped the scan there: the entries between were never read. Only those entries
 * are sent, none when nothing is new, where LRANGE 0 -1 sent the whole journal on every poll.
 * When it stops at ARGV[1] itself, it reads on past the entries of that seq (two leaders' of an
 * unfenced store) to the first written, whose time it answers, as journalAfter does.
 * KEYS[1] the journal list. ARGV[1] seq, ARGV[2] page size.
 * Returns {seq of the entry it stopped at (false: none, the list ended), the time of the first
 * entry of that seq (false: none), {the newer entries as stored, newest first}}.
 */
export const JOURNAL_AFTER = `
local after = tonumber(ARGV[1])
local page = tonumber(ARGV[2])
local len = redis.call('LLEN', KEYS[1])
local fresh = {}
local stopSeq = false
local stopTime = false
local done = false
local offset = 0
while offset < len and not done do
  local items = redis.call('LRANGE', KEYS[1], -(offset + page), -(offset + 1))
  for i = #items, 1, -1 do
    local entry = cjson.decode(items[i])
    if stopSeq == false and entry.seq > after then
      fresh[#fresh + 1] = items[i]
    elseif stopSeq == false or entry.seq == stopSeq then
      stopSeq = entry.seq
      stopTime = entry.time or false
      if stopSeq < after then
        done = true
        break
      end
    else
      done = true
      break
    end
  end
  offset = offset + page
end
return {stopSeq, stopTime, fresh}
`;
