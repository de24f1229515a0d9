package flows_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/batonbot/baton/flows"
)

// vendorFlow posts a vendor to an ERP after three approvals, then tells
// the requester the id the ERP gave it.
const vendorFlow = `
id: vendor
name: Vendor onboarding
owner: olivia
prefix: WO
form:
  - {name: vendor, required: true}
steps:
  - {id: manager, type: approval, assignees: [manager]}
  - {id: finance, type: approval, assignees: [person:carol]}
  - {id: security, type: approval, assignees: [person:erin]}
  - id: post
    name: Post to the ERP
    type: webhook
    url: http://127.0.0.1:18097/vendors
    due: 1h
    store: {erp_id: id}
  - id: tell
    type: notify
    to: [requester]
    message: "{{.vendor}} is set up in the ERP as '{{.erp_id}}'."
`

// badRequest is the ERP's answer to the first call.
var badRequest = &flows.WebhookResult{Status: 400, Error: "HTTP 400 from http://127.0.0.1:18097", Body: `{"error":"bad request"}`}

// failedAtPost runs a vendor request through its three approvals to the
// webhook step, whose call the ERP refuses with a 400.
func failedAtPost(t *testing.T) (*run, *flows.Transition) {
	t.Helper()
	r := newRun(t, newEngine(t, vendorFlow))
	r.start("vendor", "alice", form("vendor", "Acme"))
	r.act(flows.EventApprove, "bob")
	r.act(flows.EventApprove, "carol")
	r.act(flows.EventApprove, "erin")
	wantStatus(t, r.in, flows.StatusRunning, "post", 1)
	tr := r.do(flows.Event{Kind: flows.EventWebhookResult, Step: "post", Round: 1, Result: badRequest})
	wantStatus(t, r.in, flows.StatusFailed, "post", 1)
	return r, tr
}

