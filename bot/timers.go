package bot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/jonboulle/clockwork"

	"github.com/batonbot/baton/flows"
)

// handBackAfter is when timers of a flow this replica does not define are
// claimed again (by any replica), at most: soon, for a replica that defines
// it to fire them, and not at once, so that a flow no replica defines any
// more is not tried again every tick.
const handBackAfter = 5 * time.Second

// TimerConfig tunes the timer loop. Zero values mean the defaults.
type TimerConfig struct {
	Interval    time.Duration // how often to look for due timers (default 1 s)
	Lease       time.Duration // how long a claim is held before another replica may retake it (default 1 min)
	Batch       int           // instances whose due timers are claimed at once per shard (default 500)
	Concurrency int           // timer events handled at once (default 16)
	// Drain is how long, on shutdown, the tick under way may go on firing
	// what it claimed before it is cut short (default 20 s, as the HTTP
	// server and the dispatcher).
	Drain time.Duration
}

// Timers fires due reminders, escalations and timeouts. The timers
// themselves live in Redis (each instance's state, and a sorted set of
// instances scored by their earliest timer); a gocron job
// only ticks the claim loop, so several replicas fire each timer once and a
// restart loses nothing.
type Timers struct {
	cfg     TimerConfig
	queue   flows.TimerQueue
	handle  func(context.Context, flows.Event) (flows.Outcome, Result, error)
	clock   clockwork.Clock
	log     *slog.Logger
	metrics *Metrics
}

// NewTimers builds the timer loop. handle is the Service's Apply.
func NewTimers(cfg TimerConfig, queue flows.TimerQueue, handle func(context.Context, flows.Event) (flows.Outcome, Result, error),
	clock clockwork.Clock, log *slog.Logger, metrics *Metrics) *Timers {
	cfg.Interval = cmp.Or(cfg.Interval, time.Second)
	cfg.Lease = cmp.Or(cfg.Lease, time.Minute)
	cfg.Batch = cmp.Or(cfg.Batch, 500)
	cfg.Concurrency = cmp.Or(cfg.Concurrency, 16)
	cfg.Drain = cmp.Or(cfg.Drain, 20*time.Second)
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	return &Timers{cfg: cfg, queue: queue, handle: handle, clock: clock, log: log, metrics: metrics}
}

// Tick claims every timer due now and fires it, returning how many fired
// (not counting a timer found fired already, or with nothing left to do).
// A timer whose event fails fires again later, when its instance's lease
// runs out; the instance's later timers wait for it (they fire in order).
func (t *Timers) Tick(ctx context.Context) (int, error) { return t.tick(ctx, ctx) }

// tick is Tick that claims no more timers once stop ends (the shutdown),
// firing what it claimed until ctx ends (the drain timeout): what it
// claimed and did not fire fires after its lease.
func (t *Timers) tick(ctx, stop context.Context) (int, error) {
	var fired atomic.Int64
	for {
		now := t.clock.Now()
		due, more, err := t.queue.ClaimTimers(ctx, now, t.cfg.Lease, t.cfg.Batch)
		if err != nil {
			t.metrics.Failures.WithLabelValues("timers").Inc()
			if len(due) == 0 {
				return int(fired.Load()), fmt.Errorf("claim timers: %w", err)
			}
			// Fire what was claimed; the rest is claimed again after its lease.
			t.log.Error("claim timers: some could not be claimed; they are tried again after their lease", "err", err)
		}
		if len(due) == 0 && !more {
			return int(fired.Load()), nil
		}
		// One instance's timers fire in order, earliest first, one after
		// the other: caught up after a pause, its escalation ladder climbs
		// rung by rung (a rung that reassigns to the manager applied before
		// the one notifying them would leave them never told).
		byInstance := map[string][]flows.DueTimer{}
		var order []string
		for _, d := range due {
			if _, ok := byInstance[d.Instance]; !ok {
				order = append(order, d.Instance)
			}
			byInstance[d.Instance] = append(byInstance[d.Instance], d)
		}
		sem := make(chan struct{}, t.cfg.Concurrency)
		var wg sync.WaitGroup
		for _, id := range order {
			ts := byInstance[id]
			slices.SortStableFunc(ts, func(a, b flows.DueTimer) int { return a.Due.Compare(b.Due) })
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				for _, d := range ts {
					if ctx.Err() != nil || !t.fire(ctx, d, now, &fired) {
						return // the rest, after it: with it, after the lease
					}
				}
			})
		}
		wg.Wait()
		if !more || stop.Err() != nil {
			return int(fired.Load()), ctx.Err()
		}
	}
}

