package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonbot/baton/adapters/api"
	"github.com/batonbot/baton/bot/bottest"
	"github.com/batonbot/baton/flows"
	"github.com/batonbot/baton/storage"
)

// tokens adapts the storage's tokens to the API's port, as main does.
type tokens struct{ s *storage.Store }

func (t tokens) TokenByHash(ctx context.Context, hash string) (api.Token, bool, error) {
	r, ok, err := t.s.TokenByHash(ctx, hash)
	return api.Token{Name: r.Name, Scope: api.Scope(r.Scope), Person: r.Person, Hash: r.Hash}, ok, err
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type rig struct {
	*bottest.Rig
	t     *testing.T
	srv   *httptest.Server
	logs  *lockedBuffer
	toks  []string // every token made, to look for in the logs
	short bool     // its listings may stop short of a page (shallow)
}

func newRig(t *testing.T) *rig { return newRigWith(t, api.Config{}) }

func newRigWith(t *testing.T, cfg api.Config) *rig {
	t.Parallel()
	return newRigOn(t, bottest.New(t), cfg)
}

func newRigOn(t *testing.T, b *bottest.Rig, cfg api.Config) *rig {
	return newRigOver(t, b, cfg, b.Store)
}

// newRigOver is newRigOn with the API reading instances from inst.
func newRigOver(t *testing.T, b *bottest.Rig, cfg api.Config, inst api.Instances) *rig {
	r := &rig{Rig: b, t: t, logs: &lockedBuffer{}}
	log := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a := api.New(api.Deps{Service: r.Svc, Instances: inst, Tokens: tokens{r.Store}, Deliveries: r.Store, Log: log}, cfg)
	r.srv = httptest.NewServer(a.Handler())
	t.Cleanup(r.srv.Close)
	t.Cleanup(func() {
		for _, tok := range r.toks {
			if strings.Contains(r.logs.String(), tok) || strings.Contains(r.logs.String(), api.HashToken(tok)) {
				t.Errorf("a token or its hash reached the log:\n%s", r.logs.String())
			}
		}
	})
	return r
}

// token creates a token as baton token create does and returns it.
func (r *rig) token(name string, scope api.Scope, person string) string {
	r.t.Helper()
	tok, hash := api.NewToken()
	if err := r.Store.CreateToken(r.t.Context(), storage.Token{Name: name, Scope: string(scope), Person: person, Hash: hash}); err != nil {
		r.t.Fatal(err)
	}
	r.toks = append(r.toks, tok)
	return tok
}

type resp struct {
	code   int
	header http.Header
	raw    string
	body   map[string]any
}

func (p resp) errCode() string {
	e, _ := p.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (p resp) fields() map[string]any {
	e, _ := p.body["error"].(map[string]any)
	f, _ := e["fields"].(map[string]any)
	return f
}

// do sends a request; body is JSON-encoded unless it is a string.
func (r *rig) do(method, path, token string, body any, headers ...string) resp {
	r.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequestWithContext(r.t.Context(), method, r.srv.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := r.srv.Client().Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{code: res.StatusCode, header: res.Header, raw: string(raw)}
	if err := json.Unmarshal(raw, &out.body); err != nil {
		r.t.Fatalf("%s %s: answer is not JSON (%v): %s", method, path, err, raw)
	}
	return out
}

func (r *rig) want(p resp, code int, errCode string) {
	r.t.Helper()
	if p.code != code || p.errCode() != errCode {
		r.t.Fatalf("got %d %q, want %d %q: %s", p.code, p.errCode(), code, errCode, p.raw)
	}
}

func purchase(amount any, onBehalf string) map[string]any {
	return map[string]any{"data": map[string]any{"item": "Laptop", "amount": amount, "justification": "the old one broke down"},
		"refs": map[string]string{"crm_deal": "D-42", "ticket": "https://tracker.example.com/T-7"}, "on_behalf_of": onBehalf}
}

func (r *rig) start(token string, amount any, onBehalf string) string {
	r.t.Helper()
	p := r.do("POST", "/api/v1/flows/purchase/instances", token, purchase(amount, onBehalf))
	r.want(p, http.StatusCreated, "")
	id, _ := p.body["instance"].(string)
	if id == "" || p.header.Get("Location") != "/api/v1/instances/"+id {
		r.t.Fatalf("start: %s (Location %q)", p.raw, p.header.Get("Location"))
	}
	return id
}

func TestAuthentication(t *testing.T) {
	r := newRig(t)
	good := r.token("reader", api.ScopeRead, "")
	r.want(r.do("GET", "/api/v1/flows", good, nil), 200, "")

	p := r.do("GET", "/api/v1/flows", "", nil)
	r.want(p, 401, "unauthorized")
	if !strings.HasPrefix(p.header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("401 without a Bearer challenge: %v", p.header)
	}
	req := r.do("GET", "/api/v1/flows", "", nil, "Authorization", "Basic "+good)
	r.want(req, 401, "unauthorized")
	r.want(r.do("GET", "/api/v1/flows", "not-a-token", nil), 401, "invalid_token")
	unknown, _ := api.NewToken()
	r.want(r.do("GET", "/api/v1/flows", unknown, nil), 401, "invalid_token")
	other := "A" // the token with its last character changed (to another one)
	if strings.HasSuffix(good, other) {
		other = "B"
	}
	r.want(r.do("GET", "/api/v1/flows", good[:len(good)-1]+other, nil), 401, "invalid_token")

	if err := r.Store.RevokeToken(t.Context(), "reader"); err != nil {
		t.Fatal(err)
	}
	r.want(r.do("GET", "/api/v1/flows", good, nil), 401, "invalid_token")

	// The description needs no token.
	res, err := r.srv.Client().Get(r.srv.URL + "/api/v1/openapi.json")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("openapi.json: %v %v", res.StatusCode, err)
	}
	res.Body.Close()
}

func TestScopes(t *testing.T) {
	r := newRig(t)
	read := r.token("read", api.ScopeRead, "")
	start := r.token("start", api.ScopeStart, "")
	admin := r.token("admin", api.ScopeAdmin, "")

	r.want(r.do("POST", "/api/v1/flows/purchase/instances", read, purchase(900, "alice")), 403, "insufficient_scope")
	id := r.start(start, 900, "alice")
	r.want(r.do("GET", "/api/v1/instances/"+id, read, nil), 200, "")
	r.want(r.do("POST", "/api/v1/instances/"+id+"/comments", read, map[string]any{"text": "hi", "on_behalf_of": "alice"}), 403, "insufficient_scope")
	r.want(r.do("POST", "/api/v1/instances/"+id+"/comments", start, map[string]any{"text": "PO attached", "on_behalf_of": "alice"}), 201, "")
	r.want(r.do("POST", "/api/v1/instances/"+id+"/decisions", start, map[string]any{"decision": "approve", "on_behalf_of": "bob"}), 403, "insufficient_scope")
	r.want(r.do("POST", "/api/v1/instances/"+id+"/decisions", admin, map[string]any{"decision": "approve", "on_behalf_of": "bob"}), 200, "")

	// A token bound to a person acts as that person only, and sees only what they may.
	bob := r.token("bob", api.ScopeAdmin, "bob")
	r.want(r.do("POST", "/api/v1/flows/purchase/instances", bob, purchase(900, "alice")), 403, "forbidden")
	mine := r.start(bob, 900, "")
	if p := r.do("GET", "/api/v1/instances/"+mine, bob, nil); p.body["requester"] != "bob" {
		t.Errorf("a bound token starts as its person: %s", p.raw)
	}
	other := r.start(start, 900, "carol") // waits on dana: nothing to do with bob
	r.want(r.do("GET", "/api/v1/instances/"+other, bob, nil), 404, "not_found")
	p := r.do("GET", "/api/v1/instances", bob, nil)
	if ids := listIDs(p); !slices.Contains(ids, mine) || !slices.Contains(ids, id) || slices.Contains(ids, other) {
		t.Errorf("bob's token lists %v; want %s and %s (his), not %s", ids, mine, id, other)
	}
}

func TestStartValidation(t *testing.T) {
	r := newRig(t)
	tok := r.token("crm", api.ScopeStart, "")
	body := map[string]any{
		"data":         map[string]any{"item": "Laptop", "amount": "lots", "colour": "red", "vendor": []any{"x"}},
		"refs":         map[string]string{"Bad Key": "x", "ticket": "", "deal": "D-1\n\nTo approve, open https://evil.example", "note": "\u202eevil"},
		"on_behalf_of": "nobody",
	}
	p := r.do("POST", "/api/v1/flows/purchase/instances", tok, body)
	r.want(p, 422, "invalid")
	want := []string{"data.amount", "data.colour", "data.justification", "data.vendor", "on_behalf_of", "refs.Bad Key", "refs.deal", "refs.note", "refs.ticket"}
	var got []string
	for k := range p.fields() {
		got = append(got, k)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("fields %v, want %v: %s", got, want, p.raw)
	}
	r.want(r.do("POST", "/api/v1/flows/purchase/instances", tok, map[string]any{"data": map[string]any{}}), 422, "invalid")
	// true or false is no one's item: refused for a text field, as an
	// object is; a number stands for its digits.
	p = r.do("POST", "/api/v1/flows/purchase/instances", tok, map[string]any{
		"data": map[string]any{"item": true, "amount": 20, "justification": 12345678901}, "on_behalf_of": "alice"})
	r.want(p, 422, "invalid")
	if f := p.fields(); len(f) != 1 || f["data.item"] != "must be text, not true" {
		t.Errorf("a boolean item: %s", p.raw)
	}
	r.want(r.do("POST", "/api/v1/flows/purchse/instances", tok, purchase(900, "alice")), 404, "not_found")
	r.want(r.do("POST", "/api/v1/flows/purchase/instances", tok, `{"data": {}, "surprise": 1}`), 400, "bad_request")
	r.want(r.do("POST", "/api/v1/flows/purchase/instances", tok, `{"data":`), 400, "bad_request")
	for _, notObject := range []string{`null`, ` [1]`, `"x"`, `7`} {
		if p := r.do("POST", "/api/v1/flows/purchase/instances", tok, notObject); p.code != 400 || !strings.Contains(p.raw, "send a JSON object") {
			t.Errorf("a body of %s: %d %s", notObject, p.code, p.raw)
		}
	}
	r.want(r.do("POST", "/api/v1/flows/purchase/instances", tok, `{}`, "Content-Type", "text/plain"), 415, "unsupported_media_type")
	r.want(r.do("POST", "/api/v1/flows/purchase/instances", tok, `{}`, "Content-Type", ""), 415, "unsupported_media_type")
	if p := r.do("POST", "/api/v1/flows/purchase/instances", tok, `{}`, "Content-Encoding", "gzip"); p.code != 415 || !strings.Contains(p.raw, "send the body uncompressed") {
		t.Errorf("a gzipped body: %d %s", p.code, p.raw)
	}
	big := `{"data": {"item": "` + strings.Repeat("x", 70<<10) + `"}}`
	r.want(r.do("POST", "/api/v1/flows/purchase/instances", tok, big), 413, "too_large")

	// A typed 1.125 may mean 1125 (a dot grouping thousands) and is asked
	// about; a JSON number's dot is a decimal point.
	p = r.do("POST", "/api/v1/flows/purchase/instances", tok, purchase("1.125", "alice"))
	r.want(p, 422, "invalid")
	if f := p.fields(); f["data.amount"] != "Total amount: 1.125 could be 1125 or 1.125 (a dot may group thousands); write 1125, or 1.1250 for the decimal" {
		t.Errorf("a typed 1.125: %s", p.raw)
	}

	// A date out of its bounds is told with the other problems, and uses
	// up no id (not even under an Idempotency-Key).
	past := purchase(900, "alice")
	past["data"].(map[string]any)["needed_by"] = "2020-01-01"
	past["data"].(map[string]any)["currency"] = "JPY"
	p = r.do("POST", "/api/v1/flows/purchase/instances", tok, past, "Idempotency-Key", "past-1")
	r.want(p, 422, "invalid")
	if f := p.fields(); len(f) != 2 || !strings.Contains(f["data.needed_by"].(string), "today") || f["data.currency"] == nil {
		t.Errorf("a past date and a bad currency: %s", p.raw)
	}
	delete(past["data"].(map[string]any), "currency")
	r.want(r.do("POST", "/api/v1/flows/purchase/instances", tok, past, "Idempotency-Key", "past-2"), 422, "invalid")

	// Nothing was created: the first instance is still number 1.
	if id := r.start(tok, 900, "alice"); id != "PR-1" {
		t.Errorf("first valid start got %s, want PR-1", id)
	}
	// A number for a text field is its text, as written.
	p = r.do("POST", "/api/v1/flows/purchase/instances", tok, `{"data": {"item": 2.500, "amount": 1.125, "justification": "spares for the lab"}, "on_behalf_of": "alice"}`)
	r.want(p, http.StatusCreated, "")
	p = r.do("GET", "/api/v1/instances/"+p.body["instance"].(string), r.token("reader", api.ScopeRead, ""), nil)
	if data, _ := p.body["data"].(map[string]any); data["amount"] != 1.125 || data["item"] != "2.500" {
		t.Errorf("JSON numbers were stored as %v, %v: %s", data["amount"], data["item"], p.raw)
	}
}

func TestIdempotency(t *testing.T) {
	r := newRig(t)
	tok := r.token("crm", api.ScopeStart, "")
	other := r.token("erp", api.ScopeStart, "")
	first := r.do("POST", "/api/v1/flows/purchase/instances", tok, purchase(900, "alice"), "Idempotency-Key", "deal-42")
	again := r.do("POST", "/api/v1/flows/purchase/instances", tok, purchase(900, "alice"), "Idempotency-Key", "deal-42")
	r.want(first, 201, "")
	if again.code != first.code || again.raw != first.raw {
		t.Fatalf("replay answered %d %s, first %d %s", again.code, again.raw, first.code, first.raw)
	}
	// The same key from another token is another request.
	elsewhere := r.do("POST", "/api/v1/flows/purchase/instances", other, purchase(900, "alice"), "Idempotency-Key", "deal-42")
	r.want(elsewhere, 201, "")
	if elsewhere.body["instance"] == first.body["instance"] {
		t.Errorf("keys are not scoped per token: both got %v", first.body["instance"])
	}
	// No key, no deduplication.
	r.start(tok, 900, "alice")
	if n := len(listIDs(r.do("GET", "/api/v1/instances?requester=alice", tok, nil))); n != 3 {
		t.Errorf("%d instances, want 3", n)
	}
	r.want(r.do("POST", "/api/v1/flows/purchase/instances", tok, purchase(900, "alice"), "Idempotency-Key", "has space"), 400, "bad_request")

	// A decision replayed answers the same, and is recorded once.
	admin := r.token("admin", api.ScopeAdmin, "")
	id := first.body["instance"].(string)
	d := map[string]any{"decision": "request_changes", "reason": "which model?", "on_behalf_of": "bob", "step": "manager"}
	a := r.do("POST", "/api/v1/instances/"+id+"/decisions", admin, d, "Idempotency-Key", "d1")
	b := r.do("POST", "/api/v1/instances/"+id+"/decisions", admin, d, "Idempotency-Key", "d1")
	r.want(a, 200, "")
	if a.raw != b.raw || a.code != b.code {
		t.Errorf("decision replay answered %d %s, first %d %s", b.code, b.raw, a.code, a.raw)
	}
	audit, _ := r.Store.Audit(t.Context(), id)
	n := 0
	for _, e := range audit {
		if e.Action == string(flows.Changes) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d changes_requested entries, want 1", n)
	}
}

func TestDecisions(t *testing.T) {
	r := newRig(t)
	admin := r.token("admin", api.ScopeAdmin, "")
	start := r.token("crm", api.ScopeStart, "")
	id := r.start(start, 900, "alice")
	path := "/api/v1/instances/" + id + "/decisions"

	p := r.do("POST", path, admin, map[string]any{"decision": "maybe", "on_behalf_of": "bob"})
	r.want(p, 422, "invalid")
	if _, ok := p.fields()["decision"]; !ok {
		t.Errorf("no decision field error: %s", p.raw)
	}
	p = r.do("POST", path, admin, map[string]any{"decision": "reject"})
	r.want(p, 422, "invalid")
	if f := p.fields(); f["reason"] == nil || f["on_behalf_of"] == nil {
		t.Errorf("want reason and on_behalf_of errors: %s", p.raw)
	}
	p = r.do("POST", path, admin, map[string]any{"decision": "reject", "reason": strings.Repeat("é", 4001), "on_behalf_of": "bob"})
	r.want(p, 422, "invalid")
	if f := p.fields(); f["reason"] != "at most 4000 characters" {
		t.Errorf("a reason of 4001 characters: %s", p.raw)
	}
	r.want(r.do("POST", path, admin, map[string]any{"decision": "approve", "on_behalf_of": "carol"}), 403, flows.CodeNotAssignee)
	p = r.do("POST", "/api/v1/instances/PR-999/decisions", admin, map[string]any{"decision": "approve", "on_behalf_of": "bob"})
	r.want(p, 404, "not_found")
	if msg := p.body["error"].(map[string]any)["message"]; msg != "there is no instance PR-999" { // as a read answers
		t.Errorf("a decision on no instance: %s", p.raw)
	}
	// A decision the step does not take names the decision field.
	p = r.do("POST", path, admin, map[string]any{"decision": "done", "on_behalf_of": "bob"})
	r.want(p, 422, "invalid")
	if msg, _ := p.fields()["decision"].(string); !strings.Contains(msg, "is waiting for an approval (Manager approval): approve, reject or request changes") {
		t.Errorf("done on an approval: %s", p.raw)
	}
	// A step the flow does not have is a mistake in the call, not a card
	// gone out of date: 422, naming the flow's steps.
	p = r.do("POST", path, admin, map[string]any{"decision": "approve", "on_behalf_of": "bob", "step": "manger"})
	r.want(p, 422, "invalid")
	if msg, _ := p.fields()["step"].(string); !strings.Contains(msg, `has no step "manger"; its flow's steps are manager,`) {
		t.Errorf("unknown step: %s", p.raw)
	}
	// A round is 1 or more; left out, it is the current one.
	for _, round := range []int{0, -1} {
		p = r.do("POST", path, admin, map[string]any{"decision": "approve", "on_behalf_of": "bob", "round": round})
		r.want(p, 422, "invalid")
		if f := p.fields(); f["round"] != "a round is 1 or more (leave it out for the current one)" {
			t.Errorf("round %d: %s", round, p.raw)
		}
	}
	// Data is a task's outputs: an approval with data would drop it unsaid.
	p = r.do("POST", path, admin, map[string]any{"decision": "approve", "on_behalf_of": "bob", "data": map[string]any{"po": "7781"}})
	r.want(p, 422, "invalid")
	if f := p.fields(); f["data"] == nil {
		t.Errorf("want a data error: %s", p.raw)
	}

	// A step (or round) the request is not at: 409, saying where it is. A
	// whole round may be written as any JSON number (5.0, 5e0: as a
	// client's library writes it).
	for _, round := range []string{"5.0", "5e0"} {
		p = r.do("POST", path, admin, `{"decision":"approve","on_behalf_of":"bob","step":"manager","round":`+round+`}`)
		r.want(p, 409, flows.CodeNotReached)
	}
	p = r.do("POST", path, admin, map[string]any{"decision": "approve", "on_behalf_of": "bob", "step": "manager", "round": 5})
	r.want(p, 409, flows.CodeNotReached)
	if !strings.Contains(p.raw, "has not reached Manager approval (round 5)") {
		t.Errorf("the refusal does not say where the request is: %s", p.raw)
	}

	p = r.do("POST", path, admin, map[string]any{"decision": "approve", "on_behalf_of": "bob", "step": "manager"})
	r.want(p, 200, "")
	if p.body["status"] != "completed" {
		t.Errorf("a 900 purchase approved by the manager is complete: %s", p.raw)
	}
	// Someone else decided first: 409, naming who.
	p = r.do("POST", path, admin, map[string]any{"decision": "reject", "reason": "no", "on_behalf_of": "dana", "step": "manager", "round": 1})
	r.want(p, 409, flows.CodeAlreadyDecided)
	if !strings.Contains(p.raw, "Bob Chen") {
		t.Errorf("the conflict does not say who decided: %s", p.raw)
	}
	r.want(r.do("POST", path, admin, map[string]any{"decision": "approve", "on_behalf_of": "bob"}), 409, flows.CodeClosed)

	// The decision is on the timeline, made through the API on bob's behalf.
	g := r.do("GET", "/api/v1/instances/"+id, admin, nil)
	var view struct {
		Refs     map[string]string  `json:"refs"`
		Status   string             `json:"status"`
		Timeline []flows.AuditEntry `json:"timeline"`
		Delivers []any              `json:"deliveries"`
	}
	if err := json.Unmarshal([]byte(g.raw), &view); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(view.Timeline, func(e flows.AuditEntry) bool { return e.Action == "approved" })
	if i < 0 || view.Timeline[i].Actor != "bob" || view.Timeline[i].Platform != "api" || view.Refs["crm_deal"] != "D-42" || view.Delivers == nil {
		t.Errorf("instance view: %s", g.raw)
	}
	r.want(r.do("GET", "/api/v1/instances/PR-999", admin, nil), 404, "not_found")

	// Deliveries name other systems and their errors: an integration's
	// token sees them, a token acting as one person (the requester's) not.
	if err := r.Store.RecordHookAttempt(t.Context(), flows.HookAttempt{Instance: id, Event: id + ".1", Type: "started",
		Target: "https://crm.internal", Subscriber: "BATON_WEBHOOK_URLS 1", Attempt: 1, At: bottest.T0, Status: 500, Error: "webhook to https://crm.internal: HTTP 500"}); err != nil {
		t.Fatal(err)
	}
	if g := r.do("GET", "/api/v1/instances/"+id, admin, nil); !strings.Contains(g.raw, "crm.internal") {
		t.Errorf("the admin token's view lacks the delivery: %s", g.raw)
	}
	alice := r.token("alice-phone", api.ScopeStart, "alice")
	if g := r.do("GET", "/api/v1/instances/"+id, alice, nil); g.code != 200 || strings.Contains(g.raw, "crm.internal") || !strings.Contains(g.raw, `"deliveries":[]`) {
		t.Errorf("alice's token's view: %d %s", g.code, g.raw)
	}
}

func TestComments(t *testing.T) {
	r := newRig(t)
	tok := r.token("crm", api.ScopeStart, "")
	id := r.start(tok, 900, "alice")
	r.want(r.do("POST", "/api/v1/instances/"+id+"/comments", tok, map[string]any{"text": "  ", "on_behalf_of": "alice"}), 422, "invalid")
	// The limit counts characters, not bytes: 3,000 é fit, 4,001 do not.
	r.want(r.do("POST", "/api/v1/instances/"+id+"/comments", tok, map[string]any{"text": strings.Repeat("é", 4001), "on_behalf_of": "alice"}), 422, "invalid")
	r.want(r.do("POST", "/api/v1/instances/"+id+"/comments", tok, map[string]any{"text": strings.Repeat("é", 3000), "on_behalf_of": "alice"}), 201, "")
	// Counted as the engine keeps the words: a trailing line break counts,
	// and \r\n is one character.
	p := r.do("POST", "/api/v1/instances/"+id+"/comments", tok, map[string]any{"text": strings.Repeat("x", 4000) + "\n", "on_behalf_of": "alice"})
	r.want(p, 422, "invalid")
	if f := p.fields(); f["text"] != "at most 4000 characters" || f["reason"] != nil {
		t.Errorf("a comment of 4,000 characters and a line break: %s", p.raw)
	}
	r.want(r.do("POST", "/api/v1/instances/"+id+"/comments", tok, map[string]any{"text": strings.Repeat("x", 3999) + "\r\n", "on_behalf_of": "alice"}), 201, "")
	r.want(r.do("POST", "/api/v1/instances/"+id+"/comments", tok, map[string]any{"text": "hello", "on_behalf_of": "hana"}), 403, flows.CodeNotAllowed)
	p = r.do("POST", "/api/v1/instances/"+id+"/comments", tok, map[string]any{"text": "quote attached", "on_behalf_of": "alice"})
	r.want(p, 201, "")
	audit, _ := r.Store.Audit(t.Context(), id)
	if last := audit[len(audit)-1]; last.Action != "commented" || last.Reason != "quote attached" || last.Actor != "alice" {
		t.Errorf("last audit entry %+v", last)
	}
}

func listIDs(p resp) []string {
	var ids []string
	list, _ := p.body["instances"].([]any)
	for _, x := range list {
		m, _ := x.(map[string]any)
		id, _ := m["id"].(string)
		ids = append(ids, id)
	}
	return ids
}

// A person-bound token finds the requests the person made and the tasks
// waiting on them however many newer instances there are.
func TestBoundTokenListFindsOwnBehindNewer(t *testing.T) {
	r := newRigWith(t, api.Config{PersonWindow: 3})
	crm := r.token("crm", api.ScopeAdmin, "")
	gus := r.token("gus", api.ScopeStart, "gus")
	mine := r.start(gus, 900, "gus") // gus's, waiting on his manager
	for range 5 {
		r.Clock.Advance(time.Minute)
		r.start(crm, 900, "alice") // newer, not his
	}
	res := r.do("GET", "/api/v1/instances", gus, nil)
	r.want(res, 200, "")
	got := res.body["instances"].([]any)
	if len(got) != 1 || got[0].(map[string]any)["id"] != mine {
		t.Fatalf("gus's list %v, want only %s", got, mine)
	}
}

func TestListFilters(t *testing.T) {
	r := newRig(t)
	tok := r.token("crm", api.ScopeAdmin, "")
	old := r.start(tok, 900, "alice") // waits on bob
	r.Clock.Advance(3 * 24 * time.Hour)
	newer := r.start(tok, 900, "carol") // waits on dana
	access := r.do("POST", "/api/v1/flows/access/instances", tok, map[string]any{"on_behalf_of": "alice",
		"data": map[string]any{"system": "github", "level": "read", "reason": "to review the code"}})
	r.want(access, 201, "")
	acc := access.body["instance"].(string)
	r.want(r.do("POST", "/api/v1/instances/"+old+"/decisions", tok, map[string]any{"decision": "reject", "reason": "no", "on_behalf_of": "bob"}), 200, "")

	cases := []struct {
		query string
		want  []string
	}{
		{"?requester=alice&flow=purchase", []string{old}},
		{"?requester=alice", []string{acc, old}},
		{"?flow=access", []string{acc}},
		{"?assignee=dana", []string{newer}},
		{"?flow=purchase", []string{newer, old}},
		{"?flow=purchase&status=rejected", []string{old}},
		{"?flow=purchase&status=running,completed", []string{newer}},
		{"?flow=purchase&status=running&status=rejected", []string{newer, old}}, // repeated: as if comma-separated
		{"?flow=purchase&status=open", []string{newer, old}},
		{"?flow=purchase&older_than=2d", []string{old}},
		{"?flow=purchase&older_than=4d", nil},
		{"?flow=purchase&limit=1", []string{newer}},
	}
	for _, c := range cases {
		p := r.do("GET", "/api/v1/instances"+c.query, tok, nil)
		r.want(p, 200, "")
		if got := listIDs(p); !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.query, got, c.want)
		}
	}
	p := r.do("GET", "/api/v1/instances?status=lost&older_than=soon&limit=0&flow=nope&colour=red", tok, nil)
	r.want(p, 422, "invalid")
	var got []string
	for k := range p.fields() {
		got = append(got, k)
	}
	slices.Sort(got)
	if want := []string{"colour", "flow", "limit", "older_than", "status"}; !slices.Equal(got, want) {
		t.Errorf("fields %v, want %v", got, want)
	}
	// A filter given twice would list one flow's and drop the other's.
	p = r.do("GET", "/api/v1/instances?flow=purchase&flow=access&limit=5&limit=6", tok, nil)
	r.want(p, 422, "invalid")
	if f := p.fields(); len(f) != 2 || f["flow"] != "given 2 times: give flow once" || f["limit"] != "given 2 times: give limit once" {
		t.Errorf("repeated parameters: %s", p.raw)
	}
}

