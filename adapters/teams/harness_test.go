package teams

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/batonbot/baton/bot/bottest"
	"github.com/batonbot/baton/flows"
	"github.com/batonbot/baton/manifests"
)

// The test world: a fake Bot Framework identity provider (OpenID metadata
// and JWKS, signing with test RSA keys), a fake Entra token endpoint, and a
// fake Bot Connector (the serviceUrl) that records what the bot sends. The
// real validator, token source and connector client run against them.

const (
	testAppID    = "5f0e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
	testSecret   = "Zq8~tOpSecret.Bot-Password_42"
	testTenant   = "a1b2c3d4-0000-4000-8000-000000000001"
	testIssuer   = "https://api.botframework.com"
	recordedSURL = "https://smba.trafficmanager.net/emea/" // the serviceUrl in testdata/activities
)

// testKeys are RSA keys shared by the tests (generating them is slow).
var testKeys = sync.OnceValue(func() []*rsa.PrivateKey {
	keys := make([]*rsa.PrivateKey, 3)
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 1024) // small: the tests make several; real keys are 2048+
		if err != nil {
			panic(err)
		}
		keys[i] = k
	}
	return keys
})

// fakeIdP serves the Bot Framework OpenID metadata and key set.
type fakeIdP struct {
	srv          *httptest.Server
	mu           sync.Mutex
	published    map[string]*rsa.PrivateKey // kid -> key in the JWKS
	signing      map[string]*rsa.PrivateKey // kid -> key we can sign with
	endorse      []string
	metadataHits atomic.Int32
	keysHits     atomic.Int32
	keysServed   chan struct{} // when set, told each time the key set is served
}

func newIdP(t testing.TB) *fakeIdP {
	t.Helper()
	idp := &fakeIdP{published: map[string]*rsa.PrivateKey{}, signing: map[string]*rsa.PrivateKey{}, endorse: []string{"msteams"}}
	keys := testKeys()
	idp.signing["key-1"], idp.signing["key-2"], idp.signing["key-rogue"] = keys[0], keys[1], keys[2]
	idp.published["key-1"] = keys[0]
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/.well-known/openidconfiguration", func(w http.ResponseWriter, r *http.Request) {
		idp.metadataHits.Add(1)
		writeJSON(w, map[string]any{"issuer": testIssuer, "authorization_endpoint": "https://invalid.botframework.com",
			"jwks_uri": idp.srv.URL + "/v1/.well-known/keys", "id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("GET /v1/.well-known/keys", func(w http.ResponseWriter, r *http.Request) {
		idp.keysHits.Add(1)
		idp.mu.Lock()
		defer idp.mu.Unlock()
		var keys []any
		for _, kid := range slices.Sorted(maps.Keys(idp.published)) {
			k := idp.published[kid]
			keys = append(keys, map[string]any{"kty": "RSA", "use": "sig", "kid": kid,
				"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()), "e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes()),
				"endorsements": idp.endorse})
		}
		writeJSON(w, map[string]any{"keys": keys})
		if idp.keysServed != nil {
			select {
			case idp.keysServed <- struct{}{}:
			default:
			}
		}
	})
	idp.srv = httptest.NewServer(mux)
	t.Cleanup(idp.srv.Close)
	return idp
}

func (idp *fakeIdP) metadataURL() string { return idp.srv.URL + "/v1/.well-known/openidconfiguration" }

// publish adds a signing key to the key set (a key rotation).
func (idp *fakeIdP) publish(kid string) {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	idp.published[kid] = idp.signing[kid]
}

// claims are a valid token's claims for serviceURL.
func claims(serviceURL string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{"iss": testIssuer, "aud": testAppID, "serviceurl": serviceURL,
		"nbf": now.Add(-time.Minute).Unix(), "iat": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix()}
}

