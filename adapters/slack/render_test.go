package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	slackgo "github.com/slack-go/slack"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/bot/bottest"
	"github.com/batonbot/baton/flows"
	"github.com/batonbot/baton/manifests"
)

// capture is a delivery platform that keeps every card it is given.
type capture struct {
	mu   sync.Mutex
	msgs []*flows.Message
}

func (c *capture) Platform() string { return "capture" }
func (c *capture) Reach(to flows.Recipient) (bot.Address, bool) {
	return bot.Address{Person: to.Person, Channel: to.Channel, ID: to.Person + to.Channel}, true
}
func (c *capture) Send(_ context.Context, _ bot.Address, m *flows.Message, _ string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, m)
	return fmt.Sprint(len(c.msgs)), nil
}
func (c *capture) Update(_ context.Context, _ string, m *flows.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, m)
	return nil
}

// first returns the first captured message matching pred.
func (c *capture) first(t *testing.T, what string, pred func(*flows.Message) bool) *flows.Message {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.msgs {
		if pred(m) {
			return m
		}
	}
	t.Fatalf("no %s among %d messages", what, len(c.msgs))
	return nil
}

// purchaseMessages runs a purchase through the engine and returns the
// cards each kind of moment produces, as the engine makes them, and the
// request's timeline before its timers fired (timers due at the same
// moment fire in any order). An access request then sits two hours, for a
// reminder on its own.
func purchaseMessages(t *testing.T) (*bottest.Rig, *capture, *flows.Message) {
	rig := bottest.NewWith(t, mustFlows(t), testDirectory(t), []string{"olivia"})
	c := &capture{}
	rig.Use(c)
	ctx := t.Context()
	handle := func(ev flows.Event) {
		t.Helper()
		ev.Key = fmt.Sprintf("k%d", time.Now().UnixNano())
		if out, err := rig.Svc.Handle(ctx, ev); err != nil || !out.OK {
			t.Fatalf("%s: %v %+v", ev.Kind, err, out)
		}
		rig.Drain()
	}
	handle(flows.Event{Kind: flows.EventStart, Flow: "purchase", Actor: "alice", Data: map[string]string{
		"item": "Laptop <b>& dock</b>", "amount": "2500", "vendor": "Dell", "justification": "my old one broke down", "link": "https://dell.example/xps"}})
	handle(flows.Event{Kind: flows.EventApprove, Instance: "PR-1", Actor: "bob"})
	handle(flows.Event{Kind: flows.EventReject, Instance: "PR-1", Actor: "carol", Reason: "Over the team budget; split it"})
	// Another vendor: not what the manager approved (the flow's
	// reapprove_on), so Bob's approval stands and he is told of the change.
	handle(flows.Event{Kind: flows.EventResubmit, Instance: "PR-1", Actor: "alice", Data: map[string]string{
		"item": "Laptop <b>& dock</b>", "amount": "2500", "vendor": "Lenovo", "justification": "my old one broke down"}})
	timeline, err := rig.Svc.Status(ctx, "alice", "PR-1")
	if err != nil {
		t.Fatal(err)
	}
	rig.Advance(24 * time.Hour)
	rig.Advance(24 * time.Hour)
	handle(flows.Event{Kind: flows.EventApprove, Instance: "PR-1", Actor: "dana"})
	handle(flows.Event{Kind: flows.EventStart, Flow: "access", Actor: "erin", Data: map[string]string{"system": "github", "reason": "on-call"}})
	rig.Advance(2 * time.Hour)
	return rig, c, timeline
}

func mustFlows(t testing.TB) []*flows.Definition {
	t.Helper()
	defs, err := flows.LoadDefinitions(manifests.Flows, "flows")
	if err != nil {
		t.Fatal(err)
	}
	return defs
}

