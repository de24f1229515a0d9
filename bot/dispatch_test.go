package bot_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
)

// TestDispatcherDeliversTransitionEffects: the effects a transition
// committed are delivered once and acknowledged, with the card's reference
// stored.
func TestDispatcherDeliversTransitionEffects(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	m := newMessenger("fake")
	d := h.dispatcher(bot.DispatcherConfig{}, nil, m)

	id := h.start(t, "s1", "alice", 500)
	if n := h.pending(t); n != 1 {
		t.Fatalf("outbox after the start: %d entries, want 1 (the task card)", n)
	}
	if n := h.drain(t, d); n != 1 {
		t.Fatalf("Drain delivered %d, want 1", n)
	}
	got := m.calls()
	if len(got) != 1 {
		t.Fatalf("calls: %s", kinds(got))
	}
	c := got[0]
	if c.Op != "send" || c.To != "U-bob" || c.Msg.Kind != flows.MsgTask || c.Msg.Instance != id || c.Thread != "" {
		t.Errorf("task card: %+v", c)
	}
	if !hasAction(c.Msg, flows.ActApprove) || !hasAction(c.Msg, flows.ActReject) {
		t.Errorf("the task card has no decision buttons: %+v", c.Msg.Actions)
	}
	if n := h.pending(t); n != 0 {
		t.Errorf("%d entries left unacknowledged", n)
	}
	if n := h.drain(t, d); n != 0 || len(m.calls()) != 1 {
		t.Errorf("a second Drain delivered %d again: %s", n, kinds(m.calls()))
	}
	refs, err := h.Store.Refs(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if refs["manager/1/bob|fake"] != c.Ref {
		t.Errorf("stored refs %v, want manager/1/bob|fake = %s", refs, c.Ref)
	}
	if v := h.counter(t, "baton_deliveries_total", "platform", "fake", "effect", "notify", "result", "ok"); v != 1 {
		t.Errorf("ok deliveries %v, want 1", v)
	}
}

func hasAction(m *flows.Message, k flows.ActionKind) bool {
	for _, a := range m.Actions {
		if a.Kind == k {
			return true
		}
	}
	return false
}

// TestDispatcherUpdatesCardAfterDecision: the reference returned when the
// task card was posted is the one updated after the decision, and the
// updated card has no buttons left.
func TestDispatcherUpdatesCardAfterDecision(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	m := newMessenger("fake")
	d := h.dispatcher(bot.DispatcherConfig{}, nil, m)
	id := h.start(t, "s1", "alice", 2000)
	h.drain(t, d)
	card := m.calls()[0]

	h.act(t, flows.EventApprove, "a1", "bob", id)
	if n := h.drain(t, d); n != 3 {
		t.Fatalf("Drain after the approval delivered %d, want 3 (close bob's card, cards for carol and frank)", n)
	}
	got := m.calls()[1:]
	if len(got) != 3 {
		t.Fatalf("calls: %s", kinds(got))
	}
	up := got[0]
	if up.Op != "update" || up.Ref != card.Ref {
		t.Fatalf("first call %s, want the update of %s", up, card.Ref)
	}
	if len(up.Msg.Actions) != 0 || !strings.Contains(up.Msg.Outcome, "Approved by Bob Chen") {
		t.Errorf("closed card: actions %v, outcome %q", up.Msg.Actions, up.Msg.Outcome)
	}
	if got[1].To != "U-carol" || got[2].To != "U-frank" || got[1].Op != "send" || got[2].Op != "send" {
		t.Errorf("finance cards: %s", kinds(got[1:]))
	}

	// Carol approves: her card and Frank's (same step, policy any) close.
	h.act(t, flows.EventApprove, "a2", "carol", id)
	h.drain(t, d)
	updated := map[string]bool{}
	for _, c := range m.calls()[4:] {
		if c.Op == "update" {
			updated[c.Ref] = len(c.Msg.Actions) == 0
		}
	}
	for _, c := range got[1:] {
		if closed, ok := updated[c.Ref]; !ok || !closed {
			t.Errorf("card %s of %s was not closed: %v", c.Ref, c.To, updated)
		}
	}
}

// TestDispatcherRetriesWithBackoff: a failing post is retried after growing
// waits, then delivered exactly once.
func TestDispatcherRetriesWithBackoff(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	m := newMessenger("fake")
	var n int
	m.hook = func(context.Context, call) error {
		if n++; n <= 3 {
			return errors.New("connection reset by peer")
		}
		return nil
	}
	d := h.dispatcher(bot.DispatcherConfig{Backoff: 100 * time.Millisecond, MaxBackoff: 300 * time.Millisecond}, nil, m)
	h.start(t, "s1", "alice", 500)
	if n := h.drain(t, d); n != 1 {
		t.Fatalf("delivered %d", n)
	}
	if len(m.tries()) != 4 || len(m.calls()) != 1 {
		t.Fatalf("%d attempts and %d deliveries, want 4 and 1", len(m.tries()), len(m.calls()))
	}
	waits := h.sleeps.all()
	bounds := [][2]time.Duration{{50 * time.Millisecond, 100 * time.Millisecond}, {100 * time.Millisecond, 200 * time.Millisecond},
		{150 * time.Millisecond, 300 * time.Millisecond}} // doubled, capped at MaxBackoff, with jitter
	if len(waits) != len(bounds) {
		t.Fatalf("waits %v, want %d", waits, len(bounds))
	}
	for i, w := range waits {
		if w < bounds[i][0] || w > bounds[i][1] {
			t.Errorf("wait %d is %v, want within %v", i+1, w, bounds[i])
		}
	}
	if v := h.counter(t, "baton_deliveries_total", "platform", "fake", "effect", "notify", "result", "retry"); v != 3 {
		t.Errorf("retries counted %v, want 3", v)
	}
	if v := h.counter(t, "baton_deliveries_total", "platform", "fake", "effect", "notify", "result", "ok"); v != 1 {
		t.Errorf("ok counted %v, want 1", v)
	}
	if v := h.counter(t, "baton_deliveries_total", "platform", "fake", "effect", "notify", "result", "dead"); v != 0 {
		t.Errorf("dead counted %v, want 0", v)
	}
	if h.pending(t) != 0 {
		t.Error("the entry was not acknowledged")
	}
}

// TestDispatcherHonoursRetryAfter: a platform's Retry-After is waited out
// as asked, and does not count against the attempts.
func TestDispatcherHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	m := newMessenger("fake")
	var n int
	m.hook = func(context.Context, call) error {
		if n++; n <= 3 {
			return &bot.RetryAfterError{After: time.Duration(n) * 7 * time.Second, Err: errors.New("ratelimited")}
		}
		return nil
	}
	d := h.dispatcher(bot.DispatcherConfig{Attempts: 1, Backoff: time.Millisecond}, nil, m)
	h.start(t, "s1", "alice", 500)
	h.drain(t, d)
	if len(m.calls()) != 1 {
		t.Fatalf("delivered %d times after rate limits, want 1 (attempts: %d)", len(m.calls()), len(m.tries()))
	}
	want := []time.Duration{7 * time.Second, 14 * time.Second, 21 * time.Second}
	if got := h.sleeps.all(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("waits %v, want the platform's Retry-After %v", got, want)
	}
	if v := h.counter(t, "baton_deliveries_total", "platform", "fake", "effect", "notify", "result", "dead"); v != 0 {
		t.Errorf("rate limits counted as dead: %v", v)
	}
	var ra *bot.RetryAfterError
	err := error(&bot.RetryAfterError{After: time.Second, Err: context.DeadlineExceeded})
	if !errors.As(fmt.Errorf("send: %w", err), &ra) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "1s") {
		t.Errorf("RetryAfterError does not wrap or describe itself: %v", err)
	}
}

