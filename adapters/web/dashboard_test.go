package web_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonbot/baton/adapters/web"
	"github.com/batonbot/baton/bot/bottest"
	"github.com/batonbot/baton/flows"
)

const dashToken = "dashboard-token-0123456789abcdef"

type dashRig struct {
	t   *testing.T
	rig *bottest.Rig
	h   http.Handler
}

// newDashRig serves the dashboard over a runtime holding PR-1 (a laptop,
// waiting on Bob, 25 h in: overdue since an hour), PR-2 (approved by Bob
// after 2 h: completed) and PR-3 (withdrawn).
func newDashRig(t *testing.T, local bool, opts ...func(*web.DashboardConfig)) *dashRig {
	t.Helper()
	rig := bottest.New(t)
	console := web.New(rig.Svc, web.Config{}, rig.Log)
	rig.Use(console.Messenger())
	t.Cleanup(console.Close)
	auth := func(ctx context.Context, user, token string) (bool, error) {
		return rig.Engine.IsAdmin(user) && token == dashToken, nil
	}
	cfg := web.DashboardConfig{Authenticate: auth, SessionKey: []byte("session-key"), Local: local}
	for _, o := range opts {
		o(&cfg)
	}
	d := web.NewDashboard(rig.Svc, cfg, rig.Log)
	start := func(key, item, amount string) {
		if _, err := rig.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventStart, Key: key, Actor: "alice", Flow: "purchase",
			Data: map[string]string{"item": item, "amount": amount, "justification": "Needed for the new starter"}}); err != nil {
			t.Fatal(err)
		}
	}
	handle := func(ev flows.Event) {
		if out, err := rig.Svc.Handle(t.Context(), ev); err != nil || !out.OK {
			t.Fatalf("%s: %+v %v", ev.Kind, out, err)
		}
	}
	start("k1", "Laptop", "2500")
	start("k2", "Monitor", "300")
	start("k3", "Chair", "200")
	rig.Drain()
	rig.Advance(2 * time.Hour)
	handle(flows.Event{Kind: flows.EventApprove, Key: "a2", Instance: "PR-2", Actor: "bob"})
	handle(flows.Event{Kind: flows.EventWithdraw, Key: "w3", Instance: "PR-3", Actor: "alice", Reason: "not needed"})
	rig.Advance(23 * time.Hour)
	return &dashRig{t: t, rig: rig, h: d.Handler()}
}

func (d *dashRig) do(method, path string, form url.Values, remote string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	d.t.Helper()
	body := strings.NewReader("")
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	host := "baton.example.com"
	if remote == "" {
		remote, host = "127.0.0.1:50000", "localhost:8080"
	}
	r := httptest.NewRequest(method, "http://"+host+path, body)
	r.RemoteAddr = remote
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	d.h.ServeHTTP(w, r)
	return w
}

func has(t *testing.T, w *httptest.ResponseRecorder, code int, wants ...string) {
	t.Helper()
	b := unescape(w.Body.String())
	if w.Code != code {
		t.Fatalf("status %d, want %d:\n%s", w.Code, code, b)
	}
	for _, want := range wants {
		if !strings.Contains(b, want) {
			t.Fatalf("page lacks %q:\n%s", want, b)
		}
	}
}

func hasNot(t *testing.T, w *httptest.ResponseRecorder, unwanted ...string) {
	t.Helper()
	for _, u := range unwanted {
		if strings.Contains(unescape(w.Body.String()), u) {
			t.Fatalf("page holds %q:\n%s", u, w.Body)
		}
	}
}

const remote = "198.51.100.4:40000"

