package bot_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/bot/bottest"
	"github.com/batonbot/baton/flows"
	"github.com/batonbot/baton/manifests"
)

// hit is one request a receiver got.
type hit struct {
	header http.Header
	body   []byte
}

// receiver is an httptest server standing in for a webhook receiver: it
// records each request and answers with reply(n) for the n-th (from 1).
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	hits []hit
}

func newReceiver(t *testing.T, reply func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.hits = append(rc.hits, hit{r.Header.Clone(), body})
		n := len(rc.hits)
		rc.mu.Unlock()
		reply(n, w, r)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) all() []hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hit(nil), rc.hits...)
}

// verify checks a request the way a receiver would, from the documented
// scheme alone: v1=hex(HMAC-SHA256(secret, timestamp + "." + body)).
func verify(secret string, h hit) error {
	ts := h.header.Get("X-Baton-Timestamp")
	if _, err := strconv.ParseInt(ts, 10, 64); err != nil {
		return fmt.Errorf("timestamp %q: %v", ts, err)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(h.body)
	want := "v1=" + hex.EncodeToString(mac.Sum(nil))
	if got := h.header.Get("X-Baton-Signature"); !hmac.Equal([]byte(got), []byte(want)) {
		return fmt.Errorf("signature %q, want %q", got, want)
	}
	return nil
}

func status(code int, body string, header ...string) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

var t0 = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

func newWebhooks(secrets map[string]string, backoff time.Duration) (*bot.Webhooks, *sleeps) {
	w := bot.NewWebhooks(nil, secrets, clockwork.NewFakeClockAt(t0))
	s := &sleeps{}
	w.SetSleep(s.sleep, backoff)
	return w, s
}

func webhookCall(url string, retries int) *flows.WebhookCall {
	return &flows.WebhookCall{URL: url, Secret: "crm-hook", Retries: retries, Step: "score", Round: 2,
		Body: map[string]any{"instance": "EN-7", "data": map[string]any{"account": "Acme"}}}
}

func TestSign(t *testing.T) {
	body := []byte(`{"a":1}`)
	mac := hmac.New(sha256.New, []byte("k"))
	mac.Write([]byte("1700000000." + string(body)))
	if got, want := bot.Sign("k", 1700000000, body), "v1="+hex.EncodeToString(mac.Sum(nil)); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	base := bot.Sign("k", 1700000000, body)
	for name, other := range map[string]string{
		"body":      bot.Sign("k", 1700000000, []byte(`{"a":2}`)),
		"timestamp": bot.Sign("k", 1700000001, body),
		"secret":    bot.Sign("K", 1700000000, body),
	} {
		if other == base {
			t.Errorf("the signature does not cover the %s", name)
		}
	}
}

// TestWebhooksSignedCall: a call is a JSON POST of the body, signed over
// the timestamp and body, with an idempotency key; a JSON reply comes back.
func TestWebhooksSignedCall(t *testing.T) {
	rc := newReceiver(t, status(200, `{"result":{"score":72,"tier":"gold"}}`))
	w, s := newWebhooks(map[string]string{"crm_hook": "s3cret"}, time.Second)
	call := webhookCall(rc.URL+"/score", 3)
	res := w.Call(t.Context(), "EN-7", call)
	if !res.OK || res.Status != 200 || res.Error != "" {
		t.Fatalf("result %+v", res)
	}
	if want := map[string]any{"result": map[string]any{"score": 72.0, "tier": "gold"}}; !reflect.DeepEqual(res.Reply, want) {
		t.Errorf("reply %v, want %v", res.Reply, want)
	}
	hits := rc.all()
	if len(hits) != 1 || len(s.all()) != 0 {
		t.Fatalf("%d requests, waits %v", len(hits), s.all())
	}
	h := hits[0]
	if err := verify("s3cret", h); err != nil {
		t.Error(err)
	}
	if err := verify("wrong", h); err == nil {
		t.Error("the signature verifies with the wrong secret")
	}
	if got := h.header.Get("X-Baton-Timestamp"); got != strconv.FormatInt(t0.Unix(), 10) {
		t.Errorf("timestamp %s, want the clock's %d", got, t0.Unix())
	}
	if got := h.header.Get("Idempotency-Key"); got != "EN-7:score:2" {
		t.Errorf("Idempotency-Key %q", got)
	}
	// With an installation id, keys start with it: ids start again on new data.
	w.SetInstallation("0a1b2c3d4e5f")
	w.Call(t.Context(), "EN-7", call)
	if got := rc.all()[1].header.Get("Idempotency-Key"); got != "0a1b2c3d4e5f:EN-7:score:2" {
		t.Errorf("Idempotency-Key with an installation %q", got)
	}
	if got := h.header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type %q", got)
	}
	var body map[string]any
	if err := json.Unmarshal(h.body, &body); err != nil || !reflect.DeepEqual(body, call.Body) {
		t.Errorf("body %s (%v), want %v", h.body, err, call.Body)
	}
}

