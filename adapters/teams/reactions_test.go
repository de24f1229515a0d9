package teams

import (
	"net/http"
	"testing"

	"github.com/batonbot/baton/flows"
)

// TestReactionOffersTheDecision: Bob's 👍 on his task card is answered by a
// reply to the card asking whether to approve, and Approve there approves;
// 👎 offers Reject. Nothing is decided by a reaction, and nobody else's
// reaction, another one, a message that is not a card or a card already
// decided is answered.
func TestReactionOffersTheDecision(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	bob := chairForBob(t, w)
	convType := "personal"
	react := func(person, replyTo string, types ...string) []*posted {
		t.Helper()
		before := len(w.conn.in(chat("bob")))
		rec := w.post(w.activity("message", func(act map[string]any) {
			as(person)(act)
			act["conversation"].(map[string]any)["conversationType"] = convType
			act["type"] = "messageReaction"
			delete(act, "text")
			act["conversation"].(map[string]any)["id"] = chat("bob")
			act["replyToId"] = replyTo
			var added []any
			for _, ty := range types {
				added = append(added, map[string]any{"type": ty})
			}
			act["reactionsAdded"] = added
		}))
		if rec.Code != http.StatusOK {
			t.Fatalf("%s reacts %v: %d %s", person, types, rec.Code, rec.Body)
		}
		return w.conn.in(chat("bob"))[before:]
	}
	unanswered := func(what string, got []*posted) {
		t.Helper()
		if len(got) != 0 {
			t.Errorf("%s was answered: %s", what, got[0].text())
		}
	}
	offered := func(what string, got []*posted, verb string, wants ...string) *posted {
		t.Helper()
		if len(got) != 1 || got[0].ReplyTo != bob.ID || findAction(got[0].Card, verb, "PR-1") == nil {
			t.Fatalf("%s: want one reply to Bob's card with %s, got %d", what, verb, len(got))
		}
		mustContain(t, what, got[0].text(), append(wants, "Nothing is decided until you click.")...)
		return got[0]
	}

	unanswered("Carol's 👍 on Bob's card", react("carol", bob.ID, "like"))
	unanswered("Bob's ❤️", react("bob", bob.ID, "heart"))
	unanswered("Bob's 👍 on a message that is no card", react("bob", "act-999", "like"))
	offered("Bob's 👎", react("bob", bob.ID, "no-tone2"), verbReject, "You reacted 👎 to Purchase request PR-1: Chair (EUR 300). Reject it?")
	offered("Bob's 👍 and ✅ at once: one question", react("bob", bob.ID, "yes-tone3", "2705_whiteheavycheckmark"), verbApprove, "Approve it?")
	convType = "groupChat" // seen by others: the question says whom it asks
	offered("Bob's 👍 where others see it", react("bob", bob.ID, "like"), verbApprove, "Bob Chen, you reacted 👍 to Purchase request PR-1")
	convType = "personal"
	ask := offered("Bob's ✅ (after a heart)", react("bob", bob.ID, "heart", "2705_whiteheavycheckmark"), verbApprove,
		"You reacted ✅ to Purchase request PR-1: Chair (EUR 300). Approve it?")
	if in, err := w.rig.Svc.Instance(t.Context(), "PR-1"); err != nil || in.Status != flows.StatusRunning {
		t.Fatalf("a reaction decided: %v %+v", err, in)
	}

	wantCard(t, "Approve on the question", w.click("bob", chat("bob"), ask.Card, ask.ID, verbApprove, nil), "Approved")
	w.rig.Drain()
	if in, err := w.rig.Svc.Instance(t.Context(), "PR-1"); err != nil || in.Status != flows.StatusCompleted {
		t.Fatalf("the click did not approve: %v %+v", err, in)
	}
	mustContain(t, "Bob's card", w.conn.get(bob.ID).text(), "Approved by Bob Chen")
	unanswered("Bob's 👍 on the decided card", react("bob", bob.ID, "like"))
}

func TestReactionMeaning(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in      string
		yes, ok bool
		emoji   string
	}{
		{"like", true, true, "👍"},
		{"yes", true, true, "👍"},
		{"yes-tone3", true, true, "👍"},
		{"ok-tone5", true, true, "👌"},
		{"2705_whiteheavycheckmark", true, true, "✅"},
		{"2714_heavycheckmark", true, true, "✔️"},
		{"no", false, true, "👎"},
		{"no-tone2", false, true, "👎"},
		{"274C_crossmark", false, true, "❌"},
		{"no-tone9", false, false, ""},
		{"no_entry", false, false, ""},
		{"heart", false, false, ""},
		{"1f440_eyes", false, false, ""},
		{"", false, false, ""},
		{"zz_unknown", false, false, ""},
	} {
		yes, emoji, ok := reactionMeaning(c.in)
		if yes != c.yes || ok != c.ok || emoji != c.emoji {
			t.Errorf("%q: %v %q %v, want %v %q %v", c.in, yes, emoji, ok, c.yes, c.emoji, c.ok)
		}
	}
}

// A channel card's reactions come with the thread's conversation id
// (";messageid=…"): the card is found under the channel's.
func TestCardKeyOfAThread(t *testing.T) {
	t.Parallel()
	if a, b := cardKey("19:x@thread.tacv2;messageid=1764147600123", "1764147600456"), cardKey("19:x@thread.tacv2", "1764147600456"); a != b {
		t.Errorf("%q != %q", a, b)
	}
}
