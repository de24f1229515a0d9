package flows

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Status is where an instance stands.
type Status string

// Instance statuses. Running, ChangesRequested, Rejected and Failed are
// open (a rejected request may be resubmitted; a failed one waits at the
// step it failed at for its flow's owner or an admin to retry the step's
// call, skip the step or cancel the request); the others are final.
// Declined is a rejection at the step's last round: nothing is left to
// resubmit.
const (
	StatusRunning          Status = "running"
	StatusChangesRequested Status = "changes_requested"
	StatusRejected         Status = "rejected"
	StatusCompleted        Status = "completed"
	StatusDeclined         Status = "declined"
	StatusWithdrawn        Status = "withdrawn"
	StatusCancelled        Status = "cancelled"
	StatusFailed           Status = "failed"
)

// Statuses lists every status, in the order lists and the dashboard show
// them (as they were before failed was open: the open ones first, then
// the final ones, then failed).
var Statuses = []Status{StatusRunning, StatusChangesRequested, StatusRejected, StatusCompleted, StatusDeclined, StatusWithdrawn, StatusCancelled, StatusFailed}

// Open reports whether the instance can still change.
func (s Status) Open() bool {
	return s == StatusRunning || s == StatusChangesRequested || s == StatusRejected || s == StatusFailed
}

// Outcomes are the words of an instance's outcome as the API and the
// outbound events give it (Instance.Result): how it ended, or why it
// waits on its requester or its flow's owner.
var Outcomes = []string{"approved", "completed", "changes_requested", "rejected", "withdrawn", "cancelled", "failed"}

// Result is the instance's outcome as the API and the outbound events give
// it: outcome, one of Outcomes ("" while it runs), says how it ended or
// why it waits (approved, or completed with no approval given; changes
// requested or rejected, the rejection final or not as its status says;
// withdrawn, cancelled, failed), and reason the words given for it (the
// decider's, the canceller's, a failure's error, an on_timeout's "No
// decision within…"), if any. Outcome holds one or the other, as the
// engine wrote it.
func (in *Instance) Result() (outcome, reason string) {
	switch in.Status {
	case StatusRunning:
		return "", ""
	case StatusCompleted:
		if in.Outcome == string(Approved) {
			return string(Approved), ""
		}
		return string(StatusCompleted), ""
	case StatusChangesRequested:
		return string(Changes), in.Outcome
	case StatusRejected, StatusDeclined:
		return string(Rejected), in.Outcome
	}
	return string(in.Status), in.Outcome // withdrawn, cancelled, failed
}

// Decision is what an assignee decided.
type Decision string

// Decisions recorded on a task.
const (
	Pending  Decision = ""
	Approved Decision = "approved"
	Rejected Decision = "rejected"
	Changes  Decision = "changes_requested"
	Done     Decision = "done"
)

// Instance is one run of a flow.
type Instance struct {
	ID        string            `json:"id"`
	Flow      string            `json:"flow"`
	Title     string            `json:"title"`
	Requester string            `json:"requester"`
	Status    Status            `json:"status"`
	Data      map[string]any    `json:"data,omitempty"`
	Refs      map[string]string `json:"refs,omitempty"` // external references (deal id, ticket url)

	Step        string    `json:"step,omitempty"`  // current step id
	Round       int       `json:"round,omitempty"` // round of the current step (1 + resubmissions)
	StepStarted time.Time `json:"step_started,omitzero"`
	Due         time.Time `json:"due,omitzero"`
	Tasks       []Task    `json:"tasks,omitempty"`     // assignments of the current step
	Escalated   []string  `json:"escalated,omitempty"` // people an escalation let decide the current step
	// Channels an escalation told about the current step: their cards say
	// whom it waits on, as the people's do.
	EscalatedChannels []string `json:"escalated_channels,omitempty"`
	// StandingIn: of those escalated to, who was brought in by a rung in
	// place of someone away (a manager, a person it names, a group all
	// away), and whom for.
	StandingIn map[string][]string `json:"standing_in,omitempty"`
	Routed     string              `json:"routed,omitempty"` // why the current step's assignees are not the ones it names, if they are not
	Overdue    bool                `json:"overdue,omitempty"`
	Timers     []Timer             `json:"timers,omitempty"`

	Rounds  map[string]int            `json:"rounds,omitempty"`  // rounds taken per step
	Seen    map[string]map[string]any `json:"seen,omitempty"`    // per step: the data reviewers last decided on
	Changes []Change                  `json:"changes,omitempty"` // what changed since the current step last decided
	Note    string                    `json:"note,omitempty"`    // the requester's note to the reviewers on resubmitting
	History []StepRecord              `json:"history,omitempty"`
	// Passed are the steps the flow last went past because their condition
	// was false; a resubmission that makes one of them apply asks it before
	// returning to Returning, the step that sent the request back.
	Passed    []string `json:"passed,omitempty"`
	Returning string   `json:"returning,omitempty"`

	Outcome   string    `json:"outcome,omitempty"` // final or returning reason
	Created   time.Time `json:"created"`
	Updated   time.Time `json:"updated"` // last changed (a refused attempt, only recorded, is no change)
	Completed time.Time `json:"completed,omitzero"`
	// Completed is when it ended (a final status only). Failed is when a
	// failed request failed: it waits at that step since, and has not
	// ended (Completed is zero until it does).
	Failed time.Time `json:"failed,omitzero"`

	AuditSeq  int    `json:"audit_seq"`
	AuditHead string `json:"audit_head,omitempty"`

	Version int64 `json:"-"` // storage's check-and-set version
}

