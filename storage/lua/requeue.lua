-- requeue: send a dead letter again: its payload goes back into the outbox,
-- marked as a replay, and the letter leaves the dead, at once, so that two
-- operators retrying it at the same time send it once.
-- KEYS[1] dead (STREAM)   KEYS[2] outbox (STREAM), of the same shard
-- ARGV[1] the letter's id in dead   ARGV[2] instance id   ARGV[3] payload
-- returns 1, or 0 if the letter is no longer there (sent or dropped).
if #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) == 0 then
  return 0
end
redis.call('XADD', KEYS[2], '*', 'i', ARGV[2], 'e', ARGV[3], 'r', '1')
redis.call('XDEL', KEYS[1], ARGV[1])
return 1
