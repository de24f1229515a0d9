package storage

// TimersKey exposes a shard's timer set to the external tests.
func TimersKey(s *Store, shard int) string { return s.k.timers(shard) }

// Patterns exposes the SCAN patterns of every key of a store.
func Patterns(s *Store) []string { return s.k.all() }
