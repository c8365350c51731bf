/**
 * ACQUIRE takes the lease when it is free (SET NX PX) with a new fencing token from the counter,
 * or renews it when `holder` already holds it. The new token is above ARGV[3], the highest token
 * the acquirer has seen, and the counter is raised to it: a Redis that lost the counter (restarted
 * without persistence, FLUSHALL, a replica promoted behind) would otherwise hand out 1, 2, … again,
 * tokens the deposed leader and anything that compares tokens took for older than its own.
 * KEYS[1] lease key (value `<token>:<holder>`), KEYS[2] fencing counter
 * ARGV[1] holder, ARGV[2] ttl ms, ARGV[3] highest token seen (0 when none)
 * Returns {1, token, holder} when held by `holder` now, else {0, token, holder, pttl} of the holder.
 */
export const ACQUIRE = `
local current = redis.call('GET', KEYS[1])
if current then
  local sep = string.find(current, ':', 1, true)
  local token = tonumber(string.sub(current, 1, sep - 1))
  local holder = string.sub(current, sep + 1)
  if holder == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return {1, token, holder}
  end
  return {0, token, holder, redis.call('PTTL', KEYS[1])}
end
local token = redis.call('INCR', KEYS[2])
local floor = tonumber(ARGV[3]) or 0
if token <= floor then
  token = floor + 1
  redis.call('SET', KEYS[2], token)
end
redis.call('SET', KEYS[1], token .. ':' .. ARGV[1], 'NX', 'PX', ARGV[2])
return {1, token, ARGV[1]}
`;

/**
 * RENEW extends the lease only if it still holds exactly this tenure (compare-and-set).
 * KEYS[1] lease key; ARGV[1] expected value `<token>:<holder>`, ARGV[2] ttl ms. Returns 1 or 0.
 */
export const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`;

/**
 * RELEASE deletes the lease only if it still holds exactly this tenure.
 * KEYS[1] lease key; ARGV[1] expected value `<token>:<holder>`. Returns 1 or 0.
 */
export const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`;
