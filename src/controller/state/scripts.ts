/**
 * APPEND_NUMBERED defines `appendNumbered(key, entry, keep, replaced)`, the journal list's one write.
 * The seq the entry is stored at is allocated here, in the script (which nothing else runs beside):
 * the entry's own, when it is above every seq the list holds, else the newest's plus one. So two
 * writers of one unfenced store (two controllers that both think they lead, see the README, Fencing)
 * never store different entries at one seq, and the list stays in seq order, which JOURNAL_AFTER's
 * scan from the end relies on: an append that lands after a newer one (a deposed leader's, a write
 * the store runs late) goes at the end with the next seq, where a reader past its own seq still
 * finds it. Before, the list kept both entries at the same seq (one put before the other's newer
 * ones), and a reader holding that seq never saw the other.
 * An entry is named by its fields apart from the seq (its JSON after `{"seq":N`): one the list
 * already holds at its seq or above (a write that timed out but ran, then written again by the
 * retry, whose first write may have been renumbered) is not added twice, and `replaced` (a
 * repeat's twin; given, it is removed) is found so too, the newest such at its seq or above.
 * Returns the seq the entry is stored at.
 */
const APPEND_NUMBERED = `
local function split(item)
  local seq, rest = string.match(item, '^{"seq":(%d+)([,}].*)$')
  if seq then
    return tonumber(seq), rest
  end
  return tonumber(cjson.decode(item).seq), item
end
local function appendNumbered(key, entry, keep, replaced)
  local seq, body = split(entry)
  local lowest = seq
  local oldSeq, oldBody
  if replaced then
    oldSeq, oldBody = split(replaced)
    lowest = math.min(seq, oldSeq)
  end
  local twin = false
  local offset = 0
  local done = false
  while not done do
    local items = redis.call('LRANGE', key, -(offset + 64), -(offset + 1))
    if #items == 0 then
      break
    end
    for n = #items, 1, -1 do
      local at, rest = split(items[n])
      if at < lowest then
        done = true
        break
      end
      if rest == body and at >= seq then
        return at
      end
      if replaced and not twin and rest == oldBody and at >= oldSeq then
        twin = items[n]
      end
    end
    offset = offset + 64
  end
  -- The newest before the twin goes: a reader that holds the twin's seq is to find its repeat.
  local last = redis.call('LINDEX', key, -1)
  if last then
    local newest = split(last)
    if newest >= seq then
      seq = newest + 1
      entry = '{"seq":' .. seq .. body
    end
  end
  if twin then
    redis.call('LREM', key, -1, twin)
  end
  redis.call('RPUSH', key, entry)
  redis.call('LTRIM', key, -tonumber(keep), -1)
  return seq
end
`;

/**
 * JOURNAL_APPEND is an unfenced store's journal write (a store without `lease`): appendNumbered alone.
 * KEYS[1] the journal list. ARGV[1] entry, ARGV[2] how many to keep, ARGV[3] (optional) the entry it replaces.
 * Returns the seq the entry is stored at.
 */
export const JOURNAL_APPEND = `${APPEND_NUMBERED}
return appendNumbered(KEYS[1], ARGV[1], ARGV[2], ARGV[3])
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
 * removed first, the newest such; the entry gets its seq from the list, see APPEND_NUMBERED)
 * Returns {1} when written (a journal entry: {1, the seq it is stored at}), else {0, current counter (false when there is none), or the lease's tenure}.
 */
export const FENCED_WRITE = `${APPEND_NUMBERED}
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
  return {1, appendNumbered(KEYS[2], ARGV[3], ARGV[4], ARGV[5])}
else
  return redis.error_reply('unknown command ' .. ARGV[2])
end
return {1}
`;

/**
 * JOURNAL_AFTER reads the journal list's entries with a seq above ARGV[1], from the newest back a
 * page (ARGV[2] entries) at a time, stopping at the first entry at or below it: the list is in seq
 * order (APPEND_NUMBERED stores each entry above the newest; a repeat's twin removed as it moves).
 * Before, an append went to the end whatever its seq, and an entry that landed late (below newer
 * ones) stopped the scan there: the entries between were never read. Only those entries
 * are sent, none when nothing is new, where LRANGE 0 -1 sent the whole journal on every poll.
 * When it stops at ARGV[1] itself, it reads on past the entries of that seq (two leaders' of an
 * unfenced store) to the first written, whose time it answers, as journalAfter does.
 * An entry's seq is read from its JSON's start (where appendJournal puts it) and only the entry
 * it stops at is decoded: before, every entry was (cjson), most of a read after 0 of 10,000.
 * KEYS[1] the journal list. ARGV[1] seq, ARGV[2] page size.
 * Returns {seq of the entry it stopped at (false: none, the list ended), the time of the first
 * entry of that seq (false: none), {the newer entries as stored, newest first}}.
 */
export const JOURNAL_AFTER = `
local function seqOf(item)
  local seq = string.match(item, '^{"seq":(%d+)[,}]')
  if seq then
    return tonumber(seq)
  end
  return tonumber(cjson.decode(item).seq)
end
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
    local seq = seqOf(items[i])
    if stopSeq == false and seq > after then
      fresh[#fresh + 1] = items[i]
    elseif stopSeq == false or seq == stopSeq then
      stopSeq = seq
      stopTime = cjson.decode(items[i]).time or false
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