func TestFlowsAndRouting(t *testing.T) {
	r := newRig(t)
	tok := r.token("crm", api.ScopeRead, "")
	p := r.do("GET", "/api/v1/flows", tok, nil)
	flowsList, _ := p.body["flows"].([]any)
	var ids []string
	for _, f := range flowsList {
		ids = append(ids, fmt.Sprint(f.(map[string]any)["id"]))
	}
	if !slices.Contains(ids, "purchase") || !strings.Contains(p.raw, `"name":"amount"`) {
		t.Errorf("flows: %s", p.raw)
	}
	q := r.do("DELETE", "/api/v1/instances/PR-1", tok, nil)
	r.want(q, 405, "method_not_allowed")
	if q.header.Get("Allow") != "GET" {
		t.Errorf("Allow %q", q.header.Get("Allow"))
	}
	r.want(r.do("GET", "/api/v1/nothing", tok, nil), 404, "not_found")
}

// TestOpenAPIDescribesEveryRoute: every route is in openapi.json, and
// everything openapi.json describes is a route.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(api.OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi %q, want 3.x", doc.OpenAPI)
	}
	a := api.New(api.Deps{}, api.Config{})
	routes := map[string]bool{}
	for pattern := range a.Routes() {
		if pattern == api.Prefix {
			continue
		}
		method, path, _ := strings.Cut(pattern, " ")
		routes[strings.ToLower(method)+" "+path] = true
		if _, ok := doc.Paths[path][strings.ToLower(method)]; !ok {
			t.Errorf("route %s is not described in openapi.json", pattern)
		}
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			if !routes[method+" "+path] {
				t.Errorf("openapi.json describes %s %s, which is no route", method, path)
			}
		}
	}
	if len(routes) < 7 {
		t.Errorf("only %d routes", len(routes))
	}
}