// TestDispatcherPermanentErrorNotRetried: an error marked Permanent is not
// retried; the entry leaves the outbox (kept aside as dead) and the
// failure shows in metrics and logs.
func TestDispatcherPermanentErrorNotRetried(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	m := newMessenger("fake")
	cause := errors.New("user_not_found")
	m.hook = func(context.Context, call) error { return fmt.Errorf("post: %w", bot.Permanent(cause)) }
	d := h.dispatcher(bot.DispatcherConfig{}, nil, m)
	id := h.start(t, "s1", "alice", 500)
	if n := h.drain(t, d); n != 1 {
		t.Fatalf("Drain handled %d", n)
	}
	if len(m.tries()) != 1 || len(h.sleeps.all()) != 0 {
		t.Fatalf("a permanent error was retried: %d attempts, waits %v", len(m.tries()), h.sleeps.all())
	}
	if v := h.counter(t, "baton_deliveries_total", "platform", "fake", "effect", "notify", "result", "dead"); v != 1 {
		t.Errorf("dead deliveries %v, want 1", v)
	}
	if v := h.counter(t, "baton_deliveries_total", "platform", "fake", "effect", "notify", "result", "retry"); v != 0 {
		t.Errorf("retries %v, want 0", v)
	}
	logs := h.logs.String()
	if !strings.Contains(logs, "delivery failed") || !strings.Contains(logs, "user_not_found") || !strings.Contains(logs, "instance="+id) {
		t.Errorf("the failure is not logged with its instance and cause:\n%s", logs)
	}
	if h.pending(t) != 0 || h.drain(t, d) != 0 {
		t.Error("a dead entry stays in the outbox")
	}
	p := bot.Permanent(cause)
	if !bot.IsPermanent(fmt.Errorf("wrapped: %w", p)) || !errors.Is(p, cause) || bot.IsPermanent(cause) {
		t.Error("Permanent/IsPermanent do not wrap as documented")
	}
}

// TestDispatcherGivesUpAfterAttempts: a delivery that keeps failing is
// tried Attempts times, then given up (and not retried forever).
func TestDispatcherGivesUpAfterAttempts(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	m := newMessenger("fake")
	m.hook = func(context.Context, call) error { return errors.New("503 service unavailable") }
	d := h.dispatcher(bot.DispatcherConfig{Attempts: 3, Backoff: time.Millisecond}, nil, m)
	h.start(t, "s1", "alice", 500)
	h.drain(t, d)
	if len(m.tries()) != 3 || len(h.sleeps.all()) != 2 {
		t.Fatalf("%d attempts, waits %v; want 3 attempts and 2 waits", len(m.tries()), h.sleeps.all())
	}
	if v := h.counter(t, "baton_deliveries_total", "platform", "fake", "effect", "notify", "result", "dead"); v != 1 {
		t.Errorf("dead %v, want 1", v)
	}
	if h.pending(t) != 0 {
		t.Error("the given-up entry stays in the outbox")
	}
}

// TestDispatcherUnreachableRecipient: a card nobody can be reached for is
// counted, not silently dropped.
func TestDispatcherUnreachableRecipient(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	m := newMessenger("fake")
	m.unreachable = func(to flows.Recipient) bool { return to.Person == "bob" }
	d := h.dispatcher(bot.DispatcherConfig{}, nil, m)
	h.start(t, "s1", "alice", 500)
	h.drain(t, d)
	if len(m.tries()) != 0 {
		t.Fatalf("tried to send to an unreachable person: %s", kinds(m.tries()))
	}
	if v := h.counter(t, "baton_deliveries_total", "platform", "none", "effect", "notify", "result", "unreachable"); v != 1 {
		t.Errorf("unreachable %v, want 1", v)
	}
	if !strings.Contains(h.logs.String(), "no platform reaches bob") {
		t.Errorf("log does not say who was unreachable:\n%s", h.logs)
	}
	if dead, _ := h.Store.DeadLetters(t.Context(), 10); len(dead) != 1 || dead[0].Dead != "no platform reaches bob" {
		t.Errorf("dead letters %+v, want bob's card, for an operator to fix the directory", dead)
	}
}

