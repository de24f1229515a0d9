package storage

import (
	"context"
	"slices"
	"sync"
)

// maxBatch bounds how many transitions one script call commits.
const maxBatch = 64

// commitReq is one transition waiting for its group commit.
type commitReq struct {
	keys []string // instance, audit, index keys
	args []any
	res  []string
	err  error
	done chan struct{} // closed once a batch carrying it has run
}

// batcher commits the concurrent transitions of one shard together (group
// commit): a transition finding no batch in flight runs at once, alone, in
// its caller's goroutine and under its caller's context; transitions
// arriving while a script call is out wait and share the next one. Each
// caller waits only as long as its context allows; a transition whose
// caller gave up before its batch started is dropped. Hand-written:
// go-redis's autopipelining batches round trips but not script calls, and
// measured no gain here.
type batcher struct {
	run   func(context.Context, []*commitReq) // commits a batch, setting each result
	mu    sync.Mutex
	busy  bool // a batch is in flight
	queue []*commitReq
}

// do queues r and returns once a batch carrying it has run, or with ctx's
// error when ctx ends first: r then either never ran or ran without its
// caller waiting for the result.
func (g *batcher) do(ctx context.Context, r *commitReq) error {
	g.mu.Lock()
	if !g.busy { // nothing in flight, so nothing queued: r goes alone, now
		g.busy = true
		g.mu.Unlock()
		g.run(ctx, []*commitReq{r})
		g.mu.Lock()
		g.next(context.WithoutCancel(ctx))
		g.mu.Unlock()
		return nil
	}
	r.done = make(chan struct{})
	g.queue = append(g.queue, r)
	g.mu.Unlock()
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		select {
		case <-r.done: // done after all
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
func (g *batcher) next(ctx context.Context) {
	if len(g.queue) == 0 {
		g.busy = false
		return
	}
	n := min(len(g.queue), maxBatch)
	batch := slices.Clone(g.queue[:n])
	g.queue = slices.Delete(g.queue, 0, n)
	go func() {
		g.run(ctx, batch)
		for _, r := range batch {
			close(r.done)
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		g.next(ctx)
	}()
}