// TestIdempotencyKeyIsPerRequest: a key reused on another endpoint, instance
// or flow is another request: never the first answer; with another body on
// the same endpoint, it is refused.
func TestIdempotencyKeyIsPerRequest(t *testing.T) {
	r := newRig(t)
	admin := r.token("ops", api.ScopeAdmin, "")
	key := []string{"Idempotency-Key", "deal-1"}
	first := r.do("POST", "/api/v1/flows/purchase/instances", admin, purchase(900, "alice"), key...)
	r.want(first, 201, "")
	id := first.body["instance"].(string)

	// The same key on a decision of that instance: the decision is made.
	p := r.do("POST", "/api/v1/instances/"+id+"/decisions", admin, map[string]any{"decision": "approve", "on_behalf_of": "bob", "step": "manager"}, key...)
	r.want(p, 200, "")
	if p.body["status"] != "completed" || strings.Contains(p.raw, "Started") {
		t.Errorf("the decision answered the start's answer: %s", p.raw)
	}
	audit, _ := r.Store.Audit(t.Context(), id)
	if !slices.ContainsFunc(audit, func(e flows.AuditEntry) bool { return e.Action == "approved" && e.Actor == "bob" }) {
		t.Errorf("the decision was dropped: %+v", audit)
	}
	// Its retry, naming the instance in lower case, gets the same answer.
	retry := r.do("POST", "/api/v1/instances/"+strings.ToLower(id)+"/decisions", admin, map[string]any{"decision": "approve", "on_behalf_of": "bob", "step": "manager"}, key...)
	if retry.raw != p.raw {
		t.Errorf("the retry answered %s, first %s", retry.raw, p.raw)
	}

	// The same key on another flow starts an instance of that flow.
	p = r.do("POST", "/api/v1/flows/access/instances", admin, map[string]any{"on_behalf_of": "alice",
		"data": map[string]any{"system": "github", "level": "read", "reason": "to review the code"}}, key...)
	r.want(p, 201, "")
	if acc, _ := p.body["instance"].(string); !strings.HasPrefix(acc, "AR-") {
		t.Errorf("a start of access answered %s", p.raw)
	}

	// The same key with another body is refused, starting nothing; the
	// same request again gets the first answer.
	p = r.do("POST", "/api/v1/flows/purchase/instances", admin, purchase(1200, "alice"), key...)
	r.want(p, 422, "idempotency_key_reused")
	if msg := p.body["error"].(map[string]any)["message"]; !strings.Contains(msg.(string), "Idempotency-Key deal-1 was used for a different request to POST /api/v1/flows/purchase/instances") {
		t.Errorf("another body under the same key: %s", p.raw)
	}
	if again := r.do("POST", "/api/v1/flows/purchase/instances", admin, purchase(900, "alice"), key...); again.raw != first.raw {
		t.Errorf("the retry answered %s, first %s", again.raw, first.raw)
	}
	if ids := listIDs(r.do("GET", "/api/v1/instances?flow=purchase", admin, nil)); len(ids) != 1 {
		t.Errorf("purchases %v, want the first only", ids)
	}
}

