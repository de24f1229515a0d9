package slack

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/batonbot/baton/flows"
)

// reactionBody is a reaction_added event: user adds emoji to the message
// at channel/ts.
func reactionBody(t testing.TB, eventID, user, emoji, channel, ts string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"type": "event_callback", "team_id": "T0BATON", "api_app_id": "A0BATON", "event_id": eventID, "event_time": 1764147600,
		"event": map[string]any{"type": "reaction_added", "user": user, "reaction": emoji, "item_user": "U0BATONBOT",
			"item": map[string]any{"type": "message", "channel": channel, "ts": ts}, "event_ts": "1764147600.000500"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReactionOffersTheDecision: Bob's check mark on his task card asks him,
// privately in the card's thread, whether to approve, and his click on that
// approves; a cross offers Reject. Nothing is decided by a reaction, and
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
		if code, body := h.post(PathEvents, "application/json", reactionBody(t, eventID, user, emoji, channel, ts)); code != http.StatusOK {
			t.Fatalf("reaction %s: %d %s", eventID, code, body)
		}
		h.a.Wait()
		return h.api.take(&h.seen)
	}
	unanswered := func(what string, calls []apiCall) {
		t.Helper()
		if len(calls) != 0 {
			t.Errorf("%s was answered:\n%s", what, summarize(calls))
		}
	}
	offered := func(what string, calls []apiCall, button, question string) {
		t.Helper()
		if len(calls) != 1 || calls[0].Method != "chat.postEphemeral" || calls[0].str("channel") != "D0BOB" ||
			calls[0].str("user") != "U0BOB" || calls[0].str("thread_ts") != card.TS {
			t.Fatalf("%s: want one private answer to Bob in his card's thread, got:\n%s", what, summarize(calls))
		}
		if got := calls[0].buttons(); !slices.Equal(got, []string{button}) || !strings.Contains(calls[0].text(), question) ||
			!strings.Contains(calls[0].text(), "Nothing is decided until you click") {
			t.Errorf("%s: %v %s", what, got, calls[0].text())
		}
	}

	unanswered("Carol's check mark on Bob's card", react("Ev1", "U0CAROL", "white_check_mark", "D0BOB", card.TS))
	unanswered("Bob's :tada:", react("Ev2", "U0BOB", "tada", "D0BOB", card.TS))
	unanswered("a check mark on a message that is no card", react("Ev3", "U0BOB", "white_check_mark", "D0BOB", "1764147600.424242"))
	offered("Bob's thumbs up", react("Ev4", "U0BOB", "+1::skin-tone-3", "D0BOB", card.TS), "v1|approve|PR-1|manager|1|", "Approve it?")
	unanswered("the same event again", react("Ev4", "U0BOB", "+1::skin-tone-3", "D0BOB", card.TS))
	offered("Bob's cross", react("Ev5", "U0BOB", "x", "D0BOB", card.TS), "v1|reject|PR-1|manager|1|", "Reject it? You will be asked for the reason.")
	if in, err := h.rig.Svc.Instance(t.Context(), "PR-1"); err != nil || in.Status != flows.StatusRunning || in.Tasks[0].Decision != flows.Pending {
		t.Fatalf("a reaction decided: %v %+v", err, in)
	}

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
