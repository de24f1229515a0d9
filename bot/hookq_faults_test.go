package bot_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
	"github.com/batonbot/baton/storage"
)

// failingQueue is a store whose first fails event queueings fail, as a
// Redis timeout or failover would.
type failingQueue struct {
	*storage.Store
	fails atomic.Int32
}

func (f *failingQueue) QueueHook(ctx context.Context, h flows.QueuedHook, now time.Time, lease time.Duration) (*flows.QueuedHook, error) {
	if f.fails.Add(-1) >= 0 {
		return nil, errors.New("i/o timeout")
	}
	return f.Store.QueueHook(ctx, h, now, lease)
}

// An event whose queueing fails for a moment (a Redis timeout, a failover)
// is queued again, as a delivery is tried again: not a dead letter at once,
// with the request's later events going on without it.
func TestHookQueueingIsRetried(t *testing.T) {
	rx := newHookReceiver(t, "k")
	r := newHookRig(t, "", []flows.Hook{{Name: "g", URL: rx.srv.URL}}, "k")
	fq := &failingQueue{Store: r.Store}
	fq.fails.Store(2)
	d := bot.NewDispatcher(bot.DispatcherConfig{Consumer: "d1", Attempts: 4, Backoff: time.Microsecond, MaxBackoff: 10 * time.Microsecond},
		fq, []bot.Messenger{hkMessenger{}}, r.w, r.Svc.Handle, discard(), r.metrics)
	r.handle(t, purchaseStart("k1"))
	if _, err := d.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	got, _ := rx.events()
	if types := hkTypes(got); !slices.Equal(types, []string{"started", "assigned"}) {
		t.Errorf("delivered %v, want started, assigned", types)
	}
	if dead, _ := r.Store.DeadLetters(t.Context(), 10); len(dead) > 0 {
		t.Errorf("a dead letter after a passing Redis error: %q", dead[0].Dead)
	}
}

// A try slower than BATON_OUTBOX_RECLAIM (which may be a second) does not
// let another replica take the queue over and send the same event at
// once: a replica holds a queue at least a minute.
func TestSlowHookTryKeepsItsQueue(t *testing.T) {
	rx := newSlowReceiver(t, true)
	r := newHookRig(t, "", []flows.Hook{{Name: "g", URL: rx.url, Events: []string{"started", "assigned"}}}, "k")
	d1 := r.dispatcher(bot.DispatcherConfig{Consumer: "d1", Reclaim: time.Second}, hkMessenger{})
	d2 := r.dispatcher(bot.DispatcherConfig{Consumer: "d2", Reclaim: time.Second}, hkMessenger{})
	r.handle(t, purchaseStart("k1"))
	done := make(chan error, 1)
	go func() { _, err := d1.Drain(t.Context()); done <- err }()
	<-rx.arrived
	r.Clock.Advance(2 * time.Second) // past the reclaim time, with d1's try under way
	if _, err := d2.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, want := rx.finish(t, done), []string{"started 1", "assigned 1"}; !slices.Equal(got, want) {
		t.Errorf("the receiver got %q, want %q", got, want)
	}
}

// Two replicas, no crash: while one delivers a request's first event to a
// slow receiver, the next transition's events, read by the other, do not
// go before the rest of the first transition's (queued as they were read,
// not as their turn came).
func TestHookOrderAcrossReplicas(t *testing.T) {
	rx := newSlowReceiver(t, false)
	r := newHookRig(t, "", []flows.Hook{{Name: "g", URL: rx.url}}, "k")
	d1 := r.dispatcher(bot.DispatcherConfig{Consumer: "d1"}, hkMessenger{})
	d2 := r.dispatcher(bot.DispatcherConfig{Consumer: "d2"}, hkMessenger{})
	id := r.handle(t, purchaseStart("k1")).Instance
	done := make(chan error, 1)
	go func() { _, err := d1.Drain(t.Context()); done <- err }()
	<-rx.arrived
	r.handle(t, flows.Event{Kind: flows.EventApprove, Key: "k2", Actor: "bob", Instance: id})
	if _, err := d2.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, want := rx.finish(t, done), []string{"started", "assigned", "decided", "completed"}; !slices.Equal(got, want) {
		t.Errorf("the receiver got %q, want %q", got, want)
	}
}

// slowReceiver is a subscriber whose first request waits until finish: it
// closes arrived when that request comes, and records each event's type
// (and its X-Baton-Attempt, with attempts).
type slowReceiver struct {
	url              string
	arrived, release chan struct{}
	mu               sync.Mutex
	seen             []string
}

func newSlowReceiver(t *testing.T, attempts bool) *slowReceiver {
	rx := &slowReceiver{arrived: make(chan struct{}), release: make(chan struct{})}
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if n.Add(1) == 1 {
			close(rx.arrived)
			<-rx.release
		}
		got := req.Header.Get("X-Baton-Event")
		if attempts {
			got += " " + req.Header.Get("X-Baton-Attempt")
		}
		rx.mu.Lock()
		rx.seen = append(rx.seen, got)
		rx.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	rx.url = srv.URL
	return rx
}

// finish lets the first request go, waits for the drain running it (done),
// and returns what the receiver got, in order.
func (rx *slowReceiver) finish(t *testing.T, done <-chan error) []string {
	t.Helper()
	close(rx.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rx.mu.Lock()
	defer rx.mu.Unlock()
	return slices.Clone(rx.seen)
}
