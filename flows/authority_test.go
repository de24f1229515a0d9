package flows_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/batonbot/baton/flows"
)

func TestOnlyAssigneesDecide(t *testing.T) {
	t.Parallel()
	r := buyRun(t, "2500")
	for _, kind := range []flows.EventKind{flows.EventApprove, flows.EventReject, flows.EventRequestChanges, flows.EventReassign} {
		tr := r.refused(flows.Event{Kind: kind, Actor: "carol", Reason: "x", Target: "erin"}, flows.CodeNotAssignee)
		if tr.Outcome.Text != "X-1 (Manager approval) is assigned to Bob Chen; only they, their delegates or an admin can act on it." {
			t.Fatalf("refusal %q", tr.Outcome.Text)
		}
		a := tr.Audit[0]
		if a.Action != string(kind) || a.Actor != "carol" || !a.Refused || a.Step != "manager" || a.Round != 1 || a.Reason != tr.Outcome.Text {
			t.Fatalf("refusal audit %+v", a)
		}
		if tr.Instance.Status != flows.StatusRunning || len(tr.Instance.Tasks) != 1 || tr.Instance.Tasks[0].Decision != flows.Pending {
			t.Fatal("a refusal changed the task")
		}
	}
	// The requester cannot decide their own request.
	r.refused(flows.Event{Kind: flows.EventApprove, Actor: "alice"}, flows.CodeNotAssignee)
	// Someone else is refused (and audited) even when what they sent is also
	// incomplete: authority is checked before input.
	r.refused(flows.Event{Kind: flows.EventReject, Actor: "gus"}, flows.CodeNotAssignee)
	tl := r.e.Timeline(r.in, r.audit, "bob", r.now)
	var refusals int
	for _, it := range tl.Items {
		if strings.HasSuffix(it.Title, "(refused)") {
			refusals++
		}
	}
	if refusals != 6 {
		t.Fatalf("timeline shows %d refusals, want 6", refusals)
	}
}

func TestAdminDecides(t *testing.T) {
	t.Parallel()
	r := buyRun(t, "2500")
	tr := r.act(flows.EventApprove, admin)
	if a := tr.Audit[0]; a.Action != "approved" || a.Actor != admin || a.Detail["authority"] != "admin" || a.OnBehalf != "" {
		t.Fatalf("audit %+v", a)
	}
	if r.in.History[0].By != admin || r.in.Step != "finance" {
		t.Fatalf("instance %+v", r.in)
	}
	// For the whole step, whatever its policy.
	r.act(flows.EventReject, admin, reason("policy breach"))
	if r.in.Status != flows.StatusRejected || r.in.History[1].By != admin {
		t.Fatalf("instance %+v", r.in)
	}
}

