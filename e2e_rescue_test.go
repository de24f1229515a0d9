package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
)

// erpFlowYAML posts a vendor to an ERP once three people approved it.
const erpFlowYAML = `id: erp
name: Vendor onboarding
owner: olivia
prefix: WO
title: "{{.vendor}}"
form:
  - {name: vendor, label: Vendor, type: text, required: true}
steps:
  - {id: manager, name: Manager approval, type: approval, assignees: [manager]}
  - {id: finance, name: Finance approval, type: approval, assignees: ["person:carol"]}
  - {id: security, name: Security approval, type: approval, assignees: ["person:erin"]}
  - id: post
    name: Post to the ERP
    type: webhook
    url: %s/vendors
    retries: 0
    store: {erp_id: id}
  - id: tell
    type: notify
    to: [requester]
    message: "{{.vendor}} is in the ERP as {{.erp_id}}."
`

// erpReceiver stands in for the ERP: it refuses a request's first call
// (400, {"error":"bad request"}) and accepts any later one.
type erpReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	calls []map[string]any
	keys  []string
}

func newERP(t *testing.T) *erpReceiver {
	t.Helper()
	rx := &erpReceiver{}
	rx.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		rx.mu.Lock()
		rx.calls, rx.keys = append(rx.calls, body), append(rx.keys, r.Header.Get("Idempotency-Key"))
		rx.mu.Unlock()
		if body["round"] == 1.0 {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"bad request"}`)
			return
		}
		io.WriteString(w, `{"id":"V-77"}`)
	}))
	t.Cleanup(rx.Close)
	return rx
}

// newERPHarness is the e2e harness over the ERP flow alone, calling rx:
// olivia owns it, and dana is the admin.
func newERPHarness(t *testing.T, rx *erpReceiver) *harness {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "erp.yaml"), []byte(strings.Replace(erpFlowYAML, "%s", rx.URL, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return newHarnessWith(t, bot.Config{Admins: []string{"dana"}, FlowsDir: dir, Secrets: map[string]string{"webhook": "whsec"}}, func(string) string { return "" })
}

// TestFailedWebhookStepRescuedFromTheConsole: the flow author's report,
// end to end. Three approvals, then the ERP answers 400: the request
// fails at the webhook step, but is not dead. Its status page shows what
// the ERP said and offers the owner Retry, Skip and Cancel (and nobody
// else); the owner is told; a retry makes a new call, and the request
// completes; a skip takes another past the step.
func TestFailedWebhookStepRescuedFromTheConsole(t *testing.T) {
	t.Parallel()
	rx := newERP(t)
	h := newERPHarness(t, rx)
	failed := func(vendor string) string {
		id := h.start("alice", "erp", url.Values{"vendor": {vendor}})
		h.act("bob", "approve", id, "manager", 1, true)
		h.act("carol", "approve", id, "finance", 1, true)
		h.act("erin", "approve", id, "security", 1, true) // and the call, refused
		if in := h.instance(id); in.Status != flows.StatusFailed || in.Step != "post" {
			t.Fatalf("%s: %s at %s", id, in.Status, in.Step)
		}
		return id
	}
	id := failed("Acme")

	st := h.get("/console/status/" + id + "?as=olivia")
	h.mustContain("the owner's status page", st, "Status: failed: HTTP 400 from "+rx.URL, "reply: {&#34;error&#34;:&#34;bad request&#34;}",
		`data-action="retry-`+id+`"`, `data-action="skip-`+id+`"`, `data-action="cancel-`+id+`"`)
	h.mustContain("the admin's status page", h.get("/console/status/"+id+"?as=dana"), `data-action="retry-`+id+`"`, `data-action="skip-`+id+`"`)
	requester := h.get("/console/status/" + id + "?as=alice")
	h.mustContain("the requester's status page", requester, `data-action="withdraw-`+id+`-`)
	h.mustNotContain("the requester's status page", requester, `data-action="retry-`, `data-action="skip-`)
	h.mustNotContain("an approver's status page", h.get("/console/status/"+id+"?as=bob"), `data-action="retry-`, `data-action="skip-`, `data-action="cancel-`)
	h.mustContain("the owner's inbox", h.inbox("olivia"), "Post to the ERP could not complete", "bad request", "retry "+id)
	h.mustContain("the admin's inbox", h.inbox("dana"), "Post to the ERP could not complete", "retry "+id)

	h.mustContain("retry by bob", h.act("bob", "retry", id, "post", 1, false), "Only the flow owner (Olivia Brown) or an admin can retry a step.")
	h.mustContain("retry", h.act("olivia", "retry", id, "post", 1, true), "Retried Post to the ERP of "+id)
	h.mustContain("retry twice", h.act("dana", "retry", id, "post", 1, false), "was already retried (round 2)")
	in := h.instance(id)
	if in.Status != flows.StatusCompleted || in.Data["erp_id"] != "V-77" {
		t.Fatalf("after the retry: %s, data %v", in.Status, in.Data)
	}
	h.mustContain("alice's inbox", h.inbox("alice"), "Acme is in the ERP as V-77.")
	rx.mu.Lock()
	keys := rx.keys
	rx.mu.Unlock()
	if len(keys) != 2 || !strings.HasSuffix(keys[0], ":"+id+":post:1") || !strings.HasSuffix(keys[1], ":"+id+":post:2") {
		t.Errorf("Idempotency-Keys %q: a retry is the step's next round", keys)
	}

	other := failed("Initech")
	h.mustContain("skip", h.act("olivia", "skip", other, "post", 1, true, "reason", "posted by hand"), "Skipped Post to the ERP of "+other)
	if in := h.instance(other); in.Status != flows.StatusCompleted || in.Data["erp_id"] != nil {
		t.Fatalf("after the skip: %s, data %v", in.Status, in.Data)
	}
	h.mustContain("the timeline", h.get("/console/status/"+other+"?as=olivia"), "Skipped by Olivia Brown", "posted by hand")
}
