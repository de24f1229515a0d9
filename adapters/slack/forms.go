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

// The block ids of the optional note a resubmission may carry and of a
// form's introduction; field names are words, so neither can collide with
// one (a field may well be called "about").
const (
	noteBlock  = "baton:note"
	aboutBlock = "baton:about"
)

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

// pickers is what a modal's person inputs need to know. Slack's user
// picker (users_select) offers only Slack users, so wherever a person is
// picked, the directory's people without a Slack id (who use Teams, say)
// are offered by a second input after it, whose block id is the first's
// plus otherSuffix: a list of them, or past Slack's 100 options, a text
// input for their email or Baton id. At most one of the two is filled in.
type pickers struct {
	slackUser func(person string) string // a person's Slack user id, "" when none
	others    []flows.Person             // the directory's people without a Slack id
}

const otherSuffix = ":other"

// userPicker is Slack's user picker, pre-selecting person if they are on
// Slack, in the input block id; with the second picker after it when some
// people are not on Slack. Both are then optional: a required person is
// checked by the engine, whose error shows next to the first.
func (pk pickers) userPicker(id, label string, hint *slackgo.TextBlockObject, person string, required bool) []slackgo.Block {
	s := slackgo.NewOptionsSelectBlockElement(slackgo.OptTypeUser, plainText("Pick someone", maxPlaceholder), valueAction)
	var user string
	if person != "" && pk.slackUser != nil {
		user = pk.slackUser(person)
	}
	s.InitialUser = user
	in := slackgo.NewInputBlock(id, plainText(label, maxLabel), hint, s)
	in.Optional = !required
	if len(pk.others) == 0 {
		return []slackgo.Block{in}
	}
	in.Optional = true
	if hint == nil {
		in.Hint = plainText("Pick someone on Slack here, or someone who is not on Slack below.", maxLabel)
	}
	initial := ""
	if user == "" {
		initial = person
	}
	var el slackgo.BlockElement
	if len(pk.others) < maxOptions {
		// First, an option that picks nobody here: a menu, once picked, can
		// only be changed, not cleared, and a form pre-filled with someone
		// not on Slack must let them pick someone on Slack instead.
		opts := []*slackgo.OptionBlockObject{slackgo.NewOptionBlockObject(nobodyHere, plainText("No one here (someone on Slack, above)", 75), nil)}
		sel := slackgo.NewOptionsSelectBlockElement(slackgo.OptTypeStatic, plainText("Pick someone", maxPlaceholder), valueAction)
		for _, p := range pk.others {
			name := p.Name
			if name == "" {
				name = p.ID
			}
			opts = append(opts, slackgo.NewOptionBlockObject(p.ID, plainText(name, 75), nil))
			if p.ID == initial {
				sel.InitialOption = opts[len(opts)-1]
			}
		}
		sel.Options = opts
		el = sel
	} else {
		t := slackgo.NewPlainTextInputBlockElement(plainText("Their email or Baton id", maxPlaceholder), valueAction)
		t.InitialValue = initial
		el = t
	}
	other := slackgo.NewInputBlock(id+otherSuffix, plainText("Or someone who is not on Slack", maxLabel), nil, el)
	other.Optional = true
	return []slackgo.Block{in, other}
}

// pickedPerson reads the person picked in the input block id or its second
// picker: a person id, "" for nobody; both is true when both were filled
// in. resolve is the directory's Resolve.
func pickedPerson(state *slackgo.ViewState, id string, resolve func(platform, id string) string) (person string, both bool) {
	user, other := stateValue(state, id), stateValue(state, id+otherSuffix)
	if other == nobodyHere {
		other = ""
	}
	switch {
	case user != "" && other != "":
		return "", true
	case user != "":
		return resolve(platformName, user), false
	case strings.Contains(other, "@"):
		return resolve("email", other), false
	}
	return other, false // a directory id
}

// pickOne is the error of a person picked twice.
const pickOne = `Pick one person: someone on Slack, or someone who is not (to keep the one on Slack, set the second to "No one here").`

// nobodyHere is the value of the option of the second picker that picks
// nobody there.
const nobodyHere = "-"