// TestDispatcherDropsUnreachableWithoutPeoplePlatforms: where no platform
// carries cards to people (the API alone), a card is counted and dropped,
// not a dead letter nothing could ever send; its later update is skipped
// at once.
func TestDispatcherDropsUnreachableWithoutPeoplePlatforms(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	d := h.dispatcher(bot.DispatcherConfig{DropUnreachable: true}, nil)
	id := h.start(t, "s1", "alice", 500)
	h.drain(t, d)
	h.act(t, flows.EventApprove, "a1", "bob", id)
	h.drain(t, d)
	if v := h.counter(t, "baton_deliveries_total", "platform", "none", "effect", "notify", "result", "unreachable"); v < 2 {
		t.Errorf("unreachable %v, want bob's card and alice's notice counted", v)
	}
	if v := h.counter(t, "baton_deliveries_total", "platform", "none", "effect", "update", "result", "no_card"); v != 1 {
		t.Errorf("no_card %v, want the update of bob's card skipped", v)
	}
	if dead, _ := h.Store.DeadLetters(t.Context(), 10); len(dead) != 0 {
		t.Errorf("dead letters %+v, want none", dead)
	}
	if n := h.pending(t); n != 0 {
		t.Errorf("%d entries left", n)
	}
}

// TestDispatcherPlatforms: a recipient on two platforms gets the card on
// both, and each platform's card is updated through its own reference; a
// platform that fails permanently does not stop the other.
func TestDispatcherPlatforms(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	slack, teams := newMessenger("slack"), newMessenger("teams")
	teams.unreachable = func(to flows.Recipient) bool { return to.Person == "carol" }
	teams.hook = func(_ context.Context, c call) error {
		if c.To == "U-frank" {
			return bot.Permanent(errors.New("conversation not found"))
		}
		return nil
	}
	d := h.dispatcher(bot.DispatcherConfig{}, nil, slack, teams)
	id := h.start(t, "s1", "alice", 2000)
	h.drain(t, d)
	refs, _ := h.Store.Refs(t.Context(), id)
	if len(slack.calls()) != 1 || len(teams.calls()) != 1 || refs["manager/1/bob|slack"] != slack.calls()[0].Ref ||
		refs["manager/1/bob|teams"] != teams.calls()[0].Ref {
		t.Fatalf("bob's card: slack %s, teams %s, refs %v", kinds(slack.calls()), kinds(teams.calls()), refs)
	}
	h.act(t, flows.EventApprove, "a1", "bob", id)
	h.drain(t, d)
	s, tm := slack.calls()[1:], teams.calls()[1:]
	if len(s) != 3 || s[0].Op != "update" || s[0].Ref != slack.calls()[0].Ref || s[1].To != "U-carol" || s[2].To != "U-frank" {
		t.Errorf("slack after approval: %s", kinds(s))
	}
	if len(tm) != 1 || tm[0].Op != "update" || tm[0].Ref != teams.calls()[0].Ref {
		t.Errorf("teams after approval: %s (carol unreachable, frank failing)", kinds(tm))
	}
	if v := h.counter(t, "baton_deliveries_total", "platform", "teams", "effect", "notify", "result", "dead"); v != 1 {
		t.Errorf("teams dead %v, want 1", v)
	}
	refs, _ = h.Store.Refs(t.Context(), id)
	// The failed platform's card is recorded as not sent, so that its
	// updates do not wait for it.
	if refs["finance/1/frank|slack"] == "" || refs["finance/1/frank|teams"] != "-" {
		t.Errorf("refs after a partial failure: %v", refs)
	}
}

