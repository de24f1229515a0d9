package bot_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/bot/bottest"
	"github.com/batonbot/baton/flows"
)

// runDigests runs d until the returned stop is called; stop returns once
// Run has (running digests finished).
func runDigests(t *testing.T, d *bot.Digests) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(cancel)
	return func() {
		cancel()
		if err := recv(t, done, "Digests.Run to return"); err != nil {
			t.Error(err)
		}
	}
}

// digestsTo returns the digests m sent, by recipient.
func digestsTo(m *messenger) map[string][]call {
	out := map[string][]call{}
	for _, c := range m.calls() {
		if strings.HasPrefix(c.Msg.Title, "Good morning") {
			out[c.To] = append(out[c.To], c)
		}
	}
	return out
}

// TestDigests: on a working day at 09:00 in each person's timezone, everyone
// with tasks waiting gets one digest on each platform that reaches them
// (Slack or Teams, or both), listing the tasks with their buttons; two
// replicas running the schedule still send one each.
func TestDigests(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	slack, teams := newMessenger("slack"), newMessenger("teams")
	slack.unreachable = func(r flows.Recipient) bool { return r.Person == "dana" }
	teams.unreachable = func(r flows.Recipient) bool { return r.Person != "dana" && r.Person != "bob" }
	h.start(t, "a", "alice", 900) // to Bob, her manager
	h.start(t, "i", "ivan", 900)  // to Bob too
	h.start(t, "c", "carol", 900) // to Dana
	ms := []bot.Messenger{slack, teams}
	d1 := bot.NewDigests(bot.DigestAt{Hour: 9}, h.Svc, ms, h.Store, h.Clock, h.log, h.metrics)
	h2 := wrap(h.Rig) // the second replica's metrics
	d2 := bot.NewDigests(bot.DigestAt{Hour: 9}, h.Svc, ms, h.Store, h.Clock, h.log, h2.metrics)
	zones := d1.Zones(t.Context())
	if !slices.Contains(zones["Europe/Paris"], "dana") || !slices.Contains(zones["Europe/London"], "bob") {
		t.Fatalf("zones: %v", zones)
	}
	stops := []func(){runDigests(t, d1), runDigests(t, d2)}
	if err := h.Clock.BlockUntilContext(t.Context(), 2*len(zones)); err != nil {
		t.Fatal(err)
	}
	// It is Thursday 10:00 in Paris: Dana's digest comes Friday 09:00 (in 23 h), on Teams.
	h.Clock.Advance(23 * time.Hour)
	if c := teams.next(t); c.To != "U-dana" {
		t.Fatalf("first digest: %v", c)
	}
	// An hour later it is 09:00 in London: Bob's, on both.
	h.Clock.Advance(time.Hour)
	slack.next(t)
	teams.next(t)
	for _, stop := range stops {
		stop()
	}
	if got := digestsTo(slack); len(got) != 1 || len(got["U-bob"]) != 1 {
		t.Fatalf("digests on Slack: %v, want one to Bob", got)
	}
	got := digestsTo(teams)
	if len(got) != 2 || len(got["U-bob"]) != 1 || len(got["U-dana"]) != 1 {
		t.Fatalf("digests on Teams: %v, want one each to Bob and Dana", got)
	}
	bob := got["U-bob"][0].Msg
	if bob.Title != "Good morning: 2 tasks are waiting on you" || len(bob.Items) != 2 || len(bob.Items[0].Actions) == 0 ||
		!slices.Equal(bob.Context, []string{`Your daily digest from Baton · "tasks" shows the list any time`}) {
		t.Errorf("Bob's digest: %+v", bob)
	}
	sent := 0.0
	for _, r := range []*harness{h, h2} {
		sent += r.counter(t, "baton_digests_total", "platform", "teams", "result", "ok") + r.counter(t, "baton_digests_total", "platform", "slack", "result", "ok")
	}
	if sent != 3 {
		t.Errorf("digests counted by the two replicas: %v, want 3", sent)
	}
}

