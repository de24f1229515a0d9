package teams

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
)

// A reaction to a task card offers its decision back as one click
// (bot.ReactionOffer), as a reply to the card: 👍 or ✅ asks "Approve it?",
// 👎 or ❌ offers Reject. Teams has no private message in a conversation:
// in a channel, the question shows in the card's thread; only the person
// it asks may use it, as with the card itself.

// cardKnownFor is how long a card is recognized by its activity id (kept
// in kvNamespace as card:<conversation>/<activity id>).
const cardKnownFor = 180 * 24 * time.Hour

// Reactions that offer a decision. Teams names a reaction "like" (the
// classic 👍) or by its emoji's code points and a name, as
// "2705_whiteheavycheckmark" or "1f44d-1f3fb_thumbsup" (a skin tone).
var (
	yesEmoji = map[string]bool{"2705": true, "2714": true, "2611": true, "1f44d": true, "1f44c": true}
	noEmoji  = map[string]bool{"274c": true, "274e": true, "2716": true, "1f44e": true, "26d4": true, "1f6ab": true}
)

// reactionMeaning reads a reaction type: yes or no (ok false for neither),
// and the emoji to show it as.
func reactionMeaning(t string) (yes bool, emoji string, ok bool) {
	if t == "like" {
		return true, "👍", true
	}
	code, _, _ := strings.Cut(t, "_")
	code, _, _ = strings.Cut(strings.ToLower(code), "-")
	if !yesEmoji[code] && !noEmoji[code] {
		return false, "", false
	}
	r, err := strconv.ParseUint(code, 16, 32)
	if err != nil {
		return false, "", false
	}
	return yesEmoji[code], string(rune(r)), true
}

// cardKey is where what a card offers is kept: by its conversation (a
// channel thread's id without its ";messageid=…") and activity id.
func cardKey(conversation, activity string) string {
	base, _, _ := strings.Cut(conversation, ";")
	return "card:" + base + "/" + activity
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
		if err := a.offer(ctx, act, yes, emoji); err != nil {
			a.log.WarnContext(ctx, "teams: answer a reaction", "platform", "teams", "user", act.From.ID, "err", err)
		}
		return // one question for one reaction activity
	}
}

func (a *Adapter) offer(ctx context.Context, act schema.Activity, yes bool, emoji string) error {
	v, ok, err := a.kv.GetValue(ctx, kvNamespace, cardKey(act.Conversation.ID, act.ReplyToID))
	if err != nil || !ok {
		return err // not a card of Baton's (or one too old to know)
	}
	c, err := bot.ParseCardDecision(v)
	if err != nil {
		return err
	}
	in, err := a.svc.Instance(ctx, c.Instance)
	if errors.Is(err, flows.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	m := bot.ReactionOffer(a.svc.Engine(), in, c, a.actor(act), yes, emoji, a.svc.Now())
	if m == nil {
		a.log.DebugContext(ctx, "teams: reaction left unanswered", "platform", "teams", "user", act.From.ID, "instance", in.ID)
		return nil
	}
	_, err = a.conn.reply(ctx, act.ServiceURL, act.Conversation.ID, act.ReplyToID, cardActivity(a.cards.message(m, ""), m.Text))
	return err
}