// TestIdempotencyKeyComparesTheRequest: a retry is known by what its body
// says, however its JSON is spelled; the key reused on another request is
// a 422 that changes nothing, for a decision as for a start; a request
// refused as invalid used no key up.
func TestIdempotencyKeyComparesTheRequest(t *testing.T) {
	r := newRig(t)
	admin := r.token("ops", api.ScopeAdmin, "")
	const body = `{"data":{"item":"Laptop","amount":1450,"justification":"the old one broke down"},"refs":{"crm_deal":"D-42"},"on_behalf_of":"alice"}`
	first := r.do("POST", "/api/v1/flows/purchase/instances", admin, body, "Idempotency-Key", "k1")
	r.want(first, 201, "")
	for _, respelt := range []string{
		`{"data": {"item": "Laptop", "amount": 1450, "justification": "the old one broke down"}, "refs": {"crm_deal": "D-42"}, "on_behalf_of": "alice"}`,
		"{\n  \"on_behalf_of\": \"alice\",\n  \"refs\": {\"crm_deal\": \"D-42\"},\n  \"data\": {\"justification\": \"the old one broke down\", \"amount\": 1.45e3, \"item\": \"Lapto\\u0070\"}\n}\n",
		`{"data":{"item":"Laptop","amount":1450.00,"justification":"the old one broke down"},"refs":{"crm_deal":"D-42"},"on_behalf_of":"alice"}`,
	} {
		if again := r.do("POST", "/api/v1/flows/purchase/instances", admin, respelt, "Idempotency-Key", "k1"); again.raw != first.raw || again.code != first.code {
			t.Errorf("%s answered %d %s, first %d %s", respelt, again.code, again.raw, first.code, first.raw)
		}
	}
	other := strings.Replace(body, "1450", "1451", 1)
	r.want(r.do("POST", "/api/v1/flows/purchase/instances", admin, other, "Idempotency-Key", "k1"), 422, "idempotency_key_reused")
	if ids := listIDs(r.do("GET", "/api/v1/instances", admin, nil)); len(ids) != 1 {
		t.Fatalf("instances %v, want the first only", ids)
	}

	// A decision: its key reused on another decision changes nothing.
	id := first.body["instance"].(string)
	path := "/api/v1/instances/" + id + "/decisions"
	d := r.do("POST", path, admin, map[string]any{"decision": "request_changes", "reason": "which model?", "on_behalf_of": "bob"}, "Idempotency-Key", "d1")
	r.want(d, 200, "")
	r.want(r.do("POST", path, admin, map[string]any{"decision": "request_changes", "reason": "which colour?", "on_behalf_of": "bob"}, "Idempotency-Key", "d1"), 422, "idempotency_key_reused")
	if again := r.do("POST", path, admin, `{"on_behalf_of": "bob", "reason": "which model?", "decision": "request_changes"}`, "Idempotency-Key", "d1"); again.raw != d.raw {
		t.Errorf("the decision's retry answered %s, first %s", again.raw, d.raw)
	}
	in, err := r.Store.Get(t.Context(), id)
	if err != nil || in.Status != flows.StatusChangesRequested || in.Outcome != "which model?" {
		t.Fatalf("after the reused key: %+v %v", in, err)
	}

	// Refused as invalid, a request saved nothing under its key: the
	// corrected one is made.
	bad := strings.Replace(body, `"amount":1450`, `"amount":"lots"`, 1)
	r.want(r.do("POST", "/api/v1/flows/purchase/instances", admin, bad, "Idempotency-Key", "k2"), 422, "invalid")
	p := r.do("POST", "/api/v1/flows/purchase/instances", admin, body, "Idempotency-Key", "k2")
	r.want(p, 201, "")
	if p.body["instance"] == id {
		t.Errorf("the corrected request answered the first start: %s", p.raw)
	}
}

