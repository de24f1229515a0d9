package slack

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/batonbot/baton/flows"
)

// TestPurchaseEndToEnd walks a purchase request through Slack: started with
// /baton and a modal, approved by the manager from a DM card, rejected by
// finance with a reason, resubmitted from the requester's DM, reminded and
// escalated with the fake clock, and approved by the escalation's manager.
// Every Web API call Slack receives is checked, step by step, against
// testdata/e2e_purchase.golden; the steps that matter most are asserted
// here as well.
func TestPurchaseEndToEnd(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var conversation []string
	step := func(name string) []apiCall {
		t.Helper()
		h.settle()
		from := h.seen
		calls := h.api.Calls()[from:]
		lines := h.takeSummaries()
		conversation = append(conversation, "## "+name)
		conversation = append(conversation, lines...)
		return calls
	}
	find := func(calls []apiCall, method, contains string) apiCall {
		t.Helper()
		for _, c := range calls {
			if strings.HasPrefix(c.Method, method) && strings.Contains(c.summary()+" "+c.text(), contains) {
				return c
			}
		}
		t.Fatalf("no %s with %q among:\n%s", method, contains, summarize(calls))
		return apiCall{}
	}
	instance := func() *flows.Instance {
		in, err := h.rig.Svc.Instance(t.Context(), "PR-1")
		if err != nil {
			t.Fatal(err)
		}
		return in
	}

	// Alice opens Baton's App Home: it is published for her.
	if code, _ := h.post(PathEvents, "application/json", readTestdata(t, "app_home_opened.json")); code != http.StatusOK {
		t.Fatalf("app_home_opened: %d", code)
	}
	calls := step("alice opens the App Home")
	find(calls, "views.publish", "Start Purchase request")

	// /baton start purchase opens the form as a modal.
	if ack := h.command("U0ALICE", "start purchase"); ack != nil {
		t.Fatalf("start should be acknowledged empty (the modal opens), got %v", ack)
	}
	calls = step("alice: /baton start purchase")
	form := find(calls, "views.open", cbStart)
	if got := form.str("trigger_id"); !strings.HasPrefix(got, "trigger-cmd-") {
		t.Errorf("views.open used trigger %q, not the command's", got)
	}
	var inputs []string
	for _, b := range form.blocks() {
		if b["type"] == "input" {
			inputs = append(inputs, b["block_id"].(string)+":"+b["element"].(map[string]any)["type"].(string))
		}
	}
	if want := []string{"item:plain_text_input", "amount:number_input", "currency:static_select", "vendor:plain_text_input",
		"justification:plain_text_input", "needed_by:datepicker", "link:url_text_input"}; !slices.Equal(inputs, want) {
		t.Errorf("form inputs %v, want %v", inputs, want)
	}
	meta := form.Params["view"].(map[string]any)["private_metadata"].(string)

	// A bad amount is refused next to the field, and nothing is created.
	ack := h.submit("U0ALICE", "V0START1", cbStart, meta, purchaseValues("Laptop", "-5"))
	if ack["response_action"] != "errors" || ack["errors"].(map[string]any)["amount"] != "Total amount must be at least 1" {
		t.Fatalf("bad amount: %v", ack)
	}
	if _, err := h.rig.Svc.Instance(t.Context(), "PR-1"); err == nil {
		t.Fatal("a refused form created a request")
	}
	// Fixed and submitted: the modal says what happened; Bob gets the card.
	ack = h.submit("U0ALICE", "V0START1", cbStart, meta, purchaseValues("Laptop", "2500"))
	if ack["response_action"] != "update" || !strings.Contains(mustString(t, ack), "Started PR-1 (Purchase request). Waiting on Bob Chen (Manager approval).") {
		t.Fatalf("start: %v", ack)
	}
	calls = step("alice submits the form")
	card := find(calls, "chat.postMessage", "D0BOB")
	if want := []string{"v1|approve|PR-1|manager|1|", "v1|reject|PR-1|manager|1|", "v1|changes|PR-1|manager|1|", "v1|reassign|PR-1|manager|1|"}; !slices.Equal(card.buttons(), want) {
		t.Errorf("Bob's card buttons %v, want %v", card.buttons(), want)
	}
	for _, w := range []string{"Purchase request PR-1: Laptop (EUR 2500)", "Total amount", "2500", "Requested by Alice Martin",
		"Waiting on Bob Chen", "Due Fri 27 Nov 09:00 GMT", "Escalates to Dana Kowalski (your manager) in 1 d"} {
		if !strings.Contains(card.text(), w) {
			t.Errorf("Bob's card lacks %q: %s", w, card.text())
		}
	}
	find(calls, "conversations.open", "U0BOB")

	// Carol is not the manager: told privately whose task it is; nothing changes.
	h.click("U0CAROL", "v1|approve|PR-1|manager|1|", "D0BOB")
	calls = step("carol clicks Approve on bob's card")
	find(calls, "response/", "PR-1 (Manager approval) is assigned to Bob Chen")
	if in := instance(); in.Step != "manager" || in.Tasks[0].Decision != flows.Pending {
		t.Fatalf("a refused click changed the request: %+v", in.Tasks)
	}

	// Bob approves: his card is closed in place; finance gets cards.
	h.click("U0BOB", "v1|approve|PR-1|manager|1|", "D0BOB")
	calls = step("bob approves")
	closed := find(calls, "chat.update", "D0BOB")
	// Its time is a Slack date, which each reader sees in their own zone;
	// its notification text, plain, has it in Bob's (London).
	if len(closed.buttons()) != 0 || !strings.Contains(closed.text(), "Approved by Bob Chen · <!date^1795683600^{date_short_pretty} {time}|Thu 26 Nov 09:00 GMT>") ||
		closed.str("text") != "Purchase request PR-1: Laptop (EUR 2500) — Approved by Bob Chen · Thu 26 Nov 09:00 GMT" {
		t.Errorf("Bob's closed card: %s %v", closed.text(), closed.buttons())
	}
	find(calls, "chat.postMessage", "D0CAROL")
	find(calls, "chat.postMessage", "D0FRANK")

	// Carol rejects: a reason is asked for in a modal, required.
	h.click("U0CAROL", "v1|reject|PR-1|finance|1|", "D0CAROL")
	calls = step("carol clicks Reject")
	reason := find(calls, "views.open", cbReason)
	rmeta := reason.Params["view"].(map[string]any)["private_metadata"].(string)
	ack = h.submit("U0CAROL", "V0REASON1", cbReason, rmeta, map[string]map[string]any{"reason": textInput("")})
	if ack["response_action"] != "errors" || !strings.Contains(mustString(t, ack), "A reason is required to reject") {
		t.Fatalf("reject without a reason: %v", ack)
	}
	ack = h.submit("U0CAROL", "V0REASON1", cbReason, rmeta, map[string]map[string]any{"reason": textInput("Over the team budget; split it")})
	if !strings.Contains(mustString(t, ack), "Rejected PR-1; Alice Martin has been told.") {
		t.Fatalf("reject: %v", ack)
	}
	calls = step("carol rejects with a reason")
	for _, dm := range []string{"D0CAROL", "D0FRANK"} {
		c := find(calls, "chat.update", dm)
		if len(c.buttons()) != 0 || !strings.Contains(c.text(), "Rejected by Carol Diaz") || !strings.Contains(c.text(), "Reason: Over the team budget; split it") {
			t.Errorf("%s closed card: %s", dm, c.text())
		}
	}
	toAlice := find(calls, "chat.postMessage", "D0ALICE")
	if !strings.Contains(toAlice.text(), "Carol Diaz rejected your request at Finance approval.") || !slices.Contains(toAlice.buttons(), "v1|resubmit|PR-1|finance|1|") {
		t.Errorf("Alice's outcome DM: %s %v", toAlice.text(), toAlice.buttons())
	}
	find(calls, "views.publish", "U0ALICE") // her Home shows the change

	// Frank's click on his (now closed) card is told who decided first.
	h.click("U0FRANK", "v1|approve|PR-1|finance|1|", "D0FRANK")
	calls = step("frank clicks Approve on his stale card")
	find(calls, "response/", "PR-1 was already rejected by Carol Diaz")

	// Alice resubmits from her DM: the form opens pre-filled.
	h.click("U0ALICE", "v1|resubmit|PR-1|finance|1|", "D0ALICE")
	calls = step("alice clicks Edit and resubmit")
	refill := find(calls, "views.open", cbResubmit)
	if !strings.Contains(refill.str("view"), `"initial_value":"2500"`) || !strings.Contains(refill.text(), "Sent back because: Over the team budget; split it") {
		t.Errorf("resubmit form not pre-filled: %s", refill.str("view"))
	}
	smeta := refill.Params["view"].(map[string]any)["private_metadata"].(string)
	values := purchaseValues("Laptop", "1800")
	values[noteBlock] = textInput("Cheaper model")
	ack = h.submit("U0ALICE", "V0RESUBMIT1", cbResubmit, smeta, values)
	if !strings.Contains(mustString(t, ack), "Resubmitted PR-1: Manager approval is asked again first, as the edits change what it approved") {
		t.Fatalf("resubmit: %v", ack)
	}
	// Bob approved the amount (the flow's reapprove_on): he is asked again
	// first, then finance.
	calls = step("alice resubmits 1800")
	again := find(calls, "chat.postMessage", "D0BOB")
	if !strings.Contains(again.text(), "Total amount: ~2500~ → *1800*") || !slices.Contains(again.buttons(), "v1|approve|PR-1|manager|2|") {
		t.Errorf("bob's round 2 card: %s %v", again.text(), again.buttons())
	}
	h.click("U0BOB", "v1|approve|PR-1|manager|2|", "D0BOB")
	calls = step("bob approves 1800")
	round2 := find(calls, "chat.postMessage", "D0CAROL")
	if !strings.Contains(round2.text(), "Changed since the last round") || !strings.Contains(round2.text(), "Total amount: ~2500~ → *1800*") ||
		!strings.Contains(round2.text(), "Round 2") || !slices.Contains(round2.buttons(), "v1|approve|PR-1|finance|2|") {
		t.Errorf("round 2 card: %s %v", round2.text(), round2.buttons())
	}

	// Nobody acts for a day: reminders in the cards' threads (also shown
	// in the DMs), and the first escalation rung posts to #finance.
	if n := h.rig.Advance(24 * time.Hour); n == 0 {
		t.Fatal("no timer fired after a day")
	}
	calls = step("a day later: reminders and #finance escalation")
	rem := find(calls, "chat.postMessage", "D0CAROL in thread")
	if rem.str("reply_broadcast") != "true" || !strings.Contains(rem.text(), "Reminder 1 of 2") || rem.str("thread_ts") != round2.TS {
		t.Errorf("reminder %s (thread %s) is not a broadcast reply to Carol's round 2 card (%s)", rem.summary(), rem.str("thread_ts"), round2.TS)
	}
	find(calls, "chat.postMessage", "C0FINANCE: Escalation: Purchase request PR-1")

	// At the due time the assignees' manager gets an escalation DM with buttons.
	h.rig.Advance(24 * time.Hour)
	calls = step("two days later: escalation to dana")
	esc := find(calls, "chat.postMessage", "D0DANA")
	if !strings.Contains(esc.text(), "has waited 2 d at Finance approval; it waits on Carol Diaz and Frank Osei") || !slices.Contains(esc.buttons(), "v1|approve|PR-1|finance|2|") ||
		!slices.Contains(esc.buttons(), "v1|reassign|PR-1|finance|2|") {
		t.Errorf("escalation DM: %s %v", esc.text(), esc.buttons())
	}

	// Dana approves from the escalation: every copy of the task is closed,
	// Alice hears the outcome, #procurement is told. One update closes
	// them all; the notification text of each has the time in its
	// reader's zone (the working hours' in #finance).
	h.click("U0DANA", "v1|approve|PR-1|finance|2|", "D0DANA")
	calls = step("dana approves from the escalation DM")
	var updated []string
	compact := 0
	at := map[string]string{"C0FINANCE": "Sat 28 Nov 09:00 GMT", "D0CAROL": "Sat 28 Nov 04:00 EST", "D0FRANK": "Sat 28 Nov 04:00 EST", "D0DANA": "Sat 28 Nov 10:00 CET"}
	for _, c := range calls {
		if c.Method == "chat.update" {
			updated = append(updated, c.str("channel"))
			if len(c.buttons()) != 0 || !strings.Contains(c.text(), "Approved by Dana Kowalski") {
				t.Errorf("update still open: %s", c.summary())
			}
			if !strings.HasSuffix(c.str("text"), "Approved by Dana Kowalski · "+at[c.str("channel")]) {
				t.Errorf("notification text of %s: %q, want the time %s", c.str("channel"), c.str("text"), at[c.str("channel")])
			}
			if len(c.blocks()) == 1 {
				compact++ // a reminder reply, closed to one line
			}
		}
	}
	if compact != 4 {
		t.Errorf("%d reminder replies closed to one line, want 4 (two reminders each for Carol and Frank)", compact)
	}
	slices.Sort(updated)
	if want := []string{"C0FINANCE", "D0CAROL", "D0CAROL", "D0CAROL", "D0DANA", "D0FRANK", "D0FRANK", "D0FRANK"}; !slices.Equal(updated, want) {
		t.Errorf("updated %v, want every card, reminder and escalation of round 2: %v", updated, want)
	}
	find(calls, "chat.postMessage", "D0ALICE: Approved: Purchase request PR-1")
	find(calls, "chat.postMessage", "C0PROCURE")
	if in := instance(); in.Status != flows.StatusCompleted || in.Outcome != "approved" {
		t.Fatalf("final status %s (%s)", in.Status, in.Outcome)
	}

	// The timeline answers /baton status privately, with the refusals in it.
	tl := mustString(t, h.command("U0ALICE", "status pr-1"))
	for _, w := range []string{"ephemeral", "Carol Diaz tried to approve (refused)", "Over the team budget; split it", "round 2: Approved by Dana Kowalski"} {
		if !strings.Contains(tl, w) {
			t.Errorf("status lacks %q", w)
		}
	}
	step("alice: /baton status PR-1")

	// Nothing is left to deliver, no timer is pending; the audit verifies.
	if outbox, timers, _ := h.rig.Store.Pending(t.Context()); outbox != 0 || timers != 0 {
		t.Fatalf("left over: %d outbox entries, %d timers", outbox, timers)
	}
	audit, err := h.rig.Store.Audit(t.Context(), "PR-1")
	if err != nil || flows.VerifyChain(audit) != nil {
		t.Fatalf("audit: %v", err)
	}
	golden(t, "e2e_purchase", []byte(strings.Join(conversation, "\n")+"\n"))
}

