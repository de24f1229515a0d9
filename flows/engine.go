package flows

import (
	"cmp"
	"errors"
	"fmt"
	"iter"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"
	"unicode"
	"unicode/utf8"
)

// ErrNotFound means no instance (or flow) has the given id.
var ErrNotFound = errors.New("not found")

// ErrFlowUndefined is in the error of an event on a request whose flow the
// engine does not define: its file was removed, or (a rolling upgrade, or
// replicas given different flows) this replica has not got it.
var ErrFlowUndefined = errors.New("flow not defined")

// InputError is bad input from a person: nothing changed, and Msg says what
// to fix. Field, when set, names the event's part it is about (step,
// reason), for callers that tell problems field by field.
type InputError struct {
	Msg   string
	Field string
	err   error // what it is a case of (ErrFlowUndefined), if anything
}

// Unwrap returns what the error is a case of, if anything.
func (e *InputError) Unwrap() error { return e.err }

// Error is the message as a sentence (people read it): capitalised, with
// a full stop, however it was written ("a reason is required to reject"
// reads "A reason is required to reject.").
func (e *InputError) Error() string { return sentence(e.Msg) }

func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	// A first word of anything but letters is a name as written (an id
	// such as slack:U123, an address, a number) and stays as it is.
	first, _, _ := strings.Cut(s, " ")
	first = strings.TrimRight(first, ",;:")
	if !strings.ContainsFunc(first, func(r rune) bool { return !unicode.IsLetter(r) && r != '\'' && r != '’' }) {
		r, n := utf8.DecodeRuneInString(s)
		s = string(unicode.ToUpper(r)) + s[n:]
	}
	if !strings.HasSuffix(s, ".") && !strings.HasSuffix(s, "?") && !strings.HasSuffix(s, "!") {
		s += "."
	}
	return s
}

func inputErr(format string, args ...any) error {
	return &InputError{Msg: fmt.Sprintf(format, args...)}
}

// Refusal codes in Outcome.Code. A refusal is recorded in the audit trail.
const (
	CodeNotAssignee    = "not_assignee"
	CodeAlreadyDecided = "already_decided"
	CodeNotReached     = "not_reached" // a step (or round) the request has not reached yet
	CodeNotAllowed     = "not_allowed"
	CodeClosed         = "closed"
	// CodeWrongState: the request is open but not in a state for this: a
	// retry where no webhook step's call failed, a skip of a failed step
	// it is not failed at.
	CodeWrongState = "wrong_state"
)

// Engine applies events to instances. It is pure: the same instance, event
// and time always give the same transition, and it does no I/O. It is
// immutable and safe for concurrent use.
type Engine struct {
	flows  map[string]*Definition // by id and by command
	order  []*Definition
	dir    *Directory
	hours  *WorkingHours // the directory's, or Monday to Friday, 09:00-17:00
	admins map[string]bool
}

// NewEngine builds an engine over validated definitions, a directory (nil
// for none) and the ids of admins (who may act on any task, cancel and skip).
func NewEngine(defs []*Definition, dir *Directory, admins []string) (*Engine, error) {
	if dir == nil {
		dir, _ = NewDirectory(nil, nil)
	}
	e := &Engine{flows: map[string]*Definition{}, dir: dir, hours: dir.WorkingHours(), admins: map[string]bool{}}
	if e.hours == nil {
		e.hours = &standardHours
	}
	var clashes DefinitionError
	clash := func(d *Definition, key, msg string) {
		clashes.Problems = append(clashes.Problems, Problem{File: d.Source, Line: d.keyLines[key], Path: key, Msg: msg})
	}
	prefixes := map[string]*Definition{}
	for _, d := range defs {
		for _, key := range []string{"id", "command"} {
			name := map[string]string{"id": d.ID, "command": d.Command}[key]
			if key == "command" && name == d.ID {
				continue // the command is the id: one check
			}
			if other := e.flows[name]; other != nil && other != d {
				clash(d, key, fmt.Sprintf("%s %q is also flow %s's id or command (%s); people start a flow by it, so rename one of them", key, name, other.ID, other.Source))
			}
			e.flows[name] = d
		}
		if other, dup := prefixes[d.Prefix]; dup {
			clash(d, "prefix", fmt.Sprintf("prefix %q is also flow %s's (%s): their requests' ids would be the same; set a distinct prefix", d.Prefix, other.ID, other.Source))
		}
		prefixes[d.Prefix] = d
		e.order = append(e.order, d)
	}
	slices.SortFunc(e.order, func(a, b *Definition) int { return cmp.Compare(a.ID, b.ID) })
	for _, a := range admins {
		e.admins[a] = true
	}
	if len(clashes.Problems) > 0 {
		return e, &clashes
	}
	return e, nil
}

// Flows returns the definitions sorted by id.
func (e *Engine) Flows() []*Definition { return e.order }

// Flow finds a flow by id or command word.
func (e *Engine) Flow(name string) (*Definition, bool) {
	d, ok := e.flows[name]
	if !ok { // ids and commands are lowercase: "Purchase" is purchase
		d, ok = e.flows[strings.ToLower(name)]
	}
	return d, ok
}

// Suggest returns the flow command closest to a mistyped word, or "".
func (e *Engine) Suggest(word string) string {
	names := make([]string, 0, len(e.order))
	var starts []string // flows whose command the word begins ("pur")
	for _, d := range e.order {
		names = append(names, d.Command)
		if w := strings.ToLower(word); len(w) >= 2 && strings.HasPrefix(d.Command, w) {
			starts = append(starts, d.Command)
		}
	}
	if len(starts) == 1 {
		return starts[0]
	}
	return nearest(word, names)
}

// Directory returns the people directory.
func (e *Engine) Directory() *Directory { return e.dir }

// IsAdmin reports whether person is a configured admin.
func (e *Engine) IsAdmin(person string) bool { return e.admins[person] }

// tx is one application of an event.
type tx struct {
	e       *Engine
	def     *Definition
	in      *Instance
	ev      Event
	now     time.Time
	effects []Effect
	audit   []AuditEntry
	out     Outcome
	named   []string // the people outside the directory its text names (name)
	// unsure: why the step about to be activated is asked though its
	// condition could not be checked ("" when it applies).
	unsure string
}

// mayResubmit returns the step a resubmission goes back to, or nil, with
// the refusal recorded or an error, when the request is not the actor's or
// cannot be resubmitted.
func (t *tx) mayResubmit() (*Step, error) {
	in := t.in
	if t.ev.Actor != in.Requester {
		return nil, t.refuse(CodeNotAllowed, fmt.Sprintf("Only %s, who made %s, can resubmit it.", t.name(in.Requester), in.ID))
	}
	switch {
	case in.Status == StatusDeclined:
		return nil, t.refuse(CodeClosed, fmt.Sprintf("%s was rejected at the last round %s allows, and is closed; start a new request instead.", in.ID, t.stepName()))
	case in.Status != StatusChangesRequested && in.Status != StatusRejected:
		return nil, t.refuse(CodeClosed, fmt.Sprintf("%s is %s; only a request sent back to you can be resubmitted.", in.ID, strings.ReplaceAll(string(in.Status), "_", " ")))
	}
	s := t.step()
	if s == nil {
		return nil, inputErr("%s: step %q, which sent it back, is no longer in flow %s; withdraw it and start a new request", in.ID, in.Step, t.def.ID)
	}
	if in.Rounds[s.ID] >= s.MaxRounds {
		return nil, inputErr("%s has had %s at %s, the most allowed; it cannot be resubmitted; start a new request instead", in.ID, Plural(in.Rounds[s.ID], "round", "rounds"), s.Name)
	}
	return s, nil
}

// Allowed says whether ev's actor may do what ev asks of in, judged before
// its data: adapters ask it before they open a form (a resubmission, a
// task's outputs), so that nobody fills one in only to be refused and a
// form shows a request's data only to who may change it. A resubmission
// must come from the requester, of a request sent back; anything else from
// a current assignee, their delegate, an escalation target or an admin, on
// the step and round ev names. When they may not, the outcome is the
// refusal Apply would give (OK false, its text and mentions). Nothing is
// recorded.
func (e *Engine) Allowed(in *Instance, ev Event, now time.Time) Outcome {
	def, ok := e.flows[in.Flow]
	if !ok {
		return Outcome{Instance: in.ID, Text: fmt.Sprintf("%s's flow %q is no longer defined.", in.ID, in.Flow)}
	}
	t := newTx(e, def, in.Clone(), ev, now.UTC().Truncate(time.Millisecond))
	refused := func() Outcome {
		t.out.Mentions = t.named
		return t.out
	}
	if ev.Kind == EventResubmit {
		s, err := t.mayResubmit()
		switch {
		case err != nil:
			return Outcome{Instance: in.ID, Text: err.Error(), Mentions: t.named}
		case s == nil:
			return refused()
		}
		return Outcome{OK: true, Instance: in.ID}
	}
	if t.stale() {
		return refused()
	}
	if _, ok := t.authority(ev.Kind != EventReassign && ev.Kind != EventDelegate); !ok {
		return refused()
	}
	return Outcome{OK: true, Instance: in.ID}
}

// newTx starts a transaction of ev on in. Its effects have room for what
// a transition usually makes (a start: its first step's cards and timers; a
// decision: a cancel for each timer, the closed card, the next step's or
// the outcome's cards), and its audit for two entries: grown one append at
// a time, they cost a tenth of an approval's allocations, and room that goes
// unused costs small transitions a tenth of their time (both measured with
// BenchmarkEngineApply).
func newTx(e *Engine, def *Definition, in *Instance, ev Event, now time.Time) *tx {
	effects, audit := 4+len(in.Timers), 2
	if ev.Kind == EventStart && len(def.Steps) > 0 {
		// The first step's cards, and its timers: due, reminder, each rung.
		first := def.Steps[0]
		effects = 2 + len(first.Escalate)
		if first.Due > 0 {
			effects++
		}
		if first.Remind.Every > 0 {
			effects++
		}
	}
	return &tx{e: e, def: def, in: in, ev: ev, now: now, out: Outcome{OK: true, Instance: in.ID},
		effects: make([]Effect, 0, effects), audit: make([]AuditEntry, 0, audit)}
}

// Apply applies ev to cur at now. cur is nil for a start event (ev.Instance is
// the new id). Bad input returns an *InputError or FieldErrors and no
// transition; a refusal (not an assignee, already decided) is a transition
// whose Outcome.OK is false and whose audit entry records the attempt.
func (e *Engine) Apply(cur *Instance, ev Event, now time.Time) (*Transition, error) {
	now = now.UTC().Truncate(time.Millisecond)
	if ev.Kind == EventStart {
		return e.start(cur, ev, now)
	}
	if cur == nil {
		return nil, fmt.Errorf("%s: instance %q: %w", ev.Kind, ev.Instance, ErrNotFound)
	}
	def, ok := e.flows[cur.Flow]
	switch {
	case ok:
	case ev.Kind == EventCancel || ev.Kind == EventWithdraw:
		def = orphaned(cur) // it can still end
	default:
		return nil, &InputError{Msg: fmt.Sprintf("%s: flow %q is no longer defined; restore its file, or an admin cancels the request (or its requester withdraws it)", cur.ID, cur.Flow), err: ErrFlowUndefined}
	}
	typed := ev.Kind != EventTimer && ev.Kind != EventWebhookResult // its reason is a person's words, not Baton's or a remote's
	if typed {
		ev.Reason = ReadBreaks(ev.Reason)
		if n := TextLen(ev.Reason); n > MaxText {
			return nil, &InputError{Msg: fmt.Sprintf("the text is %d characters; keep it to %d", n, MaxText), Field: "reason"}
		}
		// A step the flow does not have and this request never had is a
		// mistake in the event (an API call's typo), not an out-of-date
		// card: bad input, and nothing is recorded.
		if ev.Step != "" && ev.Step != cur.Step && def.Step(ev.Step) == nil &&
			!slices.ContainsFunc(cur.History, func(h StepRecord) bool { return h.Step == ev.Step }) {
			ids := make([]string, len(def.Steps))
			for i, s := range def.Steps {
				ids[i] = s.ID
			}
			return nil, &InputError{Msg: fmt.Sprintf("%s has no step %q; its flow's steps are %s.", cur.ID, ev.Step, strings.Join(ids, ", ")), Field: "step"}
		}
	}
	t := newTx(e, def, cur.Clone(), ev, now)
	if t.in.Data == nil {
		t.in.Data = map[string]any{} // JSON (storage) drops an empty map; outputs and replies are written into it
	}
	var err error
	switch ev.Kind {
	case EventApprove:
		err = t.decide(Approved)
	case EventReject:
		err = t.decide(Rejected)
	case EventRequestChanges:
		err = t.decide(Changes)
	case EventTaskDone:
		err = t.decide(Done)
	case EventResubmit:
		err = t.resubmit()
	case EventReassign:
		err = t.reassign(false)
	case EventDelegate:
		err = t.reassign(true)
	case EventComment:
		err = t.comment()
	case EventWithdraw:
		err = t.withdraw()
	case EventCancel:
		err = t.cancel()
	case EventSkip:
		err = t.skip()
	case EventRetry:
		err = t.retry()
	case EventTimer:
		err = t.timer()
	case EventWebhookResult:
		err = t.webhookResult()
	case EventSnooze:
		err = t.snooze()
	default:
		return nil, inputErr("unknown event %q", ev.Kind)
	}
	if err != nil {
		return nil, err
	}
	// The words are judged once who may act has been (a refusal stands,
	// recorded, whatever the words).
	if typed && t.out.OK {
		if p := TextProblem(ev.Reason, true); p != "" {
			return nil, inputErr("the text %s", p)
		}
	}
	return t.finish(), nil
}

func (t *tx) finish() *Transition {
	if len(t.audit) == 0 && len(t.effects) == 0 {
		return &Transition{Instance: t.in, Outcome: t.out, Noop: true}
	}
	if t.out.OK { // a refused attempt is recorded, and changes nothing else
		t.in.Updated = t.now
	}
	if t.def.internal {
		t.forOutsiders() // external.go
	}
	// Ids the cards and the answer may show as mentions: of the people
	// Baton named, not of whoever someone typed the id of (in a form, a
	// reason).
	if len(t.named) > 0 {
		slices.Sort(t.named)
		t.out.Mentions = t.named
		for _, e := range t.effects {
			if e.Msg != nil {
				e.Msg.Mentions = t.named
			}
		}
	}
	stored := chain(t.in, t.audit)
	t.out.Status, t.out.Fingerprint = t.in.Status, t.ev.Fingerprint
	return &Transition{Instance: t.in, Effects: t.effects, Audit: t.audit, AuditJSON: stored, Outcome: t.out}
}

