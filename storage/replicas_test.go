package storage_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/batonbot/baton/flows"
	"github.com/batonbot/baton/storage"
	"github.com/batonbot/baton/storage/storagetest"
)

// replicas runs fn against every backend with two Stores sharing one prefix,
// as two Baton replicas share one Redis (or Redis Cluster).
func replicas(t *testing.T, fn func(t *testing.T, b storagetest.Backend, a, z *storage.Store, e *flows.Engine)) {
	onBackends(t, storage.Config{Shards: 4}, func(t *testing.T, b storagetest.Backend, a *storage.Store) {
		z := storage.New(b.Client, storage.Config{Prefix: a.Prefix(), Shards: 4})
		if err := z.Init(t.Context()); err != nil {
			t.Fatal(err)
		}
		fn(t, b, a, z, engine(t))
	})
}

func TestClaimIsOnceAcrossReplicas(t *testing.T) {
	replicas(t, func(t *testing.T, _ storagetest.Backend, a, z *storage.Store, _ *flows.Engine) {
		name := "start:weekly:2026-11-26T09:00"
		var mu sync.Mutex
		won := 0
		var wg sync.WaitGroup
		for i := range 10 {
			s := []*storage.Store{a, z}[i%2]
			wg.Go(func() {
				ok, err := s.Claim(t.Context(), name, 300*time.Millisecond)
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					won++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if won != 1 {
			t.Fatalf("%d replicas claimed %s, want 1", won, name)
		}
		// Once the claim expires, the next occurrence may be claimed again.
		deadline := time.Now().Add(5 * time.Second)
		for {
			ok, err := z.Claim(t.Context(), name, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the claim never expired")
			}
			time.Sleep(20 * time.Millisecond) // Redis expires the key by its own clock
		}
	})
}

func TestSharedValuesAcrossReplicas(t *testing.T) {
	replicas(t, func(t *testing.T, _ storagetest.Backend, a, z *storage.Store, _ *flows.Engine) {
		if _, ok, err := z.GetValue(t.Context(), "conv", "bob"); ok || err != nil {
			t.Fatalf("before: ok %v err %v", ok, err)
		}
		for i := range 20 { // keys spread over the cluster's slots
			if err := a.SetValue(t.Context(), "conv", fmt.Sprint("person", i), fmt.Sprint("ref", i), 0); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 20 {
			v, ok, err := z.GetValue(t.Context(), "conv", fmt.Sprint("person", i))
			if err != nil || !ok || v != fmt.Sprint("ref", i) {
				t.Fatalf("person%d: %q %v %v", i, v, ok, err)
			}
		}
	})
}

func TestOutboxEntryGoesToOneReplica(t *testing.T) {
	replicas(t, func(t *testing.T, _ storagetest.Backend, a, z *storage.Store, e *flows.Engine) {
		for i := range 30 {
			start(t, a, e, fmt.Sprint("s", i), "500") // one card each, over 4 shards
		}
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for i, s := range []*storage.Store{a, z} {
			wg.Go(func() {
				for {
					got, err := s.ReadOutbox(t.Context(), fmt.Sprint("replica", i), 4, 0)
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, d := range got {
						seen[fmt.Sprint(d.Shard, "/", d.ID)]++
					}
					mu.Unlock()
					if err := s.Delivered(t.Context(), got); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if len(seen) != 30 {
			t.Fatalf("delivered %d distinct entries, want 30", len(seen))
		}
		for k, n := range seen {
			if n != 1 {
				t.Fatalf("entry %s read %d times", k, n)
			}
		}
		if b, err := z.Backlog(t.Context()); err != nil || b != (storage.Backlog{Timers: 30}) {
			t.Fatalf("backlog %+v %v, want only the 30 instances waiting on their timers", b, err)
		}
		// Some instances' timers are claimed and not fired: they show as leased.
		got, _, _ := a.ClaimTimers(t.Context(), t0.Add(4*24*time.Hour), time.Minute, 2)
		leased := int64(len(got) / 4) // four timers each, all due
		if len(got) == 0 || len(got)%4 != 0 || leased > 8 {
			t.Fatalf("claimed %d timers, want four of each of at most 8 instances (2 in each of 4 shards)", len(got))
		}
		if b, err := z.Backlog(t.Context()); err != nil || b != (storage.Backlog{Timers: 30 - leased, Leased: leased}) {
			t.Fatalf("backlog %+v %v, want %d waiting and %d leased", b, err, 30-leased, leased)
		}
	})
}

func TestDeadDeliveriesAreKeptAside(t *testing.T) {
	replicas(t, func(t *testing.T, _ storagetest.Backend, a, _ *storage.Store, e *flows.Engine) {
		id := start(t, a, e, "s1", "500")
		got, err := a.ReadOutbox(t.Context(), "c", 10, 0)
		if err != nil || len(got) != 1 {
			t.Fatalf("read %v %v", got, err)
		}
		got[0].Dead = "no platform reaches bob"
		if err := a.Delivered(t.Context(), got); err != nil {
			t.Fatal(err)
		}
		if b, err := a.Backlog(t.Context()); err != nil || b.Outbox != 0 || b.Unacked != 0 || b.Dead != 1 {
			t.Fatalf("backlog %+v %v, want 1 dead and nothing in the outbox", b, err)
		}
		dead, err := a.DeadLetters(t.Context(), 10)
		if err != nil || len(dead) != 1 || dead[0].Instance != id || dead[0].Dead != "no platform reaches bob" ||
			dead[0].ID != got[0].ID || dead[0].Effect.To.Person != "bob" || dead[0].Entry != "" || dead[0].Part != 0 {
			t.Fatalf("dead letters: %+v %v", dead, err)
		}
	})
}

func TestDeleteAllLeavesNothing(t *testing.T) {
	replicas(t, func(t *testing.T, b storagetest.Backend, a, _ *storage.Store, e *flows.Engine) {
		for i := range 10 {
			start(t, a, e, fmt.Sprint("s", i), "500")
		}
		_ = a.SetValue(t.Context(), "conv", "bob", "x", 0)
		_, _ = a.Claim(t.Context(), "digest", time.Minute)
		if n := countKeys(t, b.Client, storage.Patterns(a)); n == 0 {
			t.Fatal("no keys written")
		}
		if err := a.DeleteAll(t.Context()); err != nil {
			t.Fatal(err)
		}
		if n := countKeys(t, b.Client, storage.Patterns(a)); n != 0 {
			t.Fatalf("%d keys left", n)
		}
	})
}

// countKeys counts the keys matching patterns on every master.
func countKeys(t *testing.T, c redis.UniversalClient, patterns []string) int {
	t.Helper()
	var mu sync.Mutex
	n := 0
	count := func(ctx context.Context, c redis.Cmdable) error {
		for _, p := range patterns {
			var cursor uint64
			for {
				keys, next, err := c.Scan(ctx, cursor, p, 1000).Result()
				if err != nil {
					return err
				}
				mu.Lock()
				n += len(keys)
				mu.Unlock()
				if cursor = next; cursor == 0 {
					break
				}
			}
		}
		return nil
	}
	var err error
	if cc, ok := c.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(t.Context(), func(ctx context.Context, c *redis.Client) error { return count(ctx, c) })
	} else {
		err = count(t.Context(), c)
	}
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRememberedStateAfterRedisLostWrites: Redis loses acknowledged writes
// (a failover, a restore) and another replica commits the instance back to
// the version this replica remembers, with another state. The remembered
// state must not be committed over it: the audit head tells them apart.
func TestRememberedStateAfterRedisLostWrites(t *testing.T) {
	replicas(t, func(t *testing.T, b storagetest.Backend, a, z *storage.Store, e *flows.Engine) {
		ctx := t.Context()
		id := start(t, a, e, "s1", "500")
		comment := func(s *storage.Store, key, text string) flows.Applied {
			return apply(t, s, e, flows.Event{Kind: flows.EventComment, Key: key, Instance: id, Actor: "alice", Reason: text}, t0)
		}
		key := storage.InstanceKey(a, id)
		saved, err := b.Client.HGetAll(ctx, key).Result() // the state at version 1
		if err != nil {
			t.Fatal(err)
		}
		comment(a, "a1", "from a, 1")
		comment(a, "a2", "from a, 2") // a remembers version 3
		// The two commits are lost.
		pipe := b.Client.TxPipeline()
		pipe.Del(ctx, key)
		pipe.HSet(ctx, key, saved)
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		comment(z, "z1", "from z, 1")
		comment(z, "z2", "from z, 2") // version 3 again, another state
		stored, err := z.Get(ctx, id)
		if err != nil || stored.Version != 3 {
			t.Fatalf("z's state: %v, %v", stored, err)
		}
		comment(a, "a3", "from a, 3")
		in, err := a.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		trail, err := a.Audit(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		last := trail[len(trail)-1]
		if in.Version != 4 || last.Reason != "from a, 3" || last.Prev != stored.AuditHead || in.AuditSeq != stored.AuditSeq+1 {
			t.Fatalf("a's comment went on version %d (seq %d), after %q: want it on z's state (version 3, head %s, seq %d)",
				in.Version, in.AuditSeq, last.Prev, stored.AuditHead, stored.AuditSeq)
		}
	})
}
