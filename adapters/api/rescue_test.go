package api_test

import (
	"strings"
	"testing"

	"github.com/batonbot/baton/adapters/api"
	"github.com/batonbot/baton/bot/bottest"
	"github.com/batonbot/baton/flows"
)

// vendorFlow posts a vendor to an ERP once bob's manager step approved it.
const vendorFlow = `
id: vendor
name: Vendor onboarding
owner: olivia
prefix: WO
form:
  - {name: vendor, label: Vendor, type: text, required: true}
steps:
  - {id: manager, type: approval, assignees: [manager]}
  - id: post
    name: Post to the ERP
    type: webhook
    url: http://127.0.0.1:18097/vendors
  - {id: tell, type: notify, to: [requester], message: "{{.vendor}} is in the ERP."}
`

// newVendorRig is the API over the built-in flows and vendorFlow.
func newVendorRig(t *testing.T) *rig {
	t.Helper()
	t.Parallel()
	def, err := flows.ParseDefinition("vendor.yaml", []byte(vendorFlow))
	if err != nil {
		t.Fatal(err)
	}
	defs, dir := bottest.Builtins(t)
	return newRigOn(t, bottest.NewWith(t, append(defs, def), dir, []string{"olivia"}), api.Config{})
}

// failedVendor starts a vendor request for alice, has bob approve it, and
// fails its ERP call: the request waits at post, round 1.
func (r *rig) failedVendor(admin string) string {
	r.t.Helper()
	p := r.do("POST", "/api/v1/flows/vendor/instances", admin, map[string]any{"data": map[string]any{"vendor": "Acme"}, "on_behalf_of": "alice"})
	r.want(p, 201, "")
	id := p.body["instance"].(string)
	r.want(r.do("POST", "/api/v1/instances/"+id+"/decisions", admin, map[string]any{"decision": "approve", "on_behalf_of": "bob"}), 200, "")
	out, err := r.Svc.Handle(r.t.Context(), flows.Event{Kind: flows.EventWebhookResult, Key: "erp-" + id, Instance: id, Step: "post", Round: 1,
		Result: &flows.WebhookResult{Status: 500, Error: "HTTP 500 from http://127.0.0.1:18097"}})
	if err != nil || out.Status != flows.StatusFailed {
		r.t.Fatalf("the ERP's failure: %+v %v", out, err)
	}
	return id
}

// A failed request has not ended: no completed time until it is rescued or
// cancelled; its failed time says since when it waits.
func TestFailedRequestHasNotCompleted(t *testing.T) {
	r := newVendorRig(t)
	admin := r.token("ops", api.ScopeAdmin, "")
	id := r.failedVendor(admin)
	p := r.do("GET", "/api/v1/instances/"+id, admin, nil)
	r.want(p, 200, "")
	if p.body["status"] != "failed" || p.body["completed"] != nil || p.body["failed"] != bottest.T0.Format("2006-01-02T15:04:05Z") {
		t.Errorf("a failed request reads %s", p.raw)
	}
	l := r.do("GET", "/api/v1/instances?status=open", admin, nil)
	if ids := listIDs(l); len(ids) != 1 || ids[0] != id || l.body["instances"].([]any)[0].(map[string]any)["completed"] != nil {
		t.Errorf("the open list: %s", l.raw)
	}
}

// outcome is one word of a closed set, in a list as in a read; the words
// given for it are the reason, which a list leaves to the read.
func TestOutcomeIsAWord(t *testing.T) {
	r := newVendorRig(t)
	admin := r.token("ops", api.ScopeAdmin, "")
	rejected := r.start(admin, 900, "alice")
	r.want(r.do("POST", "/api/v1/instances/"+rejected+"/decisions", admin, map[string]any{"decision": "reject", "reason": "approved", "on_behalf_of": "bob"}), 200, "")
	approved := r.start(admin, 900, "alice")
	r.want(r.do("POST", "/api/v1/instances/"+approved+"/decisions", admin, map[string]any{"decision": "approve", "on_behalf_of": "bob"}), 200, "")
	failed := r.failedVendor(admin)
	running := r.start(admin, 900, "alice")

	want := map[string][2]any{ // outcome, reason
		rejected: {"rejected", "approved"},
		approved: {"approved", nil},
		failed:   {"failed", "HTTP 500 from http://127.0.0.1:18097"},
		running:  {nil, nil},
	}
	for id, w := range want {
		p := r.do("GET", "/api/v1/instances/"+id, admin, nil)
		if p.body["outcome"] != w[0] || p.body["reason"] != w[1] {
			t.Errorf("%s reads outcome %v, reason %v; want %v, %v", id, p.body["outcome"], p.body["reason"], w[0], w[1])
		}
	}
	l := r.do("GET", "/api/v1/instances", admin, nil)
	r.want(l, 200, "")
	for _, s := range l.body["instances"].([]any) {
		s := s.(map[string]any)
		if w := want[s["id"].(string)]; s["outcome"] != w[0] || s["reason"] != nil {
			t.Errorf("%s is listed with outcome %v, reason %v; want %v and no reason", s["id"], s["outcome"], s["reason"], w[0])
		}
	}
}