// Task is one person's assignment on the current step.
type Task struct {
	Assignee  string    `json:"assignee"`
	Since     time.Time `json:"since,omitzero"`     // when Assignee got it (a link signed before is not theirs to use)
	Original  string    `json:"original,omitempty"` // first assignee, when reassigned
	Delegates []string  `json:"delegates,omitempty"`
	// StandIn is the one of Delegates who stands in for Assignee while
	// they are away (given the task when it was made, or by their away):
	// a later away's stand-in replaces them.
	StandIn string `json:"stand_in,omitempty"`
	// Former are who were on the task and no longer are, but Original: a
	// stand-in a later one replaced; the delegates of the task, and any
	// assignee but the first, when it moved to someone else. They took
	// part, and stay involved (Instance.Involves).
	Former   []string  `json:"former,omitempty"`
	Decision Decision  `json:"decision,omitempty"`
	By       string    `json:"by,omitempty"` // who decided (a delegate, an admin, an escalation target)
	At       time.Time `json:"at,omitzero"`
	Reason   string    `json:"reason,omitempty"`
	// Reminded are those sent a reminder of it in their card's thread (or,
	// on a channel step, by DM): the reminders offered its buttons, and
	// close with its card.
	Reminded []string `json:"reminded,omitempty"`
}

// StepRecord is the summary of one finished round of a step.
type StepRecord struct {
	Step    string    `json:"step"`
	Round   int       `json:"round"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`
	Outcome string    `json:"outcome"` // approved, rejected, changes_requested, done, skipped, notified, cancelled…
	By      string    `json:"by,omitempty"`
	// Deciders are everyone whose decision made the outcome (all who
	// approved under an all or quorum policy), in the order they decided.
	Deciders []string `json:"deciders,omitempty"`
	// For are the assignees whose tasks their delegates decided: they
	// answer for the outcome too.
	For      []string `json:"for,omitempty"`
	Reason   string   `json:"reason,omitempty"`
	Assigned []string `json:"assigned,omitempty"`
	// Originals are the first assignees of tasks that were reassigned: they
	// stay involved (may read the status and comment) once the step is over.
	Originals []string `json:"originals,omitempty"`
	// Others are the rest of whom the round's tasks were shared with or
	// moved from (their delegates, a stand-in among them, and Former):
	// they stay involved too.
	Others []string `json:"others,omitempty"`
}

// Change is one field changed by a resubmission.
type Change struct {
	Field string `json:"field"`
	Label string `json:"label"`
	Old   string `json:"old"`
	New   string `json:"new"`
}

// String is "old → new", an empty value shown as (empty).
func (c Change) String() string {
	return cmp.Or(c.Old, "(empty)") + " → " + cmp.Or(c.New, "(empty)")
}

// TimerKind says what a timer does when it fires.
type TimerKind string

// Timer kinds.
const (
	TimerRemind   TimerKind = "remind"
	TimerEscalate TimerKind = "escalate"
	TimerTimeout  TimerKind = "timeout"
	TimerSnooze   TimerKind = "snooze" // a reminder someone asked for (Person)
)

