package slack

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/batonbot/baton/flows"
)

// notOnSlack takes people's Slack ids away: they use Teams.
func notOnSlack(ids ...string) harnessOpt {
	return func(_ *Config, _ *[]*flows.Definition, dir **flows.Directory) {
		people := (*dir).People()
		for i := range people {
			if slices.Contains(ids, people[i].ID) {
				people[i].Slack, people[i].Teams = "", "29:1"+people[i].ID
			}
		}
		d, err := flows.NewDirectory(people, (*dir).Channels())
		if err != nil {
			panic(err)
		}
		*dir = d
	}
}

// Slack's user picker offers only Slack users: when the directory has
// people who are not on Slack, the reassign modal offers them in a second
// picker, and one of the two is required.
func TestReassignToSomeoneNotOnSlack(t *testing.T) {
	t.Parallel()
	h := newHarness(t, notOnSlack("ivan", "hana"))
	h.startPurchase("500")
	h.seen = len(h.api.Calls())
	h.click("U0BOB", "v1|reassign|PR-1|manager|1|", "D0BOB")
	h.a.Wait()
	picker := h.api.take(&h.seen)[0]
	if picker.Method != "views.open" {
		t.Fatalf("reassign opened %s", picker.summary())
	}
	var blocks []string
	for _, b := range picker.blocks() {
		if b["type"] != "input" {
			continue
		}
		el := b["element"].(map[string]any)
		desc := fmt.Sprintf("%s:%s optional=%v", b["block_id"], el["type"], b["optional"])
		opts, _ := el["options"].([]any)
		for _, o := range opts {
			o := o.(map[string]any)
			desc += fmt.Sprintf(" %s=%s", o["value"], o["text"].(map[string]any)["text"])
		}
		blocks = append(blocks, desc)
	}
	if want := []string{"target:users_select optional=true", "target:other:static_select optional=true -=No one here (someone on Slack, above) hana=Hana Sato ivan=Ivan Petrov",
		"reason:plain_text_input optional=true"}; !slices.Equal(blocks, want) {
		t.Fatalf("reassign modal inputs:\n%s\nwant:\n%s", strings.Join(blocks, "\n"), strings.Join(want, "\n"))
	}
	meta := picker.Params["view"].(map[string]any)["private_metadata"].(string)
	ivan := map[string]any{"type": "static_select", "selected_option": map[string]any{"value": "ivan", "text": map[string]any{"type": "plain_text", "text": "Ivan Petrov"}}}

	// Nobody picked, or two people: refused next to the pickers.
	ack := h.submit("U0BOB", "V0RE", cbReassign, meta, map[string]map[string]any{"target": userPicked("")})
	if ack["response_action"] != "errors" || !strings.Contains(mustString(t, ack), "Say who should take it over") {
		t.Fatalf("empty pick: %v", ack)
	}
	ack = h.submit("U0BOB", "V0RE", cbReassign, meta, map[string]map[string]any{"target": userPicked("U0CAROL"), "target" + otherSuffix: ivan})
	if ack["response_action"] != "errors" || !strings.Contains(mustString(t, ack), "Pick one person") {
		t.Fatalf("two picks: %v", ack)
	}
	// "No one here" in the second picks nobody there (a menu cannot be
	// cleared): with nobody in the first, nobody is picked.
	nobody := map[string]any{"type": "static_select", "selected_option": map[string]any{"value": nobodyHere, "text": map[string]any{"type": "plain_text", "text": "No one here"}}}
	ack = h.submit("U0BOB", "V0RE", cbReassign, meta, map[string]map[string]any{"target": userPicked(""), "target" + otherSuffix: nobody})
	if ack["response_action"] != "errors" || !strings.Contains(mustString(t, ack), "Say who should take it over") {
		t.Fatalf("no one here: %v", ack)
	}
	if in, _ := h.rig.Svc.Instance(t.Context(), "PR-1"); in.Tasks[0].Assignee != "bob" {
		t.Fatalf("a refused reassign moved the task to %s", in.Tasks[0].Assignee)
	}
	ack = h.submit("U0BOB", "V0RE", cbReassign, meta, map[string]map[string]any{"target": userPicked(""), "target" + otherSuffix: ivan})
	if !strings.Contains(mustString(t, ack), "PR-1 is now with Ivan Petrov.") {
		t.Fatalf("reassign to Ivan: %v", ack)
	}
	h.settle()
	if in, _ := h.rig.Svc.Instance(t.Context(), "PR-1"); in.Tasks[0].Assignee != "ivan" {
		t.Fatalf("the task is with %s, want ivan", in.Tasks[0].Assignee)
	}
	if c := h.api.take(&h.seen); len(c) == 0 || c[0].Method != "chat.update" || !strings.Contains(c[0].text(), "Reassigned by Bob Chen") {
		t.Fatalf("Bob's card after the reassign:\n%s", summarize(c))
	}
}

