package teams

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
)

func (w *world) instance(id string) *flows.Instance {
	w.t.Helper()
	in, err := w.rig.Svc.Instance(w.t.Context(), id)
	if err != nil {
		w.t.Fatal(err)
	}
	return in
}

func wantCard(t testing.TB, what string, an answer, wants ...string) map[string]any {
	t.Helper()
	if an.StatusCode != http.StatusOK || an.Type != cardContentType {
		t.Fatalf("%s: answer %d %s %s, want a card", what, an.StatusCode, an.Type, an.Value)
	}
	c := an.card()
	mustContain(t, what, cardText(c), wants...)
	return c
}

func wantMessage(t testing.TB, what string, an answer, wants ...string) {
	t.Helper()
	if an.StatusCode != http.StatusOK || an.Type != "application/vnd.microsoft.activity.message" {
		t.Fatalf("%s: answer %d %s %s, want a message", what, an.StatusCode, an.Type, an.Value)
	}
	mustContain(t, what, an.message(), wants...)
}

// The purchase walk of the console's end-to-end test, done in Teams: typed
// commands, Adaptive Card forms and buttons (Action.Execute invokes answered
// in the HTTP response), cards updated everywhere, a reminder, escalations
// to a channel and to a manager Baton opens a chat with. It asserts what the
// Bot Connector received.
func TestPurchaseEndToEnd(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := t.Context()

	// Alice, Bob, Carol and Frank added Baton; the Finance team added it to
	// its channel. Dana never did.
	for _, p := range []string{"alice", "bob", "carol", "frank"} {
		w.install(p)
	}
	mustContain(t, "welcome", w.conn.last(t, chat("carol")).text(), "Hi, I'm Baton", "start purchase")
	if rec := w.post(w.activity("conversationUpdate", nil)); rec.Code != http.StatusOK {
		t.Fatalf("conversationUpdate: %d", rec.Code)
	}

	// Alice asks for the purchase form and sends it with mistakes: the form
	// comes back with the errors, and nothing is created.
	formMsg := w.say("alice", "start purchase")
	if formMsg.ReplyTo == "" {
		t.Error("the form is not a reply to Alice's message")
	}
	mustContain(t, "form", formMsg.text(), "Start: Purchase request", "What are you buying?", "Total amount", "Currency")
	an := w.click("alice", chat("alice"), formMsg.Card, formMsg.ID, verbStart, map[string]string{"f:item": "Laptop", "f:amount": "-5"})
	bad := wantCard(t, "bad form", an, "Please fix the fields marked below.", "Total amount must be at least 1", "Why is it needed? is required")
	if _, err := w.rig.Svc.Instance(ctx, "PR-1"); !errors.Is(err, flows.ErrNotFound) {
		t.Fatalf("a bad form created PR-1: %v", err)
	}
	an = w.click("alice", chat("alice"), bad, formMsg.ID, verbStart, map[string]string{"f:item": "Laptop", "f:amount": "2500",
		"f:currency": "EUR", "f:vendor": "Dell", "f:justification": "my old one broke down"})
	wantCard(t, "started", an, "Started PR-1 (Purchase request)", "Waiting on Bob Chen")
	// The same form sent twice (a double click, or a copy on another
	// device filled in otherwise) starts one request, and says so.
	an = w.click("alice", chat("alice"), bad, formMsg.ID, verbStart, map[string]string{"f:item": "Mouse", "f:amount": "20",
		"f:currency": "EUR", "f:vendor": "Dell", "f:justification": "my old one broke down"})
	wantCard(t, "double submit", an, "This form was sent already: it started PR-1. To start another request, type start purchase.")
	if _, err := w.rig.Svc.Instance(ctx, "PR-2"); !errors.Is(err, flows.ErrNotFound) {
		t.Fatalf("a double submit created PR-2: %v", err)
	}
	w.rig.Drain()

	bobCard := w.conn.last(t, chat("bob"))
	mustContain(t, "Bob's card", bobCard.text(), "Purchase request PR-1: Laptop", "Manager approval", "Requested by Alice Martin",
		"Escalates to Dana Kowalski (your manager) in 1 d", "Approve", "Reject", "Request changes", "Reassign")

	// Carol is not Bob: refused, told why, nothing changes.
	an = w.invoke("carol", chat("carol"), bobCard.ID, verbApprove, findAction(bobCard.Card, verbApprove, "PR-1")["data"].(map[string]any))
	wantMessage(t, "Carol's refusal", an, "assigned to Bob Chen")
	if in := w.instance("PR-1"); in.Step != "manager" || in.Tasks[0].Decision != flows.Pending {
		t.Fatalf("a refused click changed PR-1: %+v", in.Tasks)
	}

	// Bob approves: his card closes at once (the invoke's answer), then every
	// copy is updated through the connector.
	an = w.click("bob", chat("bob"), bobCard.Card, bobCard.ID, verbApprove, nil)
	closed := wantCard(t, "Bob's answer", an, "Approved by Bob Chen")
	if findAction(closed, verbApprove, "") != nil {
		t.Error("the closed card still has an Approve button")
	}
	w.rig.Drain()
	if got := w.conn.get(bobCard.ID); got.Versions < 2 || !strings.Contains(got.text(), "Approved by Bob Chen") || findAction(got.Card, verbApprove, "") != nil {
		t.Fatalf("Bob's card was not closed for everyone (%d versions):\n%s", got.Versions, got.text())
	}
	carolCard, frankCard := w.conn.last(t, chat("carol")), w.conn.last(t, chat("frank"))
	mustContain(t, "Carol's card", carolCard.text(), "Finance approval", "Waiting on Carol Diaz and Frank Osei")

	// Finance rejects: the reason is required, then the requester is told why.
	an = w.click("carol", chat("carol"), carolCard.Card, carolCard.ID, verbReject, nil)
	wantMessage(t, "reject without a reason", an, "A reason is required")
	an = w.click("carol", chat("carol"), carolCard.Card, carolCard.ID, verbReject, map[string]string{"reason:reject:PR-1": "Over the team budget; split it"})
	wantCard(t, "Carol's answer", an, "Rejected by Carol Diaz", "Over the team budget; split it")
	w.rig.Drain()
	mustContain(t, "Frank's card", w.conn.get(frankCard.ID).text(), "Rejected by Carol Diaz")
	rejected := w.conn.last(t, chat("alice"))
	mustContain(t, "Alice's rejection", rejected.text(), "Rejected: Purchase request PR-1", "Over the team budget; split it", "Edit and resubmit")

	// Frank's click on his (now stale) card is told who decided first.
	an = w.click("frank", chat("frank"), frankCard.Card, frankCard.ID, verbApprove, nil)
	wantMessage(t, "Frank's stale click", an, "already rejected by Carol Diaz")

	// Alice edits and resubmits a smaller amount: the form comes pre-filled.
	an = w.click("alice", chat("alice"), rejected.Card, rejected.ID, verbEdit, nil)
	edit := wantCard(t, "resubmit form", an, "Edit and resubmit PR-1", "Reason given: Over the team budget; split it", "Laptop", "Dell")
	if in := findInput(edit, "f:amount"); in == nil || in["value"] != 2500.0 {
		t.Fatalf("amount not pre-filled: %v", in)
	}
	an = w.click("alice", chat("alice"), edit, rejected.ID, verbResubmit, map[string]string{"f:item": "Laptop", "f:amount": "1800",
		"f:currency": "EUR", "f:vendor": "Dell", "f:justification": "my old one broke down", "note": "a cheaper model"})
	wantCard(t, "resubmitted", an, "Resubmitted PR-1: Manager approval is asked again first")
	// The same form sent again, changed: nothing changes, and it says so.
	an = w.click("alice", chat("alice"), edit, rejected.ID, verbResubmit, map[string]string{"f:item": "Laptop", "f:amount": "900",
		"f:currency": "EUR", "f:vendor": "Dell", "f:justification": "my old one broke down"})
	wantCard(t, "resubmitted twice", an, "This form was sent already: it resubmitted PR-1.")
	if in := w.instance("PR-1"); in.Data["amount"] != 1800.0 {
		t.Fatalf("the second copy changed the amount: %v", in.Data["amount"])
	}
	w.rig.Drain()
	// Bob approved the amount (the flow's reapprove_on): he is asked again
	// first, then finance.
	bob2 := w.conn.last(t, chat("bob"))
	mustContain(t, "Bob's round 2", bob2.text(), "Round 2", "Total amount: ", "2500", "1800")
	an = w.click("bob", chat("bob"), bob2.Card, bob2.ID, verbApprove, nil)
	wantCard(t, "Bob's second answer", an, "Approved by Bob Chen")
	w.rig.Drain()
	carol2 := w.conn.last(t, chat("carol"))
	mustContain(t, "Carol's round 2", carol2.text(), "Round 2", "Changed since you last saw it", "Total amount: ", "2500", "1800")

	// Nobody acts. After a day: a reminder in the thread of Carol's card, and
	// the escalation rung posts to #finance.
	if n := w.rig.Advance(24 * time.Hour); n == 0 {
		t.Fatal("no timer fired after a day")
	}
	reminder := w.conn.last(t, chat("carol"))
	if reminder.ReplyTo != carol2.ID {
		t.Errorf("the reminder replies to %q, want Carol's card %q", reminder.ReplyTo, carol2.ID)
	}
	mustContain(t, "Carol's reminder", reminder.text(), "Reminder 1 of 2")
	mustContain(t, "#finance", w.conn.last(t, "19:finance@thread.tacv2").text(), "Escalation: Purchase request PR-1", "has waited 1 d at Finance approval; it waits on Carol Diaz and Frank Osei")

	// At the due time the step escalates to the assignees' manager, Dana:
	// Baton opens a chat with her by her Entra object id.
	w.rig.Advance(24 * time.Hour)
	danaChat := "a:created-" + danaAAD
	danaCard := w.conn.last(t, danaChat)
	mustContain(t, "Dana's escalation", danaCard.text(), "Escalation: Purchase request PR-1", "You can decide it for the whole step, or reassign it")
	an = w.click("dana", danaChat, danaCard.Card, danaCard.ID, verbApprove, nil)
	wantCard(t, "Dana's answer", an, "Approved by Dana Kowalski")
	w.rig.Drain()

	if in := w.instance("PR-1"); in.Status != flows.StatusCompleted || in.Outcome != "approved" {
		t.Fatalf("final status %s (%s)", in.Status, in.Outcome)
	}
	mustContain(t, "Alice's outcome", w.conn.last(t, chat("alice")).text(), "Approved: Purchase request PR-1", "Finance approval: approved by Dana Kowalski")
	mustContain(t, "#procurement", w.conn.last(t, "19:procurement@thread.tacv2").text(), "Alice Martin's purchase PR-1 may go ahead: Laptop from Dell, EUR 1800")
	mustContain(t, "Carol's closed card", w.conn.get(carol2.ID).text(), "Approved by Dana Kowalski")
	if findAction(w.conn.get(carol2.ID).Card, verbApprove, "") != nil {
		t.Error("Carol's round-2 card still has an Approve button")
	}

	// The timeline shows each step, its owner and who decided what, when and why.
	status := w.say("alice", "status pr-1")
	mustContain(t, "status", status.text(), "Approved by Bob Chen", "Over the team budget; split it", "Carol Diaz tried to approve (refused)", "completed (approved)")
	mustContain(t, "Carol's tasks", w.say("carol", "tasks").text(), "Nothing is waiting on you.")

	// One token, from the tenant's endpoint, for every call; no call without it.
	if n := w.tok.hits.Load(); n != 1 {
		t.Errorf("%d token requests, want 1 (cached)", n)
	}
	if _, ok := w.tok.paths.Load("/" + testTenant + "/oauth2/v2.0/token"); !ok {
		t.Error("the token did not come from the tenant's endpoint")
	}
	w.conn.mu.Lock()
	for i, h := range w.conn.auth {
		if h != "Bearer connector-token-1" {
			t.Errorf("connector call %d (%s) had Authorization %q", i, w.conn.calls[i], h)
		}
	}
	w.conn.mu.Unlock()
	if outbox, timers, _ := w.rig.Store.Pending(ctx); outbox != 0 || timers != 0 {
		t.Fatalf("left over: %d outbox entries, %d timers", outbox, timers)
	}
}

