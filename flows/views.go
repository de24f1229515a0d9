package flows

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Timeline renders an instance for the status command: each step with its
// owner and outcome, then every recorded event (who did what, when, why).
// Times are in viewer's timezone.
func (e *Engine) Timeline(in *Instance, audit []AuditEntry, viewer string, now time.Time) *Message {
	loc := e.dir.Location(viewer)
	def, ok := e.flows[in.Flow]
	name := in.Flow
	if ok {
		name = def.Name
	}
	m := &Message{Kind: MsgTimeline, Instance: in.ID, Flow: in.Flow, Step: in.Step, Round: in.Round,
		Title: fmt.Sprintf("%s %s: %s", name, in.ID, in.Title)}
	named := in.people()
	for _, a := range audit {
		named = append(named, a.Actor, a.OnBehalf, a.Detail["from"])
		for _, k := range []string{"to", "waiting_on"} { // lists of ids (of names, in entries of earlier builds)
			named = append(named, strings.Split(a.Detail[k], ", ")...)
		}
	}
	m.Mentions = e.dir.outsiders(named)
	m.Text = "Status: " + statusWords(in)
	if ok {
		for f := range def.shownFields() {
			if v, has := in.Data[f.Name]; has {
				val := FormatValue(v)
				if f.Kind == FieldPerson {
					val = e.dir.Name(val)
				}
				m.Fields = append(m.Fields, Fact{Label: f.Label, Value: val, Internal: f.Internal})
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(in.Refs)) {
		m.Fields = append(m.Fields, Fact{Label: k, Value: in.Refs[k]})
	}
	m.Context = []string{fmt.Sprintf("Requested by %s · %s", e.dir.Name(in.Requester), FormatTime(in.Created, loc))}
	if ok {
		for _, s := range def.Steps {
			m.Items = append(m.Items, e.stepItem(def, in, &s, audit, loc, now))
		}
		if in.Step != "" && in.Status.Open() && def.Step(in.Step) == nil {
			text := stoppedAt(in.Step)
			if in.Status == StatusChangesRequested || in.Status == StatusRejected { // with its requester: nothing to skip
				text = fmt.Sprintf("Sent back from %s, a step the flow no longer has: it cannot be resubmitted; its requester withdraws it (and starts a new request), or an admin cancels it.", in.Step)
			}
			m.Items = append(m.Items, Item{Title: in.Step, Text: text})
		}
	}
	places := fieldPlaces(def)
	for _, a := range audit {
		item := Item{Title: fmt.Sprintf("%s · %s %s", FormatTime(a.At, loc), e.dir.Name(a.Actor), actionWords(&a))}
		var parts []string
		if a.Step != "" {
			step := "step " + a.Step // one the flow no longer has
			if s := stepOf(def, a.Step); s != nil && s.Name != "" {
				step = s.Name
			}
			if a.Round > 0 { // a notify step has no rounds
				step += fmt.Sprintf(", round %d", a.Round)
			}
			parts = append(parts, step)
		}
		if a.OnBehalf != "" && a.OnBehalf != a.Actor { // a delegation of one's own task names it too
			parts = append(parts, "on behalf of "+e.dir.Name(a.OnBehalf))
		}
		if a.Via != "" {
			parts = append(parts, "via "+a.Via)
		}
		if a.Reason != "" {
			label := map[string]string{"commented": "comment: ", "resubmitted": "note: "}[a.Action]
			parts = append(parts, cmp.Or(label, "reason: ")+a.Reason)
		}
		for _, k := range detailKeys(places, a.Detail) {
			parts = append(parts, LabelColon(detailLabel(def, k))+e.detailValue(def, k, a.Detail[k], loc))
		}
		item.Text = strings.Join(parts, " · ")
		m.Items = append(m.Items, item)
	}
	if in.Status.Open() && viewer == in.Requester { // only theirs to withdraw, or to resubmit
		if a, ok := resubmitAction(def, in); ok {
			m.Actions = append(m.Actions, a)
		}
		m.Actions = append(m.Actions, Action{Kind: ActWithdraw, Label: "Withdraw", Instance: in.ID})
	}
	return m
}

// resubmitAction is the Edit and resubmit button of a request sent back
// to its requester, while its step allows another round.
func resubmitAction(def *Definition, in *Instance) (Action, bool) {
	if def == nil || in.Status != StatusChangesRequested && in.Status != StatusRejected {
		return Action{}, false
	}
	if s := def.Step(in.Step); s != nil && in.Rounds[s.ID] < s.MaxRounds {
		return resubmitButton(in), true
	}
	return Action{}, false
}

// resubmitButton is the Edit and resubmit button of in, sent back.
func resubmitButton(in *Instance) Action {
	return Action{Kind: ActResubmit, Label: "Edit and resubmit", Style: "primary", Instance: in.ID, Step: in.Step, Round: in.Round}
}

func statusWords(in *Instance) string {
	s := strings.ReplaceAll(string(in.Status), "_", " ")
	if in.Status == StatusCompleted && in.Outcome != "" && in.Outcome != string(StatusCompleted) {
		s += " (" + in.Outcome + ")"
	} else if in.Outcome != "" && in.Status != StatusRunning && in.Outcome != string(in.Status) {
		s += ": " + in.Outcome
	}
	return s
}

// detailValue shows an audit detail to people: the person ids it holds
// (whom a task moved from and to, the assignees, a person field) by name.
func (e *Engine) detailValue(def *Definition, key, value string, loc *time.Location) string {
	if t, err := time.Parse(time.RFC3339, value); err == nil && key == "until" { // a snooze's end
		return FormatTime(t, loc)
	}
	people := key == "from" || key == "to" || key == "assignees" || key == "waiting_on"
	if def != nil && !people {
		name := strings.TrimPrefix(key, "changed.")
		for f := range def.allFields() {
			people = people || f.Name == name && f.Kind == FieldPerson
		}
	}
	if !people {
		return value
	}
	if value == "" && key == "to" { // a notify step whose fields were left empty
		return "nobody (no one it names is on this request)"
	}
	// Lists are joined with ", ", changes with " → "; names (already
	// shown by name) and channels pass through Name unchanged.
	var b strings.Builder
	for i, chunk := range strings.Split(value, " → ") {
		if i > 0 {
			b.WriteString(" → ")
		}
		for j, id := range strings.Split(chunk, ", ") {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString(e.dir.Name(id))
		}
	}
	return b.String()
}

// stepOf is def's step called id, or nil (def nil: a flow no longer
// defined).
func stepOf(def *Definition, id string) *Step {
	if def == nil {
		return nil
	}
	return def.Step(id)
}

// detailKeys are a record's detail keys as a timeline lists them: what
// is not a field first (assignees, to), by name; then the fields, a changed
// one at its field's place, in the order the flow has them (its form's,
// then its steps' outputs), as its cards show them.
// place is fieldPlaces(def).
func detailKeys(place map[string]int, detail map[string]string) []string {
	at := func(k string) int {
		if n, ok := place[strings.TrimPrefix(k, "changed.")]; ok {
			return n
		}
		return -1
	}
	keys := slices.Sorted(maps.Keys(detail))
	slices.SortStableFunc(keys, func(a, b string) int { return cmp.Compare(at(a), at(b)) })
	return keys
}

// fieldPlaces numbers def's fields (nil: none) in the order the flow has
// them.
func fieldPlaces(def *Definition) map[string]int {
	place := map[string]int{}
	if def != nil {
		for f := range def.allFields() {
			if _, ok := place[f.Name]; !ok {
				place[f.Name] = len(place)
			}
		}
	}
	return place
}

// detailLabel names an audit detail key for people: a field's label where
// the definition (nil when the flow is gone) has it, so "changed.needed_by"
// reads "Needed by changed"; other keys as recorded, spaced.
func detailLabel(def *Definition, key string) string {
	name, changed := strings.CutPrefix(key, "changed.")
	label := strings.ReplaceAll(name, "_", " ")
	if def != nil {
		for f := range def.allFields() {
			if f.Name == name {
				label = f.Label
				break
			}
		}
	}
	if changed {
		return label + " changed"
	}
	return label
}

func (e *Engine) stepItem(def *Definition, in *Instance, s *Step, audit []AuditEntry, loc *time.Location, now time.Time) Item {
	it := Item{Title: s.Name}
	var rounds []string
	for _, h := range in.History {
		if h.Step != s.ID {
			continue
		}
		line := fmt.Sprintf("%s", DecisionWords(h.Outcome))
		if ids := deciders(h, audit); len(ids) > 0 {
			names := make([]string, len(ids))
			for i, id := range ids {
				names[i] = e.dir.Name(id)
				if as := e.decidedAs(h, audit, id); as != "" { // a delegate's, an admin's decision
					names[i] += " (" + as + ")"
				}
			}
			line += " by " + JoinNames(names)
		}
		line += " · " + FormatTime(h.Ended, loc)
		if h.Round > 1 {
			line = fmt.Sprintf("round %d: %s", h.Round, line)
		}
		if h.Reason != "" {
			line += " · " + h.Reason
		}
		rounds = append(rounds, line)
	}
	// A resubmission's edits took the step out of its condition after it
	// decided: its decisions no longer hold the request (unless it was asked
	// again since).
	for i := len(audit) - 1; i >= 0; i-- {
		a := audit[i]
		if a.Step != s.ID || a.Refused {
			continue
		}
		if cond, ok := strings.CutPrefix(a.Reason, reasonNoLongerApplies); ok && a.Action == "skipped" && a.Actor == System && len(rounds) > 0 {
			rounds = append(rounds, "Not needed now: its condition ("+cond+") is false · "+FormatTime(a.At, loc))
		}
		// Reopened and not asked again yet: said while the request is on its
		// way back through it (it may end first, or the step stop applying).
		if a.Action == "reopened" && len(rounds) > 0 && in.Status == StatusRunning && slices.Contains(in.Passed, s.ID) && applies(s, in) {
			rounds = append(rounds, "Reopened: "+a.Reason+" · "+FormatTime(a.At, loc)+" · to be asked again")
		}
		if a.Action == "skipped" || a.Action == "assigned" || a.Action == "reopened" {
			break // the latest of these says where the step stands
		}
	}
	if in.Step == s.ID && in.Status == StatusRunning {
		line := "Waiting on " + JoinNames(waitingLabels(nil, in.Tasks, e.dir.Name))
		if s.Kind == StepWebhook {
			line = "Waiting on " + hostOf(s.Webhook.URL)
		}
		line += " for " + FormatDuration(max(now.Sub(in.StepStarted), 0))
		if !in.Due.IsZero() {
			line += " · due " + FormatTime(in.Due, loc)
			if !in.Due.After(now) {
				line += " (overdue)"
			}
		}
		rounds = append(rounds, line)
	}
	if in.Step == s.ID && in.Status == StatusFailed {
		// Stopped here, and waiting for its owner or an admin. A step that
		// failed before it ran (its condition could not be evaluated;
		// nobody could be assigned) has no record of the round: said.
		if h := in.lastRecord(s.ID, in.Round); h == nil || h.Outcome != "failed" {
			rounds = append(rounds, "Failed · "+FormatTime(in.Failed, loc)+" · "+in.Outcome)
		}
		rounds = append(rounds, "Waiting on "+e.rescueWords(def, s, in.Requester))
	}
	if len(rounds) == 0 {
		// Passed over: a step above where the request is (or all of them,
		// once it completed). A request that ended early never reached the
		// steps below where it stopped.
		rounds = []string{"Not reached"}
		if in.Status == StatusCompleted || in.Step != "" && def.StepIndex(in.Step) > def.StepIndex(s.ID) {
			rounds = []string{"Not on this request's path"} // a step went on past it (next); one nobody skipped
			for _, a := range audit {
				if a.Step != s.ID || a.Action != "skipped" || a.Actor != System {
					continue
				}
				// The condition as it was evaluated, from the record (the
				// flow's may have changed since).
				switch {
				case strings.HasPrefix(a.Reason, "condition is false: "):
					rounds = []string{"Not needed: its condition (" + strings.TrimPrefix(a.Reason, "condition is false: ") + ") is false"}
				case strings.HasPrefix(a.Reason, "condition could not be evaluated"):
					rounds = []string{"Passed over: its condition could not be evaluated; see the log below"}
				}
			}
		}
	}
	it.Text = strings.Join(rounds, "\n")
	return it
}

// TaskList renders "my pending tasks" for viewer.
func (e *Engine) TaskList(ins []*Instance, viewer string, now time.Time) *Message {
	return e.TaskListIn(ins, viewer, now, e.dir.Location(viewer))
}

// TaskListIn is TaskList with its times in loc: the timezone a platform
// has for a viewer the directory gives none.
func (e *Engine) TaskListIn(ins []*Instance, viewer string, now time.Time, loc *time.Location) *Message {
	m := &Message{Kind: MsgList, Title: "Your pending tasks"}
	for _, in := range ins {
		def, ok := e.flows[in.Flow]
		if !ok {
			continue
		}
		s := def.Step(in.Step)
		if s == nil {
			continue
		}
		t := &tx{e: e, def: def, in: in, now: now}
		card := t.taskCard(s, MsgTask, viewer)
		it := Item{Title: card.Title, Text: fmt.Sprintf("%s · requested by %s · waiting %s", s.Name, e.dir.Name(in.Requester), FormatDuration(now.Sub(in.StepStarted)))}
		// Someone else's task, shared with the viewer (a delegation, a
		// stand-in), when they hold none of their own there: whose.
		if !slices.ContainsFunc(in.Tasks, func(o Task) bool { return o.Assignee == viewer && o.Decision == Pending }) {
			var forWhom []string
			for _, task := range in.Tasks {
				if task.Decision == Pending && slices.Contains(task.Delegates, viewer) {
					forWhom = append(forWhom, e.dir.Name(task.Assignee))
				}
			}
			if len(forWhom) > 0 {
				it.Text += " · for " + JoinNames(forWhom)
			}
		}
		if !in.Due.IsZero() {
			it.Text += " · due " + FormatTime(in.Due, loc)
		}
		it.Actions = card.Actions
		m.Items = append(m.Items, it)
		m.Mentions = append(m.Mentions, in.people()...) // made outsiders below
	}
	m.Mentions = e.dir.outsiders(m.Mentions) // for a renderer to name them
	if len(m.Items) == 0 {
		m.Text = "Nothing is waiting on you."
	}
	return m
}

// RequestList renders "my requests" for viewer. start is the start
// command as the viewer's platform types it ("start <flow>", "/baton start
// <flow>"), said when there are none.
func (e *Engine) RequestList(ins []*Instance, viewer string, now time.Time, start string) *Message {
	loc := e.dir.Location(viewer)
	m := &Message{Kind: MsgList, Title: "Your requests"}
	for _, in := range ins {
		name := in.Flow
		def, ok := e.flows[in.Flow]
		if ok {
			name = def.Name
		}
		it := Item{Title: fmt.Sprintf("%s %s: %s", name, in.ID, in.Title), Text: statusWords(in) + " · started " + FormatTime(in.Created, loc)}
		if in.Status == StatusRunning && ok {
			t := &tx{e: e, def: def, in: in, now: now}
			it.Text += " · " + t.waitingOn()
		}
		it.Actions = []Action{{Kind: ActStatus, Label: "Status", Instance: in.ID}}
		if a, ok := resubmitAction(def, in); ok {
			it.Actions = append(it.Actions, a)
		}
		m.Items = append(m.Items, it)
		m.Mentions = append(m.Mentions, in.people()...)
	}
	m.Mentions = e.dir.outsiders(m.Mentions)
	if len(m.Items) == 0 {
		m.Text = "You have no requests yet. Start one with: " + start + "."
	}
	return m
}

// Help lists the commands and the flows, with a button to start each.
// note (e.g. "unknown command") is shown first.
func (e *Engine) Help(note string) *Message {
	m := &Message{Kind: MsgHelp, Title: "Baton: start and track requests", Text: note}
	m.Fields = []Fact{
		{Label: "start <flow>", Value: "start a request (opens its form)"},
		{Label: "tasks", Value: "what is waiting on you"},
		{Label: "requests", Value: "the requests you started"},
		{Label: "status <id>", Value: "where a request stands: each step, its owner, who decided what, when and why"},
		{Label: "cancel <id> <reason>", Value: "withdraw your request (owners and admins: cancel any)"},
		{Label: "snooze <id> [2h | 1d | tomorrow]", Value: "remind me of a task later (in 1 h unless you say); its due time and escalations stay as they are"},
		{Label: "comment <id> <text>", Value: "comment on a request you are part of; the others on it are told"},
		{Label: "delegate <id> <person> [reason]", Value: "share your task with someone who decides on your behalf (admins: anyone's)"},
		{Label: "skip <id> <reason>", Value: "flow owners and admins: skip the step a request is at"},
		{Label: "retry <id>", Value: "flow owners and admins: make a failed webhook step's call again"},
		{Label: "away until <last day> [person]", Value: "out of office: your tasks are shared with who stands in (your backup or manager, unless you name someone) until you are back"},
		{Label: "back", Value: "back in the office: new tasks come to you alone again"},
		{Label: "help", Value: "this message"},
	}
	for _, d := range e.order {
		desc := d.Description
		if i := strings.IndexByte(desc, '\n'); i >= 0 {
			desc = desc[:i]
		}
		m.Items = append(m.Items, Item{Title: fmt.Sprintf("%s (start %s)", d.Name, d.Command), Text: desc,
			Actions: []Action{{Kind: ActStart, Label: "Start " + d.Name, Style: "primary", Flow: d.ID}}})
	}
	return m
}

// rescueWords says who a request of requester's that failed at step s
// (nil: one its flow no longer has) waits on, and what they may do. A
// requester who owns the flow may not skip their own request's approval
// (skip): then an admin may, and with no other admin nobody may.
func (e *Engine) rescueWords(def *Definition, s *Step, requester string) string {
	may := "skip the step or cancel the request"
	if s != nil && s.Kind == StepWebhook {
		may = "retry the call, skip the step or cancel the request"
	}
	if def.Owner != requester || !selfApproval(s, requester, requester) {
		return "its flow's owner (" + e.dir.Name(def.Owner) + ") or an admin, who may " + may
	}
	if len(e.admins) > 1 || len(e.admins) == 1 && !e.admins[requester] {
		return "an admin, who may " + may + ", or its flow's owner (" + e.dir.Name(def.Owner) + "), who made it and may cancel or withdraw it, not skip its step"
	}
	return e.dir.Name(requester) + ", who made it and owns its flow: they may cancel or withdraw it, not skip their own request's step, and " + noOtherAdmin
}

// noOtherAdmin ends what is said of a step that only an admin may skip, as
// its requester owns the flow, when there is no admin but the requester.
const noOtherAdmin = "there is no other admin who may (BATON_ADMINS names admins)"

// stoppedAt says a request is at step, which its flow no longer has, and
// what can be done.
func stoppedAt(step string) string {
	return fmt.Sprintf("Stopped at %s, a step the flow no longer has: its owner or an admin skips it (the request goes on after the last step it went through) or cancels the request.", step)
}
