package bot

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/jonboulle/clockwork"

	"github.com/batonbot/baton/flows"
)

// The daily digest: on working days at a local time (BATON_DIGEST_AT,
// default 09:00), in each person's own timezone, one message listing what
// waits on them, with its buttons, on every platform that reaches them
// (Slack, Teams, the console). Working days are the directory's
// working_hours days but its holidays, else Monday to Friday. gocron runs
// one calendar job per timezone; each person's digest of a day is claimed
// through the Locker, so with several replicas it is sent once.

// DigestAt is when digests go out: a local time, or off.
type DigestAt struct {
	Hour, Minute int
	Off          bool
}

// ParseDigestAt reads BATON_DIGEST_AT: "HH:MM", "off", or "" (09:00).
func ParseDigestAt(s string) (DigestAt, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return DigestAt{Hour: 9}, nil
	case strings.EqualFold(s, "off"):
		return DigestAt{Off: true}, nil
	}
	t, err := time.Parse("15:04", s)
	if err != nil {
		return DigestAt{}, fmt.Errorf("%q: write a local time like 09:00, or off", s)
	}
	return DigestAt{Hour: t.Hour(), Minute: t.Minute()}, nil
}

func (d DigestAt) String() string {
	if d.Off {
		return "off"
	}
	return fmt.Sprintf("%02d:%02d", d.Hour, d.Minute)
}

// TimezoneFinder is a Messenger that knows the timezone a person set on its
// platform (Slack's users.info). The digest asks it for people the
// directory gives no timezone.
type TimezoneFinder interface {
	Timezone(ctx context.Context, to Address) (string, error)
}

// CommandNamer is a Messenger whose people type commands differently from
// the plain words ("/baton tasks" in Slack): the digest's small print says
// how to ask for the list.
type CommandNamer interface {
	CommandFor(words string) string
}

// digestClaim is how long a person's digest claim for a day is held:
// longer than any clock skew, shorter than a day.
const digestClaim = 20 * time.Hour

// Digests sends the daily digests.
type Digests struct {
	at         DigestAt
	svc        *Service
	messengers []Messenger
	locker     Locker
	clock      clockwork.Clock
	log        *slog.Logger
	metrics    *Metrics
}

// NewDigests builds the digests; clock nil means the real clock, log nil
// no log.
func NewDigests(at DigestAt, svc *Service, messengers []Messenger, locker Locker, clock clockwork.Clock, log *slog.Logger, metrics *Metrics) *Digests {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	return &Digests{at: at, svc: svc, messengers: messengers, locker: locker, clock: clock, log: log, metrics: metrics}
}

// Run schedules the digests and sends them until ctx is cancelled; then it
// finishes the digest being sent (each claimed one is sent; the rest of a
// timezone's people are left, as for a replica that was down). It returns at once when digests are off or
// no platform reaches anyone in the directory.
func (d *Digests) Run(ctx context.Context) error {
	if d.at.Off {
		return nil
	}
	zones := d.Zones(ctx)
	if len(zones) == 0 {
		d.log.Info("daily digests off: no platform reaches anyone in the directory")
		return nil
	}
	s, err := gocron.NewScheduler(gocron.WithClock(d.clock), gocron.WithLocation(time.UTC), gocron.WithLogger(gocronLogger{d.log}))
	if err != nil {
		return fmt.Errorf("digest scheduler: %w", err)
	}
	days := d.days()
	for _, zone := range slices.Sorted(maps.Keys(zones)) {
		people := zones[zone]
		_, err := s.NewJob(gocron.CronJob(fmt.Sprintf("CRON_TZ=%s %d %d * * %s", zone, d.at.Minute, d.at.Hour, days), false),
			gocron.NewTask(func() { d.Send(ctx, zone, people) }),
			gocron.WithName("digest "+zone), gocron.WithSingletonMode(gocron.LimitModeReschedule))
		if err != nil {
			_ = s.Shutdown()
			return fmt.Errorf("digest for %s: %w", zone, err)
		}
	}
	s.Start()
	d.log.Info("daily digests scheduled", "at", d.at.String(), "days", days, "timezones", len(zones))
	<-ctx.Done()
	stopScheduler(s, d.log, "a daily digest being sent: whoever's was claimed and not sent gets none today")
	return nil
}

// days is the day-of-week field of the digests' cron schedules: the
// directory's working days, else Monday to Friday.
func (d *Digests) days() string {
	w := d.svc.Engine().Directory().WorkingHours()
	if w == nil {
		return "1-5"
	}
	var ds []string
	for _, day := range w.Days {
		ds = append(ds, strconv.Itoa(int(day)))
	}
	return strings.Join(ds, ",")
}

