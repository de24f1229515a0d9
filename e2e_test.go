package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
	"github.com/batonbot/baton/storage"
	"github.com/batonbot/baton/storage/storagetest"
)

var t0 = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

// harness is Baton assembled over a test Redis, with a fake clock, served
// by httptest: the console's HTTP interface is driven like a browser would,
// asking for JSON answers.
type harness struct {
	t     *testing.T
	a     *app
	clock *clockwork.FakeClock
	srv   *httptest.Server
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessAdmins(t, "olivia")
}

// newHarnessAdmins assembles Baton with the given admins; newHarness makes
// olivia, who owns every built-in flow, the admin. Other admins let the
// owner and an admin be told apart.
func newHarnessAdmins(t *testing.T, admins ...string) *harness {
	t.Helper()
	return newHarnessWith(t, bot.Config{Admins: admins}, func(string) string { return "" })
}

// newHarnessWith assembles Baton with cfg (the console on, a fake clock, a
// free port and a store of the test's own) and the environment getenv.
func newHarnessWith(t *testing.T, cfg bot.Config, getenv func(string) string) *harness {
	t.Helper()
	b := storagetest.Default(t)
	scfg := storage.Config{Prefix: storagetest.Prefix(), Shards: 4}
	clock := clockwork.NewFakeClockAt(t0)
	cfg.Console, cfg.TimerInterval, cfg.HTTPAddr = "local", time.Second, "127.0.0.1:0"
	a, err := build(t.Context(), cfg, getenv, slog.New(slog.NewTextHandler(io.Discard, nil)), b.Client, clock, scfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.store.DeleteAll(context.Background()); err != nil {
			t.Errorf("clean up: %v", err)
		}
	})
	h := &harness{t: t, a: a, clock: clock, srv: httptest.NewServer(a.server.Handler())}
	t.Cleanup(h.srv.Close)
	return h
}

// post sends a form as `as` and decodes the JSON answer.
func (h *harness) post(as, path string, form url.Values) (int, map[string]any) {
	h.t.Helper()
	form.Set("as", as)
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		h.t.Fatalf("POST %s: status %d, undecodable answer: %v", path, resp.StatusCode, err)
	}
	return resp.StatusCode, out
}

// act clicks a card button; it fails the test unless the answer's ok is wantOK.
func (h *harness) act(as, action, id, step string, round int, wantOK bool, extra ...string) string {
	h.t.Helper()
	f := url.Values{"action": {action}, "instance": {id}, "step": {step}, "round": {strconv.Itoa(round)}}
	for i := 0; i+1 < len(extra); i += 2 {
		f.Set(extra[i], extra[i+1])
	}
	code, out := h.post(as, "/console/act", f)
	if code != http.StatusOK || out["ok"] != wantOK {
		h.t.Fatalf("%s %s by %s: status %d, answer %v (want ok=%v)", action, id, as, code, out, wantOK)
	}
	h.drain()
	return out["text"].(string)
}

func (h *harness) drain() {
	h.t.Helper()
	if _, err := h.a.dispatcher.Drain(h.t.Context()); err != nil {
		h.t.Fatal(err)
	}
}

// advance moves the clock, fires due timers and delivers what they caused.
func (h *harness) advance(d time.Duration) int {
	h.t.Helper()
	h.clock.Advance(d)
	n, err := h.a.timers.Tick(h.t.Context())
	if err != nil {
		h.t.Fatal(err)
	}
	h.drain()
	return n
}

func (h *harness) get(path string) string {
	h.t.Helper()
	resp, err := http.Get(h.srv.URL + path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return string(b)
}

func (h *harness) inbox(as string) string { return h.get("/console/inbox?as=" + as) }

func (h *harness) mustContain(where, s string, wants ...string) {
	h.t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			h.t.Fatalf("%s lacks %q:\n%s", where, w, s)
		}
	}
}

func (h *harness) start(as, flow string, data url.Values) string {
	h.t.Helper()
	code, out := h.post(as, "/console/start/"+flow, data)
	if code != http.StatusOK || out["ok"] != true {
		h.t.Fatalf("start %s: %d %v", flow, code, out)
	}
	h.drain()
	return out["message"].(map[string]any)["instance"].(string)
}

