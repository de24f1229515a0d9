package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/batonbot/baton/adapters/web"
	"github.com/batonbot/baton/bot/bottest"
	"github.com/batonbot/baton/flows"
)

// EnvRequireChromium makes the browser test fail, instead of skipping, when
// no chromium is installed. CI sets it.
const EnvRequireChromium = "BATON_TEST_REQUIRE_CHROMIUM"

// EnvScreenshots names a directory to keep the test's screenshots in (by
// default they go to a temporary directory that is removed).
const EnvScreenshots = "BATON_TEST_SCREENSHOTS"

// chromium finds a Chromium or Chrome binary, or skips the test.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no chromium on PATH (looked for chromium, chromium-browser, google-chrome): " +
		"install it (Debian: apt-get install chromium) to run the console's browser test"
	if os.Getenv(EnvRequireChromium) == "1" {
		t.Fatalf("%s; %s=1 requires it", msg, EnvRequireChromium)
	}
	t.Skip(msg)
	return ""
}

// browser is a headless chromium; each person gets a tab in a browser
// context of their own (separate cookies and connections), as if on their
// own machine.
type browser struct {
	t     *testing.T
	ctx   context.Context // the browser
	base  string
	shots string
	mu    sync.Mutex
	logs  []string // console errors and exceptions of every tab
}

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	path := chromium(t)
	// The machine's network may be closed: these flags keep chromium from
	// calling Google at start-up.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	// chromedp may report an error while the browser shuts down, after the
	// test has ended, when t.Logf must no longer be called.
	var ended atomic.Bool
	t.Cleanup(func() { ended.Store(true) }) // runs after the browser's cleanup
	logf := func(format string, args ...any) {
		if !ended.Load() {
			t.Logf("chromedp: "+format, args...)
		}
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithErrorf(logf))
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	if err := chromedp.Do(bctx); err != nil { // starts the browser, with no timeout
		t.Fatalf("start chromium (%s): %v", path, err)
	}
	shots := os.Getenv(EnvScreenshots)
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, ctx: bctx, base: base, shots: shots}
}

// tab is one person's browser tab.
type tab struct {
	b    *browser
	t    *testing.T
	as   string
	ctx  context.Context
	page int // page loads so far; a live update must not add one
}

// open opens the console as person in a new browser context and waits until
// its live-update stream is connected.
func (b *browser) open(as string) *tab {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	return b.openIn(ctx, cancel, as)
}

// openBeside opens the console as person in a new tab of the same browser
// context as beside's (sharing its connections to the server).
func (b *browser) openBeside(beside *tab, as string) *tab {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(beside.ctx)
	return b.openIn(ctx, cancel, as)
}

func (b *browser) openIn(ctx context.Context, cancel context.CancelFunc, as string) *tab {
	b.t.Helper()
	b.t.Cleanup(cancel)
	tb := &tab{b: b, t: b.t, as: as, ctx: ctx}
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatalf("open a tab for %s: %v", as, err)
	}
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.mu.Lock()
				b.logs = append(b.logs, fmt.Sprintf("%s's tab, %s: %s", as, m.URL, m))
				b.mu.Unlock()
			}
		}
	}()
	tb.navigate(chromedp.Navigate(b.base + "/?as=" + as))
	return tb
}

// consoleErrors returns the console errors and exceptions seen so far,
// but those that hold one of expected (e.g. the 422 of a refused form).
func (b *browser) consoleErrors(expected ...string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, l := range b.logs {
		if !slices.ContainsFunc(expected, func(e string) bool { return strings.Contains(l, e) }) {
			out = append(out, l)
		}
	}
	return out
}

// do runs actions with a timeout; on failure it shows what the page held.
func (tb *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.fatal(what, err)
	}
}