// TestFailedWebhookStepWaitsToBeRescued: a webhook step whose call fails
// for good leaves the request failed at that step, with the receiver's
// answer on record; its owner and the admins are told what they may do;
// and it is not dead: the owner or an admin retries the call or skips the
// step, or cancels the request.
func TestFailedWebhookStepWaitsToBeRescued(t *testing.T) {
	t.Parallel()
	t.Run("failed: the receiver's answer is recorded, and who may act is told", func(t *testing.T) {
		t.Parallel()
		r, tr := failedAtPost(t)
		if r.in.Outcome != badRequest.Error || !r.in.Status.Open() {
			t.Errorf("outcome %q, open %v", r.in.Outcome, r.in.Status.Open())
		}
		a := tr.Audit[0]
		if a.Action != "webhook_failed" || a.Reason != badRequest.Error || a.Detail["http status"] != "400" || a.Detail["reply"] != `{"error":"bad request"}` {
			t.Errorf("record %+v", a)
		}
		evs := flows.HookEvents(tr)
		if i := slices.IndexFunc(evs, func(ev flows.HookEvent) bool { return ev.Type == flows.HookFailed }); i < 0 ||
			evs[i].Detail["reply"] != `{"error":"bad request"}` || evs[i].Instance.Status != flows.StatusFailed || !evs[i].Instance.Completed.IsZero() {
			t.Errorf("events %+v: none says it failed, with the reply", evs)
		}
		card := func(p string) string { return fmt.Sprintf("failed/%d/%s", r.in.AuditSeq, p) } // the failure's record is the last
		owner := notified(t, tr, "olivia", card("olivia")).Msg.Text
		contains(t, "the owner's notice", owner, "Post to the ERP could not complete: HTTP 400 from http://127.0.0.1:18097\nIts reply: {\"error\":\"bad request\"}\n"+
			"X-1 waits at this step: you may retry the call (retry X-1), skip the step (skip X-1 and a reason: the request goes on without it) or cancel the request (cancel X-1 and a reason).")
		if admin := notified(t, tr, admin, card(admin)).Msg.Text; admin != owner {
			t.Errorf("the admin's notice %q, want the owner's", admin)
		}
		contains(t, "the requester's notice", notified(t, tr, "alice", card("alice")).Msg.Text,
			"Olivia Brown and Ada Admin (who may retry the call, skip the step or cancel the request) have been told.")
		tl := r.e.Timeline(r.in, r.audit, "olivia", r.now)
		contains(t, "timeline", tl.Text, "Status: failed: HTTP 400 from http://127.0.0.1:18097")
		var steps, log []string
		for _, it := range tl.Items {
			steps, log = append(steps, it.Title+": "+it.Text), append(log, it.Text)
		}
		contains(t, "timeline", strings.Join(steps, "\n"), "Post to the ERP: Failed · Thu 26 Nov 09:00 UTC · HTTP 400 from http://127.0.0.1:18097\n"+
			"Waiting on its flow's owner (Olivia Brown) or an admin, who may retry the call, skip the step or cancel the request")
		contains(t, "timeline", strings.Join(log, "\n"), `reason: HTTP 400 from http://127.0.0.1:18097 · http status: 400 · reply: {"error":"bad request"}`)
		// Nobody may decide it as a task: nothing waits on a person.
		r.refused(flows.Event{Kind: flows.EventApprove, Actor: admin}, flows.CodeAlreadyDecided)
	})
	t.Run("skipped by its owner, it goes on without what the call would have stored", func(t *testing.T) {
		t.Parallel()
		r, _ := failedAtPost(t)
		r.refused(flows.Event{Kind: flows.EventSkip, Actor: "bob", Reason: "x"}, flows.CodeNotAllowed)
		r.inputErr(flows.Event{Kind: flows.EventSkip, Actor: "olivia"}, "A reason is required to skip a step.")
		tr := r.act(flows.EventSkip, "olivia", reason("posted by hand"), on("post", 1))
		if r.in.Status != flows.StatusCompleted || r.in.Outcome != "approved" {
			t.Fatalf("status %s, outcome %q", r.in.Status, r.in.Outcome)
		}
		contains(t, "answer", tr.Outcome.Text, "Skipped Post to the ERP of X-1. The request is complete.")
		if got := auditActions(tr.Audit); !slices.Equal(got, []string{"skipped", "notified", "completed"}) {
			t.Errorf("audit %v", got)
		}
		if h := r.in.History[len(r.in.History)-2]; h.Step != "post" || h.Outcome != "skipped" || h.By != "olivia" || h.Reason != "posted by hand" {
			t.Errorf("history %+v", r.in.History)
		}
		contains(t, "notify step", notified(t, tr, "alice", "notify/tell").Msg.Text, "Acme is set up in the ERP as '—'.")
		contains(t, "outcome", notified(t, tr, "alice", "requester/done").Msg.Text, "Post to the ERP: skipped by Olivia Brown: posted by hand")
		r.refused(flows.Event{Kind: flows.EventSkip, Actor: "olivia", Reason: "again", Step: "post", Round: 1}, flows.CodeAlreadyDecided)
		r.refused(flows.Event{Kind: flows.EventRetry, Actor: "olivia"}, flows.CodeClosed)
	})
	t.Run("retried by its owner: a new round, a new call, and on", func(t *testing.T) {
		t.Parallel()
		r, _ := failedAtPost(t)
		r.refused(flows.Event{Kind: flows.EventRetry, Actor: "bob"}, flows.CodeNotAllowed)
		r.refused(flows.Event{Kind: flows.EventRetry, Actor: "alice"}, flows.CodeNotAllowed)
		r.now = r.now.Add(time.Hour)
		tr := r.act(flows.EventRetry, "olivia", on("post", 1))
		wantStatus(t, r.in, flows.StatusRunning, "post", 2)
		if r.in.Outcome != "" || !r.in.Completed.IsZero() || !r.in.Failed.IsZero() {
			t.Errorf("a retried request still reads as ended or failed: outcome %q, completed %v, failed %v", r.in.Outcome, r.in.Completed, r.in.Failed)
		}
		contains(t, "answer", tr.Outcome.Text, "Retried Post to the ERP of X-1. Waiting on Post to the ERP (127.0.0.1:18097).")
		if got := auditActions(tr.Audit); !slices.Equal(got, []string{"retried", "webhook_called"}) {
			t.Errorf("audit %v", got)
		}
		calls := effectsOf(tr, flows.EffectWebhook)
		if len(calls) != 1 || calls[0].Webhook.Round != 2 || calls[0].Webhook.Body["round"] != 2 || !calls[0].Webhook.Due.Equal(r.now.Add(time.Hour)) {
			t.Fatalf("calls %s", describe(tr.Effects))
		}
		// A second retry sent from the same page, and the first call's
		// late result, change nothing.
		contains(t, "second retry", r.refused(flows.Event{Kind: flows.EventRetry, Actor: admin, Step: "post", Round: 1}, flows.CodeAlreadyDecided).Outcome.Text,
			"Post to the ERP of X-1 was already retried (round 2). Waiting on Post to the ERP (127.0.0.1:18097).")
		contains(t, "retry while it runs", r.refused(flows.Event{Kind: flows.EventRetry, Actor: admin}, flows.CodeWrongState).Outcome.Text,
			"X-1 has not failed: only a webhook step whose call failed can be retried.")
		if tr := r.do(flows.Event{Kind: flows.EventWebhookResult, Step: "post", Round: 1, Result: &flows.WebhookResult{OK: true}}); !tr.Noop {
			t.Fatal("the first call's late result changed something")
		}
		tr = r.do(flows.Event{Kind: flows.EventWebhookResult, Step: "post", Round: 2, Result: &flows.WebhookResult{OK: true, Status: 201, Reply: map[string]any{"id": "V-77"}}})
		if r.in.Status != flows.StatusCompleted || r.in.Data["erp_id"] != "V-77" {
			t.Fatalf("status %s, data %v", r.in.Status, r.in.Data)
		}
		contains(t, "notify step", notified(t, tr, "alice", "notify/tell").Msg.Text, "Acme is set up in the ERP as 'V-77'.")
	})
	t.Run("retried, it fails again: told again, and still rescuable", func(t *testing.T) {
		t.Parallel()
		r, first := failedAtPost(t)
		firstCard := fmt.Sprintf("failed/%d/olivia", r.in.AuditSeq)
		notified(t, first, "olivia", firstCard)
		r.act(flows.EventRetry, admin)
		tr := r.do(flows.Event{Kind: flows.EventWebhookResult, Step: "post", Round: 2, Result: badRequest})
		wantStatus(t, r.in, flows.StatusFailed, "post", 2)
		// A card of its own, not the first failure's again.
		if second := fmt.Sprintf("failed/%d/olivia", r.in.AuditSeq); notified(t, tr, "olivia", second).Card == firstCard {
			t.Errorf("the second failure's notice is the first's card, %s", second)
		}
		r.refused(flows.Event{Kind: flows.EventRetry, Actor: "olivia", Step: "post", Round: 1}, flows.CodeAlreadyDecided)
		r.act(flows.EventRetry, "olivia", on("post", 2))
		wantStatus(t, r.in, flows.StatusRunning, "post", 3)
	})
	t.Run("cancelled by its owner, or withdrawn by its requester", func(t *testing.T) {
		t.Parallel()
		r, _ := failedAtPost(t)
		r.inputErr(flows.Event{Kind: flows.EventCancel, Actor: "olivia"}, "A reason is required to cancel a request.")
		r.now = r.now.Add(time.Hour)
		tr := r.act(flows.EventCancel, "olivia", reason("the vendor pulled out"))
		if r.in.Status != flows.StatusCancelled || r.in.Outcome != "the vendor pulled out" {
			t.Fatalf("status %s, outcome %q", r.in.Status, r.in.Outcome)
		}
		if !r.in.Completed.Equal(r.now) || !r.in.Failed.IsZero() { // it ended when cancelled, not when it failed
			t.Errorf("completed %v, failed %v; want completed %v", r.in.Completed, r.in.Failed, r.now)
		}
		contains(t, "requester's notice", notified(t, tr, "alice", "requester/cancelled").Msg.Text, "Olivia Brown cancelled your request.")
		r.refused(flows.Event{Kind: flows.EventRetry, Actor: "olivia"}, flows.CodeClosed)

		r, _ = failedAtPost(t)
		r.act(flows.EventWithdraw, "alice", reason("not needed"))
		if r.in.Status != flows.StatusWithdrawn {
			t.Fatalf("status %s", r.in.Status)
		}
	})
	t.Run("a timeout fails the call for good too", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, newEngine(t, vendorFlow))
		r.start("vendor", "alice", form("vendor", "Acme"))
		r.act(flows.EventApprove, "bob")
		r.act(flows.EventApprove, "carol")
		r.act(flows.EventApprove, "erin")
		r.now = r.now.Add(time.Hour)
		tr := r.fire(flows.TimerTimeout)
		wantStatus(t, r.in, flows.StatusFailed, "post", 1)
		if a := tr.Audit[0]; a.Action != "webhook_failed" || a.Detail != nil { // no answer came
			t.Errorf("record %+v", a)
		}
		r.act(flows.EventRetry, "olivia")
		wantStatus(t, r.in, flows.StatusRunning, "post", 2)
		if _, ok := r.timer(flows.TimerTimeout, 0); !ok {
			t.Error("the retried call has no timeout")
		}
	})
}

