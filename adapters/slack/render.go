package slack

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	slackgo "github.com/slack-go/slack"

	"github.com/batonbot/baton/flows"
)

// Block Kit limits (docs.slack.dev/reference/block-kit): blocks per message
// and per view, characters per text object.
const (
	maxMessageBlocks = 50
	maxViewBlocks    = 100
	maxSectionText   = 3000
	maxFieldText     = 2000
	maxHeaderText    = 150
	maxConfirmTitle  = 100 // a confirmation dialog's title,
	maxConfirmText   = 300 // its text
	maxConfirmButton = 30  // and its buttons' texts
	maxButtonText    = 75
	maxContextItems  = 10
	maxActionButtons = 25
	maxSectionFields = 10
	maxFallbackText  = 3000
)

// truncate cuts s to at most n runes, marking the cut with an ellipsis.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// People outside the directory are named "slack:U123" by the engine; in
// mrkdwn they become mentions, which Slack shows with the person's name.
var slackPerson = regexp.MustCompile(`slack:([UW][A-Z0-9]{2,30})\b`)

// mrkdwnEscapes escapes the three characters Slack gives meaning to.
var mrkdwnEscapes = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// mrkdwn turns plain text into safe mrkdwn: &, < and > are escaped, so
// nobody can inject a mention or a link.
func mrkdwn(s string) string { return mrkdwnEscapes.Replace(s) }

// mrkdwnNamed is mrkdwn for text the engine writes, naming people (the
// card's text, its context lines, its outcome): the ids of the people
// outside the directory whom the message concerns (its Mentions, e.g.
// "slack:U123") become mentions, which Slack shows with their names. Any
// other id, typed by someone into a form value, a reason or a comment
// that the engine quotes, stays text: it would otherwise notify whoever it
// names.
func mrkdwnNamed(s string, mentions []string) string {
	s = mrkdwn(s)
	if len(mentions) == 0 || !strings.Contains(s, "slack:") {
		return s
	}
	return slackPerson.ReplaceAllStringFunc(s, func(id string) string {
		if slices.Contains(mentions, id) {
			return "<@" + strings.TrimPrefix(id, "slack:") + ">"
		}
		return id
	})
}

// outcomeMrkdwn is a closed card's outcome line, its time written as a
// Slack date, which each reader sees in their own zone, whoever's card it
// is (the time as the text has it, in the zone of the card's place once
// the messenger has localized it, is its fallback).
func outcomeMrkdwn(m *flows.Message, first string) string {
	lead, ok := m.OutcomeLead()
	if !ok {
		return mrkdwnNamed(first, m.Mentions)
	}
	return mrkdwnNamed(lead, m.Mentions) +
		fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", m.At.Unix(), mrkdwn(strings.TrimPrefix(first, lead)))
}

func mdText(s string, max int) *slackgo.TextBlockObject {
	return slackgo.NewTextBlockObject(slackgo.MarkdownType, truncateMrkdwn(s, max), false, false)
}

// truncateMrkdwn is truncate for escaped mrkdwn: a cut inside an escape
// (&amp;) or a mention (<@U123>) moves to before it, so nothing half-made
// shows.
func truncateMrkdwn(s string, n int) string {
	t := truncate(s, n)
	if t == s {
		return s
	}
	body := strings.TrimSuffix(t, "…")
	if i := strings.LastIndexByte(body, '&'); i > strings.LastIndexByte(body, ';') {
		body = body[:i]
	}
	if i := strings.LastIndexByte(body, '<'); i > strings.LastIndexByte(body, '>') {
		body = body[:i]
	}
	return body + "…"
}

func plainText(s string, max int) *slackgo.TextBlockObject {
	return slackgo.NewTextBlockObject(slackgo.PlainTextType, truncate(s, max), true, false)
}

func section(id, md string) *slackgo.SectionBlock {
	return slackgo.NewSectionBlock(mdText(md, maxSectionText), nil, nil, slackgo.SectionBlockOptionBlockID(id))
}

// titleIcon marks reminders, escalations and closed cards at a glance.
func titleIcon(m *flows.Message) string {
	switch {
	case m.Kind == flows.MsgReminder:
		return ":alarm_clock: "
	case m.Kind == flows.MsgEscalation:
		return ":rotating_light: "
	case m.Outcome != "":
		return outcomeIcon(m.Outcome)
	}
	return ""
}

func outcomeIcon(outcome string) string {
	switch w, _, _ := strings.Cut(outcome, " "); w {
	case "Approved", "Done":
		return ":white_check_mark: "
	case "Rejected", "Failed":
		return ":x: "
	case "Changes":
		return ":leftwards_arrow_with_hook: "
	case "Reassigned":
		return ":arrows_counterclockwise: "
	case "Withdrawn", "Cancelled", "Skipped":
		return ":no_entry_sign: "
	}
	return ""
}

