package slack

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/batonbot/baton/flows"
)

// TestCommands: /baton answers privately in the acknowledgement; alone it
// is help with a button to start each flow, which opens the flow's form.
func TestCommands(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	help := h.command("U0ALICE", "")
	if help["response_type"] != "ephemeral" {
		t.Fatalf("/baton is not private: %v", help)
	}
	var starts []string
	for _, b := range help["blocks"].([]any) {
		if b.(map[string]any)["type"] == "actions" {
			for _, e := range b.(map[string]any)["elements"].([]any) {
				starts = append(starts, e.(map[string]any)["value"].(string))
			}
		}
	}
	if want := []string{"v1|start|||0|access", "v1|start|||0|content", "v1|start|||0|purchase"}; !slices.Equal(starts, want) {
		t.Errorf("help buttons %v, want %v", starts, want)
	}
	h.click("U0ALICE", "v1|start|||0|content", "C0GENERAL")
	h.a.Wait()
	form := h.api.Calls()[0]
	if form.Method != "views.open" || !strings.Contains(form.str("view"), `"callback_id":"baton.start"`) || !strings.Contains(form.text(), "Editor") {
		t.Fatalf("start button opened %s", form.summary())
	}

	for text, want := range map[string]string{
		"strat purchase":  `I don't know the command \"strat\". Did you mean \"start\"?`,
		"start purchse":   `There is no flow called \"purchse\". Did you mean \"purchase\"?`,
		"tasks":           "Nothing is waiting on you.",
		"requests":        "You have no requests yet.",
		"status PR-404":   "There is no request PR-404.",
		"cancel PR-404 x": "There is no request PR-404.",
	} {
		got := mustString(t, h.command("U0ALICE", text))
		if !strings.Contains(got, want) || !strings.Contains(got, `"response_type": "ephemeral"`) {
			t.Errorf("/baton %s: got %s, want %q", text, got, want)
		}
	}

	// Bob's tasks come with their buttons; Alice can withdraw hers.
	h.startPurchase("500")
	tasks := h.command("U0BOB", "tasks")
	if s := mustString(t, tasks); !strings.Contains(s, "v1|approve|PR-1|manager|1|") || !strings.Contains(s, "Purchase request PR-1: Laptop (EUR 500)") {
		t.Errorf("bob's tasks: %s", s)
	}
	if s := mustString(t, h.command("U0ALICE", "cancel pr-1 bought it myself")); !strings.Contains(s, "Withdrew PR-1.") {
		t.Errorf("cancel: %s", s)
	}
	h.settle()
	if in, _ := h.rig.Svc.Instance(t.Context(), "PR-1"); in.Status != flows.StatusWithdrawn {
		t.Fatalf("PR-1 is %s after cancel", in.Status)
	}
	// A failed views.open (an expired trigger) is explained through the
	// command's response_url.
	h.api.failNext("views.open", "expired_trigger_id")
	h.command("U0ALICE", "start purchase")
	calls := h.api.waitFor("the explanation", func(c []apiCall) bool {
		return slices.ContainsFunc(c, func(c apiCall) bool { return strings.HasPrefix(c.Method, "response/cmd-") })
	})
	if last := calls[len(calls)-1]; !strings.Contains(last.summary(), "I could not open the Purchase request form") || !strings.Contains(last.summary(), "click again") ||
		strings.Contains(last.summary(), "views.open") || strings.Contains(last.summary(), "expired_trigger_id") {
		t.Errorf("failed form: %s", last.summary())
	}
	// A repeated command whose form the first one opened: nothing to say.
	h.api.failNext("views.open", "exchanged_trigger_id")
	before := len(h.api.Calls())
	h.command("U0ALICE", "start purchase")
	h.a.Wait()
	for _, c := range h.api.Calls()[before:] {
		if strings.HasPrefix(c.Method, "response/cmd-") {
			t.Errorf("a repeated command was answered: %s", c.summary())
		}
	}
}