func (tb *tab) fatal(what string, err error) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText`))
	tb.shot("failure-" + tb.as)
	tb.t.Fatalf("%s's tab: %s: %v\npage:\n%s", tb.as, what, err, body)
}

// navigate runs actions that load a new page (a click on a link or a
// submit button), waits for it and for its live-update stream, and returns
// the page's HTTP status.
func (tb *tab) navigate(actions ...chromedp.Action[chromedp.Void]) int64 {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, actions...)
	if err != nil {
		tb.fatal("load a page", err)
	}
	tb.page++
	// Mark the page: a live update keeps the mark, a reload loses it.
	tb.do("mark the page", chromedp.Evaluate[chromedp.Void](`window.batonTestPage = `+strconv.Itoa(tb.page)))
	tb.waitJS("the live-update stream", `!document.getElementById('inbox') || document.body.dataset.live === 'on'`)
	return resp.Status
}

// waitJS polls a JavaScript predicate.
func (tb *tab) waitJS(what, predicate string) {
	tb.t.Helper()
	tb.do("wait for "+what, chromedp.Poll[chromedp.Void](predicate, chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(25*time.Second)))
}

// waitText waits until the element sel exists and its text holds each of wants.
func (tb *tab) waitText(sel string, wants ...string) {
	tb.t.Helper()
	cond := fmt.Sprintf(`(function(){ var e = document.querySelector(%s); if (!e) return false; var s = e.innerText;`, js(sel))
	for _, w := range wants {
		cond += fmt.Sprintf(` if (!s.includes(%s)) return false;`, js(w))
	}
	cond += ` return true; })()`
	tb.waitJS(fmt.Sprintf("%s to show %q", sel, wants), cond)
}

// text returns the text of sel.
func (tb *tab) text(sel string) string {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		tb.fatal("read "+sel, err)
	}
	return s
}

// value returns the value of the form control sel.
func (tb *tab) value(sel string) string {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		tb.fatal("read "+sel, err)
	}
	return s
}

// live waits for sel to appear through a live update, not a page load.
func (tb *tab) live(sel string, wants ...string) {
	tb.t.Helper()
	tb.waitText(sel, wants...)
	got, err := chromedp.Run(tb.ctx, chromedp.Evaluate[int](`window.batonTestPage || 0`))
	if err != nil || got != tb.page {
		tb.t.Fatalf("%s's tab reloaded to show %s (page mark %d, want %d, err %v): the update was not live", tb.as, sel, got, tb.page, err)
	}
}

// fill replaces the value of a form control.
func (tb *tab) fill(sel, value string) {
	tb.t.Helper()
	// (chromedp's SetValue refuses the empty string, so clear with a script.)
	tb.do("fill "+sel, chromedp.WaitVisible(chromedp.CSS(sel)),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%s).value = ''`, js(sel))),
		chromedp.SendKeys(chromedp.CSS(sel), value))
}