// TestRetryOnlyAFailedWebhookCall: retry is refused where there is no
// failed call to make again, saying why.
// A retry or skip naming a round of the failed step it has not reached
// is refused as a decision for such a round is (not_reached), saying where
// it failed; one naming another step, as not in a state for it there.
func TestRescueOfAnotherRoundOrStep(t *testing.T) {
	t.Parallel()
	r, _ := failedAtPost(t)
	contains(t, "a round ahead", r.refused(flows.Event{Kind: flows.EventRetry, Actor: "olivia", Step: "post", Round: 2}, flows.CodeNotReached).Outcome.Text,
		"X-1 failed at Post to the ERP (round 1), not at Post to the ERP (round 2): there is nothing to retry there.")
	contains(t, "another step", r.refused(flows.Event{Kind: flows.EventSkip, Actor: "olivia", Step: "manager", Reason: "x"}, flows.CodeWrongState).Outcome.Text,
		"X-1 failed at Post to the ERP (round 1), not at")
	wantStatus(t, r.in, flows.StatusFailed, "post", 1)
}

func TestRetryOnlyAFailedWebhookCall(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, vendorFlow))
	r.start("vendor", "alice", form("vendor", "Acme"))
	contains(t, "running", r.refused(flows.Event{Kind: flows.EventRetry, Actor: "olivia"}, flows.CodeWrongState).Outcome.Text,
		"X-1 has not failed: only a webhook step whose call failed can be retried. Waiting on Bob Chen (manager).")
	r.act(flows.EventRequestChanges, "bob", reason("which Acme?"))
	contains(t, "sent back", r.refused(flows.Event{Kind: flows.EventRetry, Actor: "olivia"}, flows.CodeWrongState).Outcome.Text,
		"X-1 has not failed at manager: it is changes requested: which Acme?; there is nothing to retry.")

	// Failed at an approval nobody but its requester could give: nothing
	// to call; it can be cancelled.
	e, err := flows.NewEngine([]*flows.Definition{mustParse(t, strings.Replace(vendorFlow, "owner: olivia", "owner: zed", 1))}, testDir(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	r = newRun(t, e)
	r.start("vendor", "zed", form("vendor", "Acme")) // zed has no manager and owns the flow
	wantStatus(t, r.in, flows.StatusFailed, "manager", 1)
	contains(t, "approval", r.refused(flows.Event{Kind: flows.EventRetry, Actor: "zed"}, flows.CodeWrongState).Outcome.Text,
		"X-1 failed at manager, which is not a webhook step: only a webhook step's call can be retried; skip the step or cancel the request.")
	r.act(flows.EventCancel, "zed", reason("no manager yet"))
	if r.in.Status != flows.StatusWithdrawn && r.in.Status != flows.StatusCancelled {
		t.Fatalf("status %s", r.in.Status)
	}
}

// TestFailedConditionOfAWebhookStepIsRescued: a webhook step whose
// condition could not be evaluated is not called, and the request fails
// there: its owner skips the step, or retries it (its condition checked
// again, as the flow now has it).
func TestFailedConditionOfAWebhookStepIsRescued(t *testing.T) {
	t.Parallel()
	// "(" is no pattern: the condition cannot be evaluated.
	src := strings.Replace(vendorFlow, "    due: 1h\n", "    due: 1h\n    when: vendor matches pattern\n", 1)
	src = strings.Replace(src, "  - {name: vendor, required: true}\n", "  - {name: vendor, required: true}\n  - {name: pattern, type: text}\n", 1)
	for _, verb := range []flows.EventKind{flows.EventSkip, flows.EventRetry} {
		t.Run(string(verb), func(t *testing.T) {
			t.Parallel()
			r := newRun(t, newEngine(t, src))
			r.start("vendor", "alice", form("vendor", "Acme", "pattern", "("))
			r.act(flows.EventApprove, "bob")
			r.act(flows.EventApprove, "carol")
			tr := r.act(flows.EventApprove, "erin")
			wantStatus(t, r.in, flows.StatusFailed, "post", 1)
			if len(effectsOf(tr, flows.EffectWebhook)) != 0 {
				t.Fatal("called on a condition that could not be evaluated")
			}
			tl := r.e.Timeline(r.in, r.audit, "olivia", r.now)
			for _, it := range tl.Items {
				if it.Title == "Post to the ERP" && !strings.HasPrefix(it.Text, "Failed · Thu 26 Nov 09:00 UTC · condition could not be evaluated") {
					t.Errorf("step item %q", it.Text)
				}
			}
			tr = r.act(verb, "olivia", reason("checked by hand"))
			switch verb {
			case flows.EventSkip:
				if r.in.Status != flows.StatusCompleted {
					t.Fatalf("status %s", r.in.Status)
				}
			case flows.EventRetry: // the same data, the same condition: it fails again, saying so
				wantStatus(t, r.in, flows.StatusFailed, "post", 1)
				contains(t, "answer", tr.Outcome.Text, "Retried Post to the ERP of X-1. The request failed: condition could not be evaluated")
			}
		})
	}
}

// TestFailedInstanceOfAnEarlierVersion: a request an earlier version
// stored as failed at a webhook step still shows, and can be retried.
func TestFailedInstanceOfAnEarlierVersion(t *testing.T) {
	t.Parallel()
	const stored = `{"id":"X-1","flow":"hook","title":"Printer on fire","requester":"alice","status":"failed","data":{"summary":"Printer on fire"},"step":"ticket","round":1,"step_started":"2026-11-26T09:00:00Z","rounds":{"ticket":1},"history":[{"step":"ticket","round":1,"started":"2026-11-26T09:00:00Z","ended":"2026-11-26T09:00:00Z","outcome":"failed","by":"baton","reason":"HTTP 400 from https://tickets.example.com"}],"outcome":"HTTP 400 from https://tickets.example.com","created":"2026-11-26T09:00:00Z","updated":"2026-11-26T09:00:00Z","completed":"2026-11-26T09:00:00Z","audit_seq":3,"audit_head":"e132b561d8f0a8fde96b01ef215df3ace05c2a5735456a686f697e2b620ee067"}`
	var in flows.Instance
	if err := json.Unmarshal([]byte(stored), &in); err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, webhookFlow("fail"))
	tl := e.Timeline(&in, nil, "olivia", t0)
	if tl.Text != "Status: failed: HTTP 400 from https://tickets.example.com" || !slices.ContainsFunc(tl.Items, func(it flows.Item) bool {
		return it.Title == "Open a ticket" && strings.Contains(it.Text, "Failed · Thu 26 Nov 09:00 UTC · HTTP 400") && strings.Contains(it.Text, "who may retry the call")
	}) {
		t.Errorf("timeline %q %+v", tl.Text, tl.Items)
	}
	tr, err := e.Apply(&in, flows.Event{Kind: flows.EventRetry, Key: "r1", Instance: "X-1", Actor: "olivia"}, t0.Add(time.Hour))
	if err != nil || !tr.Outcome.OK {
		t.Fatalf("retry: %+v %v", tr, err)
	}
	if tr.Instance.Status != flows.StatusRunning || tr.Instance.Round != 2 || len(effectsOf(tr, flows.EffectWebhook)) != 1 {
		t.Errorf("retried: %s round %d, effects %s", tr.Instance.Status, tr.Instance.Round, describe(tr.Effects))
	}
	if tr.Audit[0].Seq != 4 || tr.Audit[0].Prev != in.AuditHead {
		t.Errorf("the retry's record does not follow the stored trail: %+v", tr.Audit[0])
	}
	if !tr.Instance.Completed.IsZero() || !tr.Instance.Failed.IsZero() {
		t.Errorf("the retried request keeps completed %v, failed %v", tr.Instance.Completed, tr.Instance.Failed)
	}
	// Cancelled as stored, it ended when cancelled.
	end := t0.Add(2 * time.Hour)
	tr, err = e.Apply(&in, flows.Event{Kind: flows.EventCancel, Key: "c1", Instance: "X-1", Actor: "olivia", Reason: "done by hand"}, end)
	if err != nil || tr.Instance.Status != flows.StatusCancelled || !tr.Instance.Completed.Equal(end) || !tr.Instance.Failed.IsZero() {
		t.Errorf("cancelled: %+v %v", tr.Instance, err)
	}
	// Read by this build, its failure's time is when it failed, and it has
	// not completed.
	in.Upgrade()
	if !in.Failed.Equal(t0) || !in.Completed.IsZero() {
		t.Errorf("upgraded: failed %v, completed %v", in.Failed, in.Completed)
	}
	again := in
	again.Upgrade()
	if !again.Failed.Equal(in.Failed) || !again.Completed.IsZero() {
		t.Errorf("a second upgrade changed it: %+v", again)
	}
	if o := e.Overview([]*flows.Instance{&in}, end); len(o.Open) != 1 || !o.Open[0].Since.Equal(t0) {
		t.Errorf("overview of the upgraded %+v", o.Open)
	}
}

