package teams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
)

// A reaction to a task card offers its decision back as one click
// (bot.ReactionOffer), as a reply to the card: 👍 or ✅ asks "Approve it?",
// 👎 or ❌ offers Reject; so does a short "@Baton lgtm" or "@Baton
// rejected" in the thread of a card in a channel (Teams sends a bot the
// channel messages that mention it). Teams has no private message in a
// conversation: in a channel, the question shows in the card's thread;
// only the person it asks may use it, as with the card itself.

// cardKnownFor is how long a card is recognized by its activity id (kept
// in kvNamespace as card:<conversation>/<activity id>).
const cardKnownFor = 180 * 24 * time.Hour

// Reactions that offer a decision, by their Teams reaction id: a name ("like",
// the classic 👍; "yes", 👍 from the picker; "no", 👎) or an emoji's code
// point and a name ("2705_whiteheavycheckmark"), with "-tone1" to "-tone5"
// appended for a skin tone (Microsoft's Teams reactions reference).
var reactionIDs = map[string]struct {
	yes   bool
	emoji string
}{
	"like": {true, "👍"}, "yes": {true, "👍"}, "ok": {true, "👌"},
	"2705": {true, "✅"}, "2714": {true, "✔️"}, "2611": {true, "☑️"},
	"no": {false, "👎"}, "274c": {false, "❌"}, "274e": {false, "❎"}, "2716": {false, "✖️"},
	"26d4": {false, "⛔"}, "1f6ab": {false, "🚫"},
}

// reactionMeaning reads a reaction id: yes or no (ok false for neither),
// and the emoji to show it as.
func reactionMeaning(id string) (yes bool, emoji string, ok bool) {
	id = strings.ToLower(id)
	if base, tone, found := strings.Cut(id, "-tone"); found && len(tone) == 1 && tone >= "1" && tone <= "5" {
		id = base
	}
	r, ok := reactionIDs[id]
	if code, _, named := strings.Cut(id, "_"); !ok && named && isHex(code) {
		r, ok = reactionIDs[code]
	}
	return r.yes, r.emoji, ok
}

// isHex says whether s is a code point written in hex, as reaction ids
// begin.
func isHex(s string) bool {
	return len(s) >= 4 && strings.Trim(s, "0123456789abcdef") == ""
}

// cardKey is where what a card offers is kept: by its conversation (a
// channel thread's id without its ";messageid=…") and activity id.
func cardKey(conversation, activity string) string {
	return "card:" + channelOf(conversation) + "/" + activity
}

// rememberCard records what a reaction to the card posted as activity in
// conversation may offer. A failure costs only that: the card is sent.
func (a *Adapter) rememberCard(ctx context.Context, m *flows.Message, conversation, activity string) {
	c, ok := bot.CardDecisionOf(m)
	if !ok {
		return
	}
	if err := a.kv.SetValue(ctx, kvNamespace, cardKey(conversation, activity), c.String(), cardKnownFor); err != nil {
		a.log.WarnContext(ctx, "teams: a reaction to this card will not be recognized", "platform", "teams", "instance", m.Instance, "err", err)
	}
}

// onReaction answers a reaction to a task card by whoever may decide on it
// with the decision it most likely means, in a reply to the card.
func (a *Adapter) onReaction(ctx context.Context, act schema.Activity) {
	if act.ReplyToID == "" {
		return
	}
	for _, r := range act.ReactionsAdded {
		yes, emoji, ok := reactionMeaning(string(r.Type))
		if !ok {
			continue
		}
		if _, err := a.offer(ctx, act, cardKey(act.Conversation.ID, act.ReplyToID), act.ReplyToID, yes, "reacted "+emoji); err != nil {
			a.log.WarnContext(ctx, "teams: answer a reaction", "platform", "teams", "user", act.From.ID, "err", err)
		}
		return // one question for one reaction activity
	}
}