func (idp *fakeIdP) sign(t testing.TB, kid string, c jwt.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(idp.signing[kid])
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// fakeTokens is the Entra client-credentials endpoint.
type fakeTokens struct {
	srv   *httptest.Server
	hits  atomic.Int32
	paths sync.Map
}

func newTokens(t testing.TB) *fakeTokens {
	t.Helper()
	ft := &fakeTokens{}
	ft.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := ft.hits.Add(1)
		ft.paths.Store(r.URL.Path, true)
		_ = r.ParseForm()
		if r.Method != http.MethodPost || r.PostForm.Get("grant_type") != "client_credentials" || r.PostForm.Get("client_id") != testAppID ||
			r.PostForm.Get("client_secret") != testSecret || r.PostForm.Get("scope") != DefaultScope {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}`)
			return
		}
		writeJSON(w, map[string]any{"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600, "access_token": fmt.Sprintf("connector-token-%d", n)})
	}))
	t.Cleanup(ft.srv.Close)
	return ft
}

func (ft *fakeTokens) url() string { return ft.srv.URL + "/" + testTenant + "/oauth2/v2.0/token" }

// posted is one activity the bot sent, in its latest version.
type posted struct {
	Conv, ID, ReplyTo string
	Summary           string
	Card              map[string]any
	Versions          int
}

// text flattens the card's visible text.
func (p *posted) text() string { return cardText(p.Card) }

func cardText(v any) string {
	var b strings.Builder
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(x)) {
				if s, ok := x[k].(string); ok && (k == "text" || k == "title" || k == "value" || k == "label") {
					b.WriteString(s)
					b.WriteByte('\n')
					continue
				}
				walk(x[k])
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return b.String()
}

// fakeConnector is the Bot Connector of a serviceUrl.
type fakeConnector struct {
	srv   *httptest.Server
	mu    sync.Mutex
	n     int
	msgs  map[string]*posted // by activity id
	ord   []*posted
	conv  map[string]string                                     // created 1:1 chats: member id -> conversation id
	auth  []string                                              // Authorization headers seen
	calls []string                                              // "METHOD path"
	fail  func(r *http.Request) (status int, retryAfter string) // injected failures; status 0: none
}

func newFakeConnector(t testing.TB) *fakeConnector {
	t.Helper()
	fc := &fakeConnector{msgs: map[string]*posted{}, conv: map[string]string{}}
	fc.srv = httptest.NewServer(http.HandlerFunc(fc.serve))
	t.Cleanup(fc.srv.Close)
	return fc
}

func (fc *fakeConnector) serviceURL() string { return fc.srv.URL + "/emea/" }

func (fc *fakeConnector) serve(w http.ResponseWriter, r *http.Request) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.auth = append(fc.auth, r.Header.Get("Authorization"))
	fc.calls = append(fc.calls, r.Method+" "+r.URL.EscapedPath())
	if fc.fail != nil {
		if status, after := fc.fail(r); status != 0 {
			if after != "" {
				w.Header().Set("Retry-After", after)
			}
			w.WriteHeader(status)
			_, _ = io.WriteString(w, `{"error":{"code":"Throttled","message":"slow down"}}`)
			return
		}
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer connector-token-") {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	path := r.URL.EscapedPath()
	i := strings.Index(path, "/v3/conversations")
	if i < 0 {
		http.NotFound(w, r)
		return
	}
	var segs []string
	for _, s := range strings.Split(strings.Trim(path[i+len("/v3/conversations"):], "/"), "/") {
		u, _ := url.PathUnescape(s)
		segs = append(segs, u)
	}
	body, _ := io.ReadAll(r.Body)
	var act struct {
		Type, ID, Summary, ReplyToID string
		Attachments                  []struct {
			ContentType string
			Content     map[string]any
		}
		Members []struct{ ID string }
	}
	if err := json.Unmarshal(body, &act); err != nil && len(body) > 0 {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var c map[string]any
	if len(act.Attachments) == 1 && act.Attachments[0].ContentType == cardContentType {
		c = act.Attachments[0].Content
	}
	switch {
	case r.Method == http.MethodPost && segs[0] == "": // create a conversation
		if len(act.Members) != 1 {
			http.Error(w, "one member", http.StatusBadRequest)
			return
		}
		id := "a:created-" + act.Members[0].ID
		fc.conv[act.Members[0].ID] = id
		writeJSON(w, map[string]any{"id": id})
	case r.Method == http.MethodPost && len(segs) >= 2 && segs[1] == "activities":
		fc.n++
		p := &posted{Conv: segs[0], ID: fmt.Sprintf("act-%d", fc.n), Summary: act.Summary, Card: c, Versions: 1}
		if len(segs) == 3 {
			p.ReplyTo = segs[2]
			if act.ReplyToID != segs[2] {
				http.Error(w, "replyToId differs from the path", http.StatusBadRequest)
				return
			}
		}
		fc.msgs[p.ID] = p
		fc.ord = append(fc.ord, p)
		writeJSON(w, map[string]any{"id": p.ID})
	case r.Method == http.MethodPut && len(segs) == 3 && segs[1] == "activities":
		p := fc.msgs[segs[2]]
		if p == nil || p.Conv != segs[0] || act.ID != segs[2] {
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":{"code":"ActivityNotFoundInConversation","message":"unknown activity"}}`)
			return
		}
		p.Card, p.Summary = c, act.Summary
		p.Versions++
		writeJSON(w, map[string]any{"id": p.ID})
	default:
		http.NotFound(w, r)
	}
}

// in returns the messages of a conversation, oldest first.
func (fc *fakeConnector) in(conv string) []*posted {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	var out []*posted
	for _, p := range fc.ord {
		if p.Conv == conv {
			cp := *p
			out = append(out, &cp)
		}
	}
	return out
}

