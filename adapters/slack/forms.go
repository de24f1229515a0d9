package slack

import (
	"fmt"
	"strconv"
	"strings"

	slackgo "github.com/slack-go/slack"

	"github.com/batonbot/baton/flows"
)

// Modal callback ids: what a view_submission is for.
const (
	cbStart    = "baton.start"
	cbResubmit = "baton.resubmit"
	cbReason   = "baton.reason"
	cbReassign = "baton.reassign"
	cbDone     = "baton.done"
	cbInfo     = "baton.info"
)

// Limits of a modal (docs.slack.dev/surfaces/modals).
const (
	maxViewTitle   = 24
	maxLabel       = 2000
	maxPlaceholder = 150
	maxOptions     = 100
	maxInputLength = 3000
)

// Input blocks are keyed by field name; each holds one element "value".
const valueAction = "value"

// The block id of the optional note a resubmission may carry; field names
// are words, so it cannot collide with one.
const noteBlock = "baton:note"

func modal(title, callback, submit string, meta viewMeta, blocks []slackgo.Block) slackgo.ModalViewRequest {
	v := slackgo.ModalViewRequest{Type: slackgo.VTModal, Title: plainText(title, maxViewTitle), Close: plainText("Cancel", maxViewTitle),
		CallbackID: callback, Blocks: slackgo.Blocks{BlockSet: blocks}}
	if submit != "" {
		v.Submit = plainText(submit, maxViewTitle)
		v.PrivateMetadata = meta.encode()
	} else {
		v.Close = plainText("Close", maxViewTitle)
	}
	return v
}

// formBlocks renders fields as input blocks, one per field, with every
// field kind mapped to its Block Kit element and values pre-filled.
// resolveUser maps a person id to a Slack user id ("" when unknown).
func formBlocks(fields []flows.Field, values map[string]string, resolveUser func(string) string) []slackgo.Block {
	var out []slackgo.Block
	for _, f := range fields {
		v, ok := values[f.Name]
		if !ok {
			v = f.Default
		}
		var el slackgo.BlockElement
		switch f.Kind {
		case flows.FieldNumber:
			n := slackgo.NewNumberInputBlockElement(nil, valueAction, true)
			n.InitialValue = v
			if f.Min != nil {
				n.MinValue = strconv.FormatFloat(*f.Min, 'f', -1, 64)
			}
			if f.Max != nil {
				n.MaxValue = strconv.FormatFloat(*f.Max, 'f', -1, 64)
			}
			el = n
		case flows.FieldChoice:
			var opts []*slackgo.OptionBlockObject
			var initial *slackgo.OptionBlockObject
			for i, o := range f.Options {
				if i == maxOptions {
					break
				}
				opt := slackgo.NewOptionBlockObject(o, plainText(o, 75), nil)
				opts = append(opts, opt)
				if o == v {
					initial = opt
				}
			}
			s := slackgo.NewOptionsSelectBlockElement(slackgo.OptTypeStatic, plainText("Choose", maxPlaceholder), valueAction, opts...)
			s.InitialOption = initial
			el = s
		case flows.FieldDate:
			d := slackgo.NewDatePickerBlockElement(valueAction)
			d.InitialDate = v
			el = d
		case flows.FieldPerson:
			s := slackgo.NewOptionsSelectBlockElement(slackgo.OptTypeUser, plainText("Pick someone", maxPlaceholder), valueAction)
			if v != "" {
				s.InitialUser = resolveUser(v)
			}
			el = s
		case flows.FieldURL:
			u := slackgo.NewURLTextInputBlockElement(plainText("https://…", maxPlaceholder), valueAction)
			u.InitialValue = v
			el = u
		default: // text, longtext
			t := slackgo.NewPlainTextInputBlockElement(nil, valueAction)
			t.InitialValue = truncate(v, maxInputLength)
			t.Multiline = f.Kind == flows.FieldLongText
			if f.Min != nil && *f.Min >= 1 && *f.Min <= maxInputLength {
				t.MinLength = int(*f.Min)
			}
			if f.Max != nil && *f.Max >= 1 && *f.Max <= maxInputLength {
				t.MaxLength = int(*f.Max)
			}
			el = t
		}
		var hint *slackgo.TextBlockObject
		if f.Help != "" {
			hint = plainText(f.Help, maxLabel)
		}
		in := slackgo.NewInputBlock(f.Name, plainText(f.Label, maxLabel), hint, el)
		in.Optional = !f.Required
		out = append(out, in)
	}
	return out
}

// formValues reads the submitted values of fields from a view's state:
// raw strings, as typed, for flows.ParseForm to validate. Empty values are
// left out, so defaults apply. resolveUser maps a Slack user id to a
// person id.
func formValues(state *slackgo.ViewState, fields []flows.Field, resolveUser func(string) string) map[string]string {
	out := map[string]string{}
	if state == nil {
		return out
	}
	for _, f := range fields {
		a, ok := state.Values[f.Name][valueAction]
		if !ok {
			continue
		}
		var v string
		switch f.Kind {
		case flows.FieldChoice:
			v = a.SelectedOption.Value
		case flows.FieldDate:
			v = a.SelectedDate
		case flows.FieldPerson:
			if a.SelectedUser != "" {
				v = resolveUser(a.SelectedUser)
			}
		default:
			v = a.Value
		}
		if strings.TrimSpace(v) != "" {
			out[f.Name] = v
		}
	}
	return out
}

