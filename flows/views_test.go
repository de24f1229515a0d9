package flows_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/batonbot/baton/flows"
)

func itemTexts(m *flows.Message) map[string]string {
	out := map[string]string{}
	for _, it := range m.Items {
		out[it.Title] = it.Text
	}
	return out
}

func TestTimeline(t *testing.T) {
	t.Parallel()
	r := buyRun(t, "2500")
	r.now = r.now.Add(2 * time.Hour)
	r.act(flows.EventApprove, "bob")
	r.refused(flows.Event{Kind: flows.EventApprove, Actor: "erin"}, flows.CodeNotAssignee)

	// While finance decides, seen by dana in Paris.
	tl := r.e.Timeline(r.in, r.audit, "dana", r.now.Add(3*time.Hour))
	if tl.Kind != flows.MsgTimeline || tl.Instance != "X-1" || tl.Title != "Purchase X-1: Laptop (2500)" || tl.Text != "Status: running" {
		t.Fatalf("timeline %+v", tl)
	}
	if !slices.Equal(tl.Fields, []flows.Fact{{Label: "Item", Value: "Laptop"}, {Label: "Amount", Value: "2500"}}) {
		t.Fatalf("fields %+v", tl.Fields)
	}
	if !slices.Equal(tl.Context, []string{"Requested by Alice Martin · Thu 26 Nov 10:00 CET"}) {
		t.Fatalf("context %q", tl.Context)
	}
	items := itemTexts(tl)
	for title, want := range map[string]string{
		"Manager approval": "Approved by Bob Chen · Thu 26 Nov 12:00 CET",
		"Finance approval": "Waiting on Carol Diaz, Frank Osei and Gina Ray for 3 h",
		"Tell ops":         "Not reached",
		"Thu 26 Nov 10:00 CET · Alice Martin started":                 "Item: Laptop · Amount: 2500",
		"Thu 26 Nov 10:00 CET · Baton assigned":                       "Manager approval, round 1 · assignees: Bob Chen",
		"Thu 26 Nov 12:00 CET · Bob Chen approved":                    "Manager approval, round 1",
		"Thu 26 Nov 12:00 CET · Erin Park tried to approve (refused)": "Finance approval, round 1 · reason: X-1 (Finance approval) is assigned to Carol Diaz, Frank Osei and Gina Ray; only they, their delegates or an admin can act on it.",
	} {
		if got, ok := items[title]; !ok || got != want {
			t.Errorf("item %q = %q, want %q", title, got, want)
		}
	}
	// Baton is written as people see it; the audit trail keeps its id.
	if i := slices.IndexFunc(r.audit, func(a flows.AuditEntry) bool { return a.Action == "assigned" }); i < 0 || r.audit[i].Actor != flows.System || flows.System != "baton" {
		t.Errorf("the audit trail's assignment is not by %q: %+v", "baton", r.audit)
	}
	// Only the requester is offered Withdraw.
	if got := actions(tl.Actions); len(got) != 0 {
		t.Fatalf("dana's actions %v, want none", got)
	}
	if got := actions(r.e.Timeline(r.in, r.audit, "alice", r.now).Actions); !slices.Equal(got, []flows.ActionKind{flows.ActWithdraw}) {
		t.Fatalf("alice's actions %v", got)
	}

	// Rejected, resubmitted and cancelled: rounds, reasons, and a step never reached.
	r.act(flows.EventReject, "carol", reason("too much"))
	// Sent back, the requester's status offers Edit and resubmit too.
	if got := actions(r.e.Timeline(r.in, r.audit, "alice", r.now).Actions); !slices.Equal(got, []flows.ActionKind{flows.ActResubmit, flows.ActWithdraw}) {
		t.Fatalf("alice's actions on a rejected request %v", got)
	}
	if got := actions(r.e.Timeline(r.in, r.audit, "carol", r.now).Actions); len(got) != 0 {
		t.Fatalf("carol's actions on a rejected request %v", got)
	}
	r.act(flows.EventResubmit, "alice", data("item", "Laptop", "amount", "1500"))
	r.act(flows.EventCancel, "olivia", reason("bought elsewhere"))
	tl = r.e.Timeline(r.in, r.audit, "zed", r.now)
	if tl.Text != "Status: cancelled: bought elsewhere" || len(tl.Actions) != 0 {
		t.Fatalf("timeline %+v", tl)
	}
	items = itemTexts(tl)
	for title, want := range map[string]string{
		"Finance approval": "Rejected by Carol Diaz · Thu 26 Nov 11:00 UTC · too much\nround 2: Cancelled by Olivia Brown · Thu 26 Nov 11:00 UTC · bought elsewhere",
		"Tell ops":         "Not reached",
	} {
		if got := items[title]; got != want {
			t.Errorf("item %q = %q, want %q", title, got, want)
		}
	}

	// Completed with a step skipped by its condition.
	r2 := buyRun(t, "10")
	r2.act(flows.EventApprove, "bob")
	items = itemTexts(r2.e.Timeline(r2.in, r2.audit, "alice", r2.now))
	if items["Finance approval"] != "Not needed: its condition (amount > 1000) is false" || items["Tell ops"] != "Notified · Thu 26 Nov 09:00 GMT" ||
		items["Thu 26 Nov 09:00 GMT · Baton passed over the step"] != "Finance approval · reason: condition is false: amount > 1000" {
		t.Fatalf("items %q", items)
	}
	if tl := r2.e.Timeline(r2.in, r2.audit, "alice", r2.now); tl.Text != "Status: completed (approved)" {
		t.Fatalf("status %q", tl.Text)
	}
}

