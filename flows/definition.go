package flows

import (
	"encoding/json"
	"fmt"
	"iter"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"
	"unicode"
	"unicode/utf8"
)

// FieldKind is the kind of a form or output field.
type FieldKind string

// Field kinds.
const (
	FieldText     FieldKind = "text"
	FieldLongText FieldKind = "longtext"
	FieldNumber   FieldKind = "number"
	FieldChoice   FieldKind = "choice"
	FieldDate     FieldKind = "date"
	FieldPerson   FieldKind = "person"
	FieldURL      FieldKind = "url"
	FieldEmail    FieldKind = "email" // an address; as an assignee (field:NAME), someone outside the workspace (external.go)
)

var fieldKinds = []FieldKind{FieldText, FieldLongText, FieldNumber, FieldChoice, FieldDate, FieldPerson, FieldURL, FieldEmail}

// StepKind is what a step asks of people or systems.
type StepKind string

// Step kinds.
const (
	StepApproval StepKind = "approval"
	StepTask     StepKind = "task"
	StepNotify   StepKind = "notify"
	StepWebhook  StepKind = "webhook"
)

var stepKinds = []StepKind{StepApproval, StepTask, StepNotify, StepWebhook}

// Policy says how many approvals an approval step needs.
type Policy string

// Approval policies. Quorum needs Step.Quorum approvals.
const (
	PolicyAny    Policy = "any"
	PolicyAll    Policy = "all"
	PolicyQuorum Policy = "quorum"
)

// Timeout is what happens when a step passes its due time.
type Timeout string

// Timeout actions.
const (
	TimeoutWait     Timeout = "wait"
	TimeoutEscalate Timeout = "escalate"
	TimeoutApprove  Timeout = "approve"
	TimeoutReject   Timeout = "reject"
)

// EndStep is the Next value that finishes a flow.
const EndStep = "end"

// Definition is a validated flow definition.
type Definition struct {
	ID          string
	Name        string
	Description string
	Owner       string // the accountable owner (a person id)
	Command     string // the word after "start"
	Prefix      string // instance ids are Prefix-N
	Title       string // template for an instance's one-line summary
	Form        []Field
	Steps       []Step
	Schedules   []Schedule // scheduled starts (schedule.go)
	Inbound     *Inbound   // signed webhook starts, or nil (schedule.go)
	Webhooks    []Hook     // subscribers of this flow's events (hooks.go)
	// WorkingHours: the due times, reminders and escalations of the steps
	// that wait on people count the directory's working hours only.
	WorkingHours bool
	Source       string         // file the definition came from
	keyLines     map[string]int // the line of each key by path ("id", "steps[1].assignees[0]"; absent: not written), for clashes and the directory's check
	warnings     []Problem      // Warnings

	title *template.Template
	// internal: a field of the form or of a task's outputs is Internal:
	// what is sent to people outside the workspace is then looked at.
	internal bool
	// titleInternal: the title template reads an internal field; people
	// outside the workspace are shown the flow's name and the request's id
	// in its place (TitleForOutsiders, tx.outsidersTitle).
	titleInternal bool
}

// TitleForOutsiders is in's title as someone outside the workspace may be
// shown it: "" when the flow's title template reads an internal field
// (they are shown the flow's name and the request's id instead), else
// in.Title.
func (d *Definition) TitleForOutsiders(in *Instance) string {
	if d.titleInternal {
		return ""
	}
	return in.Title
}

// DefaultTextMax is the most characters a text or longtext field (of a
// form or a task's outputs) takes when its flow sets no max: as many as a
// Slack text input holds, so that every surface (console, Slack, Teams,
// the API, inbound starts) takes the same values.
const DefaultTextMax = 3000

// Field is a form field (or a task's output field).
type Field struct {
	Name     string
	Label    string
	Kind     FieldKind
	Required bool
	Min, Max *float64 // number: value bounds; text kinds: length bounds (text and longtext: DefaultTextMax when the flow sets none)
	Pattern  string
	Help     string
	Default  string
	Options  []string
	// Internal: shown to people in the workspace only, never to people
	// outside it (external participants): their mail and approval page
	// leave it out (Message.ForOutsiders).
	Internal bool

	re *regexp.Regexp
}