// fallback is the message's notification text (and what clients without
// Block Kit show).
func fallback(m *flows.Message) string {
	s := m.Title
	line, _, _ := strings.Cut(m.Text, "\n")
	if m.Outcome != "" {
		line, _, _ = strings.Cut(m.Outcome, "\n")
	}
	switch {
	case s == "":
		s = line
	case line != "":
		s += " — " + line
	}
	return truncateMrkdwn(mrkdwnNamed(s, m.Mentions), maxFallbackText)
}

// renderMessage renders a card as Block Kit within maxBlocks blocks (50 in
// a message, 100 in a modal or the Home tab). Everything is included in
// order of importance; list items that do not fit are counted in a note.
func renderMessage(m *flows.Message, maxBlocks int) []slackgo.Block {
	var head, tail []slackgo.Block
	switch title := titleIcon(m) + m.Title; {
	case m.Title == "":
	case m.Kind == flows.MsgInfo && m.Text == "" && len(m.Fields) == 0 && len(m.Items) == 0 && m.Outcome == "":
		// A one-line answer ("Comment added to PR-12."): a line of text,
		// as a person would answer, not a heading.
		head = append(head, section("title", mrkdwnNamed(title, m.Mentions)))
	case utf8.RuneCountInString(title) > maxHeaderText:
		// A header would cut it short (a command's answer of one long
		// line): a section holds it whole.
		head = append(head, section("title", "*"+mrkdwnNamed(title, m.Mentions)+"*"))
	default:
		head = append(head, slackgo.NewHeaderBlock(plainText(title, maxHeaderText), slackgo.HeaderBlockOptionBlockID("title")))
	}
	if m.Outcome != "" {
		first, rest, _ := strings.Cut(m.Outcome, "\n")
		md := "*" + outcomeMrkdwn(m, first) + "*"
		if rest != "" {
			md += "\n" + mrkdwnNamed(rest, m.Mentions)
		}
		head = append(head, section("outcome", md))
	}
	if m.Text != "" {
		head = append(head, section("text", mrkdwnNamed(m.Text, m.Mentions)))
	}
	if len(m.Changes) > 0 {
		lines := []string{"*Changed since the last round*"}
		for _, c := range m.Changes {
			lines = append(lines, fmt.Sprintf("• %s~%s~ → *%s*", mrkdwn(flows.LabelColon(c.Label)), mrkdwn(orNone(c.Old)), mrkdwn(orNone(c.New))))
		}
		head = append(head, section("changes", strings.Join(lines, "\n")))
	}
	head = append(head, factBlocks(m)...)
	if len(m.Context) > 0 {
		var els []slackgo.MixedElement
		for i, c := range m.Context {
			if i == maxContextItems-1 && len(m.Context) > maxContextItems {
				c = strings.Join(m.Context[i:], " · ")
			}
			els = append(els, mdText(mrkdwnNamed(c, m.Mentions), maxFieldText))
			if len(els) == maxContextItems {
				break
			}
		}
		tail = append(tail, slackgo.NewContextBlock("context", els...))
	}
	if len(m.Actions) > 0 && m.Outcome == "" {
		tail = append(tail, buttons("actions", m.Actions))
	}
	budget := maxBlocks - len(head) - len(tail)
	return append(append(head, itemBlocks("item", m.Items, m.Mentions, budget)...), tail...)
}

func orNone(s string) string {
	if s == "" {
		return "(empty)"
	}
	return s
}

// factBlocks renders a message's fields: a list for help, otherwise a grid
// of labelled values (ten per section).
func factBlocks(m *flows.Message) []slackgo.Block {
	if len(m.Fields) == 0 {
		return nil
	}
	if m.Kind == flows.MsgHelp {
		var lines []string
		for _, f := range m.Fields {
			lines = append(lines, fmt.Sprintf("• `%s %s` — %s", Command, mrkdwn(f.Label), mrkdwn(f.Value))) // as typed in Slack
		}
		return []slackgo.Block{section("fields", strings.Join(lines, "\n"))}
	}
	var out []slackgo.Block
	for start := 0; start < len(m.Fields); start += maxSectionFields {
		var texts []*slackgo.TextBlockObject
		for _, f := range m.Fields[start:min(start+maxSectionFields, len(m.Fields))] {
			v := mrkdwn(orNone(f.Value))
			if id, ok := strings.CutPrefix(f.Value, "slack:"); ok && flows.PlatformID("slack", id) && slices.Contains(m.Mentions, f.Value) {
				// A person field naming someone the directory lacks, by the
				// Slack id the engine named them with (the whole value, one
				// id and nothing else: a text that holds one is no mention).
				v = "<@" + id + ">"
			}
			texts = append(texts, mdText("*"+mrkdwn(f.Label)+"*\n"+v, maxFieldText))
		}
		out = append(out, slackgo.NewSectionBlock(nil, texts, nil, slackgo.SectionBlockOptionBlockID("fields-"+strconv.Itoa(start/maxSectionFields))))
	}
	return out
}

