package bot_test

import (
	"errors"
	"fmt"
	"github.com/batonbot/baton/bot/bottest"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
)

// A start whose person field names nobody in the directory is refused
// before an id is reserved: the next request gets the next number.
func TestStartWithUnknownPersonUsesNoID(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	form := func(editor string) map[string]string {
		return map[string]string{"headline": "Launch post", "draft": "https://docs.example.com/d/1", "editor": editor}
	}
	first, err := h.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventStart, Key: "c1", Actor: "alice", Flow: "content", Data: form("ivan")})
	if err != nil || first.Instance != "CR-1" {
		t.Fatalf("first start: %+v %v", first, err)
	}
	_, err = h.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventStart, Key: "c2", Actor: "alice", Flow: "content", Data: form("zed")})
	var fe flows.FieldErrors
	if !errors.As(err, &fe) || fe["editor"] == "" {
		t.Fatalf("a start naming an unknown editor: %v, want a field error on editor", err)
	}
	next, err := h.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventStart, Key: "c3", Actor: "alice", Flow: "content", Data: form("ivan")})
	if err != nil || next.Instance != "CR-2" {
		t.Fatalf("the next start is %+v %v, want CR-2", next, err)
	}
}

// A form pre-filled for resubmission shows numbers as typed: a million is
// 1000000, not 1e+06 (which a number input may refuse).
func TestFormValuesNumbersAsTyped(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	def, _ := h.Engine.Flow("purchase")
	got := bot.FormValues(def, &flows.Instance{Data: map[string]any{"amount": 1000000.0, "item": "Servers"}})
	if got["amount"] != "1000000" || got["item"] != "Servers" {
		t.Fatalf("form values %v", got)
	}
	got = bot.FormValues(def, &flows.Instance{Data: map[string]any{"amount": 1234.5}})
	if got["amount"] != "1234.5" {
		t.Fatalf("form values %v", got)
	}
	got = bot.FormValues(def, &flows.Instance{Data: map[string]any{"amount": 1.125}})
	if got["amount"] != "1.125" {
		t.Fatalf("form values %v", got)
	}
}

// TestCommandIDWithoutDash: "status A15" finds the one request it can be;
// where it can be two (prefixes A and A1), the person is asked for the dash
// rather than one of them being cancelled.
func TestCommandIDWithoutDash(t *testing.T) {
	t.Parallel()
	var defs []*flows.Definition
	for _, p := range []string{"A", "A1"} {
		src := "id: f" + strings.ToLower(p) + "\nname: F" + p + "\nowner: olivia\nprefix: " + p + "\nsteps:\n  - {id: s, type: task, assignees: [owner]}\n"
		d, err := flows.ParseDefinition("f.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		defs = append(defs, d)
	}
	r := bottest.NewWith(t, defs, nil, nil)
	ctx := t.Context()
	var last string
	for range 5 {
		last = mustStart(t, r, "fa1")
	}
	if last != "A1-5" {
		t.Fatalf("fifth A1 request %s", last)
	}
	rep, err := r.Svc.Command(ctx, "alice", "web", "k1", "status a15")
	if err != nil || rep.Refused || rep.Message.Instance != "A1-5" {
		t.Fatalf("status a15 with only A1-5: %+v %v", rep.Message, err)
	}
	for range 15 {
		last = mustStart(t, r, "fa")
	}
	rep, err = r.Svc.Command(ctx, "alice", "web", "k2", "cancel A15 dup")
	if err != nil || !rep.Refused || !strings.Contains(rep.Message.Title, "A15 can be A-15 or A1-5: type the id with its dash.") {
		t.Fatalf("cancel A15 with both: %+v %v", rep.Message, err)
	}
	for _, id := range []string{"A-15", "A1-5"} {
		if in, _ := r.Svc.Instance(ctx, id); in.Status != flows.StatusRunning {
			t.Errorf("%s is %s", id, in.Status)
		}
	}
}

func mustStart(t *testing.T, r *bottest.Rig, flow string) string {
	t.Helper()
	out, err := r.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventStart, Key: flow + "-" + strconv.Itoa(rand.Int()), Flow: flow, Actor: "alice"})
	if err != nil || !out.OK {
		t.Fatal(err, out)
	}
	return out.Instance
}