// Step is one step of a flow.
type Step struct {
	ID   string
	Name string
	Kind StepKind
	When string // condition; empty means always

	// approval and task
	Assignees         []string // person:ID, group:NAME, manager, field:NAME, requester, owner
	Policy            Policy
	Quorum            int
	AllowSelfApproval bool
	Channel           string // post the card in this channel instead of each assignee's DMs
	Due               time.Duration
	Remind            Remind
	Escalate          []Rung
	OnTimeout         Timeout
	MaxRounds         int // revision cap: how many rounds a request may take at this step
	// ReapproveOn are form fields whose change by a resubmission (sent
	// back by a later step) undoes this approval step's approval: it is
	// asked again. See Reapprove.
	ReapproveOn  []string
	Instructions string
	Outputs      []Field // task only

	// notify
	Message string
	To      []string

	// webhook
	Webhook Webhook

	Next string // step id or "end": where the flow goes after this step runs; empty means the following step

	cond  *condition
	msg   *template.Template
	instr *template.Template // Instructions, when they name fields ({{.account}})
	// Due, Remind.Every and each rung's After as written, by unit (for
	// working time: a day is a working day)
	due, every Span
	after      []Span
}

// waitText writes a wait of step s (d, written as sp) as people read it:
// "1 d", or, in a flow that counts working hours, the wait as written, "1 d
// of working time", "36 h of working time" (a webhook step's reply is timed
// on the clock).
func (def *Definition) waitText(s *Step, d time.Duration, sp Span) string {
	if def.WorkingHours && s.Kind != StepWebhook {
		return span(d, sp).String() + " of working time"
	}
	return FormatDuration(d)
}

// span is d as written in sp; for a step built in code, not parsed, d is
// its clock time.
func span(d time.Duration, sp Span) Span {
	if sp == (Span{}) {
		return Span{Clock: d}
	}
	return sp
}

// rungSpan is the wait of the step's rung i, as written.
func (s *Step) rungSpan(i int) Span {
	if i < len(s.after) {
		return s.after[i]
	}
	return Span{}
}

// Remind is a reminder cadence: every Every, at most Max times.
type Remind struct {
	Every time.Duration
	Max   int
}

// Rung is one rung of an escalation ladder, After the step started: either
// Notify someone (manager, person:ID, channel:NAME, group:NAME) with the
// power to decide, or Reassign pending work (to manager or person:ID).
type Rung struct {
	After    time.Duration
	Notify   string
	Reassign string
}

// Webhook is a webhook step's call.
type Webhook struct {
	URL     string
	Secret  string            // name of the signing secret (resolved by the runtime)
	Store   map[string]string // data field <- dotted path in the JSON reply
	Retries int
	OnError string // "fail" (default) or "continue"
}

