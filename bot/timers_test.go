package bot_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
)

// timers builds a timer loop over the harness's store whose events go
// through handle (the Service's Apply when nil).
func (h *harness) timers(cfg bot.TimerConfig, handle func(context.Context, flows.Event) (flows.Outcome, bot.Result, error)) *bot.Timers {
	if handle == nil {
		handle = h.Svc.Apply
	}
	return bot.NewTimers(cfg, h.Store, handle, h.Clock, h.log, h.metrics)
}

func (h *harness) tick(t *testing.T, tm *bot.Timers) int {
	t.Helper()
	n, err := tm.Tick(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// audited returns how many audit entries of an instance have action.
func (h *harness) audited(t *testing.T, id, action string) int {
	t.Helper()
	entries, err := h.Store.Audit(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if e.Action == action {
			n++
		}
	}
	return n
}

// TestTimersTickFiresDueReminders: Tick fires nothing early, fires a due
// reminder once through the Service, and the reminder is posted in the
// thread of the task card.
func TestTimersTickFiresDueReminders(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	m := newMessenger("fake")
	d := h.dispatcher(bot.DispatcherConfig{}, nil, m)
	tm := h.timers(bot.TimerConfig{}, nil)
	id := h.start(t, "s1", "alice", 500)
	h.drain(t, d)
	card := m.calls()[0]

	h.Clock.Advance(4*time.Hour - time.Second)
	if n := h.tick(t, tm); n != 0 {
		t.Fatalf("%d timers fired before the first reminder was due", n)
	}
	h.Clock.Advance(time.Second)
	if n := h.tick(t, tm); n != 1 {
		t.Fatalf("%d timers fired at the reminder's time, want 1", n)
	}
	if n := h.tick(t, tm); n != 0 {
		t.Fatalf("the reminder fired again: %d", n)
	}
	h.drain(t, d)
	got := m.calls()[1:]
	if len(got) != 1 || got[0].To != "U-bob" || got[0].Msg.Kind != flows.MsgReminder || got[0].Thread != card.Ref {
		t.Fatalf("after the reminder: %s (thread %q, want %q)", kinds(got), got[0].Thread, card.Ref)
	}
	if v := h.counter(t, "baton_timers_fired_total", "result", "ok"); v != 1 {
		t.Errorf("timers fired ok %v, want 1", v)
	}
	if v := h.counter(t, "baton_timer_lag_seconds"); v != 1 {
		t.Errorf("timer lag observations %v, want 1", v)
	}
	in, err := h.Store.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if in.Status != flows.StatusRunning || in.Step != "manager" {
		t.Errorf("a reminder changed the request: %s %s", in.Status, in.Step)
	}
}

// TestTimersTickEscalates: a day late, the manager's manager hears about
// it; three days late the task moves to them.
func TestTimersTickEscalates(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	m := newMessenger("fake")
	d := h.dispatcher(bot.DispatcherConfig{}, nil, m)
	tm := h.timers(bot.TimerConfig{}, nil)
	id := h.start(t, "s1", "alice", 500)
	h.drain(t, d)

	for range 24 { // hour by hour, as the loop would
		h.Clock.Advance(time.Hour)
		h.tick(t, tm)
	}
	h.drain(t, d)
	var esc []call
	for _, c := range m.calls() {
		if c.Msg.Kind == flows.MsgEscalation && c.Op == "send" { // (the step going overdue updates it)
			esc = append(esc, c)
		}
	}
	if len(esc) != 1 || esc[0].To != "U-dana" {
		t.Fatalf("escalations after a day: %s", kinds(esc))
	}
	h.Clock.Advance(2 * 24 * time.Hour)
	h.tick(t, tm)
	in, err := h.Store.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if p := in.Pending(); len(p) != 1 || p[0] != "dana" {
		t.Errorf("after three days the task is with %v, want dana", p)
	}
}

// TestTimersReplicasFireOnce: two timer loops (two replicas) over one
// store, ticking at the same moment, fire each timer exactly once.
func TestTimersReplicasFireOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var mu sync.Mutex
	fired := map[string]int{}
	count := func(ctx context.Context, ev flows.Event) (flows.Outcome, bot.Result, error) {
		mu.Lock()
		fired[ev.Instance+" "+ev.Timer]++
		mu.Unlock()
		return h.Svc.Apply(ctx, ev)
	}
	const n = 30
	var ids []string
	for i := range n {
		ids = append(ids, h.start(t, fmt.Sprint("s", i), []string{"alice", "ivan"}[i%2], 500))
	}
	a := h.timers(bot.TimerConfig{Batch: 7, Concurrency: 3}, count)
	b := h.timers(bot.TimerConfig{Batch: 5, Concurrency: 2}, count)
	h.Clock.Advance(4 * time.Hour)
	var wg sync.WaitGroup
	var na, nb int
	var ea, eb error
	wg.Go(func() { na, ea = a.Tick(t.Context()) })
	wg.Go(func() { nb, eb = b.Tick(t.Context()) })
	wg.Wait()
	if ea != nil || eb != nil {
		t.Fatal(ea, eb)
	}
	if na+nb != n {
		t.Errorf("replicas fired %d + %d, want %d in all", na, nb, n)
	}
	for _, id := range ids {
		if c := fired[id+" manager/1/remind/1"]; c != 1 {
			t.Errorf("%s's reminder fired %d times", id, c)
		}
		if c := h.audited(t, id, "reminded"); c != 1 {
			t.Errorf("%s has %d reminder audit entries, want 1", id, c)
		}
	}
	if len(fired) != n {
		t.Errorf("fired %d distinct timers, want %d: %v", len(fired), n, fired)
	}
	if h.tick(t, a)+h.tick(t, b) != 0 {
		t.Error("a timer fired again")
	}
}

// TestTimersTickCountsOnlyWhatFired: a timer found fired already (here,
// fired just before by someone else) is neither counted nor measured as
// fired, and its metric says so.
func TestTimersTickCountsOnlyWhatFired(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	handle := func(ctx context.Context, ev flows.Event) (flows.Outcome, bot.Result, error) {
		if _, res, err := h.Svc.Apply(ctx, ev); err != nil || res != bot.ResultOK {
			t.Errorf("the first firing: %s %v", res, err)
		}
		return h.Svc.Apply(ctx, ev)
	}
	id := h.start(t, "s1", "alice", 500)
	h.Clock.Advance(4 * time.Hour)
	if n := h.tick(t, h.timers(bot.TimerConfig{}, handle)); n != 0 {
		t.Errorf("Tick counted %d timers fired, want 0", n)
	}
	if c := h.audited(t, id, "reminded"); c != 1 {
		t.Errorf("%d reminders recorded, want 1", c)
	}
	if v := h.counter(t, "baton_timers_fired_total", "result", "duplicate"); v != 1 {
		t.Errorf("duplicate timer events %v, want 1", v)
	}
	if v := h.counter(t, "baton_timers_fired_total", "result", "ok"); v != 0 {
		t.Errorf("timer events counted ok: %v, want 0", v)
	}
}

// staleFirst is a timer queue whose first claim takes a full batch of
// instances that all changed since they were scored (nothing of theirs is
// due): more may be due behind them.
type staleFirst struct {
	flows.TimerQueue
	calls int
}

func (q *staleFirst) ClaimTimers(ctx context.Context, now time.Time, lease time.Duration, n int) ([]flows.DueTimer, bool, error) {
	if q.calls++; q.calls == 1 {
		return nil, true, nil
	}
	return q.TimerQueue.ClaimTimers(ctx, now, lease, n)
}

// TestTimersTickGoesOnPastStaleClaims: a claim that found nothing due in a
// full batch does not end the tick; what is due behind it fires now, not a
// tick later.
func TestTimersTickGoesOnPastStaleClaims(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	q := &staleFirst{TimerQueue: h.Store}
	tm := bot.NewTimers(bot.TimerConfig{}, q, h.Svc.Apply, h.Clock, h.log, h.metrics)
	id := h.start(t, "s1", "alice", 500)
	h.Clock.Advance(4 * time.Hour)
	if n := h.tick(t, tm); n != 1 || q.calls != 2 {
		t.Fatalf("fired %d in %d claims, want 1 in 2", n, q.calls)
	}
	if c := h.audited(t, id, "reminded"); c != 1 {
		t.Errorf("%d reminders recorded, want 1", c)
	}
}

// TestTimersFailedClaimRetakenAfterLease: a timer whose event failed stays
// claimed until its lease runs out, then fires again, and then not again.
func TestTimersFailedClaimRetakenAfterLease(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var calls int
	handle := func(ctx context.Context, ev flows.Event) (flows.Outcome, bot.Result, error) {
		if calls++; calls == 1 {
			return flows.Outcome{}, bot.ResultError, errors.New("redis: connection pool timeout")
		}
		return h.Svc.Apply(ctx, ev)
	}
	const lease = time.Minute
	tm := h.timers(bot.TimerConfig{Lease: lease}, handle)
	other := h.timers(bot.TimerConfig{Lease: lease}, handle) // another replica
	id := h.start(t, "s1", "alice", 500)

	h.Clock.Advance(4 * time.Hour)
	if n := h.tick(t, tm); n != 0 || calls != 1 {
		t.Fatalf("first tick counted %d fired (%d calls), want 0 (1 call, which failed)", n, calls)
	}
	if v := h.counter(t, "baton_timers_fired_total", "result", "error"); v != 1 {
		t.Errorf("failed timer events %v, want 1", v)
	}
	if !containsAll(h.logs.String(), "timer failed", "instance="+id, "connection pool timeout") {
		t.Errorf("the failure is not logged:\n%s", h.logs)
	}
	h.Clock.Advance(lease - time.Millisecond)
	if n := h.tick(t, tm) + h.tick(t, other); n != 0 || calls != 1 {
		t.Fatalf("the failed timer was retaken within its lease (%d fired)", n)
	}
	h.Clock.Advance(time.Millisecond)
	if n := h.tick(t, other); n != 1 || calls != 2 {
		t.Fatalf("after the lease another replica fired %d (%d calls), want 1", n, calls)
	}
	if c := h.audited(t, id, "reminded"); c != 1 {
		t.Errorf("%d reminders recorded, want 1", c)
	}
	h.Clock.Advance(lease)
	if n := h.tick(t, tm) + h.tick(t, other); n != 0 {
		t.Errorf("the timer fired again after succeeding: %d", n)
	}
}

// TestTimersOfAFlowNotDefinedHere: a replica that does not define a
// request's flow (a rolling upgrade adding it, replicas given different
// flows) hands its timers back within seconds, not after the lease: the
// replica that defines it fires them then.
func TestTimersOfAFlowNotDefinedHere(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.start(t, "s1", "alice", 500)
	bare, err := flows.NewEngine(nil, nil, nil) // a replica given other flows
	if err != nil {
		t.Fatal(err)
	}
	undefined := func(ctx context.Context, ev flows.Event) (flows.Outcome, bot.Result, error) {
		in, err := h.Store.Get(ctx, ev.Instance)
		if err == nil {
			_, err = bare.Apply(in, ev, h.Clock.Now())
		}
		return flows.Outcome{}, bot.ResultInvalid, err
	}
	const lease = time.Minute
	without := h.timers(bot.TimerConfig{Lease: lease}, undefined)
	with := h.timers(bot.TimerConfig{Lease: lease}, nil)
	h.Clock.Advance(4 * time.Hour)
	if n := h.tick(t, without); n != 0 {
		t.Fatalf("fired %d without the flow", n)
	}
	if !containsAll(h.logs.String(), "timer handed back", "instance="+id, "again_in=5s") {
		t.Errorf("the hand-back is not logged:\n%s", h.logs)
	}
	h.Clock.Advance(5*time.Second - time.Millisecond)
	if n := h.tick(t, with); n != 0 {
		t.Fatalf("retaken before it was handed back: %d", n)
	}
	h.Clock.Advance(time.Millisecond)
	if n := h.tick(t, with); n != 1 {
		t.Fatalf("the replica with the flow fired %d, want 1 (5 s on, not after the lease)", n)
	}
	if c := h.audited(t, id, "reminded"); c != 1 {
		t.Errorf("%d reminders recorded, want 1", c)
	}

	// A lease late, no replica is taken to define the flow (its file was
	// removed): held for the lease, not tried again every 5 s.
	h.Clock.Advance(4 * time.Hour) // the second reminder, due at 8 h
	h.Clock.Advance(lease)
	if n := h.tick(t, without); n != 0 {
		t.Fatalf("fired %d without the flow", n)
	}
	h.Clock.Advance(lease - time.Millisecond)
	if n := h.tick(t, with); n != 0 {
		t.Fatalf("a timer a lease late was handed back early: %d fired", n)
	}
}

// TestTimersLostReplyNotRefired: a timer event that committed but whose
// caller saw an error (a lost reply) is not fired again: the commit itself
// released the claim.
func TestTimersLostReplyNotRefired(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var calls int
	handle := func(ctx context.Context, ev flows.Event) (flows.Outcome, bot.Result, error) {
		calls++
		out, res, err := h.Svc.Apply(ctx, ev)
		if err == nil {
			res, err = bot.ResultError, errors.New("i/o timeout") // committed, but the caller does not know
		}
		return out, res, err
	}
	const lease = time.Minute
	tm := h.timers(bot.TimerConfig{Lease: lease}, handle)
	id := h.start(t, "s1", "alice", 500)
	h.Clock.Advance(4 * time.Hour)
	if n := h.tick(t, tm); n != 0 || calls != 1 {
		t.Fatalf("counted %d fired in %d calls, want 0 (the tick saw an error) in 1", n, calls)
	}
	for i := range 3 {
		h.Clock.Advance(lease)
		if n := h.tick(t, tm); n != 0 {
			t.Fatalf("lease %d later the committed timer fired again (%d calls)", i+1, calls)
		}
	}
	if c := h.audited(t, id, "reminded"); c != 1 || calls != 1 {
		t.Errorf("%d reminders recorded in %d calls, want 1 and 1", c, calls)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// TestTimersRun: Run ticks on its gocron job, driven by the fake clock,
// and returns when its context is cancelled.
func TestTimersRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fired := make(chan flows.Event, 10)
	handle := func(ctx context.Context, ev flows.Event) (flows.Outcome, bot.Result, error) {
		out, res, err := h.Svc.Apply(ctx, ev)
		fired <- ev
		return out, res, err
	}
	tm := h.timers(bot.TimerConfig{Interval: time.Second}, handle)
	id := h.start(t, "s1", "alice", 500)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- tm.Run(ctx) }()
	bctx, bcancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer bcancel()
	if err := h.Clock.BlockUntilContext(bctx, 1); err != nil {
		t.Fatalf("the gocron job never scheduled its first tick: %v", err)
	}
	h.Clock.Advance(4 * time.Hour) // the next tick finds the reminder due
	ev := recv(t, fired, "the reminder to fire")
	if ev.Kind != flows.EventTimer || ev.Instance != id || ev.Timer != "manager/1/remind/1" || ev.Actor != flows.System {
		t.Errorf("timer event %+v", ev)
	}
	cancel()
	if err := recv(t, ran, "Timers.Run to return"); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if c := h.audited(t, id, "reminded"); c != 1 {
		t.Errorf("%d reminders recorded, want 1", c)
	}
}

// TestTimersRunShutdownFinishesTick: cancelling Run's context while a tick
// is firing a timer lets that event finish and commit before Run returns.
func TestTimersRunShutdownFinishesTick(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	started, release := make(chan struct{}), make(chan struct{})
	handle := func(ctx context.Context, ev flows.Event) (flows.Outcome, bot.Result, error) {
		close(started)
		<-release
		return h.Svc.Apply(ctx, ev)
	}
	tm := h.timers(bot.TimerConfig{Interval: time.Second}, handle)
	id := h.start(t, "s1", "alice", 500)
	cancel, ran := runToFirstEvent(t, h.Clock, tm, 4*time.Hour, started)
	cancel()
	select {
	case err := <-ran:
		t.Fatalf("Run returned (%v) while a timer event was being handled", err)
	default:
	}
	close(release)
	if err := recv(t, ran, "Timers.Run to return"); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if c := h.audited(t, id, "reminded"); c != 1 {
		t.Errorf("the timer event in flight at shutdown was not committed: %d reminders", c)
	}
}

// TestTimersRunShutdownCutsAHungTick: a timer event that does not finish
// (Redis hung) holds the shutdown up for the drain timeout, no longer: then
// it is cut short, Run returns nil and says so, and the timer, still
// claimed, fires once its lease runs out.
func TestTimersRunShutdownCutsAHungTick(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	started := make(chan struct{})
	var once sync.Once
	hung := func(ctx context.Context, ev flows.Event) (flows.Outcome, bot.Result, error) {
		once.Do(func() { close(started) })
		<-ctx.Done() // as a Redis call does once its context ends
		return flows.Outcome{}, "", ctx.Err()
	}
	tm := h.timers(bot.TimerConfig{Interval: time.Second, Lease: time.Minute, Drain: 10 * time.Millisecond}, hung)
	id := h.start(t, "s1", "alice", 500)
	cancel, ran := runToFirstEvent(t, h.Clock, tm, 4*time.Hour, started)
	cancel()
	if err := recv(t, ran, "Timers.Run to return"); err != nil {
		t.Fatalf("Run: %v; want nil: a shutdown that cut a tick short loses nothing", err)
	}
	if logs := h.logs.String(); !strings.Contains(logs, "shutdown: the timer tick under way is cut short after the drain timeout; nothing is lost") ||
		strings.Contains(logs, "level=ERROR") {
		t.Errorf("the log does not say what was cut short, or says it as an error:\n%s", logs)
	}
	// Claimed and not fired: it fires after its lease (another replica, or
	// this one restarted).
	after := h.timers(bot.TimerConfig{}, nil)
	if n := h.tick(t, after); n != 0 {
		t.Fatalf("%d timers fired while the cut-short claim's lease held", n)
	}
	h.Clock.Advance(time.Minute)
	if n := h.tick(t, after); n != 1 {
		t.Fatalf("%d timers fired once the lease ran out, want the reminder", n)
	}
	if c := h.audited(t, id, "reminded"); c != 1 {
		t.Errorf("%d reminders recorded, want 1", c)
	}
}

// endlessQueue always has one more due timer to claim, and counts claims.
type endlessQueue struct {
	mu     sync.Mutex
	claims int
}

func (q *endlessQueue) ClaimTimers(context.Context, time.Time, time.Duration, int) ([]flows.DueTimer, bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.claims++
	return []flows.DueTimer{{Instance: fmt.Sprintf("PR-%d", q.claims), Timer: "manager/1/remind/1", Due: t0}}, true, nil
}

func (q *endlessQueue) ReleaseTimers(context.Context, flows.DueTimer, time.Time) error { return nil }

func (q *endlessQueue) count() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.claims
}

