-- transition: commit one state change of an instance, all or nothing.
-- KEYS[1] instance (HASH v, s)   KEYS[2] audit (LIST)     KEYS[3] idempotency (STRING)
-- KEYS[4] timers (ZSET)          KEYS[5] leases (ZSET)    KEYS[6] outbox (STREAM)
-- KEYS[7..] index keys (ZSET), one per index operation
-- ARGV[1] expected version (0: the instance must not exist)
-- ARGV[2] new state (JSON)       ARGV[3] outcome (JSON)   ARGV[4] idempotency TTL (seconds)
-- ARGV[5] instance id            ARGV[6] fired timer member to release ("" if none)
-- ARGV[7] #audit  ARGV[8] #timers to set  ARGV[9] #timers to cancel  ARGV[10] #outbox entries
-- then: audit entries; (member, due ms) pairs; members; outbox payloads;
-- then one (op, score) pair per index key: op "+" adds the instance id, "-" removes it.
-- returns {"ok", new version} | {"dup", first outcome} | {"conflict", current version}
local first = redis.call('GET', KEYS[3])
if first then
  return {'dup', first}
end
local cur = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if cur ~= tonumber(ARGV[1]) then
  return {'conflict', tostring(cur)}
end
local v = cur + 1
redis.call('HSET', KEYS[1], 'v', v, 's', ARGV[2])
redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[4])
-- Variadic calls where Redis has them: each redis.call costs more than the
-- work it does for one small member.
local i = 11
local n = tonumber(ARGV[7])
if n > 0 then
  redis.call('RPUSH', KEYS[2], unpack(ARGV, i, i + n - 1))
  i = i + n
end
n = tonumber(ARGV[8])
if n > 0 then
  local z = {}
  for k = 0, n - 1 do
    z[2 * k + 1] = ARGV[i + 2 * k + 1]
    z[2 * k + 2] = ARGV[i + 2 * k]
  end
  redis.call('ZADD', KEYS[4], unpack(z))
  i = i + 2 * n
end
n = tonumber(ARGV[9])
if n > 0 then
  redis.call('ZREM', KEYS[4], unpack(ARGV, i, i + n - 1))
  redis.call('ZREM', KEYS[5], unpack(ARGV, i, i + n - 1))
  i = i + n
end
if ARGV[6] ~= '' then
  redis.call('ZREM', KEYS[5], ARGV[6])
end
for _ = 1, tonumber(ARGV[10]) do
  redis.call('XADD', KEYS[6], '*', 'i', ARGV[5], 'e', ARGV[i])
  i = i + 1
end
for k = 7, #KEYS do
  if ARGV[i] == '+' then
    redis.call('ZADD', KEYS[k], ARGV[i + 1], ARGV[5])
  else
    redis.call('ZREM', KEYS[k], ARGV[5])
  end
  i = i + 2
end
return {'ok', tostring(v)}
