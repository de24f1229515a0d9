package teams

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/batonbot/baton/flows"
)

// Adaptive Card constants. Teams renders schema 1.5 at most, and
// Action.Execute (Universal Actions) needs 1.4 or later.
const (
	cardContentType = "application/vnd.microsoft.card.adaptive"
	cardSchema      = "http://adaptivecards.io/schemas/adaptive-card.json"
	cardVersion     = "1.5"
	maxItems        = 40 // items shown on one card at most
	// Teams refuses a message over its size limit (413 MessageSizeTooBig;
	// 40 KB in UTF-16 on older clients): a card's list items stop at
	// maxItemBytes of JSON, and each text at maxText characters, so that a
	// long task list or a pasted essay shortens the card instead of losing it.
	maxItemBytes = 12_000
	maxText      = 1_500
	// A card's field values and changes share maxFactText characters:
	// each value shows an even share, at least minFactText, so that a form
	// of long texts, all changed (old and new shown), keeps the card whole.
	// Past maxFacts fields and maxChanges changes, the rest are counted, not
	// shown.
	maxFactText = 8_000
	minFactText = 40
	maxFacts    = 20
	maxChanges  = 10
	maxLines    = 15 // lines of a card's text
)

// Keys of the data an Action.Execute carries back to us, and prefixes of
// input ids (which Teams merges into the same data).
const (
	keyInstance = "i"
	keyStep     = "s"
	keyRound    = "r"
	keyFlow     = "f"
	keyView     = "v" // "list": the card is a task list, answer with the refreshed list
	keyKey      = "k" // a form's idempotency key
	inReason    = "reason:"
	inTarget    = "target:"
	inNote      = "note:"
	inOutput    = "out:"
	inField     = "f:"
	inResubmit  = "note"
	inSnooze    = "snooze:"
)

// Action.Execute verbs.
const (
	verbApprove  = "approve"
	verbReject   = "reject"
	verbChanges  = "changes"
	verbReassign = "reassign"
	verbDone     = "done"
	verbWithdraw = "withdraw"
	verbEdit     = "edit"     // open the resubmission form
	verbResubmit = "resubmit" // submit it
	verbOpen     = "open"     // open a flow's start form
	verbStart    = "start"    // submit it
	verbStatus   = "status"
	verbSnooze   = "snooze"
)

// renderer turns Baton's neutral messages and forms into Adaptive Cards.
// All text goes into RichTextBlock TextRuns, which Adaptive Cards never read
// as Markdown (TextBlock and FactSet do), so what people typed shows as typed.
type renderer struct {
	engine    *flows.Engine
	maxPeople int // person pickers list the directory up to this size, else ask for an id or email
}

type card = map[string]any

func newCard(body, actions []any) card {
	c := card{"type": "AdaptiveCard", "$schema": cardSchema, "version": cardVersion, "body": body,
		"msteams": map[string]any{"width": "Full"}}
	if len(actions) > 0 {
		c["actions"] = actions
	}
	return c
}

// attachment wraps a card for an activity.
func attachment(c card) schema.Attachment {
	return schema.Attachment{ContentType: cardContentType, Content: c}
}

// runStyle is how a TextRun looks.
type runStyle struct {
	weight, size, color string
	subtle, strike      bool
}

func textRun(s string, st runStyle) map[string]any {
	r := map[string]any{"type": "TextRun", "text": shorten(s)}
	if st.weight != "" {
		r["weight"] = st.weight
	}
	if st.size != "" {
		r["size"] = st.size
	}
	if st.color != "" {
		r["color"] = st.color
	}
	if st.subtle {
		r["isSubtle"] = true
	}
	if st.strike {
		r["strikethrough"] = true
	}
	return r
}

func rich(runs ...map[string]any) map[string]any {
	inl := make([]any, len(runs))
	for i, r := range runs {
		inl[i] = r
	}
	return map[string]any{"type": "RichTextBlock", "inlines": inl}
}

// paragraphs renders text line by line (a TextRun does not break lines),
// up to maxText characters in all.
func paragraphs(text string, st runStyle) []any {
	var out []any
	for _, l := range capLines(strings.Split(shorten(text), "\n"), maxLines) {
		if strings.TrimSpace(l) != "" {
			out = append(out, rich(textRun(l, st)))
		}
	}
	return out
}