func TestDashboardLogin(t *testing.T) {
	d := newDashRig(t, false)
	w := d.do("GET", "/dashboard", nil, remote)
	has(t, w, http.StatusOK, "Sign in", `name="token"`)
	hasNot(t, w, "PR-1", "Laptop")

	for _, f := range []url.Values{
		{"user": {"olivia"}, "token": {"wrong-token-wrong-token"}},
		{"user": {"bob"}, "token": {dashToken}}, // not an admin
		{"user": {"olivia"}, "token": {""}},
	} {
		w = d.do("POST", "/dashboard/login", f, remote)
		has(t, w, http.StatusUnauthorized, "Sign in")
		if len(w.Result().Cookies()) != 0 {
			t.Errorf("refused sign-in %v set a cookie", f)
		}
	}
	// A cross-site post is refused.
	w = d.do("POST", "/dashboard/login", url.Values{"user": {"olivia"}, "token": {dashToken}}, remote)
	r := httptest.NewRequest("POST", "http://baton.example.com/dashboard/login", strings.NewReader("user=olivia&token="+dashToken))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	cross := httptest.NewRecorder()
	d.h.ServeHTTP(cross, r)
	if cross.Code != http.StatusForbidden {
		t.Errorf("cross-site sign-in: %d", cross.Code)
	}

	if w.Code != http.StatusSeeOther {
		t.Fatalf("sign-in: %d %s", w.Code, w.Body)
	}
	ck := w.Result().Cookies()
	if len(ck) != 1 || !ck[0].HttpOnly || ck[0].SameSite != http.SameSiteStrictMode || ck[0].Secure || ck[0].Path != "/dashboard" {
		t.Fatalf("cookie %+v: want HttpOnly, SameSite=Strict, not Secure over plain HTTP", ck)
	}
	// Counted from when the browser gets it, not a date on our clock (a
	// browser whose clock runs ahead dropped the cookie at once).
	if ck[0].MaxAge != 12*60*60 || !ck[0].Expires.IsZero() {
		t.Errorf("cookie lasts Max-Age %d, Expires %v; want Max-Age 12 h and no Expires", ck[0].MaxAge, ck[0].Expires)
	}
	w = d.do("GET", "/dashboard", nil, remote, ck[0])
	has(t, w, http.StatusOK, "Signed in as olivia", "PR-1", "Laptop", "Bob Chen", "1 h overdue", "Manager approval")
	hasNot(t, w, "Open without sign-in")

	// Tampered, or stale, sessions sign nobody in.
	bad := *ck[0]
	bad.Value = strings.Replace(bad.Value, ".", "x.", 1)
	has(t, d.do("GET", "/dashboard", nil, remote, &bad), http.StatusOK, "Sign in")
	forged := *ck[0]
	forged.Value = "b2xpdmlh.99999999999.AAAA"
	has(t, d.do("GET", "/dashboard", nil, remote, &forged), http.StatusOK, "Sign in")
	d.rig.Clock.Advance(12*time.Hour + time.Second)
	has(t, d.do("GET", "/dashboard", nil, remote, ck[0]), http.StatusOK, "Sign in")

	// Behind a TLS proxy, the cookie is Secure.
	r = httptest.NewRequest("POST", "http://baton.example.com/dashboard/login", strings.NewReader("user=olivia&token="+dashToken))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("X-Forwarded-Proto", "https")
	sec := httptest.NewRecorder()
	d.h.ServeHTTP(sec, r)
	if c := sec.Result().Cookies(); len(c) != 1 || !c[0].Secure {
		t.Errorf("behind TLS: cookies %+v, want Secure", c)
	}
	// Signing out clears the cookie.
	out := d.do("POST", "/dashboard/logout", url.Values{}, remote, ck[0])
	if c := out.Result().Cookies(); out.Code != http.StatusSeeOther || len(c) != 1 || c[0].MaxAge >= 0 {
		t.Errorf("sign-out: %d %+v", out.Code, c)
	}
}

func TestDashboardContent(t *testing.T) {
	d := newDashRig(t, true)
	w := d.do("GET", "/dashboard", nil, "") // this machine, local console mode: open
	has(t, w, http.StatusOK, "Open without sign-in: the console is on, no chat platform is configured",
		`<span class="n">1</span> running`, `<span class="n">1</span> completed`, `<span class="n">1</span> withdrawn`,
		"Overdue (1)", "Open requests (1)")
	body := unescape(w.Body.String())
	overdue := body[strings.Index(body, `id="overdue"`):strings.Index(body, "Open requests")]
	for _, want := range []string{"PR-1", "Laptop (EUR 2500)", "Manager approval", "Bob Chen", "1 h overdue", "due Fri 27 Nov 09:00 UTC"} {
		if !strings.Contains(overdue, want) {
			t.Errorf("overdue table lacks %q:\n%s", want, overdue)
		}
	}
	if strings.Contains(overdue, "PR-2") || strings.Contains(overdue, "PR-3") {
		t.Errorf("closed requests listed as overdue:\n%s", overdue)
	}
	cycle := body[strings.Index(body, `id="cycle"`):]
	if !strings.Contains(cycle, "<td>Purchase request</td><td>Manager approval</td><td>1</td><td>2 h</td><td>2 h</td>") {
		t.Errorf("cycle times:\n%s", cycle)
	}
	if strings.Contains(body, `id="dead"`) {
		t.Error("a warning of dead letters, with none counted")
	}
	// From another machine, local mode does not apply; nor through a
	// proxy on this one, which passes on anyone's requests.
	has(t, d.do("GET", "/dashboard", nil, remote), http.StatusOK, "Sign in")
	proxied := httptest.NewRequest("GET", "http://localhost:8080/dashboard", nil)
	proxied.RemoteAddr = "127.0.0.1:50000"
	proxied.Header.Set("X-Forwarded-For", "203.0.113.7")
	pw := httptest.NewRecorder()
	d.h.ServeHTTP(pw, proxied)
	has(t, pw, http.StatusOK, "Sign in")
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q", csp)
	}
	css := d.do("GET", "/dashboard/static/pages.css", nil, remote)
	if css.Code != http.StatusOK || !strings.Contains(css.Body.String(), ".dash table") {
		t.Errorf("stylesheet: %d", css.Code)
	}
}