// TestWebhooksRetry5xx: 5xx answers are retried with growing waits, with
// the same idempotency key, until one succeeds.
func TestWebhooksRetry5xx(t *testing.T) {
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n <= 2 {
			http.Error(w, "busy", 500+n) // 501, 502
			return
		}
		io.WriteString(w, `{"id":"T-1"}`)
	})
	w, s := newWebhooks(map[string]string{"crm_hook": "s3cret"}, 100*time.Millisecond)
	res := w.Call(t.Context(), "EN-7", webhookCall(rc.URL, 5))
	if !res.OK || res.Reply["id"] != "T-1" {
		t.Fatalf("result %+v", res)
	}
	hits := rc.all()
	if len(hits) != 3 {
		t.Fatalf("%d requests, want 3", len(hits))
	}
	for _, h := range hits {
		if h.header.Get("Idempotency-Key") != "EN-7:score:2" || verify("s3cret", h) != nil {
			t.Errorf("retry not signed or keyed like the first call: %v", h.header)
		}
	}
	waits := s.all()
	if len(waits) != 2 || waits[0] < 50*time.Millisecond || waits[0] > 100*time.Millisecond ||
		waits[1] < 100*time.Millisecond || waits[1] > 200*time.Millisecond {
		t.Errorf("waits %v, want about 100ms then 200ms (with jitter)", waits)
	}
}

// TestWebhooksRetryAfter: a 429 or 503 with Retry-After is retried after
// the time the receiver asked for, but at most a minute, as an event
// subscriber's queue is: an hour (or more than a Duration holds) would
// stall the request and shutdown.
func TestWebhooksRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		first, second string
		want          []time.Duration
	}{
		{"3", "7", []time.Duration{3 * time.Second, 7 * time.Second}},
		{"3600", "99999999999", []time.Duration{time.Minute, time.Minute}},
	} {
		rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
			switch n {
			case 1:
				status(503, "maintenance", "Retry-After", tc.first)(n, w, r)
			case 2:
				status(429, "slow down", "Retry-After", tc.second)(n, w, r)
			default:
				io.WriteString(w, "{}")
			}
		})
		w, s := newWebhooks(map[string]string{"crm_hook": "x"}, time.Millisecond)
		if res := w.Call(t.Context(), "EN-7", webhookCall(rc.URL, 5)); !res.OK {
			t.Fatalf("result %+v", res)
		}
		if got := s.all(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Retry-After %s then %s: waits %v, want %v", tc.first, tc.second, got, tc.want)
		}
	}
}

// TestWebhookRetryNotPastDue: a retry whose wait (the backoff or the
// receiver's Retry-After) ends at or after the step's due time is not
// waited for: the call ends at once with the last failure, saying why.
func TestWebhookRetryNotPastDue(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, status(503, "maintenance", "Retry-After", "30"))
	w, s := newWebhooks(map[string]string{"crm_hook": "x"}, time.Millisecond)
	call := webhookCall(rc.URL, 5)
	call.Due = t0.Add(20 * time.Second) // the webhooks' clock stands at t0
	res := w.Call(t.Context(), "EN-7", call)
	if res.OK || !strings.HasPrefix(res.Error, "HTTP 503 from ") || !strings.Contains(res.Error, "not retried: the next attempt, in 30s, would come after the step's due time") {
		t.Errorf("result %+v", res)
	}
	if n, waits := len(rc.all()), s.all(); n != 1 || len(waits) != 0 {
		t.Errorf("%d attempts, waits %v; want one attempt and no wait", n, waits)
	}
	// A wait ending before the due time is waited for, as before.
	call.Due = t0.Add(time.Hour)
	w.Call(t.Context(), "EN-7", call)
	if waits := s.all(); len(waits) != 5 {
		t.Errorf("waits %v, want 5 of 30s", waits)
	}
}