// TestBoundTokenWritesOnlyWhatItSees: a person-bound token's write to an
// instance the person may not see answers as a read would, and records nothing.
func TestBoundTokenWritesOnlyWhatItSees(t *testing.T) {
	r := newRig(t)
	crm := r.token("crm", api.ScopeStart, "")
	bob := r.token("bob", api.ScopeAdmin, "bob")
	other := r.start(crm, 900, "carol") // waits on dana: nothing to do with bob
	before, _ := r.Store.Audit(t.Context(), other)

	read := r.do("GET", "/api/v1/instances/"+other, bob, nil)
	r.want(read, 404, "not_found")
	for _, w := range []struct {
		path string
		body map[string]any
	}{
		{"/comments", map[string]any{"text": "hello"}},
		{"/decisions", map[string]any{"decision": "approve", "step": "manager"}},
		{"/decisions", map[string]any{"decision": "reject", "reason": "no"}},
	} {
		p := r.do("POST", "/api/v1/instances/"+other+w.path, bob, w.body)
		msg, _ := p.body["error"].(map[string]any)["message"]
		if p.code != 404 || p.errCode() != "not_found" || msg != read.body["error"].(map[string]any)["message"] || strings.Contains(p.raw, "Dana") {
			t.Errorf("POST %s answered %d %s; a read answers %d %s", w.path, p.code, p.raw, read.code, read.raw)
		}
	}
	after, _ := r.Store.Audit(t.Context(), other)
	if len(after) != len(before) {
		for _, e := range after[len(before):] {
			t.Errorf("recorded: %s by %s, refused %v", e.Action, e.Actor, e.Refused)
		}
	}
	// Data typed against the step's outputs tells nothing of a request the
	// token may not see: answered as for one that does not exist.
	access := r.do("POST", "/api/v1/flows/access/instances", crm, map[string]any{"on_behalf_of": "carol",
		"data": map[string]any{"system": "github", "level": "read", "reason": "to review the code"}})
	r.want(access, http.StatusCreated, "")
	other, _ = access.body["instance"].(string)
	body := map[string]any{"decision": "done", "step": "grant", "data": map[string]any{"account": true}}
	seen := r.do("POST", "/api/v1/instances/"+other+"/decisions", bob, body)
	none := r.do("POST", "/api/v1/instances/AR-999/decisions", bob, body)
	if seen.code != none.code || seen.errCode() != none.errCode() || strings.Contains(seen.raw, "must be text") {
		t.Errorf("typed data: %d %s; for no request: %d %s", seen.code, seen.raw, none.code, none.raw)
	}
}

