package slack

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/batonbot/baton/flows"
)

// TestDigest: each reviewer with pending tasks gets one DM a working day
// at 09:00 in their own timezone, listing the tasks with their buttons;
// with two replicas running the schedule, still one.
func TestDigest(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	for i, ev := range []flows.Event{
		{Kind: flows.EventStart, Flow: "purchase", Actor: "alice", Data: map[string]string{"item": "Laptop", "amount": "900", "justification": "my old one broke down"}},
		{Kind: flows.EventStart, Flow: "access", Actor: "erin", Data: map[string]string{"system": "vpn", "reason": "travel"}},
	} {
		ev.Key = "digest-" + string(rune('a'+i))
		if out, err := h.rig.Svc.Handle(ctx, ev); err != nil || !out.OK {
			t.Fatal(err, out)
		}
	}
	h.settle()
	h.seen = len(h.api.Calls())
	replica, err := New(Deps{Service: h.rig.Svc, KV: h.rig.Store, Locker: h.rig.Store, Clock: h.rig.Clock}, h.a.cfg)
	if err != nil {
		t.Fatal(err)
	}
	var stops []func()
	for _, a := range []*Adapter{h.a, replica} {
		stop, err := a.startDigests(ctx)
		if err != nil || stop == nil {
			t.Fatalf("digests not scheduled: %v", err)
		}
		stops = append(stops, stop)
	}
	zones := len(h.a.digestZones(ctx)) // London, New York, Paris, Seoul, Tokyo, Berlin
	if err := h.rig.Clock.BlockUntilContext(ctx, 2*zones); err != nil {
		t.Fatal(err)
	}
	digests := func(c []apiCall) []string {
		var out []string
		for _, c := range c {
			if c.Method == "chat.postMessage" && strings.Contains(c.str("text"), "Good morning") {
				out = append(out, c.str("channel"))
			}
		}
		slices.Sort(out)
		return out
	}
	// It is Thursday 10:00 in Paris: Dana's digest comes Friday 09:00 (in 23 h).
	h.rig.Clock.Advance(23 * time.Hour)
	h.api.waitFor("Dana's digest", func(c []apiCall) bool { return len(digests(c)) == 1 })
	// An hour later it is 09:00 in London: Bob's.
	h.rig.Clock.Advance(time.Hour)
	h.api.waitFor("Bob's digest", func(c []apiCall) bool { return len(digests(c)) == 2 })
	for _, stop := range stops {
		stop() // waits for running jobs: a late duplicate would show below
	}
	h.a.Wait()
	replica.Wait()
	calls := h.api.Calls()
	if got := digests(calls); !slices.Equal(got, []string{"D0BOB", "D0DANA"}) {
		t.Fatalf("digests went to %v, want one each to Bob and Dana", got)
	}
	for _, c := range calls {
		if c.str("channel") == "D0BOB" && strings.Contains(c.str("text"), "Good morning") {
			if !strings.Contains(c.str("text"), "Good morning: 1 task is waiting on you") || !slices.Contains(c.buttons(), "v1|approve|PR-1|manager|1|") {
				t.Errorf("Bob's digest: %s", c.summary())
			}
		}
	}
}

// TestDigestOnWorkingDays: the directory's working days are the digest's,
// and its holidays are not: with Friday 27 November a holiday, Dana's
// digest of that day is not sent (nor claimed), Monday's is.
func TestDigestOnWorkingDays(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(_ *Config, _ *[]*flows.Definition, dir **flows.Directory) {
		w := *(*dir).WorkingHours()
		w.Days = []time.Weekday{time.Sunday, time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}
		w.Holidays = map[string]bool{"2026-11-27": true}
		*dir = (*dir).WithWorkingHours(&w)
	})
	if got := h.a.digestDays(); got != "0,1,2,3,4,5" {
		t.Fatalf("cron days %q", got)
	}
	ctx := t.Context()
	ev := flows.Event{Kind: flows.EventStart, Flow: "purchase", Actor: "olivia", Key: "digest-days",
		Data: map[string]string{"item": "Laptop", "amount": "900", "justification": "my old one broke down"}}
	if out, err := h.rig.Svc.Handle(ctx, ev); err != nil || !out.OK {
		t.Fatal(err, out)
	}
	h.settle()
	toDana := func() int {
		n := 0
		for _, c := range h.api.Calls() {
			if c.Method == "chat.postMessage" && c.str("channel") == "D0DANA" && strings.Contains(c.str("text"), "Good morning") {
				n++
			}
		}
		return n
	}
	// It is Thursday 10:00 in Paris: the run of Friday 09:00 sends nothing.
	h.rig.Clock.Advance(23 * time.Hour)
	h.a.digestZone(ctx, "Europe/Paris", []string{"dana"})
	if n := toDana(); n != 0 {
		t.Fatalf("%d digests on a holiday", n)
	}
	// Monday's does.
	h.rig.Clock.Advance(72 * time.Hour)
	h.a.digestZone(ctx, "Europe/Paris", []string{"dana"})
	if n := toDana(); n != 1 {
		t.Fatalf("%d digests on Monday", n)
	}
	for day, claimed := range map[string]bool{"2026-11-27": false, "2026-11-30": true} {
		if free, err := h.rig.Store.Claim(ctx, "slack-digest:dana:"+day, time.Hour); err != nil || free == claimed {
			t.Errorf("digest of %s: claimed before: %v (err %v), want %v", day, !free, err, claimed)
		}
	}
}

// TestDigestZones: people without a timezone in the directory get the one
// Slack has for them (users.info, cached), else UTC.
func TestDigestZones(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(_ *Config, _ *[]*flows.Definition, dir **flows.Directory) {
		people := (*dir).People()
		for i := range people {
			if people[i].ID == "alice" || people[i].ID == "bob" {
				people[i].Timezone = ""
			}
		}
		d, err := flows.NewDirectory(people, (*dir).Channels())
		if err != nil {
			t.Fatal(err)
		}
		*dir = d
	})
	h.api.tz["U0ALICE"] = "America/Chicago"
	h.api.tz["U0BOB"] = "Mars/Olympus_Mons"
	for range 2 {
		zones := h.a.digestZones(t.Context())
		if !slices.Contains(zones["America/Chicago"], "alice") || !slices.Contains(zones["UTC"], "bob") {
			t.Fatalf("zones: %v", zones)
		}
	}
	if n := count(h.api.Calls(), "users.info"); n != 2 {
		t.Fatalf("users.info called %d times for two people, twice each: the answers are not cached", n)
	}
}
