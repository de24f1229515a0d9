-- token_revoke: remove an API token by name; it stops working at once.
-- KEYS[1] by hash (HASH token sha256 -> record JSON)   KEYS[2] by name (HASH name -> token sha256)
-- ARGV[1] name
-- returns 1 when revoked, 0 when there is no token of that name.
local h = redis.call('HGET', KEYS[2], ARGV[1])
if not h then
  return 0
end
redis.call('HDEL', KEYS[1], h)
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