// Reapprove returns the form fields whose change undoes the step's
// approval: its ReapproveOn, and the person fields that name its assignees
// (field:NAME: a new person named must approve).
func (s *Step) Reapprove() []string {
	out := slices.Clone(s.ReapproveOn)
	for _, a := range s.Assignees {
		if name, ok := strings.CutPrefix(a, "field:"); ok && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// StepIndex returns the index of step id, or -1.
func (d *Definition) StepIndex(id string) int {
	for i := range d.Steps {
		if d.Steps[i].ID == id {
			return i
		}
	}
	return -1
}

// Step returns the step with id, or nil.
func (d *Definition) Step(id string) *Step {
	if i := d.StepIndex(id); i >= 0 {
		return &d.Steps[i]
	}
	return nil
}

// Field returns the form field named name, or nil.
func (d *Definition) Field(name string) *Field {
	for i := range d.Form {
		if d.Form[i].Name == name {
			return &d.Form[i]
		}
	}
	return nil
}

// ApprovalNamedBy returns the first approval step whose approver the form
// field name names (assignee field:NAME) and which forbids self-approval,
// or nil: the requester may not name themself in that field.
func (d *Definition) ApprovalNamedBy(name string) *Step {
	for i, s := range d.Steps {
		if s.Kind == StepApproval && !s.AllowSelfApproval && slices.Contains(s.Assignees, "field:"+name) {
			return &d.Steps[i]
		}
	}
	return nil
}

// TaskNamedBy returns the first task step whose assignee is the field name
// (field:name), or nil.
func (d *Definition) TaskNamedBy(name string) *Step {
	for i, s := range d.Steps {
		if s.Kind == StepTask && slices.Contains(s.Assignees, "field:"+name) {
			return &d.Steps[i]
		}
	}
	return nil
}

// allFields yields the form fields followed by every task output and
// webhook-stored field: everything a condition may name. A stored field has
// no Kind: it holds whatever JSON value the reply had (text, number, bool).
// Iterators, not slices: cards and titles walk them on every transition.
func (d *Definition) allFields() iter.Seq[Field] {
	return d.fields(true)
}

// shownFields yields the fields a card or a timeline shows: the form's,
// then every task's outputs (once a task is done, later cards show them).
func (d *Definition) shownFields() iter.Seq[Field] {
	return d.fields(false)
}

func (d *Definition) fields(stored bool) iter.Seq[Field] {
	return func(yield func(Field) bool) {
		for _, f := range d.Form {
			if !yield(f) {
				return
			}
		}
		for _, s := range d.Steps {
			for _, f := range s.Outputs {
				if !yield(f) {
					return
				}
			}
			if !stored || len(s.Webhook.Store) == 0 {
				continue
			}
			for _, name := range slices.Sorted(maps.Keys(s.Webhook.Store)) {
				if !yield(Field{Name: name, Label: name}) {
					return
				}
			}
		}
	}
}

// successor returns the index of the step after step i (len(Steps) = end).
func (d *Definition) successor(i int) int {
	switch n := d.Steps[i].Next; n {
	case "":
		return i + 1
	case EndStep:
		return len(d.Steps)
	default:
		return d.StepIndex(n)
	}
}

// maxDateBound is how many days a date field's min and max reach either
// way: a hundred years.
const maxDateBound = 36500

// dateBound is the day n days from now's (dates compare as UTC midnights).
func dateBound(now time.Time, n float64) time.Time {
	return time.Date(now.Year(), now.Month(), now.Day()+int(n), 0, 0, 0, 0, time.UTC)
}

// dateBounded says whether f is a date field with min or max.
func (f *Field) dateBounded() bool { return f.Kind == FieldDate && (f.Min != nil || f.Max != nil) }

// DateBounds returns a date field's min and max as dates (2006-01-02; ""
// for none) on the day of now, in the zone of whoever fills the form in:
// for date pickers. The engine checks them itself (outOfBounds).
func (f *Field) DateBounds(now time.Time) (lo, hi string) {
	day := func(n *float64) string {
		if f.Kind != FieldDate || n == nil {
			return ""
		}
		return dateBound(now, *n).Format(time.DateOnly)
	}
	return day(f.Min), day(f.Max)
}

// outOfBounds says what is wrong with date v (2006-01-02) of a date field
// whose min and max count days from today, the day of now ("" if nothing).
func (f *Field) outOfBounds(v string, now time.Time) string {
	d, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return ""
	}
	day := func(n float64) string {
		at := dateBound(now, n).Format(time.DateOnly)
		switch n {
		case 0:
			return "today (" + at + ")"
		case 1:
			return "tomorrow (" + at + ")"
		}
		return at
	}
	switch {
	case f.Min != nil && d.Before(dateBound(now, *f.Min)):
		return fmt.Sprintf("%s must be %s or later", f.Label, day(*f.Min))
	case f.Max != nil && d.After(dateBound(now, *f.Max)):
		return fmt.Sprintf("%s must be %s or earlier", f.Label, day(*f.Max))
	}
	return ""
}

// Parse converts a raw form value into the field's typed value: float64 for
// numbers, a string otherwise. An empty value gives nil. The error says what to
// fix in words a requester understands.
func (f *Field) Parse(raw string) (any, error) {
	raw = ReadBreaks(raw)
	v := strings.TrimSpace(raw)
	if f.Kind == FieldLongText {
		v = strings.TrimRight(raw, " \t\r\n")
	}
	if v == "" {
		if f.Required {
			return nil, fmt.Errorf("%s is required", f.Label)
		}
		return nil, nil
	}
	switch f.Kind {
	case FieldNumber:
		if strings.Contains(v, ",") && !groupedNumber.MatchString(v) {
			return nil, commaError(f.Label, v)
		}
		if dotGrouped.MatchString(v) {
			// 1.500 is fifteen hundred where a dot groups thousands (most
			// of Europe), one and a half elsewhere: read either way, an
			// amount a thousand times off could skip an approval.
			sign, digits := v[:len(v)-len(strings.TrimLeft(v, "+-"))], strings.TrimLeft(v, "+-")
			whole := sign + strings.ReplaceAll(digits, ".", "")
			if strings.Count(v, ".") > 1 {
				return nil, fmt.Errorf("%s must be a number: write %s, without dots between thousands", f.Label, whole)
			}
			// The decimal, and how to write it without the question: 1.5,
			// or 1.1250 where no zero ends it.
			decimal := sign + strings.TrimSuffix(strings.TrimRight(digits, "0"), ".")
			return nil, fmt.Errorf("%s%s could be %s or %s (a dot may group thousands); write %s, or %s for the decimal", LabelColon(f.Label), v, whole, decimal, whole, ProgramNumber(decimal))
		}
		n, err := strconv.ParseFloat(strings.ReplaceAll(v, ",", ""), 64)
		// ParseFloat accepts "NaN" and "Inf", which are no amount and which
		// JSON (storage) cannot hold.
		if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
			// 1 500 (a space, or a no-break space, groups thousands in
			// much of Europe): say how to write it.
			if spaceGrouped.MatchString(v) {
				return nil, fmt.Errorf("%s must be a number: write %s, without spaces", f.Label, withoutSpaces(v))
			}
			return nil, fmt.Errorf("%s must be a number", f.Label)
		}
		if f.Min != nil && n < *f.Min {
			return nil, fmt.Errorf("%s must be at least %s", f.Label, formatNumber(*f.Min))
		}
		if f.Max != nil && n > *f.Max {
			return nil, fmt.Errorf("%s must be at most %s", f.Label, formatNumber(*f.Max))
		}
		return n, nil
	case FieldChoice:
		if !slices.Contains(f.Options, v) {
			return nil, fmt.Errorf("%s must be one of: %s", f.Label, strings.Join(f.Options, ", "))
		}
	case FieldDate:
		if _, err := time.Parse(time.DateOnly, v); err != nil {
			return nil, fmt.Errorf("%s must be a date like 2026-12-31", f.Label)
		}
	case FieldURL:
		for _, scheme := range []string{"https://", "http://"} { // the scheme in any case (HTTPS://), kept in lowercase
			if len(v) >= len(scheme) && strings.EqualFold(v[:len(scheme)], scheme) {
				v = scheme + v[len(scheme):]
			}
		}
		if !strings.HasPrefix(v, "https://") && !strings.HasPrefix(v, "http://") || strings.ContainsAny(v, " \t\n") || len(v) < 10 {
			return nil, fmt.Errorf("%s must be a web address starting with https:// or http://", f.Label)
		}
	case FieldText:
		if strings.ContainsAny(v, "\r\n") {
			return nil, fmt.Errorf("%s must be on one line", f.Label)
		}
	case FieldPerson:
		if strings.ContainsAny(v, " \t\n") {
			return nil, fmt.Errorf("%s must be one person, by their id or email (e.g. carol), not a name with spaces", f.Label)
		}
	case FieldEmail:
		if !ValidEmail(v) {
			return nil, fmt.Errorf("%s must be an email address like name@example.com", f.Label)
		}
	}
	if f.Kind != FieldNumber {
		if p := TextProblem(v, f.Kind == FieldLongText); p != "" {
			return nil, fmt.Errorf("%s %s", f.Label, p)
		}
		n := float64(len([]rune(v)))
		// A long text keeps its leading spaces (indented text), which are
		// not what a minimum length asks for. (A date's min and max are
		// days from today: see outOfBounds.)
		if f.Kind != FieldDate && f.Min != nil && float64(len([]rune(strings.TrimSpace(v)))) < *f.Min {
			return nil, fmt.Errorf("%s must be at least %s characters", f.Label, formatNumber(*f.Min))
		}
		if f.Kind != FieldDate && f.Max != nil && n > *f.Max {
			return nil, fmt.Errorf("%s must be at most %s characters", f.Label, formatNumber(*f.Max))
		}
		if f.re != nil && !f.re.MatchString(v) {
			msg := fmt.Sprintf("%s does not have the expected format", f.Label)
			if f.Help != "" {
				msg += " (" + f.Help + ")"
			}
			return nil, fmt.Errorf("%s", msg)
		}
	}
	return v, nil
}

