package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	json "github.com/goccy/go-json"
	"github.com/redis/go-redis/v9"

	"github.com/batonbot/baton/flows"
)

// Event queues: each request's event announcements to each subscriber wait
// in a list of their own (hookQueue), delivered one at a time, first to
// last, by the replica holding the queue: the one whose event started it,
// then, while its first event waits to be tried again, whoever claims it
// when that is due (hookDue). So a request's later events to a subscriber
// wait behind one being retried, on every replica, and nothing else does.

var (
	hookQueueScript  = script("hookqueue")
	hookClaimScript  = script("hookclaim")
	hookSettleScript = script("hooksettle")
)

// QueueHook puts h, read from the outbox, in its queue. When the queue was
// empty, the caller holds it until now+lease and must deliver it: the
// queued event is returned (with its Item). Otherwise it waits behind the
// events already queued (nil). It does not acknowledge h's outbox entry.
func (s *Store) QueueHook(ctx context.Context, h flows.QueuedHook, now time.Time, lease time.Duration) (*flows.QueuedHook, error) {
	if h.Effect.Hook == nil {
		return nil, fmt.Errorf("queue the event of %s: not an event announcement", h.Instance)
	}
	payload, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("queue the event of %s: %w", h.Instance, err)
	}
	member := hookMember(h.Instance, h.Effect.Hook.URL)
	h.Item = h.Entry + " " + string(payload)
	sh := s.k.shardOf(h.Instance)
	held, err := hookQueueScript.Run(ctx, s.rdb, []string{s.k.hookDue(sh), s.k.hookQueue(member)},
		member, h.Item, now.Add(lease).UnixMilli()).Int()
	if err != nil {
		return nil, fmt.Errorf("queue the event %s of %s: %w", h.Effect.Hook.Event.ID, h.Instance, err)
	}
	if held != 1 {
		return nil, nil
	}
	h.Shard = sh
	return &h, nil
}

// ClaimHookQueues takes up to n event queues (n/shards of each shard,
// rounded up) whose first event is due to be tried again at now, or whose
// holder's lease ran out, each held by the caller until now+lease, and
// returns their first events.
func (s *Store) ClaimHookQueues(ctx context.Context, now time.Time, lease time.Duration, n int) ([]flows.QueuedHook, error) {
	per := max((n+s.k.shards-1)/s.k.shards, 1)
	cmds := make([]*redis.Cmd, s.k.shards)
	for loaded := false; ; loaded = true {
		pipe := s.rdb.Pipeline()
		for sh := range s.k.shards {
			cmds[sh] = hookClaimScript.EvalSha(ctx, pipe, []string{s.k.hookDue(sh)}, now.UnixMilli(), now.Add(lease).UnixMilli(), per)
		}
		_, err := pipe.Exec(ctx)
		if err == nil || errors.Is(err, redis.Nil) {
			break
		}
		// EVALSHA in a pipeline cannot fall back to EVAL as Script.Run
		// does: a script not loaded yet (or lost with a restart) is loaded
		// once, and the claim made again (once: a proxy that does not pass
		// SCRIPT LOAD on to every server would have it go on for ever).
		if loaded || !strings.Contains(err.Error(), "NOSCRIPT") {
			return nil, fmt.Errorf("claim event queues: %w", err)
		}
		if err := hookClaimScript.Load(ctx, s.rdb).Err(); err != nil {
			return nil, fmt.Errorf("claim event queues: %w", err)
		}
	}
	var members []string
	var shards []int
	for sh, c := range cmds {
		got, _ := c.StringSlice()
		members = append(members, got...)
		for range got {
			shards = append(shards, sh)
		}
	}
	if len(members) == 0 {
		return nil, nil
	}
	pipe := s.rdb.Pipeline()
	firsts := make([]*redis.StringCmd, len(members))
	for i, m := range members {
		firsts[i] = pipe.LIndex(ctx, s.k.hookQueue(m), 0)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("claim event queues: read them: %w", err) // their leases run out, and they are claimed again
	}
	var out []flows.QueuedHook
	var errs []error
	for i, m := range members {
		item, err := firsts[i].Result()
		if errors.Is(err, redis.Nil) { // emptied meanwhile by a holder whose lease had run out
			continue
		}
		h, err := decodeQueuedHook(item)
		if err != nil {
			// Kept aside with the dead letters, as it stands, and the
			// queue goes on (due at once): claimed again, it would hold the
			// request's later events for ever. (Written by another version,
			// or damaged.)
			errs = append(errs, fmt.Errorf("event queue %s: %w", m, err), s.deadItem(ctx, shards[i], m, item, err, now))
			continue
		}
		h.Shard = shards[i]
		out = append(out, h)
	}
	return out, errors.Join(errs...)
}

