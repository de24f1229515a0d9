package storage

// TimersKey exposes a shard's timer set to the external tests.
func TimersKey(s *Store, shard int) string { return s.k.timers(shard) }
