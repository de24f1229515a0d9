package web

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
	"github.com/batonbot/baton/manifests"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current rendering")

var t0 = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

// viewOnly is a Service that can only show things: enough to render.
type viewOnly struct{ e *flows.Engine }

var errViewOnly = errors.New("view-only service")

func (v viewOnly) Engine() *flows.Engine { return v.e }
func (v viewOnly) Now() time.Time        { return t0 }
func (v viewOnly) Handle(context.Context, flows.Event) (flows.Outcome, error) {
	return flows.Outcome{}, errViewOnly
}
func (v viewOnly) Command(context.Context, string, string, string, string) (bot.Reply, error) {
	return bot.Reply{}, errViewOnly
}
func (v viewOnly) Instance(context.Context, string) (*flows.Instance, error) { return nil, errViewOnly }
func (v viewOnly) Status(context.Context, string, string) (*flows.Message, error) {
	return nil, errViewOnly
}

// renderConsole is a console over the built-in flows and directory whose
// form keys are fixed, so renderings are deterministic.
func renderConsole(t *testing.T) *Console {
	t.Helper()
	defs, err := flows.LoadDefinitions(manifests.Flows, "flows")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := flows.ParseDirectory("directory.yaml", manifests.Directory)
	if err != nil {
		t.Fatal(err)
	}
	e, err := flows.NewEngine(defs, dir, []string{"olivia"})
	if err != nil {
		t.Fatal(err)
	}
	c := New(viewOnly{e}, Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	c.key = func() string { return "KEY" }
	return c
}

// golden compares got with testdata/name.golden (or rewrites it with -update).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	got = bytes.ReplaceAll(got, []byte(assetVersion), []byte("VERSION")) // changes with every style change
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./adapters/web -run Golden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: the rendering changed (if that is intended, run go test ./adapters/web -run Golden -update and review the diff)\n--- got:\n%s\n--- want:\n%s", path, got, want)
	}
}

var purchaseFacts = []flows.Fact{
	{Label: "What are you buying?", Value: "Laptop <14\">"},
	{Label: "Total amount", Value: "1500"},
	{Label: "Currency", Value: "EUR"},
	{Label: "Why is it needed?", Value: "My old one broke down.\nIt is five years old."},
	{Label: "Quote or product page", Value: "https://shop.example/quote?id=42&ref=baton"},
	{Label: "Not a link", Value: "javascript:alert(1)"},
}

func act(k flows.ActionKind, label, style, step string, round int) flows.Action {
	return flows.Action{Kind: k, Label: label, Style: style, Instance: "PR-1", Step: step, Round: round}
}

func taskActions(step string, round int) []flows.Action {
	return []flows.Action{
		act(flows.ActApprove, "Approve", "primary", step, round),
		act(flows.ActReject, "Reject", "danger", step, round),
		act(flows.ActChanges, "Request changes", "", step, round),
		act(flows.ActReassign, "Reassign", "", step, round),
	}
}

