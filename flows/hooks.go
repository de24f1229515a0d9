package flows

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Outbound event webhooks: other systems (a CRM, a ticket tracker, a data
// warehouse) subscribe to what happens to instances. A flow lists its
// subscribers under `webhooks:`; the runtime adds global ones from its
// configuration. HookEvents derives the events from a transition's audit
// entries, so an event exists exactly when its audit entry does, and the
// runtime commits one EffectHook per event and subscriber with the
// transition: delivery is at least once, never lost, never invented.

// Hook event types.
const (
	HookStarted     = "started"
	HookAssigned    = "assigned"    // a step was assigned to people (a new round)
	HookDecided     = "decided"     // someone approved, rejected, requested changes or marked a task done
	HookReminded    = "reminded"    // the people waited on were reminded
	HookEscalated   = "escalated"   // an overdue step escalated
	HookCompleted   = "completed"   // the flow finished
	HookCancelled   = "cancelled"   // cancelled by an owner or admin, or withdrawn by the requester (action tells which)
	HookResubmitted = "resubmitted" // the requester resubmitted after changes were requested
	HookReassigned  = "reassigned"  // a task was reassigned or delegated
	HookCommented   = "commented"
	HookFailed      = "failed"   // a step failed (its webhook, its condition, nobody to assign): the request waits there for its owner or an admin
	HookDeclined    = "declined" // rejected at its last round: the request is closed
)

// HookEventTypes lists every hook event type.
var HookEventTypes = []string{HookStarted, HookAssigned, HookDecided, HookReminded, HookEscalated, HookCompleted,
	HookCancelled, HookResubmitted, HookReassigned, HookCommented, HookFailed, HookDeclined}

// hookTypes maps audit actions to hook event types.
var hookTypes = map[string]string{
	"started": HookStarted, "assigned": HookAssigned,
	string(Approved): HookDecided, string(Rejected): HookDecided, string(Changes): HookDecided, string(Done): HookDecided,
	"reminded": HookReminded, "escalated": HookEscalated, "completed": HookCompleted,
	"cancelled": HookCancelled, "withdrawn": HookCancelled, "resubmitted": HookResubmitted,
	"reassigned": HookReassigned, "delegated": HookReassigned, "commented": HookCommented,
	"declined": HookDeclined,
}

// Hook is a subscriber of a flow's events.
type Hook struct {
	// Name tells subscribers apart where their URLs are not shown (paths
	// and queries may hold secrets): "purchase webhook 1" (a flow's
	// webhooks, in order), "BATON_WEBHOOK_URLS 2" (the global ones).
	Name   string
	URL    string   // where events are POSTed
	Secret string   // name of the signing secret (BATON_SECRET_<NAME>); "" means "webhook"
	Events []string // the event types wanted; empty means all
}

// Wants reports whether the hook subscribes to events of type typ.
func (h Hook) Wants(typ string) bool { return len(h.Events) == 0 || slices.Contains(h.Events, typ) }

// HookEvent is the JSON body of an outbound webhook call.
type HookEvent struct {
	ID         string            `json:"id"`   // instance id "." audit seq: unique, the same on every redelivery
	Type       string            `json:"type"` // one of HookEventTypes
	Action     string            `json:"action"`
	At         time.Time         `json:"at"`
	Instance   HookInstance      `json:"instance"`
	Step       string            `json:"step,omitempty"`
	Round      int               `json:"round,omitempty"`
	Actor      string            `json:"actor"`                  // who acted (baton for timers and the system)
	OnBehalfOf string            `json:"on_behalf_of,omitempty"` // whose task a delegate or admin decided
	Via        string            `json:"via,omitempty"`          // who sent it for the actor, e.g. "api token crm"
	Decision   Decision          `json:"decision,omitempty"`     // decided
	Reason     string            `json:"reason,omitempty"`
	Assignees  []string          `json:"assignees,omitempty"` // assigned: who the step now waits on
	Detail     map[string]string `json:"detail,omitempty"`
}

// HookInstance is the instance as it stands after the transition.
type HookInstance struct {
	ID        string            `json:"id"`
	Flow      string            `json:"flow"`
	Title     string            `json:"title"`
	Requester string            `json:"requester"`
	Status    Status            `json:"status"`
	Outcome   string            `json:"outcome,omitempty"` // as the API's: one of Outcomes (Instance.Result)
	Reason    string            `json:"reason,omitempty"`  // the words given for the outcome, if any
	Step      string            `json:"step,omitempty"`
	Round     int               `json:"round,omitempty"`
	WaitingOn []string          `json:"waiting_on,omitempty"`
	Due       time.Time         `json:"due,omitzero"`
	Data      map[string]any    `json:"data,omitempty"`
	Refs      map[string]string `json:"refs,omitempty"`
	Created   time.Time         `json:"created"`
	Completed time.Time         `json:"completed,omitzero"`
}

// HookCall is one event to deliver to one subscriber (EffectHook).
type HookCall struct {
	Name   string    `json:"name,omitempty"` // the Hook's
	URL    string    `json:"url"`
	Secret string    `json:"secret,omitempty"` // name of the signing secret
	Event  HookEvent `json:"event"`
}

// HookAttempt records one delivery attempt of an event to a subscriber, for
// operators and API clients.
type HookAttempt struct {
	Instance   string    `json:"instance"`
	Event      string    `json:"event"` // HookEvent.ID
	Type       string    `json:"type"`
	Target     string    `json:"target"`               // the subscriber's scheme://host (paths and queries may hold secrets)
	Subscriber string    `json:"subscriber,omitempty"` // its Hook's Name, which tells subscribers on one host apart
	Attempt    int       `json:"attempt"`
	At         time.Time `json:"at"`
	OK         bool      `json:"ok"`
	Status     int       `json:"status,omitempty"` // HTTP status, 0 when none came back
	Error      string    `json:"error,omitempty"`
}

// Subscriber names the call's subscriber in errors and logs: its HookTarget
// and its Hook's name ("https://hooks.example.com (purchase webhook 1)").
func (c *HookCall) Subscriber() string {
	if c.Name == "" { // queued by an earlier version
		return HookTarget(c.URL)
	}
	return HookTarget(c.URL) + " (" + c.Name + ")"
}

// HookTarget is the part of a subscriber URL that is safe to show and log.
func HookTarget(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(invalid url)"
	}
	return u.Scheme + "://" + u.Host
}

