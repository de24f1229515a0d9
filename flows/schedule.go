package flows

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Schedule starts an instance of its flow at the times of a cron expression
// read in a timezone, for a fixed requester with fixed form data. The
// runtime fires each time once across replicas (see ScheduleKey).
type Schedule struct {
	Cron      string            // five fields: minute hour day-of-month month day-of-week (or @daily, @weekly…)
	Timezone  string            // IANA name, e.g. Europe/Paris (default UTC)
	Requester string            // person id the instances are started for
	Data      map[string]string // form values, validated against the form when the definition is parsed
	// CatchUp is how late a firing missed while no replica ran is still
	// made when one starts (default DefaultCatchUp; 0: never).
	CatchUp time.Duration

	spec cron.Schedule
}

// DefaultCatchUp is how late a missed firing is still made, unless the
// schedule says otherwise; MaxCatchUp bounds what it may say, well inside
// the 48 h for which a start's idempotency key (the firing's name) is kept,
// so a caught-up firing can never start a second instance.
const (
	DefaultCatchUp = time.Hour
	MaxCatchUp     = 24 * time.Hour
)

// Inbound lets another system start the flow with a signed HTTP POST
// (/hooks/flows/{flow}); Secret names the signing secret the runtime
// resolves (BATON_SECRET_<NAME>), Requester who the instances are started for.
type Inbound struct {
	Secret    string
	Requester string
}

// cronParser reads the standard five fields, as gocron's CronJob(expr, false) does.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// parseSchedule compiles expr in zone; key is the field at fault (cron or
// timezone) and the error says what to fix.
func parseSchedule(expr, zone string) (spec cron.Schedule, key string, err error) {
	if strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=") {
		return nil, "cron", fmt.Errorf("write the timezone under timezone:, not in the cron expression")
	}
	if strings.HasPrefix(strings.TrimSpace(expr), "@every") {
		// An interval counts from when each replica started, so replicas
		// would disagree on the firings and each start its own.
		return nil, "cron", fmt.Errorf("cron %q: intervals are not supported, as replicas would each count their own; write five fields, e.g. \"*/5 * * * *\" for every five minutes", expr)
	}
	loc, err := time.LoadLocation(zone)
	if err != nil || zone == "Local" {
		return nil, "timezone", fmt.Errorf("timezone %q is not a known IANA timezone; write one like Europe/Paris or UTC", zone)
	}
	spec, err = cronParser.Parse("CRON_TZ=" + loc.String() + " " + expr)
	if err != nil {
		return nil, "cron", fmt.Errorf("cron %q: %v; write five fields (minute hour day-of-month month day-of-week), e.g. \"0 9 * * MON\"", expr, err)
	}
	// One that matches no day (31 February) would never start anything:
	// the parser finds no firing within five years of any date.
	if spec.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return nil, "cron", fmt.Errorf("cron %q never fires: no month has that day; check the day-of-month and month fields", expr)
	}
	return spec, "", nil
}

// Spec is the schedule as gocron's CronJob takes it: "CRON_TZ=<zone> <cron>".
func (s *Schedule) Spec() string { return "CRON_TZ=" + s.zone() + " " + s.Cron }

func (s *Schedule) zone() string {
	if s.Timezone == "" {
		return "UTC"
	}
	return s.Timezone
}

// Next returns the first firing strictly after t (zero if there is none).
func (s *Schedule) Next(t time.Time) time.Time {
	if s.spec == nil {
		return time.Time{}
	}
	return s.spec.Next(t)
}

// Last returns the latest firing at or before now (zero if there was none
// in the past year). A replica whose job runs late, or whose clock is a
// little off, still names the same firing.
func (s *Schedule) Last(now time.Time) time.Time {
	if s.spec == nil {
		return time.Time{}
	}
	for back := time.Minute; back <= 2*366*24*time.Hour; back *= 4 {
		t := s.spec.Next(now.Add(-back))
		if t.IsZero() || t.After(now) {
			continue
		}
		for {
			n := s.spec.Next(t)
			if n.IsZero() || n.After(now) {
				return t
			}
			t = n
		}
	}
	return time.Time{}
}

// ScheduleKey names one firing of a flow's schedule: the lock name and the
// start's idempotency key, so two replicas (or a retried firing) start at
// most one instance for it. The schedule is named by what it is (ID), not
// by its place in the list, so adding or moving schedules renames none.
func ScheduleKey(flow string, s *Schedule, at time.Time) string {
	return fmt.Sprintf("schedule:%s:%s:%s", flow, s.ID(), at.UTC().Format(time.RFC3339))
}

// LegacyScheduleKey is the name versions before ScheduleKey's gave a
// firing: by the schedule's place in the list. A replica checks it before
// catching up a firing an older replica may have made.
func LegacyScheduleKey(flow string, i int, at time.Time) string {
	return fmt.Sprintf("schedule:%s:%d:%s", flow, i, at.UTC().Format(time.RFC3339))
}