// TestWebhooksNoRetry4xx: a 4xx will not get better: one request, a
// failed result saying what happened.
func TestWebhooksNoRetry4xx(t *testing.T) {
	for _, code := range []int{400, 401, 404, 422} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			rc := newReceiver(t, status(code, `{"error":"bad"}`))
			w, s := newWebhooks(map[string]string{"crm_hook": "x"}, time.Millisecond)
			res := w.Call(t.Context(), "EN-7", webhookCall(rc.URL, 5))
			if res.OK || res.Status != code || !strings.Contains(res.Error, fmt.Sprintf("HTTP %d", code)) || res.Reply != nil {
				t.Errorf("result %+v", res)
			}
			if n := len(rc.all()); n != 1 || len(s.all()) != 0 {
				t.Errorf("%d requests and waits %v for a %d, want 1 and none", n, s.all(), code)
			}
		})
	}
}

// TestWebhooksGiveUp: a receiver that keeps failing gets 1 + retries
// requests; the last answer is the result.
func TestWebhooksGiveUp(t *testing.T) {
	rc := newReceiver(t, status(500, "down"))
	w, s := newWebhooks(map[string]string{"crm_hook": "x"}, time.Millisecond)
	res := w.Call(t.Context(), "EN-7", webhookCall(rc.URL, 2))
	if res.OK || res.Status != 500 || !strings.Contains(res.Error, "HTTP 500") {
		t.Errorf("result %+v", res)
	}
	if n := len(rc.all()); n != 3 || len(s.all()) != 2 {
		t.Errorf("%d requests, %d waits; want 3 and 2", n, len(s.all()))
	}
	if res := w.Call(t.Context(), "EN-7", webhookCall(rc.URL, 0)); res.OK || len(rc.all()) != 4 {
		t.Errorf("retries: 0 should make exactly one request: %d in all", len(rc.all()))
	}
}

// TestWebhooksNetworkError: a receiver that cannot be reached is retried,
// then reported.
func TestWebhooksNetworkError(t *testing.T) {
	rc := newReceiver(t, status(200, "{}"))
	url := rc.URL
	rc.Close()
	w, s := newWebhooks(map[string]string{"crm_hook": "x"}, time.Millisecond)
	res := w.Call(t.Context(), "EN-7", webhookCall(url, 1))
	if res.OK || res.Error == "" || res.Status != 0 || len(s.all()) != 1 {
		t.Errorf("result %+v after %d waits", res, len(s.all()))
	}
}

