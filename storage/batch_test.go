package storage

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
)

// A request arriving while a batch is out waits for the next one, shares it
// with the others queued meanwhile, and may give up (its context ends)
// without holding anyone up.
func TestBatcher(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var batches [][]int
		g := batcher[commitReq]{run: func(_ context.Context, batch []*commitReq) {
			var ns []int
			for _, r := range batch {
				ns = append(ns, r.args[0].(int))
			}
			batches = append(batches, ns) // batches run one at a time
			if len(batches) == 1 {
				<-release // the first round trip is slow
			}
		}}
		submit := func(ctx context.Context, n int) chan error {
			errc := make(chan error, 1)
			go func() { errc <- g.do(ctx, &commitReq{args: []any{n}}) }()
			synctest.Wait() // until it runs or waits
			return errc
		}

		first := submit(t.Context(), 1) // starts a batch at once
		ctx, giveUp := context.WithCancel(t.Context())
		gone := submit(ctx, 2)
		second := submit(t.Context(), 3)
		third := submit(t.Context(), 4)
		giveUp()
		if err := <-gone; err != context.Canceled {
			t.Fatalf("a request whose caller gave up returned %v", err)
		}
		close(release)
		for i, errc := range []chan error{first, second, third} {
			if err := <-errc; err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
		}
		synctest.Wait()
		if want := [][]int{{1}, {3, 4}}; !slices.EqualFunc(batches, want, slices.Equal) {
			t.Fatalf("batches %v, want %v", batches, want)
		}
		if g.busy || len(g.queue) != 0 {
			t.Fatalf("after the last batch: busy %v, %d queued", g.busy, len(g.queue))
		}
	})
}
