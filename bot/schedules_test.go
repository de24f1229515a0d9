package bot_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/bot/bottest"
	"github.com/batonbot/baton/flows"
)

const scheduledFlow = `id: weekly
name: Weekly check
owner: olivia
form:
  - {name: area, required: true}
schedule:
  cron: "0 9 * * MON"
  timezone: Europe/Paris
  requester: olivia
  data: {area: servers}
steps:
  - id: check
    type: task
    assignees: ["person:bob"]
`

// grantAll is a Locker that lost its memory (a Redis failover): every
// claim succeeds.
type grantAll struct{}

func (grantAll) Claim(context.Context, string, time.Duration) (bool, error) { return true, nil }
func (grantAll) Release(context.Context, string) error                      { return nil }

// TestScheduledStartsOncePerFiring: two replicas run the same schedule on
// one store; each firing starts exactly one instance, with the schedule's
// requester and data. With a locker that grants every claim, the start's
// idempotency key still keeps it to one.
func TestScheduledStartsOncePerFiring(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		locker func(r *bottest.Rig) bot.Locker
		claims int // claims won per firing, over both replicas
	}{
		{"store locker", func(r *bottest.Rig) bot.Locker { return r.Store }, 1},
		{"lost lock", func(*bottest.Rig) bot.Locker { return grantAll{} }, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			def, err := flows.ParseDefinition("weekly.yaml", []byte(scheduledFlow))
			if err != nil {
				t.Fatal(err)
			}
			r := bottest.NewWith(t, []*flows.Definition{def}, nil, nil)
			ctx, cancel := context.WithCancel(t.Context())
			type firing struct {
				replica int
				bot.Firing
			}
			fired := make(chan firing, 16)
			onFire := func(replica int) func(bot.Firing) {
				return func(f bot.Firing) {
					// gocron's repeats (below) may outnumber the buffer once the
					// test stops reading: a firing then must not block
					// shutdown, which waits for running jobs.
					select {
					case fired <- firing{replica, f}:
					case <-ctx.Done():
					}
				}
			}
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			// Replica B has its own Service over the same store and engine.
			svcB := bot.NewService(r.Engine, r.Store, r.Clock, log, nil)
			replicas := []*bot.Schedules{
				bot.NewSchedules(bot.ScheduleConfig{OnFire: onFire(0)}, []*flows.Definition{def}, tc.locker(r), r.Svc.Handle, r.Clock, log, nil),
				bot.NewSchedules(bot.ScheduleConfig{OnFire: onFire(1)}, []*flows.Definition{def}, tc.locker(r), svcB.Handle, r.Clock, log, nil),
			}
			var wg sync.WaitGroup
			for _, s := range replicas {
				wg.Go(func() {
					if err := s.Run(ctx); err != nil {
						t.Error(err)
					}
				})
			}
			t.Cleanup(func() { cancel(); wg.Wait() })

			// T0 is Thursday 26 November 2026, 09:00 UTC; the next Monday
			// 09:00 in Paris (UTC+1 in winter) is 30 November, 08:00 UTC.
			first := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
			var ids []string
			for week := range 3 {
				if err := r.Clock.BlockUntilContext(ctx, 2); err != nil { // both jobs waiting on the clock
					t.Fatal(err)
				}
				want := first.AddDate(0, 0, 7*week)
				r.Clock.Advance(want.Sub(r.Clock.Now()))
				claims, instance := 0, ""
				seen := map[int]bool{}
				for len(seen) < 2 {
					var f firing
					select {
					case f = <-fired:
					case <-time.After(10 * time.Second): // a guard against hanging, not a wait
						t.Fatalf("week %d: a replica did not fire", week)
					}
					if f.Err != nil {
						t.Fatalf("firing: %v", f.Err)
					}
					if f.At.Before(want) {
						// gocron on a fake clock may run a job a second time for
						// the same moment; that repeat must start nothing new.
						if f.Claimed && !slices.Contains(ids, f.Instance) {
							t.Errorf("a repeated firing at %v started %s", f.At, f.Instance)
						}
						continue
					}
					if !f.At.Equal(want) {
						t.Errorf("firing at %v, want %v", f.At, want)
					}
					if seen[f.replica] { // the same kind of repeat, within the week
						if f.Claimed && f.Instance != instance {
							t.Errorf("week %d: a repeated firing started %s besides %s", week, f.Instance, instance)
						}
						continue
					}
					seen[f.replica] = true
					if f.Claimed {
						claims++
						if instance != "" && f.Instance != instance {
							t.Errorf("week %d: two instances started: %s and %s", week, instance, f.Instance)
						}
						instance = f.Instance
					}
				}
				if claims != tc.claims {
					t.Errorf("week %d: %d replicas claimed the firing, want %d", week, claims, tc.claims)
				}
				ids = append(ids, instance)
			}
			ins, err := r.Store.List(t.Context(), flows.Query{Flow: "weekly"})
			if err != nil {
				t.Fatal(err)
			}
			if len(ins) != 3 {
				t.Fatalf("%d instances after 3 firings, want 3: %v", len(ins), ids)
			}
			for _, in := range ins {
				if in.Requester != "olivia" || in.Data["area"] != "servers" || in.Status != flows.StatusRunning {
					t.Errorf("%s: requester %q data %v status %s", in.ID, in.Requester, in.Data, in.Status)
				}
			}
		})
	}
}

