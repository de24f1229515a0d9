package web_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonbot/baton/adapters/web"
	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/bot/bottest"
	"github.com/batonbot/baton/flows"
	"github.com/batonbot/baton/manifests"
)

// vendorFlow has a step assigned to a vendor by email (a form field), one
// posted in a channel with an external counsel, and legal.
const vendorFlow = `
id: vendor
name: Vendor contract
owner: olivia
prefix: VC
title: "{{.vendor}}"
form:
  - {name: vendor, label: Vendor, type: text, required: true}
  - {name: contact, label: Vendor contact, type: email, required: true}
  - {name: amount, label: Amount, type: number, required: true}
  - {name: signed, label: "Signed already?", type: choice, options: ["yes", "no"]}
  - {name: budget, label: Budget line, type: text, internal: true}
  - {name: buyer, label: Buyer, type: person}
steps:
  - id: manager
    name: Manager approval
    type: approval
    assignees: [manager]
  - id: vendor_ok
    name: Vendor confirmation
    type: approval
    assignees: [field:contact]
    due: 2d
    max_rounds: 3
  - id: legal
    name: Legal sign-off
    type: approval
    channel: procurement
    assignees: [email:counsel@lawfirm.example, group:legal]
`

// vendorRig returns the runtime with the vendor flow added to the built-in ones.
func vendorRig(t *testing.T) *bottest.Rig {
	t.Helper()
	return vendorRigWith(t, vendorFlow)
}