// status reads an instance's status and round.
func (r *rig) status(id, token string) (string, any) {
	r.t.Helper()
	p := r.do("GET", "/api/v1/instances/"+id, token, nil)
	r.want(p, 200, "")
	s, _ := p.body["status"].(string)
	return s, p.body["round"]
}

// An API-only integration rescues a failed webhook step (retry, skip) as
// the chat commands do: the flow's owner or an admin, on whose behalf an
// admin token acts; a refusal changes nothing.
func TestActionsRescueAFailedStep(t *testing.T) {
	r := newVendorRig(t)
	admin := r.token("ops", api.ScopeAdmin, "")
	crm := r.token("crm", api.ScopeStart, "")
	id := r.failedVendor(admin)
	path := "/api/v1/instances/" + id + "/actions"

	r.want(r.do("POST", path, crm, map[string]any{"action": "retry", "on_behalf_of": "olivia"}), 403, "insufficient_scope")
	p := r.do("POST", path, admin, map[string]any{"action": "retry", "on_behalf_of": "bob"})
	r.want(p, 403, flows.CodeNotAllowed)
	if !strings.Contains(p.raw, "Only the flow owner (Olivia Brown) or an admin can retry a step.") {
		t.Errorf("who may retry: %s", p.raw)
	}
	r.want(r.do("POST", path, admin, map[string]any{"action": "skip", "on_behalf_of": "olivia"}), 422, "invalid")
	r.want(r.do("POST", path, admin, map[string]any{"action": "retry", "on_behalf_of": "olivia", "step": "nope"}), 422, "invalid")
	if s, round := r.status(id, admin); s != "failed" || round != 1.0 {
		t.Fatalf("refused, it is %s at round %v", s, round)
	}

	p = r.do("POST", path, admin, map[string]any{"action": "retry", "on_behalf_of": "olivia", "step": "post", "round": 1}, "Idempotency-Key", "r1")
	r.want(p, 200, "")
	if p.body["status"] != "running" || !strings.Contains(p.raw, "Retried Post to the ERP of "+id) {
		t.Errorf("retry: %s", p.raw)
	}
	if again := r.do("POST", path, admin, map[string]any{"action": "retry", "on_behalf_of": "olivia", "step": "post", "round": 1}, "Idempotency-Key", "r1"); again.raw != p.raw {
		t.Errorf("the retry's retry answered %s, first %s", again.raw, p.raw)
	}
	// Retried already, or not failed: 409, saying where it is.
	r.want(r.do("POST", path, admin, map[string]any{"action": "retry", "on_behalf_of": "olivia", "step": "post", "round": 1}), 409, flows.CodeAlreadyDecided)
	p = r.do("POST", path, admin, map[string]any{"action": "retry", "on_behalf_of": "olivia"})
	r.want(p, 409, flows.CodeWrongState)
	if !strings.Contains(p.raw, id+" has not failed") {
		t.Errorf("a retry of a running request: %s", p.raw)
	}
	if s, round := r.status(id, admin); s != "running" || round != 2.0 {
		t.Fatalf("retried once, it is %s at round %v", s, round)
	}

	// Failed again, its owner skips the step: the request goes on, and ends.
	if out, err := r.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventWebhookResult, Key: "erp2-" + id, Instance: id, Step: "post", Round: 2,
		Result: &flows.WebhookResult{Status: 500, Error: "HTTP 500"}}); err != nil || out.Status != flows.StatusFailed {
		t.Fatalf("the second failure: %+v %v", out, err)
	}
	r.want(r.do("POST", path, admin, map[string]any{"action": "skip", "reason": "posted by hand", "on_behalf_of": "olivia", "step": "manager"}), 409, flows.CodeWrongState)
	p = r.do("POST", path, admin, map[string]any{"action": "skip", "reason": "posted by hand", "on_behalf_of": "olivia", "step": "post", "round": 2})
	r.want(p, 200, "")
	p = r.do("GET", "/api/v1/instances/"+id, admin, nil)
	if p.body["status"] != "completed" || p.body["outcome"] != "approved" || p.body["completed"] == nil {
		t.Errorf("skipped: %s", p.raw)
	}
	r.want(r.do("POST", path, admin, map[string]any{"action": "skip", "reason": "again", "on_behalf_of": "olivia"}), 409, flows.CodeClosed)
}