// groupedNumber is a number whose commas group its whole part in threes
// (1,234 or -12,345,678.5): the only commas a number may have. Removing
// any other comma would turn a decimal comma (999,99) into a far larger
// amount.
var groupedNumber = regexp.MustCompile(`^[+-]?[1-9][0-9]{0,2}(,[0-9]{3})+(\.[0-9]*)?$`)

// dotGrouped is a number whose dots could be thousands grouping (1.500,
// 12.000, 1.250.000): a whole part of one to three digits, not 0, and groups
// of exactly three digits after each dot.
var dotGrouped = regexp.MustCompile(`^[+-]?[1-9][0-9]{0,2}(\.[0-9]{3})+$`)

// ProgramNumber is a number a program wrote (a JSON number, a value Baton
// stored) as form text. Its dot is a decimal point, never grouping, so one
// that Parse would ask about (a price of 1.125 dinars) gets a trailing
// zero, which reads the same and is no question.
func ProgramNumber(s string) string {
	if dotGrouped.MatchString(s) && strings.Count(s, ".") == 1 {
		return s + "0"
	}
	return s
}

// spaceGrouped is a number whose thousands are grouped with spaces (1 500,
// 12 000.5; a no-break, thin or narrow no-break space too), as much of Europe
// writes them.
var spaceGrouped = regexp.MustCompile(`^[+-]?[1-9][0-9]{0,2}([ \x{a0}\x{2009}\x{202f}][0-9]{3})+(\.[0-9]+)?$`)

