package main

import (
	"context"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/batonbot/baton/adapters/api"
	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
	"github.com/batonbot/baton/manifests"
	"github.com/batonbot/baton/storage"
	"github.com/batonbot/baton/storage/storagetest"
)

// vendorFlowYAML: the vendor confirms by email, in a step also posted in
// #procurement; then legal signs off.
const vendorFlowYAML = `id: vendor
name: Vendor contract
owner: olivia
prefix: VC
title: "{{.vendor}}"
form:
  - {name: vendor, label: Vendor, type: text, required: true}
  - {name: contact, label: Vendor contact, type: email, required: true}
steps:
  - id: manager
    name: Manager approval
    type: approval
    assignees: [manager]
  - id: vendor_ok
    name: Vendor confirmation
    type: approval
    channel: procurement
    assignees: [field:contact]
    due: 2d
  - id: legal
    name: Legal sign-off
    type: approval
    assignees: [group:legal]
`

// newExternalHarness is the e2e harness over the built-in flows plus the
// vendor flow, with no SMTP server: mail stays in the development outbox.
func newExternalHarness(t *testing.T, env map[string]string) *harness {
	t.Helper()
	dir := t.TempDir()
	files, _ := fs.Glob(manifests.Flows, "flows/*.yaml")
	for _, f := range files {
		b, _ := fs.ReadFile(manifests.Flows, f)
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "vendor.yaml"), []byte(vendorFlowYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	return newHarnessWith(t, bot.Config{Admins: []string{"olivia"}, FlowsDir: dir}, func(k string) string { return env[k] })
}

// TestExternalApprovalEndToEnd: Alice asks, Bob approves, the vendor gets a
// mail (kept in the console's outbox) with a link, approves on Baton's page
// with a comment; the channel card, the requester's outcome, the timeline
// and the audit trail all show the vendor, by address, as external.
func TestExternalApprovalEndToEnd(t *testing.T) {
	t.Parallel()
	h := newExternalHarness(t, map[string]string{"BATON_PUBLIC_URL": "https://baton.example.com", "BATON_LINK_TTL": "48h"})
	id := h.start("alice", "vendor", url.Values{"vendor": {"Acme"}, "contact": {"Sales@Acme.example"}})
	h.act("bob", "approve", id, "manager", 1, true)

	mails := h.a.external.outbox.Mails()
	if len(mails) != 1 || mails[0].To != "sales@acme.example" || !strings.HasPrefix(mails[0].Link, "https://baton.example.com/x/") ||
		!mails[0].Expires.Equal(h.clock.Now().Add(48*time.Hour).Truncate(time.Second)) {
		t.Fatalf("mails: %+v", mails)
	}
	h.mustContain("the mail", mails[0].Text, "Vendor confirmation", "Vendor: Acme", "works once", mails[0].Link)
	h.mustContain("#procurement", h.inbox("alice"), "Vendor confirmation", "Waiting on sales@acme.example (external)")
	h.mustContain("outbox mail view", h.get("/console/mail"), "Outbox mail", "To sales@acme.example", "Open the approval page")

	path := strings.TrimPrefix(mails[0].Link, "https://baton.example.com")
	page := h.get(path)
	h.mustContain("approval page", page, "Deciding as sales@acme.example (external)", "Acme", "Manager approval")
	form := url.Values{"decision": {"approve"}, "reason": {"We can deliver by March"}}
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", h.srv.URL)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "You approved "+id) {
		t.Fatalf("approve: %d %s", resp.StatusCode, body)
	}
	h.drain()

	// Internal cards: the channel card is closed with the vendor's decision.
	h.mustContain("#procurement", h.inbox("hana"), "Approved by sales@acme.example (external)", "Reason: We can deliver by March")
	h.mustContain("hana's inbox", h.inbox("hana"), `data-action="approve-`+id+`-legal-1"`)
	h.act("hana", "approve", id, "legal", 1, true)
	h.mustContain("alice's outcome", h.inbox("alice"), "Vendor confirmation: approved by sales@acme.example (external)")
	h.mustContain("timeline", h.get("/console/status/"+id+"?as=alice"), "sales@acme.example (external) approved", "reason: We can deliver by March")

	audit, err := h.a.store.Audit(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if err := flows.VerifyChain(audit); err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, e := range audit {
		found = found || e.Actor == "email:sales@acme.example" && e.Action == "approved" && e.Platform == "email" && e.Step == "vendor_ok" && e.Reason == "We can deliver by March"
	}
	if !found {
		t.Errorf("the audit trail lacks the vendor's approval: %+v", audit)
	}
	// The link is spent.
	resp, err = http.Get(h.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGone {
		t.Errorf("the used link answers %d, want 410", resp.StatusCode)
	}
	// The dashboard is open to this machine in local console mode.
	h.mustContain("dashboard", h.get("/dashboard"), "Open without sign-in", "Vendor confirmation")
}

// TestExternalConfig: bad settings are refused with how to fix them.
func TestExternalConfig(t *testing.T) {
	t.Parallel()
	for env, want := range map[string]string{
		"BATON_SMTP_URL=http://x":        "BATON_SMTP_URL scheme",
		"BATON_LINK_TTL=soon":            "BATON_LINK_TTL",
		"BATON_PUBLIC_URL=baton.example": "BATON_PUBLIC_URL",
		"BATON_LINK_SECRET=short":        "BATON_LINK_SECRET is too short",
		"BATON_DASHBOARD_TOKEN=short":    "BATON_DASHBOARD_TOKEN is too short",
	} {
		k, v, _ := strings.Cut(env, "=")
		b := storagetest.Default(t)
		scfg := storage.Config{Prefix: storagetest.Prefix(), Shards: 2}
		t.Cleanup(func() { _ = storage.New(b.Client, scfg).DeleteAll(context.Background()) })
		cfg := bot.Config{Console: "local", HTTPAddr: "127.0.0.1:0", TimerInterval: time.Second}
		_, err := build(t.Context(), cfg, func(key string) string {
			if key == k {
				return v
			}
			return ""
		}, slog.New(slog.NewTextHandler(io.Discard, nil)), b.Client, nil, scfg)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error about %q", env, err, want)
		}
	}
}

// TestDashboardSignIn: admins sign in with BATON_DASHBOARD_TOKEN or with an
// API token of scope admin; anyone else is refused.
func TestDashboardSignIn(t *testing.T) {
	t.Parallel()
	h := newExternalHarness(t, map[string]string{"BATON_DASHBOARD_TOKEN": "dashboard-token-0123456789abcdef"})
	for name, tok := range map[string]storage.Token{
		"adm": {Name: "adm", Scope: "admin"},
		"rd":  {Name: "rd", Scope: "read"},
		"bob": {Name: "bob", Scope: "admin", Person: "bob"},
	} {
		tok.Hash, tok.Created = api.HashToken("baton_token-of-"+name), t0
		if err := h.a.store.CreateToken(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var session *http.Cookie // the last sign-in's
	login := func(user, token string) int {
		req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/dashboard/login", strings.NewReader(url.Values{"user": {user}, "token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusSeeOther && len(resp.Cookies()) != 1 {
			t.Errorf("%s signed in without a session cookie", user)
		}
		if cs := resp.Cookies(); len(cs) == 1 {
			session = cs[0]
		}
		return resp.StatusCode
	}
	// signedIn says whether the dashboard shows with the cookie ck.
	signedIn := func(method, path string, ck *http.Cookie) bool {
		req, _ := http.NewRequest(method, h.srv.URL+path, nil)
		req.AddCookie(ck)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), "Signed in as")
	}
	for _, c := range []struct {
		user, token string
		want        int
	}{
		{"olivia", "dashboard-token-0123456789abcdef", http.StatusSeeOther},
		{"olivia", "baton_token-of-adm", http.StatusSeeOther},
		{"olivia", "baton_token-of-rd", http.StatusUnauthorized},  // not an admin token
		{"olivia", "baton_token-of-bob", http.StatusUnauthorized}, // Bob's token
		{"bob", "dashboard-token-0123456789abcdef", http.StatusUnauthorized},
		{"olivia", "nope", http.StatusUnauthorized},
	} {
		if got := login(c.user, c.token); got != c.want {
			t.Errorf("%s with %s: %d, want %d", c.user, c.token, got, c.want)
		}
	}
	// A session ends when its API token is revoked...
	if code := login("olivia", "baton_token-of-adm"); code != http.StatusSeeOther {
		t.Fatalf("sign-in with the admin token: %d", code)
	}
	if ck := session; !signedIn("GET", "/dashboard", ck) {
		t.Fatal("not signed in with the admin token")
	} else if err := h.a.store.RevokeToken(t.Context(), "adm"); err != nil {
		t.Fatal(err)
	} else if signedIn("GET", "/dashboard", ck) {
		t.Error("the session outlived its revoked token")
	}
	// ...and a signed-out cookie is no use to whoever kept a copy.
	if code := login("olivia", "dashboard-token-0123456789abcdef"); code != http.StatusSeeOther {
		t.Fatalf("sign-in with BATON_DASHBOARD_TOKEN: %d", code)
	}
	ck := session
	if !signedIn("GET", "/dashboard", ck) {
		t.Fatal("not signed in with BATON_DASHBOARD_TOKEN")
	}
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/dashboard/logout", nil)
	req.AddCookie(ck)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", resp.StatusCode)
	}
	if signedIn("GET", "/dashboard", ck) {
		t.Error("a signed-out session still shows the dashboard")
	}
}
