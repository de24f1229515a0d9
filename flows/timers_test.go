package flows_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/batonbot/baton/flows"
)

const day = 24 * time.Hour

// timersFlow: bob reviews within a day (then onTimeout), is reminded every
// 4 h (twice), escalated to his manager after a day and moved to erin after
// two (after 12 h and 20 h where onTimeout decides at due, ending the step);
// then the requester is told.
func timersFlow(onTimeout string) string {
	first, second := "1d", "2d"
	if onTimeout == "approve" || onTimeout == "reject" {
		first, second = "12h", "20h"
	}
	return `
id: tmr
name: Timers
owner: olivia
steps:
  - id: review
    name: Review
    type: approval
    assignees: [person:bob]
    due: 1d
    on_timeout: ` + onTimeout + `
    remind: {every: 4h, max: 2}
    escalate:
      - {after: ` + first + `, notify: manager}
      - {after: ` + second + `, reassign: "person:erin"}
  - id: after
    type: notify
    to: [requester]
    message: done
`
}

func (r *run) fireTimer(tm flows.Timer) *flows.Transition {
	r.t.Helper()
	if tm.At.After(r.now) {
		r.now = tm.At
	}
	return r.do(flows.Event{Kind: flows.EventTimer, Timer: tm.ID, Key: "timer:" + tm.ID})
}

func TestTimersAreSetWithTheStep(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, timersFlow("escalate")))
	tr := r.start("tmr", "alice", nil)
	var got []string
	for _, e := range effectsOf(tr, flows.EffectSetTimer) {
		got = append(got, fmt.Sprintf("%s %s+%s", e.Timer.ID, e.Timer.Kind, e.Timer.At.Sub(t0)))
		if e.Timer.Step != "review" || e.Timer.Round != 1 {
			t.Fatalf("timer %+v", e.Timer)
		}
	}
	want := []string{"review/1/timeout/0 timeout+24h0m0s", "review/1/remind/1 remind+4h0m0s", "review/1/escalate/0 escalate+24h0m0s", "review/1/escalate/1 escalate+48h0m0s"}
	if !slices.Equal(got, want) {
		t.Fatalf("timers %v, want %v", got, want)
	}
	if !r.in.Due.Equal(t0.Add(day)) {
		t.Fatalf("due %v", r.in.Due)
	}
	// The card says when it is due and what happens next if nobody acts.
	card := notified(t, tr, "bob", "review/1/bob").Msg
	for _, w := range []string{"Due Fri 27 Nov 09:00 UTC (in 1 d)", "Escalates to Dana Kowalski (your manager) in 1 d"} {
		if !slices.Contains(card.Context, w) {
			t.Fatalf("card context %q lacks %q", card.Context, w)
		}
	}
	// Deciding cancels every timer of the step.
	tr = r.act(flows.EventApprove, "bob")
	if n := len(effectsOf(tr, flows.EffectCancelTimer)); n != 4 || len(r.in.Timers) != 0 {
		t.Fatalf("%d cancelled, %d left", n, len(r.in.Timers))
	}
}

func TestNextRungOnTheCard(t *testing.T) {
	t.Parallel()
	tests := []struct{ lines, want string }{
		{"    due: 1d\n    on_timeout: approve\n", "Approved automatically in 1 d"},
		{"    due: 1d\n    on_timeout: reject\n", "Rejected automatically in 1 d"},
		{"    due: 1d\n", "Escalates to Dana Kowalski (your manager) in 1 d"},
		{"    due: 2d\n    on_timeout: wait\n    escalate:\n      - {after: 3h, notify: \"channel:finance\"}\n", "Escalates to #finance in 3 h"},
		{"    escalate:\n      - {after: 5h, reassign: \"person:erin\"}\n", "Moves to Erin Park in 5 h"},
		{"    escalate:\n      - {after: 5h, notify: \"person:gus\"}\n", "Escalates to Gus Ahmed in 5 h"},
		{"    escalate:\n      - {after: 5h, notify: \"group:finance\"}\n", "Escalates to the finance group in 5 h"},
		{"    escalate:\n      - {after: 5h, notify: \"channel:ops\"}\n", "Escalates to #ops in 5 h"},
		// Nobody it could reach: the card promises nothing.
		{"    escalate:\n      - {after: 5h, notify: \"person:alice\"}\n", ""},
		{"    escalate:\n      - {after: 5h, notify: \"group:legal\"}\n", ""},
		{"    due: 1d\n    on_timeout: wait\n    remind: {every: 1h}\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			r := newRun(t, newEngine(t, assigneeFlow("approval", "olivia", "person:bob", tt.lines)))
			card := notified(t, r.start("who", "alice", nil), "bob", "s/1/bob").Msg
			var got string
			for _, c := range card.Context {
				if len(c) > 10 && (c[:10] == "Escalates " || c[:6] == "Moves " || c[:9] == "Approved " || c[:9] == "Rejected ") {
					got = c
				}
			}
			if got != tt.want {
				t.Fatalf("next rung %q, want %q (context %q)", got, tt.want, card.Context)
			}
		})
	}
}

