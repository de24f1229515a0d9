package slack

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
)

// reactionBody is a reaction_added event: user adds emoji to the message
// at channel/ts.
func reactionBody(t testing.TB, eventID, user, emoji, channel, ts string) []byte {
	t.Helper()
	return reactionTo(t, eventID, user, emoji, map[string]any{"type": "message", "channel": channel, "ts": ts})
}

func reactionTo(t testing.TB, eventID, user, emoji string, item map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"type": "event_callback", "team_id": "T0BATON", "api_app_id": "A0BATON", "event_id": eventID, "event_time": 1764147600,
		"event": map[string]any{"type": "reaction_added", "user": user, "reaction": emoji, "item_user": "U0BATONBOT",
			"item": item, "event_ts": "1764147600.000500"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReactionOffersTheDecision: Bob's check mark on his task card asks him,
// privately in his DM (an ephemeral message in a thread with no replies
// would not show), whether to approve, and his click on that approves; a
// cross offers Reject; a reaction to a reminder (a reply) is answered in
// its thread. Nothing is decided by a reaction, and
// nobody else's reaction, another emoji, a redelivery, a message that is
// not a card or a card already decided is answered.
func TestReactionOffersTheDecision(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startPurchase("500") // PR-1 waits on Bob
	var card apiCall
	for _, c := range h.api.Calls() {
		if c.Method == "chat.postMessage" && c.str("channel") == "D0BOB" {
			card = c
		}
	}
	if card.TS == "" {
		t.Fatalf("no card for Bob among:\n%s", summarize(h.api.Calls()))
	}
	h.seen = len(h.api.Calls())
	react := func(eventID, user, emoji, channel, ts string) []apiCall {
		t.Helper()
		return h.react(reactionBody(t, eventID, user, emoji, channel, ts))
	}
	unanswered := func(what string, calls []apiCall) {
		t.Helper()
		if len(calls) != 0 {
			t.Errorf("%s was answered:\n%s", what, summarize(calls))
		}
	}
	offered := func(what string, calls []apiCall, button, question string) {
		t.Helper()
		offeredTo(t, what, calls, "D0BOB", "U0BOB", "", button, question)
	}

	unanswered("Carol's check mark on Bob's card", react("Ev1", "U0CAROL", "white_check_mark", "D0BOB", card.TS))
	unanswered("Bob's :tada:", react("Ev2", "U0BOB", "tada", "D0BOB", card.TS))
	unanswered("a check mark on a message that is no card", react("Ev3", "U0BOB", "white_check_mark", "D0BOB", "1764147600.424242"))
	unanswered("a check mark on a file", h.react(reactionTo(t, "Ev3f", "U0BOB", "white_check_mark", map[string]any{"type": "file", "file": "F0FILE"})))
	offered("Bob's thumbs up", react("Ev4", "U0BOB", "+1::skin-tone-3", "D0BOB", card.TS), "v1|approve|PR-1|manager|1|", "Approve it?")
	unanswered("the same event again", react("Ev4", "U0BOB", "+1::skin-tone-3", "D0BOB", card.TS))
	offered("Bob's cross", react("Ev5", "U0BOB", "x", "D0BOB", card.TS), "v1|reject|PR-1|manager|1|", "Reject it? You will be asked for the reason.")
	if in, err := h.rig.Svc.Instance(t.Context(), "PR-1"); err != nil || in.Status != flows.StatusRunning || in.Tasks[0].Decision != flows.Pending {
		t.Fatalf("a reaction decided: %v %+v", err, in)
	}

	// A reminder comes in the card's thread; a check mark on it is
	// answered in that thread.
	h.rig.Advance(4 * time.Hour)
	h.settle()
	var reminder apiCall
	for _, c := range h.api.take(&h.seen) {
		if c.Method == "chat.postMessage" && c.str("thread_ts") == card.TS {
			reminder = c
		}
	}
	if reminder.TS == "" {
		t.Fatal("no reminder in Bob's card's thread")
	}
	offeredTo(t, "Bob's check mark on the reminder", react("Ev4r", "U0BOB", "white_check_mark", "D0BOB", reminder.TS), "D0BOB", "U0BOB", card.TS,
		"v1|approve|PR-1|manager|1|", "Approve it?")

	// Bob clicks Approve on the private question: approved, his card closed.
	p := h.clickPayload("U0BOB", "v1|approve|PR-1|manager|1|", "D0BOB")
	p["container"].(map[string]any)["is_ephemeral"] = true
	if code, body := h.post(PathInteractions, formType, interactionBody(p)); code != http.StatusOK || len(body) != 0 {
		t.Fatalf("click: %d %s", code, body)
	}
	h.settle()
	calls := h.api.take(&h.seen)
	if in, err := h.rig.Svc.Instance(t.Context(), "PR-1"); err != nil || in.Status != flows.StatusCompleted {
		t.Fatalf("the click did not approve: %v %+v", err, in)
	}
	closed := slices.ContainsFunc(calls, func(c apiCall) bool {
		return c.Method == "chat.update" && c.str("ts") == card.TS && strings.Contains(c.text(), "Approved by Bob Chen")
	})
	if !closed {
		t.Errorf("Bob's card was not closed:\n%s", summarize(calls))
	}
	unanswered("a check mark on the decided card", react("Ev6", "U0BOB", "white_check_mark", "D0BOB", card.TS))
}

// failingCards is a KV whose writes of card records fail, as they would
// while Redis is unreachable for a moment.
type failingCards struct{ bot.KV }

func (f failingCards) SetValue(ctx context.Context, ns, key, value string, ttl time.Duration) error {
	if ns == nsCard {
		return errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")
	}
	return f.KV.SetValue(ctx, ns, key, value, ttl)
}

// TestCardSentWhenItsRecordFails: a task card whose record for reactions
// cannot be written is sent all the same, with a warning in the log; a
// reaction to it goes unanswered, and its buttons work.
func TestCardSentWhenItsRecordFails(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.a.kv = failingCards{h.a.kv}
	h.startPurchase("500") // PR-1 waits on Bob
	var card apiCall
	for _, c := range h.api.take(&h.seen) {
		if c.Method == "chat.postMessage" && c.str("channel") == "D0BOB" {
			card = c
		}
	}
	if card.TS == "" || !slices.Contains(card.buttons(), "v1|approve|PR-1|manager|1|") {
		t.Fatalf("Bob's card was not sent, or has no Approve button:\n%s", summarize(h.api.Calls()))
	}
	if logs := h.logs.String(); !strings.Contains(logs, "a reaction to this card will not be recognized") || !strings.Contains(logs, "connection refused") {
		t.Errorf("the failed record was not logged:\n%s", logs)
	}
	if calls := h.react(reactionBody(t, "Ev1", "U0BOB", "white_check_mark", "D0BOB", card.TS)); len(calls) != 0 {
		t.Errorf("a reaction to a card with no record was answered:\n%s", summarize(calls))
	}
	h.click("U0BOB", "v1|approve|PR-1|manager|1|", "D0BOB")
	h.settle()
	if in, err := h.rig.Svc.Instance(t.Context(), "PR-1"); err != nil || in.Status != flows.StatusCompleted {
		t.Fatalf("Approve on the card did not approve: %v %+v", err, in)
	}
}

// react posts a reaction_added event, and returns the calls it made.
func (h *harness) react(body []byte) []apiCall {
	h.t.Helper()
	if code, resp := h.post(PathEvents, "application/json", body); code != http.StatusOK {
		h.t.Fatalf("reaction: %d %s", code, resp)
	}
	h.a.Wait()
	return h.api.take(&h.seen)
}

// offeredTo checks calls are one private question to user in channel (in
// the thread of threadTS, or none) with one button.
func offeredTo(t *testing.T, what string, calls []apiCall, channel, user, threadTS, button, question string) {
	t.Helper()
	if len(calls) != 1 || calls[0].Method != "chat.postEphemeral" || calls[0].str("channel") != channel ||
		calls[0].str("user") != user || calls[0].str("thread_ts") != threadTS {
		t.Fatalf("%s: want one private answer to %s in %s (thread %q), got:\n%s", what, user, channel, threadTS, summarize(calls))
	}
	if got := calls[0].buttons(); !slices.Equal(got, []string{button}) || !strings.Contains(calls[0].text(), question) ||
		!strings.Contains(calls[0].text(), "Nothing is decided until you click") {
		t.Errorf("%s: %v %s", what, got, calls[0].text())
	}
}

// TestReactionMarksDone: on a task step's card a check mark offers Mark
// done; a cross offers nothing (a task has no Reject).
func TestReactionMarksDone(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, ev := range []flows.Event{
		{Kind: flows.EventStart, Key: "s1", Flow: "access", Actor: "alice", Data: map[string]string{"system": "github", "level": "read", "reason": "code review"}},
		{Kind: flows.EventApprove, Key: "a1", Instance: "AR-1", Actor: "bob"},
	} {
		if out, err := h.rig.Svc.Handle(t.Context(), ev); err != nil || !out.OK {
			t.Fatalf("%s: %v %+v", ev.Kind, err, out)
		}
	}
	h.settle()
	var card apiCall
	for _, c := range h.api.take(&h.seen) {
		if c.Method == "chat.postMessage" && c.str("channel") == "D0ERIN" {
			card = c
		}
	}
	if card.TS == "" {
		t.Fatal("no task card for Erin")
	}
	offeredTo(t, "Erin's check mark", h.react(reactionBody(t, "Ev1", "U0ERIN", "heavy_check_mark", "D0ERIN", card.TS)), "D0ERIN", "U0ERIN", "",
		"v1|done|AR-1|grant|1|", "Mark it done?")
	if calls := h.react(reactionBody(t, "Ev2", "U0ERIN", "x", "D0ERIN", card.TS)); len(calls) != 0 {
		t.Errorf("a cross on a task was answered:\n%s", summarize(calls))
	}
}

// replyBody is a message event: user replies text in the thread of the
// message at channel/thread (message.channels, the opt-in).
func replyBody(t testing.TB, eventID, user, text, channel, thread string, extra map[string]any) []byte {
	t.Helper()
	ev := map[string]any{"type": "message", "user": user, "text": text, "channel": channel, "channel_type": "channel",
		"ts": "1764151200.000" + eventID[len(eventID)-1:], "thread_ts": thread, "parent_user_id": "U0BATONBOT", "event_ts": "1764151200.000100"}
	maps.Copy(ev, extra)
	b, err := json.Marshal(map[string]any{"type": "event_callback", "team_id": "T0BATON", "api_app_id": "A0BATON",
		"event_id": eventID, "event_time": 1764151200, "event": ev})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestThreadReplyOffersTheDecision: Carol's "lgtm" in the thread of a task
// card posted in #finance asks her, privately in that thread, whether to
// approve, and her click approves; "rejected" offers Reject. A reply by
// someone the step does not wait on, a hedged or long reply, a message
// outside a thread, an edit, a bot's message, a redelivery and a reply in
// a thread that is no card's go unanswered, and a reply decides nothing.
func TestThreadReplyOffersTheDecision(t *testing.T) {
	t.Parallel()
	h := startExpense(t)
	h.settle()
	card := h.api.take(&h.seen)[0]
	if card.str("channel") != "C0FINANCE" || card.TS == "" {
		t.Fatalf("no card in #finance: %s", card.summary())
	}
	reply := func(eventID, user, text string, extra map[string]any) []apiCall {
		t.Helper()
		return h.react(replyBody(t, eventID, user, text, "C0FINANCE", card.TS, extra))
	}
	for what, calls := range map[string][]apiCall{
		"Alice's lgtm (not her step)":         reply("Ev1", "U0ALICE", "lgtm", nil),
		"a hedged reply":                      reply("Ev2", "U0CAROL", "lgtm once the receipt is attached", nil),
		"a question":                          reply("Ev3", "U0CAROL", "approved?", nil),
		"a message outside any thread":        h.react(replyBody(t, "Ev4", "U0CAROL", "lgtm", "C0FINANCE", "", nil)),
		"the card's own message event":        h.react(replyBody(t, "Ev5", "U0CAROL", "lgtm", "C0FINANCE", card.TS, map[string]any{"ts": card.TS})),
		"an edit":                             reply("Ev6", "U0CAROL", "lgtm", map[string]any{"subtype": "message_changed"}),
		"a bot's reply":                       reply("Ev7", "U0CAROL", "lgtm", map[string]any{"bot_id": "B0OTHER"}),
		"a reply in another message's thread": h.react(replyBody(t, "Ev8", "U0CAROL", "lgtm", "C0FINANCE", "1764147600.424242", nil)),
	} {
		if len(calls) != 0 {
			t.Errorf("%s was answered:\n%s", what, summarize(calls))
		}
	}
	offeredTo(t, "Carol's lgtm", reply("Ev9", "U0CAROL", "<@U0BATONBOT> LGTM :+1::skin-tone-2:", nil), "C0FINANCE", "U0CAROL", card.TS,
		"v1|approve|EX-1|review|1|", "You replied “LGTM :+1::skin-tone-2:” to Expense claim EX-1: Taxi. Approve it?")
	if calls := reply("Ev9", "U0CAROL", "<@U0BATONBOT> LGTM :+1::skin-tone-2:", nil); len(calls) != 0 {
		t.Errorf("a redelivered reply was answered again:\n%s", summarize(calls))
	}
	// Slack escapes &, < and >: the question quotes the reply as written,
	// escaped once.
	offeredTo(t, "Carol's lgtm & thanks", reply("EvA", "U0CAROL", "lgtm &amp; thanks &lt;3", nil), "C0FINANCE", "U0CAROL", card.TS,
		"v1|approve|EX-1|review|1|", "You replied “lgtm &amp; thanks &lt;3” to Expense claim EX-1")
	offeredTo(t, "Frank's rejected, also sent to the channel", reply("Ev0", "U0FRANK", "Rejected.", map[string]any{"subtype": "thread_broadcast"}),
		"C0FINANCE", "U0FRANK", card.TS, "v1|reject|EX-1|review|1|", "Reject it? You will be asked for the reason.")
	if in, err := h.rig.Svc.Instance(t.Context(), "EX-1"); err != nil || in.Status != flows.StatusRunning {
		t.Fatalf("a reply decided: %v %+v", err, in)
	}

	// Carol clicks Approve on the question: approved.
	p := h.clickPayload("U0CAROL", "v1|approve|EX-1|review|1|", "C0FINANCE")
	p["container"].(map[string]any)["is_ephemeral"] = true
	if code, body := h.post(PathInteractions, formType, interactionBody(p)); code != http.StatusOK || len(body) != 0 {
		t.Fatalf("click: %d %s", code, body)
	}
	h.settle()
	if in, err := h.rig.Svc.Instance(t.Context(), "EX-1"); err != nil || in.Status != flows.StatusCompleted {
		t.Fatalf("the click did not approve: %v %+v", err, in)
	}
}
