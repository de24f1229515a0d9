package flows_test

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/batonbot/baton/flows"
)

func TestRejectAndResubmit(t *testing.T) {
	t.Parallel()
	r := buyRun(t, "2500")
	r.act(flows.EventApprove, "bob")
	wantStatus(t, r.in, flows.StatusRunning, "finance", 1)

	r.inputErr(flows.Event{Kind: flows.EventReject, Actor: "carol", Reason: "  "}, "A reason is required to reject.")
	tr := r.act(flows.EventReject, "carol", reason("Over budget; split it"))
	wantStatus(t, r.in, flows.StatusRejected, "finance", 1)
	if r.in.Outcome != "Over budget; split it" || len(r.in.Tasks) != 0 {
		t.Fatalf("rejected instance %+v", r.in)
	}
	if a := tr.Audit[0]; a.Action != "rejected" || a.Actor != "carol" || a.Reason != "Over budget; split it" || a.Step != "finance" || a.Round != 1 {
		t.Fatalf("audit %+v", a)
	}
	// The requester is told, with the reason, and may resubmit or withdraw.
	back := notified(t, tr, "alice", "requester/finance/1").Msg
	if back.Kind != flows.MsgOutcome || back.Title != "Rejected: Purchase X-1 (Laptop (2500))" {
		t.Fatalf("requester card %+v", back)
	}
	contains(t, "requester card", back.Text, "Carol Diaz rejected your request at Finance approval.\nReason: Over budget; split it")
	if got := actions(back.Actions); !slices.Equal(got, []flows.ActionKind{flows.ActResubmit, flows.ActWithdraw}) {
		t.Fatalf("requester actions %v", got)
	}
	// Every finance card is closed, showing who rejected and why.
	closed := updated(t, tr, "finance/1/").Msg
	contains(t, "closed card", closed.Outcome, "Rejected by Carol Diaz · Thu 26 Nov 09:00 UTC", "Reason: Over budget; split it")
	if len(closed.Actions) != 0 {
		t.Fatal("closed card keeps buttons")
	}
	contains(t, "outcome", tr.Outcome.Text, "Rejected X-1; Alice Martin has been told.")

	// Frank's click on his card, now stale, names who decided first.
	late := r.refused(flows.Event{Kind: flows.EventApprove, Actor: "frank", Step: "finance", Round: 1}, flows.CodeAlreadyDecided)
	contains(t, "stale click", late.Outcome.Text, "X-1 was already rejected by Carol Diaz at Thu 26 Nov 09:00 UTC.")
	// Someone in Paris reads the time in their zone; the record keeps UTC.
	late = r.refused(flows.Event{Kind: flows.EventApprove, Actor: "dana", Step: "finance", Round: 1}, flows.CodeAlreadyDecided)
	contains(t, "stale click", late.Outcome.Text, "X-1 was already rejected by Carol Diaz at Thu 26 Nov 10:00 CET.")
	if a := late.Audit[0]; a.Reason != "X-1 was already rejected by Carol Diaz at Thu 26 Nov 09:00 UTC." {
		t.Fatalf("stale click's record %+v", a)
	}
	// Only the requester resubmits, and only a valid form.
	r.refused(flows.Event{Kind: flows.EventResubmit, Actor: "bob", Data: form("item", "Laptop", "amount", "1800")}, flows.CodeNotAllowed)
	r.inputErr(flows.Event{Kind: flows.EventResubmit, Actor: "alice", Data: form("item", "", "amount", "1800")}, "Item is required")

	r.now = r.now.Add(3600e9)
	tr = r.act(flows.EventResubmit, "alice", data("item", "Laptop", "amount", "1800", "vendor", "Dell"), reason("split in two"))
	wantStatus(t, r.in, flows.StatusRunning, "finance", 2)
	if r.in.Rounds["finance"] != 2 || r.in.Rounds["manager"] != 1 || r.in.Outcome != "" || r.in.Title != "Laptop (1800)" {
		t.Fatalf("resubmitted instance %+v", r.in)
	}
	// The rejection's card, with its Edit and resubmit button, is closed,
	// still showing what was rejected.
	if closed := updated(t, tr, "requester/finance/1").Msg; len(closed.Actions) != 0 || closed.Outcome != "Resubmitted · Thu 26 Nov 10:00 GMT" ||
		!strings.Contains(closed.Title, "Laptop (2500)") || !slices.Contains(closed.Fields, flows.Fact{Label: "Amount", Value: "2500"}) {
		t.Fatalf("returned card after the resubmission: %+v", closed)
	}
	wantChanges := []flows.Change{{Field: "amount", Label: "Amount", Old: "2500", New: "1800"}, {Field: "vendor", Label: "Vendor", Old: "", New: "Dell"}}
	if !slices.Equal(r.in.Changes, wantChanges) {
		t.Fatalf("changes %+v", r.in.Changes)
	}
	if a := tr.Audit[0]; a.Action != "resubmitted" || a.Actor != "alice" || a.Reason != "split in two" || a.Detail["amount"] != "2500 → 1800" || a.Detail["vendor"] != "(empty) → Dell" {
		t.Fatalf("resubmitted entry %+v", a)
	}
	if a := tr.Audit[1]; a.Action != "assigned" || a.Round != 2 || a.Detail["changed.amount"] != "2500 → 1800" {
		t.Fatalf("assigned entry %+v", a)
	}
	if got := recipients(tr); !slices.Equal(got, []string{"carol", "frank", "gina", "bob"}) {
		t.Fatalf("round 2 cards to %v", got)
	}
	// Bob, who approved the first version, is told what changed; his
	// approval stands.
	told := notified(t, tr, "bob", "changed/finance/1/bob").Msg
	if told.Kind != flows.MsgInfo || told.Title != "Changed after you approved it: Purchase X-1 (Laptop (1800))" ||
		len(told.Actions) != 1 || told.Actions[0].Kind != flows.ActStatus {
		t.Fatalf("bob's notice %+v", told)
	}
	// He decided round 1 of the manager's step: the request's round 2 (of
	// finance) is not his notice's.
	if told.Step != "manager" || told.Round != 1 || !slices.Equal(told.Context, []string{"Requested by Alice Martin"}) {
		t.Errorf("bob's notice is of %s round %d, context %q; want manager round 1, and no round line", told.Step, told.Round, told.Context)
	}
	contains(t, "bob's notice", told.Text, "Alice Martin changed X-1 after you approved it at Manager approval, and resubmitted it to Finance approval. The approval stands",
		"What changed this time:\n• Amount: 2500 → 1800\n• Vendor: (empty) → Dell\nTheir note: split in two")
	card := notified(t, tr, "carol", "finance/2/carol").Msg
	if card.Round != 2 || !slices.Equal(card.Changes, wantChanges) || !slices.Contains(card.Context, "Round 2") {
		t.Fatalf("round 2 card %+v", card)
	}
	for _, a := range card.Actions {
		if a.Round != 2 {
			t.Fatalf("round 2 button %+v", a)
		}
	}
	contains(t, "outcome", tr.Outcome.Text, "Resubmitted X-1 (round 2).")
	// A click on a round 1 card is stale; round 2 is decided normally.
	r.refused(flows.Event{Kind: flows.EventApprove, Actor: "gina", Step: "finance", Round: 1}, flows.CodeAlreadyDecided)
	tr = r.act(flows.EventApprove, "gina", on("finance", 2))
	wantStatus(t, r.in, flows.StatusCompleted, "", 0)
	if r.in.Outcome != "approved" || r.in.Changes != nil || !r.in.Completed.Equal(r.now) {
		t.Fatalf("completed instance %+v", r.in)
	}
	done := notified(t, tr, "alice", "requester/done").Msg
	if done.Kind != flows.MsgOutcome || done.Title != "Approved: Purchase X-1 (Laptop (1800))" {
		t.Fatalf("done card %+v", done)
	}
	contains(t, "done card", done.Text, "Manager approval: approved by Bob Chen", "Finance approval: approved by Gina Ray")
	// The notify step ran with the new data.
	ops := notified(t, tr, "#ops", "notify/order").Msg
	if ops.Text != "Alice Martin may buy Laptop from Dell for 1800 (X-1)" {
		t.Fatalf("notify text %q", ops.Text)
	}
	// And a closed request refuses everything but comments.
	r.refused(flows.Event{Kind: flows.EventApprove, Actor: "gina"}, flows.CodeClosed)
	r.refused(flows.Event{Kind: flows.EventResubmit, Actor: "alice", Data: form("item", "x", "amount", "1")}, flows.CodeClosed)
	r.refused(flows.Event{Kind: flows.EventWithdraw, Actor: "alice"}, flows.CodeClosed)
	r.refused(flows.Event{Kind: flows.EventCancel, Actor: "olivia", Reason: "x"}, flows.CodeClosed)
	r.refused(flows.Event{Kind: flows.EventSkip, Actor: "olivia", Reason: "x"}, flows.CodeClosed)
}

// A rejected request is back with its requester, who may resubmit it: a
// decision for the next round is not reached yet, not out of date.
func TestDecisionWhileRejected(t *testing.T) {
	t.Parallel()
	r := buyRun(t, "500")
	r.act(flows.EventReject, "bob", reason("too dear"))
	if r.in.Status != flows.StatusRejected {
		t.Fatalf("status %s", r.in.Status)
	}
	contains(t, "a decision for round 2", r.refused(flows.Event{Kind: flows.EventApprove, Actor: "bob", Step: "manager", Round: 2}, flows.CodeNotReached).Outcome.Text,
		"X-1 is back with Alice Martin (rejected): nothing is to be decided until they resubmit it.")
}

func TestRequestChangesAndRevisionCap(t *testing.T) {
	t.Parallel()
	r := buyRun(t, "500")
	r.inputErr(flows.Event{Kind: flows.EventRequestChanges, Actor: "bob"}, "A reason is required to request changes.")
	tr := r.act(flows.EventRequestChanges, "bob", reason("add a quote"))
	wantStatus(t, r.in, flows.StatusChangesRequested, "manager", 1)
	back := notified(t, tr, "alice", "requester/manager/1").Msg
	if back.Kind != flows.MsgChanges || back.Title != "Changes requested: Purchase X-1 (Laptop (500))" ||
		!slices.Contains(back.Context, "You can resubmit 1 more time.") {
		t.Fatalf("changes card %+v", back)
	}
	contains(t, "changes card", back.Text, "Bob Chen asked for changes at Manager approval.\nReason: add a quote")
	contains(t, "closed card", updated(t, tr, "manager/1/").Msg.Outcome, "Changes requested by Bob Chen")

	// Nothing to decide while the request is with the requester: this
	// round was decided, and the next is not reached until a resubmission.
	r.refused(flows.Event{Kind: flows.EventApprove, Actor: "bob"}, flows.CodeAlreadyDecided)
	contains(t, "a decision for round 2", r.refused(flows.Event{Kind: flows.EventApprove, Actor: "bob", Step: "manager", Round: 2}, flows.CodeNotReached).Outcome.Text,
		"X-1 is back with Alice Martin (for changes): nothing is to be decided until they resubmit it.")

	tr = r.act(flows.EventResubmit, "alice", data("item", "Laptop", "amount", "500", "vendor", "Dell"))
	wantStatus(t, r.in, flows.StatusRunning, "manager", 2)
	// Round 2 is the last this step allows: no more "request changes".
	card := notified(t, tr, "bob", "manager/2/bob").Msg
	if got := actions(card.Actions); !slices.Equal(got, []flows.ActionKind{flows.ActApprove, flows.ActReject, flows.ActReassign, flows.ActSnooze}) {
		t.Fatalf("last-round actions %v", got)
	}
	r.inputErr(flows.Event{Kind: flows.EventRequestChanges, Actor: "bob", Reason: "more"}, "X-1 has had 2 rounds at Manager approval, the most allowed; approve or reject it")
	// A rejection at the last round is final: the request is closed
	// (declined), as nothing can be resubmitted.
	tr = r.act(flows.EventReject, "bob", reason("no budget left"))
	wantStatus(t, r.in, flows.StatusDeclined, "manager", 2)
	if r.in.Status.Open() || r.in.Completed.IsZero() {
		t.Fatalf("a declined request is open: %+v", r.in)
	}
	back = notified(t, tr, "alice", "requester/manager/2").Msg
	if len(back.Actions) != 0 || !slices.Contains(back.Context, "That was its last round (2 of 2): the request is closed.") {
		t.Fatalf("the final rejection's card: %v %q", actions(back.Actions), back.Context)
	}
	if a := tr.Audit[len(tr.Audit)-1]; a.Action != "declined" || !strings.Contains(a.Reason, "rejected at its last round (2 of 2)") {
		t.Fatalf("audit %+v", a)
	}
	if evs := flows.HookEvents(tr); !slices.ContainsFunc(evs, func(e flows.HookEvent) bool {
		return e.Type == flows.HookDeclined && e.Instance.Status == flows.StatusDeclined
	}) {
		t.Errorf("no declined event for subscribers: %+v", evs)
	}
	contains(t, "a resubmission", r.refused(flows.Event{Kind: flows.EventResubmit, Actor: "alice", Data: form("item", "x", "amount", "1")}, flows.CodeClosed).Outcome.Text,
		"X-1 was rejected at the last round Manager approval allows, and is closed; start a new request instead.")
	contains(t, "a withdrawal", r.refused(flows.Event{Kind: flows.EventWithdraw, Actor: "alice"}, flows.CodeClosed).Outcome.Text, "X-1 is already declined.")
}

// TestWithdrawAReturnedRequest: withdrawing a request sent back to its
// requester closes it for good, and the card that sent it back loses its
// buttons.
func TestWithdrawAReturnedRequest(t *testing.T) {
	t.Parallel()
	r := buyRun(t, "500")
	r.act(flows.EventRequestChanges, "bob", reason("no budget left"))
	r.refused(flows.Event{Kind: flows.EventWithdraw, Actor: "bob"}, flows.CodeNotAllowed)
	tr := r.act(flows.EventWithdraw, "alice", reason("bought it myself"))
	if r.in.Status != flows.StatusWithdrawn || r.in.Outcome != "bought it myself" || len(effectsOf(tr, flows.EffectUpdate)) != 1 {
		t.Fatalf("withdrawn %+v, effects %s", r.in, describe(tr.Effects))
	}
	closed := updated(t, tr, "requester/manager/1").Msg
	if len(closed.Actions) != 0 || closed.Outcome != "Withdrawn · Thu 26 Nov 09:00 GMT" || !strings.Contains(closed.Text, "no budget left") {
		t.Fatalf("returned card after the withdrawal: %+v", closed)
	}
}

func TestWithdrawWhileRunning(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, timersFlow("escalate")))
	r.start("tmr", "alice", nil)
	tr := r.act(flows.EventWithdraw, "alice")
	if r.in.Status != flows.StatusWithdrawn || len(r.in.Timers) != 0 || !r.in.Completed.Equal(t0) {
		t.Fatalf("withdrawn %+v", r.in)
	}
	if got := auditActions(tr.Audit); !slices.Equal(got, []string{"withdrawn"}) {
		t.Fatalf("audit %v", got)
	}
	if n := len(effectsOf(tr, flows.EffectCancelTimer)); n != 4 {
		t.Fatalf("%d timers cancelled, want 4", n)
	}
	contains(t, "closed card", updated(t, tr, "review/1/").Msg.Outcome, "Withdrawn by Alice Martin")
	contains(t, "outcome", tr.Outcome.Text, "Withdrew X-1.")
	r.refused(flows.Event{Kind: flows.EventApprove, Actor: "bob", Step: "review", Round: 1}, flows.CodeAlreadyDecided)
}