// stateValue returns the value typed into the input block id.
func stateValue(state *slackgo.ViewState, id string) string {
	if state == nil {
		return ""
	}
	a := state.Values[id][valueAction]
	return strings.TrimSpace(a.Value + a.SelectedUser)
}

// startModal is a flow's start form.
func startModal(def *flows.Definition, resolveUser func(string) string) slackgo.ModalViewRequest {
	blocks := []slackgo.Block{}
	if desc := strings.TrimSpace(def.Description); desc != "" {
		blocks = append(blocks, section("about", mrkdwn(desc)))
	}
	blocks = append(blocks, formBlocks(def.Form, nil, resolveUser)...)
	return modal(def.Name, cbStart, "Submit", viewMeta{Kind: "start", Flow: def.ID}, blocks)
}

// resubmitModal is the flow's form pre-filled with the request's values,
// with why it came back and room for a note.
func resubmitModal(def *flows.Definition, in *flows.Instance, values map[string]string, resolveUser func(string) string) slackgo.ModalViewRequest {
	var blocks []slackgo.Block
	head := fmt.Sprintf("*%s %s: %s*", mrkdwn(def.Name), in.ID, mrkdwn(in.Title))
	if in.Outcome != "" {
		head += "\nSent back because: " + mrkdwn(in.Outcome)
	}
	blocks = append(blocks, section("about", head))
	blocks = append(blocks, formBlocks(def.Form, values, resolveUser)...)
	note := slackgo.NewPlainTextInputBlockElement(plainText("e.g. split into two orders", maxPlaceholder), valueAction)
	note.Multiline = true
	in2 := slackgo.NewInputBlock(noteBlock, plainText("What did you change? (optional)", maxLabel), nil, note)
	in2.Optional = true
	blocks = append(blocks, in2)
	return modal("Edit and resubmit", cbResubmit, "Resubmit", viewMeta{Kind: "resubmit", Instance: in.ID, Step: in.Step, Round: in.Round}, blocks)
}

// reasonModal asks for the reason of a rejection or a request for changes.
func reasonModal(a flows.Action, summary string) slackgo.ModalViewRequest {
	title, submit, label := "Reject", "Reject", "Why are you rejecting it?"
	if a.Kind == flows.ActChanges {
		title, submit, label = "Request changes", "Send back", "What should be changed?"
	}
	el := slackgo.NewPlainTextInputBlockElement(plainText("The requester sees this.", maxPlaceholder), valueAction)
	el.Multiline = true
	blocks := []slackgo.Block{
		section("about", mrkdwn(summary)),
		slackgo.NewInputBlock("reason", plainText(label, maxLabel), nil, el),
	}
	return modal(title, cbReason, submit, viewMeta{Kind: "reason", Action: string(a.Kind), Instance: a.Instance, Step: a.Step, Round: a.Round}, blocks)
}

// reassignModal asks who should take a task over.
func reassignModal(a flows.Action, summary string) slackgo.ModalViewRequest {
	pick := slackgo.NewOptionsSelectBlockElement(slackgo.OptTypeUser, plainText("Pick someone", maxPlaceholder), valueAction)
	why := slackgo.NewPlainTextInputBlockElement(nil, valueAction)
	whyBlock := slackgo.NewInputBlock("reason", plainText("Note for them (optional)", maxLabel), nil, why)
	whyBlock.Optional = true
	blocks := []slackgo.Block{
		section("about", mrkdwn(summary)),
		slackgo.NewInputBlock("target", plainText("Who should take it over?", maxLabel), nil, pick),
		whyBlock,
	}
	return modal("Reassign", cbReassign, "Reassign", viewMeta{Kind: "reassign", Instance: a.Instance, Step: a.Step, Round: a.Round}, blocks)
}

// doneModal asks for a task's outputs.
func doneModal(a flows.Action, summary string, outputs []flows.Field, resolveUser func(string) string) slackgo.ModalViewRequest {
	blocks := append([]slackgo.Block{section("about", mrkdwn(summary))}, formBlocks(outputs, nil, resolveUser)...)
	return modal("Mark done", cbDone, "Done", viewMeta{Kind: "done", Instance: a.Instance, Step: a.Step, Round: a.Round}, blocks)
}

// infoModal shows a message in a modal (an answer to a click on the App
// Home, where there is no conversation to answer in).
func infoModal(m *flows.Message) slackgo.ModalViewRequest {
	title := "Baton"
	if m.Kind == flows.MsgTimeline && m.Instance != "" {
		title = m.Instance
	}
	return modal(title, cbInfo, "", viewMeta{}, renderMessage(m, maxViewBlocks))
}

// textMessage is a one-line answer.
func textMessage(text string) *flows.Message {
	return &flows.Message{Kind: flows.MsgInfo, Text: text}
}