// Self-approval is forbidden unless the step allows it, whatever the route:
// an admin or an escalation target who made the request may not decide it.
func TestNoSelfApprovalByAnyRoute(t *testing.T) {
	t.Parallel()
	t.Run("an admin's own request", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, newEngine(t, buyFlow))
		r.start("buy", admin, form("item", "x", "amount", "5"))
		if got := assignees(r.in); !slices.Equal(got, []string{"olivia"}) {
			t.Fatalf("assignees %v", got)
		}
		tr := r.refused(flows.Event{Kind: flows.EventApprove, Actor: admin}, flows.CodeNotAllowed)
		contains(t, "refusal", tr.Outcome.Text, "You made X-1, so you may not decide Manager approval yourself; Olivia Brown can.")
		r.refused(flows.Event{Kind: flows.EventReassign, Actor: admin, Target: "erin"}, flows.CodeNotAllowed)
		tr = r.refused(flows.Event{Kind: flows.EventSkip, Actor: admin, Reason: "mine"}, flows.CodeNotAllowed)
		contains(t, "refusal", tr.Outcome.Text, "You made X-1, so you may not skip Manager approval yourself; Olivia Brown can.")
		r.act(flows.EventApprove, "olivia")
	})
	t.Run("the owner's own request", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, newEngine(t, buyFlow))
		r.start("buy", "olivia", form("item", "x", "amount", "5"))
		tr := r.refused(flows.Event{Kind: flows.EventSkip, Actor: "olivia", Reason: "mine"}, flows.CodeNotAllowed)
		contains(t, "refusal", tr.Outcome.Text, "You made X-1, so you may not skip Manager approval yourself; Ada Admin can.")
		r.act(flows.EventSkip, admin, reason("agreed"))
		if r.in.Status != flows.StatusCompleted {
			t.Fatal(r.in.Status)
		}
	})
	// Nobody but the requester could approve it (no manager, the owner is
	// the requester, no other admin): the request fails at once, saying
	// why, rather than waiting on the requester's own approval.
	for _, c := range []struct {
		name      string
		requester string // owns the flow, has no manager
		admins    []string
	}{{"no admin", "zed", nil}, {"the only admin", admin, []string{admin}}} {
		t.Run(c.name+", owning the flow: nobody may approve", func(t *testing.T) {
			t.Parallel()
			e, err := flows.NewEngine([]*flows.Definition{mustParse(t, assigneeFlow("approval", c.requester, "manager", ""))}, testDir(t), c.admins)
			if err != nil {
				t.Fatal(err)
			}
			r := newRun(t, e)
			tr := r.start("who", c.requester, nil)
			if r.in.Status != flows.StatusFailed || len(r.in.Tasks) != 0 {
				t.Fatalf("status %s, tasks %+v: want failed, with nobody asked", r.in.Status, r.in.Tasks)
			}
			contains(t, "outcome", tr.Outcome.Text, "but it failed at once: no one is available as the requester's manager, and nobody else may approve it (the requester's manager, the flow's owner and every admin are missing or the requester).")
			// The requester owns the flow: told what they may do, which is
			// not skipping their own approval.
			notice := notified(t, tr, c.requester, "failed/2/"+c.requester).Msg.Text
			contains(t, "requester's notice", notice, "could not complete: no one is available", "X-1 waits at this step: you may cancel the request (cancel X-1 and a reason).")
			if a := r.audit[len(r.audit)-1]; a.Action != "assign_failed" {
				t.Errorf("last record %+v, want assign_failed", a)
			}
			if evs := flows.HookEvents(tr); !slices.ContainsFunc(evs, func(ev flows.HookEvent) bool { return ev.Type == flows.HookFailed }) {
				t.Errorf("webhook events %+v: none says it failed", evs)
			}
			tr = r.refused(flows.Event{Kind: flows.EventApprove, Actor: c.requester}, flows.CodeClosed)
			contains(t, "refusal", tr.Outcome.Text, "X-1 failed; there is nothing to decide.")
		})
	}
	t.Run("a state holding the requester's own task", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, newEngine(t, buyFlow))
		r.start("buy", "alice", form("item", "x", "amount", "5"))
		r.in.Tasks[0].Assignee = "alice" // as no version assigns it
		tr := r.refused(flows.Event{Kind: flows.EventApprove, Actor: "alice"}, flows.CodeNotAllowed)
		contains(t, "refusal", tr.Outcome.Text, "You made X-1, so you may not decide Manager approval yourself.")
	})
	t.Run("an escalation to the requester goes to the owner", func(t *testing.T) {
		t.Parallel()
		// dana asks and erin reviews: the first rung escalates to erin's
		// manager, who is dana; the second names dana.
		r := newRun(t, newEngine(t, assigneeFlow("approval", "olivia", "person:erin", `    escalate:
      - {after: 1h, notify: manager}
      - {after: 2h, notify: "person:dana"}
`)))
		r.start("who", "dana", nil)
		tr := r.fire(flows.TimerEscalate)
		if got := recipients(tr); !slices.Equal(got, []string{"olivia"}) {
			t.Fatalf("escalated to %v, want the owner", got)
		}
		tr = r.fire(flows.TimerEscalate)
		if got := recipients(tr); len(got) != 0 || slices.Contains(r.in.Escalated, "dana") {
			t.Fatalf("escalated to %v (escalated: %v)", got, r.in.Escalated)
		}
		r.refused(flows.Event{Kind: flows.EventApprove, Actor: "dana"}, flows.CodeNotAssignee)
		r.act(flows.EventApprove, "olivia")
	})
	t.Run("allowed by the step", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, newEngine(t, assigneeFlow("approval", "olivia", "person:bob", "    allow_self_approval: true\n")))
		r.start("who", admin, nil)
		r.act(flows.EventApprove, admin)
		if r.in.Status != flows.StatusCompleted {
			t.Fatal(r.in.Status)
		}
	})
}