func findInput(c any, id string) map[string]any {
	switch x := c.(type) {
	case map[string]any:
		if x["id"] == id {
			return x
		}
		for _, v := range x {
			if in := findInput(v, id); in != nil {
				return in
			}
		}
	case []any:
		for _, e := range x {
			if in := findInput(e, id); in != nil {
				return in
			}
		}
	}
	return nil
}

// fakeSlack stands in for the Slack adapter: another platform's Messenger
// that records what it was asked to send and update.
type fakeSlack struct {
	dir  *flows.Directory
	mu   sync.Mutex
	n    int
	msgs map[string]*flows.Message // ref -> latest
	to   map[string]string         // ref -> person
}

func (s *fakeSlack) Platform() string { return "slack" }

func (s *fakeSlack) Reach(to flows.Recipient) (bot.Address, bool) {
	if id := s.dir.Identity(to.Person, "slack"); id != "" {
		return bot.Address{Person: to.Person, ID: id}, true
	}
	return bot.Address{}, false
}

func (s *fakeSlack) Send(_ context.Context, to bot.Address, m *flows.Message, _ string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	ref := fmt.Sprintf("slack-%d", s.n)
	s.msgs[ref], s.to[ref] = m, to.Person
	return ref, nil
}

func (s *fakeSlack) Update(_ context.Context, ref string, m *flows.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs[ref] = m
	return nil
}

