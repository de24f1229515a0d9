package flows_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/batonbot/baton/flows"
)

const hookedFlow = `id: hooked
name: Hooked
owner: olivia
prefix: HK
form:
  - {name: item, required: true}
steps:
  - id: review
    type: approval
    assignees: [person:bob]
webhooks:
  - url: https://crm.example.com/baton?token=s3cret
    secret: crm
    events: [started, decided, completed]
  - url: http://warehouse.internal/events
`

func TestParseWebhooks(t *testing.T) {
	d := mustParse(t, hookedFlow)
	if len(d.Webhooks) != 2 {
		t.Fatalf("webhooks: got %+v, want 2", d.Webhooks)
	}
	h := d.Webhooks[0]
	if h.URL != "https://crm.example.com/baton?token=s3cret" || h.Secret != "crm" || !h.Wants("decided") || h.Wants("reminded") {
		t.Errorf("first hook: %+v", h)
	}
	if !d.Webhooks[1].Wants("reminded") || d.Webhooks[1].Secret != "" {
		t.Errorf("second hook wants every event with the default secret: %+v", d.Webhooks[1])
	}
	if got := flows.HookTarget(h.URL); got != "https://crm.example.com" {
		t.Errorf("HookTarget = %q: it must drop the path and query, which may hold secrets", got)
	}
	// Named by flow and place, to tell them apart where URLs are not shown.
	if h.Name != d.ID+" webhook 1" || d.Webhooks[1].Name != d.ID+" webhook 2" {
		t.Errorf("names %q, %q", h.Name, d.Webhooks[1].Name)
	}
	call := flows.HookCall{Name: h.Name, URL: h.URL}
	if got := call.Subscriber(); got != "https://crm.example.com ("+d.ID+" webhook 1)" {
		t.Errorf("Subscriber() = %q", got)
	}
}

func TestParseWebhooksProblems(t *testing.T) {
	src := strings.Replace(hookedFlow, "https://crm.example.com/baton?token=s3cret", "ftp://crm.example.com", 1)
	src = strings.Replace(src, "secret: crm", "secret: Bad Name", 1)
	src = strings.Replace(src, "[started, decided, completed]", "[started, approved]", 1)
	src = strings.Replace(src, "  - url: http://warehouse.internal/events\n", "  - urll: http://warehouse.internal/events\n", 1)
	_, err := flows.ParseDefinition("hooked.yaml", []byte(src))
	var de *flows.DefinitionError
	if !errors.As(err, &de) {
		t.Fatalf("want a DefinitionError, got %v", err)
	}
	// The unknown key stops decoding; fix it and the other three show.
	if !strings.Contains(err.Error(), `unknown key "urll" (did you mean "url"?)`) {
		t.Errorf("unknown key not reported with a suggestion: %v", err)
	}
	src = strings.Replace(src, "urll:", "url:", 1)
	_, err = flows.ParseDefinition("hooked.yaml", []byte(src))
	if !errors.As(err, &de) {
		t.Fatalf("want a DefinitionError, got %v", err)
	}
	var paths []string
	for _, p := range de.Problems {
		paths = append(paths, p.Path)
	}
	want := []string{"webhooks[0].url", "webhooks[0].secret", "webhooks[0].events[1]"}
	if !slices.Equal(paths, want) {
		t.Errorf("problem paths %v, want %v:\n%v", paths, want, err)
	}
}

func TestHookEvents(t *testing.T) {
	e := newEngine(t, hookedFlow)
	r := newRun(t, e)
	tr := r.start("hooked", "alice", form("item", "Laptop"))
	evs := flows.HookEvents(tr)
	if got := hookTypes(evs); !slices.Equal(got, []string{"started", "assigned"}) {
		t.Fatalf("start: events %v, want started, assigned", got)
	}
	st, as := evs[0], evs[1]
	if st.ID != "X-1.1" || as.ID != "X-1.2" || st.Actor != "alice" || st.Instance.Data["item"] != "Laptop" || st.Instance.Status != flows.StatusRunning {
		t.Errorf("started event: %+v", st)
	}
	if !slices.Equal(as.Assignees, []string{"bob"}) || as.Step != "review" || as.Round != 1 || !slices.Equal(as.Instance.WaitingOn, []string{"bob"}) {
		t.Errorf("assigned event: %+v", as)
	}

	// A refusal is audited but announces nothing.
	tr = r.refused(flows.Event{Kind: flows.EventApprove, Actor: "carol"}, flows.CodeNotAssignee)
	if evs := flows.HookEvents(tr); len(evs) != 0 {
		t.Errorf("a refusal announced %v", hookTypes(evs))
	}

	tr = r.act(flows.EventReject, "bob", reason("too expensive"), func(ev *flows.Event) { ev.Via = "api token erp" })
	evs = flows.HookEvents(tr)
	if got := hookTypes(evs); !slices.Equal(got, []string{"decided"}) {
		t.Fatalf("reject: events %v", got)
	}
	if d := evs[0]; d.Decision != flows.Rejected || d.Reason != "too expensive" || d.Actor != "bob" || d.Via != "api token erp" || d.Step != "review" || d.Instance.Status != flows.StatusRejected {
		t.Errorf("decided event: %+v", d)
	}
	// The instance's outcome is a word, its reason the text, as the API's.
	if in := evs[0].Instance; in.Outcome != "rejected" || in.Reason != "too expensive" {
		t.Errorf("rejected instance: outcome %q, reason %q", in.Outcome, in.Reason)
	}

	tr = r.act(flows.EventWithdraw, "alice", reason("no longer needed"))
	evs = flows.HookEvents(tr)
	if got := hookTypes(evs); !slices.Equal(got, []string{"cancelled"}) || evs[0].Action != "withdrawn" || evs[0].Instance.Status != flows.StatusWithdrawn ||
		evs[0].Instance.Outcome != "withdrawn" || evs[0].Instance.Reason != "no longer needed" {
		t.Errorf("withdraw: %+v", evs)
	}
}