// shorten cuts s to maxText characters, marking the cut.
func shorten(s string) string { return shortenTo(s, maxText) }

// shortenTo cuts s to n characters, marking the cut.
func shortenTo(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// capLines keeps the first n-1 lines (of those not blank) and joins the
// rest into the last, with spaces: nothing is lost, but the line breaks.
func capLines(lines []string, n int) []string {
	lines = slices.DeleteFunc(lines, func(l string) bool { return strings.TrimSpace(l) == "" })
	if len(lines) <= n {
		return lines
	}
	return append(lines[:n-1:n-1], strings.Join(lines[n-1:], " "))
}

// factShare is how many characters each field value and changed value of
// m shows (maxFactText).
func factShare(m *flows.Message) int {
	n := min(len(m.Fields), maxFacts) + 2*min(len(m.Changes), maxChanges)
	if n == 0 {
		return maxText
	}
	return max(minFactText, min(maxText, maxFactText/n))
}

func spaced(el map[string]any, spacing string) map[string]any {
	el["spacing"] = spacing
	return el
}

// facts renders labelled values as "Label: value" lines, each value up to
// share characters. A FactSet would align them, but Teams reads its values
// as Markdown, and what people typed must show as typed.
func facts(fields []flows.Fact, share int) []any {
	var out []any
	for i, f := range fields[:min(len(fields), maxFacts)] {
		// Each line is an element of its own: a value of many short lines
		// would cost far more than its characters.
		lines := capLines(strings.Split(shortenTo(f.Value, share), "\n"), max(2, share/100))
		if len(lines) == 0 { // an empty value
			lines = []string{""}
		}
		el := rich(textRun(flows.LabelColon(f.Label), runStyle{weight: "bolder"}), textRun(lines[0], runStyle{}))
		if i > 0 {
			el = spaced(el, "none")
		}
		out = append(out, el)
		for _, l := range lines[1:] {
			if strings.TrimSpace(l) != "" {
				out = append(out, spaced(rich(textRun(l, runStyle{})), "none"))
			}
		}
	}
	return append(out, more(len(fields)-maxFacts, "field")...)
}

// more is the line counting what a card leaves out ("… and 3 more
// fields"), if anything.
func more(n int, what string) []any {
	if n <= 0 {
		return nil
	}
	if n > 1 {
		what += "s"
	}
	return []any{spaced(rich(textRun(fmt.Sprintf("… and %d more %s.", n, what), runStyle{subtle: true})), "none")}
}

// message renders m. view is "list" when m is a task list whose buttons
// should answer with the refreshed list.
func (r *renderer) message(m *flows.Message, view string) card {
	title := runStyle{weight: "bolder", size: "medium"}
	switch m.Kind {
	case flows.MsgEscalation:
		title.color = "attention"
	case flows.MsgReminder:
		title.color = "warning"
	}
	var body []any
	if m.Title != "" { // a reaction's question has none: no empty first line
		body = append(body, rich(textRun(m.Title, title)))
	}
	body = append(body, paragraphs(m.Text, runStyle{})...)
	share := factShare(m)
	body = append(body, facts(m.Fields, share)...)
	if len(m.Changes) > 0 {
		body = append(body, spaced(rich(textRun("Changed since you last saw it", runStyle{weight: "bolder", size: "small"})), "medium"))
		for _, c := range m.Changes[:min(len(m.Changes), maxChanges)] {
			old := c.Old
			if old == "" {
				old = "(empty)"
			}
			body = append(body, spaced(rich(textRun(flows.LabelColon(c.Label), runStyle{}), textRun(shortenTo(old, share), runStyle{strike: true, subtle: true}),
				textRun(" → ", runStyle{}), textRun(shortenTo(cmpOr(c.New, "(empty)"), share), runStyle{weight: "bolder"})), "none"))
		}
		body = append(body, more(len(m.Changes)-maxChanges, "change")...)
	}
	if m.Outcome != "" {
		lines := paragraphs(m.Outcome, runStyle{})
		if len(lines) > 0 {
			lines[0] = rich(textRun(strings.SplitN(m.Outcome, "\n", 2)[0], runStyle{weight: "bolder"}))
		}
		body = append(body, map[string]any{"type": "Container", "style": outcomeStyle(m.Outcome), "items": lines, "spacing": "medium"})
	}
	shown, size := 0, 0
	for _, it := range m.Items {
		inner := []any{rich(textRun(it.Title, runStyle{weight: "bolder"}))}
		inner = append(inner, paragraphs(it.Text, runStyle{})...)
		if acts := r.actions(m.Flow, it.Actions, view); len(acts) > 0 {
			inner = append(inner, map[string]any{"type": "ActionSet", "actions": acts})
		}
		el := map[string]any{"type": "Container", "separator": true, "spacing": "medium", "items": inner}
		b, _ := json.Marshal(el)
		if shown == maxItems || shown > 0 && size+len(b) > maxItemBytes {
			break
		}
		body, shown, size = append(body, el), shown+1, size+len(b)
	}
	if n := len(m.Items) - shown; n > 0 {
		body = append(body, rich(textRun(fmt.Sprintf("… and %d more.", n), runStyle{subtle: true})))
	}
	for i, c := range m.Context {
		el := rich(textRun(c, runStyle{subtle: true, size: "small"}))
		if i == 0 {
			body = append(body, spaced(el, "medium"))
		} else {
			body = append(body, spaced(el, "none"))
		}
	}
	return newCard(body, r.actions(m.Flow, m.Actions, view))
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// outcomeStyle colours a closed card's outcome by the decision it starts with.
func outcomeStyle(outcome string) string {
	switch {
	case strings.HasPrefix(outcome, "Approved"), strings.HasPrefix(outcome, "Done"):
		return "good"
	case strings.HasPrefix(outcome, "Rejected"), strings.HasPrefix(outcome, "Failed"):
		return "attention"
	case strings.HasPrefix(outcome, "Changes requested"), strings.HasPrefix(outcome, "Reassigned"):
		return "warning"
	}
	return "emphasis"
}

func actionStyle(s string) string {
	switch s {
	case "primary":
		return "positive"
	case "danger":
		return "destructive"
	}
	return ""
}

func (r *renderer) actions(flow string, acts []flows.Action, view string) []any {
	var out []any
	for _, a := range acts {
		if el := r.action(flow, a, view); el != nil {
			out = append(out, el)
		}
	}
	return out
}

func execute(title, verb, style string, data map[string]any, inputs bool) map[string]any {
	a := map[string]any{"type": "Action.Execute", "title": title, "verb": verb, "data": data, "associatedInputs": "none"}
	if inputs {
		a["associatedInputs"] = "auto"
	}
	if style != "" {
		a["style"] = style
	}
	return a
}

func showCard(title, style string, body []any, submit map[string]any) map[string]any {
	a := map[string]any{"type": "Action.ShowCard", "title": title,
		"card": map[string]any{"type": "AdaptiveCard", "body": body, "actions": []any{submit}}}
	if style != "" {
		a["style"] = style
	}
	return a
}

// action renders one button. Buttons that need input (a reason, a person,
// a task's outputs) open an inline card with the inputs and a confirming
// Action.Execute.
func (r *renderer) action(flow string, a flows.Action, view string) map[string]any {
	data := map[string]any{keyInstance: a.Instance}
	if a.Step != "" {
		data[keyStep] = a.Step
	}
	if a.Round != 0 {
		data[keyRound] = a.Round
	}
	if view != "" {
		data[keyView] = view
	}
	style := actionStyle(a.Style)
	id := a.Instance
	switch a.Kind {
	case flows.ActApprove:
		return execute(a.Label, verbApprove, style, data, false)
	case flows.ActReject:
		return showCard(a.Label, style, []any{reasonInput(reasonID(verbReject, id), "Why are you rejecting it?", "Say why, so the requester can act on it")},
			execute("Reject", verbReject, "destructive", data, true))
	case flows.ActChanges:
		return showCard(a.Label, style, []any{reasonInput(reasonID(verbChanges, id), "What should change?", "Say what should change")},
			execute("Send back for changes", verbChanges, "positive", data, true))
	case flows.ActReassign:
		return showCard(a.Label, style, []any{r.personInput(inTarget+id, "Who should take it over?", "", true, view == "list", a.Exclude...),
			map[string]any{"type": "Input.Text", "id": inNote + id, "label": "Note (optional)", "maxLength": 500}},
			execute("Reassign", verbReassign, "positive", data, true))
	case flows.ActDone:
		outs := r.outputs(flow, a)
		if len(outs) == 0 {
			return execute(a.Label, verbDone, style, data, false)
		}
		var body []any
		for _, f := range outs {
			body = append(body, r.fieldInputs(f, inOutput+id+":"+f.Name, "", "", "")...)
		}
		return showCard(a.Label, style, body, execute("Mark done", verbDone, "positive", data, true))
	case flows.ActSnooze:
		var choices []any
		for _, c := range flows.SnoozeChoices {
			choices = append(choices, map[string]any{"title": c.Label, "value": c.Value})
		}
		return showCard(a.Label, style, []any{map[string]any{"type": "Input.ChoiceSet", "id": inSnooze + id, "label": "When?",
			"value": flows.SnoozeChoices[0].Value, "choices": choices, "isRequired": true, "errorMessage": "Pick when"}},
			execute("Remind me", verbSnooze, "positive", data, true))
	case flows.ActResubmit:
		return execute(a.Label, verbEdit, style, data, false)
	case flows.ActWithdraw: // it cannot be undone: asked first, with an optional reason
		return showCard(a.Label, style, []any{
			map[string]any{"type": "TextBlock", "wrap": true, "text": "Withdraw " + id + "? The request is closed and the people at its current step are told. This cannot be undone."},
			map[string]any{"type": "Input.Text", "id": reasonID(verbWithdraw, id), "label": "Reason (optional)", "isMultiline": true, "maxLength": 2000}},
			execute("Withdraw the request", verbWithdraw, "destructive", data, true))
	case flows.ActStart:
		return execute(a.Label, verbOpen, style, map[string]any{keyFlow: a.Flow}, false)
	case flows.ActStatus:
		return execute(a.Label, verbStatus, style, data, false)
	}
	return nil
}

// flowOf finds the flow of an instance: the message's when known, else the
// one whose id prefix the instance id carries (list items do not say).
func (r *renderer) flowOf(flow, instance string) *flows.Definition {
	if def, ok := r.engine.Flow(flow); ok && flow != "" {
		return def
	}
	if i := strings.LastIndexByte(instance, '-'); i > 0 {
		for _, def := range r.engine.Flows() {
			if def.Prefix == instance[:i] {
				return def
			}
		}
	}
	return nil
}

func (r *renderer) outputs(flow string, a flows.Action) []flows.Field {
	if def := r.flowOf(flow, a.Instance); def != nil {
		if s := def.Step(a.Step); s != nil {
			return s.Outputs
		}
	}
	return nil
}

// reasonID is the id of a reason input: one per button and instance, as
// input ids must be unique on a card.
func reasonID(verb, instance string) string { return inReason + verb + ":" + instance }

func reasonInput(id, label, errMsg string) map[string]any {
	return map[string]any{"type": "Input.Text", "id": id, "label": label, "isMultiline": true, "isRequired": true,
		"errorMessage": errMsg, "maxLength": 2000}
}

// personInput picks a person from the directory but exclude, or (for a
// large directory, or compact list cards) asks for their id or email.
func (r *renderer) personInput(id, label, value string, required, compact bool, exclude ...string) map[string]any {
	people := slices.DeleteFunc(r.engine.Directory().People(), func(p flows.Person) bool { return slices.Contains(exclude, p.ID) })
	in := map[string]any{"id": id, "label": label}
	if required {
		in["isRequired"] = true
		in["errorMessage"] = "Pick a person"
	}
	if compact || len(people) == 0 || len(people) > r.maxPeople {
		in["type"] = "Input.Text"
		in["placeholder"] = "Their Baton id or email"
		if value != "" {
			in["value"] = value
		}
		return in
	}
	choices := make([]any, len(people))
	for i, p := range people {
		choices[i] = map[string]any{"title": cmpOr(p.Name, p.ID), "value": p.ID}
	}
	in["type"] = "Input.ChoiceSet"
	in["style"] = "filtered"
	in["choices"] = choices
	if value != "" {
		in["value"] = value
	}
	return in
}

// fieldInputs renders a form field: its input, its help and its error. A
// person field's choices leave out exclude.
func (r *renderer) fieldInputs(f flows.Field, id, value, errText, exclude string) []any {
	label := f.Label
	in := map[string]any{"id": id, "label": label}
	if f.Required {
		in["isRequired"] = true
		in["errorMessage"] = f.Label + " is required"
	}
	switch f.Kind {
	case flows.FieldNumber:
		in["type"] = "Input.Number"
		if f.Min != nil {
			in["min"] = *f.Min
		}
		if f.Max != nil {
			in["max"] = *f.Max
		}
		if n, err := strconv.ParseFloat(strings.ReplaceAll(value, ",", ""), 64); err == nil {
			in["value"] = n
		}
	case flows.FieldChoice:
		choices := make([]any, len(f.Options))
		for i, o := range f.Options {
			choices[i] = map[string]any{"title": o, "value": o}
		}
		in["type"] = "Input.ChoiceSet"
		in["style"] = "compact"
		in["choices"] = choices
		if value != "" {
			in["value"] = value
		}
	case flows.FieldDate:
		in["type"] = "Input.Date"
		if value != "" {
			in["value"] = value
		}
	case flows.FieldPerson:
		in = r.personInput(id, label, value, f.Required, false, exclude)
	default:
		in["type"] = "Input.Text"
		if f.Kind == flows.FieldLongText {
			in["isMultiline"] = true
		}
		if f.Kind == flows.FieldURL {
			in["style"] = "Url"
			in["placeholder"] = "https://"
		}
		if f.Max != nil {
			in["maxLength"] = int(*f.Max)
		}
		if value != "" {
			in["value"] = value
		}
	}
	out := []any{in}
	if f.Help != "" {
		out = append(out, spaced(rich(textRun(f.Help, runStyle{subtle: true, size: "small"})), "none"))
	}
	if errText != "" {
		out = append(out, spaced(rich(textRun(errText, runStyle{color: "attention", size: "small"})), "none"))
	}
	return out
}

// form is a flow's form as a card: to start a request, or to edit and
// resubmit one.
type form struct {
	def       *flows.Definition
	requester string // who makes the request
	title     string
	intro     []string
	values    map[string]string // typed so far (nil: the fields' defaults)
	errors    flows.FieldErrors
	verb      string         // verbStart or verbResubmit
	data      map[string]any // echoed back: flow, instance, key
	note      bool           // ask what changed (resubmissions)
	submit    string
	today     time.Time // now where the requester is: the date pickers' bounds (zero: none)
}

func (r *renderer) form(f form) card {
	body := []any{rich(textRun(f.title, runStyle{weight: "bolder", size: "medium"}))}
	for _, l := range f.intro {
		body = append(body, paragraphs(l, runStyle{subtle: true})...)
	}
	if len(f.errors) > 0 {
		summary := "Please fix the fields marked below."
		for _, name := range slices.Sorted(maps.Keys(f.errors)) {
			if f.def.Field(name) == nil {
				summary += " " + f.errors[name] + "."
			}
		}
		body = append(body, rich(textRun(summary, runStyle{color: "attention", weight: "bolder"})))
	}
	for _, fld := range f.def.Form {
		v, ok := f.values[fld.Name]
		if !ok && f.values == nil {
			v = fld.Default
		}
		exclude := "" // the requester, from a field naming their approver
		if f.def.ApprovalNamedBy(fld.Name) != nil {
			exclude = f.requester
		}
		ins := r.fieldInputs(fld, inField+fld.Name, v, f.errors[fld.Name], exclude)
		if lo, hi := fld.DateBounds(f.today); !f.today.IsZero() && (lo != "" || hi != "") {
			if f.verb == verbResubmit && v != "" { // a date kept as it was stays good (Teams checks min and max on submit)
				lo, hi = min(lo, v), max(hi, v)
				if fld.Max == nil {
					hi = ""
				}
			}
			in := ins[0].(map[string]any)
			if lo != "" {
				in["min"] = lo
			}
			if hi != "" {
				in["max"] = hi
			}
		}
		body = append(body, ins...)
	}
	if f.note {
		body = append(body, map[string]any{"type": "Input.Text", "id": inResubmit, "label": "What did you change? (optional)", "isMultiline": true, "maxLength": 2000})
	}
	return newCard(body, []any{execute(f.submit, f.verb, "positive", f.data, true)})
}
