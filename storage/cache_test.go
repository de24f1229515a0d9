package storage_test

import (
	"testing"
	"time"

	"github.com/batonbot/baton/flows"
	"github.com/batonbot/baton/storage"
	"github.com/batonbot/baton/storage/storagetest"
)

// Two replicas share one Redis: each remembers what it committed last, and a
// replica whose memory is stale must still act on the current state.
func TestStaleReplicaActsOnTheCurrentState(t *testing.T) {
	onBackends(t, storage.Config{Shards: 4}, func(t *testing.T, b storagetest.Backend, a *storage.Store) {
		e := engine(t)
		other := storage.New(b.Client, storage.Config{Prefix: a.Prefix(), Shards: 4})

		id := start(t, a, e, "s1", "5000") // a remembers version 1
		got := apply(t, other, e, flows.Event{Kind: flows.EventApprove, Key: "m", Instance: id, Actor: "bob"}, t0.Add(time.Minute))
		if !got.Outcome.OK || got.Version != 2 {
			t.Fatalf("manager approval on the other replica: %+v", got)
		}
		// On a, the manager's card is stale: approving again is refused
		// as already decided, not applied to a's remembered version 1.
		got = apply(t, a, e, flows.Event{Kind: flows.EventApprove, Key: "m2", Instance: id, Actor: "bob", Step: "manager", Round: 1}, t0.Add(2*time.Minute))
		if got.Outcome.OK || got.Outcome.Code != flows.CodeAlreadyDecided {
			t.Fatalf("stale approval: %+v", got.Outcome)
		}
		// Finance decides on a, whose memory is now current again.
		got = apply(t, a, e, flows.Event{Kind: flows.EventApprove, Key: "f", Instance: id, Actor: "carol"}, t0.Add(3*time.Minute))
		if !got.Outcome.OK {
			t.Fatalf("finance approval: %+v", got.Outcome)
		}
		in, err := other.Get(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if in.Status != flows.StatusCompleted || in.Version != got.Version {
			t.Fatalf("status %s version %d, want completed at %d", in.Status, in.Version, got.Version)
		}
		audit, err := a.Audit(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if err := flows.VerifyChain(audit); err != nil {
			t.Fatal(err)
		}
		// A redelivered start, with a's memory of the instance, changes nothing.
		ev := flows.Event{Kind: flows.EventStart, Key: "s1", Instance: id, Actor: "alice", Flow: "purchase",
			Data: map[string]string{"item": "Laptop", "amount": "5000", "justification": "my old one broke down"}}
		if again := apply(t, other, e, ev, t0.Add(4*time.Minute)); !again.Duplicate {
			t.Fatalf("redelivered start: %+v", again)
		}
	})
}
