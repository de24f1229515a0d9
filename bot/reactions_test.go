package bot_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/bot/bottest"
	"github.com/batonbot/baton/flows"
)

// TestMain runs the package's tests, and its fuzz targets, with
// -fuzzminimizetime shortened (bottest.FuzzMain): large seeds would stall
// fuzzing for testing's default minute of minimising each new find.
func TestMain(m *testing.M) { bottest.FuzzMain(m) }

// Fuzzing minimises for bottest.FuzzMinimizeTime unless told otherwise.
func TestFuzzMinimizeTime(t *testing.T) {
	t.Parallel()
	bottest.CheckFuzzMinimizeTime(t)
}

// TestReactionOffer: a reaction asks back only the person who may make the
// decision it means, now, and only a decision the card offers.
func TestReactionOffer(t *testing.T) {
	t.Parallel()
	r := bottest.New(t)
	out, err := r.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventStart, Key: "s1", Flow: "purchase", Actor: "alice",
		Data: map[string]string{"item": "Laptop", "amount": "500", "justification": "my old one broke down"}})
	if err != nil || !out.OK {
		t.Fatalf("start: %v %+v", err, out)
	}
	in, err := r.Svc.Instance(t.Context(), out.Instance)
	if err != nil {
		t.Fatal(err)
	}
	card := bot.CardDecision{Instance: in.ID, Step: "manager", Round: 1, Yes: flows.ActApprove, No: flows.ActReject}
	offer := func(c bot.CardDecision, actor string, yes bool) *flows.Message {
		t.Helper()
		m, err := bot.ReactionOffer(t.Context(), r.Svc, c.String(), actor, yes, "reacted 👍")
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := offer(card, "bob", true)
	if m == nil || len(m.Actions) != 1 || !reflect.DeepEqual(m.Actions[0], flows.Action{Kind: flows.ActApprove, Label: "Approve", Style: "primary", Instance: in.ID, Step: "manager", Round: 1}) ||
		m.Text != "You reacted 👍 to Purchase request "+in.ID+": Laptop (EUR 500). Approve it?" {
		t.Fatalf("Bob's yes: %+v", m)
	}
	if m := offer(card, "bob", false); m == nil || m.Actions[0].Kind != flows.ActReject || m.Actions[0].Style != "danger" {
		t.Fatalf("Bob's no: %+v", m)
	}
	for name, m := range map[string]*flows.Message{
		"Carol's yes (not her task)":      offer(card, "carol", true),
		"a yes to a card with no yes":     offer(bot.CardDecision{Instance: in.ID, Step: "manager", Round: 1, No: flows.ActReject}, "bob", true),
		"a yes to another round":          offer(bot.CardDecision{Instance: in.ID, Step: "manager", Round: 2, Yes: flows.ActApprove}, "bob", true),
		"a record naming another request": offer(bot.CardDecision{Instance: "PR-999", Step: "manager", Round: 1, Yes: flows.ActApprove}, "bob", true),
	} {
		if m != nil {
			t.Errorf("%s was offered %+v", name, m)
		}
	}
	if out, err := r.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventApprove, Key: "a1", Instance: in.ID, Actor: "bob"}); err != nil || !out.OK {
		t.Fatalf("approve: %v %+v", err, out)
	}
	if m := offer(card, "bob", true); m != nil {
		t.Errorf("a yes to a decided card was offered %+v", m)
	}
	if _, err := bot.ReactionOffer(t.Context(), r.Svc, "PR-1|manager", "bob", true, "👍"); err == nil {
		t.Error("an unreadable record was read")
	}
}

func TestCardDecisionOf(t *testing.T) {
	t.Parallel()
	m := &flows.Message{Kind: flows.MsgTask, Actions: []flows.Action{
		{Kind: flows.ActApprove, Instance: "PR-7", Step: "finance", Round: 2},
		{Kind: flows.ActReject, Instance: "PR-7", Step: "finance", Round: 2},
		{Kind: flows.ActSnooze, Instance: "PR-7", Step: "finance", Round: 2, Choice: "1h"}}}
	c, ok := bot.CardDecisionOf(m)
	if !ok || c != (bot.CardDecision{Instance: "PR-7", Step: "finance", Round: 2, Yes: flows.ActApprove, No: flows.ActReject}) {
		t.Fatalf("%+v %v", c, ok)
	}
	if back, err := bot.ParseCardDecision(c.String()); err != nil || back != c {
		t.Fatalf("%q → %+v %v", c.String(), back, err)
	}
	if _, ok := bot.CardDecisionOf(&flows.Message{Kind: flows.MsgOutcome}); ok {
		t.Error("a card without a decision offers one")
	}
	m.Outcome = "Approved by Bob Chen"
	if _, ok := bot.CardDecisionOf(m); ok {
		t.Error("a closed card offers a decision")
	}
	for _, bad := range []string{"", "PR-1|manager|x|approve|", "PR-1|manager|1"} {
		if _, err := bot.ParseCardDecision(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// FuzzCardDecision: what parses round-trips.
func FuzzCardDecision(f *testing.F) {
	f.Add("PR-1|manager|1|approve|reject")
	f.Add("PR-1|review|3|done|")
	f.Fuzz(func(t *testing.T, s string) {
		if c, err := bot.ParseCardDecision(s); err == nil {
			if c2, err := bot.ParseCardDecision(c.String()); err != nil || c2 != c {
				t.Fatalf("%q: %+v does not round-trip (%+v, %v)", s, c, c2, err)
			}
		}
	})
}

// TestReplyMeaning: a short yes or no in a card's thread is read, with its
// emoji, markup and a few words around it; anything hedged, asked or long
// is not.
func TestReplyMeaning(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		text    string
		yes, ok bool
	}{
		{"lgtm", true, true},
		{"LGTM!", true, true},
		{"approved, thanks", true, true},
		{"Looks good to me 👍🏽", true, true},
		{"looks good", true, true},
		{":+1::skin-tone-3:", true, true},
		{"✔️", true, true},
		{"+1", true, true},
		{"ship it", true, true},
		{"Approved. Thanks Alice", true, true},
		{"done", true, true},
		{"Rejected", false, true},
		{"declined :x:", false, true},
		{"👎", false, true},
		{"-1 from me", false, true},
		{"not approved", false, false},
		{"I don't approve", false, false},
		{"I can’t approve this", false, false},
		{"approved?", false, false},
		{"approved once the quote is attached", false, false},
		{"lgtm but wait for Carol", false, false},
		{"approve or reject", false, false},
		{"ok", false, false},
		{"no", false, false},
		{"thanks", false, false},
		{"", false, false},
		{"Approved, the laptop model is the one we standardised on last year", false, false},
		{"the quote looks fine", false, false},
	} {
		yes, ok := bot.ReplyMeaning(c.text)
		if yes != c.yes || ok != c.ok {
			t.Errorf("ReplyMeaning(%q) = %v, %v; want %v, %v", c.text, yes, ok, c.yes, c.ok)
		}
	}
	if got := bot.RepliedWith("  lgtm,\n thanks"); got != "replied “lgtm, thanks”" {
		t.Errorf("RepliedWith: %q", got)
	}
	if got := bot.RepliedWith("approved " + strings.Repeat("x", 60)); len([]rune(got)) != len([]rune("replied “”"))+40 || !strings.HasSuffix(got, "…”") {
		t.Errorf("RepliedWith of a long reply: %q", got)
	}
}
