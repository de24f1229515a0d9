package bot_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/bot/bottest"
	"github.com/batonbot/baton/flows"
	"github.com/batonbot/baton/manifests"
	"github.com/batonbot/baton/storage"
)

// hookReceiver is a subscriber's endpoint: it checks every request's
// signature like a receiver should, and answers with the codes queued in fail
// (then 200).
type hookReceiver struct {
	t      *testing.T
	secret string
	mu     sync.Mutex
	fail   []int
	down   bool              // answers 503 to everything while set
	got    []flows.HookEvent // accepted events, in order
	tries  []string          // "type attempt code" of every request
	srv    *httptest.Server
}

func newHookReceiver(t *testing.T, secret string, fail ...int) *hookReceiver {
	r := &hookReceiver{t: t, secret: secret, fail: fail}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hookReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	ts, err := strconv.ParseInt(req.Header.Get("X-Baton-Timestamp"), 10, 64)
	if err != nil {
		r.t.Errorf("no timestamp header: %v", req.Header)
	}
	sig := req.Header.Get("X-Baton-Signature")
	if sig != bot.Sign(r.secret, ts, body) || sig == bot.Sign(r.secret+"x", ts, body) || sig == bot.Sign(r.secret, ts+1, body) {
		r.t.Errorf("bad signature %q", sig)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var ev flows.HookEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		r.t.Errorf("body: %v", err)
	}
	if req.Header.Get("Idempotency-Key") != ev.ID || req.Header.Get("X-Baton-Event") != ev.Type || ev.ID == "" {
		r.t.Errorf("headers %v do not name event %s (%s)", req.Header, ev.ID, ev.Type)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	code := http.StatusOK
	if len(r.fail) > 0 {
		code, r.fail = r.fail[0], r.fail[1:]
	}
	if r.down {
		code = http.StatusServiceUnavailable
	}
	r.tries = append(r.tries, fmt.Sprintf("%s %s %d", ev.Type, req.Header.Get("X-Baton-Attempt"), code))
	if code == http.StatusOK {
		r.got = append(r.got, ev)
	}
	w.WriteHeader(code)
}

func (r *hookReceiver) setDown(down bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = down
}

func (r *hookReceiver) events() ([]flows.HookEvent, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got), slices.Clone(r.tries)
}

// hkMessenger reaches everyone and sends nothing anywhere.
type hkMessenger struct{}

func (hkMessenger) Platform() string { return "fake" }
func (hkMessenger) Reach(to flows.Recipient) (bot.Address, bool) {
	return bot.Address{Person: to.Person, Channel: to.Channel, ID: to.Person + to.Channel}, true
}
func (hkMessenger) Send(context.Context, bot.Address, *flows.Message, string) (string, error) {
	return "ref", nil
}
func (hkMessenger) Update(context.Context, string, *flows.Message) error { return nil }

type hookRig struct {
	*bottest.Rig
	metrics *bot.Metrics
	logs    *bytes.Buffer
	w       *bot.Webhooks
	d       *bot.Dispatcher
}

// newHookRig assembles the runtime with the example flows plus one whose
// definition subscribes flowURL (if not empty), global subscribers global,
// and a dispatcher that signs with secret.
func newHookRig(t *testing.T, flowURL string, global []flows.Hook, secret string) *hookRig {
	defs, err := flows.LoadDefinitions(manifests.Flows, "flows")
	if err != nil {
		t.Fatal(err)
	}
	if flowURL != "" {
		def, err := flows.ParseDefinition("hooked.yaml", []byte(`id: hooked
name: Hooked
owner: olivia
prefix: HK
form:
  - {name: item, required: true}
steps:
  - id: review
    type: approval
    assignees: ["person:bob"]
webhooks:
  - {url: "`+flowURL+`", events: [started, decided]}
`))
		if err != nil {
			t.Fatal(err)
		}
		defs = append(defs, def)
	}
	dir, err := flows.ParseDirectory("directory.yaml", manifests.Directory)
	if err != nil {
		t.Fatal(err)
	}
	r := &hookRig{Rig: bottest.NewWith(t, defs, dir, []string{"olivia"}), metrics: bot.NewMetrics(nil), logs: &bytes.Buffer{}}
	r.Svc.SetWebhooks(global)
	r.w = bot.NewWebhooks(nil, map[string]string{"webhook": secret}, r.Clock).RecordAttempts(r.Store)
	r.d = r.dispatcher(bot.DispatcherConfig{Consumer: "hooks"}, hkMessenger{})
	return r
}