// TestAuditNamesTheToken: what a token does is recorded for the person it
// acts for, via the token.
func TestAuditNamesTheToken(t *testing.T) {
	r := newRig(t)
	crm := r.token("crm", api.ScopeStart, "")
	erp := r.token("erp", api.ScopeAdmin, "")
	phone := r.token("alice-phone", api.ScopeStart, "alice")
	id := r.start(crm, 900, "alice")
	r.want(r.do("POST", "/api/v1/instances/"+id+"/comments", phone, map[string]any{"text": "any news?"}), 201, "")
	r.want(r.do("POST", "/api/v1/instances/"+id+"/decisions", erp, map[string]any{"decision": "approve", "on_behalf_of": "bob", "step": "manager"}), 200, "")

	audit, _ := r.Store.Audit(t.Context(), id)
	want := map[string][2]string{"started": {"alice", "api token crm"}, "commented": {"alice", "api token alice-phone"}, "approved": {"bob", "api token erp"}}
	for action, w := range want {
		i := slices.IndexFunc(audit, func(e flows.AuditEntry) bool { return e.Action == action })
		if i < 0 {
			t.Errorf("no %s entry", action)
		} else if e := audit[i]; e.Actor != w[0] || e.Via != w[1] || e.Platform != "api" {
			t.Errorf("%s: actor %s via %q on %s, want %s via %q on api", action, e.Actor, e.Via, e.Platform, w[0], w[1])
		}
	}
	if err := flows.VerifyChain(audit); err != nil {
		t.Error(err)
	}
}

