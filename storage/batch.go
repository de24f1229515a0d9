package storage

import (
	"context"
	"slices"
	"sync"
)

// maxBatch bounds how many requests one round trip carries.
const maxBatch = 64

// turn is what a request waits on in a group: true when it must lead the
// next batch, false when another request's batch has carried it.
type turn struct{ done chan bool }

func newTurn() turn { return turn{done: make(chan bool, 1)} }

func (t *turn) wait() chan bool { return t.done }

// batcher batches concurrent requests to one Redis slot into one round trip
// (group commit): the first caller to find no batch in flight runs what is
// queued, and hands the lead to the first request queued meanwhile. A lone
// request goes at once; under load, requests that arrive while a round trip
// is out share the next one. It has no goroutine of its own, so a Store
// needs no closing. Hand-written: go-redis's autopipelining batches round
// trips but not script calls, and measured no gain here.
type batcher[R interface{ wait() chan bool }] struct {
	mu    sync.Mutex
	busy  bool
	queue []R
}

// do queues r and returns once a batch carrying it has run. run fills in
// each request's result; a caller whose context ends meanwhile still waits,
// since its request may be in flight (go-redis's timeouts bound the wait).
func (g *batcher[R]) do(ctx context.Context, r R, run func(context.Context, []R)) {
	g.mu.Lock()
	g.queue = append(g.queue, r)
	if g.busy {
		g.mu.Unlock()
		if lead := <-r.wait(); !lead {
			return
		}
		g.mu.Lock()
	}
	g.busy = true
	n := min(len(g.queue), maxBatch)
	batch := g.queue[:n:n]
	g.queue = slices.Clone(g.queue[n:])
	g.mu.Unlock()

	// The batch carries others' requests: it must not end with this
	// caller's context.
	run(context.WithoutCancel(ctx), batch)
	for _, o := range batch[1:] { // batch[0] is r: the queue was empty or r was at its head
		o.wait() <- false
	}

	g.mu.Lock()
	if len(g.queue) == 0 {
		g.busy = false
		g.mu.Unlock()
		return
	}
	next := g.queue[0]
	g.mu.Unlock()
	next.wait() <- true
}