func TestReassign(t *testing.T) {
	t.Parallel()
	r := buyRun(t, "500")
	r.inputErr(flows.Event{Kind: flows.EventReassign, Actor: "bob"}, "Say who should take it over: one person.")
	r.inputErr(flows.Event{Kind: flows.EventReassign, Actor: "bob", Target: "erin gus"}, `"erin gus" is not one person's id: type their id or email, or pick them from the list.`)
	r.inputErr(flows.Event{Kind: flows.EventReassign, Actor: "bob", Target: "Erin Park"}, `"Erin Park" is not one person's id`)
	r.inputErr(flows.Event{Kind: flows.EventReassign, Actor: "bob", Target: "alice"}, "Alice Martin made this request and may not approve it")
	r.inputErr(flows.Event{Kind: flows.EventReassign, Actor: "bob", Target: "bob"}, "You are already on this task; pick someone else.")
	r.inputErr(flows.Event{Kind: flows.EventReassign, Actor: "bob", Target: "nobody"}, `"nobody" is not a person in the directory`)
	r.inputErr(flows.Event{Kind: flows.EventDelegate, Actor: "bob", Target: "nobody"}, `"nobody" is not a person in the directory`)
	r.refused(flows.Event{Kind: flows.EventReassign, Actor: "carol", Target: "erin"}, flows.CodeNotAssignee)

	tr := r.act(flows.EventReassign, "bob", target("Erin"), reason("on leave")) // an id in any case is the person
	if got := r.in.Tasks; len(got) != 1 || got[0].Assignee != "erin" || got[0].Original != "bob" || got[0].Decision != flows.Pending {
		t.Fatalf("tasks %+v", got)
	}
	if a := tr.Audit[0]; a.Action != "reassigned" || a.Actor != "bob" || a.Reason != "on leave" || a.Detail["from"] != "bob" || a.Detail["to"] != "erin" {
		t.Fatalf("audit %+v", a)
	}
	old := updated(t, tr, "manager/1/bob").Msg
	contains(t, "old card", old.Outcome, "Reassigned by Bob Chen", "Reason: on leave", "Now with Erin Park.")
	if len(old.Actions) != 0 {
		t.Fatal("the old card keeps its buttons")
	}
	card := notified(t, tr, "erin", "manager/1/erin").Msg
	if card.Kind != flows.MsgTask || !slices.Contains(card.Context, "Reassigned to you by Bob Chen: on leave") || len(card.Actions) == 0 {
		t.Fatalf("new card %+v", card)
	}
	contains(t, "outcome", tr.Outcome.Text, "X-1 is now with Erin Park.")
	r.refused(flows.Event{Kind: flows.EventApprove, Actor: "bob"}, flows.CodeNotAssignee)

	// Passed on again, the first assignee stays on record; an admin moves it too.
	r.act(flows.EventReassign, "erin", target("gus"))
	tr = r.act(flows.EventReassign, admin, target("hana"))
	if got := r.in.Tasks[0]; got.Assignee != "hana" || got.Original != "bob" {
		t.Fatalf("task %+v", got)
	}
	contains(t, "admin's card", fmt.Sprint(notified(t, tr, "hana", "manager/1/hana").Msg.Context), "Reassigned to you by Ada Admin (was Gus Ahmed)")
	r.inputErr(flows.Event{Kind: flows.EventReassign, Actor: admin, Target: "erin", From: "nobody"}, "has no pending task for nobody to move")
	r.act(flows.EventApprove, "hana")
	if h := r.in.History[0]; h.By != "hana" || !slices.Equal(h.Assigned, []string{"hana"}) {
		t.Fatalf("history %+v", h)
	}
}

func TestDelegate(t *testing.T) {
	t.Parallel()
	t.Run("a delegate who decided stays involved", func(t *testing.T) {
		t.Parallel()
		// On an all step, the delegate's approval is not the last: the
		// record's By is someone else, and they may still see the request.
		r := newRun(t, newEngine(t, policyFlow("    policy: all")))
		r.start("pol", "alice", form("item", "x"))
		r.act(flows.EventDelegate, "frank", target("hana"))
		r.act(flows.EventApprove, "hana")
		r.act(flows.EventApprove, "carol")
		r.act(flows.EventApprove, "gina")
		if h := r.in.History[0]; h.By == "hana" || len(r.in.Tasks) != 0 {
			t.Fatalf("record %+v, tasks %+v: want the step closed by someone else", h, r.in.Tasks)
		}
		if !r.in.Involves("hana") || r.in.Involves("zed") {
			t.Errorf("involves hana %v, zed %v; want hana only", r.in.Involves("hana"), r.in.Involves("zed"))
		}
	})
	t.Run("a delegate decides on behalf", func(t *testing.T) {
		t.Parallel()
		r := buyRun(t, "500")
		r.inputErr(flows.Event{Kind: flows.EventDelegate, Actor: "bob", Target: "alice"}, "may not approve it")
		tr := r.act(flows.EventDelegate, "bob", target("carol"), reason("I am travelling"))
		if got := r.in.Tasks[0]; got.Assignee != "bob" || !slices.Equal(got.Delegates, []string{"carol"}) {
			t.Fatalf("task %+v", got)
		}
		if a := tr.Audit[0]; a.Action != "delegated" || a.Actor != "bob" || a.OnBehalf != "bob" || a.Detail["to"] != "carol" || a.Reason != "I am travelling" {
			t.Fatalf("audit %+v", a)
		}
		card := notified(t, tr, "carol", "manager/1/carol").Msg
		if !slices.Contains(card.Context, "Delegated to you by Bob Chen: I am travelling") {
			t.Fatalf("delegate card %+v", card)
		}
		if slices.ContainsFunc(card.Actions, func(a flows.Action) bool { return a.Kind == flows.ActReassign }) ||
			!slices.ContainsFunc(card.Actions, func(a flows.Action) bool { return a.Kind == flows.ActApprove }) {
			t.Fatalf("a delegate's card offers %+v; want Approve and no Reassign, which only Bob or an admin may do", card.Actions)
		}
		if !slices.Contains(r.in.Pending(), "carol") || !slices.Contains(r.in.Pending(), "bob") {
			t.Fatalf("pending %v", r.in.Pending())
		}
		r.inputErr(flows.Event{Kind: flows.EventDelegate, Actor: "bob", Target: "carol"}, "Carol Diaz is already on this task")
		// A delegate decides, but may not pass the task on or take it away.
		tr = r.refused(flows.Event{Kind: flows.EventDelegate, Actor: "carol", Target: "frank"}, flows.CodeNotAllowed)
		contains(t, "refusal", tr.Outcome.Text, "only Bob Chen or an admin can delegate it")
		contains(t, "refusal", tr.Outcome.Text, "only Bob Chen or an admin can delegate it")
		r.refused(flows.Event{Kind: flows.EventReassign, Actor: "carol", Target: "frank"}, flows.CodeNotAllowed)
		if got := r.in.Tasks[0]; got.Assignee != "bob" || !slices.Equal(got.Delegates, []string{"carol"}) {
			t.Fatalf("after refused moves: task %+v", got)
		}
		tr = r.act(flows.EventApprove, "carol")
		if a := tr.Audit[0]; a.Action != "approved" || a.Actor != "carol" || a.OnBehalf != "bob" {
			t.Fatalf("audit %+v", a)
		}
		contains(t, "the requester's notice", notified(t, tr, "alice", "requester/done").Msg.Text, "approved by Carol Diaz (for Bob Chen)")
		if h := r.in.History[0]; h.By != "carol" || !slices.Equal(h.Assigned, []string{"bob"}) {
			t.Fatalf("history %+v", h)
		}
		wantStatus(t, r.in, flows.StatusCompleted, "", 0)
		tl := r.e.Timeline(r.in, r.audit, "alice", r.now)
		contains(t, "timeline", fmt.Sprint(tl.Items), "Carol Diaz approved", "on behalf of Bob Chen", "Approved by Carol Diaz (for Bob Chen)")
	})
	t.Run("the delegate's card shows the decision", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, newEngine(t, policyFlow("    policy: all")))
		r.start("pol", "alice", form("item", "x"))
		r.act(flows.EventDelegate, "carol", target("erin"))
		tr := r.act(flows.EventApprove, "erin")
		if tr.Audit[0].OnBehalf != "carol" || r.in.Tasks[0].Decision != flows.Approved || r.in.Tasks[0].By != "erin" {
			t.Fatalf("audit %+v, tasks %+v", tr.Audit, r.in.Tasks)
		}
		// Both cards of the decided task, the assignee's and the delegate's, lose their buttons.
		// They say for whom it was decided, as the others' cards do.
		for _, key := range []string{"fin/1/carol", "fin/1/erin"} {
			if up := updated(t, tr, key).Msg; len(up.Actions) != 0 || !strings.HasPrefix(up.Outcome, "Approved by Erin Park (for Carol Diaz) · ") {
				t.Fatalf("%s: %+v", key, up)
			}
		}
		r.refused(flows.Event{Kind: flows.EventApprove, Actor: "carol"}, flows.CodeAlreadyDecided)
	})
}