func TestReminders(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, timersFlow("wait")))
	r.start("tmr", "alice", nil)
	for n := 1; n <= 2; n++ {
		tr := r.fire(flows.TimerRemind)
		if want := t0.Add(time.Duration(n) * 4 * time.Hour); !r.now.Equal(want) {
			t.Fatalf("reminder %d at %v, want %v", n, r.now, want)
		}
		e := notifies(tr)
		if len(e) != 1 || e[0].To.Person != "bob" || e[0].Thread != "review/1/bob" || e[0].Card != fmt.Sprintf("review/1/bob/r%d", r.now.UnixMilli()) {
			t.Fatalf("reminder %d: %s", n, describe(tr.Effects))
		}
		m := e[0].Msg
		if m.Kind != flows.MsgReminder || m.Text != fmt.Sprintf("Reminder %d of 2: Review has been waiting for %d h.", n, 4*n) || len(m.Actions) == 0 {
			t.Fatalf("reminder %d: %+v", n, m)
		}
		if a := tr.Audit[0]; a.Action != "reminded" || a.Actor != flows.System || a.Detail["n"] != fmt.Sprint(n) || a.Detail["to"] != "bob" {
			t.Fatalf("audit %+v", a)
		}
		next, ok := r.timer(flows.TimerRemind, n+1)
		if n < 2 && (!ok || !next.At.Equal(r.now.Add(4*time.Hour))) {
			t.Fatalf("after reminder %d: next %+v %v", n, next, ok)
		}
		if n == 2 && ok {
			t.Fatalf("a reminder beyond the maximum: %+v", next)
		}
	}
}

// A reminder that fires late (Baton was down for a weekend) keeps the
// cadence from when it fired: no burst of catch-up reminders.
func TestLateReminderKeepsTheCadence(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, timersFlow("wait")))
	r.start("tmr", "alice", nil)
	tm, _ := r.timer(flows.TimerRemind, 1)
	r.now = tm.At.Add(60 * time.Hour)
	r.fireTimer(tm)
	next, ok := r.timer(flows.TimerRemind, 2)
	if !ok || !next.At.Equal(r.now.Add(4*time.Hour)) {
		t.Fatalf("next reminder %+v, want 4 h after %v", next, r.now)
	}
}

func TestEscalationNotify(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, timersFlow("wait")))
	r.start("tmr", "alice", nil)
	tm, _ := r.timer(flows.TimerEscalate, 0)
	tr := r.fireTimer(tm)
	if !slices.Equal(r.in.Escalated, []string{"dana"}) {
		t.Fatalf("escalated %v", r.in.Escalated)
	}
	if a := tr.Audit[0]; a.Action != "escalated" || a.Actor != flows.System || a.Detail["to"] != "dana" || a.Detail["waiting_on"] != "bob" {
		t.Fatalf("audit %+v", a)
	}
	m := notified(t, tr, "dana", "review/1/esc:dana").Msg
	if m.Kind != flows.MsgEscalation || m.Title != "Escalation: Timers X-1: Timers" || m.Text != "X-1 has waited 1 d at Review; it waits on Bob Chen. You can decide it for the whole step, or reassign it." {
		t.Fatalf("escalation card %+v", m)
	}
	if got := actions(m.Actions); !slices.Contains(got, flows.ActApprove) {
		t.Fatalf("escalation card actions %v", got)
	}
	// Moving the task brings the escalation card up to date.
	tr = r.act(flows.EventReassign, "bob", target("erin"))
	if m := updated(t, tr, "review/1/esc:dana").Msg; !strings.Contains(m.Text, "at Review; it waits on Erin Park.") {
		t.Fatalf("escalation card after the reassign: %+v", m)
	}
	// An escalation target may decide, for the whole step.
	tr = r.act(flows.EventApprove, "dana")
	if a := tr.Audit[0]; a.Action != "approved" || a.Actor != "dana" || a.Detail["authority"] != "escalation" {
		t.Fatalf("audit %+v", a)
	}
	if h := r.in.History[0]; h.By != "dana" || h.Outcome != "approved" {
		t.Fatalf("history %+v", h)
	}
	if r.in.Status != flows.StatusCompleted {
		t.Fatalf("status %s", r.in.Status)
	}
	contains(t, "timeline", fmt.Sprint(r.e.Timeline(r.in, r.audit, "alice", r.now).Items), "Approved by Dana Kowalski (on escalation)")
	// Closing the step closes the escalation card too (same prefix).
	if !r.updates("review/1/") || !r.cards["review/1/esc:dana"] {
		t.Fatal("the escalation card is not under the step's prefix")
	}
}

func TestEscalationToAGroupAndAChannel(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, assigneeFlow("approval", "olivia", "person:bob", `    escalate:
      - {after: 1h, notify: "group:finance"}
      - {after: 2h, notify: "channel:ops"}
`)))
	r.start("who", "alice", nil)
	tr := r.fire(flows.TimerEscalate)
	if got := recipients(tr); !slices.Equal(got, []string{"carol", "frank", "gina"}) || !slices.Equal(r.in.Escalated, []string{"carol", "frank", "gina"}) {
		t.Fatalf("to %v, escalated %v", got, r.in.Escalated)
	}
	tr = r.fire(flows.TimerEscalate)
	e := notified(t, tr, "#ops", "s/1/esc:#ops")
	if e.Msg.Text != "X-1 has waited 2 h at The step; it waits on Bob Chen." || len(r.in.Escalated) != 3 {
		t.Fatalf("channel escalation %+v, escalated %v", e.Msg, r.in.Escalated)
	}
	// Someone else in #ops is told who may decide: Bob, and those the
	// escalation brought in.
	contains(t, "a stranger's click", r.refused(flows.Event{Kind: flows.EventApprove, Actor: "erin"}, flows.CodeNotAssignee).Outcome.Text,
		"is assigned to Bob Chen; only they, their delegates, Carol Diaz, Frank Osei and Gina Ray (brought in by an escalation) or an admin can act on it.")
	// A reassignment updates the channel's card as well as the people's.
	tr = r.act(flows.EventReassign, "bob", target("erin"))
	for _, card := range []string{"s/1/esc:#ops", "s/1/esc:carol"} {
		contains(t, card, updated(t, tr, card).Msg.Text, "it waits on Erin Park")
	}
	r.act(flows.EventReject, "frank", reason("no"))
	if r.in.Status != flows.StatusRejected || r.in.History[0].By != "frank" {
		t.Fatalf("instance %+v", r.in)
	}
	if r.in.EscalatedChannels != nil {
		t.Errorf("the closed step's channels are kept: %v", r.in.EscalatedChannels)
	}
}

