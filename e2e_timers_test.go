package main

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonbot/baton/flows"
)

// End-to-end tests of the timer ladder of the built-in purchase flow
// (manifests/flows/purchase.yaml), as people see it through the console:
// reminders, escalation rungs and the timeout, driven by the fake clock and
// the timer loop's Tick, over the harness of e2e_test.go.
//
// The manager step: due 1d, on_timeout: wait, remind every 4h (max 2),
// escalate after 1d notify: manager, after 3d reassign: manager.
// The finance step (amount > 1000): due 2d (on_timeout: escalate, the
// default), remind every 1d (max 2), escalate after 1d to #finance.
// The directory: Alice's manager is Bob, Bob's is Dana, Ivan's is Bob,
// Erin's, Carol's and Frank's are Dana; Dana has no manager.

// purchase is a purchase form for amount.
func purchase(amount string) url.Values {
	return url.Values{"item": {"Laptop"}, "amount": {amount}, "justification": {"my old one broke down"}}
}

// tickCtx runs the timer loop once at the clock's current time, failing the
// test if it errs or does not return promptly (a loop that never ends).
func (h *harness) tickCtx() int {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.t.Context(), 30*time.Second)
	defer cancel()
	n, err := h.a.timers.Tick(ctx)
	if err != nil {
		h.t.Fatalf("tick at %s: %v", h.clock.Now().Format(time.RFC3339), err)
	}
	h.drain()
	return n
}

// at moves the clock to t0+d, ticks, and fails unless want timers fired;
// then it ticks twice more at the same instant, which must fire nothing.
func (h *harness) at(d time.Duration, want int) {
	h.t.Helper()
	if now := h.clock.Now(); t0.Add(d).Before(now) {
		h.t.Fatalf("at %s: the clock is already at %s", d, now)
	}
	h.clock.Advance(t0.Add(d).Sub(h.clock.Now()))
	if n := h.tickCtx(); n != want {
		h.t.Fatalf("at t0+%s: %d timers fired, want %d", d, n, want)
	}
	for range 2 {
		if n := h.tickCtx(); n != 0 {
			h.t.Fatalf("at t0+%s: a repeated tick fired %d timers, want 0", d, n)
		}
	}
}

// timeline runs `status id` as `as` and returns its lines ("title | text").
func (h *harness) timeline(as, id string) []string {
	h.t.Helper()
	code, out := h.post(as, "/console/command", url.Values{"text": {"status " + id}})
	msg, _ := out["message"].(map[string]any)
	if code != http.StatusOK || out["ok"] != true || msg == nil || msg["kind"] != "timeline" {
		h.t.Fatalf("status %s as %s: %d %v", id, as, code, out)
	}
	var lines []string
	for _, it := range msg["items"].([]any) {
		it := it.(map[string]any)
		title, _ := it["title"].(string)
		txt, _ := it["text"].(string)
		lines = append(lines, title+" | "+txt)
	}
	return lines
}

// wantTimeline fails unless each want occurs in exactly n timeline lines.
func (h *harness) wantTimeline(lines []string, n int, wants ...string) {
	h.t.Helper()
	for _, w := range wants {
		got := 0
		for _, l := range lines {
			if strings.Contains(l, w) {
				got++
			}
		}
		if got != n {
			h.t.Fatalf("the timeline has %q in %d lines, want %d:\n%s", w, got, n, strings.Join(lines, "\n"))
		}
	}
}

// personal is as's inbox without the channels it shows below it.
func (h *harness) personal(as string) string {
	h.t.Helper()
	inbox, _, ok := strings.Cut(h.inbox(as), "<h2>Channels</h2>")
	if !ok {
		h.t.Fatalf("%s's inbox shows no channels:\n%s", as, inbox)
	}
	return inbox
}

// cards returns the threads of as's own inbox whose first card is of kind
// (task, escalation) for id's step.
func (h *harness) cards(as, kind, id, step string) []string {
	h.t.Helper()
	var out []string
	for _, th := range strings.Split(h.personal(as), `<div class="thread"`)[1:] {
		if strings.Contains(th, `<article class="card `+kind) &&
			strings.Contains(th, `data-instance="`+id+`" data-step="`+step+`"`) {
			out = append(out, th)
		}
	}
	return out
}

// card is the one thread of cards(as, kind, id, step).
func (h *harness) card(as, kind, id, step string) string {
	h.t.Helper()
	cs := h.cards(as, kind, id, step)
	if len(cs) != 1 {
		h.t.Fatalf("%s has %d %s cards of %s/%s, want 1:\n%s", as, len(cs), kind, id, step, h.inbox(as))
	}
	return cs[0]
}