// TestDigestOnWorkingDays: the directory's working days are the digest's,
// and its holidays are not: with Friday 27 November a holiday, Dana's
// digest of that day is not sent (nor claimed), Monday's is.
func TestDigestOnWorkingDays(t *testing.T) {
	t.Parallel()
	defs, dir := bottest.Builtins(t)
	w := *dir.WorkingHours()
	w.Days = []time.Weekday{time.Sunday, time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}
	w.Holidays = map[string]bool{"2026-11-27": true}
	h := wrap(bottest.NewWith(t, defs, dir.WithWorkingHours(&w), []string{"olivia"}))
	m := newMessenger("teams")
	d := bot.NewDigests(bot.DigestAt{Hour: 9}, h.Svc, []bot.Messenger{m}, h.Store, h.Clock, h.log, h.metrics)
	if got := d.Days(); got != "0,1,2,3,4,5" {
		t.Fatalf("cron days %q", got)
	}
	h.start(t, "c", "carol", 900) // to Dana
	ctx := t.Context()
	// It is Thursday 10:00 in Paris: the run of Friday 09:00 sends nothing.
	h.Clock.Advance(23 * time.Hour)
	d.Send(ctx, "Europe/Paris", []string{"dana"})
	if n := len(digestsTo(m)["U-dana"]); n != 0 {
		t.Fatalf("%d digests on a holiday", n)
	}
	// Monday's does.
	h.Clock.Advance(72 * time.Hour)
	d.Send(ctx, "Europe/Paris", []string{"dana"})
	if n := len(digestsTo(m)["U-dana"]); n != 1 {
		t.Fatalf("%d digests on Monday", n)
	}
	for day, claimed := range map[string]bool{"2026-11-27": false, "2026-11-30": true} {
		if free, err := h.Store.Claim(ctx, "digest:dana:"+day, time.Hour); err != nil || free == claimed {
			t.Errorf("digest of %s: claimed before: %v (err %v), want %v", day, !free, err, claimed)
		}
	}
	// A second run that day (another replica) sends nothing more.
	d.Send(ctx, "Europe/Paris", []string{"dana"})
	if n := len(digestsTo(m)["U-dana"]); n != 1 {
		t.Fatalf("%d digests on Monday after a second run", n)
	}
	// Tuesday, a replica of the version whose Slack adapter sent digests
	// has sent Dana's (its claim is there): none more.
	h.Clock.Advance(24 * time.Hour)
	if ok, err := h.Store.Claim(ctx, "slack-digest:dana:2026-12-01", time.Hour); err != nil || !ok {
		t.Fatal(ok, err)
	}
	d.Send(ctx, "Europe/Paris", []string{"dana"})
	if n := len(digestsTo(m)["U-dana"]); n != 1 {
		t.Fatalf("%d digests by Tuesday, when an older replica had sent one", n)
	}
}

// TestDigestStopsAtShutdown: a shutdown during a timezone's digests lets
// the one being sent finish (its claim is taken: nobody else would send
// it) and starts no other.
func TestDigestStopsAtShutdown(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	m := newMessenger("teams")
	entered, release := make(chan struct{}), make(chan struct{})
	m.setHook(func(ctx context.Context, c call) error {
		close(entered)
		<-release
		return ctx.Err() // a send cut short by the shutdown would fail
	})
	h.start(t, "a", "alice", 900) // to Bob
	h.start(t, "c", "carol", 900) // to Dana
	d := bot.NewDigests(bot.DigestAt{Hour: 9}, h.Svc, []bot.Messenger{m}, h.Store, h.Clock, h.log, h.metrics)
	h.Clock.Advance(24 * time.Hour)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { d.Send(ctx, "Europe/London", []string{"bob", "dana"}); close(done) }()
	recv(t, entered, "Bob's digest to be sent")
	cancel() // shutting down
	close(release)
	recv(t, done, "Send to return")
	if got := digestsTo(m); len(got) != 1 || len(got["U-bob"]) != 1 {
		t.Fatalf("digests: %v, want Bob's alone", got)
	}
	if free, err := h.Store.Claim(t.Context(), "digest:dana:2026-11-27", time.Hour); err != nil || !free {
		t.Errorf("Dana's digest was claimed (%v) after the shutdown began", err)
	}
}

// zoned is a messenger that knows people's timezones, as Slack does.
type zoned struct {
	*messenger
	tz map[string]string
}

func (z zoned) Timezone(_ context.Context, to bot.Address) (string, error) {
	if tz, ok := z.tz[to.Person]; ok {
		return tz, nil
	}
	return "", errors.New("user_not_found")
}