// deadItem moves item, a queue's first item that cannot be read (err), to
// the dead letters, the queue (member, of shard) due at now.
func (s *Store) deadItem(ctx context.Context, shard int, member, item string, err error, now time.Time) error {
	entry, payload, _ := strings.Cut(item, " ")
	instance := member[:max(strings.LastIndexByte(member, '|'), 0)]
	_, rerr := hookSettleScript.Run(ctx, s.rdb, []string{s.k.hookDue(shard), s.k.hookQueue(member), s.k.dead(shard)},
		member, item, "dead", "", now.UnixMilli(), "i", instance, "e", payload, "why", err.Error(), "id", entry, "part", 0).Result()
	if rerr != nil && !errors.Is(rerr, redis.Nil) {
		return fmt.Errorf("event queue %s: keep its unreadable event aside: %w", member, rerr)
	}
	return nil
}

// SettleHook records what became of h, the first event of a queue the
// caller holds (how), and returns the next event to deliver, the queue
// still held (until how.Lease), or nil when the queue is empty or waits to
// try h again. An event given up on is kept aside with the dead letters, as
// Delivered keeps others. A queue whose first event is no longer h (taken
// over by another caller once the lease ran out) is left as it is: nil.
func (s *Store) SettleHook(ctx context.Context, h flows.QueuedHook, how flows.HookSettle) (*flows.QueuedHook, error) {
	if h.Effect.Hook == nil {
		return nil, fmt.Errorf("settle the event of %s: not an event announcement", h.Instance)
	}
	member := hookMember(h.Instance, h.Effect.Hook.URL)
	sh := s.k.shardOf(h.Instance)
	args := []any{member, h.Item}
	switch {
	case how.Dead != "":
		e, err := json.Marshal(h.Effect)
		if err != nil {
			return nil, fmt.Errorf("settle the event of %s: %w", h.Instance, err)
		}
		args = append(args, "dead", "", how.Lease.UnixMilli(), "i", h.Instance, "e", e, "why", how.Dead, "id", h.Entry, "part", 0)
	case !how.Retry.IsZero():
		payload, err := json.Marshal(h)
		if err != nil {
			return nil, fmt.Errorf("settle the event of %s: %w", h.Instance, err)
		}
		args = append(args, "retry", h.Entry+" "+string(payload), how.Retry.UnixMilli())
	default:
		args = append(args, "done", "", how.Lease.UnixMilli())
	}
	res, err := hookSettleScript.Run(ctx, s.rdb, []string{s.k.hookDue(sh), s.k.hookQueue(member), s.k.dead(sh)}, args...).Result()
	if err != nil {
		return nil, fmt.Errorf("settle the event %s of %s: %w", h.Effect.Hook.Event.ID, h.Instance, err)
	}
	item, _ := res.(string)
	if item == "" {
		return nil, nil
	}
	next, err := decodeQueuedHook(item)
	if err != nil {
		return nil, fmt.Errorf("event queue %s: %w", member, err)
	}
	next.Shard = sh
	return &next, nil
}

// decodeQueuedHook reads a queue's item, "ENTRY-ID PAYLOAD".
func decodeQueuedHook(item string) (flows.QueuedHook, error) {
	entry, payload, _ := strings.Cut(item, " ")
	var h flows.QueuedHook
	if err := json.Unmarshal([]byte(payload), &h); err != nil {
		return h, fmt.Errorf("read a queued event: %w", err)
	}
	if h.Effect.Hook == nil {
		return h, fmt.Errorf("read a queued event: not an event announcement")
	}
	h.Entry, h.Item = entry, item
	return h, nil
}
