package flows_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/batonbot/baton/flows"
)

// Define a flow in YAML, then run a request through the engine: the
// requester starts it, the manager approves from their card, and the
// finance step is passed over because its condition is false. The engine
// does no I/O: it returns what to store (the instance and its audit
// entries) and what to do (cards to send or update, timers to set or
// cancel); the runtime carries that out.
func Example() {
	def, err := flows.ParseDefinition("expense.yaml", []byte(`
id: expense
name: Expense claim
owner: olivia
prefix: EXP
title: "{{.what}}"
form:
  - {name: what, label: What, required: true}
  - {name: amount, label: Amount, type: number, required: true, min: 1}
steps:
  - id: manager
    name: Manager approval
    type: approval
    assignees: [manager]
    due: 2d
  - id: finance
    name: Finance approval
    type: approval
    when: amount > 500
    assignees: [group:finance]
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	dir, err := flows.NewDirectory([]flows.Person{
		{ID: "alice", Name: "Alice", Manager: "bob"},
		{ID: "bob", Name: "Bob"},
		{ID: "carol", Name: "Carol", Groups: []string{"finance"}},
		{ID: "olivia", Name: "Olivia"},
	}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	engine, err := flows.NewEngine([]*flows.Definition{def}, dir, []string{"olivia"})
	if err != nil {
		fmt.Println(err)
		return
	}
	show := func(tr *flows.Transition) {
		fmt.Println(tr.Outcome.Text)
		for _, e := range tr.Effects {
			switch e.Kind {
			case flows.EffectNotify:
				fmt.Printf("  notify %s: %s (card %s)\n", e.To.Person, e.Msg.Title, e.Card)
			case flows.EffectUpdate:
				fmt.Printf("  update cards %s: %s\n", e.Card, e.Msg.Outcome)
			case flows.EffectSetTimer, flows.EffectCancelTimer:
				fmt.Printf("  %s %s\n", e.Kind, e.Timer.ID)
			}
		}
	}

	now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	start, err := engine.Apply(nil, flows.Event{Kind: flows.EventStart, Key: "k1", Instance: "EXP-1", Flow: "expense",
		Actor: "alice", Data: map[string]string{"what": "Train to Lyon", "amount": "120"}}, now)
	if err != nil {
		fmt.Println(err)
		return
	}
	show(start)

	// An hour later Bob clicks Approve on his card (which names the step and round).
	approve, err := engine.Apply(start.Instance, flows.Event{Kind: flows.EventApprove, Key: "k2", Instance: "EXP-1",
		Actor: "bob", Step: "manager", Round: 1}, now.Add(time.Hour))
	if err != nil {
		fmt.Println(err)
		return
	}
	show(approve)

	fmt.Println("audit trail:")
	trail := append(start.Audit, approve.Audit...)
	for _, a := range trail {
		fmt.Printf("  %d %s %s %s\n", a.Seq, a.At.Format("15:04"), a.Actor, strings.TrimSpace(a.Action+" "+a.Reason))
	}
	fmt.Println("chain intact:", flows.VerifyChain(trail) == nil)

	// Output:
	// Started EXP-1 (Expense claim). Waiting on Bob (Manager approval).
	//   set_timer manager/1/timeout/0
	//   notify bob: Expense claim EXP-1: Train to Lyon (card manager/1/bob)
	// Approved EXP-1. The request is complete.
	//   cancel_timer manager/1/timeout/0
	//   update cards manager/1/: Approved by Bob · Thu 26 Nov 10:00 UTC
	//   notify alice: Approved: Expense claim EXP-1 (Train to Lyon) (card requester/done)
	// audit trail:
	//   1 09:00 alice started
	//   2 09:00 baton assigned
	//   3 10:00 bob approved
	//   4 10:00 baton skipped condition is false: amount > 500
	//   5 10:00 baton completed
	// chain intact: true
}
