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
	var mu sync.Mutex
	var seen []string
	arrived, release := make(chan struct{}), make(chan struct{})
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if n.Add(1) == 1 {
			close(arrived)
			<-release // the first try is slow
		}
		mu.Lock()
		seen = append(seen, req.Header.Get("X-Baton-Event")+" "+req.Header.Get("X-Baton-Attempt"))
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	r := newHookRig(t, "", []flows.Hook{{Name: "g", URL: srv.URL, Events: []string{"started", "assigned"}}}, "k")
	d1 := r.dispatcher(bot.DispatcherConfig{Consumer: "d1", Reclaim: time.Second}, hkMessenger{})
	d2 := r.dispatcher(bot.DispatcherConfig{Consumer: "d2", Reclaim: time.Second}, hkMessenger{})
	r.handle(t, purchaseStart("k1"))
	done := make(chan error, 1)
	go func() { _, err := d1.Drain(t.Context()); done <- err }()
	<-arrived
	r.Clock.Advance(2 * time.Second) // past the reclaim time, with d1's try under way
	if _, err := d2.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"started 1", "assigned 1"}; !slices.Equal(seen, want) {
		t.Errorf("the receiver got %q, want %q", seen, want)
	}
}

// Two replicas, no crash: while one delivers a request's first event to a
// slow receiver, the next transition's events, read by the other, do not
// go before the rest of the first transition's (queued as they were read,
// not as their turn came).
func TestHookOrderAcrossReplicas(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	arrived, release := make(chan struct{}), make(chan struct{})
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if n.Add(1) == 1 {
			close(arrived)
			<-release // the first event is slow to be taken
		}
		mu.Lock()
		seen = append(seen, req.Header.Get("X-Baton-Event"))
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	r := newHookRig(t, "", []flows.Hook{{Name: "g", URL: srv.URL}}, "k")
	d1 := r.dispatcher(bot.DispatcherConfig{Consumer: "d1"}, hkMessenger{})
	d2 := r.dispatcher(bot.DispatcherConfig{Consumer: "d2"}, hkMessenger{})
	id := r.handle(t, purchaseStart("k1")).Instance
	done := make(chan error, 1)
	go func() { _, err := d1.Drain(t.Context()); done <- err }()
	<-arrived
	r.handle(t, flows.Event{Kind: flows.EventApprove, Key: "k2", Actor: "bob", Instance: id})
	if _, err := d2.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"started", "assigned", "decided", "completed"}; !slices.Equal(seen, want) {
		t.Errorf("the receiver got %q, want %q", seen, want)
	}
}