func TestGoldenCards(t *testing.T) {
	c := renderConsole(t)
	title := "Purchase request PR-1: Laptop (EUR 1500)"
	task := &flows.Message{Kind: flows.MsgTask, Instance: "PR-1", Flow: "purchase", Step: "manager", Round: 2, Title: title,
		Text: "Manager approval", Fields: purchaseFacts,
		Changes: []flows.Change{
			{Field: "amount", Label: "Total amount", Old: "2500", New: "1500"},
			{Field: "link", Label: "Quote or product page", New: "https://shop.example/quote?id=42&ref=baton"},
			{Field: "vendor", Label: "Vendor", Old: "Dell"},
		},
		Context: []string{"Requested by Alice Martin", "Round 2", "Waiting on Bob Chen", "Due Fri 27 Nov 09:00 GMT (in 1 d)",
			"Escalates to Dana Kowalski (your manager) in 1 d"},
		Actions: taskActions("manager", 2)}
	closed := *task
	closed.Actions, closed.Changes = nil, nil
	closed.Outcome = "Changes requested by Bob Chen · Thu 26 Nov 09:00 UTC\nReason: Please attach the quote"
	reminder := &flows.Message{Kind: flows.MsgReminder, Instance: "PR-1", Flow: "purchase", Step: "manager", Round: 2, Title: title,
		Text: "Reminder 1 of 2: Manager approval has been waiting for 4 h.", Fields: purchaseFacts,
		Context: task.Context, Actions: task.Actions}
	escalation := &flows.Message{Kind: flows.MsgEscalation, Instance: "PR-1", Flow: "purchase", Step: "finance", Round: 1,
		Title: "Escalation: " + title, Text: "PR-1 has waited 1 d at Finance approval; it waits on Carol Diaz and Frank Osei.",
		Fields: purchaseFacts[:3], Context: []string{"Requested by Alice Martin", "Due Sat 28 Nov 09:00 UTC (in 1 d)"},
		Actions: taskActions("finance", 1)}
	outcome := &flows.Message{Kind: flows.MsgOutcome, Instance: "PR-1", Flow: "purchase", Step: "finance", Round: 1,
		Title: "Rejected: " + title, Text: "Carol Diaz rejected your request at Finance approval.\nReason: Over the team budget; split it",
		Fields: purchaseFacts[:3], Context: []string{"Requested by Alice Martin", "You can resubmit 2 more times."},
		Actions: []flows.Action{
			{Kind: flows.ActResubmit, Label: "Edit and resubmit", Style: "primary", Instance: "PR-1", Step: "finance", Round: 1},
			{Kind: flows.ActWithdraw, Label: "Withdraw", Instance: "PR-1"},
		}}
	timeline := &flows.Message{Kind: flows.MsgTimeline, Instance: "PR-1", Flow: "purchase", Step: "finance", Round: 1, Title: title,
		Text: "Status: running", Fields: purchaseFacts[:2], Context: []string{"Requested by Alice Martin · Thu 26 Nov 09:00 GMT"},
		Items: []flows.Item{
			{Title: "Manager approval", Text: "Changes requested by Bob Chen · Thu 26 Nov 09:00 GMT · Please attach the quote\nround 2: Approved by Bob Chen · Thu 26 Nov 10:00 GMT"},
			{Title: "Finance approval", Text: "Waiting on Carol Diaz and Frank Osei since 2 h ago · due Sat 28 Nov 10:00 GMT"},
			{Title: "Tell procurement", Text: "Not reached"},
			{Title: "Thu 26 Nov 09:00 GMT · Alice Martin started", Text: "amount: 2500 · item: Laptop"},
			{Title: "Thu 26 Nov 09:30 GMT · Carol Diaz tried to approve (refused)", Text: "Manager approval, round 1 · reason: PR-1 is assigned to Bob Chen"},
		},
		Actions: []flows.Action{{Kind: flows.ActWithdraw, Label: "Withdraw", Instance: "PR-1"}}}
	tasks := &flows.Message{Kind: flows.MsgList, Title: "Your pending tasks", Items: []flows.Item{
		{Title: title, Text: "Finance approval · requested by Alice Martin · waiting 2 h · due Sat 28 Nov 04:00 EST", Actions: taskActions("finance", 1)},
		{Title: "Access request AR-3: github (read)", Text: "Grant the access · requested by Ivan Petrov · waiting 5 h",
			Actions: []flows.Action{
				{Kind: flows.ActDone, Label: "Mark done", Style: "primary", Instance: "AR-3", Step: "grant", Round: 1},
				{Kind: flows.ActReassign, Label: "Reassign", Instance: "AR-3", Step: "grant", Round: 1},
			}},
		// A second task with the same form: its fields' ids are its own.
		{Title: "Access request AR-4: aws (read)", Text: "Grant the access · requested by Alice Martin · waiting 1 h",
			Actions: []flows.Action{{Kind: flows.ActDone, Label: "Mark done", Style: "primary", Instance: "AR-4", Step: "grant", Round: 1}}},
	}}
	requests := &flows.Message{Kind: flows.MsgList, Title: "Your requests", Items: []flows.Item{
		{Title: title, Text: "changes requested: Please attach the quote · started Thu 26 Nov 09:00 GMT",
			Actions: []flows.Action{
				{Kind: flows.ActStatus, Label: "Status", Instance: "PR-1"},
				{Kind: flows.ActResubmit, Label: "Edit and resubmit", Style: "primary", Instance: "PR-1", Step: "manager", Round: 1},
			}},
	}}
	help := &flows.Message{Kind: flows.MsgHelp, Title: "Baton: start and track requests",
		Text:   `There is no flow called "purchse". Did you mean "purchase"? Try: start purchase`,
		Fields: []flows.Fact{{Label: "start <flow>", Value: "start a request (opens its form)"}, {Label: "help", Value: "this message"}},
		Items: []flows.Item{
			{Title: "Purchase request (start purchase)", Text: "Buy something for work.", Actions: []flows.Action{{Kind: flows.ActStart, Label: "Start Purchase request", Style: "primary", Flow: "purchase"}}},
			{Title: "Access request (start access)", Text: "Ask for access to a system.", Actions: []flows.Action{{Kind: flows.ActStart, Label: "Start Access request", Style: "primary", Flow: "access"}}},
		}}
	comment := &flows.Message{Kind: flows.MsgComment, Instance: "PR-1", Flow: "purchase", Step: "manager", Round: 2,
		Title: "Alice Martin on Purchase request PR-1", Text: "The quote is <attached>."}
	card := &entry{Ref: "web-1", At: t0, Updated: t0, Box: "p:bob"}
	updated := &entry{Ref: "web-1", At: t0, Updated: t0.Add(90 * time.Minute), Box: "p:bob"}
	later := &entry{Ref: "web-2", At: t0.Add(4 * time.Hour), Updated: t0.Add(4 * time.Hour), Box: "p:bob", Parent: "web-1"}

	for _, tc := range []struct {
		name   string
		as     string
		msg    *flows.Message
		entry  *entry
		parent *flows.Message
	}{
		{name: "task", as: "bob", msg: task, entry: card},
		{name: "task-closed", as: "bob", msg: &closed, entry: updated},
		{name: "reminder-reply", as: "bob", msg: reminder, entry: later, parent: task},
		{name: "comment-reply", as: "bob", msg: comment, entry: later, parent: task},
		{name: "escalation", as: "dana", msg: escalation, entry: card},
		{name: "outcome-resubmit", as: "alice", msg: outcome, entry: card},
		{name: "timeline", as: "alice", msg: timeline},
		{name: "tasks", as: "carol", msg: tasks},
		{name: "requests", as: "alice", msg: requests},
		{name: "help", as: "alice", msg: help},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := map[string]any{"Msg": tc.msg, "As": tc.as, "People": c.svc.Engine().Directory().People()}
			if tc.entry != nil {
				data["Entry"] = tc.entry
			}
			if tc.parent != nil {
				data["Parent"] = tc.parent
			}
			var buf bytes.Buffer
			if err := c.tmpl.ExecuteTemplate(&buf, "card", data); err != nil {
				t.Fatal(err)
			}
			golden(t, "card-"+tc.name, buf.Bytes())
			// A label names its field by id: no id may repeat on a page.
			seen := map[string]bool{}
			for _, m := range elementID.FindAllSubmatch(buf.Bytes(), -1) {
				if id := string(m[1]); seen[id] {
					t.Errorf("id %q is on two elements", id)
				} else {
					seen[id] = true
				}
			}
		})
	}
}