// Timer is a pending timer of the current step. Its ID is unique within the
// instance. Storage keeps the instance in a sorted set scored by its
// earliest timer's At.
type Timer struct {
	ID    string    `json:"id"`
	Kind  TimerKind `json:"kind"`
	Step  string    `json:"step"`
	Round int       `json:"round"`
	N     int       `json:"n"` // reminder number, or escalation rung index
	// Person is who asked to be reminded (a snooze timer).
	Person string    `json:"person,omitempty"`
	At     time.Time `json:"at"`
}

// Clone returns a deep copy.
func (in *Instance) Clone() *Instance {
	if in == nil {
		return nil
	}
	c := *in
	c.Data = maps.Clone(in.Data)
	c.Refs = maps.Clone(in.Refs)
	c.Tasks = slices.Clone(in.Tasks)
	for i := range c.Tasks {
		task := &c.Tasks[i]
		task.Delegates, task.Former, task.Reminded = slices.Clone(task.Delegates), slices.Clone(task.Former), slices.Clone(task.Reminded)
	}
	c.Escalated = slices.Clone(in.Escalated)
	c.EscalatedChannels = slices.Clone(in.EscalatedChannels)
	c.StandingIn = maps.Clone(in.StandingIn) // its lists are replaced, never appended to
	c.Timers = slices.Clone(in.Timers)
	c.Rounds = maps.Clone(in.Rounds)
	if in.Seen != nil {
		c.Seen = make(map[string]map[string]any, len(in.Seen))
		for k, v := range in.Seen {
			c.Seen[k] = maps.Clone(v)
		}
	}
	c.Changes = slices.Clone(in.Changes)
	c.History = slices.Clone(in.History)
	for i := range c.History {
		h := &c.History[i]
		h.Deciders, h.For, h.Assigned, h.Originals, h.Others = slices.Clone(h.Deciders), slices.Clone(h.For), slices.Clone(h.Assigned), slices.Clone(h.Originals), slices.Clone(h.Others)
	}
	c.Passed = slices.Clone(in.Passed)
	return &c
}

// Upgrade brings an instance stored by an earlier build to this one's form;
// a store calls it on each instance it reads. It is idempotent. Earlier
// builds gave a failed request its failure's time as Completed, as if it
// had ended: it is its Failed time.
func (in *Instance) Upgrade() {
	if in.Status == StatusFailed && in.Failed.IsZero() {
		in.Failed, in.Completed = in.Completed, time.Time{}
	}
}

// skippedByHand reports whether the step's last round was skipped by
// someone (its owner, an admin), not passed over by its condition: what
// it would have set was never said.
func (in *Instance) skippedByHand(step string) bool {
	for _, h := range slices.Backward(in.History) {
		if h.Step == step {
			return h.Outcome == "skipped" && h.By != System && h.By != ""
		}
	}
	return false
}

// holdsSeat reports whether person is an assignee of the current step, or a
// delegate of one, whatever their task's decision.
func (in *Instance) holdsSeat(person string) bool {
	return person != "" && slices.ContainsFunc(in.Tasks, func(t Task) bool {
		return t.Assignee == person || slices.Contains(t.Delegates, person)
	})
}

// Pending returns the people who still owe a decision on the current step
// (assignees and their delegates).
func (in *Instance) Pending() []string {
	if in.Status != StatusRunning {
		return nil
	}
	var out []string
	for _, t := range in.Tasks {
		if t.Decision == Pending {
			out = append(out, t.Assignee)
			out = append(out, t.Delegates...)
		}
	}
	return out
}

