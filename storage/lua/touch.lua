-- touch: set the idle time of outbox entries a consumer still holds: to 0,
-- so that no other consumer takes them over (it is still delivering them),
-- or to a long one, so that the next consumer to look for abandoned entries
-- takes them over at once (it stops without delivering them). An entry
-- another consumer has already taken over (or that is acknowledged) is left
-- alone.
-- KEYS[1] outbox (STREAM)   ARGV[1] group   ARGV[2] consumer
-- ARGV[3] idle time to give them (ms)   ARGV[4..] entry ids
-- returns how many entries were touched.
local n = 0
for i = 4, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'IDLE', ARGV[3], 'JUSTID')
    n = n + 1
  end
end
return n