// Past Slack's 100 options, people who are not on Slack are typed: an
// email, or a Baton id.
func TestReassignModalLargeDirectory(t *testing.T) {
	t.Parallel()
	var others []flows.Person
	for i := range maxOptions + 1 {
		others = append(others, flows.Person{ID: fmt.Sprintf("p%d", i)})
	}
	v := reassignModal(flows.Action{Kind: flows.ActReassign, Instance: "PR-1", Step: "manager", Round: 1}, "*PR-1*", pickers{others: others})
	got := string(mustJSON(t, v))
	if !strings.Contains(got, `"block_id": "target:other"`) || !strings.Contains(got, "Their email or Baton id") || strings.Contains(got, "static_select") {
		t.Fatalf("large directory reassign modal:\n%s", got)
	}
}

// A person field of a start form works the same way: a requester in Slack
// can name someone who is not on Slack.
func TestFormPersonNotOnSlack(t *testing.T) {
	t.Parallel()
	h := newHarness(t, notOnSlack("ivan", "hana"))
	h.command("U0ALICE", "start content")
	h.a.Wait()
	form := h.api.take(&h.seen)[0]
	if form.Method != "views.open" {
		t.Fatalf("start content opened %s", form.summary())
	}
	var editor []string
	for _, b := range form.blocks() {
		if id, _ := b["block_id"].(string); strings.HasPrefix(id, "editor") {
			editor = append(editor, fmt.Sprintf("%s:%s optional=%v", id, b["element"].(map[string]any)["type"], b["optional"]))
		}
	}
	if want := []string{"editor:users_select optional=true", "editor:other:static_select optional=true"}; !slices.Equal(editor, want) {
		t.Fatalf("editor inputs %v, want %v", editor, want)
	}
	meta := form.Params["view"].(map[string]any)["private_metadata"].(string)
	values := func(editor map[string]map[string]any) map[string]map[string]any {
		v := map[string]map[string]any{"headline": textInput("Launch post"), "draft": {"type": "url_text_input", "value": "https://docs.example.com/launch"}}
		for k, e := range editor {
			v[k] = e
		}
		return v
	}
	ivan := map[string]any{"type": "static_select", "selected_option": map[string]any{"value": "ivan", "text": map[string]any{"type": "plain_text", "text": "Ivan Petrov"}}}

	// Required: nobody picked is an error next to the field; two people too.
	ack := h.submit("U0ALICE", "V0CONTENT", cbStart, meta, values(nil))
	if ack["response_action"] != "errors" || ack["errors"].(map[string]any)["editor"] == nil {
		t.Fatalf("no editor: %v", ack)
	}
	ack = h.submit("U0ALICE", "V0CONTENT", cbStart, meta, values(map[string]map[string]any{"editor": userPicked("U0BOB"), "editor" + otherSuffix: ivan}))
	if ack["response_action"] != "errors" || ack["errors"].(map[string]any)["editor"] != pickOne {
		t.Fatalf("two editors: %v", ack)
	}
	ack = h.submit("U0ALICE", "V0CONTENT", cbStart, meta, values(map[string]map[string]any{"editor" + otherSuffix: ivan}))
	if !strings.Contains(mustString(t, ack), "Started CR-1") {
		t.Fatalf("start with Ivan as editor: %v", ack)
	}
	in, err := h.rig.Svc.Instance(t.Context(), "CR-1")
	if err != nil || in.Data["editor"] != "ivan" || in.Tasks[0].Assignee != "ivan" {
		t.Fatalf("CR-1: %v %+v", err, in)
	}
	// Typed, past 100 people: an email is looked up in the directory.
	ack = h.submit("U0ALICE", "V0CONTENT2", cbStart, meta, values(map[string]map[string]any{"editor" + otherSuffix: textInput("Hana@Example.com")}))
	if !strings.Contains(mustString(t, ack), "Started CR-2") {
		t.Fatalf("start with Hana's email: %v", ack)
	}
	if in, err := h.rig.Svc.Instance(t.Context(), "CR-2"); err != nil || in.Data["editor"] != "hana" {
		t.Fatalf("CR-2: %v %+v", err, in)
	}
	h.settle()
}
