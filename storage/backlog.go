package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

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
	Hooks   int64 // event queues (a request's events to one subscriber) being delivered or waiting to be tried again
}

// Backlog counts what waits in every shard, in one pipeline: for metrics,
// health checks, and tests that check that nothing was left behind.
func (s *Store) Backlog(ctx context.Context) (Backlog, error) {
	pipe := s.rdb.Pipeline()
	var outbox, timers, leased, dead, hooks []*redis.IntCmd
	var pending []*redis.XPendingCmd
	for sh := range s.k.shards {
		outbox = append(outbox, pipe.XLen(ctx, s.k.outbox(sh)))
		pending = append(pending, pipe.XPending(ctx, s.k.outbox(sh), group))
		timers = append(timers, pipe.ZCard(ctx, s.k.timers(sh)))
		leased = append(leased, pipe.ZCard(ctx, s.k.leases(sh)))
		dead = append(dead, pipe.XLen(ctx, s.k.dead(sh)))
		hooks = append(hooks, pipe.ZCard(ctx, s.k.hookDue(sh)))
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
		b.Hooks += hooks[sh].Val()
		if p, err := pending[sh].Result(); err == nil {
			b.Unacked += p.Count
		}
	}
	return b, nil
}

// DeadLetter is a delivery given up on and kept aside: its Delivery has
// its outbox entry's id (ID), why it was given up on (Dead), and the entry's
// payload as stored when the effect could not show it (Entry).
type DeadLetter struct {
	flows.Delivery
	Ref string    // its place among the dead, "shard/stream-id": what Requeue and Drop take
	At  time.Time // when it was given up on
	Raw string    // the effect as kept (JSON): sent again as it is, with any field this version does not know
}

// DeadLetters returns up to n deliveries of each shard that were given up
// on, oldest first, for operators (baton dead) and tests to inspect.
func (s *Store) DeadLetters(ctx context.Context, n int) ([]DeadLetter, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.XMessageSliceCmd, s.k.shards)
	for sh := range s.k.shards {
		cmds[sh] = pipe.XRangeN(ctx, s.k.dead(sh), "-", "+", int64(n))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read dead letters: %w", err)
	}
	var out []DeadLetter
	for sh, c := range cmds {
		for _, m := range c.Val() {
			d := DeadLetter{Delivery: flows.Delivery{Shard: sh}, Ref: strconv.Itoa(sh) + "/" + m.ID}
			ms, _, _ := strings.Cut(m.ID, "-")
			if ms, err := strconv.ParseInt(ms, 10, 64); err == nil {
				d.At = time.UnixMilli(ms).UTC()
			}
			d.ID, _ = m.Values["id"].(string)
			d.Instance, _ = m.Values["i"].(string)
			d.Dead, _ = m.Values["why"].(string)
			d.Entry, _ = m.Values["entry"].(string) // "" if kept aside by an earlier version
			part, _ := m.Values["part"].(string)
			d.Part, _ = strconv.Atoi(part)
			d.Raw, _ = m.Values["e"].(string)
			_ = json.Unmarshal([]byte(d.Raw), &d.Effect) // an undecodable entry keeps its reason
			out = append(out, d)
		}
	}
	slices.SortStableFunc(out, func(a, b DeadLetter) int { return a.At.Compare(b.At) })
	return out, nil
}

// Requeue puts dead letters back into the outbox, each marked as a replay
// (flows.Delivery.Replay), and takes them out of the dead, each at once. It
// returns how many it put back: a letter no longer among the dead (sent
// again or dropped meanwhile) is left out. The letters go in pipelines of
// requeueBatch: after an outage there may be thousands.
func (s *Store) Requeue(ctx context.Context, letters []DeadLetter) (int, error) {
	if len(letters) == 0 {
		return 0, nil
	}
	// EVALSHA in a pipeline cannot fall back to EVAL as Script.Run does.
	if err := requeueScript.Load(ctx, s.rdb).Err(); err != nil {
		return 0, fmt.Errorf("load the requeue script: %w", err)
	}
	n := 0
	for chunk := range slices.Chunk(letters, requeueBatch) {
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.Cmd, len(chunk))
		for i, d := range chunk {
			_, id, _ := strings.Cut(d.Ref, "/")
			keys := []string{s.k.dead(d.Shard), s.k.outbox(d.Shard)}
			cmds[i] = requeueScript.EvalSha(ctx, pipe, keys, id, d.Instance, replayPayload(d))
		}
		_, _ = pipe.Exec(ctx) // each command holds its own result
		var failed error
		for i, c := range cmds {
			done, err := c.Int()
			if err != nil && failed == nil {
				failed = fmt.Errorf("send %s again: %w", chunk[i].Ref, err)
			}
			n += done // the others in the pipeline ran: counted
		}
		if failed != nil {
			return n, failed
		}
	}
	return n, nil
}

// requeueBatch is how many dead letters one round trip sends again.
const requeueBatch = 500

// replayPayload is what a dead letter's outbox entry holds: its effect
// alone, as kept, in an entry of one. An effect of a kind this version does
// not know (a newer version's) is taken from its entry as stored, untouched;
// an entry that could not be decoded goes back whole.
func replayPayload(d DeadLetter) string {
	switch {
	case d.Entry == "": // the effect as it was kept
		return "[" + d.Raw + "]"
	case d.Effect.Kind != "": // decoded, of an unknown kind: its own part
		var parts []json.RawMessage
		if json.Unmarshal([]byte(d.Entry), &parts) == nil && d.Part < len(parts) {
			return "[" + string(parts[d.Part]) + "]"
		}
	}
	return d.Entry
}

// DropDead deletes dead letters for good, and returns how many there were.
func (s *Store) DropDead(ctx context.Context, letters []DeadLetter) (int, error) {
	pipe := s.rdb.Pipeline()
	var cmds []*redis.IntCmd
	for _, d := range letters {
		_, id, _ := strings.Cut(d.Ref, "/")
		cmds = append(cmds, pipe.XDel(ctx, s.k.dead(d.Shard), id))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, fmt.Errorf("drop %d dead letters: %w", len(letters), err)
	}
	n := 0
	for _, c := range cmds {
		n += int(c.Val())
	}
	return n, nil
}

// OpenByFlow returns how many open requests (running, sent back) each flow
// with any has, read from the flow and status indexes. (Not the flows of
// data written by versions up to 4542456 and not listed since: finding them
// walks the keyspace, which start-up does not.)
func (s *Store) OpenByFlow(ctx context.Context) (map[string]int64, error) {
	byShard, err := s.flowSets(ctx)
	if err != nil {
		return nil, err
	}
	type count struct {
		flow string
		cmd  *redis.IntCmd
	}
	var counts []count
	pipe := s.rdb.Pipeline()
	for sh, fs := range byShard {
		for _, f := range fs {
			for _, st := range flows.Statuses {
				if st.Open() {
					counts = append(counts, count{f, pipe.ZCard(ctx, s.k.ixFlow(sh, f, st))})
				}
			}
		}
	}
	if len(counts) == 0 {
		return map[string]int64{}, nil
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("open requests by flow: %w", err)
	}
	out := map[string]int64{}
	for _, c := range counts {
		if n := c.cmd.Val(); n > 0 {
			out[c.flow] += n
		}
	}
	return out, nil
}