var (
	liRe = regexp.MustCompile(`<li>([^<]*)</li>`)
	// A reminder, open or (once its card closed) closed.
	replyRe = regexp.MustCompile(`<article class="card reminder(?: closed)?"[^>]*>\s*<span class="badge">reminder</span>\s*<p class="text">([^<]*)</p>`)
)

// cardContext is the context lines of a thread's first card.
func cardContext(thread string) []string {
	head, _, _ := strings.Cut(thread, `<div class="reply"`)
	var out []string
	for _, m := range liRe.FindAllStringSubmatch(head, -1) {
		out = append(out, html.UnescapeString(m[1]))
	}
	return out
}

// reminders is the texts of the reminders in a thread, in order.
func reminders(thread string) []string {
	var out []string
	for _, m := range replyRe.FindAllStringSubmatch(thread, -1) {
		out = append(out, html.UnescapeString(m[1]))
	}
	return out
}

func (h *harness) wantLines(what string, got []string, want ...string) {
	h.t.Helper()
	if !slices.Equal(got, want) {
		h.t.Fatalf("%s:\n got  %q\n want %q", what, got, want)
	}
}

const (
	reminder1 = "Reminder 1 of 2: Manager approval has been waiting for 4 h."
	reminder2 = "Reminder 2 of 2: Manager approval has been waiting for 8 h."
)

