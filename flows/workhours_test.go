package flows_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/batonbot/baton/flows"
)

// hoursDirectory: Mon-Fri 09:00-17:00, Christmas off; bob in London, carol
// in New York, zed without a timezone (so the working hours' own, Paris).
const hoursDirectory = `
working_hours:
  days: [mon, tue, wed, thu, fri]
  hours: "09:00-17:00"
  holidays: [2026-12-25, "2027-01-01"]
  timezone: Europe/Paris
people:
  - {id: alice, name: Alice Martin, manager: bob, timezone: Europe/London}
  - {id: bob, name: Bob Chen, manager: dana, timezone: Europe/London}
  - {id: carol, name: Carol Diaz, manager: dana, timezone: America/New_York, groups: [finance]}
  - {id: frank, name: Frank Osei, manager: dana, timezone: Europe/London, groups: [finance]}
  - {id: dana, name: Dana Kowalski, timezone: Europe/Paris}
  - {id: zed, name: Zed Null}
  - {id: olivia, name: Olivia Brown}
channels:
  - {id: ops, name: "#ops"}
`

func hoursDir(t testing.TB) *flows.Directory {
	t.Helper()
	d, err := flows.ParseDirectory("directory.yaml", []byte(hoursDirectory))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func utc(s string) time.Time {
	at, err := time.Parse("Mon 2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return at
}

func TestWorkingHoursAdd(t *testing.T) {
	t.Parallel()
	w := hoursDir(t).WorkingHours()
	london, _ := time.LoadLocation("Europe/London")
	newYork, _ := time.LoadLocation("America/New_York")
	span := func(s string) time.Duration {
		sp, err := flows.ParseSpan(s)
		if err != nil {
			t.Fatal(err)
		}
		return w.Length(sp)
	}
	for _, tt := range []struct {
		name     string
		from     string // UTC
		locs     []*time.Location
		wait     string
		want     string // UTC
		clockish bool   // the answer is also what the clock says
	}{
		{"within the day", "Mon 2026-11-30 10:00", []*time.Location{london}, "4h", "Mon 2026-11-30 14:00", true},
		{"over the night", "Mon 2026-11-30 16:00", []*time.Location{london}, "4h", "Tue 2026-12-01 12:00", false},
		{"over the weekend", "Fri 2026-11-27 16:00", []*time.Location{london}, "8h", "Mon 2026-11-30 16:00", false},
		{"started on a Saturday", "Sat 2026-11-28 10:00", []*time.Location{london}, "1h", "Mon 2026-11-30 10:00", false},
		{"started before the day", "Tue 2026-12-01 06:30", []*time.Location{london}, "30m", "Tue 2026-12-01 09:30", false},
		{"ends as the day ends", "Mon 2026-11-30 09:00", []*time.Location{london}, "1d", "Mon 2026-11-30 17:00", false},
		{"a day is a working day", "Fri 2026-11-27 16:00", []*time.Location{london}, "2d", "Tue 2026-12-01 16:00", false},
		{"a week is five working days", "Mon 2026-11-30 10:00", []*time.Location{london}, "1w", "Mon 2026-12-07 10:00", true},
		{"over a holiday", "Thu 2026-12-24 16:00", []*time.Location{london}, "2h", "Mon 2026-12-28 10:00", false},
		{"in New York", "Mon 2026-11-30 21:00", []*time.Location{newYork}, "2h", "Tue 2026-12-01 15:00", false},
		// London works 09-17 UTC in winter, New York 14-22 UTC: either counts.
		{"two timezones, one after the other", "Mon 2026-11-30 16:00", []*time.Location{london, newYork}, "3h", "Mon 2026-11-30 19:00", true},
		{"two timezones over the weekend", "Fri 2026-11-27 21:00", []*time.Location{london, newYork}, "2h", "Mon 2026-11-30 10:00", false},
		// London moves to summer time on Sunday 29 March 2026: 09:00 is then 08:00 UTC.
		{"over a change of clocks", "Fri 2026-03-27 16:00", []*time.Location{london}, "2h", "Mon 2026-03-30 09:00", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			from, want := utc(tt.from), utc(tt.want)
			got := w.Add(from, tt.locs, span(tt.wait))
			if !got.Equal(want) {
				t.Fatalf("%s + %s of working time = %s, want %s", tt.from, tt.wait, got.UTC().Format("Mon 2006-01-02 15:04"), tt.want)
			}
			if wall, _ := flows.ParseDuration(tt.wait); from.Add(wall).Equal(want) != tt.clockish {
				t.Fatalf("the clock says %s", from.Add(wall))
			}
		})
	}
	if w.String() != "Mon, Tue, Wed, Thu, Fri 09:00-17:00" {
		t.Fatalf("String() = %q", w.String())
	}
	// A year of working days (260 of them) is a year on (as 2027 has no
	// holidays listed), and comes back at once.
	if got := w.Add(utc("Mon 2027-01-04 10:00"), []*time.Location{london}, span("52w")); !got.Equal(utc("Mon 2028-01-03 10:00")) {
		t.Fatalf("52 weeks on: %s", got)
	}
	// Working all day every day is the clock, however long the wait (days
	// that join up leave no gap to stop at).
	all, err := flows.ParseDirectory("d.yaml", []byte("working_hours: {days: [mon, tue, wed, thu, fri, sat, sun], hours: \"00:00-24:00\"}\npeople: [{id: a}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	from := utc("Fri 2026-11-27 16:00")
	for _, wait := range []time.Duration{time.Hour, 30 * 24 * time.Hour, 400 * 24 * time.Hour} {
		if got := all.WorkingHours().Add(from, []*time.Location{london, newYork}, wait); !got.Equal(from.Add(wait)) {
			t.Fatalf("all day every day, %s on: %s", wait, got)
		}
	}
}

func TestWorkingHoursRefusesMistakes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ hours, want string }{
		{`{days: [mon, funday]}`, `day "funday" is not a day`},
		{`{days: [mon, mon]}`, `day "mon" is listed twice`},
		{`{hours: "17:00-09:00"}`, `the day must end after it starts`},
		{`{hours: "9-5"}`, `write the start and the end of the day, e.g. 09:00-17:00`},
		{`{hours: "09:00-24:30"}`, `write the start and the end of the day`},
		{`{holidays: [25/12/2026]}`, `holiday "25/12/2026" is not a date; write it as YYYY-MM-DD`},
		{`{timezone: Mars/Olympus}`, `timezone "Mars/Olympus" is unknown`},
		{`{weekdays: [mon]}`, `working_hours.weekdays: unknown key "weekdays"`},
		{`{days: []}`, `days: list the days people work`},
		{`{hours: "09:+5-17:00"}`, `write the start and the end of the day`},
		{`{timezone: Local}`, `timezone Local is each machine's own; name one, like Europe/Paris`},
	} {
		_, err := flows.ParseDirectory("directory.yaml", []byte("working_hours: "+tt.hours+"\npeople:\n  - {id: a}\n"))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("working_hours: %s: error %v, want %q", tt.hours, err, tt.want)
		}
	}
	// Unset, every part has its default: Monday to Friday, 09:00-17:00, UTC.
	d, err := flows.ParseDirectory("directory.yaml", []byte("working_hours: {holidays: [2026-12-25]}\npeople:\n  - {id: a}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if w := d.WorkingHours(); w.String() != "Mon, Tue, Wed, Thu, Fri 09:00-17:00" || w.Location != time.UTC || !w.Holidays["2026-12-25"] {
		t.Fatalf("defaults: %+v", w)
	}
}

// hoursFlow waits on its assignees for a day, reminds every 4 h and
// escalates after two days, counted in working hours.
func hoursFlow(assignees string) string {
	return `
id: hrs
name: Hours
owner: olivia
working_hours: true
steps:
  - id: review
    name: Review
    type: approval
    assignees: ` + assignees + `
    due: 1d
    remind: {every: 4h, max: 3}
    escalate:
      - {after: 2d, notify: manager}
`
}

func timersAt(in *flows.Instance) []string {
	var out []string
	for _, tm := range in.Timers {
		out = append(out, fmt.Sprintf("%s %s", tm.ID, tm.At.UTC().Format("Mon 15:04")))
	}
	return out
}

// keptInUTC checks that in's due time and timers are kept in UTC, as
// every other time: working time counted in someone's zone still shows no
// one person's offset to API readers and subscribers.
func keptInUTC(t *testing.T, in *flows.Instance) {
	t.Helper()
	if in.Due.Location() != time.UTC {
		t.Errorf("due kept as %s", in.Due.Format(time.RFC3339))
	}
	for _, tm := range in.Timers {
		if tm.At.Location() != time.UTC {
			t.Errorf("timer %s kept as %s", tm.ID, tm.At.Format(time.RFC3339))
		}
	}
}

func TestWorkingHoursFlow(t *testing.T) {
	t.Parallel()
	newHoursEngine := func(t *testing.T, srcs ...string) *flows.Engine {
		var defs []*flows.Definition
		for _, s := range srcs {
			defs = append(defs, mustParse(t, s))
		}
		e, err := flows.NewEngine(defs, hoursDir(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	t.Run("started on a Friday afternoon", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, newHoursEngine(t, hoursFlow("[person:bob]")))
		r.now = utc("Fri 2026-11-27 16:00")
		tr := r.start("hrs", "alice", nil)
		want := []string{"review/1/timeout/0 Mon 16:00", "review/1/remind/1 Mon 12:00", "review/1/escalate/0 Tue 16:00"}
		if got := timersAt(r.in); !slices.Equal(got, want) {
			t.Fatalf("timers %v, want %v", got, want)
		}
		card := notified(t, tr, "bob", "review/1/bob").Msg
		for _, w := range []string{"Due Mon 30 Nov 16:00 GMT (in 3 d)", "Escalates to Dana Kowalski (your manager) in 3 d"} {
			if !slices.Contains(card.Context, w) {
				t.Fatalf("card context %q lacks %q", card.Context, w)
			}
		}
		// Monday's reminder sets the next one four working hours on; the one
		// after that is on Tuesday.
		r.fire(flows.TimerRemind)
		if tm, _ := r.timer(flows.TimerRemind, 2); !tm.At.Equal(utc("Mon 2026-11-30 16:00")) {
			t.Fatalf("second reminder at %s", tm.At)
		}
		r.fire(flows.TimerRemind)
		if tm, _ := r.timer(flows.TimerRemind, 3); !tm.At.Equal(utc("Tue 2026-12-01 12:00")) {
			t.Fatalf("third reminder at %s", tm.At)
		}
	})
	// A reminder that fires late (Baton was down) counts the next from when
	// it fired.
	t.Run("late reminder", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, newHoursEngine(t, hoursFlow("[person:bob]")))
		r.now = utc("Mon 2026-11-30 10:00")
		r.start("hrs", "alice", nil)
		r.now = utc("Wed 2026-12-02 16:30")
		r.fire(flows.TimerRemind)
		if tm, _ := r.timer(flows.TimerRemind, 2); !tm.At.Equal(utc("Thu 2026-12-03 12:30")) {
			t.Fatalf("second reminder at %s", tm.At)
		}
	})
	t.Run("a step on people in two timezones counts while either works", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, newHoursEngine(t, hoursFlow("[group:finance]")))
		r.now = utc("Mon 2026-11-30 16:00")
		r.start("hrs", "alice", nil)
		// Frank (London) until 17:00 UTC, Carol (New York) from 14:00 to 22:00 UTC.
		if tm, _ := r.timer(flows.TimerRemind, 1); !tm.At.Equal(utc("Mon 2026-11-30 20:00")) {
			t.Fatalf("reminder at %s", tm.At)
		}
	})
	t.Run("a reminder due when those still waited on are off work waits for their day", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, newHoursEngine(t, hoursFlow("[group:finance]\n    policy: all")))
		r.now = utc("Mon 2026-11-30 16:00")
		r.start("hrs", "alice", nil)
		r.act(flows.EventApprove, "carol") // New York, at work until 22:00 UTC
		// Due at 20:00 UTC, counted while Carol works; Frank's day in London
		// ended at 17:00: not reminded at night, but at 09:00 his time.
		tr := r.fire(flows.TimerRemind)
		if len(effectsOf(tr, flows.EffectNotify)) != 0 || slices.ContainsFunc(tr.Audit, func(a flows.AuditEntry) bool { return a.Action == "reminded" }) {
			t.Fatalf("reminded at %s: %s", r.now, describe(tr.Effects))
		}
		if tm, _ := r.timer(flows.TimerRemind, 1); !tm.At.Equal(utc("Tue 2026-12-01 09:00")) {
			t.Fatalf("reminder at %s (timers %v)", tm.At, timersAt(r.in))
		}
		keptInUTC(t, r.in)
		tr = r.fire(flows.TimerRemind)
		if !r.now.Equal(utc("Tue 2026-12-01 09:00")) || !slices.ContainsFunc(effectsOf(tr, flows.EffectNotify), func(e flows.Effect) bool {
			return e.To.Person == "frank" && e.Msg.Kind == flows.MsgReminder && strings.HasPrefix(e.Msg.Text, "Reminder 1 of 3")
		}) {
			t.Fatalf("at %s: %s", r.now, describe(tr.Effects))
		}
		if tm, _ := r.timer(flows.TimerRemind, 2); !tm.At.Equal(utc("Tue 2026-12-01 13:00")) { // 4 h of Frank's day on
			t.Fatalf("next reminder at %s (timers %v)", tm.At, timersAt(r.in))
		}
	})
	t.Run("a reminder due as the day closes is sent then", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, newHoursEngine(t, hoursFlow("[person:frank]")))
		r.now = utc("Mon 2026-11-30 09:00") // London
		r.start("hrs", "alice", nil)
		r.fire(flows.TimerRemind) // 13:00
		// Fired as a timer loop does, a moment after it came due.
		tm, _ := r.timer(flows.TimerRemind, 2)
		if !tm.At.Equal(utc("Mon 2026-11-30 17:00")) {
			t.Fatalf("second reminder at %s", tm.At)
		}
		r.now = tm.At.Add(800 * time.Millisecond)
		tr := r.do(flows.Event{Kind: flows.EventTimer, Timer: tm.ID, Key: "timer:" + tm.ID})
		if !slices.ContainsFunc(tr.Audit, func(a flows.AuditEntry) bool { return a.Action == "reminded" }) {
			t.Fatalf("at %s: %+v", r.now, tr.Audit)
		}
	})
	t.Run("times counted in New York are kept in UTC", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, newHoursEngine(t, hoursFlow("[person:carol]")))
		r.now = utc("Fri 2026-11-27 21:00") // 16:00 in New York
		r.start("hrs", "alice", nil)
		if !r.in.Due.Equal(utc("Mon 2026-11-30 21:00")) {
			t.Errorf("due %s", r.in.Due)
		}
		keptInUTC(t, r.in)
	})
	t.Run("a person without a timezone works in the working hours'", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, newHoursEngine(t, hoursFlow("[person:zed]")))
		r.now = utc("Mon 2026-11-30 14:00") // 15:00 in Paris
		r.start("hrs", "alice", nil)
		if tm, _ := r.timer(flows.TimerRemind, 1); !tm.At.Equal(utc("Tue 2026-12-01 10:00")) { // 2 h Monday, 2 h from 09:00 Paris
			t.Fatalf("reminder at %s", tm.At)
		}
	})
	t.Run("a directory without working hours counts Monday to Friday, 09:00-17:00 UTC", func(t *testing.T) {
		t.Parallel()
		e, err := flows.NewEngine([]*flows.Definition{mustParse(t, hoursFlow("[person:zed]"))}, testDir(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		r := newRun(t, e)
		r.now = utc("Fri 2026-11-27 16:00")
		r.start("hrs", "alice", nil)
		want := []string{"review/1/timeout/0 Mon 16:00", "review/1/remind/1 Mon 12:00", "review/1/escalate/0 Tue 16:00"}
		if got := timersAt(r.in); !slices.Equal(got, want) {
			t.Fatalf("timers %v, want %v", got, want)
		}
	})
	t.Run("a flow on the clock is unchanged", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, newHoursEngine(t, strings.Replace(hoursFlow("[person:bob]"), "working_hours: true\n", "", 1)))
		r.now = utc("Fri 2026-11-27 16:00")
		r.start("hrs", "alice", nil)
		want := []string{"review/1/timeout/0 Sat 16:00", "review/1/remind/1 Fri 20:00", "review/1/escalate/0 Sun 16:00"}
		if got := timersAt(r.in); !slices.Equal(got, want) {
			t.Fatalf("timers %v, want %v", got, want)
		}
	})
	t.Run("on_timeout and the graph say it is working time", func(t *testing.T) {
		t.Parallel()
		src := strings.Replace(hoursFlow("[person:bob]"), "    due: 1d\n", "    due: 1d\n    on_timeout: approve\n", 1)
		src = strings.Replace(src, "after: 2d", "after: 6h", 1) // before due: a later rung is refused
		r := newRun(t, newHoursEngine(t, src))
		r.now = utc("Mon 2026-11-30 09:00")
		r.start("hrs", "alice", nil)
		r.fire(flows.TimerTimeout)
		if !r.now.Equal(utc("Mon 2026-11-30 17:00")) || r.in.Status != flows.StatusCompleted {
			t.Fatalf("at %s: %s", r.now, r.in.Status)
		}
		if last := r.audit[len(r.audit)-2]; last.Reason != "No decision within 1 d of working time" {
			t.Fatalf("audit %+v", last)
		}
		g := mustParse(t, src).Mermaid()
		for _, w := range []string{"due 1 d of working time, then approve", "after 6 h of working time: notify manager"} {
			if !strings.Contains(g, w) {
				t.Fatalf("graph lacks %q:\n%s", w, g)
			}
		}
	})
	t.Run("an away person's stand-in's hours count too", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, newHoursEngine(t, hoursFlow("[person:bob]")))
		r.now = utc("Mon 2026-11-30 16:00")
		// Bob (London) is away; Carol (New York, 14:00-22:00 UTC) stands in.
		r.do(flows.Event{Kind: flows.EventStart, Instance: "X-1", Flow: "hrs", Actor: "alice",
			Away: map[string]flows.Away{"bob": {Until: utc("Fri 2026-12-04 23:00"), StandIn: "carol"}}})
		if tm, _ := r.timer(flows.TimerRemind, 1); !tm.At.Equal(utc("Mon 2026-11-30 20:00")) {
			t.Fatalf("reminder at %s (timers %v)", tm.At, timersAt(r.in))
		}
	})
	t.Run("a webhook step's timeout is on the clock", func(t *testing.T) {
		t.Parallel()
		src := `
id: hook
name: Hook
owner: olivia
working_hours: true
steps:
  - id: call
    type: webhook
    url: https://example.com/hook
    due: 1h
`
		r := newRun(t, newHoursEngine(t, src))
		r.now = utc("Fri 2026-11-27 16:30")
		r.start("hook", "alice", nil)
		if got := timersAt(r.in); !slices.Equal(got, []string{"call/1/timeout/0 Fri 17:30"}) {
			t.Fatalf("timers %v", got)
		}
	})
}