// withoutSpaces is s with its spaces (of any kind) taken out.
func withoutSpaces(s string) string { return strings.Join(strings.FieldsFunc(s, unicode.IsSpace), "") }

// commaError says how to write a number v whose commas are not thousands
// grouping: with the decimal comma made a dot, when that is what it is
// (1 500,50 is 1500.50).
func commaError(label, v string) error {
	if strings.Count(v, ",") == 1 && !strings.Contains(v, ".") {
		whole, frac, _ := strings.Cut(v, ",")
		if spaceGrouped.MatchString(whole) {
			whole = withoutSpaces(whole)
		}
		d := whole + "." + frac
		// A comma with no digits after it ("1500,") is a stray one, not a
		// decimal one: "write 1500." would be no help.
		if n, err := strconv.ParseFloat(d, 64); frac != "" && err == nil && !math.IsNaN(n) && !math.IsInf(n, 0) {
			return fmt.Errorf("%s must be a number: write %s, with a dot for decimals", label, d)
		}
	}
	return fmt.Errorf("%s must be a number: use a dot for decimals, and commas only between groups of three digits (12,345.5)", label)
}

// FormatValue writes a typed field value for people.
func FormatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case float64:
		return formatNumber(x)
	case string:
		return x
	case map[string]any, []any: // e.g. an object a webhook step stored
		if b, err := json.Marshal(x); err == nil {
			return string(b)
		}
	}
	return fmt.Sprint(v)
}

// formatNumber writes n for people: thousands grouped past four digits
// (1500, 12,345, 12,345.5), decimals as they are.
func formatNumber(n float64) string {
	if n == float64(int64(n)) {
		s := strconv.FormatInt(int64(n), 10)
		return groupThousands(s)
	}
	whole, frac, ok := strings.Cut(strconv.FormatFloat(n, 'f', -1, 64), ".")
	if !ok { // too large for int64, and whole
		return groupThousands(whole)
	}
	return groupThousands(whole) + "." + frac
}

