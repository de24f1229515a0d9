package storage_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/batonbot/baton/flows"
	"github.com/batonbot/baton/storage"
	"github.com/batonbot/baton/storage/storagetest"
)

func queuedHook(entry, instance, url, event string) flows.QueuedHook {
	return flows.QueuedHook{Entry: entry, Instance: instance, Since: t0,
		Effect: flows.Effect{Kind: flows.EffectHook, Hook: &flows.HookCall{Name: "BATON_WEBHOOK_URLS 1", URL: url,
			Event: flows.HookEvent{ID: event, Type: "started"}}}}
}

func events(hs ...*flows.QueuedHook) []string {
	var out []string
	for _, h := range hs {
		if h == nil {
			out = append(out, "none")
			continue
		}
		out = append(out, h.Effect.Hook.Event.ID)
	}
	return out
}

// hookqueue.lua, hookclaim.lua and hooksettle.lua: a request's events to
// one subscriber are delivered one at a time, in outbox order, by whoever
// holds their queue; another subscriber's queue is another.
func TestHookQueueOrderAndHolder(t *testing.T) {
	conformance(t, func(t *testing.T, s *storage.Store, _ *flows.Engine) {
		ctx := t.Context()
		const crm, erp = "https://crm.example.com/hook?key=1", "https://erp.example.com/in"
		lease := 10 * time.Second
		queue := func(h flows.QueuedHook) *flows.QueuedHook {
			t.Helper()
			got, err := s.QueueHook(ctx, h, t0, lease)
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		first := queue(queuedHook("100-0", "PR-1", crm, "PR-1.1"))
		if first == nil || first.Effect.Hook.Event.ID != "PR-1.1" || first.Item == "" {
			t.Fatalf("the first event of a queue: %+v, want it held by the caller", first)
		}
		// Later entries wait, in outbox order whatever order they come in;
		// an earlier one read late goes after the first (which may be under
		// way), and one queued twice is there once.
		for _, h := range []flows.QueuedHook{queuedHook("103-0", "PR-1", crm, "PR-1.4"), queuedHook("101-5", "PR-1", crm, "PR-1.2"),
			queuedHook("103-0", "PR-1", crm, "PR-1.4"), queuedHook("99-0", "PR-1", crm, "PR-1.0"), queuedHook("101-12", "PR-1", crm, "PR-1.3")} {
			if got := queue(h); got != nil {
				t.Fatalf("%s was handed out while %s holds the queue", got.Effect.Hook.Event.ID, first.Effect.Hook.Event.ID)
			}
		}
		other := queue(queuedHook("102-0", "PR-1", erp, "PR-1.3"))
		if other == nil {
			t.Fatal("another subscriber's events wait behind this one's")
		}
		if got, err := s.ClaimHookQueues(ctx, t0.Add(lease-time.Millisecond), time.Minute, 10); err != nil || len(got) != 0 {
			t.Fatalf("claimed %v (%v) while their holders' leases last", events(ptrs(got)...), err)
		}
		if b, _ := s.Backlog(ctx); b.Hooks != 2 {
			t.Errorf("backlog: %d event queues, want 2", b.Hooks)
		}

		// Delivered: the next comes with the queue; failing, it waits.
		next, err := s.SettleHook(ctx, *first, flows.HookSettle{Lease: t0.Add(lease)})
		if err != nil || next == nil || next.Effect.Hook.Event.ID != "PR-1.0" {
			t.Fatalf("after the first: %v %v, want PR-1.0", events(next), err)
		}
		stale := *next
		next.Tries, next.Since = 1, t0.Add(time.Second)
		if got, err := s.SettleHook(ctx, *next, flows.HookSettle{Retry: t0.Add(time.Minute)}); err != nil || got != nil {
			t.Fatalf("a retry handed out %v (%v)", events(got), err)
		}
		// The other queue's holder stopped: its lease ran out.
		claimed, err := s.ClaimHookQueues(ctx, t0.Add(30*time.Second), time.Minute, 10)
		if err != nil || len(claimed) != 1 || claimed[0].Item != other.Item {
			t.Fatalf("at 30 s claimed %v (%v), want the other subscriber's PR-1.3", events(ptrs(claimed)...), err)
		}
		claimed, err = s.ClaimHookQueues(ctx, t0.Add(time.Minute), time.Minute, 10)
		if err != nil || len(claimed) != 1 {
			t.Fatalf("at 1 min claimed %v (%v), want PR-1.0 again", events(ptrs(claimed)...), err)
		}
		again := claimed[0]
		if again.Effect.Hook.Event.ID != "PR-1.0" || again.Tries != 1 || !again.Since.Equal(t0.Add(time.Second)) || again.Entry != "99-0" {
			t.Fatalf("claimed %+v, want PR-1.0 as kept, tried once", again)
		}
		// Settled by a holder whose lease ran out, as it was before: nothing changes.
		if got, err := s.SettleHook(ctx, stale, flows.HookSettle{Lease: t0.Add(2 * time.Minute)}); err != nil || got != nil {
			t.Fatalf("a stale holder got %v (%v)", events(got), err)
		}

		// Given up on: kept with the dead letters, and the rest goes on.
		next, err = s.SettleHook(ctx, again, flows.HookSettle{Dead: "HTTP 503", Lease: t0.Add(2 * time.Minute)})
		if err != nil || next == nil || next.Effect.Hook.Event.ID != "PR-1.2" {
			t.Fatalf("after the dead one: %v %v, want PR-1.2", events(next), err)
		}
		var order []string
		for next != nil {
			order = append(order, next.Effect.Hook.Event.ID)
			if next, err = s.SettleHook(ctx, *next, flows.HookSettle{Lease: t0.Add(2 * time.Minute)}); err != nil {
				t.Fatal(err)
			}
		}
		if want := []string{"PR-1.2", "PR-1.3", "PR-1.4"}; !slices.Equal(order, want) {
			t.Errorf("delivered %v, want %v", order, want)
		}
		dead, err := s.DeadLetters(ctx, 10)
		if err != nil || len(dead) != 1 {
			t.Fatalf("dead letters %+v (%v)", dead, err)
		}
		if d := dead[0]; d.ID != "99-0" || d.Instance != "PR-1" || d.Dead != "HTTP 503" || d.Effect.Hook == nil || d.Effect.Hook.Event.ID != "PR-1.0" {
			t.Errorf("dead letter %+v", d)
		}
		if got, err := s.SettleHook(ctx, *other, flows.HookSettle{Lease: t0.Add(2 * time.Minute)}); err != nil || got != nil {
			t.Fatalf("the other queue: %v (%v)", events(got), err)
		}
		if b, _ := s.Backlog(ctx); b.Hooks != 0 {
			t.Errorf("backlog: %d event queues left, want 0", b.Hooks)
		}
		// Empty, a queue starts again with the next event.
		if queue(queuedHook("104-0", "PR-1", crm, "PR-1.5")) == nil {
			t.Error("an emptied queue was not held by the next event's caller")
		}
	})
}

func ptrs(hs []flows.QueuedHook) []*flows.QueuedHook {
	out := make([]*flows.QueuedHook, len(hs))
	for i := range hs {
		out[i] = &hs[i]
	}
	return out
}

// noScript answers every EVALSHA NOSCRIPT (and lets SCRIPT LOAD and the
// rest through), as a proxy that does not pass SCRIPT LOAD on to the
// servers behind it would.
type noScript struct{ loads atomic.Int32 }

func (*noScript) DialHook(next redis.DialHook) redis.DialHook { return next }

func (n *noScript) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "script" {
			n.loads.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (*noScript) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if !slices.ContainsFunc(cmds, func(c redis.Cmder) bool { return c.Name() == "evalsha" }) {
			return next(ctx, cmds)
		}
		err := errors.New("NOSCRIPT No matching script. Please use EVAL.")
		for _, c := range cmds {
			c.SetErr(err)
		}
		return err
	}
}

