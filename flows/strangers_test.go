package flows_test

import (
	"slices"
	"testing"

	"github.com/batonbot/baton/flows"
)

// The built-in flows name only people, groups and channels of the demo
// directory; a flow naming others is told, each with where.
func TestStrangers(t *testing.T) {
	t.Parallel()
	if got := exampleEngine(t).Strangers(); len(got) != 0 {
		t.Fatalf("the built-in flows and directory: %v", got)
	}
	def := mustParse(t, `
id: odd
name: Odd
owner: nobody
inbound: {secret: crm, requester: ghost}
steps:
  - id: s
    type: approval
    assignees: [person:ghost, group:none, group:finance, manager, field:who]
    escalate:
      - {after: 1d, notify: channel:nowhere}
      - {after: 2d, reassign: person:erin}
  - id: n
    type: notify
    to: [requester, group:empty, channel:finance]
    message: hi
form:
  - {name: who, type: person}
`)
	e, err := flows.NewEngine([]*flows.Definition{def}, testDir(t), []string{"ada", "root"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`flow odd owner: "nobody" is not a person in the directory`,
		`flow odd inbound requester: "ghost" is not a person in the directory`,
		`flow odd step s assignees: "ghost" is not a person in the directory`,
		`flow odd step s assignees: group "none" has nobody in the directory`,
		`flow odd step s escalate[0]: channel "nowhere" is not in the directory`,
		`flow odd step n to: group "empty" has nobody in the directory`,
	}
	if got := e.Strangers(); !slices.Equal(got, want) {
		t.Fatalf("strangers:\n%q\nwant:\n%q", got, want)
	}
	// With no directory, any id goes.
	e, _ = flows.NewEngine([]*flows.Definition{def}, nil, nil)
	if got := e.Strangers(); got != nil {
		t.Fatalf("no directory: %v", got)
	}
}