func TestComment(t *testing.T) {
	t.Parallel()
	r := buyRun(t, "2500")
	r.refused(flows.Event{Kind: flows.EventComment, Actor: "erin", Reason: "me too"}, flows.CodeNotAllowed)
	r.inputErr(flows.Event{Kind: flows.EventComment, Actor: "alice", Reason: " "}, "Write the comment.")

	tr := r.act(flows.EventComment, "alice", reason("Any news?"))
	if a := tr.Audit[0]; a.Action != "commented" || a.Actor != "alice" || a.Reason != "Any news?" || a.Step != "manager" {
		t.Fatalf("audit %+v", a)
	}
	e := notified(t, tr, "bob", "comment/4/bob")
	if e.Thread != "manager/1/bob" || e.Msg.Kind != flows.MsgComment || e.Msg.Text != "Any news?" || e.Msg.Title != "Alice Martin on Purchase X-1" {
		t.Fatalf("comment %+v %+v", e, e.Msg)
	}
	if got := recipients(tr); !slices.Equal(got, []string{"bob"}) {
		t.Fatalf("comment sent to %v", got)
	}
	// Later, everyone involved hears: the requester, who decided, who is
	// assigned; the owner and admins may comment without being involved.
	r.act(flows.EventApprove, "bob")
	tr = r.act(flows.EventComment, "olivia", reason("Please hurry"))
	if got := recipients(tr); !slices.Equal(got, []string{"alice", "bob", "carol", "frank", "gina"}) {
		t.Fatalf("comment sent to %v", got)
	}
	if e := notified(t, tr, "alice", "comment/7/alice"); e.Thread != "" {
		t.Fatalf("a comment to the requester threads under %q", e.Thread)
	}
	if e := notified(t, tr, "carol", "comment/7/carol"); e.Thread != "finance/1/carol" {
		t.Fatalf("a comment to an assignee threads under %q", e.Thread)
	}
	tr = r.act(flows.EventComment, admin, reason("Audit note"))
	if len(recipients(tr)) != 5 {
		t.Fatalf("admin comment sent to %v", recipients(tr))
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	r := buyRun(t, "2500")
	tr := r.refused(flows.Event{Kind: flows.EventCancel, Actor: "alice", Reason: "x"}, flows.CodeNotAllowed)
	contains(t, "refusal", tr.Outcome.Text, "Only the flow owner (Olivia Brown) or an admin can cancel X-1; the requester can withdraw it.")
	r.refused(flows.Event{Kind: flows.EventCancel, Actor: "bob", Reason: "x"}, flows.CodeNotAllowed)
	r.inputErr(flows.Event{Kind: flows.EventCancel, Actor: "olivia"}, "A reason is required to cancel a request.")

	tr = r.act(flows.EventCancel, "olivia", reason("duplicate of X-0"))
	if r.in.Status != flows.StatusCancelled || r.in.Outcome != "duplicate of X-0" {
		t.Fatalf("cancelled %+v", r.in)
	}
	if got := auditActions(tr.Audit); !slices.Equal(got, []string{"cancelled"}) || tr.Audit[0].Reason != "duplicate of X-0" || tr.Audit[0].Actor != "olivia" {
		t.Fatalf("audit %+v", tr.Audit)
	}
	m := notified(t, tr, "alice", "requester/cancelled").Msg
	if m.Kind != flows.MsgOutcome || m.Title != "Cancelled: Purchase X-1 (Laptop (2500))" || m.Text != "Olivia Brown cancelled your request.\nReason: duplicate of X-0" {
		t.Fatalf("cancel notice %+v", m)
	}
	contains(t, "closed card", updated(t, tr, "manager/1/").Msg.Outcome, "Cancelled by Olivia Brown", "Reason: duplicate of X-0")

	// An admin cancels a request waiting for the requester.
	r2 := buyRun(t, "2500")
	r2.act(flows.EventRequestChanges, "bob", reason("quote?"))
	tr = r2.act(flows.EventCancel, admin, reason("stale"))
	if r2.in.Status != flows.StatusCancelled || len(effectsOf(tr, flows.EffectUpdate)) != 1 {
		t.Fatalf("cancelled %+v", r2.in)
	}
	if closed := updated(t, tr, "requester/manager/1").Msg; len(closed.Actions) != 0 || closed.Outcome != "Cancelled by Ada Admin · Thu 26 Nov 09:00 GMT" {
		t.Fatalf("returned card after the cancel: %+v", closed)
	}
}

func TestSkip(t *testing.T) {
	t.Parallel()
	r := buyRun(t, "2500")
	r.refused(flows.Event{Kind: flows.EventSkip, Actor: "bob", Reason: "x"}, flows.CodeNotAllowed)
	r.refused(flows.Event{Kind: flows.EventSkip, Actor: "alice", Reason: "x"}, flows.CodeNotAllowed)
	r.inputErr(flows.Event{Kind: flows.EventSkip, Actor: "olivia"}, "A reason is required to skip a step.")

	tr := r.act(flows.EventSkip, "olivia", reason("bob is out; pre-approved by the CFO"))
	wantStatus(t, r.in, flows.StatusRunning, "finance", 1)
	if h := r.in.History[0]; h.Step != "manager" || h.Outcome != "skipped" || h.By != "olivia" || h.Reason != "bob is out; pre-approved by the CFO" {
		t.Fatalf("history %+v", h)
	}
	if a := tr.Audit[0]; a.Action != "skipped" || a.Actor != "olivia" || a.Step != "manager" || a.Reason == "" {
		t.Fatalf("audit %+v", a)
	}
	contains(t, "closed card", updated(t, tr, "manager/1/").Msg.Outcome, "Skipped by Olivia Brown")
	contains(t, "outcome", tr.Outcome.Text, "Skipped Manager approval of X-1. Waiting on Carol Diaz, Frank Osei and Gina Ray (Finance approval).")
	// A stale skip (made on a card of the step before) is refused.
	r.refused(flows.Event{Kind: flows.EventSkip, Actor: admin, Reason: "x", Step: "manager", Round: 1}, flows.CodeAlreadyDecided)
	tr = r.act(flows.EventSkip, admin, reason("finance agreed by mail"))
	wantStatus(t, r.in, flows.StatusCompleted, "", 0)
	// Nobody approved it: the requester is told it is complete, not
	// approved, and which steps were skipped, by whom and why.
	if r.in.Outcome != "completed" {
		t.Errorf("outcome %q, want completed", r.in.Outcome)
	}
	done := notified(t, tr, "alice", "requester/done").Msg
	contains(t, "notice title", done.Title, "Completed: Purchase X-1")
	contains(t, "notice", done.Text, "Manager approval: skipped by Olivia Brown: bob is out; pre-approved by the CFO\nFinance approval: skipped by Ada Admin: finance agreed by mail")
}

// A step skipped after another was approved: the request is approved, and
// the notice says which step was skipped.
func TestSkipAfterApproval(t *testing.T) {
	t.Parallel()
	r := buyRun(t, "2500")
	r.act(flows.EventApprove, "bob")
	tr := r.act(flows.EventSkip, "olivia", reason("finance agreed by mail"))
	wantStatus(t, r.in, flows.StatusCompleted, "", 0)
	if r.in.Outcome != "approved" {
		t.Errorf("outcome %q, want approved", r.in.Outcome)
	}
	done := notified(t, tr, "alice", "requester/done").Msg
	contains(t, "notice title", done.Title, "Approved: Purchase X-1")
	contains(t, "notice", done.Text, "Manager approval: approved by Bob Chen\nFinance approval: skipped by Olivia Brown: finance agreed by mail")
}

func TestTaskDoneWithOutputs(t *testing.T) {
	t.Parallel()
	const flow = `
id: grant
name: Grant
owner: olivia
form:
  - {name: system, required: true}
steps:
  - id: grant
    name: Grant the access
    type: task
    assignees: [group:it]
    instructions: Create the account.
    outputs:
      - {name: account, label: Account, required: true, pattern: "[a-z]+"}
      - {name: seats, label: Seats, type: number, min: 1}
  - id: big
    name: Big grant
    type: approval
    when: seats > 10
    assignees: [person:dana]
  - id: tell
    type: notify
    to: [requester]
    message: "Account {{.account}} on {{.system}}, {{.seats}} seats"
`
	setup := func(t *testing.T) *run {
		r := newRun(t, newEngine(t, flow))
		tr := r.start("grant", "alice", form("system", "github"))
		card := notified(t, tr, "erin", "grant/1/erin").Msg
		if card.Text != "Grant the access\nCreate the account." || !slices.Equal(actions(card.Actions), []flows.ActionKind{flows.ActDone, flows.ActReassign, flows.ActSnooze}) {
			t.Fatalf("task card %+v", card)
		}
		r.inputErr(flows.Event{Kind: flows.EventApprove, Actor: "erin"}, "X-1 is a task (Grant the access): mark it done instead")
		r.inputErr(flows.Event{Kind: flows.EventTaskDone, Actor: "erin"}, "Account is required")
		r.inputErr(flows.Event{Kind: flows.EventTaskDone, Actor: "erin", Data: form("account", "Ann1")}, "Account does not have the expected format")
		r.inputErr(flows.Event{Kind: flows.EventTaskDone, Actor: "erin", Data: form("account", "ann", "acount", "x")}, "acount is not a field of this form")
		r.inputErr(flows.Event{Kind: flows.EventTaskDone, Actor: "erin", Data: form("account", "ann", "seats", "0")}, "Seats must be at least 1")
		r.refused(flows.Event{Kind: flows.EventTaskDone, Actor: "bob", Data: form("account", "ann")}, flows.CodeNotAssignee)
		// Someone else's approval is refused and recorded as any attempt of
		// theirs, not answered with what the step is.
		r.refused(flows.Event{Kind: flows.EventApprove, Actor: "bob"}, flows.CodeNotAssignee)
		return r
	}
	t.Run("stored and used by a later condition", func(t *testing.T) {
		t.Parallel()
		r := setup(t)
		tr := r.act(flows.EventTaskDone, "erin", data("account", "ann", "seats", "20"))
		if r.in.Data["account"] != "ann" || r.in.Data["seats"] != 20.0 {
			t.Fatalf("data %v", r.in.Data)
		}
		if a := tr.Audit[0]; a.Action != "done" || a.Actor != "erin" || a.Detail["account"] != "ann" || a.Detail["seats"] != "20" {
			t.Fatalf("audit %+v", a)
		}
		wantStatus(t, r.in, flows.StatusRunning, "big", 1)
		r.inputErr(flows.Event{Kind: flows.EventTaskDone, Actor: "dana"}, "X-1 is waiting for an approval (Big grant): approve, reject or request changes")
		tr = r.act(flows.EventApprove, "dana")
		if m := notified(t, tr, "alice", "notify/tell").Msg; m.Text != "Account ann on github, 20 seats" {
			t.Fatalf("notify text %q", m.Text)
		}
	})
	t.Run("skipped: its outputs are not known, and the step reading them is asked", func(t *testing.T) {
		t.Parallel()
		r := setup(t)
		r.act(flows.EventSkip, "olivia", reason("made by hand"))
		// seats > 10 is not false for want of seats: Dana is asked, to be safe.
		wantStatus(t, r.in, flows.StatusRunning, "big", 1)
		if !slices.ContainsFunc(r.audit, func(a flows.AuditEntry) bool {
			return a.Action == "condition_failed" && a.Step == "big" && strings.Contains(a.Reason, "seats is not known")
		}) {
			t.Fatalf("no record of the condition failing safe: %+v", r.audit)
		}
	})
	t.Run("done by an admin: the outputs and the authority", func(t *testing.T) {
		t.Parallel()
		r := setup(t)
		tr := r.act(flows.EventTaskDone, admin, data("account", "ann", "seats", "3"))
		if a := tr.Audit[0]; a.Detail["account"] != "ann" || a.Detail["seats"] != "3" || a.Detail["authority"] != "admin" {
			t.Fatalf("audit %+v", a)
		}
	})
	t.Run("an empty optional output", func(t *testing.T) {
		t.Parallel()
		r := setup(t)
		tr := r.act(flows.EventTaskDone, "erin", data("account", "ann"))
		wantStatus(t, r.in, flows.StatusCompleted, "", 0)
		// No approval ran (Big grant was not needed): completed, not
		// "Approved" with nobody having approved anything.
		if r.in.Outcome != "completed" || !strings.HasPrefix(notified(t, tr, "alice", "requester/done").Msg.Title, "Completed: ") {
			t.Fatalf("outcome %q", r.in.Outcome)
		}
		// An output left empty reads as not given, not as nothing (nor
		// "<no value>").
		if m := notified(t, tr, "alice", "notify/tell").Msg; m.Text != "Account ann on github, — seats" {
			t.Fatalf("notify text %q", m.Text)
		}
	})
}

// A request with no form data at all, as storage gives it back (JSON leaves
// out the empty data map), still takes a task's outputs and a webhook's reply.
func TestEmptyFormThroughStorage(t *testing.T) {
	t.Parallel()
	const flow = `
id: bare
name: Bare
owner: olivia
steps:
  - id: do
    type: task
    assignees: [person:erin]
    outputs:
      - {name: note}
  - id: hook
    type: webhook
    url: https://example.com/x
    store: {ref: id}
`
	r := newRun(t, newEngine(t, flow))
	r.start("bare", "alice", nil)
	if r.in.Data != nil {
		t.Fatalf("the harness should hand back nil data, as storage does: %v", r.in.Data)
	}
	r.act(flows.EventTaskDone, "erin", data("note", "ok"))
	r.do(flows.Event{Kind: flows.EventWebhookResult, Step: "hook", Round: 1, Result: &flows.WebhookResult{OK: true, Reply: map[string]any{"id": "T-1"}}})
	if r.in.Status != flows.StatusCompleted || r.in.Data["note"] != "ok" || r.in.Data["ref"] != "T-1" {
		t.Fatalf("instance %+v", r.in)
	}
}

// After a reassign in a group step, the others' cards say whom the step
// now waits on; the newcomer's card is sent, not updated.
func TestReassignRefreshesTheOthersCards(t *testing.T) {
	t.Parallel()
	r := buyRun(t, "2500")
	r.act(flows.EventApprove, "bob")
	tr := r.act(flows.EventReassign, "carol", target("hana"), reason("I am off this week"))
	for _, p := range []string{"frank", "gina"} {
		card := updated(t, tr, "finance/1/"+p).Msg
		contains(t, p+"'s card", fmt.Sprint(card.Context), "Hana", "Frank Osei")
		if strings.Contains(fmt.Sprint(card.Context), "Carol Diaz") || len(card.Actions) == 0 {
			t.Fatalf("%s's card after the reassign: %+v", p, card)
		}
	}
	for _, e := range effectsOf(tr, flows.EffectUpdate) {
		if e.Card == "finance/1/hana" {
			t.Fatal("the newcomer's card is updated before it is sent")
		}
	}
	contains(t, "hana's card", fmt.Sprint(notified(t, tr, "hana", "finance/1/hana").Msg.Context), "Reassigned to you by Carol Diaz: I am off this week")
}

// TestCardOfAnotherStepOrRound: a decision named for a step or round the
// request has not reached (over the API, or a forged click: real cards of
// earlier rounds name who decided them) is refused, saying where the
// request is.
func TestCardOfAnotherStepOrRound(t *testing.T) {
	t.Parallel()
	r := buyRun(t, "5000")
	for _, c := range []struct {
		ev    flows.Event
		named string
	}{
		{flows.Event{Kind: flows.EventApprove, Actor: "bob", Step: "manager", Round: 7}, "Manager approval (round 7)"},
		{flows.Event{Kind: flows.EventApprove, Actor: "carol", Step: "finance", Round: 1}, "Finance approval (round 1)"},
		{flows.Event{Kind: flows.EventApprove, Actor: "carol", Step: "finance"}, "Finance approval"},
	} {
		tr := r.refused(c.ev, flows.CodeNotReached) // 409 over the API, as a click that came too late
		contains(t, "refusal", tr.Outcome.Text, "X-1 has not reached "+c.named+": it is at Manager approval (round 1). Waiting on Bob Chen")
	}
}

// TestClosedCardsShowTimesWhereTheirReadersAre: a card closed for one
// person (a reassignment) shows the time in that person's timezone (Dana is
// in Paris); the update closing every card of a step, which channels and
// escalation recipients may read too, in UTC.
func TestClosedCardsShowTimesWhereTheirReadersAre(t *testing.T) {
	t.Parallel()
	const flow = `
id: tz
name: TZ
owner: olivia
steps:
  - id: s
    type: approval
    assignees: [person:dana]
`
	r := newRun(t, newEngine(t, flow))
	r.start("tz", "alice", nil)
	tr := r.act(flows.EventReassign, "dana", target("bob"))
	contains(t, "Dana's closed card", updated(t, tr, "s/1/dana").Msg.Outcome, "Reassigned by Dana Kowalski · Thu 26 Nov 10:00 CET")
	tr = r.act(flows.EventApprove, "bob")
	contains(t, "the step's closed cards", updated(t, tr, "s/1/").Msg.Outcome, "Approved by Bob Chen · Thu 26 Nov 09:00 UTC")
}

// TestViaIsRecorded: an event sent for its actor by someone else (an API
// token) says so in the actor's audit entries and the timeline; Baton's own
// entries in the same transition do not carry it.
func TestViaIsRecorded(t *testing.T) {
	t.Parallel()
	r := buyRun(t, "500")
	tr := r.act(flows.EventApprove, "bob", func(ev *flows.Event) { ev.Via = "api token ci-bot" })
	for _, a := range tr.Audit {
		if want := map[bool]string{true: "api token ci-bot", false: ""}[a.Actor == "bob"]; a.Via != want {
			t.Errorf("audit %s by %s: via %q, want %q", a.Action, a.Actor, a.Via, want)
		}
	}
	contains(t, "timeline", fmt.Sprint(r.e.Timeline(r.in, r.audit, "alice", r.now).Items), "Bob Chen approved", "via api token ci-bot")
}

// TestAdminDelegateMayStillMoveTasks: an admin who is also a delegate acts
// as an admin: they may reassign.
func TestAdminDelegateMayStillMoveTasks(t *testing.T) {
	t.Parallel()
	r := buyRun(t, "500")
	r.act(flows.EventDelegate, "bob", target(admin))
	r.act(flows.EventReassign, admin, target("erin"))
	if got := r.in.Tasks[0]; got.Assignee != "erin" || got.Original != "bob" {
		t.Fatalf("task %+v", got)
	}
}

// An admin moving one task of a step several people are on is told whose
// task moved and who else is still on it.
func TestAdminReassignOneOfSeveral(t *testing.T) {
	t.Parallel()
	r := buyRun(t, "2500")
	r.act(flows.EventApprove, "bob") // finance: carol, frank and gina
	tr := r.act(flows.EventReassign, admin, target("erin"), func(e *flows.Event) { e.From = "frank" })
	contains(t, "outcome", tr.Outcome.Text, "Frank Osei's task on X-1 is now with Erin Park; Carol Diaz and Gina Ray are still on it.")
}

// A resubmission whose edits take the request out of the step's condition
// (finance approves above 1,000; the amount is now 800) goes on without it.
func TestResubmitOutOfTheStepsCondition(t *testing.T) {
	t.Parallel()
	r := buyRun(t, "2500")
	r.act(flows.EventApprove, "bob")
	r.act(flows.EventRequestChanges, "carol", reason("too much; can you do it for under 1,000?"))
	tr := r.act(flows.EventResubmit, "alice", data("item", "Laptop", "amount", "800"))
	wantStatus(t, r.in, flows.StatusCompleted, "", 0)
	contains(t, "outcome", tr.Outcome.Text, "Resubmitted X-1: Finance approval no longer applies.")
	if !slices.ContainsFunc(tr.Audit, func(a flows.AuditEntry) bool {
		return a.Action == "skipped" && a.Step == "finance" && a.Reason == "condition is false now: amount > 1000"
	}) {
		t.Fatalf("audit %+v", tr.Audit)
	}
	if done := notified(t, tr, "alice", "requester/done").Msg; !strings.HasPrefix(done.Title, "Approved:") {
		t.Fatalf("outcome card %q", done.Title)
	}
}

// Out of a branch step's condition, a resubmission goes where a false
// condition leads, the step below, not to the step's next.
func TestResubmitOutOfABranch(t *testing.T) {
	t.Parallel()
	const flow = `
id: br
name: Branch
owner: olivia
form:
  - {name: amount, label: Amount, type: number, required: true}
steps:
  - id: big
    name: Big
    type: approval
    when: amount > 1000
    assignees: [person:dana]
    next: end
  - id: small
    name: Small
    type: approval
    assignees: [manager]
`
	r := newRun(t, newEngine(t, flow))
	r.start("br", "alice", form("amount", "2500"))
	wantStatus(t, r.in, flows.StatusRunning, "big", 1)
	r.act(flows.EventRequestChanges, "dana", reason("too much"))
	r.act(flows.EventResubmit, "alice", data("amount", "800"))
	wantStatus(t, r.in, flows.StatusRunning, "small", 1)
	// A step a jump went past is said to be off the request's path, not
	// skipped (which someone does).
	r = newRun(t, r.e)
	r.start("br", "alice", form("amount", "2500"))
	r.act(flows.EventApprove, "dana")
	wantStatus(t, r.in, flows.StatusCompleted, "", 0)
	if got := itemTexts(r.e.Timeline(r.in, r.audit, "alice", r.now))["Small"]; got != "Not on this request's path" {
		t.Errorf("the step jumped over: %q", got)
	}
}

// TestClickForAnEarlierStepWithoutRound: a click naming an earlier step but
// no round is matched with that step's latest round, and told who decided it.
func TestClickForAnEarlierStepWithoutRound(t *testing.T) {
	t.Parallel()
	r := buyRun(t, "2500")
	r.act(flows.EventApprove, "bob")
	r.act(flows.EventReject, "carol", reason("split it"))
	r.act(flows.EventResubmit, "alice", data("item", "Laptop", "amount", "1800"))
	wantStatus(t, r.in, flows.StatusRunning, "finance", 2)
	tr := r.refused(flows.Event{Kind: flows.EventApprove, Actor: "bob", Step: "manager"}, flows.CodeAlreadyDecided)
	contains(t, "refusal", tr.Outcome.Text, "X-1 was already approved by Bob Chen")
	// A step the flow does not have is bad input, not an old card: it is
	// named as such, and nothing is recorded.
	_, err := r.e.Apply(r.in, flows.Event{Kind: flows.EventApprove, Key: "nope", Instance: r.in.ID, Actor: "carol", Step: "nope"}, r.now)
	var ie *flows.InputError
	if !errors.As(err, &ie) {
		t.Fatalf("approve step nope: got %v, want an input error", err)
	}
	contains(t, "input error", ie.Msg, `X-1 has no step "nope"; its flow's steps are manager, finance, order.`)
}

// TestPlatformIdentitiesResolveToPeople: a person field or a reassignment
// naming a platform identity the directory knows is that person, so a
// requester cannot name themselves by email to approve their own request;
// an unknown prefix is nobody.
func TestPlatformIdentitiesResolveToPeople(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, assigneeFlow("approval", "olivia", "field:approver", "")))
	r.inputErr(flows.Event{Kind: flows.EventStart, Instance: "X-1", Flow: "who", Actor: "alice", Data: form("approver", "email:ALICE@example.com")},
		"Approver: you are making this request, so you may not approve it")
	r.start("who", "carol", form("approver", "slack:UALICE")) // as someone else names her
	if r.in.Data["approver"] != "alice" || !slices.Equal(assignees(r.in), []string{"alice"}) {
		t.Fatalf("data %v, assignees %v: want alice", r.in.Data, assignees(r.in))
	}
	r = newRun(t, r.e)
	r.start("who", "alice", form("approver", "bob"))
	r.inputErr(flows.Event{Kind: flows.EventReassign, Actor: "bob", Target: "slack:UALICE"}, "Alice Martin made this request and may not approve it")
	r.inputErr(flows.Event{Kind: flows.EventReassign, Actor: "bob", Target: "bogus:nobody"}, `"bogus:nobody" is not a person in the directory`)
	// A platform id of another shape is none: nothing typed after one (a
	// Slack "<!channel>") rides on it into a card.
	for _, id := range []string{"slack:U1><!channel>", "slack:ualice", "teams:<x>"} {
		r.inputErr(flows.Event{Kind: flows.EventReassign, Actor: "bob", Target: id}, "is not a person in the directory")
	}
	// Someone outside the workspace decides through their own link: they
	// may hold a task, not decide another's as a delegate.
	r.inputErr(flows.Event{Kind: flows.EventDelegate, Actor: "bob", Target: "email:pat@vendor.example"}, "outside the workspace and cannot be a delegate")
	// Someone outside the workspace is reached by mail: the address must be one.
	r.inputErr(flows.Event{Kind: flows.EventReassign, Actor: "bob", Target: "email:not-an-address"}, `"email:not-an-address" is not a person in the directory`)
	r.act(flows.EventReassign, "bob", target("email:counsel@lawfirm.example")) // an outside participant
	if got := assignees(r.in); !slices.Equal(got, []string{"email:counsel@lawfirm.example"}) {
		t.Fatalf("assignees %v", got)
	}
	// Their mail links to approvals only: a task step would sit with them.
	r = newRun(t, newEngine(t, assigneeFlow("task", "olivia", "person:erin", "")))
	r.start("who", "alice", nil)
	r.inputErr(flows.Event{Kind: flows.EventReassign, Actor: "erin", Target: "email:pat@vendor.example"}, "people outside decide approvals only")
	r.inputErr(flows.Event{Kind: flows.EventReassign, Actor: admin, Target: "email:pat@vendor.example"}, "pick someone in the workspace for this task")
	// Nor may a person field naming the task's assignee name them.
	r = newRun(t, newEngine(t, assigneeFlow("task", "olivia", "field:approver", "")))
	r.inputErr(flows.Event{Kind: flows.EventStart, Instance: "X-1", Flow: "who", Actor: "alice", Data: form("approver", "email:pat@vendor.example")},
		"Approver: someone outside the workspace cannot do a task (The step); pick someone in the workspace")
	r.start("who", "alice", form("approver", "erin"))
}