// TestDispatcherRunDelivers: Run delivers what commits wake it for, and
// updates a card whose post it has not acknowledged yet.
func TestDispatcherRunDelivers(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	m := newMessenger("fake")
	d := h.dispatcher(bot.DispatcherConfig{Poll: time.Hour, Reclaim: time.Hour}, nil, m)
	h.Svc.OnCommit(d.Wake) // no polling: commits wake the dispatcher
	stop := runDispatcher(t, d)

	id := h.start(t, "s1", "alice", 500)
	card := m.next(t)
	if card.Op != "send" || card.To != "U-bob" {
		t.Fatalf("first delivery %s", card)
	}
	h.act(t, flows.EventApprove, "a1", "bob", id)
	var got []call
	for range 3 { // close bob's card, tell procurement, tell alice
		got = append(got, m.next(t))
	}
	if got[0].Op != "update" || got[0].Ref != card.Ref || got[1].To != "C-procurement" || got[2].To != "U-alice" {
		t.Errorf("after the approval: %s", kinds(got))
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if h.pending(t) != 0 {
		t.Errorf("%d entries unacknowledged after Run returned", h.pending(t))
	}
	if refs, _ := h.Store.Refs(t.Context(), id); refs["manager/1/bob|fake"] != card.Ref {
		t.Errorf("refs %v", refs)
	}
	if len(m.calls()) != 4 {
		t.Errorf("calls %s", kinds(m.calls()))
	}
}

// TestDispatcherShutdownFinishesInFlight: cancelling Run's context while a
// card is being posted lets the post finish and acknowledges it before Run
// returns: nothing is dropped and nothing is sent twice.
func TestDispatcherShutdownFinishesInFlight(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	m := newMessenger("fake")
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	m.hook = func(ctx context.Context, c call) error {
		once.Do(func() { close(started) })
		<-release
		return ctx.Err()
	}
	d := h.dispatcher(bot.DispatcherConfig{Poll: time.Hour, Reclaim: time.Hour}, nil, m)
	id := h.start(t, "s1", "alice", 500)
	ctx, cancel := context.WithCancel(t.Context())
	ran := make(chan error, 1)
	go func() { ran <- d.Run(ctx) }()
	wait(t, started, "the post to start")
	cancel()
	select {
	case err := <-ran:
		t.Fatalf("Run returned (%v) while a post was in flight", err)
	default:
	}
	close(release)
	if err := recv(t, ran, "Run to return"); err != nil {
		t.Fatal(err)
	}
	if len(m.calls()) != 1 {
		t.Fatalf("the in-flight post did not complete: %s", kinds(m.calls()))
	}
	if n := h.pending(t); n != 0 {
		t.Fatalf("%d entries unacknowledged after a graceful stop", n)
	}
	if refs, _ := h.Store.Refs(t.Context(), id); refs["manager/1/bob|fake"] != m.calls()[0].Ref {
		t.Errorf("the reference of the card posted during shutdown was not stored: %v", refs)
	}
	// Another replica finds nothing to redo.
	other := newMessenger("fake")
	if n := h.drain(t, h.dispatcher(bot.DispatcherConfig{Consumer: "d2"}, nil, other)); n != 0 {
		t.Errorf("another replica delivered %d again", n)
	}
}

// stubbornOutbox acknowledges even when the caller's context is
// cancelled, as an Outbox may: the dispatcher must not rely on a cancelled
// context making the acknowledgement fail.
type stubbornOutbox struct{ flows.Outbox }

func (o stubbornOutbox) Delivered(ctx context.Context, done []flows.Delivery) error {
	return o.Outbox.Delivered(context.WithoutCancel(ctx), done)
}

// TestDispatcherStoppedMidDeliveryIsRedelivered: a replica stopped while
// a post hangs past the drain timeout does not acknowledge it; another
// replica takes it over and delivers it.
func TestDispatcherStoppedMidDeliveryIsRedelivered(t *testing.T) {
	t.Parallel()
	for _, stubborn := range []bool{false, true} {
		t.Run(fmt.Sprint("stubborn=", stubborn), func(t *testing.T) {
			t.Parallel()
			testStoppedMidDelivery(t, stubborn)
		})
	}
}

func testStoppedMidDelivery(t *testing.T, stubborn bool) {
	h := newHarness(t)
	var outbox flows.Outbox = h.Store
	if stubborn {
		outbox = stubbornOutbox{h.Store}
	}
	hung, started := hungMessenger()
	a := h.dispatcherOn(outbox, bot.DispatcherConfig{Consumer: "a", Poll: time.Hour, Reclaim: time.Hour, DrainTimeout: time.Millisecond}, hung)
	id := h.start(t, "s1", "alice", 500)
	stopA := runDispatcher(t, a)
	wait(t, started, "replica a to start posting")
	if err := stopA(); err != nil {
		t.Fatal(err)
	}
	if len(hung.calls()) != 0 {
		t.Fatal("the hung post succeeded")
	}
	if n := h.pending(t); n != 1 {
		t.Fatalf("after replica a stopped mid-delivery the outbox holds %d entries, want 1: the entry was dropped", n)
	}

	m := newMessenger("fake")
	b := h.dispatcher(bot.DispatcherConfig{Consumer: "b", Poll: time.Hour, Reclaim: 50 * time.Millisecond}, nil, m)
	stopB := runDispatcher(t, b)
	c := m.next(t)
	if c.Op != "send" || c.To != "U-bob" || c.Msg.Instance != id {
		t.Fatalf("replica b delivered %s", c)
	}
	if err := stopB(); err != nil {
		t.Fatal(err)
	}
	if len(m.calls()) != 1 || h.pending(t) != 0 {
		t.Errorf("replica b: %s; %d left", kinds(m.calls()), h.pending(t))
	}
}

// TestDispatcherTakesOverCrashedReplica: entries a replica claimed and
// never acknowledged (it crashed) are delivered by another after the
// reclaim time, with nothing lost.
func TestDispatcherTakesOverCrashedReplica(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ids := h.starts(t, 3)
	claimed, err := h.Store.ReadOutbox(t.Context(), "crashed", 100, 0)
	if err != nil || len(claimed) != 3 {
		t.Fatalf("the crashing replica claimed %d: %v", len(claimed), err)
	}
	h.start(t, "s3", "ivan", 500) // one more, never claimed

	m := newMessenger("fake")
	d := h.dispatcher(bot.DispatcherConfig{Consumer: "survivor", Poll: time.Hour, Reclaim: 50 * time.Millisecond}, nil, m)
	stop := runDispatcher(t, d)
	got := map[string]int{}
	for range 4 {
		got[m.next(t).Instance]++
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if got[id] != 1 {
			t.Errorf("%s delivered %d times: %v", id, got[id], got)
		}
	}
	if len(m.calls()) != 4 || h.pending(t) != 0 {
		t.Errorf("calls %s; %d left", kinds(m.calls()), h.pending(t))
	}
}

// TestDispatcherKeepsOrderPerInstance: one instance's effects are delivered
// in order even while an earlier one is stuck; other instances go on.
func TestDispatcherKeepsOrderPerInstance(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	m := newMessenger("fake")
	x := h.start(t, "x", "alice", 2000)
	y := h.start(t, "y", "ivan", 2000)
	h.drain(t, h.dispatcher(bot.DispatcherConfig{Consumer: "setup"}, nil, newMessenger("fake")))
	h.act(t, flows.EventApprove, "ax", "bob", x)
	h.act(t, flows.EventApprove, "ay", "bob", y)

	stuck, release := make(chan struct{}), make(chan struct{})
	m.setHook(func(_ context.Context, c call) error {
		if c.Op == "update" && c.Instance == x {
			close(stuck)
			<-release
		}
		return nil
	})
	d := h.dispatcher(bot.DispatcherConfig{Consumer: "d1", Batch: 1, Poll: time.Hour, Reclaim: time.Hour}, nil, m)
	stop := runDispatcher(t, d)
	wait(t, stuck, "x's update to start")
	var ys []call
	for len(ys) < 3 {
		c := m.next(t)
		if c.Instance != y {
			t.Fatalf("%s was delivered while x's first effect was still being delivered", c)
		}
		ys = append(ys, c)
	}
	close(release)
	var xs []call
	for len(xs) < 3 {
		xs = append(xs, m.next(t))
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for name, cs := range map[string][]call{x: xs, y: ys} {
		if cs[0].Op != "update" || cs[1].To != "U-carol" || cs[2].To != "U-frank" {
			t.Errorf("%s delivered out of order: %s", name, kinds(cs))
		}
		for _, c := range cs {
			if c.Instance != name {
				t.Errorf("mixed up: %s in %s", c, name)
			}
		}
	}
	if len(m.calls()) != 6 || h.pending(t) != 0 {
		t.Errorf("%d calls, %d left", len(m.calls()), h.pending(t))
	}
}

// TestDispatcherReplicasShareWork: two replicas running at once deliver
// every entry exactly once between them.
func TestDispatcherReplicasShareWork(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	m1, m2 := newMessenger("fake"), newMessenger("fake")
	m2.ok = m1.ok // one stream of deliveries from both replicas
	d1 := h.dispatcher(bot.DispatcherConfig{Consumer: "r1", Batch: 2, Poll: time.Hour, Reclaim: time.Hour}, nil, m1)
	d2 := h.dispatcher(bot.DispatcherConfig{Consumer: "r2", Batch: 2, Poll: time.Hour, Reclaim: time.Hour}, nil, m2)
	h.Svc.OnCommit(func() { d1.Wake(); d2.Wake() })
	stop1, stop2 := runDispatcher(t, d1), runDispatcher(t, d2)
	const n = 20
	want := map[string]bool{}
	for i := range n {
		want[h.start(t, fmt.Sprint("s", i), []string{"alice", "ivan"}[i%2], 500)] = true
	}
	got := map[string]int{}
	for range n {
		got[m1.next(t).Instance]++
	}
	if err := stop1(); err != nil {
		t.Fatal(err)
	}
	if err := stop2(); err != nil {
		t.Fatal(err)
	}
	for id := range want {
		if got[id] != 1 {
			t.Errorf("%s delivered %d times", id, got[id])
		}
	}
	if total := len(m1.calls()) + len(m2.calls()); total != n || h.pending(t) != 0 {
		t.Errorf("%d deliveries for %d entries, %d left", total, n, h.pending(t))
	}
}

// ackRaceOutbox stages the race between an update looking up a card's
// reference and the acknowledgement of the post that sent the card: the
// first acknowledgement waits until the first Refs call has read the store,
// and that Refs call returns what it read only once the acknowledgement is
// over and the dispatcher has moved on (its next outbox read).
type ackRaceOutbox struct {
	flows.Outbox
	mu        sync.Mutex
	gated     bool // the first Refs call has happened
	acked     bool // the first Delivered call has returned
	signalled bool
	ack       chan struct{} // opened by the first Refs call
	after     chan struct{} // closed at the first read after the acknowledgement
}

func (o *ackRaceOutbox) Delivered(ctx context.Context, done []flows.Delivery) error {
	<-o.ack
	err := o.Outbox.Delivered(ctx, done)
	o.mu.Lock()
	o.acked = true
	o.mu.Unlock()
	return err
}

func (o *ackRaceOutbox) ReadOutbox(ctx context.Context, consumer string, n int, idle time.Duration) ([]flows.Delivery, error) {
	o.mu.Lock()
	if o.acked && !o.signalled {
		o.signalled = true
		close(o.after)
	}
	o.mu.Unlock()
	return o.Outbox.ReadOutbox(ctx, consumer, n, idle)
}

func (o *ackRaceOutbox) Refs(ctx context.Context, instance string) (map[string]string, error) {
	refs, err := o.Outbox.Refs(ctx, instance)
	o.mu.Lock()
	first := !o.gated
	o.gated = true
	o.mu.Unlock()
	if first {
		close(o.ack)
		select {
		case <-o.after:
		case <-ctx.Done():
		}
	}
	return refs, err
}

// TestDispatcherUpdateRacingAcknowledgement: an update delivered while the
// post of its card is being acknowledged still finds the card's reference
// (in the store or in memory, never in neither) and updates the card.
func TestDispatcherUpdateRacingAcknowledgement(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	m := newMessenger("fake")
	ob := &ackRaceOutbox{Outbox: h.Store, ack: make(chan struct{}), after: make(chan struct{})}
	d := h.dispatcherOn(ob, bot.DispatcherConfig{Consumer: "d1", Poll: time.Hour, Reclaim: time.Hour}, m)
	id := h.start(t, "s1", "alice", 500)
	stop := runDispatcher(t, d)
	card := m.next(t) // posted; its acknowledgement now waits
	h.act(t, flows.EventApprove, "a1", "bob", id)
	d.Wake()
	var got []call
	for len(got) < 3 && !(len(got) == 2 && got[0].Op == "send") {
		got = append(got, m.next(t))
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got[0].Op != "update" || got[0].Ref != card.Ref {
		t.Fatalf("the card's update was skipped: it found no reference while the post was being acknowledged (%s)", kinds(got))
	}
	if len(got) != 3 || got[1].To != "C-procurement" || got[2].To != "U-alice" || h.pending(t) != 0 {
		t.Errorf("after the approval: %s; %d left", kinds(got), h.pending(t))
	}
}

// TestDispatcherReclaimSkipsCardsAlreadySent: when a replica died after
// its card's reference was stored but before the entry was acknowledged,
// the replica taking the entry over does not post the card a second time.
func TestDispatcherReclaimSkipsCardsAlreadySent(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.start(t, "s1", "alice", 500)
	claimed, err := h.Store.ReadOutbox(t.Context(), "crashed", 10, 0)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claimed %d: %v", len(claimed), err)
	}
	// The reference made it to the store; the acknowledgement did not.
	if err := h.Store.Delivered(t.Context(), []flows.Delivery{{ID: "0-1", Shard: claimed[0].Shard, Instance: id,
		Refs: map[string]string{"manager/1/bob|fake": "sent-before-the-crash"}}}); err != nil {
		t.Fatal(err)
	}
	m := newMessenger("fake")
	acked := make(chan struct{})
	ob := &ackSignal{Outbox: h.Store, acked: acked}
	d := h.dispatcherOn(ob, bot.DispatcherConfig{Consumer: "survivor", Poll: time.Hour, Reclaim: 50 * time.Millisecond}, m)
	stop := runDispatcher(t, d)
	wait(t, acked, "the reclaimed entry to be acknowledged")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if len(m.tries()) != 0 {
		t.Errorf("the card was posted again: %s", kinds(m.tries()))
	}
	if h.pending(t) != 0 {
		t.Errorf("%d entries left", h.pending(t))
	}
	if refs, _ := h.Store.Refs(t.Context(), id); refs["manager/1/bob|fake"] != "sent-before-the-crash" {
		t.Errorf("refs %v", refs)
	}
}

// ackSignal closes acked after the first acknowledgement of a non-empty batch.
type ackSignal struct {
	flows.Outbox
	once  sync.Once
	acked chan struct{}
}

func (o *ackSignal) Delivered(ctx context.Context, done []flows.Delivery) error {
	err := o.Outbox.Delivered(ctx, done)
	if err == nil && len(done) > 0 {
		o.once.Do(func() { close(o.acked) })
	}
	return err
}

// TestDispatcherUpdateWaitsForAnotherReplicasCard: replica a has read the
// task card's entry and not acknowledged it yet when replica b gets the
// update that closes the card. B waits (backing off) for the card's
// reference rather than skip the update; if the card never shows, it gives
// up after a few waits and counts the update as having no card.
func TestDispatcherUpdateWaitsForAnotherReplicasCard(t *testing.T) {
	t.Parallel()
	for _, shows := range []bool{true, false} {
		t.Run(fmt.Sprint("card shows: ", shows), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			id := h.start(t, "s1", "alice", 500)
			claimed, err := h.Store.ReadOutbox(t.Context(), "a", 10, 0) // replica a, mid-delivery
			if err != nil || len(claimed) != 1 {
				t.Fatalf("claimed %d: %v", len(claimed), err)
			}
			h.act(t, flows.EventApprove, "a1", "bob", id)
			m := newMessenger("fake")
			d := h.dispatcher(bot.DispatcherConfig{Consumer: "b", Backoff: time.Second, MaxBackoff: time.Minute}, nil, m)
			var waits []time.Duration
			d.SetSleep(func(ctx context.Context, wait time.Duration) error {
				waits = append(waits, wait)
				if shows && len(waits) == 1 { // meanwhile, a acknowledges its post
					return h.Store.Delivered(ctx, []flows.Delivery{{ID: claimed[0].ID, Shard: claimed[0].Shard, Instance: id,
						Refs: map[string]string{"manager/1/bob|fake": "sent-by-a"}}})
				}
				return nil
			})
			h.drain(t, d)
			var updates []call
			for _, c := range m.calls() {
				if c.Op == "update" {
					updates = append(updates, c)
				}
			}
			noCard := h.counter(t, "baton_deliveries_total", "platform", "none", "effect", "update", "result", "no_card")
			if shows {
				if len(updates) != 1 || updates[0].Ref != "sent-by-a" || !slices.Equal(waits, []time.Duration{time.Second}) || noCard != 0 {
					t.Fatalf("updates %s after waits %v (no_card %v); want the card a sent updated after one wait", kinds(updates), waits, noCard)
				}
				return
			}
			if len(updates) != 0 || !slices.Equal(waits, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}) || noCard != 1 {
				t.Fatalf("updates %s after waits %v (no_card %v); want none after four waits", kinds(updates), waits, noCard)
			}
		})
	}
}