// A claim that finds its script missing loads it once and tries again, once:
// a Redis that keeps answering NOSCRIPT is an error, not an endless retry.
func TestClaimHookQueuesLoadsItsScriptOnce(t *testing.T) {
	t.Parallel()
	_, url := storagetest.EmbeddedURL(t)
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	ns := &noScript{}
	c.AddHook(ns)
	s := storage.New(c, storage.Config{Prefix: storagetest.Prefix()})
	if _, err := s.ClaimHookQueues(t.Context(), t0, time.Minute, 10); err == nil || !strings.Contains(err.Error(), "NOSCRIPT") {
		t.Errorf("claim: %v, want the NOSCRIPT error", err)
	}
	if n := ns.loads.Load(); n != 1 {
		t.Errorf("the script was loaded %d times, want once", n)
	}
}

// A queue's first event that cannot be read (written by another version,
// or damaged) goes to the dead letters as it stands, and the request's
// later events go on: claimed again and again, it would hold them for ever.
func TestUnreadableQueuedEventIsKeptAside(t *testing.T) {
	onBackends(t, storage.Config{Shards: 4}, func(t *testing.T, b storagetest.Backend, s *storage.Store) {
		ctx := t.Context()
		const url = "https://crm.example.com/hook"
		lease := 10 * time.Second
		if first, err := s.QueueHook(ctx, queuedHook("1-0", "PR-1", url, "PR-1.1"), t0, lease); err != nil || first == nil {
			t.Fatalf("queue: %v %v", events(first), err)
		}
		if _, err := s.QueueHook(ctx, queuedHook("2-0", "PR-1", url, "PR-1.2"), t0, lease); err != nil {
			t.Fatal(err)
		}
		if err := b.Client.LSet(ctx, storage.HookQueueKey(s, "PR-1", url), 0, `1-0 {"effect":`).Err(); err != nil {
			t.Fatal(err)
		}
		// Its holder stopped: the queue is claimed once its lease ran out.
		got, err := s.ClaimHookQueues(ctx, t0.Add(time.Minute), lease, 10)
		if len(got) != 0 || err == nil || !strings.Contains(err.Error(), "read a queued event") {
			t.Fatalf("claim: %v (%v), want none and the unreadable event said", events(hookPtrs(got)...), err)
		}
		dead, err := s.DeadLetters(ctx, 10)
		if err != nil || len(dead) != 1 || dead[0].ID != "1-0" || dead[0].Instance != "PR-1" || !strings.Contains(dead[0].Dead, "read a queued event") {
			t.Fatalf("dead letters %+v (%v)", dead, err)
		}
		got, err = s.ClaimHookQueues(ctx, t0.Add(time.Minute), lease, 10)
		if err != nil || len(got) != 1 || got[0].Effect.Hook.Event.ID != "PR-1.2" {
			t.Fatalf("then: %v (%v), want PR-1.2", events(hookPtrs(got)...), err)
		}
	})
}

func hookPtrs(hs []flows.QueuedHook) []*flows.QueuedHook {
	out := make([]*flows.QueuedHook, len(hs))
	for i := range hs {
		out[i] = &hs[i]
	}
	return out
}
