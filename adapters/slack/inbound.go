package slack

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	slackgo "github.com/slack-go/slack"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
)

// The handlers below are shared by HTTP and Socket Mode. Each returns the
// acknowledgement (nil for an empty one) after doing only what must happen
// before it: committing a decision (a few milliseconds on Redis) or
// validating a form. Anything that calls Slack back runs in the
// background; cards go through the outbox.

// cmdReply is a slash command's answer, shown only to the person.
type cmdReply struct {
	ResponseType string          `json:"response_type"`
	Text         string          `json:"text"`
	Blocks       []slackgo.Block `json:"blocks,omitempty"`
}

func privateReply(m *flows.Message) *cmdReply {
	return &cmdReply{ResponseType: slackgo.ResponseTypeEphemeral, Text: fallback(m), Blocks: renderMessage(m, maxMessageBlocks)}
}

const somethingWrong = "Something went wrong on Baton's side; it was logged. Try again in a moment."

// slackMarkup is Slack's <…> markup in a command's text (the manifest asks
// for mentions, channels and links escaped: should_escape).
var slackMarkup = regexp.MustCompile(`<([^<>]*)>`)

// commandText is a command as its author typed it, for the shared grammar.
// The person a command takes (delegate's, away's) stays as Slack wrote the
// mention (<@U123|name>, which names them whatever their display name);
// any other mention is their name (the directory's, else as Slack showed
// it), a channel its #name, a link its address, a date or a group as
// Slack showed it, and Slack's escapes of &, < and > are undone.
func (a *Adapter) commandText(text string) string {
	keep := flows.ParseCommand(slackMarkup.ReplaceAllString(text, " ")).Verb.TakesPerson() // the first mention is the person
	text = slackMarkup.ReplaceAllStringFunc(text, func(m string) string {
		inner := m[1 : len(m)-1]
		target, label, _ := strings.Cut(inner, "|")
		switch {
		case strings.HasPrefix(target, "@"):
			if keep {
				keep = false
				return m
			}
			if p := a.person(strings.TrimPrefix(target, "@")); !strings.HasPrefix(p, "slack:") {
				return "@" + a.svc.Engine().Directory().Name(p)
			}
			return "@" + cmp.Or(label, strings.TrimPrefix(target, "@"))
		case strings.HasPrefix(target, "#"):
			return "#" + cmp.Or(label, target[1:])
		case strings.HasPrefix(target, "!"):
			if label != "" { // a date's fallback, a group's @name
				return label
			}
			if strings.HasPrefix(target, "!subteam^") {
				return "@group"
			}
			return "@" + strings.TrimPrefix(target, "!")
		case strings.HasPrefix(target, "mailto:"):
			return strings.TrimPrefix(target, "mailto:")
		}
		return target // a link: its address
	})
	return slackUnescapes.Replace(text)
}

// onCommand handles /baton: start opens the flow's form; everything else is
// answered in the acknowledgement, privately.
func (a *Adapter) onCommand(ctx context.Context, c slackgo.SlashCommand) any {
	actor := a.person(c.UserID)
	rep, err := a.svc.Command(ctx, actor, platformName, "slack:"+c.TriggerID, a.commandText(c.Text))
	if err != nil {
		a.log.Error("slack command failed", "user", actor, "err", err)
		return privateReply(textMessage(somethingWrong))
	}
	if def := rep.Form; def != nil {
		a.async(ctx, "open form", func(ctx context.Context) error {
			err := a.api.openView(ctx, c.TriggerID, startModal(def, a.pickers()))
			if why := formProblem(err); err != nil && why != "" && c.ResponseURL != "" {
				m := textMessage(fmt.Sprintf("I could not open the %s form. %s", def.Name, why))
				_ = a.api.respond(ctx, c.ResponseURL, renderMessage(m, maxMessageBlocks), fallback(m))
			}
			return err
		})
		return nil
	}
	a.homes.touch(c.UserID)
	return privateReply(rep.Message)
}