// TestRequestTypeErrors: a value of the wrong JSON type is named in the
// request's terms, not Go's.
func TestRequestTypeErrors(t *testing.T) {
	r := newRig(t)
	tok := r.token("crm", api.ScopeAdmin, "")
	for _, c := range []struct{ path, body, want string }{
		{"/api/v1/flows/purchase/instances", `{"data":"x","on_behalf_of":"alice"}`, "data must be a JSON object of form values"},
		{"/api/v1/flows/purchase/instances", `{"refs":{"crm_deal":42},"data":{}}`, `refs must be a JSON object of texts, e.g. {"crm_deal": "D-42"}`},
		{"/api/v1/flows/purchase/instances", `["x"]`, "send a JSON object"},
		{"/api/v1/instances/PR-1/decisions", `{"decision":"approve","round":"1"}`, "round must be a whole number"},
		{"/api/v1/instances/PR-1/decisions", `{"decision":"approve","round":1.5}`, "round must be a whole number"},
		{"/api/v1/instances/PR-1/actions", `{"action":"retry","round":2e40}`, "round must be a whole number"},
		{"/api/v1/instances/PR-1/decisions", `{"decision":true}`, "decision must be text"},
	} {
		p := r.do("POST", c.path, tok, c.body)
		r.want(p, 400, "bad_request")
		if msg := p.body["error"].(map[string]any)["message"]; msg != c.want {
			t.Errorf("%s: message %q, want %q", c.body, msg, c.want)
		}
	}

	body := purchase(900, "alice")
	body["data"].(map[string]any)["item"] = map[string]any{"a": 1}
	p := r.do("POST", "/api/v1/flows/purchase/instances", tok, body)
	r.want(p, 422, "invalid")
	if msg, _ := p.fields()["data.item"].(string); !strings.Contains(msg, "must be text or a number") {
		t.Errorf("data.item: %q: %s", msg, p.raw)
	}
}

