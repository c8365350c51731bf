/**
 * FENCED_WRITE makes one state write only while the lease's fencing counter holds the writer's
 * token: every takeover increments the counter, so a deposed leader's write is refused.
 * KEYS[1] fencing counter (`<lease>:fencing-token`), KEYS[2] the key written
 * ARGV[1] token, ARGV[2] command: HSET (ARGV[3] field, ARGV[4] value), HDEL (ARGV[3] field) or
 * RPUSH (ARGV[3] entry, ARGV[4] how many to keep, newest; ARGV[5], when given, the entry it replaces:
 * removed first, the newest such)
 * Returns {1} when written, else {0, current counter (false when there is none)}.
 */
export const FENCED_WRITE = `
local current = redis.call('GET', KEYS[1])
if current ~= ARGV[1] then
  return {0, current}
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
