package slack

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/batonbot/baton/flows"
)

// startPurchase starts PR-1 for alice through the service and delivers
// Bob's card.
func (h *harness) startPurchase(amount string) {
	h.t.Helper()
	out, err := h.rig.Svc.Handle(h.t.Context(), flows.Event{Kind: flows.EventStart, Key: "start-" + h.next(), Flow: "purchase", Actor: "alice",
		Data: map[string]string{"item": "Laptop", "amount": amount, "justification": "my old one broke down"}})
	if err != nil || !out.OK {
		h.t.Fatalf("start: %v %+v", err, out)
	}
	h.settle()
}

// TestSignatureRefused sends requests that are forged, stale, unsigned or
// altered after signing to every endpoint: each is answered 401 and
// changes nothing (the approval stays pending, Slack hears nothing).
func TestSignatureRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startPurchase("500")
	before := len(h.api.Calls())
	click := interactionBody(h.clickPayload("U0BOB", "v1|approve|PR-1|manager|1|", "D0BOB"))
	bodies := map[string][]byte{
		PathInteractions: click,
		PathCommands:     h.commandBody("U0ALICE", "cancel PR-1 no longer needed"),
		PathEvents:       readTestdata(t, "app_home_opened.json"),
	}
	now := time.Now().Unix()
	cases := []struct {
		name   string
		ts     int64
		secret string
		alter  func([]byte) []byte
	}{
		{"forged (wrong secret)", now, "not-the-signing-secret", nil},
		{"stale (6 minutes old)", now - 6*60, testSecret, nil},
		{"from the future (6 minutes ahead)", now + 6*60, testSecret, nil},
		{"unsigned", now, "", nil},
		{"altered after signing", now, testSecret, func(b []byte) []byte { return bytes.Replace(b, []byte("U0"), []byte("U1"), 1) }},
	}
	for _, c := range cases {
		for path, body := range bodies {
			signed := body
			if c.alter != nil {
				// Sign the original, send the altered bytes.
				req, _ := http.NewRequest(http.MethodPost, h.srv.URL+path, bytes.NewReader(c.alter(body)))
				req.Header.Set("Content-Type", formType)
				req.Header.Set("X-Slack-Request-Timestamp", jsonInt(c.ts))
				req.Header.Set("X-Slack-Signature", sign(c.secret, c.ts, signed))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("%s to %s: %d, want 401", c.name, path, resp.StatusCode)
				}
				continue
			}
			if code, answer := h.postSigned(path, formType, body, c.ts, c.secret); code != http.StatusUnauthorized {
				t.Errorf("%s to %s: %d %s, want 401", c.name, path, code, answer)
			}
		}
	}
	h.a.Wait()
	in, err := h.rig.Svc.Instance(t.Context(), "PR-1")
	if err != nil || in.Status != flows.StatusRunning || in.Tasks[0].Decision != flows.Pending {
		t.Fatalf("a refused request changed PR-1: %v %+v", err, in)
	}
	if calls := h.api.Calls()[before:]; len(calls) != 0 {
		t.Fatalf("a refused request made Slack calls:\n%s", summarize(calls))
	}
	if !strings.Contains(h.logs.String(), "slack request refused") {
		t.Error("refusals are not logged")
	}
	// The same click, properly signed, is accepted.
	h.click("U0BOB", "v1|approve|PR-1|manager|1|", "D0BOB")
	if in, _ := h.rig.Svc.Instance(t.Context(), "PR-1"); in.Status != flows.StatusCompleted {
		t.Fatalf("a signed approval did not decide: %s", in.Status)
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestURLVerification answers Slack's endpoint check with its challenge.
func TestURLVerification(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	code, body := h.post(PathEvents, "application/json", readTestdata(t, "url_verification.json"))
	var got map[string]string
	if code != http.StatusOK || json.Unmarshal(body, &got) != nil || got["challenge"] != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
		t.Fatalf("url_verification: %d %s", code, body)
	}
}

