package bot_test

import (
	"errors"
	"github.com/batonbot/baton/bot/bottest"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

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
