package flows_test

import (
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