// Deliveries given up on are warned of, with what to do; when they cannot
// be counted, the rest of the page still shows.
func TestDashboardDeadLetters(t *testing.T) {
	dead, err := int64(3), error(nil)
	d := newDashRig(t, true, func(c *web.DashboardConfig) {
		c.Dead = func(context.Context) (int64, error) { return dead, err }
	})
	has(t, d.do("GET", "/dashboard", nil, ""), http.StatusOK, `id="dead"`, "3 deliveries were given up on", "baton dead retry -all")
	dead = 1
	has(t, d.do("GET", "/dashboard", nil, ""), http.StatusOK, "1 delivery was given up on")
	dead, err = 0, errors.New("redis down")
	w := d.do("GET", "/dashboard", nil, "")
	has(t, w, http.StatusOK, "Open requests (1)")
	if strings.Contains(w.Body.String(), `id="dead"`) {
		t.Error("a warning of dead letters that could not be counted")
	}
}

func TestOverviewCycleTimes(t *testing.T) {
	rig := bottest.New(t)
	t0 := bottest.T0
	rec := func(step string, d time.Duration) flows.StepRecord {
		return flows.StepRecord{Step: step, Round: 1, Started: t0, Ended: t0.Add(d), Outcome: "approved", By: "bob"}
	}
	var hist []flows.StepRecord
	for i := 1; i <= 10; i++ {
		hist = append(hist, rec("manager", time.Duration(i)*time.Hour))
	}
	hist = append(hist, flows.StepRecord{Step: "order", Started: t0, Ended: t0, Outcome: "notified"},
		flows.StepRecord{Step: "finance", Started: t0, Ended: t0.Add(time.Hour), Outcome: "cancelled"})
	ins := []*flows.Instance{
		{ID: "PR-1", Flow: "purchase", Status: flows.StatusCompleted, History: hist},
		{ID: "PR-2", Flow: "purchase", Status: flows.StatusRunning, Step: "manager", StepStarted: t0, Due: t0.Add(time.Hour),
			Tasks: []flows.Task{{Assignee: "bob"}, {Assignee: "email:v@acme.example", Decision: flows.Approved}}},
		{ID: "PR-3", Flow: "purchase", Status: flows.StatusChangesRequested, Requester: "alice",
			History: []flows.StepRecord{rec("manager", 30*time.Minute)}},
	}
	o := rig.Engine.Overview(ins, t0.Add(90*time.Minute))
	if len(o.Cycle) != 1 || o.Cycle[0].Step != "Manager approval" || o.Cycle[0].Count != 11 || o.Cycle[0].Median != 5*time.Hour || o.Cycle[0].P90 != 9*time.Hour {
		t.Errorf("cycle %+v: want manager only, 11 rounds, median 5 h, p90 9 h (notify and cancelled left out)", o.Cycle)
	}
	if len(o.Overdue) != 1 || o.Overdue[0].ID != "PR-2" || o.Overdue[0].Late != 30*time.Minute || strings.Join(o.Overdue[0].Owners, ",") != "Bob Chen" {
		t.Errorf("overdue %+v", o.Overdue)
	}
	if len(o.Open) != 2 || o.Open[1].ID != "PR-3" || o.Open[1].Owners[0] != "Alice Martin (requester)" {
		t.Errorf("open %+v", o.Open)
	}
}

