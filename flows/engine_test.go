package flows_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/batonbot/baton/flows"
)

// buyFlow: the requester's manager approves (up to two rounds), finance
// approves above 1,000, then ops and the requester are told.
const buyFlow = `
id: buy
name: Purchase
owner: olivia
prefix: BUY
title: "{{.item}} ({{.amount}})"
form:
  - {name: item, label: Item, required: true}
  - {name: amount, label: Amount, type: number, required: true, min: 1}
  - {name: vendor, label: Vendor}
steps:
  - id: manager
    name: Manager approval
    type: approval
    assignees: [manager]
    max_rounds: 2
  - id: finance
    name: Finance approval
    type: approval
    when: amount > 1000
    assignees: [group:finance]
  - id: order
    name: Tell ops
    type: notify
    to: [channel:ops, requester]
    message: "{{.requester}} may buy {{.item}} from {{.vendor}} for {{.amount}} ({{.id}})"
`

func buyRun(t *testing.T, amount string) *run {
	t.Helper()
	r := newRun(t, newEngine(t, buyFlow))
	r.start("buy", "alice", form("item", "Laptop", "amount", amount))
	return r
}

func TestStart(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, buyFlow))
	tr := r.do(flows.Event{Kind: flows.EventStart, Instance: "BUY-1", Flow: "buy", Actor: "alice", Platform: "slack",
		Data: form("item", "Laptop", "amount", "2500"), Refs: map[string]string{"deal": "D-9"}})
	in := r.in
	wantStatus(t, in, flows.StatusRunning, "manager", 1)
	if in.ID != "BUY-1" || in.Flow != "buy" || in.Requester != "alice" || in.Title != "Laptop (2500)" || in.Refs["deal"] != "D-9" ||
		!in.Created.Equal(t0) || !in.StepStarted.Equal(t0) || in.Data["amount"] != 2500.0 || in.Data["item"] != "Laptop" {
		t.Fatalf("instance %+v", in)
	}
	if got := assignees(in); !slices.Equal(got, []string{"bob"}) {
		t.Fatalf("assignees %v", got)
	}
	if got := auditActions(tr.Audit); !slices.Equal(got, []string{"started", "assigned"}) {
		t.Fatalf("audit %v", got)
	}
	started, assigned := tr.Audit[0], tr.Audit[1]
	if started.Actor != "alice" || started.Platform != "slack" || started.Detail["item"] != "Laptop" || started.Detail["amount"] != "2500" || started.Detail["ref.deal"] != "D-9" {
		t.Fatalf("started entry %+v", started)
	}
	if assigned.Actor != flows.System || assigned.Step != "manager" || assigned.Round != 1 || assigned.Detail["assignees"] != "bob" {
		t.Fatalf("assigned entry %+v", assigned)
	}
	card := notified(t, tr, "bob", "manager/1/bob")
	m := card.Msg
	if m.Kind != flows.MsgTask || m.Instance != "BUY-1" || m.Step != "manager" || m.Round != 1 || m.Title != "Purchase BUY-1: Laptop (2500)" {
		t.Fatalf("task card %+v", m)
	}
	if got := actions(m.Actions); !slices.Equal(got, []flows.ActionKind{flows.ActApprove, flows.ActReject, flows.ActChanges, flows.ActReassign, flows.ActSnooze}) {
		t.Fatalf("actions %v", got)
	}
	for _, a := range m.Actions {
		if a.Instance != "BUY-1" || a.Step != "manager" || a.Round != 1 {
			t.Fatalf("action %+v does not say what it acts on", a)
		}
	}
	for _, f := range []flows.Fact{{Label: "Item", Value: "Laptop"}, {Label: "Amount", Value: "2500"}, {Label: "deal", Value: "D-9"}} {
		if !slices.Contains(m.Fields, f) {
			t.Fatalf("card lacks %+v: %+v", f, m.Fields)
		}
	}
	contains(t, "card", fmt.Sprint(m.Context), "Requested by Alice Martin", "Waiting on Bob Chen")
	if len(notifies(tr)) != 1 || len(tr.Effects) != 1 {
		t.Fatalf("effects: %s", describe(tr.Effects))
	}
	if !reflect.DeepEqual(tr.Outcome, flows.Outcome{OK: true, Instance: "BUY-1", Status: flows.StatusRunning, Text: "Started BUY-1 (Purchase). Waiting on Bob Chen (Manager approval)."}) {
		t.Fatalf("outcome %+v", tr.Outcome)
	}

	// The same start again (a redelivery with the instance already there) changes nothing.
	again := r.do(flows.Event{Kind: flows.EventStart, Instance: "BUY-1", Flow: "buy", Actor: "alice", Data: form("item", "Laptop", "amount", "2500")})
	if !again.Noop || again.Instance != r.in || !again.Outcome.OK {
		t.Fatalf("second start: %+v", again)
	}
}