func TestHookEventsCompleted(t *testing.T) {
	r := newRun(t, newEngine(t, hookedFlow))
	r.start("hooked", "alice", form("item", "Laptop"))
	tr := r.act(flows.EventApprove, "ada") // an admin, for bob
	evs := flows.HookEvents(tr)
	if got := hookTypes(evs); !slices.Equal(got, []string{"decided", "completed"}) {
		t.Fatalf("approve: events %v", got)
	}
	if evs[0].Decision != flows.Approved || evs[0].Detail["authority"] != "admin" || evs[1].Instance.Status != flows.StatusCompleted || evs[1].Instance.Outcome != "approved" ||
		evs[1].Instance.Reason != "" || evs[1].Actor != flows.System {
		t.Errorf("events: %+v", evs)
	}
	if flows.HookEvents(nil) != nil || flows.HookEvents(&flows.Transition{Noop: true}) != nil {
		t.Error("no transition, no events")
	}
}

// TestResult: an instance's outcome is one word of Outcomes for each
// status (none while it runs), the words given for it its reason, however
// the engine wrote Outcome.
func TestResult(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		status          flows.Status
		stored          string
		outcome, reason string
	}{
		{flows.StatusRunning, "", "", ""},
		{flows.StatusCompleted, "approved", "approved", ""},
		{flows.StatusCompleted, "completed", "completed", ""},
		{flows.StatusCompleted, "", "completed", ""},
		{flows.StatusChangesRequested, "which model?", "changes_requested", "which model?"},
		{flows.StatusRejected, "approved", "rejected", "approved"}, // a reason that reads as an outcome is a reason
		{flows.StatusDeclined, "too expensive", "rejected", "too expensive"},
		{flows.StatusWithdrawn, "", "withdrawn", ""},
		{flows.StatusCancelled, "a duplicate", "cancelled", "a duplicate"},
		{flows.StatusFailed, "HTTP 500 from https://erp.example.com", "failed", "HTTP 500 from https://erp.example.com"},
	} {
		outcome, reason := (&flows.Instance{Status: c.status, Outcome: c.stored}).Result()
		if outcome != c.outcome || reason != c.reason {
			t.Errorf("%s with %q: %q, %q; want %q, %q", c.status, c.stored, outcome, reason, c.outcome, c.reason)
		}
		if outcome != "" && !slices.Contains(flows.Outcomes, outcome) {
			t.Errorf("%s: %q is not in Outcomes", c.status, outcome)
		}
	}
	for _, s := range flows.Statuses { // every status has its word
		if o, _ := (&flows.Instance{Status: s}).Result(); s != flows.StatusRunning && !slices.Contains(flows.Outcomes, o) {
			t.Errorf("status %s: outcome %q", s, o)
		}
	}
}

func hookTypes(evs []flows.HookEvent) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

func TestHookEventsFromTimers(t *testing.T) {
	src := strings.Replace(hookedFlow, "    assignees: [person:bob]\n", `    assignees: [person:bob]
    remind: {every: 4h, max: 1}
    escalate:
      - {after: 1d, notify: manager}
`, 1)
	r := newRun(t, newEngine(t, src))
	r.start("hooked", "alice", form("item", "Laptop"))
	evs := flows.HookEvents(r.fire(flows.TimerRemind))
	if got := hookTypes(evs); !slices.Equal(got, []string{"reminded"}) || evs[0].Actor != flows.System || !slices.Equal(evs[0].Instance.WaitingOn, []string{"bob"}) {
		t.Errorf("reminder: %+v", evs)
	}
	evs = flows.HookEvents(r.fire(flows.TimerEscalate))
	if got := hookTypes(evs); !slices.Equal(got, []string{"escalated"}) || evs[0].Step != "review" || evs[0].Detail["to"] == "" {
		t.Errorf("escalation: %+v", evs)
	}
}