// TestTimersRunShutdownClaimsNoMore: once Run's context ends, the tick
// under way fires what it claimed and claims nothing more, however much
// is due.
func TestTimersRunShutdownClaimsNoMore(t *testing.T) {
	t.Parallel()
	clock := clockwork.NewFakeClockAt(t0.Add(time.Hour))
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	handle := func(context.Context, flows.Event) (flows.Outcome, bot.Result, error) {
		once.Do(func() { close(started) })
		<-release
		return flows.Outcome{}, bot.ResultOK, nil
	}
	q := &endlessQueue{}
	tm := bot.NewTimers(bot.TimerConfig{Interval: time.Second}, q, handle, clock, slog.New(slog.DiscardHandler), nil)
	cancel, ran := runToFirstEvent(t, clock, tm, time.Second, started)
	cancel()
	close(release)
	if err := recv(t, ran, "Timers.Run to return"); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := q.count(); n != 1 {
		t.Errorf("%d claims, want 1: the tick went on claiming after the shutdown began", n)
	}
}

// fixedQueue hands out one claim of due timers, then nothing.
type fixedQueue struct{ due []flows.DueTimer }

func (q *fixedQueue) ClaimTimers(context.Context, time.Time, time.Duration, int) ([]flows.DueTimer, bool, error) {
	due := q.due
	q.due = nil
	return due, false, nil
}