// itemBlocks renders list items within budget blocks. Items without buttons
// are packed into shared sections (up to 3,000 characters each) so long
// timelines fit; an item with buttons gets its own section and actions.
// mentions are the ids their text may show as mentions (Message.Mentions).
func itemBlocks(prefix string, items []flows.Item, mentions []string, budget int) []slackgo.Block {
	if len(items) == 0 || budget <= 0 {
		return nil
	}
	var out []slackgo.Block
	var pack []string
	size := 0
	flush := func() {
		if len(pack) > 0 {
			out = append(out, section(prefix+"s-"+strconv.Itoa(len(out)), strings.Join(pack, "\n\n")))
			pack, size = nil, 0
		}
	}
	for i, it := range items {
		md := "*" + mrkdwnNamed(it.Title, mentions) + "*"
		if it.Text != "" {
			md += "\n" + mrkdwnNamed(it.Text, mentions)
		}
		md = truncateMrkdwn(md, maxSectionText)
		need := 1
		if len(it.Actions) > 0 {
			need = 2
		}
		if len(pack) > 0 {
			need++ // the pack is flushed first
		}
		// Keep one block for the "more" note unless this is the last item.
		if left := len(items) - i; len(out)+need > budget || left > 1 && len(out)+need > budget-1 {
			flush()
			if len(out) < budget {
				out = append(out, slackgo.NewContextBlock(prefix+"-more", mdText(fmt.Sprintf("… and %d more not shown.", len(items)-i), maxFieldText)))
			}
			return out
		}
		if len(it.Actions) > 0 {
			flush()
			out = append(out, section(prefix+"-"+strconv.Itoa(i), md), buttons(prefix+"-"+strconv.Itoa(i)+"-actions", it.Actions))
			continue
		}
		if size+len(md)+2 > maxSectionText {
			flush()
		}
		pack = append(pack, md)
		size += len(md) + 2
	}
	flush()
	return out
}

// buttons renders actions as an actions block. A button's value carries
// what it acts on (kind, request, step, round or flow).
func buttons(blockID string, actions []flows.Action) *slackgo.ActionBlock {
	var els []slackgo.BlockElement
	for i, a := range actions {
		if i == maxActionButtons {
			break
		}
		if a.Kind == flows.ActSnooze { // a menu of its choices: one pick acts
			var opts []*slackgo.OptionBlockObject
			for _, c := range flows.SnoozeChoices {
				a.Choice = c.Value
				opts = append(opts, slackgo.NewOptionBlockObject(encodeAction(a), plainText(c.Label, maxButtonText), nil))
			}
			els = append(els, slackgo.NewOptionsSelectBlockElement(slackgo.OptTypeStatic, plainText(a.Label, maxButtonText),
				"baton:"+string(a.Kind)+":"+strconv.Itoa(i), opts...))
			continue
		}
		b := slackgo.NewButtonBlockElement("baton:"+string(a.Kind)+":"+strconv.Itoa(i), encodeAction(a), plainText(a.Label, maxButtonText))
		switch a.Style {
		case "primary":
			b.Style = slackgo.StylePrimary
		case "danger":
			b.Style = slackgo.StyleDanger
		}
		if a.Kind == flows.ActWithdraw { // it cannot be undone: Slack asks first
			b.Confirm = slackgo.NewConfirmationBlockObject(plainText("Withdraw "+a.Instance+"?", maxConfirmTitle),
				plainText("The request is closed and the people at its current step are told. This cannot be undone.", maxConfirmText),
				plainText("Withdraw", maxConfirmButton), plainText("Keep it", maxConfirmButton))
			b.Confirm.Style = slackgo.StyleDanger
		}
		els = append(els, b)
	}
	return slackgo.NewActionBlock(blockID, els...)
}

// renderClosedReply renders a reminder reply once its task is closed: one
// line saying how it ended, instead of a second copy of the full card.
func renderClosedReply(m *flows.Message) []slackgo.Block {
	first, rest, _ := strings.Cut(m.Outcome, "\n")
	md := outcomeIcon(m.Outcome) + "*" + outcomeMrkdwn(m, first) + "*"
	if rest != "" {
		md += "\n" + mrkdwnNamed(rest, m.Mentions)
	}
	return []slackgo.Block{section("outcome", md)}
}
