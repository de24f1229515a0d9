package web_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/chromedp/chromedp"
)

// newTab opens a page of base in a new browser context (its own cookies).
func (b *browser) newTab(who, path string) *tab {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	tb := &tab{b: b, t: b.t, as: who, ctx: ctx}
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatalf("open a tab for %s: %v", who, err)
	}
	tb.navigate(chromedp.Navigate(b.base + path))
	return tb
}

// TestBrowserDashboard signs in to the dashboard in headless chromium, as an
// admin would, and finds the overdue request with its owner.
func TestBrowserDashboard(t *testing.T) {
	chromium(t)
	d := newDashRig(t, false) // sign-in required even from this machine
	srv := httptest.NewServer(d.h)
	t.Cleanup(srv.Close)
	b := newBrowser(t, srv.URL)
	olivia := b.newTab("olivia", "/dashboard")
	olivia.waitText("main", "Sign in", "Admin token")
	olivia.fill("#user", "olivia")
	olivia.fill("#token", "not the token")
	if code := olivia.navigate(chromedp.Click("#signin")); code != http.StatusUnauthorized {
		t.Errorf("wrong token: HTTP %d, want 401", code)
	}
	olivia.waitText("#login-error", "not an admin, or the token is wrong")
	olivia.fill("#user", "olivia")
	olivia.fill("#token", dashToken)
	if code := olivia.navigate(chromedp.Click("#signin")); code != http.StatusOK {
		t.Errorf("sign-in: HTTP %d", code)
	}
	olivia.waitText("#user", "Signed in as olivia")
	olivia.waitText("#overdue", "PR-1", "Laptop", "Manager approval", "Bob Chen", "1 h overdue")
	olivia.waitText("#counts", "running", "completed", "withdrawn")
	olivia.waitText("#cycle", "Manager approval", "2 h")
	olivia.shot("dashboard")
	// The session cookie is not readable by scripts.
	cookie, err := chromedp.Run(olivia.ctx, chromedp.Evaluate[string](`document.cookie`))
	if err != nil || cookie != "" {
		t.Errorf("document.cookie = %q (%v): the session cookie must be HttpOnly", cookie, err)
	}
	olivia.navigate(chromedp.Click("#logout"))
	olivia.waitText("main", "Sign in")
	if errs := b.consoleErrors("401"); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}

// TestBrowserExternalApproval: the vendor opens their link in chromium,
// tries to reject without a reason, then approves with a comment; the
// link then says it was used.
func TestBrowserExternalApproval(t *testing.T) {
	chromium(t)
	x := newExtRig(t)
	srv := httptest.NewServer(x.h)
	t.Cleanup(srv.Close)
	b := newBrowser(t, srv.URL)
	link := x.link("vendor_ok", 1, vendorAddr)
	v := b.newTab("vendor", link)
	v.waitText("#who", "Deciding as sales@acme.example (external)")
	v.waitText("#request", "VC-1: Acme", "12,000")
	v.waitText("#history", "Manager approval", "Bob Chen")
	v.shot("external-page")
	v.do("skip the browser's own check", chromedp.Evaluate[chromedp.Void](`document.getElementById('reason').removeAttribute('required')`))
	if code := v.navigate(chromedp.Click("#reject")); code != http.StatusUnprocessableEntity {
		t.Errorf("reject without a reason: HTTP %d, want 422", code)
	}
	v.waitText("#decision-error", "Please give a reason")
	v.fill("#reason", "Delivery in March works for us")
	if code := v.navigate(chromedp.Click("#approve")); code != http.StatusOK {
		t.Errorf("approve: HTTP %d", code)
	}
	v.waitText("#done", "You approved VC-1")
	v.shot("external-approved")
	if code := v.navigate(chromedp.Navigate(srv.URL + link)); code != http.StatusGone {
		t.Errorf("link reused: HTTP %d, want 410", code)
	}
	v.waitText("#problem-title", "This link was already used")
	if in := x.instance(); in.Step != "legal" {
		t.Errorf("VC-1 at %s, want legal", in.Step)
	}
	if errs := b.consoleErrors("422", "410"); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}
