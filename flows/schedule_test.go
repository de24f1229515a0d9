package flows_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/batonbot/baton/flows"
)

const scheduleSteps = `steps:
  - {id: a, type: notify, to: [requester], message: hi}
`

func TestScheduleAndInboundParse(t *testing.T) {
	t.Parallel()
	src := validHead + `schedule:
  - cron: "0 9 * * MON"
    timezone: Europe/Paris
    requester: olivia
    data: {amount: 1200, note: weekly}
  - {cron: "@daily", requester: bob, catch_up: 6h}
  - {cron: "@hourly", requester: bob, catch_up: 0}
  - {cron: "@hourly", requester: bob, catch_up: "off"}
inbound: {secret: crm_hook, requester: olivia}
` + scheduleSteps
	d, err := flows.ParseDefinition("v.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Schedules) != 4 {
		t.Fatalf("%d schedules, want 4", len(d.Schedules))
	}
	for i, want := range []time.Duration{flows.DefaultCatchUp, 6 * time.Hour, 0, 0} {
		if got := d.Schedules[i].CatchUp; got != want {
			t.Errorf("schedule %d: catch-up %v, want %v", i, got, want)
		}
	}
	s := d.Schedules[0]
	if s.Requester != "olivia" || s.Data["amount"] != "1200" || s.Data["note"] != "weekly" || s.Spec() != "CRON_TZ=Europe/Paris 0 9 * * MON" {
		t.Errorf("schedule = %+v, spec %q", s, s.Spec())
	}
	if got := d.Schedules[1].Spec(); got != "CRON_TZ=UTC @daily" {
		t.Errorf("default timezone: spec %q", got)
	}
	if d.Inbound == nil || d.Inbound.Secret != "crm_hook" || d.Inbound.Requester != "olivia" {
		t.Errorf("inbound = %+v", d.Inbound)
	}

	// One mapping instead of a list is one schedule.
	one, err := flows.ParseDefinition("v.yaml", []byte(validHead+"schedule: {cron: \"*/15 * * * *\", requester: olivia}\n"+scheduleSteps))
	if err != nil {
		t.Fatal(err)
	}
	if len(one.Schedules) != 1 || one.Schedules[0].Cron != "*/15 * * * *" {
		t.Errorf("single schedule: %+v", one.Schedules)
	}
	if one.Inbound != nil {
		t.Errorf("inbound %+v, want nil when absent", one.Inbound)
	}
}

