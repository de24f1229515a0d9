package bot

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/jonboulle/clockwork"

	"github.com/batonbot/baton/flows"
)

// ScheduleConfig tunes scheduled starts. Zero values mean the defaults.
type ScheduleConfig struct {
	// ClaimTTL is how long a firing's claim is held (default 25 h): longer
	// than any clock skew between replicas, and than the longest catch_up,
	// so a replica starting within a firing's catch-up finds it claimed if
	// it was made. The claim's name holds the firing time, so it never
	// blocks the next firing.
	ClaimTTL time.Duration
	// OnFire, if set, is told the result of every firing on this replica
	// (tests wait on it; nil: nothing).
	OnFire func(Firing)
}

// Firing is what one replica did at one time of one schedule.
type Firing struct {
	Flow     string
	Schedule int       // index in the flow's Schedules
	At       time.Time // the scheduled time (not when the job ran)
	Claimed  bool      // this replica won the claim and sent the start
	Instance string    // the instance started (or found already started)
	Err      error
}

// Schedules starts flows on their schedules: one gocron cron job per
// schedule, in the schedule's timezone. Every replica runs the jobs; each
// firing is claimed through the Locker under a name made of the flow,
// schedule and scheduled time, and the start's idempotency key is that same
// name, so even a claim lost to a Redis failover cannot start twice.
type Schedules struct {
	cfg     ScheduleConfig
	defs    []*flows.Definition
	locker  Locker
	handle  func(context.Context, flows.Event) (flows.Outcome, error)
	clock   clockwork.Clock
	log     *slog.Logger
	metrics *Metrics
}

// NewSchedules builds the scheduled starts of defs. handle is the
// Service's Handle; clock nil means the real clock.
func NewSchedules(cfg ScheduleConfig, defs []*flows.Definition, locker Locker, handle func(context.Context, flows.Event) (flows.Outcome, error),
	clock clockwork.Clock, log *slog.Logger, metrics *Metrics) *Schedules {
	cfg.ClaimTTL = cmp.Or(cfg.ClaimTTL, flows.MaxCatchUp+time.Hour)
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	return &Schedules{cfg: cfg, defs: defs, locker: locker, handle: handle, clock: clock, log: log, metrics: metrics}
}

// Fire runs schedule i of def for the latest scheduled time at or before
// now: claim it, then send the start. It is safe to call from several
// replicas at once; one of them starts the instance.
func (s *Schedules) Fire(ctx context.Context, def *flows.Definition, i int) Firing {
	sch := &def.Schedules[i]
	f := Firing{Flow: def.ID, Schedule: i, At: sch.Last(s.clock.Now())}
	if f.At.IsZero() {
		f.Err = fmt.Errorf("schedule %s[%d]: no firing time at or before %s", def.ID, i, s.clock.Now().Format(time.RFC3339))
		return f
	}
	key := flows.ScheduleKey(def.ID, sch, f.At)
	ok, err := s.locker.Claim(ctx, key, s.cfg.ClaimTTL)
	if err != nil {
		f.Err = fmt.Errorf("claim %s: %w", key, err)
		return f
	}
	if !ok {
		return f // another replica has it
	}
	f.Claimed = true
	out, err := s.handle(ctx, flows.Event{Kind: flows.EventStart, Key: key, Flow: def.ID, Actor: sch.Requester,
		Platform: "schedule", Data: maps.Clone(sch.Data)})
	f.Instance = out.Instance
	if err != nil {
		f.Err = fmt.Errorf("scheduled start of %s at %s: %w", def.ID, f.At.Format(time.RFC3339), err)
	}
	return f
}

// Run schedules every flow's schedules and fires them until ctx is
// cancelled; then it waits for running firings to finish (up to gocron's
// stop timeout, 10 s; one still running then is logged and left).
func (s *Schedules) Run(ctx context.Context) error {
	sched, err := gocron.NewScheduler(gocron.WithClock(s.clock), gocron.WithLocation(time.UTC), gocron.WithLogger(gocronLogger{s.log}))
	if err != nil {
		return fmt.Errorf("schedule scheduler: %w", err)
	}
	n := 0
	for _, def := range s.defs {
		for i := range def.Schedules {
			_, err := sched.NewJob(gocron.CronJob(def.Schedules[i].Spec(), false),
				gocron.NewTask(func() { s.fired(s.Fire(context.WithoutCancel(ctx), def, i)) }),
				// No singleton mode: it would skip a firing while the previous
				// one is still running; each firing has its own claim and key.
				gocron.WithName(fmt.Sprintf("schedule %s[%d]", def.ID, i)))
			if err != nil {
				_ = sched.Shutdown()
				return fmt.Errorf("schedule %s[%d] %q: %w", def.ID, i, def.Schedules[i].Spec(), err)
			}
			n++
		}
	}
	if n > 0 {
		s.log.Info("scheduled starts", "schedules", n)
	}
	s.catchUp(ctx)
	sched.Start()
	<-ctx.Done()
	stopScheduler(sched, s.log, "a scheduled start under way: if its request did not start, start it by hand")
	return nil
}

// catchUp makes each schedule's latest firing if it was missed, no longer
// ago than the schedule's CatchUp: no replica was up at that time. If one
// was, the firing's claim or, after the claim's expiry, the start's
// idempotency key (both the firing's name) makes this a no-op.
func (s *Schedules) catchUp(ctx context.Context) {
	now := s.clock.Now()
	for _, def := range s.defs {
		for i, sch := range def.Schedules {
			if last := sch.Last(now); !last.IsZero() && sch.CatchUp > 0 && now.Sub(last) <= sch.CatchUp {
				if ctx.Err() != nil { // shutting down: the next replica to start catches up
					return
				}
				// A replica of an earlier version named the firing by the
				// schedule's place; if it made it, its claim is there.
				if ok, err := s.locker.Claim(ctx, flows.LegacyScheduleKey(def.ID, i, last), s.cfg.ClaimTTL); err == nil && !ok {
					continue
				}
				f := s.Fire(context.WithoutCancel(ctx), def, i)
				if f.Claimed && f.Err == nil {
					s.log.Info("scheduled start caught up", "flow", def.ID, "schedule", i, "at", f.At, "late", now.Sub(f.At).Round(time.Second))
				}
				s.fired(f)
			}
		}
	}
}

func (s *Schedules) fired(f Firing) {
	switch {
	case f.Err != nil:
		s.metrics.Failures.WithLabelValues("schedule").Inc()
		s.log.Error("scheduled start failed", "flow", f.Flow, "schedule", f.Schedule, "at", f.At, "err", f.Err)
	case f.Claimed:
		s.log.Info("scheduled start", "flow", f.Flow, "schedule", f.Schedule, "at", f.At, "instance", f.Instance)
	}
	if s.cfg.OnFire != nil {
		s.cfg.OnFire(f)
	}
}