// onInteraction handles button clicks and modal submissions.
func (a *Adapter) onInteraction(ctx context.Context, ic slackgo.InteractionCallback) any {
	switch ic.Type {
	case slackgo.InteractionTypeBlockActions:
		for _, ba := range ic.ActionCallback.BlockActions {
			if !strings.HasPrefix(ba.ActionID, "baton:") {
				continue // e.g. a select inside a modal
			}
			act, err := decodeAction(cmp.Or(ba.Value, ba.SelectedOption.Value)) // a button's, or a menu's pick
			if err != nil {
				// Told, not ignored: the person clicked and expects something.
				a.log.Warn("slack button not understood", "user", ic.User.ID, "err", err)
				a.answer(ctx, ic, textMessage("I could not read this button (it may be from an older card). Type /baton tasks for what waits on you, or /baton status with the request's id."))
				return nil
			}
			a.onButton(ctx, ic, ba, act)
			return nil // one click is one action
		}
	case slackgo.InteractionTypeViewSubmission:
		return a.onSubmit(ctx, ic)
	}
	return nil // view_closed, shortcuts…: nothing to do
}

// onButton carries out one click. The key (action_ts and user) is the
// same on every redelivery of this click and different for a second click,
// which the engine then refuses ("you already approved…").
func (a *Adapter) onButton(ctx context.Context, ic slackgo.InteractionCallback, ba *slackgo.BlockAction, act flows.Action) {
	actor := a.person(ic.User.ID)
	ev := flows.Event{Key: "slack:" + ba.ActionTs + ":" + ic.User.ID, Instance: act.Instance, Actor: actor,
		Platform: platformName, Step: act.Step, Round: act.Round}
	defer a.homes.touch(ic.User.ID)
	switch act.Kind {
	case flows.ActSnooze:
		ev.Kind, ev.Data = flows.EventSnooze, map[string]string{"for": act.Choice}
		out, err := a.svc.Handle(ctx, ev)
		if err != nil {
			a.answer(ctx, ic, a.problem(actor, err))
			return
		}
		a.answer(ctx, ic, outcomeMessage(out)) // when it will come, or why not
	case flows.ActApprove, flows.ActWithdraw:
		ev.Kind = act.EventKind()
		out, err := a.svc.Handle(ctx, ev)
		switch {
		case err != nil:
			a.answer(ctx, ic, a.problem(actor, err))
		case !out.OK || act.Kind == flows.ActWithdraw || ic.Container.IsEphemeral:
			a.answer(ctx, ic, outcomeMessage(out))
		}
		// An approval on a card shows on the card itself (the outbox
		// updates it); one from a private list is answered, as it has no
		// card to update.
	case flows.ActReject, flows.ActChanges, flows.ActReassign:
		// Try the decision without its reason (or person): a click on a
		// card that is stale or closed is refused now, audited, with who
		// decided first; a live card gets "a reason is required", which
		// changes nothing, and the form opens.
		ev.Kind = map[flows.ActionKind]flows.EventKind{flows.ActReject: flows.EventReject,
			flows.ActChanges: flows.EventRequestChanges, flows.ActReassign: flows.EventReassign}[act.Kind]
		out, err := a.svc.Handle(ctx, ev)
		var ie *flows.InputError
		switch {
		case errors.As(err, &ie) && (ie.Field == "reason" || ie.Field == "target"): // only what the form asks for
			a.openModal(ctx, ic, func(ctx context.Context) slackgo.ModalViewRequest {
				if act.Kind == flows.ActReassign {
					return reassignModal(act, a.summary(ctx, act.Instance), a.pickers())
				}
				return reasonModal(act, a.summary(ctx, act.Instance))
			})
		case err != nil:
			a.answer(ctx, ic, a.problem(actor, err))
		default:
			a.answer(ctx, ic, outcomeMessage(out))
		}
	case flows.ActDone:
		in, def, err := a.instance(ctx, act.Instance)
		if err != nil {
			a.answer(ctx, ic, a.problem(actor, err))
			return
		}
		if s := def.Step(act.Step); s != nil && len(s.Outputs) > 0 {
			if out := a.svc.Engine().Allowed(in, flows.Event{Kind: flows.EventTaskDone, Actor: actor, Step: act.Step, Round: act.Round}, a.svc.Now()); !out.OK {
				a.answer(ctx, ic, outcomeMessage(out)) // no form to fill in only to be refused
				return
			}
			a.openModal(ctx, ic, func(context.Context) slackgo.ModalViewRequest {
				return doneModal(act, a.summaryOf(def, in), s.Outputs, a.pickers())
			})
			return
		}
		ev.Kind = flows.EventTaskDone
		out, err := a.svc.Handle(ctx, ev)
		switch {
		case err != nil:
			a.answer(ctx, ic, a.problem(actor, err))
		case !out.OK:
			a.answer(ctx, ic, outcomeMessage(out))
		}
	case flows.ActResubmit:
		in, def, err := a.instance(ctx, act.Instance)
		if err != nil {
			a.answer(ctx, ic, a.problem(actor, err))
			return
		}
		// The form shows the request's data: only to its requester, while
		// it can be resubmitted.
		if out := a.svc.Engine().Allowed(in, flows.Event{Kind: flows.EventResubmit, Actor: actor}, a.svc.Now()); !out.OK {
			a.answer(ctx, ic, outcomeMessage(out))
			return
		}
		a.openModal(ctx, ic, func(context.Context) slackgo.ModalViewRequest {
			return resubmitModal(def, in, bot.FormValues(def, in), a.pickers())
		})
	case flows.ActStart:
		def, ok := a.svc.Engine().Flow(act.Flow)
		if !ok {
			a.answer(ctx, ic, textMessage(fmt.Sprintf("The flow %q is no longer defined.", act.Flow)))
			return
		}
		a.openModal(ctx, ic, func(context.Context) slackgo.ModalViewRequest { return startModal(def, a.pickers()) })
	case flows.ActStatus:
		m, err := a.svc.Status(ctx, actor, act.Instance)
		if err != nil {
			m = a.problem(actor, err)
		}
		a.answer(ctx, ic, m)
	}
}