// TestOverviewShowsFailedRequests: a failed request is open, waiting on
// its flow's owner at the step it failed at.
func TestOverviewShowsFailedRequests(t *testing.T) {
	t.Parallel()
	r, _ := failedAtPost(t)
	o := r.e.Overview([]*flows.Instance{r.in}, r.now.Add(time.Hour))
	if len(o.Open) != 1 || o.Open[0].Step != "Post to the ERP" || !slices.Equal(o.Open[0].Owners, []string{"Olivia Brown (owner)"}) || !o.Open[0].Since.Equal(t0) {
		t.Errorf("open %+v", o.Open)
	}
}

// TestRetryCommand: retry is a command of the shared grammar, on a
// request, that changes it; help lists it.
func TestRetryCommand(t *testing.T) {
	t.Parallel()
	for text, want := range map[string]flows.Command{
		"retry PR-12":        {Verb: flows.VerbRetry, Arg: "PR-12"},
		"/baton retry pr 12": {Verb: flows.VerbRetry, Arg: "PR-12"},
		"retry #PR-12 fixed": {Verb: flows.VerbRetry, Arg: "PR-12", Rest: "fixed"},
	} {
		if got := flows.ParseCommand(text); got != want {
			t.Errorf("%q: %+v, want %+v", text, got, want)
		}
	}
	if c := flows.ParseCommand("retry"); c.Verb != flows.VerbHelp || c.Note != "Say which request: retry <id>, e.g. retry PR-12." {
		t.Errorf("retry alone: %+v", c)
	}
	if c := flows.ParseCommand("retyr PR-12"); !strings.Contains(c.Note, `Did you mean "retry"?`) {
		t.Errorf("a typo: %+v", c)
	}
	if !flows.VerbRetry.OnRequest() || !flows.VerbRetry.Changes() || flows.VerbRetry.TakesPerson() {
		t.Error("retry is a change on a request, naming nobody")
	}
	help := newEngine(t, vendorFlow).Help("")
	if !slices.ContainsFunc(help.Fields, func(f flows.Fact) bool { return f.Label == "retry <id>" }) {
		t.Errorf("help %+v lacks retry", help.Fields)
	}
}

