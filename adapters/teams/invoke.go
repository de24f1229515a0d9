package teams

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
)

// invokeResponse is the body of the HTTP answer to an adaptiveCard/action
// invoke (AdaptiveCardInvokeResponse). The library cannot answer invokes in
// the HTTP response (defect D19), so we write it ourselves.
type invokeResponse struct {
	StatusCode int    `json:"statusCode"`
	Type       string `json:"type"`
	Value      any    `json:"value"`
}

func cardAnswer(c card) invokeResponse {
	return invokeResponse{StatusCode: http.StatusOK, Type: cardContentType, Value: c}
}

// namedText is an outcome's text with the people outside the directory it
// names by the names Teams gave them (named).
func (a *Adapter) namedText(ctx context.Context, out flows.Outcome) string {
	return a.named(ctx, &flows.Message{Title: out.Text, Mentions: out.Mentions}).Title
}

// messageAnswer leaves the card as it is and shows the clicker a message:
// refusals and input to fix.
func messageAnswer(text string) invokeResponse {
	return invokeResponse{StatusCode: http.StatusOK, Type: "application/vnd.microsoft.activity.message", Value: text}
}

func errorAnswer(status int, code, msg string) invokeResponse {
	return invokeResponse{StatusCode: status, Type: "application/vnd.microsoft.error", Value: map[string]string{"code": code, "message": msg}}
}

// cardAction is the value of an adaptiveCard/action invoke.
type cardAction struct {
	Action struct {
		Type string         `json:"type"`
		Verb string         `json:"verb"`
		Data map[string]any `json:"data"`
	} `json:"action"`
	Trigger string `json:"trigger"`
}

func (a *Adapter) onInvoke(ctx context.Context, w http.ResponseWriter, act schema.Activity) {
	if act.Name != "adaptiveCard/action" {
		// Baton's cards use Action.Execute only; nothing else is declared.
		http.Error(w, fmt.Sprintf("invoke %q is not supported", act.Name), http.StatusNotImplemented)
		return
	}
	res := a.cardAction(ctx, act)
	body, err := encode(res) // as every activity: its size is limited
	if err != nil {
		a.log.ErrorContext(ctx, "teams: encode an invoke response", "platform", "teams", "err", err)
		body, _ = json.Marshal(errorAnswer(http.StatusInternalServerError, "InternalError", "Something went wrong; it was logged."))
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// str reads a value of action data (Teams sends inputs as strings, numbers
// or booleans) as a string.
func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case json.Number:
		return x.String()
	}
	return ""
}

func num(v any) int {
	switch x := v.(type) {
	case float64:
		if x >= 0 && x < 1<<30 {
			return int(x)
		}
	case string:
		n, _ := strconv.Atoi(x)
		return max(n, 0)
	}
	return 0
}