func TestEscalationReassign(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, timersFlow("wait")))
	r.start("tmr", "alice", nil)
	tm, _ := r.timer(flows.TimerEscalate, 1)
	tr := r.fireTimer(tm)
	if got := r.in.Tasks; len(got) != 1 || got[0].Assignee != "erin" || got[0].Original != "bob" {
		t.Fatalf("tasks %+v", got)
	}
	if a := tr.Audit[0]; a.Action != "reassigned" || a.Actor != flows.System || a.Detail["from"] != "bob" || a.Detail["to"] != "erin" || a.Reason != "no decision within 2 d (escalation)" {
		t.Fatalf("audit %+v", a)
	}
	contains(t, "old card", updated(t, tr, "review/1/bob").Msg.Outcome, "Reassigned", "Now with Erin Park.")
	card := notified(t, tr, "erin", "review/1/erin").Msg
	if !slices.Contains(card.Context, "Moved to you from Bob Chen after 2 d without a decision") {
		t.Fatalf("card %+v", card)
	}
	r.refused(flows.Event{Kind: flows.EventApprove, Actor: "bob"}, flows.CodeNotAssignee)
	// Reminders now go to erin.
	tr = r.fire(flows.TimerRemind)
	if got := recipients(tr); !slices.Equal(got, []string{"erin"}) {
		t.Fatalf("reminder to %v", got)
	}
	r.act(flows.EventApprove, "erin")
	if r.in.Status != flows.StatusCompleted {
		t.Fatal(r.in.Status)
	}
}

// An escalation that moves several people's work to the same manager must
// not let that manager approve twice towards a quorum.
func TestEscalationReassignKeepsQuorumHonest(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, policyFlow(`    quorum: 2
    escalate:
      - {after: 1d, reassign: manager}`)))
	r.start("pol", "alice", form("item", "x"))
	r.fire(flows.TimerEscalate)
	var danas int
	for _, task := range r.in.Tasks {
		if task.Assignee == "dana" {
			danas++
		}
	}
	if danas != 1 {
		t.Fatalf("dana holds %d of the tasks: %+v", danas, r.in.Tasks)
	}
	// The tasks that stayed are in the record, with why.
	last := r.audit[len(r.audit)-1]
	if last.Action != "not_reassigned" {
		t.Fatalf("last record %+v, want the tasks that stayed", last)
	}
	contains(t, "record", last.Reason, "Frank Osei's task stays with them: Dana Kowalski is already on the step", "Gina Ray's task stays with them")
	r.act(flows.EventApprove, "dana")
	if r.in.Status != flows.StatusRunning {
		t.Fatalf("one person's approval met a quorum of two: %s", r.in.Status)
	}
	r.refused(flows.Event{Kind: flows.EventApprove, Actor: "dana"}, flows.CodeAlreadyDecided)
}

func TestOnTimeout(t *testing.T) {
	t.Parallel()
	t.Run("escalate", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, newEngine(t, assigneeFlow("approval", "olivia", "person:gus", "    due: 1d\n    on_timeout: escalate\n")))
		r.start("who", "alice", nil)
		tr := r.fire(flows.TimerTimeout)
		if !r.in.Overdue || !slices.Equal(r.in.Escalated, []string{"erin"}) {
			t.Fatalf("overdue %v escalated %v", r.in.Overdue, r.in.Escalated)
		}
		m := notified(t, tr, "erin", "s/1/esc:erin").Msg
		if !slices.Contains(m.Context, "Overdue since Fri 27 Nov 09:00 UTC") {
			t.Fatalf("escalation context %q", m.Context)
		}
		r.act(flows.EventApprove, "erin")
		if r.in.Status != flows.StatusCompleted {
			t.Fatal(r.in.Status)
		}
	})
	t.Run("approve", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, newEngine(t, timersFlow("approve")))
		r.start("tmr", "alice", nil)
		tr := r.fire(flows.TimerTimeout)
		a := tr.Audit[0]
		if a.Action != "approved" || a.Actor != flows.System || a.Detail["authority"] != "timeout" || a.Reason != "No decision within 1 d" {
			t.Fatalf("audit %+v", a)
		}
		if r.in.Status != flows.StatusCompleted || r.in.History[0].By != flows.System {
			t.Fatalf("instance %+v", r.in)
		}
		contains(t, "closed card", updated(t, tr, "review/1/").Msg.Outcome, "Approved · Fri 27 Nov 09:00 UTC", "Reason: No decision within 1 d")
		if got := notified(t, tr, "alice", "requester/done").Msg.Text; got != "Review: approved automatically: no decision within 1 d" {
			t.Fatalf("the outcome notice: %q", got)
		}
	})
	t.Run("reject", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, newEngine(t, timersFlow("reject")))
		r.start("tmr", "alice", nil)
		tr := r.fire(flows.TimerTimeout)
		wantStatus(t, r.in, flows.StatusRejected, "review", 1)
		contains(t, "requester card", notified(t, tr, "alice", "requester/review/1").Msg.Text, "Your request was rejected automatically at Review.\nReason: No decision within 1 d")
		late := r.refused(flows.Event{Kind: flows.EventApprove, Actor: "bob", Step: "review", Round: 1}, flows.CodeAlreadyDecided)
		contains(t, "late click", late.Outcome.Text, "X-1: this step already ended (rejected) at Fri 27 Nov 09:00 UTC.")
		// Withdrawn now, its reviewer is told it was rejected by nobody.
		tr = r.act(flows.EventWithdraw, "alice", reason("not needed"))
		contains(t, "reviewer's notice", notified(t, tr, "bob", "ended/review/1/bob").Msg.Text,
			"Alice Martin withdrew X-1 after it was rejected automatically at Review; nothing more is asked of you.")
	})
	t.Run("wait", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, newEngine(t, timersFlow("wait")))
		r.start("tmr", "alice", nil)
		tm, _ := r.timer(flows.TimerTimeout, 0)
		tr := r.fireTimer(tm)
		if got := auditActions(tr.Audit); !slices.Equal(got, []string{"overdue"}) || !r.in.Overdue || r.in.Status != flows.StatusRunning {
			t.Fatalf("audit %v, instance %+v", got, r.in)
		}
		card := updated(t, tr, "review/1/bob").Msg
		if !slices.Contains(card.Context, "Overdue since Fri 27 Nov 09:00 UTC") || len(card.Actions) == 0 {
			t.Fatalf("refreshed card %+v", card)
		}
		// It keeps waiting, for as long as it takes.
		r.now = r.now.Add(90 * day)
		r.act(flows.EventApprove, "bob")
		if r.in.Status != flows.StatusCompleted {
			t.Fatal(r.in.Status)
		}
	})
}

