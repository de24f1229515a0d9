-- token_create: add an API token under a name that is not taken.
-- KEYS[1] by hash (HASH token sha256 -> record JSON)   KEYS[2] by name (HASH name -> token sha256)
-- ARGV[1] name   ARGV[2] token sha256 (hex)   ARGV[3] record (JSON)
-- returns 1 when created, 0 when the name is taken (nothing changed).
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
return 1