func mustString(t testing.TB, v any) string {
	t.Helper()
	return string(mustJSON(t, v))
}

// TestClosedForOneTimeIsASlackDate: a task that closes for one person
// while the step goes on without them (one of a security quorum of two
// approves; another's task is reassigned) closes their card with its time
// as a Slack date, which each reader sees in their own zone, as every other
// closed card; the text the engine wrote (in their zone) is its fallback,
// and the notification text's time.
func TestClosedForOneTimeIsASlackDate(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	out, err := h.rig.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventStart, Key: "slack:trigger-access", Actor: "alice", Platform: "slack", Flow: "access",
		Data: map[string]string{"system": "aws", "level": "admin", "reason": "on call for the database"}})
	if err != nil || !out.OK {
		t.Fatalf("start: %v %+v", err, out)
	}
	h.settle()
	h.click("U0BOB", "v1|approve|AR-1|manager|1|", "D0BOB")
	h.settle()
	h.takeSummaries()
	dateOf := func(who, dm string, want, notified string) {
		t.Helper()
		calls := h.api.take(&h.seen)
		for _, c := range calls {
			if c.Method != "chat.update" || c.str("channel") != dm {
				continue
			}
			if len(c.buttons()) != 0 || !strings.Contains(c.text(), want) {
				t.Errorf("%s's closed card: %s %v, want %q", who, c.text(), c.buttons(), want)
			}
			if !strings.HasSuffix(c.str("text"), notified) {
				t.Errorf("%s's closed card's notification text: %q, want it to end %q", who, c.str("text"), notified)
			}
			return
		}
		t.Fatalf("%s's card was not closed:\n%s", who, summarize(calls))
	}

	// Erin (Seoul) approves at 09:00 UTC; Gus's card stays open.
	h.click("U0ERIN", "v1|approve|AR-1|security|1|", "D0ERIN")
	h.settle()
	dateOf("Erin", "D0ERIN", "*Approved by Erin Park · <!date^1795683600^{date_short_pretty} {time}|Thu 26 Nov 18:00 KST>*",
		"Approved by Erin Park · Thu 26 Nov 18:00 KST")
	// Gus (Paris) hands his task to Olivia an hour later.
	h.rig.Clock.Advance(time.Hour)
	out, err = h.rig.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventReassign, Key: "slack:reassign-gus", Actor: "gus", Platform: "slack",
		Instance: "AR-1", Step: "security", Round: 1, Target: "olivia"})
	if err != nil || !out.OK {
		t.Fatalf("reassign: %v %+v", err, out)
	}
	h.settle()
	dateOf("Gus", "D0GUS", "Gus Ahmed · <!date^1795687200^{date_short_pretty} {time}|Thu 26 Nov 11:00 CET>*",
		"Reassigned by Gus Ahmed · Thu 26 Nov 11:00 CET")
}
