package flows

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// MessageKind says what a message is for; renderers may style by it.
type MessageKind string

// Message kinds.
const (
	MsgTask       MessageKind = "task"       // a card asking for a decision or for work
	MsgReminder   MessageKind = "reminder"   // a nudge about a pending task
	MsgEscalation MessageKind = "escalation" // to a manager or backup about overdue work
	MsgOutcome    MessageKind = "outcome"    // to the requester: approved, rejected, cancelled…
	MsgChanges    MessageKind = "changes"    // to the requester: changes requested
	MsgInfo       MessageKind = "info"       // notify steps and other notices
	MsgComment    MessageKind = "comment"
	MsgTimeline   MessageKind = "timeline" // the status command
	MsgList       MessageKind = "list"     // tasks, requests
	MsgHelp       MessageKind = "help"
)

// Message is the platform-neutral card every adapter renders (Block Kit,
// Adaptive Cards, HTML). It holds no platform-specific field. Text is plain:
// renderers escape it.
type Message struct {
	Kind     MessageKind `json:"kind"`
	Instance string      `json:"instance,omitempty"`
	Flow     string      `json:"flow,omitempty"`
	Step     string      `json:"step,omitempty"`
	Round    int         `json:"round,omitempty"`
	Title    string      `json:"title"`
	Text     string      `json:"text,omitempty"`
	Fields   []Fact      `json:"fields,omitempty"`
	Changes  []Change    `json:"changes,omitempty"`
	Context  []string    `json:"context,omitempty"` // small print: requester, due, next escalation
	Actions  []Action    `json:"actions,omitempty"`
	Outcome  string      `json:"outcome,omitempty"` // on a closed card: "Approved by Bob Lee · Tue 26 Nov 10:02 UTC"
	Items    []Item      `json:"items,omitempty"`   // lists and timelines
	// Mentions are the ids of the people outside the directory (e.g.
	// slack:U123, named by their id) whom the message concerns: a platform
	// may show those ids as mentions of the person. Any other id in the
	// text is something someone typed (a form value, a reason) and stays
	// text.
	Mentions []string `json:"mentions,omitempty"`
	// At is when a closed card's outcome happened. The Outcome's first
	// line then ends with that time in Zone: UTC when one update closes the
	// card for everyone who has it, in any zone; its person's zone on a
	// card of one person's. OutcomeIn writes it in a reader's.
	At time.Time `json:"at,omitzero"`
	// Zone is the IANA name of the zone the Outcome's time is written in
	// ("": UTC).
	Zone string `json:"zone,omitempty"`
	// OutsidersTitle is the Title as someone outside the workspace may be
	// shown it, when that differs: without the request's title, of a flow
	// whose title reads an internal field. ForOutsiders puts it in Title's
	// place.
	OutsidersTitle string `json:"outsiders_title,omitempty"`
}

// OutcomeLead is a closed card's first Outcome line without the time it
// ends with (At, in Zone); ok is false for an outcome with no such time (no
// At, or an older card).
func (m *Message) OutcomeLead() (lead string, ok bool) {
	if m.At.IsZero() {
		return "", false
	}
	loc := time.UTC
	if m.Zone != "" {
		var err error
		if loc, err = zone(m.Zone); err != nil {
			return "", false
		}
	}
	first, _, _ := strings.Cut(m.Outcome, "\n")
	return strings.CutSuffix(first, FormatTime(m.At, loc))
}

// zones holds the zones closed cards named, loaded once: time.LoadLocation
// reads the zone's file on every call, and every render of a closed card
// asks.
var zones sync.Map // IANA name → *time.Location