// TestBadRequests: an oversized body is refused before it is read whole;
// signed but malformed payloads get 400 (and Slack is told not to retry).
func TestBadRequests(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config, _ *[]*flows.Definition, _ **flows.Directory) { c.MaxBody = 4096 })
	big := []byte("payload=" + strings.Repeat("x", 5000))
	if code, _ := h.post(PathInteractions, formType, big); code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d, want 413", code)
	}
	for path, body := range map[string]string{
		PathInteractions: "payload=%7Bnot+json",
		PathCommands:     "text=help",
		PathEvents:       `{"type":`,
	} {
		req, _ := http.NewRequest(http.MethodPost, h.srv.URL+path, strings.NewReader(body))
		ts := time.Now().Unix()
		req.Header.Set("X-Slack-Request-Timestamp", jsonInt(ts))
		req.Header.Set("X-Slack-Signature", sign(testSecret, ts, []byte(body)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("X-Slack-No-Retry") != "1" {
			t.Errorf("%s with %q: %d (no-retry %q), want 400 and no retry", path, body, resp.StatusCode, resp.Header.Get("X-Slack-No-Retry"))
		}
	}
	// Payloads without the ids that key what they do (so that two clicks
	// are not taken for one) are refused, the log, not the answer, saying why.
	cmd, _ := url.ParseQuery(string(h.commandBody("U0ALICE", "start purchase")))
	cmd.Del("trigger_id")
	click := h.clickPayload("U0BOB", "v1|approve|PR-1|manager|1|", "D0BOB")
	delete(click["actions"].([]any)[0].(map[string]any), "action_ts")
	submit := h.submitPayload("U0ALICE", "", cbStart, `{"flow":"purchase"}`, purchaseValues("Laptop", "500"))
	for name, c := range map[string]struct {
		path string
		body []byte
	}{
		"command without trigger_id":      {PathCommands, []byte(cmd.Encode())},
		"click without action_ts":         {PathInteractions, interactionBody(click)},
		"submission without view.id":      {PathInteractions, interactionBody(submit)},
		"payload of the wrong JSON types": {PathInteractions, []byte("payload=" + url.QueryEscape(`{"type":"block_actions","user":"U0BOB"}`))},
	} {
		code, body := h.post(c.path, formType, c.body)
		if code != http.StatusBadRequest || strings.Contains(string(body), "Go") || strings.Contains(string(body), "unmarshal") {
			t.Errorf("%s: %d %s, want 400 without the decoder's words", name, code, body)
		}
	}
	if calls := h.api.Calls(); len(calls) != 0 {
		t.Errorf("refused payloads called Slack:\n%s", summarize(calls))
	}
	// A button value that is not Baton's is acknowledged, and the person
	// told it could not be read; nothing is done.
	h.click("U0BOB", "v1|approve|PR-1|manager|1|", "D0BOB") // no such request yet
	h.a.Wait()
	calls := h.api.take(&h.seen)
	if len(calls) != 1 || !strings.Contains(calls[0].summary(), "There is no such request any more.") {
		t.Errorf("want one answer about the missing request, got:\n%s", summarize(calls))
	}
	p := h.clickPayload("U0BOB", "v1|approve|PR-1|manager|1|", "D0BOB")
	p["actions"].([]any)[0].(map[string]any)["value"] = "v1|approve|PR-1|manager|x|"
	if code, body := h.post(PathInteractions, formType, interactionBody(p)); code != http.StatusOK || len(body) != 0 {
		t.Errorf("foreign button value: %d %s", code, body)
	}
	h.a.Wait()
	calls = h.api.take(&h.seen)
	if len(calls) != 1 || !strings.Contains(calls[0].summary(), "I could not read this button") {
		t.Errorf("want one answer about the unreadable button, got:\n%s", summarize(calls))
	}
}

// TestEventRedelivery: Slack retries an event it thinks failed; once the
// first delivery was handled, the retry changes nothing.
func TestEventRedelivery(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	body := readTestdata(t, "app_home_opened.json")
	h.api.failNext("views.publish", "internal_error")
	// The first delivery fails before it is recorded: the retry is handled.
	for range 2 {
		if code, _ := h.post(PathEvents, "application/json", body); code != http.StatusOK {
			t.Fatalf("event: %d", code)
		}
		h.a.Wait()
	}
	if n := count(h.api.Calls(), "views.publish"); n != 2 {
		t.Fatalf("%d views.publish after a failed first delivery and its retry, want 2", n)
	}
	// Handled now: further redeliveries of the same event id are ignored.
	for range 3 {
		h.post(PathEvents, "application/json", body)
	}
	h.a.Wait()
	if n := count(h.api.Calls(), "views.publish"); n != 2 {
		t.Fatalf("%d views.publish after redeliveries, want still 2", n)
	}
}

// TestEventDeliveriesTogether: deliveries of one event arriving at once
// (Slack retrying a slow first one) publish the App Home once.
func TestEventDeliveriesTogether(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	body := readTestdata(t, "app_home_opened.json")
	var wg sync.WaitGroup
	var later atomic.Int32
	for range 5 {
		wg.Go(func() {
			switch code, _ := h.post(PathEvents, "application/json", body); code {
			case http.StatusOK:
			case http.StatusServiceUnavailable: // being handled: Slack tries again later
				later.Add(1)
			default:
				t.Errorf("event: %d", code)
			}
		})
	}
	wg.Wait()
	h.a.Wait()
	if n := count(h.api.Calls(), "views.publish"); n != 1 {
		t.Fatalf("%d views.publish for five deliveries of one event, want 1", n)
	}
	// Slack's later retry of one told to try again is acknowledged, and
	// publishes nothing more.
	if later.Load() > 0 {
		if code, _ := h.post(PathEvents, "application/json", body); code != http.StatusOK {
			t.Errorf("the retry: %d, want 200", code)
		}
		h.a.Wait()
		if n := count(h.api.Calls(), "views.publish"); n != 1 {
			t.Fatalf("%d views.publish after the retry, want 1", n)
		}
	}
}

func count(calls []apiCall, method string) int {
	n := 0
	for _, c := range calls {
		if c.Method == method && c.Status == http.StatusOK {
			n++
		}
	}
	return n
}

// TestEventOfAnotherShapeAcknowledged: an event Baton does not handle whose
// fields are shaped unlike those Baton reads (team_join's user is an
// object) is acknowledged, not refused: a refusal would make Slack count
// failures against the app.
func TestEventOfAnotherShapeAcknowledged(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	body := []byte(`{"type":"event_callback","team_id":"T0BATON","event_id":"EvJoin","event_time":1764147600,
		"event":{"type":"team_join","user":{"id":"U0NEW","name":"new"},"event_ts":"1764147600.000100"}}`)
	if code, resp := h.post(PathEvents, "application/json", body); code != http.StatusOK {
		t.Fatalf("team_join: %d %s", code, resp)
	}
	if code, _ := h.post(PathEvents, "application/json", []byte(`{"type":"event_callback","team_id":"T0BATON","event_id":"EvBad","event":[1,2]}`)); code != http.StatusBadRequest {
		t.Errorf("an inner event that is no object: %d, want 400", code)
	}
}
