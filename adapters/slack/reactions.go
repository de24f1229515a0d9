package slack

import (
	"context"
	"strings"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
)

// A reaction to a task card offers its decision back as one click
// (bot.ReactionOffer), privately (an ephemeral message) where the card is:
// ✅ or 👍 asks "Approve it?", ❌ or 👎 offers Reject. An ephemeral message
// in a thread shows only if the thread already has replies, so the question
// about a card comes in its conversation, and the one about a reminder (a
// reply) in the reminder's thread.

// Reactions that offer a decision. Slack names them without colons; a skin
// tone is cut off first ("+1::skin-tone-3").
var (
	yesEmoji = map[string]bool{"white_check_mark": true, "heavy_check_mark": true, "ballot_box_with_check": true,
		"+1": true, "thumbsup": true, "ok_hand": true}
	noEmoji = map[string]bool{"x": true, "negative_squared_cross_mark": true, "heavy_multiplication_x": true,
		"-1": true, "thumbsdown": true, "no_entry": true, "no_entry_sign": true}
)

// emojiName is a reaction's emoji without its skin tone.
func emojiName(reaction string) string {
	name, _, _ := strings.Cut(reaction, "::")
	return name
}

// offersDecision says whether a reaction may offer a decision, on some card.
func offersDecision(reaction string) bool {
	name := emojiName(reaction)
	return yesEmoji[name] || noEmoji[name]
}

// rememberCard records what a reaction to the card posted at channel/ts
// (in the thread of threadTS, for a reply) may offer, as
// "threadTS|"+bot.CardDecision. A failure costs only that: the card is sent.
func (a *Adapter) rememberCard(ctx context.Context, m *flows.Message, channel, ts, threadTS string) {
	c, ok := bot.CardDecisionOf(m)
	if !ok {
		return
	}
	if err := a.kv.SetValue(ctx, nsCard, channel+"/"+ts, threadTS+"|"+c.String(), cardKnownFor); err != nil {
		a.log.Warn("slack: a reaction to this card will not be recognized", "instance", m.Instance, "err", err)
	}
}

// onReaction answers a reaction to a task card (record, as rememberCard
// kept it) by whoever may decide on it with the decision it most likely
// means, privately.
func (a *Adapter) onReaction(ctx context.Context, user, reaction, channel, record string) error {
	thread, record, _ := strings.Cut(record, "|")
	name := emojiName(reaction)
	return a.offer(ctx, user, channel, thread, record, yesEmoji[name], "reacted :"+name+":")
}

// writtenText is a message's text as its author wrote it: without Slack's
// <…> markup (mentions, channels, links) and its escapes of &, < and >.
func writtenText(text string) string {
	var b strings.Builder
	for {
		open := strings.IndexByte(text, '<')
		end := strings.IndexByte(text[max(open, 0):], '>')
		if open < 0 || end < 0 {
			break
		}
		b.WriteString(text[:open] + " ")
		text = text[open+end+1:]
	}
	b.WriteString(text)
	return slackUnescapes.Replace(b.String())
}

var slackUnescapes = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&")

// onReply answers a short yes or no (bot.ReplyMeaning, of text as
// writtenText gives it) replied in the thread of a task card (the card at
// channel/thread, record as rememberCard kept it) the same way, privately
// in that thread.
func (a *Adapter) onReply(ctx context.Context, user, text string, yes bool, channel, thread, record string) error {
	_, record, _ = strings.Cut(record, "|")
	return a.offer(ctx, user, channel, thread, record, yes, bot.RepliedWith(text))
}

// offer asks user, privately in channel (in thread, if not ""), whether
// they meant the decision that yes stands for on the card of record.
func (a *Adapter) offer(ctx context.Context, user, channel, thread, record string, yes bool, did string) error {
	m, err := bot.ReactionOffer(ctx, a.svc, record, a.person(user), yes, did)
	if m == nil || err != nil {
		return err
	}
	return a.api.postEphemeral(ctx, channel, user, renderMessage(m, maxMessageBlocks), fallback(m), thread)
}