// TestReassignAndDelegation: Reassign opens a person picker; the task
// moves, the old card is closed, the new assignee gets a card.
func TestReassign(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startPurchase("500")
	h.seen = len(h.api.Calls())
	h.click("U0BOB", "v1|reassign|PR-1|manager|1|", "D0BOB")
	h.a.Wait()
	picker := h.api.take(&h.seen)[0]
	if picker.Method != "views.open" || !strings.Contains(picker.str("view"), "users_select") {
		t.Fatalf("reassign opened %s", picker.summary())
	}
	meta := picker.Params["view"].(map[string]any)["private_metadata"].(string)
	// Nobody picked: refused next to the picker.
	ack := h.submit("U0BOB", "V0RE", cbReassign, meta, map[string]map[string]any{"target": userPicked("")})
	if ack["response_action"] != "errors" || !strings.Contains(mustString(t, ack), "Say who should take it over") {
		t.Fatalf("empty pick: %v", ack)
	}
	// The requester cannot approve her own request.
	ack = h.submit("U0BOB", "V0RE", cbReassign, meta, map[string]map[string]any{"target": userPicked("U0ALICE")})
	if !strings.Contains(mustString(t, ack), "Alice Martin made this request and may not approve it") {
		t.Fatalf("self approval: %v", ack)
	}
	ack = h.submit("U0BOB", "V0RE", cbReassign, meta, map[string]map[string]any{"target": userPicked("U0IVAN"), "reason": textInput("I am away")})
	if !strings.Contains(mustString(t, ack), "PR-1 is now with Ivan Petrov.") {
		t.Fatalf("reassign: %v", ack)
	}
	h.settle()
	got := h.takeSummaries()
	if len(got) != 3 || !strings.Contains(got[0], "chat.postMessage D0IVAN") || !strings.Contains(got[1], "chat.update D0BOB") ||
		!strings.Contains(got[1], "Reassigned by Bob Chen") || got[2] != "conversations.open U0IVAN" {
		t.Fatalf("after reassign Slack got:\n%s", strings.Join(got, "\n"))
	}
	// Somebody outside the directory works as themselves.
	h.click("U0IVAN", "v1|reassign|PR-1|manager|1|", "D0IVAN")
	h.a.Wait()
	meta = h.api.take(&h.seen)[0].Params["view"].(map[string]any)["private_metadata"].(string)
	ack = h.submit("U0IVAN", "V0RE2", cbReassign, meta, map[string]map[string]any{"target": userPicked("U0GUEST")})
	if !strings.Contains(mustString(t, ack), "PR-1 is now with <@U0GUEST>.") {
		t.Fatalf("reassign to a guest: %v", ack)
	}
	h.settle()
	guest := h.api.take(&h.seen)
	if c := guest[2]; c.Method != "chat.postMessage" || c.str("channel") != "D0GUEST" || !strings.Contains(c.text(), "Reassigned to you by Ivan Petrov") {
		t.Fatalf("guest card: %s\n%s", summarize(guest), c.text())
	}
	// Ivan's closed card names the guest with a mention, not an id.
	for _, c := range guest {
		if c.Method == "chat.update" && c.str("channel") == "D0IVAN" &&
			(!strings.Contains(c.text(), "Now with <@U0GUEST>") || strings.Contains(c.text()+c.str("text"), "slack:U0GUEST")) {
			t.Errorf("Ivan's closed card: %s / %s", c.text(), c.str("text"))
		}
	}
	h.click("U0GUEST", "v1|approve|PR-1|manager|1|", "D0GUEST")
	h.settle()
	if in, _ := h.rig.Svc.Instance(t.Context(), "PR-1"); in.Status != flows.StatusCompleted || in.History[0].By != "slack:U0GUEST" {
		t.Fatalf("guest approval: %s %+v", in.Status, in.History)
	}
	// The requester's outcome names the guest with a mention.
	var outcome apiCall
	for _, c := range h.api.take(&h.seen) {
		if c.str("channel") == "D0ALICE" {
			outcome = c
		}
	}
	if !strings.Contains(outcome.text(), "approved by <@U0GUEST>") {
		t.Errorf("outcome does not mention the guest: %s", outcome.text())
	}
	// So does the timeline.
	if status := mustString(t, h.command("U0ALICE", "status PR-1")); !strings.Contains(status, "<@U0GUEST>") || strings.Contains(status, "slack:U0GUEST") {
		t.Errorf("the timeline names the guest by id: %s", status)
	}
}