// A commit whose reply was lost (go-redis sent the script again, which
// found the event's key) is told as a duplicate: the dispatcher is woken
// all the same, for the effects the first commit left in the outbox.
func TestDuplicateWakesTheDispatcher(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.start(t, "s1", "alice", 500)
	ev := flows.Event{Kind: flows.EventApprove, Key: "a1", Instance: id, Actor: "bob"}
	// The first commit, as if its reply never came back.
	if _, err := h.Store.Apply(t.Context(), ev, func(cur *flows.Instance) (*flows.Transition, error) {
		return h.Engine.Apply(cur, ev, h.Clock.Now())
	}); err != nil {
		t.Fatal(err)
	}
	woken := 0
	h.Svc.OnCommit(func() { woken++ })
	out, result, err := h.Svc.Apply(t.Context(), ev)
	if err != nil || result != bot.ResultDuplicate || !out.OK || woken != 1 {
		t.Fatalf("the event again: %+v %s %v, woken %d times; want the first outcome, a duplicate, the dispatcher woken", out, result, err, woken)
	}
}

// A start redelivered after its needed-by date has passed (a retry the next
// day) is the first start, not a refusal of the date.
func TestStartRetriedAfterItsDate(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ev := flows.Event{Kind: flows.EventStart, Key: "s1", Actor: "alice", Flow: "purchase",
		Data: map[string]string{"item": "Desk", "amount": "300", "justification": "my back hurts", "needed_by": h.Clock.Now().Format(time.DateOnly)}}
	first, _, err := h.Svc.Apply(t.Context(), ev)
	if err != nil || !first.OK {
		t.Fatalf("start: %+v %v", first, err)
	}
	h.Clock.Advance(48 * time.Hour)
	again, result, err := h.Svc.Apply(t.Context(), ev)
	if err != nil || result != bot.ResultDuplicate || again.Instance != first.Instance {
		t.Fatalf("the start again, two days later: %+v %s %v; want %s as a duplicate", again, result, err, first.Instance)
	}
	ev.Key = "s2" // a new start with that date is refused
	if _, result, err := h.Svc.Apply(t.Context(), ev); result != bot.ResultInvalid || err == nil || !strings.Contains(err.Error(), "Needed by must be today") {
		t.Fatalf("a new start with a past date: %s %v", result, err)
	}
	// ... before an id is reserved for it: the next start takes the next id.
	ev.Key, ev.Data["needed_by"] = "s3", h.Clock.Now().Format(time.DateOnly)
	if next, _, err := h.Svc.Apply(t.Context(), ev); err != nil || next.Instance != "PR-2" {
		t.Fatalf("the next start: %+v %v; want PR-2 (PR-1 the first)", next, err)
	}
}