// formBlocks renders fields as input blocks, one per field (two for a
// person, see pickers), with every field kind mapped to its Block Kit
// element and values pre-filled.
func formBlocks(fields []flows.Field, values map[string]string, pk pickers) []slackgo.Block {
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
			var hint *slackgo.TextBlockObject
			if f.Help != "" {
				hint = plainText(f.Help, maxLabel)
			}
			out = append(out, pk.userPicker(f.Name, f.Label, hint, v, f.Required)...)
			continue
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
// left out, so defaults apply. resolve is the directory's Resolve (people
// are picked as Slack users, or from the directory). A person picked twice
// is a field error.
func formValues(state *slackgo.ViewState, fields []flows.Field, resolve func(platform, id string) string) (map[string]string, flows.FieldErrors) {
	out := map[string]string{}
	var fe flows.FieldErrors
	if state == nil {
		return out, nil
	}
	for _, f := range fields {
		a, ok := state.Values[f.Name][valueAction]
		if !ok && f.Kind != flows.FieldPerson {
			continue
		}
		var v string
		switch f.Kind {
		case flows.FieldChoice:
			v = a.SelectedOption.Value
		case flows.FieldDate:
			v = a.SelectedDate
		case flows.FieldPerson:
			var both bool
			if v, both = pickedPerson(state, f.Name, resolve); both {
				if fe == nil {
					fe = flows.FieldErrors{}
				}
				fe[f.Name] = pickOne
			}
		default:
			v = a.Value
		}
		if strings.TrimSpace(v) != "" {
			out[f.Name] = v
		}
	}
	return out, fe
}

// stateValue returns the value typed, or picked, in the input block id.
func stateValue(state *slackgo.ViewState, id string) string {
	if state == nil {
		return ""
	}
	a := state.Values[id][valueAction]
	return strings.TrimSpace(a.Value + a.SelectedUser + a.SelectedOption.Value)
}

// startModal is a flow's start form.
func startModal(def *flows.Definition, pk pickers) slackgo.ModalViewRequest {
	blocks := []slackgo.Block{}
	if desc := strings.TrimSpace(def.Description); desc != "" {
		blocks = append(blocks, section(aboutBlock, mrkdwn(desc)))
	}
	blocks = append(blocks, formBlocks(def.Form, nil, pk)...)
	return modal(def.Name, cbStart, "Submit", viewMeta{Kind: "start", Flow: def.ID}, blocks)
}

// resubmitModal is the flow's form pre-filled with the request's values,
// with why it came back and room for a note.
func resubmitModal(def *flows.Definition, in *flows.Instance, values map[string]string, pk pickers) slackgo.ModalViewRequest {
	var blocks []slackgo.Block
	head := fmt.Sprintf("*%s %s: %s*", mrkdwn(def.Name), in.ID, mrkdwn(in.Title))
	if in.Outcome != "" {
		head += "\nSent back because: " + mrkdwn(in.Outcome)
	}
	blocks = append(blocks, section(aboutBlock, head))
	blocks = append(blocks, formBlocks(def.Form, values, pk)...)
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
		section(aboutBlock, summary),
		slackgo.NewInputBlock("reason", plainText(label, maxLabel), nil, el),
	}
	return modal(title, cbReason, submit, viewMeta{Kind: "reason", Action: string(a.Kind), Instance: a.Instance, Step: a.Step, Round: a.Round}, blocks)
}

// reassignModal asks who should take a task over.
func reassignModal(a flows.Action, summary string, pk pickers) slackgo.ModalViewRequest {
	why := slackgo.NewPlainTextInputBlockElement(nil, valueAction)
	whyBlock := slackgo.NewInputBlock("reason", plainText("Note for them (optional)", maxLabel), nil, why)
	whyBlock.Optional = true
	blocks := []slackgo.Block{section(aboutBlock, summary)}
	blocks = append(blocks, pk.userPicker("target", "Who should take it over?", nil, "", true)...)
	blocks = append(blocks, whyBlock)
	return modal("Reassign", cbReassign, "Reassign", viewMeta{Kind: "reassign", Instance: a.Instance, Step: a.Step, Round: a.Round}, blocks)
}

// doneModal asks for a task's outputs.
func doneModal(a flows.Action, summary string, outputs []flows.Field, pk pickers) slackgo.ModalViewRequest {
	blocks := append([]slackgo.Block{section(aboutBlock, summary)}, formBlocks(outputs, nil, pk)...)
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

// outcomeMessage is what an actor is told, naming people as the engine
// allows (its Mentions).
func outcomeMessage(out flows.Outcome) *flows.Message {
	m := textMessage(out.Text)
	m.Mentions = out.Mentions
	return m
}

// textMessage is a one-line answer.
func textMessage(text string) *flows.Message {
	return &flows.Message{Kind: flows.MsgInfo, Text: text}
}
