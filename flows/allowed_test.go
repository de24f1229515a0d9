package flows_test

import (
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
		ok, why := e.Allowed(c.in, c.ev, t0)
		if ok != (c.want == "") || !strings.Contains(why, c.want) {
			t.Errorf("%s: Allowed = %v %q, want %q", c.name, ok, why, c.want)
		}
		if len(c.in.History) != before {
			t.Errorf("%s: Allowed changed the instance", c.name)
		}
	}
}
