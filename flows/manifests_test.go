package flows_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/batonbot/baton/flows"
)

// The example purchase flow's notice to procurement names the vendor only
// when the requester gave one (the field is optional).
func TestExamplePurchaseNotice(t *testing.T) {
	t.Parallel()
	e := exampleEngine(t)
	for _, tt := range []struct{ vendor, want string }{
		{"", "Alice Martin's purchase PR-1 may go ahead: Laptop, EUR 500. Please order it."},
		{"Dell", "Alice Martin's purchase PR-1 may go ahead: Laptop from Dell, EUR 500. Please order it."},
	} {
		t.Run("vendor="+tt.vendor, func(t *testing.T) {
			t.Parallel()
			r := newRun(t, e)
			r.do(flows.Event{Kind: flows.EventStart, Instance: "PR-1", Flow: "purchase", Actor: "alice", Data: form(
				"item", "Laptop", "amount", "500", "vendor", tt.vendor, "justification", "my old one broke down")})
			r.act(flows.EventApprove, "bob")
			var got []string
			for _, ef := range r.effects {
				if ef.Kind == flows.EffectNotify && ef.To.Channel == "procurement" {
					got = append(got, ef.Msg.Text)
				}
			}
			if len(got) != 1 || got[0] != tt.want {
				t.Fatalf("procurement was told %q, want %q", got, tt.want)
			}
		})
	}
}

// exampleEngine is an engine over the built-in example flows and the demo
// directory, as the console runs them.
func exampleEngine(t testing.TB) *flows.Engine {
	t.Helper()
	defs, err := flows.LoadDefinitions(os.DirFS(filepath.Join("..", "manifests")), "flows")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := flows.ParseDirectory("directory.yaml", mustRead(t, filepath.Join("..", "manifests", "directory.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	e, err := flows.NewEngine(defs, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