// TestCardGolden renders each kind of card as Block Kit and compares it
// with testdata/card_*.golden; every rendering is also checked against
// Slack's limits.
func TestCardGolden(t *testing.T) {
	t.Parallel()
	rig, c, timeline := purchaseMessages(t)
	round := func(m *flows.Message) bool { return m.Round == 2 }
	cards := map[string]*flows.Message{
		"card_task": c.first(t, "task card", func(m *flows.Message) bool { return m.Kind == flows.MsgTask && m.Outcome == "" && m.Step == "manager" }),
		"card_closed": c.first(t, "closed card", func(m *flows.Message) bool {
			return m.Kind == flows.MsgTask && strings.HasPrefix(m.Outcome, "Rejected")
		}),
		"card_rejected": c.first(t, "rejection", func(m *flows.Message) bool {
			return m.Kind == flows.MsgOutcome && strings.HasPrefix(m.Title, "Rejected")
		}),
		"card_round2":   c.first(t, "round 2 card", func(m *flows.Message) bool { return m.Kind == flows.MsgTask && round(m) && m.Outcome == "" }),
		"card_reminder": c.first(t, "reminder", func(m *flows.Message) bool { return m.Kind == flows.MsgReminder && m.Flow == "access" }),
		"card_escalation": c.first(t, "escalation", func(m *flows.Message) bool {
			return m.Kind == flows.MsgEscalation && strings.Contains(m.Text, "You can decide")
		}),
		"card_approved": c.first(t, "outcome", func(m *flows.Message) bool {
			return m.Kind == flows.MsgOutcome && strings.HasPrefix(m.Title, "Approved")
		}),
		"card_notify": c.first(t, "notify step", func(m *flows.Message) bool { return m.Kind == flows.MsgInfo && m.Step == "order" }),
		"card_changed": c.first(t, "notice of a change", func(m *flows.Message) bool {
			return m.Kind == flows.MsgInfo && strings.HasPrefix(m.Title, "Changed after you approved it")
		}),
		"card_help": rig.Engine.Help("I don't know the command \"strat\". Did you mean \"start\"?"),
	}
	tasks, _ := rig.Svc.Command(t.Context(), "olivia", "slack", "k-tasks", "tasks")
	cards["card_tasklist"] = tasks.Message
	reqs, _ := rig.Svc.Command(t.Context(), "alice", "slack", "k-requests", "requests")
	cards["card_requests"] = reqs.Message
	cards["card_timeline"] = timeline
	for name, m := range cards {
		blocks := renderMessage(m, maxMessageBlocks)
		checkBlockKit(t, name, blocks, maxMessageBlocks)
		golden(t, name, mustJSON(t, map[string]any{"text": fallback(m), "blocks": blocks}))
	}
	// A reminder reply, once its task is closed, is one line.
	closedReply := renderClosedReply(c.first(t, "closed round 2", func(m *flows.Message) bool { return round(m) && strings.HasPrefix(m.Outcome, "Approved") }))
	checkBlockKit(t, "card_reply_closed", closedReply, maxMessageBlocks)
	golden(t, "card_reply_closed", mustJSON(t, closedReply))
}

