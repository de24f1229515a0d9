package slack

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/batonbot/baton/flows"
)

// A reaction to a task card is taken for what it most likely means, and
// offered as one click: ✅ or 👍 on Bob's card asks him, privately in the
// card's thread, "Approve PR-12?" with the Approve button (Mark done on a
// task step's card); ❌ or 👎 offers Reject, which asks for the reason.
// Nothing is decided by the reaction alone: an emoji is easily added by
// mistake and carries no reason, and the click goes through the same checks
// as the card's own buttons. It is offered only to someone who may decide
// on the step now, so a colleague's 👍 on a channel's card, or a reaction
// to a card already decided, goes unanswered.

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

// cardActs is what a reaction to a card may offer: its request, step and
// round, and its yes (approve or done) and no (reject) actions, "" where it
// has none. It is kept by the card's channel/ts (nsCard) when the card is
// posted, as a reaction event names only the message.
type cardActs struct {
	Instance, Step string
	Round          int
	Yes, No        flows.ActionKind
}

func (c cardActs) String() string {
	return strings.Join([]string{c.Instance, c.Step, strconv.Itoa(c.Round), string(c.Yes), string(c.No)}, "|")
}

func parseCardActs(s string) (cardActs, error) {
	p := strings.Split(s, "|")
	if len(p) != 5 {
		return cardActs{}, fmt.Errorf("card record %.80q is not instance|step|round|yes|no", s)
	}
	round, err := strconv.Atoi(p[2])
	if err != nil {
		return cardActs{}, fmt.Errorf("card record %.80q: round: %w", s, err)
	}
	return cardActs{Instance: p[0], Step: p[1], Round: round, Yes: flows.ActionKind(p[3]), No: flows.ActionKind(p[4])}, nil
}

// cardActsOf returns what a reaction to m may offer, and false when m has
// no decision on it.
func cardActsOf(m *flows.Message) (cardActs, bool) {
	var c cardActs
	for _, a := range m.Actions {
		switch a.Kind {
		case flows.ActApprove, flows.ActDone:
			c.Yes = a.Kind
		case flows.ActReject:
			c.No = a.Kind
		default:
			continue
		}
		c.Instance, c.Step, c.Round = a.Instance, a.Step, a.Round
	}
	return c, c.Instance != "" && m.Outcome == ""
}

// rememberCard records what a reaction to the card posted at channel/ts may
// offer. A failure costs only that: the card is sent.
func (a *Adapter) rememberCard(ctx context.Context, m *flows.Message, channel, ts string) {
	c, ok := cardActsOf(m)
	if !ok {
		return
	}
	if err := a.kv.SetValue(ctx, nsCard, channel+"/"+ts, c.String(), cardKnownFor); err != nil {
		a.log.Warn("slack: a reaction to this card will not be recognized", "instance", m.Instance, "err", err)
	}
}

// onReaction answers a reaction to a task card by whoever may decide on it
// with the decision it most likely means, privately in the card's thread.
func (a *Adapter) onReaction(ctx context.Context, user, reaction, channel, ts string) error {
	v, ok, err := a.kv.GetValue(ctx, nsCard, channel+"/"+ts)
	if err != nil || !ok {
		return err // not a card of Baton's (or one too old to know)
	}
	c, err := parseCardActs(v)
	if err != nil {
		return err
	}
	name := emojiName(reaction)
	act := flows.Action{Instance: c.Instance, Step: c.Step, Round: c.Round, Style: "primary"}
	var ev flows.EventKind
	switch {
	case yesEmoji[name] && c.Yes == flows.ActApprove:
		act.Kind, act.Label, ev = flows.ActApprove, "Approve", flows.EventApprove
	case yesEmoji[name] && c.Yes == flows.ActDone:
		act.Kind, act.Label, ev = flows.ActDone, "Mark done", flows.EventTaskDone
	case noEmoji[name] && c.No == flows.ActReject:
		act.Kind, act.Label, act.Style, ev = flows.ActReject, "Reject", "danger", flows.EventReject
	default:
		return nil
	}
	in, def, err := a.instance(ctx, c.Instance)
	if errors.Is(err, flows.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	actor := a.person(user)
	if out := a.svc.Engine().Allowed(in, flows.Event{Kind: ev, Actor: actor, Step: c.Step, Round: c.Round}, a.svc.Now()); !out.OK {
		a.log.Debug("slack reaction left unanswered", "user", user, "instance", in.ID, "why", out.Text)
		return nil
	}
	question := map[flows.ActionKind]string{
		flows.ActApprove: "Approve it?",
		flows.ActDone:    "Mark it done?",
		flows.ActReject:  "Reject it? You will be asked for the reason.",
	}[act.Kind]
	m := &flows.Message{Kind: flows.MsgInfo, Instance: in.ID, Flow: in.Flow, Step: c.Step, Round: c.Round,
		Text:    fmt.Sprintf("You reacted :%s: to %s %s: %s. %s", name, def.Name, in.ID, in.Title, question),
		Context: []string{"Nothing is decided until you click."},
		Actions: []flows.Action{act}}
	return a.api.postEphemeral(ctx, channel, user, renderMessage(m, maxMessageBlocks), fallback(m), ts)
}