func groupThousands(s string) string {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	if len(s) <= 4 {
		if neg {
			return "-" + s
		}
		return s
	}
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// FieldErrors maps field names to what is wrong with their values.
type FieldErrors map[string]string

func (e FieldErrors) Error() string {
	names := make([]string, 0, len(e))
	for n := range e {
		names = append(names, n)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = e[n]
	}
	return "invalid form: " + strings.Join(parts, "; ")
}

// ParseForm validates raw input against fields and returns typed values.
// Unknown keys are refused, so a typo never silently drops data.
func ParseForm(fields []Field, input map[string]string) (map[string]any, error) {
	out, errs := parseFields(fields, input)
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// parseFields is ParseForm's work: the values that are right, and the
// problems of the others.
func parseFields(fields []Field, input map[string]string) (map[string]any, FieldErrors) {
	out := make(map[string]any, len(fields))
	errs := FieldErrors{}
	for k := range input {
		if !slices.ContainsFunc(fields, func(f Field) bool { return f.Name == k }) {
			errs[k] = fmt.Sprintf("%s is not a field of this form", k)
		}
	}
	for i := range fields {
		f := &fields[i]
		raw, ok := input[f.Name]
		if !ok {
			raw = f.Default
		}
		v, err := f.Parse(raw)
		if err != nil {
			errs[f.Name] = err.Error()
			continue
		}
		if v != nil {
			out[f.Name] = v
		}
	}
	return out, errs
}

// lineBreaks reads every line break as \n: Windows' \r\n and a lone \r
// (which mail and some systems still make into a line of its own),
// vertical tab and form feed (Word's soft return, a PDF's page break), NEL,
// and Unicode's line and paragraph separators. Pasted text has them, and
// nobody can see them to remove them.
var lineBreaks = strings.NewReplacer("\r\n", "\n", "\r", "\n", "\v", "\n", "\f", "\n", "\u0085", "\n", "\u2028", "\n", "\u2029", "\n")

// ReadBreaks reads s's line breaks as \n (lineBreaks), allocating only
// when it has others: every form value and reason goes through it.
func ReadBreaks(s string) string {
	if !strings.ContainsAny(s, "\r\v\f\u0085\u2028\u2029") {
		return s
	}
	return lineBreaks.Replace(s)
}

// OneLineProblem is TextProblem for text that must be one line (a
// reference shown on every card and mail): any line break is one.
func OneLineProblem(s string) string {
	s = ReadBreaks(s)
	if strings.Contains(s, "\n") {
		return "has a line break; it must be one line"
	}
	return TextProblem(s, false)
}

// MaxText is the most characters a person's words may have: a reason, a
// comment (every platform's box holds as many or fewer), as TextLen counts.
const MaxText = 4000

// TextLen is how many characters a person's words have, as the engine
// keeps them (a line break of two characters, \r\n, is one).
func TextLen(s string) int { return utf8.RuneCountInString(ReadBreaks(s)) }

// TextProblem says what is wrong with text a person typed, or "" when
// nothing is: bytes that are not UTF-8, control characters (but tabs, and
// line breaks where lines are allowed: a long text, a reason; other breaks
// are read as \n first), and the direction overrides, which show letters
// in the other order than they are stored (an item showing "Laptop" while
// "potpaL" is kept). Embeddings and isolates, which right-to-left text
// pasted from word processors and phones carries, are kept: they can move
// whole words and numbers around (a known trade-off), not spell them
// backwards. Numbers and amounts are number fields, which take none.
func TextProblem(s string, lines bool) string {
	if !utf8.ValidString(s) {
		return "has bytes that are not text (UTF-8); type or paste it again"
	}
	for _, r := range s {
		switch {
		case r == '\t', lines && (r == '\n' || r == '\r'):
		case r < 0x20 || r >= 0x7f && r < 0xa0:
			return fmt.Sprintf("has an invisible control character (%U); remove it", r)
		case r == '\u202d' || r == '\u202e':
			return fmt.Sprintf("has an invisible text-direction override (%U); remove it", r)
		}
	}
	return ""
}