// TestRequestNamesStrict: a name given twice, or a field's name in another
// case, is refused with what to fix, and starts nothing: encoding/json
// alone would keep the last of two and take "Data" for "data".
func TestRequestNamesStrict(t *testing.T) {
	r := newRig(t)
	tok := r.token("crm", api.ScopeAdmin, "")
	for _, c := range []struct{ path, body, want string }{
		{"/api/v1/flows/purchase/instances", `{"data":{"item":"Laptop","amount":500,"justification":"broke"},"on_behalf_of":"alice","on_behalf_of":"bob"}`,
			`"on_behalf_of" is given twice: send each name once`},
		{"/api/v1/flows/purchase/instances", `{"data":{"item":"Laptop","amount":500,"amount":50000,"justification":"broke"},"on_behalf_of":"alice"}`,
			`"data.amount" is given twice: send each name once`},
		{"/api/v1/flows/purchase/instances", `{"Data":{"item":"Laptop","amount":500,"justification":"broke"},"on_behalf_of":"alice"}`,
			`"Data": names are case-sensitive; did you mean "data"?`},
		{"/api/v1/instances/PR-1/decisions", `{"decision":"approve","on_behalf_of":"bob","Decision":"reject"}`,
			`"Decision": names are case-sensitive; did you mean "decision"?`},
		{"/api/v1/instances/PR-1/comments", `{"text":"a","text":"b","on_behalf_of":"alice"}`, `"text" is given twice: send each name once`},
	} {
		p := r.do("POST", c.path, tok, c.body)
		r.want(p, 400, "bad_request")
		if msg := p.body["error"].(map[string]any)["message"]; msg != c.want {
			t.Errorf("%s: message %q, want %q", c.body, msg, c.want)
		}
	}
	// Nothing was started: the first start now is PR-1, and it is waiting.
	p := r.do("POST", "/api/v1/flows/purchase/instances", tok, purchase(500, "alice"))
	r.want(p, 201, "")
	if p.body["instance"] != "PR-1" {
		t.Errorf("first start after the refusals: %s", p.raw)
	}
	// A body that is not JSON is still told so by the decoder.
	p = r.do("POST", "/api/v1/flows/purchase/instances", tok, `{"data":{"a":1`)
	r.want(p, 400, "bad_request")
	if msg, _ := p.body["error"].(map[string]any)["message"].(string); !strings.HasPrefix(msg, "the body is not valid") {
		t.Errorf("a body cut short: %s", p.raw)
	}
}

// TestOpenAPIListsBodyErrors: every POST says it may answer 413 and 415.
func TestOpenAPIListsBodyErrors(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]json.RawMessage `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(api.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	for path, ops := range doc.Paths {
		if op, ok := ops["post"]; ok {
			for _, code := range []string{"400", "413", "415", "422"} {
				if _, ok := op.Responses[code]; !ok {
					t.Errorf("POST %s does not list %s", path, code)
				}
			}
		}
	}
}

// A task's number output sent as a JSON number is that number: 1.125 is
// not asked about as a typed 1.125 would be (1125?).
func TestDoneWithNumberOutput(t *testing.T) {
	t.Parallel()
	def, err := flows.ParseDefinition("cost.yaml", []byte(`
id: cost
name: Cost
owner: olivia
steps:
  - id: quote
    type: task
    assignees: [person:bob]
    outputs:
      - {name: cost, label: Cost, type: number, required: true}
      - {name: ref, label: Reference, type: text}
`))
	if err != nil {
		t.Fatal(err)
	}
	defs, dir := bottest.Builtins(t)
	r := newRigOn(t, bottest.NewWith(t, append(defs, def), dir, []string{"olivia"}), api.Config{})
	admin := r.token("ops", api.ScopeAdmin, "")
	p := r.do("POST", "/api/v1/flows/cost/instances", admin, map[string]any{"data": map[string]any{}, "on_behalf_of": "alice"})
	r.want(p, http.StatusCreated, "")
	id := p.body["instance"].(string)
	p = r.do("POST", "/api/v1/instances/"+id+"/decisions", admin, `{"decision": "done", "on_behalf_of": "bob", "data": {"cost": 1.125, "ref": 2.500}}`)
	r.want(p, 200, "")
	in, err := r.Store.Get(t.Context(), id)
	if err != nil || in.Data["cost"] != 1.125 || in.Data["ref"] != "2.500" {
		t.Fatalf("outputs %v (%v)", in, err)
	}
}

// GET /flows says which form fields are internal: a system that builds its
// own form from it knows which to keep from people outside the workspace.
func TestFlowsSayWhichFieldsAreInternal(t *testing.T) {
	t.Parallel()
	def, err := flows.ParseDefinition("vendor.yaml", []byte(`
id: vendor
name: Vendor contract
owner: olivia
form:
  - {name: vendor, label: Vendor, type: text}
  - {name: cost_centre, label: Cost centre, type: text, internal: true}
steps:
  - {id: ok, type: approval, assignees: [manager]}
`))
	if err != nil {
		t.Fatal(err)
	}
	defs, dir := bottest.Builtins(t)
	r := newRigOn(t, bottest.NewWith(t, append(defs, def), dir, []string{"olivia"}), api.Config{})
	p := r.do("GET", "/api/v1/flows", r.token("reader", api.ScopeRead, ""), nil)
	r.want(p, 200, "")
	internal := map[string]any{}
	for _, f := range p.body["flows"].([]any) {
		if f := f.(map[string]any); f["id"] == "vendor" {
			for _, field := range f["form"].([]any) {
				field := field.(map[string]any)
				internal[field["name"].(string)] = field["internal"]
			}
		}
	}
	if want := map[string]any{"vendor": nil, "cost_centre": true}; !reflect.DeepEqual(internal, want) {
		t.Errorf("internal by field %v, want %v", internal, want)
	}
}