// last is the newest message sent to person.
func (s *fakeSlack) last(person string) (string, *flows.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := s.n; i > 0; i-- {
		ref := fmt.Sprintf("slack-%d", i)
		if s.to[ref] == person {
			return ref, s.msgs[ref]
		}
	}
	return "", nil
}

func (s *fakeSlack) get(ref string) *flows.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.msgs[ref]
}

// One flow across both platforms: started in Slack by Alice, decided in
// Teams by Bob (who has only Teams), then decided in Slack by Carol (who has
// both): her Teams card, and Frank's, are closed by her Slack decision.
func TestAcrossSlackAndTeams(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	slack := &fakeSlack{dir: w.rig.Engine.Directory(), msgs: map[string]*flows.Message{}, to: map[string]string{}}
	w.rig.Use(slack)
	ctx := t.Context()

	out, err := w.rig.Svc.Handle(ctx, flows.Event{Kind: flows.EventStart, Key: "slack:trigger-1", Actor: "alice", Platform: "slack", Flow: "purchase",
		Data: map[string]string{"item": "Monitor", "amount": "1500", "justification": "a second screen for reviews"}})
	if err != nil || !out.OK {
		t.Fatalf("start from Slack: %v %+v", err, out)
	}
	w.rig.Drain()
	if ref, _ := slack.last("bob"); ref != "" {
		t.Error("Bob has no Slack identity, yet got a Slack message")
	}
	// Bob was never in touch with Baton in Teams: Baton opens his chat.
	bobChat := "a:created-" + teamsID("bob")
	bobCard := w.conn.last(t, bobChat)
	mustContain(t, "Bob's Teams card", bobCard.text(), "Purchase request "+out.Instance, "Monitor")
	wantCard(t, "Bob approves in Teams", w.click("bob", bobChat, bobCard.Card, bobCard.ID, verbApprove, nil), "Approved by Bob Chen")
	w.rig.Drain()

	// Carol gets the finance card on both platforms, Frank in Teams.
	carolSlackRef, carolSlack := slack.last("carol")
	if carolSlack == nil || carolSlack.Step != "finance" {
		t.Fatalf("Carol's Slack card: %+v", carolSlack)
	}
	carolTeams := w.conn.last(t, "a:created-"+teamsID("carol"))
	frankTeams := w.conn.last(t, "a:created-"+teamsID("frank"))
	mustContain(t, "Carol's Teams card", carolTeams.text(), "Finance approval")

	// Carol approves in Slack: the cards in Teams close.
	out, err = w.rig.Svc.Handle(ctx, flows.Event{Kind: flows.EventApprove, Key: "slack:click-1", Actor: "carol", Platform: "slack",
		Instance: out.Instance, Step: carolSlack.Step, Round: carolSlack.Round})
	if err != nil || !out.OK {
		t.Fatalf("approve in Slack: %v %+v", err, out)
	}
	w.rig.Drain()
	for who, p := range map[string]*posted{"Carol": carolTeams, "Frank": frankTeams} {
		got := w.conn.get(p.ID)
		mustContain(t, who+"'s Teams card", got.text(), "Approved by Carol Diaz")
		if findAction(got.Card, verbApprove, "") != nil {
			t.Errorf("%s's Teams card still has an Approve button", who)
		}
	}
	if m := slack.get(carolSlackRef); m.Outcome == "" {
		t.Error("Carol's Slack card was not closed")
	}
	// Alice hears the outcome on both platforms.
	if _, m := slack.last("alice"); m == nil || !strings.HasPrefix(m.Title, "Approved") {
		t.Errorf("Alice's last Slack message: %+v", m)
	}
	mustContain(t, "Alice's Teams outcome", w.conn.last(t, "a:created-"+teamsID("alice")).text(), "Approved: Purchase request")
}