// TestDispatcherStopsWithEntriesOfSeveralCards: an approval's entry holds
// three cards (the closed card, procurement's notice, the requester's
// outcome). With fewer delivery slots than the cards read, the dispatcher
// still stops on time, leaving what it could not finish for a redelivery.
func TestDispatcherStopsWithEntriesOfSeveralCards(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ids := h.starts(t, 3)
	h.drain(t, h.dispatcher(bot.DispatcherConfig{Consumer: "first"}, nil, newMessenger("fake")))
	for i, id := range ids {
		if out := h.act(t, flows.EventApprove, fmt.Sprint("a", i), "bob", id); !out.OK {
			t.Fatalf("approve %s: %+v", id, out)
		}
	}
	hung, started := hungMessenger()
	d := h.dispatcher(bot.DispatcherConfig{Consumer: "second", MaxInFlight: 2, Poll: time.Hour, Reclaim: time.Hour, DrainTimeout: 50 * time.Millisecond}, nil, hung)
	stop := runDispatcher(t, d)
	wait(t, started, "the first card to be sent")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := h.pending(t); n != 3 {
		t.Fatalf("%d entries left in the outbox, want the 3 approvals' entries", n)
	}
}

// hungMessenger is a platform that never answers: each call waits for its
// context to end. started is closed at the first call.
func hungMessenger() (m *messenger, started chan struct{}) {
	m, started = newMessenger("fake"), make(chan struct{})
	var once sync.Once
	m.hook = func(ctx context.Context, c call) error {
		once.Do(func() { close(started) })
		<-ctx.Done()
		return ctx.Err()
	}
	return m, started
}

