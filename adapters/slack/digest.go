package slack

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-co-op/gocron/v2"

	"github.com/batonbot/baton/flows"
)

// The daily digest: on working days at DigestAt, in each reviewer's own
// timezone, a DM listing what waits on them (with its buttons). Working days
// are the directory's working_hours days but its holidays (Monday to
// Friday without them). gocron runs
// one calendar job per timezone; each person's digest for a day is claimed
// through the Locker, so with several replicas it is sent once.

// digestClaim is how long a person's digest claim for a day is held:
// longer than any clock skew, shorter than a day.
const digestClaim = 20 * time.Hour

// startDigests schedules the digests; stop ends the schedule. It returns
// nil, nil when digests are off.
func (a *Adapter) startDigests(ctx context.Context) (stop func(), err error) {
	hour, minute, _ := a.cfg.digestTime()
	if hour < 0 {
		return nil, nil
	}
	zones := a.digestZones(ctx)
	if len(zones) == 0 {
		a.log.Info("slack daily digests off: nobody in the directory has a Slack id")
		return nil, nil
	}
	s, err := gocron.NewScheduler(gocron.WithClock(a.clock), gocron.WithLocation(time.UTC))
	if err != nil {
		return nil, fmt.Errorf("digest scheduler: %w", err)
	}
	days := a.digestDays()
	for _, zone := range slices.Sorted(maps.Keys(zones)) {
		people := zones[zone]
		_, err := s.NewJob(gocron.CronJob(fmt.Sprintf("CRON_TZ=%s %d %d * * %s", zone, minute, hour, days), false),
			gocron.NewTask(func(ctx context.Context) { a.digestZone(ctx, zone, people) }),
			gocron.WithName("slack-digest "+zone), gocron.WithSingletonMode(gocron.LimitModeReschedule), gocron.WithContext(ctx))
		if err != nil {
			_ = s.Shutdown()
			return nil, fmt.Errorf("digest for %s: %w", zone, err)
		}
	}
	s.Start()
	a.log.Info("slack daily digests scheduled", "at", fmt.Sprintf("%02d:%02d", hour, minute), "timezones", len(zones))
	return func() { _ = s.Shutdown() }, nil
}

// digestDays is the day-of-week field of the digests' cron schedule: the
// directory's working days, else Monday to Friday.
func (a *Adapter) digestDays() string {
	w := a.svc.Engine().Directory().WorkingHours()
	if w == nil {
		return "1-5"
	}
	var ds []string
	for _, d := range w.Days {
		ds = append(ds, strconv.Itoa(int(d)))
	}
	return strings.Join(ds, ",")
}

// digestZones groups the directory's Slack users by timezone: the
// directory's, else the one Slack has for them (users.info), else UTC.
func (a *Adapter) digestZones(ctx context.Context) map[string][]string {
	zones := map[string][]string{}
	for _, p := range a.svc.Engine().Directory().People() {
		if p.Slack == "" {
			continue
		}
		zone := p.Timezone
		if zone == "" {
			if info, err := a.userInfo(ctx, p.Slack); err == nil {
				zone = info.TZ
			} else {
				a.log.Warn("slack timezone unknown; digest at UTC", "user", p.ID, "err", err)
			}
		}
		if _, err := time.LoadLocation(zone); err != nil || zone == "" || zone == "Local" {
			zone = "UTC"
		}
		zones[zone] = append(zones[zone], p.ID)
	}
	return zones
}

// digestZone sends today's digest to each person of a timezone who has
// pending tasks and whose digest no other replica has claimed.
func (a *Adapter) digestZone(ctx context.Context, zone string, people []string) {
	loc, err := time.LoadLocation(zone)
	if err != nil {
		loc = time.UTC
	}
	now := a.clock.Now()
	if w := a.svc.Engine().Directory().WorkingHours(); w != nil && !w.Workday(now, loc) {
		return // a holiday
	}
	day := now.In(loc).Format(time.DateOnly)
	for _, p := range people {
		ok, err := a.locker.Claim(ctx, "slack-digest:"+p+":"+day, digestClaim)
		if err != nil {
			a.log.Warn("slack digest not claimed", "user", p, "err", err)
			continue
		}
		if !ok {
			continue // another replica has it
		}
		if err := a.sendDigest(ctx, p); err != nil {
			a.log.Warn("slack digest not sent", "user", p, "err", err)
		}
	}
}

// sendDigest DMs person the tasks waiting on them, if any.
func (a *Adapter) sendDigest(ctx context.Context, person string) error {
	user := a.slackUser(person)
	if user == "" {
		return nil
	}
	tasks, err := a.svc.Tasks(ctx, person)
	if err != nil || len(tasks) == 0 {
		return err
	}
	m := a.svc.Engine().TaskList(tasks, person, a.svc.Now())
	m.Title = "Good morning: " + flows.Plural(len(tasks), "task is", "tasks are") + " waiting on you"
	m.Context = []string{fmt.Sprintf("Your daily digest from Baton · %s tasks for the list any time", Command)}
	ch, err := a.dm(ctx, user)
	if err != nil {
		return err
	}
	_, _, err = a.api.postMessage(ctx, ch, renderMessage(m, maxMessageBlocks), fallback(m), "", false)
	return err
}
