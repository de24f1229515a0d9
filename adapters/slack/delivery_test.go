package slack

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	dto "github.com/prometheus/client_model/go"
	slackgo "github.com/slack-go/slack"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
)

// TestRateLimitedDelivery: Slack answers chat.postMessage with 429 and
// Retry-After; the card is delivered once, after waiting as told.
func TestRateLimitedDelivery(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.api.failNext("chat.postMessage", "429", "429")
	h.startPurchase("500")
	var posts []apiCall
	for _, c := range h.api.Calls() {
		if c.Method == "chat.postMessage" {
			posts = append(posts, c)
		}
	}
	if len(posts) != 3 || posts[0].Status != 429 || posts[1].Status != 429 || posts[2].Status != 200 {
		t.Fatalf("want two 429s then the card, got:\n%s", summarize(posts))
	}
	if gap := posts[2].At.Sub(posts[0].At); gap < 2*time.Second-50*time.Millisecond {
		t.Errorf("retried %s after the first 429; Retry-After asked for 1 s each time", gap)
	}
	if n := count(h.api.Calls(), "chat.postMessage"); n != 1 {
		t.Errorf("the card was posted %d times", n)
	}
	var got dto.Metric
	if err := h.a.m.calls.WithLabelValues("chat.postMessage", "rate_limited").Write(&got); err != nil || got.GetCounter().GetValue() != 2 {
		n := got.GetCounter().GetValue()
		t.Errorf("baton_slack_api_calls_total{result=rate_limited} = %v, want 2", n)
	}
}

// TestChannelPacing: chat.postMessage is paced per channel without dropping
// anything, and a busy channel does not hold up another. The pacer runs on
// testing/synctest's fake clock, so the gaps are exact however loaded the
// machine is.
func TestChannelPacing(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const interval = 150 * time.Millisecond
		w := newWebAPI(Config{APIURL: "http://slack.invalid/api/", PostInterval: interval, PostBurst: 1, MaxCalls: 1}, newMetrics(nil))
		began := time.Now()
		var mu sync.Mutex
		var at []time.Duration
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				if err := w.pace(t.Context(), "C0FINANCE"); err != nil {
					t.Error(err)
				}
				mu.Lock()
				at = append(at, time.Since(began).Round(time.Millisecond)) // rate.Every's float arithmetic
				mu.Unlock()
			})
		}
		synctest.Wait() // the four are queued on #finance
		if err := w.pace(t.Context(), "C0PROCURE"); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(began); d != 0 {
			t.Errorf("another channel waited %s behind the busy one", d)
		}
		wg.Wait()
		slices.Sort(at)
		want := []time.Duration{0, interval, 2 * interval, 3 * interval}
		if !slices.Equal(at, want) {
			t.Errorf("posts to one channel at %v, want %v", at, want)
		}
	})
}

// TestDeliveryErrors: errors retrying cannot fix are marked permanent and
// say what to do; others are left to the dispatcher's retries.
func TestDeliveryErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	m := h.a.Messenger()
	ch := bot.Address{Channel: "finance", ID: "C0FINANCE"}
	msg := &flows.Message{Kind: flows.MsgInfo, Title: "hello"}
	for code, want := range map[string]string{
		"not_in_channel":    "invite it (/invite @Baton)",
		"channel_not_found": "check its Slack id in the directory",
		"invalid_auth":      "SLACK_BOT_TOKEN is not valid",
		"missing_scope":     "manifests/slack/app-manifest.yaml",
	} {
		h.api.failNext("chat.postMessage", code)
		_, err := m.Send(t.Context(), ch, msg, "")
		if !bot.IsPermanent(err) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v (permanent %v), want a permanent error saying %q", code, err, bot.IsPermanent(err), want)
		}
	}
	for _, code := range []string{"internal_error", "500"} {
		h.api.failNext("chat.postMessage", code)
		_, err := m.Send(t.Context(), ch, msg, "")
		var ra *bot.RetryAfterError
		if err == nil || bot.IsPermanent(err) || errors.As(err, &ra) {
			t.Errorf("%s: %v, want an error the dispatcher retries", code, err)
		}
	}
	h.api.failNext("chat.update", "message_not_found")
	if err := m.Update(t.Context(), "C0FINANCE/1764147600.000001", msg); !bot.IsPermanent(err) {
		t.Errorf("update of a deleted message: %v, want permanent", err)
	}
	if err := m.Update(t.Context(), "not a ref", msg); !bot.IsPermanent(err) {
		t.Errorf("update with a bad reference: %v, want permanent", err)
	}
	if _, ok := m.Reach(flows.Recipient{Person: "nobody-in-slack"}); ok {
		t.Error("a person without a Slack id is reachable")
	}
	if _, ok := m.Reach(flows.Recipient{Channel: "nowhere"}); ok {
		t.Error("an unknown channel is reachable")
	}
}