func TestTimelineShowsDueAndOverdue(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, timersFlow("wait")))
	r.start("tmr", "alice", nil)
	items := itemTexts(r.e.Timeline(r.in, r.audit, "bob", t0.Add(time.Hour)))
	if got := items["Review"]; got != "Waiting on Bob Chen for 1 h · due Fri 27 Nov 09:00 UTC" {
		t.Fatalf("review %q", got)
	}
	items = itemTexts(r.e.Timeline(r.in, r.audit, "bob", t0.Add(25*time.Hour)))
	if got := items["Review"]; got != "Waiting on Bob Chen for 1 d 1 h · due Fri 27 Nov 09:00 UTC (overdue)" {
		t.Fatalf("review %q", got)
	}
}

// Under an all or quorum policy the step's line credits everyone whose
// decision counted, not only the last of them.
func TestTimelineCreditsEveryApprover(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, policy string
		decide       func(r *run)
		want         string
	}{
		{"quorum of two", "    policy: quorum\n    quorum: 2", func(r *run) {
			r.act(flows.EventApprove, "erin")
			r.act(flows.EventReject, "hana", reason("not needed"))
			r.act(flows.EventApprove, "gus")
		}, "Approved by Erin Park and Gus Ahmed · Thu 26 Nov 09:00 UTC"},
		{"all of three", "    policy: all", func(r *run) {
			r.act(flows.EventApprove, "hana")
			r.act(flows.EventApprove, "erin")
			r.act(flows.EventApprove, "gus")
		}, "Approved by Hana Sato, Erin Park and Gus Ahmed · Thu 26 Nov 09:00 UTC"},
		{"quorum rejected by two", "    policy: quorum\n    quorum: 2", func(r *run) {
			r.act(flows.EventReject, "gus", reason("risky"))
			r.act(flows.EventApprove, "erin")
			r.act(flows.EventReject, "hana", reason("no"))
		}, "Rejected by Gus Ahmed and Hana Sato · Thu 26 Nov 09:00 UTC · no"},
		{"an admin completes the step", "    policy: all", func(r *run) {
			r.act(flows.EventApprove, "erin")
			r.act(flows.EventApprove, admin)
		}, "Approved by Erin Park and Ada Admin (as an admin) · Thu 26 Nov 09:00 UTC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRun(t, newEngine(t, strings.Replace(policyFlow(tt.policy), "group:finance", "group:security", 1)))
			r.start("pol", "alice", nil)
			tt.decide(r)
			items := itemTexts(r.e.Timeline(r.in, r.audit, "zed", r.now))
			if got := items["Finance"]; got != tt.want {
				t.Fatalf("step line %q, want %q", got, tt.want)
			}
		})
	}
}

