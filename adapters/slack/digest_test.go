package slack

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
)

// TestDigest: Baton's daily digest (bot.Digests) reaches a Slack reviewer as
// a DM listing the tasks with their buttons, telling them the slash command
// that lists them any time.
func TestDigest(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	ev := flows.Event{Kind: flows.EventStart, Flow: "purchase", Actor: "alice", Key: "digest",
		Data: map[string]string{"item": "Laptop", "amount": "900", "justification": "my old one broke down"}}
	if out, err := h.rig.Svc.Handle(ctx, ev); err != nil || !out.OK {
		t.Fatal(err, out)
	}
	h.settle()
	h.seen = len(h.api.Calls())
	d := bot.NewDigests(bot.DigestAt{Hour: 9}, h.rig.Svc, []bot.Messenger{h.a.Messenger()}, h.rig.Store, h.rig.Clock, nil, nil)
	h.rig.Clock.Advance(24 * time.Hour) // Friday 09:00 in London
	d.Send(ctx, "Europe/London", []string{"alice", "bob"})
	var digests []apiCall
	for _, c := range h.api.Calls()[h.seen:] {
		if c.Method == "chat.postMessage" && strings.Contains(c.str("text"), "Good morning") {
			digests = append(digests, c)
		}
	}
	if len(digests) != 1 || digests[0].str("channel") != "D0BOB" {
		t.Fatalf("digests: %v, want one to Bob", digests)
	}
	c := digests[0]
	if !strings.Contains(c.str("text"), "Good morning: 1 task is waiting on you") || !slices.Contains(c.buttons(), "v1|approve|PR-1|manager|1|") ||
		!strings.Contains(c.str("blocks"), "/baton tasks shows the list any time") {
		t.Errorf("Bob's digest: %s", c.summary())
	}
}

// TestDigestZones: the digest asks Slack (users.info, cached) for the
// timezone of people the directory gives none; one Slack does not know
// is not used.
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
	d := bot.NewDigests(bot.DigestAt{Hour: 9}, h.rig.Svc, []bot.Messenger{h.a.Messenger()}, h.rig.Store, h.rig.Clock, h.rig.Log, nil)
	for range 2 {
		zones := d.Zones(context.Background())
		if !slices.Contains(zones["America/Chicago"], "alice") || !slices.Contains(zones["UTC"], "bob") {
			t.Fatalf("zones: %v", zones)
		}
	}
	if n := count(h.api.Calls(), "users.info"); n != 2 {
		t.Fatalf("users.info called %d times for two people, twice each: the answers are not cached", n)
	}
}
