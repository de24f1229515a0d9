package storage_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/batonbot/baton/flows"
	"github.com/batonbot/baton/manifests"
	"github.com/batonbot/baton/storage"
	"github.com/batonbot/baton/storage/storagetest"
)

var t0 = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

func engine(t testing.TB) *flows.Engine {
	t.Helper()
	defs, err := flows.LoadDefinitions(manifests.Flows, "flows")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := flows.ParseDirectory("directory.yaml", manifests.Directory)
	if err != nil {
		t.Fatal(err)
	}
	e, err := flows.NewEngine(defs, dir, []string{"olivia"})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// conformance runs fn against every backend: the embedded store always, and a
// real Redis when BATON_TEST_REDIS_URL is set.
func conformance(t *testing.T, fn func(t *testing.T, s *storage.Store, e *flows.Engine)) {
	onBackends(t, storage.Config{Shards: 4}, func(t *testing.T, _ storagetest.Backend, s *storage.Store) {
		fn(t, s, engine(t))
	})
}

// onBackends runs fn in parallel against every backend, each with a fresh
// Store configured by cfg.
func onBackends(t *testing.T, cfg storage.Config, fn func(t *testing.T, b storagetest.Backend, s *storage.Store)) {
	t.Parallel()
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			fn(t, b, storagetest.Store(t, b, cfg))
		})
	}
}

func apply(t testing.TB, s *storage.Store, e *flows.Engine, ev flows.Event, now time.Time) flows.Applied {
	t.Helper()
	a, err := s.Apply(t.Context(), ev, func(cur *flows.Instance) (*flows.Transition, error) { return e.Apply(cur, ev, now) })
	if err != nil {
		t.Fatalf("apply %s: %v", ev.Kind, err)
	}
	return a
}

func start(t testing.TB, s *storage.Store, e *flows.Engine, key string, amount string) string {
	t.Helper()
	id, err := s.Reserve(t.Context(), "purchase", "PR", key)
	if err != nil {
		t.Fatal(err)
	}
	ev := flows.Event{Kind: flows.EventStart, Key: key, Instance: id, Actor: "alice", Flow: "purchase",
		Data: map[string]string{"item": "Laptop", "amount": amount, "justification": "my old one broke down"}}
	a := apply(t, s, e, ev, t0)
	if !a.Outcome.OK {
		t.Fatalf("start refused: %+v", a.Outcome)
	}
	return id
}

func TestReserveIsIdempotent(t *testing.T) {
	conformance(t, func(t *testing.T, s *storage.Store, e *flows.Engine) {
		a, _ := s.Reserve(t.Context(), "purchase", "PR", "k1")
		b, _ := s.Reserve(t.Context(), "purchase", "PR", "k1")
		c, _ := s.Reserve(t.Context(), "purchase", "PR", "k2")
		if a != "PR-1" || b != "PR-1" || c != "PR-2" {
			t.Fatalf("reserve: got %s %s %s, want PR-1 PR-1 PR-2", a, b, c)
		}
	})
}

// TestInstallationIsOnePerData: every replica (a Store with the same
// prefix) gets the same installation id, every call; other data (another
// prefix, or the same after a wipe) gets another.
func TestInstallationIsOnePerData(t *testing.T) {
	onBackends(t, storage.Config{}, func(t *testing.T, b storagetest.Backend, s *storage.Store) {
		id, err := s.Installation(t.Context())
		if err != nil || len(id) != 12 {
			t.Fatalf("installation %q, %v", id, err)
		}
		replica := storage.New(b.Client, storage.Config{Prefix: s.Prefix()})
		if again, _ := replica.Installation(t.Context()); again != id {
			t.Errorf("another replica got %q, want %q", again, id)
		}
		if other, _ := storagetest.Store(t, b, storage.Config{}).Installation(t.Context()); other == id || other == "" {
			t.Errorf("other data got %q (this one %q)", other, id)
		}
		if err := s.DeleteAll(t.Context()); err != nil {
			t.Fatal(err)
		}
		if wiped, _ := s.Installation(t.Context()); wiped == id || wiped == "" {
			t.Errorf("after a wipe %q, before %q", wiped, id)
		}
	})
}