// TestFailedOwnRequestNobodyElseMaySkip: a requester who owns the flow may
// not skip their own request's approval step, and with no admin, nobody
// else may either: the timeline, the failure notice and the refusal say
// what is left to them (it waits on nobody who may skip it), not that an
// admin or the owner may skip it. An admin named since may.
func TestFailedOwnRequestNobodyElseMaySkip(t *testing.T) {
	t.Parallel()
	def := mustParse(t, `
id: own
name: Own
owner: zed
form:
  - {name: item, type: text}
steps:
  - {id: ok, name: Sign-off, type: approval, assignees: [manager]}
`)
	e, err := flows.NewEngine([]*flows.Definition{def}, testDir(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := newRun(t, e)
	tr := r.start("own", "zed", form("item", "x")) // zed has no manager, and no one else may approve: failed
	wantStatus(t, r.in, flows.StatusFailed, "ok", 1)
	const nobody = "there is no other admin who may (BATON_ADMINS names admins)"
	contains(t, "zed's notice", notified(t, tr, "zed", "failed/2/zed").Msg.Text,
		"X-1 waits at this step: you may cancel the request (cancel X-1 and a reason). You may not skip your own request's step, and "+nobody+".")
	waiting := itemTexts(r.e.Timeline(r.in, r.audit, "zed", r.now))["Sign-off"]
	contains(t, "the timeline", waiting, "Waiting on Zed Null, who made it and owns its flow: they may cancel or withdraw it, not skip their own request's step, and "+nobody)
	if strings.Contains(waiting, "who may skip") {
		t.Errorf("the timeline says someone may skip the step: %q", waiting)
	}
	tr = r.refused(flows.Event{Kind: flows.EventSkip, Instance: r.in.ID, Actor: "zed", Reason: "by hand"}, flows.CodeNotAllowed)
	if want := "so you may not skip Sign-off yourself, and " + nobody + "; you may cancel or withdraw it."; !strings.HasSuffix(tr.Outcome.Text, want) {
		t.Errorf("refusal %q, want it to end %q", tr.Outcome.Text, want)
	}

	// An admin named since may skip it; zed still may not.
	withAdmin, err := flows.NewEngine([]*flows.Definition{def}, testDir(t), []string{admin})
	if err != nil {
		t.Fatal(err)
	}
	contains(t, "the timeline, with an admin", itemTexts(withAdmin.Timeline(r.in, r.audit, "zed", r.now))["Sign-off"],
		"Waiting on an admin, who may skip the step or cancel the request, or its flow's owner (Zed Null), who made it and may cancel or withdraw it, not skip its step")
}