// The timeline reads as English: what each person did, how long a step has
// waited, and fields by their labels.
func TestTimelineWording(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, `
id: ask
name: Ask
owner: olivia
form:
  - {name: item, label: Item, required: true}
  - {name: needed_by, label: Needed by, type: date}
steps:
  - {id: review, name: Review, type: approval, assignees: [manager], max_rounds: 3}
  - {id: buy, name: Buy it, type: task, assignees: ["person:carol"]}
`))
	r.start("ask", "alice", form("item", "Desk", "needed_by", "2026-12-01"))
	r.now = r.now.Add(8 * time.Second)
	if got := itemTexts(r.e.Timeline(r.in, r.audit, "zed", r.now))["Review"]; got != "Waiting on Bob Chen for 8 s" {
		t.Errorf("waiting line %q", got)
	}
	r.act(flows.EventRequestChanges, "bob", reason("which desk?"))
	r.act(flows.EventResubmit, "alice", data("item", "Standing desk", "needed_by", "2026-12-05"))
	r.act(flows.EventApprove, "bob")
	r.refused(flows.Event{Kind: flows.EventTaskDone, Actor: "bob"}, flows.CodeNotAssignee)
	r.act(flows.EventWithdraw, "alice")

	items := itemTexts(r.e.Timeline(r.in, r.audit, "zed", r.now))
	for title, want := range map[string]string{
		"Thu 26 Nov 09:00 UTC · Alice Martin started":                           "Item: Desk · Needed by: 2026-12-01",
		"Thu 26 Nov 09:00 UTC · Bob Chen requested changes":                     "Review, round 1 · reason: which desk?",
		"Thu 26 Nov 09:00 UTC · Alice Martin resubmitted":                       "Review, round 1 · Item: Desk → Standing desk · Needed by: 2026-12-01 → 2026-12-05",
		"Thu 26 Nov 09:00 UTC · Bob Chen tried to mark the task done (refused)": "Buy it, round 1 · reason: X-1 (Buy it) is assigned to Carol Diaz; only they, their delegates or an admin can act on it.",
		"Thu 26 Nov 09:00 UTC · Alice Martin withdrew the request":              "Buy it, round 1",
		"Review": "Changes requested by Bob Chen · Thu 26 Nov 09:00 UTC · which desk?\nround 2: Approved by Bob Chen · Thu 26 Nov 09:00 UTC",
		"Buy it": "Withdrawn by Alice Martin · Thu 26 Nov 09:00 UTC",
	} {
		if got, ok := items[title]; !ok || got != want {
			t.Errorf("item %q = %q, want %q", title, got, want)
		}
	}
	var assigned []string
	for _, it := range r.e.Timeline(r.in, r.audit, "zed", r.now).Items {
		if strings.HasSuffix(it.Title, "Baton assigned") {
			assigned = append(assigned, it.Text)
		}
	}
	if want := "Review, round 2 · assignees: Bob Chen · Item changed: Desk → Standing desk · Needed by changed: 2026-12-01 → 2026-12-05"; !slices.Contains(assigned, want) {
		t.Errorf("assigned items %q, want one %q", assigned, want)
	}

	// A flow removed since has no labels: the names, spaced, stand in.
	gone := r.in.Clone()
	gone.Flow = "removed"
	items = itemTexts(r.e.Timeline(gone, r.audit, "zed", r.now))
	if got := items["Thu 26 Nov 09:00 UTC · Alice Martin started"]; got != "item: Desk · needed by: 2026-12-01" {
		t.Errorf("started item of a removed flow %q", got)
	}
}

func TestTaskList(t *testing.T) {
	t.Parallel()
	e := newEngine(t, buyFlow, timersFlow("wait"))
	a := newRun(t, e)
	a.start("buy", "alice", form("item", "Laptop", "amount", "50"))
	b := newRun(t, e)
	b.do(flows.Event{Kind: flows.EventStart, Instance: "X-2", Flow: "tmr", Actor: "carol"})
	gone := &flows.Instance{ID: "Z-1", Flow: "deleted", Status: flows.StatusRunning, Step: "x"}

	now := t0.Add(90 * time.Minute)
	m := e.TaskList([]*flows.Instance{a.in, b.in, gone}, "bob", now)
	if m.Kind != flows.MsgList || m.Title != "Your pending tasks" || len(m.Items) != 2 || m.Text != "" {
		t.Fatalf("list %+v", m)
	}
	first, second := m.Items[0], m.Items[1]
	if first.Title != "Purchase X-1: Laptop (50)" || first.Text != "Manager approval · requested by Alice Martin · waiting 1 h 30 min" {
		t.Fatalf("first %+v", first)
	}
	if got := actions(first.Actions); !slices.Equal(got, []flows.ActionKind{flows.ActApprove, flows.ActReject, flows.ActChanges, flows.ActReassign, flows.ActSnooze}) || first.Actions[0].Instance != "X-1" {
		t.Fatalf("first actions %+v", first.Actions)
	}
	if second.Text != "Review · requested by Carol Diaz · waiting 1 h 30 min · due Fri 27 Nov 09:00 UTC" {
		t.Fatalf("second %+v", second)
	}
	if empty := e.TaskList(nil, "bob", now); len(empty.Items) != 0 || empty.Text != "Nothing is waiting on you." {
		t.Fatalf("empty %+v", empty)
	}
}

