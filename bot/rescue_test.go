package bot_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
)

// failedReply is the audit entry of a request's failed call.
func (h *harness) failedReply(t *testing.T, id string) flows.AuditEntry {
	t.Helper()
	entries, err := h.Store.Audit(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Action == "webhook_failed" {
			return e
		}
	}
	t.Fatalf("%s: no webhook_failed record", id)
	return flows.AuditEntry{}
}

// TestFailedWebhookStepIsRetriedOrSkipped: end to end, through the
// Service's commands and the dispatcher, against a receiver that refuses
// the first call with a 400. The request is failed but not dead: what the
// receiver said is on record (audit, timeline, log), the flow's owner is
// told, and either retries the call (a new round, signed, with a key of its
// own) or skips the step.
func TestFailedWebhookStepIsRetriedOrSkipped(t *testing.T) {
	t.Parallel()
	var rc *receiver
	rc = newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.Unmarshal(rc.all()[n-1].body, &body)
		if body["round"] == 1.0 { // a request's first call
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"bad request"}`)
			return
		}
		io.WriteString(w, `{"result":{"score":72,"tier":"gold"}}`)
	})
	h := webhookRig(t, rc.URL+"/score")
	wh, _ := newWebhooks(map[string]string{"crm_hook": "s3cret"}, time.Millisecond)
	m := newMessenger("fake")
	d := h.dispatcher(bot.DispatcherConfig{}, wh, m)
	cmd := func(actor, text string) bot.Reply {
		t.Helper()
		rep, err := h.Svc.Command(t.Context(), actor, "fake", "k-"+actor+"-"+text, text)
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		return rep
	}

	retried, skipped := h.startEnrich(t), func() string {
		out, err := h.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventStart, Key: "e2", Actor: "alice", Flow: "enrich",
			Data: map[string]string{"account": "Initech"}})
		if err != nil || !out.OK {
			t.Fatalf("start: %+v %v", out, err)
		}
		return out.Instance
	}()
	h.drain(t, d)
	for _, id := range []string{retried, skipped} {
		in, _ := h.Store.Get(t.Context(), id)
		if in.Status != flows.StatusFailed || in.Outcome != "HTTP 400 from "+rc.URL || in.Step != "score" {
			t.Fatalf("%s: %s at %s: %q", id, in.Status, in.Step, in.Outcome)
		}
		if a := h.failedReply(t, id); a.Detail["reply"] != `{"error":"bad request"}` || a.Detail["http status"] != "400" {
			t.Errorf("%s: record %+v", id, a)
		}
	}
	if log := h.logs.String(); !strings.Contains(log, `reply="{\"error\":\"bad request\"}"`) || !strings.Contains(log, "status=400") {
		t.Errorf("the log lacks the receiver's answer:\n%s", log)
	}
	told := map[string]string{}
	for _, c := range m.calls() {
		if c.Instance == retried {
			told[c.To] = c.Msg.Text
		}
	}
	if !strings.Contains(told["U-olivia"], "Its reply: {\"error\":\"bad request\"}") || !strings.Contains(told["U-olivia"], "retry the call (retry "+retried+")") ||
		!strings.Contains(told["U-alice"], "Olivia Brown (who may retry the call, skip the step or cancel the request) has been told.") {
		t.Errorf("notices %q", told)
	}
	st := cmd("olivia", "status "+retried).Message
	var lines []string
	for _, it := range st.Items {
		lines = append(lines, it.Title+": "+it.Text)
	}
	if all := strings.Join(lines, "\n"); !strings.Contains(all, `reply: {"error":"bad request"}`) || !strings.Contains(all, "who may retry the call") {
		t.Errorf("status:\n%s", all)
	}

	// Only the owner (or an admin) may; then the call is made again.
	if rep := cmd("alice", "retry "+retried); !rep.Refused || !strings.Contains(rep.Message.Title, "Only the flow owner (Olivia Brown) or an admin can retry a step.") {
		t.Errorf("retry by the requester: %+v", rep.Message)
	}
	if rep := cmd("olivia", "retry "+retried); rep.Refused || !strings.HasPrefix(rep.Message.Title, "Retried score of "+retried) {
		t.Errorf("retry: %+v", rep.Message)
	}
	h.drain(t, d)
	in, _ := h.Store.Get(t.Context(), retried)
	if in.Status != flows.StatusCompleted || in.Data["score"] != 72.0 {
		t.Errorf("retried: %s, data %v", in.Status, in.Data)
	}
	var first, second hit
	for _, hit := range rc.all() {
		if strings.Contains(string(hit.body), `"instance":"`+retried+`"`) {
			first, second = second, hit
		}
	}
	if err := verify("s3cret", second); err != nil {
		t.Error(err)
	}
	k1, k2 := first.header.Get("Idempotency-Key"), second.header.Get("Idempotency-Key")
	if k1 != retried+":score:1" || k2 != retried+":score:2" { // <installation>: first, when it is set (hooks_test)
		t.Errorf("keys %q then %q: want the same step, a new round", k1, k2)
	}

	// Skipped instead: it goes on without the reply's fields.
	if rep := cmd("olivia", "skip "+skipped); !rep.Refused || !strings.Contains(rep.Message.Title, "Say why: skip "+skipped+" <reason>.") {
		t.Errorf("skip without a reason: %+v", rep.Message)
	}
	if rep := cmd("olivia", "skip "+skipped+" scored by hand"); rep.Refused {
		t.Errorf("skip: %+v", rep.Message)
	}
	h.drain(t, d)
	if in, _ := h.Store.Get(t.Context(), skipped); in.Status != flows.StatusCompleted || in.Data["score"] != nil {
		t.Errorf("skipped: %s, data %v", in.Status, in.Data)
	}
	if n := len(rc.all()); n != 3 {
		t.Errorf("%d calls, want 3: each request's first, and the retry", n)
	}
}

// TestFailedCallsReplyKeepsOursOut: the start of a failed call's reply is
// kept bounded and on one line, and anything of the step's URL or secret
// that the receiver echoes back is hidden, in the result, the audit trail
// and the log alike.
func TestFailedCallsReplyKeepsOursOut(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, "bad key "+r.URL.Query().Get("api_key")+" for "+r.URL.RequestURI()+" (user "+func() string { u, _, _ := r.BasicAuth(); return u }()+
			", password SuperSecretPW, secret s3cret)\n\ttry again\u202e later\x00"+strings.Repeat(" é", 400))
	})
	h := webhookRig(t, withCredentials(rc.URL, "/score"))
	wh, _ := newWebhooks(map[string]string{"crm_hook": "s3cret"}, time.Millisecond)
	d := h.dispatcher(bot.DispatcherConfig{}, wh, newMessenger("fake"))
	id := h.startEnrich(t)
	h.drain(t, d)
	reply := h.failedReply(t, id).Detail["reply"]
	noCredentials(t, "the reply kept", reply)
	noCredentials(t, "the log", h.logs.String())
	if strings.Contains(reply, "s3cret") || strings.Contains(h.logs.String(), "s3cret") {
		t.Errorf("the signing secret shows: %q", reply)
	}
	if !strings.HasPrefix(reply, "bad key [hidden] for [hidden]?[hidden] (user [hidden], password [hidden], secret [hidden]) try again later é é") {
		t.Errorf("reply %q", reply)
	}
	if n := utf8.RuneCountInString(reply); n != 301 || !strings.HasSuffix(reply, "…") || strings.ContainsAny(reply, "\n\t\x00\u202e") {
		t.Errorf("reply of %d characters, not one bounded line: %q", n, reply)
	}
}
