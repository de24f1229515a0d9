package storage_test

import (
	stdjson "encoding/json"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/batonbot/baton/flows"
)

// The store encodes with goccy/go-json for speed; what it writes must be the
// bytes encoding/json writes (escaping, map order, omitzero), so stored
// states, cards and audit entries read the same either way.
func TestStoredJSONIsEncodingJSON(t *testing.T) {
	e := engine(t)
	ev := flows.Event{Kind: flows.EventStart, Key: "s", Instance: "PR-1", Actor: "alice", Flow: "purchase",
		Data: map[string]string{"item": "<Laptop> & \"dock\"", "amount": "1500.50", "justification": "line\u2028break, émoji 🚀"}}
	started, err := e.Apply(nil, ev, t0)
	if err != nil {
		t.Fatal(err)
	}
	approved, err := e.Apply(started.Instance, flows.Event{Kind: flows.EventApprove, Key: "a", Instance: "PR-1", Actor: "bob"}, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []any{started.Instance, started.Effects, started.Audit, started.Outcome,
		approved.Instance, approved.Effects, approved.Audit, approved.Outcome} {
		want, err := stdjson.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("goccy/go-json wrote\n%s\nencoding/json writes\n%s", got, want)
		}
	}
}