// Alice asks; Bob does nothing. Reminders at 4 h and 8 h (and no third),
// at 1 d the escalation to Dana (Bob's manager) and the step marked overdue
// but left waiting (on_timeout: wait), at 3 d the task moves to Dana. Every
// timer fires once, however often the loop ticks at the same instant.
func TestTimerLadderManagerStep(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.start("alice", "purchase", purchase("500"))

	bob := h.card("bob", "task", id, "manager")
	h.wantLines("bob's card at the start", cardContext(bob), "Requested by Alice Martin", "Waiting on Bob Chen",
		"Due Fri 27 Nov 09:00 GMT (in 1 d)", "Escalates to Dana Kowalski (your manager) in 1 d")
	h.wantLines("bob's reminders at the start", reminders(bob))
	h.at(0, 0)

	h.at(4*time.Hour-time.Minute, 0)
	h.wantLines("bob's reminders just before 4 h", reminders(h.card("bob", "task", id, "manager")))
	h.at(4*time.Hour, 1)
	h.wantLines("bob's reminders at 4 h", reminders(h.card("bob", "task", id, "manager")), reminder1)
	h.mustNotContain("alice's inbox", h.inbox("alice"), "Reminder")

	h.at(8*time.Hour-time.Minute, 0)
	h.wantLines("bob's reminders just before 8 h", reminders(h.card("bob", "task", id, "manager")), reminder1)
	h.at(8*time.Hour, 1)
	h.wantLines("bob's reminders at 8 h", reminders(h.card("bob", "task", id, "manager")), reminder1, reminder2)

	// remind max 2: nothing more until the day is up, and nobody else was told.
	h.at(12*time.Hour, 0)
	h.at(24*time.Hour-time.Minute, 0)
	if c := h.cards("dana", "escalation", id, "manager"); len(c) != 0 {
		t.Fatalf("dana heard of %s before a day: %v", id, c)
	}

	// 1 d: the escalation rung (notify: manager) and the timeout (wait) fire.
	h.at(24*time.Hour, 2)
	esc := h.card("dana", "escalation", id, "manager")
	h.mustContain("dana's escalation", esc, "Escalation: Purchase request PR-1: Laptop (EUR 500)",
		"PR-1 has waited 1 d at Manager approval; it waits on Bob Chen. You can decide it for the whole step, or reassign it.", `data-action="approve-PR-1-manager-1"`)
	h.wantLines("dana's escalation card", cardContext(esc), "Requested by Alice Martin", "Waiting on Bob Chen", "Overdue since Fri 27 Nov 10:00 CET")
	for _, p := range []string{"olivia", "alice", "carol"} {
		h.mustNotContain(p+"'s inbox", h.personal(p), "Escalation:")
	}
	// What Dana may decide now is among her tasks, with its buttons.
	_, out := h.post("dana", "/console/command", url.Values{"text": {"tasks"}})
	tasks, _ := json.Marshal(out)
	h.mustContain("dana's tasks", string(tasks), "Purchase request PR-1", "approve")
	h.mustNotContain("dana's tasks", string(tasks), "Nothing is waiting on you")
	bob = h.card("bob", "task", id, "manager")
	// (the fourth line, the next rung, is checked by TestTimerCardAfterEscalationAndTimeoutAtOnce)
	h.wantLines("bob's card when overdue", cardContext(bob)[:3], "Requested by Alice Martin", "Waiting on Bob Chen", "Overdue since Fri 27 Nov 09:00 GMT")
	h.mustContain("bob's card when overdue", bob, `data-action="approve-PR-1-manager-1"`)
	h.wantLines("bob's reminders at 1 d", reminders(bob), reminder1, reminder2)
	// on_timeout: wait: nothing is decided; the request waits on Bob.
	h.wantStatus(id, flows.StatusRunning, "manager", 1)
	h.mustNotContain("alice's inbox", h.inbox("alice"), "Approved:", "Rejected:")
	tl := h.timeline("alice", id)
	h.wantTimeline(tl, 1, "Manager approval | Waiting on Bob Chen for 1 d · due Fri 27 Nov 09:00 GMT (overdue)",
		"Thu 26 Nov 13:00 GMT · Baton reminded | Manager approval, round 1 · n: 1 · to: Bob Chen",
		"Thu 26 Nov 17:00 GMT · Baton reminded | Manager approval, round 1 · n: 2 · to: Bob Chen",
		"Fri 27 Nov 09:00 GMT · Baton escalated | Manager approval, round 1 · to: Dana Kowalski · waiting on: Bob Chen",
		"Fri 27 Nov 09:00 GMT · Baton marked the step overdue | Manager approval, round 1")
	h.wantTimeline(tl, 2, "Baton reminded")

	// 3 d: the second rung moves the task to Bob's manager.
	h.at(48*time.Hour, 0)
	h.at(72*time.Hour-time.Minute, 0)
	h.at(72*time.Hour, 1)
	bob = h.card("bob", "task", id, "manager")
	h.mustContain("bob's closed card", bob, "Reassigned · Sun 29 Nov 09:00 GMT<br>Reason: no decision in time<br>Now with Dana Kowalski.")
	h.mustNotContain("bob's closed card", bob, `data-action="approve-PR-1-manager-1"`)
	dana := h.card("dana", "task", id, "manager")
	h.mustContain("dana's task", dana, `data-action="approve-PR-1-manager-1"`)
	// Nothing is left on the ladder: the card promises no further rung.
	h.wantLines("dana's task card", cardContext(dana), "Requested by Alice Martin", "Waiting on Dana Kowalski",
		"Overdue since Fri 27 Nov 10:00 CET", "Moved to you from Bob Chen after 3 d without a decision")
	tl = h.timeline("alice", id)
	h.wantTimeline(tl, 1, "Sun 29 Nov 09:00 GMT · Baton reassigned | Manager approval, round 1 · reason: no decision within 3 d (escalation) · from: Bob Chen · to: Dana Kowalski",
		"Manager approval | Waiting on Dana Kowalski for 3 d")
	h.wantTimeline(tl, 2, "Baton reminded")
	h.wantTimeline(tl, 1, "Baton escalated", "Baton marked the step overdue", "Baton reassigned")
	if _, timers, err := h.a.store.Pending(t.Context()); err != nil || timers != 0 {
		t.Fatalf("%d timers wait after the last rung (%v)", timers, err)
	}

	// A month on, nothing fires again.
	h.at(30*24*time.Hour, 0)
	// (its first lines, the steps, say how long it has waited)
	if got := h.timeline("alice", id); !slices.Equal(got[3:], tl[3:]) {
		t.Fatalf("the timeline changed with nothing due:\nbefore %q\nafter  %q", tl, got)
	}
	h.act("dana", "approve", id, "manager", 1, true)
	h.wantStatus(id, flows.StatusCompleted, "", 0)
	_, out = h.post("dana", "/console/command", url.Values{"text": {"tasks"}})
	tasks, _ = json.Marshal(out)
	h.mustContain("dana's tasks once decided", string(tasks), "Nothing is waiting on you")
	h.mustContain("alice's outcome", h.inbox("alice"), "Approved: Purchase request PR-1", "Manager approval: approved by Dana Kowalski")
	h.finished(id)
}

// Once Bob approves, none of the manager step's remaining timers fire, and
// nothing fires for the completed request however far the clock moves.
func TestTimerNothingFiresAfterApproval(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.start("alice", "purchase", purchase("500"))
	h.at(4*time.Hour, 1)
	h.at(5*time.Hour, 0)
	h.wantLines("bob's reminders", reminders(h.card("bob", "task", id, "manager")), reminder1)
	h.mustContain("approve", h.act("bob", "approve", id, "manager", 1, true), "PR-1")
	h.wantStatus(id, flows.StatusCompleted, "", 0)
	h.finished(id) // no timer left waiting
	done := h.timeline("alice", id)

	for _, d := range []time.Duration{8 * time.Hour, 24 * time.Hour, 72 * time.Hour, 365 * 24 * time.Hour} {
		h.at(d, 0)
	}
	// Closing the step closed every card of the round, its one reminder too:
	// nothing was added to Bob's thread since.
	bob := h.card("bob", "task", id, "manager")
	h.mustContain("bob's closed card", bob, "Approved by Bob Chen")
	h.mustCount("bob's thread", bob, `class="reply"`, 1)
	for _, p := range []string{"dana", "olivia"} {
		h.mustNotContain(p+"'s inbox", h.personal(p), `data-instance="PR-1"`)
	}
	tl := h.timeline("alice", id)
	h.wantLines("the timeline after a year", tl, done...)
	h.wantTimeline(tl, 1, "Baton reminded", "Bob Chen approved", "completed the request")
	h.wantTimeline(tl, 0, "escalated", "overdue", "reassigned", "skipped a", "skipped the timeout")
	h.finished(id)
}