// TestOutcomeCarriesTheFingerprint: an event's outcome, stored with its key,
// keeps its fingerprint, a refusal's too, so a sender reusing the key on
// another request can be told from one retrying it.
func TestOutcomeCarriesTheFingerprint(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, buyFlow))
	if tr := r.do(flows.Event{Kind: flows.EventStart, Instance: "BUY-1", Flow: "buy", Actor: "alice", Data: form("item", "Laptop", "amount", "500"), Fingerprint: "f1"}); tr.Outcome.Fingerprint != "f1" {
		t.Errorf("start: %+v", tr.Outcome)
	}
	if tr := r.refused(flows.Event{Kind: flows.EventApprove, Actor: "carol", Fingerprint: "f2"}, flows.CodeNotAssignee); tr.Outcome.Fingerprint != "f2" {
		t.Errorf("refusal: %+v", tr.Outcome)
	}
	if tr := r.do(flows.Event{Kind: flows.EventApprove, Actor: "bob"}); tr.Outcome.Fingerprint != "" {
		t.Errorf("an event without one: %+v", tr.Outcome)
	}
}

func TestStartRefusesBadInput(t *testing.T) {
	t.Parallel()
	e := newEngine(t, buyFlow)
	for _, tt := range []struct {
		name string
		ev   flows.Event
		want string
	}{
		{"unknown flow", flows.Event{Kind: flows.EventStart, Instance: "X-1", Flow: "bye", Actor: "alice"}, `There is no flow called "bye"; did you mean "buy"?`},
		{"no instance id", flows.Event{Kind: flows.EventStart, Flow: "buy", Actor: "alice", Data: form("item", "x", "amount", "1")}, "the instance id and the requester are required"},
		{"no requester", flows.Event{Kind: flows.EventStart, Instance: "X-1", Flow: "buy", Data: form("item", "x", "amount", "1")}, "the instance id and the requester are required"},
		{"bad form", flows.Event{Kind: flows.EventStart, Instance: "X-1", Flow: "buy", Actor: "alice", Data: form("item", "x", "amount", "-1")}, "Amount must be at least 1"},
		{"unknown event", flows.Event{Kind: "approve_all", Instance: "X-1"}, `Unknown event "approve_all".`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var cur *flows.Instance
			if tt.ev.Kind != flows.EventStart {
				cur = &flows.Instance{ID: "X-1", Flow: "buy", Status: flows.StatusRunning}
			}
			tr, err := e.Apply(cur, tt.ev, t0)
			var ie *flows.InputError
			var fe flows.FieldErrors
			if tr != nil || !errors.As(err, &ie) && !errors.As(err, &fe) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Apply = %v, %v; want an input error saying %q", tr, err, tt.want)
			}
		})
	}
	// An event for an instance that does not exist, or of a flow no longer defined.
	if _, err := e.Apply(nil, flows.Event{Kind: flows.EventApprove, Instance: "X-9", Actor: "bob"}, t0); !errors.Is(err, flows.ErrNotFound) {
		t.Fatalf("missing instance: %v", err)
	}
	if _, err := e.Apply(&flows.Instance{ID: "X-1", Flow: "gone"}, flows.Event{Kind: flows.EventApprove, Actor: "bob"}, t0); err == nil || !strings.Contains(err.Error(), `flow "gone" is no longer defined`) {
		t.Fatalf("gone flow: %v", err)
	}
}