func TestTransitionCommitsEverythingTogether(t *testing.T) {
	onBackends(t, storage.Config{Shards: 4}, func(t *testing.T, be storagetest.Backend, s *storage.Store) {
		e := engine(t)
		id := start(t, s, e, "s1", "500")
		in, err := s.Get(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if in.Version != 1 || in.Status != flows.StatusRunning || in.Step != "manager" {
			t.Fatalf("after start: version %d status %s step %s", in.Version, in.Status, in.Step)
		}
		audit, err := s.Audit(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if len(audit) != 2 || audit[0].Action != "started" || audit[1].Action != "assigned" {
			t.Fatalf("audit: %+v", audit)
		}
		if err := flows.VerifyChain(audit); err != nil {
			t.Fatal(err)
		}
		// The card to Bob is in the outbox; the four timers are in the timer set.
		ds, err := s.ReadOutbox(t.Context(), "c1", 10, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 1 || ds[0].Effect.To.Person != "bob" || ds[0].Effect.Msg.Kind != flows.MsgTask {
			t.Fatalf("outbox: %+v", ds)
		}
		outbox, timers, err := s.Pending(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if outbox != 1 || timers != 1 {
			t.Fatalf("pending: outbox %d timers %d, want 1 and 1", outbox, timers)
		}
		// The four timers are in the state; the instance waits in its
		// shard's timer set once, due at the first (the reminder, at 4 h).
		due, err := be.Client.ZScore(t.Context(), storage.TimersKey(s, s.ShardOf(id)), id).Result()
		if err != nil || int64(due) != t0.Add(4*time.Hour).UnixMilli() {
			t.Fatalf("timer member of %s due %v (%v), want %d", id, due, err, t0.Add(4*time.Hour).UnixMilli())
		}
		tasks, err := s.List(t.Context(), flows.Query{Assignee: "bob"})
		if err != nil || len(tasks) != 1 || tasks[0].ID != id {
			t.Fatalf("bob's tasks: %v %v", tasks, err)
		}
		mine, err := s.List(t.Context(), flows.Query{Requester: "alice"})
		if err != nil || len(mine) != 1 {
			t.Fatalf("alice's requests: %v %v", mine, err)
		}
		// Approving clears Bob's task index, cancels the timers and completes.
		apply(t, s, e, flows.Event{Kind: flows.EventApprove, Key: "a1", Instance: id, Actor: "bob"}, t0.Add(time.Hour))
		tasks, _ = s.List(t.Context(), flows.Query{Assignee: "bob"})
		done, _ := s.List(t.Context(), flows.Query{Flow: "purchase", Status: []flows.Status{flows.StatusCompleted}})
		_, timers, _ = s.Pending(t.Context())
		if len(tasks) != 0 || len(done) != 1 || timers != 0 {
			t.Fatalf("after approval: %d tasks, %d completed, %d timers", len(tasks), len(done), timers)
		}
	})
}

func TestRedeliveryReturnsTheFirstOutcome(t *testing.T) {
	conformance(t, func(t *testing.T, s *storage.Store, e *flows.Engine) {
		id := start(t, s, e, "s1", "500")
		ev := flows.Event{Kind: flows.EventApprove, Key: "click-1", Instance: id, Actor: "bob"}
		first := apply(t, s, e, ev, t0.Add(time.Minute))
		again := apply(t, s, e, ev, t0.Add(2*time.Minute))
		if !first.Outcome.OK || first.Duplicate || !again.Duplicate || !reflect.DeepEqual(again.Outcome, first.Outcome) {
			t.Fatalf("first %+v, again %+v", first, again)
		}
		in, _ := s.Get(t.Context(), id)
		if in.Version != first.Version {
			t.Fatalf("redelivery changed the version: %d -> %d", first.Version, in.Version)
		}
		// A start redelivered with the same key creates nothing new.
		if id2 := start(t, s, e, "s1", "500"); id2 != id {
			t.Fatalf("redelivered start made %s, want %s", id2, id)
		}
	})
}

func TestConcurrentDecisionsOneWins(t *testing.T) {
	conformance(t, func(t *testing.T, s *storage.Store, e *flows.Engine) {
		id := start(t, s, e, "s1", "5000")
		apply(t, s, e, flows.Event{Kind: flows.EventApprove, Key: "m", Instance: id, Actor: "bob"}, t0.Add(time.Minute))
		// Finance is carol or frank (policy any): both click at once, and
		// each click is also delivered twice.
		var wg sync.WaitGroup
		results := make(chan flows.Applied, 4)
		for _, who := range []string{"carol", "frank", "carol", "frank"} {
			wg.Go(func() {
				ev := flows.Event{Kind: flows.EventApprove, Key: "click-" + who, Instance: id, Actor: who, Step: "finance", Round: 1}
				a, err := s.Apply(t.Context(), ev, func(cur *flows.Instance) (*flows.Transition, error) { return e.Apply(cur, ev, t0.Add(2*time.Minute)) })
				if err != nil {
					t.Error(err)
				}
				results <- a
			})
		}
		wg.Wait()
		close(results)
		var won, lost []flows.Outcome
		for a := range results {
			if a.Outcome.OK {
				won = append(won, a.Outcome)
			} else {
				lost = append(lost, a.Outcome)
			}
		}
		if len(won) != 2 || !reflect.DeepEqual(won[0], won[1]) || len(lost) != 2 || !reflect.DeepEqual(lost[0], lost[1]) || lost[0].Code != flows.CodeAlreadyDecided {
			t.Fatalf("won %+v, lost %+v", won, lost)
		}
		in, _ := s.Get(t.Context(), id)
		if in.Status != flows.StatusCompleted {
			t.Fatalf("status %s", in.Status)
		}
		audit, _ := s.Audit(t.Context(), id)
		var approvals, refusals int
		for _, a := range audit {
			if a.Action == "approved" && a.Step == "finance" {
				approvals++
			}
			if a.Refused {
				refusals++
			}
		}
		if approvals != 1 || refusals != 1 {
			t.Fatalf("audit has %d finance approvals and %d refusals, want 1 and 1", approvals, refusals)
		}
		if err := flows.VerifyChain(audit); err != nil {
			t.Fatal(err)
		}
	})
}

// ClaimTimers says when it took all it could of a shard: until it says
// no more, something may still be due.
func TestClaimTimersSaysWhenMoreMayBeDue(t *testing.T) {
	conformance(t, func(t *testing.T, s *storage.Store, e *flows.Engine) {
		for i := range 20 {
			start(t, s, e, fmt.Sprint("s", i), "500")
		}
		now := t0.Add(4 * 24 * time.Hour)
		taken := map[string]bool{}
		for round := 0; ; round++ {
			got, more, err := s.ClaimTimers(t.Context(), now, time.Minute, 2)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range got {
				taken[d.Instance] = true
			}
			if !more {
				break
			}
			if round == 20 {
				t.Fatal("more after 20 claims of 20 instances")
			}
		}
		if len(taken) != 20 {
			t.Fatalf("no more said after %d of 20 instances", len(taken))
		}
		if got, more, err := s.ClaimTimers(t.Context(), now, time.Minute, 2); len(got) != 0 || more || err != nil {
			t.Fatalf("claimed %d more (more: %v, %v)", len(got), more, err)
		}
	})
}

func TestTimersClaimedOnceByTwoPollers(t *testing.T) {
	conformance(t, func(t *testing.T, s *storage.Store, e *flows.Engine) {
		for i := range 20 {
			start(t, s, e, fmt.Sprint("s", i), "500")
		}
		// 20 instances × 4 timers, all due 4 days later.
		now := t0.Add(4 * 24 * time.Hour)
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				for {
					got, _, err := s.ClaimTimers(t.Context(), now, time.Minute, 7)
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, d := range got {
						seen[d.Instance+"|"+d.Timer]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != 80 {
			t.Fatalf("claimed %d distinct timers, want 80", len(seen))
		}
		for k, n := range seen {
			if n != 1 {
				t.Fatalf("timer %s claimed %d times", k, n)
			}
		}
		// Nobody finished them: after the lease they are claimable again, once.
		again, _, _ := s.ClaimTimers(t.Context(), now.Add(2*time.Minute), time.Minute, 100)
		if len(again) != 80 {
			t.Fatalf("after the lease: reclaimed %d, want 80", len(again))
		}
		if more, _, _ := s.ClaimTimers(t.Context(), now.Add(2*time.Minute), time.Minute, 100); len(more) != 0 {
			t.Fatalf("reclaimed twice: %d", len(more))
		}
	})
}

func TestClaimCostFollowsDueNotPending(t *testing.T) {
	conformance(t, func(t *testing.T, s *storage.Store, e *flows.Engine) {
		id := start(t, s, e, "s1", "500")
		// Nothing is due at t0: claiming returns nothing and leaves the 4 timers.
		if got, _, _ := s.ClaimTimers(t.Context(), t0, time.Minute, 100); len(got) != 0 {
			t.Fatalf("claimed %d before they were due", len(got))
		}
		// The first reminder (4 h) is due at t0+4h, alone.
		got, _, _ := s.ClaimTimers(t.Context(), t0.Add(4*time.Hour), time.Minute, 100)
		if len(got) != 1 || got[0].Instance != id || got[0].Timer != "manager/1/remind/1" || !got[0].Due.Equal(t0.Add(4*time.Hour)) {
			t.Fatalf("claimed %+v", got)
		}
		// Firing it commits the reminder, schedules the next and releases the lease.
		ev := flows.Event{Kind: flows.EventTimer, Key: "timer:" + got[0].Timer, Instance: id, Timer: got[0].Timer}
		apply(t, s, e, ev, t0.Add(4*time.Hour))
		if again, _, _ := s.ClaimTimers(t.Context(), t0.Add(4*time.Hour+2*time.Minute), time.Minute, 100); len(again) != 0 {
			t.Fatalf("a fired timer came back: %+v", again)
		}
	})
}

// dueOf returns when an instance's timer member is due (unix ms), or -1 if
// it has none.
func dueOf(t *testing.T, be storagetest.Backend, s *storage.Store, id string) int64 {
	t.Helper()
	due, err := be.Client.ZScore(t.Context(), storage.TimersKey(s, s.ShardOf(id)), id).Result()
	if errors.Is(err, redis.Nil) {
		return -1
	}
	if err != nil {
		t.Fatal(err)
	}
	return int64(due)
}

// startAndClaim starts a purchase and claims its first reminder, due at
// 4 h, alone.
func startAndClaim(t *testing.T, s *storage.Store, e *flows.Engine) (string, []flows.DueTimer) {
	t.Helper()
	id := start(t, s, e, "s1", "500")
	got, _, err := s.ClaimTimers(t.Context(), t0.Add(4*time.Hour), time.Minute, 10)
	if err != nil || len(got) != 1 || got[0].Instance != id || got[0].Timer != "manager/1/remind/1" || !got[0].Due.Equal(t0.Add(4*time.Hour)) {
		t.Fatalf("claimed %+v %v, want the first reminder of %s", got, err, id)
	}
	return id, got
}

func TestTimerMemberFollowsTheEarliestTimer(t *testing.T) {
	onBackends(t, storage.Config{Shards: 4}, func(t *testing.T, be storagetest.Backend, s *storage.Store) {
		e := engine(t)
		id := start(t, s, e, "s1", "500")
		at4h := t0.Add(4 * time.Hour)
		if got := dueOf(t, be, s, id); got != at4h.UnixMilli() {
			t.Fatalf("after start: due %d, want the first reminder's %d", got, at4h.UnixMilli())
		}
		// The reminder fires; the member moves to the second reminder (8 h)
		// and the claim's lease is dropped.
		got, _, err := s.ClaimTimers(t.Context(), at4h, time.Minute, 10)
		if err != nil || len(got) != 1 || got[0].Timer != "manager/1/remind/1" {
			t.Fatalf("claimed %+v %v", got, err)
		}
		apply(t, s, e, flows.Event{Kind: flows.EventTimer, Key: "timer:" + got[0].Timer, Instance: id, Timer: got[0].Timer}, at4h)
		if got := dueOf(t, be, s, id); got != t0.Add(8*time.Hour).UnixMilli() {
			t.Fatalf("after the reminder: due %d, want %d", got, t0.Add(8*time.Hour).UnixMilli())
		}
		if b, _ := s.Backlog(t.Context()); b.Leased != 0 || b.Timers != 1 {
			t.Fatalf("backlog %+v, want one member and no lease", b)
		}
		// Bob approves: no timer is left, and so no member.
		apply(t, s, e, flows.Event{Kind: flows.EventApprove, Key: "a1", Instance: id, Actor: "bob"}, at4h.Add(time.Minute))
		if got := dueOf(t, be, s, id); got != -1 {
			t.Fatalf("after the approval: due %d, want no member", got)
		}
	})
}

// A claim that finds an instance's timers changed (approved meanwhile)
// fires nothing and leaves nothing behind; a member whose score is stale
// is put back at the instance's earliest timer.
func TestClaimedTimersThatChangedMeanwhile(t *testing.T) {
	onBackends(t, storage.Config{Shards: 4}, func(t *testing.T, be storagetest.Backend, s *storage.Store) {
		e := engine(t)
		id, got := startAndClaim(t, s, e)
		at4h := got[0].Due
		// Approved while its reminder is claimed: the member and lease go.
		apply(t, s, e, flows.Event{Kind: flows.EventApprove, Key: "a1", Instance: id, Actor: "bob"}, at4h)
		a := apply(t, s, e, flows.Event{Kind: flows.EventTimer, Key: "timer:" + got[0].Timer, Instance: id, Timer: got[0].Timer}, at4h)
		if a.Transition != nil {
			t.Fatalf("a cancelled reminder fired: %+v", a.Transition.Audit)
		}
		if b, _ := s.Backlog(t.Context()); b.Leased != 0 || b.Timers != 0 {
			t.Fatalf("backlog %+v, want nothing", b)
		}

		// A member due earlier than the instance's first timer (as if its
		// state changed after the score was written) fires nothing and is
		// put back where it belongs, without a lease.
		other := start(t, s, e, "s2", "500")
		if err := be.Client.ZAdd(t.Context(), storage.TimersKey(s, s.ShardOf(other)), redis.Z{Score: float64(t0.UnixMilli()), Member: other}).Err(); err != nil {
			t.Fatal(err)
		}
		if got, _, err := s.ClaimTimers(t.Context(), t0.Add(time.Hour), time.Minute, 10); err != nil || len(got) != 0 {
			t.Fatalf("claimed %+v %v, want nothing due", got, err)
		}
		if got := dueOf(t, be, s, other); got != at4h.UnixMilli() {
			t.Fatalf("put back due %d, want %d", got, at4h.UnixMilli())
		}
		if b, _ := s.Backlog(t.Context()); b.Leased != 0 || b.Timers != 1 {
			t.Fatalf("backlog %+v, want one member and no lease", b)
		}
	})
}

// A fired timer that comes to nothing while it stays in the state (as if
// the engine ignored it) must not keep coming back: the member is put back
// at the instance's next timer.
func TestIgnoredTimerDoesNotComeBack(t *testing.T) {
	onBackends(t, storage.Config{Shards: 4}, func(t *testing.T, be storagetest.Backend, s *storage.Store) {
		e := engine(t)
		id, got := startAndClaim(t, s, e)
		at4h := got[0].Due
		ev := flows.Event{Kind: flows.EventTimer, Key: "timer:" + got[0].Timer, Instance: id, Timer: got[0].Timer}
		a, err := s.Apply(t.Context(), ev, func(cur *flows.Instance) (*flows.Transition, error) {
			return &flows.Transition{Instance: cur, Noop: true, Outcome: flows.Outcome{OK: true}}, nil
		})
		if err != nil || a.Transition != nil {
			t.Fatalf("apply: %+v %v", a, err)
		}
		if got := dueOf(t, be, s, id); got != t0.Add(24*time.Hour).UnixMilli() {
			t.Fatalf("due %d, want the timeout's %d (the ignored reminder was at %d)", got, t0.Add(24*time.Hour).UnixMilli(), at4h.UnixMilli())
		}
		if b, _ := s.Backlog(t.Context()); b.Leased != 0 {
			t.Fatalf("backlog %+v: lease left", b)
		}
	})
}

// Timers written by earlier versions, one member per timer ("id|timer"),
// still fire once, and firing one drops its lease.
func TestTimersOfEarlierVersionsStillFire(t *testing.T) {
	onBackends(t, storage.Config{Shards: 4}, func(t *testing.T, be storagetest.Backend, s *storage.Store) {
		e := engine(t)
		id := start(t, s, e, "s1", "500")
		key := storage.TimersKey(s, s.ShardOf(id))
		// As an earlier version left it: the four per-timer members.
		in, err := s.Get(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		pipe := be.Client.TxPipeline()
		pipe.ZRem(t.Context(), key, id)
		for _, tm := range in.Timers {
			pipe.ZAdd(t.Context(), key, redis.Z{Score: float64(tm.At.UnixMilli()), Member: id + "|" + tm.ID})
		}
		if _, err := pipe.Exec(t.Context()); err != nil {
			t.Fatal(err)
		}
		at4h := t0.Add(4 * time.Hour)
		got, _, err := s.ClaimTimers(t.Context(), at4h, time.Minute, 10)
		if err != nil || len(got) != 1 || got[0].Instance != id || got[0].Timer != "manager/1/remind/1" || !got[0].Due.Equal(at4h) {
			t.Fatalf("claimed %+v %v", got, err)
		}
		a := apply(t, s, e, flows.Event{Kind: flows.EventTimer, Key: "timer:" + got[0].Timer, Instance: id, Timer: got[0].Timer}, at4h)
		if a.Transition == nil {
			t.Fatal("the reminder did not fire")
		}
		if b, _ := s.Backlog(t.Context()); b.Leased != 0 {
			t.Fatalf("backlog %+v: the fired timer's lease is left", b)
		}
		// The instance now has its own member; the old ones that are still
		// pending fire as no-ops or once, never twice.
		if got := dueOf(t, be, s, id); got != t0.Add(8*time.Hour).UnixMilli() {
			t.Fatalf("due %d, want the second reminder's", got)
		}
		fired := map[string]int{}
		// At 24 h the instance's member (scored at the timeout) and the old
		// members of the same timers are due at once; claimed one at a time,
		// the old ones come second, as redeliveries, and must be released.
		for _, c := range []struct {
			now time.Time
			n   int
		}{{t0.Add(8 * time.Hour), 10}, {t0.Add(24 * time.Hour), 1}, {t0.Add(24 * time.Hour), 10}} {
			now := c.now
			got, _, err := s.ClaimTimers(t.Context(), now, time.Minute, c.n)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range got {
				a := apply(t, s, e, flows.Event{Kind: flows.EventTimer, Key: "timer:" + d.Timer, Instance: id, Timer: d.Timer}, now)
				if a.Transition != nil {
					fired[d.Timer]++
				}
			}
		}
		for timer, n := range fired {
			if n != 1 {
				t.Fatalf("%s fired %d times (all: %v)", timer, n, fired)
			}
		}
		if fired["manager/1/remind/2"] != 1 || fired["manager/1/timeout/0"] != 1 {
			t.Fatalf("fired %v, want the second reminder and the timeout", fired)
		}
		if b, _ := s.Backlog(t.Context()); b.Leased != 0 {
			t.Fatalf("backlog %+v: leases of old members left", b)
		}
		// Approved: the old members left fire as no-ops and are dropped.
		apply(t, s, e, flows.Event{Kind: flows.EventApprove, Key: "a1", Instance: id, Actor: "bob"}, t0.Add(25*time.Hour))
		later := t0.AddDate(0, 1, 0)
		got, _, err = s.ClaimTimers(t.Context(), later, time.Minute, 10)
		if err != nil || len(got) == 0 {
			t.Fatalf("claimed %+v %v, want the old members left", got, err)
		}
		for _, d := range got {
			if a := apply(t, s, e, flows.Event{Kind: flows.EventTimer, Key: "timer:" + d.Timer, Instance: id, Timer: d.Timer}, later); a.Transition != nil {
				t.Fatalf("%s fired after the approval", d.Timer)
			}
		}
		if b, _ := s.Backlog(t.Context()); b.Leased != 0 || b.Timers != 0 {
			t.Fatalf("backlog %+v: timers or leases left", b)
		}
	})
}

func TestOutboxSurvivesACrashBetweenWriteAndSend(t *testing.T) {
	conformance(t, func(t *testing.T, s *storage.Store, e *flows.Engine) {
		id := start(t, s, e, "s1", "500")
		// Consumer A takes the card and dies before sending it.
		taken, err := s.ReadOutbox(t.Context(), "a", 10, 0)
		if err != nil || len(taken) != 1 {
			t.Fatalf("a took %v %v", taken, err)
		}
		// Nothing new for B, but once A's claim is idle, B takes it over.
		if fresh, _ := s.ReadOutbox(t.Context(), "b", 10, 0); len(fresh) != 0 {
			t.Fatalf("b saw %d new entries", len(fresh))
		}
		var stolen []flows.Delivery
		for range 100 {
			stolen, err = s.ReadOutbox(t.Context(), "b", 10, time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			if len(stolen) > 0 {
				break
			}
			time.Sleep(2 * time.Millisecond) // XAUTOCLAIM's idle time is measured by the Redis server's clock
		}
		if len(stolen) != 1 || stolen[0].ID != taken[0].ID {
			t.Fatalf("b reclaimed %+v", stolen)
		}
		stolen[0].Refs = map[string]string{"manager/1/bob|web": "ref-1"}
		if err := s.Delivered(t.Context(), stolen); err != nil {
			t.Fatal(err)
		}
		refs, _ := s.Refs(t.Context(), id)
		if refs["manager/1/bob|web"] != "ref-1" {
			t.Fatalf("refs %v", refs)
		}
		if n, _, _ := s.Pending(t.Context()); n != 0 {
			t.Fatalf("%d entries left in the outbox", n)
		}
	})
}

func TestBadInputChangesNothing(t *testing.T) {
	conformance(t, func(t *testing.T, s *storage.Store, e *flows.Engine) {
		id := start(t, s, e, "s1", "500")
		ev := flows.Event{Kind: flows.EventReject, Key: "r1", Instance: id, Actor: "bob"} // no reason
		_, err := s.Apply(t.Context(), ev, func(cur *flows.Instance) (*flows.Transition, error) { return e.Apply(cur, ev, t0) })
		var ie *flows.InputError
		if !errors.As(err, &ie) {
			t.Fatalf("reject without a reason: %v", err)
		}
		in, _ := s.Get(t.Context(), id)
		audit, _ := s.Audit(t.Context(), id)
		if in.Version != 1 || len(audit) != 2 {
			t.Fatalf("state changed: version %d, %d audit entries", in.Version, len(audit))
		}
		// The key was not used up: the corrected retry goes through.
		ev.Reason = "too expensive"
		if a := apply(t, s, e, ev, t0); !a.Outcome.OK || a.Duplicate {
			t.Fatalf("retry: %+v", a)
		}
		if _, err := s.Get(t.Context(), "PR-999"); !errors.Is(err, flows.ErrNotFound) {
			t.Fatalf("missing instance: %v", err)
		}
	})
}

func TestAuditTamperingShows(t *testing.T) {
	conformance(t, func(t *testing.T, s *storage.Store, e *flows.Engine) {
		id := start(t, s, e, "s1", "500")
		apply(t, s, e, flows.Event{Kind: flows.EventReject, Key: "r", Instance: id, Actor: "bob", Reason: "no budget"}, t0.Add(time.Hour))
		audit, _ := s.Audit(t.Context(), id)
		if err := flows.VerifyChain(audit); err != nil {
			t.Fatal(err)
		}
		forged := slices.Clone(audit)
		forged[2].Reason = "approved really"
		if err := flows.VerifyChain(forged); err == nil {
			t.Fatal("an altered reason passed verification")
		}
		if err := flows.VerifyChain(append(slices.Clone(audit[:1]), audit[2:]...)); err == nil {
			t.Fatal("a removed entry passed verification")
		}
		b, _ := json.Marshal(audit[2])
		var back flows.AuditEntry
		_ = json.Unmarshal(b, &back)
		if err := flows.VerifyChain(append(slices.Clone(audit[:2]), back)); err != nil {
			t.Fatalf("a JSON round trip broke the chain: %v", err)
		}
	})
}

// Many transitions at once share script calls (group commit), of one
// shard or of several: each still commits alone, exactly once, into its own
// shard's keys, and a redelivery racing its first delivery gets the first
// outcome.
func TestConcurrentTransitions(t *testing.T) {
	for _, shards := range []int{1, 16} {
		t.Run(fmt.Sprintf("shards=%d", shards), func(t *testing.T) { concurrentTransitions(t, shards) })
	}
}

func concurrentTransitions(t *testing.T, shards int) {
	onBackends(t, storage.Config{Shards: shards}, func(t *testing.T, be storagetest.Backend, s *storage.Store) {
		e := engine(t)
		const n = 40
		type result struct {
			key string
			a   flows.Applied
		}
		results := make(chan result, 2*n)
		var wg sync.WaitGroup
		for i := range 2 * n { // each start delivered twice, all at once
			wg.Go(func() {
				key := fmt.Sprintf("start-%d", i%n)
				id, err := s.Reserve(t.Context(), "purchase", "PR", key)
				if err != nil {
					t.Error(err)
					return
				}
				ev := flows.Event{Kind: flows.EventStart, Key: key, Instance: id, Actor: "alice", Flow: "purchase",
					Data: map[string]string{"item": "Laptop", "amount": "500", "justification": "my old one broke down"}}
				a, err := s.Apply(t.Context(), ev, func(cur *flows.Instance) (*flows.Transition, error) { return e.Apply(cur, ev, t0) })
				if err != nil {
					t.Error(err)
				}
				results <- result{key, a}
			})
		}
		wg.Wait()
		close(results)
		firsts := map[string]flows.Applied{}
		dups := map[string]flows.Applied{}
		for r := range results {
			if !r.a.Outcome.OK {
				t.Fatalf("%s refused: %+v", r.key, r.a.Outcome)
			}
			if r.a.Duplicate {
				dups[r.key] = r.a
			} else if _, twice := firsts[r.key]; twice {
				t.Fatalf("%s committed twice", r.key)
			} else {
				firsts[r.key] = r.a
			}
		}
		if len(firsts) != n || len(dups) != n {
			t.Fatalf("%d first outcomes and %d duplicates, want %d of each", len(firsts), len(dups), n)
		}
		for key, first := range firsts {
			if !reflect.DeepEqual(dups[key].Outcome, first.Outcome) {
				t.Fatalf("%s: redelivery answered %+v, first %+v", key, dups[key].Outcome, first.Outcome)
			}
			audit, err := s.Audit(t.Context(), first.Outcome.Instance)
			if err != nil {
				t.Fatal(err)
			}
			if len(audit) != 2 || flows.VerifyChain(audit) != nil {
				t.Fatalf("%s: audit %+v", key, audit)
			}
		}
		outbox, timers, err := s.Pending(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if outbox != n || timers != n { // one task card and one timer member each
			t.Fatalf("outbox %d, timers %d; want %d and %d", outbox, timers, n, n)
		}
		// Each instance's timers and outbox entry are in its own shard's.
		for sh := range shards {
			members, err := be.Client.ZRange(t.Context(), storage.TimersKey(s, sh), 0, -1).Result()
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range members {
				if s.ShardOf(m) != sh {
					t.Fatalf("timer member %s of shard %d is in shard %d's set", m, s.ShardOf(m), sh)
				}
			}
			entries, err := be.Client.XRange(t.Context(), storage.OutboxKey(s, sh), "-", "+").Result()
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if id, _ := e.Values["i"].(string); s.ShardOf(id) != sh {
					t.Fatalf("outbox entry of %s (shard %d) is in shard %d's stream", id, s.ShardOf(id), sh)
				}
			}
		}

		// Bob approves each request twice at once (two clicks, two keys):
		// one approval wins, the other is told it was already decided.
		decisions := make(chan flows.Applied, 2*n)
		for key, first := range firsts {
			for click := range 2 {
				wg.Go(func() {
					ev := flows.Event{Kind: flows.EventApprove, Key: fmt.Sprintf("%s-click-%d", key, click),
						Instance: first.Outcome.Instance, Actor: "bob", Step: "manager", Round: 1}
					a, err := s.Apply(t.Context(), ev, func(cur *flows.Instance) (*flows.Transition, error) { return e.Apply(cur, ev, t0.Add(time.Hour)) })
					if err != nil {
						t.Error(err)
					}
					decisions <- a
				})
			}
		}
		wg.Wait()
		close(decisions)
		won := map[string]int{}
		for a := range decisions {
			switch {
			case a.Outcome.OK:
				won[a.Outcome.Instance]++
			case a.Outcome.Code != flows.CodeAlreadyDecided:
				t.Fatalf("refused for another reason: %+v", a.Outcome)
			}
		}
		if len(won) != n || slices.ContainsFunc(slices.Collect(maps.Values(won)), func(w int) bool { return w != 1 }) {
			t.Fatalf("approvals won per request: %v", won)
		}
		// The indexes, timers and outbox followed every commit.
		if mine, _ := s.List(t.Context(), flows.Query{Assignee: "bob"}); len(mine) != 0 {
			t.Fatalf("bob still has %d tasks", len(mine))
		}
		if done, _ := s.List(t.Context(), flows.Query{Status: []flows.Status{flows.StatusCompleted}, Flow: "purchase", Limit: 2 * n}); len(done) != n {
			t.Fatalf("%d completed requests, want %d", len(done), n)
		}
		if outbox, timers, _ := s.Pending(t.Context()); outbox != 2*n || timers != 0 {
			t.Fatalf("outbox %d, timers %d; want %d and 0", outbox, timers, 2*n)
		}
	})
}

// One outbox entry holds a transition's effects, in order; the entry is
// acknowledged with its last effect.
func TestOutboxEntryHoldsATransitionsEffects(t *testing.T) {
	conformance(t, func(t *testing.T, s *storage.Store, e *flows.Engine) {
		id := start(t, s, e, "s1", "500")
		first, err := s.ReadOutbox(t.Context(), "a", 10, 0)
		if err != nil || len(first) != 1 || !first[0].Last() {
			t.Fatalf("start's entry: %+v %v", first, err)
		}
		if err := s.Delivered(t.Context(), first); err != nil {
			t.Fatal(err)
		}
		// Bob's approval completes the request: his card is updated,
		// procurement and Alice are told. One entry, three effects.
		apply(t, s, e, flows.Event{Kind: flows.EventApprove, Key: "a1", Instance: id, Actor: "bob"}, t0.Add(time.Hour))
		if n, _, _ := s.Pending(t.Context()); n != 1 {
			t.Fatalf("%d outbox entries, want 1", n)
		}
		got, err := s.ReadOutbox(t.Context(), "a", 10, 0)
		if err != nil {
			t.Fatal(err)
		}
		var kinds []flows.EffectKind
		for i, d := range got {
			if d.ID != got[0].ID || d.Part != i || d.Parts != 3 || d.Last() != (i == 2) {
				t.Fatalf("delivery %d: %+v", i, d)
			}
			kinds = append(kinds, d.Effect.Kind)
		}
		if want := []flows.EffectKind{flows.EffectUpdate, flows.EffectNotify, flows.EffectNotify}; !slices.Equal(kinds, want) {
			t.Fatalf("effects %v, want %v", kinds, want)
		}
		// The first two done: the entry still waits for its last effect.
		if err := s.Delivered(t.Context(), got[:2]); err != nil {
			t.Fatal(err)
		}
		if b, _ := s.Backlog(t.Context()); b.Outbox != 1 || b.Unacked != 1 {
			t.Fatalf("after two of three: %+v", b)
		}
		if err := s.Delivered(t.Context(), got[2:]); err != nil {
			t.Fatal(err)
		}
		if b, _ := s.Backlog(t.Context()); b.Outbox != 0 || b.Unacked != 0 {
			t.Fatalf("after the last: %+v", b)
		}
	})
}

// An entry written by an earlier version (one effect, not a list) is still
// delivered and acknowledged.
func TestOutboxReadsOneEffectEntries(t *testing.T) {
	onBackends(t, storage.Config{Shards: 4}, func(t *testing.T, b storagetest.Backend, s *storage.Store) {
		err := b.Client.XAdd(t.Context(), &redis.XAddArgs{Stream: storage.OutboxKey(s, 0),
			Values: map[string]any{"i": "PR-9", "e": `{"kind":"notify","to":{"person":"bob"},"card":"x"}`}}).Err()
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.ReadOutbox(t.Context(), "a", 10, 0)
		if err != nil || len(got) != 1 || got[0].Dead != "" || got[0].Effect.Card != "x" || got[0].Instance != "PR-9" || !got[0].Last() {
			t.Fatalf("read %+v %v", got, err)
		}
		if err := s.Delivered(t.Context(), got); err != nil {
			t.Fatal(err)
		}
		if n, _, _ := s.Pending(t.Context()); n != 0 {
			t.Fatalf("%d entries left", n)
		}
	})
}

// Consecutive cards of a transition share an entry; an event announcement
// (or a webhook call) has one of its own, in the effects' order.
func TestOutboxEntriesGroupConsecutiveCards(t *testing.T) {
	conformance(t, func(t *testing.T, s *storage.Store, e *flows.Engine) {
		ev := flows.Event{Kind: flows.EventStart, Key: "s1", Instance: "PR-1", Actor: "alice", Flow: "purchase",
			Data: map[string]string{"item": "Laptop", "amount": "500", "justification": "my old one broke down"}}
		_, err := s.Apply(t.Context(), ev, func(cur *flows.Instance) (*flows.Transition, error) {
			tr, err := e.Apply(cur, ev, t0)
			if err != nil {
				return nil, err
			}
			tr.Effects = append(tr.Effects,
				flows.Effect{Kind: flows.EffectNotify, To: flows.Recipient{Channel: "ops"}, Card: "a"},
				flows.Effect{Kind: flows.EffectHook, Hook: &flows.HookCall{URL: "https://hooks.example/x"}},
				flows.Effect{Kind: flows.EffectNotify, To: flows.Recipient{Channel: "ops"}, Card: "b"})
			return tr, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.ReadOutbox(t.Context(), "a", 10, 0)
		if err != nil {
			t.Fatal(err)
		}
		var entries [][]string
		for i, d := range got {
			if i == 0 || d.ID != got[i-1].ID {
				entries = append(entries, nil)
			}
			last := &entries[len(entries)-1]
			if d.Part != len(*last) || d.Last() != (d.Part == d.Parts-1) {
				t.Fatalf("delivery %d: part %d of %d", i, d.Part, d.Parts)
			}
			*last = append(*last, string(d.Effect.Kind)+":"+d.Effect.Card)
		}
		want := [][]string{{"notify:manager/1/bob", "notify:a"}, {"hook:"}, {"notify:b"}}
		if !slices.EqualFunc(entries, want, slices.Equal) {
			t.Fatalf("entries %v, want %v", entries, want)
		}
	})
}

// A transition the script fails on (here its audit key holds the wrong
// type) fails alone with the script's error; the shard goes on committing.
func TestFailingTransitionFailsAlone(t *testing.T) {
	onBackends(t, storage.Config{Shards: 1}, func(t *testing.T, b storagetest.Backend, s *storage.Store) {
		e := engine(t)
		if err := b.Client.Set(t.Context(), storage.AuditKey(s, "PR-1"), "not a list", 0).Err(); err != nil {
			t.Fatal(err)
		}
		ev := flows.Event{Kind: flows.EventStart, Key: "s1", Instance: "PR-1", Actor: "alice", Flow: "purchase",
			Data: map[string]string{"item": "Laptop", "amount": "500", "justification": "my old one broke down"}}
		_, err := s.Apply(t.Context(), ev, func(cur *flows.Instance) (*flows.Transition, error) { return e.Apply(cur, ev, t0) })
		if err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
			t.Fatalf("start on a broken audit key: %v", err)
		}
		ev.Key, ev.Instance = "s2", "PR-2" // another instance of the shard commits
		if a := apply(t, s, e, ev, t0); !a.Outcome.OK || a.Duplicate || a.Version != 1 {
			t.Fatalf("the next start: %+v", a)
		}
	})
}

// A Redis that lost its scripts (a restart, SCRIPT FLUSH) gets them again:
// starts, decisions and timer claims go on. Embedded only: flushing the
// shared real Redis would slow the tests running beside this one.
func TestScriptsComeBackAfterAFlush(t *testing.T) {
	t.Parallel()
	be := storagetest.Embedded(t)
	s := storagetest.Store(t, be, storage.Config{Shards: 2})
	e := engine(t)
	flush := func() {
		if err := be.Client.ScriptFlush(t.Context()).Err(); err != nil {
			t.Fatal(err)
		}
	}
	flush()
	id := start(t, s, e, "s1", "500")
	flush()
	if a := apply(t, s, e, flows.Event{Kind: flows.EventApprove, Key: "a1", Instance: id, Actor: "bob"}, t0.Add(time.Hour)); !a.Outcome.OK {
		t.Fatalf("approval refused: %+v", a.Outcome)
	}
	start(t, s, e, "s2", "500")
	flush()
	due, _, err := s.ClaimTimers(t.Context(), t0.AddDate(1, 0, 0), time.Minute, 10)
	if err != nil || len(due) == 0 {
		t.Fatalf("claimed %v, %v", due, err)
	}
}

// Concurrent reads of many instances by a store with nothing cached (as
// another replica) share pipelines: each caller gets its own instance's
// state and its own card references.
func TestConcurrentReadsGetTheirOwnResults(t *testing.T) {
	onBackends(t, storage.Config{Shards: 16}, func(t *testing.T, be storagetest.Backend, s *storage.Store) {
		e := engine(t)
		const n = 60
		ids := make([]string, n)
		for i := range n {
			ids[i] = start(t, s, e, fmt.Sprintf("s%d", i), "500")
		}
		var refs []flows.Delivery
		for i, id := range ids {
			refs = append(refs, flows.Delivery{Instance: id, Part: 0, Parts: 2, Shard: s.ShardOf(id),
				Refs: map[string]string{"card|slack": fmt.Sprintf("ref-%d", i)}})
		}
		if err := s.Delivered(t.Context(), refs); err != nil {
			t.Fatal(err)
		}
		replica := storage.New(be.Client, storage.Config{Prefix: s.Prefix(), Shards: 16})
		var wg sync.WaitGroup
		for i, id := range ids {
			wg.Go(func() {
				ev := flows.Event{Kind: flows.EventApprove, Key: "a-" + id, Instance: id, Actor: "bob"}
				a, err := replica.Apply(t.Context(), ev, func(cur *flows.Instance) (*flows.Transition, error) {
					if cur == nil || cur.ID != id {
						return nil, fmt.Errorf("the read for %s gave %+v", id, cur)
					}
					return e.Apply(cur, ev, t0.Add(time.Hour))
				})
				if err != nil || !a.Outcome.OK || a.Outcome.Instance != id {
					t.Errorf("approve %s: %+v %v", id, a.Outcome, err)
				}
			})
			wg.Go(func() {
				m, err := replica.Refs(t.Context(), id)
				if want := fmt.Sprintf("ref-%d", i); err != nil || m["card|slack"] != want {
					t.Errorf("refs of %s: %v %v, want %s", id, m, err, want)
				}
			})
		}
		wg.Wait()
	})
}

// After SCRIPT FLUSH, reservations sharing pipelines with each other and
// with reads all succeed: each falls back to loading the script on its own.
// Embedded only, for the reason above.
func TestReservationsInASharedPipelineComeBackAfterAFlush(t *testing.T) {
	t.Parallel()
	be := storagetest.Embedded(t)
	s := storagetest.Store(t, be, storage.Config{Shards: 2})
	e := engine(t)
	var ids []string
	for i := range 10 {
		ids = append(ids, start(t, s, e, fmt.Sprintf("pre%d", i), "500"))
	}
	for round := range 3 {
		if err := be.Client.ScriptFlush(t.Context()).Err(); err != nil {
			t.Fatal(err)
		}
		reserved := make(chan string, 40)
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Go(func() {
				id, err := s.Reserve(t.Context(), "purchase", "PR", fmt.Sprintf("r%d-%d", round, i))
				if err != nil {
					t.Error(err)
				}
				reserved <- id
			})
			wg.Go(func() {
				if _, err := s.Refs(t.Context(), ids[i%len(ids)]); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		close(reserved)
		seen := map[string]bool{}
		for id := range reserved {
			if id == "" || seen[id] {
				t.Fatalf("round %d: reserved %q twice or empty", round, id)
			}
			seen[id] = true
		}
	}
}

// After SCRIPT FLUSH, commits sharing a round trip with reads all succeed:
// the transition script is loaded again and the commits run once. Embedded
// only, for the reason above.
func TestCommitsInASharedRoundTripComeBackAfterAFlush(t *testing.T) {
	t.Parallel()
	be := storagetest.Embedded(t)
	s := storagetest.Store(t, be, storage.Config{Shards: 2})
	e := engine(t)
	var ids []string
	for i := range 20 {
		ids = append(ids, start(t, s, e, fmt.Sprintf("s%d", i), "500"))
	}
	if err := be.Client.ScriptFlush(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	// The approvals commit what s remembers, without a read; with the
	// lanes held, they and the reads queue, and go in one batch per lane.
	queued, release := storage.HoldLanes(s)
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			ev := flows.Event{Kind: flows.EventApprove, Key: "a-" + id, Instance: id, Actor: "bob"}
			a, err := s.Apply(t.Context(), ev, func(cur *flows.Instance) (*flows.Transition, error) { return e.Apply(cur, ev, t0.Add(time.Hour)) })
			if err != nil || !a.Outcome.OK {
				t.Errorf("approve %s: %+v %v", id, a.Outcome, err)
			}
		})
		wg.Go(func() {
			if _, err := s.Refs(t.Context(), id); err != nil {
				t.Error(err)
			}
		})
	}
	for queued() < 2*len(ids) {
		runtime.Gosched()
	}
	release()
	wg.Wait()
	for _, id := range ids {
		if in, err := s.Get(t.Context(), id); err != nil || in.Status != flows.StatusCompleted || in.Version != 2 {
			t.Fatalf("%s after the approval: %+v %v", id, in, err)
		}
	}
}

// A Redis that lost the outbox streams and their consumer groups (a
// restart without persistence, a FLUSHALL) is read as empty, the groups are
// made again, and what is written next is delivered.
func TestOutboxAfterRedisLostItsStreams(t *testing.T) {
	onBackends(t, storage.Config{Shards: 4}, func(t *testing.T, be storagetest.Backend, s *storage.Store) {
		e := engine(t)
		for sh := range 4 {
			if err := be.Client.Del(t.Context(), storage.OutboxKey(s, sh)).Err(); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := s.ReadOutbox(t.Context(), "c1", 10, 0); err != nil || len(got) != 0 {
			t.Fatalf("read %v %v, want nothing", got, err)
		}
		start(t, s, e, "s1", "500")
		got, err := s.ReadOutbox(t.Context(), "c1", 10, 0)
		if err != nil || len(got) != 1 || got[0].Effect.To.Person != "bob" {
			t.Fatalf("read %+v %v, want Bob's card", got, err)
		}
	})
}

// An instance written by an earlier version has no audit head in its hash:
// a remembered state of it is checked by its version alone, and the commit
// adds the head.
func TestInstanceWithoutHeadCommits(t *testing.T) {
	onBackends(t, storage.Config{}, func(t *testing.T, b storagetest.Backend, s *storage.Store) {
		e := engine(t)
		id := start(t, s, e, "s1", "500")
		key := storage.InstanceKey(s, id)
		if err := b.Client.HDel(t.Context(), key, "h").Err(); err != nil {
			t.Fatal(err)
		}
		got := apply(t, s, e, flows.Event{Kind: flows.EventComment, Key: "c1", Instance: id, Actor: "alice", Reason: "hello"}, t0)
		if got.Transition == nil || got.Version != 2 {
			t.Fatalf("comment on an instance without a head: %+v", got)
		}
		in, err := s.Get(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if h, _ := b.Client.HGet(t.Context(), key, "h").Result(); h != in.AuditHead || h == "" {
			t.Fatalf("head %q after the commit, want %q", h, in.AuditHead)
		}
	})
}

// A request an earlier build stored as failed has its failure's time as
// Completed: read, it has not completed, and failed then.
func TestFailedInstanceOfAnEarlierBuildIsRead(t *testing.T) {
	onBackends(t, storage.Config{}, func(t *testing.T, b storagetest.Backend, s *storage.Store) {
		id := start(t, s, engine(t), "s1", "500")
		in, err := s.Get(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		in.Status, in.Outcome, in.Completed = flows.StatusFailed, "HTTP 500", t0.Add(time.Hour)
		state, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Client.HSet(t.Context(), storage.InstanceKey(s, id), "s", state).Err(); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(t.Context(), id)
		if err != nil || !got.Failed.Equal(t0.Add(time.Hour)) || !got.Completed.IsZero() {
			t.Fatalf("read %+v (%v): want failed at %v and not completed", got, err, t0.Add(time.Hour))
		}
		listed, err := s.List(t.Context(), flows.Query{}) // its state only was rewritten, not its indexes
		if err != nil || len(listed) != 1 || !listed[0].Completed.IsZero() || listed[0].Failed.IsZero() {
			t.Fatalf("listed %+v (%v)", listed, err)
		}
	})
}

// An entry that cannot be decoded (a newer version's, a damaged one) is
// kept aside whole: the dead letter holds its payload as stored.
func TestUndecodableEntryKeepsItsPayload(t *testing.T) {
	onBackends(t, storage.Config{Shards: 4}, func(t *testing.T, b storagetest.Backend, s *storage.Store) {
		const payload = `[{"kind":"notify","to":{"person":"bob"},"card":"x"`
		err := b.Client.XAdd(t.Context(), &redis.XAddArgs{Stream: storage.OutboxKey(s, 0), Values: map[string]any{"i": "PR-9", "e": payload}}).Err()
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.ReadOutbox(t.Context(), "a", 10, 0)
		if err != nil || len(got) != 1 || !strings.HasPrefix(got[0].Dead, "undecodable entry") {
			t.Fatalf("read %+v %v", got, err)
		}
		if err := s.Delivered(t.Context(), got); err != nil {
			t.Fatal(err)
		}
		dead, err := s.DeadLetters(t.Context(), 10)
		if err != nil || len(dead) != 1 || dead[0].Entry != payload || dead[0].Instance != "PR-9" || !strings.HasPrefix(dead[0].Dead, "undecodable entry") {
			t.Fatalf("dead letters %+v %v, want the entry's payload kept", dead, err)
		}
		// So is one holding an effect of a kind this version does not know
		// (the deliverer gives it up).
		const newer = `[{"kind":"notify","to":{"person":"bob"},"card":"x"},{"kind":"teleport","card":"y"}]`
		if err := b.Client.XAdd(t.Context(), &redis.XAddArgs{Stream: storage.OutboxKey(s, 1), Values: map[string]any{"i": "PR-10", "e": newer}}).Err(); err != nil {
			t.Fatal(err)
		}
		if got, err = s.ReadOutbox(t.Context(), "a", 10, 0); err != nil || len(got) != 2 {
			t.Fatalf("read %+v %v", got, err)
		}
		got[1].Dead = `unknown effect "teleport"`
		if err := s.Delivered(t.Context(), got); err != nil {
			t.Fatal(err)
		}
		dead, err = s.DeadLetters(t.Context(), 10)
		if err != nil || len(dead) != 2 || dead[1].Entry != newer || dead[1].Part != 1 || dead[1].Effect.Kind != "teleport" {
			t.Fatalf("dead letters %+v %v, want the newer entry kept", dead, err)
		}
	})
}

// A dead letter sent again goes back into the outbox, marked as a replay,
// once however often or concurrently it is sent; an effect this version
// cannot show goes back as stored (its own part of its entry).
func TestRequeueDeadLetters(t *testing.T) {
	onBackends(t, storage.Config{Shards: 4}, func(t *testing.T, b storagetest.Backend, s *storage.Store) {
		ctx := t.Context()
		const newer = `[{"kind":"notify","to":{"person":"bob"},"card":"x"},{"kind":"teleport","card":"y","where":"mars"}]`
		if err := b.Client.XAdd(ctx, &redis.XAddArgs{Stream: storage.OutboxKey(s, 1), Values: map[string]any{"i": "PR-10", "e": newer}}).Err(); err != nil {
			t.Fatal(err)
		}
		got, err := s.ReadOutbox(ctx, "a", 10, 0)
		if err != nil || len(got) != 2 || got[0].Replay {
			t.Fatalf("read %+v %v", got, err)
		}
		got[0].Dead, got[1].Dead = "slack: not_in_channel", `unknown effect "teleport"`
		if err := s.Delivered(ctx, got); err != nil {
			t.Fatal(err)
		}
		dead, err := s.DeadLetters(ctx, 10)
		if err != nil || len(dead) != 2 || dead[0].Ref == dead[1].Ref || !strings.HasPrefix(dead[0].Ref, "1/") ||
			dead[0].At.IsZero() || dead[0].Effect.Card != "x" {
			t.Fatalf("dead letters %+v %v", dead, err)
		}
		// Two operators at once: each letter goes back once.
		var wg sync.WaitGroup
		sent := make([]int, 2)
		for i := range sent {
			wg.Go(func() {
				n, err := s.Requeue(ctx, dead)
				if err != nil {
					t.Error(err)
				}
				sent[i] = n
			})
		}
		wg.Wait()
		if sent[0]+sent[1] != 2 {
			t.Fatalf("requeued %v, want 2 in all", sent)
		}
		if left, err := s.DeadLetters(ctx, 10); err != nil || len(left) != 0 {
			t.Fatalf("dead letters after the requeue: %+v %v", left, err)
		}
		again, err := s.ReadOutbox(ctx, "a", 10, 0)
		if err != nil || len(again) != 2 {
			t.Fatalf("read again %+v %v", again, err)
		}
		slices.SortFunc(again, func(a, b flows.Delivery) int { return strings.Compare(a.Effect.Card, b.Effect.Card) })
		for _, d := range again {
			if !d.Replay || d.Instance != "PR-10" || d.Parts != 1 || d.Dead != "" && d.Effect.Kind != "teleport" {
				t.Errorf("requeued delivery %+v", d)
			}
		}
		if again[0].Effect.Card != "x" || again[1].Effect.Kind != "teleport" || again[1].Entry != `[{"kind":"teleport","card":"y","where":"mars"}]` {
			t.Errorf("requeued %+v, want the card and the newer effect as stored", again)
		}
		// An entry that could not be decoded goes back whole; an effect
		// kept by another version goes back as kept, fields and all.
		const broken = `[{"kind":"notify","card":"a","msg":{"round":"two"}},{"kind":"notify","card":"b"}]`
		if err := b.Client.XAdd(ctx, &redis.XAddArgs{Stream: storage.OutboxKey(s, 2), Values: map[string]any{"i": "PR-11", "e": broken}}).Err(); err != nil {
			t.Fatal(err)
		}
		const kept = `{"kind":"notify","card":"c","to":{"person":"bob"},"urgent":true}`
		if err := b.Client.XAdd(ctx, &redis.XAddArgs{Stream: storage.DeadKey(s, 3), Values: map[string]any{"i": "PR-12", "e": kept, "why": "x", "id": "1-0", "part": 0}}).Err(); err != nil {
			t.Fatal(err)
		}
		got, err = s.ReadOutbox(ctx, "a", 10, 0)
		if err != nil || len(got) != 1 || got[0].Entry != broken || got[0].Dead == "" {
			t.Fatalf("read %+v %v", got, err)
		}
		if err := s.Delivered(ctx, got); err != nil {
			t.Fatal(err)
		}
		dead, _ = s.DeadLetters(ctx, 10)
		if n, err := s.Requeue(ctx, dead); err != nil || n != 2 {
			t.Fatalf("requeued %d %v", n, err)
		}
		for sh, want := range map[int]string{2: broken, 3: "[" + kept + "]"} {
			msgs, err := b.Client.XRange(ctx, storage.OutboxKey(s, sh), "-", "+").Result()
			if err != nil || len(msgs) == 0 || msgs[len(msgs)-1].Values["e"] != want || msgs[len(msgs)-1].Values["r"] != "1" {
				t.Errorf("shard %d's outbox: %+v %v; want %s, a replay", sh, msgs, err, want)
			}
		}
		for _, sh := range []int{2, 3} { // one at a time: on Redis Cluster, the two are in different slots
			if err := b.Client.Del(ctx, storage.OutboxKey(s, sh)).Err(); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Init(ctx); err != nil { // the groups of the streams just deleted
			t.Fatal(err)
		}

		// Dropped for good.
		again[1].Dead = `unknown effect "teleport"`
		if err := s.Delivered(ctx, again); err != nil {
			t.Fatal(err)
		}
		dead, _ = s.DeadLetters(ctx, 10)
		if n, err := s.DropDead(ctx, dead); err != nil || n != 1 {
			t.Fatalf("dropped %d %v", n, err)
		}
		if n, err := s.Requeue(ctx, dead); err != nil || n != 0 {
			t.Fatalf("requeued a dropped letter: %d %v", n, err)
		}
		if b, err := s.Backlog(ctx); err != nil || b.Dead != 0 || b.Outbox != 0 {
			t.Fatalf("backlog %+v %v", b, err)
		}
	})
}

// Many dead letters (after an outage) go back in several round trips, all
// of them, each once.
func TestRequeueMany(t *testing.T) {
	onBackends(t, storage.Config{Shards: 4}, func(t *testing.T, b storagetest.Backend, s *storage.Store) {
		ctx := t.Context()
		const n = 1201      // more than two round trips' worth
		for sh := range 4 { // one pipeline per shard: on Redis Cluster, each is a slot of its own
			pipe := b.Client.Pipeline()
			for i := sh; i < n; i += 4 {
				pipe.XAdd(ctx, &redis.XAddArgs{Stream: storage.DeadKey(s, sh), Values: map[string]any{"i": fmt.Sprintf("PR-%d", i),
					"e": `{"kind":"notify","to":{"person":"bob"},"card":"c"}`, "why": "slack: down", "id": "1-0", "part": 0}})
			}
			if _, err := pipe.Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
		dead, err := s.DeadLetters(ctx, n)
		if err != nil || len(dead) != n {
			t.Fatalf("%d dead letters %v, want %d", len(dead), err, n)
		}
		if sent, err := s.Requeue(ctx, dead); err != nil || sent != n {
			t.Fatalf("requeued %d %v, want %d", sent, err, n)
		}
		if sent, err := s.Requeue(ctx, dead); err != nil || sent != 0 {
			t.Fatalf("requeued %d again %v, want none", sent, err)
		}
		if b, err := s.Backlog(ctx); err != nil || b.Dead != 0 || b.Outbox != n {
			t.Fatalf("backlog %+v %v, want %d in the outbox and no dead", b, err, n)
		}
	})
}

// HandBack keeps the references of the cards a delivery sent and makes its
// entry look abandoned: the next reclaim of entries idle that long takes it
// at once.
func TestHandBack(t *testing.T) {
	onBackends(t, storage.Config{Shards: 4}, func(t *testing.T, b storagetest.Backend, s *storage.Store) {
		e := engine(t)
		id := start(t, s, e, "s1", "500")
		got, err := s.ReadOutbox(t.Context(), "a", 10, 0)
		if err != nil || len(got) != 1 {
			t.Fatalf("read %+v %v", got, err)
		}
		if again, _ := s.ReadOutbox(t.Context(), "b", 10, time.Hour); len(again) != 0 {
			t.Fatalf("taken over before it was handed back: %+v", again)
		}
		got[0].Refs = map[string]string{"manager/1/bob|slack": "C1/1.2"}
		if err := s.HandBack(t.Context(), "a", got, time.Hour); err != nil {
			t.Fatal(err)
		}
		again, err := s.ReadOutbox(t.Context(), "b", 10, time.Hour)
		if err != nil || len(again) != 1 || again[0].ID != got[0].ID {
			t.Fatalf("after the hand back: %+v %v", again, err)
		}
		if refs, _ := s.Refs(t.Context(), id); refs["manager/1/bob|slack"] != "C1/1.2" {
			t.Fatalf("refs %v", refs)
		}
	})
}

// Who is away is shared by every replica; a time away that is over is
// left out, and forgotten.
func TestAway(t *testing.T) {
	onBackends(t, storage.Config{Shards: 4}, func(t *testing.T, b storagetest.Backend, s *storage.Store) {
		ctx := t.Context()
		other := storage.New(b.Client, storage.Config{Prefix: s.Prefix(), Shards: 4}) // another replica
		if err := s.SetAway(ctx, "bob", flows.Away{Until: t0.Add(48 * time.Hour), StandIn: "carol"}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetAway(ctx, "erin", flows.Away{Until: t0.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		got, err := other.AwayAt(ctx, t0)
		if err != nil || len(got) != 2 || got["bob"].StandIn != "carol" || !got["bob"].Until.Equal(t0.Add(48*time.Hour)) {
			t.Fatalf("away at t0: %+v %v", got, err)
		}
		if got, _ = other.AwayAt(ctx, t0.Add(2*time.Hour)); len(got) != 1 || got["erin"] != (flows.Away{}) {
			t.Fatalf("away two hours later: %+v, want bob only", got)
		}
		if got, _ = other.AwayAt(ctx, t0); len(got) != 1 { // erin's, over, was forgotten
			t.Fatalf("away at t0 again: %+v", got)
		}
		if err := s.ClearAway(ctx, "bob"); err != nil {
			t.Fatal(err)
		}
		if got, _ = other.AwayAt(ctx, t0); len(got) != 0 {
			t.Fatalf("away after bob is back: %+v", got)
		}
	})
}

// ReleaseTimers ends a claim's lease early, for the instance's member and
// for a timer's member under the per-timer name earlier versions used, and
// never lengthens one.
func TestReleaseTimers(t *testing.T) {
	onBackends(t, storage.Config{Shards: 4}, func(t *testing.T, be storagetest.Backend, s *storage.Store) {
		e := engine(t)
		ctx := t.Context()
		at4h := t0.Add(4 * time.Hour)
		claimAt := func(now time.Time) int {
			t.Helper()
			got, _, err := s.ClaimTimers(ctx, now, time.Minute, 10)
			if err != nil {
				t.Fatal(err)
			}
			return len(got)
		}
		for _, legacy := range []bool{false, true} {
			id := start(t, s, e, fmt.Sprint("s", legacy), "500")
			if legacy { // as an earlier version left it
				key := storage.TimersKey(s, s.ShardOf(id))
				in, err := s.Get(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				be.Client.ZRem(ctx, key, id)
				for _, tm := range in.Timers {
					be.Client.ZAdd(ctx, key, redis.Z{Score: float64(tm.At.UnixMilli()), Member: id + "|" + tm.ID})
				}
			}
			got, _, err := s.ClaimTimers(ctx, at4h, time.Minute, 10)
			if err != nil || len(got) != 1 {
				t.Fatalf("legacy %v: claimed %+v %v", legacy, got, err)
			}
			if err := s.ReleaseTimers(ctx, got[0], at4h.Add(5*time.Second)); err != nil {
				t.Fatal(err)
			}
			if n := claimAt(at4h.Add(5*time.Second - time.Millisecond)); n != 0 {
				t.Fatalf("legacy %v: retaken before it was released: %d", legacy, n)
			}
			if n := claimAt(at4h.Add(5 * time.Second)); n != 1 {
				t.Fatalf("legacy %v: not retaken once released: %d", legacy, n)
			}
			// Retaken (leased to +1 min from +5 s): a later release asking
			// for longer does not lengthen it.
			if err := s.ReleaseTimers(ctx, got[0], at4h.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if n := claimAt(at4h.Add(5*time.Second + time.Minute)); n != 1 {
				t.Fatalf("legacy %v: the lease was lengthened: %d", legacy, n)
			}
		}
	})
}

// TestAddValueKeepsItForItsTTL: a value added is one replica's (a second
// add is refused) and is kept only as long as asked, from the add itself
// (no window in which it would be kept for ever).
func TestAddValueKeepsItForItsTTL(t *testing.T) {
	onBackends(t, storage.Config{Shards: 4}, func(t *testing.T, b storagetest.Backend, s *storage.Store) {
		if ok, err := s.AddValue(t.Context(), "teams", "offer:PR-1:0", "a", time.Hour); !ok || err != nil {
			t.Fatalf("first add: %v %v", ok, err)
		}
		if ok, err := s.AddValue(t.Context(), "teams", "offer:PR-1:0", "b", time.Hour); ok || err != nil {
			t.Fatalf("second add: %v %v, want refused", ok, err)
		}
		if ttl := b.Client.PTTL(t.Context(), storage.KVKey(s, "teams", "offer:PR-1:0")).Val(); ttl <= 0 || ttl > time.Hour {
			t.Errorf("kept for %v, want up to an hour", ttl)
		}
	})
}