// Bob approves an amount above 1,000 mid-way: the manager step's timers are
// gone, and the finance step's ladder runs from its own start: reminders to
// both of finance, #finance after a day, and at the due time (on_timeout:
// escalate) the assignees' manager, who decides.
func TestTimerLadderNextStepStartsAfresh(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.start("alice", "purchase", purchase("2500"))
	h.at(4*time.Hour, 1)
	h.at(5*time.Hour, 0)
	h.act("bob", "approve", id, "manager", 1, true)
	h.wantStatus(id, flows.StatusRunning, "finance", 1)
	carol := h.card("carol", "task", id, "finance")
	h.wantLines("carol's card", cardContext(carol), "Requested by Alice Martin", "Waiting on Carol Diaz and Frank Osei",
		"Due Sat 28 Nov 09:00 EST (in 2 d)", "Escalates to #finance in 1 d")

	// The manager step's reminder 2 (8 h), rung 1 and timeout (1 d) do not fire.
	h.at(8*time.Hour, 0)
	h.at(24*time.Hour, 0)
	h.mustCount("bob's thread", h.card("bob", "task", id, "manager"), `class="reply"`, 1) // reminder 1, closed with the step
	h.mustNotContain("dana's inbox", h.personal("dana"), `data-instance="PR-1"`)

	// Finance started at 5 h: its first reminder and rung at 1 d 5 h.
	h.at(29*time.Hour-time.Minute, 0)
	h.at(29*time.Hour, 2)
	fin1 := "Reminder 1 of 2: Finance approval has been waiting for 1 d."
	for _, p := range []string{"carol", "frank"} {
		h.wantLines(p+"'s reminders", reminders(h.card(p, "task", id, "finance")), fin1)
	}
	_, channels, _ := strings.Cut(h.inbox("olivia"), "<h2>Channels</h2>")
	h.mustContain("#finance", channels, `#finance <small>(1)</small>`, "Escalation: Purchase request PR-1: Laptop (EUR 2500)",
		"PR-1 has waited 1 d at Finance approval; it waits on Carol Diaz and Frank Osei.</p>")
	h.mustNotContain("dana's inbox", h.personal("dana"), `data-instance="PR-1"`)

	// Due at 2 d 5 h: reminder 2 and the timeout, which escalates to Dana
	// (Carol's and Frank's manager), once.
	h.at(53*time.Hour-time.Minute, 0)
	h.at(53*time.Hour, 2)
	for _, p := range []string{"carol", "frank"} {
		h.wantLines(p+"'s reminders", reminders(h.card(p, "task", id, "finance")), fin1,
			"Reminder 2 of 2: Finance approval has been waiting for 2 d.")
	}
	esc := h.card("dana", "escalation", id, "finance")
	h.mustContain("dana's escalation", esc, "PR-1 has waited 2 d at Finance approval; it waits on Carol Diaz and Frank Osei. You can decide it for the whole step, or reassign it.",
		`data-action="approve-PR-1-finance-1"`)
	h.wantStatus(id, flows.StatusRunning, "finance", 1)
	tl := h.timeline("alice", id)
	h.wantTimeline(tl, 1, "Thu 26 Nov 13:00 GMT · Baton reminded | Manager approval, round 1 · n: 1 · to: Bob Chen",
		"Fri 27 Nov 14:00 GMT · Baton reminded | Finance approval, round 1 · n: 1",
		"Fri 27 Nov 14:00 GMT · Baton escalated | Finance approval, round 1 · to: #finance",
		"Sat 28 Nov 14:00 GMT · Baton reminded | Finance approval, round 1 · n: 2",
		"Sat 28 Nov 14:00 GMT · Baton escalated | Finance approval, round 1 · to: Dana Kowalski")
	h.wantTimeline(tl, 3, "Baton reminded")
	h.wantTimeline(tl, 2, "Baton escalated")

	// The manager step's 3 d rung does not fire; nothing is left but to decide.
	h.at(72*time.Hour, 0)
	if _, timers, _ := h.a.store.Pending(t.Context()); timers != 0 {
		t.Fatalf("%d timers wait after the finance ladder ran out", timers)
	}
	h.act("dana", "approve", id, "finance", 1, true)
	h.wantStatus(id, flows.StatusCompleted, "", 0)
	h.at(60*24*time.Hour, 0)
	h.wantTimeline(h.timeline("alice", id), 3, "Baton reminded")
	h.finished(id)
}