func TestRequestList(t *testing.T) {
	t.Parallel()
	e := newEngine(t, buyFlow)
	running := newRun(t, e)
	running.start("buy", "alice", form("item", "Laptop", "amount", "50"))
	back := newRun(t, e)
	back.do(flows.Event{Kind: flows.EventStart, Instance: "X-2", Flow: "buy", Actor: "alice", Data: form("item", "Desk", "amount", "300")})
	back.act(flows.EventRequestChanges, "bob", reason("which desk?"))
	capped := newRun(t, e)
	capped.do(flows.Event{Kind: flows.EventStart, Instance: "X-3", Flow: "buy", Actor: "alice", Data: form("item", "Chair", "amount", "30")})
	capped.act(flows.EventRequestChanges, "bob", reason("which?"))
	capped.act(flows.EventResubmit, "alice", data("item", "Chair", "amount", "30"))
	capped.act(flows.EventReject, "bob", reason("no"))

	m := e.RequestList([]*flows.Instance{running.in, back.in, capped.in}, "alice", t0, "start <flow>")
	if m.Title != "Your requests" || len(m.Items) != 3 {
		t.Fatalf("list %+v", m)
	}
	want := []struct {
		title, text string
		actions     []flows.ActionKind
	}{
		{"Purchase X-1: Laptop (50)", "running · started Thu 26 Nov 09:00 GMT · Waiting on Bob Chen (Manager approval).", []flows.ActionKind{flows.ActStatus}},
		{"Purchase X-2: Desk (300)", "changes requested: which desk? · started Thu 26 Nov 09:00 GMT", []flows.ActionKind{flows.ActStatus, flows.ActResubmit}},
		{"Purchase X-3: Chair (30)", "declined: no · started Thu 26 Nov 09:00 GMT", []flows.ActionKind{flows.ActStatus}},
	}
	for i, w := range want {
		it := m.Items[i]
		if it.Title != w.title || it.Text != w.text || !slices.Equal(actions(it.Actions), w.actions) {
			t.Errorf("item %d: %q %q %v", i, it.Title, it.Text, actions(it.Actions))
		}
	}
	if a := m.Items[1].Actions[1]; a.Instance != "X-2" || a.Step != "manager" || a.Round != 1 {
		t.Fatalf("resubmit action %+v", a)
	}
	if empty := e.RequestList(nil, "alice", t0, "start <flow>"); empty.Text != "You have no requests yet. Start one with: start <flow>." {
		t.Fatalf("empty %+v", empty)
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	e := newEngine(t, timersFlow("wait"), buyFlow)
	m := e.Help(`I don't know the command "strat". Did you mean "start"?`)
	if m.Kind != flows.MsgHelp || m.Text != `I don't know the command "strat". Did you mean "start"?` || len(m.Fields) != 13 {
		t.Fatalf("help %+v", m)
	}
	if len(m.Items) != 2 || m.Items[0].Title != "Purchase (start buy)" || m.Items[1].Title != "Timers (start tmr)" {
		t.Fatalf("flows %+v", m.Items)
	}
	if a := m.Items[0].Actions; len(a) != 1 || a[0].Kind != flows.ActStart || a[0].Flow != "buy" || a[0].Label != "Start Purchase" {
		t.Fatalf("start action %+v", a)
	}
	if f, ok := e.Flow("buy"); !ok || f.ID != "buy" || e.Suggest("buyy") != "buy" || e.Suggest("zzzzzzz") != "" {
		t.Fatal("flow lookups")
	}
	if f, ok := e.Flow("Buy"); !ok || f.ID != "buy" { // as people type it
		t.Fatal("a flow by its name in another case")
	}
	if got := e.Suggest("tm"); got != "tmr" { // the start of a command
		t.Fatalf("suggested %q for tm, want tmr", got)
	}
	if !e.IsAdmin(admin) || e.IsAdmin("bob") || e.Directory() == nil || len(e.Flows()) != 2 {
		t.Fatal("engine accessors")
	}
}

// The timeline names people: the assignees, whom a task moved from and to,
// and a person field's value.
func TestTimelineNamesPeople(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, assigneeFlow("approval", "olivia", "field:approver", "")))
	r.start("who", "alice", form("approver", "bob"))
	r.act(flows.EventReassign, "bob", target("erin"))
	text := fmt.Sprint(r.e.Timeline(r.in, r.audit, "alice", r.now).Items)
	contains(t, "timeline", text, "Approver: Bob Chen", "assignees: Bob Chen", "from: Bob Chen · to: Erin Park")
	if strings.Contains(text, "from: bob") {
		t.Errorf("a person id in the timeline: %s", text)
	}
	r.act(flows.EventDelegate, "erin", target("gus"))
	text = fmt.Sprint(r.e.Timeline(r.in, r.audit, "alice", r.now).Items)
	if contains(t, "timeline", text, "Erin Park delegated"); strings.Contains(text, "on behalf of Erin Park") {
		t.Errorf("a delegation of one's own task is said to be on one's own behalf: %s", text)
	}
}

