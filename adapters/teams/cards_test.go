package teams

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/batonbot/baton/flows"
)

var update = flag.Bool("update", false, "rewrite testdata/cards/*.golden")

func goldenRenderer(t *testing.T) *renderer {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "golden-flow.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	def, err := flows.ParseDefinition("golden-flow.yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	people := []flows.Person{
		{ID: "alice", Name: "Alice Martin", Manager: "bob"}, {ID: "bob", Name: "Bob Chen"},
		{ID: "erin", Name: "Erin Park", Groups: []string{"it"}},
	}
	dir, err := flows.NewDirectory(people, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := flows.NewEngine([]*flows.Definition{def}, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &renderer{engine: e, maxPeople: 100}
}

func act(k flows.ActionKind, label, style string) flows.Action {
	return flows.Action{Kind: k, Label: label, Style: style, Instance: "GR-7", Step: "manager", Round: 2}
}

// goldenMessages are the neutral messages the engine sends, one per kind,
// with text that would break Markdown if it were read as Markdown.
func goldenMessages() map[string]*flows.Message {
	base := func(kind flows.MessageKind) *flows.Message {
		return &flows.Message{Kind: kind, Instance: "GR-7", Flow: "gear", Step: "manager", Round: 2,
			Title: "Gear request GR-7: *Dell* U2723QE [27\"]", Text: "Manager approval",
			Fields: []flows.Fact{{Label: "What do you need?", Value: "*Dell* U2723QE [27\"]"}, {Label: "Price", Value: "1,800"},
				{Label: "Currency", Value: "EUR"}, {Label: "Why is it needed?", Value: "_eyes_ hurt\nsecond line"}},
			Context: []string{"Requested by Alice Martin", "Round 2"}}
	}
	task := base(flows.MsgTask)
	task.Changes = []flows.Change{{Field: "amount", Label: "Price", Old: "2500", New: "1800"}, {Field: "link", Label: "Product page", Old: "", New: "https://example.com/u27"}}
	task.Context = append(task.Context, "Waiting on Bob Chen", "Due Fri 27 Nov 09:00 GMT (in 1 d)", "Escalates to Dana Kowalski (your manager) in 1 d")
	task.Actions = []flows.Action{act(flows.ActApprove, "Approve", "primary"), act(flows.ActReject, "Reject", "danger"),
		act(flows.ActChanges, "Request changes", ""), act(flows.ActReassign, "Reassign", "")}

	closed := base(flows.MsgTask)
	closed.Outcome = "Rejected by Bob Chen · Thu 26 Nov 14:00 UTC\nReason: Over the team budget; split it"

	reminder := base(flows.MsgReminder)
	reminder.Text = "Reminder 1 of 2: Manager approval has been waiting for 4 h."
	reminder.Actions = task.Actions[:2]

	escalation := base(flows.MsgEscalation)
	escalation.Title = "Escalation: " + escalation.Title
	escalation.Text = "GR-7 has waited 1 d at Manager approval; it waits on Bob Chen. You can decide it for the whole step, or reassign it."
	escalation.Actions = task.Actions

	done := base(flows.MsgTask)
	done.Step, done.Text = "order", "Order it"
	done.Actions = []flows.Action{{Kind: flows.ActDone, Label: "Mark done", Style: "primary", Instance: "GR-7", Step: "order", Round: 1},
		{Kind: flows.ActReassign, Label: "Reassign", Instance: "GR-7", Step: "order", Round: 1}}

	changes := base(flows.MsgChanges)
	changes.Title = "Changes requested: Gear request GR-7 (*Dell* U2723QE)"
	changes.Text = "Bob Chen asked for changes at Manager approval.\nReason: pick the 24\" model"
	changes.Context = append(changes.Context, "You can resubmit 2 more times.")
	changes.Actions = []flows.Action{act(flows.ActResubmit, "Edit and resubmit", "primary"), act(flows.ActWithdraw, "Withdraw", "")}

	list := &flows.Message{Kind: flows.MsgList, Title: "Your pending tasks", Items: []flows.Item{
		{Title: "Gear request GR-7: Dell U2723QE", Text: "Manager approval · requested by Alice Martin · waiting 4 h",
			Actions: []flows.Action{act(flows.ActApprove, "Approve", "primary"), act(flows.ActReject, "Reject", "danger"), act(flows.ActReassign, "Reassign", "")}},
		{Title: "Gear request GR-9: Keyboard", Text: "Order it · requested by Erin Park · waiting 1 d",
			Actions: []flows.Action{{Kind: flows.ActDone, Label: "Mark done", Style: "primary", Instance: "GR-9", Step: "order", Round: 1}}},
	}}

	timeline := &flows.Message{Kind: flows.MsgTimeline, Instance: "GR-7", Flow: "gear", Title: "Gear request GR-7: Dell U2723QE",
		Text: "Status: changes requested: pick the 24\" model", Fields: []flows.Fact{{Label: "Price", Value: "1,800"}},
		Context: []string{"Requested by Alice Martin · Thu 26 Nov 09:00 GMT"},
		Items: []flows.Item{
			{Title: "Manager approval", Text: "Changes requested by Bob Chen · Thu 26 Nov 14:00 GMT · pick the 24\" model"},
			{Title: "Order it", Text: "Not reached"},
			{Title: "Thu 26 Nov 09:00 GMT · Alice Martin started", Text: "amount: 2500 · item: Dell U2723QE"},
		},
		Actions: []flows.Action{{Kind: flows.ActWithdraw, Label: "Withdraw", Instance: "GR-7"}}}

	help := &flows.Message{Kind: flows.MsgHelp, Title: "Baton: start and track requests", Text: "I don't know the command \"strat\". Did you mean \"start\"?",
		Fields: []flows.Fact{{Label: "start <flow>", Value: "start a request (opens its form)"}, {Label: "tasks", Value: "what is waiting on you"}},
		Items: []flows.Item{{Title: "Gear request (start gear)", Text: "Ask for equipment.",
			Actions: []flows.Action{{Kind: flows.ActStart, Label: "Start Gear request", Style: "primary", Flow: "gear"}}}}}

	requests := &flows.Message{Kind: flows.MsgList, Title: "Your requests", Items: []flows.Item{
		{Title: "Gear request GR-7: Dell U2723QE", Text: "changes requested · started Thu 26 Nov 09:00 GMT",
			Actions: []flows.Action{{Kind: flows.ActStatus, Label: "Status", Instance: "GR-7"}, act(flows.ActResubmit, "Edit and resubmit", "primary")}}}}

	return map[string]*flows.Message{"task": task, "closed": closed, "reminder": reminder, "escalation": escalation, "task-outputs": done,
		"changes": changes, "tasks-list": list, "timeline": timeline, "help": help, "requests-list": requests}
}

func TestGoldenCards(t *testing.T) {
	t.Parallel()
	r := goldenRenderer(t)
	def, _ := r.engine.Flow("gear")
	cards := map[string]card{}
	for name, m := range goldenMessages() {
		cards[name] = r.message(m, viewOf(m))
	}
	cards["form-start"] = r.form(form{def: def, title: "Start: " + def.Name, intro: []string{def.Description}, verb: verbStart,
		data: map[string]any{keyFlow: "gear", keyKey: "k1"}, submit: "Submit"})
	cards["form-errors"] = r.form(form{def: def, title: "Start: " + def.Name, verb: verbStart, data: map[string]any{keyFlow: "gear", keyKey: "k1"}, submit: "Submit",
		values: map[string]string{"item": "Dell *U27*", "amount": "-5", "by": "2026-12-01", "buddy": "erin"},
		errors: flows.FieldErrors{"amount": "Price must be at least 1", "why": "Why is it needed? is required", "colour": "colour is not a field of this form"}})
	cards["form-resubmit"] = r.form(form{def: def, title: "Edit and resubmit GR-7: Dell U2723QE", intro: []string{"Reason given: pick the 24\" model"},
		verb: verbResubmit, data: map[string]any{keyInstance: "GR-7", keyKey: "k2"}, note: true, submit: "Resubmit",
		values: map[string]string{"item": "Dell U2723QE", "amount": "2500", "currency": "USD", "why": "eyes"}})
	for name, c := range cards {
		t.Run(name, func(t *testing.T) {
			got, err := json.MarshalIndent(c, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			checkCard(t, c, got)
			path := filepath.Join("testdata", "cards", name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s (run go test -update after checking the change):\n%s", name, path, got)
			}
		})
	}
}

// checkCard checks what Teams requires of every card: schema 1.5, input ids
// unique, Action.Execute with a verb and object data, and the size limit.
func checkCard(t *testing.T, c card, raw []byte) {
	t.Helper()
	if c["version"] != "1.5" || c["type"] != "AdaptiveCard" {
		t.Errorf("card type %v version %v", c["type"], c["version"])
	}
	if len(raw) > 28<<10 {
		t.Errorf("card is %d bytes; Teams refuses messages over ~28 KB", len(raw))
	}
	ids := map[string]bool{}
	var walk func(any, string)
	walk = func(v any, path string) {
		switch x := v.(type) {
		case map[string]any:
			typ, _ := x["type"].(string)
			if id, ok := x["id"].(string); ok && len(typ) > 6 && typ[:6] == "Input." {
				if ids[id] {
					t.Errorf("input id %q appears twice", id)
				}
				ids[id] = true
			}
			if typ == "Action.Execute" {
				if x["verb"] == "" || x["verb"] == nil {
					t.Errorf("%s: Action.Execute without a verb", path)
				}
				if _, ok := x["data"].(map[string]any); !ok {
					t.Errorf("%s: Action.Execute data is not an object", path)
				}
			}
			for k, e := range x {
				walk(e, path+"."+k)
			}
		case []any:
			for i, e := range x {
				walk(e, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	walk(map[string]any(c), "card")
}

// A long task list and a pasted essay shorten the card rather than take it
// over Teams's message size limit (413, and the card is lost).
func TestCardsStayUnderTheSizeLimit(t *testing.T) {
	r := goldenRenderer(t)
	list := &flows.Message{Kind: flows.MsgList, Title: "Your pending tasks"}
	for i := range 45 {
		list.Items = append(list.Items, flows.Item{Title: fmt.Sprintf("Grant GR-%d: %s", i, strings.Repeat("long title ", 20)),
			Text:    "Grant the access · requested by Alice Martin · waiting 2 d · due Fri 27 Nov 09:00 UTC",
			Actions: []flows.Action{act(flows.ActApprove, "Approve", "positive"), act(flows.ActReject, "Reject", "destructive"), act(flows.ActReassign, "Reassign", "")}})
	}
	essay := &flows.Message{Kind: flows.MsgTask, Title: "Grant GR-7", Text: strings.Repeat("why, ", 13000),
		Fields: []flows.Fact{{Label: "Justification", Value: strings.Repeat("because ", 8000)}}}
	// A second round of a form of long texts, each changed: old and new.
	resubmitted := &flows.Message{Kind: flows.MsgTask, Title: "Review CR-2", Text: "Review"}
	for i := range 5 {
		label := fmt.Sprintf("Part %d", i+1)
		resubmitted.Fields = append(resubmitted.Fields, flows.Fact{Label: label, Value: strings.Repeat("R&D <draft> ", 150)})
		resubmitted.Changes = append(resubmitted.Changes, flows.Change{Label: label, Old: strings.Repeat("old & <x> ", 180), New: strings.Repeat("R&D <draft> ", 150)})
	}
	// A form of many long texts, all changed.
	many := &flows.Message{Kind: flows.MsgTask, Title: "Review CR-3", Text: "Review"}
	for i := range 40 {
		label := fmt.Sprintf("Part %d", i+1)
		many.Fields = append(many.Fields, flows.Fact{Label: label, Value: strings.Repeat("R&D <draft> ", 150)})
		many.Changes = append(many.Changes, flows.Change{Label: label, Old: strings.Repeat("old & <x> ", 180), New: strings.Repeat("R&D <draft> ", 150)})
	}
	// Values of many short lines: each line is an element of its own.
	lines := &flows.Message{Kind: flows.MsgTask, Title: "Review CR-4", Text: strings.Repeat("x\n", 1500),
		Fields: []flows.Fact{{Label: "Notes", Value: strings.Repeat("y\n", 1500)}}}
	manyLines := &flows.Message{Kind: flows.MsgTask, Title: "Review CR-5", Text: "Review"}
	for i := range 20 {
		manyLines.Fields = append(manyLines.Fields, flows.Fact{Label: fmt.Sprintf("Part %d", i+1), Value: strings.Repeat("x\n", 200)})
	}
	for name, m := range map[string]*flows.Message{"task list": list, "essay": essay, "resubmitted": resubmitted, "many": many,
		"lines": lines, "many lines": manyLines} {
		b, err := encode(cardActivity(r.message(m, viewOf(m)), m.Title)) // as sent
		if err != nil {
			t.Fatal(err)
		}

		if len(utf16.Encode([]rune(string(b))))*2 > 40_000 {
			t.Errorf("%s: the card is %d bytes of UTF-16, over Teams's 40 KB", name, len(utf16.Encode([]rune(string(b))))*2)
		}
	}
	b, _ := json.Marshal(r.message(list, viewOf(list)))
	if !strings.Contains(string(b), "more.") {
		t.Error("the task list does not say how many tasks it left out")
	}
	if b, _ := encode(r.message(many, "")); !strings.Contains(string(b), "… and 20 more fields.") || !strings.Contains(string(b), "… and 30 more changes.") {
		t.Error("the card does not say how many fields and changes it left out")
	}
}

// A date's picker is bounded from the requester's today; on a resubmission,
// the date given before stays within it (the engine keeps an unchanged date
// good, and Teams checks min and max on submit).
func TestFormDateBounds(t *testing.T) {
	t.Parallel()
	def, err := flows.ParseDefinition("d.yaml", []byte("id: d\nname: D\nowner: alice\nform:\n  - {name: by, type: date, min: 0}\n  - {name: until, type: date, min: -3, max: 30}\nsteps:\n  - {id: s, type: notify, to: [requester], message: hi}\n"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := flows.NewEngine([]*flows.Definition{def}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &renderer{engine: e, maxPeople: 100}
	today := time.Date(2026, 11, 29, 23, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		verb          string
		values        map[string]string
		by, untilFrom string
		untilTo       string
	}{
		{verbStart, nil, "2026-11-29", "2026-11-26", "2026-12-29"},
		{verbResubmit, map[string]string{"by": "2026-11-20", "until": "2027-02-01"}, "2026-11-20", "2026-11-26", "2027-02-01"},
	} {
		c := r.form(form{def: def, today: today, verb: tt.verb, values: tt.values})
		by, until := findInput(c, inField+"by"), findInput(c, inField+"until")
		if by["min"] != tt.by || by["max"] != nil || until["min"] != tt.untilFrom || until["max"] != tt.untilTo {
			t.Errorf("%s: by %v, until %v", tt.verb, by, until)
		}
	}
	if c := r.form(form{def: def, verb: verbStart}); findInput(c, inField+"by")["min"] != nil {
		t.Error("a form with no today has bounds")
	}
}

// TestNoEmptyTitleLine: a message without a title (a reaction's question)
// starts with its text, not an empty line.
func TestNoEmptyTitleLine(t *testing.T) {
	t.Parallel()
	c := goldenRenderer(t).message(&flows.Message{Kind: flows.MsgInfo, Text: "You reacted 👍 to PR-1. Approve it?"}, "")
	body, _ := c["body"].([]any)
	if len(body) == 0 {
		t.Fatalf("no body: %v", c)
	}
	first, _ := json.Marshal(body[0])
	if !strings.Contains(string(first), "You reacted") {
		t.Errorf("the card starts with %s, not its text", first)
	}
}
