package bot

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/batonbot/baton/flows"
)

// A reaction to a task card is taken for what it most likely means, and
// offered back as one click: a check mark or thumbs up on Bob's card asks
// him "Approve it?" with the Approve button (Mark done on a task step's
// card); a cross or thumbs down offers Reject, which asks for the reason.
// Nothing is decided by the reaction alone: an emoji is easily added by
// mistake and carries no reason, and the click goes through the same checks
// as the card's own buttons. The adapters say which emoji mean yes or no
// on their platform, and remember what each card offers (a reaction names
// only the message).

// CardDecision is what a reaction to a card may offer: its request, step
// and round, and its yes (approve or done) and no (reject) actions, ""
// where it has none.
type CardDecision struct {
	Instance, Step string
	Round          int
	Yes, No        flows.ActionKind
}

// CardDecisionOf returns what a reaction to m may offer, and false when m
// has no decision on it (or is closed).
func CardDecisionOf(m *flows.Message) (CardDecision, bool) {
	var c CardDecision
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

// String is how a CardDecision is kept: "instance|step|round|yes|no".
func (c CardDecision) String() string {
	return strings.Join([]string{c.Instance, c.Step, strconv.Itoa(c.Round), string(c.Yes), string(c.No)}, "|")
}

// ParseCardDecision reads what String wrote.
func ParseCardDecision(s string) (CardDecision, error) {
	p := strings.Split(s, "|")
	if len(p) != 5 {
		return CardDecision{}, fmt.Errorf("card record %.80q is not instance|step|round|yes|no", s)
	}
	round, err := strconv.Atoi(p[2])
	if err != nil {
		return CardDecision{}, fmt.Errorf("card record %.80q: round: %w", s, err)
	}
	return CardDecision{Instance: p[0], Step: p[1], Round: round, Yes: flows.ActionKind(p[3]), No: flows.ActionKind(p[4])}, nil
}

// ReactionSource is what ReactionOffer reads: the Service, or an adapter's
// view of it.
type ReactionSource interface {
	Engine() *flows.Engine
	Now() time.Time
	Instance(ctx context.Context, id string) (*flows.Instance, error)
}

// ReactionOffer is the question a reaction (shown as emoji) by actor to a
// card asks them back: yes or no, as the adapter reads the emoji, and
// record what the adapter kept for the card (CardDecision.String). It is
// nil when the card offers nothing of the kind, its request is gone, or the
// actor may not make that decision now (someone else's task, a card already
// decided), so a colleague's thumbs up goes unanswered.
func ReactionOffer(ctx context.Context, s ReactionSource, record, actor string, yes bool, emoji string) (*flows.Message, error) {
	c, err := ParseCardDecision(record)
	if err != nil {
		return nil, err
	}
	act := flows.Action{Instance: c.Instance, Step: c.Step, Round: c.Round, Style: "primary"}
	var ev flows.EventKind
	var question string
	switch {
	case yes && c.Yes == flows.ActApprove:
		act.Kind, act.Label, ev, question = flows.ActApprove, "Approve", flows.EventApprove, "Approve it?"
	case yes && c.Yes == flows.ActDone:
		act.Kind, act.Label, ev, question = flows.ActDone, "Mark done", flows.EventTaskDone, "Mark it done?"
	case !yes && c.No == flows.ActReject:
		act.Kind, act.Label, act.Style, ev, question = flows.ActReject, "Reject", "danger", flows.EventReject,
			"Reject it? You will be asked for the reason."
	default:
		return nil, nil
	}
	in, err := s.Instance(ctx, c.Instance)
	if errors.Is(err, flows.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	e := s.Engine()
	def, ok := e.Flow(in.Flow)
	if !ok || !e.Allowed(in, flows.Event{Kind: ev, Actor: actor, Step: c.Step, Round: c.Round}, s.Now()).OK {
		return nil, nil
	}
	return &flows.Message{Kind: flows.MsgInfo, Instance: in.ID, Flow: in.Flow, Step: c.Step, Round: c.Round,
		Text:    fmt.Sprintf("You reacted %s to %s %s: %s. %s", emoji, def.Name, in.ID, in.Title, question),
		Context: []string{"Nothing is decided until you click."},
		Actions: []flows.Action{act}}, nil
}