// js writes s as a JavaScript string literal.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// shot saves a screenshot of the whole page (or of the element sel).
func (tb *tab) shot(name string, sel ...string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	var png []byte
	var err error
	if len(sel) > 0 {
		png, err = chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(sel[0]), chromedp.NodeVisible))
	} else {
		png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
	}
	if err != nil {
		tb.t.Logf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(tb.b.shots, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
	tb.t.Logf("screenshot: %s", path)
}

// card is the selector of the card in the inbox that has the button with
// data-action action.
func card(action string) string {
	return fmt.Sprintf(`#inbox .card:has([data-action=%q])`, action)
}

// browserRig serves a console over the test runtime and starts chromium.
func browserRig(t *testing.T) (*bottest.Rig, *browser) {
	t.Helper()
	chromium(t) // skip before assembling anything
	rig := bottest.New(t)
	console := web.New(rig.Svc, web.Config{}, rig.Log)
	rig.Use(console.Messenger())
	srv := httptest.NewServer(console.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(console.Close) // ends the live streams first, so srv.Close does not wait on them
	return rig, newBrowser(t, srv.URL)
}

// TestBrowserConsole walks the console in a real headless chromium, as the
// people of a purchase request would: Alice asks, Bob (her manager) asks
// for changes and then approves, Carol (finance) rejects, Alice resubmits,
// a day passes (reminder, escalation to #finance), Carol approves.
// Deliveries happen when the test drains the outbox; every card must then
// appear on the recipient's open page without a reload.
func TestBrowserConsole(t *testing.T) {
	rig, b := browserRig(t)

	alice, bob, carol := b.open("alice"), b.open("bob"), b.open("carol")
	bob.waitText("#inbox", "Nothing yet")

	// Alice starts a purchase; the form first refuses a bad amount inline
	// and keeps what she typed.
	if code := alice.navigate(chromedp.Click(chromedp.CSS(`.flows a[href^="/console/start/purchase"]`), chromedp.NodeVisible)); code != 200 {
		t.Fatalf("start form: HTTP %d", code)
	}
	alice.fill("#f-item", "Laptop")
	alice.fill("#f-amount", "-5")
	alice.fill("#f-vendor", "Dell")
	alice.fill("#f-justification", "My old one broke down")
	if code := alice.navigate(chromedp.Click(chromedp.CSS("#submit"), chromedp.NodeVisible)); code != 422 {
		t.Fatalf("bad form: HTTP %d, want 422", code)
	}
	alice.waitText("#form-error", "fix")
	alice.waitText(".field.invalid:has(#f-amount)", "at least 1")
	if got := alice.value("#f-item"); got != "Laptop" {
		t.Fatalf("the refused form lost the item: %q", got)
	}
	alice.shot("form-error")
	// What is not a number is told so (a number input sent it as empty:
	// "is required", with "12e" in the box).
	alice.fill("#f-amount", "12e")
	if code := alice.navigate(chromedp.Click(chromedp.CSS("#submit"), chromedp.NodeVisible)); code != 422 {
		t.Fatalf("12e: HTTP %d, want 422", code)
	}
	alice.waitText(".field.invalid:has(#f-amount)", "must be a number")
	alice.fill("#f-amount", "2500")
	if code := alice.navigate(chromedp.Click(chromedp.CSS("#submit"), chromedp.NodeVisible)); code != 200 {
		t.Fatalf("start: HTTP %d", code)
	}
	alice.waitText("#note", "PR-1")
	rig.Drain()

	// Bob's card arrives live; he asks for changes with a reason.
	bob.live(card("approve-PR-1-manager-1"), "Purchase request PR-1", "Laptop", "2500", "Requested by Alice Martin")
	bob.do("open Request changes", chromedp.Click(chromedp.CSS(`[data-action="changes-PR-1-manager-1"]`), chromedp.NodeVisible))
	reason := `details:has(> [data-action="changes-PR-1-manager-1"]) textarea`
	bob.do("type a reason", chromedp.SendKeys(chromedp.CSS(reason), "Please add the quote and pick a cheaper model", chromedp.NodeVisible))
	bob.shot("task-card-changes", card("approve-PR-1-manager-1"))

	// Another card arrives while Bob writes: the page says so and keeps his
	// half-written form as it is, until he is done.
	if _, err := rig.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventStart, Key: "test:pr-2", Actor: "alice", Platform: "web",
		Flow: "purchase", Data: map[string]string{"item": "Monitor", "amount": "300", "justification": "A second screen for reviews"}}); err != nil {
		t.Fatal(err)
	}
	rig.Drain()
	bob.waitText("#pending", "New cards arrived")
	if got := bob.value(reason); got != "Please add the quote and pick a cheaper model" {
		t.Fatalf("a live update changed Bob's half-written reason to %q", got)
	}
	bob.shot("bob-pending")
	bob.navigate(chromedp.Click(chromedp.CSS(`details:has(> [data-action="changes-PR-1-manager-1"]) button`), chromedp.NodeVisible))
	bob.waitText("#note", "PR-1")
	bob.waitText(card("approve-PR-2-manager-1"), "Monitor")
	rig.Drain()
	bob.live(`#inbox .card.closed[data-instance="PR-1"]`, "Changes requested by Bob Chen", "cheaper model")

	// Alice sees why, edits and resubmits.
	alice.live(`#inbox .card.changes`, "PR-1", "cheaper model")
	alice.navigate(chromedp.Click(chromedp.CSS(`#inbox .card.changes [data-action^="resubmit-PR-1"]`), chromedp.NodeVisible))
	alice.waitText("#sent-back", "Bob Chen sent it back: Please add the quote and pick a cheaper model")
	alice.shot("resubmit-form")
	if got := alice.value("#f-amount"); got != "2500" {
		t.Fatalf("resubmit form not pre-filled: amount %q", got)
	}
	alice.fill("#f-amount", "1500")
	alice.fill("#f-link", "https://shop.example/quote/42")
	alice.fill("#f-note", "Cheaper model, quote attached")
	alice.navigate(chromedp.Click(chromedp.CSS("#submit"), chromedp.NodeVisible))
	alice.waitText("#note", "PR-1")
	rig.Drain()

	// Round 2 for Bob shows what changed; he approves.
	bob.live(card("approve-PR-1-manager-2"), "Round 2", "Changed since", "2500", "1500")
	bob.shot("task-card-round2", card("approve-PR-1-manager-2"))
	bob.navigate(chromedp.Click(chromedp.CSS(`[data-action="approve-PR-1-manager-2"]`), chromedp.NodeVisible))
	bob.waitText("#note", "PR-1")
	rig.Drain()

	// Finance: Carol rejects with a reason.
	carol.live(card("approve-PR-1-finance-1"), "Finance approval", "1500")
	carol.do("open Reject", chromedp.Click(chromedp.CSS(`[data-action="reject-PR-1-finance-1"]`), chromedp.NodeVisible))
	carol.do("type a reason", chromedp.SendKeys(chromedp.CSS(`details:has(> [data-action="reject-PR-1-finance-1"]) textarea`), "Over the team budget; split it", chromedp.NodeVisible))
	carol.navigate(chromedp.Click(chromedp.CSS(`details:has(> [data-action="reject-PR-1-finance-1"]) button`), chromedp.NodeVisible))
	rig.Drain()

	// Alice is told, and resubmits a smaller amount.
	alice.live(`#inbox .card.outcome`, "Rejected", "Over the team budget; split it")
	alice.navigate(chromedp.Click(chromedp.CSS(`#inbox .card.outcome [data-action^="resubmit-PR-1"]`), chromedp.NodeVisible))
	alice.fill("#f-amount", "1200")
	alice.navigate(chromedp.Click(chromedp.CSS("#submit"), chromedp.NodeVisible))
	rig.Drain()
	// Bob approved the amount (the flow's reapprove_on): he is asked again
	// first, then finance.
	bob.live(card("approve-PR-1-manager-3"), "Round 3", "1500", "1200")
	bob.navigate(chromedp.Click(chromedp.CSS(`[data-action="approve-PR-1-manager-3"]`), chromedp.NodeVisible))
	bob.waitText("#note", "PR-1")
	rig.Drain()
	carol.live(card("approve-PR-1-finance-2"), "Round 2", "1500", "1200")

	// A day passes: Carol gets a reminder in the card's thread, and #finance
	// hears that the request waits.
	if n := rig.Advance(24 * time.Hour); n == 0 {
		t.Fatal("no timer fired after a day")
	}
	carol.live(`#inbox .reply .card.reminder`, "Reminder")
	carol.live(`#inbox .channel[data-channel="finance"]`, "#finance", "Escalation")
	carol.shot("carol-reminder")

	// Carol approves; Alice hears, #procurement is told.
	carol.navigate(chromedp.Click(chromedp.CSS(`[data-action="approve-PR-1-finance-2"]`), chromedp.NodeVisible))
	rig.Drain()
	alice.live(`#inbox .card.outcome`, "Approved: Purchase request PR-1")
	alice.live(`#inbox .channel[data-channel="procurement"]`, "#procurement", "Please order it")
	alice.shot("alice-main")
	alice.shot("outcome-card", `#inbox .card.outcome`)

	// The timeline, typed as a command.
	alice.navigate(chromedp.SendKeys(chromedp.CSS("#command"), "status PR-1\n", chromedp.NodeVisible))
	alice.waitText("#note .card.timeline", "Manager approval", "Changes requested by Bob Chen", "round 2: Approved by Bob Chen",
		"Rejected by Carol Diaz", "Over the team budget; split it", "completed (approved)")
	alice.shot("timeline", "#note")

	// A typo gets the nearest flow suggested, with a button to start it.
	alice.navigate(chromedp.SendKeys(chromedp.CSS("#command"), "start purchse\n", chromedp.NodeVisible))
	alice.waitText("#note", `Did you mean "purchase"?`)
	alice.waitJS("a start button", `!!document.querySelector('#note [data-action="start-purchase"]')`)

	// "start purchase" opens the form; "requests" lists hers, with a
	// Status button that opens the timeline page.
	alice.navigate(chromedp.SendKeys(chromedp.CSS("#command"), "start purchase\n", chromedp.NodeVisible))
	alice.waitText("main h1", "Start: Purchase request")
	alice.navigate(chromedp.Click(chromedp.CSS(`a[href^="/?as=alice"]`), chromedp.NodeVisible))
	alice.navigate(chromedp.SendKeys(chromedp.CSS("#command"), "requests\n", chromedp.NodeVisible))
	alice.waitText("#note .card.list", "Your requests", "PR-1", "PR-2")
	alice.navigate(chromedp.Click(chromedp.CSS(`#note [data-action^="status-PR-1"]`), chromedp.NodeVisible))
	alice.waitText("main .card.timeline", "Status: completed (approved)")
	alice.shot("status-page")

	// The picker: Bob's tab becomes Frank's, whose finance cards are closed.
	bob.navigate(chromedp.Evaluate[chromedp.Void](`var s = document.getElementById('as'); s.value = 'frank'; s.dispatchEvent(new Event('change'))`))
	bob.as = "frank"
	bob.waitJS("Frank's page", `document.body.dataset.as === 'frank' && document.getElementById('as').value === 'frank'`)
	bob.waitText(`#inbox .card.closed[data-step="finance"]`, "Approved by Carol Diaz")

	if errs := b.consoleErrors("status of 422"); len(errs) > 0 {
		t.Errorf("the pages logged errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestBrowserAccessRequest walks the other card forms: Reassign (Bob hands
// his approval to Dana) and Mark done with an output field (Erin from IT
// must give the account name).
func TestBrowserAccessRequest(t *testing.T) {
	rig, b := browserRig(t)
	alice, bob, dana, erin := b.open("alice"), b.open("bob"), b.open("dana"), b.open("erin")

	alice.navigate(chromedp.Click(chromedp.CSS(`.flows a[href^="/console/start/access"]`), chromedp.NodeVisible))
	alice.do("pick github", chromedp.SetValue(chromedp.CSS("#f-system"), "github"))
	alice.fill("#f-reason", "I review pull requests now")
	if code := alice.navigate(chromedp.Click(chromedp.CSS("#submit"), chromedp.NodeVisible)); code != 200 {
		t.Fatalf("start: HTTP %d", code)
	}
	alice.waitText("#note", "AR-1")
	rig.Drain()

	bob.live(card("approve-AR-1-manager-1"), "Access request AR-1", "github")
	bob.do("open Reassign", chromedp.Click(chromedp.CSS(`[data-action="reassign-AR-1-manager-1"]`), chromedp.NodeVisible))
	form := `details:has(> [data-action="reassign-AR-1-manager-1"])`
	if opts := bob.text(form + " select"); strings.Contains(opts, "Bob Chen") {
		t.Errorf("Bob may reassign to himself: %q", opts)
	}
	bob.do("pick Dana", chromedp.SetValue(chromedp.CSS(form+" select"), "dana"),
		chromedp.SendKeys(chromedp.CSS(form+` input[name="reason"]`), "Away this week; Dana covers"))
	bob.shot("reassign", card("approve-AR-1-manager-1"))
	bob.navigate(chromedp.Click(chromedp.CSS(form+" button"), chromedp.NodeVisible))
	bob.waitText("#note", "Dana Kowalski")
	rig.Drain()
	bob.live(`#inbox .card.closed[data-instance="AR-1"]`, "Reassigned by Bob Chen")

	dana.live(card("approve-AR-1-manager-1"), "Access request AR-1")
	dana.navigate(chromedp.Click(chromedp.CSS(`[data-action="approve-AR-1-manager-1"]`), chromedp.NodeVisible))
	rig.Drain()

	// Erin's task asks for the account name; an empty one is refused with
	// a clear note, and nothing changes.
	erin.live(card("done-AR-1-grant-1"), "Grant the access", "Create or extend the account")
	erin.do("open Mark done", chromedp.Click(chromedp.CSS(`[data-action="done-AR-1-grant-1"]`), chromedp.NodeVisible))
	done := `details:has(> [data-action="done-AR-1-grant-1"])`
	erin.navigate(chromedp.Click(chromedp.CSS(done+" button"), chromedp.NodeVisible))
	erin.waitText("#note.warn", "Account name is required")
	// The form is open again on the card, the field marked.
	erin.do("see the form again", chromedp.WaitVisible(chromedp.CSS(`details[open]:has(> [data-action="done-AR-1-grant-1"]) #f-AR-1-grant-1-account[aria-invalid="true"]`)))
	// A long unbroken value (an account name) wraps on every card instead
	// of widening the page.
	account := "alice-gh-" + strings.Repeat("x", 100)
	erin.do("type the account", chromedp.SendKeys(chromedp.CSS(done+" #f-AR-1-grant-1-account"), account, chromedp.NodeVisible))
	erin.shot("done-form", card("done-AR-1-grant-1"))
	erin.navigate(chromedp.Click(chromedp.CSS(done+" button"), chromedp.NodeVisible))
	rig.Drain()
	erin.live(`#inbox .card.closed[data-instance="AR-1"]`, "Done by Erin Park")

	alice.live(`#inbox`, "Your read access to github is ready: account "+account+".")
	alice.live(`#inbox .card.outcome`, "Approved: Access request AR-1")
	overflow, err := chromedp.Run(alice.ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth - document.documentElement.clientWidth`))
	if err != nil {
		t.Fatal(err)
	}
	if overflow > 0 {
		t.Errorf("the long account name widens Alice's page by %d px", overflow)
	}

	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("the pages logged errors:\n%s", strings.Join(errs, "\n"))
	}
}

// setVisible makes the tab seen or not, as switching to another tab does
// (a headless browser has every tab in sight).
func (tb *tab) setVisible(on bool) {
	tb.t.Helper()
	state := map[bool]string{true: "visible", false: "hidden"}[on]
	tb.do("make the tab "+state, chromedp.Evaluate[chromedp.Void](`Object.defineProperty(document, 'visibilityState', {value: '`+state+`', configurable: true});
document.dispatchEvent(new Event('visibilitychange'))`))
}

// TestBrowserManyTabs: a browser opens at most six connections to one
// server, and each console tab's live stream holds one. With a tab per
// person open, those out of sight let their streams go, so a seventh tab
// loads and commands are answered; a tab looked at again catches up on
// what it missed.
func TestBrowserManyTabs(t *testing.T) {
	rig, b := browserRig(t)
	alice := b.open("alice")
	tabs := []*tab{alice}
	for _, p := range []string{"bob", "carol", "dana", "erin", "frank"} {
		tabs = append(tabs, b.openBeside(alice, p)) // six streams: the browser's limit
	}
	for _, tb := range tabs[:5] {
		tb.setVisible(false)
		tb.waitJS("the stream let go", `document.body.dataset.live === 'off'`)
	}
	gus := b.openBeside(alice, "gus") // waits for a connection for ever if none was let go
	gus.waitText("#inbox", "Nothing yet")
	// Bob, out of sight, gets a card; he sees it when he looks.
	out, err := rig.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventStart, Key: "s1", Flow: "purchase", Actor: "alice",
		Data: map[string]string{"item": "Chair", "amount": "300", "justification": "my back hurts"}})
	if err != nil || !out.OK {
		t.Fatalf("start: %v %+v", err, out)
	}
	rig.Drain()
	bob := tabs[1]
	bob.setVisible(true)
	bob.waitJS("the stream back", `document.body.dataset.live === 'on'`)
	bob.live(card("approve-PR-1-manager-1"), "Purchase request PR-1", "Chair")
}

// TestBrowserNoteGoesOutOfDate: the note that answers what someone did
// stays while the cards of their own action arrive, and goes once a live
// update comes after what it talks about has changed, where it would read
// stale (Bob's "waiting on Carol Diaz and Frank Osei", Carol's list of
// tasks with the Approve button of a task Frank has decided).
func TestBrowserNoteGoesOutOfDate(t *testing.T) {
	rig, b := browserRig(t)
	if out, err := rig.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventStart, Key: "s1", Flow: "purchase", Actor: "alice",
		Data: map[string]string{"item": "Laptop", "amount": "2500", "justification": "My old one broke down"}}); err != nil || !out.OK {
		t.Fatalf("start: %v %+v", err, out)
	}
	rig.Drain()
	bob, carol := b.open("bob"), b.open("carol")

	bob.navigate(chromedp.Click(chromedp.CSS(`[data-action="approve-PR-1-manager-1"]`), chromedp.NodeVisible))
	bob.waitText("#note", "Approved PR-1", "Waiting on Carol Diaz and Frank Osei")
	rig.Drain()
	bob.live(`#inbox .card.closed[data-instance="PR-1"]`, "Approved by Bob Chen")
	if !bob.has("#note") {
		t.Fatal("the cards of Bob's own approval took away its note")
	}
	carol.live(card("approve-PR-1-finance-1"), "Finance approval")
	carol.navigate(chromedp.SendKeys(chromedp.CSS("#command"), "tasks\n", chromedp.NodeVisible))
	carol.waitText("#note .card.list", "Your pending tasks", "PR-1")
	// She opens the list's Reject form, as Frank approves a minute later:
	// the request is done.
	reject := `#note summary[data-action="reject-PR-1-finance-1"]`
	carol.do("open Reject in the note", chromedp.Click(chromedp.CSS(reject), chromedp.NodeVisible))
	rig.Clock.Advance(time.Minute)
	if out, err := rig.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventApprove, Key: "f1", Instance: "PR-1", Step: "finance", Round: 1,
		Actor: "frank", Platform: "web"}); err != nil || !out.OK {
		t.Fatalf("frank approves: %v %+v", err, out)
	}
	rig.Drain()
	carol.live(`#inbox .card.closed[data-instance="PR-1"]`, "Approved by Frank Osei")
	// Not while its form is open; once she closes it.
	if !carol.has("#note") {
		t.Fatal("the note went while Carol had its Reject form open")
	}
	carol.do("close Reject in the note", chromedp.Click(chromedp.CSS(reject), chromedp.NodeVisible))
	carol.waitJS("Carol's out-of-date task list to go", `!document.getElementById('note')`)
	bob.waitJS("Bob's out-of-date note to go", `!document.getElementById('note')`)
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("the pages logged errors:\n%s", strings.Join(errs, "\n"))
	}
}

// has reports whether the page has an element sel now.
func (tb *tab) has(sel string) bool {
	tb.t.Helper()
	ok, err := chromedp.Run(tb.ctx, chromedp.Evaluate[bool](fmt.Sprintf(`!!document.querySelector(%s)`, js(sel))))
	if err != nil {
		tb.fatal("look for "+sel, err)
	}
	return ok
}