// policyFlow is one approval step over group:finance (carol, frank, gina)
// with the given policy lines, then the end.
func policyFlow(policy string) string {
	return `
id: pol
name: Policy
owner: olivia
form:
  - {name: item}
steps:
  - id: fin
    name: Finance
    type: approval
    assignees: [group:finance]
` + policy + "\n"
}

func TestPolicies(t *testing.T) {
	t.Parallel()
	type step struct {
		who      string
		decision flows.EventKind
		want     flows.Status // after this decision
		pending  bool         // the step still waits
	}
	approve := func(who string) step { return step{who, flows.EventApprove, flows.StatusRunning, true} }
	reject := func(who string) step { return step{who, flows.EventReject, flows.StatusRunning, true} }
	ends := func(s step, st flows.Status) step { s.want, s.pending = st, false; return s }
	tests := []struct {
		name, policy string
		steps        []step
	}{
		{"any: the first approval wins", "    policy: any", []step{ends(approve("frank"), flows.StatusCompleted)}},
		{"any: the first rejection wins", "", []step{ends(reject("gina"), flows.StatusRejected)}},
		{"any: changes from anyone", "", []step{ends(step{"carol", flows.EventRequestChanges, "", false}, flows.StatusChangesRequested)}},
		{"all: everyone approves", "    policy: all", []step{approve("carol"), approve("gina"), ends(approve("frank"), flows.StatusCompleted)}},
		{"all: the first rejection ends it", "    policy: all", []step{approve("carol"), ends(reject("frank"), flows.StatusRejected)}},
		{"all: changes end it", "    policy: all", []step{approve("carol"), ends(step{"gina", flows.EventRequestChanges, "", false}, flows.StatusChangesRequested)}},
		{"quorum 2: two approvals", "    quorum: 2", []step{approve("carol"), ends(approve("gina"), flows.StatusCompleted)}},
		{"quorum 2: one rejection leaves it possible", "    quorum: 2", []step{reject("carol"), approve("frank"), ends(approve("gina"), flows.StatusCompleted)}},
		{"quorum 2: two rejections make it impossible", "    quorum: 2", []step{reject("carol"), ends(reject("frank"), flows.StatusRejected)}},
		{"quorum 2: approve, reject, reject", "    policy: quorum\n    quorum: 2", []step{approve("carol"), reject("frank"), ends(reject("gina"), flows.StatusRejected)}},
		{"quorum 3 of 3 is all", "    quorum: 3", []step{approve("carol"), approve("frank"), ends(approve("gina"), flows.StatusCompleted)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRun(t, newEngine(t, policyFlow(tt.policy)))
			r.start("pol", "alice", form("item", "x"))
			if got := assignees(r.in); !slices.Equal(got, []string{"carol", "frank", "gina"}) {
				t.Fatalf("assignees %v", got)
			}
			for i, s := range tt.steps {
				tr := r.act(s.decision, s.who, reason("because"))
				if r.in.Status != s.want {
					t.Fatalf("after %s by %s: status %s, want %s", s.decision, s.who, r.in.Status, s.want)
				}
				if s.pending {
					// The decider's card is closed, showing who is still awaited;
					// the others' cards, buttons and all, say so too.
					up := updated(t, tr, "fin/1/"+s.who)
					contains(t, "closed card", up.Msg.Outcome, "by "+testDir(t).Name(s.who), "Waiting on")
					if len(up.Msg.Actions) != 0 {
						t.Fatalf("a decided card keeps its buttons: %+v", up.Msg.Actions)
					}
					waiting := "Waiting on " + r.e.Directory().Name(r.in.Pending()[0])
					for _, o := range r.in.Pending() {
						if other := updated(t, tr, "fin/1/"+o).Msg; len(other.Actions) == 0 || !slices.ContainsFunc(other.Context, func(c string) bool { return strings.HasPrefix(c, waiting) }) {
							t.Fatalf("%s's card after %s decided: %+v", o, s.who, other)
						}
					}
					contains(t, "outcome", tr.Outcome.Text, "Still waiting on")
					if r.in.Tasks[slices.Index(assignees(r.in), s.who)].By != s.who {
						t.Fatalf("task of %s not recorded: %+v", s.who, r.in.Tasks)
					}
					continue
				}
				if i != len(tt.steps)-1 {
					t.Fatalf("step ended early")
				}
				// The step closes every card under its prefix and keeps its record.
				up := updated(t, tr, "fin/1/")
				if len(up.Msg.Actions) != 0 || up.Msg.Outcome == "" {
					t.Fatalf("closing update %+v", up.Msg)
				}
				h := r.in.History[len(r.in.History)-1]
				if h.Step != "fin" || h.Round != 1 || h.By != s.who || !slices.Equal(h.Assigned, []string{"carol", "frank", "gina"}) {
					t.Fatalf("history %+v", h)
				}
			}
			// Whoever comes late is told who decided first.
			late := r.refused(flows.Event{Kind: flows.EventApprove, Actor: "frank", Step: "fin", Round: 1}, flows.CodeAlreadyDecided)
			last := tt.steps[len(tt.steps)-1]
			if last.who == "frank" {
				late = r.refused(flows.Event{Kind: flows.EventApprove, Actor: "carol", Step: "fin", Round: 1}, flows.CodeAlreadyDecided)
			}
			contains(t, "late click", late.Outcome.Text, "by "+testDir(t).Name(last.who))
		})
	}
}