// A person field's change is shown by name on the next round's card, as the
// card's fields and the timeline show people.
func TestResubmitShowsPeopleByName(t *testing.T) {
	t.Parallel()
	r := newRun(t, exampleEngine(t))
	r.start("content", "alice", form("headline", "Launch", "draft", "https://docs.example.com/d/1", "editor", "ivan"))
	r.act(flows.EventRequestChanges, "ivan", reason("Gus knows this area"))
	tr := r.act(flows.EventResubmit, "alice", data("headline", "Launch", "draft", "https://docs.example.com/d/1", "editor", "gus"))
	card := notified(t, tr, "gus", "edit/2/gus").Msg
	want := []flows.Change{{Field: "editor", Label: "Editor", Old: "Ivan Petrov", New: "Gus Ahmed"}}
	if !slices.Equal(card.Changes, want) {
		t.Fatalf("round 2 card's changes %+v, want %+v", card.Changes, want)
	}
	// The state and the record keep the ids.
	if got := r.in.Changes; len(got) != 1 || got[0].Old != "ivan" || got[0].New != "gus" {
		t.Fatalf("instance changes %+v", got)
	}
}

// Whoever approved an earlier step is told of a resubmission's changes,
// once it is clear where the request went; not if they now hold a card of
// the step it returned to.
func TestEarlierApproversAreToldOfChanges(t *testing.T) {
	t.Parallel()
	t.Run("the returning step no longer applies", func(t *testing.T) {
		t.Parallel()
		r := buyRun(t, "2500")
		r.act(flows.EventApprove, "bob")
		r.act(flows.EventRequestChanges, "carol", reason("too much"))
		tr := r.act(flows.EventResubmit, "alice", data("item", "Laptop", "amount", "500"))
		wantStatus(t, r.in, flows.StatusCompleted, "", 0)
		contains(t, "carol's notice", notified(t, tr, "carol", "unneeded/finance/1/carol").Msg.Text, "after you asked for changes at Finance approval, and Finance approval no longer applies")
		contains(t, "bob's notice", notified(t, tr, "bob", "changed/finance/1/bob").Msg.Text,
			"after you approved it at Manager approval, and resubmitted it; Finance approval no longer applies.", "• Amount: 2500 → 500")
	})
	t.Run("a delegate approved: both they and the assignee are told", func(t *testing.T) {
		t.Parallel()
		r := buyRun(t, "2500")
		r.act(flows.EventDelegate, "bob", target("dana"))
		r.act(flows.EventApprove, "dana")
		if h := r.in.History[0]; !slices.Equal(h.Deciders, []string{"dana"}) || !slices.Equal(h.For, []string{"bob"}) {
			t.Fatalf("record %+v", h)
		}
		r.act(flows.EventRequestChanges, "carol", reason("too much"))
		tr := r.act(flows.EventResubmit, "alice", data("item", "Laptop", "amount", "1800"))
		contains(t, "dana's notice", notified(t, tr, "dana", "changed/finance/1/dana").Msg.Text, "changed X-1 after you approved it at Manager approval")
		contains(t, "bob's notice", notified(t, tr, "bob", "changed/finance/1/bob").Msg.Text, "changed X-1 after your delegate approved it at Manager approval")
	})
	t.Run("an earlier approver on the returning step gets its card", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, newEngine(t, `
id: two
name: Two
owner: olivia
form:
  - {name: item, type: text}
steps:
  - {id: one, type: approval, assignees: ["person:bob"]}
  - {id: two, type: approval, assignees: ["person:bob", "person:carol"], policy: all}
`))
		r.start("two", "alice", form("item", "x"))
		r.act(flows.EventApprove, "bob")
		r.act(flows.EventRequestChanges, "carol", reason("more"))
		tr := r.act(flows.EventResubmit, "alice", data("item", "y"))
		notified(t, tr, "bob", "two/2/bob")
		for _, e := range tr.Effects {
			if strings.HasPrefix(e.Card, "changed/") {
				t.Fatalf("a notice %s besides the new round's card", e.Card)
			}
		}
	})
}

// A resubmission that makes an earlier step apply (the flow went past it:
// its condition was false) asks it first, then returns to the step that
// sent the request back, as its next round.
func TestResubmitAsksAStepThatNowApplies(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, `
id: buy3
name: Purchase
owner: olivia
form:
  - {name: item, type: text, required: true}
  - {name: amount, type: number, required: true}
steps:
  - {id: manager, name: Manager approval, type: approval, assignees: [manager]}
  - {id: cfo, name: CFO approval, type: approval, assignees: ["person:dana"], when: "amount > 100000"}
  - {id: finance, name: Finance approval, type: approval, assignees: ["person:carol"]}
`))
	r.start("buy3", "alice", form("item", "Laptop", "amount", "2500"))
	r.act(flows.EventApprove, "bob")
	wantStatus(t, r.in, flows.StatusRunning, "finance", 1)
	r.act(flows.EventRequestChanges, "carol", reason("which model?"))
	tr := r.act(flows.EventResubmit, "alice", data("item", "Servers", "amount", "900000"), reason("it is servers"))
	wantStatus(t, r.in, flows.StatusRunning, "cfo", 1)
	contains(t, "outcome", tr.Outcome.Text, "Resubmitted X-1: CFO approval now applies and is asked first, then Finance approval again.")
	if card := notified(t, tr, "dana", "cfo/1/dana").Msg; len(card.Changes) != 0 || !slices.Contains(card.Context, "Note from Alice Martin: it is servers") {
		t.Fatalf("the CFO's card %+v: no changes (a first look), the requester's note", card)
	}
	contains(t, "bob's notice", notified(t, tr, "bob", "changed/finance/1/bob").Msg.Text, "resubmitted it; CFO approval now applies and is asked first")
	// The CFO approves: back to finance, round 2, with what changed since.
	tr = r.act(flows.EventApprove, "dana")
	wantStatus(t, r.in, flows.StatusRunning, "finance", 2)
	card := notified(t, tr, "carol", "finance/2/carol").Msg
	want := []flows.Change{{Field: "item", Label: "item", Old: "Laptop", New: "Servers"}, {Field: "amount", Label: "amount", Old: "2500", New: "900,000"}}
	if !slices.Equal(card.Changes, want) || !slices.Contains(card.Context, "Note from Alice Martin: it is servers") {
		t.Fatalf("finance's round 2 card %+v, want the changes %+v and the requester's note", card, want)
	}
	r.act(flows.EventApprove, "carol")
	wantStatus(t, r.in, flows.StatusCompleted, "", 0)
	if got := len(r.in.History); got != 4 || r.in.History[2].Step != "cfo" {
		t.Fatalf("history %+v", r.in.History)
	}
	if it := r.e.Timeline(r.in, r.audit, "alice", r.now).Items[1]; it.Title != "CFO approval" || !strings.HasPrefix(it.Text, "Approved by Dana Kowalski") {
		t.Fatalf("the CFO's step in the timeline: %+v", it)
	}
}

// The way back after a resubmission follows the flow as the data now takes
// it: notify steps that now apply are sent, a branch's next is followed, a
// step asked on the way that sends the request back is asked again (or
// passed over, if the edits take it out of its condition), and the step the
// request returns to gets the requester's note.
func TestResubmitWayBack(t *testing.T) {
	t.Parallel()
	flow := func(steps string) *flows.Engine {
		return newEngine(t, `
id: w
name: W
owner: olivia
form:
  - {name: amount, type: number, required: true}
steps:
`+steps)
	}
	const manager = "  - {id: manager, type: approval, assignees: [manager]}\n"
	const cfo = "  - {id: cfo, type: approval, assignees: [\"person:dana\"], when: \"amount > 100000\"}\n"
	const finance = "  - {id: finance, type: approval, assignees: [\"person:carol\"]}\n"
	back := func(r *run, amount string) *flows.Transition { // finance sends back; the requester resubmits amount
		r.act(flows.EventRequestChanges, "carol", reason("why?"))
		return r.act(flows.EventResubmit, "alice", data("amount", amount), reason("see the quote"))
	}
	t.Run("a notify step that now applies is sent", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, flow(manager+"  - {id: tell, type: notify, to: [\"channel:ops\"], message: big, when: \"amount > 100000\"}\n"+finance))
		r.start("w", "alice", form("amount", "2500"))
		r.act(flows.EventApprove, "bob")
		tr := back(r, "900000")
		wantStatus(t, r.in, flows.StatusRunning, "finance", 2)
		if !slices.ContainsFunc(tr.Effects, func(e flows.Effect) bool { return e.Kind == flows.EffectNotify && e.To.Channel == "ops" }) {
			t.Fatal("#ops was not told")
		}
		if card := notified(t, tr, "carol", "finance/2/carol").Msg; !slices.Contains(card.Context, "Note from Alice Martin: see the quote") {
			t.Fatalf("finance's card context %q", card.Context)
		}
	})
	t.Run("the step asked first sends back; the edits take it out of its condition", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, flow(manager+cfo+finance))
		r.start("w", "alice", form("amount", "2500"))
		r.act(flows.EventApprove, "bob")
		back(r, "900000")
		wantStatus(t, r.in, flows.StatusRunning, "cfo", 1)
		r.act(flows.EventRequestChanges, "dana", reason("too much"))
		tr := r.act(flows.EventResubmit, "alice", data("amount", "500"))
		wantStatus(t, r.in, flows.StatusRunning, "finance", 2)
		// The CFO, who asked for changes, hears that nothing more is asked of them.
		told := notified(t, tr, "dana", "unneeded/cfo/1/dana").Msg
		contains(t, "the CFO's notice", told.Title+"\n"+told.Text, "No longer needed: W X-1",
			"Alice Martin changed X-1 after you asked for changes at cfo, and cfo no longer applies (it is asked only when amount > 100000)", "• amount: 900,000 → 500")
		if told.Round != 1 || slices.Contains(told.Context, "Round 2") { // finance's round 2 is not the CFO's
			t.Errorf("the CFO's notice is of round %d, context %q", told.Round, told.Context)
		}
		if card := notified(t, tr, "carol", "finance/2/carol").Msg; !slices.Equal(card.Changes, []flows.Change{{Field: "amount", Label: "amount", Old: "2500", New: "500"}}) {
			t.Fatalf("finance's changes %+v", card.Changes)
		}
		r.act(flows.EventApprove, "carol")
		wantStatus(t, r.in, flows.StatusCompleted, "", 0)
		// The CFO's step no longer holds the request, and the summary says so.
		if it := r.e.Timeline(r.in, r.audit, "alice", r.now).Items[1]; !strings.Contains(it.Text, "Changes requested by Dana Kowalski") ||
			!strings.Contains(it.Text, "Not needed now: its condition (amount > 100000) is false") {
			t.Fatalf("the CFO's step in the timeline: %+v", it)
		}
	})
	t.Run("the step returned to no longer applies: whoever sent it back there is told", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, flow(manager+cfo+"  - {id: finance, type: approval, assignees: [\"person:carol\"], when: \"amount > 1000\"}\n"))
		r.start("w", "alice", form("amount", "2500"))
		r.act(flows.EventApprove, "bob")
		back(r, "900000")
		r.act(flows.EventRequestChanges, "dana", reason("too much"))
		tr := r.act(flows.EventResubmit, "alice", data("amount", "500"))
		wantStatus(t, r.in, flows.StatusCompleted, "", 0)
		notified(t, tr, "dana", "unneeded/cfo/1/dana")
		notified(t, tr, "carol", "unneeded/finance/1/carol")
		contains(t, "bob's notice", notified(t, tr, "bob", "changed/cfo/1/bob").Msg.Text, "and resubmitted it; the request is complete. The approval stands")
	})
	t.Run("a delegate sent it back: the assignee hears it is no longer needed too", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, flow(manager+"  - {id: finance, type: approval, assignees: [\"person:carol\"], when: \"amount > 1000\"}\n"))
		r.start("w", "alice", form("amount", "2500"))
		r.act(flows.EventApprove, "bob")
		r.act(flows.EventDelegate, "carol", target("frank"))
		r.act(flows.EventRequestChanges, "frank", reason("why?"))
		tr := r.act(flows.EventResubmit, "alice", data("amount", "500"))
		notified(t, tr, "frank", "unneeded/finance/1/frank")
		contains(t, "carol's notice", notified(t, tr, "carol", "unneeded/finance/1/carol").Msg.Text, "after your delegate asked for changes")
	})
	t.Run("the flow no longer has the step to return to: the step that sent it back is asked again", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, flow(manager+cfo+finance))
		r.start("w", "alice", form("amount", "2500"))
		r.act(flows.EventApprove, "bob")
		back(r, "900000")
		r.act(flows.EventRequestChanges, "dana", reason("split it"))
		r.e = flow(manager + cfo) // redeployed without finance
		r.act(flows.EventResubmit, "alice", data("amount", "800000"))
		wantStatus(t, r.in, flows.StatusRunning, "cfo", 2)
	})
	t.Run("one who approved earlier and is asked again gets the changes once", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, flow("  - {id: manager, type: approval, assignees: [\"person:dana\"]}\n"+cfo+finance))
		r.start("w", "alice", form("amount", "2500"))
		r.act(flows.EventApprove, "dana")
		back(r, "900000")
		r.act(flows.EventRequestChanges, "dana", reason("split it"))
		tr := r.act(flows.EventResubmit, "alice", data("amount", "800000"))
		if card := notified(t, tr, "dana", "cfo/2/dana").Msg; len(card.Changes) != 1 {
			t.Fatalf("dana's round 2 card %+v", card.Changes)
		}
		for _, e := range tr.Effects {
			if strings.HasPrefix(e.Card, "changed/") {
				t.Fatalf("a notice %s besides the card with the changes", e.Card)
			}
		}
	})
	t.Run("an earlier approver asked first on another step is told what changed", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, flow("  - {id: manager, type: approval, assignees: [\"person:dana\"]}\n"+cfo+finance))
		r.start("w", "alice", form("amount", "2500"))
		r.act(flows.EventApprove, "dana")
		tr := back(r, "900000")
		wantStatus(t, r.in, flows.StatusRunning, "cfo", 1)
		notified(t, tr, "dana", "cfo/1/dana")
		contains(t, "dana's notice", notified(t, tr, "dana", "changed/finance/1/dana").Msg.Text, "• amount: 2500 → 900,000")
	})
	t.Run("the step asked first sends back and still applies: asked again, then the way back goes on", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, flow(manager+cfo+"  - {id: legal, type: approval, assignees: [\"person:erin\"]}\n"+finance))
		r.start("w", "alice", form("amount", "2500"))
		r.act(flows.EventApprove, "bob")
		r.act(flows.EventApprove, "erin")
		back(r, "900000")
		r.act(flows.EventRequestChanges, "dana", reason("split it"))
		tr := r.act(flows.EventResubmit, "alice", data("amount", "800000"))
		wantStatus(t, r.in, flows.StatusRunning, "cfo", 2)
		if card := notified(t, tr, "dana", "cfo/2/dana").Msg; !slices.Equal(card.Changes, []flows.Change{{Field: "amount", Label: "amount", Old: "900,000", New: "800,000"}}) {
			t.Fatalf("the CFO's round 2 changes %+v", card.Changes)
		}
		r.act(flows.EventApprove, "dana")
		wantStatus(t, r.in, flows.StatusRunning, "finance", 2) // legal, which approved, is not asked again
		r.act(flows.EventApprove, "carol")
		wantStatus(t, r.in, flows.StatusCompleted, "", 0)
	})
	t.Run("a branch's next is followed", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, flow(manager+
			"  - {id: big, type: approval, assignees: [\"person:dana\"], when: \"amount > 1000\", next: finance}\n"+
			"  - {id: small, type: approval, assignees: [\"person:erin\"], when: \"amount > 500\"}\n"+finance))
		r.start("w", "alice", form("amount", "100"))
		r.act(flows.EventApprove, "bob")
		back(r, "2000")
		wantStatus(t, r.in, flows.StatusRunning, "big", 1)
		r.act(flows.EventApprove, "dana")
		wantStatus(t, r.in, flows.StatusRunning, "finance", 2) // big's next skips small
	})
}