// away shares the person's pending and new tasks with who stands in, and
// back stops sharing new ones; mistakes are told and change nothing.
func TestAwayCommand(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	cmd := func(who, text string) bot.Reply {
		t.Helper()
		rep, err := h.Svc.Command(ctx, who, "web", "k-"+text, text)
		if err != nil || rep.Message == nil {
			t.Fatalf("%s: %+v %v", text, rep, err)
		}
		return rep
	}
	delegates := func(id string) []string {
		t.Helper()
		in, err := h.Store.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return in.Tasks[0].Delegates
	}
	pending := h.start(t, "s1", "alice", 500) // waits on bob
	for text, want := range map[string]string{
		"away until 30/11":              `"30/11" is not a date`,
		"away until 2026-11-01":         "is already past",
		"away until 2028-01-01":         "more than a year away",
		"away until 2026-11-30 zed":     `"zed" is not a person in the directory`,
		"away until 2026-11-30 @Bob":    "Name someone else",
		"away until 2026-11-30 <@U999>": `"@U999" is not a person in the directory`,
		"back":                          "You are not marked away",
		"away":                          "You are not away. To be, say your last day away: away until 2026-12-24 (Dana Kowalski stands in), or name who else stands in by their id: away until 2026-12-24 ID.",
	} {
		if rep := cmd("bob", text); !rep.Refused || !strings.Contains(rep.Message.Title, want) {
			t.Errorf("%s: %+v, want a refusal saying %q", text, rep.Message.Title, want)
		}
	}
	if got := delegates(pending); len(got) != 0 {
		t.Fatalf("a mistake shared the task with %v", got)
	}
	rep := cmd("bob", "away until 2026-11-30 @Carol")
	if rep.Refused || rep.Message.Title != "You are away through Mon 30 Nov, and Carol Diaz stands in: new tasks of yours are shared with them, and they decide on your behalf. 1 pending task was shared now. Type back when you return." {
		t.Fatalf("away: %+v", rep.Message.Title)
	}
	if got := delegates(pending); !slices.Equal(got, []string{"carol"}) {
		t.Fatalf("bob's pending task is shared with %v, want carol", got)
	}
	if got := delegates(h.start(t, "s2", "alice", 500)); !slices.Equal(got, []string{"carol"}) {
		t.Fatalf("a new task of bob's is shared with %v, want carol", got)
	}
	if rep := cmd("bob", "away"); !strings.HasPrefix(rep.Message.Title, "You are away through Mon 30 Nov, and Carol Diaz stands in.") {
		t.Errorf("away, asked: %q", rep.Message.Title)
	}
	// Carol, a stand-in only, goes away: nothing of Bob's is hers to pass on
	// (and no refusal is recorded); naming her now is refused.
	if rep := cmd("carol", "away until 2026-11-28 frank"); rep.Refused || strings.Contains(rep.Message.Title, "shared now") {
		t.Fatalf("carol away: %+v", rep.Message.Title)
	}
	if entries, err := h.Store.Audit(ctx, pending); err != nil || slices.ContainsFunc(entries, func(e flows.AuditEntry) bool { return e.Refused }) {
		t.Fatalf("audit of %s: %+v %v; want no refusal", pending, entries, err)
	}
	if rep := cmd("bob", "away until 2026-11-30 carol"); !rep.Refused || !strings.Contains(rep.Message.Title, "Carol Diaz is away too") {
		t.Fatalf("naming an away stand-in: %+v", rep.Message.Title)
	}
	// Another stand-in named: they stand in on the pending tasks, in
	// Carol's place.
	if rep := cmd("bob", "away until 2026-11-30 frank"); rep.Refused || !strings.Contains(rep.Message.Title, "2 pending tasks were shared now. Carol Diaz no longer stands in on "+pending+", PR-2.") {
		t.Fatalf("a new stand-in: %+v", rep.Message.Title)
	}
	if got := delegates(pending); !slices.Equal(got, []string{"frank"}) {
		t.Fatalf("bob's pending task is shared with %v, want frank", got)
	}
	if rep := cmd("bob", "back"); rep.Refused || !strings.HasPrefix(rep.Message.Title, "Welcome back") {
		t.Fatalf("back: %+v", rep.Message.Title)
	}
	third := h.start(t, "s3", "alice", 500)
	if got := delegates(third); len(got) != 0 {
		t.Fatalf("a task after back is shared with %v", got)
	}
	// A stand-in who may not take a pending task (alice, its requester): it
	// goes to bob's manager instead, and the answer says so.
	if rep := cmd("bob", "away until 2026-11-30 alice"); rep.Refused ||
		!strings.Contains(rep.Message.Title, "Shared with Dana Kowalski instead, as Alice Martin may not take them: "+pending+", PR-2, "+third+".") {
		t.Fatalf("bob away naming alice: %+v", rep.Message.Title)
	}
	if got := delegates(third); !slices.Equal(got, []string{"dana"}) {
		t.Fatalf("%s shared with %v, want dana", third, got)
	}
	// Nobody may take it: said.
	own := h.start(t, "s4", "frank", 500) // waits on dana, who has no manager or backup
	if rep := cmd("dana", "away until 2026-11-30 frank"); rep.Refused ||
		!strings.Contains(rep.Message.Title, "Not shared, as nobody may take them: "+own+"; pass them on from their cards.") {
		t.Fatalf("dana away naming frank, the requester: %+v", rep.Message.Title)
	}
}

