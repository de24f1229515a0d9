package storage_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/batonbot/baton/flows"
	"github.com/batonbot/baton/storage"
	"github.com/batonbot/baton/storage/storagetest"
)

// The benchmarks need a real Redis (BATON_TEST_REDIS_URL): the embedded
// store measures nothing useful.
func benchRedis(b *testing.B) storagetest.Backend {
	be, ok := storagetest.Real(b)
	if !ok {
		b.Skip("set BATON_TEST_REDIS_URL=redis://127.0.0.1:6379/0 to run the storage benchmarks")
	}
	return be
}

// parallel runs op b.N times over c goroutines and reports ops/s, and
// the CPU this process and rdb's server spent per op.
func parallel(b *testing.B, rdb redis.UniversalClient, c int, op func(i int) error) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, c)
	// Started as well as reset: a caller that stopped the timer for its
	// setup would otherwise time nothing, and the benchmark would grow b.N
	// without bound (filling Redis until it is killed).
	b.ResetTimer()
	b.StartTimer()
	began := time.Now()
	cpu := storagetest.CPU(b, rdb)
	for range c {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				if err := op(i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	cpu()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "ops/s")
}

var concurrency = []int{1, 8, 64}

// at is when request i is made: one per millisecond, so indexes hold
// distinct scores, as real requests' creation times are.
func at(i int) time.Time { return t0.Add(time.Duration(i) * time.Millisecond) }

// ceilingScript is the reference: one small script doing what a transition
// does at the least (read a version, write a state, schedule, append to a
// stream), so the cost of Baton's own script and Go code shows beside it.
var ceilingScript = redis.NewScript(`
redis.call('HGET', KEYS[1], 'v')
redis.call('HSET', KEYS[1], 'v', ARGV[1], 's', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[1], KEYS[1])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', 10000, '*', 'e', ARGV[2])
return 1`)

// emptyScript is the floor under the ceiling: a script that does nothing,
// so what a round trip alone costs (the network, parsing, running a script)
// shows beside what the ceiling's four commands add.
var emptyScript = redis.NewScript(`return 1`)

// BenchmarkTransitions compares, in one run, Redis's ceiling for one small
// Lua script with Baton's durable transitions (engine + one atomic commit):
// starting purchase requests, and approving them.
func BenchmarkTransitions(b *testing.B) {
	be := benchRedis(b)
	e := engine(b)
	payload := make([]byte, 1500) // about the size of an instance's state
	for i := range payload {
		payload[i] = 'x'
	}
	for _, c := range concurrency {
		b.Run(fmt.Sprintf("lua-ceiling/c=%d", c), func(b *testing.B) {
			prefix := storagetest.Prefix()
			b.Cleanup(func() { cleanup(be.Client, prefix) })
			parallel(b, be.Client, c, func(i int) error {
				tag := fmt.Sprintf("{%s:%d}", prefix, i%16)
				return ceilingScript.Run(context.Background(), be.Client,
					[]string{tag + ":i:" + strconv.Itoa(i%4096), tag + ":timers", tag + ":outbox"}, i, payload).Err()
			})
		})
		b.Run(fmt.Sprintf("lua-empty/c=%d", c), func(b *testing.B) {
			parallel(b, be.Client, c, func(int) error {
				return emptyScript.Run(context.Background(), be.Client, nil).Err()
			})
		})
		b.Run(fmt.Sprintf("start/c=%d", c), func(b *testing.B) {
			s := storagetest.Store(b, be, storage.Config{})
			parallel(b, be.Client, c, func(i int) error {
				id := "PR-" + strconv.Itoa(i+1)
				ev := flows.Event{Kind: flows.EventStart, Key: "s" + id, Instance: id, Actor: "alice", Flow: "purchase",
					Data: map[string]string{"item": "Laptop", "amount": "500", "justification": "my old one broke down"}}
				_, err := s.Apply(context.Background(), ev, func(cur *flows.Instance) (*flows.Transition, error) { return e.Apply(cur, ev, at(i)) })
				return err
			})
		})
		b.Run(fmt.Sprintf("approve/c=%d", c), func(b *testing.B) {
			s := storagetest.Store(b, be, storage.Config{})
			b.StopTimer()
			for i := range b.N {
				id := "PR-" + strconv.Itoa(i+1)
				ev := flows.Event{Kind: flows.EventStart, Key: "s" + id, Instance: id, Actor: "alice", Flow: "purchase",
					Data: map[string]string{"item": "Laptop", "amount": "500", "justification": "my old one broke down"}}
				if _, err := s.Apply(context.Background(), ev, func(cur *flows.Instance) (*flows.Transition, error) { return e.Apply(cur, ev, at(i)) }); err != nil {
					b.Fatal(err)
				}
			}
			parallel(b, be.Client, c, func(i int) error {
				ev := flows.Event{Kind: flows.EventApprove, Key: "a", Instance: "PR-" + strconv.Itoa(i+1), Actor: "bob"}
				_, err := s.Apply(context.Background(), ev, func(cur *flows.Instance) (*flows.Transition, error) { return e.Apply(cur, ev, at(i).Add(time.Hour)) })
				return err
			})
		})
	}
}