// Reassigned mid-way, a request keeps its ladder (timed from the step's
// start) but each rung follows whoever holds the task then: Bob passes it to
// Ivan (whose manager is Bob), Ivan passes it to Erin (whose manager is
// Dana) after the escalation; the cards name the next rung as it is.
func TestTimerLadderAfterReassign(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.start("alice", "purchase", purchase("500"))
	h.at(4*time.Hour, 1)
	h.at(5*time.Hour, 0)
	h.act("bob", "reassign", id, "manager", 1, true, "target", "ivan", "reason", "on leave")
	ivan := h.card("ivan", "task", id, "manager")
	h.wantLines("ivan's card", cardContext(ivan), "Requested by Alice Martin", "Waiting on Ivan Petrov",
		"Due Fri 27 Nov 10:00 CET (in 19 h)", "Escalates to Bob Chen (your manager) in 19 h", "Reassigned to you by Bob Chen: on leave")

	// Reminder 2 (8 h) reaches Ivan, not Bob.
	h.at(8*time.Hour, 1)
	h.wantLines("ivan's reminders", reminders(h.card("ivan", "task", id, "manager")), reminder2)
	bob := h.card("bob", "task", id, "manager")
	h.wantLines("bob's reminders", reminders(bob), reminder1)
	// Bob's reminder, in his card's thread, closed with it: on Slack it
	// offered the card's buttons.
	h.mustContain("bob's reminder", bob, `<article class="card reminder closed"`, "Reassigned by Bob Chen")

	// 1 d: the rung goes to Ivan's manager, Bob, not to Dana.
	h.at(24*time.Hour, 2)
	esc := h.card("bob", "escalation", id, "manager")
	h.mustContain("bob's escalation", esc, "PR-1 has waited 1 d at Manager approval; it waits on Ivan Petrov. You can decide it for the whole step, or reassign it.")
	h.mustNotContain("dana's inbox", h.personal("dana"), `data-instance="PR-1"`)

	// Ivan passes it to Erin: her card names the next rung, the move to her
	// manager at 3 d; Bob's escalation card says whom it waits on now.
	h.at(26*time.Hour, 0)
	h.act("ivan", "reassign", id, "manager", 1, true, "target", "erin", "reason", "not my budget")
	erin := h.card("erin", "task", id, "manager")
	h.wantLines("erin's card", cardContext(erin), "Requested by Alice Martin", "Waiting on Erin Park",
		"Overdue since Fri 27 Nov 18:00 KST", "Moves to Dana Kowalski (your manager) in 1 d 22 h", "Reassigned to you by Ivan Petrov: not my budget")
	h.mustContain("bob's escalation card", h.card("bob", "escalation", id, "manager"), "<li>Waiting on Erin Park</li>")
	h.wantLines("erin's reminders", reminders(erin))

	// 3 d: Erin's task moves to Dana.
	h.at(72*time.Hour-time.Minute, 0)
	h.at(72*time.Hour, 1)
	h.mustContain("erin's closed card", h.card("erin", "task", id, "manager"), "Reassigned · Sun 29 Nov 18:00 KST<br>Reason: no decision in time<br>Now with Dana Kowalski.")
	h.mustContain("dana's task", h.card("dana", "task", id, "manager"), "Moved to you from Erin Park after 3 d without a decision", `data-action="approve-PR-1-manager-1"`)
	if in := h.instance(id); len(in.Tasks) != 1 || in.Tasks[0].Assignee != "dana" || in.Tasks[0].Original != "bob" {
		t.Fatalf("tasks %+v", in.Tasks)
	}
	tl := h.timeline("alice", id)
	h.wantTimeline(tl, 1, "Bob Chen reassigned | Manager approval, round 1 · reason: on leave · from: Bob Chen · to: Ivan Petrov",
		"Fri 27 Nov 09:00 GMT · Baton escalated | Manager approval, round 1 · to: Bob Chen · waiting on: Ivan Petrov",
		"Ivan Petrov reassigned | Manager approval, round 1 · reason: not my budget · from: Ivan Petrov · to: Erin Park",
		"Sun 29 Nov 09:00 GMT · Baton reassigned | Manager approval, round 1 · reason: no decision within 3 d (escalation) · from: Erin Park · to: Dana Kowalski")
	h.wantTimeline(tl, 2, "Baton reminded")
	h.at(30*24*time.Hour, 0)
	h.act("dana", "approve", id, "manager", 1, true)
	h.finished(id)
}