// away again, while away: longer with the same stand-in, the tasks stay
// theirs, and nobody else is brought in; with another, the new one takes
// the earlier one's place (their card closes), where they may (the
// earlier one stays where nobody may); and the first away said again
// brings the first stand-in back.
func TestAwayAgain(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	m := newMessenger("fake")
	h.Use(m)
	ctx := t.Context()
	n := 0
	cmd := func(who, text string) string {
		t.Helper()
		n++
		rep, err := h.Svc.Command(ctx, who, "web", fmt.Sprint("k", n), text)
		if err != nil || rep.Message == nil || rep.Refused {
			t.Fatalf("%s: %+v %v", text, rep, err)
		}
		h.Drain()
		return rep.Message.Title
	}
	task := func(id string) flows.Task {
		t.Helper()
		in, err := h.Store.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return in.Tasks[0]
	}
	pending := h.start(t, "s1", "alice", 500) // waits on bob
	cmd("bob", "away until 2026-11-30 carol")
	later := h.start(t, "s2", "alice", 500) // made shared with carol
	ivans := h.start(t, "s3", "ivan", 500)  // bob's too: ivan may not stand in on it
	h.Drain()
	for _, id := range []string{pending, later, ivans} {
		if got := task(id); got.StandIn != "carol" || !slices.Equal(got.Delegates, []string{"carol"}) {
			t.Fatalf("%s: %+v, want carol standing in", id, got)
		}
	}
	sent := len(m.calls())
	if got := cmd("bob", "away until 2026-12-04 carol"); !strings.Contains(got, "You are away through Fri 4 Dec, and Carol Diaz stands in") ||
		!strings.Contains(got, "3 pending tasks stay shared with them.") || strings.Contains(got, "instead") {
		t.Fatalf("away longer: %q", got)
	}
	if got := task(pending); !slices.Equal(got.Delegates, []string{"carol"}) {
		t.Fatalf("away longer: shared with %v, want carol alone", got.Delegates)
	}
	if calls := m.calls()[sent:]; len(calls) != 0 {
		t.Fatalf("away longer sent %v", calls)
	}
	cmd("dana", "away until 2026-12-10 olivia") // bob's manager: nobody else may take ivan's
	if got := cmd("bob", "away until 2026-12-04 ivan"); !strings.Contains(got, "2 pending tasks were shared now. Still shared with Carol Diaz, as Ivan Petrov may not take them: "+ivans+
		". Carol Diaz no longer stands in on "+pending+", "+later+".") {
		t.Fatalf("another stand-in: %q", got)
	}
	closed := map[string]bool{}
	for _, c := range m.calls() {
		if c.Op == "update" && strings.HasPrefix(c.Ref, "fake/U-carol/") && strings.Contains(c.Msg.Outcome, "Ivan Petrov stands in for Bob Chen now, in your place") {
			closed[c.Instance] = true
		}
	}
	for _, id := range []string{pending, later} {
		if got := task(id); got.StandIn != "ivan" || !slices.Equal(got.Delegates, []string{"ivan"}) {
			t.Fatalf("%s: %+v, want ivan alone standing in", id, got)
		}
		if !closed[id] {
			t.Errorf("carol's card of %s was not closed", id)
		}
	}
	for _, id := range []string{pending, later} { // carol took part: she still reads them
		if got := cmd("carol", "status "+id); !strings.Contains(got, id) {
			t.Errorf("carol's status of %s: %q", id, got)
		}
	}
	if got := task(ivans); got.StandIn != "carol" || closed[ivans] {
		t.Errorf("%s: %+v, closed %v; want carol still standing in", ivans, got, closed[ivans])
	}
	if in, _ := h.Store.Get(ctx, later); in.Routed != "Bob Chen is away through Fri 4 Dec, and Ivan Petrov stands in" {
		t.Errorf("%s routed %q", later, in.Routed)
	}
	// Back to the first away, as it was first said: no repeat of it.
	if got := cmd("bob", "away until 2026-11-30 carol"); !strings.Contains(got, "2 pending tasks were shared now. 1 pending task stays shared with them. Ivan Petrov no longer stands in") {
		t.Fatalf("carol again: %q", got)
	}
	if got := task(pending); got.StandIn != "carol" || !slices.Equal(got.Delegates, []string{"carol"}) {
		t.Fatalf("carol again: %+v, want carol alone standing in", got)
	}
	// And back to Ivan, a second time: as said, not taken for a repeat.
	cmd("bob", "away until 2026-12-04 ivan")
	if got := task(pending); got.StandIn != "ivan" || !slices.Equal(got.Delegates, []string{"ivan"}) {
		t.Fatalf("ivan again: %+v, want ivan alone standing in", got)
	}
}

// Whoever decided a step may see the request, though the step's record
// names someone else as the last to decide (a delegate's approval on an
// all step, a stand-in's), and so may the person they decided for.
func TestMayViewDeciders(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	in := &flows.Instance{ID: "AR-1", Flow: "access", Requester: "alice", Status: flows.StatusCompleted,
		History: []flows.StepRecord{{Step: "security", Round: 1, Outcome: "approved", By: "gus", Deciders: []string{"hana", "gus"}, For: []string{"erin"}, Assigned: []string{"gus"}}}}
	for who, want := range map[string]bool{"hana": true, "erin": true, "gus": true, "alice": true, "zed": false} {
		if got := h.Svc.MayView(who, in); got != want {
			t.Errorf("MayView(%s) = %v, want %v", who, got, want)
		}
	}
}

type slashNamer struct{}

func (slashNamer) CommandFor(words string) string { return "/baton " + words }