// TestModalGolden renders the forms: each flow's start form (every field
// kind between them), the pre-filled resubmission, the reason, person and
// outputs modals.
func TestModalGolden(t *testing.T) {
	t.Parallel()
	rig, _, _ := purchaseMessages(t)
	dir := rig.Engine.Directory()
	pk := pickers{slackUser: func(p string) string { return dir.Identity(p, "slack") }}
	views := map[string]slackgo.ModalViewRequest{}
	for _, def := range rig.Engine.Flows() {
		views["modal_start_"+def.ID] = startModal(def, pk)
	}
	in, err := rig.Svc.Instance(t.Context(), "PR-1")
	if err != nil {
		t.Fatal(err)
	}
	def, _ := rig.Engine.Flow("purchase")
	in.Outcome = "Over the team budget; split it" // as it was when sent back
	views["modal_resubmit"] = resubmitModal(def, in, bot.FormValues(def, in), pk)
	act := flows.Action{Kind: flows.ActReject, Instance: "PR-1", Step: "finance", Round: 2}
	views["modal_reject"] = reasonModal(act, "*Purchase request PR-1: Laptop*")
	act.Kind = flows.ActChanges
	views["modal_changes"] = reasonModal(act, "*Purchase request PR-1: Laptop*")
	views["modal_reassign"] = reassignModal(act, "*Purchase request PR-1: Laptop*", pk)
	access, _ := rig.Engine.Flow("access")
	views["modal_done"] = doneModal(flows.Action{Kind: flows.ActDone, Instance: "AR-1", Step: "grant", Round: 1}, "*Access request AR-1*", access.Step("grant").Outputs, pk)
	views["modal_info"] = infoModal(textMessage("PR-1 was already approved by Bob Chen at Thu 26 Nov 10:00 GMT."))
	kinds := map[string]bool{}
	for name, v := range views {
		checkBlockKit(t, name, v.Blocks.BlockSet, maxViewBlocks)
		if n := utf8.RuneCountInString(v.Title.Text); n > maxViewTitle {
			t.Errorf("%s: title %q is %d characters (Slack allows %d)", name, v.Title.Text, n, maxViewTitle)
		}
		b := mustJSON(t, v)
		golden(t, name, b)
		for _, k := range []string{"plain_text_input", "number_input", "static_select", "datepicker", "users_select", "url_text_input"} {
			if strings.Contains(string(b), `"type": "`+k+`"`) {
				kinds[k] = true
			}
		}
	}
	if len(kinds) != 6 {
		t.Errorf("the forms use %v; every field kind should have its element", kinds)
	}
	// Resubmission is pre-filled with the request's values.
	if s := string(mustJSON(t, views["modal_resubmit"])); !strings.Contains(s, `"initial_value": "2500"`) || !strings.Contains(s, `"initial_value": "Lenovo"`) || !strings.Contains(s, `"value": "EUR"`) {
		t.Errorf("resubmit modal not pre-filled:\n%s", s)
	}
}