// TestDMChannels: a DM is opened once (conversations.open) and its id kept
// in the shared KV, so another replica does not open it again; an id that
// went stale is forgotten and the DM reopened on the retry.
func TestDMChannels(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	m := h.a.Messenger()
	bob := bot.Address{Person: "bob", ID: "U0BOB"}
	msg := &flows.Message{Kind: flows.MsgInfo, Title: "hello"}
	for range 3 {
		if _, err := m.Send(t.Context(), bob, msg, ""); err != nil {
			t.Fatal(err)
		}
	}
	replica, err := New(Deps{Service: h.rig.Svc, KV: h.rig.Store, Locker: h.rig.Store},
		Config{BotToken: testBotToken, SigningSecret: testSecret, APIURL: h.api.URL(), PostInterval: time.Millisecond, HomeDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := replica.Messenger().Send(t.Context(), bob, msg, "")
	if err != nil || !strings.HasPrefix(ref, "D0BOB/") || !strings.HasSuffix(ref, "/U0BOB") {
		t.Fatalf("replica send: %q %v", ref, err)
	}
	if n := count(h.api.Calls(), "conversations.open"); n != 1 {
		t.Fatalf("conversations.open called %d times for one person", n)
	}
	h.api.failNext("chat.postMessage", "channel_not_found")
	if _, err := m.Send(t.Context(), bob, msg, ""); err == nil || bot.IsPermanent(err) {
		t.Fatalf("stale DM: %v, want an error to retry", err)
	}
	if _, err := m.Send(t.Context(), bob, msg, ""); err != nil {
		t.Fatal(err)
	}
	if n := count(h.api.Calls(), "conversations.open"); n != 2 {
		t.Fatalf("conversations.open called %d times; the stale DM should be reopened once", n)
	}
	h.a.Wait()
	replica.Wait()
}

// expenseFlow has its one step, the finance group's approval, posted in
// #finance, with one reminder after 4 h.
const expenseFlow = `
id: expense
name: Expense claim
command: expense
prefix: EX
owner: olivia
form:
  - {name: what, label: What, type: text, required: true}
steps:
  - id: review
    name: Finance review
    type: approval
    assignees: [group:finance]
    channel: finance
    remind: {every: 4h, max: 1}
`

// startExpense is a harness with expenseFlow where Alice has asked for a
// taxi, EX-1: its card is posted in #finance.
func startExpense(t *testing.T) *harness {
	t.Helper()
	def, err := flows.ParseDefinition("expense.yaml", []byte(expenseFlow))
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(_ *Config, defs *[]*flows.Definition, _ **flows.Directory) { *defs = append(*defs, def) })
	out, err := h.rig.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventStart, Key: "ex", Flow: "expense", Actor: "alice", Data: map[string]string{"what": "Taxi"}})
	if err != nil || !out.OK {
		t.Fatal(err, out)
	}
	return h
}