// Deciders returns everyone who may decide the current step now, as
// their own work: the people it waits on (Pending) and those an escalation
// brought in, once each. "My pending tasks" lists what a person is among
// the deciders of.
func (in *Instance) Deciders() []string {
	out := in.Pending()
	for _, p := range in.Escalated {
		if in.Status == StatusRunning && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// EventKind names an event.
type EventKind string

// Events.
const (
	EventStart          EventKind = "start"
	EventApprove        EventKind = "approve"
	EventReject         EventKind = "reject"
	EventRequestChanges EventKind = "request_changes"
	EventResubmit       EventKind = "resubmit"
	EventReassign       EventKind = "reassign"
	EventDelegate       EventKind = "delegate"
	EventComment        EventKind = "comment"
	EventWithdraw       EventKind = "withdraw"
	EventCancel         EventKind = "cancel"
	EventSkip           EventKind = "skip"
	EventRetry          EventKind = "retry" // a failed webhook step's call, made again (a new round)
	EventTaskDone       EventKind = "task_done"
	EventTimer          EventKind = "timer"
	EventWebhookResult  EventKind = "webhook_result"
	EventSnooze         EventKind = "snooze" // Data["for"]: how long, e.g. "2h", or "tomorrow"
)

// Event is something that happened to an instance. Every inbound event carries
// an idempotency Key: a redelivery of the same key returns the first outcome.
type Event struct {
	Kind     EventKind         `json:"kind"`
	Key      string            `json:"key"`
	Instance string            `json:"instance"` // for start: the id storage reserved
	Actor    string            `json:"actor,omitempty"`
	Platform string            `json:"platform,omitempty"`
	Via      string            `json:"via,omitempty"`   // who sent it for the actor, e.g. "api token ci-bot"; "" for the actor themself
	Flow     string            `json:"flow,omitempty"`  // start
	Data     map[string]string `json:"data,omitempty"`  // start, resubmit: the form; task_done: outputs
	Refs     map[string]string `json:"refs,omitempty"`  // start: external references
	Step     string            `json:"step,omitempty"`  // the step the actor saw ("" = current)
	Round    int               `json:"round,omitempty"` // the round the actor saw (0 = current)
	Reason   string            `json:"reason,omitempty"`
	Target   string            `json:"target,omitempty"` // reassign, delegate: the person
	From     string            `json:"from,omitempty"`   // reassign, delegate by an admin: whose task ("" = the first pending)
	Timer    string            `json:"timer,omitempty"`  // timer: its id
	Result   *WebhookResult    `json:"result,omitempty"`
	// StandIn marks a delegate event sent for the actor's away (their away
	// command): the target stands in for them, in place of whoever stood
	// in before.
	StandIn bool `json:"stand_in,omitempty"`
	// Fingerprint stands for what the request that carried the event said
	// (the API's: a hash of its body as canonical JSON). It is kept with
	// the event's outcome, so a sender reusing the event's key on another
	// request can be told apart from one retrying it.
	Fingerprint string `json:"fingerprint,omitempty"`
	// Away are the people out of office as the event is handled (the
	// runtime's snapshot, not the sender's): a new task of someone away is
	// shared with their stand-in.
	Away map[string]Away `json:"-"`
}

// Away is someone out of office until Until, whose new tasks meanwhile are
// shared with StandIn ("" means their manager), who decides on their
// behalf as a delegate does.
type Away struct {
	Until   time.Time `json:"until"`
	StandIn string    `json:"stand_in,omitempty"`
}

// WebhookResult is the outcome of a webhook step's call.
type WebhookResult struct {
	OK     bool           `json:"ok"`
	Status int            `json:"status,omitempty"`
	Reply  map[string]any `json:"reply,omitempty"`
	Error  string         `json:"error,omitempty"`
	// Body is the start of a failed call's reply, as people may read it
	// (bounded, one line, no control characters, nothing of the step's
	// URL or secret): what the receiver said was wrong; or of a successful
	// reply that is no JSON object.
	Body string `json:"body,omitempty"`
	// NotJSON says what a successful reply was, when it is no JSON object
	// (read after "its reply is": "empty", "not a JSON object (text/html)",
	// "over 1 MiB (application/json), more than Baton reads"): nothing can
	// be stored from it, and a step that stores fields fails.
	NotJSON string `json:"not_json,omitempty"`
}

// MaxStoredChars bounds each value a webhook step stores from its reply,
// in characters as written (an object or a list as JSON): it is carried in
// the request's data, every event and template.
const MaxStoredChars = 4000

// storeProblem says why a webhook step cannot store what it asks for from
// a successful reply res: the reply is no JSON object, or a value is over
// MaxStoredChars. "" when it can (or stores nothing).
func storeProblem(s *Step, res *WebhookResult) string {
	if len(s.Webhook.Store) == 0 {
		return ""
	}
	names := slices.Sorted(maps.Keys(s.Webhook.Store))
	from := fmt.Sprintf("HTTP %d from %s", res.Status, HookTarget(s.Webhook.URL))
	if res.Reply == nil {
		return fmt.Sprintf("%s, but its reply is %s: %s cannot be stored from it", from, cmp.Or(res.NotJSON, "not a JSON object"), strings.Join(names, ", "))
	}
	var long []string
	for _, name := range names {
		if v, ok := lookupPath(res.Reply, s.Webhook.Store[name]); ok {
			if n := utf8.RuneCountInString(FormatValue(v)); n > MaxStoredChars {
				long = append(long, fmt.Sprintf("%s (%s) has %s", name, s.Webhook.Store[name], formatNumber(float64(n))))
			}
		}
	}
	if len(long) > 0 {
		return fmt.Sprintf("%s, but a value to store from its reply is over %s characters, the most a stored value may have: %s; store a shorter part of the reply",
			from, formatNumber(MaxStoredChars), strings.Join(long, ", "))
	}
	return ""
}

// Recipient is where a message goes: a person (directory id) or a channel
// (directory channel id).
type Recipient struct {
	Person  string `json:"person,omitempty"`
	Channel string `json:"channel,omitempty"`
}

// EffectKind names an effect.
type EffectKind string

// Effects.
const (
	EffectNotify      EffectKind = "notify"       // send Msg to To; remember it as Card
	EffectUpdate      EffectKind = "update"       // replace the sent card keyed Card, or every one under Card when it ends in "/"
	EffectSetTimer    EffectKind = "set_timer"    // schedule Timer
	EffectCancelTimer EffectKind = "cancel_timer" // drop Timer.ID
	EffectWebhook     EffectKind = "webhook"      // call Webhook and report back a webhook_result
	EffectHook        EffectKind = "hook"         // deliver Hook.Event to a subscriber (hooks.go); nothing reports back
)

// Known reports whether k is an effect this version makes (an outbox entry
// may hold a newer version's, or be damaged: its kind is then unknown).
func (k EffectKind) Known() bool {
	switch k {
	case EffectNotify, EffectUpdate, EffectSetTimer, EffectCancelTimer, EffectWebhook, EffectHook:
		return true
	}
	return false
}

// Effect is something the runtime must do because of a transition. Storage
// commits effects with the transition: timers with the instance's state
// (and its place in the timer set), the rest into the outbox.
type Effect struct {
	Kind    EffectKind   `json:"kind"`
	To      Recipient    `json:"to,omitzero"`
	Card    string       `json:"card,omitempty"`   // key of the card; for update, a key prefix when it ends in "/"
	Thread  string       `json:"thread,omitempty"` // notify: reply in the thread of this card key
	Msg     *Message     `json:"msg,omitempty"`
	Timer   *Timer       `json:"timer,omitempty"`
	Webhook *WebhookCall `json:"webhook,omitempty"`
	Hook    *HookCall    `json:"hook,omitempty"`
}

// WebhookCall is an outgoing call of a webhook step.
type WebhookCall struct {
	URL     string         `json:"url"`
	Secret  string         `json:"secret,omitempty"` // name of the signing secret
	Retries int            `json:"retries"`
	Step    string         `json:"step"`
	Round   int            `json:"round"`
	Body    map[string]any `json:"body"`
	// Due is when the step times out (zero: it does not): no attempt
	// runs past it, as its reply would come too late.
	Due time.Time `json:"due,omitzero"`
}

// Outcome is what the actor of an event is told.
type Outcome struct {
	OK       bool   `json:"ok"`
	Code     string `json:"code,omitempty"` // refusal code: not_assignee, already_decided, not_allowed, closed…
	Text     string `json:"text"`
	Instance string `json:"instance,omitempty"`
	Status   Status `json:"status,omitempty"`
	// Mentions are the ids Text may show as mentions, as a Message's.
	Mentions []string `json:"mentions,omitempty"`
	// Fingerprint is the Event's: a redelivery under the same key gets
	// the first event's, whatever its own says.
	Fingerprint string `json:"fingerprint,omitempty"`
}

// Transition is the result of applying an event: the new instance, what it
// causes, what is recorded and what the actor is told. Noop means nothing is
// to be stored (e.g. a timer that was already cancelled).
type Transition struct {
	Instance *Instance
	Effects  []Effect
	Audit    []AuditEntry
	// AuditJSON holds Audit's entries encoded as they are stored (the
	// bytes their hashes cover, with the hash), when the engine made them.
	AuditJSON [][]byte
	Outcome   Outcome
	Noop      bool
}

// lastRecord is the record of the step's round (0: its latest round), or nil
// if it has none.
func (in *Instance) lastRecord(step string, round int) *StepRecord {
	for i := len(in.History) - 1; i >= 0; i-- {
		if h := &in.History[i]; h.Step == step && (round == 0 || h.Round == round) {
			return h
		}
	}
	return nil
}