// TestMissedFiringsAreCaughtUp: a replica starting after a firing that no
// replica made makes it, if it is no older than the schedule's catch_up
// (default 1 h); a second replica starting later makes nothing again, even
// with a locker that lost its claims.
func TestMissedFiringsAreCaughtUp(t *testing.T) {
	t.Parallel()
	// T0 is Thursday 26 November 2026, 09:00 UTC.
	const flow = `id: daily
name: Daily check
owner: olivia
form:
  - {name: area, required: true}
schedule:
  - {cron: "30 8 * * *", requester: olivia, data: {area: a}}                 # 30 min ago: made
  - {cron: "0 7 * * *", requester: olivia, data: {area: b}}                  # 2 h ago: too late
  - {cron: "0 7 * * *", requester: olivia, data: {area: c}, catch_up: 3h}    # 2 h ago, within 3 h: made
  - {cron: "45 8 * * *", requester: olivia, data: {area: d}, catch_up: off}  # never caught up
steps:
  - id: check
    type: task
    assignees: ["person:bob"]
`
	def, err := flows.ParseDefinition("daily.yaml", []byte(flow))
	if err != nil {
		t.Fatal(err)
	}
	r := bottest.NewWith(t, []*flows.Definition{def}, nil, nil)
	replicaOf := func(defs []*flows.Definition, locker bot.Locker) []bot.Firing {
		return startReplica(t, r, defs, locker)
	}
	replica := func(locker bot.Locker) []bot.Firing { return replicaOf([]*flows.Definition{def}, locker) }

	fired := replica(r.Store)
	var schedules []int
	for _, f := range fired {
		if f.Err != nil || !f.Claimed || f.Instance == "" {
			t.Errorf("firing %+v: want a claimed start", f)
		}
		schedules = append(schedules, f.Schedule)
	}
	if !slices.Equal(schedules, []int{0, 2}) {
		t.Fatalf("caught up schedules %v, want [0 2]", schedules)
	}
	if want := time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC); !fired[1].At.Equal(want) {
		t.Errorf("schedule 2 fired for %v, want %v", fired[1].At, want)
	}

	// A new version of the flow with a schedule added first: the others
	// move down the list but keep their names, so none is made again.
	moved, err := flows.ParseDefinition("daily.yaml", []byte(strings.Replace(flow, "schedule:\n",
		"schedule:\n  - {cron: \"0 6 * * *\", requester: olivia, data: {area: z}, catch_up: off}\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if len(moved.Schedules) != 5 {
		t.Fatalf("%d schedules", len(moved.Schedules))
	}
	defs := []*flows.Definition{moved}
	for _, f := range replicaOf(defs, r.Store) {
		if f.Err != nil || f.Claimed {
			t.Errorf("after schedules moved: %+v, want no claim", f)
		}
	}

	r.Clock.Advance(10 * time.Minute)
	for _, f := range replica(r.Store) {
		if f.Err != nil || f.Claimed {
			t.Errorf("second replica: %+v, want no claim (the first made it)", f)
		}
	}
	for _, f := range replica(grantAll{}) {
		if f.Err != nil || !slices.ContainsFunc(fired, func(g bot.Firing) bool { return g.Instance == f.Instance }) {
			t.Errorf("replica with a lost lock: %+v, want the instance already started", f)
		}
	}
	ins, err := r.Store.List(t.Context(), flows.Query{Flow: "daily"})
	if err != nil {
		t.Fatal(err)
	}
	areas := []string{}
	for _, in := range ins {
		areas = append(areas, fmt.Sprint(in.Data["area"]))
	}
	slices.Sort(areas)
	if !slices.Equal(areas, []string{"a", "c"}) {
		t.Errorf("instances for areas %v, want [a c]", areas)
	}
}

// TestCatchUpRespectsAnEarlierVersionsClaim: a firing an earlier version
// made (claimed under its old name, by the schedule's place) is not caught
// up again under the new name.
func TestCatchUpRespectsAnEarlierVersionsClaim(t *testing.T) {
	t.Parallel()
	def, err := flows.ParseDefinition("d.yaml", []byte(`id: daily
name: Daily check
owner: olivia
form:
  - {name: area, required: true}
schedule:
  - {cron: "30 8 * * *", requester: olivia, data: {area: a}}
steps:
  - id: check
    type: task
    assignees: ["person:bob"]
`))
	if err != nil {
		t.Fatal(err)
	}
	r := bottest.NewWith(t, []*flows.Definition{def}, nil, nil)
	at := time.Date(2026, 11, 26, 8, 30, 0, 0, time.UTC) // 30 min before T0
	if ok, err := r.Store.Claim(t.Context(), flows.LegacyScheduleKey("daily", 0, at), time.Hour); err != nil || !ok {
		t.Fatalf("claim %v %v", ok, err)
	}
	fired := startReplica(t, r, []*flows.Definition{def}, r.Store)
	if len(fired) != 0 {
		t.Errorf("fired %+v, want nothing: an earlier version made it", fired)
	}
}

// startReplica runs a Schedules of defs on r until its jobs wait on the
// clock (its catch-up is done by then), stops it, and returns what it fired.
func startReplica(t *testing.T, r *bottest.Rig, defs []*flows.Definition, locker bot.Locker) []bot.Firing {
	t.Helper()
	var mu sync.Mutex
	var fired []bot.Firing
	s := bot.NewSchedules(bot.ScheduleConfig{OnFire: func(f bot.Firing) { mu.Lock(); fired = append(fired, f); mu.Unlock() }},
		defs, locker, r.Svc.Handle, r.Clock, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	if err := r.Clock.BlockUntilContext(ctx, len(defs[0].Schedules)); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return fired
}
