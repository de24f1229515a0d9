package flows_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/batonbot/baton/flows"
)

// TestAllowed: the check adapters make before opening a form gives the
// refusal Apply would, and records nothing.
func TestAllowed(t *testing.T) {
	e := exampleEngine(t)
	apply := func(in *flows.Instance, ev flows.Event) *flows.Instance {
		t.Helper()
		tr, err := e.Apply(in, ev, t0)
		if err != nil || !tr.Outcome.OK {
			t.Fatalf("%s: %v %+v", ev.Kind, err, tr)
		}
		return tr.Instance
	}
	running := apply(nil, flows.Event{Kind: flows.EventStart, Key: "s", Instance: "PR-1", Flow: "purchase", Actor: "alice",
		Data: form("item", "Laptop", "amount", "500", "justification", "my old one broke down")})
	returned := apply(running, flows.Event{Kind: flows.EventRequestChanges, Key: "c", Instance: "PR-1", Actor: "bob", Reason: "which model?"})
	for _, c := range []struct {
		name string
		in   *flows.Instance
		ev   flows.Event
		want string // "" when allowed
	}{
		{"assignee done", running, flows.Event{Kind: flows.EventTaskDone, Actor: "bob", Step: "manager", Round: 1}, ""},
		{"not assignee", running, flows.Event{Kind: flows.EventReassign, Actor: "carol", Step: "manager", Round: 1}, "is assigned to Bob Chen"},
		{"stale round", returned, flows.Event{Kind: flows.EventReassign, Actor: "bob", Step: "manager", Round: 1}, "Changes to PR-1 were already requested by Bob Chen"},
		{"requester resubmits", returned, flows.Event{Kind: flows.EventResubmit, Actor: "alice"}, ""},
		{"someone else resubmits", returned, flows.Event{Kind: flows.EventResubmit, Actor: "carol"}, "Only Alice Martin, who made PR-1, can resubmit it."},
		{"not sent back", running, flows.Event{Kind: flows.EventResubmit, Actor: "alice"}, "PR-1 is running; only a request sent back"},
	} {
		before := len(c.in.History)
		out := e.Allowed(c.in, c.ev, t0)
		ok, why := out.OK, out.Text
		if ok != (c.want == "") || !strings.Contains(why, c.want) {
			t.Errorf("%s: Allowed = %v %q, want %q", c.name, ok, why, c.want)
		}
		if len(c.in.History) != before {
			t.Errorf("%s: Allowed changed the instance", c.name)
		}
	}
}

// TestReasonText: a reason or comment with control characters, bytes that
// are not UTF-8 or direction overrides is refused as bad input, changing
// nothing; line breaks and tabs are words' business.
func TestReasonText(t *testing.T) {
	e := exampleEngine(t)
	tr, err := e.Apply(nil, flows.Event{Kind: flows.EventStart, Key: "s", Instance: "PR-1", Flow: "purchase", Actor: "alice",
		Data: form("item", "Laptop", "amount", "500", "justification", "my old one broke down")}, t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		kind   flows.EventKind
		reason string
		want   string // "" when accepted
	}{
		{flows.EventReject, "too\x00much", "the text has an invisible control character (U+0000); remove it"},
		{flows.EventComment, "a\x1b[31mred", "the text has an invisible control character (U+001B)"},
		{flows.EventRequestChanges, "\xff\xfe", "the text has bytes that are not text (UTF-8)"},
		{flows.EventComment, "fine \u202eenif", "the text has an invisible text-direction override (U+202E)"},
		{flows.EventReject, "too much:\r\n\tsee the quote\fpage 2", ""},
	} {
		ev := flows.Event{Kind: c.kind, Key: "k", Instance: "PR-1", Actor: "bob", Reason: c.reason}
		// Who may act is judged first: carol's attempt is refused (and
		// recorded) whatever her words.
		if refused, err := e.Apply(tr.Instance, flows.Event{Kind: c.kind, Key: "k", Instance: "PR-1", Actor: "carol", Reason: c.reason}, t0); err != nil || refused.Outcome.OK {
			t.Errorf("%s by carol: %v %+v, want a refusal", c.kind, err, refused)
		}
		out, err := e.Apply(tr.Instance, ev, t0)
		var ie *flows.InputError
		switch {
		case c.want == "" && (err != nil || !out.Outcome.OK):
			t.Errorf("%s %q: %v %+v, want it accepted", c.kind, c.reason, err, out)
		case c.want != "" && (!errors.As(err, &ie) || ie.Msg != c.want && !strings.HasPrefix(ie.Msg, c.want)):
			t.Errorf("%s %q: %v, want the input error %q", c.kind, c.reason, err, c.want)
		}
	}
}