// TestChannelReminder: a step posted to a channel is reminded in the
// card's thread there, and each pending assignee is nudged by DM: dated
// as a Slack date in its blocks (each reader's own zone), and, in its
// notification text, which is plain, in the person's zone.
func TestChannelReminder(t *testing.T) {
	t.Parallel()
	h := startExpense(t)
	h.settle()
	card := h.api.Calls()[0]
	h.seen = 1
	h.rig.Advance(4 * time.Hour)
	h.settle()
	got := h.takeSummaries()
	want := []string{
		"chat.postMessage C0FINANCE in thread: Expense claim EX-1: Taxi — Reminder 1 of 1: Finance review has been waiting for 4 h. [v1|approve|EX-1|review|1| v1|reject|EX-1|review|1| v1|changes|EX-1|review|1| v1|reassign|EX-1|review|1|]",
		"chat.postMessage D0CAROL: :alarm_clock: As of Thu 26 Nov 08:00 EST, Expense claim EX-1: Taxi is waiting on you in <#C0FINANCE> (its card there says where it stands now).",
		"chat.postMessage D0FRANK: :alarm_clock: As of Thu 26 Nov 08:00 EST, Expense claim EX-1: Taxi is waiting on you in <#C0FINANCE> (its card there says where it stands now).",
		"conversations.open U0CAROL",
		"conversations.open U0FRANK",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("channel reminder:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, c := range h.api.Calls() {
		if c.str("thread_ts") != "" && (c.str("thread_ts") != card.TS || c.str("reply_broadcast") == "true") {
			t.Errorf("the reminder is not a quiet reply to the card %s: %s", card.TS, c.summary())
		}
		if c.Method == "chat.postMessage" && strings.HasPrefix(c.str("channel"), "D0") &&
			!strings.Contains(c.text(), "As of <!date^1795698000^{date_short_pretty} {time}|Thu 26 Nov 08:00 EST>, Expense claim EX-1") {
			t.Errorf("the nudge's blocks do not date it as a Slack date: %s", c.text())
		}
	}
}

// TestClosedChannelCardTextInWorkingHoursZone: a channel's card (and its
// reminder reply) closed with the step reads, in its notification text, the
// time in the working hours' zone, the channel's, not in UTC; its blocks
// keep it as a Slack date.
func TestClosedChannelCardTextInWorkingHoursZone(t *testing.T) {
	t.Parallel()
	def, err := flows.ParseDefinition("expense.yaml", []byte(expenseFlow))
	if err != nil {
		t.Fatal(err)
	}
	chicago, err := time.LoadLocation("America/Chicago")
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(_ *Config, defs *[]*flows.Definition, dir **flows.Directory) {
		*defs = append(*defs, def)
		*dir = (*dir).WithWorkingHours(&flows.WorkingHours{Days: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday},
			Start: 9 * time.Hour, End: 17 * time.Hour, Location: chicago})
	})
	out, err := h.rig.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventStart, Key: "ex", Flow: "expense", Actor: "alice", Data: map[string]string{"what": "Taxi"}})
	if err != nil || !out.OK {
		t.Fatal(err, out)
	}
	h.settle()
	h.rig.Advance(4 * time.Hour) // a reminder in the card's thread
	h.settle()
	h.takeSummaries()
	out, err = h.rig.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventApprove, Key: "carol-ok", Actor: "carol", Platform: "slack", Instance: "EX-1", Step: "review", Round: 1})
	if err != nil || !out.OK {
		t.Fatal(err, out)
	}
	h.settle()
	var closed int
	for _, c := range h.api.take(&h.seen) {
		if c.Method != "chat.update" {
			continue
		}
		closed++
		if want := "chat.update C0FINANCE: Expense claim EX-1: Taxi — Approved by Carol Diaz · Thu 26 Nov 07:00 CST"; c.summary() != want {
			t.Errorf("closed card:\n%s\nwant:\n%s", c.summary(), want)
		}
		if !strings.Contains(c.text(), "Approved by Carol Diaz · <!date^1795698000^{date_short_pretty} {time}|Thu 26 Nov 07:00 CST>") {
			t.Errorf("closed card's blocks lack the Slack date: %s", c.text())
		}
	}
	if closed != 2 {
		t.Errorf("%d cards closed, want 2 (the channel's card and its reminder)", closed)
	}
}

// TestGuestNames: people outside the directory are mentioned in the lines
// the engine writes, and named (users.info, cached) in button labels; the
// title, the requester's words, stays as typed.
func TestGuestNames(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	m := h.a.Messenger()
	msg := &flows.Message{Kind: flows.MsgTask, Title: "Review for slack:U0GUEST", Text: "Asked by slack:U0GUEST",
		Actions:  []flows.Action{{Kind: flows.ActStatus, Label: "Ask slack:U0GUEST", Instance: "PR-1"}, {Kind: flows.ActStatus, Label: "PR-2: as slack:U0TYPED said", Instance: "PR-2"}},
		Mentions: []string{"slack:U0GUEST"}}
	for range 2 {
		if _, err := m.Send(t.Context(), bot.Address{Channel: "finance", ID: "C0FINANCE"}, msg, ""); err != nil {
			t.Fatal(err)
		}
	}
	var post apiCall
	for _, c := range h.api.Calls() {
		if c.Method == "chat.postMessage" {
			post = c
		}
	}
	for _, want := range []string{"Review for slack:U0GUEST", "Asked by <@U0GUEST>", "Ask Real U0GUEST", "PR-2: as slack:U0TYPED said"} {
		if !strings.Contains(post.text(), want) {
			t.Errorf("card lacks %q: %s", want, post.text())
		}
	}
	if n := count(h.api.Calls(), "users.info"); n != 1 {
		t.Errorf("users.info called %d times; the name is not cached", n)
	}
}

// A call Slack refused for its arguments says which, from the reply's
// messages (the json-pointer to the block): the log names what to fix.
func TestRefusedArgumentsSayWhich(t *testing.T) {
	w := newWebAPI(Config{APIURL: "http://slack.invalid/api/", MaxCalls: 1}, newMetrics(nil))
	err := w.classify("views.open", "views.open", slackgo.SlackErrorResponse{Err: "invalid_arguments",
		ResponseMetadata: slackgo.ResponseMetadata{Messages: []string{"[ERROR] must be less than 151 characters [json-pointer:/view/blocks/3/element/options/1/value]"}}})
	if err == nil || !bot.IsPermanent(err) || !strings.Contains(err.Error(), "json-pointer:/view/blocks/3/element/options/1/value") {
		t.Errorf("error %v", err)
	}
}