func (e *Engine) start(cur *Instance, ev Event, now time.Time) (*Transition, error) {
	if cur != nil {
		return &Transition{Instance: cur, Noop: true, Outcome: Outcome{OK: true, Instance: cur.ID, Status: cur.Status, Text: fmt.Sprintf("%s was already started", cur.ID)}}, nil
	}
	def, ok := e.flows[ev.Flow]
	if !ok {
		msg := fmt.Sprintf("there is no flow called %q", ev.Flow)
		if s := e.Suggest(ev.Flow); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		return nil, &InputError{Msg: msg}
	}
	if ev.Instance == "" || ev.Actor == "" {
		return nil, inputErr("start %s: the instance id and the requester are required", def.ID)
	}
	data, err := e.parseStartForm(def, ev.Actor, ev.Data, now, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range ev.Refs { // shown on every card, as the form's values are
		if p := OneLineProblem(v); p != "" {
			return nil, inputErr("reference %s %s", k, p)
		}
	}
	in := &Instance{ID: ev.Instance, Flow: def.ID, Requester: ev.Actor, Status: StatusRunning, Data: data,
		Refs: maps.Clone(ev.Refs), Rounds: map[string]int{}, Created: now}
	in.Title = def.renderTitle(in)
	t := newTx(e, def, in, ev, now)
	t.record(AuditEntry{Action: "started", Detail: dataDetail(def.Form, data, ev.Refs)})
	t.advance(-1)
	switch in.Status {
	case StatusRunning:
		t.out.Text = fmt.Sprintf("Started %s (%s). %s", in.ID, def.Name, t.waitingOn()) + t.routedNote()
	case StatusFailed:
		t.out.Text = fmt.Sprintf("Started %s (%s), but it failed at once: %s.", in.ID, def.Name, in.Outcome)
	default:
		t.out.Text = fmt.Sprintf("Started %s (%s): %s.", in.ID, def.Name, in.Status)
	}
	return t.finish(), nil
}

// ParseForm reads requester's start form of def as a start event would:
// ParseForm, then its person fields against the directory and the
// approvals they name. Its dates' bounds (days from today) are not checked:
// ParseFormAt checks them too.
func (e *Engine) ParseForm(def *Definition, requester string, input map[string]string) (map[string]any, error) {
	return e.parseStartForm(def, requester, input, time.Time{}, nil)
}

// ParseFormAt is ParseForm with its dates' bounds checked too, from
// requester's today at now, as a start at now would.
func (e *Engine) ParseFormAt(def *Definition, requester string, input map[string]string, now time.Time) (map[string]any, error) {
	return e.parseStartForm(def, requester, input, now, nil)
}

// parseStartForm is parseForm for a request's form (at its start and on
// resubmission, at now, where kept is what the request holds), which also
// refuses the requester in a person field that names the assignees of an
// approval they may not give themselves: they could not decide it, and
// someone else would be found instead.
func (e *Engine) parseStartForm(def *Definition, requester string, input map[string]string, now time.Time, kept map[string]any) (map[string]any, error) {
	data, err := e.parseForm(def.Form, input, requester, now, kept)
	var fe FieldErrors
	if err != nil && !errors.As(err, &fe) {
		return nil, err
	}
	for _, f := range def.Form {
		// Someone outside the workspace decides approvals only, from a link
		// in a mail: a task named by the field would sit with them.
		if st := def.TaskNamedBy(f.Name); st != nil && f.Kind == FieldPerson && input[f.Name] != "" && fe[f.Name] == "" {
			id, _ := e.person(strings.TrimSpace(input[f.Name]))
			if _, outside := ExternalEmail(id); outside {
				if fe == nil {
					fe = FieldErrors{}
				}
				fe[f.Name] = fmt.Sprintf("%ssomeone outside the workspace cannot do a task (%s); pick someone in the workspace", LabelColon(f.Label), st.Name)
			}
		}
		s := def.ApprovalNamedBy(f.Name)
		if s == nil || input[f.Name] == "" || fe[f.Name] != "" {
			continue
		}
		var id string // whom the field names: a person, or someone by their address
		switch v := strings.TrimSpace(input[f.Name]); f.Kind {
		case FieldPerson:
			id, _ = e.person(v)
		case FieldEmail:
			id = e.dir.Resolve("email", v)
		}
		if id == requester {
			if fe == nil {
				fe = FieldErrors{}
			}
			fe[f.Name] = fmt.Sprintf("%syou are making this request, so you may not approve it (%s); pick someone else", LabelColon(f.Label), s.Name)
		}
	}
	if len(fe) > 0 {
		return nil, fe
	}
	return data, nil
}

// parseForm is ParseForm, with a check of its person fields against the
// directory (which ParseForm does not know): each must name a person, as
// person (below) reads it; a directory id is kept in its own case. Its dates
// are checked against their bounds, days from the today of who (the person
// filling it in) at now (a zero now checks none), but a date kept as it was
// (kept: a resubmitted request's values), which was in them when given: a
// receipt's date a month back cannot be made any later. Every problem is
// told at once.
func (e *Engine) parseForm(fields []Field, input map[string]string, who string, now time.Time, kept map[string]any) (map[string]any, error) {
	data, errs := parseFields(fields, input)
	for _, f := range fields {
		v, ok := data[f.Name].(string)
		switch {
		case !ok || v == "":
		case f.Kind == FieldPerson:
			if id, ok := e.person(v); ok {
				data[f.Name] = id
			} else {
				errs[f.Name] = fmt.Sprintf("%s%q is not a person in the directory; pick someone from the list", LabelColon(f.Label), v)
			}
		case f.Kind == FieldDate && !now.IsZero() && kept[f.Name] != v:
			if msg := f.outOfBounds(v, now.In(e.dir.Location(who))); msg != "" {
				errs[f.Name] = msg
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return data, nil
}

// PersonID returns the person s names, as a person typed into a form or a
// reassignment is read (person).
func (e *Engine) PersonID(s string) (string, bool) { return e.person(s) }

// platformID is the shape of a platform's user ids: a Slack user id, a
// Teams one ("29:1a…", or an Entra object id). Nothing else is taken for
// one: a name is shown as written, and may become a mention.
var platformID = map[string]*regexp.Regexp{
	"slack": regexp.MustCompile(`^[UW][A-Z0-9]{2,30}$`),
	"teams": regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9:._-]{0,199}$`),
}

// PlatformID reports whether id has the shape of a user id of platform
// (slack, teams).
func PlatformID(platform, id string) bool {
	re, ok := platformID[platform]
	return ok && re.MatchString(id)
}

// person returns the person s names: a directory id, in any case, or a
// platform identity (slack:U123, teams:…, email:…), which is the
// directory's person when it knows it (so the requester cannot pass for
// someone else) and an outside participant otherwise. With no directory,
// any id.
func (e *Engine) person(s string) (string, bool) {
	if platform, id, ok := strings.Cut(s, ":"); ok {
		switch platform {
		case "email": // someone outside the workspace must be reachable by mail
			return e.dir.Resolve(platform, id), ValidEmail(id)
		case "slack", "teams": // the directory's person when it knows the identity
			return e.dir.Resolve(platform, id), PlatformID(platform, id)
		}
		return "", false
	}
	if e.dir.Empty() {
		return s, true
	}
	id := e.dir.Find(s)
	return id, id != ""
}

// templateData maps every form field to "": a template naming a field left
// empty writes nothing (text/template would write "<no value>"); and every
// field a step sets (a task's outputs, a webhook's stored fields) to
// notGiven, until the step sets it.
func (d *Definition) templateData() map[string]any {
	n := 3 // and id, requester, title: sized once, not grown as they are added
	for range d.allFields() {
		n++
	}
	data := make(map[string]any, n)
	i := 0
	for f := range d.allFields() { // the form's fields first, then what steps set
		if i < len(d.Form) {
			data[f.Name] = ""
		} else {
			data[f.Name] = notGiven("")
		}
		i++
	}
	return data
}

// notGiven is what a template reads for a field a step sets but has not:
// the step was skipped (its condition was false, or its owner or an admin
// skipped it), or its call failed and the flow went on (on_error:
// continue), or its reply lacked the field, or its task was done with the
// output left empty (which is not stored). It is written as notGivenText,
// so that a message does not read "PO number: " with nothing after it; and
// it is empty to if, with, or and eq, so that {{with .po}}…{{end}} and
// {{or .po "none"}} still say what the author means instead.
type notGiven string

// notGivenText is how a template writes a field a step has not set.
const notGivenText = "—"

func (notGiven) String() string { return notGivenText }

// renderTitle is the one-line summary of an instance: its title template,
// else the first text field filled in that is not internal (the title heads
// what people outside the workspace are sent), else the flow's name.
func (d *Definition) renderTitle(in *Instance) string {
	if d.title != nil {
		var b strings.Builder
		data := d.templateData()
		data["id"], data["requester"] = in.ID, in.Requester
		for k, v := range in.Data {
			data[k] = FormatValue(v)
		}
		if err := d.title.Execute(&b, data); err == nil && strings.TrimSpace(b.String()) != "" {
			return strings.TrimSpace(b.String())
		}
	}
	for _, f := range d.Form {
		if f.Kind == FieldText && !f.Internal {
			if v := FormatValue(in.Data[f.Name]); v != "" {
				return v
			}
		}
	}
	return d.Name
}

func dataDetail(fields []Field, data map[string]any, refs map[string]string) map[string]string {
	out := map[string]string{}
	for _, f := range fields {
		if v, ok := data[f.Name]; ok {
			out[f.Name] = FormatValue(v)
		}
	}
	for k, v := range refs {
		out["ref."+k] = v
	}
	return out
}

// record adds an audit entry stamped with the event's actor, time and step.
func (t *tx) record(a AuditEntry) {
	a.At = t.now
	if a.Actor == "" {
		a.Actor = cmp.Or(t.ev.Actor, System)
	}
	if a.Platform == "" {
		a.Platform = t.ev.Platform
	}
	if a.Actor == t.ev.Actor {
		a.Via = t.ev.Via
	}
	if a.Step == "" && t.in.Step != "" {
		a.Step, a.Round = t.in.Step, t.in.Round
	}
	t.audit = append(t.audit, a)
}

// refuse records a refused attempt and tells the actor why.
func (t *tx) refuse(code, text string) error {
	t.refused(code, text, text)
	return nil
}

// refuseAt refuses with a text naming a time (text gets it written out): the
// person refused reads it in their time zone, the record, which everyone's
// timeline shows, in UTC.
func (t *tx) refuseAt(code string, at time.Time, text func(at string) string) {
	t.refused(code, text(FormatTime(at, time.UTC)), text(FormatTime(at, t.e.dir.Location(t.ev.Actor))))
}

// refused records a refused attempt with reason record and answers text.
func (t *tx) refused(code, record, text string) {
	t.record(AuditEntry{Action: string(t.ev.Kind), Refused: true, Reason: record, Step: cmp.Or(t.ev.Step, t.in.Step), Round: cmp.Or(t.ev.Round, t.in.Round)})
	t.out = Outcome{OK: false, Code: code, Text: text, Instance: t.in.ID}
}

// name is a person's name as Baton writes it. Someone outside the
// directory is named by their platform id ("slack:U123"), which is noted as
// one the transition's messages may show as a mention (Message.Mentions).
func (t *tx) name(id string) string {
	n := t.e.dir.Name(id)
	if n == id && t.e.dir.outsider(id) && !slices.Contains(t.named, id) {
		t.named = append(t.named, id)
	}
	return n
}

// personName is a person's name, or "" for Baton itself.
func (t *tx) personName(id string) string {
	if id == System || id == "" {
		return ""
	}
	return t.name(id)
}

// names is the people's names, joined: "A, B and C".
func (t *tx) names(ids []string) string {
	names := make([]string, len(ids))
	for i, id := range ids {
		names[i] = t.name(id)
	}
	return JoinNames(names)
}

func (t *tx) step() *Step { return t.def.Step(t.in.Step) }

func (t *tx) notify(to Recipient, card, thread string, m *Message) {
	t.effects = append(t.effects, Effect{Kind: EffectNotify, To: to, Card: card, Thread: thread, Msg: m})
}

func cardKey(step string, round int, who string) string {
	return step + "/" + strconv.Itoa(round) + "/" + who
}

func (t *tx) personCard(p string) string     { return cardKey(t.in.Step, t.in.Round, p) }
func (t *tx) channelCard(c string) string    { return cardKey(t.in.Step, t.in.Round, "#"+c) }
func (t *tx) escalationCard(p string) string { return cardKey(t.in.Step, t.in.Round, "esc:"+p) }

// carded returns the people who get a card of their own for task: its
// delegates (a stand-in among them), and its assignee unless the step posts
// in a channel and the assignee is one it was posted for (not someone it was
// reassigned to, nor someone outside the workspace, who is not in it).
func carded(s *Step, task Task) []string {
	var people []string
	if _, external := ExternalEmail(task.Assignee); s.Channel == "" || task.Original != "" || external {
		people = append(people, task.Assignee)
	}
	return append(people, task.Delegates...)
}

// closeTaskCards closes the cards of task's people (whose task was decided
// or moved) and, when the step posts in a channel, brings the channel's card
// up to date for the others. Call it with the task as it was carded.
func (t *tx) closeTaskCards(s *Step, task Task, outcome, by, reason, extra string) {
	people := carded(s, task)
	decider := t.personName(by)
	if by != task.Assignee && slices.Contains(task.Delegates, by) { // on the assignee's behalf, as the others' cards say
		decider += " (for " + t.name(task.Assignee) + ")"
	}
	for _, p := range people {
		m := t.closedCard(s, outcome, decider, reason, extra, t.e.dir.Location(p))
		t.effects = append(t.effects, Effect{Kind: EffectUpdate, Card: t.personCard(p), Msg: m})
		if slices.Contains(task.Reminded, p) { // and the reminders in its thread, which offered its buttons
			t.effects = append(t.effects, Effect{Kind: EffectUpdate, Card: t.personCard(p) + "/", Msg: m})
		}
	}
	for _, p := range task.Reminded {
		if !slices.Contains(people, p) { // reminded by DM, of a channel step's task: the DM closes
			m := t.closedCard(s, outcome, decider, reason, extra, t.e.dir.Location(p))
			t.effects = append(t.effects, Effect{Kind: EffectUpdate, Card: t.personCard(p) + "/", Msg: m})
		}
	}
	t.refreshChannelCard(s)
}

func (t *tx) refreshChannelCard(s *Step) {
	if s.Channel != "" {
		t.effects = append(t.effects, Effect{Kind: EffectUpdate, Card: t.channelCard(s.Channel), Msg: t.taskCard(s, MsgTask, "")})
	}
}

// stale reports whether the event was made on a card of an earlier step or
// round, or on a closed request; if so it refuses, naming who decided first.
func (t *tx) stale() bool {
	in := t.in
	if in.Status == StatusRunning && (t.ev.Step == "" || t.ev.Step == in.Step) && (t.ev.Round == 0 || t.ev.Round == in.Round) {
		return false
	}
	step, round := cmp.Or(t.ev.Step, in.Step), t.ev.Round
	if round == 0 && step == in.Step {
		round = in.Round
	}
	if h := in.lastRecord(step, round); h != nil { // the click's round, or its step's latest
		by := t.name(h.By)
		// An old card's click by someone the request waits on now (a later
		// round, another step): said, so they look for the new card.
		now := ""
		if in.Status == StatusRunning && slices.Contains(in.Pending(), t.ev.Actor) {
			now = fmt.Sprintf(" It now waits on you at %s (round %d).", t.stepName(), in.Round)
		}
		t.refuseAt(CodeAlreadyDecided, h.Ended, func(at string) string {
			switch {
			case h.By == System || h.By == "":
				return fmt.Sprintf("%s: this step already ended (%s) at %s.%s", in.ID, strings.ToLower(DecisionWords(h.Outcome)), at, now)
			case h.Outcome == string(Changes):
				return fmt.Sprintf("Changes to %s were already requested by %s at %s.%s", in.ID, by, at, now)
			}
			return fmt.Sprintf("%s was already %s by %s at %s.%s", in.ID, strings.ToLower(DecisionWords(h.Outcome)), by, at, now)
		})
		return true
	}
	if t.ev.Step != "" && t.def.Step(t.ev.Step) == nil { // no card ever named it
		_ = t.refuse(CodeNotReached, fmt.Sprintf("%s has no step %q; it is at %s (round %d).", in.ID, t.ev.Step, t.stepName(), in.Round))
		return true
	}
	if in.Status == StatusRunning { // a step or round the request has not been at (no record of it): not yet reached
		named := t.def.Step(step).Name
		if round > 0 {
			named += fmt.Sprintf(" (round %d)", round)
		}
		_ = t.refuse(CodeNotReached, fmt.Sprintf("%s has not reached %s: it is at %s (round %d). %s", in.ID, named, t.stepName(), in.Round, t.waitingOn()))
		return true
	}
	switch in.Status {
	case StatusChangesRequested, StatusRejected: // with the requester, who may resubmit: a later round is not reached yet
		why := "for changes"
		if in.Status == StatusRejected {
			why = "rejected"
		}
		_ = t.refuse(CodeNotReached, fmt.Sprintf("%s is back with %s (%s): nothing is to be decided until they resubmit it.", in.ID, t.name(in.Requester), why))
	default:
		is := "is " + strings.ReplaceAll(string(in.Status), "_", " ")
		if in.Status == StatusFailed {
			is = "failed"
		}
		_ = t.refuse(CodeClosed, fmt.Sprintf("%s %s; there is nothing to decide.", in.ID, is))
	}
	return true
}

// authority finds on whose behalf the actor may act on the current step: the
// index of their pending task (as assignee or delegate), or -1 when they act
// for the whole step as an admin or escalation target. ok is false when they
// may not act; the refusal is then already recorded. decide says whether
// they would decide the step (or else reassign or delegate a task of it).
func (t *tx) authority(decide bool) (slot int, ok bool) {
	actor := t.ev.Actor
	if decide && t.selfApproval(t.step(), actor) && t.in.holdsSeat(actor) {
		// Never assigned so (assignees, reassign, delegate and stand-ins
		// leave the requester out); refused all the same, should a state
		// from an earlier version hold it.
		_ = t.refuse(CodeNotAllowed, fmt.Sprintf("You made %s, so you may not decide %s yourself.", t.in.ID, t.stepName()))
		return 0, false
	}
	for i, task := range t.in.Tasks {
		if task.Assignee == actor && task.Decision == Pending {
			return i, true
		}
	}
	for i, task := range t.in.Tasks {
		if slices.Contains(task.Delegates, actor) && task.Decision == Pending {
			return i, true
		}
	}
	// An escalation's or an admin's authority decides the whole step, but
	// not for someone with a seat on it already: one person never fills
	// two seats (a group escalated to that holds the step's own approvers
	// would let one of them approve twice, for everyone under all). Moving
	// someone else's task fills no seat, so an admin who has decided their
	// own may still reassign or delegate the others' (but not a co-approver
	// brought in by an escalation: they would pick who fills the other
	// seats).
	if (slices.Contains(t.in.Escalated, actor) || t.e.admins[actor]) && (!t.in.holdsSeat(actor) || !decide && t.e.admins[actor]) {
		if t.selfApproval(t.step(), actor) {
			_ = t.refuse(CodeNotAllowed, fmt.Sprintf("You made %s, so you may not decide %s yourself; %s can.", t.in.ID, t.stepName(), t.waitingNames()))
			return 0, false
		}
		return -1, true
	}
	for _, task := range t.in.Tasks {
		if task.Assignee == actor || slices.Contains(task.Delegates, actor) {
			did := map[Decision]string{Changes: "requested changes to %s", Done: "marked %s done"}[task.Decision]
			if did == "" {
				did = strings.ToLower(DecisionWords(string(task.Decision))) + " %s"
			}
			// Whoever decided the task: the actor, or the assignee or a
			// delegate of theirs.
			who, mine := "You", ""
			if by := cmp.Or(task.By, task.Assignee); by != actor {
				who = t.name(by)
				if task.Assignee == actor {
					mine = " on your behalf"
				}
			}
			t.refuseAt(CodeAlreadyDecided, task.At, func(at string) string {
				return fmt.Sprintf("%s already "+did+"%s at %s; waiting on %s.", who, t.in.ID, mine, at, t.waitingNames())
			})
			return 0, false
		}
	}
	who := "their delegates or an admin"
	// Brought in by an escalation, they may too (but for those it moved
	// the task to, who are among "they").
	if escalated := slices.DeleteFunc(slices.Clone(t.in.Escalated), t.in.holdsSeat); len(escalated) > 0 {
		who = "their delegates, " + t.names(escalated) + " (brought in by an escalation) or an admin"
	}
	_ = t.refuse(CodeNotAssignee, fmt.Sprintf("%s (%s) is assigned to %s; only they, %s can act on it.", t.in.ID, t.stepName(), t.waitingNames(), who))
	return 0, false
}

// selfApproval reports whether person deciding step s would be the requester
// approving their own request, which s forbids unless allow_self_approval is
// set: not as an assignee, a delegate, an escalation target or an admin.
func (t *tx) selfApproval(s *Step, person string) bool {
	return selfApproval(s, t.in.Requester, person)
}

// selfApproval reports whether person, taking s, would approve requester's
// own request, which s forbids (tx.selfApproval).
func selfApproval(s *Step, requester, person string) bool {
	return s != nil && s.Kind == StepApproval && !s.AllowSelfApproval && person == requester
}

// adminIDs returns the admins, sorted.
func (t *tx) adminIDs() []string { return slices.Sorted(maps.Keys(t.e.admins)) }

func (t *tx) stepName() string {
	if s := t.step(); s != nil {
		return s.Name
	}
	return t.in.Step
}

// waitingNames names the people the step's tasks still wait on: "Bob Chen
// and Frank Osei".
// waitingIDs is the ids of the people the step still waits on, joined by
// ", " as audit details keep lists of people (for systems reading events:
// the timeline shows them by name).
func (t *tx) waitingIDs() string {
	var ids []string
	for _, task := range t.in.Tasks {
		if task.Decision == Pending {
			ids = append(ids, task.Assignee)
		}
	}
	return strings.Join(ids, ", ")
}

func (t *tx) waitingNames() string {
	var names []string
	for _, task := range t.in.Tasks {
		if task.Decision == Pending {
			names = append(names, t.name(task.Assignee))
		}
	}
	return JoinNames(names)
}

// waitingLabels appends to labels a name for each person a task still
// waits on, with whom their task is delegated to (a stand-in for someone
// away, too), who may decide it as well: "Bob Chen (delegated to Carol
// Diaz)". (Appended to the caller's slice: a card's, on a stack array.)
func waitingLabels(labels []string, tasks []Task, name func(string) string) []string {
	for _, task := range tasks {
		if task.Decision != Pending {
			continue
		}
		l := name(task.Assignee)
		if len(task.Delegates) > 0 {
			ds := make([]string, len(task.Delegates))
			for i, d := range task.Delegates {
				ds[i] = name(d)
			}
			l += " (delegated to " + JoinNames(ds) + ")"
		}
		labels = append(labels, l)
	}
	return labels
}

func (t *tx) waitingOn() string {
	if t.in.Status != StatusRunning {
		return ""
	}
	s := t.step()
	if s == nil {
		return stoppedAt(t.in.Step)
	}
	if s.Kind == StepWebhook {
		return fmt.Sprintf("Waiting on %s (%s).", s.Name, hostOf(s.Webhook.URL))
	}
	return fmt.Sprintf("Waiting on %s (%s).", t.waitingNames(), s.Name)
}

// hostOf is a webhook URL's host: never its user, password, path or query,
// which may hold credentials.
func hostOf(u string) string {
	_, host, _ := strings.Cut(HookTarget(u), "://")
	return host
}

// decide handles approve, reject, request changes and task done.
func (t *tx) decide(d Decision) error {
	if t.stale() {
		return nil
	}
	s := t.step()
	if s == nil {
		return inputErr("%s: current step %q is no longer in flow %s; the flow owner or an admin cancels the request or skips the step", t.in.ID, t.in.Step, t.def.ID)
	}
	// A decision the step does not take is the event's decision field
	// wrong (the API names it).
	wrong := func(format string, args ...any) error {
		return &InputError{Msg: fmt.Sprintf(format, args...), Field: "decision"}
	}
	if s.Kind != StepApproval && s.Kind != StepTask {
		return wrong("%s is waiting for %s, not for a person", t.in.ID, s.Name)
	}
	// Who may act comes first: anyone else is refused (and audited) whatever
	// they sent, and learns nothing about the step from input errors.
	slot, ok := t.authority(true)
	if !ok {
		return nil
	}
	switch {
	case s.Kind == StepTask && d != Done:
		return wrong("%s is a task (%s): mark it done instead", t.in.ID, s.Name)
	case s.Kind == StepApproval && d == Done:
		return wrong("%s is waiting for an approval (%s): approve, reject or request changes", t.in.ID, s.Name)
	}
	// The rounds first: a form asking for a reason would not help.
	if d == Changes && t.in.Round >= s.MaxRounds {
		return inputErr("%s has had %s at %s, the most allowed; approve or reject it", t.in.ID, Plural(t.in.Round, "round", "rounds"), s.Name)
	}
	reason := strings.TrimSpace(t.ev.Reason)
	if (d == Rejected || d == Changes) && reason == "" {
		return &InputError{Msg: fmt.Sprintf("a reason is required to %s", map[Decision]string{Rejected: "reject", Changes: "request changes"}[d]), Field: "reason"}
	}
	var outputs map[string]any
	if d == Done && len(s.Outputs) > 0 {
		var err error
		if outputs, err = t.e.parseForm(s.Outputs, t.ev.Data, t.ev.Actor, t.now, nil); err != nil {
			return err
		}
	}
	entry := AuditEntry{Action: string(d), Reason: reason}
	if slot >= 0 {
		task := &t.in.Tasks[slot]
		task.Decision, task.By, task.At, task.Reason = d, t.ev.Actor, t.now, reason
		if task.Assignee != t.ev.Actor {
			entry.OnBehalf = task.Assignee
		}
	} else {
		entry.Detail = map[string]string{"authority": t.role()}
	}
	if outputs != nil {
		detail := dataDetail(s.Outputs, outputs, nil)
		maps.Copy(detail, entry.Detail) // the authority an admin acted with, if any
		entry.Detail = detail
		for k, v := range outputs {
			t.in.Data[k] = v
		}
	}
	t.record(entry)

	result := d
	if slot >= 0 && s.Kind == StepApproval {
		result = t.policyResult(s)
	}
	by := t.ev.Actor
	switch result {
	case Pending:
		waiting := t.waitingNames()
		t.closeTaskCards(s, t.in.Tasks[slot], string(d), by, reason, fmt.Sprintf("Waiting on %s.", waiting))
		t.refreshPeople(s, nil, nil) // the others' cards say whom the step still waits on
		t.out.Text = fmt.Sprintf("%s %s. Still waiting on %s.", DecisionWords(string(d)), t.in.ID, waiting)
	case Approved, Done:
		t.closeStep(string(result), by, reason)
		idx := t.def.StepIndex(s.ID)
		t.advance(idx)
		t.out.Text = fmt.Sprintf("%s %s. %s", DecisionWords(string(result)), t.in.ID, t.afterText())
	case Rejected, Changes:
		t.closeStep(string(result), by, reason)
		t.returnToRequester(result, by, reason)
		did := map[Decision]string{Rejected: "Rejected %s", Changes: "Asked for changes to %s"}[result]
		t.out.Text = fmt.Sprintf(did+"; %s has been told.", t.in.ID, t.name(t.in.Requester))
	}
	return nil
}

func (t *tx) role() string {
	if slices.Contains(t.in.Escalated, t.ev.Actor) {
		return "escalation"
	}
	return "admin"
}

// routedNote is the routing note of the step the request waits at, as an
// answer to its requester adds it (" (…)"; "" when there is none): when
// the step is not asked of whom it names, they learn why at once.
func (t *tx) routedNote() string {
	if t.in.Status != StatusRunning || t.in.Routed == "" {
		return ""
	}
	return " (" + t.in.Routed + ")"
}

func (t *tx) afterText() string {
	switch t.in.Status {
	case StatusRunning:
		return t.waitingOn()
	case StatusCompleted:
		return "The request is complete."
	case StatusFailed:
		return fmt.Sprintf("The request failed: %s. It waits on %s.", t.in.Outcome, t.e.rescueWords(t.def, t.step(), t.in.Requester))
	}
	return fmt.Sprintf("The request is %s.", strings.ReplaceAll(string(t.in.Status), "_", " "))
}

// policyResult decides an approval step from its tasks.
func (t *tx) policyResult(s *Step) Decision {
	var approvals, rejections, changes int
	for _, task := range t.in.Tasks {
		switch task.Decision {
		case Approved:
			approvals++
		case Rejected:
			rejections++
		case Changes:
			changes++
		}
	}
	n := len(t.in.Tasks)
	switch {
	case changes > 0:
		return Changes
	case s.Policy == PolicyAny && rejections > 0:
		return Rejected
	case s.Policy == PolicyAny && approvals > 0:
		return Approved
	case s.Policy == PolicyAll && rejections > 0:
		return Rejected
	case s.Policy == PolicyAll && approvals == n:
		return Approved
	case s.Policy == PolicyQuorum:
		q := min(s.Quorum, n)
		if approvals >= q {
			return Approved
		}
		if n-rejections < q {
			return Rejected
		}
	}
	return Pending
}

// closeStep ends the current round: its timers are cancelled, its cards closed
// and its record kept.
func (t *tx) closeStep(outcome, by, reason string) {
	in := t.in
	if in.Step == "" {
		return
	}
	for i := range in.Timers { // in.Timers is this transition's copy, dropped here: its timers can be pointed at
		t.effects = append(t.effects, Effect{Kind: EffectCancelTimer, Timer: &in.Timers[i]})
	}
	in.Timers = nil
	var assigned, originals, others []string
	for _, task := range in.Tasks {
		assigned = append(assigned, task.Assignee)
		if task.Original != "" && !slices.Contains(originals, task.Original) {
			originals = append(originals, task.Original)
		}
		for _, p := range task.Delegates {
			others = appendNew(others, p)
		}
		for _, p := range task.Former {
			others = appendNew(others, p)
		}
	}
	var deciders, behalf []string // whose decisions made the outcome, in the order they decided; whose tasks others decided
	if by != System && by != "" {
		decided := slices.DeleteFunc(slices.Clone(in.Tasks), func(task Task) bool { return string(task.Decision) != outcome || task.By == "" })
		slices.SortStableFunc(decided, func(a, b Task) int { return a.At.Compare(b.At) })
		for _, task := range decided {
			if !slices.Contains(deciders, task.By) {
				deciders = append(deciders, task.By)
			}
			if task.By != task.Assignee && !slices.Contains(behalf, task.Assignee) {
				behalf = append(behalf, task.Assignee)
			}
		}
		if !slices.Contains(deciders, by) { // an admin's or escalation target's decision closed it
			deciders = append(deciders, by)
		}
	}
	in.History = append(in.History, StepRecord{Step: in.Step, Round: in.Round, Started: in.StepStarted, Ended: t.now,
		Outcome: outcome, By: by, Deciders: deciders, For: behalf, Reason: reason, Assigned: assigned, Originals: originals, Others: others})
	s := t.step()
	if s == nil && len(in.Tasks) > 0 { // no longer in the flow: its cards close all the same
		s = &Step{ID: in.Step, Name: in.Step, Kind: StepTask}
	}
	if s != nil && (s.Kind == StepApproval || s.Kind == StepTask) {
		// Who decided, each with whose task they decided when it was not
		// theirs (a delegate's): "Dana Kowalski (for Bob Lee)".
		labels := make([]string, len(deciders))
		for i, d := range deciders {
			var forWhom []string
			for _, task := range in.Tasks {
				if task.By == d && task.Assignee != d && string(task.Decision) == outcome {
					forWhom = append(forWhom, task.Assignee)
				}
			}
			labels[i] = t.name(d)
			if len(forWhom) > 0 {
				labels[i] += " (for " + t.names(forWhom) + ")"
			}
		}
		names := ""
		if len(labels) > 0 {
			names = JoinNames(labels)
		}
		// One update closes every card of the round, which channels and
		// escalation recipients may read too: its time is in UTC.
		t.effects = append(t.effects, Effect{Kind: EffectUpdate, Card: cardKey(in.Step, in.Round, ""), Msg: t.closedCard(s, outcome, names, reason, "", time.UTC)})
	}
	note := "" // the requester's note is kept for the step a request returns to
	if in.Returning != "" {
		note = in.Note
	}
	in.Tasks, in.Escalated, in.EscalatedChannels, in.StandingIn, in.Overdue, in.Due, in.Changes, in.Note, in.Routed = nil, nil, nil, nil, false, time.Time{}, nil, note, ""
}

// closedCard is a task card after a decision: no buttons, the outcome shown
// with who made it (names; "" when Baton did). loc is the timezone its time
// is shown in (nil: UTC).
func (t *tx) closedCard(s *Step, outcome, names, reason, extra string, loc *time.Location) *Message {
	m := t.baseCard(s, MsgTask)
	m.Outcome = t.outcomeLine(outcome, names, loc)
	m.At = t.now // a renderer may write the time in its reader's zone
	if loc != nil && loc.String() != "UTC" {
		m.Zone = loc.String()
	}
	if reason != "" {
		m.Outcome += "\nReason: " + reason
	}
	if extra != "" {
		m.Outcome += "\n" + extra
	}
	return m
}

// outcomeLine is a closed card's "Approved by A and B · <time in loc>"
// (without "by" when names is "").
func (t *tx) outcomeLine(outcome, names string, loc *time.Location) string {
	if names == "" {
		return fmt.Sprintf("%s · %s", DecisionWords(outcome), FormatTime(t.now, loc))
	}
	return fmt.Sprintf("%s by %s · %s", DecisionWords(outcome), names, FormatTime(t.now, loc))
}

// baseCard holds what every card about the instance shows.
func (t *tx) baseCard(s *Step, kind MessageKind) *Message {
	in := t.in
	m := &Message{Kind: kind, Instance: in.ID, Flow: in.Flow, Step: in.Step, Round: in.Round,
		Title:  t.def.Name + " " + in.ID + ": " + in.Title,
		Fields: make([]Fact, 0, len(in.Data)+len(in.Refs))}
	if s != nil {
		m.Text = s.Name
		switch {
		case s.instr != nil:
			m.Text += "\n" + t.render(s.instr, s.Instructions)
		case s.Instructions != "":
			m.Text += "\n" + s.Instructions
		}
	}
	for f := range t.def.shownFields() {
		if v, ok := in.Data[f.Name]; ok {
			val := FormatValue(v)
			if f.Kind == FieldPerson {
				val = t.name(val)
			}
			m.Fields = append(m.Fields, Fact{Label: f.Label, Value: val, Internal: f.Internal})
		}
	}
	if len(in.Refs) > 0 { // most have none: skip the sorting's allocations
		for _, k := range slices.Sorted(maps.Keys(in.Refs)) {
			m.Fields = append(m.Fields, Fact{Label: k, Value: in.Refs[k]})
		}
	}
	m.Context = append(m.Context, "Requested by "+t.name(in.Requester))
	if in.Round > 1 {
		m.Context = append(m.Context, fmt.Sprintf("Round %d", in.Round))
	}
	return m
}

// taskCard is the card that asks person (a recipient) to act on the step.
func (t *tx) taskCard(s *Step, kind MessageKind, person string) *Message {
	in := t.in
	m := t.baseCard(s, kind)
	m.Changes = t.shownChanges(in.Changes)
	if in.Note != "" {
		m.Context = append(m.Context, fmt.Sprintf("Note from %s: %s", t.name(in.Requester), in.Note))
	}
	loc := t.e.dir.Location(person)
	var waiting [4]string
	m.Context = append(m.Context, "Waiting on "+JoinNames(waitingLabels(waiting[:0], t.in.Tasks, t.name)))
	if s.Kind == StepApproval && s.Policy != PolicyAny { // where the vote stands
		var approved []string
		for _, task := range in.Tasks {
			if task.Decision == Approved {
				who := t.name(task.By)
				if task.By != task.Assignee { // a delegate's vote
					who += " (for " + t.name(task.Assignee) + ")"
				}
				approved = append(approved, who)
			}
		}
		need := len(in.Tasks)
		if s.Policy == PolicyQuorum {
			need = min(s.Quorum, len(in.Tasks))
		}
		switch {
		case len(approved) > 0:
			m.Context = append(m.Context, fmt.Sprintf("Approved so far by %s (%d of %d needed)", JoinNames(approved), len(approved), need))
		case need > 1: // before the first vote too: one approval will not do
			m.Context = append(m.Context, fmt.Sprintf("%d approvals needed, of %d people", need, len(in.Tasks)))
		}
	}
	if s.Kind == StepApproval && in.Round >= s.MaxRounds && s.MaxRounds > 1 {
		// Said once: instead of baseCard's "Round N".
		m.Context = slices.DeleteFunc(m.Context, func(c string) bool { return c == fmt.Sprintf("Round %d", in.Round) })
		last := fmt.Sprintf("Round %d of %d, the last", in.Round, s.MaxRounds)
		if in.Round > s.MaxRounds { // reopened past it: a resubmission changed what it approved
			last = fmt.Sprintf("Round %d, reopened after its last (%d)", in.Round, s.MaxRounds)
		}
		m.Context = append(m.Context, last+": changes can no longer be requested")
	}
	if in.Routed != "" { // say why, so nobody wonders why it came to them
		m.Context = append(m.Context, "Routing: "+t.routedFor(person, s))
	}
	if !in.Due.IsZero() {
		due := fmt.Sprintf("Due %s (%s)", FormatTime(in.Due, loc), Relative(in.Due, t.now))
		if in.Overdue || !in.Due.After(t.now) {
			due = fmt.Sprintf("Overdue since %s", FormatTime(in.Due, loc))
		}
		m.Context = append(m.Context, due)
	}
	if next := t.nextRung(s, person); next != "" {
		m.Context = append(m.Context, next)
	}
	if line := t.handoffLine(person); line != "" {
		m.Context = append(m.Context, line)
	}
	act := func(k ActionKind, label, style string) Action {
		return Action{Kind: k, Label: label, Style: style, Instance: in.ID, Step: in.Step, Round: in.Round}
	}
	m.Actions = make([]Action, 0, 5) // the most a card has: one allocation
	if s.Kind == StepTask {
		m.Actions = append(m.Actions, act(ActDone, "Mark done", "primary"))
	} else {
		m.Actions = append(m.Actions, act(ActApprove, "Approve", "primary"), act(ActReject, "Reject", "danger"))
		if in.Round < s.MaxRounds {
			m.Actions = append(m.Actions, act(ActChanges, "Request changes", ""))
		}
	}
	// A delegate decides for the task's holder, who alone (or an admin)
	// passes it on: their card has no Reassign.
	if !t.delegateOnly(person) || t.e.admins[person] || slices.Contains(t.in.Escalated, person) {
		a := act(ActReassign, "Reassign", "")
		a.Exclude = nonTakers(s, in)
		m.Actions = append(m.Actions, a)
	}
	if person != "" { // a person's own card: they may ask to be reminded
		m.Actions = append(m.Actions, act(ActSnooze, "Remind me later", ""))
	}
	return m
}

// handoffLine says, on a card of person's, why a task that was someone
// else's is theirs: it was reassigned to them, or they decide it as a
// delegate. It is the state's, so that every later version of the card
// keeps it; the card sent at the handoff says who did it, and why
// (handoffCard).
func (t *tx) handoffLine(person string) string {
	for _, task := range t.in.Tasks {
		switch {
		case task.Decision != Pending || person == "":
		case task.Assignee == person && task.Original != "" && task.Original != person:
			return "Reassigned to you (first assigned to " + t.name(task.Original) + ")"
		case task.Assignee != person && slices.Contains(task.Delegates, person):
			return "You may decide it on behalf of " + t.name(task.Assignee)
		}
	}
	return ""
}

// handoffCard is the task card sent to person when a task moves to them or
// is shared with them: line, saying who did it and why, replaces its
// handoff line.
func (t *tx) handoffCard(s *Step, person, line string) *Message {
	m := t.taskCard(s, MsgTask, person)
	if generic := t.handoffLine(person); generic != "" {
		m.Context = slices.DeleteFunc(m.Context, func(c string) bool { return c == generic })
	}
	m.Context = append(m.Context, line)
	return m
}

// delegateOnly says whether person holds no pending task of the step but
// decides one as a delegate.
func (t *tx) delegateOnly(person string) bool {
	delegate := false
	for _, task := range t.in.Tasks {
		if task.Decision != Pending {
			continue
		}
		if task.Assignee == person {
			return false
		}
		delegate = delegate || slices.Contains(task.Delegates, person)
	}
	return delegate
}

// nextRung says what happens next if nobody acts, from person's point of
// view: the earliest timer that will do something (at the same time, an
// escalation rung is what people see), named as the escalation will do it.
func (t *tx) nextRung(s *Step, person string) string {
	// A delegate's card reads the ladder of the task they hold.
	assignee := person
	for _, task := range t.in.Tasks {
		if task.Decision == Pending && task.Assignee != person && slices.Contains(task.Delegates, person) {
			assignee = task.Assignee
			break
		}
	}
	timers := slices.Clone(t.in.Timers)
	slices.SortStableFunc(timers, func(a, b Timer) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(rungOrder[a.Kind], rungOrder[b.Kind]))
	})
	for _, tm := range timers {
		if line := t.rungLine(s, tm, person, assignee); line != "" {
			return line
		}
	}
	return ""
}

var rungOrder = map[TimerKind]int{TimerEscalate: 0, TimerTimeout: 1, TimerRemind: 2}

// rungLine describes what tm will do to the task of assignee, for person
// (the assignee, their delegate, or "" for a channel), or "" if nothing
// people need to know of.
func (t *tx) rungLine(s *Step, tm Timer, person, assignee string) string {
	when := Relative(tm.At, t.now)
	if tm.At.Before(t.now.Add(time.Second)) { // due, and about to fire (it was not "0 s ago")
		when = "now"
	}
	who := func(p string) string { // the reader is "you"
		if p == person {
			return "you"
		}
		return t.name(p)
	}
	manager := func(m string) string {
		switch {
		case person == "":
			return "their manager"
		case m != t.e.dir.Manager(assignee):
			if m == t.def.Owner {
				return who(m) + " (the flow's owner)"
			}
			return who(m) + " (an admin)"
		case person == assignee:
			return who(m) + " (your manager)"
		}
		return fmt.Sprintf("%s (%s's manager)", who(m), t.name(assignee))
	}
	escalatesTo := func(target string) string {
		if target != "manager" {
			if to, _, standIns := t.notifyTargets(s, target); len(to) > 0 {
				name := t.targetName(target)
				if target == "person:"+person {
					name = "you"
				}
				if kind, _, _ := strings.Cut(target, ":"); kind == "person" && len(standIns) > 0 {
					return fmt.Sprintf("Escalates to %s, standing in for %s, %s", who(to[0].Person), name, when)
				}
				return fmt.Sprintf("Escalates to %s %s", name, when)
			}
			return ""
		}
		m := t.escalationManager(s, assignee)
		if si := t.awayStandIn(s, m); si != "" && person != "" { // away now: their stand-in, as things stand
			return fmt.Sprintf("Escalates to %s, standing in for %s, %s", who(si), manager(m), when)
		}
		if m != "" || person == "" {
			return fmt.Sprintf("Escalates to %s %s", manager(m), when)
		}
		return ""
	}
	switch {
	case tm.Kind == TimerEscalate && tm.N < len(s.Escalate):
		r := s.Escalate[tm.N]
		if r.Reassign == "" {
			return escalatesTo(r.Notify)
		}
		to := ""
		for _, m := range t.plannedMoves(s, r.Reassign) {
			if m.to != "" && (person == "" || t.in.Tasks[m.task].Assignee == assignee) {
				to = m.to
				break
			}
		}
		target := who(to)
		switch {
		case to == "":
			return "" // nobody to move it to: it stays
		case r.Reassign == "manager":
			target = manager(to)
		}
		if si := t.awayStandIn(s, to); si != "" { // away now: shared with their stand-in, as things stand
			return fmt.Sprintf("Moves to %s, away, shared with %s, %s", target, who(si), when)
		}
		return fmt.Sprintf("Moves to %s %s", target, when)
	case tm.Kind == TimerTimeout:
		switch s.OnTimeout {
		case TimeoutApprove:
			return "Approved automatically " + when
		case TimeoutReject:
			return "Rejected automatically " + when
		case TimeoutEscalate:
			return escalatesTo("manager")
		}
	}
	return ""
}

// targetName names an escalation target other than the manager.
func (t *tx) targetName(target string) string {
	kind, id, _ := strings.Cut(target, ":")
	switch kind {
	case "channel":
		return t.e.dir.Name("#" + id)
	case "group":
		return "the " + id + " group"
	}
	return t.name(id)
}

// managerOrStandIn is who an escalation to the manager of assignee reaches:
// their manager, else the flow's owner, else an admin; never the assignee,
// nor the requester of an approval they may not give themselves.
func (t *tx) managerOrStandIn(s *Step, assignee string) string {
	return t.managerOrStandInBut(s, assignee, func(string) bool { return false })
}

// escalationManager is whom a rung that notifies assignee's manager reaches:
// as managerOrStandIn, but never someone with a seat on the step (see
// notifyTargets).
func (t *tx) escalationManager(s *Step, assignee string) string {
	return t.managerOrStandInBut(s, assignee, t.in.holdsSeat)
}

func (t *tx) managerOrStandInBut(s *Step, assignee string, skip func(string) bool) string {
	for _, m := range append([]string{t.e.dir.Manager(assignee), t.def.Owner}, t.adminIDs()...) {
		if m != "" && m != assignee && !t.selfApproval(s, m) && !skip(m) {
			return m
		}
	}
	return ""
}

// move is what an escalation rung that reassigns does to one pending task:
// the person it moves to, or "" and why it stays.
type move struct {
	task    int // index in Tasks
	to, why string
}

// plannedMoves is what an escalation rung that reassigns (to the manager or
// person:ID) does to each pending task, in order. Someone on the step (or
// given a task by an earlier move) keeps one task: moving a second one to
// them would let one person count twice towards all or a quorum.
func (t *tx) plannedMoves(s *Step, target string) []move {
	holds := map[string]int{} // the people on the step, and how many tasks they hold
	for _, o := range t.in.Tasks {
		for _, p := range append([]string{o.Assignee}, o.Delegates...) {
			holds[p]++
		}
	}
	var out []move
	for i, task := range t.in.Tasks {
		if task.Decision != Pending {
			continue
		}
		to := ""
		if target == "manager" {
			to = t.e.dir.Manager(task.Assignee)
		} else {
			_, to, _ = strings.Cut(target, ":")
		}
		why := ""
		switch {
		case to == "" && target == "manager":
			why = t.name(task.Assignee) + " has no manager in the directory"
		case to == "":
			why = "no one is named"
		case holds[to] > 0:
			why = t.name(to) + " is already on the step"
		case t.selfApproval(s, to):
			why = t.name(to) + " may not approve their own request"
		}
		if why != "" {
			out = append(out, move{task: i, why: why})
			continue
		}
		for _, p := range append([]string{task.Assignee}, task.Delegates...) {
			holds[p]--
		}
		holds[to]++
		out = append(out, move{task: i, to: to})
	}
	return out
}

// returnToRequester sends a rejected or changes-requested request back.
func (t *tx) returnToRequester(d Decision, by, reason string) {
	in := t.in
	s := t.def.Step(in.Step)
	if in.Seen == nil {
		in.Seen = map[string]map[string]any{}
	}
	in.Seen[in.Step] = maps.Clone(in.Data)
	in.Outcome = reason
	in.Status = StatusChangesRequested
	if d == Rejected {
		in.Status = StatusRejected
	}
	m := t.returnedCard(s, d, by, reason)
	switch {
	case in.Round < s.MaxRounds:
		m.Actions = append(m.Actions, resubmitButton(in))
		m.Context = append(m.Context, fmt.Sprintf("You can resubmit %s.", Plural(s.MaxRounds-in.Round, "more time", "more times")))
	case d == Rejected:
		// Its last round: nothing can be resubmitted, so the rejection is
		// final and the request closed (it stayed open for ever, with
		// nothing to do but withdraw it).
		in.Status, in.Completed = StatusDeclined, t.now
		t.record(AuditEntry{Action: "declined", Reason: fmt.Sprintf("rejected at its last round (%d of %d): nothing is left to resubmit", in.Round, s.MaxRounds)})
		m.Context = append(m.Context, fmt.Sprintf("That was its last round (%d of %d): the request is closed.", in.Round, s.MaxRounds))
		t.notify(Recipient{Person: in.Requester}, t.returnedKey(), "", m)
		return
	}
	m.Actions = append(m.Actions, Action{Kind: ActWithdraw, Label: "Withdraw", Instance: in.ID, Step: in.Step, Round: in.Round})
	t.notify(Recipient{Person: in.Requester}, t.returnedKey(), "", m)
}

// lowerFirst is s with its first letter in lower case, to go on a
// sentence ("No decision within 2 d" → "…: no decision within 2 d").
func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// returnedCard is the card that tells the requester their request came
// back from step s, without its buttons.
func (t *tx) returnedCard(s *Step, d Decision, by, reason string) *Message {
	in := t.in
	kind, title := MsgChanges, "Changes requested"
	if d == Rejected {
		kind, title = MsgOutcome, "Rejected"
	}
	m := t.baseCard(s, kind)
	m.Title = fmt.Sprintf("%s: %s %s (%s)", title, t.def.Name, in.ID, in.Title)
	who := t.name(by)
	if h := in.lastRecord(in.Step, in.Round); h != nil && h.By == by && len(h.For) > 0 { // a delegate, a stand-in
		who += " (for " + t.names(h.For) + ")"
	}
	m.Text = fmt.Sprintf("%s %s at %s.\nReason: %s", who, map[Decision]string{Rejected: "rejected your request", Changes: "asked for changes"}[d], s.Name, reason)
	if by == System { // on_timeout: reject
		m.Text = fmt.Sprintf("Your request was rejected automatically at %s.\nReason: %s", s.Name, reason)
	}
	return m
}

func (t *tx) returnedKey() string { return "requester/" + t.in.Step + "/" + fmt.Sprint(t.in.Round) }

// closeReturned takes the buttons (Edit and resubmit, Withdraw) off the card
// that sent the request back, once the request is resubmitted, withdrawn or
// cancelled, and says which. Call it before the instance moves on.
func (t *tx) closeReturned(outcome string) {
	in := t.in
	s := t.step()
	if in.Status != StatusChangesRequested && in.Status != StatusRejected || s == nil || len(in.History) == 0 {
		return
	}
	h := in.History[len(in.History)-1]
	m := t.returnedCard(s, Decision(h.Outcome), h.By, h.Reason)
	by := "" // the requester needs no telling it was them
	if t.ev.Actor != in.Requester {
		by = t.name(t.ev.Actor)
	}
	m.Outcome = t.outcomeLine(outcome, by, t.e.dir.Location(in.Requester))
	t.effects = append(t.effects, Effect{Kind: EffectUpdate, Card: t.returnedKey(), Msg: m})
}

// advance runs the steps after index from (-1: the first) until one waits
// for someone, or the flow ends. A step that runs continues at its next; a
// step whose condition is false is passed over, to the step below it (so a
// conditional step with a next is a branch).
func (t *tx) advance(from int) {
	if back := t.def.Step(t.in.Returning); back != nil {
		t.resume(back)
		// Back after an earlier step (a resubmission tells them itself;
		// and so does resume, when back no longer applies).
		if t.ev.Kind != EventResubmit && t.applies(back) {
			t.tellSentBackNotAsked(back, t.in.Changes, t.in.Note)
		}
		return
	}
	t.in.Returning = "" // the flow no longer has it: go on from here
	i := 0
	if from >= 0 {
		i = t.def.successor(from)
	}
	t.continueAt(i)
}

// nextToAsk walks the flow from its first step to step index k with the
// data as it is now, as continueAt would, and returns the first step on
// that way that the request has not been through: one the flow went past
// before (Passed) and that applies now (a resubmission's edits made it
// apply, or it sent the request back itself after being asked so), or one
// it never reached, as the old data's way jumped over it (next). It is no
// longer counted as passed. Notify steps on the way are sent, not asked.
// Nil when the way reaches k.
func (t *tx) nextToAsk(k int) *Step {
	in := t.in
	for s := range t.wayBack(k) {
		if !slices.Contains(in.Passed, s.ID) && in.lastRecord(s.ID, 0) != nil {
			continue
		}
		in.Passed = slices.DeleteFunc(in.Passed, func(id string) bool { return id == s.ID })
		if s.Kind != StepNotify {
			return s
		}
		t.notifyStep(s)
	}
	return nil
}

// wayBack yields, in order, the steps before index k that the way back
// goes through as the data now takes it: a step whose condition is false
// leads to the step below it, any other to its successor (next jumps only
// forward).
func (t *tx) wayBack(k int) iter.Seq[*Step] {
	return func(yield func(*Step) bool) {
		for i := 0; i < k; {
			s := &t.def.Steps[i]
			if !t.applies(s) {
				i++
				continue
			}
			if !yield(s) {
				return
			}
			i = t.def.successor(i)
		}
	}
}

// reopen puts the approval steps before index k whose last approval the
// changes undo among the steps asked on the way back (with the steps that
// now apply): a step is undone by a change of a field it names in
// reapprove_on or whose value names its assignees (field:NAME). Each is
// recorded, and shows its reviewers what changed since the data before
// this resubmission. It returns their ids.
func (t *tx) reopen(k int, changes []Change, before map[string]any) []string {
	in := t.in
	var out []string
	// Only steps the way back goes through: one whose condition is now
	// false, or off the path the data now takes, is not asked again.
	for s := range t.wayBack(k) {
		if s.Kind != StepApproval || slices.Contains(in.Passed, s.ID) {
			continue
		}
		h := in.lastRecord(s.ID, 0)
		if h == nil || h.Outcome != string(Approved) {
			continue
		}
		var labels []string
		watched := s.Reapprove()
		for _, c := range changes {
			if slices.Contains(watched, c.Field) {
				labels = append(labels, c.Label)
			}
		}
		if len(labels) == 0 {
			continue
		}
		in.Passed = append(in.Passed, s.ID)
		if in.Seen == nil {
			in.Seen = map[string]map[string]any{}
		}
		in.Seen[s.ID] = before
		t.record(AuditEntry{Actor: System, Action: "reopened", Step: s.ID, Round: h.Round,
			Reason: fmt.Sprintf("%s changed after its approval", JoinNames(labels))})
		out = append(out, s.ID)
	}
	return out
}

// applies reports whether s's condition (if any) holds for the data now.
func (t *tx) applies(s *Step) bool { return applies(s, t.in) }

// applies reports whether s's condition (if any) holds for in's data now.
// A condition that cannot be evaluated fails safe, as in continueAt: a
// person's step applies (a resubmission breaking the condition does not
// take the request past an approval); a webhook's does not (it is not
// called on a guess).
func applies(s *Step, in *Instance) bool {
	if s.cond == nil {
		return true
	}
	ok, err := s.cond.eval(in.Data, in.Requester, in)
	if err != nil {
		return s.Kind != StepWebhook
	}
	return ok
}

// ask activates s on the way back to another step: a step that decided
// before (it sent the request back) sees what changed since; one asked for
// the first time sees the request as it is.
func (t *tx) ask(s *Step) {
	t.in.Changes = nil
	if t.in.Seen[s.ID] != nil {
		t.in.Changes = t.changesSince(s)
	}
	t.activate(s)
}

// resume goes on after a step asked because a resubmission made it apply:
// to the next such step, else back to back, the step that sent the request
// back (Returning), as its next round. It returns whom it told that back no
// longer applies, if the edits took it out of its condition.
func (t *tx) resume(back *Step) []string {
	in := t.in
	k := t.def.StepIndex(back.ID)
	if s := t.nextToAsk(k); s != nil {
		t.ask(s)
		return nil
	}
	in.Returning = ""
	in.Changes = t.changesSince(back)
	if !t.applies(back) {
		t.pass(back)
		told := t.noLongerApplies(back, in.Rounds[back.ID], in.Changes)
		in.Changes, in.Note = nil, ""
		t.continueAt(k + 1)
		return told
	}
	t.activate(back)
	return nil
}

// pass notes that the flow went past s because its condition was false.
func (t *tx) pass(s *Step) {
	if !slices.Contains(t.in.Passed, s.ID) {
		t.in.Passed = append(t.in.Passed, s.ID)
	}
}

// changesSince is what changed in the form since step s last decided.
func (t *tx) changesSince(s *Step) []Change {
	seen := t.in.Seen[s.ID]
	var changes []Change
	for _, f := range t.def.Form {
		oldV, newV := FormatValue(seen[f.Name]), FormatValue(t.in.Data[f.Name])
		if oldV != newV {
			changes = append(changes, Change{Field: f.Name, Label: f.Label, Old: oldV, New: newV})
		}
	}
	return changes
}

// continueAt runs the flow on from step i: the first step whose condition
// holds is activated (notify steps are sent on the way); past the last, the
// request is complete.
func (t *tx) continueAt(i int) {
	for i < len(t.def.Steps) {
		s := &t.def.Steps[i]
		if s.cond != nil {
			ok, err := s.cond.eval(t.in.Data, t.in.Requester, t.in)
			if err != nil {
				// Failing safe: a step is not passed over for a condition
				// it could not check (a webhook's reply without the field
				// it names, a number stored as text), as that would let a
				// request past an approval. A person is asked, or told;
				// a system is not called, and the request fails (or goes
				// on, if the step says on_error: continue), as if its call
				// had.
				reason := "condition could not be evaluated: " + err.Error()
				switch {
				case s.Kind == StepWebhook && s.Webhook.OnError == "continue":
					t.record(AuditEntry{Actor: System, Action: "skipped", Step: s.ID, Reason: reason + "; on_error is continue"})
					i++
					continue
				case s.Kind == StepWebhook:
					t.record(AuditEntry{Actor: System, Action: "condition_failed", Step: s.ID, Reason: reason})
					t.in.Step, t.in.Round = s.ID, max(t.in.Rounds[s.ID], 1) // where it failed, as a failed call leaves it
					t.fail(s, reason, "")
					return
				}
				t.record(AuditEntry{Actor: System, Action: "condition_failed", Step: s.ID, Reason: reason + "; the step is asked, to be safe"})
				ok = true
				t.unsure = unsureNote + " (" + err.Error() + ")" // said on its cards (routedFor)
			}
			if !ok {
				t.record(AuditEntry{Actor: System, Action: "skipped", Step: s.ID, Reason: "condition is false: " + s.When})
				t.pass(s)
				i++
				continue
			}
		}
		if len(t.in.Passed) > 0 { // it applies this time
			t.in.Passed = slices.DeleteFunc(t.in.Passed, func(id string) bool { return id == s.ID })
		}
		if s.Kind == StepNotify {
			t.notifyStep(s)
			i = t.def.successor(i)
			continue
		}
		t.activate(s)
		return
	}
	t.complete()
}

func (t *tx) complete() {
	in := t.in
	in.Status, in.Step, in.Round, in.StepStarted, in.Completed = StatusCompleted, "", 0, time.Time{}, t.now
	in.Passed, in.Returning = nil, ""
	// Approved when an approval was given (the last round of an approval
	// step that ran ended approved); otherwise completed: the flow has no
	// approval, its conditions or jumps passed them over, or its owner or
	// an admin skipped them (the notice says so).
	approved := false
	last := map[string]int{} // each step's last record: an approval reopened and given again is listed once
	for i, h := range in.History {
		last[h.Step] = i
	}
	var lines []string
	for i, h := range in.History {
		s := t.def.Step(h.Step)
		if s == nil || last[h.Step] != i {
			continue
		}
		switch h.Outcome {
		case string(Approved), string(Done):
			approved = approved || h.Outcome == string(Approved)
			by := h.Deciders
			if len(by) == 0 { // recorded before deciders were
				by = []string{h.By}
			}
			switch {
			case len(by) == 1 && by[0] == System && h.Outcome == string(Approved): // on_timeout: approve
				lines = append(lines, fmt.Sprintf("%s: approved automatically: %s", s.Name, lowerFirst(h.Reason)))
			case len(by) == 1 && by[0] == System: // a webhook's call
				lines = append(lines, fmt.Sprintf("%s: %s", s.Name, strings.ToLower(DecisionWords(h.Outcome))))
			default:
				line := fmt.Sprintf("%s: %s by %s", s.Name, strings.ToLower(DecisionWords(h.Outcome)), t.names(by))
				if len(h.For) > 0 { // delegates decided: whose tasks they were
					line += " (for " + t.names(h.For) + ")"
				}
				lines = append(lines, line)
			}
		case "skipped":
			lines = append(lines, fmt.Sprintf("%s: skipped by %s: %s", s.Name, t.name(h.By), h.Reason))
		}
	}
	in.Outcome = "approved"
	if !approved { // no approval given: none ran, or each was skipped or passed over
		in.Outcome = "completed"
	}
	t.record(AuditEntry{Actor: System, Action: "completed"})
	m := t.baseCard(nil, MsgOutcome)
	m.Title = fmt.Sprintf("%s: %s %s (%s)", DecisionWords(in.Outcome), t.def.Name, in.ID, in.Title)
	m.Text = strings.Join(lines, "\n")
	t.notify(Recipient{Person: in.Requester}, "requester/done", "", m)
}

// render executes a step's template (a notify message, a task's
// instructions) on the request's data, people by name; as written if it
// fails.
func (t *tx) render(tmpl *template.Template, written string) string {
	var b strings.Builder
	data := t.def.templateData()
	data["id"], data["requester"], data["title"] = t.in.ID, t.name(t.in.Requester), t.in.Title
	for k, v := range t.in.Data {
		data[k] = FormatValue(v)
		if f := t.def.Field(k); f != nil && f.Kind == FieldPerson && data[k] != "" {
			data[k] = t.name(data[k].(string)) // as {{.requester}} is: by name
		}
	}
	if err := tmpl.Execute(&b, data); err != nil {
		return written
	}
	return b.String()
}

// notifyStep sends a notify step's message.
func (t *tx) notifyStep(s *Step) {
	m := &Message{Kind: MsgInfo, Instance: t.in.ID, Flow: t.in.Flow, Step: s.ID, Title: fmt.Sprintf("%s %s: %s", t.def.Name, t.in.ID, t.in.Title), Text: t.render(s.msg, s.Message)}
	var sent []string
	for _, to := range s.To {
		for _, r := range t.recipients(to, t.in.Requester) {
			who := cmp.Or(r.Person, "#"+r.Channel)
			if slices.Contains(sent, who) { // e.g. the requester is also in the group: once is enough
				continue
			}
			t.notify(r, "notify/"+s.ID, "", m)
			sent = append(sent, who)
		}
	}
	t.in.History = append(t.in.History, StepRecord{Step: s.ID, Round: 1, Started: t.now, Ended: t.now, Outcome: "notified", By: System, Assigned: sent})
	t.record(AuditEntry{Actor: System, Action: "notified", Step: s.ID, Detail: map[string]string{"to": strings.Join(sent, ", ")}})
}

// recipients resolves a notify target; "manager" means about's manager.
func (t *tx) recipients(target, about string) []Recipient {
	switch target {
	case "requester":
		return []Recipient{{Person: t.in.Requester}}
	case "owner":
		return []Recipient{{Person: t.def.Owner}}
	case "manager":
		if m := t.e.dir.Manager(about); m != "" {
			return []Recipient{{Person: m}}
		}
		return []Recipient{{Person: t.def.Owner}}
	}
	kind, id, _ := strings.Cut(target, ":")
	switch kind {
	case "channel":
		return []Recipient{{Channel: id}}
	case "field": // whoever the field names: nobody when it was left empty
		if p := t.fieldAssignee(id); p != "" {
			return []Recipient{{Person: p}}
		}
		return nil
	case "group":
		var out []Recipient
		for _, p := range t.e.dir.Members(id) {
			out = append(out, Recipient{Person: p})
		}
		return out
	}
	return []Recipient{{Person: id}}
}

// activate starts a new round of a step that waits for people or a system.
func (t *tx) activate(s *Step) {
	in := t.in
	if in.Rounds == nil {
		in.Rounds = map[string]int{}
	}
	in.Rounds[s.ID]++
	in.Step, in.Round, in.StepStarted, in.Status = s.ID, in.Rounds[s.ID], t.now, StatusRunning
	in.Tasks, in.Escalated, in.EscalatedChannels, in.StandingIn, in.Overdue, in.Due, in.Timers = nil, nil, nil, nil, false, time.Time{}, nil
	if s.Due > 0 && s.Kind == StepWebhook { // a system's reply is timed on the clock
		in.Due = t.now.Add(s.Due)
		t.setTimer(TimerTimeout, 0, in.Due)
	}
	if s.Kind == StepWebhook {
		body := map[string]any{"instance": in.ID, "flow": in.Flow, "step": s.ID, "round": in.Round,
			"requester": in.Requester, "data": in.Data, "refs": in.Refs}
		t.effects = append(t.effects, Effect{Kind: EffectWebhook, Webhook: &WebhookCall{URL: s.Webhook.URL, Secret: s.Webhook.Secret,
			Retries: s.Webhook.Retries, Step: s.ID, Round: in.Round, Body: body, Due: in.Due}})
		t.record(AuditEntry{Actor: System, Action: "webhook_called", Detail: map[string]string{"url": HookTarget(s.Webhook.URL)}})
		return
	}
	people, note := t.assignees(s)
	if len(people) == 0 { // nobody but the requester could approve it: never them
		t.record(AuditEntry{Actor: System, Action: "assign_failed", Reason: note})
		t.fail(s, note, "")
		return
	}
	seated := slices.Clone(people) // one seat each: a stand-in for one task is not one for another
	for _, p := range people {
		task := Task{Assignee: p, Since: t.now}
		if standIn, line := t.standIn(s, p, people, seated); line != "" {
			if standIn != "" {
				task.Delegates, task.StandIn = []string{standIn}, standIn
				seated = append(seated, standIn)
			}
			note = strings.TrimPrefix(note+"; ", "; ") + line
		}
		in.Tasks = append(in.Tasks, task)
	}
	if t.unsure != "" { // why it was asked at all
		note = strings.TrimPrefix(note+"; ", "; ") + t.unsure
		t.unsure = ""
	}
	in.Routed = note
	if s.Due > 0 {
		in.Due = t.after(t.now, s.Due, s.due)
		t.setTimer(TimerTimeout, 0, in.Due)
	}
	if s.Remind.Every > 0 {
		t.setTimer(TimerRemind, 1, t.after(t.now, s.Remind.Every, s.every))
	}
	for i, r := range s.Escalate {
		t.setTimer(TimerEscalate, i, t.after(t.now, r.After, s.rungSpan(i)))
	}
	detail := map[string]string{"assignees": strings.Join(people, ", ")}
	if note != "" {
		detail["note"] = note
	}
	if len(in.Changes) > 0 {
		for _, c := range in.Changes {
			detail["changed."+c.Field] = c.String()
		}
	}
	t.record(AuditEntry{Actor: System, Action: "assigned", Detail: detail})
	t.sendCards(s, MsgTask, "")
}

// awayNow returns p's time away, if p is away now (ev.Away).
func (t *tx) awayNow(p string) (Away, bool) {
	a, ok := t.ev.Away[p]
	return a, ok && t.now.Before(a.Until)
}

// standIn returns, when p is away (ev.Away), who stands in for p on a new
// task of step s, and the routing note saying so: the stand-in p named,
// else p's backup, else p's manager, else the flow's owner, else an admin;
// not p, nobody already seated on the step, nobody away themself, never
// the requester of an approval they may not give themselves ("" if nobody
// can). On an any step, a named stand-in already among people covers it:
// nobody else is brought in. Both are "" when p is not away.
func (t *tx) standIn(s *Step, p string, people, seated []string) (string, string) {
	a, away := t.awayNow(p)
	if !away {
		return "", ""
	}
	line := fmt.Sprintf("%s is away through %s, and ", t.name(p), AwayThrough(a.Until, t.e.dir.Location(p)))
	if a.StandIn != "" && slices.Contains(people, a.StandIn) && s.Kind == StepApproval && s.Policy == PolicyAny {
		return "", line + t.name(a.StandIn) + ", on this step too, stands in"
	}
	for _, c := range append([]string{a.StandIn, t.e.dir.Backup(p), t.e.dir.Manager(p), t.def.Owner}, t.adminIDs()...) {
		if _, away := t.awayNow(c); c != "" && c != p && !away && !slices.Contains(seated, c) && !t.selfApproval(s, c) {
			return c, line + t.name(c) + " stands in"
		}
	}
	return "", line + "nobody can stand in"
}

// awayStandIn is who stands in for p, when p is away (standIn), for work
// an escalation brings them: "" when p is not away, or nobody can. Nobody
// with a seat on the step stands in, decided or not: they have the step's
// card, and one person never fills two seats.
func (t *tx) awayStandIn(s *Step, p string) string {
	if _, away := t.awayNow(p); !away { // cards ask on every render: nothing to work out
		return ""
	}
	var seated []string
	for _, task := range t.in.Tasks {
		seated = append(append(seated, task.Assignee), task.Delegates...)
	}
	si, _ := t.standIn(s, p, nil, seated)
	return si
}

// sendCards sends the step's card to each pending assignee (or once to the
// step's channel). thread, when set, makes them replies to the first cards.
func (t *tx) sendCards(s *Step, kind MessageKind, text string) {
	if s.Channel != "" {
		m := t.taskCard(s, kind, "")
		if text != "" {
			m.Text = text
		}
		key := t.channelCard(s.Channel)
		thread := ""
		if kind == MsgReminder {
			key, thread = key+"/r"+fmt.Sprint(t.now.UnixMilli()), key
		}
		t.notify(Recipient{Channel: s.Channel}, key, thread, m)
	}
	for i, task := range t.in.Tasks {
		if task.Decision != Pending {
			continue
		}
		for _, p := range carded(s, task) {
			m := t.taskCard(s, kind, p)
			if text != "" {
				m.Text = text
			}
			key, thread := t.personCard(p), ""
			if kind == MsgReminder {
				key, thread = key+"/r"+fmt.Sprint(t.now.UnixMilli()), key
				t.reminded(&t.in.Tasks[i], p)
			}
			t.notify(Recipient{Person: p}, key, thread, m)
		}
	}
}

// reminded notes that p was sent a reminder in the thread of their card
// of task.
func (t *tx) reminded(task *Task, p string) {
	if !slices.Contains(task.Reminded, p) {
		task.Reminded = append(task.Reminded, p)
	}
}

// after returns when a wait of d (written as sp) that began at from ends:
// d later, or, in a flow that counts working hours, once the people the
// step waits on have worked that long (at least one of them at a time, each
// in their timezone; a day of sp is a working day).
func (t *tx) after(from time.Time, d time.Duration, sp Span) time.Time {
	if !t.def.WorkingHours {
		return from.Add(d)
	}
	// In UTC, as every other time kept: the instant is the same, and an
	// API reader or a subscriber need not meet one person's offset.
	return t.e.hours.Add(from, t.waitingLocations(), t.e.hours.Length(span(d, sp))).UTC()
}

// waitingLocations returns the timezones of the people the step waits on
// (the working hours' own when it waits on nobody).
func (t *tx) waitingLocations() []*time.Location {
	var locs []*time.Location
	for _, task := range t.in.Tasks {
		if task.Decision != Pending {
			continue
		}
		for _, p := range append([]string{task.Assignee}, task.Delegates...) { // a stand-in's hours too
			loc := t.e.dir.Location(p)
			if !slices.ContainsFunc(locs, func(l *time.Location) bool { return l.String() == loc.String() }) {
				locs = append(locs, loc)
			}
		}
	}
	if len(locs) == 0 { // no one left to wait on
		locs = append(locs, t.e.dir.Location(""))
	}
	return locs
}

func (t *tx) setTimer(kind TimerKind, n int, at time.Time) {
	t.addTimer(Timer{ID: t.timerID(kind, strconv.Itoa(n)), Kind: kind, Step: t.in.Step, Round: t.in.Round, N: n, At: at})
}

// timerID names a timer of the current step and round: its kind, then what
// tells it from others of that kind.
func (t *tx) timerID(kind TimerKind, which string) string {
	return t.in.Step + "/" + strconv.Itoa(t.in.Round) + "/" + string(kind) + "/" + which
}

// addTimer sets tm: in the state, and as an effect. Its time is kept in
// UTC, as every time kept (one counted in someone's zone included).
func (t *tx) addTimer(tm Timer) {
	tm.At = tm.At.UTC()
	t.in.Timers = append(t.in.Timers, tm)
	t.effects = append(t.effects, Effect{Kind: EffectSetTimer, Timer: &tm})
}

// assignees resolves a step's assignee references to people.
func (t *tx) assignees(s *Step) ([]string, string) {
	in := t.in
	var people, skipped []string
	add := func(ids ...string) {
		for _, id := range ids {
			if id != "" && !slices.Contains(people, id) {
				people = append(people, id)
			}
		}
	}
	for _, a := range s.Assignees {
		switch a {
		case "manager":
			add(t.e.dir.Manager(in.Requester))
		case "requester":
			add(in.Requester)
		case "owner":
			add(t.def.Owner)
		default:
			kind, id, _ := strings.Cut(a, ":")
			switch kind {
			case "person":
				add(id)
			case "group":
				add(t.e.dir.Members(id)...)
			case "field":
				v := t.fieldAssignee(id)
				if _, outside := ExternalEmail(v); outside && s.Kind != StepApproval {
					// Their mail links to approvals only (a task output may
					// name them; the start form may not).
					skipped = append(skipped, t.name(v)+" is outside the workspace and cannot do a task")
					continue
				}
				add(v)
			case "email":
				add(t.e.dir.Resolve("email", id))
			}
		}
	}
	notes := skipped
	if s.Kind == StepApproval && !s.AllowSelfApproval && slices.Contains(people, in.Requester) {
		people = slices.DeleteFunc(people, func(p string) bool { return p == in.Requester })
		notes = append(notes, "the requester may not approve their own request")
	}
	// Stand-ins: the requester's manager, else the owner, else an admin;
	// never the requester of an approval they may not give themselves.
	standIns := func(n int) []string {
		var out []string
		for _, c := range append([]string{t.e.dir.Manager(in.Requester), t.def.Owner}, t.adminIDs()...) {
			if len(out) < n && c != "" && !t.selfApproval(s, c) && !slices.Contains(people, c) && !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
		return out
	}
	if len(people) == 0 {
		words := make([]string, len(s.Assignees))
		for i, a := range s.Assignees {
			words[i] = t.assigneeWords(a)
		}
		fallback := standIns(1)
		if len(fallback) == 0 { // only the requester is left, who may not approve it
			notes = append(notes, fmt.Sprintf("no one is available %s, and nobody else may approve it (the requester's manager, the flow's owner and every admin are missing or the requester)", JoinNames(words)))
			return nil, strings.Join(notes, "; ")
		}
		add(fallback...)
		notes = append(notes, fmt.Sprintf("no one is available %s; assigned to %s instead", JoinNames(words), t.name(fallback[0])))
	}
	// A quorum is never lowered quietly: too few people (the requester left
	// out, a small group) bring in stand-ins, and if there are not enough of
	// those either, the record says so.
	if s.Kind == StepApproval && s.Policy == PolicyQuorum && len(people) < s.Quorum {
		more := standIns(s.Quorum - len(people))
		if len(more) > 0 {
			add(more...)
			notes = append(notes, fmt.Sprintf("a quorum of %d needs more people; added %s", s.Quorum, t.names(more)))
		}
		if len(people) < s.Quorum {
			notes = append(notes, fmt.Sprintf("only %d people can approve; the quorum of %d is lowered to %d", len(people), s.Quorum, len(people)))
		}
	}
	return people, strings.Join(notes, "; ")
}

// assigneeWords says whom an assignee reference names, in a routing note's
// words ("no one is available as the Editor named on the form"): the form's
// label, not the flow's syntax (field:editor).
func (t *tx) assigneeWords(a string) string {
	switch a {
	case "manager":
		return "as the requester's manager"
	case "requester":
		return "as the requester"
	case "owner":
		return "as the flow's owner"
	}
	kind, id, _ := strings.Cut(a, ":")
	switch kind {
	case "group":
		return "in the " + id + " group"
	case "field":
		if f := t.def.Field(id); f != nil {
			return "as the " + f.Label + " named on the form"
		}
	case "person", "email":
		return "as " + t.name(id)
	}
	return "as " + a
}

// unchangedNumbers is a resubmission's input with each number the form was
// pre-filled with and sent back as it was (1.125, written as Baton writes
// it) marked as a program's number (ProgramNumber): it is the stored value,
// and the requester is not asked whether they meant 1125.
func unchangedNumbers(form []Field, data map[string]any, input map[string]string) map[string]string {
	var out map[string]string
	for _, f := range form {
		n, isNum := data[f.Name].(float64)
		raw := strings.TrimSpace(input[f.Name])
		if f.Kind != FieldNumber || !isNum || raw != strconv.FormatFloat(n, 'f', -1, 64) {
			continue
		}
		if p := ProgramNumber(raw); p != raw {
			if out == nil {
				out = maps.Clone(input)
			}
			out[f.Name] = p
		}
	}
	if out == nil {
		return input
	}
	return out
}

// resubmit sends an edited request back to the step that returned it.
func (t *tx) resubmit() error {
	in := t.in
	s, err := t.mayResubmit()
	if s == nil {
		return err
	}
	data, err := t.e.parseStartForm(t.def, in.Requester, unchangedNumbers(t.def.Form, in.Data, t.ev.Data), t.now, in.Data)
	if err != nil {
		return err
	}
	before := maps.Clone(in.Data)
	t.closeReturned("resubmitted") // before the data changes: the card shows what was sent back
	for _, f := range t.def.Form {
		delete(in.Data, f.Name)
	}
	maps.Copy(in.Data, data)
	if in.Data == nil {
		in.Data = data
	}
	changes := t.changesSince(s)
	in.Title = t.def.renderTitle(in)
	in.Outcome = ""
	in.Changes, in.Note = changes, strings.TrimSpace(t.ev.Reason)
	detail := map[string]string{}
	for _, c := range changes {
		detail[c.Field] = c.String()
	}
	t.record(AuditEntry{Action: "resubmitted", Reason: t.ev.Reason, Detail: detail})
	// The notices of this resubmission are keyed by the send-back they answer.
	note, sentBack := in.Note, cardKey(s.ID, in.Round, "")
	if in.Returning != "" && t.def.Step(in.Returning) == nil {
		in.Returning = "" // the flow no longer has it: this step is where the request returns
	}
	// Sent back by a step asked on the way back to another (below): it is
	// asked again, after any step before it that now applies, and the
	// request still returns to that other step.
	if back := t.def.Step(in.Returning); back != nil && back.ID != s.ID {
		t.pass(s) // asked again on the way, if it still applies
		t.reopen(t.def.StepIndex(back.ID), changes, before)
		var told []string
		applies := t.applies(s)
		if !applies {
			told = t.noLongerApplies(s, in.Round, changes)
		}
		in.Changes = nil
		told = append(told, t.resume(back)...)
		if applies { // asked again now, on the way, or failed before: whoever sent it back and is not asked
			told = append(told, t.tellSentBackNotAsked(s, changes, note)...)
		}
		where := "" // a failure: their notice says where, and why
		if in.Status != StatusFailed {
			where = strings.TrimSuffix(t.afterText(), ".") // "Waiting on …", "The request is complete"
		}
		if where != "" {
			where = "; " + lowerFirst(where)
		}
		t.tellEarlierApprovers(back, sentBack, told, changes, note, "resubmitted it"+where)
		t.out.Text = fmt.Sprintf("Resubmitted %s. %s", in.ID, t.afterText()) + t.routedNote()
		return nil
	}
	// An earlier step the flow went past (its condition was false) may
	// apply now, and an earlier approval may no longer hold (the edits
	// change what it approved, reapprove_on): it is asked first (CFO
	// approval above 100,000, when the amount finance sent back was raised
	// past it), then the request returns here.
	reopened := t.reopen(t.def.StepIndex(s.ID), changes, before)
	if first := t.nextToAsk(t.def.StepIndex(s.ID)); first != nil {
		in.Returning = s.ID
		t.ask(first)
		how := "now applies and is asked first"
		if slices.Contains(reopened, first.ID) {
			how = "is asked again first, as the edits change what it approved"
		}
		told := t.tellSentBackNotAsked(s, changes, note) // if the request failed there: it will not come back
		t.tellEarlierApprovers(s, sentBack, told, changes, note, fmt.Sprintf("resubmitted it; %s %s", first.Name, how))
		then := fmt.Sprintf(", then %s again", s.Name)
		if !t.applies(s) { // the edits took it out of the step's condition: passed over on the way back
			then = fmt.Sprintf("; %s no longer applies", s.Name)
		}
		t.out.Text = fmt.Sprintf("Resubmitted %s: %s %s%s. %s", in.ID, first.Name, how, then, t.afterText()) + t.routedNote()
		return nil
	}
	// The edits may take the request out of the step's condition (an amount
	// lowered under finance's threshold): then it goes on, as if it had
	// never met the step.
	if !t.applies(s) {
		t.pass(s)
		told := t.noLongerApplies(s, in.Round, changes)
		in.Changes, in.Note = nil, ""           // for the step's reviewers, who will not see it
		t.continueAt(t.def.StepIndex(s.ID) + 1) // where a false condition leads: the step below, not its next
		t.tellEarlierApprovers(s, sentBack, told, changes, note, fmt.Sprintf("resubmitted it; %s no longer applies", s.Name))
		t.out.Text = fmt.Sprintf("Resubmitted %s: %s no longer applies. %s", in.ID, s.Name, t.afterText()) + t.routedNote()
		return nil
	}
	t.activate(s)
	told := t.tellSentBackNotAsked(s, changes, note)
	t.tellEarlierApprovers(s, sentBack, told, changes, note, "resubmitted it to "+s.Name)
	t.out.Text = fmt.Sprintf("Resubmitted %s (round %d). %s", in.ID, in.Round, t.afterText()) + t.routedNote()
	return nil
}

// reasonNoLongerApplies begins the reason recorded when a resubmission's
// edits take a step that decided out of its condition (the status view
// shows it as "Not needed now").
const reasonNoLongerApplies = "condition is false now: "

// noLongerApplies records that the edits took s, which decided round,
// out of its condition, and tells whoever sent the request back there
// (tellNotNeeded); it returns whom it told.
func (t *tx) noLongerApplies(s *Step, round int, changes []Change) []string {
	t.record(AuditEntry{Actor: System, Action: "skipped", Step: s.ID, Round: round, Reason: reasonNoLongerApplies + s.When})
	return t.tellNotNeeded(s, changes)
}

// tellNotNeeded tells whoever sent the request back at s (its last round)
// that the resubmission's edits took the request out of s's condition:
// nothing more is asked of them.
func (t *tx) tellNotNeeded(s *Step, changes []Change) []string {
	in := t.in
	if h := in.lastRecord(s.ID, 0); h != nil {
		did := map[string]string{string(Changes): "asked for changes", string(Rejected): "rejected it"}[h.Outcome]
		if did == "" || h.By == "" || h.By == System {
			return nil
		}
		var told []string
		for _, p := range append([]string{h.By}, h.For...) { // and whose task a delegate decided
			if p == in.Requester || slices.Contains(told, p) {
				continue
			}
			told = append(told, p)
			who := "you"
			if p != h.By {
				who = "your delegate"
			}
			when := "" // the condition, unless p may not read it (conditionFor)
			if c := t.conditionFor(p, s); c != "" {
				when = " (it is asked only when " + c + ")"
			}
			m := t.changeNotice(p, s, h.Round, "No longer needed", fmt.Sprintf("%s changed %s after %s %s at %s, and %s no longer applies%s: nothing more is asked of you.",
				t.name(in.Requester), in.ID, who, did, s.Name, s.Name, when), changes, "")
			t.notify(Recipient{Person: p}, "unneeded/"+cardKey(s.ID, h.Round, p), "", m)
		}
		return told
	}
	return nil
}

// tellSentBackNotAsked tells whoever sent the request back at s (its
// round before the one just begun), and is not asked in the new round,
// that it was resubmitted, and whom it waits on now: a stand-in whose
// time is over, a delegate, an escalation target or an admin who asked
// for changes or rejected it (the assignees asked again get their cards;
// the others learn it as they would of a withdrawal). When the request
// failed on its way back to s (nobody may take s, or a step asked before
// it), all of them are told where and why, as nobody is asked: but the
// flow's owner and the admins, whom the failure's notice tells. It returns
// whom it told.
func (t *tx) tellSentBackNotAsked(s *Step, changes []Change, note string) []string {
	in := t.in
	failed := in.Status == StatusFailed
	if !failed && (in.Step != s.ID || in.Status != StatusRunning) { // not asked now: passed over, or after another step
		return nil
	}
	round := in.Round - 1 // s's round before the one just begun
	if failed && in.Step != s.ID {
		round = 0 // the request failed before it reached s: s's last round
	}
	h := in.lastRecord(s.ID, round)
	if h == nil {
		return nil
	}
	did := map[string]string{string(Changes): "asked for changes", string(Rejected): "rejected it"}[h.Outcome]
	if did == "" {
		return nil
	}
	deciders := h.Deciders
	if len(deciders) == 0 && h.By != "" {
		deciders = []string{h.By}
	}
	asked := append(in.Pending(), in.Escalated...)
	now := fmt.Sprintf("; it now waits on %s: nothing more is asked of you.", t.waitingNames())
	if failed {
		where := "there"
		if in.Step != s.ID {
			where = "at " + t.stepName()
		}
		now = fmt.Sprintf(", but it failed %s at once: %s. Nothing more is asked of you.", where, in.Outcome)
		asked = append(asked, t.def.Owner) // told by the failure's notice, with what they may do
		asked = append(asked, t.adminIDs()...)
	}
	var told []string
	for _, p := range append(slices.Clone(deciders), h.For...) { // and whose task a delegate decided
		if p == System || p == in.Requester || slices.Contains(asked, p) || slices.Contains(told, p) {
			continue
		}
		told = append(told, p)
		who := "you"
		switch {
		case !slices.Contains(deciders, p):
			who = "your delegate"
		case p == h.By && len(h.For) > 0 && !slices.Contains(h.For, p):
			who = "you, on behalf of " + t.names(h.For) + ","
		}
		m := t.changeNotice(p, s, h.Round, "Resubmitted", fmt.Sprintf("%s resubmitted %s after %s %s at %s%s",
			t.name(in.Requester), in.ID, who, did, s.Name, now), changes, note)
		t.notify(Recipient{Person: p}, "resubmitted/"+cardKey(s.ID, h.Round, p), "", m)
	}
	return told
}

// changeNotice is the notice to someone (to) who decided round of step
// that a resubmission changed the request: lead says what it means for
// them, then come the changes (those they may see) and the requester's
// note ("": none). It has no "Round N" line: a task card's is the round
// it asks about, and here it would be the request's round now (often
// another step's), not that of their decision, which lead names.
func (t *tx) changeNotice(to string, step *Step, round int, title, lead string, changes []Change, note string) *Message {
	in := t.in
	changes = t.changesFor(to, changes)
	m := t.baseCard(step, MsgInfo)
	m.Step, m.Round = step.ID, round
	if in.Round > 1 {
		line := fmt.Sprintf("Round %d", in.Round)
		m.Context = slices.DeleteFunc(m.Context, func(c string) bool { return c == line })
	}
	m.Title = fmt.Sprintf("%s: %s %s (%s)", title, t.def.Name, in.ID, in.Title)
	var b strings.Builder
	b.WriteString(lead)
	if len(changes) > 0 { // a resubmission may change nothing but say why, in its note
		b.WriteString("\nWhat changed this time:")
	}
	for _, c := range t.shownChanges(changes) {
		fmt.Fprintf(&b, "\n• %s%s", LabelColon(c.Label), c)
	}
	if note != "" {
		fmt.Fprintf(&b, "\nTheir note: %s", note)
	}
	m.Text = b.String()
	m.Actions = []Action{{Kind: ActStatus, Label: "Status", Instance: in.ID}}
	return m
}

// shownChanges is changes as a card shows them: people by name, as its
// fields show them.
func (t *tx) shownChanges(changes []Change) []Change {
	out := slices.Clone(changes)
	for i, c := range out {
		if f := t.def.Field(c.Field); f != nil && f.Kind == FieldPerson {
			out[i].Old, out[i].New = t.personName(c.Old), t.personName(c.New)
		}
	}
	return out
}

// tellEarlierApprovers tells whoever approved an earlier step than s (its
// last round) that the request changed when it was resubmitted after the
// send-back sentBack (a card key prefix, step/round/); did says what became
// of it. Their approval stands, and they should not learn of the change by
// chance. Call it once the request has moved on: those it now waits on
// with the changes on their cards, and told (told already, of something
// else), get no notice.
func (t *tx) tellEarlierApprovers(s *Step, sentBack string, told []string, changes []Change, note, did string) {
	if len(changes) == 0 {
		return
	}
	in := t.in
	told = slices.Clone(told)                              // told already, of something else
	if in.Status == StatusRunning && len(in.Changes) > 0 { // the new cards show the changes
		told = append(append(told, in.Pending()...), in.Escalated...)
	}
	back := t.def.StepIndex(s.ID)
	var steps []string
	for i := len(in.History) - 1; i >= 0; i-- {
		h := in.History[i]
		step := t.def.Step(h.Step)
		if step == nil || step.Kind != StepApproval || t.def.StepIndex(h.Step) >= back || slices.Contains(steps, h.Step) {
			continue
		}
		steps = append(steps, h.Step) // its last round only
		if h.Outcome != string(Approved) {
			continue
		}
		deciders := h.Deciders
		if len(deciders) == 0 && h.By != "" {
			deciders = []string{h.By}
		}
		for _, p := range append(slices.Clone(deciders), h.For...) { // and whose tasks a delegate decided
			if p == System || p == in.Requester || slices.Contains(told, p) {
				continue
			}
			told = append(told, p)
			approved := "you approved it"
			if !slices.Contains(deciders, p) {
				approved = "your delegate approved it"
			}
			stands := "The approval stands; nothing is asked of you."
			switch { // reopened: say of whom it is asked (did said that it is), as it is not of p
			case in.Step == step.ID && in.Status == StatusFailed: // reopened, and nobody may take it
				stands = fmt.Sprintf("The approval no longer stands, and the step failed at once: %s.", in.Outcome)
			case in.Status == StatusFailed:
				stands = fmt.Sprintf("The approval stands, but the request failed at %s at once: %s. Nothing is asked of you.", t.stepName(), in.Outcome)
			case in.Step == step.ID && in.Status == StatusRunning:
				stands = fmt.Sprintf("The approval no longer stands; the step now waits on %s.", t.waitingNames())
			case slices.Contains(in.Passed, step.ID):
				stands = "The approval no longer stands; the step will be asked again."
			default:
				if len(t.changesFor(p, changes)) == 0 {
					continue // someone outside the workspace, and only internal fields changed: nothing for them
				}
			}
			m := t.changeNotice(p, step, h.Round, "Changed after "+approved, fmt.Sprintf("%s changed %s after %s at %s, and %s. %s",
				t.name(in.Requester), in.ID, approved, step.Name, did, stands), changes, note)
			// Not under the step's round's key prefix: the update closing
			// the round's cards is not for this one.
			t.notify(Recipient{Person: p}, "changed/"+sentBack+p, "", m)
		}
	}
}

// reassign moves (or, with delegate, shares) a pending task with another person.
func (t *tx) reassign(delegate bool) error {
	if t.stale() {
		return nil
	}
	in := t.in
	s := t.step()
	if s == nil || (s.Kind != StepApproval && s.Kind != StepTask) {
		return inputErr("%s is not waiting for a person", in.ID)
	}
	// Who may act comes first, as in decide: someone who may not learns
	// nothing from the target's checks, and a click on Reassign by them is
	// refused (and recorded) rather than opening the form.
	slot, ok := t.authority(false)
	if !ok {
		return nil
	}
	// On the step themselves (an assignee or a delegate), one moves the task
	// they are on; only an admin may name another's (ev.From), as an admin
	// off the step moves any. A delegate decides, but the task stays its
	// owner's, unless they are an admin.
	if admin := t.e.admins[t.ev.Actor]; slot >= 0 {
		owner := in.Tasks[slot].Assignee
		named := t.ev.From != "" && !strings.EqualFold(t.ev.From, owner)
		switch {
		case owner != t.ev.Actor && !admin:
			name := t.name(owner)
			return t.refuse(CodeNotAllowed, fmt.Sprintf("You may decide %s on behalf of %s, but only %s or an admin can %s it.",
				in.ID, name, name, map[bool]string{true: "delegate", false: "reassign"}[delegate]))
		case named && !admin:
			msg := fmt.Sprintf("You are on %s yourself, so you may move only your own task", in.ID)
			if slices.ContainsFunc(in.Tasks, func(task Task) bool { return task.Decision == Pending && strings.EqualFold(task.Assignee, t.ev.From) }) {
				msg += fmt.Sprintf("; %s's is theirs or an admin's to move", t.name(t.ev.From))
			}
			return t.refuse(CodeNotAllowed, msg+".")
		case named:
			slot = -1 // an admin on the step moves the task they named
		}
	}
	target := strings.TrimSpace(t.ev.Target)
	switch {
	case target == "":
		return &InputError{Msg: "say who should take it over: one person", Field: "target"}
	case strings.ContainsAny(target, " \t\n"): // a name typed, or several people
		return &InputError{Msg: fmt.Sprintf("%q is not one person's id: type their id or email, or pick them from the list", target), Field: "target"}
	}
	id, ok := t.e.person(target)
	if !ok {
		return inputErr("%q is not a person in the directory; pick someone from the list", target)
	}
	target = id
	if slot < 0 { // an admin or escalation target: move ev.From's task, or the first pending one
		slot = slices.IndexFunc(in.Tasks, func(task Task) bool {
			return task.Decision == Pending && (t.ev.From == "" || task.Assignee == t.ev.From)
		})
		if slot < 0 {
			return inputErr("%s has no pending task for %s to move", in.ID, cmp.Or(t.name(t.ev.From), "anyone"))
		}
	}
	standIn := delegate && t.ev.StandIn // for the assignee's away: in place of whoever stood in before
	if standIn {
		switch task := &in.Tasks[slot]; {
		case task.StandIn == target: // away again, with the same stand-in
			t.out.Text = fmt.Sprintf("%s already stands in for %s on %s.", t.name(target), t.name(task.Assignee), in.ID)
			return nil
		case slices.Contains(task.Delegates, target): // their delegate already: now their stand-in too
			t.out.Text = fmt.Sprintf("%s stands in for %s on %s.", t.name(target), t.name(task.Assignee), in.ID)
			t.standInFor(s, task, target)
			t.refreshCards(s)
			return nil
		}
	}
	switch mayTake(s, in, target, delegate) {
	case takeExternal:
		if s.Kind != StepApproval { // their mail links to approvals only
			return inputErr("%s is outside the workspace, and people outside decide approvals only (from a link in a mail); pick someone in the workspace for this task", t.name(target))
		}
		// Their link is for a task of theirs; a delegate holds none.
		return inputErr("%s is outside the workspace and cannot be a delegate; reassign the task to them instead", t.name(target))
	case takeRequester:
		return inputErr("%s made this request and may not approve it; pick someone else", t.name(target))
	case takeOn:
		if target == t.ev.Actor {
			return inputErr("you are already on this task; pick someone else")
		}
		return inputErr("%s is already on this task", t.name(target))
	}
	task := &in.Tasks[slot]
	from := task.Assignee
	if delegate {
		task.Delegates = append(task.Delegates, target)
		t.out.Text = fmt.Sprintf("%s can now decide %s on behalf of %s.", t.name(target), in.ID, t.name(from))
		if standIn {
			t.standInFor(s, task, target)
		} else {
			t.record(AuditEntry{Action: "delegated", OnBehalf: from, Reason: t.ev.Reason, Detail: map[string]string{"to": target}})
		}
		t.refreshForNewcomer(s, target)
		line := "Delegated to you by " + t.name(t.ev.Actor)
		if from != t.ev.Actor {
			line += ", on behalf of " + t.name(from)
		}
		if t.ev.Reason != "" {
			line += ": " + t.ev.Reason
		}
		m := t.handoffCard(s, target, line)
		t.notify(Recipient{Person: target}, t.personCard(target), "", m)
		return nil
	}
	was := *task
	if task.Original == "" {
		task.Original = from
	}
	movedOn(task)
	task.Assignee, task.Delegates, task.StandIn, task.Since, task.Reminded = target, nil, "", t.now, nil
	in.Routed = "" // whom it waits on is now someone's choice, said on the card
	t.record(AuditEntry{Action: "reassigned", Reason: t.ev.Reason, Detail: map[string]string{"from": from, "to": target}})
	t.closeTaskCards(s, was, "reassigned", t.ev.Actor, t.ev.Reason, "Now with "+t.name(target)+".")
	t.refreshForNewcomer(s, target)
	line := "Reassigned to you by " + t.name(t.ev.Actor)
	if from != t.ev.Actor {
		line += " (was " + t.name(from) + ")"
	}
	if t.ev.Reason != "" {
		line += ": " + t.ev.Reason
	}
	m := t.handoffCard(s, target, line)
	t.notify(Recipient{Person: target}, t.personCard(target), "", m)
	t.out.Text = fmt.Sprintf("%s is now with %s.", in.ID, t.name(target))
	if others := slices.DeleteFunc(in.Pending(), func(p string) bool { return p == target }); len(others) > 0 {
		// Several were on it: say whose task moved, and who else is still on it.
		t.out.Text = fmt.Sprintf("%s's task on %s is now with %s; %s %s still on it.", t.name(from), in.ID, t.name(target),
			t.names(others), map[bool]string{true: "is", false: "are"}[len(others) == 1])
	}
	return nil
}

// standInFor makes target, one of task's delegates, the one who stands in
// for its assignee, who is away (ev.StandIn): whoever stood in before is
// no longer on the task, and their card closes, saying who stands in now;
// the routing note, if it said who stood in, says who does now. It records
// the delegation, with whom the stand-in took over from.
func (t *tx) standInFor(s *Step, task *Task, target string) {
	old := task.StandIn
	task.StandIn = target
	detail := map[string]string{"to": target}
	if old != "" && old != target {
		detail["from"] = old
	}
	t.record(AuditEntry{Action: "delegated", OnBehalf: task.Assignee, Reason: t.ev.Reason, Detail: detail})
	if a, away := t.awayNow(task.Assignee); away { // "Bob Chen is away through …, and Carol Diaz stands in": not any more
		said := t.name(task.Assignee) + " is away through "
		now := fmt.Sprintf("%s%s, and %s stands in", said, AwayThrough(a.Until, t.e.dir.Location(task.Assignee)), t.name(target))
		notes := strings.Split(t.in.Routed, "; ")
		if i := slices.IndexFunc(notes, func(n string) bool { return strings.HasPrefix(n, said) }); i >= 0 && t.in.Routed != "" {
			notes[i] = now
			t.in.Routed = strings.Join(notes, "; ")
		}
	}
	if old == "" || old == target || !slices.Contains(task.Delegates, old) {
		return
	}
	task.Delegates = slices.DeleteFunc(task.Delegates, func(p string) bool { return p == old })
	task.Former = appendNew(task.Former, old) // they took part: the request stays theirs to read
	t.out.Text = fmt.Sprintf("%s now stands in for %s on %s, in place of %s.", t.name(target), t.name(task.Assignee), t.in.ID, t.name(old))
	// Their card, and the reminders in its thread (by DM, on a channel
	// step), which offered its buttons: closed, saying why.
	m := t.closedCard(s, "stand-in changed", t.personName(t.ev.Actor), t.ev.Reason,
		fmt.Sprintf("%s stands in for %s now, in your place: it is no longer yours to decide.", t.name(target), t.name(task.Assignee)), t.e.dir.Location(old))
	t.effects = append(t.effects, Effect{Kind: EffectUpdate, Card: t.personCard(old), Msg: m})
	if slices.Contains(task.Reminded, old) {
		t.effects = append(t.effects, Effect{Kind: EffectUpdate, Card: t.personCard(old) + "/", Msg: m})
		task.Reminded = slices.DeleteFunc(task.Reminded, func(p string) bool { return p == old })
	}
	if !t.waitsOn(old) { // their own reminder of it, too
		t.dropSnooze(old)
	}
}

// movedOn notes, as task is about to move to someone else, that whoever
// was on it stays involved (Former): its delegates, and its assignee unless
// they are its first (Original).
func movedOn(task *Task) {
	if task.Assignee != task.Original {
		task.Former = appendNew(task.Former, task.Assignee)
	}
	for _, p := range task.Delegates {
		task.Former = appendNew(task.Former, p)
	}
}

// appendNew appends p to list unless it holds p already.
func appendNew(list []string, p string) []string {
	if slices.Contains(list, p) {
		return list
	}
	return append(list, p)
}

// Why someone may not take over a task (see mayTake).
const (
	takeOK        = iota
	takeExternal  // outside the workspace, asked to be a delegate or to take a task step
	takeRequester // the requester, on an approval that forbids self-approval
	takeOn        // already on the step's tasks (holding one, or a delegate)
)

// mayTake says whether person may take over a task of step s of in, by
// reassignment or (delegate) as a delegate: takeOK, or why not.
func mayTake(s *Step, in *Instance, person string, delegate bool) int {
	if _, external := ExternalEmail(person); external && (delegate || s.Kind != StepApproval) {
		return takeExternal
	}
	if s.Kind == StepApproval && !s.AllowSelfApproval && person == in.Requester {
		return takeRequester
	}
	for _, other := range in.Tasks {
		if other.Assignee == person || slices.Contains(other.Delegates, person) {
			return takeOn
		}
	}
	return takeOK
}

// maxExclude bounds Action.Exclude: every card of a step carries it, so a
// step of many people would carry it many times over (a card for each of
// 300 people, 300 ids on each). Past it, a picker offers anyone and the
// engine refuses whom it would not take.
const maxExclude = 20

// nonTakers returns whom a task of in's current step s may not be given to:
// its requester (unless s allows self-approval) and who is on s already;
// nil when they are more than maxExclude.
func nonTakers(s *Step, in *Instance) []string {
	if len(in.Tasks) >= maxExclude {
		return nil
	}
	candidates := []string{in.Requester}
	for _, task := range in.Tasks {
		candidates = append(candidates, task.Assignee)
		candidates = append(candidates, task.Delegates...)
	}
	slices.Sort(candidates)
	candidates = slices.Compact(candidates)
	candidates = slices.DeleteFunc(candidates, func(p string) bool { return p == "" || mayTake(s, in, p, false) == takeOK })
	if len(candidates) > maxExclude {
		return nil
	}
	return candidates
}

// Takers returns the people of the directory who may take over a task of
// in's current step, by reassignment or (delegate) as a delegate: the
// choices a form offers, so that none is refused for who they are.
func (e *Engine) Takers(in *Instance, delegate bool) []Person {
	def, ok := e.Flow(in.Flow)
	if !ok {
		return nil
	}
	s := def.Step(in.Step)
	if s == nil {
		return nil
	}
	var out []Person
	for _, p := range e.dir.People() {
		if mayTake(s, in, p.ID, delegate) == takeOK {
			out = append(out, p)
		}
	}
	return out
}

// involved is everyone who has a part in the instance: its requester, who
// is or was on its steps (delegates and those a task was reassigned from
// included), escalation targets and who decided; sorted, once each.
func (t *tx) involved() []string { return t.in.people() }

// Involves reports whether person is involved in the request: its
// requester, someone it waits or waited on (a delegate, a stand-in, an
// original assignee too, and whoever a task moved on from, or a later
// stand-in replaced), someone who decided a step, or someone an escalation
// brought in.
func (in *Instance) Involves(person string) bool {
	return person != "" && slices.Contains(in.people(), person)
}

func (in *Instance) people() []string {
	people := []string{in.Requester}
	for _, task := range in.Tasks {
		people = append(people, task.Assignee, task.Original)
		people = append(people, task.Delegates...)
		people = append(people, task.Former...)
	}
	people = append(people, in.Escalated...)
	for _, h := range in.History {
		people = append(people, h.Assigned...)
		people = append(people, h.Originals...)
		people = append(people, h.Others...)
		people = append(people, h.Deciders...) // delegates and escalation targets who decided
		people = append(people, h.For...)
		people = append(people, h.By)
	}
	slices.Sort(people)
	return slices.DeleteFunc(slices.Compact(people), func(p string) bool { return p == System || p == "" || strings.HasPrefix(p, "#") })
}

func (t *tx) comment() error {
	text := strings.TrimSpace(t.ev.Reason)
	if text == "" {
		return inputErr("write the comment")
	}
	actor := t.ev.Actor
	people := t.involved()
	if !slices.Contains(people, actor) && actor != t.def.Owner && !t.e.admins[actor] {
		return t.refuse(CodeNotAllowed, fmt.Sprintf("Only people involved in %s can comment on it.", t.in.ID))
	}
	t.record(AuditEntry{Action: "commented", Reason: text})
	m := &Message{Kind: MsgComment, Instance: t.in.ID, Flow: t.in.Flow, Step: t.in.Step, Round: t.in.Round,
		Title: fmt.Sprintf("%s on %s %s", t.name(actor), t.def.Name, t.in.ID), Text: text}
	for _, p := range people {
		if p == actor {
			continue
		}
		thread := ""
		// In the thread of their card, for those waited on who have one.
		if s := t.step(); s != nil && t.in.Status == StatusRunning && slices.ContainsFunc(t.in.Tasks, func(task Task) bool {
			return task.Decision == Pending && slices.Contains(carded(s, task), p)
		}) {
			thread = t.personCard(p)
		}
		t.notify(Recipient{Person: p}, fmt.Sprintf("comment/%d/%s", t.in.AuditSeq+1, p), thread, m)
	}
	t.out.Text = fmt.Sprintf("Comment added to %s.", t.in.ID)
	return nil
}

// end closes an open instance for good (withdrawn or cancelled).
func (t *tx) end(status Status, verb, reason string) {
	in := t.in
	if in.Status == StatusRunning {
		t.closeStep(verb, t.ev.Actor, reason) // the step's cards say so
	} else {
		t.tellSentBackBy(verb, reason)
	}
	t.closeReturned(verb)
	in.Status, in.Outcome, in.Completed, in.Failed = status, reason, t.now, time.Time{}
	t.record(AuditEntry{Action: verb, Reason: reason})
}

// tellSentBackBy tells the people of the step that sent the request back
// (its round's assignees and deciders) that it ended (verb: withdrawn,
// cancelled) instead of coming back to them: their cards still say they
// asked for changes or rejected it.
func (t *tx) tellSentBackBy(verb, reason string) {
	in := t.in
	h := in.lastRecord(in.Step, in.Round)
	if h == nil {
		return
	}
	name := in.Step // a step no longer in the flow is named by its id
	if s := t.def.Step(in.Step); s != nil {
		name = s.Name
	}
	people := append(append(slices.Clone(h.Assigned), h.Deciders...), h.For...)
	slices.Sort(people)
	people = slices.Compact(people)
	what := map[string]string{string(Changes): "asked for changes to it", string(Rejected): "rejected it"}[h.Outcome]
	if what == "" {
		return
	}
	deciders := h.Deciders
	if len(deciders) == 0 {
		deciders = []string{h.By}
	}
	m := t.baseCard(nil, MsgOutcome)
	m.Title = fmt.Sprintf("%s: %s %s (%s)", DecisionWords(verb), t.def.Name, in.ID, in.Title)
	did := map[string]string{"withdrawn": "withdrew"}[verb]
	// text is the notice as reader reads it: "after you rejected it" to
	// whoever did.
	text := func(reader string) string {
		names := make([]string, len(deciders))
		for i, d := range deciders {
			names[i] = t.name(d)
			if d == reader {
				names[i] = "you"
			}
		}
		after := fmt.Sprintf("%s %s", JoinNames(names), what)
		if slices.Equal(deciders, []string{System}) { // its on_timeout rejected it
			after = "it was " + map[string]string{string(Changes): "sent back for changes", string(Rejected): "rejected"}[h.Outcome] + " automatically"
		}
		out := fmt.Sprintf("%s %s %s after %s at %s; nothing more is asked of you.", t.name(t.ev.Actor), cmp.Or(did, verb), in.ID, after, name)
		if reason != "" {
			out += "\nReason: " + reason
		}
		return out
	}
	for _, p := range people {
		if p == System || p == "" || p == in.Requester || p == t.ev.Actor || strings.HasPrefix(p, "#") {
			continue
		}
		mp := *m
		mp.Text = text(p)
		t.notify(Recipient{Person: p}, fmt.Sprintf("ended/%s/%d/%s", in.Step, in.Round, p), "", &mp)
	}
}

func (t *tx) withdraw() error {
	in := t.in
	if t.ev.Actor != in.Requester {
		return t.refuse(CodeNotAllowed, fmt.Sprintf("Only %s, who made %s, can withdraw it.", t.name(in.Requester), in.ID))
	}
	if !in.Status.Open() {
		return t.refuse(CodeClosed, fmt.Sprintf("%s is already %s.", in.ID, strings.ReplaceAll(string(in.Status), "_", " ")))
	}
	t.end(StatusWithdrawn, "withdrawn", strings.TrimSpace(t.ev.Reason))
	t.out.Text = fmt.Sprintf("Withdrew %s.", in.ID)
	return nil
}

func (t *tx) mayOverride() bool {
	return t.ev.Actor != "" && t.ev.Actor == t.def.Owner || t.e.admins[t.ev.Actor]
}

// orphaned stands in for the definition of in's flow, which is no longer
// defined, so that an admin may still cancel in, or its requester withdraw
// it: named by its id, owned by nobody, with no steps (closeStep closes the
// current one's cards all the same).
func orphaned(in *Instance) *Definition { return &Definition{ID: in.Flow, Name: in.Flow} }

func (t *tx) cancel() error {
	in := t.in
	if !t.mayOverride() {
		if t.def.Owner == "" { // its flow is no longer defined
			return t.refuse(CodeNotAllowed, fmt.Sprintf("Only an admin can cancel %s; the requester can withdraw it.", in.ID))
		}
		return t.refuse(CodeNotAllowed, fmt.Sprintf("Only the flow owner (%s) or an admin can cancel %s; the requester can withdraw it.", t.name(t.def.Owner), in.ID))
	}
	if !in.Status.Open() {
		return t.refuse(CodeClosed, fmt.Sprintf("%s is already %s.", in.ID, strings.ReplaceAll(string(in.Status), "_", " ")))
	}
	reason := strings.TrimSpace(t.ev.Reason)
	if reason == "" {
		return inputErr("a reason is required to cancel a request")
	}
	t.end(StatusCancelled, "cancelled", reason)
	m := t.baseCard(nil, MsgOutcome)
	m.Title = fmt.Sprintf("Cancelled: %s %s (%s)", t.def.Name, in.ID, in.Title)
	m.Text = fmt.Sprintf("%s cancelled your request.\nReason: %s", t.name(t.ev.Actor), reason)
	if t.ev.Actor != in.Requester {
		t.notify(Recipient{Person: in.Requester}, "requester/cancelled", "", m)
	}
	t.out.Text = fmt.Sprintf("Cancelled %s.", in.ID)
	return nil
}

func (t *tx) skip() error {
	in := t.in
	if !t.mayOverride() {
		return t.refuse(CodeNotAllowed, fmt.Sprintf("Only the flow owner (%s) or an admin can skip a step.", t.name(t.def.Owner)))
	}
	// A failed request waits at the step it failed at: skipping it is one
	// way on (its record of the failure stays, then the skip's).
	if in.Status == StatusFailed {
		if !t.atFailure("skip") {
			return nil
		}
	} else if t.stale() {
		return nil
	}
	if t.selfApproval(t.step(), t.ev.Actor) {
		var others []string // who else may skip it: the owner, the admins
		for _, p := range append([]string{t.def.Owner}, t.adminIDs()...) {
			if p != t.ev.Actor && !slices.Contains(others, p) {
				others = append(others, p)
			}
		}
		if len(others) == 0 {
			then := "it waits on " + t.waitingNames()
			if in.Status == StatusFailed { // it waits on nobody: what is left to them
				then = "you may cancel or withdraw it"
			}
			return t.refuse(CodeNotAllowed, fmt.Sprintf("You made %s, so you may not skip %s yourself, and %s; %s.", in.ID, t.stepName(), noOtherAdmin, then))
		}
		return t.refuse(CodeNotAllowed, fmt.Sprintf("You made %s, so you may not skip %s yourself; %s can.", in.ID, t.stepName(), t.names(others)))
	}
	reason := strings.TrimSpace(t.ev.Reason)
	if reason == "" {
		return inputErr("a reason is required to skip a step")
	}
	idx := t.def.StepIndex(in.Step)
	skipped := t.stepName()
	if idx < 0 {
		// A step no longer in the flow (its file changed): the request goes
		// on after the last step it went through that still is, not to
		// its end, past steps it never reached.
		for _, h := range slices.Backward(in.History) {
			if idx = t.def.StepIndex(h.Step); idx >= 0 {
				break
			}
		}
		skipped += " (no longer in the flow)"
	}
	t.record(AuditEntry{Action: "skipped", Reason: reason})
	t.closeStep("skipped", t.ev.Actor, reason)
	t.unfail()
	t.advance(idx)
	t.out.Text = fmt.Sprintf("Skipped %s of %s. %s", skipped, in.ID, t.afterText())
	return nil
}

// retry asks again the webhook step a request failed at: the step's next
// round, its condition checked and its call made anew with the request's
// data as it is now (a new call, whose Idempotency-Key names that round).
// Only the flow's owner or an admin may.
func (t *tx) retry() error {
	in := t.in
	if !t.mayOverride() {
		return t.refuse(CodeNotAllowed, fmt.Sprintf("Only the flow owner (%s) or an admin can retry a step.", t.name(t.def.Owner)))
	}
	if !t.atFailure("retry") {
		return nil
	}
	s := t.step()
	switch {
	case s == nil:
		return t.refuse(CodeWrongState, fmt.Sprintf("%s failed at %s, a step its flow no longer has: skip the step or cancel the request.", in.ID, in.Step))
	case s.Kind != StepWebhook:
		return t.refuse(CodeWrongState, fmt.Sprintf("%s failed at %s, which is not a webhook step: only a webhook step's call can be retried; skip the step or cancel the request.", in.ID, s.Name))
	}
	t.record(AuditEntry{Action: "retried", Reason: strings.TrimSpace(t.ev.Reason)})
	t.unfail()
	t.continueAt(t.def.StepIndex(s.ID))
	t.out.Text = fmt.Sprintf("Retried %s of %s. %s", s.Name, in.ID, t.afterText())
	return nil
}

// unfail takes a failed request out of its failure, as a retry or a skip
// sends it on. (Completed too: an earlier build set it on failing.)
func (t *tx) unfail() {
	if t.in.Status == StatusFailed {
		t.in.Status, t.in.Outcome, t.in.Failed, t.in.Completed = StatusRunning, "", time.Time{}, time.Time{}
	}
}

// atFailure reports whether the event (verb: retry, skip) is for the step
// and round the request failed at, and it is still failed there; if not,
// the refusal says where it stands now.
func (t *tx) atFailure(verb string) bool {
	in := t.in
	step, round := cmp.Or(t.ev.Step, in.Step), t.ev.Round
	if round == 0 && step == in.Step {
		round = in.Round
	}
	if in.Status == StatusFailed && step == in.Step && round == in.Round {
		return true
	}
	name := step
	if s := t.def.Step(step); s != nil {
		name = s.Name
	}
	h := in.lastRecord(step, round)
	switch {
	case h != nil && h.Outcome == "skipped" && h.By != System:
		t.refuseAt(CodeAlreadyDecided, h.Ended, func(at string) string {
			return fmt.Sprintf("%s of %s was already skipped by %s at %s. %s", name, in.ID, t.name(h.By), at, t.afterText())
		})
	case h != nil && h.Outcome == "failed" && in.Rounds[step] > round:
		_ = t.refuse(CodeAlreadyDecided, fmt.Sprintf("%s of %s was already retried (round %d). %s", name, in.ID, in.Rounds[step], t.afterText()))
	case !in.Status.Open():
		_ = t.refuse(CodeClosed, fmt.Sprintf("%s is %s; there is nothing to %s.", in.ID, strings.ReplaceAll(string(in.Status), "_", " "), verb))
	case in.Status == StatusFailed:
		// Failed elsewhere: in another round of the step (one it has not
		// reached, or an earlier one: not where it stands, as for a
		// decision), or at another step (not in a state for it there).
		code := CodeWrongState
		if step == in.Step {
			code = CodeNotReached
		}
		if round > 0 {
			name += fmt.Sprintf(" (round %d)", round)
		}
		_ = t.refuse(code, fmt.Sprintf("%s failed at %s (round %d), not at %s: there is nothing to %s there.", in.ID, t.stepName(), in.Round, name, verb))
	case in.Status == StatusRunning && verb == "retry":
		_ = t.refuse(CodeWrongState, fmt.Sprintf("%s has not failed: only a webhook step whose call failed can be retried. %s", in.ID, t.waitingOn()))
	default:
		_ = t.refuse(CodeWrongState, fmt.Sprintf("%s has not failed at %s: it is %s; there is nothing to %s.", in.ID, name, statusWords(in), verb))
	}
	return false
}

// timer handles a fired reminder, escalation or timeout.
func (t *tx) timer() error {
	in := t.in
	i := slices.IndexFunc(in.Timers, func(tm Timer) bool { return tm.ID == t.ev.Timer })
	if i < 0 || in.Status != StatusRunning {
		return nil // cancelled since: nothing to do
	}
	tm := in.Timers[i]
	in.Timers = slices.Delete(in.Timers, i, i+1)
	t.ev.Actor = System
	s := t.step()
	if s == nil {
		t.skipTimer(tm, "its step is no longer in the flow's definition")
		return nil
	}
	switch tm.Kind {
	case TimerRemind:
		// Timed over the hours of whom the step waited on then: if those
		// it waits on now are all off work (the one at work has decided,
		// the task moved to another timezone), it waits for their day.
		if t.def.WorkingHours {
			// Judged just before it came due: a reminder timed over a working
			// day may come due as it closes (the end of the time it counted),
			// and fire a moment later. One fired long after (Baton was down)
			// is judged at now.
			when := t.now
			if late := t.now.Sub(tm.At); late >= 0 && late < time.Minute {
				when = tm.At
			}
			if at := t.e.hours.next(when.Add(-time.Millisecond), t.waitingLocations()).UTC(); at.After(t.now) {
				// Under a name of its own: the fired one's event is done.
				t.addTimer(Timer{ID: t.timerID(TimerRemind, fmt.Sprintf("%d/%d", tm.N, at.UnixMilli())), Kind: TimerRemind, Step: in.Step, Round: in.Round, N: tm.N, At: at})
				t.record(AuditEntry{Action: "reminder_held", Reason: "whom it waits on are off work", Detail: map[string]string{"n": fmt.Sprint(tm.N), "until": at.Format(time.RFC3339)}})
				return nil
			}
		}
		t.record(AuditEntry{Action: "reminded", Detail: map[string]string{"n": fmt.Sprint(tm.N), "to": t.waitingIDs()}})
		// How long the step has waited, not each reader: someone who got
		// the task later (a delegate, an escalation) has not waited as long.
		text := fmt.Sprintf("Reminder %d of %d: %s has been waiting for %s.", tm.N, s.Remind.Max, s.Name, FormatDuration(t.now.Sub(in.StepStarted)))
		t.sendCards(s, MsgReminder, text)
		if tm.N < s.Remind.Max {
			next := t.after(tm.At, s.Remind.Every, s.every)
			if !next.After(t.now) { // fired late (Baton was down): keep the cadence from now, no burst of reminders
				next = t.after(t.now, s.Remind.Every, s.every)
			}
			t.setTimer(TimerRemind, tm.N+1, next)
		}
	case TimerEscalate:
		if tm.N >= len(s.Escalate) {
			t.skipTimer(tm, "its escalation rung is no longer in the flow's definition")
			return nil
		}
		r := s.Escalate[tm.N]
		if r.Reassign != "" {
			if why := t.escalateReassign(s, r.Reassign); why != "" {
				t.skipTimer(tm, why)
			}
		} else if why := t.escalateNotify(s, r.Notify); why != "" {
			t.skipTimer(tm, why)
		}
	case TimerSnooze:
		t.snoozed(s, tm)
	case TimerTimeout:
		if s.Kind == StepWebhook {
			t.ev.Result = &WebhookResult{Error: "no reply within " + FormatDuration(s.Due)}
			t.webhookFailed(s)
			return nil
		}
		in.Overdue = true
		switch s.OnTimeout {
		case TimeoutApprove, TimeoutReject:
			d := map[Timeout]Decision{TimeoutApprove: Approved, TimeoutReject: Rejected}[s.OnTimeout]
			reason := "No decision within " + t.def.waitText(s, s.Due, s.due) // what the flow then does, in words, beside it
			t.record(AuditEntry{Action: string(d), Reason: reason, Detail: map[string]string{"authority": "timeout"}})
			t.closeStep(string(d), System, reason)
			if d == Approved {
				t.advance(t.def.StepIndex(s.ID))
			} else {
				t.returnToRequester(d, System, reason)
			}
		case TimeoutEscalate:
			if why := t.escalateNotify(s, "manager"); why != "" {
				t.skipTimer(tm, why)
				t.refreshCards(s) // they say it is overdue
			}
		default:
			t.record(AuditEntry{Action: "overdue"})
			t.refreshCards(s)
		}
	}
	return nil
}

// refreshCards re-renders every pending card of the step in place, but for
// the cards of the people in skip.
func (t *tx) refreshCards(s *Step, skip ...string) {
	t.refreshPeople(s, skip, skip)
	t.refreshChannelCard(s)
}

// refreshForNewcomer brings the step's cards up to date after a task moved
// to, or was shared with, person: the others' say whom it waits on (and
// whom it escalates to, who may be on it now), and person's escalation
// card, if it was escalated to them, that it is theirs to decide now.
// Person's task card is made anew by the caller.
func (t *tx) refreshForNewcomer(s *Step, person string) {
	t.refreshPeople(s, []string{person}, nil)
	t.refreshChannelCard(s)
}

// refreshPeople re-renders the pending task cards of the step's people but
// those in skipTasks, and the escalation cards of the people (and
// channels, "#id") it was escalated to but those in skipEscalations (cards
// made anew in the same transition).
func (t *tx) refreshPeople(s *Step, skipTasks, skipEscalations []string) {
	for _, task := range t.in.Tasks {
		if task.Decision != Pending {
			continue
		}
		for _, p := range carded(s, task) {
			if slices.Contains(skipTasks, p) {
				continue
			}
			t.effects = append(t.effects, Effect{Kind: EffectUpdate, Card: t.personCard(p), Msg: t.taskCard(s, MsgTask, p)})
		}
	}
	// The people the step was escalated to: their cards say whom it waits on.
	for _, p := range t.in.Escalated {
		if !slices.Contains(skipEscalations, p) {
			t.effects = append(t.effects, Effect{Kind: EffectUpdate, Card: t.escalationCard(p), Msg: t.escalationMsg(s, p)})
		}
	}
	for _, c := range t.in.EscalatedChannels {
		if !slices.Contains(skipEscalations, "#"+c) {
			t.effects = append(t.effects, Effect{Kind: EffectUpdate, Card: t.escalationCard("#" + c), Msg: t.escalationMsg(s, "")})
		}
	}
}

// escalateNotify tells target about overdue work and lets them decide.
func (t *tx) escalateNotify(s *Step, target string) string {
	in := t.in
	to, why, standIns := t.notifyTargets(s, target)
	if len(to) == 0 {
		return why
	}
	var ids, again []string // again: those an earlier rung told already
	for _, r := range to {
		switch {
		case r.Person != "" && slices.Contains(in.Escalated, r.Person), r.Channel != "" && slices.Contains(in.EscalatedChannels, r.Channel):
			again = append(again, cmp.Or(r.Person, "#"+r.Channel))
		case r.Person != "":
			in.Escalated = append(in.Escalated, r.Person)
		default:
			in.EscalatedChannels = append(in.EscalatedChannels, r.Channel)
		}
		ids = append(ids, cmp.Or(r.Person, "#"+r.Channel))
	}
	// Ids, as every audit detail naming people: the timeline shows names.
	detail := map[string]string{"to": strings.Join(ids, ", "), "waiting_on": t.waitingIDs()}
	var standing []string // "Gus Ahmed for Dana Kowalski (away)"
	for _, r := range to {
		if mgrs := standIns[r.Person]; len(mgrs) > 0 {
			standing = append(standing, t.name(r.Person)+" for "+t.names(mgrs)+" (away)")
			if in.StandingIn == nil {
				in.StandingIn = map[string][]string{}
			}
			in.StandingIn[r.Person] = mgrs
		}
	}
	if len(standing) > 0 {
		detail["standing_in"] = strings.Join(standing, ", ")
	}
	t.record(AuditEntry{Action: "escalated", Detail: detail})
	var told []string
	for _, r := range to {
		who := cmp.Or(r.Person, "#"+r.Channel)
		key, thread := t.escalationCard(who), ""
		if slices.Contains(again, who) {
			// Told before: a second card under the same key would leave
			// the first one out of every later update (still offering to
			// decide once decided). The new one is a reply to it, as a
			// reminder is to a task card, and it is brought up to date.
			key, thread = key+"/e"+strconv.FormatInt(t.now.UnixMilli(), 10), key
			t.effects = append(t.effects, Effect{Kind: EffectUpdate, Card: thread, Msg: t.escalationMsg(s, r.Person)})
		}
		t.notify(r, key, thread, t.escalationMsg(s, r.Person))
		told = append(told, who)
	}
	t.refreshPeople(s, nil, told) // the task cards name the next rung now
	t.refreshChannelCard(s)
	return ""
}

// notifyTargets is whom an escalation rung that notifies target reaches, or
// why it reaches nobody: the rung itself and the cards announcing it share
// this plan. A task card lets its holder decide, so nobody who may not
// approve their own request is sent one.
//
// Nobody with a seat on the step (an assignee or a delegate) is escalated
// to: they have its task card, and deciding again as an escalation target
// would fill a second seat. For a rung to the manager, the third value says
// who stands in for which managers away (nil: nobody does).
func (t *tx) notifyTargets(s *Step, target string) ([]Recipient, string, map[string][]string) {
	if target == "manager" {
		var to []Recipient
		for _, task := range t.in.Tasks {
			if task.Decision != Pending {
				continue
			}
			if m := t.escalationManager(s, task.Assignee); m != "" {
				to = append(to, Recipient{Person: m})
			}
		}
		if len(to) == 0 {
			return nil, "nobody to escalate to: no manager, flow owner or admin is free to decide it", nil
		}
		to, standIns := t.standInsFor(s, to)
		return to, "", standIns
	}
	all := slices.DeleteFunc(t.recipients(target, t.in.Requester), func(r Recipient) bool { return t.in.holdsSeat(r.Person) })
	to := slices.DeleteFunc(slices.Clone(all), func(r Recipient) bool { return t.selfApproval(s, r.Person) })
	kind, id, _ := strings.Cut(target, ":")
	switch {
	case kind == "group" && len(to) > 1:
		// Those of the group at work are told; the others' stand-ins only
		// when everyone is away.
		if here := slices.DeleteFunc(slices.Clone(to), func(r Recipient) bool { _, away := t.awayNow(r.Person); return away }); len(here) > 0 {
			return here, "", nil
		}
		fallthrough
	case len(to) > 0:
		to, standIns := t.standInsFor(s, to)
		return to, "", standIns
	case len(all) == 0 && len(t.recipients(target, t.in.Requester)) > 0:
		who := t.targetName(target)
		if kind == "group" {
			who = "everyone in " + who
		}
		return nil, fmt.Sprintf("nobody to escalate to: %s is on the step already", who), nil
	case kind == "group" && len(all) == 0:
		return nil, fmt.Sprintf("nobody to escalate to: the group %s has nobody in the directory", id), nil
	case kind == "group" && len(all) < len(t.recipients(target, t.in.Requester)):
		return nil, fmt.Sprintf("nobody to escalate to: the others in the group %s are on the step already, and %s may not approve their own request", id, t.name(t.in.Requester)), nil
	case kind == "group":
		return nil, fmt.Sprintf("nobody to escalate to: %s, alone in the group %s, may not approve their own request", t.name(t.in.Requester), id), nil
	}
	return nil, fmt.Sprintf("nobody to escalate to: %s may not approve their own request", t.name(id)), nil
}

// standInsFor replaces each person away among to with their stand-in
// (standIn), where anyone can stand in; those nobody can stand in for are
// told themselves. Each is told once. The second value says who stands in
// for whom (nil: nobody does).
func (t *tx) standInsFor(s *Step, to []Recipient) ([]Recipient, map[string][]string) {
	var out []Recipient
	var standIns map[string][]string // stand-in -> the people away they stand in for
	for _, r := range to {
		if si := t.awayStandIn(s, r.Person); si != "" {
			if standIns == nil {
				standIns = map[string][]string{}
			}
			if !slices.Contains(standIns[si], r.Person) {
				standIns[si] = append(standIns[si], r.Person)
			}
			r = Recipient{Person: si}
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, standIns
}

// escalationMsg is the card that tells person (or, with "", a channel)
// about overdue work.
func (t *tx) escalationMsg(s *Step, person string) *Message {
	in := t.in
	m := t.taskCard(s, MsgEscalation, person)
	m.Title = "Escalation: " + m.Title
	// Whom it waits on now: since the rung, a reassignment may have moved it.
	m.Text = fmt.Sprintf("%s has waited %s at %s; it waits on %s.", in.ID, FormatDuration(t.now.Sub(in.StepStarted)), s.Name, t.waitingNames())
	switch {
	case person != "" && slices.Contains(in.Pending(), person): // a later rung moved it to them
		m.Text = fmt.Sprintf("%s has waited %s (%s), and is now yours to decide.", in.ID, FormatDuration(t.now.Sub(in.StepStarted)), s.Name)
	case person != "":
		m.Text += " You can decide it for the whole step, or reassign it."
	}
	m.Context = slices.DeleteFunc(m.Context, func(c string) bool { return strings.HasPrefix(c, "Escalates to") || strings.HasPrefix(c, "Moves to") })
	// Brought in for a manager who is away: said, with whose place it is.
	if mgrs := in.StandingIn[person]; person != "" && len(mgrs) > 0 {
		m.Context = append(m.Context, "You stand in for "+t.names(mgrs)+", away")
	}
	return m
}

// escalateReassign moves pending tasks to the rung's target (the
// assignee's manager, or a named person). It returns why
// nothing moved, or "" if something did.
func (t *tx) escalateReassign(s *Step, target string) string {
	in := t.in
	var why, stayed, tos, standIns []string
	var was []Task
	for _, m := range t.plannedMoves(s, target) {
		if m.to == "" {
			why = append(why, m.why)
			stayed = append(stayed, fmt.Sprintf("%s's task stays with them: %s", t.name(in.Tasks[m.task].Assignee), m.why))
			continue
		}
		task := &in.Tasks[m.task]
		was, tos = append(was, *task), append(tos, m.to)
		if task.Original == "" {
			task.Original = task.Assignee
		}
		movedOn(task)
		task.Assignee, task.Delegates, task.StandIn, task.Since, task.Reminded = m.to, nil, "", t.now, nil
		si := t.awayStandIn(s, m.to)
		if si != "" { // shared with their stand-in, as a new task of theirs is
			task.Delegates, task.StandIn = []string{si}, si
		}
		standIns = append(standIns, si)
		in.Routed = "" // the escalation chose, and says so
	}
	if len(tos) == 0 {
		return "nobody to reassign to: " + strings.Join(why, "; ")
	}
	// The cards are made once every task has moved: they say whom it waits on.
	after := FormatDuration(t.now.Sub(in.StepStarted))
	carded := slices.Clone(tos)
	for i, to := range tos {
		from := was[i].Assignee
		t.record(AuditEntry{Action: "reassigned", Reason: fmt.Sprintf("no decision within %s (escalation)", after), Detail: map[string]string{"from": from, "to": to}})
		t.closeTaskCards(s, was[i], "reassigned", System, "no decision in time", "Now with "+t.name(to)+".")
		m := t.handoffCard(s, to, fmt.Sprintf("Moved to you from %s after %s without a decision", t.name(from), after))
		t.notify(Recipient{Person: to}, t.personCard(to), "", m)
		if si := standIns[i]; si != "" {
			a, _ := t.awayNow(to)
			line := fmt.Sprintf("Moved to %s from %s after %s without a decision; %s is away through %s, and you stand in", t.name(to), t.name(from), after, t.name(to), AwayThrough(a.Until, t.e.dir.Location(to)))
			t.notify(Recipient{Person: si}, t.personCard(si), "", t.handoffCard(s, si, line))
			carded = append(carded, si)
		}
	}
	t.refreshPeople(s, carded, nil) // the others' task cards, and every escalation card
	t.refreshChannelCard(s)
	if len(stayed) > 0 { // in part: the record says which did not move, and why
		t.record(AuditEntry{Action: "not_reassigned", Reason: strings.Join(stayed, "; ")})
	}
	return ""
}

// skipTimer records a timer that fired and could do nothing, and why: the
// trail says why nothing happened, and the timer's removal is kept.
func (t *tx) skipTimer(tm Timer, why string) {
	t.record(AuditEntry{Action: "timer_skipped", Reason: why, Detail: map[string]string{"timer": string(tm.Kind)}})
}

// webhookResult continues a webhook step with its call's outcome.
func (t *tx) webhookResult() error {
	in := t.in
	s := t.step()
	if in.Status != StatusRunning || s == nil || s.Kind != StepWebhook || t.ev.Step != in.Step || t.ev.Round != in.Round || t.ev.Result == nil {
		return nil // a late or repeated result: the step has moved on
	}
	t.ev.Actor = System
	if !t.ev.Result.OK {
		t.webhookFailed(s)
		return nil
	}
	if why := storeProblem(s, t.ev.Result); why != "" {
		// Asked to store from the reply and cannot: failed, to be retried
		// or skipped as any failed call, rather than go on with nothing.
		res := *t.ev.Result
		res.OK, res.Error = false, why
		t.ev.Result = &res
		t.webhookFailed(s)
		return nil
	}
	stored := map[string]string{}
	var missing []string
	for _, name := range slices.Sorted(maps.Keys(s.Webhook.Store)) {
		if v, ok := lookupPath(t.ev.Result.Reply, s.Webhook.Store[name]); ok {
			in.Data[name] = v
			stored[name] = FormatValue(v)
		} else {
			missing = append(missing, name+" ("+s.Webhook.Store[name]+")")
		}
	}
	if len(missing) > 0 {
		// Said, not failed: the reply may leave out what it has not got,
		// and a step whose condition names a field that is not there is
		// asked, not passed over (continueAt).
		stored[missingKey] = strings.Join(missing, ", ")
	}
	t.record(AuditEntry{Action: "webhook_ok", Detail: stored})
	t.closeStep(string(Done), System, "")
	t.advance(t.def.StepIndex(s.ID))
	return nil
}

// webhookFailed records a webhook step's failed call: why, and what the
// receiver answered (its HTTP status and the start of its reply), then
// goes on past the step (on_error: continue) or fails the request there.
func (t *tx) webhookFailed(s *Step) {
	res := t.ev.Result
	reason := res.Error
	var detail map[string]string
	if res.Status > 0 {
		detail = map[string]string{httpStatusKey: strconv.Itoa(res.Status)}
		if res.Body != "" {
			detail[replyKey] = res.Body
		}
	}
	t.record(AuditEntry{Action: "webhook_failed", Reason: reason, Detail: detail})
	t.closeStep("failed", System, reason)
	if s.Webhook.OnError == "continue" {
		t.advance(t.def.StepIndex(s.ID))
		return
	}
	t.fail(s, reason, detail[replyKey])
}

// The webhook_failed record's details: the receiver's HTTP status, and the
// start of its reply (WebhookResult.Body).
const (
	httpStatusKey = "http status"
	replyKey      = "reply"
)

// fail stops the request at step s, failed for reason: it waits there for
// its flow's owner or an admin to retry the step's call (a webhook step),
// skip the step or cancel the request. The requester is told, and so are
// the owner and the admins, with what they may do. reply is the start of a
// failed call's reply, if it had one.
func (t *tx) fail(s *Step, reason, reply string) {
	in := t.in
	// It has not ended: Completed stays zero.
	in.Status, in.Outcome, in.Failed = StatusFailed, reason, t.now
	seq := in.AuditSeq + len(t.audit) // the failure's record: each failure's notices are cards of their own
	what := fmt.Sprintf("%s could not complete: %s", s.Name, reason)
	if reply != "" {
		what += "\nIts reply: " + reply
	}
	var told []string // who may act on it: the owner, the admins
	for _, p := range append([]string{t.def.Owner}, t.adminIDs()...) {
		if p != "" && !slices.Contains(told, p) {
			told = append(told, p)
		}
	}
	m := t.baseCard(nil, MsgOutcome)
	m.Title = fmt.Sprintf("Failed: %s %s (%s)", t.def.Name, in.ID, in.Title)
	if !slices.Contains(told, in.Requester) {
		mr := *m
		mr.Text = what
		if len(told) > 0 {
			may := "skip the step or cancel the request"
			if s.Kind == StepWebhook {
				may = "retry the call, skip the step or cancel the request"
			}
			mr.Text += fmt.Sprintf("\n%s (who may %s) %s been told.", t.names(told), may, map[bool]string{true: "has", false: "have"}[len(told) == 1])
		}
		t.notify(Recipient{Person: in.Requester}, fmt.Sprintf("failed/%d/%s", seq, in.Requester), "", &mr)
	}
	for _, p := range told {
		var ways []string
		if s.Kind == StepWebhook {
			ways = append(ways, fmt.Sprintf("retry the call (retry %s)", in.ID))
		}
		if !t.selfApproval(s, p) { // skipping one's own approval is approving it
			ways = append(ways, fmt.Sprintf("skip the step (skip %s and a reason: the request goes on without it)", in.ID))
		}
		ways = append(ways, fmt.Sprintf("cancel the request (cancel %s and a reason)", in.ID))
		mo := *m
		mo.Text = what + fmt.Sprintf("\n%s waits at this step: you may %s.", in.ID, orList(ways))
		if t.selfApproval(s, p) && len(told) == 1 { // the requester owns the flow, and there is no admin
			mo.Text += " You may not skip your own request's step, and " + noOtherAdmin + "."
		}
		t.notify(Recipient{Person: p}, fmt.Sprintf("failed/%d/%s", seq, p), "", &mo)
	}
}

// orList joins choices for a sentence: "A", "A or B", "A, B or C".
func orList(choices []string) string {
	if len(choices) < 2 {
		return strings.Join(choices, "")
	}
	return strings.Join(choices[:len(choices)-1], ", ") + " or " + choices[len(choices)-1]
}

// missingKey is the webhook_ok record's detail naming the fields to store
// that the reply did not have, each with its path: "risk (ticket.key)".
const missingKey = "not in the reply"

// lookupPath reads a dotted path from a decoded JSON reply: "ticket.key",
// or with a list's index, from 0, "items.0.id".
func lookupPath(v map[string]any, path string) (any, bool) {
	var cur any = v
	for _, part := range strings.Split(path, ".") {
		switch x := cur.(type) {
		case map[string]any:
			var ok bool
			if cur, ok = x[part]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(x) || part != strconv.Itoa(i) {
				return nil, false
			}
			cur = x[i]
		default:
			return nil, false
		}
	}
	switch x := cur.(type) {
	case string, float64, bool:
		return x, true
	case nil:
		return nil, false
	}
	return FormatValue(cur), true // an object or a list: as JSON text
}
