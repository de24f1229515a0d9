package flows_test

import (
	"testing"

	"github.com/batonbot/baton/flows"
)

// BenchmarkEngineApply measures pure engine transitions: no storage, no
// I/O, just Apply (which clones the instance, decides, renders the cards and
// chains the audit entries).
func BenchmarkEngineApply(b *testing.B) {
	e := newEngine(b, buyFlow)
	startEv := flows.Event{Kind: flows.EventStart, Key: "s", Instance: "X-1", Flow: "buy", Actor: "alice",
		Data: form("item", "Laptop", "amount", "500", "vendor", "Dell")}
	started, err := e.Apply(nil, startEv, t0)
	if err != nil {
		b.Fatal(err)
	}
	apply := func(b *testing.B, in *flows.Instance, ev flows.Event) *flows.Transition {
		tr, err := e.Apply(in, ev, t0)
		if err != nil || !tr.Outcome.OK {
			b.Fatalf("%s: %v %+v", ev.Kind, err, tr)
		}
		return tr
	}
	report := func(b *testing.B, perOp int) {
		b.ReportMetric(float64(b.N*perOp)/b.Elapsed().Seconds(), "transitions/s")
	}

	b.Run("start", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			apply(b, nil, startEv)
		}
		report(b, 1)
	})
	b.Run("approve", func(b *testing.B) {
		// A one-step approval: the manager approves and the request completes
		// (finance is passed over, ops is told).
		ev := flows.Event{Kind: flows.EventApprove, Key: "a", Instance: "X-1", Actor: "bob", Step: "manager", Round: 1}
		b.ReportAllocs()
		for b.Loop() {
			apply(b, started.Instance, ev)
		}
		report(b, 1)
	})
	b.Run("reject-resubmit", func(b *testing.B) {
		reject := flows.Event{Kind: flows.EventReject, Key: "r", Instance: "X-1", Actor: "bob", Reason: "too much", Step: "manager", Round: 1}
		resubmit := flows.Event{Kind: flows.EventResubmit, Key: "u", Instance: "X-1", Actor: "alice",
			Data: form("item", "Laptop", "amount", "400", "vendor", "Dell")}
		b.ReportAllocs()
		for b.Loop() {
			rejected := apply(b, started.Instance, reject)
			apply(b, rejected.Instance, resubmit)
		}
		report(b, 2)
	})
}

// BenchmarkEngineApplyExample measures the built-in purchase flow, as the
// complete-approval benchmark (bot) and the console run it: its title
// template, a seven-field form, reminders and a two-rung escalation ladder
// on the manager's step make its transitions heavier than buy's.
func BenchmarkEngineApplyExample(b *testing.B) {
	e := exampleEngine(b)
	startEv := flows.Event{Kind: flows.EventStart, Key: "s", Instance: "PR-1", Flow: "purchase", Actor: "alice",
		Data: form("item", "Laptop", "amount", "500", "justification", "my old one broke down")}
	apply := func(b *testing.B, in *flows.Instance, ev flows.Event) *flows.Transition {
		tr, err := e.Apply(in, ev, t0)
		if err != nil || !tr.Outcome.OK {
			b.Fatalf("%s: %v %+v", ev.Kind, err, tr)
		}
		return tr
	}
	started := apply(b, nil, startEv)
	b.Run("start", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			apply(b, nil, startEv)
		}
	})
	b.Run("approve", func(b *testing.B) {
		ev := flows.Event{Kind: flows.EventApprove, Key: "a", Instance: "PR-1", Actor: "bob", Step: "manager", Round: 1}
		b.ReportAllocs()
		for b.Loop() {
			apply(b, started.Instance, ev)
		}
	})
}