func TestPolicyAllRefusesASecondDecision(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, policyFlow("    policy: all")))
	r.start("pol", "alice", form("item", "x"))
	r.act(flows.EventApprove, "carol")
	tr := r.refused(flows.Event{Kind: flows.EventReject, Actor: "carol", Reason: "changed my mind"}, flows.CodeAlreadyDecided)
	contains(t, "refusal", tr.Outcome.Text, "You already approved X-1 at Thu 26 Nov 09:00 UTC; waiting on Frank Osei and Gina Ray.")

	// Frank's delegate decides for him: Frank is told who did, and Dana (in
	// Paris) reads the time in her zone, while the record, which everyone's
	// timeline shows, keeps UTC.
	r.act(flows.EventDelegate, "frank", target("dana"))
	r.act(flows.EventApprove, "dana")
	tr = r.refused(flows.Event{Kind: flows.EventApprove, Actor: "frank"}, flows.CodeAlreadyDecided)
	contains(t, "refusal", tr.Outcome.Text, "Dana Kowalski already approved X-1 on your behalf at Thu 26 Nov 09:00 UTC; waiting on Gina Ray.")
	tr = r.refused(flows.Event{Kind: flows.EventApprove, Actor: "dana"}, flows.CodeAlreadyDecided)
	contains(t, "refusal", tr.Outcome.Text, "You already approved X-1 at Thu 26 Nov 10:00 CET; waiting on Gina Ray.")
	if a := tr.Audit[0]; !a.Refused || a.Reason != "You already approved X-1 at Thu 26 Nov 09:00 UTC; waiting on Gina Ray." {
		t.Fatalf("refusal's record %+v", a)
	}
	// The closed card names each decider, and whose task a delegate decided.
	tr = r.act(flows.EventApprove, "gina")
	contains(t, "closed card", updated(t, tr, "fin/1/").Msg.Outcome, "Approved by Carol Diaz, Dana Kowalski (for Frank Osei) and Gina Ray")
}

