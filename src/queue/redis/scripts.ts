import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * trimDeadLetters is Lua that trims a dead-letter stream to its retention: at most `count`
 * entries, none older than `age` ms. Entry ids are Redis's clock in ms at the XADD, so MINID
 * drops by age. Two XTRIMs: one XADD or XTRIM takes a single strategy.
 */
function trimDeadLetters(key: string, count: string, age: string): string {
  return `if tonumber(${count}) > 0 then redis.call('XTRIM', ${key}, 'MAXLEN', tonumber(${count})) end
  if tonumber(${age}) > 0 then
    local now = redis.call('TIME')
    local oldest = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - tonumber(${age})
    if oldest > 0 then redis.call('XTRIM', ${key}, 'MINID', string.format('%d', oldest)) end
  end`;
}

/**
 * SETTLE finishes one delivery atomically, so a crash can never leave a job both acked and not
 * re-added (lost) or re-added and still pending (run twice by design).
 * KEYS[1] stream, KEYS[2] delayed zset, KEYS[3] dead-letter stream
 * ARGV[1] group, ARGV[2] consumer, ARGV[3] entry id, ARGV[4] mode: ack | retry | dead,
 * ARGV[5] envelope JSON (retry, dead), ARGV[6] delay ms (retry), ARGV[7] error, ARGV[8] failedAt,
 * ARGV[9] reason (dead), ARGV[10] dead letters kept (0 = no bound), ARGV[11] ms a dead letter is
 * kept (0 = no bound): the dead-letter stream is trimmed to them as the letter is written
 * Returns 1; for a retry/dead-letter of an entry this consumer no longer holds, 0 when another
 * consumer holds it (another worker claimed it after a stall and will settle it), -1 when none does
 * (settled already: typically this very SETTLE, re-sent by ioredis after its answer was lost with
 * the connection; it must not read as claimed elsewhere). A delayed retry whose JSON is already in
 * the delayed set (two copies of a job stored twice by a re-sent XADD, failing alike) waits once, at
 * the first one's due time (`NX`, see SCHEDULE).
 */
export const SETTLE = `
if ARGV[4] ~= 'ack' then
  local owned = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2])
  if #owned == 0 then
    if #redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1) == 0 then return -1 end
    return 0
  end
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
redis.call('XDEL', KEYS[1], ARGV[3])
if ARGV[4] == 'retry' then
  local delay = tonumber(ARGV[6])
  if delay <= 0 then
    redis.call('XADD', KEYS[1], '*', 'job', ARGV[5])
  else
    local t = redis.call('TIME')
    redis.call('ZADD', KEYS[2], 'NX', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + delay, ARGV[5])
  end
elseif ARGV[4] == 'dead' then
  redis.call('XADD', KEYS[3], '*', 'job', ARGV[5], 'error', ARGV[7], 'failedAt', ARGV[8], 'reason', ARGV[9])
  ${trimDeadLetters('KEYS[3]', 'ARGV[10]', 'ARGV[11]')}
end
return 1
`;

/**
 * TRIM_DEAD_LETTERS trims a dead-letter stream to its retention between dead letters, so letters
 * past their age leave even when no new one is written.
 * KEYS[1] dead-letter stream; ARGV[1] dead letters kept (0 = no bound), ARGV[2] ms kept (0 = no bound).
 */
export const TRIM_DEAD_LETTERS = `
${trimDeadLetters('KEYS[1]', 'ARGV[1]', 'ARGV[2]')}
return redis.call('XLEN', KEYS[1])
`;

/**
 * HEARTBEAT resets the idle time of the entries a worker is running, so no one claims them as
 * stalled, but only of those its consumer still owns. A plain `XCLAIM ... 0` takes an entry from
 * whoever holds it: one another worker had claimed (this worker's event loop was blocked past the
 * claimer's stallTimeout) went back to this worker, whose claimer's retry or dead letter then found
 * it not its own and wrote nothing (SETTLE returns 0). Checked and claimed in one script, so no
 * XAUTOCLAIM can move the entry between the two.
 * KEYS[1] stream; ARGV[1] group, ARGV[2] consumer, ARGV[3..] entry ids.
 * Returns the ids no longer owned (claimed by another worker, or settled and gone).
 */
export const HEARTBEAT = `
local lost = {}
for i = 3, #ARGV do
  local mine = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #mine == 1 then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
  else
    lost[#lost + 1] = ARGV[i]
  end
end
return lost
`;