func TestLateTimersAreNoops(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		end  func(r *run)
	}{
		{"after cancellation", func(r *run) { r.act(flows.EventCancel, "olivia", reason("not needed")) }},
		{"after withdrawal", func(r *run) { r.act(flows.EventWithdraw, "alice") }},
		{"after the decision", func(r *run) { r.act(flows.EventApprove, "bob") }},
		{"after changes were requested", func(r *run) { r.act(flows.EventRequestChanges, "bob", reason("x")) }},
		{"in the next round", func(r *run) {
			r.act(flows.EventRequestChanges, "bob", reason("x"))
			r.act(flows.EventResubmit, "alice")
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRun(t, newEngine(t, timersFlow("approve")))
			r.start("tmr", "alice", nil)
			old := slices.Clone(r.in.Timers)
			tt.end(r)
			for _, tm := range old {
				r.now = tm.At
				tr := r.do(flows.Event{Kind: flows.EventTimer, Timer: tm.ID})
				if !tr.Noop {
					t.Fatalf("timer %s fired: %+v", tm.ID, tr)
				}
			}
		})
	}
}

// A timer that fires and can do nothing (an escalation that reassigns to the
// manager of someone who has none) says so in the trail and is dropped: it
// must not stay pending and fire again and again.
func TestTimerThatCanDoNothingIsRecordedAndDropped(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, reviewFlow(`
    assignees: [person:dana]
    escalate:
      - {after: 1d, reassign: manager}
`)))
	r.start("tmr", "alice", nil)
	tm, _ := r.timer(flows.TimerEscalate, 0)
	tr := r.fireTimer(tm)
	if tr.Noop || len(tr.Audit) != 1 || tr.Audit[0].Action != "timer_skipped" ||
		tr.Audit[0].Reason != "nobody to reassign to: Dana Kowalski has no manager in the directory" {
		t.Fatalf("fired: noop %v, audit %+v", tr.Noop, tr.Audit)
	}
	if slices.ContainsFunc(r.in.Timers, func(x flows.Timer) bool { return x.ID == tm.ID }) {
		t.Fatalf("the timer is still pending: %+v", r.in.Timers)
	}
	if got := r.in.Tasks[0].Assignee; got != "dana" {
		t.Fatalf("assignee %s", got)
	}
}

// An escalation rung that notifies nobody (the requester, who may not
// approve their own request; a group with nobody in the directory; nobody
// free to stand in for a manager) records why and sends nothing.
func TestEscalationToNobodyIsRecorded(t *testing.T) {
	t.Parallel()
	tests := []struct{ assignees, rung, want string }{
		{"person:bob", "notify: person:alice", "nobody to escalate to: Alice Martin may not approve their own request"},
		{"person:bob", "notify: group:legal", "nobody to escalate to: the group legal has nobody in the directory"},
		{"person:bob", "notify: group:solo", "nobody to escalate to: Alice Martin, alone in the group solo, may not approve their own request"},
		{"person:bob", "notify: group:leads", "nobody to escalate to: the others in the group leads are on the step already, and Alice Martin may not approve their own request"},
		// ada has no manager, the owner (alice) is the requester, and ada is
		// the only admin.
		{"person:ada", "notify: manager", "nobody to escalate to: no manager, flow owner or admin is free to decide it"},
	}
	for _, tt := range tests {
		t.Run(tt.rung, func(t *testing.T) {
			t.Parallel()
			// alice alone is in the group solo; she and bob are the leads.
			dir, err := flows.ParseDirectory("directory.yaml", []byte(strings.Replace(testDirectory,
				"timezone: Europe/London}", "timezone: Europe/London, groups: [solo, leads]}", 1)))
			if err != nil {
				t.Fatal(err)
			}
			src := assigneeFlow("approval", "alice", tt.assignees, "    policy: all\n    escalate:\n      - {after: 1h, "+tt.rung+"}\n")
			e, err := flows.NewEngine([]*flows.Definition{mustParse(t, src)}, dir, []string{admin})
			if err != nil {
				t.Fatal(err)
			}
			r := newRun(t, e)
			r.start("who", "alice", nil)
			tr := r.fire(flows.TimerEscalate)
			if len(tr.Audit) != 1 || tr.Audit[0].Action != "timer_skipped" || tr.Audit[0].Reason != tt.want {
				t.Fatalf("audit %+v, want timer_skipped: %s", tr.Audit, tt.want)
			}
			for _, ef := range tr.Effects {
				if ef.Kind == flows.EffectNotify {
					t.Fatalf("notified %+v", ef.To)
				}
			}
		})
	}
}