// HookEvents returns the events a committed transition announces: one per
// audit entry that has a hook type (refused attempts have none), in order.
func HookEvents(t *Transition) []HookEvent {
	if t == nil || t.Noop || t.Instance == nil {
		return nil
	}
	in := t.Instance
	outcome, reason := in.Result()
	snap := HookInstance{ID: in.ID, Flow: in.Flow, Title: in.Title, Requester: in.Requester, Status: in.Status, Outcome: outcome, Reason: reason,
		Step: in.Step, Round: in.Round, WaitingOn: in.Pending(), Due: in.Due, Data: in.Data, Refs: in.Refs,
		Created: in.Created, Completed: in.Completed}
	var out []HookEvent
	for _, a := range t.Audit {
		typ, ok := hookTypes[a.Action]
		if (a.Action == "webhook_failed" || a.Action == "condition_failed" || a.Action == "assign_failed") && in.Status == StatusFailed {
			typ, ok = HookFailed, true
		}
		if !ok || a.Refused {
			continue
		}
		ev := HookEvent{ID: in.ID + "." + strconv.Itoa(a.Seq), Type: typ, Action: a.Action, At: a.At, Instance: snap,
			Step: a.Step, Round: a.Round, Actor: a.Actor, OnBehalfOf: a.OnBehalf, Via: a.Via, Reason: a.Reason, Detail: a.Detail}
		switch typ {
		case HookDecided:
			ev.Decision = Decision(a.Action)
		case HookAssigned:
			for _, p := range strings.Split(a.Detail["assignees"], ", ") {
				if p != "" {
					ev.Assignees = append(ev.Assignees, p)
				}
			}
		}
		out = append(out, ev)
	}
	return out
}

type rawHook struct {
	URL    string   `yaml:"url"`
	Secret string   `yaml:"secret"`
	Events []string `yaml:"events"`
}

// hooks validates a flow's webhooks: key.
func (v *validator) hooks(raw []rawHook) []Hook {
	var out []Hook
	for i, r := range raw {
		p := fmt.Sprintf("webhooks[%d]", i)
		if err := CheckHookURL(r.URL); err != nil {
			v.add(p+".url", "%v", err)
		}
		if r.Secret != "" && !namePattern.MatchString(r.Secret) {
			v.add(p+".secret", "secret %q must be a lowercase name (its value is in BATON_SECRET_<NAME>)", r.Secret)
		}
		for j, e := range r.Events {
			if !slices.Contains(HookEventTypes, e) {
				v.add(fmt.Sprintf("%s.events[%d]", p, j), "event %q is not known; use %s", e, strings.Join(HookEventTypes, ", "))
			}
		}
		out = append(out, Hook{URL: r.URL, Secret: r.Secret, Events: r.Events})
	}
	return out
}

// CheckHookURL checks a webhook URL (a subscriber's or a step's). Its
// error names the URL by scheme and host only, as HookURLProblem says why.
func CheckHookURL(raw string) error {
	if p := HookURLProblem(raw); p != "" {
		if u, err := url.Parse(raw); err == nil && u.Host != "" {
			return fmt.Errorf("webhook url %s %s", HookTarget(raw), p)
		}
		return fmt.Errorf("webhook url %s", p)
	}
	return nil
}

// URLProblem says what is wrong with a URL that url.Parse refused, without
// quoting any of it: the parser's errors quote the URL, or a part of it
// such as an "invalid port" that is in fact the start of a password.
func URLProblem(err error) string {
	var esc url.EscapeError
	if errors.As(err, &esc) {
		return "it has a % that does not start an escape (%XX); write a % (in a password, say) as %25"
	}
	return "it is not a valid URL; percent-encode any % / ? # @ : or space in the user or password (as %25 %2F %3F %23 %40 %3A %20)"
}

// HookURLProblem says what is wrong with a webhook URL, "" if nothing,
// without quoting any of it: its user, password, path or query may be
// credentials, and the answer is printed and recorded.
func HookURLProblem(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil && strings.ContainsFunc(raw, unicode.IsSpace):
		return "is not a valid URL: it has a space in it (remove it, or write it as %20 in a password or path)"
	case err != nil:
		return "is not a valid URL: check that characters such as @ : / ? # % in its user or password are percent-encoded"
	case u.Scheme != "http" && u.Scheme != "https":
		return "must be an http:// or https:// address"
	case u.Host == "":
		return "has no host: write it as https://host/path"
	}
	return ""
}
