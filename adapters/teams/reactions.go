package teams

import (
	"context"
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
	if act.Conversation.ConversationType != "personal" { // seen by everyone there: say whom it asks
		m.Text = a.svc.Engine().Directory().Name(actor) + ", " + strings.ToLower(m.Text[:1]) + m.Text[1:]
	}
	_, err = a.conn.reply(ctx, act.ServiceURL, act.Conversation.ID, replyTo, cardActivity(a.cards.message(m, ""), m.Text))
	return err == nil, err
}
