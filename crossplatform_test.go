package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
	"github.com/batonbot/baton/storage"
	"github.com/batonbot/baton/storage/storagetest"
)

// Baton assembled as in production (build and the platform wiring of
// main_slack.go and main_teams.go, configured by environment variables), with
// both chat platforms pointed at local stand-ins: a Slack Web API that
// records every call, and Microsoft's side of Teams (OpenID metadata and
// signing keys, the Entra token endpoint, and a Bot Connector serviceUrl that
// records every activity). Inbound requests are signed as Slack and the Bot
// Framework sign them, and go through Baton's real HTTP server.
//
// The stand-ins are small and written here: the adapters' own (fakeSlack,
// fakeIdP, fakeConnector) live in _test.go files of their packages, which
// this package cannot import. The recorded payloads in the adapters'
// testdata are reused.

const (
	xSlackToken  = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy"
	xSlackSecret = "8f742231b10e8888abcd99yyyzzz85a5"
	xAppID       = "5f0e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
	xAppSecret   = "Zq8~tOpSecret.Bot-Password_42"
	xTenant      = "a1b2c3d4-0000-4000-8000-000000000001"
	xIssuer      = "https://api.botframework.com"
	xRecordedURL = "https://smba.trafficmanager.net/emea/" // the serviceUrl in the recorded activities
)

// crossDirectory links people to one platform or the other: Alice asks on
// Slack, her manager Bob lives in Teams, and the finance group has Carol on
// Slack and Frank in Teams. Procurement has a channel on both.
const crossDirectory = `people:
  - {id: alice, name: Alice Martin, email: alice@example.com, slack: U0ALICE, manager: bob, timezone: Europe/London}
  - {id: bob, name: Bob Chen, email: bob@example.com, teams: "29:1bob", manager: dana, timezone: Europe/London}
  - {id: carol, name: Carol Diaz, email: carol@example.com, slack: U0CAROL, manager: dana, timezone: America/New_York, groups: [finance]}
  - {id: frank, name: Frank Osei, email: frank@example.com, teams: "29:1frank", manager: dana, timezone: America/New_York, groups: [finance]}
  - {id: dana, name: Dana Kowalski, email: dana@example.com, slack: U0DANA, teams: "29:1dana", timezone: Europe/Paris}
  - {id: olivia, name: Olivia Brown, email: olivia@example.com, slack: U0OLIVIA, manager: dana, timezone: Europe/London}
channels:
  - {id: finance, name: "#finance", slack: C0FINANCE}
  - {id: procurement, name: "#procurement", slack: C0PROCURE, teams: "19:procurement@thread.tacv2"}
`

// logSink is a log destination tests read while Baton writes.
type logSink struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// changes lets a stand-in tell waiters that it received something.
type changes struct {
	mu sync.Mutex
	ch chan struct{}
}

func (c *changes) signal() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch != nil {
		close(c.ch)
	}
	c.ch = make(chan struct{})
}

func (c *changes) next() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch == nil {
		c.ch = make(chan struct{})
	}
	return c.ch
}

// waitUntil blocks until cond holds, re-checking whenever c signals; it
// fails the test after 10 s. It is for work Baton does in the background
// (a modal opened after the acknowledgement): no fixed sleeps.
func waitUntil(t *testing.T, c *changes, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		next := c.next()
		if cond() {
			return
		}
		select {
		case <-next:
		case <-deadline.C:
			t.Fatalf("waited 10 s for %s", what)
		}
	}
}

// ---- Slack ----

// slackCall is one request the Slack stand-in received.
type slackCall struct {
	Method string
	Params map[string]any // form values or the JSON body
	Auth   string         // the bearer token (or token field)
	TS     string         // chat.postMessage: the ts assigned
}

func (c slackCall) str(k string) string {
	switch v := c.Params[k].(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

func (c slackCall) blocks() []any {
	raw := c.Params["blocks"]
	if s, ok := raw.(string); ok {
		raw = nil
		_ = json.Unmarshal([]byte(s), &raw)
	}
	if v, ok := c.Params["view"].(map[string]any); ok {
		raw = v["blocks"]
	}
	b, _ := raw.([]any)
	return b
}

// text is every text object of the call's blocks, joined.
func (c slackCall) text() string {
	var words []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(x)) {
				if s, ok := x[k].(string); ok && k == "text" {
					words = append(words, s)
				} else {
					walk(x[k])
				}
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(c.blocks())
	return strings.Join(words, " | ")
}

// buttons are the values of the call's buttons.
func (c slackCall) buttons() []string {
	var out []string
	for _, b := range c.blocks() {
		bm, _ := b.(map[string]any)
		if bm["type"] != "actions" {
			continue
		}
		for _, e := range bm["elements"].([]any) {
			if v, ok := e.(map[string]any)["value"].(string); ok {
				out = append(out, v)
			}
		}
	}
	return out
}

// summary is the call on one line: method, where, fallback text, buttons.
func (c slackCall) summary() string {
	s := c.Method
	switch {
	case c.Method == "chat.postMessage" || c.Method == "chat.update":
		s += " " + c.str("channel")
		if c.Method == "chat.postMessage" && c.str("thread_ts") != "" {
			s += " in thread"
			if c.str("reply_broadcast") == "true" {
				s += " broadcast"
			}
		}
		s += ": " + c.str("text")
	case c.Method == "conversations.open":
		s += " " + c.str("users")
	case c.Method == "views.open":
		v, _ := c.Params["view"].(map[string]any)
		s += fmt.Sprintf(" %v", v["callback_id"])
	case strings.HasPrefix(c.Method, "response/"):
		s = "response_url: " + c.str("text")
	}
	if b := c.buttons(); len(b) > 0 {
		s += " [" + strings.Join(b, " ") + "]"
	}
	return s
}

// slackAPI stands in for the Slack Web API (SLACK_API_URL) and for
// response_url endpoints.
type slackAPI struct {
	srv     *httptest.Server
	changes changes
	mu      sync.Mutex
	calls   []slackCall
	seq     int
	seen    int               // calls already taken
	refuse  map[string]string // channel -> the error chat.postMessage answers there
}

func newSlackAPI(t *testing.T) *slackAPI {
	s := &slackAPI{}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *slackAPI) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c := slackCall{Method: strings.TrimPrefix(r.URL.Path, "/"), Params: map[string]any{}}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		_ = json.Unmarshal(body, &c.Params)
	} else {
		v, _ := url.ParseQuery(string(body))
		for k := range v {
			c.Params[k] = v.Get(k)
		}
	}
	c.Auth = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if tok := c.str("token"); tok != "" {
		c.Auth = tok
		delete(c.Params, "token")
	}
	answer := map[string]any{"ok": true}
	s.mu.Lock()
	switch m := c.Method; {
	case m == "chat.postMessage" && s.refuse[c.str("channel")] != "":
		answer = map[string]any{"ok": false, "error": s.refuse[c.str("channel")]}
	case m == "chat.postMessage":
		s.seq++
		c.TS = fmt.Sprintf("1764147600.%06d", s.seq)
		answer["channel"], answer["ts"] = c.str("channel"), c.TS
	case m == "chat.update":
		answer["channel"], answer["ts"] = c.str("channel"), c.str("ts")
	case m == "conversations.open":
		answer["channel"] = map[string]any{"id": "D" + strings.TrimPrefix(c.str("users"), "U")}
	case m == "views.open":
		answer["view"] = map[string]any{"id": "V0OPEN" + strconv.Itoa(len(s.calls))}
	case m == "auth.test":
		answer = map[string]any{"ok": true, "team": "Baton Test", "team_id": "T0BATON", "user_id": "U0BATONBOT", "bot_id": "B0BATON"}
	case strings.HasPrefix(m, "response/"):
		answer = nil
	default:
		answer = map[string]any{"ok": false, "error": "unknown_method"}
	}
	s.calls = append(s.calls, c)
	s.mu.Unlock()
	if answer == nil {
		_, _ = io.WriteString(w, "ok")
	} else {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(answer)
	}
	s.changes.signal()
}