// TestHomeGolden renders a person's App Home.
func TestHomeGolden(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	for i, item := range []string{"Laptop", "Monitor"} {
		out, err := h.rig.Svc.Handle(ctx, flows.Event{Kind: flows.EventStart, Key: fmt.Sprint("home", i), Flow: "purchase", Actor: "alice",
			Data: map[string]string{"item": item, "amount": "1500", "justification": "my old one broke down"}})
		if err != nil || !out.OK {
			t.Fatal(err, out)
		}
	}
	for _, user := range []string{"U0ALICE", "U0BOB"} {
		v, err := h.a.homeView(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		checkBlockKit(t, "home "+user, v.Blocks.BlockSet, maxViewBlocks)
		golden(t, "home_"+strings.ToLower(strings.TrimPrefix(user, "U0")), mustJSON(t, v))
	}
}

// TestRenderLimits renders oversized messages: everything stays within
// Slack's limits, and what does not fit is counted.
func TestRenderLimits(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("word & <tag> ", 600)
	m := &flows.Message{Kind: flows.MsgTimeline, Title: long, Text: long, Outcome: long}
	for i := range 30 {
		m.Fields = append(m.Fields, flows.Fact{Label: fmt.Sprint("field ", i), Value: long})
		m.Context = append(m.Context, fmt.Sprint("context ", i))
	}
	for i := range 200 {
		it := flows.Item{Title: fmt.Sprint("item ", i), Text: long[:200]}
		if i%3 == 0 {
			it.Actions = []flows.Action{{Kind: flows.ActStatus, Label: long, Instance: "PR-1"}}
		}
		m.Items = append(m.Items, it)
	}
	for i := range 40 {
		m.Actions = append(m.Actions, flows.Action{Kind: flows.ActApprove, Label: "Approve", Instance: "PR-1", Step: "s", Round: i})
	}
	for _, max := range []int{maxMessageBlocks, maxViewBlocks} {
		blocks := renderMessage(m, max)
		checkBlockKit(t, "oversized", blocks, max)
		if s := string(mustJSON(t, blocks)); !strings.Contains(s, "more not shown") {
			t.Errorf("the items that did not fit in %d blocks are not counted", max)
		}
	}
	// Text is escaped; in what the engine writes, the people outside the
	// directory whom the message concerns become mentions, and only they.
	got := mrkdwnNamed("<!channel> & <@U1|x> approved by slack:U0XYZ and slack:foo, per slack:U0TYPED", []string{"slack:U0XYZ"})
	if want := "&lt;!channel&gt; &amp; &lt;@U1|x&gt; approved by <@U0XYZ> and slack:foo, per slack:U0TYPED"; got != want {
		t.Errorf("mrkdwnNamed = %q, want %q", got, want)
	}
	if got := mrkdwn("Laptop slack:U0DANA"); got != "Laptop slack:U0DANA" {
		t.Errorf("mrkdwn(typed text) = %q: a mention", got)
	}
}

// checkBlockKit checks blocks against Slack's limits: block count, unique
// block ids, text lengths, buttons per block, unique action ids, button
// values Baton can read back.
func checkBlockKit(t *testing.T, name string, blocks []slackgo.Block, max int) {
	t.Helper()
	if len(blocks) > max {
		t.Errorf("%s: %d blocks (Slack allows %d)", name, len(blocks), max)
	}
	ids := map[string]bool{}
	for _, b := range blocks {
		raw, _ := json.Marshal(b)
		var g struct {
			Type     string `json:"type"`
			BlockID  string `json:"block_id"`
			Text     *struct{ Text string }
			Fields   []struct{ Text string }
			Elements []json.RawMessage `json:"elements"`
		}
		_ = json.Unmarshal(raw, &g)
		if g.BlockID == "" || ids[g.BlockID] || len(g.BlockID) > 255 {
			t.Errorf("%s: block id %q missing, repeated or too long", name, g.BlockID)
		}
		ids[g.BlockID] = true
		limit := maxSectionText
		if g.Type == "header" {
			limit = maxHeaderText
		}
		if g.Text != nil && (g.Text.Text == "" || utf8.RuneCountInString(g.Text.Text) > limit) {
			t.Errorf("%s: %s text of %d characters", name, g.Type, utf8.RuneCountInString(g.Text.Text))
		}
		if len(g.Fields) > maxSectionFields {
			t.Errorf("%s: %d fields in a section", name, len(g.Fields))
		}
		for _, f := range g.Fields {
			if f.Text == "" || utf8.RuneCountInString(f.Text) > maxFieldText {
				t.Errorf("%s: field of %d characters", name, utf8.RuneCountInString(f.Text))
			}
		}
		if g.Type == "context" && len(g.Elements) > maxContextItems || g.Type == "actions" && len(g.Elements) > maxActionButtons {
			t.Errorf("%s: %d elements in a %s block", name, len(g.Elements), g.Type)
		}
		actionIDs := map[string]bool{}
		for _, e := range g.Elements {
			var el struct {
				Type     string `json:"type"`
				ActionID string `json:"action_id"`
				Value    string `json:"value"`
				Text     struct{ Text string }
			}
			_ = json.Unmarshal(e, &el)
			if el.Type != "button" {
				continue
			}
			if actionIDs[el.ActionID] || utf8.RuneCountInString(el.Text.Text) > maxButtonText || len(el.Value) > 2000 {
				t.Errorf("%s: button %q (%q) repeats its action id or is too long", name, el.Text.Text, el.ActionID)
			}
			actionIDs[el.ActionID] = true
			if _, err := decodeAction(el.Value); err != nil {
				t.Errorf("%s: button value %q does not read back: %v", name, el.Value, err)
			}
		}
	}
}

// A form field may be called "about": the form's introduction does not take
// its block id (Slack refuses a view with a repeated one).
func TestFormFieldNamedAbout(t *testing.T) {
	def, err := flows.ParseDefinition("bio.yaml", []byte(`id: bio
name: Bio
description: Tell us about you.
owner: olivia
form:
  - {name: about, label: About you, type: longtext, required: true}
steps:
  - {id: a, type: notify, to: [requester], message: hi}
`))
	if err != nil {
		t.Fatal(err)
	}
	v := startModal(def, pickers{})
	checkBlockKit(t, "start modal", v.Blocks.BlockSet, maxViewBlocks)
}

// What people typed (the title, form fields, changes) never becomes a
// mention: a vendor "slack:U0DANA" must not notify Dana.
func TestTypedIDsAreNoMentions(t *testing.T) {
	m := &flows.Message{Kind: flows.MsgTask, Title: "Purchase PR-1: Laptop slack:U0DANA", Text: "Manager approval",
		Fields:  []flows.Fact{{Label: "Vendor", Value: "*Dell* slack:U0ERIN"}},
		Changes: []flows.Change{{Label: "Item", Old: "Laptop", New: "slack:U0GUS"}},
		Context: []string{"Requested by slack:U0ALICE", "Reason: as slack:U0OLIVIA agreed"}, Mentions: []string{"slack:U0ALICE"}}
	b := string(mustJSON(t, renderMessage(m, maxMessageBlocks)))
	for _, id := range []string{"U0DANA", "U0ERIN", "U0GUS", "U0OLIVIA"} {
		if strings.Contains(b, "@"+id) { // a mention is <@ID> (JSON escapes the brackets)
			t.Errorf("typed %s became a mention: %s", id, b)
		}
	}
	if !strings.Contains(b, "@U0ALICE") {
		t.Errorf("the engine's naming of the requester is no mention: %s", b)
	}
	// A person field naming someone the directory lacks, as the engine named
	// them, is one; the same id inside a typed text is not.
	m = &flows.Message{Kind: flows.MsgTask, Title: "Content CR-1", Mentions: []string{"slack:U0STRANGER"},
		Fields: []flows.Fact{{Label: "Editor", Value: "slack:U0STRANGER"}, {Label: "Note", Value: "ask slack:U0STRANGER"}}}
	b = string(mustJSON(t, renderMessage(m, maxMessageBlocks)))
	if !strings.Contains(b, `*Editor*\n<@U0STRANGER>`) || strings.Contains(b, `ask <@`) {
		t.Errorf("person field: %s", b)
	}
	// Nor does anything past an id: no @channel, no link.
	m = &flows.Message{Kind: flows.MsgTask, Title: "Content CR-1", Mentions: []string{"slack:U1><!channel>"},
		Fields: []flows.Fact{{Label: "Editor", Value: "slack:U1><!channel>"}}}
	if b = string(mustJSON(t, renderMessage(m, maxMessageBlocks))); strings.Contains(b, "<!channel>") {
		t.Errorf("a typed @channel got through: %s", b)
	}
}

// A cut never leaves half an escape or half a mention.
func TestTruncateMrkdwn(t *testing.T) {
	for in, want := range map[string]string{
		"abcd &amp; x": "abcd …", // cut inside &amp;
		"ab <@U0X> c":  "ab …",   // cut inside the mention
		"abc &lt; d":   "abc &lt;…",
		"short":        "short",
	} {
		if got := truncateMrkdwn(in, 9); got != want {
			t.Errorf("truncateMrkdwn(%q, 9) = %q, want %q", in, got, want)
		}
	}
}

// TestTypedIDsInEngineLines: an id typed into a form value or a reason that
// the engine quotes in its own lines (a notify step's message, a reason on
// a card) stays text: "pre-approved by slack:U0OLIVIA" must not become a
// real mention in #procurement.
func TestTypedIDsInEngineLines(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	out, err := h.rig.Svc.Handle(ctx, flows.Event{Kind: flows.EventStart, Key: "s1", Flow: "purchase", Actor: "alice",
		Data: map[string]string{"item": "Laptop, pre-approved by slack:U0OLIVIA", "vendor": "slack:W0CEO", "amount": "500", "justification": "my old one broke down"}})
	if err != nil || !out.OK {
		t.Fatal(err, out)
	}
	// A guest (not in the directory) decides, so the cards do name someone
	// by their Slack id.
	if out, err = h.rig.Svc.Handle(ctx, flows.Event{Kind: flows.EventReassign, Key: "g1", Instance: out.Instance, Actor: "bob", Target: "slack:U0GUEST"}); err != nil || !out.OK {
		t.Fatal(err, out)
	}
	if out, err = h.rig.Svc.Handle(ctx, flows.Event{Kind: flows.EventRequestChanges, Key: "c1", Instance: "PR-1", Actor: "slack:U0GUEST", Reason: "ask slack:U0REASON first"}); err != nil || !out.OK {
		t.Fatal(err, out)
	}
	if out, err = h.rig.Svc.Handle(ctx, flows.Event{Kind: flows.EventResubmit, Key: "r1", Instance: "PR-1", Actor: "alice", Reason: "done, cc slack:U0NOTE",
		Data: map[string]string{"item": "Laptop, pre-approved by slack:U0OLIVIA", "vendor": "slack:W0CEO", "amount": "500", "justification": "my old one broke down"}}); err != nil || !out.OK {
		t.Fatal(err, out)
	}
	if out, err = h.rig.Svc.Handle(ctx, flows.Event{Kind: flows.EventApprove, Key: "a1", Instance: "PR-1", Actor: "bob"}); err != nil || !out.OK {
		t.Fatal(err, out)
	}
	h.settle()
	var toProcurement, guestNamed bool
	for _, c := range h.api.Calls() {
		if c.str("channel") == "C0PROCURE" {
			toProcurement = true
		}
		guestNamed = guestNamed || strings.Contains(c.text(), "<@U0GUEST>")
		for _, id := range []string{"U0OLIVIA", "W0CEO", "U0REASON", "U0NOTE"} {
			if strings.Contains(c.text(), "<@"+id+">") {
				t.Errorf("%s %s: the typed id %s became a mention: %s", c.Method, c.str("channel"), id, c.text())
			}
		}
	}
	if !toProcurement || !guestNamed {
		t.Fatalf("nothing went to #procurement (%v), or the guest was never mentioned (%v):\n%s", toProcurement, guestNamed, summarize(h.api.Calls()))
	}
}

// TestLongTitleShownWhole: a title longer than a header holds (a command's
// answer of one long line) is shown whole, in a section.
func TestLongTitleShownWhole(t *testing.T) {
	t.Parallel()
	answer := "You are away until Thu 24 Dec: new tasks are shared with Carol Diaz, who decides on your behalf. " +
		"3 pending tasks were shared now. Type back when you return."
	blocks := renderMessage(&flows.Message{Kind: flows.MsgInfo, Title: answer}, maxMessageBlocks)
	checkBlockKit(t, "long title", blocks, maxMessageBlocks)
	if s := string(mustJSON(t, blocks)); !strings.Contains(s, "Type back when you return.") || strings.Contains(s, `"header"`) {
		t.Errorf("the answer is cut short or in a header: %s", s)
	}
	if s := string(mustJSON(t, renderMessage(&flows.Message{Kind: flows.MsgTask, Title: "Short", Text: "Manager approval"}, maxMessageBlocks))); !strings.Contains(s, `"header"`) {
		t.Errorf("a card's short title is not a header: %s", s)
	}
	// A one-line answer is a line of text, not a heading.
	if s := string(mustJSON(t, renderMessage(&flows.Message{Kind: flows.MsgInfo, Title: "Comment added to PR-12."}, maxMessageBlocks))); strings.Contains(s, `"header"`) || !strings.Contains(s, `"text": "Comment added to PR-12."`) {
		t.Errorf("a one-line answer: %s", s)
	}
}
