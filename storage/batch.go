package storage

import (
	"context"
	"slices"
	"sync"
)

// maxBatch bounds how many requests one round trip carries.
const maxBatch = 64

// batcher sends concurrent requests (commits, reads) to Redis together:
// a request finding no batch in flight runs at once, alone, in its caller's
// goroutine and under its caller's context; requests arriving while a round
// trip is out wait and share the next one. Each caller waits only as long as
// its context allows; a request whose caller gave up before its batch
// started is dropped. Hand-written: go-redis's autopipelining batches round
// trips but not script calls, and measured no gain here.
type batcher[T any] struct {
	run   func(context.Context, []*T) // runs a batch, setting each result
	mu    sync.Mutex
	busy  bool // a batch is in flight
	queue []queued[T]
}

type queued[T any] struct {
	r    *T
	done chan struct{} // closed once a batch carrying r has run
}

// do queues r and returns once a batch carrying it has run, or with ctx's
// error when ctx ends first: r then either never ran or ran without its
// caller waiting for the result.
func (g *batcher[T]) do(ctx context.Context, r *T) error {
	g.mu.Lock()
	if !g.busy { // nothing in flight, so nothing queued: r goes alone, now
		g.busy = true
		g.mu.Unlock()
		g.run(ctx, []*T{r})
		g.mu.Lock()
		g.next(context.WithoutCancel(ctx))
		g.mu.Unlock()
		return nil
	}
	q := queued[T]{r, make(chan struct{})}
	g.queue = append(g.queue, q)
	g.mu.Unlock()
	select {
	case <-q.done:
		return nil
	case <-ctx.Done():
		select {
		case <-q.done: // done after all
			return nil
		default:
		}
		g.mu.Lock()
		if i := slices.IndexFunc(g.queue, func(o queued[T]) bool { return o.r == r }); i >= 0 {
			g.queue = slices.Delete(g.queue, i, i+1)
		}
		g.mu.Unlock()
		return ctx.Err()
	}
}

// next starts the next batch of what queued while one was in flight, in a
// goroutine of its own so that no one caller's context ends it (go-redis's
// timeouts bound it), or marks the batcher idle. g.mu must be held.
func (g *batcher[T]) next(ctx context.Context) {
	if len(g.queue) == 0 {
		g.busy = false
		return
	}
	n := min(len(g.queue), maxBatch)
	batch := make([]*T, n)
	done := make([]chan struct{}, n)
	for i, q := range g.queue[:n] {
		batch[i], done[i] = q.r, q.done
	}
	g.queue = slices.Delete(g.queue, 0, n)
	go func() {
		g.run(ctx, batch)
		for _, d := range done {
			close(d)
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		g.next(ctx)
	}()
}