// cardAction runs a button press and says what the clicker sees.
func (a *Adapter) cardAction(ctx context.Context, act schema.Activity) invokeResponse {
	var v cardAction
	raw, err := json.Marshal(act.Value)
	if err == nil {
		err = json.Unmarshal(raw, &v)
	}
	if err != nil || v.Action.Type != "Action.Execute" || v.Action.Verb == "" {
		return errorAnswer(http.StatusBadRequest, "BadRequest", "Baton expects an Action.Execute with a verb.")
	}
	d := v.Action.Data
	actor := a.actor(act)
	inst := str(d[keyInstance])
	ev := flows.Event{Key: "teams:" + act.ID, Actor: actor, Platform: "teams", Instance: strings.ToUpper(strings.TrimSpace(inst)),
		Step: str(d[keyStep]), Round: num(d[keyRound])}
	log := a.log.With("platform", "teams", "user", actor, "instance", ev.Instance, "verb", v.Action.Verb)
	switch v.Action.Verb {
	case verbApprove:
		ev.Kind = flows.EventApprove
	case verbReject:
		ev.Kind, ev.Reason = flows.EventReject, str(d[reasonID(verbReject, inst)])
	case verbChanges:
		ev.Kind, ev.Reason = flows.EventRequestChanges, str(d[reasonID(verbChanges, inst)])
	case verbReassign:
		ev.Kind, ev.Target, ev.Reason = flows.EventReassign, a.person(str(d[inTarget+inst])), str(d[inNote+inst])
	case verbDone:
		ev.Kind, ev.Data = flows.EventTaskDone, prefixed(d, inOutput+inst+":")
	case verbWithdraw:
		ev.Kind, ev.Reason = flows.EventWithdraw, str(d[reasonID(verbWithdraw, inst)])
		out, err := a.svc.Handle(ctx, ev)
		if err != nil {
			return a.failed(ctx, log, err)
		}
		return a.noteCard(ctx, out)
	case verbSnooze:
		// The card stays as it is: the answer says when the reminder comes.
		ev.Kind, ev.Data = flows.EventSnooze, map[string]string{"for": str(d[inSnooze+inst])}
		out, err := a.svc.Handle(ctx, ev)
		if err != nil {
			return a.failed(ctx, log, err)
		}
		return messageAnswer(a.namedText(ctx, out))
	case verbStatus:
		m, err := a.svc.Status(ctx, actor, ev.Instance)
		if err != nil {
			return a.failed(ctx, log, err)
		}
		return cardAnswer(a.cards.message(a.named(ctx, m), ""))
	case verbOpen:
		def, ok := a.svc.Engine().Flow(str(d[keyFlow]))
		if !ok {
			return messageAnswer(fmt.Sprintf("There is no flow called %q any more; type help to see the flows.", str(d[keyFlow])))
		}
		return cardAnswer(a.startForm(def, actor, nil, nil, a.newKey()))
	case verbStart:
		return a.start(ctx, log, act, d, actor)
	case verbEdit:
		return a.edit(ctx, log, ev)
	case verbResubmit:
		return a.resubmit(ctx, log, act, d, ev)
	default:
		return errorAnswer(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Baton does not know the action %q.", v.Action.Verb))
	}
	out, err := a.svc.Handle(ctx, ev)
	if err != nil {
		return a.failed(ctx, log, err)
	}
	if !out.OK {
		log.InfoContext(ctx, "teams: action refused", "code", out.Code)
		return messageAnswer(a.namedText(ctx, out))
	}
	if str(d[keyView]) == "list" {
		return a.taskList(ctx, actor, ev.Key, out.Text)
	}
	return cardAnswer(a.cards.message(a.named(ctx, a.decided(ctx, ev, out, act.Conversation.ConversationType == "personal")), ""))
}

// failed answers an error of the service: input to fix is shown to the
// clicker; anything else is logged and reported as a failure.
func (a *Adapter) failed(ctx context.Context, log *slog.Logger, err error) invokeResponse {
	var ie *flows.InputError
	var fe flows.FieldErrors
	switch {
	case errors.As(err, &ie):
		return messageAnswer(ie.Error())
	case errors.As(err, &fe):
		return messageAnswer(fe.Error())
	case errors.Is(err, flows.ErrNotFound):
		return messageAnswer("There is no such request. Check the id (e.g. PR-12); your requests: type requests.")
	}
	log.ErrorContext(ctx, "teams: action failed", "err", err)
	return errorAnswer(http.StatusInternalServerError, "InternalError", "Something went wrong; it was logged. Try again.")
}

// noteCard replaces the clicked card with what the service said.
func (a *Adapter) noteCard(ctx context.Context, out flows.Outcome) invokeResponse {
	if !out.OK {
		return messageAnswer(a.namedText(ctx, out))
	}
	m := &flows.Message{Kind: flows.MsgInfo, Instance: out.Instance, Title: a.namedText(ctx, out)}
	if out.Instance != "" {
		m.Actions = []flows.Action{{Kind: flows.ActStatus, Label: "Status", Instance: out.Instance}}
	}
	return cardAnswer(a.cards.message(m, ""))
}

// person turns what a person picked or typed into a directory id.
func (a *Adapter) person(v string) string {
	v = strings.TrimSpace(v)
	if strings.Contains(v, "@") {
		return a.svc.Engine().Directory().Resolve("email", v)
	}
	return v
}

// prefixed collects the non-empty inputs whose ids start with prefix.
func prefixed(d map[string]any, prefix string) map[string]string {
	out := map[string]string{}
	for k, v := range d {
		if name, ok := strings.CutPrefix(k, prefix); ok && name != "" {
			if s := str(v); strings.TrimSpace(s) != "" {
				out[name] = s
			}
		}
	}
	return out
}

// formInput collects a form's submitted values; empty ones are left out so
// that defaults apply.
func formInput(d map[string]any, fields []flows.Field) map[string]string {
	in := map[string]string{}
	for _, f := range fields {
		if s := str(d[inField+f.Name]); strings.TrimSpace(s) != "" {
			in[f.Name] = s
		}
	}
	return in
}

// decided is the clicked task card after the decision: what it showed,
// without buttons, with the outcome, the decider and the time. The
// dispatcher then updates every copy with the engine's own closed card.
func (a *Adapter) decided(ctx context.Context, ev flows.Event, out flows.Outcome, personal bool) *flows.Message {
	m := &flows.Message{Kind: flows.MsgInfo, Instance: out.Instance, Title: out.Text}
	in, err := a.svc.Instance(ctx, ev.Instance)
	if err != nil {
		return m
	}
	e := a.svc.Engine()
	def, ok := e.Flow(in.Flow)
	if !ok {
		return m
	}
	dir := e.Directory()
	step := ev.Step
	m = &flows.Message{Kind: flows.MsgTask, Instance: in.ID, Flow: in.Flow, Step: step, Round: ev.Round,
		Title: fmt.Sprintf("%s %s: %s", def.Name, in.ID, in.Title), Outcome: out.Text}
	if s := def.Step(step); s != nil {
		m.Text = s.Name
	}
	for _, f := range def.Form {
		if v, ok := in.Data[f.Name]; ok {
			val := flows.FormatValue(v)
			if f.Kind == flows.FieldPerson {
				val = dir.Name(val)
			}
			m.Fields = append(m.Fields, flows.Fact{Label: f.Label, Value: val})
		}
	}
	m.Context = []string{"Requested by " + dir.Name(in.Requester)}
	m.Mentions = []string{in.Requester} // named, if outside the directory
	for i := len(in.History) - 1; i >= 0; i-- {
		h := in.History[i]
		if h.Step == step && (ev.Round == 0 || h.Round == ev.Round) {
			// As the engine's closed card has it: all of a quorum's
			// deciders, and for whom a delegate decided.
			by := cmp.Or(dir.DecidedBy(h), dir.Name(h.By))
			m.Mentions = append(m.Mentions, h.By)
			m.Mentions = append(m.Mentions, h.Deciders...)
			m.Mentions = append(m.Mentions, h.For...)
			loc := dir.Location(ev.Actor)
			if !personal { // a channel's card, which everyone there reads: in the working hours' zone, as its update
				loc = dir.Location("")
			}
			m.Outcome = fmt.Sprintf("%s by %s · %s", flows.DecisionWords(h.Outcome), by, flows.FormatTime(h.Ended, loc))
			if h.Reason != "" {
				m.Outcome += "\nReason: " + h.Reason
			}
			break
		}
	}
	return m
}

// taskList answers a button pressed on a task list with the list as it now
// is, the outcome on top.
func (a *Adapter) taskList(ctx context.Context, actor, key, note string) invokeResponse {
	rep, err := a.svc.Command(ctx, actor, "teams", key+":list", "tasks")
	if err != nil || rep.Message == nil {
		return a.noteCard(ctx, flows.Outcome{OK: true, Text: note})
	}
	m := *a.named(ctx, rep.Message)
	m.Text = strings.TrimSpace(note + "\n" + m.Text)
	return cardAnswer(a.cards.message(&m, "list"))
}

// start submits a start form: field errors come back on the form.
func (a *Adapter) start(ctx context.Context, log *slog.Logger, act schema.Activity, d map[string]any, actor string) invokeResponse {
	def, ok := a.svc.Engine().Flow(str(d[keyFlow]))
	if !ok {
		return messageAnswer(fmt.Sprintf("There is no flow called %q any more; type help to see the flows.", str(d[keyFlow])))
	}
	key := cmpOr(str(d[keyKey]), act.ID)
	input := formInput(d, def.Form)
	out, result, err := a.svc.Apply(ctx, flows.Event{Kind: flows.EventStart, Key: "teams:form:" + actor + ":" + key, Actor: actor, Platform: "teams",
		Flow: def.ID, Data: input})
	var fe flows.FieldErrors
	if errors.As(err, &fe) {
		return cardAnswer(a.startForm(def, actor, input, fe, key))
	}
	if err != nil {
		return a.failed(ctx, log, err)
	}
	if result == bot.ResultDuplicate && out.OK {
		// A copy of a form already sent (another device, a second click),
		// perhaps filled in otherwise: it starts nothing, and says so.
		out.Text = fmt.Sprintf("This form was sent already: it started %s. To start another request, type start %s.", out.Instance, def.Command)
	}
	return a.noteCard(ctx, out)
}

// edit opens the resubmission form of a request sent back to its requester.
func (a *Adapter) edit(ctx context.Context, log *slog.Logger, ev flows.Event) invokeResponse {
	in, err := a.svc.Instance(ctx, ev.Instance)
	if err != nil {
		return a.failed(ctx, log, err)
	}
	def, ok := a.svc.Engine().Flow(in.Flow)
	if !ok {
		return messageAnswer("This request's flow is no longer defined.")
	}
	if out := a.svc.Engine().Allowed(in, flows.Event{Kind: flows.EventResubmit, Actor: ev.Actor}, a.svc.Now()); !out.OK {
		return messageAnswer(a.namedText(ctx, out)) // the form shows the request's data: only to its requester
	}
	return cardAnswer(a.resubmitForm(def, in, bot.FormValues(def, in), nil, a.newKey()))
}

// resubmit submits a resubmission form.
func (a *Adapter) resubmit(ctx context.Context, log *slog.Logger, act schema.Activity, d map[string]any, ev flows.Event) invokeResponse {
	in, err := a.svc.Instance(ctx, ev.Instance)
	if err != nil {
		return a.failed(ctx, log, err)
	}
	def, ok := a.svc.Engine().Flow(in.Flow)
	if !ok {
		return messageAnswer("This request's flow is no longer defined.")
	}
	key := cmpOr(str(d[keyKey]), act.ID)
	ev.Kind, ev.Key, ev.Step, ev.Round = flows.EventResubmit, "teams:form:"+ev.Actor+":"+key, "", 0
	ev.Data, ev.Reason = formInput(d, def.Form), strings.TrimSpace(str(d[inResubmit]))
	out, result, err := a.svc.Apply(ctx, ev)
	var fe flows.FieldErrors
	if errors.As(err, &fe) {
		return cardAnswer(a.resubmitForm(def, in, ev.Data, fe, key))
	}
	if err != nil {
		return a.failed(ctx, log, err)
	}
	if result == bot.ResultDuplicate && out.OK {
		// A copy of a form already sent, perhaps changed: it changes
		// nothing, and says so.
		out.Text = fmt.Sprintf("This form was sent already: it resubmitted %s. To change it again, wait until it is sent back to you.", in.ID)
	}
	return a.noteCard(ctx, out)
}