// onReply answers a short yes or no (bot.ReplyMeaning) in the thread of a
// task card in a channel, where Teams lets Baton hear it (the message
// @mentions Baton), with the decision as one click, in the thread, and
// reports whether it asked. Anything else is taken for a command.
func (a *Adapter) onReply(ctx context.Context, act schema.Activity, text string) bool {
	_, root, threaded := strings.Cut(act.Conversation.ID, ";messageid=")
	yes, ok := bot.ReplyMeaning(text)
	if !threaded || root == "" || !ok {
		return false
	}
	asked, err := a.offer(ctx, act, cardKey(act.Conversation.ID, root), act.ID, yes, bot.RepliedWith(text))
	if err != nil {
		a.log.WarnContext(ctx, "teams: answer a reply", "platform", "teams", "user", act.From.ID, "err", err)
	}
	return asked
}

// offer asks the sender of act, in a reply to replyTo, whether they meant
// the decision that yes stands for on the card kept under key (cardKey),
// and reports whether it asked: not for a card Baton does not know (or one
// too old to), or a decision they may not make now.
func (a *Adapter) offer(ctx context.Context, act schema.Activity, key, replyTo string, yes bool, did string) (bool, error) {
	record, ok, err := a.kv.GetValue(ctx, kvNamespace, key)
	if err != nil || !ok {
		return false, err
	}
	actor := a.actor(act)
	m, err := bot.ReactionOffer(ctx, a.svc, record, actor, yes, did)
	if m == nil || err != nil {
		return false, err
	}
	named := act.Conversation.ConversationType != "personal" // seen by everyone there: say whom it asks
	if named {
		m.Text = whom(a.svc.Engine().Directory().Name(actor), m.Text)
	}
	id, err := a.conn.reply(ctx, act.ServiceURL, act.Conversation.ID, replyTo, cardActivity(a.cards.message(m, ""), m.Text))
	if err != nil {
		return false, err
	}
	if id != "" {
		a.keepOffer(ctx, m.Instance, offered{ServiceURL: act.ServiceURL, Conversation: act.Conversation.ID, Activity: id,
			Card: record, Actor: actor, Yes: yes, Did: did, Named: named})
	}
	return true, nil
}

// whom addresses text to name: "Bob Chen, you reacted …".
func whom(name, text string) string {
	return name + ", " + strings.ToLower(text[:1]) + text[1:]
}

// A question stops offering its decision once it no longer applies
// (decided by that click, on the card, on another platform or by someone
// else; moved to someone else; the request closed): it is updated in place
// to say why, as the task card closes. Teams updates a message only by its
// activity id, so each question's is kept (under offer:<instance>:<n>),
// and looked at whenever a card of its request is updated, which every
// change that could end it brings (the card it was asked on closes).

// maxOffers is how many questions of one request are followed. More are
// still asked; a late click on one of them is refused, with the reason, as
// on a closed card.
const maxOffers = 50

func offerKey(instance string, n int) string { return "offer:" + instance + ":" + strconv.Itoa(n) }

// offered is a question asked: where it is, what it offers whom, and
// whether it was closed.
type offered struct {
	ServiceURL   string `json:"s"`
	Conversation string `json:"c"`
	Activity     string `json:"a"`
	Card         string `json:"d"` // bot.CardDecision.String of the card it is about
	Actor        string `json:"p"`
	Yes          bool   `json:"y,omitempty"`
	Did          string `json:"w"`           // "reacted 👍", as the question says
	Named        bool   `json:"n,omitempty"` // the question names whom it asks (seen by others)
	Closed       bool   `json:"x,omitempty"`
}

// keepOffer records a question asked about instance in the first free
// place, then closes it at once if the request moved on meanwhile (its
// cards' updates may have been delivered before it was recorded). A failure
// costs only the update: a late click is still refused.
func (a *Adapter) keepOffer(ctx context.Context, instance string, o offered) {
	b, _ := json.Marshal(o)
	for n := range maxOffers {
		added, err := a.kv.AddValue(ctx, kvNamespace, offerKey(instance, n), string(b), cardKnownFor)
		if err != nil {
			a.log.WarnContext(ctx, "teams: a question will stay as asked when it no longer applies", "platform", "teams", "instance", instance, "err", err)
			return
		}
		if added {
			a.closeOffers(ctx, instance)
			return
		}
	}
	a.log.InfoContext(ctx, "teams: too many questions to follow on one request; this one stays as asked", "platform", "teams", "instance", instance)
}