// TestDigestZones: a person without a timezone in the directory gets the
// one a platform has for them, else the working hours' (else UTC); a
// timezone a platform gets wrong is not used; nobody reached, no digest.
func TestDigestZones(t *testing.T) {
	t.Parallel()
	defs, dir := bottest.Builtins(t)
	people := dir.People()
	for i := range people {
		switch people[i].ID {
		case "alice", "bob", "carol":
			people[i].Timezone = ""
		}
	}
	for _, hours := range []bool{true, false} {
		d, err := flows.NewDirectory(people, dir.Channels())
		if err != nil {
			t.Fatal(err)
		}
		if hours {
			d = d.WithWorkingHours(dir.WorkingHours()) // Europe/London
		}
		h := wrap(bottest.NewWith(t, defs, d, nil))
		m := zoned{newMessenger("slack"), map[string]string{"alice": "America/Chicago", "bob": "Mars/Olympus_Mons"}}
		m.unreachable = func(r flows.Recipient) bool { return r.Person == "hana" }
		zones := bot.NewDigests(bot.DigestAt{Hour: 9}, h.Svc, []bot.Messenger{m}, h.Store, h.Clock, h.log, nil).Zones(t.Context())
		fallback := "UTC"
		if hours {
			fallback = "Europe/London"
		}
		if !slices.Contains(zones["America/Chicago"], "alice") || !slices.Contains(zones[fallback], "bob") ||
			!slices.Contains(zones[fallback], "carol") || !slices.Contains(zones["Europe/Paris"], "dana") {
			t.Errorf("working hours %v: zones %v", hours, zones)
		}
		for _, ps := range zones {
			if slices.Contains(ps, "hana") {
				t.Errorf("hana, whom no platform reaches, has a digest: %v", zones)
			}
		}
	}
}

// TestDigestInItsZone: a digest sent at 09:00 in the timezone a platform
// has for someone the directory gives none shows its due times in that
// timezone, not the working hours'.
func TestDigestInItsZone(t *testing.T) {
	t.Parallel()
	defs, dir := bottest.Builtins(t)
	people := dir.People()
	for i := range people {
		if people[i].ID == "bob" {
			people[i].Timezone = ""
		}
	}
	d, err := flows.NewDirectory(people, dir.Channels())
	if err != nil {
		t.Fatal(err)
	}
	h := wrap(bottest.NewWith(t, defs, d.WithWorkingHours(dir.WorkingHours()), nil))
	h.start(t, "a", "alice", 900) // to Bob, her manager
	m := zoned{newMessenger("slack"), map[string]string{"bob": "America/Chicago"}}
	dg := bot.NewDigests(bot.DigestAt{Hour: 9}, h.Svc, []bot.Messenger{m}, h.Store, h.Clock, h.log, nil)
	if zones := dg.Zones(t.Context()); !slices.Contains(zones["America/Chicago"], "bob") {
		t.Fatalf("zones %v", zones)
	}
	dg.Send(t.Context(), "America/Chicago", []string{"bob"})
	got := digestsTo(m.messenger)["U-bob"]
	if len(got) != 1 || len(got[0].Msg.Items) != 1 || !strings.Contains(got[0].Msg.Items[0].Text, " CST") {
		t.Fatalf("Bob's digest: %+v, want its due time in Chicago's", got)
	}
}

// TestDigestPlatformFails: a platform that fails does not keep the
// digest from the others; the failure is counted.
func TestDigestPlatformFails(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	slack, teams := newMessenger("slack"), newMessenger("teams")
	slack.setHook(func(context.Context, call) error { return errors.New("slack is down") })
	h.start(t, "a", "alice", 900)
	d := bot.NewDigests(bot.DigestAt{Hour: 9}, h.Svc, []bot.Messenger{slack, teams}, h.Store, h.Clock, h.log, h.metrics)
	h.Clock.Advance(24 * time.Hour)
	d.Send(t.Context(), "Europe/London", []string{"alice", "bob"})
	if got := digestsTo(teams); len(got) != 1 || len(got["U-bob"]) != 1 {
		t.Fatalf("digests on Teams: %v, want one to Bob (Alice has nothing waiting)", got)
	}
	if n := h.counter(t, "baton_digests_total", "platform", "slack", "result", "failed"); n != 1 {
		t.Errorf("failed digests counted: %v", n)
	}
	if !strings.Contains(h.logs.String(), "slack is down") {
		t.Errorf("failure not logged: %s", h.logs.String())
	}
}

// TestDigestOff: BATON_DIGEST_AT=off schedules nothing.
func TestDigestOff(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	d := bot.NewDigests(bot.DigestAt{Off: true}, h.Svc, []bot.Messenger{newMessenger("slack")}, h.Store, h.Clock, h.log, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := d.Run(ctx); err != nil || ctx.Err() != nil { // returns at once
		t.Fatalf("Run: %v; returned after its context ended: %v", err, ctx.Err())
	}
	for in, want := range map[string]string{"": "09:00", "off": "off", "OFF": "off", " 7:30 ": "07:30", "18:05": "18:05"} {
		if at, err := bot.ParseDigestAt(in); err != nil || at.String() != want {
			t.Errorf("ParseDigestAt(%q) = %v, %v; want %s", in, at, err, want)
		}
	}
	for _, in := range []string{"9", "25:00", "nine", "09:00 pm"} {
		if _, err := bot.ParseDigestAt(in); err == nil {
			t.Errorf("ParseDigestAt(%q) accepted", in)
		}
	}
}
