package bot_test

import (
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
