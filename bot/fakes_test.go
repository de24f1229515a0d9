package bot_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/bot/bottest"
	"github.com/batonbot/baton/flows"
)

// call is one Send or Update a fake messenger was asked to make.
type call struct {
	Op       string // "send" or "update"
	Instance string
	To       string // platform id of the recipient (send)
	Thread   string // send: the reference of the card to reply under
	Ref      string // send: the reference returned; update: the card updated
	Msg      *flows.Message
}

func (c call) String() string {
	if c.Op == "send" {
		return fmt.Sprintf("send %s to %s (%s)", c.Msg.Kind, c.To, c.Instance)
	}
	return fmt.Sprintf("update %s (%s)", c.Ref, c.Instance)
}

// messenger is a recording fake bot.Messenger. Every person and channel
// is reachable (ids "U-person", "C-channel") unless unreachable says
// otherwise. hook, when set, runs before each attempt: an error it returns
// is the attempt's error, and it may block.
type messenger struct {
	platform    string
	unreachable func(flows.Recipient) bool
	hook        func(ctx context.Context, c call) error

	mu       sync.Mutex
	attempts []call
	done     []call    // successful calls, in order
	ok       chan call // each successful call, as it happens
	seq      int
}

func newMessenger(platform string) *messenger {
	return &messenger{platform: platform, ok: make(chan call, 1000)}
}

func (m *messenger) Platform() string { return m.platform }

func (m *messenger) Reach(to flows.Recipient) (bot.Address, bool) {
	if m.unreachable != nil && m.unreachable(to) {
		return bot.Address{}, false
	}
	if to.Channel != "" {
		return bot.Address{Channel: to.Channel, ID: "C-" + to.Channel}, true
	}
	return bot.Address{Person: to.Person, ID: "U-" + to.Person}, true
}

func (m *messenger) Send(ctx context.Context, to bot.Address, msg *flows.Message, thread string) (string, error) {
	c := call{Op: "send", Instance: msg.Instance, To: to.ID, Thread: thread, Msg: msg}
	if err := m.attempt(ctx, c); err != nil {
		return "", err
	}
	m.mu.Lock()
	m.seq++
	c.Ref = fmt.Sprintf("%s/%s/%d", m.platform, to.ID, m.seq)
	m.mu.Unlock()
	m.succeed(c)
	return c.Ref, nil
}

func (m *messenger) Update(ctx context.Context, ref string, msg *flows.Message) error {
	c := call{Op: "update", Instance: msg.Instance, Ref: ref, Msg: msg}
	if err := m.attempt(ctx, c); err != nil {
		return err
	}
	m.succeed(c)
	return nil
}

func (m *messenger) attempt(ctx context.Context, c call) error {
	m.mu.Lock()
	m.attempts = append(m.attempts, c)
	hook := m.hook
	m.mu.Unlock()
	if hook != nil {
		return hook(ctx, c)
	}
	return nil
}

func (m *messenger) succeed(c call) {
	m.mu.Lock()
	m.done = append(m.done, c)
	m.mu.Unlock()
	m.ok <- c
}

func (m *messenger) setHook(h func(ctx context.Context, c call) error) {
	m.mu.Lock()
	m.hook = h
	m.mu.Unlock()
}

// calls returns the successful calls so far.
func (m *messenger) calls() []call {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.done)
}

func (m *messenger) tries() []call {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.attempts)
}

// next waits for the next successful call.
func (m *messenger) next(t *testing.T) call {
	t.Helper()
	return recv(t, m.ok, "a delivery on "+m.platform)
}

// sleeps records the waits a dispatcher or webhook caller asks for and
// returns at once (or with the context's error).
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.d)
}

// syncBuffer is a log sink goroutines may write while a test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// harness is a runtime (bottest.Rig) plus what a dispatcher test looks at:
// metrics on a registry of their own, the log, the recorded waits.
type harness struct {
	*bottest.Rig
	reg     *prometheus.Registry
	metrics *bot.Metrics
	logs    *syncBuffer
	log     *slog.Logger
	sleeps  *sleeps
}

func newHarness(t *testing.T) *harness {
	return wrap(bottest.New(t))
}

func wrap(r *bottest.Rig) *harness {
	h := &harness{Rig: r, reg: prometheus.NewRegistry(), logs: &syncBuffer{}, sleeps: &sleeps{}}
	h.metrics = bot.NewMetrics(h.reg)
	h.log = slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return h
}

// dispatcher builds a dispatcher over the rig's store whose retry waits are
// recorded, not slept. cfg.Consumer defaults to "d1".
func (h *harness) dispatcher(cfg bot.DispatcherConfig, webhooks *bot.Webhooks, ms ...bot.Messenger) *bot.Dispatcher {
	if cfg.Consumer == "" {
		cfg.Consumer = "d1"
	}
	d := bot.NewDispatcher(cfg, h.Store, ms, webhooks, h.Svc.Handle, h.log, h.metrics)
	d.SetSleep(h.sleeps.sleep)
	return d
}

// dispatcherOn is dispatcher over another outbox (a wrapper of the store).
func (h *harness) dispatcherOn(outbox flows.Outbox, cfg bot.DispatcherConfig, ms ...bot.Messenger) *bot.Dispatcher {
	d := bot.NewDispatcher(cfg, outbox, ms, nil, h.Svc.Handle, h.log, h.metrics)
	d.SetSleep(h.sleeps.sleep)
	return d
}

// start starts a purchase request for requester and returns its id. An
// amount above 1000 adds a finance approval after the manager's.
func (h *harness) start(t *testing.T, key, requester string, amount int) string {
	t.Helper()
	out, err := h.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventStart, Key: key, Actor: requester, Flow: "purchase",
		Data: map[string]string{"item": "Laptop " + key, "amount": fmt.Sprint(amount), "justification": "the old one broke down"}})
	if err != nil || !out.OK {
		t.Fatalf("start %s: %+v %v", key, out, err)
	}
	return out.Instance
}

// starts starts n purchase requests by alice (keys s0, s1, …) and returns
// their ids.
func (h *harness) starts(t *testing.T, n int) []string {
	ids := make([]string, n)
	for i := range n {
		ids[i] = h.start(t, fmt.Sprint("s", i), "alice", 500)
	}
	return ids
}

func (h *harness) act(t *testing.T, kind flows.EventKind, key, actor, instance string) flows.Outcome {
	t.Helper()
	out, err := h.Svc.Handle(t.Context(), flows.Event{Kind: kind, Key: key, Actor: actor, Instance: instance})
	if err != nil || !out.OK {
		t.Fatalf("%s %s by %s: %+v %v", kind, instance, actor, out, err)
	}
	return out
}

// pending returns how many outbox entries are not acknowledged yet.
func (h *harness) pending(t *testing.T) int64 {
	t.Helper()
	n, _, err := h.Store.Pending(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (h *harness) drain(t *testing.T, d *bot.Dispatcher) int {
	t.Helper()
	n, err := d.Drain(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (h *harness) counter(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	return max(0, metricValue(t, h.reg, name, labels...))
}

// runDispatcher runs d until the returned stop is called; stop returns
// Run's error once Run has returned.
func runDispatcher(t *testing.T, d *bot.Dispatcher) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(cancel)
	return func() error {
		cancel()
		return recv(t, done, "Dispatcher.Run to return")
	}
}

func kinds(cs []call) string {
	var out []string
	for _, c := range cs {
		out = append(out, c.String())
	}
	return strings.Join(out, "; ")
}
