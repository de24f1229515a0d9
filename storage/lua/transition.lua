-- transition: commit state changes of instances, each on its own (a group
-- commit: concurrent transitions share one round trip; on Redis Cluster
-- they are of one shard, elsewhere of any). A transition checks before it
-- writes: a duplicate or a stale version writes nothing, and does not stop
-- the others.
-- KEYS, per transition: its shard's timers (ZSET), leases (ZSET) and
-- outbox (STREAM), the instance (HASH v: version, s: state, h: the state's
-- audit head, k:KEY: the outcome of the event with idempotency key KEY), its
-- audit (LIST), and one index key (ZSET) per index operation.
-- ARGV: per transition: #keys, #args, then its args:
--   expected version (0: the instance must not exist), new state (JSON),
--   outcome (JSON), instance id, the fired timer's lease to release under
--   the per-timer name earlier versions used, "id|timer" ("" if no timer
--   fired), idempotency field (k:KEY),
--   #audit, timer op, next due (ms), #outbox entries,
--   expected audit head ("": not checked), new audit head,
--   then: audit entries; outbox payloads;
--   then one (op, arg) pair per index key: op "+" adds the instance id
--   with score arg, "-" removes it, "f" adds the flow arg to the shard's
--   set of flows.
-- An instance has one member in its shard's timers, the instance id, due at
-- its earliest pending timer. Timer op "+" sets it to next due, "-" removes
-- it and its lease (no timer left), "" leaves both. A fired timer's
-- transition ("release" set) always sets or removes it, and drops the lease
-- the claim took.
-- returns, per transition: {"ok", new version} | {"dup", first outcome} |
-- {"conflict", current version} | {"err", message}

-- apply commits the transition whose keys start at KEYS[k] (nk of them)
-- and whose args start at ARGV[a].
local function apply(k, nk, a)
  local timers, leases, outbox, inst = KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[k + 3]
  local got = redis.call('HMGET', inst, 'v', ARGV[a + 5], 'h')
  if got[2] then
    return {'dup', got[2]}
  end
  local cur = tonumber(got[1] or '0')
  -- The version, and where asked (a state remembered, not just read) the
  -- audit head too: after Redis lost writes (a failover, a restore), a
  -- version number comes back with another state. (An instance written by
  -- an earlier version has no head: its version alone is checked.)
  if cur ~= tonumber(ARGV[a]) or (ARGV[a + 10] ~= '' and got[3] and got[3] ~= ARGV[a + 10]) then
    return {'conflict', tostring(cur)}
  end
  local v = cur + 1
  local id = ARGV[a + 3]
  redis.call('HSET', inst, 'v', v, 's', ARGV[a + 1], 'h', ARGV[a + 11], ARGV[a + 5], ARGV[a + 2])
  -- Variadic calls where Redis has them: each redis.call costs more than the
  -- work it does for one small member.
  local i = a + 12
  local n = tonumber(ARGV[a + 6])
  if n > 0 then
    redis.call('RPUSH', KEYS[k + 4], unpack(ARGV, i, i + n - 1))
    i = i + n
  end
  local op = ARGV[a + 7]
  if ARGV[a + 4] ~= '' then
    redis.call('ZREM', leases, id, ARGV[a + 4])
  end
  if op == '+' then
    redis.call('ZADD', timers, ARGV[a + 8], id)
  elseif op == '-' and redis.call('ZREM', timers, id) == 0 and ARGV[a + 4] == '' then
    -- not waiting, so perhaps claimed: drop the claim (if it was waiting
    -- and claimed too, the claimer finds nothing due and drops it)
    redis.call('ZREM', leases, id)
  end
  for _ = 1, tonumber(ARGV[a + 9]) do
    redis.call('XADD', outbox, '*', 'i', id, 'e', ARGV[i])
    i = i + 1
  end
  -- index operations: the keys after the instance and its audit
  for x = k + 5, k + nk - 1 do
    local ixop = ARGV[i]
    if ixop == '+' then
      redis.call('ZADD', KEYS[x], ARGV[i + 1], id)
    elseif ixop == '-' then
      redis.call('ZREM', KEYS[x], id)
    else -- 'f': the shard's set of flows gets the flow ARGV[i + 1]
      redis.call('SADD', KEYS[x], ARGV[i + 1])
    end
    i = i + 2
  end
  return {'ok', tostring(v)}
end

local out = {}
local k, a = 1, 1
while a <= #ARGV do
  local nk, na = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  -- An error (a key of the wrong type) fails this transition only; its
  -- writes before the error stay, as they would in a script of its own.
  local ok, r = pcall(apply, k, nk, a + 2)
  if not ok then
    r = {'err', tostring(r)}
  end
  out[#out + 1] = r
  k, a = k + nk, a + 2 + na
end
return out
