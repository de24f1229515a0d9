package flows_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/batonbot/baton/flows"
)

const externalFlow = `id: vendor
name: Vendor contract
owner: olivia
form:
  - {name: contact, label: Vendor contact, type: email, required: true}
  - {name: buddy, label: Buddy, type: person}
steps:
  - id: vendor_ok
    name: Vendor confirmation
    type: approval
    assignees: [field:contact, "email:Counsel@LawFirm.example", "email:alice@example.com"]
    policy: all
`

func TestExternalAssignees(t *testing.T) {
	def, err := flows.ParseDefinition("vendor.yaml", []byte(externalFlow))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := flows.NewDirectory([]flows.Person{{ID: "alice", Name: "Alice", Email: "alice@example.com"}, {ID: "bob", Name: "Bob"}, {ID: "olivia"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := flows.NewEngine([]*flows.Definition{def}, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := e.Apply(nil, flows.Event{Kind: flows.EventStart, Key: "k", Instance: "VEN-1", Actor: "bob", Flow: "vendor",
		Data: map[string]string{"contact": "Sales@Acme.example"}}, time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, task := range tr.Instance.Tasks {
		got = append(got, task.Assignee)
	}
	// A known address is the directory person; others are external.
	if want := "email:sales@acme.example,email:counsel@lawfirm.example,alice"; strings.Join(got, ",") != want {
		t.Errorf("assignees %v, want %s", got, want)
	}
	var mailed []string
	for _, ef := range tr.Effects {
		if ef.Kind == flows.EffectNotify {
			mailed = append(mailed, ef.To.Person)
		}
	}
	if strings.Join(mailed, ",") != strings.Join(got, ",") {
		t.Errorf("cards to %v, want one each for %v", mailed, got)
	}
	if n := dir.Name("email:sales@acme.example"); n != "sales@acme.example (external)" {
		t.Errorf("Name = %q", n)
	}
	if _, err := flows.ParseForm(def.Form, map[string]string{"contact": "Sales <sales@acme.example>"}); err == nil || !strings.Contains(err.Error(), "must be an email address") {
		t.Errorf("a display name passed as an address: %v", err)
	}
}

func TestExternalAssigneeValidation(t *testing.T) {
	for name, tc := range map[string]struct{ step, want string }{
		"bad address":   {`{id: a, type: approval, assignees: ["email:not-an-address"]}`, `is not an email address; write email:name@example.com`},
		"task by email": {`{id: a, type: task, assignees: ["email:v@acme.example"]}`, `can only be assigned approval steps`},
		"task by field": {`{id: a, type: task, assignees: ["field:contact"]}`, `can only be assigned approval steps`},
		"text field":    {`{id: a, type: approval, assignees: ["field:note"]}`, `names no person field`},
	} {
		t.Run(name, func(t *testing.T) {
			src := "id: v\nname: V\nowner: olivia\nform:\n  - {name: contact, type: email}\n  - {name: note, type: text}\nsteps:\n  - " + tc.step + "\n"
			_, err := flows.ParseDefinition("v.yaml", []byte(src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v, want a problem saying %q", err, tc.want)
			}
		})
	}
	for _, ok := range []string{"a@b.co", "first.last+tag@sub.example.org"} {
		if !flows.ValidEmail(ok) {
			t.Errorf("ValidEmail(%q) = false", ok)
		}
	}
	for _, bad := range []string{"", "a", "a@b", "a@b.", "A <a@b.co>", "a b@c.co", "a@b.co,c@d.co", "@b.co"} {
		if flows.ValidEmail(bad) {
			t.Errorf("ValidEmail(%q) = true", bad)
		}
	}
}

// internalFlow asks a vendor (by email) and Carol to confirm, then Frank;
// its cost centre is for people in the workspace only.
const internalFlow = `id: vendor
name: Vendor contract
owner: olivia
title: "{{.vendor}}"
form:
  - {name: vendor, label: Vendor, type: text, required: true}
  - {name: contact, label: Vendor contact, type: email, required: true}
  - {name: amount, label: Amount, type: number, required: true}
  - {name: cost_centre, label: Cost centre, type: text, internal: true}
steps:
  - id: vendor_ok
    name: Vendor confirmation
    type: approval
    assignees: [field:contact, person:carol]
    policy: all
    remind: {every: 4h}
  - id: finance
    name: Finance approval
    type: approval
    assignees: [person:frank]
`

const vendor = "email:sales@acme.example"

// hidesInternal fails unless m shows no internal field to the person
// outside the workspace it is for: not the cost centre, nor its values.
func hidesInternal(t *testing.T, what string, m *flows.Message, values ...string) {
	t.Helper()
	for _, f := range m.Fields {
		if f.Label == "Cost centre" || f.Internal {
			t.Errorf("%s shows the internal field: %+v", what, f)
		}
	}
	for _, c := range m.Changes {
		if c.Field == "cost_centre" {
			t.Errorf("%s shows the internal field's change: %+v", what, c)
		}
	}
	b := string(mustJSON(t, m))
	for _, v := range values {
		if strings.Contains(b, v) {
			t.Errorf("%s holds %q: %s", what, v, b)
		}
	}
}

// showsInternal fails unless m shows the cost centre as value (a card for
// someone in the workspace), marked internal.
func showsInternal(t *testing.T, what string, m *flows.Message, value string) {
	t.Helper()
	if !slices.Contains(m.Fields, flows.Fact{Label: "Cost centre", Value: value, Internal: true}) {
		t.Errorf("%s lacks the internal field (Cost centre: %s): %+v", what, value, m.Fields)
	}
}

// TestInternalFieldsStayInside: an internal field is on the cards of
// people in the workspace, and on none sent to someone outside it: not
// their task card, reminder or closed card, nor a resubmission's changes.
func TestInternalFieldsStayInside(t *testing.T) {
	r := newRun(t, newEngine(t, internalFlow))
	tr := r.start("vendor", "alice", form("vendor", "Acme", "contact", "sales@acme.example", "amount", "500", "cost_centre", "CC-4711"))
	if got := assignees(r.in); !slices.Equal(got, []string{vendor, "carol"}) {
		t.Fatalf("assignees %v", got)
	}
	card := notified(t, tr, vendor, "vendor_ok/1/"+vendor).Msg
	hidesInternal(t, "the vendor's card", card, "CC-4711")
	if !slices.Contains(card.Fields, flows.Fact{Label: "Amount", Value: "500"}) {
		t.Errorf("the vendor's card lacks the amount: %+v", card.Fields)
	}
	showsInternal(t, "Carol's card", notified(t, tr, "carol", "vendor_ok/1/carol").Msg, "CC-4711")

	tr = r.fire(flows.TimerRemind)
	var reminded bool
	for _, e := range notifies(tr) {
		switch e.To.Person {
		case vendor:
			reminded = true
			hidesInternal(t, "the vendor's reminder", e.Msg, "CC-4711")
		case "carol":
			showsInternal(t, "Carol's reminder", e.Msg, "CC-4711")
		}
	}
	if !reminded {
		t.Fatalf("no reminder to the vendor: %s", describe(tr.Effects))
	}

	// The vendor approves: their card and its reminder thread close.
	tr = r.act(flows.EventApprove, vendor)
	hidesInternal(t, "the vendor's closed card", updated(t, tr, "vendor_ok/1/"+vendor).Msg, "CC-4711")
	hidesInternal(t, "the vendor's closed reminder", updated(t, tr, "vendor_ok/1/"+vendor+"/").Msg, "CC-4711")
	// Carol sends it back: one update closes every card of the round,
	// the field marked as internal for the mail to leave out.
	tr = r.act(flows.EventRequestChanges, "carol", reason("wrong cost centre"))
	showsInternal(t, "the round's closed cards", updated(t, tr, "vendor_ok/1/").Msg, "CC-4711")

	tr = r.act(flows.EventResubmit, "alice", data("vendor", "Acme", "contact", "sales@acme.example", "amount", "600", "cost_centre", "CC-0815"))
	wantStatus(t, r.in, flows.StatusRunning, "vendor_ok", 2)
	card = notified(t, tr, vendor, "vendor_ok/2/"+vendor).Msg
	hidesInternal(t, "the vendor's round 2 card", card, "CC-4711", "CC-0815")
	if want := []flows.Change{{Field: "amount", Label: "Amount", Old: "500", New: "600"}}; !slices.Equal(card.Changes, want) {
		t.Errorf("the vendor's round 2 changes %+v, want %+v", card.Changes, want)
	}
	carols := notified(t, tr, "carol", "vendor_ok/2/carol").Msg
	showsInternal(t, "Carol's round 2 card", carols, "CC-0815")
	if !slices.ContainsFunc(carols.Changes, func(c flows.Change) bool { return c.Field == "cost_centre" && c.Old == "CC-4711" }) {
		t.Errorf("Carol's round 2 card lacks the cost centre's change: %+v", carols.Changes)
	}
}

// TestInternalChangesToldToOutsiders: someone outside the workspace who
// approved an earlier step is told what a resubmission changed of what
// they see, and nothing when it changed only internal fields.
func TestInternalChangesToldToOutsiders(t *testing.T) {
	src := strings.Replace(internalFlow, "[field:contact, person:carol]", "[field:contact]", 1)
	r := newRun(t, newEngine(t, src))
	r.start("vendor", "alice", form("vendor", "Acme", "contact", "sales@acme.example", "amount", "500", "cost_centre", "CC-4711"))
	r.act(flows.EventApprove, vendor)
	r.act(flows.EventRequestChanges, "frank", reason("wrong cost centre"))
	tr := r.act(flows.EventResubmit, "alice", data("vendor", "Acme", "contact", "sales@acme.example", "amount", "500", "cost_centre", "CC-0815"))
	wantStatus(t, r.in, flows.StatusRunning, "finance", 2)
	for _, e := range notifies(tr) {
		if e.To.Person == vendor {
			t.Errorf("the vendor is told of a change to an internal field: %+v", e.Msg)
		}
	}
	r.act(flows.EventRequestChanges, "frank", reason("and the amount"))
	tr = r.act(flows.EventResubmit, "alice", data("vendor", "Acme", "contact", "sales@acme.example", "amount", "700", "cost_centre", "CC-0042"))
	told := notified(t, tr, vendor, "changed/finance/2/"+vendor).Msg
	contains(t, "the vendor's notice", told.Text, "What changed this time:\n• Amount: 500 → 700")
	hidesInternal(t, "the vendor's notice", told, "CC-0815", "CC-0042", "Cost centre")
}

// TestUntitledFlowTitleSkipsInternal: a flow without a title is titled by
// its first text field filled in, but never by an internal one: the title
// heads the card (and mail) of someone outside the workspace.
func TestUntitledFlowTitleSkipsInternal(t *testing.T) {
	src := `id: vendor
name: Vendor contract
owner: olivia
form:
  - {name: cost_centre, label: Cost centre, type: text, internal: true}
  - {name: vendor, label: Vendor, type: text}
  - {name: contact, label: Vendor contact, type: email, required: true}
steps:
  - id: vendor_ok
    name: Vendor confirmation
    type: approval
    assignees: [field:contact]
`
	for _, tc := range []struct{ vendor, want string }{{"Acme", "Acme"}, {"", "Vendor contract"}} {
		r := newRun(t, newEngine(t, src))
		tr := r.start("vendor", "alice", form("cost_centre", "CC-4711", "vendor", tc.vendor, "contact", "sales@acme.example"))
		if r.in.Title != tc.want {
			t.Errorf("vendor %q: title %q, want %q", tc.vendor, r.in.Title, tc.want)
		}
		hidesInternal(t, "the vendor's card", notified(t, tr, vendor, "vendor_ok/1/"+vendor).Msg, "CC-4711")
	}
}

// TestInternalTitleHiddenFromOutsiders: a title that reads an internal
// field heads the cards of people in the workspace; someone outside it, to
// whom a task is reassigned at run time (no step names them), is shown the
// flow's name and the request's id instead: on their card, their closed
// card, and the closing of the round's every card as mailed to them.
func TestInternalTitleHiddenFromOutsiders(t *testing.T) {
	src := strings.Replace(internalFlow, `title: "{{.vendor}}"`, `title: "{{.vendor}} ({{.cost_centre}})"`, 1)
	src = strings.Replace(src, "[field:contact, person:carol]", "[person:carol, person:erin]", 1)
	r := newRun(t, newEngine(t, src))
	tr := r.start("vendor", "alice", form("vendor", "Acme", "contact", "sales@acme.example", "amount", "500", "cost_centre", "CC-4711"))
	if got := notified(t, tr, "erin", "vendor_ok/1/erin").Msg.Title; got != "Vendor contract X-1: Acme (CC-4711)" {
		t.Errorf("Erin's card is titled %q", got)
	}
	tr = r.act(flows.EventReassign, "carol", target(vendor), reason("they know"))
	card := notified(t, tr, vendor, "vendor_ok/1/"+vendor).Msg
	if card.Title != "Vendor contract X-1" {
		t.Errorf("the vendor's card is titled %q, want %q", card.Title, "Vendor contract X-1")
	}
	hidesInternal(t, "the vendor's card", card, "CC-4711")

	tr = r.act(flows.EventApprove, vendor)
	hidesInternal(t, "the vendor's closed card", updated(t, tr, "vendor_ok/1/"+vendor).Msg, "CC-4711")
	tr = r.act(flows.EventRequestChanges, "erin", reason("wrong cost centre"))
	round := updated(t, tr, "vendor_ok/1/").Msg
	if !strings.Contains(round.Title, "CC-4711") {
		t.Errorf("the round's closed cards are titled %q, for people in the workspace", round.Title)
	}
	if got, want := round.ForOutsiders().Title, "Vendor contract X-1"; got != want {
		t.Errorf("the round's closed cards, as mailed, are titled %q, want %q", got, want)
	}
	hidesInternal(t, "the round's closed cards, as mailed", round.ForOutsiders(), "CC-4711")
	for _, e := range tr.Effects {
		if e.Msg != nil && (e.To.Person == vendor || strings.HasSuffix(e.Card, "/"+vendor)) {
			hidesInternal(t, "a card of the vendor's", e.Msg, "CC-4711")
		}
	}
}

// TestNotNeededLeavesInternalConditionOut: whoever sent the request back
// at a step that the resubmission took out of its condition is told it no
// longer applies; someone outside the workspace is not told the condition
// when it reads an internal field (it may hold one of its values).
func TestNotNeededLeavesInternalConditionOut(t *testing.T) {
	src := strings.Replace(internalFlow, "    policy: all\n", "    policy: all\n    when: cost_centre != \"CC-SECRET-0001\"\n", 1)
	for _, tc := range []struct {
		by   string
		want string
	}{
		{vendor, "and Vendor confirmation no longer applies: nothing more is asked of you."},
		{"carol", `and Vendor confirmation no longer applies (it is asked only when cost_centre != "CC-SECRET-0001"): nothing more is asked of you.`},
	} {
		r := newRun(t, newEngine(t, src))
		r.start("vendor", "alice", form("vendor", "Acme", "contact", "sales@acme.example", "amount", "500", "cost_centre", "CC-4711"))
		r.act(flows.EventRequestChanges, tc.by, reason("which cost centre?"))
		tr := r.act(flows.EventResubmit, "alice", data("vendor", "Acme", "contact", "sales@acme.example", "amount", "500", "cost_centre", "CC-SECRET-0001"))
		wantStatus(t, r.in, flows.StatusRunning, "finance", 1)
		told := notified(t, tr, tc.by, "unneeded/vendor_ok/1/"+tc.by).Msg
		contains(t, "the notice to "+tc.by, told.Text, tc.want)
		if tc.by == vendor {
			hidesInternal(t, "the vendor's notice", told, "CC-SECRET-0001", "CC-4711")
		}
	}
}

// TestUnsureRoutingLeavesInternalConditionOut: a step asked to be safe, as
// its condition could not be checked, says so on its cards with the
// condition's error; someone outside the workspace is not told the error
// when the condition reads an internal field (it names the condition, and
// may hold a value: here the pattern).
func TestUnsureRoutingLeavesInternalConditionOut(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, when string
		hidden     bool // from the vendor
	}{
		{"on an internal field", "vendor matches cost_centre", true},
		{"on other fields", "vendor matches pattern", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := strings.Replace(internalFlow, "    policy: all\n", "    policy: all\n    when: "+tc.when+"\n", 1)
			src = strings.Replace(src, "steps:\n", "  - {name: pattern, label: Pattern, type: text}\nsteps:\n", 1)
			r := newRun(t, newEngine(t, src))
			tr := r.start("vendor", "alice", form("vendor", "Acme", "contact", "sales@acme.example", "amount", "500",
				"cost_centre", "(CC-4711", "pattern", "(P-1"))
			wantStatus(t, r.in, flows.StatusRunning, "vendor_ok", 1)
			full := "Routing: " + "asked to be safe: its condition could not be checked (" // then the error, naming the condition
			carol := strings.Join(notified(t, tr, "carol", "vendor_ok/1/carol").Msg.Context, "\n")
			contains(t, "carol's card", carol, full, "(in its condition, "+tc.when+")")
			card := notified(t, tr, vendor, "vendor_ok/1/"+vendor).Msg
			got := strings.Join(card.Context, "\n")
			if !tc.hidden {
				contains(t, "the vendor's card", got, full, "(in its condition, "+tc.when+")")
				return
			}
			contains(t, "the vendor's card", got, "Routing: asked to be safe: its condition could not be checked")
			if strings.Contains(got, full) || strings.Contains(got, "cost_centre") {
				t.Errorf("the vendor's card tells the condition: %q", got)
			}
			hidesInternal(t, "the vendor's card", card, "CC-4711")
			tr = r.fire(flows.TimerRemind) // the reminder says the same
			reminded := 0
			for _, e := range tr.Effects {
				if e.To.Person == vendor && e.Msg != nil {
					reminded++
					hidesInternal(t, "the vendor's reminder", e.Msg, "CC-4711", "cost_centre")
				}
			}
			if reminded == 0 {
				t.Errorf("the vendor was not reminded: %+v", tr.Effects)
			}
		})
	}
}