// Zones groups the directory's people whom some platform reaches by
// timezone: the directory's, else the one a platform has for them, else
// the working hours' (else UTC).
func (d *Digests) Zones(ctx context.Context) map[string][]string {
	dir := d.svc.Engine().Directory()
	zones := map[string][]string{}
	for _, p := range dir.People() {
		zone, reached := p.Timezone, false
		for _, m := range d.messengers {
			addr, ok := m.Reach(flows.Recipient{Person: p.ID})
			if !ok {
				continue
			}
			reached = true
			if f, ok := m.(TimezoneFinder); ok && zone == "" {
				tz, err := f.Timezone(ctx, addr)
				if err != nil {
					d.log.Warn("timezone unknown", "person", p.ID, "platform", m.Platform(), "err", err)
				}
				if _, lerr := time.LoadLocation(tz); err == nil && lerr == nil && tz != "" && tz != "Local" {
					zone = tz
				}
			}
		}
		if !reached {
			continue
		}
		if zone == "" {
			zone = dir.Location(p.ID).String() // the working hours' timezone, else UTC
		}
		zones[zone] = append(zones[zone], p.ID)
	}
	return zones
}

// Send sends today's digest to each of people (of timezone zone) who has
// tasks waiting and whose digest of the day no replica has claimed. It does
// nothing on a holiday. Once ctx ends it starts no other person's; one
// claimed is sent whatever ctx says, so nobody loses the day's digest to a
// claim without a send.
func (d *Digests) Send(ctx context.Context, zone string, people []string) {
	loc, err := time.LoadLocation(zone)
	if err != nil {
		loc = time.UTC
	}
	now := d.clock.Now()
	if w := d.svc.Engine().Directory().WorkingHours(); w != nil && !w.Workday(now, loc) {
		return
	}
	day := now.In(loc).Format(time.DateOnly)
	for _, p := range people {
		if ctx.Err() != nil {
			return
		}
		ok, err := d.claim(context.WithoutCancel(ctx), p, day)
		if err != nil {
			d.metrics.Failures.WithLabelValues("digest").Inc()
			d.log.Warn("digest not claimed", "person", p, "err", err)
			continue
		}
		if ok {
			d.send(context.WithoutCancel(ctx), p, loc)
		}
	}
}

// claim takes person's digest of day. It also takes the claim the Slack
// adapter's digest made before digests were sent on every platform, so a
// replica of that version, running beside this one during an upgrade, does
// not send a second one. (Remove after the next release.)
func (d *Digests) claim(ctx context.Context, person, day string) (bool, error) {
	ok, err := d.locker.Claim(ctx, "slack-digest:"+person+":"+day, digestClaim)
	if err != nil || !ok {
		return false, err
	}
	return d.locker.Claim(ctx, "digest:"+person+":"+day, digestClaim)
}

// send sends person their digest on every platform that reaches them, if
// anything waits on them, its times in loc (their timezone). A platform
// that fails is logged and counted; the others still get theirs, and the
// next day's digest lists the tasks again.
func (d *Digests) send(ctx context.Context, person string, loc *time.Location) {
	tasks, err := d.svc.Tasks(ctx, person)
	if err != nil {
		d.metrics.Failures.WithLabelValues("digest").Inc()
		d.log.Warn("digest not sent: tasks not read", "person", person, "err", err)
		return
	}
	if len(tasks) == 0 {
		return
	}
	list := d.svc.Engine().TaskListIn(tasks, person, d.svc.Now(), loc) // in the zone it is sent by
	list.Title = "Good morning: " + flows.Plural(len(tasks), "task is", "tasks are") + " waiting on you"
	for _, m := range d.messengers {
		addr, ok := m.Reach(flows.Recipient{Person: person})
		if !ok {
			continue
		}
		msg := *list
		ask := `"tasks"`
		if n, ok := m.(CommandNamer); ok {
			ask = n.CommandFor("tasks")
		}
		msg.Context = []string{"Your daily digest from Baton · " + ask + " shows the list any time"}
		result := "ok"
		if _, err := m.Send(ctx, addr, &msg, ""); err != nil {
			result = "failed"
			d.log.Warn("digest not sent", "person", person, "platform", m.Platform(), "err", err)
		}
		d.metrics.Digests.WithLabelValues(m.Platform(), result).Inc()
	}
}