// A definition changed under a running request (an escalation rung removed)
// must not crash the engine when the old timer fires or a card is drawn.
func TestDefinitionChangedUnderARequest(t *testing.T) {
	t.Parallel()
	before := newEngine(t, timersFlow("wait"))
	r := newRun(t, before)
	r.start("tmr", "alice", nil)
	after := newEngine(t, `
id: tmr
name: Timers
owner: olivia
steps:
  - id: review
    name: Review
    type: approval
    assignees: [person:bob]
    due: 1d
    on_timeout: wait
`)
	r.e = after
	tm, _ := r.timer(flows.TimerEscalate, 1)
	r.now = tm.At
	tr := r.do(flows.Event{Kind: flows.EventTimer, Timer: tm.ID})
	if tr.Outcome.OK != true {
		t.Fatalf("outcome %+v", tr.Outcome)
	}
	// Nothing to do, and the trail says why; the timer is gone for good.
	if tr.Noop || len(tr.Audit) != 1 || tr.Audit[0].Reason != "its escalation rung is no longer in the flow's definition" ||
		slices.ContainsFunc(r.in.Timers, func(x flows.Timer) bool { return x.ID == tm.ID }) {
		t.Fatalf("fired: noop %v, audit %+v, timers %+v", tr.Noop, tr.Audit, r.in.Timers)
	}
	if list := after.TaskList([]*flows.Instance{r.in}, "bob", r.now); len(list.Items) != 1 {
		t.Fatalf("task list %+v", list)
	}
	r.act(flows.EventApprove, "bob")
	if r.in.Status != flows.StatusCompleted {
		t.Fatal(r.in.Status)
	}
}

// Takers are whom a task may be moved to: never the requester of an
// approval that forbids self-approval, nor anyone already on the step;
// everyone else of the directory. Each is what the engine then accepts.
func TestTakers(t *testing.T) {
	t.Parallel()
	e := newEngine(t, buyFlow)
	r := newRun(t, e)
	r.start("buy", "alice", form("item", "x", "amount", "5"))
	r.act(flows.EventDelegate, "bob", target("erin")) // bob holds the manager's task
	ids := func(ps []flows.Person) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.ID)
		}
		return out
	}
	for _, delegate := range []bool{false, true} {
		got := ids(e.Takers(r.in, delegate))
		for _, no := range []string{"alice", "bob", "erin"} {
			if slices.Contains(got, no) {
				t.Errorf("delegate %v: takers %v include %s", delegate, got, no)
			}
		}
		if len(got) != len(e.Directory().People())-3 {
			t.Errorf("delegate %v: takers %v, want everyone else", delegate, got)
		}
	}
	// The engine takes each of them, and refuses the others.
	for _, kind := range []flows.EventKind{flows.EventReassign, flows.EventDelegate} {
		takers := ids(e.Takers(r.in, kind == flows.EventDelegate))
		for _, p := range e.Directory().People() {
			ev := flows.Event{Kind: kind, Instance: r.in.ID, Key: "k", Actor: "bob", Target: p.ID}
			tr, err := e.Apply(r.in, ev, r.now)
			took := err == nil && tr.Outcome.OK
			if took != slices.Contains(takers, p.ID) {
				t.Errorf("%s to %s: took %v (err %v), takers %v", kind, p.ID, took, err, takers)
			}
		}
	}
}

// A refused attempt is recorded and changes nothing else: the request's
// updated time stays when it was last changed, even on a closed request.
func TestRefusalLeavesUpdated(t *testing.T) {
	t.Parallel()
	r := buyRun(t, "500")
	started := r.in.Updated
	r.now = r.now.Add(time.Hour)
	if tr := r.act(flows.EventApprove, "carol"); tr.Outcome.OK || !r.in.Updated.Equal(started) {
		t.Fatalf("carol's approval: %+v, updated %v, want refused and %v", tr.Outcome, r.in.Updated, started)
	}
	r.act(flows.EventApprove, "bob")
	decided := r.in.Updated
	if !decided.Equal(r.now) {
		t.Fatalf("bob's approval: updated %v, want %v", decided, r.now)
	}
	r.now = r.now.Add(time.Hour)
	if tr := r.act(flows.EventApprove, "bob"); tr.Outcome.OK || !r.in.Updated.Equal(decided) {
		t.Fatalf("approving a closed request: %+v, updated %v, want refused and %v", tr.Outcome, r.in.Updated, decided)
	}
	if last := r.audit[len(r.audit)-1]; !last.Refused {
		t.Fatalf("the refusal was not recorded: %+v", last)
	}
}

// A person's words are at most MaxText characters: more is bad input, and
// nothing is recorded; MaxText is taken.
func TestReasonAtMostMaxText(t *testing.T) {
	t.Parallel()
	r := buyRun(t, "500")
	r.inputErr(flows.Event{Kind: flows.EventReject, Actor: "bob", Reason: strings.Repeat("é", flows.MaxText+1)}, "The text is 4001 characters; keep it to 4000.")
	r.inputErr(flows.Event{Kind: flows.EventComment, Actor: "alice", Reason: strings.Repeat("x", flows.MaxText+1)}, "keep it to 4000")
	if tr := r.act(flows.EventReject, "bob", reason(strings.Repeat("é", flows.MaxText))); !tr.Outcome.OK {
		t.Fatalf("a reason of MaxText characters: %+v", tr.Outcome)
	}
}