// Request changes asks for a reason on the card, sends the request back
// with the reason, and the requester may withdraw it from there.
func TestRequestChangesThenWithdraw(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	bob := chairForBob(t, w)
	wantMessage(t, "no reason", w.click("bob", chat("bob"), bob.Card, bob.ID, verbChanges, map[string]string{"reason:changes:PR-1": "  "}), "A reason is required")
	wantCard(t, "changes", w.click("bob", chat("bob"), bob.Card, bob.ID, verbChanges, map[string]string{"reason:changes:PR-1": "Pick one from the catalogue"}),
		"Changes requested by Bob Chen", "Pick one from the catalogue")
	w.rig.Drain()
	back := w.conn.last(t, chat("alice"))
	mustContain(t, "Alice's card", back.text(), "Changes requested: Purchase request PR-1", "Pick one from the catalogue", "Edit and resubmit", "Withdraw")
	// Only Alice may resubmit or withdraw.
	wantMessage(t, "Bob edits", w.click("bob", chat("bob"), back.Card, back.ID, verbEdit, nil), "Only Alice Martin")
	wantMessage(t, "Bob withdraws", w.click("bob", chat("bob"), back.Card, back.ID, verbWithdraw, nil), "Only Alice Martin")
	// Withdraw asks first (it cannot be undone), with an optional reason.
	mustContain(t, "Alice's Withdraw", back.text(), "Withdraw PR-1? The request is closed and the people at its current step are told. This cannot be undone.")
	wantCard(t, "Alice withdraws", w.click("alice", chat("alice"), back.Card, back.ID, verbWithdraw,
		map[string]string{reasonID(verbWithdraw, "PR-1"): "bought it myself"}), "Withdrew PR-1")
	if in := w.instance("PR-1"); in.Status != flows.StatusWithdrawn || in.Outcome != "bought it myself" {
		t.Fatalf("PR-1 is %s (%q)", in.Status, in.Outcome)
	}
	wantMessage(t, "edit after withdrawing", w.click("alice", chat("alice"), back.Card, back.ID, verbEdit, nil), "withdrawn")
}