// Dana has no manager. Bob's request waits on her: the 1 d rung (notify:
// manager) goes to the flow's owner instead; the 3 d rung (reassign:
// manager) can do nothing, and the timeline says so once, with why; the
// loop does not come back to it.
func TestTimerSkippedEscalationNoManager(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.start("bob", "purchase", purchase("500"))
	h.mustContain("dana's card", h.card("dana", "task", id, "manager"), "<li>Waiting on Dana Kowalski</li>", "<li>Due Fri 27 Nov 10:00 CET (in 1 d)</li>")
	// Her card names who the escalation reaches, not "your manager".
	h.wantLines("dana's card", cardContext(h.card("dana", "task", id, "manager")), "Requested by Bob Chen", "Waiting on Dana Kowalski",
		"Due Fri 27 Nov 10:00 CET (in 1 d)", "Escalates to Olivia Brown (the flow's owner) in 1 d")
	h.at(4*time.Hour, 1)
	h.at(8*time.Hour, 1)
	h.at(24*time.Hour, 2)
	// The next rung cannot move her task (she has no manager): the card
	// names none.
	h.wantLines("dana's card after the escalation", cardContext(h.card("dana", "task", id, "manager")), "Requested by Bob Chen", "Waiting on Dana Kowalski",
		"Overdue since Fri 27 Nov 10:00 CET")
	esc := h.card("olivia", "escalation", id, "manager")
	h.mustContain("olivia's escalation", esc, "PR-1 has waited 1 d at Manager approval; it waits on Dana Kowalski. You can decide it for the whole step, or reassign it.")

	h.at(72*time.Hour-time.Minute, 0)
	h.at(72*time.Hour, 1) // returns, and the two ticks after it at 3 d fire nothing
	skipped := "Sun 29 Nov 09:00 GMT · Baton skipped an escalation | Manager approval, round 1 · reason: nobody to reassign to: Dana Kowalski has no manager in the directory · timer: escalate"
	h.wantTimeline(h.timeline("bob", id), 1, skipped)
	for _, d := range []time.Duration{72*time.Hour + time.Second, 72*time.Hour + time.Minute, 73 * time.Hour, 96 * time.Hour, 30 * 24 * time.Hour} {
		h.at(d, 0)
	}
	if _, timers, err := h.a.store.Pending(t.Context()); err != nil || timers != 0 {
		t.Fatalf("%d timers still wait (%v)", timers, err)
	}
	// Still Dana's to decide; nothing moved.
	h.wantStatus(id, flows.StatusRunning, "manager", 1)
	dana := h.card("dana", "task", id, "manager")
	h.mustContain("dana's card", dana, `data-action="approve-PR-1-manager-1"`, "<li>Waiting on Dana Kowalski</li>")
	h.mustNotContain("dana's card", dana, "Moved to you")
	h.wantLines("dana's reminders", reminders(dana), reminder1, reminder2)
	tl := h.timeline("bob", id)
	h.wantTimeline(tl, 1, skipped, "Baton skipped an escalation",
		"Fri 27 Nov 09:00 GMT · Baton escalated | Manager approval, round 1 · to: Olivia Brown · waiting on: Dana Kowalski",
		"Manager approval | Waiting on Dana Kowalski for 30 d · due Fri 27 Nov 09:00 GMT (overdue)")
	h.wantTimeline(tl, 0, "Baton reassigned")
	h.wantTimeline(tl, 2, "Baton reminded")
	// The status page shows it too.
	page := h.status("bob", id)
	h.mustCount("status page", page, "skipped an escalation", 1)
	h.mustContain("status page", page, "nobody to reassign to: Dana Kowalski has no manager in the directory")

	h.act("olivia", "approve", id, "manager", 1, true)
	h.wantStatus(id, flows.StatusCompleted, "", 0)
	h.finished(id)
}

