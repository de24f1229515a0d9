package api_test

import (
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