// The typed commands of the manifest's command list, and their buttons.
func TestTypedCommands(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	mustContain(t, "help", w.say("alice", "help").text(), "Baton: start and track requests", "start <flow>", "Start Purchase request", "Start Access request")
	mustContain(t, "typo", w.say("alice", "strat purchase").text(), `Did you mean "start"?`)
	mustContain(t, "unknown flow", w.say("alice", "start purchse").text(), `Did you mean "purchase"?`)
	mustContain(t, "no requests", w.say("alice", "requests").text(), "You have no requests yet")

	form := w.say("alice", "start purchase")
	wantCard(t, "started", w.click("alice", chat("alice"), form.Card, form.ID, verbStart,
		map[string]string{"f:item": "Desk", "f:amount": "250", "f:justification": "standing desk for my back"}), "Started PR-1")
	requests := w.say("alice", "requests")
	mustContain(t, "requests", requests.text(), "Purchase request PR-1: Desk", "Waiting on Bob Chen")
	wantCard(t, "status button", w.click("alice", chat("alice"), requests.Card, requests.ID, verbStatus, nil), "Status: running", "Manager approval", "Waiting on Bob Chen")
	wantMessage(t, "someone else's status", w.invoke("frank", chat("frank"), "", verbStatus, map[string]any{keyInstance: "PR-1"}), "not one of your requests")
	mustContain(t, "cancel", w.say("alice", "cancel PR-1 bought one myself").text(), "Withdrew PR-1")
	if in := w.instance("PR-1"); in.Status != flows.StatusWithdrawn || in.Outcome != "bought one myself" {
		t.Fatalf("PR-1: %s %q", in.Status, in.Outcome)
	}
}