// dispatcher is a dispatcher of r's outbox with the rig's quick backoff.
func (r *hookRig) dispatcher(cfg bot.DispatcherConfig, ms ...bot.Messenger) *bot.Dispatcher {
	cfg.Attempts = cmp.Or(cfg.Attempts, 4)
	cfg.Backoff = cmp.Or(cfg.Backoff, time.Microsecond)
	cfg.MaxBackoff = cmp.Or(cfg.MaxBackoff, 10*time.Microsecond)
	log := slog.New(slog.NewTextHandler(r.logs, nil))
	return bot.NewDispatcher(cfg, r.Store, ms, r.w, r.Svc.Handle, log, r.metrics)
}

func (r *hookRig) handle(t *testing.T, ev flows.Event) flows.Outcome {
	t.Helper()
	out, err := r.Svc.Handle(t.Context(), ev)
	if err != nil || !out.OK {
		t.Fatalf("%s: %+v %v", ev.Kind, out, err)
	}
	return out
}

func (r *hookRig) drain(t *testing.T) {
	t.Helper()
	if _, err := r.d.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestHooksSignedRetriedAndRecorded(t *testing.T) {
	t.Parallel()
	// The global subscriber fails twice (a 503, then a 500) before it accepts.
	rx := newHookReceiver(t, "s3cret", http.StatusServiceUnavailable, http.StatusInternalServerError)
	r := newHookRig(t, "", []flows.Hook{{Name: "BATON_WEBHOOK_URLS 1", URL: rx.srv.URL + "/events?key=hidden"}}, "s3cret")
	out := r.handle(t, flows.Event{Kind: flows.EventStart, Key: "k1", Actor: "alice", Flow: "purchase",
		Refs: map[string]string{"crm_deal": "D-42"},
		Data: map[string]string{"item": "Laptop", "amount": "900", "justification": "the old one broke down"}})
	id := out.Instance
	// Each retry waits for its time (the rig's backoff is a millisecond at
	// least), and the request's next event waits behind it.
	for range 3 {
		r.drain(t)
		r.Clock.Advance(time.Millisecond)
	}
	got, tries := rx.events()
	if want := []string{"started 1 503", "started 2 500", "started 3 200", "assigned 1 200"}; !slices.Equal(tries, want) {
		t.Fatalf("requests %v, want %v", tries, want)
	}
	if got[0].Type != "started" || got[0].Instance.ID != id || got[0].Instance.Refs["crm_deal"] != "D-42" || got[0].Actor != "alice" {
		t.Errorf("started event: %+v", got[0])
	}
	if got[1].Type != "assigned" || !slices.Equal(got[1].Assignees, []string{"bob"}) || got[1].Step != "manager" {
		t.Errorf("assigned event: %+v", got[1])
	}

	r.Clock.Advance(time.Second + 1234567*time.Nanosecond) // attempts are kept to the millisecond, as every time
	r.handle(t, flows.Event{Kind: flows.EventReject, Key: "k2", Actor: "bob", Instance: id, Reason: "over budget"})
	r.drain(t)
	got, _ = rx.events()
	if d := got[len(got)-1]; d.Type != "decided" || d.Decision != flows.Rejected || d.Reason != "over budget" || d.Actor != "bob" || d.Instance.Status != flows.StatusRejected {
		t.Errorf("decided event: %+v", d)
	}

	attempts, err := r.Store.HookAttempts(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, a := range attempts {
		seen = append(seen, fmt.Sprintf("%s %d %v %d", a.Type, a.Attempt, a.OK, a.Status))
		if a.Target != rx.srv.URL || a.Instance != id {
			t.Errorf("attempt target %q (must hide the path and query) instance %q", a.Target, a.Instance)
		}
		// The subscriber is told apart from others on its host by its
		// name, in the attempt and in its error, never by its URL.
		if a.Subscriber != "BATON_WEBHOOK_URLS 1" || !a.OK && !strings.Contains(a.Error, rx.srv.URL+" (BATON_WEBHOOK_URLS 1)") {
			t.Errorf("attempt subscriber %q, error %q", a.Subscriber, a.Error)
		}
		if strings.Contains(a.Error, "hidden") || strings.Contains(a.Error, "/events") {
			t.Errorf("attempt error %q shows the URL", a.Error)
		}
		if !a.At.Equal(a.At.Truncate(time.Millisecond)) || a.At.Location() != time.UTC {
			t.Errorf("attempt at %s: want UTC to the millisecond", a.At.Format(time.RFC3339Nano))
		}
	}
	if want := []string{"started 1 false 503", "started 2 false 500", "started 3 true 200", "assigned 1 true 200", "decided 1 true 200"}; !slices.Equal(seen, want) {
		t.Errorf("recorded attempts %v, want %v", seen, want)
	}
	if n := hkCount(r.metrics.Deliveries.WithLabelValues("hook", "hook", "retry")); n != 2 {
		t.Errorf("retry metric %v, want 2", n)
	}
	if n := hkCount(r.metrics.Deliveries.WithLabelValues("hook", "hook", "ok")); n != 3 {
		t.Errorf("ok metric %v, want 3", n)
	}
	if strings.Contains(r.logs.String(), "hidden") || strings.Contains(r.logs.String(), "s3cret") {
		t.Errorf("the log shows a secret:\n%s", r.logs.String())
	}
	if !strings.Contains(r.logs.String(), "webhook delivered") {
		t.Errorf("deliveries are not logged:\n%s", r.logs.String())
	}
}

func TestHooksPerFlowAndFiltered(t *testing.T) {
	t.Parallel()
	flowRx := newHookReceiver(t, "k")
	globalRx := newHookReceiver(t, "k")
	r := newHookRig(t, flowRx.srv.URL, []flows.Hook{{URL: globalRx.srv.URL, Events: []string{"completed"}}}, "k")
	out := r.handle(t, flows.Event{Kind: flows.EventStart, Key: "k1", Actor: "alice", Flow: "hooked", Data: map[string]string{"item": "Desk"}})
	r.handle(t, flows.Event{Kind: flows.EventApprove, Key: "k2", Actor: "bob", Instance: out.Instance})
	// Another flow's events reach the global subscriber only.
	r.handle(t, flows.Event{Kind: flows.EventStart, Key: "k3", Actor: "alice", Flow: "purchase",
		Data: map[string]string{"item": "Laptop", "amount": "900", "justification": "the old one broke down"}})
	r.drain(t)
	fl, _ := flowRx.events()
	gl, _ := globalRx.events()
	if got := hkTypes(fl); !slices.Equal(got, []string{"started", "decided"}) {
		t.Errorf("the flow's subscriber got %v, want started, decided", got)
	}
	if got := hkTypes(gl); !slices.Equal(got, []string{"completed"}) || gl[0].Instance.ID != out.Instance {
		t.Errorf("the global subscriber got %v, want the completion of %s", got, out.Instance)
	}
}

func TestHooksPermanentFailureIsDead(t *testing.T) {
	t.Parallel()
	rx := newHookReceiver(t, "k", http.StatusBadRequest)
	r := newHookRig(t, "", []flows.Hook{{URL: rx.srv.URL, Events: []string{"started"}}}, "k")
	id := r.handle(t, flows.Event{Kind: flows.EventStart, Key: "k1", Actor: "alice", Flow: "purchase",
		Data: map[string]string{"item": "Laptop", "amount": "900", "justification": "the old one broke down"}}).Instance
	r.drain(t)
	if _, tries := rx.events(); !slices.Equal(tries, []string{"started 1 400"}) {
		t.Errorf("a 400 was retried: %v", tries)
	}
	if n := hkCount(r.metrics.Deliveries.WithLabelValues("hook", "hook", "dead")); n != 1 {
		t.Errorf("dead metric %v, want 1", n)
	}
	attempts, _ := r.Store.HookAttempts(t.Context(), id)
	if len(attempts) != 1 || attempts[0].OK || attempts[0].Status != 400 || !strings.Contains(attempts[0].Error, "HTTP 400") {
		t.Errorf("attempts %+v", attempts)
	}
}

// A subscriber that redirects is not followed: the signed event, and in a
// Referer the subscriber's URL (whose query may be a secret), would go to
// an address nobody subscribed. The delivery fails for good, saying where
// it pointed.
func TestHooksRedirectIsNotFollowed(t *testing.T) {
	t.Parallel()
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	t.Cleanup(other.Close)
	moved := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/catch", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(moved.Close)
	r := newHookRig(t, "", []flows.Hook{{URL: moved.URL + "/hook?token=T0KEN", Events: []string{"started"}}}, "k")
	id := r.handle(t, flows.Event{Kind: flows.EventStart, Key: "k1", Actor: "alice", Flow: "purchase",
		Data: map[string]string{"item": "Laptop", "amount": "900", "justification": "the old one broke down"}}).Instance
	r.drain(t)
	if n := elsewhere.Load(); n != 0 {
		t.Fatalf("the redirect was followed: %d requests elsewhere", n)
	}
	attempts, _ := r.Store.HookAttempts(t.Context(), id)
	if len(attempts) != 1 || attempts[0].OK || !strings.Contains(attempts[0].Error, "HTTP 307 redirecting to "+other.URL+" (Baton follows no redirect)") || strings.Contains(attempts[0].Error, "T0KEN") {
		t.Errorf("attempts %+v", attempts)
	}
}

func TestHooksWithoutSecretAreDead(t *testing.T) {
	t.Parallel()
	rx := newHookReceiver(t, "k")
	r := newHookRig(t, "", []flows.Hook{{URL: rx.srv.URL, Secret: "crm", Events: []string{"started"}}}, "k")
	id := r.handle(t, flows.Event{Kind: flows.EventStart, Key: "k1", Actor: "alice", Flow: "purchase",
		Data: map[string]string{"item": "Laptop", "amount": "900", "justification": "the old one broke down"}}).Instance
	r.drain(t)
	if _, tries := rx.events(); len(tries) != 0 {
		t.Errorf("sent unsigned: %v", tries)
	}
	attempts, _ := r.Store.HookAttempts(t.Context(), id)
	if len(attempts) != 1 || !strings.Contains(attempts[0].Error, "BATON_SECRET_CRM") {
		t.Errorf("attempts %+v: want one that says which secret to set", attempts)
	}
}

func hkTypes(evs []flows.HookEvent) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

func hkCount(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

func TestWebhooksConfig(t *testing.T) {
	t.Parallel()
	load := func(env map[string]string) (bot.Config, error) {
		var environ []string
		for k, v := range env {
			environ = append(environ, k+"="+v)
		}
		return bot.LoadConfig(nil, func(k string) string { return env[k] }, environ, io.Discard)
	}
	cfg, err := load(map[string]string{"BATON_WEBHOOK_URLS": "https://a.example.com/x, http://b.internal/y", "BATON_WEBHOOK_EVENTS": "decided,completed", "BATON_SECRET_WEBHOOK": "k"})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Webhooks) != 2 || cfg.Webhooks[1].URL != "http://b.internal/y" || !cfg.Webhooks[0].Wants("completed") || cfg.Webhooks[0].Wants("started") {
		t.Errorf("webhooks %+v", cfg.Webhooks)
	}
	for env, want := range map[string]string{
		"BATON_WEBHOOK_URLS=https://a.example.com":                                 "BATON_SECRET_WEBHOOK",
		"BATON_WEBHOOK_URLS=ftp://a.example.com,BATON_SECRET_WEBHOOK=k":            "http:// or https://",
		"BATON_WEBHOOK_EVENTS=approved,BATON_SECRET_WEBHOOK=k,BATON_WEBHOOK_URLS=": "not an event type",
		"BATON_WEBHOOK_EVENTS=decided,BATON_SECRET_WEBHOOK=k":                      "BATON_WEBHOOK_EVENTS is set but BATON_WEBHOOK_URLS is not",
	} {
		m := map[string]string{}
		for kv := range strings.SplitSeq(env, ",") {
			k, v, _ := strings.Cut(kv, "=")
			m[k] = v
		}
		if _, err := load(m); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want one saying %q", env, err, want)
		}
	}
	if cfg, err := load(nil); err != nil || len(cfg.Webhooks) != 0 {
		t.Errorf("no webhooks by default: %+v %v", cfg.Webhooks, err)
	}
}

// TestHooksInvalidURLKeepsCredentialsOut: a subscriber URL Go cannot parse
// is reported without its text, which may hold a password or key.
func TestHooksInvalidURLKeepsCredentialsOut(t *testing.T) {
	t.Parallel()
	r := newHookRig(t, "", []flows.Hook{{URL: "http://svc:HookPW@x y/events?key=KEY-9", Events: []string{"started"}}}, "k")
	id := r.handle(t, flows.Event{Kind: flows.EventStart, Key: "k1", Actor: "alice", Flow: "purchase",
		Data: map[string]string{"item": "Laptop", "amount": "900", "justification": "the old one broke down"}}).Instance
	r.drain(t)
	attempts, _ := r.Store.HookAttempts(t.Context(), id)
	if len(attempts) != 1 || attempts[0].OK || attempts[0].Error == "" {
		t.Fatalf("attempts %+v, want one failed", attempts)
	}
	for _, s := range []string{"HookPW", "KEY-9", "svc:"} {
		if strings.Contains(attempts[0].Error, s) || strings.Contains(r.logs.String(), s) {
			t.Errorf("%q shown: attempt error %q, log:\n%s", s, attempts[0].Error, r.logs.String())
		}
	}
}

// tick moves the rig's clock on by step, n times, draining r.d after each.
func (r *hookRig) tick(t *testing.T, n int, step time.Duration) {
	t.Helper()
	for range n {
		r.Clock.Advance(step)
		r.drain(t)
	}
}

func purchaseStart(key string) flows.Event {
	return flows.Event{Kind: flows.EventStart, Key: key, Actor: "alice", Flow: "purchase",
		Data: map[string]string{"item": "Laptop", "amount": "900", "justification": "the old one broke down"}}
}

// A subscriber down for hours loses nothing, and gets a request's events in
// order once it is back: the first is tried again (waiting at most 5
// minutes between tries), the later ones wait behind it. Another subscriber
// and the chat cards are not held up meanwhile.
func TestHooksDownForHoursDeliveredInOrder(t *testing.T) {
	t.Parallel()
	down, up := newHookReceiver(t, "k"), newHookReceiver(t, "k")
	down.setDown(true)
	r := newHookRig(t, "", []flows.Hook{{Name: "BATON_WEBHOOK_URLS 1", URL: down.srv.URL}, {Name: "BATON_WEBHOOK_URLS 2", URL: up.srv.URL}}, "k")
	m := newMessenger("fake")
	r.d = r.dispatcher(bot.DispatcherConfig{Consumer: "d1"}, m)
	id := r.handle(t, purchaseStart("k1")).Instance
	r.drain(t)
	r.tick(t, 60, time.Minute)
	r.handle(t, flows.Event{Kind: flows.EventApprove, Key: "k2", Actor: "bob", Instance: id})
	r.drain(t)
	r.tick(t, 11*60, time.Minute)

	want, _ := up.events()
	if types := hkTypes(want); len(types) < 4 || types[0] != "started" || types[len(types)-1] != "completed" {
		t.Fatalf("the other subscriber got %v while the first was down, want every event", types)
	}
	if len(m.calls()) < 3 {
		t.Errorf("chat cards while a subscriber was down: %s", kinds(m.calls()))
	}
	got, tries := down.events()
	if len(got) != 0 {
		t.Fatalf("delivered to a receiver that was down: %v", hkTypes(got))
	}
	for _, try := range tries {
		if !strings.HasPrefix(try, "started ") {
			t.Fatalf("tried %q while started was not delivered: %v", try, tries)
		}
	}
	// 12 hours with waits of 2.5 to 5 minutes once the backoff is at its cap.
	if n := len(tries); n < 12*60/5 || n > 12*60/2.5+20 {
		t.Errorf("%d tries in 12 hours, want one every 2.5 to 5 minutes", n)
	}
	if n := hkCount(r.metrics.Deliveries.WithLabelValues("hook", "hook", "dead")); n != 0 {
		t.Errorf("%v events given up on within the retry window", n)
	}

	down.setDown(false)
	r.tick(t, 5, time.Minute)
	got, _ = down.events()
	if !slices.Equal(hkTypes(got), hkTypes(want)) {
		t.Errorf("once back, the subscriber got %v, want %v", hkTypes(got), hkTypes(want))
	}
	if b, err := r.Store.Backlog(t.Context()); err != nil || b.Hooks != 0 || b.Dead != 0 || b.Outbox != 0 {
		t.Errorf("left behind: %+v %v", b, err)
	}
}

// Past the retry window an event is given up on, as a dead letter saying
// why, and so are the later ones that waited behind it, as long: an
// operator's baton dead retry sends them again, in order.
func TestHooksGivenUpAfterTheRetryWindow(t *testing.T) {
	t.Parallel()
	rx := newHookReceiver(t, "k")
	rx.setDown(true)
	r := newHookRig(t, "", []flows.Hook{{Name: "BATON_WEBHOOK_URLS 1", URL: rx.srv.URL}}, "k")
	r.d = r.dispatcher(bot.DispatcherConfig{Consumer: "d1", HookRetryFor: time.Hour}, hkMessenger{})
	r.handle(t, purchaseStart("k1"))
	r.drain(t)
	r.tick(t, 59, time.Minute)
	if dead, _ := r.Store.DeadLetters(t.Context(), 10); len(dead) != 0 {
		t.Fatalf("given up on within the hour: %+v", dead)
	}
	r.tick(t, 2, time.Minute)
	dead, err := r.Store.DeadLetters(t.Context(), 10)
	if err != nil || len(dead) != 2 {
		t.Fatalf("dead letters %+v %v, want started and assigned", dead, err)
	}
	for i, want := range []string{"started", "assigned"} {
		if d := dead[i]; d.Effect.Hook == nil || d.Effect.Hook.Event.Type != want || !strings.Contains(d.Dead, "HTTP 503") ||
			!strings.Contains(d.Dead, "BATON_WEBHOOK_RETRY_FOR is 1h0m0s") {
			t.Errorf("dead letter %d: %+v, want %s, given up on after the retry window", i, d, want)
		}
	}
	if _, tries := rx.events(); !strings.HasPrefix(tries[len(tries)-1], "assigned 1 ") || strings.HasPrefix(tries[len(tries)-2], "assigned") {
		t.Errorf("tries %v: want assigned tried once, after started was given up on", tries)
	}

	rx.setDown(false)
	if _, err := r.Store.Requeue(t.Context(), dead); err != nil {
		t.Fatal(err)
	}
	r.drain(t)
	if got, _ := rx.events(); !slices.Equal(hkTypes(got), []string{"started", "assigned"}) {
		t.Errorf("sent again: %v, want started, assigned", hkTypes(got))
	}
}

// The order holds across replicas: events another replica reads while the
// first is being retried wait behind it, and whichever replica claims the
// queue when the retry is due delivers them all, in order.
func TestHooksOrderAcrossReplicas(t *testing.T) {
	t.Parallel()
	rx := newHookReceiver(t, "k", http.StatusBadGateway)
	r := newHookRig(t, "", []flows.Hook{{Name: "BATON_WEBHOOK_URLS 1", URL: rx.srv.URL}}, "k")
	d1 := r.dispatcher(bot.DispatcherConfig{Consumer: "d1"}, hkMessenger{})
	d2 := r.dispatcher(bot.DispatcherConfig{Consumer: "d2"}, hkMessenger{})
	id := r.handle(t, purchaseStart("k1")).Instance
	if _, err := d1.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	r.handle(t, flows.Event{Kind: flows.EventApprove, Key: "k2", Actor: "bob", Instance: id})
	if _, err := d2.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, tries := rx.events(); !slices.Equal(tries, []string{"started 1 502"}) {
		t.Fatalf("tries %v: want started alone, once", tries)
	}
	r.Clock.Advance(time.Second)
	if _, err := d2.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	got, tries := rx.events()
	if types := hkTypes(got); len(types) < 4 || types[0] != "started" || types[1] != "assigned" || types[2] != "decided" {
		t.Errorf("delivered %v (tries %v), want started, assigned, decided, …", types, tries)
	}
	if tries[1] != "started 2 200" {
		t.Errorf("tries %v: the second replica's try of started is its second", tries)
	}
}

// settleSignal is the store, telling each settled event delivery.
type settleSignal struct {
	*storage.Store
	settled chan flows.HookSettle
}

func (s settleSignal) SettleHook(ctx context.Context, h flows.QueuedHook, how flows.HookSettle) (*flows.QueuedHook, error) {
	next, err := s.Store.SettleHook(ctx, h, how)
	s.settled <- how
	return next, err
}

// A running dispatcher claims a queue when its retry is due.
func TestHooksRetriedByARunningDispatcher(t *testing.T) {
	t.Parallel()
	rx := newHookReceiver(t, "k", http.StatusServiceUnavailable)
	r := newHookRig(t, "", []flows.Hook{{Name: "BATON_WEBHOOK_URLS 1", URL: rx.srv.URL, Events: []string{"started"}}}, "k")
	store := settleSignal{Store: r.Store, settled: make(chan flows.HookSettle, 10)}
	d := bot.NewDispatcher(bot.DispatcherConfig{Consumer: "d1", Poll: time.Millisecond, Reclaim: time.Hour},
		store, []bot.Messenger{hkMessenger{}}, r.w, r.Svc.Handle, slog.New(slog.DiscardHandler), r.metrics)
	r.Svc.OnCommit(d.Wake)
	stop := runDispatcher(t, d)
	r.handle(t, purchaseStart("k1"))
	if how := recv(t, store.settled, "the first try"); how.Retry.IsZero() {
		t.Fatalf("first try settled as %+v, want a retry", how)
	}
	r.Clock.Advance(time.Hour) // the retry comes due; the poll (every ms) takes it
	if how := recv(t, store.settled, "the second try"); !how.Retry.IsZero() || how.Dead != "" {
		t.Fatalf("second try settled as %+v, want delivered", how)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got, tries := rx.events(); !slices.Equal(hkTypes(got), []string{"started"}) || !slices.Equal(tries, []string{"started 1 503", "started 2 200"}) {
		t.Errorf("got %v, tries %v", hkTypes(got), tries)
	}
}