// last is the newest message of a conversation.
func (fc *fakeConnector) last(t testing.TB, conv string) *posted {
	t.Helper()
	msgs := fc.in(conv)
	if len(msgs) == 0 {
		t.Fatalf("nothing was posted in %s", conv)
	}
	return msgs[len(msgs)-1]
}

func (fc *fakeConnector) get(id string) *posted {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if p := fc.msgs[id]; p != nil {
		cp := *p
		return &cp
	}
	return nil
}

func (fc *fakeConnector) count() int {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return len(fc.calls)
}

// syncBuffer is a log sink tests can read while the adapter writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// world is Baton's runtime (bottest) with the Teams adapter over the fakes.
type world struct {
	t    testing.TB
	rig  *bottest.Rig
	a    *Adapter
	idp  *fakeIdP
	tok  *fakeTokens
	conn *fakeConnector
	logs *syncBuffer

	mu    sync.Mutex
	waits []time.Duration // what the connector would have slept
}

// teamsID and chat are a person's Teams user id and 1:1 chat in the tests.
func teamsID(person string) string { return "29:1" + person }
func chat(person string) string    { return "a:1" + person + "-chat" }

// danaAAD is dana's Entra object id: she is in the directory by it, and
// never wrote to Baton, so Baton must open her chat.
const danaAAD = "d4a4a000-0000-4000-8000-0000000000da"

// testDirectory is the demo directory with Teams identities (and, for
// carol, a Slack one too) and the finance channel in a Team.
func testDirectory(t testing.TB) *flows.Directory {
	t.Helper()
	demo, err := flows.ParseDirectory("directory.yaml", manifests.Directory)
	if err != nil {
		t.Fatal(err)
	}
	people := demo.People()
	for i := range people {
		people[i].Teams = teamsID(people[i].ID)
		switch people[i].ID {
		case "dana":
			people[i].Teams = danaAAD
		case "carol":
			people[i].Slack = "UCAROL"
		case "alice":
			people[i].Slack = "UALICE"
		}
	}
	channels := demo.Channels()
	for i := range channels {
		channels[i].Teams = "19:" + channels[i].ID + "@thread.tacv2"
	}
	dir, err := flows.NewDirectory(people, channels)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func newWorld(t testing.TB, tweak ...func(*Config)) *world {
	t.Helper()
	return newWorldIn(t, testDirectory(t), tweak...)
}

// newWorldIn is newWorld with another directory.
func newWorldIn(t testing.TB, dir *flows.Directory, tweak ...func(*Config)) *world {
	t.Helper()
	defs, err := flows.LoadDefinitions(manifests.Flows, "flows")
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, rig: bottest.NewWith(t, defs, dir, []string{"olivia"}), idp: newIdP(t), tok: newTokens(t),
		conn: newFakeConnector(t), logs: &syncBuffer{}}
	cfg := Config{AppID: testAppID, AppPassword: testSecret, TenantID: testTenant, OpenIDMetadataURL: w.idp.metadataURL(),
		TokenURL: w.tok.url(), ServiceURL: w.conn.serviceURL(), Pace: rate.Inf, GlobalPace: rate.Inf, Timeout: 5 * time.Second}
	for _, f := range tweak {
		f(&cfg)
	}
	log := slog.New(slog.NewTextHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := New(cfg, w.rig.Svc, w.rig.Store, log)
	if err != nil {
		t.Fatal(err)
	}
	a.conn.sleep = func(ctx context.Context, d time.Duration) error {
		w.mu.Lock()
		w.waits = append(w.waits, d)
		w.mu.Unlock()
		return ctx.Err()
	}
	keys := 0
	a.newKey = func() string { keys++; return fmt.Sprintf("form-key-%d", keys) }
	w.a = a
	w.rig.Use(a)
	return w
}

// activity loads a recorded activity from testdata/activities, moved to
// the fake connector's serviceUrl, and applies edits.
func (w *world) activity(name string, edit func(map[string]any)) map[string]any {
	w.t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "activities", name+".json"))
	if err != nil {
		w.t.Fatal(err)
	}
	raw = bytes.ReplaceAll(raw, []byte(recordedSURL), []byte(w.conn.serviceURL()))
	var act map[string]any
	if err := json.Unmarshal(raw, &act); err != nil {
		w.t.Fatalf("%s: %v", name, err)
	}
	if edit != nil {
		edit(act)
	}
	return act
}

// post sends an activity with a valid token and returns the answer.
func (w *world) post(act map[string]any) *httptest.ResponseRecorder {
	w.t.Helper()
	su, _ := act["serviceUrl"].(string)
	return w.postWith(act, "Bearer "+w.idp.sign(w.t, "key-1", claims(su)))
}