// Reminders and escalations keep whom they went to as ids (for systems
// reading the events), shown by name; entries of earlier builds, which kept
// names, read as before.
func TestTimelineNamesWhomRemindersAndEscalationsWentTo(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, assigneeFlow("approval", "olivia", "field:approver", "")))
	r.start("who", "alice", form("approver", "bob"))
	r.audit = append(r.audit,
		flows.AuditEntry{Seq: 90, At: r.now, Actor: flows.System, Action: "escalated", Step: r.in.Step, Round: 1,
			Detail: map[string]string{"to": "dana, #finance", "waiting_on": "bob"}},
		flows.AuditEntry{Seq: 91, At: r.now, Actor: flows.System, Action: "reminded", Step: r.in.Step, Round: 1,
			Detail: map[string]string{"n": "1", "to": "bob, erin"}},
		flows.AuditEntry{Seq: 92, At: r.now, Actor: flows.System, Action: "escalated", Step: r.in.Step, Round: 1,
			Detail: map[string]string{"to": "Dana Kowalski", "waiting_on": "Bob Chen"}})
	text := fmt.Sprint(r.e.Timeline(r.in, r.audit, "alice", r.now).Items)
	contains(t, "timeline", text, "to: Dana Kowalski, #finance · waiting on: Bob Chen", "to: Bob Chen, Erin Park", "to: Dana Kowalski · waiting on: Bob Chen")
	if strings.Contains(text, "to: dana") || strings.Contains(text, "on: bob") {
		t.Errorf("a person id in the timeline: %s", text)
	}
}

// A label that ends in punctuation of its own (a question, a colon) is not
// given a second one before its value: "Is this urgent? yes", not "Is this
// urgent?: yes", in the timeline, the notice of what changed, and the
// form's errors.
func TestLabelsEndingInPunctuation(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, `
id: ask
name: Ask
owner: olivia
form:
  - {name: item, label: "What do you need?", required: true}
  - {name: urgent, label: "Is this urgent?", type: choice, options: ["yes", "no"]}
  - {name: notes, label: "Notes:"}
  - {name: approver, label: "Who approves?", type: person, required: true}
steps:
  - {id: review, name: Review, type: approval, assignees: [manager], max_rounds: 3}
  - {id: sign, name: Sign-off, type: approval, assignees: ["field:approver"], max_rounds: 3}
`))
	r.inputErr(flows.Event{Kind: flows.EventStart, Instance: "X-1", Flow: "ask", Actor: "alice",
		Data: form("item", "Desk", "approver", "alice")}, "Who approves? you are making this request")
	r.start("ask", "alice", form("item", "Desk", "urgent", "yes", "notes", "by Friday", "approver", "carol"))
	r.act(flows.EventApprove, "bob")
	r.act(flows.EventRequestChanges, "carol", reason("which desk?"))
	tr := r.act(flows.EventResubmit, "alice", data("item", "Standing desk", "urgent", "yes", "notes", "by Friday", "approver", "carol"))
	contains(t, "bob's notice", notified(t, tr, "bob", "changed/sign/1/bob").Msg.Text, "\n• What do you need? Desk → Standing desk")
	items := itemTexts(r.e.Timeline(r.in, r.audit, "zed", r.now))
	for title, want := range map[string]string{
		"Thu 26 Nov 09:00 UTC · Alice Martin started":     "What do you need? Desk · Is this urgent? yes · Notes: by Friday · Who approves? Carol Diaz",
		"Thu 26 Nov 09:00 UTC · Alice Martin resubmitted": "Sign-off, round 1 · What do you need? Desk → Standing desk",
	} {
		if got := items[title]; got != want {
			t.Errorf("item %q = %q, want %q", title, got, want)
		}
	}
	for title, text := range items {
		if strings.Contains(title+text, "?:") || strings.Contains(title+text, "::") {
			t.Errorf("item %q: %q doubles a label's punctuation", title, text)
		}
	}
}