// slowAckOutbox holds acknowledgements until proceed is closed, then makes
// them with the context they were given.
type slowAckOutbox struct {
	flows.Outbox
	entered chan struct{}
	proceed chan struct{}
	once    sync.Once
}

func (o *slowAckOutbox) Delivered(ctx context.Context, done []flows.Delivery) error {
	o.once.Do(func() { close(o.entered) })
	<-o.proceed
	return o.Outbox.Delivered(ctx, done)
}

// TestDispatcherAcknowledgesWhatFinishedBeforeTheDrainTimeout: a card sent
// just before the drain timeout cut another delivery short is still
// acknowledged (and its reference kept), so no other replica sends it again.
func TestDispatcherAcknowledgesWhatFinishedBeforeTheDrainTimeout(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ids := h.starts(t, 2)
	m := newMessenger("fake")
	cut := make(chan struct{})
	var first sync.Once
	m.hook = func(ctx context.Context, c call) error {
		sent := false
		first.Do(func() { sent = true })
		if sent {
			return nil // the first card goes through at once
		}
		<-ctx.Done() // the second never gets an answer
		close(cut)
		return ctx.Err()
	}
	outbox := &slowAckOutbox{Outbox: h.Store, entered: make(chan struct{}), proceed: make(chan struct{})}
	d := h.dispatcherOn(outbox, bot.DispatcherConfig{Poll: time.Hour, Reclaim: time.Hour, DrainTimeout: 10 * time.Millisecond}, m)
	stop := runDispatcher(t, d)
	wait(t, outbox.entered, "the first card's acknowledgement")
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	wait(t, cut, "the drain timeout to cut the second card short")
	close(outbox.proceed) // the acknowledgement goes on after the cut
	if err := recv(t, stopped, "the dispatcher to stop"); err != nil {
		t.Fatal(err)
	}
	if n := h.pending(t); n != 1 {
		t.Fatalf("%d entries left, want only the cut card's", n)
	}
	sentTo := m.calls()[0].Msg.Instance
	if refs, _ := h.Store.Refs(t.Context(), sentTo); refs["manager/1/bob|fake"] == "" {
		t.Fatalf("the sent card's reference was not kept: %v (instances %v)", refs, ids)
	}
}