// rungOf is the card's line about what happens next, or "" if none.
func rungOf(m *flows.Message) string {
	for _, c := range m.Context {
		if strings.HasPrefix(c, "Escalates to") || strings.HasPrefix(c, "Moves to") {
			return c
		}
	}
	return ""
}

// Cards name the next rung as the escalation will do it, whoever reads
// them: a channel, a delegate, the people of an all step, and after every
// rung.
func TestCardsNameTheNextRungAsItWillHappen(t *testing.T) {
	t.Parallel()
	t.Run("a channel reads about their manager", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, newEngine(t, reviewFlow(`
    channel: ops
    assignees: [person:bob]
    escalate:
      - {after: 1d, notify: manager}
      - {after: 2d, reassign: manager}
`)))
		tr := r.start("tmr", "alice", nil)
		if got := rungOf(notified(t, tr, "#ops", "review/1/#ops").Msg); got != "Escalates to their manager in 1 d" {
			t.Fatalf("channel card: %q", got)
		}
		tm, _ := r.timer(flows.TimerEscalate, 0)
		tr = r.fireTimer(tm)
		if got := rungOf(updated(t, tr, "review/1/#ops").Msg); got != "Moves to their manager in 1 d" {
			t.Fatalf("channel card after the first rung: %q", got)
		}
	})
	t.Run("a delegate reads the assignee's ladder", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, newEngine(t, timersFlow("wait")))
		r.start("tmr", "alice", nil)
		tr := r.act(flows.EventDelegate, "bob", target("gus"))
		if got := rungOf(notified(t, tr, "gus", "review/1/gus").Msg); got != "Escalates to Dana Kowalski (Bob Chen's manager) in 1 d" {
			t.Fatalf("gus's card: %q", got)
		}
	})
	t.Run("a delegate who is the manager is not escalated to", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, newEngine(t, timersFlow("wait")))
		r.start("tmr", "alice", nil)
		tr := r.act(flows.EventDelegate, "bob", target("dana"))
		if got := rungOf(notified(t, tr, "dana", "review/1/dana").Msg); got != "Escalates to Olivia Brown (the flow's owner) in 1 d" {
			t.Fatalf("dana's card: %q", got)
		}
	})
	// Nobody on the step is escalated to (deciding again as the escalation's
	// target would fill a second seat): the manager's stand-in is.
	t.Run("a manager on the step is passed over for the stand-in", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, newEngine(t, reviewFlow(`
    policy: all
    assignees: [person:bob, person:dana]
    escalate:
      - {after: 1d, notify: manager}
`)))
		tr := r.start("tmr", "alice", nil)
		for _, p := range []string{"bob", "dana"} {
			if got := rungOf(notified(t, tr, p, "review/1/"+p).Msg); got != "Escalates to Olivia Brown (the flow's owner) in 1 d" {
				t.Fatalf("%s's card: %q", p, got)
			}
		}
		tm, _ := r.timer(flows.TimerEscalate, 0)
		tr = r.fireTimer(tm)
		notified(t, tr, "olivia", "review/1/esc:olivia")
		for _, e := range tr.Effects {
			if e.Kind == flows.EffectNotify && e.To.Person == "dana" {
				t.Errorf("dana, on the step, was sent %s", e.Card)
			}
		}
		if got := rungOf(updated(t, tr, "review/1/bob").Msg); got != "" {
			t.Fatalf("bob's task card after the rung names %q", got)
		}
	})
	// A group escalated to that holds the step's own approvers: they are
	// not told again, and one who approved may not approve again for all.
	t.Run("a group escalation skips the step's own approvers", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, newEngine(t, reviewFlow(`
    policy: all
    assignees: [group:finance]
    escalate:
      - {after: 1d, notify: group:finance}
`)))
		r.start("tmr", "alice", nil)
		r.act(flows.EventApprove, "carol")
		tm, _ := r.timer(flows.TimerEscalate, 0)
		tr := r.fireTimer(tm)
		for _, e := range tr.Effects {
			if e.Kind == flows.EffectNotify {
				t.Errorf("an escalation card went to %s (%s), on the step already", e.To.Person, e.Card)
			}
		}
		if !slices.ContainsFunc(tr.Audit, func(a flows.AuditEntry) bool {
			return strings.Contains(a.Reason, "nobody to escalate to: everyone in the finance group is on the step already")
		}) {
			t.Errorf("audit %+v", tr.Audit)
		}
		r.refused(flows.Event{Kind: flows.EventApprove, Actor: "carol"}, flows.CodeAlreadyDecided)
		if r.in.Status != flows.StatusRunning {
			t.Fatalf("carol decided for all: %s", r.in.Status)
		}
	})
	t.Run("tasks moved together get cards that say so", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, newEngine(t, reviewFlow(`
    policy: all
    assignees: [person:bob, person:gus]
    escalate:
      - {after: 1d, reassign: manager}
`)))
		tr := r.start("tmr", "alice", nil)
		for p, want := range map[string]string{"bob": "Moves to Dana Kowalski (your manager) in 1 d", "gus": "Moves to Erin Park (your manager) in 1 d"} {
			if got := rungOf(notified(t, tr, p, "review/1/"+p).Msg); got != want {
				t.Fatalf("%s's card: %q, want %q", p, got, want)
			}
		}
		tm, _ := r.timer(flows.TimerEscalate, 0)
		tr = r.fireTimer(tm)
		for _, p := range []string{"dana", "erin"} {
			if m := notified(t, tr, p, "review/1/"+p).Msg; !slices.Contains(m.Context, "Waiting on Dana Kowalski and Erin Park") {
				t.Fatalf("%s's new card: %q", p, m.Context)
			}
		}
	})
	t.Run("a move that cannot happen is not promised", func(t *testing.T) {
		t.Parallel()
		// Carol and Frank both have Dana as manager: only the first task
		// can move to her; the second stays.
		r := newRun(t, newEngine(t, reviewFlow(`
    policy: all
    assignees: [person:carol, person:frank]
    escalate:
      - {after: 1d, reassign: manager}
`)))
		tr := r.start("tmr", "alice", nil)
		if got := rungOf(notified(t, tr, "carol", "review/1/carol").Msg); got != "Moves to Dana Kowalski (your manager) in 1 d" {
			t.Fatalf("carol's card: %q", got)
		}
		if got := rungOf(notified(t, tr, "frank", "review/1/frank").Msg); got != "" {
			t.Fatalf("frank's card: %q", got)
		}
		tm, _ := r.timer(flows.TimerEscalate, 0)
		r.fireTimer(tm)
		if got := []string{r.in.Tasks[0].Assignee, r.in.Tasks[1].Assignee}; !slices.Equal(got, []string{"dana", "frank"}) {
			t.Fatalf("assignees after the rung: %v", got)
		}
	})
}

