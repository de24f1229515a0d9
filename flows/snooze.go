package flows

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Snooze: someone a step waits on asks to be reminded of it later ("remind
// me in 2 h", "tomorrow"). It is their own reminder, besides the step's: it
// moves no due time, reminder or escalation, so nobody can put off what the
// flow's owner set. A later snooze replaces their earlier one; the step's
// end drops it; when it comes and the step still waits on them, they get a
// reminder in the thread of their card (by DM on a channel step). It is
// recorded as snooze_reminded, which webhook subscribers are not sent: its
// times are the person's, not the flow's.

// Snooze lengths people may ask for.
const (
	MinSnooze = 5 * time.Minute
	MaxSnooze = 14 * 24 * time.Hour
)

// SnoozeChoices are the lengths task cards offer, as Data["for"] values
// with their labels.
var SnoozeChoices = []Fact{{Label: "In 1 hour", Value: "1h"}, {Label: "In 3 hours", Value: "3h"}, {Label: "Tomorrow morning", Value: "tomorrow"}}

// snoozeUntil reads how long someone in loc asked to snooze from now:
// "tomorrow" is the start of their next working day (the directory's working
// hours), anything else a duration ("90m", "2h", "1d").
func (e *Engine) snoozeUntil(what string, now time.Time, loc *time.Location) (time.Time, error) {
	what = strings.ToLower(strings.TrimSpace(what))
	if what == "tomorrow" {
		y, m, d := now.In(loc).Date()
		midnight := time.Date(y, m, d+1, 0, 0, 0, 0, loc)
		switch working, next := e.hours.at(midnight, loc); {
		case working: // hours that take in midnight
			return midnight, nil
		case next.IsZero(): // no working day ahead
			return now.Add(24 * time.Hour), nil
		default:
			return next, nil
		}
	}
	d, err := ParseDuration(what)
	if err != nil || d < MinSnooze || d > MaxSnooze {
		return time.Time{}, inputErr("say when to remind you: a length from %s to %s, like 30m, 2h or 1d, or tomorrow",
			FormatDuration(MinSnooze), FormatDuration(MaxSnooze))
	}
	return now.Add(d), nil
}

// snooze sets the actor's own reminder of the current step.
func (t *tx) snooze() error {
	if t.stale() {
		return nil
	}
	s := t.step()
	if s == nil || s.Kind != StepApproval && s.Kind != StepTask {
		return t.refuse(CodeNotAllowed, fmt.Sprintf("%s is not waiting on a person, so there is nothing to be reminded of.", t.in.ID))
	}
	actor := t.ev.Actor
	if !t.waitsOn(actor) {
		return t.refuse(CodeNotAllowed, fmt.Sprintf("%s is not waiting on you, so there is nothing to remind you of.", t.in.ID))
	}
	loc := t.e.dir.Location(actor)
	at, err := t.e.snoozeUntil(t.ev.Data["for"], t.now, loc)
	if err != nil {
		return err
	}
	t.dropSnooze(actor)
	// Named by when it was asked for: a fired timer's id is its event's
	// idempotency key, so a snooze after an earlier one fired must not
	// reuse that one's.
	t.addTimer(Timer{ID: t.timerID(TimerSnooze, actor+"/"+fmt.Sprint(t.now.UnixMilli())), Kind: TimerSnooze,
		Step: t.in.Step, Round: t.in.Round, Person: actor, At: at})
	t.record(AuditEntry{Action: "snoozed", Detail: map[string]string{"until": at.UTC().Format(time.RFC3339)}})
	t.out.Text = fmt.Sprintf("I'll remind you about %s at %s (%s).", t.in.ID, FormatTime(at, loc), Relative(at, t.now))
	// A step that ends by itself at due before then: said now, as that
	// reminder will not come.
	if (s.OnTimeout == TimeoutApprove || s.OnTimeout == TimeoutReject) && !t.in.Due.IsZero() && !at.Before(t.in.Due) {
		t.out.Text += fmt.Sprintf(" Note that %s is %s by itself at %s, if nobody decides before.", s.Name, map[Timeout]string{TimeoutApprove: "approved", TimeoutReject: "rejected"}[s.OnTimeout], FormatTime(t.in.Due, loc))
	}
	return nil
}

// dropSnooze cancels person's snooze of the current step, if any.
func (t *tx) dropSnooze(person string) {
	i := slices.IndexFunc(t.in.Timers, func(tm Timer) bool { return tm.Kind == TimerSnooze && tm.Person == person })
	if i < 0 {
		return
	}
	old := t.in.Timers[i]
	t.in.Timers = slices.Delete(t.in.Timers, i, i+1)
	t.effects = append(t.effects, Effect{Kind: EffectCancelTimer, Timer: &old})
}

// waitsOn says whether the current step waits on person: they hold a
// pending task of it or decide one as a delegate (on a channel step too),
// or it was escalated to them.
func (t *tx) waitsOn(person string) bool {
	return t.pendingTask(person) != nil || slices.Contains(t.in.Escalated, person)
}

// pendingTask is the pending task person holds or decides as a delegate.
func (t *tx) pendingTask(person string) *Task {
	for i, task := range t.in.Tasks {
		if task.Decision == Pending && (task.Assignee == person || slices.Contains(task.Delegates, person)) {
			return &t.in.Tasks[i]
		}
	}
	return nil
}

// snoozed reminds the person who snoozed, if the step still waits on them.
func (t *tx) snoozed(s *Step, tm Timer) {
	p := tm.Person
	task := t.pendingTask(p)
	if !t.waitsOn(p) {
		// Decided, or passed on, since: nothing to remind them of. The
		// timer's removal is recorded (and so committed: it would fire again).
		t.skipTimer(tm, t.name(p)+" asked to be reminded, and the step no longer waits on them")
		return
	}
	t.record(AuditEntry{Action: "snooze_reminded", Detail: map[string]string{"to": t.name(p)}})
	since := t.in.StepStarted
	if task != nil && task.Since.After(since) { // reassigned or delegated to them since
		since = task.Since
	}
	// Counted from when it came to them: "on you" is true of that time.
	text := fmt.Sprintf("You asked to be reminded: %s has been waiting on you for %s.", s.Name, FormatDuration(t.now.Sub(since)))
	var m *Message
	card, thread := t.personCard(p), t.personCard(p)
	switch {
	case task == nil: // escalated to them: their escalation card
		m, card, thread = t.escalationMsg(s, p), t.escalationCard(p), t.escalationCard(p)
	case !slices.Contains(carded(s, *task), p): // a channel step's: by DM
		m, thread = t.taskCard(s, MsgReminder, p), ""
		t.reminded(task, p)
	default:
		m = t.taskCard(s, MsgReminder, p)
		t.reminded(task, p)
	}
	m.Kind, m.Text = MsgReminder, text
	t.notify(Recipient{Person: p}, card+"/s"+fmt.Sprint(t.now.UnixMilli()), thread, m)
}