// ID names the schedule by its cron, timezone, requester and data: the
// first 12 hex digits of their SHA-256.
func (s *Schedule) ID() string {
	h := sha256.New()
	fmt.Fprintf(h, "%q %q %q", s.Cron, s.zone(), s.Requester)
	for _, k := range slices.Sorted(maps.Keys(s.Data)) {
		fmt.Fprintf(h, " %q=%q", k, s.Data[k])
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// The YAML shapes.
type rawSchedule struct {
	Cron      string         `yaml:"cron"`
	Timezone  string         `yaml:"timezone"`
	Requester string         `yaml:"requester"`
	Data      map[string]any `yaml:"data"`
	CatchUp   any            `yaml:"catch_up"` // a duration, or 0 / off
}

// rawSchedules is one schedule mapping or a list of them.
type rawSchedules struct {
	list   []rawSchedule
	single bool
}

// UnmarshalYAML takes a mapping or a list (goccy/go-yaml InterfaceUnmarshaler;
// the decoder, strict mode included, is the caller's).
func (r *rawSchedules) UnmarshalYAML(unmarshal func(any) error) error {
	var probe any
	if err := unmarshal(&probe); err != nil {
		return err
	}
	if _, isList := probe.([]any); isList {
		return unmarshal(&r.list)
	}
	var one rawSchedule
	if err := unmarshal(&one); err != nil {
		return err
	}
	r.list, r.single = []rawSchedule{one}, true
	return nil
}

type rawInbound struct {
	Secret    string `yaml:"secret"`
	Requester string `yaml:"requester"`
}

// schedules validates the schedule entries against the flow's form.
func (v *validator) schedules(r *rawSchedules, form []Field) []Schedule {
	if r == nil {
		return nil
	}
	var out []Schedule
	for i, rs := range r.list {
		p := fmt.Sprintf("schedule[%d]", i)
		if r.single {
			p = "schedule"
		}
		s := Schedule{Cron: strings.TrimSpace(rs.Cron), Timezone: strings.TrimSpace(rs.Timezone), Requester: rs.Requester, Data: map[string]string{}}
		if s.Cron == "" {
			v.add(p+".cron", "cron is required: five fields (minute hour day-of-month month day-of-week), e.g. \"0 9 * * MON\"")
		} else {
			spec, key, err := parseSchedule(s.Cron, s.zone())
			if err != nil {
				v.add(p+"."+key, "%v", err)
			}
			if key == "timezone" { // the cron may be wrong too: say so in the same run
				if _, key, err := parseSchedule(s.Cron, "UTC"); err != nil {
					v.add(p+"."+key, "%v", err)
				}
			}
			s.spec = spec
		}
		s.CatchUp = v.catchUp(p+".catch_up", rs.CatchUp)
		if rs.Requester == "" {
			v.add(p+".requester", "requester is required: the person id the scheduled requests are started for")
		} else if err := checkPersonRef(rs.Requester); err != nil {
			v.add(p+".requester", "%v", err)
		}
		nested := false
		for _, k := range slices.Sorted(maps.Keys(rs.Data)) {
			switch val := rs.Data[k]; val.(type) {
			case nil:
			case map[string]any, []any:
				v.add(p+".data."+k, "%s must be a single value (text, number or date), not a list or mapping", k)
				nested = true
			default:
				s.Data[k] = fmt.Sprint(val)
			}
		}
		for _, f := range form {
			if _, given := s.Data[f.Name]; given && f.dateBounded() {
				// Its bounds move with the days, a fixed date does not: the
				// day it is out of them, every scheduled start is refused.
				v.add(p+".data."+f.Name, "%s has min or max (days from the day of the start), so a schedule cannot give it a fixed date: leave it out of data, or its bounds out of the field", f.Name)
			}
		}
		if _, err := ParseForm(form, s.Data); err != nil && !nested {
			if fe, ok := err.(FieldErrors); ok {
				for _, name := range slices.Sorted(maps.Keys(fe)) {
					msg := fe[name]
					if _, given := rs.Data[name]; !given && form != nil && !strings.Contains(msg, "not a field") {
						msg += "; give it under data:"
					}
					v.add(p+".data."+name, "%s", msg)
				}
			}
		}
		out = append(out, s)
	}
	return out
}

// catchUp reads a schedule's catch_up: absent means DefaultCatchUp; 0,
// off or false mean never; else a duration up to MaxCatchUp.
func (v *validator) catchUp(path string, raw any) time.Duration {
	switch val := raw.(type) {
	case nil:
		return DefaultCatchUp
	case bool:
		if !val {
			return 0
		}
	case uint64, int64, int, float64:
		if fmt.Sprint(val) == "0" {
			return 0
		}
	case string:
		if t := strings.TrimSpace(val); t == "0" || t == "off" {
			return 0
		}
		d, err := ParseDuration(val)
		switch {
		case err != nil:
			v.add(path, "%v", err)
		case d > MaxCatchUp:
			v.add(path, "catch_up %s is longer than %s: write at most 1d (a firing is made at most a day late), or off", val, FormatDuration(MaxCatchUp))
		default:
			return d
		}
		return DefaultCatchUp
	}
	v.add(path, "catch_up must be a duration (e.g. 2h, at most %s) or off, not %v", FormatDuration(MaxCatchUp), raw)
	return DefaultCatchUp
}

// inbound validates the inbound webhook settings.
func (v *validator) inbound(r *rawInbound) *Inbound {
	if r == nil {
		return nil
	}
	in := &Inbound{Secret: r.Secret, Requester: r.Requester}
	switch {
	case r.Secret == "":
		v.add("inbound.secret", "secret is required: the name of the signing secret (set BATON_SECRET_<NAME> to its value)")
	case !namePattern.MatchString(r.Secret):
		v.add("inbound.secret", "secret %q must be a lowercase name (letters, digits, _), e.g. crm_hook", r.Secret)
	}
	if r.Requester == "" {
		v.add("inbound.requester", "requester is required: the person id the requests are started for")
	} else if err := checkPersonRef(r.Requester); err != nil {
		v.add("inbound.requester", "%v", err)
	}
	return in
}
