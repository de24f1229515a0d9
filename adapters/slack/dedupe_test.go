package slack

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/batonbot/baton/flows"
)

// TestConcurrentClicks: both finance approvers click Approve at once, one
// of them double-clicks, and Slack redelivers a click. One decision is
// made; every other click is refused (and audited) and its clicker told
// who decided first; each card is closed once.
func TestConcurrentClicks(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startPurchase("2500")
	h.click("U0BOB", "v1|approve|PR-1|manager|1|", "D0BOB")
	h.settle()
	h.seen = len(h.api.Calls())

	value := "v1|approve|PR-1|finance|1|"
	redelivered := interactionBody(h.clickPayload("U0CAROL", value, "D0CAROL"))
	var bodies [][]byte
	for range 5 {
		bodies = append(bodies, redelivered) // the same click, delivered five times
	}
	for range 3 {
		bodies = append(bodies, interactionBody(h.clickPayload("U0CAROL", value, "D0CAROL"))) // double clicks
	}
	for range 5 {
		bodies = append(bodies, interactionBody(h.clickPayload("U0FRANK", value, "D0FRANK")))
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, b := range bodies {
		wg.Go(func() {
			<-start
			if code, answer := h.post(PathInteractions, formType, b); code != http.StatusOK {
				t.Errorf("click: %d %s", code, answer)
			}
		})
	}
	close(start)
	wg.Wait()
	h.settle()

	audit, err := h.rig.Store.Audit(t.Context(), "PR-1")
	if err != nil {
		t.Fatal(err)
	}
	approved, refused := 0, 0
	var winner string
	for _, e := range audit {
		if e.Step != "finance" {
			continue
		}
		switch {
		case e.Action == "approved" && !e.Refused:
			approved++
			winner = e.Actor
		case e.Refused:
			refused++
		}
	}
	if approved != 1 || refused != 8 {
		t.Fatalf("%d approvals and %d refusals; want 1 and 8 (9 distinct clicks, one of them delivered 5 times)", approved, refused)
	}
	name := map[string]string{"carol": "Carol Diaz", "frank": "Frank Osei"}[winner]
	answers, updates := 0, 0
	for _, c := range h.api.take(&h.seen) {
		switch {
		case strings.HasPrefix(c.Method, "response/"):
			answers++
			if !strings.Contains(c.str("text"), "already approved by "+name) {
				t.Errorf("loser told %q, want who decided first (%s)", c.str("text"), name)
			}
		case c.Method == "chat.update":
			updates++
		}
	}
	if answers < 8 || updates != 2 {
		t.Errorf("%d private answers (want at least 8) and %d card updates (want 2: Carol's and Frank's)", answers, updates)
	}
	if in, _ := h.rig.Svc.Instance(t.Context(), "PR-1"); in.Status != flows.StatusCompleted {
		t.Fatalf("PR-1 is %s", in.Status)
	}
}

// TestSubmitRedelivery: one modal submitted several times at once (a
// double submit, a resend) starts one request.
func TestSubmitRedelivery(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	body := interactionBody(h.submitPayload("U0ALICE", "V0ONCE", cbStart, viewMeta{Kind: "start", Flow: "purchase"}.encode(), purchaseValues("Laptop", "2500")))
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			if code, answer := h.post(PathInteractions, formType, body); code != http.StatusOK || !strings.Contains(string(answer), "PR-1") {
				t.Errorf("submit: %d %s", code, answer)
			}
		})
	}
	wg.Wait()
	h.settle()
	if _, err := h.rig.Svc.Instance(t.Context(), "PR-2"); err == nil {
		t.Fatal("one modal started two requests")
	}
	if n := count(h.api.Calls(), "chat.postMessage"); n != 1 {
		t.Fatalf("%d cards for one request, want 1", n)
	}
}