// Answers name commands as the platform's people type them: "/baton
// back" in Slack, "back" elsewhere.
func TestCommandsNamedPerPlatform(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Svc.SetCommandNamer("slack", slashNamer{})
	for platform, want := range map[string]string{"slack": "Start one with: /baton start <flow>.", "web": "Start one with: start <flow>."} {
		rep, err := h.Svc.Command(t.Context(), "alice", platform, "k-"+platform, "requests")
		if err != nil || rep.Message == nil || rep.Message.Text != "You have no requests yet. "+want {
			t.Errorf("%s: %+v %v", platform, rep.Message, err)
		}
	}
	rep, err := h.Svc.Command(t.Context(), "alice", "slack", "k-x", "status PR-99")
	if err != nil || !strings.Contains(rep.Message.Title, "your requests: type /baton requests.") {
		t.Errorf("status of no request: %+v %v", rep.Message, err)
	}
}

// The command parser's notes name commands as Slack's people type them too.
func TestCommandNotesNamedPerPlatform(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Svc.SetCommandNamer("slack", slashNamer{})
	for text, want := range map[string]string{
		"status":  "Say which request: /baton status <id>, e.g. /baton status PR-12.",
		"approve": "type /baton tasks to see what waits on you.",
	} {
		rep, err := h.Svc.Command(t.Context(), "alice", "slack", "k-"+text, text)
		if err != nil || rep.Message == nil || !strings.Contains(rep.Message.Text, want) {
			t.Errorf("%s: %+v %v, want %q", text, rep.Message, err, want)
		}
	}
}

// comment, delegate and skip, typed: what the status page offers, for
// people in chat. Mistakes are told and change nothing.
func TestRequestCommands(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	id := h.start(t, "s1", "alice", 500) // waits on Bob; Olivia owns the flow
	cmd := func(who, text string) bot.Reply {
		t.Helper()
		rep, err := h.Svc.Command(ctx, who, "web", "k-"+who+text, text)
		if err != nil || rep.Message == nil {
			t.Fatalf("%s: %+v %v", text, rep, err)
		}
		return rep
	}
	trail := func() int {
		t.Helper()
		a, err := h.Store.Audit(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return len(a)
	}
	before := trail()
	for _, c := range []struct{ who, text, want string }{
		{"alice", "comment " + id, "Say what: comment " + id + " <text>."},
		{"hana", "comment " + id + " hello", id + " is not one of your requests or tasks"},
		{"bob", "delegate " + id, "Say to whom: delegate " + id + " <person> [reason]."},
		{"bob", "delegate " + id + " zed", `"zed" is not a person in the directory`},
		{"olivia", "skip " + id, "Say why: skip " + id + " <reason>."},
		{"alice", "skip PR-99 why", "There is no request PR-99."},
		{"alice", "delegate", "Say which request: delegate <id>"},
	} {
		rep := cmd(c.who, c.text)
		got := rep.Message.Title + rep.Message.Text
		if !rep.Refused && !strings.HasPrefix(c.want, "Say which") || !strings.Contains(got, c.want) {
			t.Errorf("%s by %s: %q (refused %v), want %q", c.text, c.who, got, rep.Refused, c.want)
		}
	}
	if n := trail(); n != before {
		t.Fatalf("the mistakes changed the trail: %d entries, %d before", n, before)
	}
	// Refused by the engine, and recorded as such.
	if rep := cmd("bob", "skip "+id+" not needed"); !rep.Refused || !strings.Contains(rep.Message.Title, "Only the flow owner (Olivia Brown) or an admin can skip a step.") {
		t.Errorf("skip by bob: %+v", rep.Message)
	}

	if rep := cmd("alice", "comment "+id+" the quote is attached"); rep.Refused || rep.Message.Title != "Comment added to "+id+"." {
		t.Errorf("comment: %+v", rep.Message)
	}
	if rep := cmd("bob", "delegate "+id+" @carol on leave"); rep.Refused {
		t.Errorf("delegate: %+v", rep.Message)
	}
	in, err := h.Store.Get(ctx, id)
	if err != nil || !slices.Equal(in.Tasks[0].Delegates, []string{"carol"}) {
		t.Fatalf("after delegate: %+v %v", in.Tasks, err)
	}
	if rep := cmd("olivia", "skip "+id+" ordered by phone"); rep.Refused {
		t.Errorf("skip: %+v", rep.Message)
	}
	a, err := h.Store.Audit(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range a[before:] {
		got = append(got, e.Actor+" "+e.Action+" "+e.Reason)
	}
	for _, want := range []string{"alice commented the quote is attached", "bob delegated on leave", "olivia skipped ordered by phone"} {
		if !slices.Contains(got, want) {
			t.Errorf("the trail lacks %q: %q", want, got)
		}
	}
}