// reviewFlow is flow tmr: one approval step, review, with the step's other
// keys given (indented as the step's).
func reviewFlow(step string) string {
	return "id: tmr\nname: Timers\nowner: olivia\nsteps:\n  - id: review\n    name: Review\n    type: approval\n" + step
}

// TestEscalatedTwiceToOnePerson: a person a later rung (or the timeout)
// escalates to again gets the new card as a reply to their first, which is
// brought up to date; once a rung moves the step to them, their card says
// it is theirs, not that it waits on them; the decision closes every card.
func TestEscalatedTwiceToOnePerson(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, assigneeFlow("approval", "olivia", "person:bob", `    due: 3m
    on_timeout: escalate
    escalate:
      - {after: 2m, notify: manager}
      - {after: 4m, reassign: manager}
`)))
	r.start("who", "alice", nil)
	notified(t, r.fire(flows.TimerEscalate), "dana", "s/1/esc:dana") // Bob's manager
	tr := r.fire(flows.TimerTimeout)                                 // escalates to her again
	var again flows.Effect
	for _, e := range notifies(tr) {
		if e.To.Person == "dana" {
			again = e
		}
	}
	if !strings.HasPrefix(again.Card, "s/1/esc:dana/e") || again.Thread != "s/1/esc:dana" {
		t.Fatalf("the second escalation to Dana: card %q in thread %q, want a reply to her first card", again.Card, again.Thread)
	}
	contains(t, "Dana's first card", updated(t, tr, "s/1/esc:dana").Msg.Text, "has waited 3 min at The step; it waits on Bob Chen")
	tr = r.fire(flows.TimerEscalate) // moved to Dana
	contains(t, "Dana's card once the step is hers", updated(t, tr, "s/1/esc:dana").Msg.Text, "has waited 4 min (The step), and is now yours to decide.")
	r.act(flows.EventApprove, "dana")
	if !r.updates("s/1/") {
		t.Fatal("the decision does not close the step's cards")
	}
}

// TestReminderBesideADueRung: a reminder fired as an escalation falls due
// (at the same time, or a moment after it) says the escalation comes now,
// not "in 0 s" or "0 s ago".
func TestReminderBesideADueRung(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, assigneeFlow("approval", "olivia", "person:bob", `    remind: {every: 1h, max: 3}
    escalate:
      - {after: 1h, notify: manager}
`)))
	r.start("who", "alice", nil)
	tm, ok := r.timer(flows.TimerRemind, 1)
	if !ok {
		t.Fatalf("no first reminder among %+v", r.in.Timers)
	}
	r.now = tm.At.Add(300 * time.Millisecond) // the claim loop's moment after
	tr := r.fireTimer(tm)
	var reminder flows.Effect
	for _, e := range notifies(tr) {
		if e.To.Person == "bob" {
			reminder = e
		}
	}
	if !slices.Contains(reminder.Msg.Context, "Escalates to Dana Kowalski (your manager) now") {
		t.Errorf("the reminder's next rung: %q", reminder.Msg.Context)
	}
}

// TestRefusalAfterAMove: someone a rung moved the task to is named once in
// a refusal, as whom it is assigned to, not again as brought in by an
// escalation.
func TestRefusalAfterAMove(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, reviewFlow(`
    assignees: [person:bob]
    escalate:
      - {after: 1d, notify: manager}
      - {after: 2d, reassign: manager}
`)))
	r.start("tmr", "alice", nil)
	tm, _ := r.timer(flows.TimerEscalate, 0)
	r.fireTimer(tm)
	tm, _ = r.timer(flows.TimerEscalate, 1)
	r.fireTimer(tm)
	got := r.refused(flows.Event{Kind: flows.EventApprove, Actor: "bob"}, flows.CodeNotAssignee).Outcome.Text
	if want := "X-1 (Review) is assigned to Dana Kowalski; only they, their delegates or an admin can act on it."; got != want {
		t.Errorf("refusal %q, want %q", got, want)
	}
}

// TestStatusOfASkippedOnlyStep: a request whose only approval was skipped
// is "completed", not "completed: completed".
func TestStatusOfASkippedOnlyStep(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, reviewFlow("    assignees: [person:bob]\n")))
	r.start("tmr", "alice", nil)
	r.act(flows.EventSkip, "olivia", reason("approved on paper"))
	if tl := r.e.Timeline(r.in, r.audit, "alice", r.now); tl.Text != "Status: completed" {
		t.Errorf("timeline status %q", tl.Text)
	}
}

