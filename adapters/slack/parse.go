package slack

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	slackgo "github.com/slack-go/slack"

	"github.com/batonbot/baton/flows"
)

// Everything here parses input that crossed the network. A payload's
// signature proves it came from Slack, not that a button value or
// private_metadata is one Baton wrote: those round-trip through people's
// clients, so each is parsed strictly and every action is re-authorised by
// the engine.

// parseCommand reads a slash command's form body.
func parseCommand(body []byte) (slackgo.SlashCommand, error) {
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return slackgo.SlashCommand{}, fmt.Errorf("slash command: body is not a form: %w", err)
	}
	c := slackgo.SlashCommand{
		Token: v.Get("token"), TeamID: v.Get("team_id"), TeamDomain: v.Get("team_domain"),
		EnterpriseID: v.Get("enterprise_id"), ChannelID: v.Get("channel_id"), ChannelName: v.Get("channel_name"),
		UserID: v.Get("user_id"), UserName: v.Get("user_name"), Command: v.Get("command"), Text: v.Get("text"),
		ResponseURL: v.Get("response_url"), TriggerID: v.Get("trigger_id"), APIAppID: v.Get("api_app_id"),
	}
	return c, checkCommand(c)
}

// checkCommand checks that a slash command (over HTTP or Socket Mode) has
// a user, a command and its trigger_id, which keys what it starts (its
// idempotency key) and opens its form: without it, two commands would be
// taken for one.
func checkCommand(c slackgo.SlashCommand) error {
	if c.UserID == "" || c.Command == "" || c.TriggerID == "" {
		return errors.New("slash command: user_id, command and trigger_id are required")
	}
	return nil
}

// parseInteraction reads an interaction's form body (a JSON "payload" field).
func parseInteraction(body []byte) (slackgo.InteractionCallback, error) {
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return slackgo.InteractionCallback{}, fmt.Errorf("interaction: body is not a form: %w", err)
	}
	payload := v.Get("payload")
	if payload == "" {
		return slackgo.InteractionCallback{}, errors.New("interaction: the payload field is missing")
	}
	return decodeInteraction([]byte(payload))
}

// decodeInteraction decodes an interaction payload (HTTP form field or
// Socket Mode envelope).
func decodeInteraction(payload []byte) (slackgo.InteractionCallback, error) {
	var ic slackgo.InteractionCallback
	if err := json.Unmarshal(payload, &ic); err != nil {
		return ic, fmt.Errorf("interaction: payload is not valid JSON: %w", err)
	}
	return ic, checkInteraction(ic)
}

// checkInteraction checks that an interaction (over HTTP or Socket Mode)
// has what the adapter relies on: a type, a user, and the ids that key
// what it does (its idempotency key): without them, different clicks or
// submissions would be taken for one.
func checkInteraction(ic slackgo.InteractionCallback) error {
	if ic.Type == "" || ic.User.ID == "" {
		return errors.New("interaction: type and user.id are required")
	}
	switch ic.Type {
	case slackgo.InteractionTypeBlockActions:
		for _, ba := range ic.ActionCallback.BlockActions {
			if ba.ActionTs == "" {
				return errors.New("interaction: block_actions: an action without action_ts")
			}
		}
	case slackgo.InteractionTypeViewSubmission:
		if ic.View.ID == "" {
			return errors.New("interaction: view_submission without view.id")
		}
	}
	return nil
}

// event is the part of an Events API envelope the adapter uses.
type event struct {
	Type      string // url_verification, event_callback, app_rate_limited
	Challenge string
	TeamID    string
	EventID   string
	Inner     innerEvent
}

type innerEvent struct {
	Type  string `json:"type"`
	User  string `json:"user"`
	Tab   string `json:"tab"`
	BotID string `json:"bot_id"`
	// reaction_added: the emoji's name (with any "::skin-tone-N"), and the
	// message it was added to.
	Reaction string `json:"reaction"`
	Item     struct {
		Type    string `json:"type"`
		Channel string `json:"channel"`
		TS      string `json:"ts"`
	} `json:"item"`
	// message (message.channels, message.groups: the opt-in for replies in
	// a card's thread): where, what, and the thread's first message.
	Subtype  string `json:"subtype"`
	Channel  string `json:"channel"`
	Text     string `json:"text"`
	TS       string `json:"ts"`
	ThreadTS string `json:"thread_ts"`
}

