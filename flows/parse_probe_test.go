package flows_test

import (
	"errors"
	"testing"

	"github.com/batonbot/baton/flows"
)

func TestProbeParse(t *testing.T) {
	cases := map[string]string{
		"escalate block map": validHead + `steps:
  - id: a
    type: approval
    assignees: [manager]
    escalate:
      after: 1h
      notify: person:bob
`,
		"message block seq": validHead + `steps:
  - id: a
    type: notify
    to: [requester]
    message:
      - a
      - b
`,
		"remind first key unknown": validHead + `steps:
  - id: a
    type: approval
    assignees: [manager]
    remind:
      everyy: 1h
      max: 2
`,
		"remind single unknown": validHead + `steps:
  - id: a
    type: approval
    assignees: [manager]
    remind:
      everyy: 1h
`,
		"step first key unknown": validHead + `steps:
  - idd: a
    type: approval
    assignees: [manager]
`,
		"assignees not list block map": validHead + `steps:
  - id: a
    type: approval
    assignees:
      person: bob
`,
		"name mapping": `id: v
name:
  first: x
owner: olivia
steps:
  - {id: a, type: notify, to: [requester], message: hi}
`,
		"quoted number": validHead[:len(validHead)-1] + `
  - {name: x, label: X, type: number, max: "10"}
steps:
  - {id: a, type: notify, to: [requester], message: hi}
`,
		"quoted float into quorum": validHead + `steps:
  - id: a
    type: approval
    assignees: [manager]
    quorum: "2"
`,
		"quorum 1.5": validHead + `steps:
  - id: a
    type: approval
    assignees: [manager]
    quorum: 1.5
`,
	}
	for name, src := range cases {
		_, err := flows.ParseDefinition("f.yaml", []byte(src))
		var de *flows.DefinitionError
		if errors.As(err, &de) {
			for _, p := range de.Problems {
				t.Logf("%s: %s", name, p)
			}
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}