func TestScheduleValidation(t *testing.T) {
	t.Parallel()
	type want struct{ path, msg string }
	tests := []struct {
		name string
		src  string
		want []want
	}{
		{"bad cron", `schedule:
  cron: "0 25 * * *" # @schedule.cron
  requester: olivia
`, []want{{"schedule.cron", `cron "0 25 * * *"`}}},
		{"six fields", `schedule:
  - cron: "0 0 9 * * MON" # @schedule[0].cron
    requester: olivia
`, []want{{"schedule[0].cron", "write five fields"}}},
		{"interval", `schedule:
  - cron: "@every 2s" # @schedule[0].cron
    requester: olivia
`, []want{{"schedule[0].cron", "intervals are not supported"}}},
		{"timezone inside the expression", `schedule:
  - cron: "CRON_TZ=UTC 0 9 * * *" # @schedule[0].cron
    requester: olivia
`, []want{{"schedule[0].cron", "under timezone:"}}},
		{"unknown timezone", `schedule:
  - cron: "0 9 * * *"
    timezone: Europe/Parsi # @schedule[0].timezone
    requester: olivia
`, []want{{"schedule[0].timezone", `timezone "Europe/Parsi" is not a known IANA timezone`}}},
		{"bad cron and timezone: both told", `schedule:
  - cron: "0 9 * * MOON" # @schedule[0].cron
    timezone: Europe/Parsi # @schedule[0].timezone
    requester: olivia
`, []want{{"schedule[0].timezone", `timezone "Europe/Parsi" is not a known IANA timezone`}, {"schedule[0].cron", `cron "0 9 * * MOON"`}}},
		{"never fires", `schedule:
  - cron: "0 9 31 2 *" # @schedule[0].cron
    requester: olivia
`, []want{{"schedule[0].cron", `cron "0 9 31 2 *" never fires`}}},
		{"missing cron and requester", `schedule:
  - timezone: UTC # @schedule[0]
`, []want{{"schedule[0].cron", "cron is required"}, {"schedule[0].requester", "requester is required"}}},
		{"unknown field in data", `schedule:
  - cron: "0 9 * * *"
    requester: olivia
    data:
      amount: 5
      amonut: 6 # @schedule[0].data.amonut
`, []want{{"schedule[0].data.amonut", "amonut is not a field of this form"}}},
		{"bad value in data", `schedule:
  - cron: "0 9 * * *"
    requester: olivia
    data: {amount: lots} # @schedule[0].data.amount @schedule[0].data
`, []want{{"schedule[0].data.amount", "amount must be a number"}}},
		{"nested value in data", `schedule:
  - cron: "0 9 * * *"
    requester: olivia
    data:
      note: {a: 1} # @schedule[0].data.note
`, []want{{"schedule[0].data.note", "must be a single value"}}},
		{"unknown key in a schedule", `schedule:
  - cron: "0 9 * * *"
    requester: olivia
    timzone: UTC # @schedule[0].timzone
`, []want{{"schedule[0].timzone", `unknown key "timzone" (did you mean "timezone"?)`}}},
		{"catch-up too long", `schedule:
  - cron: "0 9 * * *"
    requester: olivia
    catch_up: 2d # @schedule[0].catch_up
`, []want{{"schedule[0].catch_up", "longer than 1 d"}}},
		{"catch-up not a duration", `schedule:
  - cron: "0 9 * * *"
    requester: olivia
    catch_up: soon # @schedule[0].catch_up
`, []want{{"schedule[0].catch_up", `invalid duration "soon"`}}},
		{"catch-up a number", `schedule:
  - cron: "0 9 * * *"
    requester: olivia
    catch_up: 30 # @schedule[0].catch_up
`, []want{{"schedule[0].catch_up", "must be a duration"}}},
		{"inbound without secret", `inbound: # @inbound
  requester: olivia
`, []want{{"inbound.secret", "secret is required"}}},
		{"inbound bad secret name and requester", `inbound:
  secret: CRM hook # @inbound.secret
  requester: two people # @inbound.requester
`, []want{{"inbound.secret", "must be a lowercase name"}, {"inbound.requester", "is not a person id"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := validHead + tt.src + scheduleSteps
			lines := markedLines(src)
			_, err := flows.ParseDefinition("flows/v.yaml", []byte(src))
			var de *flows.DefinitionError
			if !errors.As(err, &de) {
				t.Fatalf("error %v, want a *DefinitionError", err)
			}
			for _, w := range tt.want {
				found := false
				for _, p := range de.Problems {
					if p.Path == w.path && strings.Contains(p.Msg, w.msg) {
						found = true
						if line := lineFor(lines, w.path); p.Line != line {
							t.Errorf("%s: line %d, want %d (%s)", w.path, p.Line, line, p)
						}
						if !strings.HasPrefix(p.String(), "flows/v.yaml:") {
							t.Errorf("%s: Problem.String() = %q", w.path, p)
						}
					}
				}
				if !found {
					t.Errorf("no problem at %s saying %q; got:\n%v", w.path, w.msg, err)
				}
			}
			if len(de.Problems) != len(tt.want) {
				t.Errorf("%d problems, want %d:\n%v", len(de.Problems), len(tt.want), err)
			}
		})
	}
}

func TestScheduleTimes(t *testing.T) {
	t.Parallel()
	d, err := flows.ParseDefinition("v.yaml", []byte(validHead+`schedule: {cron: "0 9 * * MON", timezone: Europe/Paris, requester: olivia}
`+scheduleSteps))
	if err != nil {
		t.Fatal(err)
	}
	s := &d.Schedules[0]
	paris, _ := time.LoadLocation("Europe/Paris")
	// Monday 2026-03-30 is after the switch to summer time: 09:00 Paris is 07:00 UTC.
	mon := time.Date(2026, 3, 30, 9, 0, 0, 0, paris)
	if got := s.Next(mon.Add(-time.Hour)); !got.Equal(mon) {
		t.Errorf("Next = %v, want %v", got, mon)
	}
	if got := s.Next(mon); !got.Equal(mon.AddDate(0, 0, 7)) {
		t.Errorf("Next after a firing = %v, want a week later", got)
	}
	for _, now := range []time.Time{mon, mon.Add(3 * time.Second), mon.Add(50 * time.Hour)} {
		if got := s.Last(now); !got.Equal(mon) {
			t.Errorf("Last(%v) = %v, want %v", now, got, mon)
		}
	}
	if got := s.Last(mon.Add(-time.Second)); !got.Equal(mon.AddDate(0, 0, -7)) {
		t.Errorf("Last just before = %v, want the week before", got)
	}
	k := flows.ScheduleKey("v", s, mon)
	if k != "schedule:v:"+s.ID()+":2026-03-30T07:00:00Z" || len(s.ID()) != 12 {
		t.Errorf("ScheduleKey = %q", k)
	}
	other := *s
	other.Data = map[string]string{"note": "another"}
	if flows.ScheduleKey("v", &other, mon) == k || flows.ScheduleKey("w", s, mon) == k || flows.ScheduleKey("v", s, mon.Add(time.Minute)) == k {
		t.Error("ScheduleKey does not tell schedules, flows and times apart")
	}
	if got := flows.LegacyScheduleKey("v", 0, mon); got != "schedule:v:0:2026-03-30T07:00:00Z" {
		t.Errorf("LegacyScheduleKey = %q", got)
	}
}

// A schedule's data is checked as its starts will be (start-up and doctor
// warn, validate refuses): a person field naming nobody in the directory, or
// the schedule's requester as their own approver, would have every
// scheduled start refused.
func TestScheduleDataCheckedForItsStarts(t *testing.T) {
	t.Parallel()
	flow := func(approver string) *flows.Definition {
		return mustParse(t, `
id: weekly
name: Weekly
owner: olivia
schedule: {cron: "0 9 * * MON", requester: alice, data: {approver: `+approver+`}}
form:
  - {name: approver, type: person, required: true}
steps:
  - {id: s, type: approval, assignees: ["field:approver"]}
`)
	}
	problems := func(approver string, dir *flows.Directory) []string {
		e, err := flows.NewEngine([]*flows.Definition{flow(approver)}, dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		return e.ScheduleProblems()
	}
	if got := problems("bob", testDir(t)); got != nil {
		t.Fatalf("a good schedule: %v", got)
	}
	for approver, want := range map[string]string{
		"alice":  "schedule[0].data: invalid form: approver: you are making this request, so you may not approve it",
		"nobody": `schedule[0].data: invalid form: approver: "nobody" is not a person in the directory`,
	} {
		got := problems(approver, testDir(t))
		if len(got) != 1 || !strings.Contains(got[0], want) || !strings.Contains(got[0], "every scheduled start would be refused") {
			t.Errorf("approver %s: %v, want %q", approver, got, want)
		}
	}
	// With no directory (baton validate), anyone goes, but not the requester.
	if got := problems("nobody", nil); got != nil {
		t.Errorf("no directory: %v", got)
	}
	if got := problems("alice", nil); len(got) != 1 {
		t.Errorf("no directory, the requester as approver: %v", got)
	}
}