// An approval the edits undo is asked again: a resubmission (sent back by
// a later step) that changes a field the step names in reapprove_on, or
// the person field naming its approver, asks it first, as a new round
// showing what changed, then returns to the step that sent it back. Other
// edits leave it standing, and its approver is told.
func TestResubmitReopensAnApproval(t *testing.T) {
	t.Parallel()
	e := newEngine(t, `
id: re
name: Purchase
owner: olivia
form:
  - {name: item, label: Item, type: text, required: true}
  - {name: amount, label: Amount, type: number, required: true}
  - {name: approver, label: Approver, type: person, required: true}
steps:
  - {id: manager, name: Manager approval, type: approval, assignees: [manager], reapprove_on: [amount]}
  - {id: named, name: Named approval, type: approval, assignees: ["field:approver"]}
  - {id: finance, name: Finance approval, type: approval, assignees: ["person:carol"]}
`)
	started := func() *run {
		r := newRun(t, e)
		r.start("re", "alice", form("item", "Laptop", "amount", "2500", "approver", "erin"))
		r.act(flows.EventApprove, "bob")
		r.act(flows.EventApprove, "erin")
		r.act(flows.EventRequestChanges, "carol", reason("which model?"))
		return r
	}
	t.Run("the amount changes: the manager is asked again", func(t *testing.T) {
		t.Parallel()
		r := started()
		tr := r.act(flows.EventResubmit, "alice", data("item", "Laptop", "amount", "4000", "approver", "erin"))
		wantStatus(t, r.in, flows.StatusRunning, "manager", 2)
		contains(t, "outcome", tr.Outcome.Text, "Resubmitted X-1: Manager approval is asked again first, as the edits change what it approved, then Finance approval again.")
		card := notified(t, tr, "bob", "manager/2/bob").Msg
		if want := []flows.Change{{Field: "amount", Label: "Amount", Old: "2500", New: "4000"}}; !slices.Equal(card.Changes, want) {
			t.Fatalf("the manager's round 2 card shows %+v, want %+v", card.Changes, want)
		}
		if !slices.ContainsFunc(tr.Audit, func(a flows.AuditEntry) bool {
			return a.Action == "reopened" && a.Step == "manager" && a.Round == 1 && a.Reason == "Amount changed after its approval"
		}) {
			t.Fatalf("audit %+v: want the manager's approval reopened, and why", tr.Audit)
		}
		// Erin's approval stands (her step names no amount), and she is told so.
		contains(t, "erin's notice", notified(t, tr, "erin", "changed/finance/1/erin").Msg.Text,
			"after you approved it at Named approval", "Manager approval is asked again first", "The approval stands; nothing is asked of you.")
		r.act(flows.EventApprove, "bob")
		wantStatus(t, r.in, flows.StatusRunning, "finance", 2)
		r.act(flows.EventApprove, "carol")
		wantStatus(t, r.in, flows.StatusCompleted, "", 0)
	})
	t.Run("a step reopened past its last round says so", func(t *testing.T) {
		t.Parallel()
		e := newEngine(t, strings.Replace(strings.Replace(buyFlow, "    max_rounds: 2", "    max_rounds: 2\n    reapprove_on: [amount]", 1), "id: buy", "id: buy3", 1))
		r := newRun(t, e)
		r.start("buy3", "alice", form("item", "Laptop", "amount", "2500"))
		r.act(flows.EventRequestChanges, "bob", reason("which model?"))
		tr := r.act(flows.EventResubmit, "alice", data("item", "Laptop X1", "amount", "2500"))
		if card := notified(t, tr, "bob", "manager/2/bob").Msg; !slices.Contains(card.Context, "Round 2 of 2, the last: changes can no longer be requested") {
			t.Fatalf("round 2 context %q", card.Context)
		}
		r.act(flows.EventApprove, "bob")
		r.act(flows.EventRequestChanges, "carol", reason("too much"))
		tr = r.act(flows.EventResubmit, "alice", data("item", "Laptop X1", "amount", "2000"))
		wantStatus(t, r.in, flows.StatusRunning, "manager", 3)
		card := notified(t, tr, "bob", "manager/3/bob").Msg
		if !slices.Contains(card.Context, "Round 3, reopened after its last (2): changes can no longer be requested") {
			t.Fatalf("round 3 context %q", card.Context)
		}
		if got := actions(card.Actions); slices.Contains(got, flows.ActChanges) {
			t.Fatalf("round 3 actions %v", got)
		}
	})
	t.Run("the amount drops under the sender's condition: it is not promised again", func(t *testing.T) {
		t.Parallel()
		e := newEngine(t, strings.Replace(strings.Replace(buyFlow, "    max_rounds: 2", "    reapprove_on: [amount]", 1), "id: buy", "id: buy2", 1))
		r := newRun(t, e)
		r.start("buy2", "alice", form("item", "Laptop", "amount", "2500"))
		r.act(flows.EventApprove, "bob")
		r.act(flows.EventRequestChanges, "carol", reason("too much"))
		tr := r.act(flows.EventResubmit, "alice", data("item", "Laptop", "amount", "900"))
		wantStatus(t, r.in, flows.StatusRunning, "manager", 2)
		contains(t, "outcome", tr.Outcome.Text, "Resubmitted X-1: Manager approval is asked again first, as the edits change what it approved; Finance approval no longer applies.")
		r.act(flows.EventApprove, "bob")
		wantStatus(t, r.in, flows.StatusCompleted, "", 0)
	})
	t.Run("the approver changes: the new one approves", func(t *testing.T) {
		t.Parallel()
		r := started()
		tr := r.act(flows.EventResubmit, "alice", data("item", "Laptop", "amount", "2500", "approver", "frank"))
		wantStatus(t, r.in, flows.StatusRunning, "named", 2)
		if got := assignees(r.in); !slices.Equal(got, []string{"frank"}) {
			t.Fatalf("assignees %v, want frank", got)
		}
		notified(t, tr, "frank", "named/2/frank")
		contains(t, "erin's notice", notified(t, tr, "erin", "changed/finance/1/erin").Msg.Text,
			"after you approved it at Named approval", "The approval no longer stands; the step now waits on Frank Osei.") // who now decides, as it is not erin
		contains(t, "bob's notice", notified(t, tr, "bob", "changed/finance/1/bob").Msg.Text, "The approval stands")
		r.act(flows.EventApprove, "frank")
		wantStatus(t, r.in, flows.StatusRunning, "finance", 2)
	})
	t.Run("a reopened step sends it back, and the next edits undo another approval", func(t *testing.T) {
		t.Parallel()
		r := started()
		r.act(flows.EventResubmit, "alice", data("item", "Laptop", "amount", "4000", "approver", "erin"))
		wantStatus(t, r.in, flows.StatusRunning, "manager", 2)
		r.act(flows.EventRequestChanges, "bob", reason("who approves the model?"))
		r.act(flows.EventResubmit, "alice", data("item", "Laptop", "amount", "4000", "approver", "frank"))
		wantStatus(t, r.in, flows.StatusRunning, "manager", 3)
		// Where the request stands says the named approval will be asked again.
		if it := r.e.Timeline(r.in, r.audit, "alice", r.now).Items[1]; it.Title != "Named approval" ||
			!strings.Contains(it.Text, "Approved by Erin Park") || !strings.Contains(it.Text, "Reopened: Approver changed after its approval") {
			t.Fatalf("the named step in the timeline: %+v", it)
		}
		// Had the requester withdrawn it now, nothing would be asked again.
		w := *r
		w.in, w.audit, w.cards, w.timers = r.in.Clone(), slices.Clone(r.audit), maps.Clone(r.cards), maps.Clone(r.timers)
		w.act(flows.EventWithdraw, "alice", reason("not needed"))
		if it := w.e.Timeline(w.in, w.audit, "alice", w.now).Items[1]; strings.Contains(it.Text, "to be asked again") {
			t.Fatalf("the named step in a withdrawn request's timeline: %+v", it)
		}
		r.act(flows.EventApprove, "bob")
		wantStatus(t, r.in, flows.StatusRunning, "named", 2)
		if got := assignees(r.in); !slices.Equal(got, []string{"frank"}) {
			t.Fatalf("assignees %v, want frank", got)
		}
		r.act(flows.EventApprove, "frank")
		wantStatus(t, r.in, flows.StatusRunning, "finance", 2)
		tr := r.act(flows.EventApprove, "carol")
		wantStatus(t, r.in, flows.StatusCompleted, "", 0)
		// The requester's notice names each step's approval once: the last.
		if got := notified(t, tr, "alice", "requester/done").Msg.Text; got != "Manager approval: approved by Bob Chen\nNamed approval: approved by Frank Osei\nFinance approval: approved by Carol Diaz" {
			t.Fatalf("the requester's notice:\n%s", got)
		}
	})
	t.Run("other edits: every approval stands", func(t *testing.T) {
		t.Parallel()
		r := started()
		tr := r.act(flows.EventResubmit, "alice", data("item", "Laptop Pro", "amount", "2500", "approver", "erin"))
		wantStatus(t, r.in, flows.StatusRunning, "finance", 2)
		for _, p := range []string{"bob", "erin"} {
			contains(t, p+"'s notice", notified(t, tr, p, "changed/finance/1/"+p).Msg.Text, "The approval stands; nothing is asked of you.")
		}
	})
}