func (q *fixedQueue) ReleaseTimers(context.Context, flows.DueTimer, time.Time) error { return nil }

// TestTimersOfOneInstanceFireInOrder: timers of one instance due together
// (caught up after a pause) fire one after the other, earliest first, so an
// escalation ladder climbs rung by rung; other instances' fire meanwhile.
// In a synctest bubble, each event takes a (fake) second: every other
// event that could start meanwhile does.
func TestTimersOfOneInstanceFireInOrder(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		day := 24 * time.Hour
		q := &fixedQueue{due: []flows.DueTimer{ // as a claim may list them
			{Instance: "PR-1", Timer: "manager/1/escalate/1", Due: t0.Add(3 * day)},
			{Instance: "PR-2", Timer: "manager/1/remind/1", Due: t0.Add(4 * time.Hour)},
			{Instance: "PR-1", Timer: "manager/1/remind/1", Due: t0.Add(4 * time.Hour)},
			{Instance: "PR-1", Timer: "manager/1/escalate/0", Due: t0.Add(day)},
		}}
		var mu sync.Mutex
		busy := map[string]bool{}
		var order []string
		var most int // events under way at once
		handle := func(_ context.Context, ev flows.Event) (flows.Outcome, bot.Result, error) {
			mu.Lock()
			if busy[ev.Instance] {
				t.Errorf("%s fired while another timer of %s was firing", ev.Timer, ev.Instance)
			}
			busy[ev.Instance] = true
			most = max(most, len(busy))
			if ev.Instance == "PR-1" {
				order = append(order, ev.Timer)
			}
			mu.Unlock()
			time.Sleep(time.Second)
			mu.Lock()
			delete(busy, ev.Instance)
			mu.Unlock()
			return flows.Outcome{}, bot.ResultOK, nil
		}
		tm := bot.NewTimers(bot.TimerConfig{}, q, handle, clockwork.NewFakeClockAt(t0.Add(3*day+time.Minute)), slog.New(slog.DiscardHandler), nil)
		if n, err := tm.Tick(t.Context()); err != nil || n != 4 {
			t.Fatalf("Tick fired %d, %v; want 4", n, err)
		}
		if want := []string{"manager/1/remind/1", "manager/1/escalate/0", "manager/1/escalate/1"}; !slices.Equal(order, want) {
			t.Errorf("PR-1's timers fired in the order %v, want %v", order, want)
		}
		if most != 2 {
			t.Errorf("at most %d instances' timers fired at once, want 2", most)
		}
	})
}

// runToFirstEvent runs tm until the cancel it returns, with clock advanced
// by by once its first tick is scheduled, and returns once that tick has
// started a timer event (started closed); ran gets what Run returns.
func runToFirstEvent(t *testing.T, clock *clockwork.FakeClock, tm *bot.Timers, by time.Duration, started <-chan struct{}) (context.CancelFunc, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	ran := make(chan error, 1)
	go func() { ran <- tm.Run(ctx) }()
	bctx, bcancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer bcancel()
	if err := clock.BlockUntilContext(bctx, 1); err != nil {
		t.Fatalf("the gocron job never scheduled its first tick: %v", err)
	}
	clock.Advance(by)
	wait(t, started, "the timer event to start")
	return cancel, ran
}