func (w *world) postWith(act any, authorization string) *httptest.ResponseRecorder {
	w.t.Helper()
	body, err := json.Marshal(act)
	if err != nil {
		w.t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/api/messages", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	rec := httptest.NewRecorder()
	w.a.Handler().ServeHTTP(rec, req)
	return rec
}

var activitySeq atomic.Int64

// as makes an activity come from person in their 1:1 chat with Baton.
func as(person string) func(map[string]any) {
	return func(act map[string]any) {
		act["id"] = fmt.Sprintf("f:%d", activitySeq.Add(1))
		from := act["from"].(map[string]any)
		from["id"], from["name"] = teamsID(person), person
		delete(from, "aadObjectId")
		if person == "dana" {
			from["aadObjectId"] = danaAAD
		}
		conv := act["conversation"].(map[string]any)
		conv["id"], conv["conversationType"] = chat(person), "personal"
	}
}

// install is person adding Baton for themselves.
func (w *world) install(person string) {
	w.t.Helper()
	if rec := w.post(w.activity("installationUpdate", as(person))); rec.Code != http.StatusOK {
		w.t.Fatalf("install for %s: %d %s", person, rec.Code, rec.Body)
	}
}

// say is person typing text to Baton; it returns Baton's answer.
func (w *world) say(person, text string) *posted {
	w.t.Helper()
	before := len(w.conn.in(chat(person)))
	rec := w.post(w.activity("message", func(act map[string]any) {
		as(person)(act)
		act["text"] = text
	}))
	if rec.Code != http.StatusOK {
		w.t.Fatalf("%s says %q: %d %s", person, text, rec.Code, rec.Body)
	}
	msgs := w.conn.in(chat(person))
	if len(msgs) != before+1 {
		w.t.Fatalf("%s says %q: %d answers", person, text, len(msgs)-before)
	}
	return msgs[len(msgs)-1]
}

// answer is the decoded body of an invoke's HTTP answer.
type answer struct {
	StatusCode int             `json:"statusCode"`
	Type       string          `json:"type"`
	Value      json.RawMessage `json:"value"`
}

func (an answer) card() map[string]any {
	var c map[string]any
	_ = json.Unmarshal(an.Value, &c)
	return c
}

func (an answer) message() string {
	var s string
	_ = json.Unmarshal(an.Value, &s)
	return s
}

// findAction finds the Action.Execute with verb on a card (also inside
// Action.ShowCard cards), optionally for one instance.
func findAction(c any, verb, instance string) map[string]any {
	switch x := c.(type) {
	case map[string]any:
		if x["type"] == "Action.Execute" && x["verb"] == verb {
			if d, _ := x["data"].(map[string]any); instance == "" || d[keyInstance] == instance {
				return x
			}
		}
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if a := findAction(x[k], verb, instance); a != nil {
				return a
			}
		}
	case []any:
		for _, e := range x {
			if a := findAction(e, verb, instance); a != nil {
				return a
			}
		}
	}
	return nil
}

// click presses the button with verb on a card person sees in the
// conversation conv, with inputs typed, and returns the invoke's answer.
func (w *world) click(person, conv string, c map[string]any, replyTo, verb string, inputs map[string]string) answer {
	w.t.Helper()
	act := findAction(c, verb, "")
	if act == nil {
		w.t.Fatalf("%s: no %q button on the card:\n%s", person, verb, cardText(c))
	}
	data := map[string]any{}
	for k, v := range act["data"].(map[string]any) {
		data[k] = v
	}
	for k, v := range inputs {
		data[k] = v
	}
	return w.invoke(person, conv, replyTo, verb, data)
}

func (w *world) invoke(person, conv, replyTo, verb string, data map[string]any) answer {
	w.t.Helper()
	rec := w.post(w.activity("invoke", func(act map[string]any) {
		as(person)(act)
		act["conversation"].(map[string]any)["id"] = conv
		if strings.HasPrefix(conv, "19:") { // a channel's (or a thread of it)
			act["conversation"].(map[string]any)["conversationType"] = "channel"
		}
		act["replyToId"] = replyTo
		act["value"] = map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": verb, "data": data}, "trigger": "manual"}
	}))
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		w.t.Fatalf("%s presses %s: HTTP %d %s", person, verb, rec.Code, rec.Body)
	}
	var an answer
	if err := json.Unmarshal(rec.Body.Bytes(), &an); err != nil {
		w.t.Fatalf("%s presses %s: %v: %s", person, verb, err, rec.Body)
	}
	return an
}

func mustContain(t testing.TB, where, s string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(s, want) {
			t.Fatalf("%s lacks %q:\n%s", where, want, s)
		}
	}
}