func (s *slackAPI) all() []slackCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// waitFor waits until a call of method arrives (after the last take).
func (s *slackAPI) waitFor(t *testing.T, method string) {
	t.Helper()
	waitUntil(t, &s.changes, method, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return slices.ContainsFunc(s.calls[s.seen:], func(c slackCall) bool { return c.Method == method })
	})
}

// take returns the calls received since the last take.
func (s *slackAPI) take() []slackCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.calls[s.seen:])
	s.seen = len(s.calls)
	return out
}

// ---- Teams ----

// teamsMsg is an activity Baton posted to the Bot Connector, in its latest
// version.
type teamsMsg struct {
	Conv, ID string
	ReplyTo  string // a reply in the thread of this activity
	Summary  string
	Card     map[string]any
	Versions int
}

// cardText is the visible text of an Adaptive Card, one line per text.
func cardText(v any) string {
	var b strings.Builder
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(x)) {
				if s, ok := x[k].(string); ok && (k == "text" || k == "title") {
					b.WriteString(s + "\n")
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

// verbs lists a card's Action.Execute verbs (also in Action.ShowCard cards).
func verbs(v any) []string {
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if x["type"] == "Action.Execute" {
				out = append(out, x["verb"].(string))
			}
			for _, k := range slices.Sorted(maps.Keys(x)) {
				walk(x[k])
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

// actionData is the data of the card's Action.Execute with verb.
func actionData(t *testing.T, c map[string]any, verb string) map[string]any {
	t.Helper()
	var found map[string]any
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if x["type"] == "Action.Execute" && x["verb"] == verb && found == nil {
				found = x["data"].(map[string]any)
			}
			for _, k := range slices.Sorted(maps.Keys(x)) {
				walk(x[k])
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(c)
	if found == nil {
		t.Fatalf("no %q action on the card:\n%s", verb, cardText(c))
	}
	return found
}

// microsoft stands in for Microsoft's side of Teams: the Bot Framework
// OpenID metadata and signing keys, the tenant's token endpoint, and the
// Bot Connector of a serviceUrl.
type microsoft struct {
	key       *rsa.PrivateKey
	idp       *httptest.Server
	tokens    *httptest.Server
	connector *httptest.Server
	changes   changes

	mu         sync.Mutex
	tokenCalls []string // "path client_id scope"
	calls      []string // connector: "METHOD path"
	auth       []string // connector: Authorization headers
	seen       int
	n          int
	msgs       map[string]*teamsMsg
	ord        []*teamsMsg
}

func newMicrosoft(t *testing.T) *microsoft {
	// A small key: generating it is the slow part of the test; Microsoft's are 2048 bits.
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ms := &microsoft{key: key, msgs: map[string]*teamsMsg{}}
	idp := http.NewServeMux()
	idp.HandleFunc("GET /v1/.well-known/openidconfiguration", func(w http.ResponseWriter, r *http.Request) {
		writeJSONTo(w, map[string]any{"issuer": xIssuer, "jwks_uri": ms.idp.URL + "/v1/.well-known/keys",
			"id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	idp.HandleFunc("GET /v1/.well-known/keys", func(w http.ResponseWriter, r *http.Request) {
		writeJSONTo(w, map[string]any{"keys": []any{map[string]any{"kty": "RSA", "use": "sig", "kid": "key-1",
			"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()), "e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
			"endorsements": []string{"msteams"}}}})
	})
	ms.idp = httptest.NewServer(idp)
	t.Cleanup(ms.idp.Close)
	ms.tokens = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		ms.mu.Lock()
		ms.tokenCalls = append(ms.tokenCalls, r.URL.Path+" "+r.PostForm.Get("client_id")+" "+r.PostForm.Get("scope"))
		ms.mu.Unlock()
		if r.PostForm.Get("grant_type") != "client_credentials" || r.PostForm.Get("client_id") != xAppID || r.PostForm.Get("client_secret") != xAppSecret {
			w.WriteHeader(http.StatusUnauthorized)
			writeJSONTo(w, map[string]any{"error": "invalid_client"})
			return
		}
		writeJSONTo(w, map[string]any{"token_type": "Bearer", "expires_in": 3600, "access_token": "connector-token"})
	}))
	t.Cleanup(ms.tokens.Close)
	ms.connector = httptest.NewServer(http.HandlerFunc(ms.serveConnector))
	t.Cleanup(ms.connector.Close)
	return ms
}

func writeJSONTo(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (ms *microsoft) serviceURL() string { return ms.connector.URL + "/emea/" }

// serveConnector answers the Bot Connector calls Baton makes: open a 1:1
// chat, send an activity, update one.
func (ms *microsoft) serveConnector(w http.ResponseWriter, r *http.Request) {
	defer ms.changes.signal()
	ms.mu.Lock()
	defer ms.mu.Unlock()
	path := r.URL.EscapedPath()
	ms.calls = append(ms.calls, r.Method+" "+strings.TrimPrefix(path, "/emea"))
	ms.auth = append(ms.auth, r.Header.Get("Authorization"))
	if r.Header.Get("Authorization") != "Bearer connector-token" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	rest, ok := strings.CutPrefix(path, "/emea/v3/conversations")
	if !ok {
		http.NotFound(w, r)
		return
	}
	var segs []string
	for _, s := range strings.Split(strings.Trim(rest, "/"), "/") {
		u, _ := url.PathUnescape(s)
		segs = append(segs, u)
	}
	var act struct {
		Type, ID, Summary, ReplyToID string
		Attachments                  []struct {
			ContentType string
			Content     map[string]any
		}
		Members []struct{ ID string }
	}
	_ = json.NewDecoder(r.Body).Decode(&act)
	var card map[string]any
	if len(act.Attachments) == 1 && act.Attachments[0].ContentType == "application/vnd.microsoft.card.adaptive" {
		card = act.Attachments[0].Content
	}
	switch {
	case r.Method == http.MethodPost && segs[0] == "" && len(act.Members) == 1:
		writeJSONTo(w, map[string]any{"id": "a:created-" + act.Members[0].ID})
	case r.Method == http.MethodPost && (len(segs) == 2 || len(segs) == 3 && act.ReplyToID == segs[2]) && segs[1] == "activities":
		ms.n++
		m := &teamsMsg{Conv: segs[0], ID: fmt.Sprintf("act-%d", ms.n), Summary: act.Summary, Card: card, Versions: 1}
		if len(segs) == 3 {
			m.ReplyTo = segs[2]
		}
		ms.msgs[m.ID] = m
		ms.ord = append(ms.ord, m)
		writeJSONTo(w, map[string]any{"id": m.ID})
	case r.Method == http.MethodPut && len(segs) == 3 && segs[1] == "activities" && ms.msgs[segs[2]] != nil && ms.msgs[segs[2]].Conv == segs[0]:
		m := ms.msgs[segs[2]]
		m.Card, m.Summary = card, act.Summary
		m.Versions++
		writeJSONTo(w, map[string]any{"id": m.ID})
	default:
		w.WriteHeader(http.StatusNotFound)
		writeJSONTo(w, map[string]any{"error": map[string]any{"code": "NotFound", "message": "not a call Baton should make"}})
	}
}

// takeCalls returns the connector calls since the last take.
func (ms *microsoft) takeCalls() []string {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	out := slices.Clone(ms.calls[ms.seen:])
	ms.seen = len(ms.calls)
	return out
}

// last is the newest activity posted in conv.
func (ms *microsoft) last(t *testing.T, conv string) teamsMsg {
	t.Helper()
	ms.mu.Lock()
	defer ms.mu.Unlock()
	for i := len(ms.ord) - 1; i >= 0; i-- {
		if ms.ord[i].Conv == conv {
			return *ms.ord[i]
		}
	}
	t.Fatalf("nothing was posted in %s", conv)
	return teamsMsg{}
}

// lastReply is the newest activity posted in conv in the thread of card.
func (ms *microsoft) lastReply(t *testing.T, conv, card string) teamsMsg {
	t.Helper()
	ms.mu.Lock()
	defer ms.mu.Unlock()
	for i := len(ms.ord) - 1; i >= 0; i-- {
		if ms.ord[i].Conv == conv && ms.ord[i].ReplyTo == card {
			return *ms.ord[i]
		}
	}
	t.Fatalf("nothing was posted in %s in reply to %s", conv, card)
	return teamsMsg{}
}

func (ms *microsoft) get(id string) teamsMsg {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return *ms.msgs[id]
}

// token is a Bot Connector → bot token for serviceURL, signed by the
// published key unless key says otherwise.
func (ms *microsoft) token(t *testing.T, serviceURL string, key *rsa.PrivateKey) string {
	t.Helper()
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": xIssuer, "aud": xAppID, "serviceurl": serviceURL,
		"nbf": now.Add(-time.Minute).Unix(), "iat": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix()})
	tok.Header["kid"] = "key-1"
	if key == nil {
		key = ms.key
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ---- the assembled Baton ----

type crossWorld struct {
	t     *testing.T
	a     *app
	srv   *httptest.Server
	clock *clockwork.FakeClock
	slack *slackAPI
	ms    *microsoft
	logs  *logSink
	seq   int
}

func newCrossWorld(t *testing.T) *crossWorld {
	t.Helper()
	return newCrossWorldOn(t, storagetest.Default(t).Client, storage.Config{Prefix: storagetest.Prefix(), Shards: 4})
}

// newCrossWorldOn is newCrossWorld keeping its data in rdb, under store.
func newCrossWorldOn(t *testing.T, rdb redis.UniversalClient, store storage.Config) *crossWorld {
	t.Helper()
	x := &crossWorld{t: t, slack: newSlackAPI(t), ms: newMicrosoft(t), logs: &logSink{}, clock: clockwork.NewFakeClockAt(t0)}
	dirFile := filepath.Join(t.TempDir(), "directory.yaml")
	if err := os.WriteFile(dirFile, []byte(crossDirectory), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := env(
		"BATON_DIRECTORY", dirFile,
		"BATON_HTTP_ADDR", "127.0.0.1:0",
		"BATON_LOG_LEVEL", "debug",
		"SLACK_BOT_TOKEN", xSlackToken,
		"SLACK_SIGNING_SECRET", xSlackSecret,
		"SLACK_API_URL", x.slack.srv.URL+"/",
		"MicrosoftAppId", xAppID,
		"MicrosoftAppPassword", xAppSecret,
		"MicrosoftAppTenantId", xTenant,
		"TEAMS_OPENID_METADATA_URL", x.ms.idp.URL+"/v1/.well-known/openidconfiguration",
		"TEAMS_TOKEN_URL", x.ms.tokens.URL+"/"+xTenant+"/oauth2/v2.0/token",
	)
	cfg, err := bot.LoadConfig(nil, getenv, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	a, err := build(t.Context(), cfg, getenv, cfg.Logger(x.logs), rdb, x.clock, store)
	if err != nil {
		t.Fatal(err)
	}
	x.a = a
	t.Cleanup(func() {
		if err := a.store.DeleteAll(context.Background()); err != nil {
			t.Errorf("clean up: %v", err)
		}
	})
	var names []string
	for _, p := range a.platforms {
		names = append(names, p.name)
	}
	if !slices.Equal(names, []string{"slack", "teams"}) || a.console != nil {
		t.Fatalf("platforms %v, console %v: want slack and teams, no console", names, a.console != nil)
	}
	// The platforms' background work and the daily digests run as serve
	// runs them; stopping them at the end waits for what the Slack adapter
	// started in the background.
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	var wg sync.WaitGroup
	for _, p := range a.platforms {
		wg.Go(func() {
			if err := p.run(ctx); err != nil {
				t.Errorf("%s: %v", p.name, err)
			}
		})
	}
	wg.Go(func() {
		if err := a.digests.Run(ctx); err != nil {
			t.Errorf("digests: %v", err)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	// Each timezone's digest job waits on the clock (nothing else does).
	if err := x.clock.BlockUntilContext(t.Context(), len(a.digests.Zones(t.Context()))); err != nil {
		t.Fatal(err)
	}
	x.srv = httptest.NewServer(a.server.Handler())
	t.Cleanup(x.srv.Close)
	waitUntil(t, &x.slack.changes, "Slack's auth.test at start-up", func() bool {
		return slices.ContainsFunc(x.slack.all(), func(c slackCall) bool { return c.Method == "auth.test" })
	})
	x.slack.take()
	return x
}

func (x *crossWorld) next() string { x.seq++; return strconv.Itoa(x.seq) }

// drain delivers the outbox.
func (x *crossWorld) drain() {
	x.t.Helper()
	if _, err := x.a.dispatcher.Drain(x.t.Context()); err != nil {
		x.t.Fatal(err)
	}
}

// postSlack sends a request to Baton signed as Slack signs it.
func (x *crossWorld) postSlack(path string, form url.Values) (int, []byte) {
	x.t.Helper()
	body := []byte(form.Encode())
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(xSlackSecret))
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	req, _ := http.NewRequest(http.MethodPost, x.srv.URL+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		x.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (x *crossWorld) fixture(path string) map[string]any {
	x.t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		x.t.Fatal(err)
	}
	raw = bytes.ReplaceAll(raw, []byte(xRecordedURL), []byte(x.ms.serviceURL()))
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		x.t.Fatalf("%s: %v", path, err)
	}
	return m
}

// slashCommand runs /baton text as a Slack user (the recorded command).
func (x *crossWorld) slashCommand(user, text string) (int, []byte) {
	x.t.Helper()
	raw, err := os.ReadFile("adapters/slack/testdata/command.txt")
	if err != nil {
		x.t.Fatal(err)
	}
	v, err := url.ParseQuery(strings.TrimSpace(string(raw)))
	if err != nil {
		x.t.Fatal(err)
	}
	n := x.next()
	v.Set("user_id", user)
	v.Set("text", text)
	v.Set("trigger_id", "trigger-cmd-"+n)
	v.Set("response_url", x.slack.srv.URL+"/response/cmd-"+n)
	return x.postSlack("/slack/commands", v)
}

// slackSubmit submits a modal (the recorded view_submission) and returns
// the acknowledgement.
func (x *crossWorld) slackSubmit(user, viewID, callback, meta string, values map[string]any) map[string]any {
	x.t.Helper()
	p := x.fixture("adapters/slack/testdata/view_submission.json")
	p["user"].(map[string]any)["id"] = user
	p["trigger_id"] = "trigger-submit-" + x.next()
	v := p["view"].(map[string]any)
	v["id"], v["callback_id"], v["private_metadata"] = viewID, callback, meta
	state := map[string]any{}
	for block, el := range values {
		state[block] = map[string]any{"value": el}
	}
	v["state"] = map[string]any{"values": state}
	payload, _ := json.Marshal(p)
	code, body := x.postSlack("/slack/interactions", url.Values{"payload": {string(payload)}})
	if code != http.StatusOK {
		x.t.Fatalf("submit %s: %d %s", callback, code, body)
	}
	var ack map[string]any
	if err := json.Unmarshal(body, &ack); err != nil {
		x.t.Fatalf("submit %s: answer %q: %v", callback, body, err)
	}
	return ack
}

// slackClick clicks the button with value on a card in a DM (the recorded
// block_actions); it checks the click is acknowledged with an empty 200.
func (x *crossWorld) slackClick(user, value, channel, ts string) {
	x.t.Helper()
	p := x.fixture("adapters/slack/testdata/block_actions.json")
	n := x.next()
	p["user"].(map[string]any)["id"] = user
	p["trigger_id"] = "trigger-click-" + n
	p["channel"].(map[string]any)["id"] = channel
	p["container"].(map[string]any)["channel_id"] = channel
	p["container"].(map[string]any)["message_ts"] = ts
	p["message"].(map[string]any)["ts"] = ts
	p["response_url"] = x.slack.srv.URL + "/response/click-" + n
	act := p["actions"].([]any)[0].(map[string]any)
	act["value"] = value
	act["action_id"] = "baton:" + strings.Split(value, "|")[1] + ":0"
	act["action_ts"] = "1764147601." + n
	payload, _ := json.Marshal(p)
	if code, body := x.postSlack("/slack/interactions", url.Values{"payload": {string(payload)}}); code != http.StatusOK || len(body) != 0 {
		x.t.Fatalf("click %s by %s: %d %s", value, user, code, body)
	}
}

// postTeams sends an activity to Baton's messaging endpoint with a token
// the Bot Connector would send.
func (x *crossWorld) postTeams(act map[string]any, authorization string) *http.Response {
	x.t.Helper()
	body, _ := json.Marshal(act)
	req, _ := http.NewRequest(http.MethodPost, x.srv.URL+"/api/messages", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", authorization)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		x.t.Fatal(err)
	}
	return resp
}

// teamsActivity is a recorded activity from person's 1:1 chat with Baton.
func (x *crossWorld) teamsActivity(name, person string) map[string]any {
	act := x.fixture("adapters/teams/testdata/activities/" + name + ".json")
	act["id"] = "f:" + x.next()
	act["from"] = map[string]any{"id": "29:1" + person, "name": person}
	act["conversation"] = map[string]any{"id": "a:1" + person + "-chat", "conversationType": "personal", "tenantId": xTenant}
	act["channelData"] = map[string]any{"tenant": map[string]any{"id": xTenant}}
	return act
}

// invokeAnswer is the body of an invoke's HTTP answer.
type invokeAnswer struct {
	StatusCode int             `json:"statusCode"`
	Type       string          `json:"type"`
	Value      json.RawMessage `json:"value"`
}

// teamsInvoke presses a card's Action.Execute button as person.
func (x *crossWorld) teamsInvoke(person, conv, replyTo, verb string, data map[string]any) invokeAnswer {
	x.t.Helper()
	act := x.teamsActivity("invoke", person)
	act["conversation"].(map[string]any)["id"] = conv
	act["replyToId"] = replyTo
	act["value"] = map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": verb, "data": data}, "trigger": "manual"}
	resp := x.postTeams(act, "Bearer "+x.ms.token(x.t, x.ms.serviceURL(), nil))
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		x.t.Fatalf("%s presses %s: HTTP %d %s", person, verb, resp.StatusCode, body)
	}
	var an invokeAnswer
	if err := json.Unmarshal(body, &an); err != nil {
		x.t.Fatalf("%s presses %s: %v: %s", person, verb, err, body)
	}
	return an
}

// teamsHello is person adding Baton in Teams: the conversationUpdate of
// their 1:1 chat, which is how Baton learns to reach them.
func (x *crossWorld) teamsHello(person string) {
	x.t.Helper()
	up := x.teamsActivity("conversationUpdate", person)
	up["recipient"] = map[string]any{"id": "28:" + xAppID, "name": "Baton"}
	resp := x.postTeams(up, "Bearer "+x.ms.token(x.t, x.ms.serviceURL(), nil))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		x.t.Fatalf("conversationUpdate from %s: HTTP %d", person, resp.StatusCode)
	}
}

// startInSlack is Alice running /baton start purchase (the modal opens)
// and submitting the form; it delivers what that caused.
func (x *crossWorld) startInSlack(amount string) {
	t := x.t
	t.Helper()
	if code, body := x.slashCommand("U0ALICE", "start purchase"); code != http.StatusOK || len(body) != 0 {
		t.Fatalf("/baton start purchase: %d %s", code, body)
	}
	x.slack.waitFor(t, "views.open")
	calls := x.slack.take()
	wantLines(t, "Slack calls after /baton start purchase", summaries(calls), []string{"views.open baton.start"})
	form := calls[0]
	if !strings.HasPrefix(form.str("trigger_id"), "trigger-cmd-") || form.Auth != xSlackToken {
		t.Errorf("views.open with trigger %q and token %q", form.str("trigger_id"), form.Auth)
	}
	view := form.Params["view"].(map[string]any)
	ack := x.slackSubmit("U0ALICE", "V0START1", view["callback_id"].(string), view["private_metadata"].(string), map[string]any{
		"item":          map[string]any{"type": "plain_text_input", "value": "Laptop"},
		"amount":        map[string]any{"type": "number_input", "value": amount},
		"currency":      map[string]any{"type": "static_select", "selected_option": map[string]any{"value": "EUR"}},
		"vendor":        map[string]any{"type": "plain_text_input", "value": "Dell"},
		"justification": map[string]any{"type": "plain_text_input", "value": "my old one broke down"},
	})
	ackJSON, _ := json.Marshal(ack)
	if ack["response_action"] != "update" {
		t.Fatalf("submit: %s", ackJSON)
	}
	mustHave(t, "the modal's answer", string(ackJSON), "Started PR-1 (Purchase request). Waiting on Bob Chen (Manager approval).")
	x.drain()
}

// teamsDecide presses verb on a Teams card and expects the card back,
// closed, with want in it.
func (x *crossWorld) teamsDecide(person, conv string, card teamsMsg, verb string, want ...string) {
	t := x.t
	t.Helper()
	an := x.teamsInvoke(person, conv, card.ID, verb, actionData(t, card.Card, verb))
	if an.StatusCode != http.StatusOK || an.Type != "application/vnd.microsoft.card.adaptive" {
		t.Fatalf("%s's invoke answer: %d %s %s", person, an.StatusCode, an.Type, an.Value)
	}
	var answered map[string]any
	_ = json.Unmarshal(an.Value, &answered)
	mustHave(t, person+"'s answer card", cardText(answered), want...)
	if v := verbs(answered); len(v) != 0 {
		t.Errorf("%s's answer card still offers %v", person, v)
	}
}

func mustHave(t *testing.T, where, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Fatalf("%s lacks %q:\n%s", where, w, s)
		}
	}
}

func summaries(calls []slackCall) []string {
	var out []string
	for _, c := range calls {
		out = append(out, c.summary())
	}
	slices.Sort(out)
	return out
}

func findCall(t *testing.T, calls []slackCall, method, channel string) slackCall {
	t.Helper()
	for _, c := range calls {
		if c.Method == method && c.str("channel") == channel {
			return c
		}
	}
	t.Fatalf("no %s to %s among:\n%s", method, channel, strings.Join(summaries(calls), "\n"))
	return slackCall{}
}

func wantLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n--- got\n%s\n--- want\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// One purchase request across both platforms, end to end: Alice starts it
// in Slack (/baton and the modal); her manager Bob, who lives in Teams,
// gets an Adaptive Card proactively and approves it with Action.Execute;
// the finance step goes to Carol in Slack and Frank in Teams; Carol's
// approval in Slack closes Frank's Teams card, and Alice hears the outcome
// in Slack. Every Web API call Slack receives and every call the Bot
// Connector receives is checked.
func TestCrossPlatformPurchase(t *testing.T) {
	t.Parallel()
	x := newCrossWorld(t)
	ctx := t.Context()
	bobChat, frankChat := "a:1bob-chat", "a:created-29:1frank"

	// An activity whose token Microsoft did not sign is refused, and
	// teaches Baton nothing.
	rogue, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	resp := x.postTeams(x.teamsActivity("conversationUpdate", "bob"), "Bearer "+x.ms.token(t, x.ms.serviceURL(), rogue))
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a token not signed by Microsoft's key: HTTP %d, want 403", resp.StatusCode)
	}
	if _, ok, err := x.a.store.GetValue(ctx, "teams", "user:29:1bob"); ok || err != nil {
		t.Fatalf("a refused activity was remembered (%v)", err)
	}

	// Bob added Baton in Teams: the conversationUpdate of his 1:1 chat
	// tells Baton how to reach him (and his tenant's serviceUrl).
	x.teamsHello("bob")
	if _, ok, _ := x.a.store.GetValue(ctx, "teams", "user:29:1bob"); !ok {
		t.Fatal("Bob's conversation reference was not remembered")
	}
	wantLines(t, "connector calls after the conversationUpdate", x.ms.takeCalls(), nil)

	// Alice, in Slack: /baton start purchase opens the form as a modal,
	// which she fills in and submits.
	x.startInSlack("2500")

	// Bob's card reaches him in Teams, proactively, in the chat captured
	// above; Slack hears nothing (Bob has no Slack identity).
	wantLines(t, "Slack calls after the start", summaries(x.slack.take()), nil)
	wantLines(t, "connector calls after the start", x.ms.takeCalls(), []string{"POST /v3/conversations/" + bobChat + "/activities"})
	bobCard := x.ms.last(t, bobChat)
	if bobCard.Summary != "Purchase request PR-1: Laptop (EUR 2500)" {
		t.Errorf("Bob's card's notification text is %q", bobCard.Summary)
	}
	mustHave(t, "Bob's card", cardText(bobCard.Card), "Purchase request PR-1: Laptop (EUR 2500)", "Manager approval",
		"Requested by Alice Martin", "Total amount: ", "2500")
	if got := verbs(bobCard.Card); !slices.Contains(got, "approve") || !slices.Contains(got, "reject") {
		t.Fatalf("Bob's card offers %v", got)
	}

	// Bob approves in Teams: the invoke's answer is his card, closed.
	x.teamsDecide("bob", bobChat, bobCard, "approve", "Purchase request PR-1", "Approved by Bob Chen")
	x.drain()

	// Every copy of Bob's card is closed for everyone; the finance step
	// reaches Carol in Slack and Frank in Teams (a chat Baton opens: Frank
	// never wrote to it).
	wantLines(t, "connector calls after Bob's approval", x.ms.takeCalls(), []string{
		"PUT /v3/conversations/" + bobChat + "/activities/" + bobCard.ID,
		"POST /v3/conversations",
		"POST /v3/conversations/" + frankChat + "/activities",
	})
	bobClosed := x.ms.get(bobCard.ID)
	mustHave(t, "Bob's closed card", cardText(bobClosed.Card), "Approved by Bob Chen")
	if v := verbs(bobClosed.Card); bobClosed.Versions != 2 || len(v) != 0 {
		t.Errorf("Bob's card after the update: version %d, actions %v", bobClosed.Versions, v)
	}
	frankCard := x.ms.last(t, frankChat)
	mustHave(t, "Frank's card", cardText(frankCard.Card), "Purchase request PR-1: Laptop (EUR 2500)", "Finance approval",
		"Waiting on Carol Diaz and Frank Osei")
	calls := x.slack.take()
	finance := []string{"v1|approve|PR-1|finance|1|", "v1|reject|PR-1|finance|1|", "v1|changes|PR-1|finance|1|", "v1|reassign|PR-1|finance|1|"}
	wantLines(t, "Slack calls after Bob's approval", summaries(calls), []string{
		"chat.postMessage D0CAROL: Purchase request PR-1: Laptop (EUR 2500) — Finance approval [" + strings.Join(finance, " ") + "]",
		"conversations.open U0CAROL",
	})
	carolCard := findCall(t, calls, "chat.postMessage", "D0CAROL")
	mustHave(t, "Carol's card", carolCard.text(), "Requested by Alice Martin", "Waiting on Carol Diaz and Frank Osei", "Due Sat 28 Nov 04:00 EST (in 2 d)")

	// Nobody acts for a day (the fake clock jumps): Carol is reminded in
	// her Slack card's thread, Frank in his Teams card's, and the step
	// escalates to #finance, which is on Slack only. On the way, the daily
	// digests are due at 09:00 in New York: Carol's in Slack, Frank's in Teams.
	x.clock.Advance(24 * time.Hour)
	if n, err := x.a.timers.Tick(ctx); err != nil || n == 0 {
		t.Fatalf("a day later: %d timers fired (%v)", n, err)
	}
	x.drain()
	waitUntil(t, &x.slack.changes, "Carol's digest", func() bool {
		x.slack.mu.Lock()
		defer x.slack.mu.Unlock()
		return slices.ContainsFunc(x.slack.calls[x.slack.seen:], func(c slackCall) bool { return strings.HasPrefix(c.str("text"), "Good morning") })
	})
	frankDigest := func() (teamsMsg, bool) {
		x.ms.mu.Lock()
		defer x.ms.mu.Unlock()
		for _, m := range x.ms.ord {
			if m.Conv == frankChat && strings.Contains(cardText(m.Card), "Good morning") {
				return *m, true
			}
		}
		return teamsMsg{}, false
	}
	waitUntil(t, &x.ms.changes, "Frank's digest", func() bool { _, ok := frankDigest(); return ok })
	digest, _ := frankDigest()
	mustHave(t, "Frank's digest", cardText(digest.Card), "Good morning: 1 task is waiting on you", "Purchase request PR-1: Laptop (EUR 2500)",
		`"tasks" shows the list any time`)
	if v := verbs(digest.Card); len(v) == 0 || digest.ReplyTo != "" {
		t.Errorf("Frank's digest: actions %v, a reply to %q: want buttons, in his chat", v, digest.ReplyTo)
	}
	calls = x.slack.take()
	wantLines(t, "Slack calls a day later", summaries(calls), []string{
		"chat.postMessage C0FINANCE: Escalation: Purchase request PR-1: Laptop (EUR 2500) — PR-1 has waited 1 d at Finance approval; it waits on Carol Diaz and Frank Osei. [" + strings.Join(finance, " ") + "]",
		"chat.postMessage D0CAROL in thread broadcast: Purchase request PR-1: Laptop (EUR 2500) — Reminder 1 of 2: Finance approval has been waiting for 1 d. [" + strings.Join(finance, " ") + "]",
		"chat.postMessage D0CAROL: Good morning: 1 task is waiting on you [" + strings.Join(finance, " ") + "]",
		// her card now names the next rung (Dana, at 2 d) instead of #finance
		"chat.update D0CAROL: Purchase request PR-1: Laptop (EUR 2500) — Finance approval [" + strings.Join(finance, " ") + "]",
	})
	mustHave(t, "Carol's card a day later", findCall(t, calls, "chat.update", "D0CAROL").text(), "Escalates to Dana Kowalski (your manager) in 1 d")
	if !slices.ContainsFunc(calls, func(c slackCall) bool {
		return c.str("thread_ts") == carolCard.TS && strings.Contains(c.str("text"), "Reminder")
	}) {
		t.Errorf("Carol's reminder is not in the thread of her card (%s)", carolCard.TS)
	}
	// The reminder and the escalation (which updates his card to name the
	// next rung) are due at once and fire in either order.
	connector := x.ms.takeCalls()
	slices.Sort(connector)
	wantLines(t, "connector calls a day later", connector, []string{
		"POST /v3/conversations/" + frankChat + "/activities",
		"POST /v3/conversations/" + frankChat + "/activities/" + frankCard.ID,
		"PUT /v3/conversations/" + frankChat + "/activities/" + frankCard.ID,
	})
	frankReminder := x.ms.lastReply(t, frankChat, frankCard.ID)
	mustHave(t, "Frank's reminder", cardText(frankReminder.Card), "Reminder 1 of 2", "Finance approval")
	if frankReminder.ReplyTo != frankCard.ID {
		t.Errorf("Frank's reminder replies to %q, want his card %q", frankReminder.ReplyTo, frankCard.ID)
	}

	// Carol approves in Slack. The click is acknowledged at once; the
	// decision closes her Slack card and Frank's Teams card, tells Alice in
	// Slack and #procurement on both platforms.
	x.slackClick("U0CAROL", finance[0], "D0CAROL", carolCard.TS)
	x.drain()
	calls = x.slack.take()
	// Each copy's notification text has the time in its reader's zone:
	// Carol's (New York) in her DM, the working hours' in #finance (this
	// directory sets none: UTC).
	closed := "Purchase request PR-1: Laptop (EUR 2500) — Approved by Carol Diaz · "
	wantLines(t, "Slack calls after Carol's approval", summaries(calls), []string{
		"chat.postMessage C0PROCURE: Purchase request PR-1: Laptop (EUR 2500) — Alice Martin's purchase PR-1 may go ahead: Laptop from Dell, EUR 2500. Please order it.",
		"chat.postMessage D0ALICE: Approved: Purchase request PR-1 (Laptop (EUR 2500)) — Manager approval: approved by Bob Chen",
		"chat.update C0FINANCE: " + closed + "Fri 27 Nov 09:00 UTC",
		"chat.update D0CAROL: " + closed + "Fri 27 Nov 04:00 EST",
		"chat.update D0CAROL: " + closed + "Fri 27 Nov 04:00 EST",
		"conversations.open U0ALICE",
	})
	mustHave(t, "Alice's outcome", findCall(t, calls, "chat.postMessage", "D0ALICE").text(), "Finance approval: approved by Carol Diaz")
	// Every Slack copy is closed: the card, its reminder (down to one
	// line) and the escalation, none with buttons.
	var updated []string
	for _, c := range calls {
		if c.Method == "chat.update" {
			updated = append(updated, fmt.Sprintf("%s/%s buttons=%d one-line=%v", c.str("channel"), c.str("ts"), len(c.buttons()), len(c.blocks()) == 1))
		}
	}
	slices.Sort(updated)
	var escalation, reminder string
	for _, c := range x.slack.all() {
		switch {
		case c.Method == "chat.postMessage" && c.str("channel") == "C0FINANCE":
			escalation = c.TS
		case c.Method == "chat.postMessage" && c.str("thread_ts") == carolCard.TS:
			reminder = c.TS
		}
	}
	wantLines(t, "Slack messages closed by Carol's approval", updated, []string{
		"C0FINANCE/" + escalation + " buttons=0 one-line=false",
		"D0CAROL/" + carolCard.TS + " buttons=0 one-line=false",
		"D0CAROL/" + reminder + " buttons=0 one-line=true",
	})
	wantLines(t, "connector calls after Carol's approval", x.ms.takeCalls(), []string{
		"PUT /v3/conversations/" + frankChat + "/activities/" + frankReminder.ID,
		"PUT /v3/conversations/" + frankChat + "/activities/" + frankCard.ID,
		"POST /v3/conversations/19:procurement@thread.tacv2/activities",
	})
	for what, id := range map[string]string{"card": frankCard.ID, "reminder": frankReminder.ID} {
		got := x.ms.get(id)
		mustHave(t, "Frank's closed "+what, cardText(got.Card), "Approved by Carol Diaz")
		if v := verbs(got.Card); len(v) != 0 {
			t.Errorf("Frank's Teams %s still offers %v after Carol decided in Slack", what, v)
		}
	}
	mustHave(t, "#procurement in Teams", cardText(x.ms.last(t, "19:procurement@thread.tacv2").Card),
		"Alice Martin's purchase PR-1 may go ahead: Laptop from Dell, EUR 2500. Please order it.")

	// Frank's click on his stale card is told, in Teams, who decided first in Slack.
	an := x.teamsInvoke("frank", frankChat, frankCard.ID, "approve", actionData(t, frankCard.Card, "approve"))
	var msg string
	_ = json.Unmarshal(an.Value, &msg)
	if an.Type != "application/vnd.microsoft.activity.message" || !strings.Contains(msg, "already approved by Carol Diaz") {
		t.Errorf("Frank's stale click: %s %s", an.Type, an.Value)
	}
	x.drain()
	wantLines(t, "connector calls after Frank's stale click", x.ms.takeCalls(), nil)
	wantLines(t, "Slack calls after Frank's stale click", summaries(x.slack.take()), nil)

	in, err := x.a.store.Get(ctx, "PR-1")
	if err != nil {
		t.Fatal(err)
	}
	if in.Status != flows.StatusCompleted || in.Outcome != "approved" {
		t.Fatalf("PR-1 is %s (%s)", in.Status, in.Outcome)
	}
	audit, err := x.a.store.Audit(ctx, "PR-1")
	if err != nil || flows.VerifyChain(audit) != nil {
		t.Fatalf("audit: %v", err)
	}
	// The audit trail says who decided on which platform, the refused
	// stale click included.
	// (The reminder and the escalation fell due together: in either order.)
	var trail []string
	for _, e := range audit {
		line := strings.Join(strings.Fields(fmt.Sprintf("%s %s %s %s refused=%v", e.Platform, e.Actor, e.Action, e.Step, e.Refused)), " ")
		if n := len(trail); n > 0 && strings.HasPrefix(line, "baton ") && strings.HasPrefix(trail[n-1], "baton ") && line < trail[n-1] {
			line, trail[n-1] = trail[n-1], line
		}
		trail = append(trail, line)
	}
	wantLines(t, "the audit trail", trail, []string{
		"slack alice started refused=false",
		"slack baton assigned manager refused=false",
		"teams bob approved manager refused=false",
		"teams baton assigned finance refused=false",
		"baton escalated finance refused=false",
		"baton reminded finance refused=false",
		"slack carol approved finance refused=false",
		"slack baton notified order refused=false",
		"slack baton completed refused=false",
		"teams frank approve finance refused=true",
	})
	if outbox, timers, _ := x.a.store.Pending(ctx); outbox != 0 || timers != 0 {
		t.Fatalf("left over: %d outbox entries, %d timers", outbox, timers)
	}

	// Each platform was called with its own credentials only: Slack with
	// the bot token; the connector with one token from the tenant's
	// endpoint; and no secret reached the logs.
	for _, c := range x.slack.all() {
		if !strings.HasPrefix(c.Method, "response/") && c.Auth != xSlackToken {
			t.Errorf("Slack %s carried token %q", c.Method, c.Auth)
		}
	}
	x.ms.mu.Lock()
	tokenCalls, auths := slices.Clone(x.ms.tokenCalls), slices.Clone(x.ms.auth)
	x.ms.mu.Unlock()
	wantLines(t, "token requests", tokenCalls, []string{"/" + xTenant + "/oauth2/v2.0/token " + xAppID + " https://api.botframework.com/.default"})
	for _, h := range auths {
		if h != "Bearer connector-token" {
			t.Errorf("a connector call carried Authorization %q", h)
		}
	}
	for _, secret := range []string{xSlackToken, xSlackSecret, xAppSecret, "connector-token"} {
		if strings.Contains(x.logs.String(), secret) {
			t.Errorf("a secret (%.8s…) reached the logs", secret)
		}
	}
}

// A task crosses platforms by reassignment: Carol, in Slack, hands her
// finance task to Bob, who lives in Teams. Slack's user picker cannot offer
// him, so the modal lists the people who are not on Slack. Bob approves in
// Teams, which closes the copies on both platforms and tells Alice in Slack.
func TestCrossPlatformReassign(t *testing.T) {
	t.Parallel()
	x := newCrossWorld(t)
	bobChat, frankChat := "a:1bob-chat", "a:created-29:1frank"
	x.teamsHello("bob")
	x.startInSlack("2500")
	x.teamsDecide("bob", bobChat, x.ms.last(t, bobChat), "approve", "Approved by Bob Chen")
	x.drain()
	x.ms.takeCalls()
	carolCard := findCall(t, x.slack.take(), "chat.postMessage", "D0CAROL")
	frankCard := x.ms.last(t, frankChat)

	// Carol clicks Reassign in Slack: the modal opens with two pickers.
	x.slackClick("U0CAROL", "v1|reassign|PR-1|finance|1|", "D0CAROL", carolCard.TS)
	x.slack.waitFor(t, "views.open")
	calls := x.slack.take()
	wantLines(t, "Slack calls after Carol clicks Reassign", summaries(calls), []string{"views.open baton.reassign"})
	view := calls[0].Params["view"].(map[string]any)
	var inputs []string
	for _, b := range calls[0].blocks() {
		b := b.(map[string]any)
		if b["type"] != "input" {
			continue
		}
		el := b["element"].(map[string]any)
		in := fmt.Sprintf("%s %s", b["block_id"], el["type"])
		opts, _ := el["options"].([]any)
		for _, o := range opts {
			o := o.(map[string]any)
			in += fmt.Sprintf(" %s=%s", o["value"], o["text"].(map[string]any)["text"])
		}
		inputs = append(inputs, in)
	}
	wantLines(t, "the reassign modal's inputs", inputs, []string{"target users_select", "target:other static_select -=No one here (someone on Slack, above) bob=Bob Chen frank=Frank Osei", "reason plain_text_input"})
	ack := x.slackSubmit("U0CAROL", "V0REASSIGN1", view["callback_id"].(string), view["private_metadata"].(string), map[string]any{
		"target":       map[string]any{"type": "users_select", "selected_user": nil},
		"target:other": map[string]any{"type": "static_select", "selected_option": map[string]any{"value": "bob", "text": map[string]any{"type": "plain_text", "text": "Bob Chen"}}},
		"reason":       map[string]any{"type": "plain_text_input", "value": "I am off until Monday"},
	})
	ackJSON, _ := json.Marshal(ack)
	mustHave(t, "the reassign modal's answer", string(ackJSON), "Carol Diaz's task on PR-1 is now with Bob Chen; Frank Osei is still on it.")
	x.drain()

	// Carol's Slack card closes, saying why; Bob gets the task in Teams
	// (Frank keeps his, updated to say whom the step now waits on).
	calls = x.slack.take()
	wantLines(t, "Slack calls after the reassign", summaries(calls), []string{
		"chat.update D0CAROL: Purchase request PR-1: Laptop (EUR 2500) — Reassigned by Carol Diaz · Thu 26 Nov 04:00 EST",
	})
	if c := calls[0]; c.str("ts") != carolCard.TS || len(c.buttons()) != 0 || !strings.Contains(c.text(), "I am off until Monday") {
		t.Errorf("Carol's closed card: ts %s (want %s), buttons %v, text %s", c.str("ts"), carolCard.TS, c.buttons(), c.text())
	}
	wantLines(t, "connector calls after the reassign", x.ms.takeCalls(), []string{
		"PUT /v3/conversations/" + frankChat + "/activities/" + frankCard.ID,
		"POST /v3/conversations/" + bobChat + "/activities",
	})
	bobFinance := x.ms.last(t, bobChat)
	mustHave(t, "Bob's finance card", cardText(bobFinance.Card), "Purchase request PR-1: Laptop (EUR 2500)", "Finance approval",
		"Waiting on Bob Chen and Frank Osei", "Due Sat 28 Nov 09:00 GMT (in 2 d)", "Reassigned to you by Carol Diaz: I am off until Monday")
	if got := x.ms.get(frankCard.ID); got.Versions != 2 || !strings.Contains(cardText(got.Card), "Waiting on Bob Chen and Frank Osei") || len(verbs(got.Card)) == 0 {
		t.Errorf("Frank's card after the reassign (%d versions): %s", got.Versions, cardText(got.Card))
	}

	// Bob approves in Teams: his card and Frank's close, Carol's closed
	// Slack card shows the decision, Alice and #procurement are told.
	x.teamsDecide("bob", bobChat, bobFinance, "approve", "Approved by Bob Chen")
	x.drain()
	wantLines(t, "Slack calls after Bob's finance approval", summaries(x.slack.take()), []string{
		"chat.postMessage C0PROCURE: Purchase request PR-1: Laptop (EUR 2500) — Alice Martin's purchase PR-1 may go ahead: Laptop from Dell, EUR 2500. Please order it.",
		"chat.postMessage D0ALICE: Approved: Purchase request PR-1 (Laptop (EUR 2500)) — Manager approval: approved by Bob Chen",
		"chat.update D0CAROL: Purchase request PR-1: Laptop (EUR 2500) — Approved by Bob Chen · Thu 26 Nov 04:00 EST",
		"conversations.open U0ALICE",
	})
	wantLines(t, "connector calls after Bob's finance approval", x.ms.takeCalls(), []string{
		"PUT /v3/conversations/" + bobChat + "/activities/" + bobFinance.ID,
		"PUT /v3/conversations/" + frankChat + "/activities/" + frankCard.ID,
		"POST /v3/conversations/19:procurement@thread.tacv2/activities",
	})
	for who, id := range map[string]string{"Bob": bobFinance.ID, "Frank": frankCard.ID} {
		got := x.ms.get(id)
		mustHave(t, who+"'s closed finance card", cardText(got.Card), "Approved by Bob Chen")
		if v := verbs(got.Card); len(v) != 0 {
			t.Errorf("%s's finance card still offers %v", who, v)
		}
	}
	in, err := x.a.store.Get(t.Context(), "PR-1")
	if err != nil {
		t.Fatal(err)
	}
	if in.Status != flows.StatusCompleted || len(in.History) != 3 || in.History[1].Step != "finance" || in.History[1].By != "bob" {
		t.Fatalf("PR-1: %s, history %+v", in.Status, in.History)
	}
}

// Answers in Slack name commands as people type them there.
func TestCrossPlatformSlackCommandNames(t *testing.T) {
	t.Parallel()
	x := newCrossWorld(t)
	x.slack.take()
	code, body := x.slashCommand("U0ALICE", "requests")
	if code != http.StatusOK {
		t.Fatalf("HTTP %d", code)
	}
	x.drain()
	texts := []string{string(body)} // answered at once, or through the response URL
	for _, c := range x.slack.take() {
		texts = append(texts, fmt.Sprint(c.Params))
	}
	if !slices.ContainsFunc(texts, func(s string) bool { return strings.Contains(s, `Start one with: /baton start \u0026lt;flow\u0026gt;`) }) {
		t.Errorf("the answer to /baton requests:\n%s", strings.Join(texts, "\n"))
	}
}
