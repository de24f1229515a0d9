package flows_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/batonbot/baton/flows"
)

// validHead starts a definition; cases append their steps (or more keys).
const validHead = `id: v
name: V
owner: olivia
form:
  - {name: amount, type: number}
  - {name: approver, type: person}
  - {name: note}
`

// A marker "# @path" (or several: "# @a @b") at the end of a line says the
// test expects the problem at that path to be reported on that line.
var marker = regexp.MustCompile(`# ((?:@\S+\s*)+)$`)

// markedLines maps each marked path to its line.
func markedLines(src string) map[string]int {
	lines := map[string]int{}
	for i, l := range strings.Split(src, "\n") {
		if m := marker.FindStringSubmatch(l); m != nil {
			for _, p := range strings.Fields(m[1]) {
				lines[strings.TrimPrefix(p, "@")] = i + 1
			}
		}
	}
	return lines
}

// lineFor is the marked line of path or, for a key that is missing, of the
// nearest enclosing path; 1 (the document) when none is marked.
func lineFor(lines map[string]int, path string) int {
	for {
		if l, ok := lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i <= 0 {
			return 1
		}
		path = path[:i]
	}
}

func TestValidationProblems(t *testing.T) {
	t.Parallel()
	type want struct{ path, msg string }
	tests := []struct {
		name string
		src  string
		want []want
	}{
		{"unknown top-level key", validHead + `descripton: x # @descripton
steps:
  - {id: a, type: notify, to: [requester], message: hi}
`, []want{{"descripton", `unknown key "descripton" (did you mean "description"?)`}}},
		{"unknown step key with a suggestion", validHead + `steps:
  - id: a
    type: approval
    assignees: [manager]
    asignees: [manager] # @steps[0].asignees
`, []want{{"steps[0].asignees", `unknown key "asignees" (did you mean "assignees"?)`}}},
		{"unknown key without a suggestion", validHead + `steps:
  - id: a
    type: notify
    to: [requester]
    message: hi
    xyzzyplughfoo: 1 # @steps[0].xyzzyplughfoo
`, []want{{"steps[0].xyzzyplughfoo", `unknown key "xyzzyplughfoo"; remove it`}}},
		{"every unknown key at once, with the other problems", validHead + `colour: red # @colour
steps:
  - id: a
    type: approval
    assignees: [manager]
    deu: 1d # @steps[0].deu
    remind: {every: soon, maxx: 2} # @steps[0].remind.maxx @steps[0].remind.every
`, []want{
			{"colour", `unknown key "colour"; remove it`},
			{"steps[0].deu", `unknown key "deu" (did you mean "due"?)`},
			{"steps[0].remind.maxx", `unknown key "maxx" (did you mean "max"?)`},
			{"steps[0].remind.every", `soon`},
		}},
		{"an unknown key holding an anchor is not dropped", validHead + `x-people: &p [manager] # @x-people
steps:
  - id: a
    type: approval
    assignees: *p
`, []want{{"x-people", `unknown key "x-people"; remove it`}}},
		{"every value of the wrong type at once, with the unknown keys", validHead[:len(validHead)-1] + `
  - {name: x, label: [a, b], type: number, max: lots, required: maybe} # @form[3].label @form[3].max @form[3].required
  - name: y
    options: {a: b} # @form[4].options
steps:
  - id: a # @steps[0]
    type: approval
    asignees: [manager] # @steps[0].asignees
    remind: {every: 4h, max: many} # @steps[0].remind.max
    escalate: nope # @steps[0].escalate
`, []want{
			{"form[3].label", `this should be a single value`},
			{"form[3].max", `"lots" is not a number`},
			{"form[3].required", `"maybe" is not true or false`},
			{"form[4].options", `this should be a list`},
			{"steps[0].asignees", `unknown key "asignees" (did you mean "assignees"?)`},
			{"steps[0].remind.max", `"many" is not a whole number`},
			{"steps[0].escalate", `"nope" is not a list`},
			// then what the rest of the file says, but for what was said
			{"steps[0].assignees", "an approval step needs assignees"},
		}},
		{"assignees and targets that are not one name, or listed twice", validHead + `steps:
  - id: a
    type: approval
    assignees: ["person:bob, person:carol", "group:fin ance", person:dana, person:dana] # @steps[0].assignees[0] @steps[0].assignees[1] @steps[0].assignees[3]
    escalate:
      - after: 1d
        notify: "person:two words" # @steps[0].escalate[0].notify
`, []want{
			{"steps[0].assignees[0]", `"bob, person:carol" is not one person name; list each assignee on its own`},
			{"steps[0].assignees[1]", `"fin ance" is not one group name`},
			{"steps[0].assignees[3]", `assignee "person:dana" is listed twice (also assignees[2])`},
			{"steps[0].escalate[0].notify", `"two words" is not one person name`},
		}},
		{"a condition on what a later step sets", validHead + `steps:
  - id: a
    type: approval
    assignees: [manager]
    when: account != "" # @steps[0].when
  - id: grant
    type: task
    assignees: [group:it]
    outputs:
      - {name: account, label: Account}
  - id: c
    type: approval
    assignees: [manager]
    when: account != ""
`, []want{{"steps[0].when", `condition "account != \"\"" uses "account", which step grant sets later: a condition may use the form and what earlier steps set`}}},
		// A name set later and a typo in one condition: each told as what it is.
		{"a condition with a name set later and a typo", validHead + `steps:
  - id: a
    type: approval
    assignees: [manager]
    when: amout > 1 && account != "" # @steps[0].when
  - id: grant
    type: task
    assignees: [group:it]
    outputs:
      - {name: account, label: Account}
`, []want{{"steps[0].when", `uses "account", which step grant sets later`}, {"steps[0].when", `names unknown field "amout" (did you mean "amount"?)`}}},
		{"fractions for whole numbers", validHead + `steps:
  - id: a
    type: approval
    assignees: [manager, person:erin]
    quorum: 1.5 # @steps[0].quorum
    max_rounds: 2.0
    remind: {every: 1h, max: 1.9} # @steps[0].remind.max
`, []want{
			{"steps[0].quorum", "1.5 is not a whole number"},
			{"steps[0].remind.max", "1.9 is not a whole number"},
		}},
		{"a quoted boolean", validHead[:len(validHead)-1] + `
  - {name: x, label: X, required: "true"} # @form[3].required
steps:
  - {id: a, type: notify, to: [requester], message: hi}
`, []want{{"form[3].required", `"true" is in quotes, which makes it text: write true without them`}}},
		{"a mapping as a list item where a value is expected", validHead + `steps:
  - id: a
    type: notify
    to: [{role: x}, requester] # @steps[0].to[0]
    message: hi
    colour: red # @steps[0].colour
`, []want{
			{"steps[0].to[0]", "this should be a single value"},
			{"steps[0].colour", `unknown key "colour"`},
		}},
		{"a block mapping where a list is expected", validHead + `steps:
  - id: a
    type: approval
    assignees: # @steps[0].assignees
      person: bob
    escalate: # @steps[0].escalate
      after: 1d
      notify: manager
`, []want{
			{"steps[0].assignees", "this should be a list"},
			{"steps[0].escalate", "this should be a list"},
		}},
		{"a suggestion is a key of the same place", validHead + `requierd: true # @requierd
steps:
  - {id: a, type: notify, to: [requester], message: hi, label: x} # @steps[0].label
`, []want{
			{"requierd", `unknown key "requierd"; remove it`},
			{"steps[0].label", `unknown key "label"; remove it`},
		}},
		{"the other problems of a file with a value of the wrong type", validHead[:len(validHead)-1] + `
  - {name: x, label: X, required: "yes"} # @form[3].required
steps:
  - id: a
    type: approval
    assignees: [manager]
    due: 3 days # @steps[0].due
  - id: a # @steps[1].id
    type: approval
    assignees: [manager]
    when: amuont > 5 # @steps[1].when
`, []want{
			{"form[3].required", `"yes" is not true or false`},
			{"steps[0].due", `invalid duration "3 days": write it without spaces`},
			{"steps[1].id", `step id "a" is already used`},
			{"steps[1].when", `unknown field "amuont"`},
		}},
		{"templates naming no field", strings.Replace(validHead, "owner: olivia", "owner: olivia\ntitle: \"{{.ammount}} {{with .note}}{{.Anything}}{{end}} {{$.zork}}\" # @title", 1) + `steps:
  - id: a
    type: notify
    to: [requester]
    message: "{{.requester}} {{.title}} {{.id}} {{.titel}}" # @steps[0].message
`, []want{
			{"title", `{{.ammount}} names no field (did you mean {{.amount}}?)`},
			{"title", `{{.Anything}} inside {{with}} reads a part of a field's value`},
			{"title", `{{.zork}} names no field; use a form field's name, id or requester`},
			{"steps[0].message", `{{.titel}} names no field (did you mean {{.title}}?)`},
		}},
		{"templates naming what a step sets after they are written", strings.Replace(validHead, "owner: olivia", "owner: olivia\ntitle: \"{{.note}} {{.account}}\" # @title", 1) + `steps:
  - id: t
    type: task
    assignees: [manager]
    instructions: "make {{.account}} for {{.tk}}" # @steps[0].instructions
    outputs:
      - {name: account, label: Account}
  - id: h
    type: webhook
    url: https://example.com
    store: {tk: ticket}
  - id: n
    type: notify
    to: [requester]
    message: "{{.account}} {{.tk.key}} {{index .tk 0}} {{with .note}}{{$.tk.id}} {{.x}}{{end}} {{$v := .note}}{{$v.k}} {{range .note}}{{end}}" # @steps[2].message
`, []want{
			{"title", `{{.account}} is set by step t, but the title is made from the start form`},
			{"steps[0].instructions", `{{.account}} is set by this step once it is done`},
			{"steps[0].instructions", `{{.tk}} is set by step h, later`},
			{"steps[2].message", `{{.tk.key}} reads a part of tk, whose value is written as text`},
			{"steps[2].message", `index reads into a list or an object`},
			{"steps[2].message", `{{$.tk.id}} reads a part of tk`},
			{"steps[2].message", `{{.x}} inside {{with}} reads a part of a field's value`},
			{"steps[2].message", `{{$v.k}} reads a part of a value`},
			{"steps[2].message", `range goes over a list`},
		}},
		{"options no chat menu takes", validHead[:len(validHead)-1] + `
  - {name: size, type: choice, options: [small, "` + strings.Repeat("x", 76) + `"]} # @form[3].options[1]
  - {name: pick, type: choice, options: [` + manyOptions(101) + `]} # @form[4].options
steps:
  - {id: a, type: notify, to: [requester], message: hi}
`, []want{
			{"form[3].options[1]", "option is 76 characters long; keep it to 75"},
			{"form[4].options", "101 options; a chat menu holds at most 100"},
		}},
		{"reminders that would never come", validHead + `steps:
  - id: a
    type: approval
    assignees: [manager]
    due: 1d
    on_timeout: approve
    remind: {every: 2d} # @steps[0].remind.every
  - id: b
    type: approval
    assignees: [manager]
    due: 1d
    on_timeout: wait
    remind: {every: 2d}
`, []want{
			{"steps[0].remind.every", "every 2d is not shorter than due 1d, and on_timeout: approve ends the step at due, so no reminder would be sent"},
		}},
		{"zeros written out, and a webhook with no url", validHead + `steps:
  - id: a
    type: approval
    assignees: [manager]
    quorum: 2 # @steps[0].quorum
    max_rounds: 0 # @steps[0].max_rounds
    remind:
      every: 1h
      max: 0 # @steps[0].remind.max
  - id: h # @steps[1].url
    type: webhook
`, []want{
			{"steps[0].quorum", "quorum: 2 needs at least 2 assignees, and 1 is listed"},
			{"steps[0].max_rounds", "max_rounds must be a positive number (1: no resubmission)"},
			{"steps[0].remind.max", "max must be a positive number"},
			{"steps[1].url", "a webhook step needs a url"},
		}},
		{"unknown key in a form field", validHead[:len(validHead)-1] + `
  - {name: x, typ: text} # @form[3].typ
steps:
  - {id: a, type: notify, to: [requester], message: hi}
`, []want{{"form[3].typ", `(did you mean "type"?)`}}},
		{"bad durations", validHead + `steps:
  - id: a
    type: approval
    assignees: [manager]
    due: 3 days # @steps[0].due
    remind:
      every: soon # @steps[0].remind.every
      max: -1 # @steps[0].remind.max
    escalate:
      - after: 2x # @steps[0].escalate[0].after
        notify: manager
      - after: 1d
        notify: manager
      - after: 1d # @steps[0].escalate[2].after
        reassign: manager
`, []want{
			{"steps[0].due", `invalid duration "3 days"`},
			{"steps[0].remind.every", `invalid duration "soon"`},
			{"steps[0].remind.max", "max must be a positive number"},
			{"steps[0].escalate[0].after", `unknown unit "x"`},
			{"steps[0].escalate[2].after", "after 1d must be later than the rung before it"},
		}},
		{"rungs an automatic decision at due would cut off", validHead + `steps:
  - id: a
    type: approval
    assignees: [manager]
    due: 1d
    on_timeout: approve
    escalate:
      - {after: 20h, notify: manager}
      - {after: 1d, reassign: manager} # @steps[0].escalate[1].after
  - id: b
    type: approval
    assignees: [manager]
    due: 36h
    on_timeout: reject
    escalate:
      - {after: 2d, notify: manager} # @steps[1].escalate[0].after
  - id: c
    type: approval
    assignees: [manager]
    due: 1d
    on_timeout: wait
    escalate:
      - {after: 2d, notify: manager}
`, []want{
			{"steps[0].escalate[1].after", "after 1d is not before due 1d, and on_timeout: approve ends the step at due, so this rung would never happen; make it earlier than due, or set on_timeout: wait"},
			{"steps[1].escalate[0].after", "after 2d is not before due 36h, and on_timeout: reject ends the step"},
		}},
		{"rungs cut off in working time", "working_hours: true\n" + validHead + `steps:
  - id: a
    type: approval
    assignees: [manager]
    due: 1d
    on_timeout: approve
    escalate:
      - {after: 4h, notify: manager}
      - {after: 24h, notify: manager} # @steps[0].escalate[1].after
  - id: b
    type: approval
    assignees: [manager]
    due: 1d
    on_timeout: reject
    escalate:
      - {after: 1w, notify: manager} # @steps[1].escalate[0].after
  - id: c
    type: approval
    assignees: [manager]
    due: 2d
    on_timeout: approve
    escalate:
      - {after: 1d4h, notify: manager}
`, []want{
			{"steps[0].escalate[1].after", "after 24h is not before due 1d"},
			{"steps[1].escalate[0].after", "after 1w is not before due 1d"},
		}},
		{"unreachable step", validHead + `steps:
  - id: a
    type: approval
    assignees: [manager]
    next: end
  - id: b # @steps[1]
    type: approval
    assignees: [manager]
`, []want{{"steps[1]", `step "b" is never reached`}}},
		{"unknown field in a condition", validHead + `steps:
  - id: a
    type: approval
    when: amout > 1000 # @steps[0].when
    assignees: [manager]
`, []want{{"steps[0].when", `names unknown field "amout" (did you mean "amount"?); it may use amount, approver, note, requester`}}},
		{"condition of the wrong type", validHead + `steps:
  - id: a
    type: approval
    when: note > 1000 # @steps[0].when
    assignees: [manager]
`, []want{{"steps[0].when", `condition "note > 1000" is not valid`}}},
		{"condition that is not boolean", validHead + `steps:
  - id: a
    type: approval
    when: amount + 1 # @steps[0].when
    assignees: [manager]
`, []want{{"steps[0].when", `is not valid`}}},
		// A condition's commonest mistakes, said in words, not as the
		// expression library's tokens and types.
		{"a condition with = for ==", validHead + `steps:
  - id: a
    type: approval
    when: note = "it" # @steps[0].when
    assignees: [manager]
`, []want{{"steps[0].when", `condition "note = \"it\"" is not valid: = is not a comparison; use == to compare: note == "it"`}}},
		{"a number with grouping commas", validHead + `steps:
  - id: a
    type: approval
    when: amount > 1,000 # @steps[0].when
    assignees: [manager]
`, []want{{"steps[0].when", `is not valid: 1,000: numbers are written without grouping commas; write 1000 (or 1_000)`}}},
		{"a number field compared with a text", validHead + `steps:
  - id: a
    type: approval
    when: amount > "500" # @steps[0].when
    assignees: [manager]
  - id: b
    type: approval
    when: note >= 5 # @steps[1].when
    assignees: [manager]
  - id: c
    type: approval
    when: amount == note # @steps[2].when
    assignees: [manager]
  - id: d
    type: approval
    when: '"500" < amount' # @steps[3].when
    assignees: [manager]
  - id: e
    type: approval
    when: 5 <= note # @steps[4].when
    assignees: [manager]
`, []want{
			{"steps[0].when", `is not valid: amount is a number field, and "500" is a text; write the number without quotes: amount > 500`},
			{"steps[1].when", `is not valid: note holds text, and 5 is a number; compare it with a text, in quotes: note >= "5"`},
			{"steps[2].when", `is not valid: amount is a number field and note holds text: they cannot be compared`},
			// The field on the right: the advice writes it first, the comparison mirrored.
			{"steps[3].when", `write the number without quotes: amount > 500`},
			{"steps[4].when", `compare it with a text, in quotes: note >= "5"`},
		}},
		// A key left empty: its content is missing, and what was meant to
		// be under it, written beside it, is not a key to remove.
		{"an empty remind, its keys beside it", validHead + `steps:
  - id: a
    type: approval
    assignees: [manager]
    remind: # @steps[0].remind
    every: 1h # @steps[0].every
    max: 2 # @steps[0].max
`, []want{
			{"steps[0].remind", "remind has no value: write its keys (every, max) indented under it, or remove it"},
			{"steps[0].every", `unknown key "every" here: it is a key of remind (line 12), which has no value; indent it under remind:`},
			{"steps[0].max", `unknown key "max" here: it is a key of remind (line 12), which has no value; indent it under remind:`},
		}},
		{"empty keys", validHead + `steps:
  - id: a
    type: approval
    assignees: # @steps[0].assignees
    escalate: # @steps[0].escalate
    after: 1d # @steps[0].after
  - id: b
    type: task
    assignees: [manager]
    outputs: # @steps[1].outputs
  - id: c
    type: webhook
    url: https://example.com/hook
    store: # @steps[2].store
`, []want{
			{"steps[0].assignees", `assignees has no value: list its items indented under it, each on a line starting with "- ", or remove it`},
			{"steps[0].escalate", "escalate has no value"},
			{"steps[0].after", `unknown key "after" here: it is a key of escalate (line 12), which has no value; indent it under escalate:, as an item (- after: ...)`},
			{"steps[1].outputs", "outputs has no value"},
			{"steps[2].store", "store has no value: write its entries (name: value) indented under it, or remove it"},
		}},
		// Checked alone: in the ^(?:...)$ it is matched in, its ) would
		// close that group and the pattern pass.
		{"a pattern with a ) that closes nothing", validHead[:len(validHead)-1] + `
  - {name: code, pattern: "a)(?:b"} # @form[3].pattern
steps:
  - {id: a, type: notify, to: [requester], message: hi}
`, []want{{"form[3].pattern", `pattern "a)(?:b" is not a valid regular expression: a ) in "a)(?:b" closes no group: remove it, or write \) for the character )`}}},
		{"backwards and unknown next", validHead + `steps:
  - id: a
    type: approval
    assignees: [manager]
    next: nowhere # @steps[0].next
  - id: b
    type: approval
    assignees: [manager]
    next: a # @steps[1].next
  - id: c
    type: approval
    assignees: [manager]
    next: c # @steps[2].next
`, []want{
			{"steps[0].next", `next "nowhere" is not a step id; use a later step (b, c) or end`},
			{"steps[1].next", `next "a" goes backwards`},
			{"steps[2].next", `next "c" goes backwards`},
		}},
		{"policy and quorum conflicts", validHead + `steps:
  - id: a
    type: approval
    assignees: [group:finance]
    policy: all
    quorum: 2 # @steps[0].quorum
  - id: b # @steps[1].quorum
    type: approval
    assignees: [group:finance]
    policy: quorum
  - id: c
    type: approval
    assignees: [group:finance]
    policy: most # @steps[2].policy
  - id: d
    type: approval
    assignees: [group:finance]
    quorum: -1 # @steps[3].quorum
  - id: e
    type: approval
    assignees: [person:bob, manager]
    quorum: 3 # @steps[4].quorum
  - id: f
    type: approval
    assignees: [group:finance]
    quorum: 0 # @steps[5].quorum
`, []want{
			{"steps[4].quorum", "quorum: 3 needs at least 3 assignees, and 2 are listed"},
			{"steps[0].quorum", `quorum: 2 conflicts with policy "all"; keep one of them`},
			{"steps[1].quorum", "policy quorum needs quorum: N"},
			{"steps[2].policy", `policy "most" is not a policy; use any or all, or set quorum: N (a key of its own, beside policy) for N approvals`},
			{"steps[3].quorum", "quorum must be a positive number"},
			{"steps[5].quorum", "quorum must be a positive number"}, // 0 is said, not taken for "not set"
		}},
		{"keys of the wrong step kind", validHead + `steps:
  - id: a
    type: notify
    to: [requester]
    message: hi
    assignees: [manager] # @steps[0].assignees
    due: 1d # @steps[0].due
  - id: b
    type: approval
    assignees: [manager]
    message: hi # @steps[1].message
  - id: c
    type: task
    assignees: [manager]
    quorum: 2 # @steps[2].quorum
    on_timeout: approve # @steps[2].on_timeout
    due: 1d
  - id: d
    type: approval
    assignees: [manager]
    outputs: # @steps[3].outputs
      - {name: x}
  - id: e
    type: notify
    to: [requester]
    message: hi
    url: https://example.com # @steps[4].url
  - id: f
    type: webhook
    url: https://example.com
    remind: {every: 1h} # @steps[5].remind
  - id: g
    type: notify
    to: [requester]
    message: hi
    on_timeout: approve # @steps[6].on_timeout
  - id: h
    type: webhook
    url: https://example.com
    due: 1h
    on_timeout: wait # @steps[7].on_timeout
`, []want{
			{"steps[0].assignees", "assignees is only for approval and task steps"},
			{"steps[0].due", "due is only for approval, task and webhook steps"},
			{"steps[1].message", "message is only for notify steps"},
			{"steps[2].quorum", "quorum is only for approval steps"},
			{"steps[2].on_timeout", "on_timeout approve is only for approval steps"},
			{"steps[3].outputs", "outputs is only for task steps"},
			{"steps[4].url", "url is only for webhook steps"},
			{"steps[5].remind", "remind is only for approval and task steps"},
			{"steps[6].on_timeout", "on_timeout is only for approval and task steps"},
			{"steps[7].on_timeout", "on_timeout is only for approval and task steps"},
		}},
		{"reapprove_on", validHead + `steps:
  - id: a
    type: approval
    assignees: [manager]
    reapprove_on: [amount, colour] # @steps[0].reapprove_on[1]
  - id: b
    type: task
    assignees: [manager]
    reapprove_on: [amount] # @steps[1].reapprove_on
`, []want{
			{"steps[0].reapprove_on[1]", `reapprove_on "colour" is not a form field; name form fields whose change by a resubmission should ask this step again (amount, approver, note)`},
			{"steps[1].reapprove_on", "reapprove_on is only for approval steps"},
		}},
		{"duplicate ids and names", validHead[:len(validHead)-1] + `
  - {name: amount} # @form[3].name
steps:
  - id: a
    type: task
    assignees: [manager]
    outputs:
      - {name: note} # @steps[0].outputs[0].name
  - id: a # @steps[1].id
    type: webhook
    url: https://example.com
    store:
      amount: x.y # @steps[1].store.amount
`, []want{
			{"form[3].name", `name "amount" is already used by form[0]`},
			{"steps[0].outputs[0].name", `name "note" is already used by form[2]`},
			{"steps[1].id", `step id "a" is already used by steps[0]`},
			{"steps[1].store.amount", `store key "amount" is already used by form[0]`},
		}},
		{"required top-level keys", `description: nothing else # @description
steps: [] # @steps
`, []want{
			{"id", "id is required"},
			{"name", "name is required"},
			{"owner", "owner is required"},
			{"steps", "a flow needs at least one step"},
		}},
		{"bad ids, prefix, command and title", `id: Purchase Request # @id
name: P
owner: two people # @owner
command: Buy Now # @command
prefix: pr # @prefix
title: "{{.item" # @title
steps:
  - id: end # @steps[0].id
    type: notify
    to: [requester]
    message: hi
  - id: Bad Id # @steps[1].id
    type: nudge # @steps[1].type
`, []want{
			{"id", `id "Purchase Request" must be lowercase letters`},
			{"owner", `"two people" is not a person id`},
			{"command", `command "Buy Now" must be one lowercase word`},
			{"prefix", `prefix "pr" must be 1-8 capital letters`},
			{"title", "title is not a valid template"},
			{"steps[0].id", `"end" is reserved`},
			{"steps[1].id", `id "Bad Id" must be lowercase letters`},
			{"steps[1].type", `type "nudge" is not a step type; use one of approval, task, notify, webhook`},
		}},
		{"options and assignees that cannot work", `id: v
name: V
owner: olivia
form:
  - name: level
    type: choice
    options:
      - read
      - ~ # @form[0].options[1]
      - read # @form[0].options[2]
      - {a: b} # @form[0].options[3]
steps:
  - id: s
    type: approval
    assignees: [requester] # @steps[0].assignees
`, []want{
			{"form[0].options[1]", "an option is empty"},
			{"form[0].options[2]", `option "read" is listed twice`},
			{"form[0].options[3]", "an option is one value, not a list or a map"},
			{"steps[0].assignees", "the requester may not approve their own request"},
		}},
		{"a condition comparing a choice with a value it cannot have", `id: v
name: V
owner: olivia
form:
  - {name: level, type: choice, options: [read, write, admin]}
steps:
  - id: s
    type: approval
    assignees: [manager]
    when: 'level == "Admin"' # @steps[0].when
  - id: t
    type: approval
    assignees: [manager]
    when: 'level in ["write", "Admin"]' # @steps[1].when
  - id: u
    type: approval
    assignees: [manager]
    when: 'level not in ["read"] && level in ["write", "admin"]'
  - id: v
    type: approval
    assignees: [manager]
    when: 'level not in ["Read"]' # @steps[3].when
`, []want{
			{"steps[0].when", `condition "level == \"Admin\"" compares level == "Admin": "Admin" is not one of level's options (read, write, admin), so this is always false; did you mean "admin"?`},
			{"steps[1].when", `compares level in [...] with "Admin": "Admin" is not one of level's options (read, write, admin), so it never matches; did you mean "admin"?`},
			{"steps[3].when", `so it never excludes anything; did you mean "read"?`},
		}},
		{"an assignee or a condition naming what is set later", `id: v
name: V
owner: olivia
steps:
  - id: a
    type: approval
    assignees: [field:reviewer] # @steps[0].assignees[0]
  - id: b
    type: task
    assignees: [manager]
    when: 'ticket != ""' # @steps[1].when
    outputs:
      - {name: reviewer, type: person}
      - {name: ticket, type: text}
`, []want{
			{"steps[0].assignees[0]", `"field:reviewer" names reviewer, which step b sets later: an assignee may be a person field of the form or one an earlier step sets`},
			{"steps[1].when", `uses "ticket", which this step sets: its condition is checked before it runs`},
		}},
		{"a mistyped step type, and the step's other problems", `id: v
name: V
owner: olivia
steps:
  - id: s
    type: aproval # @steps[0].type
    assignees: [manager]
    due: 1 day # @steps[0].due
    policy: quorom # @steps[0].policy
    on_timeout: approv # @steps[0].on_timeout
`, []want{
			{"steps[0].type", `type "aproval" is not a step type (did you mean "approval"?)`},
			{"steps[0].due", "write it without spaces"},
			{"steps[0].policy", `policy "quorom" is not a policy`},
			{"steps[0].on_timeout", `"approv"`},
		}},
		{"field problems", `id: v
name: V
owner: olivia
form:
  - {name: a, type: money} # @form[0].type
  - {name: b, type: choice} # @form[1].options
  - {name: c, options: [x]} # @form[2].options
  - {name: d, type: number, min: 5, max: 1} # @form[3].min
  - {name: e, pattern: "[a-"} # @form[4].pattern
  - {name: f, type: choice, options: [x, y], default: z} # @form[5].default
  - {name: G} # @form[6].name
  - {label: nameless} # @form[7].name
  - {name: i, max: -1} # @form[8].max
  - {name: j, type: longtext, min: 2.5} # @form[9].min
  - {name: k, type: person, min: 1} # @form[10].min
  - {name: l, type: url, max: 5} # @form[11].max
  - {name: m, type: longtext, min: 4000} # @form[12].min
steps:
  - {id: s, type: notify, to: [requester], message: hi}
`, []want{
			{"form[0].type", `type "money" is not a field type; use one of text, longtext, number, choice, date, person, url`},
			{"form[1].options", "a choice field needs options"},
			{"form[2].options", "options are only for fields of type choice"},
			{"form[3].min", "min 5 is above max 1"},
			{"form[4].pattern", `pattern "[a-" is not a valid regular expression: the [ of "[a-" opens a set of characters and nothing closes it: add the ]`},
			{"form[5].default", `default "z" is not a valid value: f must be one of: x, y`},
			{"form[6].name", `name "G" must be a lowercase identifier`},
			{"form[7].name", "name is required"},
			{"form[8].max", "max of a text field is a number of characters: a whole number, 1 or more"},
			{"form[9].min", "min of a longtext field is a number of characters: a whole number, 0 or more"},
			{"form[10].min", "min is for number fields (a value), date fields (days from today) and text, longtext, url and email fields (a number of characters), not person fields"},
			{"form[11].max", "max of a url field is a number of characters: a whole number, 10 or more"},
			{"form[12].min", "min 4000 is above the 3000 characters a longtext field takes when it sets no max; set max too"},
		}},
		{"assignees and escalation targets", validHead + `steps:
  - id: a
    type: approval
    assignees: [boss, "field:note", "field:approver"] # @steps[0].assignees[0] @steps[0].assignees[1]
    due: 1d
    on_timeout: later # @steps[0].on_timeout
    escalate:
      - after: 1h # @steps[0].escalate[0]
        notify: manager
        reassign: manager
      - after: 2h
        notify: nobody # @steps[0].escalate[1].notify
      - after: 3h
        reassign: "channel:ops" # @steps[0].escalate[2].reassign
  - id: b # @steps[1].assignees
    type: task
    on_timeout: wait # @steps[1].on_timeout
`, []want{
			{"steps[0].assignees[0]", `assignee "boss" is not understood`},
			{"steps[0].assignees[1]", `"field:note" names no person field; add a form field "note" of type person`},
			{"steps[0].on_timeout", `on_timeout "later" is not allowed`},
			{"steps[0].escalate[0]", "a rung has exactly one of notify"},
			{"steps[0].escalate[1].notify", `"nobody" is not understood; use manager, person:ID, group:NAME or channel:NAME`},
			{"steps[0].escalate[2].reassign", `"channel:ops" is not understood; reassign to manager or person:ID`},
			{"steps[1].assignees", "a task step needs assignees"},
			{"steps[1].on_timeout", "on_timeout needs due"},
		}},
		{"a notify step's field: targets", validHead + `steps:
  - id: a
    type: notify
    to: [field:approver, field:note, field:reviewer] # @steps[0].to[1] @steps[0].to[2]
    message: hi
  - id: b
    type: task
    assignees: [manager]
    outputs:
      - {name: reviewer, type: person}
`, []want{
			{"steps[0].to[1]", `"field:note" names no person field; add a form field "note" of type person`},
			{"steps[0].to[2]", `"field:reviewer" names reviewer, which step b sets later`},
		}},
		{"notify and webhook steps", validHead + `steps:
  - id: a # @steps[0].message @steps[0].to
    type: notify
  - id: b
    type: notify
    to: [someone] # @steps[1].to[0]
    message: "{{if}}" # @steps[1].message
  - id: c
    type: webhook
    url: ftp://example.com # @steps[2].url
    retries: 30 # @steps[2].retries
    on_error: ignore # @steps[2].on_error
    store:
      Bad: x # @steps[2].store.Bad
      ok: " " # @steps[2].store.ok
`, []want{
			{"steps[0].message", "a notify step needs a message"},
			{"steps[0].to", "a notify step needs to:"},
			{"steps[1].to[0]", `"someone" is not understood`},
			{"steps[1].message", "message is not a valid template"},
			{"steps[2].url", `webhook url ftp://example.com must be an http:// or https:// address`},
			{"steps[2].retries", "retries must be between 0 and 20"},
			{"steps[2].on_error", `on_error "ignore" is not allowed; use fail or continue`},
			{"steps[2].store.Bad", `store key "Bad" must be a lowercase identifier`},
			{"steps[2].store.ok", "give the path of the value in the JSON reply"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lines := markedLines(tt.src)
			_, err := flows.ParseDefinition("flows/v.yaml", []byte(tt.src))
			var de *flows.DefinitionError
			if !errors.As(err, &de) {
				t.Fatalf("error %v, want a *DefinitionError", err)
			}
			for _, w := range tt.want {
				found := false
				for _, p := range de.Problems {
					if p.Path == w.path && strings.Contains(p.Msg, w.msg) {
						found = true
						if p.File != "flows/v.yaml" {
							t.Errorf("%s: file %q", w.path, p.File)
						}
						if line := lineFor(lines, w.path); p.Line != line {
							t.Errorf("%s: line %d, want %d (%s)", w.path, p.Line, line, p)
						}
						if !strings.HasPrefix(p.String(), "flows/v.yaml:") || !strings.Contains(p.String(), w.path+": ") {
							t.Errorf("%s: Problem.String() = %q", w.path, p)
						}
					}
				}
				if !found {
					t.Errorf("no problem at %s saying %q; got:\n%v", w.path, w.msg, err)
				}
			}
			if len(de.Problems) != len(tt.want) {
				t.Errorf("%d problems, want %d:\n%v", len(de.Problems), len(tt.want), err)
			}
		})
	}
}

func TestValidationOfDocuments(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, src string
		line      int
		msg       string
	}{
		{"empty", "", 0, "exactly one flow definition"},
		{"two documents", "id: a\n---\nid: b\n", 1, "exactly one flow definition"},
		// The YAML parser's time grows with the documents' number squared
		// (14,500: 4 s); and some shapes of a long file take it minutes.
		{"many documents", strings.Repeat("---\na: 1\n", 101), 0, "exactly one flow definition; this one has 101 YAML documents (lines starting with ---)"},
		{"too long", "id: a\n# " + strings.Repeat("x", 128<<10) + "\n", 0, "the file is 129 KiB; a flow definition may be at most 128 KiB"},
		{"not a mapping", "- a\n- b\n", 1, "this should be a mapping (key: value)"},
		{"syntax error", "id: a\nname: [unclosed\nowner: x\n", 3, "must be specified"},
		{"duplicate key", "id: a\nid: b\n", 2, `id is written twice in one mapping (first on line 1): keep one`},
		{"tabs", "id: a\n\tname: b\n", 2, "a tab: YAML indents with spaces only"},
		{"a colon in a text", "id: a\nname: a: b\n", 2, `mapping value is not allowed in this context: quote a text that holds ": "`},
		// goccy/go-yaml panics decoding a tag without a value into a list.
		{"a tag without a value", "id: v\nname: V\nowner: o\nsteps: !x\n", 4, "a YAML tag (!...) here has no value"},
		{"a nested tag without a value", "id: v\nsteps:\n  - id: a\n    assignees: !x\n", 4, "a YAML tag (!...) here has no value"},
		{"wrong value type", "id: v\nname: V\nowner: o\nsteps:\n  - id: a\n    type: approval\n    assignees: [manager]\n    quorum: many\n", 8, `"many" is not a whole number`},
		// A list under a key left empty, indented less than the key: said
		// as that, not as the parser's "value is not allowed in this
		// context" or "unexpected key name".
		{"a list indented less than its key", "id: v\nname: V\nowner: o\nsteps:\n  - id: a\n    type: approval\n    assignees:\n   - person:bob\n    due: 1d\n", 8,
			"this line is indented less than assignees: (line 7), which has no value: indent what belongs to assignees under it, further in than the key"},
		{"a list indented as far as its parent", "id: v\nname: V\nowner: o\nsteps:\n  - id: a\n    type: approval\n    assignees: # who\n\n  - person:bob\n    due: 1d\n", 9,
			"this line is indented less than assignees: (line 7)"},
		{"a mapping's keys at its own indentation, then deeper", "id: v\nname: V\nowner: o\nsteps:\n  - id: a\n    type: approval\n    assignees: [manager]\n    remind:\n    every: 1h\n      max: 2\n", 9,
			"this line is indented no further in than remind: (line 8), which has no value"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := flows.ParseDefinition("x.yaml", []byte(tt.src))
			var de *flows.DefinitionError
			if !errors.As(err, &de) || len(de.Problems) == 0 {
				t.Fatalf("error %v, want a *DefinitionError", err)
			}
			p := de.Problems[0]
			if p.File != "x.yaml" || p.Line != tt.line || !strings.Contains(p.Msg, tt.msg) {
				t.Fatalf("problem %+v, want line %d saying %q", p, tt.line, tt.msg)
			}
		})
	}
}