func (h *harness) instance(id string) *flows.Instance {
	h.t.Helper()
	in, err := h.a.store.Get(h.t.Context(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return in
}

func TestConsolePurchaseEndToEnd(t *testing.T) {
	t.Parallel()
	h := newHarness(t)

	// A bad form is refused field by field, and nothing is created.
	code, out := h.post("alice", "/console/start/purchase", url.Values{"item": {"Laptop"}, "amount": {"-5"}})
	if code != http.StatusUnprocessableEntity || out["fields"].(map[string]any)["amount"] != "Total amount must be at least 1" {
		t.Fatalf("bad form: %d %v", code, out)
	}
	id := h.start("alice", "purchase", url.Values{"item": {"Laptop"}, "amount": {"2500"}, "vendor": {"Dell"}, "justification": {"my old one broke down"}})
	if id != "PR-1" {
		t.Fatalf("first id %s", id)
	}
	h.mustContain("bob's inbox", h.inbox("bob"), "PR-1", "Manager approval", `data-action="approve-PR-1-manager-1"`, "Escalates to Dana Kowalski (your manager) in 1 d")

	// Carol is not the manager: refused, nothing changes, the attempt is audited.
	h.mustContain("refusal", h.act("carol", "approve", id, "manager", 1, false), "assigned to Bob Chen")
	h.act("bob", "approve", id, "manager", 1, true)
	h.mustContain("bob's closed card", h.inbox("bob"), "Approved by Bob Chen")
	h.mustContain("carol's inbox", h.inbox("carol"), `data-action="approve-PR-1-finance-1"`)

	// Finance rejects: a reason is required; then the requester is told why.
	code, out = h.post("carol", "/console/act", url.Values{"action": {"reject"}, "instance": {id}, "step": {"finance"}, "round": {"1"}})
	if code != http.StatusUnprocessableEntity || !strings.Contains(out["error"].(string), "reason is required") {
		t.Fatalf("reject without reason: %d %v", code, out)
	}
	h.act("carol", "reject", id, "finance", 1, true, "reason", "Over the team budget; split it")
	h.mustContain("alice's inbox", h.inbox("alice"), "Rejected: Purchase request PR-1", "Over the team budget; split it", "/console/resubmit/PR-1")
	if in := h.instance(id); in.Status != flows.StatusRejected {
		t.Fatalf("status %s", in.Status)
	}

	// Frank's click on his (now stale) card is told who decided first.
	h.mustContain("stale click", h.act("frank", "approve", id, "finance", 1, false), "already rejected by Carol Diaz")

	// Alice resubmits a smaller amount. Bob approved the amount, so he is
	// asked again first (round 2 of his step, the change shown); then it is
	// back to finance, round 2.
	code, out = h.post("alice", "/console/resubmit/"+id, url.Values{"item": {"Laptop"}, "amount": {"1800"}, "vendor": {"Dell"}, "justification": {"my old one broke down"}})
	if code != http.StatusOK || out["ok"] != true {
		t.Fatalf("resubmit: %d %v", code, out)
	}
	h.drain()
	h.mustContain("bob's round 2", h.inbox("bob"), "Total amount: <del>2500</del> → <ins>1800</ins>", `data-action="approve-PR-1-manager-2"`)
	h.act("bob", "approve", id, "manager", 2, true)
	h.mustContain("carol's round 2", h.inbox("carol"), "Round 2", "Total amount: <del>2500</del> → <ins>1800</ins>", `data-action="approve-PR-1-finance-2"`)

	// Nobody acts. After a day: a reminder in the card's thread, and the
	// escalation rung posts to #finance.
	if n := h.advance(24 * time.Hour); n == 0 {
		t.Fatal("no timer fired after a day")
	}
	h.mustContain("carol's reminder", h.inbox("carol"), "Reminder 1 of 2")
	h.mustContain("#finance", h.inbox("olivia"), "Escalation: Purchase request PR-1", "has waited 1 d at Finance approval; it waits on Carol Diaz and Frank Osei")

	// At the due time (2 d) the step escalates to the assignees' manager, who decides.
	h.advance(24 * time.Hour)
	h.mustContain("dana's escalation", h.inbox("dana"), "Escalation: Purchase request PR-1", `data-action="approve-PR-1-finance-2"`)
	h.act("dana", "approve", id, "finance", 2, true)
	in := h.instance(id)
	if in.Status != flows.StatusCompleted || in.Outcome != "approved" {
		t.Fatalf("final status %s (%s)", in.Status, in.Outcome)
	}
	h.mustContain("alice's outcome", h.inbox("alice"), "Approved: Purchase request PR-1", "Finance approval: approved by Dana Kowalski")
	h.mustContain("#procurement", h.inbox("alice"), "Alice Martin&#39;s purchase PR-1 may go ahead: Laptop from Dell, EUR 1800")
	h.mustContain("carol's closed card", h.inbox("carol"), "Approved by Dana Kowalski")

	// The timeline shows each step, its owner and who decided what, when and why.
	code, out = h.post("alice", "/console/command", url.Values{"text": {"status pr-1"}})
	tl, _ := json.Marshal(out)
	h.mustContain("status", string(tl), "Approved by Bob Chen", "round 2: Approved by Dana Kowalski", "Over the team budget; split it",
		"Carol Diaz tried to approve (refused)", "completed (approved)")
	audit, err := h.a.store.Audit(t.Context(), id)
	if err != nil || flows.VerifyChain(audit) != nil {
		t.Fatalf("audit: %v", err)
	}
	// Everything fired, nothing is left behind.
	if outbox, timers, _ := h.a.store.Pending(t.Context()); outbox != 0 || timers != 0 {
		t.Fatalf("left over: %d outbox entries, %d timers", outbox, timers)
	}
}