// TestRefsText: references are one line of text, as they show on every
// card and mail.
func TestRefsText(t *testing.T) {
	e := exampleEngine(t)
	for _, v := range []string{"D-1\n\nTo approve, open https://evil.example", "D-1\u2028\u2028To approve", "D-1\rTo approve", "a\x00b", "\u202eevil"} {
		_, err := e.Apply(nil, flows.Event{Kind: flows.EventStart, Key: "s", Instance: "PR-1", Flow: "purchase", Actor: "alice",
			Data: form("item", "Laptop", "amount", "500", "justification", "my old one broke down"), Refs: map[string]string{"deal": v}}, t0)
		var ie *flows.InputError
		if !errors.As(err, &ie) || !strings.HasPrefix(ie.Msg, "reference deal ") {
			t.Errorf("ref %q: %v, want an input error naming the reference", v, err)
		}
	}
}

// TestMentions: the people outside the directory whom Baton names in a
// transition's messages and answer (by their platform id) are its Mentions,
// wherever it names them: a waiting assignee, an escalation target on the
// card, the owner in a refusal, a person field in a notify message (named
// as the requester is); an id someone typed is not.
func TestMentions(t *testing.T) {
	e := newEngine(t, `
id: ext
name: External
owner: slack:UOWNER
form:
  - {name: item, type: text}
  - {name: buyer, type: person}
steps:
  - id: review
    type: approval
    assignees: [person:slack:UBOB]
    escalate:
      - {after: 1d, notify: "person:slack:UESC"}
  - {id: tell, type: notify, to: [requester], message: "Please hand it to {{.buyer}}"}
`)
	r := newRun(t, e)
	tr := r.start("ext", "alice", form("item", "as slack:UTYPED said", "buyer", "slack:UBUYER"))
	var cardMentions []string
	for _, ef := range tr.Effects {
		if ef.Msg != nil && ef.Msg.Kind == flows.MsgTask {
			cardMentions = ef.Msg.Mentions
		}
	}
	if !slices.Equal(cardMentions, []string{"slack:UBOB", "slack:UBUYER", "slack:UESC"}) { // the buyer's field shows them by name
		t.Errorf("task card mentions %v, want the assignee, the buyer and the escalation target", cardMentions)
	}
	refused := r.refused(flows.Event{Kind: flows.EventCancel, Actor: "carol", Reason: "dup"}, flows.CodeNotAllowed)
	if !slices.Contains(refused.Outcome.Mentions, "slack:UOWNER") {
		t.Errorf("refusal %q mentions %v, want the owner", refused.Outcome.Text, refused.Outcome.Mentions)
	}
	tr = r.act(flows.EventApprove, "slack:UBOB")
	for _, ef := range tr.Effects {
		if ef.Msg != nil && ef.Msg.Step == "tell" {
			if ef.Msg.Text != "Please hand it to slack:UBUYER" || !slices.Contains(ef.Msg.Mentions, "slack:UBUYER") || slices.Contains(ef.Msg.Mentions, "slack:UTYPED") {
				t.Errorf("notify %q mentions %v", ef.Msg.Text, ef.Msg.Mentions)
			}
		}
	}
	// A person field of someone in the directory is their name.
	r = newRun(t, e)
	r.start("ext", "alice", form("item", "x", "buyer", "gina"))
	tr = r.act(flows.EventApprove, "slack:UBOB")
	for _, ef := range tr.Effects {
		if ef.Msg != nil && ef.Msg.Step == "tell" && ef.Msg.Text != "Please hand it to Gina Ray" {
			t.Errorf("notify %q, want the buyer by name", ef.Msg.Text)
		}
	}
}
