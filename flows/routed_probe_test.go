package flows_test

import (
	"testing"

	"github.com/batonbot/baton/flows"
)

func TestProbeRoutedAfterReassign(t *testing.T) {
	r := newRun(t, newEngine(t, assigneeFlow("approval", "olivia", "field:approver", "")))
	r.start("who", "alice", form("approver", "alice"))
	t.Logf("routed at start: %q", r.in.Routed)
	tr := r.act(flows.EventReassign, "bob", target("erin"))
	for _, ef := range tr.Effects {
		if ef.Msg != nil && ef.To.Person == "erin" {
			t.Logf("erin's card context: %q", ef.Msg.Context)
		}
	}
	t.Logf("routed after reassign: %q", r.in.Routed)
}