func TestConditions(t *testing.T) {
	t.Parallel()
	t.Run("false: the step is skipped and audited", func(t *testing.T) {
		t.Parallel()
		r := buyRun(t, "500")
		tr := r.act(flows.EventApprove, "bob")
		wantStatus(t, r.in, flows.StatusCompleted, "", 0)
		var skipped *flows.AuditEntry
		for i, a := range tr.Audit {
			if a.Action == "skipped" {
				skipped = &tr.Audit[i]
			}
		}
		if skipped == nil || skipped.Actor != flows.System || skipped.Step != "finance" || skipped.Reason != "condition is false: amount > 1000" {
			t.Fatalf("skip not audited: %+v", tr.Audit)
		}
		if got := auditActions(tr.Audit); !slices.Equal(got, []string{"approved", "skipped", "notified", "completed"}) {
			t.Fatalf("audit %v", got)
		}
		if slices.ContainsFunc(r.in.History, func(h flows.StepRecord) bool { return h.Step == "finance" }) {
			t.Fatal("a skipped step has a record of a round")
		}
	})
	t.Run("true: the step runs", func(t *testing.T) {
		t.Parallel()
		r := buyRun(t, "1000.5")
		tr := r.act(flows.EventApprove, "bob")
		wantStatus(t, r.in, flows.StatusRunning, "finance", 1)
		if got := recipients(tr); !slices.Equal(got, []string{"carol", "frank", "gina"}) {
			t.Fatalf("finance cards to %v", got)
		}
		contains(t, "outcome", tr.Outcome.Text, "Approved X-1. Waiting on Carol Diaz, Frank Osei and Gina Ray (Finance approval).")
	})
	t.Run("boundary", func(t *testing.T) {
		t.Parallel()
		r := buyRun(t, "1,000")
		r.act(flows.EventApprove, "bob")
		wantStatus(t, r.in, flows.StatusCompleted, "", 0)
	})
}

// conditionFlow exercises the expression language over every kind of value
// a condition sees: numbers, text, choices, the requester, an empty
// optional field, a task's output and a webhook's stored reply.
const conditionFlow = `
id: cond
name: Conditions
owner: olivia
form:
  - {name: amount, type: number, required: true}
  - {name: dept, type: choice, options: [eng, ops], required: true}
  - {name: code}
steps:
  - id: work
    type: task
    assignees: [person:erin]
    outputs:
      - {name: seats, type: number}
  - id: hook
    type: webhook
    url: https://example.com/score
    store: {score: result.score, label: result.label}
  - {id: eng_big, type: notify, to: [requester], message: a, when: 'amount > 1000 && dept == "eng"'}
  - {id: ops_or_small, type: notify, to: [requester], message: b, when: 'dept in ["ops"] || amount <= 1000'}
  - {id: by_alice, type: notify, to: [requester], message: c, when: 'requester == "alice"'}
  - {id: no_code, type: notify, to: [requester], message: d, when: 'code == ""'}
  - {id: code_prefix, type: notify, to: [requester], message: e, when: 'code startsWith "X-" and len(code) > 3'}
  - {id: many_seats, type: notify, to: [requester], message: f, when: 'seats >= 10'}
  - {id: high_score, type: notify, to: [requester], message: g, when: 'score > 50'}
  - {id: labelled, type: notify, to: [requester], message: h, when: 'label == "gold"'}
  - {id: arithmetic, type: notify, to: [requester], message: i, when: 'amount * 2 - seats > 100 and not (dept == "ops")'}
  - {id: strings, type: notify, to: [requester], message: j, when: 'lower(dept) == "eng" && trim(" x ") == "x" && hasPrefix(code, "X")'}
`

func TestConditionValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		requester string
		form      map[string]string
		seats     string
		reply     map[string]any
		ran       []string
		failed    []string // steps asked because their condition could not be evaluated
	}{
		{"big eng request", "alice", form("amount", "5000", "dept", "eng"), "12",
			map[string]any{"result": map[string]any{"score": 70.0, "label": "gold"}},
			[]string{"eng_big", "by_alice", "no_code", "many_seats", "high_score", "labelled", "arithmetic"}, nil},
		{"small ops request", "bob", form("amount", "10", "dept", "ops", "code", "X-123"), "",
			map[string]any{"result": map[string]any{"score": 10.0, "label": "tin"}},
			[]string{"ops_or_small", "code_prefix"}, nil},
		{"a reply without the stored fields", "carol", form("amount", "5000", "dept", "eng", "code", "X-1"), "2",
			map[string]any{"other": true},
			[]string{"eng_big", "high_score", "labelled", "arithmetic", "strings"}, []string{"high_score", "labelled"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRun(t, newEngine(t, conditionFlow))
			r.start("cond", tt.requester, tt.form)
			r.act(flows.EventTaskDone, "erin", data("seats", tt.seats))
			tr := r.do(flows.Event{Kind: flows.EventWebhookResult, Step: "hook", Round: 1, Result: &flows.WebhookResult{OK: true, Status: 200, Reply: tt.reply}})
			wantStatus(t, r.in, flows.StatusCompleted, "", 0)
			var ran, failed []string
			for _, a := range tr.Audit {
				switch a.Action {
				case "notified":
					ran = append(ran, a.Step)
				case "condition_failed":
					failed = append(failed, a.Step)
				case "skipped":
					if !strings.HasPrefix(a.Reason, "condition is false: ") {
						t.Errorf("step %s: %s", a.Step, a.Reason)
					}
				}
			}
			if !slices.Equal(failed, tt.failed) {
				t.Errorf("conditions that failed: %v, want %v", failed, tt.failed)
			}
			if !slices.Equal(ran, tt.ran) {
				t.Fatalf("ran %v, want %v", ran, tt.ran)
			}
		})
	}
}

// assigneeFlow is one step of kind with the given assignees, owned by owner.
func assigneeFlow(kind, owner, assignees string, extra string) string {
	return fmt.Sprintf(`
id: who
name: Who
owner: %s
form:
  - {name: approver, label: Approver, type: person}
steps:
  - id: s
    name: The step
    type: %s
    assignees: [%s]
%s`, owner, kind, assignees, extra)
}