// parseEvent reads an Events API body. It decodes the envelope itself
// (rather than with slackevents.ParseEvent) so an inner event type the
// library does not know is still acknowledged, and nothing depends on the
// deprecated verification token.
func parseEvent(body []byte) (event, error) {
	var raw struct {
		Type      string          `json:"type"`
		Challenge string          `json:"challenge"`
		TeamID    string          `json:"team_id"`
		EventID   string          `json:"event_id"`
		Event     json.RawMessage `json:"event"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return event{}, fmt.Errorf("event: body is not valid JSON: %w", err)
	}
	e := event{Type: raw.Type, Challenge: raw.Challenge, TeamID: raw.TeamID, EventID: raw.EventID}
	switch raw.Type {
	case "url_verification":
		if raw.Challenge == "" {
			return e, errors.New("event: url_verification without a challenge")
		}
	case "event_callback":
		if raw.EventID == "" || len(raw.Event) == 0 {
			return e, errors.New("event: event_callback without event_id or event")
		}
		if err := json.Unmarshal(raw.Event, &e.Inner); err != nil {
			// An event of a kind Baton does not handle may carry one of
			// the fields Baton reads as something else (team_join's user
			// is an object): it is acknowledged, by its type alone.
			var typed *json.UnmarshalTypeError
			if !errors.As(err, &typed) || typed.Field == "" {
				return e, fmt.Errorf("event: inner event is not an object: %w", err)
			}
			e.Inner = innerEvent{}
			var kind struct {
				Type string `json:"type"`
			}
			if json.Unmarshal(raw.Event, &kind) == nil {
				e.Inner.Type = kind.Type
			}
		}
	case "":
		return e, errors.New("event: type is missing")
	}
	return e, nil
}

// Button values: "v1|kind|instance|step|round|flow", or for a choice of a
// menu (Snooze's) "v1|kind|instance|step|round|choice". Ids are short
// words, so the value stays far below Slack's limits (2,000 characters for
// a button, 150 for a menu option).
const valuePrefix = "v1"

func encodeAction(a flows.Action) string {
	last := a.Flow
	if a.Kind == flows.ActSnooze {
		last = a.Choice
	}
	return strings.Join([]string{valuePrefix, string(a.Kind), a.Instance, a.Step, strconv.Itoa(a.Round), last}, "|")
}

var actionKinds = map[flows.ActionKind]bool{
	flows.ActApprove: true, flows.ActReject: true, flows.ActChanges: true, flows.ActReassign: true, flows.ActDone: true,
	flows.ActResubmit: true, flows.ActWithdraw: true, flows.ActStart: true, flows.ActStatus: true, flows.ActSnooze: true,
}

// decodeAction parses a button value written by encodeAction.
func decodeAction(v string) (flows.Action, error) {
	parts := strings.Split(v, "|")
	if len(parts) != 6 || parts[0] != valuePrefix {
		return flows.Action{}, fmt.Errorf("button value %.40q is not one of Baton's", v)
	}
	a := flows.Action{Kind: flows.ActionKind(parts[1]), Instance: parts[2], Step: parts[3], Flow: parts[5]}
	if !actionKinds[a.Kind] {
		return flows.Action{}, fmt.Errorf("button value: unknown action %.20q", parts[1])
	}
	round, err := strconv.Atoi(parts[4])
	if err != nil || round < 0 || round > 1_000_000 {
		return flows.Action{}, fmt.Errorf("button value: round %.20q is not a number", parts[4])
	}
	a.Round = round
	for _, id := range []string{a.Instance, a.Step, a.Flow} {
		if !isWord(id) {
			return flows.Action{}, fmt.Errorf("button value: %.40q is not an id", id)
		}
	}
	if a.Kind == flows.ActSnooze {
		a.Flow, a.Choice = "", a.Flow
	}
	switch {
	case a.Kind == flows.ActSnooze && a.Choice == "":
		return flows.Action{}, errors.New("button value: snooze without a choice")
	case a.Kind == flows.ActStart && a.Flow == "":
		return flows.Action{}, errors.New("button value: start without a flow")
	case a.Kind != flows.ActStart && a.Instance == "":
		return flows.Action{}, fmt.Errorf("button value: %s without a request id", a.Kind)
	}
	return a, nil
}

// isWord reports whether s is empty or a plausible id: letters, digits,
// '-', '_' and '.', at most 100 of them.
func isWord(s string) bool {
	if len(s) > 100 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// cardRef is where a card was posted; its string form is the reference the
// dispatcher stores and hands back to Update: "channel/ts[/user][/reply]".
// User is set for a DM (whose App Home to refresh); Reply marks a thread
// reply (a reminder), rendered compactly once the task is closed.
type cardRef struct {
	Channel string
	TS      string
	User    string
	Reply   bool
}

func (r cardRef) String() string {
	s := r.Channel + "/" + r.TS
	if r.User != "" {
		s += "/" + r.User
	}
	if r.Reply {
		s += "/reply"
	}
	return s
}

func parseRef(s string) (cardRef, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 4 {
		return cardRef{}, fmt.Errorf("card reference %.60q is not channel/ts", s)
	}
	r := cardRef{Channel: parts[0], TS: parts[1]}
	rest := parts[2:]
	if len(rest) > 0 && rest[len(rest)-1] == "reply" {
		r.Reply, rest = true, rest[:len(rest)-1]
	}
	if len(rest) == 1 {
		r.User = rest[0]
	} else if len(rest) > 1 {
		return cardRef{}, fmt.Errorf("card reference %.60q has unexpected parts", s)
	}
	if !isSlackID(r.Channel) || r.TS == "" || !isWord(r.TS) || r.User != "" && !isSlackID(r.User) {
		return cardRef{}, fmt.Errorf("card reference %.60q is malformed", s)
	}
	return r, nil
}

// isSlackID reports whether s looks like a Slack id (U…, W…, C…, D…, G…).
func isSlackID(s string) bool {
	if len(s) < 2 || len(s) > 40 {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// viewMeta is a modal's private_metadata: what the modal is for.
type viewMeta struct {
	Kind     string `json:"k"`           // start, resubmit, reason, reassign, done
	Flow     string `json:"f,omitempty"` // start
	Instance string `json:"i,omitempty"`
	Step     string `json:"s,omitempty"`
	Round    int    `json:"r,omitempty"`
	Action   string `json:"a,omitempty"` // reason: reject or changes
}

func (m viewMeta) encode() string {
	b, _ := json.Marshal(m) // strings and an int: cannot fail
	return string(b)
}

func decodeMeta(s string) (viewMeta, error) {
	var m viewMeta
	if len(s) > 3000 {
		return m, errors.New("private_metadata is too long")
	}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return m, fmt.Errorf("private_metadata is not Baton's: %w", err)
	}
	for _, id := range []string{m.Flow, m.Instance, m.Step, m.Action} {
		if !isWord(id) {
			return viewMeta{}, fmt.Errorf("private_metadata: %.40q is not an id", id)
		}
	}
	if m.Round < 0 {
		return viewMeta{}, errors.New("private_metadata: negative round")
	}
	return m, nil
}