// TestDashboardSignInLogsNoSecret: a token typed into the person field (the
// fields swapped) does not reach the log with the refusal.
func TestDashboardSignInLogsNoSecret(t *testing.T) {
	rig := bottest.New(t)
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, nil))
	apiToken := "baton_" + strings.Repeat("A", 43)
	for _, auth := range []func(context.Context, string, string) (bool, error){
		func(context.Context, string, string) (bool, error) { return false, nil },
		func(context.Context, string, string) (bool, error) { return false, errors.New("redis down") },
	} {
		d := &dashRig{t: t, rig: rig, h: web.NewDashboard(rig.Svc, web.DashboardConfig{Authenticate: auth, SessionKey: []byte("k")}, log).Handler()}
		for _, secret := range []string{dashToken, apiToken} {
			d.do("POST", "/dashboard/login", url.Values{"user": {secret}, "token": {"olivia"}}, remote)
		}
		d.do("POST", "/dashboard/login", url.Values{"user": {"olivia"}, "token": {"wrong"}}, remote)
	}
	if strings.Contains(logs.String(), dashToken) || strings.Contains(logs.String(), apiToken) {
		t.Errorf("a token reached the log:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "user=olivia") {
		t.Errorf("a refused person id is no longer logged:\n%s", logs.String())
	}
}

// memValues is a SignedOut store in memory.
type memValues struct {
	mu sync.Mutex
	m  map[string]string
}

func (v *memValues) GetValue(_ context.Context, ns, key string) (string, bool, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	s, ok := v.m[ns+"/"+key]
	return s, ok, nil
}

func (v *memValues) SetValue(_ context.Context, ns, key, value string, _ time.Duration) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m = map[string]string{}
	}
	v.m[ns+"/"+key] = value
	return nil
}

// TestDashboardSessionEnds: a session ends when its token is revoked, and
// a signed-out cookie is no use even to whoever kept a copy.
func TestDashboardSessionEnds(t *testing.T) {
	rig := bottest.New(t)
	revoked := false
	auth := func(_ context.Context, user, token string) (bool, error) {
		return user == "olivia" && token == dashToken, nil
	}
	still := func(_ context.Context, user string, signedInWith func(string) bool) (bool, error) {
		sum := sha256.Sum256([]byte(dashToken))
		return !revoked && user == "olivia" && signedInWith(hex.EncodeToString(sum[:])) && !signedInWith("0000"), nil
	}
	d := &dashRig{t: t, rig: rig, h: web.NewDashboard(rig.Svc, web.DashboardConfig{Authenticate: auth, Still: still, SignedOut: &memValues{},
		SessionKey: []byte("k")}, rig.Log).Handler()}
	signIn := func() *http.Cookie {
		w := d.do("POST", "/dashboard/login", url.Values{"user": {"olivia"}, "token": {dashToken}}, remote)
		if w.Code != http.StatusSeeOther || len(w.Result().Cookies()) != 1 {
			t.Fatalf("sign-in: %d %s", w.Code, w.Body)
		}
		return w.Result().Cookies()[0]
	}
	ck := signIn()
	has(t, d.do("GET", "/dashboard", nil, remote, ck), http.StatusOK, "Signed in as olivia")
	if sum := sha256.Sum256([]byte(dashToken)); strings.Contains(ck.Value, hex.EncodeToString(sum[:])) || strings.Contains(ck.Value, dashToken) {
		t.Errorf("the cookie %q gives away the token (or its hash)", ck.Value)
	}
	revoked = true
	has(t, d.do("GET", "/dashboard", nil, remote, ck), http.StatusOK, "Sign in")
	revoked = false

	ck = signIn()
	d.do("POST", "/dashboard/logout", url.Values{}, remote, ck)
	w := d.do("GET", "/dashboard", nil, remote, ck) // the same cookie, kept
	has(t, w, http.StatusOK, "Sign in")
	hasNot(t, w, "Signed in as olivia")
	has(t, d.do("GET", "/dashboard", nil, remote, signIn()), http.StatusOK, "Signed in as olivia")

	// Signed out while its token was revoked: the copy stays no use once the
	// token is good again.
	ck = signIn()
	revoked = true
	d.do("POST", "/dashboard/logout", url.Values{}, remote, ck)
	revoked = false
	has(t, d.do("GET", "/dashboard", nil, remote, ck), http.StatusOK, "Sign in")
}
