package flows_test

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/batonbot/baton/flows"
)

// TestSnooze: who a step waits on asks to be reminded later; the reminder
// comes in the thread of their card, once, and moves nothing else.
func TestSnooze(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, strings.Replace(buyFlow, "    max_rounds: 2\n", "    max_rounds: 2\n    due: 2d\n    remind: {every: 1d, max: 2}\n", 1)))
	r.start("buy", "alice", form("item", "Laptop", "amount", "500")) // waits on Bob
	others := slices.Clone(r.in.Timers)
	due := r.in.Due
	tr := r.act(flows.EventSnooze, "bob", data("for", "2h"))
	if !tr.Outcome.OK || tr.Outcome.Text != "I'll remind you about X-1 at Thu 26 Nov 11:00 UTC (in 2 h)." {
		t.Fatalf("outcome %+v", tr.Outcome)
	}
	if got := auditActions(tr.Audit); !slices.Equal(got, []string{"snoozed"}) || tr.Audit[0].Detail["until"] != "2026-11-26T11:00:00Z" {
		t.Fatalf("audit %+v", tr.Audit)
	}
	// The timeline shows when, as times are shown, not as recorded.
	if tl := itemTexts(r.e.Timeline(r.in, r.audit, "bob", r.now)); !slices.ContainsFunc(slices.Collect(maps.Values(tl)), func(s string) bool {
		return strings.Contains(s, "until: Thu 26 Nov 11:00 UTC")
	}) {
		t.Errorf("the timeline's snooze: %q", tl)
	}
	if !r.in.Due.Equal(due) || len(others) != 2 || !slices.Equal(r.in.Timers[:2], others) {
		t.Fatalf("the snooze moved the step's own timers: due %v, timers %+v (before %+v)", r.in.Due, r.in.Timers, others)
	}
	// A second snooze replaces the first.
	r.now = t0.Add(time.Hour)
	tr = r.act(flows.EventSnooze, "bob", data("for", "30m"))
	var snoozes []flows.Timer
	for _, tm := range r.in.Timers {
		if tm.Kind == flows.TimerSnooze {
			snoozes = append(snoozes, tm)
		}
	}
	if len(snoozes) != 1 || !snoozes[0].At.Equal(t0.Add(90*time.Minute)) || snoozes[0].Person != "bob" || len(effectsOf(tr, flows.EffectCancelTimer)) != 1 {
		t.Fatalf("snooze timers %+v, effects %s", snoozes, describe(tr.Effects))
	}
	tr = r.fire(flows.TimerSnooze)
	reminder := notifies(tr)[0]
	if reminder.To.Person != "bob" || !strings.HasPrefix(reminder.Card, "manager/1/bob/s") || reminder.Thread != "manager/1/bob" || reminder.Msg.Kind != flows.MsgReminder ||
		reminder.Msg.Text != "You asked to be reminded: Manager approval has been waiting on you for 1 h 30 min." ||
		!slices.Contains(actions(reminder.Msg.Actions), flows.ActApprove) {
		t.Fatalf("reminder %+v", reminder)
	}
	if got := auditActions(tr.Audit); !slices.Equal(got, []string{"snooze_reminded"}) || tr.Audit[0].Detail["to"] != "Bob Chen" {
		t.Fatalf("audit %+v", tr.Audit)
	}
	if _, ok := r.timer(flows.TimerSnooze, 0); ok || len(notifies(tr)) != 1 {
		t.Fatalf("after the reminder: timers %+v, notices %s", r.in.Timers, describe(tr.Effects))
	}
}

// TestSnoozeEndsWithTheTask: a snooze of a step that ends first comes to
// nothing; one of someone the task has since left reminds nobody.
func TestSnoozeEndsWithTheTask(t *testing.T) {
	t.Parallel()
	r := buyRun(t, "500")
	r.act(flows.EventSnooze, "bob", data("for", "1h"))
	tr := r.act(flows.EventApprove, "bob")
	if slices.ContainsFunc(r.in.Timers, func(tm flows.Timer) bool { return tm.Kind == flows.TimerSnooze }) ||
		!slices.ContainsFunc(effectsOf(tr, flows.EffectCancelTimer), func(e flows.Effect) bool { return e.Timer.Kind == flows.TimerSnooze }) {
		t.Fatalf("the snooze outlived its step: timers %+v", r.in.Timers)
	}

	r = buyRun(t, "500")
	r.act(flows.EventSnooze, "bob", data("for", "1h"))
	r.act(flows.EventReassign, "bob", target("carol"))
	tr = r.fire(flows.TimerSnooze)
	if len(notifies(tr)) != 0 || tr.Noop || !slices.Equal(auditActions(tr.Audit), []string{"timer_skipped"}) ||
		slices.ContainsFunc(r.in.Timers, func(tm flows.Timer) bool { return tm.Kind == flows.TimerSnooze }) {
		t.Fatalf("Bob, whose task went to Carol: %s %+v; timers %+v", describe(tr.Effects), tr.Audit, r.in.Timers)
	}
}

