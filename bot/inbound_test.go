package bot_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/bot/bottest"
	"github.com/batonbot/baton/flows"
)

const inboundFlow = `id: lead
name: Lead review
owner: olivia
form:
  - {name: company, required: true}
  - {name: amount, type: number, required: true, min: 1}
  - {name: hot, type: choice, options: ["true", "false"]}
inbound: {secret: crm_hook, requester: olivia}
steps:
  - id: review
    type: approval
    assignees: ["person:bob"]
`

const plainFlow = `id: plain
name: Plain
owner: olivia
inbound: {secret: unset_secret, requester: olivia}
steps:
  - {id: a, type: notify, to: [requester], message: hi}
`

const other = `id: other
name: Other
owner: olivia
steps:
  - {id: a, type: notify, to: [requester], message: hi}
`

const hookSecret = "s3cret-crm-value"

func TestInboundStarts(t *testing.T) {
	t.Parallel()
	var defs []*flows.Definition
	twin := strings.Replace(strings.Replace(inboundFlow, "id: lead", "id: twin", 1), "name: Lead review", "name: Twin", 1) // the same secret
	for name, src := range map[string]string{"lead.yaml": inboundFlow, "twin.yaml": twin, "plain.yaml": plainFlow, "other.yaml": other} {
		d, err := flows.ParseDefinition(name, []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		defs = append(defs, d)
	}
	r := bottest.NewWith(t, defs, nil, nil)
	var logs strings.Builder
	h := bot.NewInbound(r.Svc, map[string]string{"crm_hook": hookSecret}, r.Store, r.Store, r.Clock, slog.New(slog.NewTextHandler(&logs, nil)), nil)
	mux := http.NewServeMux()
	mux.Handle(bot.InboundRoute, h)

	type req struct {
		flow, body string
		ts         time.Time
		secret     string // "" means unsigned
		sig        string // overrides the signature
		idem       string
		ms         bool   // the timestamp in milliseconds, a common mistake
		encoding   string // Content-Encoding
	}
	var location string // the last answer's Location
	do := func(q req) (int, map[string]any) {
		t.Helper()
		hr := httptest.NewRequest(http.MethodPost, "/hooks/flows/"+q.flow, strings.NewReader(q.body))
		if q.ts.IsZero() {
			q.ts = r.Clock.Now()
		}
		if q.secret != "" || q.sig != "" {
			ts := q.ts.Unix()
			if q.ms {
				ts = q.ts.UnixMilli()
			}
			hr.Header.Set("X-Baton-Timestamp", strconv.FormatInt(ts, 10))
			sig := q.sig
			if sig == "" {
				sig = bot.Sign(q.secret, ts, []byte(q.body))
			}
			hr.Header.Set("X-Baton-Signature", sig)
		}
		if q.idem != "" {
			hr.Header.Set("Idempotency-Key", q.idem)
		}
		if q.encoding != "" {
			hr.Header.Set("Content-Encoding", q.encoding)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, hr)
		location = rec.Header().Get("Location")
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("answer %d is not JSON: %q", rec.Code, rec.Body)
		}
		return rec.Code, out
	}
	count := func() int {
		t.Helper()
		ins, err := r.Store.List(t.Context(), flows.Query{Flow: "lead"})
		if err != nil {
			t.Fatal(err)
		}
		return len(ins)
	}
	good := `{"company": "Acme", "amount": 1200, "hot": true, "note": null}`

	// Refused requests change nothing.
	for _, tc := range []struct {
		name string
		q    req
		code int
		msg  string
	}{
		{"unsigned", req{flow: "lead", body: good}, 401, "missing X-Baton-Timestamp"},
		{"wrong secret", req{flow: "lead", body: good, secret: "guess"}, 401, "signature does not match"},
		{"tampered", req{flow: "lead", body: good, sig: bot.Sign(hookSecret, bottest.T0.Unix(), []byte(`{"company":"Evil","amount":1}`))}, 401, "signature does not match"},
		{"stale", req{flow: "lead", body: good, secret: hookSecret, ts: bottest.T0.Add(-6 * time.Minute)}, 401, "more than 5 minutes"},
		{"future", req{flow: "lead", body: good, secret: hookSecret, ts: bottest.T0.Add(6 * time.Minute)}, 401, "more than 5 minutes"},
		{"bad values", req{flow: "lead", body: `{"company": "Acme", "amount": "lots", "colour": "red"}`, secret: hookSecret}, 422, "invalid form"},
		{"nested value", req{flow: "lead", body: `{"company": {"name": "Acme"}, "amount": 3}`, secret: hookSecret}, 422, "must be a text, a number or a boolean"},
		{"not an object", req{flow: "lead", body: `[1, 2]`, secret: hookSecret}, 400, "JSON object"},
		{"a stray brace after it", req{flow: "lead", body: `{"company": "Acme", "amount": 5}}`, secret: hookSecret}, 400, "one JSON object and nothing after it"},
		{"stray brackets after it", req{flow: "lead", body: `{"company": "Acme", "amount": 5}]]]`, secret: hookSecret}, 400, "one JSON object and nothing after it"},
		{"two objects", req{flow: "lead", body: `{"company": "Acme", "amount": 5} {}`, secret: hookSecret}, 400, "one JSON object and nothing after it"},
		{"compressed", req{flow: "lead", body: good, secret: hookSecret, encoding: "gzip"}, 415, "send the body uncompressed"},
		{"a value twice", req{flow: "lead", body: `{"company": "Acme", "amount": 5, "amount": 50000}`, secret: hookSecret}, 400, `"amount" is given twice: send each name once`},
		// Before authentication, nothing is told of which flows there are.
		{"no inbound", req{flow: "other", body: `{}`, secret: hookSecret}, 404, `no flow "other" takes signed starts here`},
		{"unknown flow", req{flow: "nope", body: `{}`, secret: hookSecret}, 404, `no flow "nope" takes signed starts here`},
		{"a typo", req{flow: "laed", body: `{}`, secret: hookSecret}, 404, `no flow "laed" takes signed starts here`},
		{"milliseconds", req{flow: "lead", body: good, secret: hookSecret, ms: true}, 401, "in milliseconds: send unix seconds"},
		{"secret not configured", req{flow: "plain", body: `{}`, secret: hookSecret}, 503, "not configured"},
	} {
		code, out := do(tc.q)
		if code != tc.code || !strings.Contains(out["error"].(string), tc.msg) {
			t.Errorf("%s: %d %v, want %d saying %q", tc.name, code, out, tc.code, tc.msg)
		}
		// With the HTTP API's code for the status, as its errors have.
		if want := map[int]string{400: "bad_request", 401: "unauthorized", 404: "not_found", 415: "unsupported_media_type",
			422: "invalid", 503: "unavailable"}[tc.code]; out["code"] != want {
			t.Errorf("%s: code %v, want %q", tc.name, out["code"], want)
		}
		if n := count(); n != 0 {
			t.Fatalf("%s: %d instances, want none", tc.name, n)
		}
	}
	if _, out := do(req{flow: "laed", body: `{}`}); strings.Contains(out["error"].(string), "lead") {
		t.Errorf("an unauthenticated typo was told the flow's name: %v", out)
	}
	if _, out := do(req{flow: "lead", body: `{"company": "Acme", "amount": "lots", "colour": "red"}`, secret: hookSecret}); out["fields"] == nil {
		t.Errorf("422 without field errors: %v", out)
	} else if f := out["fields"].(map[string]any); f["amount"] != "amount must be a number" || !strings.Contains(f["colour"].(string), "not a field") {
		t.Errorf("field errors %v", f)
	}
	// A text field whose flow sets no max takes 3000 characters, as on
	// every other surface.
	long := `{"company": "` + strings.Repeat("A", 900_000) + `", "amount": 5}`
	if code, out := do(req{flow: "lead", body: long, secret: hookSecret}); code != 422 || out["fields"] == nil ||
		out["fields"].(map[string]any)["company"] != "company must be at most 3000 characters" {
		t.Errorf("a 900,000-character company: %d %v", code, out["fields"])
	}

	// A good request starts one instance, for the flow's requester.
	code, out := do(req{flow: "lead", body: good, secret: hookSecret, idem: "delivery-1"})
	if code != http.StatusCreated || out["instance"] == "" || out["status"] != "running" {
		t.Fatalf("start: %d %v", code, out)
	}
	id := out["instance"].(string)
	if location != "/api/v1/instances/"+id {
		t.Errorf("Location %q", location)
	}
	in, err := r.Store.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if in.Requester != "olivia" || in.Data["company"] != "Acme" || in.Data["amount"] != 1200.0 || in.Data["hot"] != "true" {
		t.Errorf("instance: requester %q data %v", in.Requester, in.Data)
	}
	// A retry with the same Idempotency-Key (signed again later) is the same start.
	r.Clock.Advance(time.Minute)
	if code, out := do(req{flow: "lead", body: good, secret: hookSecret, idem: "delivery-1"}); code != http.StatusCreated || out["instance"] != id {
		t.Errorf("retry: %d %v, want %s again", code, out, id)
	}
	// So is one whose JSON is spelled differently; but the key reused on
	// other values is another start, not a dropped one.
	r.Clock.Advance(time.Second)
	respelled := `{"hot":true,"amount":1200.0,"company":"Acme"}`
	if code, out := do(req{flow: "lead", body: respelled, secret: hookSecret, idem: "delivery-1"}); code != http.StatusCreated || out["instance"] != id {
		t.Errorf("retry spelled differently: %d %v, want %s again", code, out, id)
	}
	if code, out := do(req{flow: "lead", body: `{"company": "Globex", "amount": 999}`, secret: hookSecret, idem: "delivery-1"}); code != http.StatusCreated || out["instance"] == id {
		t.Errorf("the key on other values: %d %v, want a start of its own", code, out)
	}
	// Without a key, an exact replay of a signed request is the same start…
	// (Its numbers: a JSON number's dot is a decimal point, and a number
	// sent for a text field is its text.)
	unkeyed := req{flow: "lead", body: `{"company": 1.125, "amount": 1.125}`, secret: hookSecret, ts: r.Clock.Now()}
	_, first := do(unkeyed)
	_, again := do(unkeyed)
	if first["instance"] == nil || first["instance"] != again["instance"] {
		t.Errorf("replay: %v then %v, want one instance", first, again)
	} else if in, err := r.Store.Get(t.Context(), first["instance"].(string)); err != nil || in.Data["company"] != "1.125" || in.Data["amount"] != 1.125 {
		t.Errorf("numbers read as %v (%v)", in, err)
	}
	// …and a new delivery (signed on its own) is a new one. (The same body
	// signed in the same second is the same signed request: a replay.)
	r.Clock.Advance(time.Second)
	if _, out := do(req{flow: "lead", body: good, secret: hookSecret, idem: "delivery-2"}); out["instance"] == id {
		t.Errorf("a new delivery id got the old instance %s", id)
	}
	if n := count(); n != 4 {
		t.Errorf("%d instances, want 4", n)
	}
	// A captured signed request replayed with another Idempotency-Key (or
	// X-Delivery-Id: neither is signed) is still the same start.
	captured := req{flow: "lead", body: `{"company": "Gamma", "amount": 7}`, secret: hookSecret, ts: r.Clock.Now(), idem: "delivery-3"}
	_, orig := do(captured)
	for _, k := range []string{"attacker-1", "attacker-2", ""} {
		replay := captured
		replay.idem = k
		if code, out := do(replay); out["instance"] != orig["instance"] {
			t.Errorf("replay with Idempotency-Key %q: %d %v, want %v again", k, code, out, orig["instance"])
		}
	}
	// Hex in capitals is the same signature, and so the same request.
	upper := captured
	upper.idem, upper.sig = "attacker-3", strings.ToUpper(bot.Sign(hookSecret, captured.ts.Unix(), []byte(captured.body)))
	if code, out := do(upper); code != http.StatusCreated || out["instance"] != orig["instance"] {
		t.Errorf("replay signed in capitals: %d %v, want %v again", code, out, orig["instance"])
	}
	if n := count(); n != 5 {
		t.Errorf("after replays with other keys: %d instances, want 5", n)
	}
	// Nor does it start another flow signed with the same secret.
	replay := captured
	replay.flow = "twin"
	if code, out := do(replay); code != http.StatusUnauthorized || !strings.Contains(out["error"].(string), "already") {
		t.Errorf("replay to another flow: %d %v, want 401", code, out)
	}
	if ins, _ := r.Store.List(t.Context(), flows.Query{Flow: "twin"}); len(ins) != 0 {
		t.Errorf("a replay started %d instances of another flow", len(ins))
	}
	// A key too long (or unprintable) to keep is refused, not ignored: a
	// retry under it would otherwise start the request again.
	for _, k := range []string{strings.Repeat("k", 201), "two words"} {
		r.Clock.Advance(time.Second)
		if code, out := do(req{flow: "lead", body: `{"company": "Delta", "amount": 8}`, secret: hookSecret, idem: k}); code != http.StatusBadRequest ||
			!strings.Contains(out["error"].(string), "Idempotency-Key") {
			t.Errorf("key %.20q…: %d %v, want 400", k, code, out)
		}
	}
	if n := count(); n != 5 {
		t.Errorf("after refused keys: %d instances, want 5", n)
	}
	// A signed request whose first delivery is still being started (its
	// signature claimed, its start not yet recorded) is told to retry.
	r.Clock.Advance(time.Second)
	busy := req{flow: "lead", body: `{"company": "Epsilon", "amount": 9}`, secret: hookSecret, ts: r.Clock.Now()}
	sum := sha256.Sum256([]byte(bot.Sign(hookSecret, busy.ts.Unix(), []byte(busy.body))))
	if _, err := r.Store.Claim(t.Context(), "inbound-sig:"+hex.EncodeToString(sum[:16]), time.Minute); err != nil {
		t.Fatal(err)
	}
	if code, out := do(busy); code != http.StatusConflict || out["code"] != "in_progress" || !strings.Contains(out["error"].(string), "retry") {
		t.Errorf("a request being made: %d %v, want 409 in_progress", code, out)
	}
	if n := count(); n != 5 {
		t.Errorf("after a request being made: %d instances, want 5", n)
	}
	if strings.Contains(logs.String(), hookSecret) {
		t.Error("the secret reached the logs")
	}
}

// Another method than POST is answered in JSON, as every other mistake of
// an inbound start, with a 405 and Allow: POST.
func TestInboundMethod(t *testing.T) {
	t.Parallel()
	d, err := flows.ParseDefinition("lead.yaml", []byte(inboundFlow))
	if err != nil {
		t.Fatal(err)
	}
	r := bottest.NewWith(t, []*flows.Definition{d}, nil, nil)
	mux := http.NewServeMux()
	mux.Handle(bot.InboundRoute, bot.NewInbound(r.Svc, map[string]string{"crm_hook": hookSecret}, r.Store, r.Store, r.Clock, slog.New(slog.DiscardHandler), nil))
	for _, method := range []string{http.MethodGet, http.MethodPut} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(method, "/hooks/flows/lead", nil))
		var body map[string]any
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "POST" || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body["code"] != "method_not_allowed" {
			t.Errorf("%s: %d %q %s", method, rec.Code, rec.Header().Get("Allow"), rec.Body)
		}
	}
}