// fire sends due timer d's event, and reports whether it was handled.
func (t *Timers) fire(ctx context.Context, d flows.DueTimer, now time.Time, fired *atomic.Int64) bool {
	ev := flows.Event{Kind: flows.EventTimer, Key: "timer:" + d.Timer, Instance: d.Instance, Actor: flows.System, Timer: d.Timer}
	_, res, err := t.handle(ctx, ev)
	if errors.Is(err, flows.ErrFlowUndefined) && now.Sub(d.Due) < t.cfg.Lease {
		// Another replica may define the flow (a rolling upgrade adding
		// it, or replicas given different flows): handed back soon, not
		// held for the lease (claimed again at once, it would be held
		// lease after lease while others could fire it). Once a lease
		// late, no replica is taken to define it (its file was removed):
		// held for the lease, as any failure.
		t.metrics.TimersFired.WithLabelValues(string(ResultError)).Inc()
		back := now.Add(min(t.cfg.Lease, handBackAfter))
		if herr := t.queue.ReleaseTimers(ctx, d, back); herr != nil {
			t.log.Error("timer failed; it fires again after its lease", "instance", d.Instance, "timer", d.Timer, "err", errors.Join(err, herr))
			return false
		}
		t.log.Warn("timer handed back: this replica does not define its flow (replicas with different flows, or a flow removed)",
			"instance", d.Instance, "timer", d.Timer, "again_in", back.Sub(now), "err", err)
		return false
	}
	if err != nil && ctx.Err() != nil {
		t.metrics.TimersFired.WithLabelValues(string(ResultError)).Inc()
		t.log.Warn("shutdown: timer cut short; it fires again after its lease", "instance", d.Instance, "timer", d.Timer, "lease", t.cfg.Lease, "err", err)
		return false
	}
	if err != nil {
		t.metrics.TimersFired.WithLabelValues(string(ResultError)).Inc()
		t.log.Error("timer failed; it fires again after its lease", "instance", d.Instance, "timer", d.Timer, "err", err)
		return false
	}
	t.metrics.TimersFired.WithLabelValues(string(res)).Inc()
	if res == ResultOK {
		fired.Add(1)
		t.metrics.TimerLag.Observe(max(0, now.Sub(d.Due)).Seconds())
	}
	return true
}

// Run ticks every Interval with a gocron job (singleton: a slow tick is
// never overlapped by the next) until ctx is cancelled. Then it starts no
// tick, the tick under way claims no more timers, and what it claimed is
// fired for up to Drain; past that (Redis hung, say) it is cut short: the
// timers it claimed and did not fire stay in Redis and fire after their
// lease, on another replica or this one restarted. Run returns nil then: a
// shutdown, however short it cut the work, loses nothing.
func (t *Timers) Run(ctx context.Context) error {
	// Run waits for the tick itself, bounded by Drain: gocron's own wait
	// (which spins) is only for a tick that would not stop once cut short.
	s, err := gocron.NewScheduler(gocron.WithClock(t.clock), gocron.WithLocation(time.UTC), gocron.WithLogger(gocronLogger{t.log}),
		gocron.WithStopTimeout(time.Second))
	if err != nil {
		return fmt.Errorf("timer scheduler: %w", err)
	}
	// A tick outlives ctx, to fire what it claimed, until the drain cuts it.
	work, cut := context.WithCancel(context.WithoutCancel(ctx))
	defer cut()
	var mu sync.Mutex
	stopping := false
	var ticking chan struct{} // closed when the last tick started returns
	_, err = s.NewJob(gocron.DurationJob(t.cfg.Interval), gocron.NewTask(func() {
		mu.Lock()
		if stopping {
			mu.Unlock()
			return
		}
		done := make(chan struct{})
		ticking = done
		mu.Unlock()
		defer close(done)
		_, err := t.tick(work, ctx)
		switch {
		case err == nil || work.Err() != nil: // cut short: Run says so
		case ctx.Err() == nil:
			t.log.Error("timer tick", "err", err)
		default:
			t.log.Warn("shutdown: the last timer tick failed; the timers it claimed fire again after their lease", "lease", t.cfg.Lease, "err", err)
		}
	}), gocron.WithName("baton-timers"), gocron.WithSingletonMode(gocron.LimitModeReschedule))
	if err != nil {
		return fmt.Errorf("timer job: %w", err)
	}
	s.Start()
	<-ctx.Done()
	mu.Lock()
	stopping = true
	done := ticking
	mu.Unlock()
	if done != nil {
		drain := time.NewTimer(t.cfg.Drain)
		defer drain.Stop()
		select {
		case <-done:
		case <-drain.C:
			t.log.Warn("shutdown: the timer tick under way is cut short after the drain timeout; nothing is lost: the timers it claimed and did not fire stay in Redis and fire after their lease",
				"timeout", t.cfg.Drain, "lease", t.cfg.Lease)
			cut()
			stopped := time.NewTimer(cutTimeout)
			defer stopped.Stop()
			select {
			case <-done:
			case <-stopped.C:
				t.log.Warn("shutdown: the timer tick did not stop once cut short; left to the exit", "waited", cutTimeout)
			}
		}
	}
	stopScheduler(s, t.log, "timer tick")
	return nil
}

// cutTimeout bounds the wait for work cut short by the shutdown to stop: a
// Redis call under way ends within its read timeout (3 s by default).
const cutTimeout = 5 * time.Second

// stopScheduler shuts a gocron scheduler down at the end of a Run. A job
// still running after gocron's stop timeout (Redis hung, say) is left to
// the process's exit: it is logged, not returned, for the shutdown asked
// for has happened (Baton exits 0 on SIGTERM).
func stopScheduler(s gocron.Scheduler, log *slog.Logger, what string) {
	if err := s.Shutdown(); err != nil {
		log.Warn("shutdown: left unfinished", "what", what, "err", err)
	}
}

// gocronLogger adapts slog to gocron's logger. gocron's own messages start
// "gocron: "; those that do not get it.
type gocronLogger struct{ l *slog.Logger }

func gocronMsg(msg string) string {
	if strings.HasPrefix(msg, "gocron: ") {
		return msg
	}
	return "gocron: " + msg
}

func (g gocronLogger) Debug(msg string, args ...any) { g.l.Debug(gocronMsg(msg), args...) }
func (g gocronLogger) Info(msg string, args ...any)  { g.l.Debug(gocronMsg(msg), args...) }
func (g gocronLogger) Warn(msg string, args ...any)  { g.l.Warn(gocronMsg(msg), args...) }
func (g gocronLogger) Error(msg string, args ...any) { g.l.Error(gocronMsg(msg), args...) }