/**
 * UNCOUNT_OWN undoes the delivery count an XAUTOCLAIM added to entries a worker claimed from
 * itself: entries it is still running, idle past stallTimeout because its heartbeat came late. The
 * count is the job's stall count should the worker die later; each such claim made it one higher.
 * KEYS[1] stream; ARGV[1] group, ARGV[2] consumer, ARGV[3..] entry ids. Returns how many it lowered.
 */
export const UNCOUNT_OWN = `
local lowered = 0
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #p == 1 and tonumber(p[1][4]) > 1 then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'RETRYCOUNT', tonumber(p[1][4]) - 1, 'JUSTID')
    lowered = lowered + 1
  end
end
return lowered
`;

/**
 * SCHEDULE adds a delayed job, due on the Redis clock so producers and workers on different hosts agree.
 * The job's JSON is the set's member, so a copy identical to one already waiting (ioredis re-sends
 * a SCHEDULE whose answer was lost with the connection; a caller re-sending a publish it holds) is
 * stored once, and `NX` keeps the first copy's due time, as BullMQ keeps the first add of a job id
 * and NATS the first publish of a `Nats-Msg-Id`. Without it the later copy moved the job's due
 * time to its own: a re-send after a reconnect of seconds delayed the job by as much.
 * KEYS[1] delayed zset; ARGV[1] delay ms, ARGV[2] envelope JSON. Returns 1 if stored, 0 if a copy waits already.
 */
export const SCHEDULE = `
local t = redis.call('TIME')
return redis.call('ZADD', KEYS[1], 'NX', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1]), ARGV[2])
`;

/**
 * PROMOTE moves due delayed jobs into the stream; atomic so two workers never both move one.
 * KEYS[1] delayed zset, KEYS[2] stream; ARGV[1] max jobs. Returns how many moved.
 */
export const PROMOTE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, job in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', 'job', job)
  redis.call('ZREM', KEYS[1], job)
end
return #due
`;

/**
 * REQUEUE moves dead letters back to the stream; an entry already gone (requeued by someone else)
 * is skipped, so a double "dlq retry" does not run a job twice. Each job is added before its letter
 * is deleted: Redis rolls back no part of a script that fails, and a failed add (the stream's key
 * replaced by another type: WRONGTYPE) after the delete lost the letter with its job nowhere.
 * How many moved is kept for ARGV[1] ms under KEYS[3], a key of this call's own, and a run that
 * finds it answers with that count, moving nothing: ioredis re-sends a script whose answer was lost
 * with its connection, and the re-sent run found the letters the first had moved gone and answered
 * 0, so the retry reported fewer letters moved than had.
 * KEYS[1] dead-letter stream, KEYS[2] stream, KEYS[3] this call's count; ARGV[1] ms the count is
 * kept, then pairs of (dead-letter entry id, envelope JSON)
 */
export const REQUEUE = `
local done = redis.call('GET', KEYS[3])
if done then return tonumber(done) end
local moved = 0
for i = 2, #ARGV, 2 do
  if #redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i]) == 1 then
    redis.call('XADD', KEYS[2], '*', 'job', ARGV[i + 1])
    redis.call('XDEL', KEYS[1], ARGV[i])
    moved = moved + 1
  end
end
redis.call('SET', KEYS[3], moved, 'PX', tonumber(ARGV[1]))
return moved
`;

/**
 * PRUNE_CONSUMERS deletes consumers of the group that hold no pending entry: `ARGV[3]` (a worker's
 * own, as its queue closes) at once, any other once idle for `ARGV[2]` ms (a worker that crashed,
 * its entries since claimed by others). A consumer holding entries is never deleted: DELCONSUMER
 * drops its pending entries, which would then never be claimed. Checked and deleted in one script,
 * so no entry is read into a consumer between the check and the delete; a deleted consumer that
 * reads again is made again by XREADGROUP.
 * KEYS[1] stream; ARGV[1] group, ARGV[2] idle ms, ARGV[3] own consumer ('' for none). Returns how many.
 */
export const PRUNE_CONSUMERS = `
local removed = 0
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local info = {}
  for i = 1, #c, 2 do info[c[i]] = c[i + 1] end
  if tonumber(info['pending']) == 0 and (info['name'] == ARGV[3] or tonumber(info['idle']) >= tonumber(ARGV[2])) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info['name'])
    removed = removed + 1
  end
end
return removed
`;

/** Script runs one Lua script by SHA, loading it on the first NOSCRIPT (BullMQ's pattern, without the class zoo). */
export class Script {
  readonly sha: string;
  readonly lua: string;

  constructor(lua: string) {
    this.lua = lua;
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  async run(redis: Redis, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      // NOSCRIPT is Redis's error code (the reply's first word), not free text.
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return redis.eval(this.lua, keys.length, ...keys, ...args);
    }
  }
}