// In working time the order of rungs is checked by unit: a day is as long as
// the directory says, so 20h then 2d is later or not depending on it.
func TestWorkingHoursRungOrder(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ first, second, want string }{
		{"20h", "2d", "after 2d is later than 20h or not depending on how long a working day is; write both in the same units"},
		{"1d", "10h", "after 10h is later than 1d or not depending"},
		{"2d", "1d", "after 1d must be later than the rung before it"},
		{"1d", "1d", "after 1d must be later than the rung before it"},
		{"1d", "1d4h", ""},
		{"10h", "20h", ""},
		{"1d", "1w", "after 1w is later than 1d or not depending"},
	} {
		src := strings.Replace(hoursFlow("[person:bob]"), "      - {after: 2d, notify: manager}\n",
			"      - {after: "+tt.first+", notify: manager}\n      - {after: "+tt.second+", notify: \"person:dana\"}\n", 1)
		_, err := flows.ParseDefinition("test.yaml", []byte(src))
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s then %s: error %v, want %q", tt.first, tt.second, err, tt.want)
		}
		// On the clock, a day is 24 h: 20h then 2d is fine, 1d then 10h is not.
		clock, err := flows.ParseDefinition("test.yaml", []byte(strings.Replace(src, "working_hours: true\n", "", 1)))
		if wall := func(s string) time.Duration { d, _ := flows.ParseDuration(s); return d }; (err == nil) != (wall(tt.second) > wall(tt.first)) {
			t.Errorf("on the clock, %s then %s: error %v (%v)", tt.first, tt.second, err, clock)
		}
	}
}

// The wait is written as it was given, with "of working time": a working
// day is not 24 h.
func TestWorkingHoursWaitText(t *testing.T) {
	t.Parallel()
	for due, want := range map[string]string{"1w": "1 w", "24h": "24 h", "36h": "36 h", "1d12h": "1 d 12 h", "90m": "1 h 30 min", "1.5d": "1.5 d"} {
		src := strings.Replace(hoursFlow("[person:bob]"), "    due: 1d\n", "    due: "+due+"\n", 1)
		if g := mustParse(t, src).Mermaid(); !strings.Contains(g, "due "+want+" of working time, then escalate") {
			t.Errorf("due: %s: graph says\n%s", due, g)
		}
	}
}