// TestSnoozeRefused: only who the step waits on may snooze it, with a
// length that makes sense; a stale card is told what happened.
func TestSnoozeRefused(t *testing.T) {
	t.Parallel()
	r := buyRun(t, "500")
	r.refused(flows.Event{Kind: flows.EventSnooze, Actor: "carol", Data: form("for", "1h")}, flows.CodeNotAllowed)
	r.refused(flows.Event{Kind: flows.EventSnooze, Actor: admin, Data: form("for", "1h")}, flows.CodeNotAllowed)
	for _, bad := range []string{"", "soon", "1m", "15d", "-2h"} {
		r.inputErr(flows.Event{Kind: flows.EventSnooze, Actor: "bob", Data: form("for", bad)}, "Say when to remind you")
	}
	r.act(flows.EventApprove, "bob")
	r.refused(flows.Event{Kind: flows.EventSnooze, Actor: "bob", Step: "manager", Round: 1, Data: form("for", "1h")}, flows.CodeAlreadyDecided)
}

// TestSnoozeTomorrow: "tomorrow" is the start of the snoozer's next
// working day, in their timezone: Friday's is Monday's.
func TestSnoozeTomorrow(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, buyFlow))
	r.now = time.Date(2026, 11, 27, 15, 0, 0, 0, time.UTC)          // Friday
	r.start("buy", "olivia", form("item", "Desk", "amount", "300")) // to Dana, in Paris
	tr := r.act(flows.EventSnooze, "dana", data("for", "Tomorrow"))
	if tr.Outcome.Text != "I'll remind you about X-1 at Mon 30 Nov 09:00 CET (in 2 d 17 h)." {
		t.Fatalf("outcome %q", tr.Outcome.Text)
	}
	keptInUTC(t, r.in) // the timer too, though counted in Dana's zone
}

// TestSnoozeOnAChannelStep: an assignee of a step whose card is in a
// channel may snooze it too; the reminder comes by DM. The channel's card
// offers no Remind me later (whose would it be?).
func TestSnoozeOnAChannelStep(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, policyFlow("    policy: all\n    channel: finance")))
	tr := r.start("pol", "alice", form("item", "x"))
	if card := notified(t, tr, "#finance", "fin/1/#finance").Msg; slices.Contains(actions(card.Actions), flows.ActSnooze) {
		t.Fatalf("the channel's card offers snooze: %v", actions(card.Actions))
	}
	if tr := r.act(flows.EventSnooze, "carol", data("for", "2h")); !tr.Outcome.OK {
		t.Fatalf("carol's snooze: %+v", tr.Outcome)
	}
	tr = r.fire(flows.TimerSnooze)
	n := notifies(tr)
	if len(n) != 1 || n[0].To.Person != "carol" || n[0].Thread != "" || !strings.HasPrefix(n[0].Msg.Text, "You asked to be reminded") {
		t.Fatalf("carol's reminder: %s", describe(tr.Effects))
	}
	// It offered the task's buttons: it closes as she decides.
	tr = r.act(flows.EventApprove, "carol")
	if u := updated(t, tr, "fin/1/carol/"); u.Msg.Outcome == "" || len(u.Msg.Actions) > 0 {
		t.Errorf("carol's reminder updated to %+v: want closed", u.Msg)
	}
}

// A snooze past the time the step approves itself says so: that reminder
// will not come.
func TestSnoozePastAnAutomaticDecision(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, assigneeFlow("approval", "olivia", "person:bob", "    due: 1h\n    on_timeout: approve\n")))
	r.start("who", "alice", nil)
	tr := r.act(flows.EventSnooze, "bob", data("for", "2h"))
	contains(t, "answer", tr.Outcome.Text, "I'll remind you about X-1 at", "Note that The step is approved by itself at Thu 26 Nov 10:00 UTC, if nobody decides before.")
	tr = r.act(flows.EventSnooze, "bob", data("for", "30m"))
	if strings.Contains(tr.Outcome.Text, "Note that") {
		t.Errorf("a snooze before due: %s", tr.Outcome.Text)
	}
}