var elementID = regexp.MustCompile(` id="([^"]+)"`)

// TestGoldenForm renders a start form refused field by field.
func TestGoldenForm(t *testing.T) {
	c := renderConsole(t)
	def, _ := c.svc.Engine().Flow("purchase")
	fd := c.form("alice", def, def.Form, map[string]string{"item": "Laptop", "amount": "-5"},
		flows.FieldErrors{"amount": "Total amount must be at least 1", "justification": "Why is it needed? is required"},
		"/console/start/purchase", "Start: Purchase request")
	var buf bytes.Buffer
	if err := c.tmpl.ExecuteTemplate(&buf, "form", fd); err != nil {
		t.Fatal(err)
	}
	golden(t, "form-errors", buf.Bytes())
}

// TestFeedRefsOutliveARestart: a card's ref from before a restart (the
// dispatcher keeps refs in Redis) updates no card of the new process, not
// even the one that came at the same place in its feed.
func TestFeedRefsOutliveARestart(t *testing.T) {
	before := newFeed()
	old := before.add(personBox("bob"), &flows.Message{Title: "before"}, "", t0)
	after := newFeed()
	ref := after.add(personBox("bob"), &flows.Message{Title: "after"}, "", t0)
	if ref == old {
		t.Fatalf("both processes named their first card %s", ref)
	}
	if after.update(old, &flows.Message{Title: "outcome of the old card"}, t0) {
		t.Errorf("an update for %s (of the earlier process) found a card", old)
	}
	if got := after.byRef[ref].Msg.Title; got != "after" {
		t.Errorf("the new process's card reads %q", got)
	}
	if !after.update(ref, &flows.Message{Title: "updated"}, t0) || after.byRef[ref].Msg.Title != "updated" {
		t.Errorf("the new process's own card was not updated")
	}
}

// A choice shows its value picked, or its default where the value is no
// longer one of its options (the flow changed since the request was made):
// never, silently, whichever option comes first.
func TestChoiceSelected(t *testing.T) {
	f := flows.Field{Name: "currency", Kind: flows.FieldChoice, Options: []string{"USD", "EUR", "GBP"}, Default: "EUR"}
	for value, want := range map[string]string{"GBP": "GBP", "CHF": "EUR", "": "EUR"} {
		if got := (formField{Field: f, Value: value}).Selected(); got != want {
			t.Errorf("value %q: %q selected, want %q", value, got, want)
		}
	}
}