// downOutbox reads entries but cannot acknowledge them, as when Redis goes
// down during a shutdown.
type downOutbox struct{ flows.Outbox }

func (downOutbox) Delivered(context.Context, []flows.Delivery) error {
	return errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")
}

// TestDispatcherStopsWhenAcknowledgementsFail: with Redis down, the last
// acknowledgements are given up at the drain timeout instead of retried
// for ever; the entries stay in the outbox, to be delivered again.
func TestDispatcherStopsWhenAcknowledgementsFail(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start(t, "s1", "alice", 500)
	m := newMessenger("fake")
	sent := make(chan struct{})
	var once sync.Once
	m.hook = func(context.Context, call) error { once.Do(func() { close(sent) }); return nil }
	d := h.dispatcherOn(downOutbox{h.Store}, bot.DispatcherConfig{Poll: time.Hour, Reclaim: time.Hour, DrainTimeout: 20 * time.Millisecond,
		Backoff: time.Millisecond, MaxBackoff: time.Millisecond}, m)
	stop := runDispatcher(t, d)
	wait(t, sent, "the task card to be sent")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := h.pending(t); n != 1 {
		t.Fatalf("%d entries left, want the unacknowledged one", n)
	}
}

// TestDispatcherHandsBackWhatWaitsAtShutdown: a delivery waiting to be
// tried again is not under way: the shutdown ends the wait at once instead
// of holding the replica until the drain timeout, hands the entry back, and
// the next replica (here one with an hour's reclaim time, as if this one
// restarted) delivers it at once, not an hour later.
func TestDispatcherHandsBackWhatWaitsAtShutdown(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start(t, "s1", "alice", 500)
	failing := newMessenger("fake")
	tried := make(chan struct{})
	var once sync.Once
	failing.hook = func(context.Context, call) error {
		once.Do(func() { close(tried) })
		return errors.New("slack is down")
	}
	a := h.dispatcher(bot.DispatcherConfig{Consumer: "a", Poll: time.Hour, Reclaim: time.Hour, DrainTimeout: time.Hour,
		Backoff: time.Hour, MaxBackoff: time.Hour}, nil, failing)
	a.SetSleep(bot.Sleep) // a real wait, which only the shutdown can end
	stopA := runDispatcher(t, a)
	wait(t, tried, "the first attempt")
	if err := stopA(); err != nil { // bounded by recv, far below the hour
		t.Fatal(err)
	}
	if n := h.pending(t); n != 1 {
		t.Fatalf("%d entries left, want the undelivered one", n)
	}
	m := newMessenger("fake")
	sent := make(chan struct{})
	var sentOnce sync.Once
	m.hook = func(context.Context, call) error { sentOnce.Do(func() { close(sent) }); return nil }
	b := h.dispatcher(bot.DispatcherConfig{Consumer: "b", Poll: time.Hour, Reclaim: time.Hour}, nil, m)
	stopB := runDispatcher(t, b)
	wait(t, sent, "the next replica to deliver the handed-back card")
	if err := stopB(); err != nil {
		t.Fatal(err)
	}
	if n := h.pending(t); n != 0 {
		t.Fatalf("%d entries left after the next replica", n)
	}
}