// accessToGrant starts AR-1, Erin's access request, and has Dana approve
// it: it waits on Erin's task "Grant the access", which has outputs.
func (h *harness) accessToGrant() {
	h.t.Helper()
	ctx := h.t.Context()
	out, err := h.rig.Svc.Handle(ctx, flows.Event{Kind: flows.EventStart, Key: "ar", Flow: "access", Actor: "erin",
		Data: map[string]string{"system": "github", "reason": "on-call"}})
	if err != nil || !out.OK {
		h.t.Fatal(err, out)
	}
	if out, err = h.rig.Svc.Handle(ctx, flows.Event{Kind: flows.EventApprove, Key: "ar-ok", Instance: "AR-1", Actor: "dana"}); err != nil || !out.OK {
		h.t.Fatal(err, out)
	}
	h.settle()
}

// TestTaskOutputs: Mark done on a task with outputs opens a form of them;
// errors show next to the fields.
func TestTaskOutputs(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	h.accessToGrant()
	h.seen = len(h.api.Calls())
	h.click("U0ERIN", "v1|done|AR-1|grant|1|", "D0ERIN")
	h.a.Wait()
	form := h.api.take(&h.seen)[0]
	if form.Method != "views.open" || !strings.Contains(form.text(), "Account name") {
		t.Fatalf("done opened %s", form.summary())
	}
	meta := form.Params["view"].(map[string]any)["private_metadata"].(string)
	ack := h.submit("U0ERIN", "V0DONE", cbDone, meta, map[string]map[string]any{"account": textInput("")})
	if ack["response_action"] != "errors" || ack["errors"].(map[string]any)["account"] != "Account name is required" {
		t.Fatalf("empty output: %v", ack)
	}
	ack = h.submit("U0ERIN", "V0DONE", cbDone, meta, map[string]map[string]any{"account": textInput("erin-gh")})
	if !strings.Contains(mustString(t, ack), "Done AR-1. The request is complete.") {
		t.Fatalf("done: %v", ack)
	}
	h.settle()
	if in, _ := h.rig.Svc.Instance(ctx, "AR-1"); in.Data["account"] != "erin-gh" {
		t.Fatalf("output not kept: %v", in.Data)
	}
}

// TestAppHomeClicks: buttons on the App Home act like the card's; answers
// that need showing open a modal (there is no conversation to answer in).
func TestAppHomeClicks(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startPurchase("500")
	h.seen = len(h.api.Calls())
	h.click("U0CAROL", "v1|approve|PR-1|manager|1|", "") // not hers
	h.click("U0ALICE", "v1|status|PR-1||0|", "")
	h.a.Wait()
	var modals []string
	for _, c := range h.api.take(&h.seen) {
		if c.Method == "views.open" {
			modals = append(modals, c.text())
		}
	}
	slices.Sort(modals)
	if len(modals) != 2 || !strings.Contains(modals[0], "is assigned to Bob Chen") || !strings.Contains(modals[1], "Status: running") {
		t.Fatalf("home answers: %q", modals)
	}
	h.click("U0BOB", "v1|approve|PR-1|manager|1|", "")
	if in, _ := h.rig.Svc.Instance(t.Context(), "PR-1"); in.Status != flows.StatusCompleted {
		t.Fatalf("approve from the home: %s", in.Status)
	}
}

