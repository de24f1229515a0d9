package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/batonbot/baton/flows"
)

// Backlog is the work waiting in Redis, summed over every shard.
type Backlog struct {
	Outbox  int64 // outbox entries not delivered yet (delivered ones are deleted)
	Unacked int64 // of those, read by a replica that has not acknowledged them (XPENDING)
	Timers  int64 // instances waiting on a timer, not claimed
	Leased  int64 // instances whose due timers a replica claimed and has not fired yet
	Dead    int64 // deliveries given up on, kept aside
}

// Backlog counts what waits in every shard, in one pipeline: for metrics,
// health checks, and tests that check that nothing was left behind.
func (s *Store) Backlog(ctx context.Context) (Backlog, error) {
	pipe := s.rdb.Pipeline()
	var outbox, timers, leased, dead []*redis.IntCmd
	var pending []*redis.XPendingCmd
	for sh := range s.k.shards {
		outbox = append(outbox, pipe.XLen(ctx, s.k.outbox(sh)))
		pending = append(pending, pipe.XPending(ctx, s.k.outbox(sh), group))
		timers = append(timers, pipe.ZCard(ctx, s.k.timers(sh)))
		leased = append(leased, pipe.ZCard(ctx, s.k.leases(sh)))
		dead = append(dead, pipe.XLen(ctx, s.k.dead(sh)))
	}
	// A shard whose stream was never created has no group: nothing waits there.
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) && !strings.Contains(err.Error(), "NOGROUP") {
		return Backlog{}, fmt.Errorf("count the backlog: %w", err)
	}
	var b Backlog
	for sh := range s.k.shards {
		b.Outbox += outbox[sh].Val()
		b.Timers += timers[sh].Val()
		b.Leased += leased[sh].Val()
		b.Dead += dead[sh].Val()
		if p, err := pending[sh].Result(); err == nil {
			b.Unacked += p.Count
		}
	}
	return b, nil
}

// DeadLetters returns up to n deliveries of each shard that were given up
// on, oldest first, with why in Dead and their outbox entry's payload in
// Entry, for operators and tests to inspect.
func (s *Store) DeadLetters(ctx context.Context, n int) ([]flows.Delivery, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.XMessageSliceCmd, s.k.shards)
	for sh := range s.k.shards {
		cmds[sh] = pipe.XRangeN(ctx, s.k.dead(sh), "-", "+", int64(n))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read dead letters: %w", err)
	}
	var out []flows.Delivery
	for sh, c := range cmds {
		for _, m := range c.Val() {
			d := flows.Delivery{Shard: sh}
			d.ID, _ = m.Values["id"].(string)
			d.Instance, _ = m.Values["i"].(string)
			d.Dead, _ = m.Values["why"].(string)
			d.Entry, _ = m.Values["entry"].(string) // "" if kept aside by an earlier version
			part, _ := m.Values["part"].(string)
			d.Part, _ = strconv.Atoi(part)
			raw, _ := m.Values["e"].(string)
			_ = json.Unmarshal([]byte(raw), &d.Effect) // an undecodable entry keeps its reason
			out = append(out, d)
		}
	}
	return out, nil
}
