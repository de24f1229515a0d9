package bot

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

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

// ReactionOffer is the question a reaction or a reply by actor to a card
// asks them back: yes or no, as the adapter reads the emoji (or
// ReplyMeaning the reply), did what they did as the question tells it
// ("reacted 👍", "replied “lgtm”"), and record what the adapter kept for
// the card (CardDecision.String). It is nil when the card offers nothing of
// the kind, its request is gone, or the actor may not make that decision now
// (someone else's task, a card already decided), so a colleague's thumbs up
// goes unanswered.
func ReactionOffer(ctx context.Context, s ReactionSource, record, actor string, yes bool, did string) (*flows.Message, error) {
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
		Text:    fmt.Sprintf("You %s to %s %s: %s. %s", did, def.Name, in.ID, in.Title, question),
		Context: []string{"Nothing is decided until you click."},
		Actions: []flows.Action{act}}, nil
}

// A short reply in a task card's thread ("lgtm", "Approved 👍", "rejected")
// is read the same way, for the same one-click question: people answer in
// the thread instead of clicking, and the flow would otherwise never hear
// of it. Only a reply that says nothing else is read: a question, a hedge
// ("approved once the quote is attached"), a negation or anything longer
// goes unanswered, as a reply that is not understood costs nothing.

// replyWords are the words (and emoji, as Unicode or as Slack names them)
// a short reply may decide with: true for yes, false for no. A yes is an
// approval, or a task done, as the card offers.
var replyWords = map[string]bool{
	"approve": true, "approved": true, "approving": true, "lgtm": true, "sgtm": true, "+1": true,
	"done": true, "finished": true, "completed": true,
	"👍": true, "✅": true, "✔": true, "☑": true, "👌": true, ":+1:": true, ":thumbsup:": true,
	":white_check_mark:": true, ":heavy_check_mark:": true, ":ballot_box_with_check:": true, ":ok_hand:": true,
	"reject": false, "rejected": false, "rejecting": false, "decline": false, "declined": false,
	"deny": false, "denied": false, "-1": false,
	"👎": false, "❌": false, "❎": false, "✖": false, "⛔": false, "🚫": false, ":-1:": false, ":thumbsdown:": false,
	":x:": false, ":negative_squared_cross_mark:": false, ":heavy_multiplication_x:": false, ":no_entry:": false, ":no_entry_sign:": false,
}

// replyPhrases are phrases of several words that mean yes, read as one.
var replyPhrases = strings.NewReplacer("looks good to me", "lgtm", "looks good", "lgtm", "good to go", "lgtm", "ship it", "lgtm")

// replyHedges are words that make a short reply more than a yes or a no
// (a negation, a condition, a delay): such a reply is not read.
var replyHedges = map[string]bool{
	"not": true, "no": true, "don't": true, "dont": true, "can't": true, "cant": true, "cannot": true,
	"won't": true, "wont": true, "isn't": true, "isnt": true, "shouldn't": true, "never": true,
	"but": true, "unless": true, "if": true, "once": true, "after": true, "until": true, "when": true,
	"wait": true, "hold": true, "pending": true, "yet": true, "almost": true, "except": true, "maybe": true,
}

// replyFiller are words a short reply may carry besides its yes or no.
var replyFiller = map[string]bool{
	"thanks": true, "thank": true, "you": true, "thx": true, "ty": true, "from": true, "me": true, "for": true,
	"by": true, "my": true, "side": true, "i": true, "it": true, "this": true, "that": true, "all": true,
	"good": true, "great": true, "please": true, "pls": true, "hi": true, "hey": true, "ok": true, "okay": true,
	"baton": true, "@baton": true, "and": true, "is": true, "as": true, "well": true, "too": true,
}

// maxReplyOthers is how many other words (a name, "team", "nice") a short
// reply may have.
const maxReplyOthers = 2

// ReplyMeaning reads a short reply in a task card's thread as yes or no;
// ok is false for anything else. text is what the person wrote, without
// the platform's markup (mentions, links, escapes).
func ReplyMeaning(text string) (yes, ok bool) {
	text = replyPhrases.Replace(strings.ToLower(text))
	if strings.ContainsAny(text, "?") {
		return false, false
	}
	var yeses, nos, others int
	for _, w := range replyTokens(text) {
		meaning, known := replyWords[w]
		switch {
		case known && meaning:
			yeses++
		case known:
			nos++
		case replyHedges[w]:
			return false, false
		case replyFiller[w] || strings.HasPrefix(w, ":skin-tone-"):
		default:
			others++
		}
	}
	if others > maxReplyOthers || (yeses > 0) == (nos > 0) {
		return false, false
	}
	return yeses > 0, true
}

// RepliedWith is what a person did, as ReactionOffer's question tells it:
// replied “lgtm” (the reply, as ReplyMeaning takes it, cut short).
func RepliedWith(text string) string {
	const most = 40
	r := []rune(strings.Join(strings.Fields(text), " "))
	if len(r) > most {
		r = append(r[:most-1], '…')
	}
	return "replied “" + string(r) + "”"
}

// replyTokens splits lowercased text into words (letters, digits, "+",
// "-" and apostrophes: "don't", "+1"), Slack emoji names (":+1:") and
// emoji, one each; punctuation, variation selectors, skin tones and
// joiners are dropped.
func replyTokens(text string) []string {
	var out []string
	word := -1 // where the word being read began, or -1
	flush := func(end int) {
		if word >= 0 {
			out = append(out, strings.ReplaceAll(text[word:end], "’", "'"))
			word = -1
		}
	}
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		switch {
		case r == ':':
			flush(i)
			if end := strings.IndexByte(text[i+1:], ':'); end > 0 && isEmojiName(text[i+1:i+1+end]) {
				out = append(out, text[i:i+end+2])
				i += end + 2
				continue
			}
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '+' || r == '-' || r == '\'' || r == '’':
			if word < 0 {
				word = i
			}
		case unicode.Is(unicode.So, r):
			flush(i)
			out = append(out, string(r))
		default: // spaces, punctuation, U+FE0F, skin tones (Sk), U+200D
			flush(i)
		}
		i += size
	}
	flush(len(text))
	return out
}

// isEmojiName says whether s could be the name of a Slack emoji, as
// between colons: lowercase letters, digits, "_", "+" and "-".
func isEmojiName(s string) bool {
	return strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789_+-") == ""
}