// TestFormsOnlyForWhoMayAct: Reassign, Mark done and Edit and resubmit
// open their forms only for who may act; anyone else is told why at the
// click, with no form (a resubmission form shows the request's data).
func TestFormsOnlyForWhoMayAct(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	h.startPurchase("500") // PR-1 waits on Bob
	h.accessToGrant()
	for _, c := range []struct{ user, value, want string }{
		{"U0CAROL", "v1|reassign|PR-1|manager|1|", "PR-1 (Manager approval) is assigned to Bob Chen"},
		{"U0CAROL", "v1|resubmit|PR-1|manager|1|", "Only Alice Martin, who made PR-1, can resubmit it."},
		{"U0ALICE", "v1|resubmit|PR-1|manager|1|", "PR-1 is running; only a request sent back to you can be resubmitted."},
		{"U0BOB", "v1|done|AR-1|grant|1|", "AR-1 (Grant the access) is assigned to Erin Park"},
	} {
		h.seen = len(h.api.Calls())
		h.click(c.user, c.value, "D0X")
		h.a.Wait()
		calls := h.api.take(&h.seen)
		if len(calls) == 0 || !strings.HasPrefix(calls[0].Method, "response/") || !strings.Contains(calls[0].text(), c.want) {
			t.Errorf("%s clicking %s: got %s, want a private answer %q", c.user, c.value, summarize(calls), c.want)
		}
	}
	// Nothing changed; the refused Reassign is on the record, as a refused
	// decision is.
	in, _ := h.rig.Svc.Instance(ctx, "PR-1")
	if in.Tasks[0].Assignee != "bob" || in.Tasks[0].Decision != flows.Pending || in.Status != flows.StatusRunning {
		t.Fatalf("a refused click changed the request: %s %+v", in.Status, in.Tasks)
	}
	audit, err := h.rig.Store.Audit(ctx, "PR-1")
	if err != nil {
		t.Fatal(err)
	}
	if last := audit[len(audit)-1]; last.Action != string(flows.EventReassign) || !last.Refused || last.Actor != "carol" {
		t.Fatalf("last audit entry %+v, want carol's refused reassign", last)
	}
}

// TestSnoozeMenu: Bob picks "In 3 hours" in his card's Remind me later
// menu: he is told privately when; three hours on, the reminder comes in
// his card's thread. Carol's pick on his card is refused.
func TestSnoozeMenu(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startPurchase("500") // PR-1 waits on Bob
	h.settle()
	pick := func(user, value string) []apiCall {
		t.Helper()
		h.seen = len(h.api.Calls())
		p := h.clickPayload(user, value, "D0BOB")
		act := p["actions"].([]any)[0].(map[string]any)
		delete(act, "value")
		act["type"] = "static_select"
		act["selected_option"] = map[string]any{"value": value, "text": map[string]any{"type": "plain_text", "text": "In 3 hours"}}
		if code, body := h.post(PathInteractions, formType, interactionBody(p)); code != http.StatusOK || len(body) != 0 {
			t.Fatalf("pick %s by %s: %d %s", value, user, code, body)
		}
		h.a.Wait()
		return h.api.take(&h.seen)
	}
	calls := pick("U0BOB", "v1|snooze|PR-1|manager|1|3h")
	if len(calls) != 1 || !strings.HasPrefix(calls[0].Method, "response/") || !strings.Contains(calls[0].text(), "I'll remind you about PR-1") {
		t.Fatalf("Bob's pick: %s", summarize(calls))
	}
	calls = pick("U0CAROL", "v1|snooze|PR-1|manager|1|1h")
	if len(calls) != 1 || !strings.Contains(calls[0].text(), "PR-1 is not waiting on you") {
		t.Fatalf("Carol's pick: %s", summarize(calls))
	}
	h.rig.Advance(3 * time.Hour)
	h.settle()
	var reminder *apiCall
	for _, c := range h.api.take(&h.seen) {
		if c.Method == "chat.postMessage" && strings.Contains(c.text(), "You asked to be reminded") {
			reminder = &c
		}
	}
	if reminder == nil || reminder.str("channel") != "D0BOB" || reminder.str("thread_ts") == "" {
		t.Fatalf("no reminder in Bob's card's thread")
	}
}

