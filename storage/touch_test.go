package storage_test

import (
	"testing"

	"github.com/batonbot/baton/flows"
	"github.com/batonbot/baton/storage"
)

// A replica touching the entries it delivers keeps them its own; touching
// cannot take an entry from another replica, nor bring back a finished one.
func TestTouchKeepsOnlyWhatTheConsumerHolds(t *testing.T) {
	conformance(t, func(t *testing.T, s *storage.Store, e *flows.Engine) {
		start(t, s, e, "s1", "500")
		start(t, s, e, "s2", "500")
		held, err := s.ReadOutbox(t.Context(), "a", 10, 0)
		if err != nil || len(held) != 2 {
			t.Fatalf("a took %d: %v", len(held), err)
		}
		if err := s.Touch(t.Context(), "a", held); err != nil {
			t.Fatal(err)
		}
		if err := s.Touch(t.Context(), "b", held); err != nil {
			t.Fatal(err)
		}
		for _, d := range held {
			owners, err := storage.PendingOwners(t.Context(), s, d.Shard)
			if err != nil {
				t.Fatal(err)
			}
			if owners[d.ID] != "a" {
				t.Errorf("%s is held by %q after b touched it, want a", d.ID, owners[d.ID])
			}
		}
		// Finished, then touched: nothing comes back.
		if err := s.Delivered(t.Context(), held[:1]); err != nil {
			t.Fatal(err)
		}
		if err := s.Touch(t.Context(), "a", held); err != nil {
			t.Fatal(err)
		}
		if n, _, _ := s.Pending(t.Context()); n != 1 {
			t.Errorf("%d entries pending after one of two was delivered and both touched, want 1", n)
		}
	})
}