func TestAssignees(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, kind, owner, assignees, extra string
		requester, approver                 string
		want                                []string
		note                                string
	}{
		{"manager", "approval", "olivia", "manager", "", "alice", "", []string{"bob"}, ""},
		{"group, sorted", "approval", "olivia", "group:finance", "", "alice", "", []string{"carol", "frank", "gina"}, ""},
		{"a person field", "approval", "olivia", "field:approver", "", "alice", "erin", []string{"erin"}, ""},
		{"a person field by id in another case", "approval", "olivia", "field:approver", "", "alice", "ERIN", []string{"erin"}, ""},
		{"a person", "approval", "olivia", "person:gus", "", "alice", "", []string{"gus"}, ""},
		{"the requester on a task", "task", "olivia", "requester", "", "alice", "", []string{"alice"}, ""},
		{"the owner", "task", "olivia", "owner", "", "alice", "", []string{"olivia"}, ""},
		{"duplicates once, in order", "approval", "olivia", "person:gus, manager, group:leads, person:bob", "", "alice", "", []string{"gus", "bob"}, ""},
		{"not the requester from a group", "approval", "olivia", "group:finance", "", "carol", "", []string{"frank", "gina"},
			"the requester may not approve their own request"},
		{"self-approval when the step allows it", "approval", "olivia", "requester", "    allow_self_approval: true\n", "alice", "", []string{"alice"}, ""},
		{"the requester may do a task", "task", "olivia", "field:approver", "", "alice", "alice", []string{"alice"}, ""},
		{"no manager: the owner", "approval", "olivia", "manager", "", "zed", "", []string{"olivia"}, "no one is available as the requester's manager; assigned to Olivia Brown instead"},
		{"an empty field: the manager", "approval", "olivia", "field:approver", "", "alice", "", []string{"bob"}, "no one is available as the Approver named on the form; assigned to Bob Chen instead"},
		{"an empty group: the manager", "task", "olivia", "group:nobody", "", "alice", "", []string{"bob"}, "no one is available in the nobody group; assigned to Bob Chen instead"},
		{"outside the directory: the owner", "approval", "olivia", "manager", "", "slack:U999", "", []string{"olivia"}, "no one is available as the requester's manager; assigned to Olivia Brown instead"},
		// The requester owns the flow and has no manager: the fallback must not
		// make them approve their own request; an admin takes it.
		{"the owner asks and has no manager: an admin", "approval", "zed", "manager", "", "zed", "", []string{admin}, "no one is available as the requester's manager; assigned to Ada Admin instead"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRun(t, newEngine(t, assigneeFlow(tt.kind, tt.owner, tt.assignees, tt.extra)))
			tr := r.start("who", tt.requester, form("approver", tt.approver))
			if got := assignees(r.in); !slices.Equal(got, tt.want) {
				t.Fatalf("assignees %v, want %v", got, tt.want)
			}
			assigned := tr.Audit[len(tr.Audit)-1]
			if assigned.Action != "assigned" || assigned.Detail["assignees"] != strings.Join(tt.want, ", ") || assigned.Detail["note"] != tt.note {
				t.Fatalf("assigned entry %+v, want note %q", assigned, tt.note)
			}
			if got := recipients(tr); !slices.Equal(got, tt.want) {
				t.Fatalf("cards to %v, want %v", got, tt.want)
			}
			// So does the requester's answer.
			if has := strings.Contains(tr.Outcome.Text, "("+tt.note+")"); has != (tt.note != "") {
				t.Fatalf("outcome %q, want the routing note %q", tr.Outcome.Text, tt.note)
			}
			// The cards say why, when the assignees are not the ones named.
			for _, p := range tt.want {
				card := notified(t, tr, p, "s/1/"+p).Msg
				if has := slices.Contains(card.Context, "Routing: "+tt.note); has != (tt.note != "") {
					t.Fatalf("%s's card context %q, want the routing note %q", p, card.Context, tt.note)
				}
			}
		})
	}
}

// TestPersonFieldsNameSomeoneInTheDirectory: a person field naming nobody
// in the directory is a field error (and starts nothing), at the start, on
// resubmission and in a task's outputs.
func TestPersonFieldsNameSomeoneInTheDirectory(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, assigneeFlow("approval", "olivia", "field:approver", "")))
	_, err := r.try(flows.Event{Kind: flows.EventStart, Instance: "X-1", Flow: "who", Actor: "alice", Data: form("approver", "nobody")})
	var fe flows.FieldErrors
	if !errors.As(err, &fe) || !strings.Contains(fe["approver"], `"nobody" is not a person in the directory`) {
		t.Fatalf("start with an unknown person: error %v, want a field error on approver", err)
	}
	if r.in != nil {
		t.Fatal("a refused start made an instance")
	}
	r.start("who", "alice", form("approver", "erin"))
	if r.in.Data["approver"] != "erin" {
		t.Fatalf("data %v", r.in.Data)
	}
	r.act(flows.EventRequestChanges, "erin", reason("who else?"))
	r.inputErr(flows.Event{Kind: flows.EventResubmit, Actor: "alice", Data: form("approver", "Ivan")}, `"Ivan" is not a person in the directory`)

	tasks := newRun(t, newEngine(t, `
id: t
name: T
owner: olivia
steps:
  - id: s
    type: task
    assignees: [person:bob]
    outputs:
      - {name: handover, type: person}
`))
	tasks.start("t", "alice", nil)
	tasks.inputErr(flows.Event{Kind: flows.EventTaskDone, Actor: "bob", Data: form("handover", "nobody")}, `"nobody" is not a person in the directory`)
}