// Several replicas tick at the same instant: each timer still reaches
// people once.
func TestTimerConcurrentTicksFireOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ids := []string{h.start("alice", "purchase", purchase("500")), h.start("bob", "purchase", purchase("600"))}
	ticks := func(d time.Duration) {
		h.clock.Advance(t0.Add(d).Sub(h.clock.Now()))
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				if _, err := h.a.timers.Tick(t.Context()); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		h.drain()
		if n := h.tickCtx(); n != 0 {
			t.Fatalf("at t0+%s: a tick after the concurrent ones fired %d", d, n)
		}
	}
	for _, d := range []time.Duration{4 * time.Hour, 8 * time.Hour, 24 * time.Hour, 72 * time.Hour} {
		ticks(d)
	}
	h.wantLines("bob's reminders", reminders(h.card("bob", "task", ids[0], "manager")), reminder1, reminder2)
	h.wantLines("dana's reminders", reminders(h.card("dana", "task", ids[1], "manager")), reminder1, reminder2)
	h.card("dana", "escalation", ids[0], "manager")
	h.card("olivia", "escalation", ids[1], "manager")
	h.mustContain("dana's moved task", h.card("dana", "task", ids[0], "manager"), "Moved to you from Bob Chen after 3 d")
	for _, id := range ids {
		tl := h.timeline("olivia", id)
		h.wantTimeline(tl, 2, "Baton reminded")
		h.wantTimeline(tl, 1, "Baton escalated", "Baton marked the step overdue")
	}
	h.wantTimeline(h.timeline("olivia", ids[0]), 1, "Baton reassigned")
	h.wantTimeline(h.timeline("olivia", ids[1]), 1, "Baton skipped an escalation")
}

// At 1 d the manager step's first rung and its timeout are due at once.
// Whatever order they fire in, the card should then name the next rung,
// the move to Dana at 3 d.
func TestTimerCardAfterEscalationAndTimeoutAtOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var ids []string
	for range 8 { // the order varies from request to request
		ids = append(ids, h.start("alice", "purchase", purchase("500")))
	}
	h.at(4*time.Hour, 8)
	h.at(8*time.Hour, 8)
	h.at(24*time.Hour, 16)
	for _, id := range ids {
		h.wantLines("bob's card of "+id, cardContext(h.card("bob", "task", id, "manager")), "Requested by Alice Martin", "Waiting on Bob Chen",
			"Overdue since Fri 27 Nov 09:00 GMT", "Moves to Dana Kowalski (your manager) in 2 d")
	}
}

// A task that an escalation moves is like one a person reassigns: the
// escalation cards of those who were told say whom it waits on now.
func TestTimerEscalationCardsAfterEscalationReassign(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.start("alice", "purchase", purchase("500"))
	h.act("bob", "reassign", id, "manager", 1, true, "target", "ivan")
	h.at(4*time.Hour, 1)
	h.at(8*time.Hour, 1)
	h.at(24*time.Hour, 2) // Bob, Ivan's manager, is told
	h.act("ivan", "reassign", id, "manager", 1, true, "target", "erin")
	h.mustContain("bob's escalation card", h.card("bob", "escalation", id, "manager"), "<li>Waiting on Erin Park</li>")
	h.at(72*time.Hour, 1) // Erin's task moves to Dana
	h.mustContain("erin's closed card", h.card("erin", "task", id, "manager"), "Now with Dana Kowalski.")
	h.mustContain("bob's escalation card", h.card("bob", "escalation", id, "manager"), "<li>Waiting on Dana Kowalski</li>")
}

// The content review flow counts working hours (working_hours: true; the
// demo directory's are Monday to Friday, 09:00-17:00). Ivan, its editor,
// works in Berlin. Asked on Thursday at 10:00 his time (t0), with due: 2d
// and a reminder every 1d: the first reminder comes a working day later,
// Friday 10:00; then nothing over the weekend, when a flow on the clock
// would remind and time out; on Monday at 10:00, two working days on, the
// second reminder and the timeout, which escalates to Bob, his manager.
func TestWorkingHoursThroughTheConsole(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.start("alice", "content", url.Values{"headline": {"Winter opening hours"}, "draft": {"https://docs.example.com/d/1"},
		"audience": {"internal"}, "editor": {"ivan"}})
	h.wantLines("ivan's card at the start", cardContext(h.card("ivan", "task", id, "edit")),
		"Requested by Alice Martin", "Waiting on Ivan Petrov", "Due Mon 30 Nov 10:00 CET (in 4 d)", "Escalates to Bob Chen (your manager) in 4 d")
	const day = 24 * time.Hour
	h.at(day-time.Minute, 0)
	h.at(day, 1)
	first := "Reminder 1 of 3: Editorial review has been waiting for 1 d."
	h.wantLines("ivan's reminders on Friday", reminders(h.card("ivan", "task", id, "edit")), first)
	h.at(2*day, 0) // Saturday
	h.at(3*day, 0) // Sunday
	h.at(4*day-time.Minute, 0)
	if c := h.cards("bob", "escalation", id, "edit"); len(c) != 0 {
		t.Fatalf("escalated before Monday:\n%s", c[0])
	}
	h.at(4*day, 2)
	h.wantLines("ivan's reminders on Monday", reminders(h.card("ivan", "task", id, "edit")),
		first, "Reminder 2 of 3: Editorial review has been waiting for 4 d.")
	h.card("bob", "escalation", id, "edit")
	h.wantTimeline(h.timeline("alice", id), 1, "Mon 30 Nov 09:00 GMT · Baton escalated | Editorial review, round 1 · to: Bob Chen")
}

