package flows_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/batonbot/baton/flows"
)

// t0 is when every test's clock starts: a Thursday morning, UTC.
var t0 = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

// testDirectory is the people directory of the engine tests.
const testDirectory = `
people:
  - {id: alice, name: Alice Martin, email: Alice@Example.com, slack: UALICE, teams: "29:alice", manager: bob, timezone: Europe/London}
  - {id: bob, name: Bob Chen, manager: dana, groups: [leads]}
  - {id: carol, name: Carol Diaz, manager: dana, groups: [finance]}
  - {id: frank, name: Frank Osei, manager: dana, groups: [finance]}
  - {id: gina, name: Gina Ray, manager: dana, groups: [finance]}
  - {id: dana, name: Dana Kowalski, timezone: Europe/Paris}
  - {id: erin, name: Erin Park, manager: dana, groups: [security, it]}
  - {id: gus, name: Gus Ahmed, manager: erin, groups: [security]}
  - {id: hana, name: Hana Sato, manager: erin, groups: [security]}
  - {id: olivia, name: Olivia Brown, manager: dana, groups: [ops]}
  - {id: zed, name: Zed Null}
  - {id: ada, name: Ada Admin}
channels:
  - {id: finance, name: "#finance"}
  - {id: ops, name: "#ops"}
  - {id: vendors, name: "#vendor-management"}
`

// admin is the configured admin of the engine tests.
const admin = "ada"