// A success whose reply is no JSON object has nothing to store, and says
// what it was (a step that stores from it fails, saying so), with the
// start of it, as a failed call's.
func TestWebhooksNonJSONReply(t *testing.T) {
	big := `{"issue":{"description":"` + strings.Repeat("y", 1<<20) + `"}}`
	for _, tc := range []struct {
		name, body, ctype, notJSON, start string
	}{
		{"an SSO proxy's page", "<html>\n<title>Sign in</title>", "text/html; charset=utf-8", "not a JSON object (text/html)", "<html> <title>Sign in</title>"},
		{"over 1 MiB", big, "application/json", "over 1 MiB (application/json), more than Baton reads", `{"issue":{"description":"yyy`},
		{"empty", "  ", "", "empty", ""},
		{"null", "null", "application/json", "not a JSON object (application/json)", "null"},
		{"a list", `[{"key":"OPS-1"}]`, "application/json", "not a JSON object (application/json)", `[{"key":"OPS-1"}]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t, status(200, tc.body, "Content-Type", tc.ctype))
			w, _ := newWebhooks(map[string]string{"crm_hook": "x"}, time.Millisecond)
			res := w.Call(t.Context(), "EN-7", webhookCall(rc.URL, 0))
			if !res.OK || res.Reply != nil || res.NotJSON != tc.notJSON || !strings.HasPrefix(res.Body, tc.start) || len(res.Body) > 400 {
				t.Errorf("result %+v, want %q starting %q", res, tc.notJSON, tc.start)
			}
		})
	}
}

// TestWebhooksSecretFromEnvironment: a step's "secret: crm-hook" is the
// variable BATON_SECRET_CRM_HOOK; without it nothing is sent and the error
// names the variable to set.
func TestWebhooksSecretFromEnvironment(t *testing.T) {
	rc := newReceiver(t, status(200, "{}"))
	cfg, _, err := load(t, nil, env{"BATON_SECRET_CRM_HOOK": "from-env"})
	if err != nil {
		t.Fatal(err)
	}
	w, _ := newWebhooks(cfg.Secrets, time.Millisecond)
	if res := w.Call(t.Context(), "EN-7", webhookCall(rc.URL, 0)); !res.OK {
		t.Fatalf("result %+v", res)
	}
	if err := verify("from-env", rc.all()[0]); err != nil {
		t.Error(err)
	}

	call := webhookCall(rc.URL, 3)
	call.Secret = "billing.v2"
	res := w.Call(t.Context(), "EN-7", call)
	if res.OK || !strings.Contains(res.Error, "BATON_SECRET_BILLING_V2") {
		t.Errorf("result %+v, want an error naming BATON_SECRET_BILLING_V2", res)
	}
	call.Secret = "" // the default name
	res = w.Call(t.Context(), "EN-7", call)
	if res.OK || !strings.Contains(res.Error, "BATON_SECRET_WEBHOOK") {
		t.Errorf("result %+v, want an error naming BATON_SECRET_WEBHOOK", res)
	}
	if n := len(rc.all()); n != 1 {
		t.Errorf("%d requests, want 1: an unsigned call must not be sent", n)
	}
}

const enrichFlow = `
id: enrich
name: Enrich account
owner: olivia
command: enrich
prefix: EN
form:
  - {name: account, label: Account, type: text, required: true}
steps:
  - id: score
    type: webhook
    url: %s
    secret: crm-hook
    retries: 2
    store: {score: result.score, tier: result.tier}
  - id: tell
    type: notify
    to: [requester]
    message: "{{.account}} scored {{.score}} ({{.tier}})"
`

// webhookRig is a runtime with the enrich flow calling url.
func webhookRig(t *testing.T, url string) *harness {
	t.Helper()
	def, err := flows.ParseDefinition("enrich.yaml", []byte(fmt.Sprintf(enrichFlow, url)))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := flows.ParseDirectory("directory.yaml", manifests.Directory)
	if err != nil {
		t.Fatal(err)
	}
	return wrap(bottest.NewWith(t, []*flows.Definition{def}, dir, nil))
}

func (h *harness) startEnrich(t *testing.T) string {
	t.Helper()
	out, err := h.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventStart, Key: "e1", Actor: "alice", Flow: "enrich",
		Data: map[string]string{"account": "Acme"}})
	if err != nil || !out.OK {
		t.Fatalf("start: %+v %v", out, err)
	}
	return out.Instance
}

// TestWebhookStepStoresReplyFields: through the Service and the
// dispatcher, a webhook step's signed call is retried past a 5xx, its
// reply's fields are stored on the request, and the flow goes on with them.
func TestWebhookStepStoresReplyFields(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			http.Error(w, "warming up", http.StatusBadGateway)
			return
		}
		io.WriteString(w, `{"result":{"score":72,"tier":"gold","ignored":true}}`)
	})
	h := webhookRig(t, rc.URL+"/score")
	wh, s := newWebhooks(map[string]string{"crm_hook": "s3cret"}, 10*time.Millisecond)
	m := newMessenger("fake")
	d := h.dispatcher(bot.DispatcherConfig{}, wh, m)
	id := h.startEnrich(t)
	if n := h.drain(t, d); n != 3 {
		t.Fatalf("Drain delivered %d, want 3 (the call, then the notice and the outcome it led to)", n)
	}
	hits := rc.all()
	if len(hits) != 2 || len(s.all()) != 1 {
		t.Fatalf("%d requests and %d waits, want 2 and 1", len(hits), len(s.all()))
	}
	for _, hit := range hits {
		if err := verify("s3cret", hit); err != nil {
			t.Error(err)
		}
	}
	var body map[string]any
	if err := json.Unmarshal(hits[1].body, &body); err != nil || body["instance"] != id || body["step"] != "score" {
		t.Errorf("body %s", hits[1].body)
	}
	in, err := h.Store.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if in.Data["score"] != 72.0 || in.Data["tier"] != "gold" || in.Data["ignored"] != nil {
		t.Errorf("stored data %v", in.Data)
	}
	if in.Status != flows.StatusCompleted {
		t.Errorf("status %s, want completed", in.Status)
	}
	calls := m.calls()
	if len(calls) != 2 || calls[0].To != "U-alice" || !strings.Contains(calls[0].Msg.Title+calls[0].Msg.Text, "Acme scored 72 (gold)") ||
		calls[1].Msg.Kind != flows.MsgOutcome {
		t.Errorf("notices: %s %+v", kinds(calls), calls)
	}
	if c := h.audited(t, id, "webhook_ok"); c != 1 {
		t.Errorf("%d webhook_ok audit entries", c)
	}
	for result, want := range map[string]float64{"ok": 1, "failed": 0} {
		if v := h.counter(t, "baton_deliveries_total", "platform", "webhook", "effect", "webhook", "result", result); v != want {
			t.Errorf("webhook deliveries %s: %v, want %v", result, v, want)
		}
	}
}

// TestWebhookStepFailsOn4xx: a 4xx fails the step at once (on_error fail).
func TestWebhookStepFailsOn4xx(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, status(http.StatusUnprocessableEntity, `{"error":"unknown account"}`))
	h := webhookRig(t, rc.URL)
	wh, _ := newWebhooks(map[string]string{"crm_hook": "s3cret"}, time.Millisecond)
	d := h.dispatcher(bot.DispatcherConfig{}, wh, newMessenger("fake"))
	id := h.startEnrich(t)
	h.drain(t, d)
	if n := len(rc.all()); n != 1 {
		t.Errorf("%d requests for a 422, want 1", n)
	}
	in, _ := h.Store.Get(t.Context(), id)
	if in.Status != flows.StatusFailed || !strings.Contains(in.Outcome, "HTTP 422") {
		t.Errorf("status %s, outcome %q", in.Status, in.Outcome)
	}
	if v := h.counter(t, "baton_failures_total", "component", "webhook"); v != 1 {
		t.Errorf("webhook failures %v, want 1", v)
	}
}

// TestWebhookCutShortByShutdownIsRedelivered: a webhook call still
// running when the dispatcher's drain timeout ends is not reported as the
// receiver's failure (which would fail the request); it stays in the
// outbox and is called again.
func TestWebhookCutShortByShutdownIsRedelivered(t *testing.T) {
	t.Parallel()
	arrived, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			once.Do(func() { close(arrived) })
			select { // hang until the caller gives up
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		io.WriteString(w, `{"result":{"score":1,"tier":"tin"}}`)
	})
	defer close(release)
	h := webhookRig(t, rc.URL)
	wh, _ := newWebhooks(map[string]string{"crm_hook": "s3cret"}, time.Millisecond)
	// A handler and an outbox that go on after cancellation, as ones with
	// their own timeouts may: the dispatcher itself must not report the
	// interrupted call or acknowledge it.
	handle := func(ctx context.Context, ev flows.Event) (flows.Outcome, error) {
		return h.Svc.Handle(context.WithoutCancel(ctx), ev)
	}
	a := bot.NewDispatcher(bot.DispatcherConfig{Consumer: "a", Poll: time.Hour, Reclaim: time.Hour, DrainTimeout: time.Millisecond},
		stubbornOutbox{h.Store}, nil, wh, handle, h.log, h.metrics)
	id := h.startEnrich(t)
	stop := runDispatcher(t, a)
	wait(t, arrived, "the webhook call")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	in, _ := h.Store.Get(t.Context(), id)
	if in.Status != flows.StatusRunning || in.Step != "score" {
		t.Fatalf("a call cut short by shutdown changed the request: %s at %s (%q)", in.Status, in.Step, in.Outcome)
	}
	if n := h.pending(t); n != 1 {
		t.Fatalf("outbox holds %d entries, want the interrupted call", n)
	}

	m := newMessenger("fake")
	b := h.dispatcher(bot.DispatcherConfig{Consumer: "b", Poll: time.Hour, Reclaim: 50 * time.Millisecond}, wh, m)
	h.Svc.OnCommit(b.Wake)
	stopB := runDispatcher(t, b)
	if c := m.next(t); c.To != "U-alice" {
		t.Errorf("after the redelivered call: %s", c)
	}
	if err := stopB(); err != nil {
		t.Fatal(err)
	}
	in, _ = h.Store.Get(t.Context(), id)
	if in.Status != flows.StatusCompleted || in.Data["tier"] != "tin" {
		t.Errorf("after redelivery: %s %v", in.Status, in.Data)
	}
}

// TestWebhooksRedirects: no redirect is followed. One that keeps the
// method and body (307, 308) would hand the signed request, and in a
// Referer the URL (whose query may be a secret), to an address nobody
// configured; one that makes the POST a bodiless GET (301, 302, 303) would
// pass for a delivered call. Each fails the call, naming where it pointed.
func TestWebhooksRedirects(t *testing.T) {
	for _, code := range []int{301, 302, 303, 307, 308} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			final := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, `{"ok":true}`)
			})
			first := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, final.URL+"/moved", code)
			})
			w, _ := newWebhooks(map[string]string{"crm_hook": "s3cret"}, time.Millisecond)
			res := w.Call(t.Context(), "EN-7", webhookCall(first.URL+"/hook?token=T0KEN", 2))
			if res.OK || res.Status != code || !strings.Contains(res.Error, fmt.Sprintf("HTTP %d from %s redirecting to %s (Baton follows no redirect)", code, first.URL, final.URL)) {
				t.Errorf("result %+v, want a failure naming HTTP %d and where it pointed", res, code)
			}
			if n := len(final.all()); n != 0 {
				t.Errorf("the redirect was followed (%d requests)", n)
			}
			if n := len(first.all()); n != 1 {
				t.Errorf("%d requests to the redirecting receiver, want 1 (a redirect will not change on retry)", n)
			}
		})
	}
}

// TestWebhookStepWithoutWebhooks: a runtime built without a webhook caller
// fails the step with a reason instead of dropping the call.
func TestWebhookStepWithoutWebhooks(t *testing.T) {
	t.Parallel()
	h := webhookRig(t, "https://crm.example.com/score")
	d := h.dispatcher(bot.DispatcherConfig{}, nil, newMessenger("fake"))
	id := h.startEnrich(t)
	h.drain(t, d)
	in, _ := h.Store.Get(t.Context(), id)
	if in.Status != flows.StatusFailed || !strings.Contains(in.Outcome, "webhooks are not configured") {
		t.Errorf("status %s, outcome %q", in.Status, in.Outcome)
	}
}

// withCredentials puts a user, a password and an API key in a receiver's
// URL, as a step's url may carry them.
func withCredentials(base, path string) string {
	return strings.Replace(base, "http://", "http://svcuser:SuperSecretPW@", 1) + path + "?api_key=KEY-123456"
}

// noCredentials fails t if text holds any part of withCredentials' secrets
// (or the path and query they sit in).
func noCredentials(t *testing.T, what, text string) {
	t.Helper()
	for _, s := range []string{"SuperSecretPW", "svcuser", "KEY-123456", "api_key", "/score"} {
		if strings.Contains(text, s) {
			t.Errorf("%s holds %q from the webhook URL: %s", what, s, text)
		}
	}
}

// TestWebhooksErrorsKeepURLCredentialsOut: a failed call's error, which goes
// into the audit trail, subscribers' events and logs, names the receiver by
// scheme and host only, never the URL's user, password, path or query.
func TestWebhooksErrorsKeepURLCredentialsOut(t *testing.T) {
	failing := newReceiver(t, status(500, "down"))
	redirecting := newReceiver(t, status(302, "", "Location", "http://other:LocationPW@elsewhere.example/score?api_key=KEY-123456"))
	closed := newReceiver(t, status(200, "{}"))
	closed.Close()
	for name, tc := range map[string]struct{ url, want string }{
		"5xx":         {withCredentials(failing.URL, "/score"), "HTTP 500 from " + failing.URL},
		"redirect":    {withCredentials(redirecting.URL, "/score"), "redirecting to http://elsewhere.example"},
		"unreachable": {withCredentials(closed.URL, "/score"), closed.URL},
		"invalid":     {"http://svcuser:SuperSecretPW@x y/score?api_key=KEY-123456", "url"},
	} {
		t.Run(name, func(t *testing.T) {
			w, _ := newWebhooks(map[string]string{"crm_hook": "s3cret"}, time.Millisecond)
			res := w.Call(t.Context(), "EN-7", webhookCall(tc.url, 1))
			if res.OK || !strings.Contains(res.Error, tc.want) {
				t.Errorf("result %+v, want a failure naming %q", res, tc.want)
			}
			noCredentials(t, "the error", res.Error)
			if strings.Contains(res.Error, "LocationPW") {
				t.Errorf("the error holds the redirect's password: %s", res.Error)
			}
		})
	}
}

// TestWebhookStepFailureKeepsURLCredentialsOut: through the dispatcher, a
// step whose call fails leaves no credential of its URL in the audit trail,
// the request's outcome or the logs.
func TestWebhookStepFailureKeepsURLCredentialsOut(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, status(500, "down"))
	h := webhookRig(t, withCredentials(rc.URL, "/score"))
	wh, _ := newWebhooks(map[string]string{"crm_hook": "s3cret"}, time.Millisecond)
	d := h.dispatcher(bot.DispatcherConfig{}, wh, newMessenger("fake"))
	id := h.startEnrich(t)
	h.drain(t, d)
	in, _ := h.Store.Get(t.Context(), id)
	if in.Status != flows.StatusFailed || !strings.Contains(in.Outcome, "HTTP 500") {
		t.Fatalf("status %s, outcome %q", in.Status, in.Outcome)
	}
	noCredentials(t, "the outcome", in.Outcome)
	entries, err := h.Store.Audit(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if h.audited(t, id, "webhook_failed") != 1 {
		t.Errorf("no webhook_failed audit entry")
	}
	for _, e := range entries {
		if e.Action == "webhook_failed" {
			noCredentials(t, "the webhook_failed audit entry", fmt.Sprint(e.Reason, e.Detail))
		}
	}
	noCredentials(t, "the log", h.logs.String())
}

// TestWebhookStepFailureIsCountedFailed: a step whose call failed counts as
// a failed webhook delivery, not a successful one, though its result was
// reported to the request.
func TestWebhookStepFailureIsCountedFailed(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, status(500, "down"))
	h := webhookRig(t, rc.URL)
	wh, _ := newWebhooks(map[string]string{"crm_hook": "s3cret"}, time.Millisecond)
	d := h.dispatcher(bot.DispatcherConfig{}, wh, newMessenger("fake"))
	id := h.startEnrich(t)
	h.drain(t, d)
	if in, _ := h.Store.Get(t.Context(), id); in.Status != flows.StatusFailed {
		t.Fatalf("status %s, want failed", in.Status)
	}
	for result, want := range map[string]float64{"ok": 0, "failed": 1} {
		if v := h.counter(t, "baton_deliveries_total", "platform", "webhook", "effect", "webhook", "result", result); v != want {
			t.Errorf("webhook deliveries %s: %v, want %v", result, v, want)
		}
	}
}

// A step's signing secret that is unset, or set to nothing, is not
// configured: nothing is called, and the result says which variable to set.
func TestWebhooksUnsetSecret(t *testing.T) {
	for _, secrets := range []map[string]string{{}, {"crm_hook": ""}} {
		rc := newReceiver(t, status(200, `{}`))
		w, _ := newWebhooks(secrets, time.Second)
		res := w.Call(t.Context(), "EN-7", webhookCall(rc.URL+"/score", 3))
		if res.OK || !strings.Contains(res.Error, `signing secret "crm-hook" is not configured: set BATON_SECRET_CRM_HOOK`) || len(rc.all()) != 0 {
			t.Fatalf("secrets %v: result %+v, %d requests", secrets, res, len(rc.all()))
		}
	}
}

// TestWebhookResultReportedDuringShutdown: once a webhook step's call is
// made, its result is reported even if the shutdown begins meanwhile and
// the first report fails: handing it back would make the call again.
func TestWebhookResultReportedDuringShutdown(t *testing.T) {
	t.Parallel()
	stopping := make(chan struct{})
	var once sync.Once
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(stopping) })
		io.WriteString(w, `{"result":{"score":72,"tier":"gold"}}`)
	})
	h := webhookRig(t, rc.URL+"/score")
	wh, _ := newWebhooks(map[string]string{"crm_hook": "s3cret"}, 10*time.Millisecond)
	failed := false
	handle := func(ctx context.Context, ev flows.Event) (flows.Outcome, error) {
		if ev.Kind == flows.EventWebhookResult && !failed {
			failed = true
			return flows.Outcome{}, errors.New("redis: i/o timeout")
		}
		return h.Svc.Handle(ctx, ev)
	}
	d := bot.NewDispatcher(bot.DispatcherConfig{Poll: time.Hour, Reclaim: time.Hour}, h.Store, []bot.Messenger{newMessenger("fake")}, wh, handle, h.log, h.metrics)
	d.SetSleep(h.sleeps.sleep)
	id := h.startEnrich(t)
	stop := runDispatcher(t, d)
	wait(t, stopping, "the webhook call")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	in, err := h.Store.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if in.Data["score"] != 72.0 || len(rc.all()) != 1 {
		t.Fatalf("after the shutdown: data %v, %d calls; want the result stored from the one call", in.Data, len(rc.all()))
	}
}

// TestWebhookNotRetriedOnceTheRequestMoved: a webhook step's call that
// failed is not tried again once its request no longer waits for it (here
// cancelled by its owner between two attempts): the other system is not
// asked to act on a request Baton has closed, and nothing is reported.
func TestWebhookNotRetriedOnceTheRequestMoved(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, status(http.StatusBadGateway, "down"))
	h := webhookRig(t, rc.URL+"/score")
	wh := bot.NewWebhooks(nil, map[string]string{"crm_hook": "s3cret"}, clockwork.NewFakeClockAt(t0))
	var id string
	waits := 0
	wh.SetSleep(func(ctx context.Context, _ time.Duration) error {
		waits++
		if waits == 1 { // between the first attempt and the second
			out, err := h.Svc.Handle(ctx, flows.Event{Kind: flows.EventCancel, Key: "c1", Instance: id, Actor: "olivia", Reason: "not needed"})
			if err != nil || !out.OK {
				t.Errorf("cancel: %v %+v", err, out)
			}
		}
		return ctx.Err()
	}, time.Millisecond)
	d := h.dispatcher(bot.DispatcherConfig{Instance: h.Svc.Instance}, wh)
	id = h.startEnrich(t)
	h.drain(t, d)
	if n := len(rc.all()); n != 1 {
		t.Errorf("%d calls, want 1: the call was tried again after the request was cancelled", n)
	}
	in, err := h.Store.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if in.Status != flows.StatusCancelled || h.audited(t, id, "webhook_failed") != 0 {
		t.Errorf("status %s, %d webhook_failed entries; want cancelled and none", in.Status, h.audited(t, id, "webhook_failed"))
	}
	if v := h.counter(t, "baton_deliveries_total", "platform", "webhook", "effect", "webhook", "result", "failed"); v != 0 {
		t.Errorf("%v failed webhook deliveries counted", v)
	}
}

// TestWebhookAttemptsEndAtTheStepsDue: no attempt of a call runs past its
// step's due time: one under way is cut short there, and none starts after
// it; the result says so.
func TestWebhookAttemptsEndAtTheStepsDue(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // answers only when the caller gives up
	})
	w, _ := newWebhooks(map[string]string{"crm_hook": "s3cret"}, time.Second)
	call := webhookCall(rc.URL, 3)
	// The webhooks' clock stands at t0, so the call has a second of real
	// time: enough for the request to arrive even on a loaded machine (with
	// 20 ms, a busy CI run cut it short before it was sent).
	call.Due = t0.Add(time.Second)
	res := w.Call(t.Context(), "EN-7", call)
	if res.OK || !strings.Contains(res.Error, "no reply before the step's due time") || len(rc.all()) != 1 {
		t.Fatalf("result %+v after %d attempts; want one attempt, cut short at the due time", res, len(rc.all()))
	}
	call.Due = t0.Add(-time.Second)
	if res := w.Call(t.Context(), "EN-7", call); res.OK || !strings.Contains(res.Error, "no reply before the step's due time") || len(rc.all()) != 1 {
		t.Fatalf("a call past its due time: %+v, %d attempts in all; want none made", res, len(rc.all()))
	}
}