// TestDigestInTheConsole: the console is a platform like the others: on a
// working day at 09:00 (London, for Bob) his daily digest lists what waits
// on him, with its buttons, and a button in it decides.
// (Run's schedule is tested in bot; here the console's part.)
func TestDigestInTheConsole(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.start("alice", "purchase", url.Values{"item": {"Laptop"}, "amount": {"900"}, "justification": {"my old one broke down"}})
	zones := h.a.digests.Zones(t.Context())
	if !slices.Contains(zones["Europe/London"], "bob") {
		t.Fatalf("zones: %v", zones)
	}
	h.advance(24 * time.Hour) // Friday 09:00 in London
	h.a.digests.Send(t.Context(), "Europe/London", zones["Europe/London"])
	inbox := h.inbox("bob")
	h.mustContain("bob's inbox", inbox, "Good morning: 1 task is waiting on you", "Purchase request "+id, `&#34;tasks&#34; shows the list any time`)
	digest, _, _ := strings.Cut(inbox[strings.Index(inbox, "Good morning"):], "</ol>")
	h.mustContain("bob's digest", digest, `data-action="approve-`+id+`-manager-1"`, "due Fri 27 Nov 09:00 GMT")
	if strings.Contains(h.inbox("alice"), "Good morning") {
		t.Errorf("alice, with nothing waiting on her, got a digest")
	}
	h.act("bob", "approve", id, "manager", 1, true)
	h.wantStatus(id, flows.StatusCompleted, "", 0)
}

// TestSnoozeThroughTheConsole: Bob types snooze; an hour later he gets his
// reminder in his card's thread, besides the step's own (at 4 h); the
// timeline says he asked; anyone else's snooze is refused.
func TestSnoozeThroughTheConsole(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.start("alice", "purchase", url.Values{"item": {"Laptop"}, "amount": {"900"}, "justification": {"my old one broke down"}})
	command := func(as, text string, ok bool) string {
		t.Helper()
		code, out := h.post(as, "/console/command", url.Values{"text": {text}})
		if code != http.StatusOK || out["ok"] != ok {
			t.Fatalf("%s as %s: %d %v, want ok=%v", text, as, code, out, ok)
		}
		h.drain()
		return out["message"].(map[string]any)["title"].(string)
	}
	h.mustContain("snooze", command("bob", "snooze "+id, true), "I'll remind you about "+id+" at Thu 26 Nov 10:00 GMT (in 1 h).")
	h.mustContain("carol's snooze", command("carol", "snooze "+id+" 2h", false), id+" is not one of your tasks")
	h.mustContain("a bad length", command("bob", "snooze "+id+" later", false), "Say when to remind you")
	h.at(time.Hour-time.Minute, 0)
	h.at(time.Hour, 1)
	first := "You asked to be reminded: Manager approval has been waiting on you for 1 h."
	h.wantLines("bob's reminders", reminders(h.card("bob", "task", id, "manager")), first)
	// Again, once the first has come.
	h.mustContain("second snooze", command("bob", "snooze "+id+" 2h", true), "(in 2 h)")
	h.at(3*time.Hour, 1)
	second := "You asked to be reminded: Manager approval has been waiting on you for 3 h."
	h.at(4*time.Hour, 1) // the step's own first reminder, on time
	h.wantLines("bob's reminders", reminders(h.card("bob", "task", id, "manager")), first, second, reminder1)
	h.wantTimeline(h.timeline("alice", id), 2, "Bob Chen asked to be reminded later")
	if before := len(h.timeline("alice", id)); before == 0 || strings.Contains(strings.Join(h.timeline("alice", id), "\n"), "Carol Diaz tried to snooze") {
		t.Fatalf("carol's refused snooze is on the record of a request that is nothing to her")
	}
	// The card's Remind me later: tomorrow is Friday 09:00 in London.
	h.mustContain("bob's card", h.card("bob", "task", id, "manager"), `data-action="snooze-`+id+`-manager-1"`, `<option value="tomorrow">Tomorrow morning</option>`)
	code, out := h.post("bob", "/console/act", url.Values{"action": {"snooze"}, "instance": {id}, "step": {"manager"}, "round": {"1"}, "for": {"tomorrow"}})
	if code != http.StatusOK || out["ok"] != true || !strings.Contains(text(out), "Fri 27 Nov 09:00 GMT") {
		t.Fatalf("snooze from the card: %d %v", code, out)
	}
}