// pickers is what modals need to let people pick a person: Slack users,
// and the directory's people who are not on Slack (who use Teams, say).
func (a *Adapter) pickers() pickers {
	pk := pickers{slackUser: a.slackUser}
	for _, p := range a.svc.Engine().Directory().People() {
		if p.Slack == "" {
			pk.others = append(pk.others, p)
		}
	}
	return pk
}

// instance loads a request and its flow.
func (a *Adapter) instance(ctx context.Context, id string) (*flows.Instance, *flows.Definition, error) {
	in, err := a.svc.Instance(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	def, ok := a.svc.Engine().Flow(in.Flow)
	if !ok {
		return nil, nil, &flows.InputError{Msg: fmt.Sprintf("%s's flow %q is no longer defined.", in.ID, in.Flow)}
	}
	return in, def, nil
}

// summary is the one line a modal opens with: which request it is about.
func (a *Adapter) summary(ctx context.Context, id string) string {
	in, def, err := a.instance(ctx, id)
	if err != nil {
		return id
	}
	return a.summaryOf(def, in)
}

func (a *Adapter) summaryOf(def *flows.Definition, in *flows.Instance) string {
	s := fmt.Sprintf("%s %s: %s", def.Name, in.ID, in.Title)
	if st := def.Step(in.Step); st != nil {
		s += " · " + st.Name
	}
	return "*" + mrkdwn(s) + "*\n" + mrkdwnNamed("Requested by "+a.svc.Engine().Directory().Name(in.Requester), []string{in.Requester})
}

// problem turns an error from the service into what to tell the person.
func (a *Adapter) problem(actor string, err error) *flows.Message {
	var ie *flows.InputError
	var fe flows.FieldErrors
	switch {
	case errors.As(err, &ie):
		return textMessage(ie.Error())
	case errors.As(err, &fe):
		return textMessage(fe.Error())
	case errors.Is(err, flows.ErrNotFound):
		return textMessage("There is no such request any more.")
	}
	a.log.Error("slack action failed", "user", actor, "err", err)
	return textMessage(somethingWrong)
}

// openModal builds a view and opens it with the click's trigger (valid for
// 3 seconds: it runs at once, in the background, after the click is
// acknowledged).
func (a *Adapter) openModal(ctx context.Context, ic slackgo.InteractionCallback, build func(context.Context) slackgo.ModalViewRequest) {
	a.async(ctx, "open modal", func(ctx context.Context) error {
		err := a.api.openView(ctx, ic.TriggerID, build(ctx))
		if why := formProblem(err); err != nil && why != "" {
			a.reply(ctx, ic, textMessage("I could not open the form. "+why), false)
		}
		return err
	})
}

// answer tells the person who clicked something, privately, in the
// background.
func (a *Adapter) answer(ctx context.Context, ic slackgo.InteractionCallback, m *flows.Message) {
	a.async(ctx, "private answer", func(ctx context.Context) error { return a.reply(ctx, ic, m, true) })
}

// reply answers where the click happened: through its response_url in a
// conversation, as an ephemeral message when there is none, and in a modal
// on the App Home (which has no conversation to answer in).
func (a *Adapter) reply(ctx context.Context, ic slackgo.InteractionCallback, m *flows.Message, modalOK bool) error {
	blocks, text := renderMessage(m, maxMessageBlocks), fallback(m)
	switch {
	case ic.ResponseURL != "":
		return a.api.respond(ctx, ic.ResponseURL, blocks, text)
	case ic.Container.Type == "view" && modalOK && ic.TriggerID != "":
		return a.api.openView(ctx, ic.TriggerID, infoModal(m))
	case ic.Channel.ID != "":
		return a.api.postEphemeral(ctx, ic.Channel.ID, ic.User.ID, blocks, text, "")
	}
	ch, err := a.dm(ctx, ic.User.ID)
	if err != nil {
		return err
	}
	_, _, err = a.api.postMessage(ctx, ch, blocks, text, "", false)
	return err
}

// onSubmit handles a modal's submission. Its key is the view's id: a
// double submit of one modal is one event, and a form sent back with
// errors and fixed is still the same request.
func (a *Adapter) onSubmit(ctx context.Context, ic slackgo.InteractionCallback) any {
	if ic.View.CallbackID == cbInfo || ic.View.CallbackID == "" {
		return nil
	}
	meta, err := decodeMeta(ic.View.PrivateMetadata)
	if err != nil {
		a.log.Warn("slack modal not understood", "user", ic.User.ID, "err", err)
		return done(textMessage("This form is not one of Baton's, or it is out of date. Start again from the card."))
	}
	actor := a.person(ic.User.ID)
	defer a.homes.touch(ic.User.ID)
	ev := flows.Event{Key: "slack:view:" + ic.View.ID, Actor: actor, Platform: platformName,
		Instance: meta.Instance, Step: meta.Step, Round: meta.Round}
	state := ic.View.State
	resolve := a.svc.Engine().Directory().Resolve
	var fields []flows.Field     // the input blocks an error may point at
	errBlock := ""               // where an input error shows when it names no field
	var picked flows.FieldErrors // people picked twice
	switch ic.View.CallbackID {
	case cbStart:
		def, ok := a.svc.Engine().Flow(meta.Flow)
		if !ok {
			return done(textMessage(fmt.Sprintf("The flow %q is no longer defined.", meta.Flow)))
		}
		fields = def.Form
		ev.Kind, ev.Flow = flows.EventStart, def.ID
		ev.Data, picked = formValues(state, def.Form, resolve)
	case cbResubmit:
		_, def, err := a.instance(ctx, meta.Instance)
		if err != nil {
			return done(a.problem(actor, err))
		}
		fields, errBlock = def.Form, noteBlock
		ev.Kind, ev.Reason = flows.EventResubmit, stateValue(state, noteBlock)
		ev.Data, picked = formValues(state, def.Form, resolve)
	case cbReason:
		ev.Kind, errBlock = flows.EventReject, "reason"
		if meta.Action == string(flows.ActChanges) {
			ev.Kind = flows.EventRequestChanges
		}
		ev.Reason = stateValue(state, "reason")
	case cbReassign:
		ev.Kind, errBlock, ev.Reason = flows.EventReassign, "target", stateValue(state, "reason")
		var both bool
		if ev.Target, both = pickedPerson(state, "target", resolve); both {
			picked = flows.FieldErrors{"target": pickOne}
		}
	case cbDone:
		_, def, err := a.instance(ctx, meta.Instance)
		if err != nil {
			return done(a.problem(actor, err))
		}
		if s := def.Step(meta.Step); s != nil {
			fields = s.Outputs
		}
		ev.Kind = flows.EventTaskDone
		ev.Data, picked = formValues(state, fields, resolve)
	default:
		return nil
	}
	if len(picked) > 0 {
		return fieldErrors(picked, fields, errBlock)
	}
	out, err := a.svc.Handle(ctx, ev)
	var fe flows.FieldErrors
	var ie *flows.InputError
	switch {
	case errors.As(err, &fe):
		return fieldErrors(fe, fields, errBlock)
	case errors.As(err, &ie) && errBlock != "":
		return slackgo.NewErrorsViewSubmissionResponse(map[string]string{errBlock: truncate(ie.Error(), maxLabel)})
	case err != nil:
		return done(a.problem(actor, err))
	}
	return done(outcomeMessage(out))
}

// done replaces a submitted modal with the answer.
func done(m *flows.Message) *slackgo.ViewSubmissionResponse {
	v := infoModal(m)
	return slackgo.NewUpdateViewSubmissionResponse(&v)
}

// fieldErrors shows form errors next to their inputs. Slack refuses errors
// for block ids the view does not have, so any other goes to fallback (or
// to the first field).
func fieldErrors(fe flows.FieldErrors, fields []flows.Field, fallbackBlock string) *slackgo.ViewSubmissionResponse {
	out := map[string]string{}
	var stray []string
	for _, name := range slices.Sorted(maps.Keys(fe)) {
		if slices.ContainsFunc(fields, func(f flows.Field) bool { return f.Name == name }) {
			out[name] = truncate(fe[name], maxLabel)
		} else {
			stray = append(stray, fe[name])
		}
	}
	if len(stray) > 0 {
		target := fallbackBlock
		if target == "" && len(fields) > 0 {
			target = fields[0].Name
		}
		if target != "" {
			if out[target] != "" {
				stray = append(stray, out[target])
			}
			out[target] = truncate(strings.Join(stray, "; "), maxLabel)
		}
	}
	return slackgo.NewErrorsViewSubmissionResponse(out)
}

// onEvent handles the Events API: the URL check, the App Home being
// opened (which publishes it), and a reaction to a task card or a short
// reply in its thread (reactions.go).
// A redelivered event id is acknowledged and ignored once the first delivery
// was handled.
func (a *Adapter) onEvent(ctx context.Context, e event) any {
	switch e.Type {
	case "url_verification":
		return map[string]string{"challenge": e.Challenge}
	case "app_rate_limited":
		a.log.Warn("slack is dropping events for this workspace (over 30,000 an hour)", "team", e.TeamID)
		return nil
	case "event_callback":
	default:
		return nil
	}
	in := e.Inner
	if in.BotID != "" || in.User == "" {
		return nil
	}
	var what string
	var work func(context.Context) error
	switch {
	case in.Type == "app_home_opened" && in.Tab == "home":
		what, work = "app home", func(ctx context.Context) error { return a.homes.publish(ctx, in.User, true) }
	case in.Type == "reaction_added" && in.Item.Type == "message" && offersDecision(in.Reaction):
		// Most such reactions are to other messages: known at once, at the
		// cost of one read, before any claim or work.
		record, ok, err := a.kv.GetValue(ctx, nsCard, in.Item.Channel+"/"+in.Item.TS)
		switch {
		case err != nil:
			return inProgress{} // Slack tries again later
		case !ok:
			return nil
		}
		what, work = "reaction", func(ctx context.Context) error {
			return a.onReaction(ctx, in.User, in.Reaction, in.Item.Channel, record)
		}
	case in.Type == "message" && (in.Subtype == "" || in.Subtype == "thread_broadcast") &&
		in.ThreadTS != "" && in.ThreadTS != in.TS:
		// Every message of the channels Baton is in comes here (if the app
		// asks for them): only a short yes or no in a thread costs a read.
		text := writtenText(in.Text)
		yes, ok := bot.ReplyMeaning(text)
		if !ok {
			return nil
		}
		record, ok, err := a.kv.GetValue(ctx, nsCard, in.Channel+"/"+in.ThreadTS)
		switch {
		case err != nil:
			return inProgress{}
		case !ok:
			return nil
		}
		what, work = "reply", func(ctx context.Context) error {
			return a.onReply(ctx, in.User, text, yes, in.Channel, in.ThreadTS, record)
		}
	default:
		return nil // any other reaction costs nothing more
	}
	seen := e.TeamID + "/" + e.EventID
	if _, ok, err := a.kv.GetValue(ctx, nsEvent, seen); err == nil && ok {
		return nil
	}
	// Deliveries of one event arriving together (Slack's retry of a slow
	// first one, on another replica): one handles it; the others ask Slack
	// to try again later, when the first has recorded the event (or failed
	// and given the claim up, for that retry to handle).
	claim := "slack-event:" + seen
	if ok, err := a.locker.Claim(ctx, claim, eventHandling); err == nil && !ok {
		return inProgress{}
	}
	a.async(ctx, what, func(ctx context.Context) error {
		if err := work(ctx); err != nil {
			return errors.Join(err, a.locker.Release(context.WithoutCancel(ctx), claim))
		}
		// Recorded once handled: a delivery that failed before this point
		// is handled again when Slack retries it.
		return a.kv.SetValue(ctx, nsEvent, seen, "1", eventSeenFor)
	})
	return nil
}