// closeOffers updates, in place, the questions asked about instance that
// no longer apply, saying why. Failures are logged: the question stays as
// asked, and is looked at again with the request's next card.
func (a *Adapter) closeOffers(ctx context.Context, instance string) {
	if instance == "" {
		return
	}
	var in *flows.Instance
	for n := range maxOffers {
		key := offerKey(instance, n)
		v, ok, err := a.kv.GetValue(ctx, kvNamespace, key)
		if err != nil {
			a.log.WarnContext(ctx, "teams: read the questions asked", "platform", "teams", "instance", instance, "err", err)
			return
		}
		if !ok {
			return
		}
		var o offered
		if json.Unmarshal([]byte(v), &o) != nil || o.Closed {
			continue
		}
		if in == nil {
			if in, err = a.svc.Instance(ctx, instance); err != nil {
				if !errors.Is(err, flows.ErrNotFound) {
					a.log.WarnContext(ctx, "teams: read a request to close its questions", "platform", "teams", "instance", instance, "err", err)
				}
				return
			}
		}
		m := a.closedOffer(in, o)
		if m == nil {
			continue // it still applies
		}
		m = a.named(ctx, m)
		if err := a.conn.update(ctx, o.ServiceURL, o.Conversation, o.Activity, cardActivity(a.cards.message(m, ""), m.Text)); err != nil {
			a.log.WarnContext(ctx, "teams: close a question that no longer applies", "platform", "teams", "instance", instance, "err", err)
			continue
		}
		o.Closed = true
		b, _ := json.Marshal(o)
		if err := a.kv.SetValue(ctx, kvNamespace, key, string(b), cardKnownFor); err != nil {
			a.log.WarnContext(ctx, "teams: record a question closed", "platform", "teams", "instance", instance, "err", err)
		}
	}
}

// closedOffer is the question o once it no longer applies to in: what it
// asked, without its button, and why it no longer does (what a click
// would be told); nil while it still applies.
func (a *Adapter) closedOffer(in *flows.Instance, o offered) *flows.Message {
	c, err := bot.ParseCardDecision(o.Card)
	if err != nil {
		return nil
	}
	kind := flows.EventReject
	switch {
	case o.Yes && c.Yes == flows.ActDone:
		kind = flows.EventTaskDone
	case o.Yes:
		kind = flows.EventApprove
	}
	e := a.svc.Engine()
	out := e.Allowed(in, flows.Event{Kind: kind, Actor: o.Actor, Step: c.Step, Round: c.Round}, a.svc.Now())
	if out.OK {
		return nil
	}
	about := in.ID + ": " + in.Title
	if def, ok := e.Flow(in.Flow); ok {
		about = def.Name + " " + about
	}
	dir := e.Directory()
	text := fmt.Sprintf("You %s to %s.", o.Did, about)
	if o.Named {
		text = whom(dir.Name(o.Actor), text)
	}
	// Decided by whom it asked (on it, or on the card): what they did, as
	// the answer to their click said, not the refusal a late click gets.
	if d, at, ok := decidedBy(in, c.Step, c.Round, o.Actor); ok {
		loc := dir.Location(o.Actor)
		if o.Named { // in a channel, read by everyone there: as its cards, in the working hours' zone
			loc = dir.Location("")
		}
		out.Text = fmt.Sprintf("%s by %s · %s", flows.DecisionWords(d), dir.Name(o.Actor), flows.FormatTime(at, loc))
	}
	return &flows.Message{Kind: flows.MsgInfo, Instance: in.ID, Flow: in.Flow, Text: text, Outcome: out.Text,
		Context: []string{"Nothing is to be decided here any more."}, Mentions: append([]string{o.Actor}, out.Mentions...)}
}

// decidedBy finds the record of step's round once person's decision closed
// it (on a step still open, the refusal says it well: "You already
// approved AR-1 at …; waiting on Gus Ahmed.").
func decidedBy(in *flows.Instance, step string, round int, person string) (decision string, at time.Time, ok bool) {
	for i := len(in.History) - 1; i >= 0; i-- {
		if h := in.History[i]; h.Step == step && h.Round == round && (h.By == person || slices.Contains(h.Deciders, person)) {
			return h.Outcome, h.Ended, true
		}
	}
	return "", time.Time{}, false
}