// A task delegated to the manager its step escalates to brings the other
// cards up to date: Dana is on the step now, and is no longer whom it
// escalates to: the flow's owner is.
func TestDelegationToTheManagerUpdatesTheLadder(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, reviewFlow("    policy: all\n    assignees: [person:bob, person:carol]\n    due: 1d\n")))
	tr := r.start("tmr", "alice", nil)
	contains(t, "carol's card", strings.Join(notified(t, tr, "carol", "review/1/carol").Msg.Context, "\n"), "Escalates to Dana Kowalski (your manager) in 1 d")
	tr = r.act(flows.EventDelegate, "bob", target("dana"))
	ctx := strings.Join(updated(t, tr, "review/1/carol").Msg.Context, "\n")
	if strings.Contains(ctx, "Escalates to Dana") || !strings.Contains(ctx, "Escalates to Olivia Brown (the flow's owner) in 1 d") {
		t.Fatalf("carol's card still escalates to Dana, who is on the step: %q", ctx)
	}
}

// A task delegated to someone the step was escalated to brings their
// escalation card up to date: it is theirs to decide now, not to "decide or
// reassign" as an outsider.
func TestDelegationToTheEscalatedUpdatesTheirEscalationCard(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, reviewFlow("    assignees: [person:bob]\n    escalate:\n      - {after: 1h, notify: manager}\n")))
	r.start("tmr", "alice", nil)
	notified(t, r.fire(flows.TimerEscalate), "dana", "review/1/esc:dana")
	tr := r.act(flows.EventDelegate, "bob", target("dana"))
	contains(t, "dana's escalation card", updated(t, tr, "review/1/esc:dana").Msg.Text, "is now yours to decide")
	notified(t, tr, "dana", "review/1/dana")

	// So does a reassignment to them.
	r = newRun(t, newEngine(t, reviewFlow("    assignees: [person:bob]\n    escalate:\n      - {after: 1h, notify: manager}\n")))
	r.start("tmr", "alice", nil)
	r.fire(flows.TimerEscalate)
	tr = r.act(flows.EventReassign, "bob", target("dana"))
	contains(t, "dana's escalation card", updated(t, tr, "review/1/esc:dana").Msg.Text, "is now yours to decide")
}

// An escalation to a manager who is away reaches their stand-in: a notice
// goes to the stand-in, a task moved to the manager is shared with them.
func TestEscalationToAnAwayManager(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, assigneeFlow("approval", "olivia", "person:bob", `    escalate:
      - {after: 1h, notify: manager}
      - {after: 2h, reassign: manager}
`)))
	away := map[string]flows.Away{"dana": {Until: r.now.Add(48 * time.Hour), StandIn: "erin"}}
	tr := r.do(flows.Event{Kind: flows.EventStart, Instance: "X-1", Flow: "who", Actor: "alice", Away: away})
	contains(t, "bob's card", strings.Join(notified(t, tr, "bob", "s/1/bob").Msg.Context, "\n"), "Escalates to Erin Park, standing in for Dana Kowalski (your manager), in 1 h")
	fire := func() *flows.Transition {
		var next *flows.Timer
		for _, tm := range r.in.Timers {
			if tm.Kind == flows.TimerEscalate && (next == nil || tm.At.Before(next.At)) {
				next = &tm
			}
		}
		r.now = next.At
		return r.do(flows.Event{Kind: flows.EventTimer, Timer: next.ID, Key: "timer:" + next.ID, Away: away})
	}
	tr = fire()
	if got := recipients(tr); !slices.Equal(got, []string{"erin"}) {
		t.Fatalf("escalated to %v, want Dana's stand-in", got)
	}
	contains(t, "erin's escalation card", strings.Join(notified(t, tr, "erin", "s/1/esc:erin").Msg.Context, "\n"), "You stand in for Dana Kowalski, away")
	if a := tr.Audit[0]; a.Action != "escalated" || a.Detail["standing_in"] != "Erin Park for Dana Kowalski (away)" {
		t.Errorf("record %+v", a)
	}
	// The next rung moves the task to her: the card says with whom it
	// will be shared.
	contains(t, "bob's card", strings.Join(updated(t, tr, "s/1/bob").Msg.Context, "\n"), "Moves to Dana Kowalski (your manager), away, shared with Erin Park, in 1 h")
	tr = fire()
	if task := r.in.Tasks[0]; task.Assignee != "dana" || !slices.Equal(task.Delegates, []string{"erin"}) {
		t.Fatalf("task %+v: want Dana's, shared with Erin", task)
	}
	contains(t, "erin's card", strings.Join(notified(t, tr, "erin", "s/1/erin").Msg.Context, "\n"),
		"Moved to Dana Kowalski from Bob Chen after 2 h without a decision; Dana Kowalski is away through", "and you stand in")
	// Back: a rung reaches the manager herself.
	r2 := newRun(t, r.e)
	r2.start("who", "alice", nil)
	if got := recipients(r2.fire(flows.TimerEscalate)); !slices.Equal(got, []string{"dana"}) {
		t.Fatalf("escalated to %v, want Dana", got)
	}
}

