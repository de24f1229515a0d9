-- touch: reset the idle time of outbox entries a consumer still holds, so
-- that no other consumer takes them over. An entry another consumer has
-- already taken over (or that is acknowledged) is left alone.
-- KEYS[1] outbox (STREAM)   ARGV[1] group   ARGV[2] consumer   ARGV[3..] entry ids
-- returns how many entries were touched.
local n = 0
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    n = n + 1
  end
end
return n
