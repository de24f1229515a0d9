package storage

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// TimersKey exposes a shard's timer set to the external tests.
func TimersKey(s *Store, shard int) string { return s.k.timers(shard) }

// InstanceKey exposes an instance's hash to the external tests.
func InstanceKey(s *Store, id string) string { return s.k.instance(id) }

// OutboxKey exposes a shard's outbox stream to the external tests.
func OutboxKey(s *Store, shard int) string { return s.k.outbox(shard) }

// DeadKey exposes a shard's stream of dead letters to the external tests.
func DeadKey(s *Store, shard int) string { return s.k.dead(shard) }

// KVKey exposes a shared value's key to the external tests.
func KVKey(s *Store, ns, key string) string { return s.k.kv(ns, key) }

// AuditKey exposes an instance's audit list to the external tests.
func AuditKey(s *Store, id string) string { return s.k.audit(id) }

// Patterns exposes the SCAN patterns of every key of a store.
func Patterns(s *Store) []string { return s.k.all() }

// PendingOwners maps a shard's unacknowledged outbox entries to the
// consumers holding them.
func PendingOwners(ctx context.Context, s *Store, shard int) (map[string]string, error) {
	ps, err := s.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: s.k.outbox(shard), Group: group, Start: "-", End: "+", Count: 100}).Result()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, p := range ps {
		out[p.ID] = p.Consumer
	}
	return out, nil
}

// HoldLanes takes every round trip of s's lanes, so that what is sent next
// queues. queued tells how many requests wait; release gives the round
// trips back, each lane sending what queued in its next batch.
func HoldLanes(s *Store) (queued func() int, release func()) {
	for i := range s.lanes {
		g := &s.lanes[i]
		g.mu.Lock()
		g.inflight = inFlight
		g.mu.Unlock()
	}
	queued = func() int {
		n := 0
		for i := range s.lanes {
			g := &s.lanes[i]
			g.mu.Lock()
			n += len(g.queue)
			g.mu.Unlock()
		}
		return n
	}
	release = func() {
		for i := range s.lanes {
			g := &s.lanes[i]
			g.mu.Lock()
			for range inFlight {
				g.next(context.Background())
			}
			g.mu.Unlock()
		}
	}
	return queued, release
}

// HookQueueKey exposes the key of id's queue of events to the subscriber
// at url to the external tests.
func HookQueueKey(s *Store, id, url string) string { return s.k.hookQueue(hookMember(id, url)) }
