package flows_test

import (
	"testing"
	"time"

	"github.com/batonbot/baton/flows"
)

func TestTimeWords(t *testing.T) {
	t.Parallel()
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no timezone database:", err)
	}
	at := time.Date(2026, 11, 27, 16, 0, 0, 0, time.UTC)
	if got := flows.FormatTime(at, paris); got != "Fri 27 Nov 17:00 CET" {
		t.Errorf("FormatTime = %q", got)
	}
	if got := flows.FormatTime(at, nil); got != "Fri 27 Nov 16:00 UTC" {
		t.Errorf("FormatTime(nil) = %q", got)
	}
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{{3 * time.Hour, "in 3 h"}, {0, "in 0 s"}, {-2 * day, "2 d ago"}, {-90 * time.Second, "1 min 30 s ago"}} {
		if got := flows.Relative(at.Add(tt.d), at); got != tt.want {
			t.Errorf("Relative(%s) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestActionEventKind(t *testing.T) {
	t.Parallel()
	for kind, want := range map[flows.ActionKind]flows.EventKind{
		flows.ActApprove: flows.EventApprove, flows.ActWithdraw: flows.EventWithdraw,
		// These first ask for something: a reason, a person, a form.
		flows.ActReject: "", flows.ActChanges: "", flows.ActReassign: "", flows.ActDone: "", flows.ActResubmit: "", flows.ActStart: "", flows.ActStatus: "",
	} {
		if got := (flows.Action{Kind: kind}).EventKind(); got != want {
			t.Errorf("%s: %q, want %q", kind, got, want)
		}
	}
}

func TestDefinitionErrorListsEveryProblem(t *testing.T) {
	t.Parallel()
	err := &flows.DefinitionError{Problems: []flows.Problem{
		{File: "a.yaml", Line: 3, Path: "steps[0].due", Msg: "bad"},
		{File: "b.yaml", Msg: "empty"},
	}}
	if got := err.Error(); got != "a.yaml:3: steps[0].due: bad\nb.yaml: empty" {
		t.Fatalf("Error() = %q", got)
	}
}

func TestInstanceCloneIsDeep(t *testing.T) {
	t.Parallel()
	r := buyRun(t, "2500")
	r.act(flows.EventDelegate, "bob", target("erin"))
	withDelegate := r.in.Clone()
	withDelegate.Tasks[0].Delegates[0] = "mallory"
	if r.in.Tasks[0].Delegates[0] != "erin" {
		t.Fatal("Clone shares delegates")
	}
	r.act(flows.EventRequestChanges, "bob", reason("x"))
	in := r.in
	c := in.Clone()
	c.Data["item"] = "changed"
	c.Refs = map[string]string{"x": "y"}
	c.Rounds["manager"] = 9
	c.Seen["manager"]["item"] = "changed"
	c.History[0].Reason = "changed"
	if in.Data["item"] != "Laptop" || in.Rounds["manager"] != 1 || in.Seen["manager"]["item"] != "Laptop" || in.History[0].Reason == "changed" {
		t.Fatalf("Clone shares state: %+v", in)
	}
	var nilIn *flows.Instance
	if nilIn.Clone() != nil {
		t.Fatal("nil Clone")
	}
	if (&flows.Instance{Status: flows.StatusRejected, Tasks: []flows.Task{{Assignee: "x"}}}).Pending() != nil {
		t.Fatal("a request that is not running waits on nobody")
	}
	for _, s := range flows.Statuses {
		// Failed is open: the request waits at the step it failed at.
		if s.Open() != (s == flows.StatusRunning || s == flows.StatusChangesRequested || s == flows.StatusRejected || s == flows.StatusFailed) {
			t.Errorf("%s.Open() = %v", s, s.Open())
		}
	}
}

// A refusal reads as a sentence, except that a name it starts with stays
// as written.
func TestInputErrorSentence(t *testing.T) {
	t.Parallel()
	for msg, want := range map[string]string{
		"a reason is required to reject":           "A reason is required to reject.",
		"bob's task is not yours to move":          "Bob's task is not yours to move.",
		"Is this yours?":                           "Is this yours?",
		"slack:U123 made this request":             "slack:U123 made this request.",
		"dana@example.com is not in the directory": "dana@example.com is not in the directory.",
		"42 is more than the maximum, 10":          "42 is more than the maximum, 10.",
		"  ":                                       "",
	} {
		if got := (&flows.InputError{Msg: msg}).Error(); got != want {
			t.Errorf("%q: got %q, want %q", msg, got, want)
		}
	}
}

// TestOutcomeTime: a closed card's outcome time is found whether it is
// written in UTC (one card for everyone) or in its person's zone (Zone),
// and written again in a reader's; an outcome without At is left alone.
func TestOutcomeTime(t *testing.T) {
	t.Parallel()
	seoul, err := time.LoadLocation("Asia/Seoul")
	if err != nil {
		t.Skip("no timezone database:", err)
	}
	at := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name     string
		m        flows.Message
		lead, in string // in: OutcomeIn(Seoul)
	}{
		{"UTC", flows.Message{Outcome: "Approved by Bob Chen · Thu 26 Nov 09:00 UTC\nReason: fine", At: at},
			"Approved by Bob Chen · ", "Approved by Bob Chen · Thu 26 Nov 18:00 KST\nReason: fine"},
		{"its person's zone", flows.Message{Outcome: "Approved by Erin Park · Thu 26 Nov 18:00 KST", At: at, Zone: "Asia/Seoul"},
			"Approved by Erin Park · ", "Approved by Erin Park · Thu 26 Nov 18:00 KST"},
		{"no At", flows.Message{Outcome: "Approved by Bob Chen · Thu 26 Nov 09:00 UTC"}, "", "Approved by Bob Chen · Thu 26 Nov 09:00 UTC"},
		{"an unknown zone", flows.Message{Outcome: "Approved · Thu 26 Nov 09:00 XYZ", At: at, Zone: "Nowhere/Atlantis"}, "", "Approved · Thu 26 Nov 09:00 XYZ"},
	} {
		lead, ok := tt.m.OutcomeLead()
		if lead != tt.lead || ok != (tt.lead != "") {
			t.Errorf("%s: OutcomeLead = %q, %v; want %q", tt.name, lead, ok, tt.lead)
		}
		if got := tt.m.OutcomeIn(seoul); got != tt.in {
			t.Errorf("%s: OutcomeIn = %q, want %q", tt.name, got, tt.in)
		}
	}
}