func zone(name string) (*time.Location, error) {
	if l, ok := zones.Load(name); ok {
		return l.(*time.Location), nil
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	zones.Store(name, l)
	return l, nil
}

// OutcomeIn is the Outcome with its time in loc, for a reader whose zone
// the renderer knows.
func (m *Message) OutcomeIn(loc *time.Location) string {
	lead, ok := m.OutcomeLead()
	if !ok || loc == nil {
		return m.Outcome
	}
	out := lead + FormatTime(m.At, loc)
	if _, rest, more := strings.Cut(m.Outcome, "\n"); more {
		out += "\n" + rest
	}
	return out
}

// outsider says whether id names someone outside the directory by their
// platform id ("slack:U123"), whom Baton names by that id.
func (d *Directory) outsider(id string) bool {
	platform, rest, ok := strings.Cut(id, ":")
	if !ok || platform == "" || rest == "" || platform == "email" {
		return false
	}
	_, known := d.Person(id)
	return !known
}

// outsiders returns the ids among people of those outside the directory,
// sorted and once each.
func (d *Directory) outsiders(people []string) []string {
	var out []string
	for _, p := range people {
		if d.outsider(p) && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// Fact is a labelled value.
type Fact struct {
	Label string `json:"label"`
	Value string `json:"value"`
	// Internal: the value of a field the flow keeps to people in the
	// workspace (internal: true); ForOutsiders leaves it out.
	Internal bool `json:"internal,omitempty"`
}

// ForOutsiders is the message as it may be shown to someone outside the
// workspace (an external participant): without its Internal facts, and
// titled OutsidersTitle when it has one. It is m itself when m has neither,
// else a copy (m is not changed: one message may be sent to several
// people). A card's Changes and its texts are the engine's to leave
// internal fields out of, which knows the fields.
func (m *Message) ForOutsiders() *Message {
	internal := func(f Fact) bool { return f.Internal }
	hides := slices.ContainsFunc(m.Fields, internal)
	if !hides && m.OutsidersTitle == "" {
		return m
	}
	c := *m
	if hides {
		c.Fields = slices.DeleteFunc(slices.Clone(m.Fields), internal)
	}
	if c.OutsidersTitle != "" {
		c.Title, c.OutsidersTitle = c.OutsidersTitle, ""
	}
	return &c
}

// Item is one entry of a list message.
type Item struct {
	Title   string   `json:"title"`
	Text    string   `json:"text,omitempty"`
	Actions []Action `json:"actions,omitempty"`
}

// ActionKind is what a button does.
type ActionKind string

// Actions. Approve, Done and Withdraw act at once; Reject and Changes ask for a
// reason; Reassign asks for a person; Resubmit opens the form pre-filled;
// Start opens a flow's form; Status shows the timeline; Snooze offers
// SnoozeChoices, the one chosen acting at once.
const (
	ActApprove  ActionKind = "approve"
	ActReject   ActionKind = "reject"
	ActChanges  ActionKind = "changes"
	ActReassign ActionKind = "reassign"
	ActDone     ActionKind = "done"
	ActResubmit ActionKind = "resubmit"
	ActWithdraw ActionKind = "withdraw"
	ActStart    ActionKind = "start"
	ActStatus   ActionKind = "status"
	ActSnooze   ActionKind = "snooze"
)

// Action is a button. Instance, Step and Round say what it acts on (so a
// stale click is recognised); Flow is set for Start.
type Action struct {
	Kind     ActionKind `json:"kind"`
	Label    string     `json:"label"`
	Style    string     `json:"style,omitempty"` // primary, danger or ""
	Instance string     `json:"instance,omitempty"`
	Step     string     `json:"step,omitempty"`
	Round    int        `json:"round,omitempty"`
	Flow     string     `json:"flow,omitempty"`
	// Choice is what was chosen of an action that offers choices (Snooze:
	// a SnoozeChoices value), set by the adapter that decodes a click.
	Choice string `json:"choice,omitempty"`
	// Exclude, on Reassign, is whom the engine would not give the task to
	// as the request was when the card was made (an approval's requester,
	// whoever is on the step already): a picker leaves them out. The
	// engine still refuses whom it would not take when the click comes.
	Exclude []string `json:"exclude,omitempty"`
}

// EventKind returns the event an immediate action produces ("" when the
// action first needs input: a reason, a person or a form).
func (a Action) EventKind() EventKind {
	switch a.Kind {
	case ActApprove:
		return EventApprove
	case ActWithdraw:
		return EventWithdraw
	}
	return ""
}

// FormatTime writes t for a reader in loc: "Wed 27 Nov 17:00 CET".
func FormatTime(t time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Format("Mon 2 Jan 15:04 MST")
}

// AwayThrough writes the last day of an absence that ends at until (the
// start of the day after it, in loc, the away person's zone): "Thu 24 Dec".
// A day, not a time, so it reads the same in every reader's zone.
func AwayThrough(until time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	return until.In(loc).Add(-time.Nanosecond).Format("Mon 2 Jan")
}

// Relative writes t relative to now: "in 3 h", "2 d ago".
func Relative(t, now time.Time) string {
	if d := t.Sub(now); d >= 0 {
		return "in " + FormatDuration(d)
	} else {
		return FormatDuration(-d) + " ago"
	}
}

// DecisionWords writes a recorded outcome the way closed cards do ("Approved",
// "Changes requested"; "Closed" for none).
func DecisionWords(d string) string {
	switch d {
	case string(Approved):
		return "Approved"
	case string(Rejected):
		return "Rejected"
	case string(Changes):
		return "Changes requested"
	case string(Done):
		return "Done"
	case "skipped":
		return "Skipped"
	case "resubmitted":
		return "Resubmitted"
	case "withdrawn":
		return "Withdrawn"
	case "cancelled":
		return "Cancelled"
	case "reassigned":
		return "Reassigned"
	case "failed":
		return "Failed"
	case "":
		return "Closed"
	}
	return strings.ToUpper(d[:1]) + strings.ReplaceAll(d[1:], "_", " ")
}

// LabelColon is a field's label as it is written before its value:
// "Vendor: ", or, when the label ends in punctuation of its own (a question,
// a colon), followed by a space only: "Is this urgent? ", "Notes: ".
func LabelColon(label string) string {
	label = strings.TrimRightFunc(label, unicode.IsSpace)
	if last, _ := utf8.DecodeLastRuneInString(label); strings.ContainsRune("?!:？！：", last) {
		return label + " "
	}
	return label + ": "
}

// JoinNames joins names for a sentence: "A", "A and B", "A, B and C".
func JoinNames(names []string) string {
	switch len(names) {
	case 0:
		return "nobody"
	case 1:
		return names[0]
	case 2:
		return names[0] + " and " + names[1]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// Plural is n with one noun or the other: "1 flow", "2 flows".
func Plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// DecidedBy names who made a step's recorded outcome, as closed cards do:
// everyone whose decision made it, and whose tasks delegates decided
// ("Frank Osei (for Bob Chen)", "Erin Park and Gus Ahmed"); "" when
// Baton did.
func (d *Directory) DecidedBy(h StepRecord) string {
	by := h.Deciders
	if len(by) == 0 && h.By != "" { // recorded before deciders were, or not a decision
		by = []string{h.By}
	}
	if len(by) == 0 || len(by) == 1 && by[0] == System {
		return ""
	}
	s := JoinNames(d.names(by))
	if len(h.For) > 0 {
		s += " (for " + JoinNames(d.names(h.For)) + ")"
	}
	return s
}

func (d *Directory) names(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = d.Name(id)
	}
	return out
}
