package bot_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/bot/bottest"
	"github.com/batonbot/baton/flows"
	"github.com/batonbot/baton/storage/storagetest"
)

// noopMessenger is a chat platform that answers at once. It hands each
// task card and outcome to the benchmark's waiting goroutine.
type noopMessenger struct {
	seq   atomic.Int64
	waits sync.Map // instance id -> chan flows.MessageKind
}

func (m *noopMessenger) Platform() string { return "noop" }

func (m *noopMessenger) Reach(to flows.Recipient) (bot.Address, bool) {
	return bot.Address{Person: to.Person, Channel: to.Channel, ID: to.Person + to.Channel}, true
}

func (m *noopMessenger) Send(_ context.Context, _ bot.Address, msg *flows.Message, _ string) (string, error) {
	if msg.Kind == flows.MsgTask || msg.Kind == flows.MsgOutcome {
		m.wait(msg.Instance) <- msg.Kind
	}
	return strconv.FormatInt(m.seq.Add(1), 10), nil
}

func (m *noopMessenger) Update(context.Context, string, *flows.Message) error { return nil }

func (m *noopMessenger) wait(instance string) chan flows.MessageKind {
	ch, ok := m.waits.Load(instance)
	if !ok { // the harness's own cost is kept small: no channel made per look-up
		ch, _ = m.waits.LoadOrStore(instance, make(chan flows.MessageKind, 4))
	}
	return ch.(chan flows.MessageKind)
}

// BenchmarkCompleteApprovals measures whole approvals in one process, as a
// user sees them: Alice starts a purchase request, Bob's task card is
// delivered through the outbox, Bob approves, Alice's outcome is delivered.
// One op is one complete approval; 64 run at once. Run it against a real
// Redis (BATON_TEST_REDIS_URL); the embedded store is a correctness stand-in.
func BenchmarkCompleteApprovals(b *testing.B) {
	for _, c := range []int{1, 64} {
		b.Run(fmt.Sprintf("c=%d", c), func(b *testing.B) { benchApprovals(b, c) })
	}
}

func benchApprovals(b *testing.B, c int) {
	r := bottest.New(b)
	m := &noopMessenger{}
	d := bot.NewDispatcher(bot.DispatcherConfig{}, r.Store, []bot.Messenger{m}, nil, r.Svc.Handle, r.Log, nil)
	r.Svc.OnCommit(d.Wake)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-ran; err != nil && ctx.Err() == nil {
			b.Error(err)
		}
	}()

	// Waits for the next card of instance id, failing after a generous bound
	// so a lost delivery fails the benchmark instead of hanging it. The
	// outcome is the instance's last card: its channel goes then, so the
	// harness holds no more than the requests under way.
	lost, stop := context.WithTimeout(ctx, 10*time.Minute)
	defer stop()
	await := func(id string, want flows.MessageKind) error {
		select {
		case got := <-m.wait(id):
			if got != want {
				return fmt.Errorf("%s: got a %s card, want %s", id, got, want)
			}
			if got == flows.MsgOutcome {
				m.waits.Delete(id)
			}
			return nil
		case <-lost.Done():
			return fmt.Errorf("%s: no %s card, and the run is 10 min old", id, want)
		}
	}
	latencies := make([]time.Duration, b.N)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, c)
	var rdb redis.UniversalClient
	if be, ok := storagetest.Real(b); ok {
		rdb = be.Client
	}
	b.ResetTimer()
	began := time.Now()
	cpu := storagetest.CPU(b, rdb)
	for range c {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				t := time.Now()
				err := approveOne(ctx, r.Svc, i, await)
				latencies[i] = time.Since(t)
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(began)
	b.StopTimer()
	cpu()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	slices.Sort(latencies)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "approvals/s")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
}

// approveOne walks one purchase request from start to delivered outcome.
func approveOne(ctx context.Context, svc *bot.Service, i int, await func(string, flows.MessageKind) error) error {
	out, err := svc.Handle(ctx, flows.Event{Kind: flows.EventStart, Key: "start-" + strconv.Itoa(i), Actor: "alice", Flow: "purchase",
		Data: map[string]string{"item": "Laptop", "amount": "500", "justification": "my old one broke down"}})
	if err != nil || !out.OK {
		return fmt.Errorf("start: %v %+v", err, out)
	}
	id := out.Instance
	if err := await(id, flows.MsgTask); err != nil {
		return err
	}
	out, err = svc.Handle(ctx, flows.Event{Kind: flows.EventApprove, Key: "approve-" + id, Instance: id, Actor: "bob",
		Step: "manager", Round: 1})
	if err != nil || !out.OK {
		return fmt.Errorf("approve %s: %v %+v", id, err, out)
	}
	return await(id, flows.MsgOutcome)
}