// TestQuorumIsNeverLoweredQuietly: a quorum larger than the people who may
// approve (the requester left out of their own group, a small group) brings
// in stand-ins (the requester's manager, the owner, an admin) and says so;
// only when there are none left is it lowered, and the record says that too.
func TestQuorumIsNeverLoweredQuietly(t *testing.T) {
	t.Parallel()
	flow := func(group string, quorum int) string {
		return strings.Replace(strings.Replace(policyFlow(fmt.Sprintf("    quorum: %d", quorum)), "group:finance", "group:"+group, 1), "owner: olivia", "owner: gus", 1)
	}
	tests := []struct {
		name      string
		src       string
		requester string
		want      []string // assignees
		note      string   // in the "assigned" audit entry
		decide    []string // approvals that complete it
	}{
		// Erin asks; security is Erin, Gus and Hana; quorum 3 without her
		// needs one more: her manager Dana.
		{"requester in the group", flow("security", 3), "erin", []string{"gus", "hana", "dana"},
			"a quorum of 3 needs more people; added Dana Kowalski", []string{"gus", "hana", "dana"}},
		// Quorum 5 of finance's three: Alice's manager Bob, then the owner Gus.
		{"group smaller than the quorum", flow("finance", 5), "alice", []string{"carol", "frank", "gina", "bob", "gus"},
			"added Bob Chen and Gus Ahmed", []string{"carol", "frank", "gina", "bob", "gus"}},
		// Quorum 9: every stand-in (Bob, Gus, the admin Ada) is not enough.
		{"not enough stand-ins", flow("finance", 9), "alice", []string{"carol", "frank", "gina", "bob", "gus", "ada"},
			"only 6 people can approve; the quorum of 9 is lowered to 6", []string{"carol", "frank", "gina", "bob", "gus", "ada"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRun(t, newEngine(t, tt.src))
			r.start("pol", tt.requester, form("item", "x"))
			if got := assignees(r.in); !slices.Equal(got, tt.want) {
				t.Fatalf("assignees %v, want %v", got, tt.want)
			}
			i := slices.IndexFunc(r.audit, func(a flows.AuditEntry) bool { return a.Action == "assigned" })
			if i < 0 {
				t.Fatal("no assigned entry")
			}
			contains(t, "assigned note", r.audit[i].Detail["note"], tt.note)
			var tr *flows.Transition
			for j, who := range tt.decide {
				tr = r.act(flows.EventApprove, who)
				if last := j == len(tt.decide)-1; last != (r.in.Status == flows.StatusCompleted) {
					t.Fatalf("after %d approvals: status %s", j+1, r.in.Status)
				}
			}
			// Everyone who approved is credited, in the order they did.
			if h := r.in.History[0]; !slices.Equal(h.Deciders, tt.decide) {
				t.Errorf("deciders %v, want %v", h.Deciders, tt.decide)
			}
			names := make([]string, len(tt.decide))
			for i, id := range tt.decide {
				names[i] = testDir(t).Name(id)
			}
			joined := strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
			contains(t, "closed cards", updated(t, tr, "fin/1/").Msg.Outcome, "Approved by "+joined)
			contains(t, "outcome card", notified(t, tr, tt.requester, "requester/done").Msg.Text, "Finance: approved by "+joined)
		})
	}
}

// A routing note goes once someone moves the task: the new card says who
// moved it, and the note would name the wrong person.
func TestRoutingNoteGoesOnReassign(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, assigneeFlow("approval", "olivia", "field:approver", "")))
	r.start("who", "alice", form("approver", "")) // routed to bob, her manager
	if r.in.Routed == "" {
		t.Fatal("no routing note")
	}
	tr := r.act(flows.EventReassign, "bob", target("erin"))
	card := notified(t, tr, "erin", "s/1/erin").Msg
	for _, c := range card.Context {
		if strings.HasPrefix(c, "Routing:") {
			t.Fatalf("erin's card keeps the note %q", c)
		}
	}
	if r.in.Routed != "" {
		t.Fatalf("routed %q after a reassignment", r.in.Routed)
	}
}
