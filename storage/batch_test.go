package storage

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// Requests go alone while fewer than inFlight round trips are out; one
// arriving when the batcher is full waits for the next round trip, shares it
// with the others queued meanwhile, and may give up (its context ends)
// without holding anyone up.
func TestBatcher(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var mu sync.Mutex
		var batches [][]int
		g := batcher[commitReq]{run: func(_ context.Context, batch []*commitReq) {
			var ns []int
			for _, r := range batch {
				ns = append(ns, r.args[0].(int))
			}
			mu.Lock()
			batches = append(batches, ns)
			slow := len(batches) <= inFlight // the first round trips are slow
			mu.Unlock()
			if slow {
				<-release
			}
		}}
		submit := func(ctx context.Context, n int) chan error {
			errc := make(chan error, 1)
			go func() { errc <- g.do(ctx, &commitReq{args: []any{n}}) }()
			synctest.Wait() // until it runs or waits
			return errc
		}

		var firsts []chan error
		for n := range inFlight { // each goes at once, alone
			firsts = append(firsts, submit(t.Context(), n+1))
		}
		ctx, giveUp := context.WithCancel(t.Context())
		gone := submit(ctx, 10)
		second := submit(t.Context(), 11)
		third := submit(t.Context(), 12)
		giveUp()
		if err := <-gone; err != context.Canceled {
			t.Fatalf("a request whose caller gave up returned %v", err)
		}
		close(release)
		for i, errc := range append(firsts, second, third) {
			if err := <-errc; err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
		}
		synctest.Wait()
		want := [][]int{{1}, {2}, {11, 12}} // inFlight is 2
		if !slices.EqualFunc(batches, want, slices.Equal) {
			t.Fatalf("batches %v, want %v", batches, want)
		}
		if g.inflight != 0 || len(g.queue) != 0 {
			t.Fatalf("after the last batch: %d in flight, %d queued", g.inflight, len(g.queue))
		}
	})
}

// A round trip whose run panics (and whose caller recovers) gives its place
// back: later requests still go.
func TestBatcherSurvivesAPanic(t *testing.T) {
	panics := true
	g := batcher[commitReq]{run: func(context.Context, []*commitReq) {
		if panics {
			panic("boom")
		}
	}}
	for range inFlight { // enough to fill every place, were they kept
		func() {
			defer func() { _ = recover() }()
			_ = g.do(t.Context(), &commitReq{})
		}()
	}
	panics = false
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := g.do(ctx, &commitReq{}); err != nil || g.inflight != 0 {
		t.Fatalf("after panics: %v, %d in flight", err, g.inflight)
	}
}