// chairForBob has Alice (who, like Bob, added Baton) ask for a chair, PR-1,
// and returns the card Bob gets.
func chairForBob(t *testing.T, w *world) *posted {
	t.Helper()
	w.install("alice")
	w.install("bob")
	form := w.say("alice", "start purchase")
	wantCard(t, "started", w.click("alice", chat("alice"), form.Card, form.ID, verbStart,
		map[string]string{"f:item": "Chair", "f:amount": "300", "f:justification": "my back hurts"}), "Started PR-1")
	w.rig.Drain()
	return w.conn.last(t, chat("bob"))
}

// TestSnoozeCard: Remind me later on Bob's card asks when; his pick is
// answered with when (his card stays as it is), and the reminder comes
// in the thread of his card. The command does the same, typed.
func TestSnoozeCard(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	bob := chairForBob(t, w)
	choice := findInput(bob.Card, inSnooze+"PR-1")
	if choice == nil || choice["type"] != "Input.ChoiceSet" || len(choice["choices"].([]any)) != len(flows.SnoozeChoices) {
		t.Fatalf("Bob's card has no choice of when: %v", choice)
	}
	wantMessage(t, "bad pick", w.click("bob", chat("bob"), bob.Card, bob.ID, verbSnooze, map[string]string{inSnooze + "PR-1": "someday"}), "Say when to remind you")
	wantMessage(t, "Bob's pick", w.click("bob", chat("bob"), bob.Card, bob.ID, verbSnooze, map[string]string{inSnooze + "PR-1": "3h"}),
		"I'll remind you about PR-1")
	mustContain(t, "typed", w.say("bob", "snooze PR-1 1h").text(), "I'll remind you about PR-1")
	w.rig.Advance(time.Hour)
	reminder := w.conn.last(t, chat("bob"))
	mustContain(t, "Bob's reminder", reminder.text(), "You asked to be reminded: Manager approval has been waiting on you for 1 h.")
	if reminder.ReplyTo != bob.ID {
		t.Errorf("the reminder replies to %q, want Bob's card %q", reminder.ReplyTo, bob.ID)
	}
}

// laptopForFinance has Alice (who, like Bob, Carol and Frank, added Baton)
// ask for a laptop above finance's threshold, PR-1, and returns Bob's card.
func laptopForFinance(t *testing.T, w *world) *posted {
	t.Helper()
	for _, p := range []string{"alice", "bob", "carol", "frank"} {
		w.install(p)
	}
	form := w.say("alice", "start purchase")
	wantCard(t, "started", w.click("alice", chat("alice"), form.Card, form.ID, verbStart,
		map[string]string{"f:item": "Laptop", "f:amount": "2500", "f:justification": "my old one broke down"}), "Started PR-1")
	w.rig.Drain()
	return w.conn.last(t, chat("bob"))
}

