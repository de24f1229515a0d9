package storage

import (
	"context"
	"slices"
	"sync"
)

// maxBatch bounds how many requests one round trip carries.
const maxBatch = 64

// turn is what a queued request waits on in a batcher: done is closed once
// a batch carrying the request has run and its result is set.
type turn struct{ done chan struct{} }

func newTurn() turn { return turn{done: make(chan struct{})} }

func (t *turn) finished() chan struct{} { return t.done }

// batcher batches concurrent requests to one Redis slot into one round trip
// (group commit): a request finding no batch in flight runs at once, alone,
// in its caller's goroutine and under its caller's context; requests
// arriving while a round trip is out wait and share the next one. Each
// caller waits only as long as its context allows; a request whose caller
// gave up before its batch started is dropped. Hand-written: go-redis's
// autopipelining batches round trips but not script calls, and measured no
// gain here.
type batcher[R interface {
	comparable
	finished() chan struct{}
}] struct {
	mu    sync.Mutex
	busy  bool // a batch is in flight
	queue []R
}

// do queues r and returns once a batch carrying it has run (run sets each
// request's result), or with ctx's error when ctx ends first: r then either
// never ran or ran without its caller waiting for the result.
func (g *batcher[R]) do(ctx context.Context, r R, run func(context.Context, []R)) error {
	g.mu.Lock()
	if !g.busy { // nothing in flight, so nothing queued: r goes alone, now
		g.busy = true
		g.mu.Unlock()
		run(ctx, []R{r})
		g.mu.Lock()
		g.next(context.WithoutCancel(ctx), run)
		g.mu.Unlock()
		return nil
	}
	g.queue = append(g.queue, r)
	g.mu.Unlock()
	select {
	case <-r.finished():
		return nil
	case <-ctx.Done():
		select {
		case <-r.finished(): // done after all
			return nil
		default:
		}
		g.mu.Lock()
		if i := slices.Index(g.queue, r); i >= 0 {
			g.queue = slices.Delete(g.queue, i, i+1)
		}
		g.mu.Unlock()
		return ctx.Err()
	}
}

// next starts the next batch of what queued while one was in flight, in a
// goroutine of its own so that no one caller's context ends it (go-redis's
// timeouts bound it), or marks the batcher idle. g.mu must be held.
func (g *batcher[R]) next(ctx context.Context, run func(context.Context, []R)) {
	if len(g.queue) == 0 {
		g.busy = false
		return
	}
	n := min(len(g.queue), maxBatch)
	batch := slices.Clone(g.queue[:n])
	g.queue = slices.Delete(g.queue, 0, n)
	go func() {
		run(ctx, batch)
		for _, r := range batch {
			close(r.finished())
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		g.next(ctx, run)
	}()
}
