package storage

import (
	"context"
	"slices"
	"sync"
)

// maxBatch bounds how many requests one round trip carries.
const maxBatch = 64

// inFlight is how many round trips of one batcher may be out at once.
// Measured with BenchmarkTransitions on two lanes: one at a time makes the
// largest batches but costs approvals at 8-way (each waits for the round
// trip before it); two keep those within a few percent of unbatched commits
// and lose nothing at 64-way.
const inFlight = 2

// batcher sends concurrent requests (commits, reads) to Redis together:
// a request finding fewer than inFlight round trips out runs at once,
// alone, in its caller's goroutine and under its caller's context; requests
// arriving while the batcher is full wait and share the next round trip.
// Each caller waits only as long as its context allows; a request whose
// caller gave up before its batch started is dropped. Hand-written:
// go-redis's autopipelining batches round trips but not script calls, and
// measured no gain here.
type batcher[T any] struct {
	run      func(context.Context, []*T) // runs a batch, setting each result
	mu       sync.Mutex
	inflight int // round trips out
	queue    []queued[T]
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
	if g.inflight < inFlight { // room, so nothing is queued: r goes alone, now
		g.inflight++
		g.mu.Unlock()
		defer func() { // even if run panics and the caller recovers
			g.mu.Lock()
			g.next(context.WithoutCancel(ctx))
			g.mu.Unlock()
		}()
		g.run(ctx, []*T{r})
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

// next is called as a round trip ends: it starts the next batch of what
// queued meanwhile, in a goroutine of its own so that no one caller's
// context ends it (go-redis's timeouts bound it), or frees the round trip's
// place. g.mu must be held.
func (g *batcher[T]) next(ctx context.Context) {
	if len(g.queue) == 0 {
		g.inflight--
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