// TestModalSummaryEscapedOnce: the line a reason, reassign or Mark done
// form opens with (which request) shows the request's title as typed,
// escaped for Slack once, not twice (which showed "&amp;" to people).
func TestModalSummaryEscapedOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	out, err := h.rig.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventStart, Key: "s-amp", Flow: "purchase", Actor: "alice",
		Data: map[string]string{"item": "Chairs & <desks>", "amount": "500", "justification": "a new office"}})
	if err != nil || !out.OK {
		t.Fatalf("start: %v %+v", err, out)
	}
	h.settle()
	h.seen = len(h.api.Calls())
	for _, button := range []string{"v1|reject|PR-1|manager|1|", "v1|reassign|PR-1|manager|1|"} {
		h.click("U0BOB", button, "D0BOB")
		h.a.Wait()
		form := h.api.take(&h.seen)[0]
		if text := form.text(); form.Method != "views.open" || !strings.Contains(text, "Chairs &amp; &lt;desks&gt;") || strings.Contains(text, "&amp;amp;") {
			t.Errorf("%s: the form's summary: %s", button, text)
		}
	}
}

// TestUnreadableButtonAnswered: a click on a button whose value Baton
// cannot read (an older card's, or a forged one) is answered, privately,
// with what to do instead, and changes nothing.
func TestUnreadableButtonAnswered(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startPurchase("500")
	h.seen = len(h.api.Calls())
	h.click("U0BOB", "v0|approve|PR-1|manager|1", "D0BOB")
	h.a.Wait()
	calls := h.api.take(&h.seen)
	if len(calls) != 1 || !strings.Contains(calls[0].summary(), "I could not read this button") {
		t.Fatalf("an unreadable click: %s", summarize(calls))
	}
	if in, _ := h.rig.Svc.Instance(t.Context(), "PR-1"); in.Status != flows.StatusRunning {
		t.Fatalf("an unreadable click changed PR-1: %s", in.Status)
	}
}

// Typed commands read Slack's markup as their author meant it: a person's
// mention whose name has a space is one person (the rest is the reason),
// a channel is its name, a link its address, and &, < and > are as typed.
func TestCommandMarkup(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startPurchase("500")
	if s := mustString(t, h.command("U0BOB", "delegate PR-1 <@U0CAROL|carol diaz> on leave")); !strings.Contains(s, "Carol Diaz can now decide PR-1") {
		t.Fatalf("delegate: %s", s)
	}
	if s := mustString(t, h.command("U0ALICE", "comment PR-1 R&amp;D &lt;kit&gt;: see <https://x.example/a|x.example/a> in <#C0FINANCE|finance>")); !strings.Contains(s, "Comment added to PR-1.") {
		t.Fatalf("comment: %s", s)
	}
	// A mention in the text (not the person a command takes) reads as a name.
	if s := mustString(t, h.command("U0ALICE", "comment PR-1 please check with <@U0CAROL|carol> first")); !strings.Contains(s, "Comment added to PR-1.") {
		t.Fatalf("comment: %s", s)
	}
	if s := mustString(t, h.command("U0BOB", "delegate PR-1 <@U0ZED|zed> on leave")); !strings.Contains(s, `\"@zed\" is not a person in the directory`) {
		t.Errorf("delegate to someone unknown: %s", s)
	}
	audit, err := h.rig.Store.Audit(t.Context(), "PR-1")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range audit {
		got = append(got, e.Action+": "+e.Reason)
	}
	for _, want := range []string{"delegated: on leave", "commented: R&D <kit>: see https://x.example/a in #finance", "commented: please check with @Carol Diaz first"} {
		if !slices.Contains(got, want) {
			t.Errorf("the trail lacks %q: %q", want, got)
		}
	}
}