// A long file full of mistakes stops being decoded again for each sooner
// than a short one: 50 decodes of a 128 KiB list of 40,000 mistyped steps
// took 45 s.
func TestValidationOfALongListOfMistakes(t *testing.T) {
	t.Parallel()
	told := func(items int) int { // the steps said to be no mapping
		_, err := flows.ParseDefinition("x.yaml", []byte("id: a\nsteps: ["+strings.Repeat("1, ", items)+"]\n"))
		var de *flows.DefinitionError
		if !errors.As(err, &de) {
			t.Fatalf("error %v, want a *DefinitionError", err)
		}
		n := 0
		for _, p := range de.Problems {
			if strings.HasSuffix(p.Msg, `"1" is not a mapping (key: value)`) {
				n++
			}
		}
		return n
	}
	if n := told(40); n != 40 { // a short file: every one (up to 50)
		t.Errorf("40 steps that are no mappings: %d told, want 40", n)
	}
	if n := told(1000); n == 0 || n > 25 {
		t.Errorf("1,000 steps that are no mappings: %d told, want 1 to 25", n)
	}
}

// A problem said of each of many steps names at most 20 others (8,000 steps,
// each with a next that is no step, wrote 227 MB).
func TestValidationListsAtMost20Names(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString(validHead + "steps:\n  - {id: a, type: approval, assignees: [manager], next: nowhere}\n")
	for i := range 30 {
		fmt.Fprintf(&b, "  - {id: b%d, type: approval, assignees: [manager]}\n", i)
	}
	_, err := flows.ParseDefinition("x.yaml", []byte(b.String()))
	want := `next "nowhere" is not a step id; use a later step (b0, b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11, b12, b13, b14, b15, b16, b17, b18, b19 and 10 more) or end`
	var de *flows.DefinitionError
	if !errors.As(err, &de) || len(de.Problems) != 1 || de.Problems[0].Msg != want {
		t.Fatalf("error %v, want %q", err, want)
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	d := mustParse(t, `id: purchase-request
name: P
owner: olivia
steps:
  - id: a
    type: approval
    assignees: [manager]
    remind: {every: 4h}
  - id: b
    type: approval
    assignees: [group:x]
    quorum: 2
  - id: c
    type: task
    assignees: [requester]
  - id: d
    type: webhook
    url: https://example.com/hook
`)
	if d.Command != "purchase-request" || d.Prefix != "PUR" || d.Source != "test.yaml" {
		t.Errorf("command %q prefix %q source %q", d.Command, d.Prefix, d.Source)
	}
	a, b, c, w := d.Steps[0], d.Steps[1], d.Steps[2], d.Steps[3]
	if a.Policy != flows.PolicyAny || a.MaxRounds != 3 || a.OnTimeout != flows.TimeoutEscalate || a.Name != "a" || a.Remind != (flows.Remind{Every: 4 * time.Hour, Max: 3}) {
		t.Errorf("approval defaults: %+v", a)
	}
	if b.Policy != flows.PolicyQuorum || b.Quorum != 2 {
		t.Errorf("quorum: %+v", b)
	}
	if c.Policy != "" || c.MaxRounds != 3 {
		t.Errorf("task defaults: %+v", c)
	}
	if w.Webhook.Retries != 5 || w.Webhook.OnError != "fail" {
		t.Errorf("webhook defaults: %+v", w.Webhook)
	}
	if d.StepIndex("c") != 2 || d.Step("zz") != nil || d.Field("zz") != nil {
		t.Error("lookups")
	}
}

func TestLoadDefinitions(t *testing.T) {
	t.Parallel()
	good := "id: a\nname: A\nowner: o\nsteps:\n  - {id: s, type: notify, to: [requester], message: hi}\n"
	fsys := fstest.MapFS{
		"flows/a.yaml":       {Data: []byte(good)},
		"flows/b.yml":        {Data: []byte(strings.Replace(good, "id: a", "id: b", 1))},
		"flows/README.md":    {Data: []byte("not a flow")},
		"flows/sub/c.yaml":   {Data: []byte("broken: [")},
		"broken/x.yaml":      {Data: []byte("id: x\nname: X\nowner: o\nsteps: []\n")},
		"broken/y.yaml":      {Data: []byte("id: y\nname: Y\nownr: o\n")},
		"broken/ignored.txt": {Data: []byte("id: [")},
	}
	defs, err := flows.LoadDefinitions(fsys, "flows")
	if err != nil || len(defs) != 2 || defs[0].ID != "a" || defs[1].ID != "b" || defs[1].Source != "flows/b.yml" {
		t.Fatalf("LoadDefinitions = %v, %v", defs, err)
	}
	_, err = flows.LoadDefinitions(fsys, "broken")
	var de *flows.DefinitionError
	// x: no step; y: the unknown key first, then what follows (no owner) and no step.
	if !errors.As(err, &de) || len(de.Problems) != 4 || de.Problems[0].File != "broken/x.yaml" ||
		de.Problems[1].File != "broken/y.yaml" || de.Problems[3].File != "broken/y.yaml" || !strings.Contains(de.Problems[1].Msg, `unknown key "ownr"`) {
		t.Fatalf("problems of both files, each with its file: %v", err)
	}
	if _, err := flows.LoadDefinitions(fsys, "missing"); err == nil || errors.As(err, &de) {
		t.Fatalf("a missing directory: %v", err)
	}
}

// The example flows are valid, and the engine accepts them together.
func TestExampleFlowsAreValid(t *testing.T) {
	t.Parallel()
	defs, err := flows.LoadDefinitions(os.DirFS(filepath.Join("..", "manifests")), "flows")
	if err != nil {
		t.Fatal(err)
	}
	if len(defs) < 3 {
		t.Fatalf("%d example flows", len(defs))
	}
	dir, err := flows.ParseDirectory("directory.yaml", mustRead(t, filepath.Join("..", "manifests", "directory.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := flows.NewEngine(defs, dir, nil); err != nil {
		t.Fatal(err)
	}
}

func TestNewEngineRefusesClashes(t *testing.T) {
	t.Parallel()
	a := mustParse(t, "id: a\nname: A\nowner: o\ncommand: buy\nprefix: PR\nsteps:\n  - {id: s, type: notify, to: [requester], message: hi}\n")
	b := mustParse(t, "id: b\nname: B\nowner: o\ncommand: buy\nprefix: PR\nsteps:\n  - {id: s, type: notify, to: [requester], message: hi}\n")
	_, err := flows.NewEngine([]*flows.Definition{a, b}, nil, nil)
	// Each at its file, line and key, with what to do.
	if err == nil || !strings.Contains(err.Error(), `test.yaml:4: command: command "buy" is also flow a's id or command (test.yaml); people start a flow by it, so rename one of them`) ||
		!strings.Contains(err.Error(), `test.yaml:5: prefix: prefix "PR" is also flow a's (test.yaml)`) {
		t.Fatalf("NewEngine = %v", err)
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Unknown keys are reported in the file's order, every time (the decoder
// finds them in no fixed order), before the problems that follow from them.
func TestUnknownKeysInTheFilesOrder(t *testing.T) {
	t.Parallel()
	src := validHead + `colour: red
ownr: x
steps:
  - id: a
    type: approval
    assignees: [manager]
    remind: {evry: 1h, maxx: 2, nth: 3}
`
	for range 20 {
		_, err := flows.ParseDefinition("v.yaml", []byte(src))
		var de *flows.DefinitionError
		if !errors.As(err, &de) {
			t.Fatalf("error %v", err)
		}
		var got []string
		for _, p := range de.Problems {
			got = append(got, p.Path)
		}
		want := []string{"colour", "ownr", "steps[0].remind.evry", "steps[0].remind.maxx", "steps[0].remind.nth", "steps[0].remind.every"}
		if !slices.Equal(got, want) {
			t.Fatalf("problems at %q, want %q:\n%v", got, want, err)
		}
	}
}

// A list of prefixed names inside a flow mapping reads as the names it
// holds, as it does in block style (goccy/go-yaml reads person:bob there as
// a mapping; flowColons mends it); "key: value", with its space, is a
// mapping still.
func TestFlowStyleColons(t *testing.T) {
	t.Parallel()
	d, err := flows.ParseDefinition("f.yaml", []byte(validHead+"steps:\n  - {id: a, type: approval, assignees: [person:bob, group:finance, \"manager\"]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Steps[0].Assignees; !slices.Equal(got, []string{"person:bob", "group:finance", "manager"}) {
		t.Errorf("assignees %q", got)
	}
	// A mapping in braces inside such a list stays one.
	d, err = flows.ParseDefinition("f.yaml", []byte(validHead+"steps:\n  - {id: a, type: task, assignees: [manager], outputs: [{name:account}]}\n"))
	if err != nil || len(d.Steps[0].Outputs) != 1 || d.Steps[0].Outputs[0].Name != "account" {
		t.Errorf("outputs in braces: %v %+v", err, d)
	}
	_, err = flows.ParseDefinition("f.yaml", []byte(validHead+"steps:\n  - {id: a, type: approval, assignees: [person: bob]}\n"))
	if err == nil || !strings.Contains(err.Error(), "steps[0].assignees[0]") {
		t.Errorf("person: bob, with a space: %v; want the mapping refused", err)
	}
}

// Files of a flows directory are *.yaml and *.yml, in any case.
func TestDefinitionFile(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{"a.yaml": true, "b.yml": true, "C.YAML": true, "d.Yml": true, "e.json": false, "f.yaml.bak": false, "yaml": false} {
		if got := flows.DefinitionFile(name); got != want {
			t.Errorf("DefinitionFile(%q) = %v, want %v", name, got, want)
		}
	}
}

// manyOptions is n distinct options, as a YAML flow list's items.
func manyOptions(n int) string {
	opts := make([]string, n)
	for i := range opts {
		opts[i] = "o" + strconv.Itoa(i)
	}
	return strings.Join(opts, ", ")
}

// A step whose only assignees are fields that may be left empty goes, when
// they are, to a stand-in: the definition parses, with a warning saying so
// and what to do, unless the step's condition tests the field.
func TestOptionalAssigneeWarning(t *testing.T) {
	t.Parallel()
	const form = `id: v
name: V
owner: olivia
form:
  - {name: reviewer, label: Second reviewer, type: person}
  - {name: backup, type: email}
  - {name: lead, type: person, required: true}
steps:
`
	for _, tt := range []struct {
		name, steps string
		want        []string // Problem.String() of each warning
	}{
		{"an optional person field", `  - {id: a, type: approval, assignees: [field:reviewer]}
`, []string{`v.yaml:9: warning: steps[0].assignees: field:reviewer names an optional field: when Second reviewer is left empty, the step goes to the requester's manager instead (else the flow's owner, then an admin); make the field required (required: true), or add when: reviewer != "" to the step to skip it then`}},
		{"two optional fields", `  - id: a
    type: approval
    assignees: [field:reviewer, field:backup]
`, []string{`v.yaml:11: warning: steps[0].assignees: field:reviewer and field:backup name optional fields: when Second reviewer and backup are all left empty, the step goes to the requester's manager instead (else the flow's owner, then an admin); make one of them required (required: true), or add when: reviewer != "" || backup != "" to the step to skip it then`}},
		{"an optional output of an earlier step", `  - id: pick
    type: task
    assignees: [manager]
    outputs: [{name: checker, label: Checker, type: person}]
  - {id: check, type: approval, assignees: [field:checker]}
`, []string{`v.yaml:13: warning: steps[1].assignees: field:checker names an optional field: when Checker is left empty`}},
		{"the condition tests it", `  - {id: a, type: approval, when: reviewer != "", assignees: [field:reviewer]}
`, nil},
		{"a required field", `  - {id: a, type: approval, assignees: [field:lead]}
`, nil},
		{"someone else is on the step", `  - {id: a, type: approval, assignees: [field:reviewer, manager]}
`, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wantWarnings(t, []byte(form+tt.steps), tt.want)
		})
	}
}

// A text that names an internal field and is sent to someone outside the
// workspace shows it to them (a text is written whole): the definition
// parses, with a warning at the text.
func TestInternalFieldShownOutsideWarning(t *testing.T) {
	t.Parallel()
	const form = `id: v
name: V
owner: olivia
title: "{{.vendor}}"
form:
  - {name: vendor, label: Vendor, type: text}
  - {name: contact, type: email, required: true}
  - {name: cost_centre, label: Cost centre, internal: true}
  - {name: budget, label: Budget line, internal: true}
steps:
`
	for _, tt := range []struct {
		name, title, steps string
		want               []string // Problem.String() of each warning
	}{
		{"a notify step to an email field", "", `  - id: tell
    type: notify
    to: [requester, field:contact]
    message: "Please invoice {{.vendor}} against {{.cost_centre}}."
`, []string{`v.yaml:14: warning: steps[0].message: {{.cost_centre}} is an internal field (internal: true), and this message goes to field:contact, who may be outside the workspace: they would read it; leave it out of the message, or send it to people in the workspace only`}},
		{"two internal fields", "", `  - {id: tell, type: notify, to: [field:contact], message: "{{.cost_centre}} {{.vendor}} {{$.budget}}"}
`, []string{`v.yaml:11: warning: steps[0].message: {{.cost_centre}} and {{.budget}} are internal fields (internal: true), and this message goes to field:contact`}},
		{"the title, with an approval by email", `title: "{{.vendor}} ({{.cost_centre}})"`, `  - {id: ok, type: approval, assignees: [manager]}
  - {id: vendor_ok, type: approval, assignees: ["email:sales@acme.example"]}
`, []string{`v.yaml:4: warning: title: {{.cost_centre}} is an internal field (internal: true), and the title heads what is sent to people outside the workspace (steps[1] goes to email:sales@acme.example, who may be one): they are shown "V V-12" (the flow's name and the request's id) instead of the title; leave it out of the title to show them the title`}},
		{"the title, with a notify step to an email field", `title: "{{.budget}}"`, `  - {id: tell, type: notify, to: [field:contact], message: "Hello"}
`, []string{`v.yaml:4: warning: title: {{.budget}} is an internal field (internal: true), and the title heads what is sent to people outside the workspace (steps[0] goes to field:contact`}},
		{"the title, in a message to an email field", `title: "{{.vendor}} ({{.cost_centre}})"`, `  - {id: tell, type: notify, to: [requester, field:contact], message: "About {{.title}}: please confirm."}
`, []string{
			`v.yaml:4: warning: title: {{.cost_centre}} is an internal field (internal: true), and the title heads what is sent to people outside the workspace (steps[0] goes to field:contact`,
			`v.yaml:11: warning: steps[0].message: {{.title}} is the request's title, which reads {{.cost_centre}} (an internal field, internal: true), and this message goes to field:contact, who may be outside the workspace: they would read it; write the fields of the title that are not internal instead of {{.title}}, or send the message to people in the workspace only`,
		}},
		{"the title, with two internal fields, in a message with one", `title: "{{.vendor}} {{.budget}} {{.cost_centre}}"`, `  - {id: tell, type: notify, to: [field:contact], message: "{{.title}} {{.budget}}"}
`, []string{
			`v.yaml:4: warning: title: {{.budget}} and {{.cost_centre}} are internal fields`,
			`v.yaml:11: warning: steps[0].message: {{.budget}} is an internal field (internal: true), and this message goes to field:contact`,
			`v.yaml:11: warning: steps[0].message: {{.title}} is the request's title, which reads {{.budget}} and {{.cost_centre}} (internal fields, internal: true), and this message goes to field:contact`,
		}},
		{"the title, in a message to people in the workspace", `title: "{{.cost_centre}}"`, `  - {id: tell, type: notify, to: [requester, channel:finance], message: "{{.title}}"}
`, nil},
		{"a title without internal fields, in a message to an email field", "", `  - {id: tell, type: notify, to: [field:contact], message: "{{.title}}"}
`, nil},
		{"a message to people in the workspace", "", `  - {id: tell, type: notify, to: [requester, channel:finance], message: "{{.cost_centre}}"}
  - {id: ok, type: approval, assignees: [field:contact]}
`, nil},
		{"a title nobody outside sees", `title: "{{.cost_centre}}"`, `  - {id: ok, type: approval, assignees: [manager]}
`, nil},
		{"no internal field named", "", `  - {id: tell, type: notify, to: [field:contact], message: "{{.vendor}}"}
  - {id: ok, type: approval, assignees: [field:contact]}
`, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := form + tt.steps
			if tt.title != "" {
				src = strings.Replace(src, `title: "{{.vendor}}"`, tt.title, 1)
			}
			wantWarnings(t, []byte(src), tt.want)
		})
	}
}

// A step's text naming what an earlier step sets, which that step may not
// have set when the text is written (it runs only under a condition, or
// its call may fail and the flow go on), is written "—" then: the
// definition parses, with a warning saying so and how to say otherwise,
// unless the text already does.
func TestNotGivenWarning(t *testing.T) {
	t.Parallel()
	const head = `id: v
name: V
owner: olivia
form:
  - {name: amount, type: number, required: true}
steps:
  - id: order
    type: task
    when: amount > 100
    assignees: [manager]
    outputs: [{name: po, label: PO number}]
  - id: ticket
    type: webhook
    url: https://tickets.example.com/new
    on_error: continue
    store: {ticket: issue.key}
  - id: book
    type: task
    assignees: [manager]
    outputs: [{name: booked, label: Booked as}]
`
	for _, tt := range []struct {
		name, step string
		want       []string // Problem.String() of each warning
	}{
		{"an output of a step with a condition", `  - {id: tell, type: notify, to: [requester], message: "PO {{.po}}"}
`, []string{`v.yaml:21: warning: steps[3].message: {{.po}} is set by step order, which runs only when amount > 100: when it has not set it, the message shows "—" there; say what that means with {{or .po "none"}}, or leave it out with {{with .po}}…{{end}}`}},
		{"a stored field of a call the flow goes on without", `  - id: pay
    type: task
    assignees: [manager]
    instructions: 'Pay under {{printf "%s" $.ticket}}, booked as {{.booked}}.'
`, []string{`v.yaml:24: warning: steps[3].instructions: {{.ticket}} is set by step ticket, which may fail and the flow go on without it (on_error: continue): when it has not set it, the instructions show "—" there`}},
		{"said otherwise", `  - id: tell
    type: notify
    to: [requester]
    message: '{{with .po}}PO {{.}}{{end}}{{if or .ticket .po}} ticket {{.ticket}}{{end}} {{or .po "none"}}'
`, nil},
		{"under the same condition", `  - {id: tell, type: notify, when: amount > 100, to: [requester], message: "PO {{.po}}"}
`, nil},
		{"in an if on something else, and in its else", `  - {id: tell, type: notify, to: [requester], message: "{{if .amount}}PO {{.po}}{{else}}{{.ticket}}{{end}}"}
`, []string{`v.yaml:21: warning: steps[3].message: {{.po}} is set by step order`, `v.yaml:21: warning: steps[3].message: {{.ticket}} is set by step ticket`}},
		{"in the else of an if not on it", `  - {id: tell, type: notify, to: [requester], message: '{{if not .po}}No PO.{{else}}PO {{.po}}{{end}}'}
`, nil},
		{"in the else of an if eq on it", `  - {id: tell, type: notify, to: [requester], message: '{{if eq .po ""}}No PO.{{else}}PO {{.po}}{{end}}'}
`, nil},
		{"in the else of an else if on it", `  - {id: tell, type: notify, to: [requester], message: '{{if .amount}}A{{else if not .ticket}}none{{else}}{{.ticket}}{{end}}'}
`, nil},
		{"in the else of a with on it", `  - {id: tell, type: notify, to: [requester], message: '{{with not .po}}No PO.{{else}}PO {{.po}}{{end}}'}
`, nil},
		{"through a variable", `  - {id: tell, type: notify, to: [requester], message: '{{$p := .po}}PO {{$p}}'}
`, []string{`v.yaml:21: warning: steps[3].message: {{.po}} is set by step order`}},
		{"through a variable assigned again", `  - {id: tell, type: notify, to: [requester], message: '{{$p := "x"}}{{if .amount}}{{$p = .ticket}}{{end}}{{printf "%s" $p}}'}
`, []string{`v.yaml:21: warning: steps[3].message: {{.ticket}} is set by step ticket`}},
		{"through a variable, said otherwise", `  - {id: tell, type: notify, to: [requester], message: '{{$p := or .po "none"}}{{$t := .ticket}}PO {{$p}}{{if $t}} ticket {{$t}}{{end}}{{with $q := .po}} {{$q}}{{end}}'}
`, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wantWarnings(t, []byte(head+tt.step), tt.want)
		})
	}
}

// wantWarnings parses src (v.yaml), which must parse, and checks its
// warnings: one for each of want, in order, each starting with its text.
func wantWarnings(t *testing.T, src []byte, want []string) {
	t.Helper()
	d, err := flows.ParseDefinition("v.yaml", src)
	if err != nil {
		t.Fatalf("a warning is no error: %v", err)
	}
	got := d.Warnings()
	if len(got) != len(want) {
		t.Fatalf("warnings %v, want %q", got, want)
	}
	for i, w := range got {
		if !w.Warning || !strings.HasPrefix(w.String(), want[i]) {
			t.Errorf("warning %q (Warning %v), want %q", w.String(), w.Warning, want[i])
		}
	}
}
