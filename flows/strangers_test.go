package flows_test

import (
	"slices"
	"testing"

	"github.com/batonbot/baton/flows"
)

// The built-in flows name only people, groups and channels of the demo
// directory; a flow naming others is told, each with its file, line and
// path, and the name it most likely means.
func TestDirectoryProblems(t *testing.T) {
	t.Parallel()
	if got := exampleEngine(t).DirectoryProblems(); len(got) != 0 {
		t.Fatalf("the built-in flows and directory: %v", got)
	}
	def, err := flows.ParseDefinition("odd.yaml", []byte(`id: odd
name: Odd
owner: olivai
inbound: {secret: crm, requester: ghost}
schedule:
  - {cron: "0 9 * * MON", requester: zoe}
steps:
  - id: s
    type: approval
    assignees: [person:ghost, group:none, group:finace, manager, field:who]
    escalate:
      - {after: 1d, notify: channel:nowhere}
      - {after: 2d, reassign: person:erin}
      - {after: 3d, reassign: person:bobb}
  - id: n
    type: notify
    to: [requester, group:empty, channel:finance]
    message: hi
  - id: q
    type: approval
    assignees: [group:finance, person:carol, manager]
    quorum: 5
  - id: fits
    type: approval
    assignees: [group:security, manager]
    quorum: 4
  - id: c
    type: task
    assignees: [manager]
    channel: opss
form:
  - {name: who, type: person}
`))
	if err != nil {
		t.Fatal(err)
	}
	e, err := flows.NewEngine([]*flows.Definition{def}, testDir(t), []string{"ada", "root"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`odd.yaml:3: owner: "olivai" is not a person in the directory (did you mean "olivia"?)`,
		// Not "bob": an id is short, and two edits of three is no typo.
		`odd.yaml:6: schedule[0].requester: "zoe" is not a person in the directory; add them to it, or name someone who is`,
		`odd.yaml:4: inbound.requester: "ghost" is not a person in the directory; add them to it, or name someone who is`,
		`odd.yaml:10: steps[0].assignees[0]: "ghost" is not a person in the directory; add them to it, or name someone who is`,
		`odd.yaml:10: steps[0].assignees[1]: group "none" has nobody in the directory; give people there this group (groups: [none]), or name another`,
		`odd.yaml:10: steps[0].assignees[2]: group "finace" has nobody in the directory (did you mean "finance"?)`,
		`odd.yaml:12: steps[0].escalate[0].notify: channel "nowhere" is not in the directory; add it to the directory's channels, or name another`,
		`odd.yaml:14: steps[0].escalate[2].reassign: "bobb" is not a person in the directory (did you mean "bob"?)`,
		`odd.yaml:17: steps[1].to[1]: group "empty" has nobody in the directory; give people there this group (groups: [empty]), or name another`,
		// finance has 3 people, carol among them, and one manager: 4.
		`odd.yaml:22: steps[2].quorum: quorum: 5 needs 5 people who may approve, and this step can have at most 4 (group finance has 3 people in the directory); lower the quorum, or add people to the step or the group (else the requester's manager, the owner and then an admin are added to make it up)`,
		`odd.yaml:30: steps[4].channel: channel "opss" is not in the directory (did you mean "ops"?)`,
	}
	var got []string
	for _, p := range e.DirectoryProblems() {
		got = append(got, p.String())
	}
	if !slices.Equal(got, want) {
		t.Fatalf("directory problems:\n%q\nwant:\n%q", got, want)
	}
	// With no directory, any id goes.
	e, _ = flows.NewEngine([]*flows.Definition{def}, nil, nil)
	if got := e.DirectoryProblems(); got != nil {
		t.Fatalf("no directory: %v", got)
	}
	// A schedule written as one mapping is named as written.
	one, err := flows.ParseDefinition("one.yaml", []byte(`id: one
name: One
owner: olivia
schedule: {cron: "0 9 * * MON", requester: ghost}
steps:
  - {id: a, type: notify, to: [requester], message: hi}
`))
	if err != nil {
		t.Fatal(err)
	}
	e, _ = flows.NewEngine([]*flows.Definition{one}, testDir(t), nil)
	if got := e.DirectoryProblems(); len(got) != 1 || got[0].Path != "schedule.requester" || got[0].Line != 4 {
		t.Fatalf("a single schedule: %v", got)
	}
}