func testDir(t testing.TB) *flows.Directory {
	t.Helper()
	d, err := flows.ParseDirectory("directory.yaml", []byte(testDirectory))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// mustParse parses one definition or fails the test.
func mustParse(t testing.TB, src string) *flows.Definition {
	t.Helper()
	d, err := flows.ParseDefinition("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("parse:\n%v\n--- source:\n%s", err, src)
	}
	return d
}

// newEngine builds an engine over the test directory and ada as admin.
func newEngine(t testing.TB, srcs ...string) *flows.Engine {
	t.Helper()
	var defs []*flows.Definition
	for _, s := range srcs {
		defs = append(defs, mustParse(t, s))
	}
	e, err := flows.NewEngine(defs, testDir(t), []string{admin})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// run drives one instance through an engine the way the runtime does: every
// resulting instance goes through JSON (as storage keeps it), every
// transition is checked for purity (the input is not changed, applying again
// gives the same result) and for the effects' contract, and the audit trail
// and the pending timers are kept as storage would keep them.
type run struct {
	t       testing.TB
	e       *flows.Engine
	in      *flows.Instance
	now     time.Time
	audit   []flows.AuditEntry
	effects []flows.Effect // of every committed transition, in order
	cards   map[string]bool
	timers  map[string]flows.Timer // the timer set storage would hold
	last    *flows.Transition
	keys    int
}

func newRun(t testing.TB, e *flows.Engine) *run {
	return &run{t: t, e: e, now: t0, cards: map[string]bool{}, timers: map[string]flows.Timer{}}
}

// start starts flow as actor with the given form; the instance is X-1.
func (r *run) start(flow, actor string, form map[string]string) *flows.Transition {
	r.t.Helper()
	return r.do(flows.Event{Kind: flows.EventStart, Instance: "X-1", Flow: flow, Actor: actor, Data: form})
}

// do applies ev and fails the test on an error.
func (r *run) do(ev flows.Event) *flows.Transition {
	r.t.Helper()
	tr, err := r.try(ev)
	if err != nil {
		r.t.Fatalf("%s by %s: %v", ev.Kind, ev.Actor, err)
	}
	return tr
}

// refused applies ev and fails unless it is refused with code.
func (r *run) refused(ev flows.Event, code string) *flows.Transition {
	r.t.Helper()
	tr := r.do(ev)
	if tr.Outcome.OK || tr.Outcome.Code != code {
		r.t.Fatalf("%s by %s: outcome %+v, want a refusal %s", ev.Kind, ev.Actor, tr.Outcome, code)
	}
	if len(tr.Audit) != 1 || !tr.Audit[0].Refused || tr.Audit[0].Actor != ev.Actor {
		r.t.Fatalf("%s by %s: refusal not audited as refused by the actor: %+v", ev.Kind, ev.Actor, tr.Audit)
	}
	if len(tr.Effects) != 0 {
		r.t.Fatalf("%s by %s: a refusal has effects: %+v", ev.Kind, ev.Actor, tr.Effects)
	}
	return tr
}

// inputErr applies ev and fails unless it is bad input (nothing changes).
func (r *run) inputErr(ev flows.Event, want string) {
	r.t.Helper()
	before := r.in
	_, err := r.try(ev)
	var ie *flows.InputError
	var fe flows.FieldErrors
	if !errors.As(err, &ie) && !errors.As(err, &fe) {
		r.t.Fatalf("%s by %s: error %v, want an input error", ev.Kind, ev.Actor, err)
	}
	if !strings.Contains(err.Error(), want) {
		r.t.Fatalf("%s by %s: error %q lacks %q", ev.Kind, ev.Actor, err, want)
	}
	if r.in != before {
		r.t.Fatal("an input error changed the instance")
	}
}

// try applies ev at r.now to the current instance.
func (r *run) try(ev flows.Event) (*flows.Transition, error) {
	r.t.Helper()
	if ev.Kind != flows.EventStart && ev.Instance == "" && r.in != nil {
		ev.Instance = r.in.ID
	}
	r.keys++
	if ev.Key == "" {
		ev.Key = "k" + strconv.Itoa(r.keys)
	}
	var snapshot []byte
	var clone *flows.Instance
	if r.in != nil {
		snapshot = mustJSON(r.t, r.in)
		clone = r.in.Clone()
	}
	tr, err := r.e.Apply(r.in, ev, r.now)
	tr2, err2 := r.e.Apply(r.in, ev, r.now)
	if r.in != nil {
		if got := mustJSON(r.t, r.in); string(got) != string(snapshot) || !reflect.DeepEqual(clone, r.in) {
			r.t.Fatalf("%s changed its input instance:\nbefore %s\nafter  %s", ev.Kind, snapshot, got)
		}
	}
	if !reflect.DeepEqual(tr, tr2) || (err == nil) != (err2 == nil) || err != nil && err.Error() != err2.Error() {
		r.t.Fatalf("%s is not deterministic:\n%+v %v\n%+v %v", ev.Kind, tr, err, tr2, err2)
	}
	if err != nil {
		if tr != nil {
			r.t.Fatalf("%s: an error with a transition", ev.Kind)
		}
		return nil, err
	}
	r.last = tr
	if tr.Noop {
		if len(tr.Audit) > 0 || len(tr.Effects) > 0 {
			r.t.Fatalf("%s: a no-op with audit or effects", ev.Kind)
		}
		return tr, nil
	}
	r.check(ev, tr)
	return tr, nil
}

// check verifies what a committed transition promises and keeps its state.
func (r *run) check(ev flows.Event, tr *flows.Transition) {
	r.t.Helper()
	if len(tr.Audit) == 0 {
		r.t.Fatalf("%s: a transition without an audit entry", ev.Kind)
	}
	for _, a := range tr.Audit {
		if !a.At.Equal(r.now.UTC().Truncate(time.Millisecond)) || a.Actor == "" || a.Action == "" {
			r.t.Fatalf("%s: audit entry without time, actor or action: %+v", ev.Kind, a)
		}
	}
	// What storage writes is each entry's encoding (encoding/json's bytes).
	if len(tr.AuditJSON) != len(tr.Audit) {
		r.t.Fatalf("%s: %d encoded audit entries for %d", ev.Kind, len(tr.AuditJSON), len(tr.Audit))
	}
	for i, a := range tr.Audit {
		if want := mustJSON(r.t, a); string(tr.AuditJSON[i]) != string(want) {
			r.t.Fatalf("%s: audit entry %d encoded as\n%s\nwant\n%s", ev.Kind, i, tr.AuditJSON[i], want)
		}
	}
	r.audit = append(r.audit, tr.Audit...)
	if err := flows.VerifyChain(r.audit); err != nil {
		r.t.Fatalf("%s: audit chain: %v", ev.Kind, err)
	}
	if tr.Instance.AuditSeq != len(r.audit) || tr.Instance.AuditHead != r.audit[len(r.audit)-1].Hash {
		r.t.Fatalf("%s: instance audit head %d %s does not match the trail", ev.Kind, tr.Instance.AuditSeq, tr.Instance.AuditHead)
	}
	if tr.Outcome.Instance != tr.Instance.ID || tr.Outcome.OK && tr.Outcome.Status != tr.Instance.Status {
		r.t.Fatalf("%s: outcome %+v does not describe %s (%s)", ev.Kind, tr.Outcome, tr.Instance.ID, tr.Instance.Status)
	}
	if ev.Kind == flows.EventTimer {
		delete(r.timers, ev.Timer) // storage drops a fired timer with the transition it caused
	}
	for _, e := range tr.Effects {
		switch e.Kind {
		case flows.EffectNotify:
			if e.Msg == nil || e.Card == "" || (e.To.Person == "") == (e.To.Channel == "") {
				r.t.Fatalf("%s: malformed notify %+v", ev.Kind, e)
			}
			if e.Thread != "" && !r.cards[e.Thread] && !slices.ContainsFunc(tr.Effects, func(o flows.Effect) bool { return o.Card == e.Thread }) {
				r.t.Fatalf("%s: notify %s threads under unknown card %s", ev.Kind, e.Card, e.Thread)
			}
			r.cards[e.Card] = true
		case flows.EffectUpdate:
			if e.Msg == nil || e.Card == "" {
				r.t.Fatalf("%s: malformed update %+v", ev.Kind, e)
			}
			// The dispatcher updates the card with exactly this key, or every
			// card under a key ending in "/": either way it must name a card
			// that was sent.
			if !r.updates(e.Card) {
				r.t.Fatalf("%s: update of %q matches no card sent (sent: %v)", ev.Kind, e.Card, slices.Sorted(mapKeys(r.cards)))
			}
		case flows.EffectSetTimer:
			if e.Timer == nil || e.Timer.ID == "" || !e.Timer.At.After(r.now.Add(-time.Millisecond)) {
				r.t.Fatalf("%s: bad timer %+v", ev.Kind, e.Timer)
			}
			r.timers[e.Timer.ID] = *e.Timer
		case flows.EffectCancelTimer:
			if _, ok := r.timers[e.Timer.ID]; !ok {
				r.t.Fatalf("%s: cancels unknown timer %s", ev.Kind, e.Timer.ID)
			}
			delete(r.timers, e.Timer.ID)
		case flows.EffectWebhook:
			if e.Webhook == nil || e.Webhook.URL == "" {
				r.t.Fatalf("%s: bad webhook %+v", ev.Kind, e)
			}
		default:
			r.t.Fatalf("%s: unknown effect %q", ev.Kind, e.Kind)
		}
	}
	r.effects = append(r.effects, tr.Effects...)
	// Storage keeps the instance as JSON; the next event sees what it decodes.
	var next flows.Instance
	if err := json.Unmarshal(mustJSON(r.t, tr.Instance), &next); err != nil {
		r.t.Fatal(err)
	}
	r.in = &next
	var ids []string
	for _, tm := range r.in.Timers {
		ids = append(ids, tm.ID)
	}
	slices.Sort(ids)
	if want := slices.Sorted(mapKeys(r.timers)); !slices.Equal(ids, want) {
		r.t.Fatalf("%s: instance timers %v, but the effects leave %v", ev.Kind, ids, want)
	}
}

func (r *run) updates(key string) bool {
	for c := range r.cards {
		if c == key || strings.HasSuffix(key, "/") && strings.HasPrefix(c, key) {
			return true
		}
	}
	return false
}

// act applies a person's event on the current instance.
func (r *run) act(kind flows.EventKind, actor string, opts ...func(*flows.Event)) *flows.Transition {
	r.t.Helper()
	ev := flows.Event{Kind: kind, Actor: actor}
	for _, o := range opts {
		o(&ev)
	}
	return r.do(ev)
}

func reason(s string) func(*flows.Event) { return func(e *flows.Event) { e.Reason = s } }
func target(s string) func(*flows.Event) { return func(e *flows.Event) { e.Target = s } }
func on(step string, round int) func(*flows.Event) {
	return func(e *flows.Event) { e.Step, e.Round = step, round }
}
func data(kv ...string) func(*flows.Event) {
	return func(e *flows.Event) { e.Data = form(kv...) }
}

func form(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// fire moves the clock to the earliest pending timer of kind and fires it.
func (r *run) fire(kind flows.TimerKind) *flows.Transition {
	r.t.Helper()
	var next *flows.Timer
	for _, tm := range r.in.Timers {
		if tm.Kind == kind && (next == nil || tm.At.Before(next.At)) {
			next = &tm
		}
	}
	if next == nil {
		r.t.Fatalf("no %s timer pending (timers: %+v)", kind, r.in.Timers)
	}
	if next.At.After(r.now) {
		r.now = next.At
	}
	return r.do(flows.Event{Kind: flows.EventTimer, Timer: next.ID, Key: "timer:" + next.ID})
}

// timer returns the pending timer of kind with rung/reminder number n.
func (r *run) timer(kind flows.TimerKind, n int) (flows.Timer, bool) {
	for _, tm := range r.in.Timers {
		if tm.Kind == kind && tm.N == n {
			return tm, true
		}
	}
	return flows.Timer{}, false
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// --- assertions on transitions ---

func notifies(tr *flows.Transition) []flows.Effect {
	var out []flows.Effect
	for _, e := range tr.Effects {
		if e.Kind == flows.EffectNotify {
			out = append(out, e)
		}
	}
	return out
}

// notified returns the notify effect sent to person or #channel with card.
func notified(t testing.TB, tr *flows.Transition, to, card string) flows.Effect {
	t.Helper()
	for _, e := range notifies(tr) {
		if (e.To.Person == to || "#"+e.To.Channel == to) && e.Card == card {
			return e
		}
	}
	t.Fatalf("no card %q sent to %s; sent: %s", card, to, describe(notifies(tr)))
	return flows.Effect{}
}

func describe(es []flows.Effect) string {
	var parts []string
	for _, e := range es {
		to := e.To.Person
		if e.To.Channel != "" {
			to = "#" + e.To.Channel
		}
		parts = append(parts, string(e.Kind)+" "+to+" "+e.Card)
	}
	return strings.Join(parts, "; ")
}

// recipients lists who got a notify (people, #channels), in order.
func recipients(tr *flows.Transition) []string {
	var out []string
	for _, e := range notifies(tr) {
		if e.To.Channel != "" {
			out = append(out, "#"+e.To.Channel)
		} else {
			out = append(out, e.To.Person)
		}
	}
	return out
}

func effectsOf(tr *flows.Transition, kind flows.EffectKind) []flows.Effect {
	var out []flows.Effect
	for _, e := range tr.Effects {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// updated returns the update effect for card key.
func updated(t testing.TB, tr *flows.Transition, card string) flows.Effect {
	t.Helper()
	for _, e := range effectsOf(tr, flows.EffectUpdate) {
		if e.Card == card {
			return e
		}
	}
	t.Fatalf("no update of %q; effects: %s", card, describe(tr.Effects))
	return flows.Effect{}
}

// actions lists an action list's kinds.
func actions(as []flows.Action) []flows.ActionKind {
	var out []flows.ActionKind
	for _, a := range as {
		out = append(out, a.Kind)
	}
	return out
}

func auditActions(es []flows.AuditEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Action)
	}
	return out
}

func assignees(in *flows.Instance) []string {
	var out []string
	for _, t := range in.Tasks {
		out = append(out, t.Assignee)
	}
	return out
}

func wantStatus(t testing.TB, in *flows.Instance, status flows.Status, step string, round int) {
	t.Helper()
	if in.Status != status || in.Step != step || in.Round != round {
		t.Fatalf("instance is %s at %q round %d, want %s at %q round %d", in.Status, in.Step, in.Round, status, step, round)
	}
}

func contains(t testing.TB, what, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Fatalf("%s lacks %q:\n%s", what, w, s)
		}
	}
}