// vendorRigWith is vendorRig with the vendor flow as src writes it.
func vendorRigWith(t *testing.T, src string) *bottest.Rig {
	t.Helper()
	defs, err := flows.LoadDefinitions(manifests.Flows, "flows")
	if err != nil {
		t.Fatal(err)
	}
	v, err := flows.ParseDefinition("vendor.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := flows.ParseDirectory("directory.yaml", manifests.Directory)
	if err != nil {
		t.Fatal(err)
	}
	return bottest.NewWith(t, append(defs, v), dir, []string{"olivia"})
}

type extRig struct {
	t     *testing.T
	rig   *bottest.Rig
	links *bot.Links
	h     http.Handler
}

const vendorAddr = "sales@acme.example"

// newExtRig starts VC-1 as Alice and has Bob approve it: it then waits on
// the vendor (sales@acme.example), round 1, due in two days.
func newExtRig(t *testing.T) *extRig {
	t.Helper()
	x := extRigWith(t, vendorFlow)
	x.handle(flows.Event{Kind: flows.EventStart, Key: "s1", Actor: "alice", Flow: "vendor",
		Data: map[string]string{"vendor": "Acme", "contact": "Sales@Acme.example", "amount": "12000", "budget": "BL-7731 Marketing"}}, true)
	x.handle(flows.Event{Kind: flows.EventApprove, Key: "a1", Instance: "VC-1", Actor: "bob"}, true)
	if in := x.instance(); in.Step != "vendor_ok" || in.Round != 1 || len(in.Tasks) != 1 || in.Tasks[0].Assignee != "email:"+vendorAddr {
		t.Fatalf("VC-1 should wait on the vendor: step %s round %d tasks %+v", in.Step, in.Round, in.Tasks)
	}
	return x
}

// extRigWith is the approval page and the runtime with the vendor flow as
// src writes it, and no request yet.
func extRigWith(t *testing.T, src string) *extRig {
	t.Helper()
	rig := vendorRigWith(t, src)
	console := web.New(rig.Svc, web.Config{}, rig.Log)
	rig.Use(console.Messenger())
	t.Cleanup(console.Close)
	links := bot.NewLinks([]byte("test-secret-test-secret-test-secret"), rig.Store, rig.Store, rig.Clock, bot.LinksConfig{TTL: 72 * time.Hour})
	return &extRig{t: t, rig: rig, links: links, h: web.NewExternal(rig.Svc, links, rig.Log).Handler()}
}

func (x *extRig) handle(ev flows.Event, wantOK bool) flows.Outcome {
	x.t.Helper()
	out, err := x.rig.Svc.Handle(x.t.Context(), ev)
	if err != nil || out.OK != wantOK {
		x.t.Fatalf("%s by %s: %+v, %v (want ok=%v)", ev.Kind, ev.Actor, out, err, wantOK)
	}
	x.rig.Drain()
	return out
}

func (x *extRig) instance() *flows.Instance {
	x.t.Helper()
	in, err := x.rig.Svc.Instance(x.t.Context(), "VC-1")
	if err != nil {
		x.t.Fatal(err)
	}
	return in
}

// link signs a link as the mail would carry it.
func (x *extRig) link(step string, round int, addr string) string {
	token, _ := x.links.New("VC-1", step, round, addr)
	return "/x/" + token
}

// do sends a request from an arbitrary internet address, as a browser on
// the same site would (unless header says otherwise).
func (x *extRig) do(method, path string, form url.Values, header ...string) *httptest.ResponseRecorder {
	x.t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	r := httptest.NewRequest(method, "https://baton.example.com"+path, body)
	r.RemoteAddr = "203.0.113.7:40000"
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	x.h.ServeHTTP(w, r)
	return w
}

// expect checks a response's status and that its body holds every want.
func (x *extRig) expect(w *httptest.ResponseRecorder, code int, wants ...string) {
	x.t.Helper()
	body := unescape(w.Body.String())
	if w.Code != code {
		x.t.Fatalf("status %d, want %d; body:\n%s", w.Code, code, body)
	}
	for _, want := range wants {
		if !strings.Contains(body, want) {
			x.t.Fatalf("body lacks %q:\n%s", want, body)
		}
	}
}

func unescape(s string) string {
	return strings.NewReplacer("&#39;", "'", "&#34;", `"`, "&amp;", "&", "&lt;", "<", "&gt;", ">", "&quot;", `"`).Replace(s)
}

// unchanged fails unless VC-1 still waits on the vendor at round 1.
func (x *extRig) unchanged() {
	x.t.Helper()
	in := x.instance()
	if in.Step != "vendor_ok" || in.Round != 1 || in.Tasks[0].Decision != flows.Pending {
		x.t.Fatalf("VC-1 changed: step %s round %d tasks %+v", in.Step, in.Round, in.Tasks)
	}
}

func TestExternalApproveOnce(t *testing.T) {
	x := newExtRig(t)
	link := x.link("vendor_ok", 1, vendorAddr)
	w := x.do("GET", link, nil)
	x.expect(w, http.StatusOK, "VC-1: Acme", "Deciding as sales@acme.example (external)", "Alice Martin asks for your decision on",
		"Vendor confirmation", "Manager approval</strong>: approved by Bob Chen", "12,000", "Request changes")
	for h, want := range map[string]string{"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"} {
		if got := w.Header().Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP = %q", csp)
	}

	w = x.do("POST", link, url.Values{"decision": {"approve"}, "reason": {"Terms are fine"}})
	x.expect(w, http.StatusOK, "You approved VC-1", "Alice Martin and the team see your decision and your reason")
	in := x.instance()
	if in.Step != "legal" {
		t.Fatalf("after the vendor's approval VC-1 is at %s, want legal", in.Step)
	}
	h := in.History[len(in.History)-1]
	if h.Step != "vendor_ok" || h.Outcome != "approved" || h.By != "email:"+vendorAddr || h.Reason != "Terms are fine" {
		t.Errorf("history: %+v", h)
	}
	audit, err := x.rig.Store.Audit(t.Context(), "VC-1")
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, e := range audit {
		if e.Action == "approved" && e.Actor == "email:"+vendorAddr {
			found = e.Platform == "email" && e.Reason == "Terms are fine" && e.Step == "vendor_ok"
		}
	}
	if !found {
		t.Errorf("no audit entry of the vendor's approval (platform email, with the reason): %+v", audit)
	}

	// Replayed: refused, and nothing more is recorded.
	before := len(audit)
	x.expect(x.do("POST", link, url.Values{"decision": {"reject"}, "reason": {"again"}}), http.StatusGone, "This link was already used")
	x.expect(x.do("GET", link, nil), http.StatusGone, "This link was already used")
	if audit, _ := x.rig.Store.Audit(t.Context(), "VC-1"); len(audit) != before {
		t.Errorf("a replay added audit entries: %d, want %d", len(audit), before)
	}
}

func TestExternalLinkExpires(t *testing.T) {
	x := newExtRig(t)
	link := x.link("vendor_ok", 1, vendorAddr)
	x.rig.Clock.Advance(72*time.Hour - time.Second)
	x.expect(x.do("GET", link, nil), http.StatusOK, "Vendor confirmation")
	x.rig.Clock.Advance(time.Second)
	x.expect(x.do("GET", link, nil), http.StatusGone, "This link has expired", "VC-1", "Mail me a new link", `action="`+link+`/renew"`)
	x.expect(x.do("POST", link, url.Values{"decision": {"approve"}}), http.StatusGone, "This link has expired")
	x.unchanged()

	// Asked for, a new link comes by mail: a reminder of the step, due
	// in a few minutes (every reminder mail brings a fresh link).
	x.expect(x.do("POST", link+"/renew", nil), http.StatusOK, "A new link is on its way", vendorAddr)
	in, err := x.rig.Store.Get(t.Context(), "VC-1")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(in.Timers, func(tm flows.Timer) bool {
		return tm.Kind == flows.TimerSnooze && tm.Person == flows.ExternalID(vendorAddr) && tm.At.Equal(x.rig.Clock.Now().Add(5*time.Minute))
	}) {
		t.Errorf("no reminder for %s in 5 min: %+v", vendorAddr, in.Timers)
	}
	// Only a link Baton signed may ask.
	x.expect(x.do("POST", link+"x/renew", nil), http.StatusNotFound, "This link is not valid")
	// Once: asking again changes nothing more.
	x.expect(x.do("POST", link+"/renew", nil), http.StatusOK, "A new link is on its way")
	if again, _ := x.rig.Store.Get(t.Context(), "VC-1"); again.Version != in.Version {
		t.Errorf("a second ask changed the request: version %d, want %d", again.Version, in.Version)
	}
}

func TestExternalLinkTampered(t *testing.T) {
	x := newExtRig(t)
	link := x.link("vendor_ok", 1, vendorAddr)
	token := strings.TrimPrefix(link, "/x/")
	payload, sig, _ := strings.Cut(token, ".")
	other := bot.NewLinks([]byte("another-secret-another-secret-xx"), x.rig.Store, x.rig.Store, x.rig.Clock, bot.LinksConfig{})
	forged, _ := other.New("VC-1", "vendor_ok", 1, vendorAddr)
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	for name, tok := range map[string]string{
		"payload changed":      flip(payload, len(payload)/2) + "." + sig,
		"signature changed":    payload + "." + flip(sig, 3),
		"signature cut":        payload + "." + sig[:len(sig)-4],
		"no signature":         payload,
		"other secret":         forged,
		"guess":                "VC-1",
		"empty payload":        "." + sig,
		"signature of another": payload + "." + strings.SplitN(forged, ".", 2)[1],
	} {
		t.Run(name, func(t *testing.T) {
			x.expect(x.do("GET", "/x/"+url.PathEscape(tok), nil), http.StatusNotFound, "This link is not valid")
			x.expect(x.do("POST", "/x/"+url.PathEscape(tok), url.Values{"decision": {"approve"}}), http.StatusNotFound, "This link is not valid")
		})
	}
	x.unchanged()
	x.expect(x.do("GET", link, nil), http.StatusOK, "Vendor confirmation") // the genuine link still works
}

func TestExternalLinkWrongPersonOrStep(t *testing.T) {
	x := newExtRig(t)
	// Someone else's address: the step does not wait on them.
	mallory := x.link("vendor_ok", 1, "mallory@evil.example")
	x.expect(x.do("GET", mallory, nil), http.StatusForbidden, "not (or no longer) assigned to mallory@evil.example")
	x.expect(x.do("POST", mallory, url.Values{"decision": {"approve"}}), http.StatusForbidden, "Not assigned to you")
	// The vendor's address, another step or round.
	x.expect(x.do("GET", x.link("legal", 1, vendorAddr), nil), http.StatusConflict, "Already decided")
	x.expect(x.do("POST", x.link("vendor_ok", 2, vendorAddr), url.Values{"decision": {"approve"}}), http.StatusConflict, "Already decided")
	x.expect(x.do("POST", x.link("manager", 1, vendorAddr), url.Values{"decision": {"approve"}}), http.StatusConflict,
		"This step of VC-1 was already approved by Bob Chen")
	x.unchanged()
}

func TestExternalDecidedMeanwhile(t *testing.T) {
	x := newExtRig(t)
	link := x.link("vendor_ok", 1, vendorAddr)
	x.expect(x.do("GET", link, nil), http.StatusOK, "Approve")
	// An admin decides the step while the vendor's mail sits unread.
	x.handle(flows.Event{Kind: flows.EventApprove, Key: "o1", Instance: "VC-1", Actor: "olivia", Step: "vendor_ok", Round: 1}, true)
	x.expect(x.do("GET", link, nil), http.StatusConflict, "This step of VC-1 was already approved by Olivia Brown")
	x.expect(x.do("POST", link, url.Values{"decision": {"reject"}, "reason": {"too late"}}), http.StatusConflict, "already approved by Olivia Brown")
	if in := x.instance(); in.Step != "legal" || in.History[len(in.History)-1].By != "olivia" {
		t.Errorf("VC-1: step %s, last record %+v", in.Step, in.History[len(in.History)-1])
	}
}

func TestExternalReasonAndCrossSite(t *testing.T) {
	x := newExtRig(t)
	link := x.link("vendor_ok", 1, vendorAddr)
	// A rejection needs a reason; the link is not spent by the mistake.
	x.expect(x.do("POST", link, url.Values{"decision": {"reject"}}), http.StatusUnprocessableEntity, "Please give a reason")
	x.expect(x.do("POST", link, url.Values{"decision": {"maybe"}}), http.StatusUnprocessableEntity, "Pick Approve, Reject or Request changes")
	// A form posted from another site is refused.
	x.expect(x.do("POST", link, url.Values{"decision": {"approve"}}, "Sec-Fetch-Site", "cross-site"), http.StatusForbidden, "posted from another site")
	x.unchanged()
	x.expect(x.do("POST", link, url.Values{"decision": {"changes"}, "reason": {"Fix the delivery date"}}), http.StatusOK, "You asked for changes to VC-1")
	if in := x.instance(); in.Status != flows.StatusChangesRequested || in.Outcome != "Fix the delivery date" {
		t.Errorf("VC-1: %s %q", in.Status, in.Outcome)
	}
	// Resubmitted, round 2 says what changed, a label's own question mark
	// not followed by a colon.
	x.handle(flows.Event{Kind: flows.EventResubmit, Key: "r1", Instance: "VC-1", Actor: "alice",
		Data: map[string]string{"vendor": "Acme", "contact": "Sales@Acme.example", "amount": "12000", "signed": "yes"}}, true)
	w := x.do("GET", x.link("vendor_ok", 2, vendorAddr), nil)
	x.expect(w, http.StatusOK, "Changed since the last review", "<li>Signed already? <del></del> → <ins>yes</ins></li>")
}

// TestExternalDoubleClick posts the same link twice at once: exactly one
// decision is recorded, the other post is refused.
func TestExternalDoubleClick(t *testing.T) {
	x := newExtRig(t)
	link := x.link("vendor_ok", 1, vendorAddr)
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i := range codes {
		wg.Go(func() { codes[i] = x.do("POST", link, url.Values{"decision": {"approve"}}).Code })
	}
	wg.Wait()
	// The loser is told the link was used (410), or, when the winner had
	// already moved the request on, that the step was decided (409).
	refused := func(c int) bool { return c == http.StatusGone || c == http.StatusConflict }
	if !(codes[0] == http.StatusOK && refused(codes[1]) || refused(codes[0]) && codes[1] == http.StatusOK) {
		t.Fatalf("codes %v, want one 200 and one 410 or 409", codes)
	}
	audit, err := x.rig.Store.Audit(t.Context(), "VC-1")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range audit {
		if e.Actor == "email:"+vendorAddr && e.Action == "approved" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d approvals by the vendor recorded, want 1", n)
	}
}

// TestExternalChannelStep: a step posted in a channel still reaches its
// external assignee on their own, and their approval closes it for all.
func TestExternalChannelStep(t *testing.T) {
	x := newExtRig(t)
	x.expect(x.do("POST", x.link("vendor_ok", 1, vendorAddr), url.Values{"decision": {"approve"}}), http.StatusOK, "You approved")
	x.rig.Drain()
	in := x.instance()
	if in.Step != "legal" || len(in.Tasks) != 2 {
		t.Fatalf("VC-1 at %s with tasks %+v", in.Step, in.Tasks)
	}
	counsel := x.link("legal", 1, "counsel@lawfirm.example")
	x.expect(x.do("POST", counsel, url.Values{"decision": {"approve"}, "reason": {"Signed"}}), http.StatusOK, "You approved VC-1")
	if in := x.instance(); in.Status != flows.StatusCompleted {
		t.Errorf("VC-1 is %s, want completed", in.Status)
	}
}

// TestExternalLinkRevokedByReassign: an admin moves the vendor's task to
// Bob; the vendor's outstanding link stops working at once.
func TestExternalLinkRevokedByReassign(t *testing.T) {
	x := newExtRig(t)
	link := x.link("vendor_ok", 1, vendorAddr)
	x.handle(flows.Event{Kind: flows.EventReassign, Key: "r1", Instance: "VC-1", Actor: "olivia", Target: "bob",
		From: "email:" + vendorAddr, Reason: "vendor unreachable"}, true)
	x.expect(x.do("GET", link, nil), http.StatusForbidden, "not (or no longer) assigned to sales@acme.example")
	x.expect(x.do("POST", link, url.Values{"decision": {"approve"}}), http.StatusForbidden, "Not assigned to you")
	if in := x.instance(); in.Tasks[0].Assignee != "bob" || in.Tasks[0].Decision != flows.Pending {
		t.Errorf("tasks %+v", in.Tasks)
	}
}

// TestExternalOldLinkAfterReassignBack: the task moves away from the vendor
// and, later, back: the vendor's first link stays dead; the new one works.
func TestExternalOldLinkAfterReassignBack(t *testing.T) {
	x := newExtRig(t)
	old := x.link("vendor_ok", 1, vendorAddr)
	x.handle(flows.Event{Kind: flows.EventReassign, Key: "r1", Instance: "VC-1", Actor: "olivia", Target: "bob",
		From: "email:" + vendorAddr, Reason: "vendor unreachable"}, true)
	x.rig.Clock.Advance(2 * time.Hour)
	x.handle(flows.Event{Kind: flows.EventReassign, Key: "r2", Instance: "VC-1", Actor: "bob", Target: "email:" + vendorAddr,
		Reason: "they are back"}, true)
	x.expect(x.do("POST", old, url.Values{"decision": {"approve"}}), http.StatusForbidden, "Not assigned to you")
	if in := x.instance(); in.Tasks[0].Decision != flows.Pending {
		t.Fatalf("the old link decided: %+v", in.Tasks)
	}
	x.expect(x.do("GET", x.link("vendor_ok", 1, vendorAddr), nil), http.StatusOK, "VC-1")
}

// flakySvc fails the next fail decisions as a store outage would.
type flakySvc struct {
	web.ExternalService
	mu   sync.Mutex
	fail int
}

func (f *flakySvc) Handle(ctx context.Context, ev flows.Event) (flows.Outcome, error) {
	f.mu.Lock()
	failing := f.fail > 0
	if failing {
		f.fail--
	}
	f.mu.Unlock()
	if failing {
		return flows.Outcome{}, errors.New("redis: connection reset by peer")
	}
	return f.ExternalService.Handle(ctx, ev)
}

// TestExternalFailedDecisionKeepsLink: a decision that could not be saved
// does not spend the link (the person retries); a saved one does.
func TestExternalFailedDecisionKeepsLink(t *testing.T) {
	x := newExtRig(t)
	svc := &flakySvc{ExternalService: x.rig.Svc, fail: 1}
	x.h = web.NewExternal(svc, x.links, x.rig.Log).Handler()
	link := x.link("vendor_ok", 1, vendorAddr)
	w := x.do("POST", link, url.Values{"decision": {"approve"}})
	x.expect(w, http.StatusInternalServerError, "Your decision was not recorded")
	if strings.Contains(w.Body.String(), "redis") {
		t.Errorf("the page shows the internal error: %s", w.Body)
	}
	x.unchanged()
	x.expect(x.do("GET", link, nil), http.StatusOK, "Vendor confirmation")
	x.expect(x.do("POST", link, url.Values{"decision": {"approve"}}), http.StatusOK, "You approved VC-1")
	x.expect(x.do("POST", link, url.Values{"decision": {"approve"}}), http.StatusGone, "This link was already used")
}

// TestExternalRacingDecisions: approve and reject posted at once with one
// link record one decision, and each page says what happened to it.
func TestExternalRacingDecisions(t *testing.T) {
	for range 10 {
		x := newExtRig(t)
		link := x.link("vendor_ok", 1, vendorAddr)
		var wg sync.WaitGroup
		bodies := make([]string, 2)
		for i, d := range []string{"approve", "reject"} {
			wg.Go(func() {
				bodies[i] = unescape(x.do("POST", link, url.Values{"decision": {d}, "reason": {"r"}}).Body.String())
			})
		}
		wg.Wait()
		in := x.instance()
		approved := in.Step == "legal"
		if approved && strings.Contains(bodies[1], "You rejected") || !approved && strings.Contains(bodies[0], "You approved") {
			t.Fatalf("VC-1 at %s (%s), yet the pages say:\n%s\n---\n%s", in.Step, in.Status, bodies[0], bodies[1])
		}
	}
}

// TestExternalHistorySaysForWhom: the page's history names who decided an
// earlier step as its closed card does: a delegate, for whom.
func TestExternalHistorySaysForWhom(t *testing.T) {
	rig := vendorRig(t)
	links := bot.NewLinks([]byte("test-secret-test-secret-test-secret"), rig.Store, rig.Store, rig.Clock, bot.LinksConfig{TTL: 72 * time.Hour})
	x := &extRig{t: t, rig: rig, links: links, h: web.NewExternal(rig.Svc, links, rig.Log).Handler()}
	x.handle(flows.Event{Kind: flows.EventStart, Key: "s1", Actor: "alice", Flow: "vendor",
		Data: map[string]string{"vendor": "Acme", "contact": vendorAddr, "amount": "12000"}}, true)
	x.handle(flows.Event{Kind: flows.EventDelegate, Key: "d1", Instance: "VC-1", Actor: "bob", Target: "carol"}, true)
	x.handle(flows.Event{Kind: flows.EventApprove, Key: "a1", Instance: "VC-1", Actor: "carol"}, true)
	x.expect(x.do("GET", x.link("vendor_ok", 1, vendorAddr), nil), http.StatusOK, "Manager approval</strong>: approved by Carol Diaz (for Bob Chen)")
}

// TestExternalPageLeavesInternalFieldsOut: the vendor's page shows the
// request without its internal field, and a resubmission's changes
// without that field's old and new values.
func TestExternalPageLeavesInternalFieldsOut(t *testing.T) {
	x := newExtRig(t)
	lacks := func(w *httptest.ResponseRecorder, what ...string) {
		t.Helper()
		for _, s := range what {
			if strings.Contains(unescape(w.Body.String()), s) {
				t.Errorf("the page shows %q:\n%s", s, w.Body.String())
			}
		}
	}
	w := x.do("GET", x.link("vendor_ok", 1, vendorAddr), nil)
	x.expect(w, http.StatusOK, "Vendor contact", "12,000")
	lacks(w, "Budget line", "BL-7731")
	x.expect(x.do("POST", x.link("vendor_ok", 1, vendorAddr), url.Values{"decision": {"changes"}, "reason": {"Wrong amount"}}), http.StatusOK, "You asked for changes")
	x.handle(flows.Event{Kind: flows.EventResubmit, Key: "r1", Instance: "VC-1", Actor: "alice",
		Data: map[string]string{"vendor": "Acme", "contact": "Sales@Acme.example", "amount": "15000", "budget": "BL-9902 Events"}}, true)
	if in := x.instance(); in.Step != "vendor_ok" || in.Round != 2 || len(in.Changes) != 2 {
		t.Fatalf("VC-1 should be back with the vendor, round 2, with two changes: step %s round %d changes %+v", in.Step, in.Round, in.Changes)
	}
	w = x.do("GET", x.link("vendor_ok", 2, vendorAddr), nil)
	x.expect(w, http.StatusOK, "Changed since the last review", "Amount: <del>12,000</del> → <ins>15,000</ins>")
	lacks(w, "Budget line", "BL-7731", "BL-9902")
}

// TestExternalPageTitleLeavesInternalFieldsOut: of a flow whose title
// reads an internal field, the page of someone outside the workspace, to
// whom the manager's task was reassigned at run time, is headed by the
// request's id (the flow's name beside it), not by the title.
func TestExternalPageTitleLeavesInternalFieldsOut(t *testing.T) {
	x := extRigWith(t, strings.Replace(vendorFlow, `title: "{{.vendor}}"`, `title: "{{.vendor}} ({{.budget}})"`, 1))
	x.handle(flows.Event{Kind: flows.EventStart, Key: "s1", Actor: "alice", Flow: "vendor",
		Data: map[string]string{"vendor": "Acme", "contact": "Sales@Acme.example", "amount": "12000", "budget": "BL-7731 Marketing"}}, true)
	if in := x.instance(); in.Title != "Acme (BL-7731 Marketing)" {
		t.Fatalf("VC-1 is titled %q", in.Title)
	}
	x.handle(flows.Event{Kind: flows.EventReassign, Key: "r1", Instance: "VC-1", Actor: "bob", Target: "email:counsel@lawfirm.example",
		Reason: "counsel decides"}, true)
	w := x.do("GET", x.link("manager", 1, "counsel@lawfirm.example"), nil)
	x.expect(w, http.StatusOK, "<h3>VC-1</h3>", "Vendor contract", "<dt>Vendor</dt><dd>Acme</dd>")
	if body := unescape(w.Body.String()); strings.Contains(body, "BL-7731") {
		t.Errorf("the page shows the budget line:\n%s", body)
	}
}

// TestExternalPageNamesPeopleChanged: a resubmission that changed a person
// field shows the people by name in "Changed since the last review", as
// the page's fields and the cards do, not by their ids.
func TestExternalPageNamesPeopleChanged(t *testing.T) {
	x := newExtRig(t)
	x.expect(x.do("POST", x.link("vendor_ok", 1, vendorAddr), url.Values{"decision": {"changes"}, "reason": {"Who buys?"}}), http.StatusOK, "You asked for changes")
	x.handle(flows.Event{Kind: flows.EventResubmit, Key: "r1", Instance: "VC-1", Actor: "alice",
		Data: map[string]string{"vendor": "Acme", "contact": "Sales@Acme.example", "amount": "12000", "budget": "BL-7731 Marketing", "buyer": "carol"}}, true)
	w := x.do("GET", x.link("vendor_ok", 2, vendorAddr), nil)
	x.expect(w, http.StatusOK, "Buyer</dt><dd>Carol Diaz", "Changed since the last review", "<li>Buyer: <del></del> → <ins>Carol Diaz</ins></li>")
	x.expect(x.do("POST", x.link("vendor_ok", 2, vendorAddr), url.Values{"decision": {"changes"}, "reason": {"Not Carol"}}), http.StatusOK, "You asked for changes")
	x.handle(flows.Event{Kind: flows.EventResubmit, Key: "r2", Instance: "VC-1", Actor: "alice",
		Data: map[string]string{"vendor": "Acme", "contact": "Sales@Acme.example", "amount": "12000", "budget": "BL-7731 Marketing", "buyer": "slack:U123"}}, true)
	x.expect(x.do("GET", x.link("vendor_ok", 3, vendorAddr), nil), http.StatusOK, "<li>Buyer: <del>Carol Diaz</del> → <ins>slack:U123</ins></li>")
}
