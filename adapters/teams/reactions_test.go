package teams

import (
	"net/http"
	"strings"
	"testing"

	"github.com/batonbot/baton/bot"
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

// TestThreadReplyOffersTheDecision: Bob's "@Baton lgtm" in the thread of
// his task card in a channel is answered in that thread by a question to
// him, and Approve there approves; "@Baton rejected" offers Reject.
// Carol's lgtm (not her task), a hedged reply, and a reply in the thread of
// a message that is no card are taken for commands, as before.
func TestThreadReplyOffersTheDecision(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	chairForBob(t, w) // PR-1 waits on Bob
	const channel = "19:finance@thread.tacv2"
	ref, err := w.a.Send(t.Context(), bot.Address{Channel: "finance", ID: channel}, &flows.Message{Kind: flows.MsgTask, Instance: "PR-1", Flow: "purchase",
		Step: "manager", Round: 1, Title: "Purchase request PR-1: Chair (EUR 300)", Actions: []flows.Action{
			{Kind: flows.ActApprove, Label: "Approve", Instance: "PR-1", Step: "manager", Round: 1},
			{Kind: flows.ActReject, Label: "Reject", Instance: "PR-1", Step: "manager", Round: 1}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	r, err := parseRef(ref)
	if err != nil {
		t.Fatal(err)
	}
	reply := func(person, root, text string) []*posted {
		t.Helper()
		thread := channel + ";messageid=" + root
		before := len(w.conn.in(thread))
		rec := w.post(w.activity("message", func(act map[string]any) {
			as(person)(act)
			conv := act["conversation"].(map[string]any)
			conv["id"], conv["conversationType"] = thread, "channel"
			act["text"] = "<at>Baton</at> " + text
		}))
		if rec.Code != http.StatusOK {
			t.Fatalf("%s replies %q: %d %s", person, text, rec.Code, rec.Body)
		}
		return w.conn.in(thread)[before:]
	}
	asked := func(what string, got []*posted, verb string, wants ...string) *posted {
		t.Helper()
		if len(got) != 1 || findAction(got[0].Card, verb, "PR-1") == nil {
			t.Fatalf("%s: want one reply in the thread with %s, got %d", what, verb, len(got))
		}
		mustContain(t, what, got[0].text(), append(wants, "Nothing is decided until you click.")...)
		return got[0]
	}
	notAsked := func(what string, got []*posted) {
		t.Helper()
		for _, p := range got {
			if findAction(p.Card, verbApprove, "PR-1") != nil || findAction(p.Card, verbReject, "PR-1") != nil {
				t.Errorf("%s was offered a decision: %s", what, p.text())
			}
		}
	}
	notAsked("Carol's lgtm", reply("carol", r.Activity, "lgtm"))
	notAsked("Bob's hedged reply", reply("bob", r.Activity, "lgtm once I have seen the quote"))
	notAsked("Bob's lgtm in another thread", reply("bob", "1764147600999", "lgtm"))
	rejectAsk := asked("Bob's rejected", reply("bob", r.Activity, "Rejected."), verbReject,
		"Bob Chen, you replied “Rejected.” to Purchase request PR-1: Chair (EUR 300). Reject it?")
	// Teams sends an emoji as an image whose alt text is the emoji.
	ask := asked("Bob's lgtm", reply("bob", r.Activity, `<p>lgtm <img itemtype="http://schema.skype.com/Emoji" alt="👍" src="https://statics.teams.cdn.office.net/evergreen-assets/personal-expressions/v2/assets/emoticons/yes/default/20_f.png" width="20" height="20"></p>`), verbApprove,
		"Bob Chen, you replied “lgtm 👍” to Purchase request PR-1: Chair (EUR 300). Approve it?")
	if in, err := w.rig.Svc.Instance(t.Context(), "PR-1"); err != nil || in.Status != flows.StatusRunning {
		t.Fatalf("a reply decided: %v %+v", err, in)
	}
	// In the channel's zone (the working hours'), as the card's update then
	// writes it for everyone there; not Bob's (GMT).
	wantCard(t, "Approve on the question", w.click("bob", ask.Conv, ask.Card, ask.ID, verbApprove, nil), "Approved by Bob Chen · Thu 26 Nov 09:00 UTC")
	w.rig.Drain()
	if in, err := w.rig.Svc.Instance(t.Context(), "PR-1"); err != nil || in.Status != flows.StatusCompleted {
		t.Fatalf("the click did not approve: %v %+v", err, in)
	}
	// Both questions in the thread now say so, to everyone there.
	for what, p := range map[string]*posted{"the Approve question": ask, "the Reject question": rejectAsk} {
		closedOffer(t, w, what, p, "Bob Chen, you replied", "to Purchase request PR-1: Chair (EUR 300).", "Approved by Bob Chen · Thu 26 Nov 09:00 UTC") // the channel's zone
	}
}

// react is person's reaction of type ty to the card replyTo in conv (a
// personal chat), and Baton's replies to it.
func (w *world) react(person, conv, replyTo, ty string) []*posted {
	w.t.Helper()
	before := len(w.conn.in(conv))
	rec := w.post(w.activity("message", func(act map[string]any) {
		as(person)(act)
		act["type"] = "messageReaction"
		delete(act, "text")
		act["conversation"].(map[string]any)["id"] = conv
		act["replyToId"] = replyTo
		act["reactionsAdded"] = []any{map[string]any{"type": ty}}
	}))
	if rec.Code != http.StatusOK {
		w.t.Fatalf("%s reacts %s: %d %s", person, ty, rec.Code, rec.Body)
	}
	return w.conn.in(conv)[before:]
}

// closedOffer checks that the question p asked no longer offers anything
// and says why, updated in place.
func closedOffer(t *testing.T, w *world, what string, p *posted, wants ...string) {
	t.Helper()
	got := w.conn.get(p.ID)
	if got.Versions < 2 || findAction(got.Card, verbApprove, "") != nil || findAction(got.Card, verbReject, "") != nil {
		t.Fatalf("%s: the question still offers its decision (%d versions):\n%s", what, got.Versions, got.text())
	}
	mustContain(t, what, got.text(), wants...)
}

// TestOfferClosesOnceDecided: the question a reaction asks ("Approve it?")
// stops offering once it no longer applies, whoever decided, wherever:
// updated in place to say what happened, as the task card is. A click on a
// copy still on screen is told the same.
func TestOfferClosesOnceDecided(t *testing.T) {
	t.Parallel()

	t.Run("decided on the card", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		bob := chairForBob(t, w)
		yes, no := w.react("bob", chat("bob"), bob.ID, "like"), w.react("bob", chat("bob"), bob.ID, "no")
		if len(yes) != 1 || len(no) != 1 {
			t.Fatalf("%d and %d questions, want one each", len(yes), len(no))
		}
		wantCard(t, "Bob approves on his card", w.click("bob", chat("bob"), bob.Card, bob.ID, verbApprove, nil), "Approved by Bob Chen")
		w.rig.Drain()
		// A click on a copy still on screen (the question as it was) is
		// refused, with who decided.
		wantMessage(t, "a late click", w.click("bob", chat("bob"), yes[0].Card, yes[0].ID, verbApprove, nil),
			"PR-1 was already approved by Bob Chen at Thu 26 Nov 09:00 GMT.")
		for what, p := range map[string]*posted{"the 👍 question": yes[0], "the 👎 question": no[0]} {
			closedOffer(t, w, what, p, "You reacted", "to Purchase request PR-1: Chair (EUR 300).", "Approved by Bob Chen · Thu 26 Nov 09:00 GMT")
		}
	})

	t.Run("decided on the question", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		bob := chairForBob(t, w)
		ask := w.react("bob", chat("bob"), bob.ID, "like")[0]
		wantCard(t, "Approve on the question", w.click("bob", chat("bob"), ask.Card, ask.ID, verbApprove, nil), "Approved by Bob Chen")
		w.rig.Drain()
		// Bob decided, on it: it says what he did, not the refusal a late click gets.
		closedOffer(t, w, "the question", ask, "Approved by Bob Chen · Thu 26 Nov 09:00 GMT")
		if got := w.conn.get(ask.ID).text(); strings.Contains(got, "already approved") {
			t.Errorf("the question, closed, reads as a refusal:\n%s", got)
		}
	})

	t.Run("moved elsewhere", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		bob := chairForBob(t, w)
		ask := w.react("bob", chat("bob"), bob.ID, "like")[0]
		// Bob hands the task to Carol from another surface (Slack, the console).
		out, err := w.rig.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventReassign, Key: "slack:reassign-1", Actor: "bob", Platform: "slack",
			Instance: "PR-1", Step: "manager", Round: 1, Target: "carol"})
		if err != nil || !out.OK {
			t.Fatalf("reassign: %v %+v", err, out)
		}
		w.rig.Drain()
		closedOffer(t, w, "the question", ask, "assigned to Carol Diaz")
	})

	// A security quorum of two: Erin's approval ends her question, not
	// Gus's, who may still approve from his.
	t.Run("one of a quorum", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		for _, p := range []string{"alice", "bob", "erin", "gus"} {
			w.install(p)
		}
		out, err := w.rig.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventStart, Key: "teams:start-access", Actor: "alice", Platform: "teams", Flow: "access",
			Data: map[string]string{"system": "aws", "level": "admin", "reason": "on call for the database"}})
		if err != nil || !out.OK {
			t.Fatalf("start: %v %+v", err, out)
		}
		w.rig.Drain()
		bob := w.conn.last(t, chat("bob"))
		wantCard(t, "Bob approves", w.click("bob", chat("bob"), bob.Card, bob.ID, verbApprove, nil), "Approved by Bob Chen")
		w.rig.Drain()
		erin, gus := w.conn.last(t, chat("erin")), w.conn.last(t, chat("gus"))
		askErin, askGus := w.react("erin", chat("erin"), erin.ID, "like")[0], w.react("gus", chat("gus"), gus.ID, "like")[0]
		wantCard(t, "Erin approves", w.click("erin", chat("erin"), erin.Card, erin.ID, verbApprove, nil), "Approved AR-1. Still waiting on Gus Ahmed.")
		w.rig.Drain()
		closedOffer(t, w, "Erin's question", askErin, "You already approved AR-1 at Thu 26 Nov 18:00 KST; waiting on Gus Ahmed.")
		if got := w.conn.get(askGus.ID); got.Versions != 1 || findAction(got.Card, verbApprove, "AR-1") == nil {
			t.Fatalf("Gus's question changed (%d versions):\n%s", got.Versions, got.text())
		}
		wantCard(t, "Gus approves on his question", w.click("gus", chat("gus"), askGus.Card, askGus.ID, verbApprove, nil), "Approved")
	})
}