// A step the way back does not go through (its condition is now false, or
// a branch now leads past it) is not reopened: its approval stands.
func TestResubmitReopensOnlyOnTheWayBack(t *testing.T) {
	t.Parallel()
	for name, steps := range map[string]string{
		"its condition is now false": `
  - {id: manager, type: approval, assignees: [manager], when: "amount < 3000", reapprove_on: [amount]}
  - {id: finance, type: approval, assignees: ["person:carol"]}`,
		"a branch now leads past it": `
  - {id: hw, type: approval, assignees: ["person:dana"], when: "amount >= 3000", next: finance}
  - {id: manager, type: approval, assignees: [manager], reapprove_on: [amount]}
  - {id: finance, type: approval, assignees: ["person:carol"]}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := newRun(t, newEngine(t, `
id: p
name: P
owner: olivia
form:
  - {name: amount, type: number, required: true}
steps:`+steps+"\n"))
			r.start("p", "alice", form("amount", "2500"))
			r.act(flows.EventApprove, "bob")
			r.act(flows.EventRequestChanges, "carol", reason("why?"))
			tr := r.act(flows.EventResubmit, "alice", data("amount", "4000"))
			if slices.ContainsFunc(tr.Audit, func(a flows.AuditEntry) bool { return a.Action == "reopened" }) || slices.Contains(r.in.Passed, "manager") {
				t.Fatalf("audit %+v, passed %v: the manager's approval reopened", tr.Audit, r.in.Passed)
			}
			contains(t, "bob's notice", notified(t, tr, "bob", "changed/finance/1/bob").Msg.Text, "The approval stands")
		})
	}
}

// Someone away has their new tasks shared with their stand-in (their
// manager unless they named someone), who decides on their behalf; the
// cards and the outcome say why. Not once their time away is over, nor
// with a stand-in who may not approve (the requester).
func TestAwayStandIn(t *testing.T) {
	t.Parallel()
	start := func(away map[string]flows.Away) (*run, *flows.Transition) {
		r := newRun(t, newEngine(t, buyFlow))
		return r, r.do(flows.Event{Kind: flows.EventStart, Instance: "X-1", Flow: "buy", Actor: "alice",
			Data: form("item", "Laptop", "amount", "500"), Away: away})
	}
	r, tr := start(map[string]flows.Away{"bob": {Until: t0.Add(48 * time.Hour), StandIn: "carol"}})
	task := r.in.Tasks[0]
	if task.Assignee != "bob" || !slices.Equal(task.Delegates, []string{"carol"}) {
		t.Fatalf("task %+v: want bob's, shared with carol", task)
	}
	contains(t, "outcome", tr.Outcome.Text, "Bob Chen is away through Sat 28 Nov, and Carol Diaz stands in")
	// Whom it waits on names the stand-in wherever that shows: the cards,
	// the status timeline, the dashboard.
	for _, p := range []string{"bob", "carol"} {
		contains(t, p+"'s card", strings.Join(notified(t, tr, p, "manager/1/"+p).Msg.Context, "\n"), "Routing: Bob Chen is away",
			"Waiting on Bob Chen (delegated to Carol Diaz)")
	}
	contains(t, "timeline", itemTexts(r.e.Timeline(r.in, r.audit, "alice", r.now))["Manager approval"], "Waiting on Bob Chen (delegated to Carol Diaz) for ")
	// Carol's list says whose task it is; Bob's does not.
	if l := r.e.TaskList([]*flows.Instance{r.in}, "carol", r.now); !strings.HasSuffix(l.Items[0].Text, " · for Bob Chen") {
		t.Errorf("carol's tasks: %q", l.Items[0].Text)
	}
	if l := r.e.TaskList([]*flows.Instance{r.in}, "bob", r.now); strings.Contains(l.Items[0].Text, " · for ") {
		t.Errorf("bob's tasks: %q", l.Items[0].Text)
	}
	if o := r.e.Overview([]*flows.Instance{r.in}, r.now); len(o.Open) != 1 || !slices.Equal(o.Open[0].Owners, []string{"Bob Chen (delegated to Carol Diaz)"}) {
		t.Errorf("dashboard: %+v, want Bob Chen's task, delegated to Carol Diaz", o.Open)
	}
	r.act(flows.EventApprove, "carol")
	if h := r.in.History[0]; !slices.Equal(h.Deciders, []string{"carol"}) || !slices.Equal(h.For, []string{"bob"}) {
		t.Fatalf("record %+v: want carol deciding for bob", h)
	}
	// The requester is told for whom a stand-in sent it back.
	r2, _ := start(map[string]flows.Away{"bob": {Until: t0.Add(48 * time.Hour), StandIn: "carol"}})
	tr = r2.act(flows.EventRequestChanges, "carol", reason("which model?"))
	contains(t, "alice's notice", notified(t, tr, "alice", "requester/manager/1").Msg.Text, "Carol Diaz (for Bob Chen) asked for changes at Manager approval.")
	// No stand-in named: the manager.
	r, _ = start(map[string]flows.Away{"bob": {Until: t0.Add(time.Hour)}})
	if got := r.in.Tasks[0].Delegates; !slices.Equal(got, []string{"dana"}) {
		t.Fatalf("delegates %v, want bob's manager", got)
	}
	// Back already: nobody is added.
	if r, _ = start(map[string]flows.Away{"bob": {Until: t0, StandIn: "carol"}}); len(r.in.Tasks[0].Delegates) != 0 || r.in.Routed != "" {
		t.Errorf("back: task %+v, routed %q; want bob's alone", r.in.Tasks[0], r.in.Routed)
	}
	// A stand-in who may not (the requester) or cannot (away too) gives way
	// to the next: the manager.
	for _, away := range []map[string]flows.Away{
		{"bob": {Until: t0.Add(time.Hour), StandIn: "alice"}},
		{"bob": {Until: t0.Add(time.Hour), StandIn: "carol"}, "carol": {Until: t0.Add(time.Hour)}},
	} {
		if r, _ = start(away); !slices.Equal(r.in.Tasks[0].Delegates, []string{"dana"}) {
			t.Errorf("away %+v: task %+v; want dana standing in", away, r.in.Tasks[0])
		}
	}
}

// On an "any" step, a named stand-in who is on the step already covers it:
// nobody else is brought in.
func TestAwayStandInOnAnAnyStep(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, policyFlow("")))
	r.do(flows.Event{Kind: flows.EventStart, Instance: "X-1", Flow: "pol", Actor: "alice", Data: form("item", "x"),
		Away: map[string]flows.Away{"carol": {Until: t0.Add(time.Hour), StandIn: "frank"}}})
	for _, task := range r.in.Tasks {
		if len(task.Delegates) != 0 {
			t.Fatalf("tasks %+v: want nobody brought in", r.in.Tasks)
		}
	}
	contains(t, "routing", r.in.Routed, "Carol Diaz is away through Thu 26 Nov, and Frank Osei, on this step too, stands in")
}

// Everyone on an "all" step away, with one stand-in named: each seat gets
// a stand-in of its own, so one person cannot fill them all; on a channel
// step, each stand-in gets a card of their own, and its reminders.
func TestAwayStandInsTakeASeatEach(t *testing.T) {
	t.Parallel()
	for _, channel := range []string{"", "    channel: finance"} {
		r := newRun(t, newEngine(t, policyFlow("    policy: all\n    remind: {every: 4h}\n"+channel)))
		away := map[string]flows.Away{}
		for _, p := range []string{"carol", "frank", "gina"} {
			away[p] = flows.Away{Until: t0.Add(time.Hour), StandIn: "olivia"}
		}
		tr := r.do(flows.Event{Kind: flows.EventStart, Instance: "X-1", Flow: "pol", Actor: "alice", Data: form("item", "x"), Away: away})
		var standIns []string
		for _, task := range r.in.Tasks {
			standIns = append(standIns, task.Delegates...)
		}
		slices.Sort(standIns)
		if len(standIns) != 3 || len(slices.Compact(slices.Clone(standIns))) != 3 || !slices.Contains(standIns, "olivia") {
			t.Fatalf("%q: stand-ins %v, want three different people (one seat each), olivia among them", channel, standIns)
		}
		for _, p := range standIns {
			notified(t, tr, p, "fin/1/"+p)
		}
		tr = r.fire(flows.TimerRemind)
		for _, p := range standIns {
			if e := notified(t, tr, p, fmt.Sprintf("fin/1/%s/r%d", p, r.now.UnixMilli())); e.Thread != "fin/1/"+p || !strings.HasPrefix(e.Msg.Text, "Reminder 1 of 3") {
				t.Fatalf("%q: %s's reminder %+v", channel, p, e)
			}
		}
	}
}

// Away again (its "away" shares each pending task again, StandIn marked):
// with the same stand-in, nothing changes; with another, they replace
// the one before, whose card closes saying who stands in now, whose own
// reminder of it goes, and who may no longer decide it; the routing note
// and the record say who stands in now. A delegate the assignee chose
// stays.
func TestAwayAgainReplacesTheStandIn(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, buyFlow))
	away := func(until time.Duration, standIn string) func(*flows.Event) {
		return func(e *flows.Event) {
			e.Away = map[string]flows.Away{"bob": {Until: t0.Add(until), StandIn: standIn}}
		}
	}
	r.do(flows.Event{Kind: flows.EventStart, Instance: "X-1", Flow: "buy", Actor: "alice",
		Data: form("item", "Laptop", "amount", "500"), Away: map[string]flows.Away{"bob": {Until: t0.Add(48 * time.Hour), StandIn: "carol"}}})
	if task := r.in.Tasks[0]; task.StandIn != "carol" || !slices.Equal(task.Delegates, []string{"carol"}) {
		t.Fatalf("task %+v: want carol standing in", task)
	}
	r.act(flows.EventSnooze, "carol", data("for", "2h"))
	shareAgain := func(to string, opts ...func(*flows.Event)) *flows.Transition {
		t.Helper()
		return r.act(flows.EventDelegate, "bob", append([]func(*flows.Event){target(to), reason("away through Fri 4 Dec"),
			func(e *flows.Event) { e.StandIn = true }}, opts...)...)
	}
	// Away longer, the same stand-in: nothing to do.
	if tr := shareAgain("carol", away(8*24*time.Hour, "carol")); !tr.Noop || !tr.Outcome.OK || !slices.Equal(r.in.Tasks[0].Delegates, []string{"carol"}) {
		t.Fatalf("the same stand-in again: %+v, delegates %v; want nothing changed", tr.Outcome, r.in.Tasks[0].Delegates)
	}
	// Another stand-in: Frank replaces Carol.
	tr := shareAgain("frank", away(8*24*time.Hour, "frank"))
	if task := r.in.Tasks[0]; task.StandIn != "frank" || !slices.Equal(task.Delegates, []string{"frank"}) {
		t.Fatalf("task %+v: want frank alone standing in", task)
	}
	contains(t, "the answer", tr.Outcome.Text, "Frank Osei now stands in for Bob Chen on X-1, in place of Carol Diaz.")
	closed := updated(t, tr, "manager/1/carol").Msg
	if len(closed.Actions) != 0 {
		t.Errorf("carol's closed card has buttons: %v", actions(closed.Actions))
	}
	contains(t, "carol's card", closed.Outcome, "Stand-in changed by Bob Chen", "Frank Osei stands in for Bob Chen now, in your place: it is no longer yours to decide.")
	contains(t, "frank's card", strings.Join(notified(t, tr, "frank", "manager/1/frank").Msg.Context, "\n"),
		"Waiting on Bob Chen (delegated to Frank Osei)", "Routing: Bob Chen is away through Fri 4 Dec, and Frank Osei stands in", "Delegated to you by Bob Chen: away through Fri 4 Dec")
	contains(t, "bob's card", strings.Join(updated(t, tr, "manager/1/bob").Msg.Context, "\n"), "Waiting on Bob Chen (delegated to Frank Osei)")
	if r.in.Routed != "Bob Chen is away through Fri 4 Dec, and Frank Osei stands in" {
		t.Errorf("routed %q", r.in.Routed)
	}
	if c := effectsOf(tr, flows.EffectCancelTimer); len(c) != 1 || c[0].Timer.Kind != flows.TimerSnooze || c[0].Timer.Person != "carol" {
		t.Errorf("cancelled timers %+v, want carol's snooze", c)
	}
	if a := tr.Audit[0]; a.Action != "delegated" || a.Detail["from"] != "carol" || a.Detail["to"] != "frank" {
		t.Errorf("record %+v: want a delegation from carol to frank", a)
	}
	contains(t, "timeline", strings.Join(slices.Collect(maps.Values(itemTexts(r.e.Timeline(r.in, r.audit, "alice", r.now)))), "\n"),
		"reason: away through Fri 4 Dec · from: Carol Diaz · to: Frank Osei")
	r.refused(flows.Event{Kind: flows.EventApprove, Actor: "carol"}, flows.CodeNotAssignee)
	// A delegate Bob chose stays when the stand-in changes; one who was
	// his delegate already becomes his stand-in, and nobody is added.
	r.act(flows.EventDelegate, "bob", target("gina"))
	shareAgain("olivia", away(9*24*time.Hour, "olivia"))
	if task := r.in.Tasks[0]; task.StandIn != "olivia" || !slices.Equal(task.Delegates, []string{"gina", "olivia"}) {
		t.Fatalf("task %+v: want gina, and olivia standing in", task)
	}
	tr = shareAgain("gina", away(9*24*time.Hour, "gina"))
	if task := r.in.Tasks[0]; task.StandIn != "gina" || !slices.Equal(task.Delegates, []string{"gina"}) {
		t.Fatalf("task %+v: want gina alone, standing in", task)
	}
	updated(t, tr, "manager/1/olivia")
	if n := notifies(tr); len(n) != 0 {
		t.Errorf("gina, on it already, got a new card: %s", describe(n))
	}
}

// Whoever took part in a step stays involved (may read its status and
// comment), as its first assignee does once a task moves: a stand-in a
// later one replaced, a delegate who did not decide, and whoever a task
// moved on from; while the step waits, and once it is over.
func TestWhoTookPartStaysInvolved(t *testing.T) {
	t.Parallel()
	involves := func(t *testing.T, r *run, want ...string) {
		t.Helper()
		for _, p := range want {
			if !r.in.Involves(p) {
				t.Errorf("%s (%s at %q): %s is not involved", r.in.ID, r.in.Status, r.in.Step, p)
			}
		}
		if r.in.Involves("zed") {
			t.Error("zed, who had no part, is involved")
		}
	}
	t.Run("a stand-in replaced", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, newEngine(t, buyFlow))
		away := func(standIn string) map[string]flows.Away {
			return map[string]flows.Away{"bob": {Until: t0.Add(48 * time.Hour), StandIn: standIn}}
		}
		r.do(flows.Event{Kind: flows.EventStart, Instance: "X-1", Flow: "buy", Actor: "alice", Data: form("item", "Laptop", "amount", "500"), Away: away("carol")})
		r.act(flows.EventDelegate, "bob", target("frank"), func(e *flows.Event) { e.StandIn, e.Away = true, away("frank") })
		if task := r.in.Tasks[0]; !slices.Equal(task.Delegates, []string{"frank"}) {
			t.Fatalf("task %+v: want frank alone standing in", task)
		}
		involves(t, r, "carol", "frank", "bob")
		r.act(flows.EventApprove, "frank")
		wantStatus(t, r.in, flows.StatusCompleted, "", 0)
		involves(t, r, "carol", "frank", "bob")
	})
	t.Run("a delegate who did not decide", func(t *testing.T) {
		t.Parallel()
		r := buyRun(t, "500")
		r.act(flows.EventDelegate, "bob", target("carol"))
		r.act(flows.EventApprove, "bob")
		wantStatus(t, r.in, flows.StatusCompleted, "", 0)
		involves(t, r, "carol")
	})
	t.Run("whom a task moved on from", func(t *testing.T) {
		t.Parallel()
		r := buyRun(t, "500")
		r.act(flows.EventDelegate, "bob", target("carol"))
		r.act(flows.EventReassign, "bob", target("erin"))
		r.act(flows.EventReassign, "erin", target("gus"))
		if task := r.in.Tasks[0]; task.Assignee != "gus" || task.Original != "bob" {
			t.Fatalf("task %+v", task)
		}
		involves(t, r, "bob", "carol", "erin")
		r.act(flows.EventApprove, "gus")
		involves(t, r, "bob", "carol", "erin", "gus")
	})
}

// TestResubmittedAfterTheStandInsTime: a stand-in asked for changes, and
// the request comes back once the person they stood in for is back: round
// 2 is the person's alone (no card for whoever stood in), and whoever
// asked for the changes is told it was resubmitted, and whom it waits on.
// While the person is still away, their stand-in gets round 2's card, as
// any new task of theirs. Who asked for changes themselves gets round 2's
// card, and no notice besides.
func TestResubmittedAfterTheStandInsTime(t *testing.T) {
	t.Parallel()
	away := map[string]flows.Away{"bob": {Until: t0.Add(48 * time.Hour), StandIn: "carol"}}
	sendBack := func(by string) *run {
		r := newRun(t, newEngine(t, buyFlow))
		r.do(flows.Event{Kind: flows.EventStart, Instance: "X-1", Flow: "buy", Actor: "alice", Data: form("item", "Laptop", "amount", "500"), Away: away})
		r.act(flows.EventRequestChanges, by, reason("which model?"), func(e *flows.Event) { e.Away = away })
		return r
	}
	resubmit := func(r *run, after time.Duration) *flows.Transition {
		r.now = t0.Add(after)
		return r.act(flows.EventResubmit, "alice", data("item", "Laptop Pro", "amount", "500"), reason("the pro"), func(e *flows.Event) { e.Away = away })
	}
	// Carol asked, Bob is back.
	r := sendBack("carol")
	tr := resubmit(r, 72*time.Hour)
	if task := r.in.Tasks[0]; task.Assignee != "bob" || len(task.Delegates) != 0 || task.StandIn != "" {
		t.Fatalf("round 2 %+v: want bob's alone", task)
	}
	if got := recipients(tr); !slices.Equal(got, []string{"bob", "carol"}) {
		t.Fatalf("told %v: want bob's card, and carol's notice", got)
	}
	notified(t, tr, "bob", "manager/2/bob")
	m := notified(t, tr, "carol", "resubmitted/manager/1/carol").Msg
	if m.Title != "Resubmitted: Purchase X-1 (Laptop Pro (500))" || len(m.Actions) != 1 || m.Actions[0].Kind != flows.ActStatus {
		t.Errorf("carol's notice %q, actions %v", m.Title, actions(m.Actions))
	}
	contains(t, "carol's notice", m.Text, "Alice Martin resubmitted X-1 after you, on behalf of Bob Chen, asked for changes at Manager approval; it now waits on Bob Chen: nothing more is asked of you.",
		"Item: Laptop → Laptop Pro", "Their note: the pro")
	if m.Round != 1 || slices.Contains(m.Context, "Round 2") { // she decided round 1; round 2 is Bob's now
		t.Errorf("carol's notice is of round %d, context %q", m.Round, m.Context)
	}
	// Sent again as it was, with a note only: no list of changes.
	r = sendBack("carol")
	r.now = t0.Add(72 * time.Hour)
	tr = r.act(flows.EventResubmit, "alice", data("item", "Laptop", "amount", "500"), reason("any will do"))
	if text := notified(t, tr, "carol", "resubmitted/manager/1/carol").Msg.Text; strings.Contains(text, "What changed") || !strings.HasSuffix(text, "nothing more is asked of you.\nTheir note: any will do") {
		t.Errorf("carol's notice of a resubmission without changes: %q", text)
	}
	// Carol asked, Bob is still away: round 2 is shared with her again.
	r = sendBack("carol")
	tr = resubmit(r, 24*time.Hour)
	if task := r.in.Tasks[0]; task.StandIn != "carol" || !slices.Equal(recipients(tr), []string{"bob", "carol"}) {
		t.Fatalf("round 2 %+v, told %v: want bob's, shared with carol", task, recipients(tr))
	}
	notified(t, tr, "carol", "manager/2/carol")
	// Bob asked while away, and is back: his alone; Carol, whose time is
	// over and who decided nothing, hears nothing.
	r = sendBack("bob")
	if got := recipients(resubmit(r, 72*time.Hour)); !slices.Equal(got, []string{"bob"}) {
		t.Fatalf("told %v: want bob alone", got)
	}
	// A delegate Bob chose, who asked for changes, is told as well.
	r = newRun(t, newEngine(t, buyFlow))
	r.start("buy", "alice", form("item", "Laptop", "amount", "500"))
	r.act(flows.EventDelegate, "bob", target("frank"))
	r.act(flows.EventRequestChanges, "frank", reason("which model?"))
	tr = resubmit(r, time.Hour)
	contains(t, "frank's notice", notified(t, tr, "frank", "resubmitted/manager/1/frank").Msg.Text, "after you, on behalf of Bob Chen, asked for changes")
	// A step asked on the way back to the one that sent the request back
	// (a CFO's, as the amount now needs it), whose stand-in asked for
	// changes: asked again, of the CFO alone, back; the stand-in is told.
	r = newRun(t, newEngine(t, `
id: w
name: W
owner: olivia
form:
  - {name: amount, type: number, required: true}
steps:
  - {id: manager, type: approval, assignees: [manager]}
  - {id: cfo, name: CFO approval, type: approval, assignees: ["person:dana"], when: "amount > 100000"}
  - {id: finance, type: approval, assignees: ["person:carol"]}
`))
	danaAway := func(e *flows.Event) {
		e.Away = map[string]flows.Away{"dana": {Until: t0.Add(48 * time.Hour), StandIn: "gus"}}
	}
	r.start("w", "alice", form("amount", "2500"))
	r.act(flows.EventApprove, "bob")
	r.act(flows.EventRequestChanges, "carol", reason("why?"))
	r.act(flows.EventResubmit, "alice", data("amount", "900000"), danaAway)
	wantStatus(t, r.in, flows.StatusRunning, "cfo", 1)
	r.act(flows.EventRequestChanges, "gus", reason("too much"), danaAway)
	r.now = t0.Add(72 * time.Hour)
	tr = r.act(flows.EventResubmit, "alice", data("amount", "800000"), danaAway)
	wantStatus(t, r.in, flows.StatusRunning, "cfo", 2)
	if got := recipients(tr); !slices.Contains(got, "dana") || !slices.Contains(got, "gus") || len(r.in.Tasks[0].Delegates) != 0 {
		t.Fatalf("told %v, tasks %+v: want dana's card alone, and gus's notice", got, r.in.Tasks)
	}
	contains(t, "gus's notice", notified(t, tr, "gus", "resubmitted/cfo/1/gus").Msg.Text,
		"Alice Martin resubmitted X-1 after you, on behalf of Dana Kowalski, asked for changes at CFO approval; it now waits on Dana Kowalski")

	// An earlier step asked first, on the way back (the CFO's, before the
	// manager's): the stand-in who sent it back is told when it gets back.
	r = newRun(t, newEngine(t, `
id: w
name: W
owner: olivia
form:
  - {name: amount, type: number, required: true}
steps:
  - {id: cfo, name: CFO approval, type: approval, assignees: ["person:dana"], when: "amount > 100000"}
  - {id: manager, name: Manager approval, type: approval, assignees: [manager]}
`))
	bobAway := func(e *flows.Event) {
		e.Away = map[string]flows.Away{"bob": {Until: t0.Add(48 * time.Hour), StandIn: "carol"}}
	}
	r.do(flows.Event{Kind: flows.EventStart, Instance: "X-1", Flow: "w", Actor: "alice", Data: form("amount", "2500"), Away: map[string]flows.Away{"bob": {Until: t0.Add(48 * time.Hour), StandIn: "carol"}}})
	r.act(flows.EventRequestChanges, "carol", reason("why?"), bobAway)
	r.now = t0.Add(72 * time.Hour) // Bob is back
	r.act(flows.EventResubmit, "alice", data("amount", "900000"))
	wantStatus(t, r.in, flows.StatusRunning, "cfo", 1)
	tr = r.act(flows.EventApprove, "dana")
	wantStatus(t, r.in, flows.StatusRunning, "manager", 2)
	contains(t, "carol's notice", notified(t, tr, "carol", "resubmitted/manager/1/carol").Msg.Text,
		"Alice Martin resubmitted X-1 after you, on behalf of Bob Chen, asked for changes at Manager approval; it now waits on Bob Chen")
}

// TestEndSentBackTellsItsReviewers: a request withdrawn or cancelled while
// sent back does not come back: the step's people, whose cards say they
// asked for changes or rejected it, are told nothing more is asked of them.
func TestEndSentBackTellsItsReviewers(t *testing.T) {
	t.Parallel()
	e := newEngine(t, reviewFlow("    policy: all\n    assignees: [person:bob, person:gus]\n"))
	r := newRun(t, e)
	r.start("tmr", "alice", nil)
	r.act(flows.EventApprove, "gus")
	r.act(flows.EventRequestChanges, "bob", reason("which vendor?"))
	tr := r.act(flows.EventWithdraw, "alice", reason("not needed after all"))
	// Each reads it as theirs: Bob, who sent it back, reads "you".
	for p, who := range map[string]string{"bob": "you", "gus": "Bob Chen"} {
		m := notified(t, tr, p, "ended/review/1/"+p).Msg
		if !strings.HasPrefix(m.Title, "Withdrawn: Timers X-1") {
			t.Errorf("%s's notice title %q", p, m.Title)
		}
		contains(t, p+"'s notice", m.Text, "Alice Martin withdrew X-1 after "+who+" asked for changes to it at Review; nothing more is asked of you.\nReason: not needed after all")
	}
	for _, e := range tr.Effects {
		if e.Kind == flows.EffectNotify && e.To.Person == "alice" && strings.HasPrefix(e.Card, "ended/") {
			t.Errorf("the requester, who withdrew it, was told: %+v", e)
		}
	}

	r = newRun(t, e)
	r.start("tmr", "alice", nil)
	r.act(flows.EventReject, "bob", reason("no budget"))
	tr = r.act(flows.EventCancel, "olivia", reason("duplicate of X-0"))
	contains(t, "a cancellation", notified(t, tr, "bob", "ended/review/1/bob").Msg.Text,
		"Olivia Brown cancelled X-1 after you rejected it at Review; nothing more is asked of you.\nReason: duplicate of X-0")
}

// TestCommentsAfterTheStepCloses: a delegate who decided, and whose task
// they decided, stay involved once the step closes: they may comment, and
// are told of comments.
func TestCommentsAfterTheStepCloses(t *testing.T) {
	t.Parallel()
	e := newEngine(t, `
id: two
name: Two
owner: olivia
steps:
  - {id: first, name: First, type: approval, policy: all, assignees: ["person:frank", "person:gina"]}
  - {id: second, name: Second, type: approval, assignees: ["person:carol"]}
`)
	r := newRun(t, e)
	r.start("two", "alice", nil)
	r.act(flows.EventDelegate, "frank", target("bob"))
	r.act(flows.EventApprove, "bob")
	r.act(flows.EventApprove, "gina") // the step's last decision: bob is no longer its By
	if r.in.Step != "second" {
		t.Fatalf("at %q", r.in.Step)
	}
	tr := r.act(flows.EventComment, "bob", reason("ordered from the usual vendor"))
	if !tr.Outcome.OK {
		t.Fatalf("bob's comment: %+v", tr.Outcome)
	}
	notified(t, tr, "frank", "comment/"+strconv.Itoa(int(r.in.AuditSeq))+"/frank")
}

// An admin with a seat on a step may not fill a second one, but moving
// someone else's task fills none: having approved their own, or with their
// own still pending, they may reassign or delegate another's.
func TestAdminOnTheStepMayStillMoveOthersTasks(t *testing.T) {
	t.Parallel()
	const flow = `
id: both
name: Both
owner: olivia
steps:
  - id: s
    type: approval
    policy: all
    assignees: [person:ada, person:bob]
`
	r := newRun(t, newEngine(t, flow))
	r.start("both", "alice", nil)
	tr := r.act(flows.EventReassign, admin, target("erin"), func(e *flows.Event) { e.From = "bob" })
	contains(t, "outcome", tr.Outcome.Text, "Bob Chen's task on X-1 is now with Erin Park; Ada")
	r.act(flows.EventApprove, admin)
	tr = r.act(flows.EventDelegate, admin, target("carol"))
	contains(t, "outcome", tr.Outcome.Text, "Carol Diaz can now decide X-1 on behalf of Erin Park.")
	// Deciding is still one seat each: ada's approval does not count twice.
	tr = r.act(flows.EventApprove, admin)
	if tr.Outcome.OK || r.in.Status != flows.StatusRunning {
		t.Fatalf("ada approved a second seat: %+v, status %s", tr.Outcome, r.in.Status)
	}
	contains(t, "refusal", tr.Outcome.Text, "You already approved X-1")
}

// A number sent back as the form was pre-filled with it (1.125, as Baton
// writes the stored value) is that value: the requester is not asked
// whether they meant 1125. A number they typed anew is asked about.
func TestResubmitUnchangedNumberIsNotAskedAbout(t *testing.T) {
	t.Parallel()
	r := buyRun(t, "1.1250")
	if got := r.in.Data["amount"]; got != 1.125 {
		t.Fatalf("amount %v", got)
	}
	r.act(flows.EventRequestChanges, "bob", reason("which vendor?"))
	_, err := r.e.Apply(r.in, flows.Event{Kind: flows.EventResubmit, Key: "re1", Instance: "X-1", Actor: "alice", Data: form("item", "Laptop", "amount", "2.125")}, r.now)
	if err == nil || !strings.Contains(err.Error(), "2.125 could be 2125 or 2.125 (a dot may group thousands); write 2125, or 2.1250 for the decimal") {
		t.Fatalf("a typed 2.125: %v", err)
	}
	r.act(flows.EventResubmit, "alice", data("item", "Laptop, from Acme", "amount", "1.125"))
	if got := r.in.Data["amount"]; got != 1.125 || r.in.Status != flows.StatusRunning {
		t.Fatalf("amount %v, status %s", got, r.in.Status)
	}
}

// A co-approver brought in by an escalation may not move the others'
// tasks: they would pick who fills the other seats. (An admin may.)
func TestEscalatedCoApproverMayNotMoveOthersTasks(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, reviewFlow("    policy: all\n    assignees: [person:bob, person:carol]\n    escalate:\n      - {after: 1h, notify: manager}\n")))
	r.start("tmr", "alice", nil)
	r.fire(flows.TimerEscalate) // to dana, their manager
	r.act(flows.EventReassign, admin, target("dana"), func(e *flows.Event) { e.From = "carol" })
	r.act(flows.EventApprove, "dana")
	for _, kind := range []flows.EventKind{flows.EventReassign, flows.EventDelegate} {
		tr := r.act(kind, "dana", target("frank"), func(e *flows.Event) { e.From = "bob" })
		contains(t, "refusal", tr.Outcome.Text, "You already approved X-1")
		if tr.Outcome.OK || r.in.Tasks[0].Assignee != "bob" || len(r.in.Tasks[0].Delegates) != 0 {
			t.Fatalf("%s by dana: %+v, tasks %+v", kind, tr.Outcome, r.in.Tasks)
		}
	}

	// Nor, with her own task still pending, may she name another's; nor,
	// as a delegate, move the task she may decide.
	r = newRun(t, newEngine(t, reviewFlow("    policy: all\n    assignees: [person:bob, person:carol]\n    escalate:\n      - {after: 1h, notify: manager}\n")))
	r.start("tmr", "alice", nil)
	r.fire(flows.TimerEscalate)
	r.act(flows.EventReassign, admin, target("dana"), func(e *flows.Event) { e.From = "carol" })
	tr := r.act(flows.EventReassign, "dana", target("frank"), func(e *flows.Event) { e.From = "bob" })
	contains(t, "refusal", tr.Outcome.Text, "You are on X-1 yourself, so you may move only your own task; Bob Chen's is theirs or an admin's to move.")
	tr = r.act(flows.EventReassign, "dana", target("frank"), func(e *flows.Event) { e.From = "nobody" })
	if tr.Outcome.Text != "You are on X-1 yourself, so you may move only your own task." {
		t.Errorf("naming nobody: %q", tr.Outcome.Text)
	}
	r = newRun(t, newEngine(t, reviewFlow("    policy: all\n    assignees: [person:bob, person:carol]\n    escalate:\n      - {after: 1h, notify: manager}\n")))
	r.start("tmr", "alice", nil)
	r.fire(flows.TimerEscalate)
	r.act(flows.EventDelegate, "bob", target("dana"))
	for _, from := range []string{"carol", ""} {
		tr := r.act(flows.EventReassign, "dana", target("frank"), func(e *flows.Event) { e.From = from })
		contains(t, "refusal", tr.Outcome.Text, "You may decide X-1 on behalf of Bob Chen, but only Bob Chen or an admin can reassign it.")
	}
	if r.in.Tasks[0].Assignee != "bob" || r.in.Tasks[1].Assignee != "carol" {
		t.Fatalf("tasks %+v", r.in.Tasks)
	}
}

// A card brought up to date after a task moved to its holder keeps why they
// hold it: reassigned to them, or theirs to decide for someone.
func TestRefreshedCardsKeepTheHandoff(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, reviewFlow("    policy: all\n    assignees: [person:bob, person:carol]\n")))
	r.start("tmr", "alice", nil)
	tr := r.act(flows.EventReassign, admin, target("hana"), reason("Carol is on leave"), func(e *flows.Event) { e.From = "carol" })
	ctx := notified(t, tr, "hana", "review/1/hana").Msg.Context
	if !slices.Contains(ctx, "Reassigned to you by Ada Admin (was Carol Diaz): Carol is on leave") || slices.Contains(ctx, "Reassigned to you (first assigned to Carol Diaz)") {
		t.Fatalf("hana's new card %q", ctx)
	}
	tr = r.act(flows.EventDelegate, "hana", target("gus"))
	contains(t, "gus's card", strings.Join(notified(t, tr, "gus", "review/1/gus").Msg.Context, "\n"), "Delegated to you by Hana Sato")
	tr = r.act(flows.EventReassign, "bob", target("frank"))
	contains(t, "hana's card", strings.Join(updated(t, tr, "review/1/hana").Msg.Context, "\n"), "Reassigned to you (first assigned to Carol Diaz)")
	contains(t, "gus's card", strings.Join(updated(t, tr, "review/1/gus").Msg.Context, "\n"), "You may decide it on behalf of Hana Sato")
}

// A task card's Reassign names whom the engine would not take (the
// requester of an approval, who is on the step), for a picker to leave out;
// on a step of many people, nobody (each card would carry them all).
func TestReassignExcludes(t *testing.T) {
	t.Parallel()
	const flow = `
id: pair
name: Pair
owner: olivia
steps:
  - {id: check, type: approval, policy: all, assignees: ["person:bob", "group:finance"]}
`
	r := newRun(t, newEngine(t, flow))
	tr := r.start("pair", "alice", nil)
	card := notified(t, tr, "carol", "check/1/carol")
	i := slices.IndexFunc(card.Msg.Actions, func(a flows.Action) bool { return a.Kind == flows.ActReassign })
	if i < 0 || !slices.Equal(card.Msg.Actions[i].Exclude, []string{"alice", "bob", "carol", "frank", "gina"}) {
		t.Fatalf("carol's Reassign: %+v", card.Msg.Actions)
	}

	var people strings.Builder
	people.WriteString("people:\n  - {id: alice, name: Alice}\n  - {id: olivia, name: Olivia}\n")
	for n := range 25 {
		fmt.Fprintf(&people, "  - {id: p%d, name: P%d, groups: [many]}\n", n, n)
	}
	dir, err := flows.ParseDirectory("people.yaml", []byte(people.String()))
	if err != nil {
		t.Fatal(err)
	}
	e, err := flows.NewEngine([]*flows.Definition{mustParse(t, strings.Replace(flow, `["person:bob", "group:finance"]`, `["group:many"]`, 1))}, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr = newRun(t, e).start("pair", "alice", nil)
	card = notified(t, tr, "p0", "check/1/p0")
	for _, a := range card.Msg.Actions {
		if a.Kind == flows.ActReassign && a.Exclude != nil {
			t.Errorf("a step of 25 excludes %d on each card", len(a.Exclude))
		}
	}
}

// A request whose flow is no longer defined (its file removed) can still
// end: an admin cancels it or its requester withdraws it, and its cards
// close. Anything else is bad input that says so, not an error to retry.
func TestFlowNoLongerDefined(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		who  string
		kind flows.EventKind
	}{{admin, flows.EventCancel}, {"alice", flows.EventWithdraw}} {
		t.Run(string(c.kind), func(t *testing.T) {
			t.Parallel()
			r := buyRun(t, "500")
			r.e = newEngine(t, policyFlow("")) // purchase is gone
			r.inputErr(flows.Event{Kind: flows.EventApprove, Actor: "bob"}, `X-1: flow "buy" is no longer defined; restore its file, or an admin cancels the request`)
			tr := r.refused(flows.Event{Kind: flows.EventCancel, Actor: "bob", Reason: "stuck"}, flows.CodeNotAllowed)
			contains(t, "refusal", tr.Outcome.Text, "Only an admin can cancel X-1")
			tr = r.act(c.kind, c.who, reason("its flow is gone"))
			if r.in.Status.Open() || len(r.in.Tasks) != 0 {
				t.Fatalf("status %s, tasks %+v: want it ended", r.in.Status, r.in.Tasks)
			}
			contains(t, "bob's card", updated(t, tr, "manager/1/").Msg.Outcome, "by "+map[string]string{admin: "Ada Admin", "alice": "Alice Martin"}[c.who])
		})
	}
	t.Run("sent back from a step no longer in the flow", func(t *testing.T) {
		t.Parallel()
		r := buyRun(t, "500")
		r.act(flows.EventRequestChanges, "bob", reason("which model?"))
		r.e = newEngine(t, strings.Replace(buyFlow, "  - id: manager\n", "  - id: boss\n", 1))
		contains(t, "timeline", itemTexts(r.e.Timeline(r.in, r.audit, "alice", r.now))["manager"], "Sent back from manager, a step the flow no longer has: it cannot be resubmitted; its requester withdraws it")
	})
	t.Run("sent back", func(t *testing.T) {
		t.Parallel()
		r := buyRun(t, "500")
		r.act(flows.EventRequestChanges, "bob", reason("which model?"))
		r.e = newEngine(t, policyFlow(""))
		tr := r.act(flows.EventCancel, admin, reason("its flow is gone"))
		// Bob, who sent it back, is told as ever; the step by its id.
		contains(t, "bob's notice", notified(t, tr, "bob", "ended/manager/1/bob").Msg.Text, "Ada Admin cancelled X-1 after you asked for changes to it at manager")
	})
}

// Skipping a step no longer in the flow (its file changed while a request
// waited there) goes on after the last step the request went through, not
// to the end past the steps it never reached; the step's cards close.
func TestSkipStepNoLongerInTheFlow(t *testing.T) {
	t.Parallel()
	r := buyRun(t, "2500")
	r.act(flows.EventApprove, "bob")
	wantStatus(t, r.in, flows.StatusRunning, "finance", 1)
	i, j := strings.Index(buyFlow, "  - id: finance"), strings.Index(buyFlow, "  - id: order")
	r.e = newEngine(t, buyFlow[:i]+buyFlow[j:]+`  - id: pay
    name: Pay
    type: task
    assignees: [person:erin]
`)
	r.inputErr(flows.Event{Kind: flows.EventApprove, Actor: "carol"}, "no longer in flow buy; the flow owner or an admin cancels the request or skips the step")
	// The status and the requests list say where it stopped, and what to do.
	contains(t, "timeline", itemTexts(r.e.Timeline(r.in, r.audit, "alice", r.now))["finance"], "Stopped at finance, a step the flow no longer has: its owner or an admin skips it")
	list := r.e.RequestList([]*flows.Instance{r.in}, "alice", r.now, "start <flow>")
	contains(t, "requests", list.Items[0].Text, "Stopped at finance, a step the flow no longer has")
	if o := r.e.Overview([]*flows.Instance{r.in}, r.now); o.Open[0].Step != "finance (no longer in the flow)" {
		t.Errorf("dashboard step %q", o.Open[0].Step)
	}
	tr := r.act(flows.EventSkip, "olivia", reason("finance is gone"))
	wantStatus(t, r.in, flows.StatusRunning, "pay", 1)
	contains(t, "answer", tr.Outcome.Text, "Skipped finance (no longer in the flow) of X-1. Waiting on Erin Park (Pay).")
	notified(t, tr, "#ops", "notify/order")
	contains(t, "carol's card", updated(t, tr, "finance/1/").Msg.Outcome, "Skipped by Olivia Brown")
}

// An output of a task step passed over by its own condition (a branch not
// taken) reads as empty, as before: only one skipped by someone is not
// known (TestTaskDoneWithOutputs).
func TestOutputOfABranchNotTaken(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, `
id: br
name: Branch
owner: olivia
form:
  - {name: level, type: choice, options: [user, admin], required: true}
steps:
  - id: sec
    type: task
    when: level == "admin"
    assignees: [person:gus]
    outputs:
      - {name: risk, type: choice, options: [low, high], required: true}
  - id: ciso
    type: approval
    when: risk == "high"
    assignees: [person:dana]
`))
	r.start("br", "alice", form("level", "user"))
	wantStatus(t, r.in, flows.StatusCompleted, "", 0)
	if slices.ContainsFunc(r.audit, func(a flows.AuditEntry) bool { return a.Action == "condition_failed" }) {
		t.Errorf("a condition failed: %+v", r.audit)
	}
}

// What an adapter's form asks for is named by the error (Slack opens its
// reason or reassign form only then): a reason, whom to; a request whose
// step is gone names nothing (the form would not help).
func TestInputErrorsNameTheFormField(t *testing.T) {
	t.Parallel()
	r := buyRun(t, "2500")
	field := func(ev flows.Event) string {
		_, err := r.try(ev)
		var ie *flows.InputError
		if !errors.As(err, &ie) {
			t.Fatalf("%s: %v, want an input error", ev.Kind, err)
		}
		return ie.Field
	}
	for kind, want := range map[flows.EventKind]string{flows.EventReject: "reason", flows.EventRequestChanges: "reason", flows.EventReassign: "target"} {
		if got := field(flows.Event{Kind: kind, Actor: "bob"}); got != want {
			t.Errorf("%s without its input: field %q, want %q", kind, got, want)
		}
	}
	r.e = newEngine(t, strings.Replace(buyFlow, "  - id: manager\n", "  - id: boss\n", 1))
	if got := field(flows.Event{Kind: flows.EventReject, Actor: "bob"}); got != "" {
		t.Errorf("reject on a step no longer in the flow: field %q, want none", got)
	}
}

// A click on an old round's card by someone the request now waits on says
// so: they look for the new card.
func TestStaleClickSaysItWaitsOnYouNow(t *testing.T) {
	t.Parallel()
	r := buyRun(t, "500")
	r.act(flows.EventRequestChanges, "bob", reason("which model?"))
	r.act(flows.EventResubmit, "alice", data("item", "Laptop 14", "amount", "500"))
	tr := r.refused(flows.Event{Kind: flows.EventApprove, Actor: "bob", Step: "manager", Round: 1}, flows.CodeAlreadyDecided)
	contains(t, "refusal", tr.Outcome.Text, "Changes to X-1 were already requested by Bob Chen at", "It now waits on you at Manager approval (round 2).")
	tr = r.refused(flows.Event{Kind: flows.EventApprove, Actor: "carol", Step: "manager", Round: 1}, flows.CodeAlreadyDecided)
	if strings.Contains(tr.Outcome.Text, "now waits on you") {
		t.Errorf("told someone it does not wait on: %s", tr.Outcome.Text)
	}
}

// A task output naming someone outside the workspace does not make them a
// later task's assignee (their mail links to approvals only): the task goes
// where a step nobody can take goes, and its routing says why.
func TestTaskOutputNamingSomeoneOutside(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, `
id: ed
name: Editing
owner: olivia
steps:
  - id: pick
    type: task
    assignees: [person:erin]
    outputs:
      - {name: editor, type: person, required: true}
  - id: edit
    type: task
    assignees: [field:editor]
`))
	r.start("ed", "alice", nil)
	r.act(flows.EventTaskDone, "erin", data("editor", "email:pat@vendor.example"))
	wantStatus(t, r.in, flows.StatusRunning, "edit", 1)
	if got := assignees(r.in); slices.ContainsFunc(got, func(p string) bool { return strings.HasPrefix(p, "email:") }) || len(got) == 0 {
		t.Fatalf("assignees %v", got)
	}
	contains(t, "routing", r.in.Routed, "pat@vendor.example (external) is outside the workspace and cannot do a task")
}

// A resubmission after which the request fails (a step that now applies
// has nobody who may take it) says so.
func TestResubmissionThatFails(t *testing.T) {
	t.Parallel()
	e, err := flows.NewEngine([]*flows.Definition{mustParse(t, `
id: rs
name: Resub
owner: zed
form:
  - {name: amount, type: number, required: true}
steps:
  - id: cfo
    type: approval
    when: amount > 5000
    assignees: [manager]
  - id: fin
    type: approval
    assignees: [person:bob]
`)}, testDir(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := newRun(t, e)
	r.start("rs", "zed", form("amount", "100")) // zed has no manager, owns the flow; no admins
	wantStatus(t, r.in, flows.StatusRunning, "fin", 1)
	r.act(flows.EventRequestChanges, "bob", reason("more"))
	tr := r.act(flows.EventResubmit, "zed", data("amount", "6000"))
	if r.in.Status != flows.StatusFailed {
		t.Fatalf("status %s", r.in.Status)
	}
	contains(t, "answer", tr.Outcome.Text, "The request failed: no one is available as the requester's manager")
	// Bob, who sent it back, is not asked again: told it failed before it
	// came back to him, where and why.
	contains(t, "bob's notice", notified(t, tr, "bob", "resubmitted/fin/1/bob").Msg.Text,
		"Zed Null resubmitted X-1 after you asked for changes at fin, but it failed at cfo at once: no one is available as the requester's manager",
		"Nothing more is asked of you.", "amount: 100 → 6000")
}

// reaskFlow has two approvals, asked of first and second (assignees);
// zed, who has no manager, owns it: with no admin, an approval of zed's
// that names nobody may not go to anyone else.
func reaskFlow(first, second string) string {
	return fmt.Sprintf(`
id: rq
name: Reask
owner: zed
form:
  - {name: item, label: Item}
  - {name: approver, label: Approver, type: person}
steps:
  - id: first
    name: First
    type: approval
    assignees: [%s]
    reapprove_on: [item]
  - id: second
    name: Second
    type: approval
    assignees: [%s]
`, first, second)
}

// A step asked again that fails at once, as nobody may take it (its
// approver left out of the resubmission), fails as on the first pass,
// telling the requester (here the owner) which step and why; and whoever
// sent it back, who is not asked again, and whoever approved before learn
// that it failed, not that it waits on someone.
func TestReaskedStepThatFailsAtOnce(t *testing.T) {
	t.Parallel()
	e, err := flows.NewEngine([]*flows.Definition{mustParse(t, reaskFlow("person:carol", "field:approver"))}, testDir(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	why := "no one is available as the Approver named on the form, and nobody else may approve it"
	sentBack := func() *run {
		r := newRun(t, e)
		r.start("rq", "zed", form("item", "Desk", "approver", "bob"))
		r.act(flows.EventApprove, "carol")
		r.act(flows.EventRequestChanges, "bob", reason("which desk?"))
		return r
	}
	failedNotice := func(tr *flows.Transition) {
		t.Helper()
		contains(t, "zed's notice", notified(t, tr, "zed", fmt.Sprintf("failed/%d/zed", tr.Instance.AuditSeq)).Msg.Text,
			"Second could not complete: "+why, "X-1 waits at this step: you may cancel the request")
	}
	t.Run("resubmitted to it", func(t *testing.T) {
		t.Parallel()
		r := sentBack()
		tr := r.act(flows.EventResubmit, "zed", data("item", "Desk", "approver", ""))
		wantStatus(t, r.in, flows.StatusFailed, "second", 2)
		contains(t, "answer", tr.Outcome.Text, "The request failed: "+why)
		failedNotice(tr)
		contains(t, "bob's notice", notified(t, tr, "bob", "resubmitted/second/1/bob").Msg.Text,
			"Zed Null resubmitted X-1 after you asked for changes at Second, but it failed there at once: "+why, "Nothing more is asked of you.")
		contains(t, "carol's notice", notified(t, tr, "carol", "changed/second/1/carol").Msg.Text,
			"The approval stands, but the request failed at Second at once: "+why)
	})
	t.Run("returned to after an earlier step", func(t *testing.T) {
		t.Parallel()
		r := sentBack()
		r.act(flows.EventResubmit, "zed", data("item", "Standing desk", "approver", ""))
		wantStatus(t, r.in, flows.StatusRunning, "first", 2) // reapproved first
		tr := r.act(flows.EventApprove, "carol")
		wantStatus(t, r.in, flows.StatusFailed, "second", 2)
		contains(t, "answer", tr.Outcome.Text, "The request failed: "+why)
		failedNotice(tr)
		contains(t, "bob's notice", notified(t, tr, "bob", "resubmitted/second/1/bob").Msg.Text,
			"Zed Null resubmitted X-1 after you asked for changes at Second, but it failed there at once: "+why)
	})
	t.Run("its earlier approval reopened", func(t *testing.T) {
		t.Parallel()
		// First is asked of whom the form names, second of bob: the
		// resubmission changes what first approved and names nobody.
		e, err := flows.NewEngine([]*flows.Definition{mustParse(t, reaskFlow("field:approver", "person:bob"))}, testDir(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		r := newRun(t, e)
		r.start("rq", "zed", form("item", "Desk", "approver", "carol"))
		r.act(flows.EventApprove, "carol")
		r.act(flows.EventRequestChanges, "bob", reason("which desk?"))
		tr := r.act(flows.EventResubmit, "zed", data("item", "Standing desk", "approver", ""))
		wantStatus(t, r.in, flows.StatusFailed, "first", 2)
		contains(t, "carol's notice", notified(t, tr, "carol", "changed/second/1/carol").Msg.Text,
			"The approval no longer stands, and the step failed at once: "+why)
		contains(t, "bob's notice", notified(t, tr, "bob", "resubmitted/second/1/bob").Msg.Text,
			"Zed Null resubmitted X-1 after you asked for changes at Second, but it failed at First at once: "+why)
	})
}

// A resubmission whose step goes to someone other than whom it names (its
// approver left out) tells the requester why, as the start does.
func TestResubmissionSaysHowItWasRouted(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, assigneeFlow("approval", "olivia", "field:approver", "")))
	r.start("who", "alice", form("approver", "carol"))
	r.act(flows.EventRequestChanges, "carol", reason("not me"))
	tr := r.act(flows.EventResubmit, "alice", data("approver", ""))
	if got := assignees(r.in); !slices.Equal(got, []string{"bob"}) {
		t.Fatalf("assignees %v", got)
	}
	contains(t, "answer", tr.Outcome.Text, "Resubmitted X-1 (round 2). Waiting on Bob Chen (The step). (no one is available as the Approver named on the form; assigned to Bob Chen instead)")
}

// An approval that only asked for changes, and no longer applies after the
// resubmission, gave no approval: the request completes, not "Approved".
func TestCompletedWithoutAnApprovalGiven(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, `
id: cx
name: Check
owner: olivia
form:
  - {name: amount, type: number, required: true}
steps:
  - id: big
    type: approval
    when: amount > 5000
    assignees: [person:dana]
  - id: book
    type: task
    assignees: [person:erin]
`))
	r.start("cx", "alice", form("amount", "9000"))
	r.act(flows.EventRequestChanges, "dana", reason("too much"))
	r.act(flows.EventResubmit, "alice", data("amount", "100"))
	wantStatus(t, r.in, flows.StatusRunning, "book", 1)
	tr := r.act(flows.EventTaskDone, "erin")
	if r.in.Outcome != "completed" || !strings.HasPrefix(notified(t, tr, "alice", "requester/done").Msg.Title, "Completed: ") {
		t.Errorf("outcome %q", r.in.Outcome)
	}
}