// mailer is a fake messenger whose updates send something new, as mail's
// closing replies do: it is a bot.UpdateSender.
type mailer struct{ *messenger }

func (m mailer) UpdateKey(ref string, msg *flows.Message) string {
	if msg.Outcome == "" {
		return ""
	}
	return "closed " + ref + " " + msg.Outcome
}

// unacked stores the references of the deliveries it is told of and
// acknowledges none: a replica that stopped after recording what it sent,
// before the acknowledgement of its entry.
type unacked struct{ flows.Outbox }

func (o unacked) Delivered(ctx context.Context, done []flows.Delivery) error {
	kept := slices.Clone(done)
	for i := range kept {
		kept[i].Parts = kept[i].Part + 2 // not its entry's last effect: no acknowledgement
	}
	return o.Outbox.Delivered(ctx, kept)
}

// lastAcked closes acked once an entry's last effect is acknowledged: the
// whole entry is.
type lastAcked struct {
	flows.Outbox
	once  sync.Once
	acked chan struct{}
}

func (o *lastAcked) Delivered(ctx context.Context, done []flows.Delivery) error {
	err := o.Outbox.Delivered(ctx, done)
	if err == nil && slices.ContainsFunc(done, func(d flows.Delivery) bool { return d.Last() }) {
		o.once.Do(func() { close(o.acked) })
	}
	return err
}

// updatesOf returns the updates among cs of the card with reference ref.
func updatesOf(cs []call, ref string) []call {
	var out []call
	for _, c := range cs {
		if c.Op == "update" && c.Ref == ref {
			out = append(out, c)
		}
	}
	return out
}

// TestDispatcherRedeliverySendsNoUpdateTwice: an update that sends
// something (a closing mail) is not made again when its entry is delivered
// again by the replica that takes it over; the cards of the same entry are
// not sent again either.
func TestDispatcherRedeliverySendsNoUpdateTwice(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	m := mailer{newMessenger("mail")}
	id := h.start(t, "s1", "alice", 2000)
	h.drain(t, h.dispatcher(bot.DispatcherConfig{}, nil, m))
	card := m.calls()[0]
	h.act(t, flows.EventApprove, "a1", "bob", id) // closes bob's card; carol's and frank's
	if n := h.drain(t, h.dispatcherOn(unacked{h.Store}, bot.DispatcherConfig{Consumer: "crashed"}, m)); n != 3 {
		t.Fatalf("the crashing replica delivered %d effects, want 3", n)
	}
	if ups := updatesOf(m.calls(), card.Ref); len(ups) != 1 || ups[0].Msg.Outcome == "" {
		t.Fatalf("before the crash: updates of bob's card %s", kinds(ups))
	}
	acked := make(chan struct{})
	d := h.dispatcherOn(&lastAcked{Outbox: h.Store, acked: acked}, bot.DispatcherConfig{Consumer: "survivor", Poll: time.Hour, Reclaim: 50 * time.Millisecond}, m)
	stop := runDispatcher(t, d)
	wait(t, acked, "the entry taken over to be acknowledged")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if ups := updatesOf(m.tries(), card.Ref); len(ups) != 1 {
		t.Errorf("bob's card had its closing update sent %d times: %s", len(ups), kinds(ups))
	}
	if n := len(m.tries()); n != 4 {
		t.Errorf("%d calls in all, want 4 (bob's card, its closing, carol's and frank's cards): %s", n, kinds(m.tries()))
	}
	if h.pending(t) != 0 {
		t.Errorf("%d entries left", h.pending(t))
	}
}

// TestDispatcherDeadRetrySendsNoUpdateTwice: an update that died on one
// platform and was made on another (a closing mail sent) is sent again by
// `baton dead retry` only where it failed.
func TestDispatcherDeadRetrySendsNoUpdateTwice(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	mail, chat := mailer{newMessenger("mail")}, newMessenger("chat")
	d := h.dispatcher(bot.DispatcherConfig{}, nil, mail, chat)
	id := h.start(t, "s1", "alice", 500)
	h.drain(t, d)
	chat.setHook(func(_ context.Context, c call) error {
		if c.Op == "update" {
			return bot.Permanent(errors.New("the app was removed from the conversation"))
		}
		return nil
	})
	h.act(t, flows.EventApprove, "a1", "bob", id)
	h.drain(t, d)
	letters, err := h.Store.DeadLetters(t.Context(), 10)
	if err != nil || len(letters) != 1 {
		t.Fatalf("dead letters %+v, %v; want the update that failed in chat", letters, err)
	}
	chat.setHook(nil) // fixed: the app is back
	if n, err := h.Store.Requeue(t.Context(), letters); err != nil || n != 1 {
		t.Fatalf("requeue: %d, %v", n, err)
	}
	h.drain(t, d)
	card := mail.calls()[0]
	if ups := updatesOf(mail.tries(), card.Ref); len(ups) != 1 {
		t.Errorf("the closing update was sent %d times by mail: %s", len(ups), kinds(ups))
	}
	if ups := updatesOf(chat.calls(), chat.calls()[0].Ref); len(ups) != 1 {
		t.Errorf("the retried update was made %d times in chat, want 1", len(ups))
	}
}