// A rung naming a person who is away reaches their stand-in, as one to the
// manager does; a rung to a group tells those of it at work, and the
// stand-ins only of a group all away.
func TestEscalationToAnAwayNamedPersonOrGroup(t *testing.T) {
	t.Parallel()
	escalate := func(rung string, away map[string]flows.Away) (*flows.Transition, *flows.Transition) {
		r := newRun(t, newEngine(t, assigneeFlow("approval", "olivia", "person:bob", "    escalate:\n      - {after: 1h, notify: \""+rung+"\"}\n")))
		for p, a := range away {
			a.Until = r.now.Add(48 * time.Hour)
			away[p] = a
		}
		start := r.do(flows.Event{Kind: flows.EventStart, Instance: "X-1", Flow: "who", Actor: "alice", Away: away})
		tm, _ := r.timer(flows.TimerEscalate, 0)
		r.now = tm.At
		return start, r.do(flows.Event{Kind: flows.EventTimer, Timer: tm.ID, Key: "timer:" + tm.ID, Away: away})
	}
	start, tr := escalate("person:dana", map[string]flows.Away{"dana": {StandIn: "erin"}})
	contains(t, "bob's card", strings.Join(notified(t, start, "bob", "s/1/bob").Msg.Context, "\n"), "Escalates to Erin Park, standing in for Dana Kowalski, in 1 h")
	if got := recipients(tr); !slices.Equal(got, []string{"erin"}) {
		t.Fatalf("escalated to %v, want Dana's stand-in", got)
	}
	contains(t, "erin's escalation card", strings.Join(notified(t, tr, "erin", "s/1/esc:erin").Msg.Context, "\n"), "You stand in for Dana Kowalski, away")
	if a := tr.Audit[0]; a.Action != "escalated" || a.Detail["standing_in"] != "Erin Park for Dana Kowalski (away)" {
		t.Errorf("record %+v", a)
	}

	_, tr = escalate("group:security", map[string]flows.Away{"erin": {StandIn: "olivia"}})
	if got := recipients(tr); !slices.Equal(got, []string{"gus", "hana"}) {
		t.Errorf("a group with Erin away escalated to %v, want Gus and Hana", got)
	}
	_, tr = escalate("group:security", map[string]flows.Away{"erin": {StandIn: "olivia"}, "gus": {StandIn: "olivia"}, "hana": {StandIn: "olivia"}})
	if got := recipients(tr); !slices.Equal(got, []string{"olivia"}) {
		t.Errorf("a group all away escalated to %v, want their stand-in once", got)
	}
	contains(t, "olivia's escalation card", strings.Join(notified(t, tr, "olivia", "s/1/esc:olivia").Msg.Context, "\n"), "You stand in for Erin Park, Gus Ahmed and Hana Sato, away")

	// A stand-in who has a seat on the step, even one decided, is not
	// brought in: they could not act on it. The next who can stands in.
	r := newRun(t, newEngine(t, assigneeFlow("approval", "olivia", "person:bob, person:carol", "    policy: all\n    escalate:\n      - {after: 1h, notify: \"person:dana\"}\n")))
	away := map[string]flows.Away{"dana": {StandIn: "bob", Until: r.now.Add(48 * time.Hour)}}
	r.do(flows.Event{Kind: flows.EventStart, Instance: "X-1", Flow: "who", Actor: "alice", Away: away})
	r.do(flows.Event{Kind: flows.EventApprove, Actor: "bob", Key: "a", Away: away})
	tm, _ := r.timer(flows.TimerEscalate, 0)
	r.now = tm.At
	tr = r.do(flows.Event{Kind: flows.EventTimer, Timer: tm.ID, Key: "timer:" + tm.ID, Away: away})
	if got := recipients(tr); !slices.Equal(got, []string{"olivia"}) {
		t.Errorf("escalated to %v, want the flow's owner (Bob, Dana's stand-in, decided on the step)", got)
	}
}

// A rung naming someone who happens to stand in for an away manager brings
// them in as themselves: their card says nothing of standing in.
func TestEscalationToANamedPersonWhoStandsInElsewhere(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, assigneeFlow("approval", "olivia", "person:bob", "    escalate:\n      - {after: 1h, notify: \"person:erin\"}\n")))
	away := map[string]flows.Away{"dana": {Until: r.now.Add(48 * time.Hour), StandIn: "erin"}}
	r.do(flows.Event{Kind: flows.EventStart, Instance: "X-1", Flow: "who", Actor: "alice", Away: away})
	tm, _ := r.timer(flows.TimerEscalate, 0)
	r.now = tm.At
	tr := r.do(flows.Event{Kind: flows.EventTimer, Timer: tm.ID, Key: "timer:" + tm.ID, Away: away})
	card := notified(t, tr, "erin", "s/1/esc:erin").Msg
	if strings.Contains(strings.Join(card.Context, "\n"), "stand in") || tr.Audit[0].Detail["standing_in"] != "" {
		t.Errorf("erin's card %v, record %+v", card.Context, tr.Audit[0])
	}
}

// A reminder goes in the thread of each card it reminds of, with the
// card's buttons: when one person's task closes mid-step (they decided on
// an all step, or it moved to someone else), their reminders close with
// their card; the others' stay open, and nobody's is touched who was sent
// none.
func TestRemindersCloseWithTheirCard(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, reviewFlow("    policy: all\n    assignees: [person:bob, person:carol, person:frank]\n    remind: {every: 1h, max: 2}\n")))
	r.start("tmr", "alice", nil)
	r.fire(flows.TimerRemind)
	tr := r.act(flows.EventApprove, "bob")
	if u := updated(t, tr, "review/1/bob/"); u.Msg.Outcome == "" || len(u.Msg.Actions) > 0 {
		t.Errorf("bob's reminders updated to %+v: want closed, without buttons", u.Msg)
	}
	for _, e := range effectsOf(tr, flows.EffectUpdate) {
		if strings.HasPrefix(e.Card, "review/1/carol/") || strings.HasPrefix(e.Card, "review/1/frank/") {
			t.Errorf("%s updated, whose task is open", e.Card)
		}
	}
	tr = r.act(flows.EventReassign, "carol", target("gus"))
	contains(t, "carol's reminders", updated(t, tr, "review/1/carol/").Msg.Outcome, "Reassigned by Carol Diaz")
	// Gus got no reminder: his task closing touches nothing under his card.
	tr = r.act(flows.EventReassign, "gus", target("hana"))
	for _, e := range effectsOf(tr, flows.EffectUpdate) {
		if e.Card == "review/1/gus/" {
			t.Errorf("gus's reminders updated; he was sent none")
		}
	}
}