// cancel is the flow's owner's or an admin's, with a reason; withdraw the
// requester's, which a start token may do for them.
func TestActionsCancelAndWithdraw(t *testing.T) {
	r := newRig(t)
	admin := r.token("ops", api.ScopeAdmin, "")
	crm := r.token("crm", api.ScopeStart, "")
	alice := r.token("alice", api.ScopeStart, "alice")
	id := r.start(crm, 900, "alice")
	path := "/api/v1/instances/" + id + "/actions"

	r.want(r.do("POST", path, crm, map[string]any{"action": "cancel", "reason": "a duplicate", "on_behalf_of": "olivia"}), 403, "insufficient_scope")
	p := r.do("POST", path, admin, map[string]any{"action": "cancel", "reason": "a duplicate", "on_behalf_of": "bob"})
	r.want(p, 403, flows.CodeNotAllowed)
	if !strings.Contains(p.raw, "Only the flow owner (Olivia Brown) or an admin can cancel "+id+"; the requester can withdraw it.") {
		t.Errorf("who may cancel: %s", p.raw)
	}
	p = r.do("POST", path, admin, map[string]any{"action": "cancel", "on_behalf_of": "olivia"})
	r.want(p, 422, "invalid")
	if p.fields()["reason"] != "a reason is required to cancel" {
		t.Errorf("a cancel without a reason: %s", p.raw)
	}
	p = r.do("POST", path, admin, map[string]any{"action": "cancel", "reason": "x", "on_behalf_of": "olivia", "step": "manager"})
	r.want(p, 422, "invalid")
	if p.fields()["step"] == nil {
		t.Errorf("a cancel with a step: %s", p.raw)
	}
	p = r.do("POST", path, admin, map[string]any{"action": "approve", "on_behalf_of": "olivia"})
	r.want(p, 422, "invalid")
	if msg, _ := p.fields()["action"].(string); !strings.Contains(msg, "…/decisions") {
		t.Errorf("an unknown action: %s", p.raw)
	}
	r.want(r.do("POST", path, crm, map[string]any{"action": "withdraw", "on_behalf_of": "bob"}), 403, flows.CodeNotAllowed)
	if s, _ := r.status(id, admin); s != "running" {
		t.Fatalf("refused, it is %s", s)
	}
	p = r.do("POST", path, admin, map[string]any{"action": "cancel", "reason": "a duplicate", "on_behalf_of": "olivia"})
	r.want(p, 200, "")
	if p.body["status"] != "cancelled" {
		t.Errorf("cancel: %s", p.raw)
	}
	p = r.do("GET", "/api/v1/instances/"+id, admin, nil)
	if p.body["outcome"] != "cancelled" || p.body["reason"] != "a duplicate" || p.body["completed"] == nil {
		t.Errorf("cancelled: %s", p.raw)
	}
	r.want(r.do("POST", path, admin, map[string]any{"action": "cancel", "reason": "again", "on_behalf_of": "olivia"}), 409, flows.CodeClosed)

	// The requester's own token withdraws (a reason is optional).
	id = r.start(crm, 900, "alice")
	p = r.do("POST", "/api/v1/instances/"+id+"/actions", alice, map[string]any{"action": "withdraw"})
	r.want(p, 200, "")
	if p.body["status"] != "withdrawn" {
		t.Errorf("withdraw: %s", p.raw)
	}
	r.want(r.do("POST", "/api/v1/instances/"+id+"/actions", alice, map[string]any{"action": "withdraw", "reason": "again"}), 409, flows.CodeClosed)
	// A person-bound token finds only what the person may see.
	other := r.start(crm, 900, "carol")
	r.want(r.do("POST", "/api/v1/instances/"+other+"/actions", alice, map[string]any{"action": "withdraw"}), 404, "not_found")
}