// BenchmarkClaimTimers measures claiming due timers with few and with
// 100,000 pending (not yet due) timers: the cost follows what is due. Each
// timer is a purchase request's (its state as a start leaves it), due alone.
func BenchmarkClaimTimers(b *testing.B) {
	be := benchRedis(b)
	const due = 500
	e := engine(b)
	start := flows.Event{Kind: flows.EventStart, Key: "s", Instance: "PR-1", Actor: "alice", Flow: "purchase",
		Data: map[string]string{"item": "Laptop", "amount": "500", "justification": "my old one broke down"}}
	tr, err := e.Apply(nil, start, t0)
	if err != nil {
		b.Fatal(err)
	}
	for _, pending := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("pending=%d", pending), func(b *testing.B) {
			s := storagetest.Store(b, be, storage.Config{})
			ctx := context.Background()
			// Pending timers, all due in a year, spread over the shards.
			future := t0.AddDate(1, 0, 0)
			addTimers(b, be.Client, s, tr.Instance, pending, future, "p")
			claimed := 0
			b.ResetTimer()
			var spent time.Duration
			for i := range b.N {
				b.StopTimer()
				addTimers(b, be.Client, s, tr.Instance, due, t0, fmt.Sprintf("d%d-", i))
				b.StartTimer()
				began := time.Now()
				got, _, err := s.ClaimTimers(ctx, t0.Add(time.Second), time.Minute, due)
				spent += time.Since(began)
				if err != nil {
					b.Fatal(err)
				}
				claimed += len(got)
				for len(got) > 0 { // the rest, if a shard held more than the batch
					got, _, _ = s.ClaimTimers(ctx, t0.Add(time.Second), time.Minute, due)
					claimed += len(got)
				}
			}
			if claimed != due*b.N {
				b.Fatalf("claimed %d, want %d", claimed, due*b.N)
			}
			b.ReportMetric(float64(claimed)/spent.Seconds(), "claims/s")
		})
	}
}

// addTimers stores n instances like in, each with one timer, due at at.
func addTimers(b *testing.B, c redis.UniversalClient, s *storage.Store, in *flows.Instance, n int, at time.Time, tag string) {
	b.Helper()
	pipe := c.Pipeline()
	for i := range n {
		id := fmt.Sprintf("B%s%d", tag, i)
		in := in.Clone()
		in.ID = id
		in.Timers = []flows.Timer{{ID: "manager/1/remind/1", Kind: flows.TimerRemind, Step: "manager", Round: 1, N: 1, At: at}}
		state, err := json.Marshal(in)
		if err != nil {
			b.Fatal(err)
		}
		pipe.HSet(context.Background(), storage.InstanceKey(s, id), "v", 1, "s", state)
		pipe.ZAdd(context.Background(), storage.TimersKey(s, s.ShardOf(id)), redis.Z{Score: float64(at.UnixMilli()), Member: id})
		if i%5000 == 4999 {
			if _, err := pipe.Exec(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	}
	if _, err := pipe.Exec(context.Background()); err != nil {
		b.Fatal(err)
	}
}

// cleanup deletes the ceiling's keys (a bounded set: 4,096 hashes and a
// timer set and a stream per tag).
func cleanup(c redis.UniversalClient, prefix string) {
	ctx := context.Background()
	pipe := c.Pipeline()
	for t := range 16 {
		tag := fmt.Sprintf("{%s:%d}", prefix, t)
		pipe.Unlink(ctx, tag+":timers", tag+":outbox")
	}
	for i := range 4096 {
		pipe.Unlink(ctx, fmt.Sprintf("{%s:%d}:i:%d", prefix, i%16, i))
	}
	_, _ = pipe.Exec(ctx)
}
