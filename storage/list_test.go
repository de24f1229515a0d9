package storage_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/batonbot/baton/flows"
	"github.com/batonbot/baton/storage"
)

// The oldest open requests are found however many newer ones there are.
func TestListCreatedBefore(t *testing.T) {
	conformance(t, func(t *testing.T, s *storage.Store, e *flows.Engine) {
		startAt := func(key string, at time.Time) string {
			id, err := s.Reserve(t.Context(), "purchase", "PR", key)
			if err != nil {
				t.Fatal(err)
			}
			ev := flows.Event{Kind: flows.EventStart, Key: key, Instance: id, Actor: "alice", Flow: "purchase",
				Data: map[string]string{"item": "Laptop", "amount": "500", "justification": "my old one broke down"}}
			apply(t, s, e, ev, at)
			return id
		}
		old := map[string]bool{}
		for i := range 5 {
			old[startAt(fmt.Sprint("old", i), t0)] = true
		}
		for i := range 30 {
			startAt(fmt.Sprint("new", i), t0.Add(3*24*time.Hour))
		}
		cutoff := t0.Add(24 * time.Hour)
		for name, q := range map[string]flows.Query{
			"by status":   {Status: []flows.Status{flows.StatusRunning}, CreatedBefore: cutoff, Limit: 10},
			"by flow":     {Flow: "purchase", CreatedBefore: cutoff, Limit: 10},
			"by assignee": {Assignee: "bob", CreatedBefore: cutoff, Limit: 10},
		} {
			got, err := s.List(t.Context(), q)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(old) {
				t.Errorf("%s: %d instances, want the %d old ones", name, len(got), len(old))
			}
			for _, in := range got {
				if !old[in.ID] {
					t.Errorf("%s: %s was created %s, after the cut-off", name, in.ID, in.Created)
				}
			}
		}
		if got, _ := s.List(t.Context(), flows.Query{Flow: "purchase", Limit: 10}); len(got) != 10 || old[got[0].ID] {
			t.Errorf("without a cut-off: %d instances, newest first", len(got))
		}
	})
}
