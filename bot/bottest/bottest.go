// Package bottest assembles Baton's runtime for adapter tests: the example
// flows and demo directory, a store on the test Redis (real when
// BATON_TEST_REDIS_URL is set, embedded otherwise) under its own prefix, a
// Service on a fake clock, the timer loop and a dispatcher. Tests drive time
// with Advance and delivery with Drain: no sleeps.
//
// It is a test helper: production code never imports it.
package bottest

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
	"github.com/batonbot/baton/manifests"
	"github.com/batonbot/baton/storage"
	"github.com/batonbot/baton/storage/storagetest"
)

// T0 is the fake clock's start: Thursday 26 November 2026, 09:00 UTC.
var T0 = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

// Rig is an assembled runtime.
type Rig struct {
	t          testing.TB
	Engine     *flows.Engine
	Store      *storage.Store
	Svc        *bot.Service
	Timers     *bot.Timers
	Clock      *clockwork.FakeClock
	Log        *slog.Logger
	messengers []bot.Messenger
	dispatcher *bot.Dispatcher
}

// New assembles a runtime with the built-in flows and directory, admins
// "olivia".
func New(t testing.TB) *Rig {
	t.Helper()
	defs, dir := Builtins(t)
	return NewWith(t, defs, dir, []string{"olivia"})
}

// Builtins returns the built-in flows and demo directory, for a test that
// changes them before NewWith.
func Builtins(t testing.TB) ([]*flows.Definition, *flows.Directory) {
	t.Helper()
	defs, err := flows.LoadDefinitions(manifests.Flows, "flows")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := flows.ParseDirectory("directory.yaml", manifests.Directory)
	if err != nil {
		t.Fatal(err)
	}
	return defs, dir
}

// NewWith assembles a runtime over the given flows and directory.
func NewWith(t testing.TB, defs []*flows.Definition, dir *flows.Directory, admins []string) *Rig {
	t.Helper()
	engine, err := flows.NewEngine(defs, dir, admins)
	if err != nil {
		t.Fatal(err)
	}
	store := storagetest.Store(t, storagetest.Default(t), storage.Config{Shards: 4})
	clock := clockwork.NewFakeClockAt(T0)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := &Rig{t: t, Engine: engine, Store: store, Clock: clock, Log: log}
	r.Svc = bot.NewService(engine, store, clock, log, nil)
	r.Timers = bot.NewTimers(bot.TimerConfig{}, store, r.Svc.Apply, clock, log, nil)
	return r
}

// Use adds a delivery platform (before the first Drain).
func (r *Rig) Use(m bot.Messenger) { r.messengers = append(r.messengers, m) }

// Dispatcher returns the dispatcher over the platforms added with Use.
func (r *Rig) Dispatcher() *bot.Dispatcher {
	if r.dispatcher == nil {
		r.dispatcher = bot.NewDispatcher(bot.DispatcherConfig{Consumer: "test", Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond},
			r.Store, r.messengers, nil, r.Svc.Handle, r.Log, nil)
	}
	return r.dispatcher
}

// Drain delivers everything waiting in the outbox and returns how many
// entries it delivered.
func (r *Rig) Drain() int {
	r.t.Helper()
	n, err := r.Dispatcher().Drain(r.t.Context())
	if err != nil {
		r.t.Fatal(err)
	}
	return n
}

// Advance moves the clock by d, fires the timers that became due, delivers
// what they caused, and returns how many timers fired.
func (r *Rig) Advance(d time.Duration) int {
	r.t.Helper()
	r.Clock.Advance(d)
	n, err := r.Timers.Tick(r.t.Context())
	if err != nil {
		r.t.Fatal(err)
	}
	r.Drain()
	return n
}