// TestDecisionTimeInTheReadersZone: the card a click closes, at once for
// the clicker (the invoke's answer) and then every copy of it, says when
// the decision was made in the reader's own timezone, as every other time
// Baton shows them: Bob's in London's, Carol's and Frank's in New York's;
// not in UTC.
func TestDecisionTimeInTheReadersZone(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	bob := laptopForFinance(t, w)
	wantCard(t, "Bob's answer", w.click("bob", chat("bob"), bob.Card, bob.ID, verbApprove, nil), "Approved by Bob Chen · Thu 26 Nov 09:00 GMT")
	w.rig.Drain()
	mustContain(t, "Bob's card", w.conn.get(bob.ID).text(), "Approved by Bob Chen · Thu 26 Nov 09:00 GMT")

	w.rig.Clock.Advance(90 * time.Minute) // 10:30 UTC, 05:30 in New York
	carol, frank := w.conn.last(t, chat("carol")), w.conn.last(t, chat("frank"))
	wantCard(t, "Carol's answer", w.click("carol", chat("carol"), carol.Card, carol.ID, verbApprove, nil), "Approved by Carol Diaz · Thu 26 Nov 05:30 EST")
	w.rig.Drain()
	for who, p := range map[string]*posted{"Carol": carol, "Frank": frank} {
		got := w.conn.get(p.ID).text()
		mustContain(t, who+"'s card", got, "Approved by Carol Diaz · Thu 26 Nov 05:30 EST")
		if strings.Contains(got, "UTC") {
			t.Errorf("%s's card shows UTC:\n%s", who, got)
		}
	}
}

// TestDecisionTimeWithoutAZone: someone the directory gives no timezone
// reads the time of their decision in the working hours' timezone (that of
// people without one, and of people outside the directory), as the other
// times Baton shows them.
func TestDecisionTimeWithoutAZone(t *testing.T) {
	t.Parallel()
	people := testDirectory(t).People()
	for i := range people {
		if people[i].ID == "bob" {
			people[i].Timezone = ""
		}
	}
	dir, err := flows.NewDirectory(people, testDirectory(t).Channels())
	if err != nil {
		t.Fatal(err)
	}
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	w := newWorldIn(t, dir.WithWorkingHours(&flows.WorkingHours{Days: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday},
		Start: 9 * time.Hour, End: 17 * time.Hour, Location: paris}))
	bob := laptopForFinance(t, w)
	wantCard(t, "Bob's answer", w.click("bob", chat("bob"), bob.Card, bob.ID, verbApprove, nil), "Approved by Bob Chen · Thu 26 Nov 10:00 CET")
	w.rig.Drain()
	mustContain(t, "Bob's card", w.conn.get(bob.ID).text(), "Approved by Bob Chen · Thu 26 Nov 10:00 CET")
}

// TestDelegateDecisionSaysForWhom: a delegate's click is answered with the
// card closed as the engine closes every copy of it: the decision is the
// delegate's, for the person whose task it was.
func TestDelegateDecisionSaysForWhom(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	laptopForFinance(t, w)
	out, err := w.rig.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventDelegate, Key: "d1", Instance: "PR-1", Actor: "bob", Platform: "teams", Target: "frank"})
	if err != nil || !out.OK {
		t.Fatalf("delegate: %+v %v", out, err)
	}
	w.rig.Drain()
	frank := w.conn.last(t, chat("frank"))
	wantCard(t, "Frank's answer", w.click("frank", chat("frank"), frank.Card, frank.ID, verbApprove, nil), "Approved by Frank Osei (for Bob Chen) · Thu 26 Nov")
	w.rig.Drain()
	mustContain(t, "Frank's card", w.conn.get(frank.ID).text(), "Approved by Frank Osei (for Bob Chen) · Thu 26 Nov")
}
