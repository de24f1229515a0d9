package bot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/batonbot/baton/flows"
)

// Service is what adapters call: it turns people's actions into engine
// events, commits them through the store and answers commands. It is safe
// for concurrent use.
type Service struct {
	engine  *flows.Engine
	store   flows.Store
	clock   clockwork.Clock
	log     *slog.Logger
	metrics *Metrics
	wake    func()       // tells the dispatcher new effects are waiting
	hooks   []flows.Hook // global subscribers of events (hooks.go)

	awayStore AwayStore // nil: nobody is ever away (away.go)
	away      awayCache

	namers map[string]CommandNamer // by platform: how its people type a command (set before serving)
}

// SetCommandNamer says how people of platform type a command ("/baton
// tasks" in Slack): answers there name commands so. Call it before serving.
func (s *Service) SetCommandNamer(platform string, n CommandNamer) {
	if s.namers == nil {
		s.namers = map[string]CommandNamer{}
	}
	s.namers[platform] = n
}

// typed is how people of platform type the command words.
func (s *Service) typed(platform, words string) string {
	if n := s.namers[platform]; n != nil {
		return n.CommandFor(words)
	}
	return words
}

// NewService builds a service. clock nil means the real clock; metrics nil
// means unregistered metrics.
func NewService(engine *flows.Engine, store flows.Store, clock clockwork.Clock, log *slog.Logger, metrics *Metrics) *Service {
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	svc := &Service{engine: engine, store: store, clock: clock, log: log, metrics: metrics, wake: func() {}}
	svc.awayStore, _ = store.(AwayStore)
	return svc
}

// Engine returns the flow engine (definitions, directory, views).
func (s *Service) Engine() *flows.Engine { return s.engine }

// Now returns the service's current time.
func (s *Service) Now() time.Time { return s.clock.Now() }

// OnCommit sets the function called after each commit that produced
// effects (the dispatcher's Wake).
func (s *Service) OnCommit(wake func()) { s.wake = wake }

// Handle applies one event: for a start, it first validates the form and
// reserves the instance id. It returns what to tell the actor. Bad input is
// an *flows.InputError or flows.FieldErrors and changes nothing; a redelivered
// key returns the first outcome.
func (s *Service) Handle(ctx context.Context, ev flows.Event) (flows.Outcome, error) {
	out, _, err := s.Apply(ctx, ev)
	return out, err
}

// Result is what became of an event, beyond what its actor is told.
type Result string

// Results of an event.
const (
	ResultOK        Result = "ok"        // applied
	ResultRefused   Result = "refused"   // recorded as refused (not an assignee, already decided…)
	ResultDuplicate Result = "duplicate" // a redelivery: the first outcome, nothing changed
	ResultNoop      Result = "noop"      // nothing to do (a timer cancelled since)
	ResultInvalid   Result = "invalid"   // bad input: nothing changed
	ResultError     Result = "error"     // failed: nothing changed, or not known to have
)

// Apply is Handle, also saying what became of the event.
func (s *Service) Apply(ctx context.Context, ev flows.Event) (flows.Outcome, Result, error) {
	began := time.Now()
	out, result, err := s.handle(ctx, ev)
	s.metrics.observeEvent(ev.Kind, string(result), time.Since(began))
	return out, result, err
}

// CheckStart checks a start's form of def as the start will, dates' bounds
// included, before an id is reserved for it: a refused start uses none up.
// A start whose key has an id already is a retry, perhaps of a day its
// dates were in bounds: it is left to the start, which recognises it.
func (s *Service) CheckStart(ctx context.Context, def *flows.Definition, actor string, data map[string]string, key string) error {
	_, err := s.engine.ParseFormAt(def, actor, data, s.clock.Now())
	if err == nil {
		return nil
	}
	id, rerr := s.store.Reserved(ctx, key)
	switch {
	case rerr != nil:
		return rerr
	case id != "":
		return nil
	}
	return err
}

func (s *Service) handle(ctx context.Context, ev flows.Event) (flows.Outcome, Result, error) {
	if ev.Key == "" {
		return flows.Outcome{}, ResultInvalid, &flows.InputError{Msg: "every event needs an idempotency key"}
	}
	if ev.Kind == flows.EventStart {
		def, ok := s.engine.Flow(ev.Flow)
		if !ok {
			_, err := s.engine.Apply(nil, ev, s.clock.Now()) // for the "did you mean" message
			return flows.Outcome{}, ResultInvalid, err
		}
		if err := s.CheckStart(ctx, def, ev.Actor, ev.Data, ev.Key); err != nil {
			var ie *flows.InputError
			var fe flows.FieldErrors
			if errors.As(err, &ie) || errors.As(err, &fe) {
				return flows.Outcome{}, ResultInvalid, err
			}
			s.log.Error("event failed", "event", ev.Kind, "flow", def.ID, "user", ev.Actor, "err", err)
			return flows.Outcome{}, ResultError, err
		}
		id, err := s.store.Reserve(ctx, def.ID, def.Prefix, ev.Key)
		if err != nil {
			return flows.Outcome{}, ResultError, err
		}
		ev.Instance, ev.Flow = id, def.ID
	}
	ev.Away = s.awayNow(ctx)
	applied, err := s.store.Apply(ctx, ev, func(cur *flows.Instance) (*flows.Transition, error) {
		t, err := s.engine.Apply(cur, ev, s.clock.Now())
		if err == nil {
			s.addHooks(t) // announced in the same commit
		}
		return t, err
	})
	if err != nil {
		var ie *flows.InputError
		var fe flows.FieldErrors
		if errors.As(err, &ie) || errors.As(err, &fe) || errors.Is(err, flows.ErrNotFound) {
			return flows.Outcome{}, ResultInvalid, err
		}
		s.log.Error("event failed", "instance", ev.Instance, "event", ev.Kind, "user", ev.Actor, "err", err)
		return flows.Outcome{}, ResultError, err
	}
	switch {
	case applied.Duplicate:
		// Its effects are in the outbox, perhaps not delivered yet: a first
		// commit whose reply was lost (go-redis sent the script again) is
		// told as a duplicate too.
		s.wake()
		return applied.Outcome, ResultDuplicate, nil
	case applied.Transition == nil:
		return applied.Outcome, ResultNoop, nil
	}
	s.metrics.Transitions.Inc()
	if len(applied.Transition.Effects) > 0 {
		s.wake()
	}
	s.log.Debug("transition", "instance", ev.Instance, "event", ev.Kind, "user", ev.Actor, "status", applied.Outcome.Status, "ok", applied.Outcome.OK)
	if !applied.Outcome.OK {
		return applied.Outcome, ResultRefused, nil
	}
	return applied.Outcome, ResultOK, nil
}

// Reply is the answer to a command: a private message, or a form to open.
type Reply struct {
	Message *flows.Message
	Form    *flows.Definition // "start <flow>": open this flow's form
	Refused bool              // the command did nothing: refused, or a request not found
}

// Command runs a command line typed by actor (the shared grammar: start,
// tasks, requests, status, cancel, snooze, comment, delegate, skip, retry,
// away, back, help). key makes the commands that change a request idempotent.
func (s *Service) Command(ctx context.Context, actor, platform, key, text string) (Reply, error) {
	c := flows.ParseCommand(text)
	if c.Verb.OnRequest() {
		id, note := s.requestID(ctx, c.Arg) // PR3 is PR-3
		if note != "" {
			return Reply{Message: &flows.Message{Kind: flows.MsgInfo, Title: note}, Refused: true}, nil
		}
		c.Arg = id
	}
	now := s.clock.Now()
	switch c.Verb {
	case flows.VerbAway, flows.VerbBack:
		return s.awayCommand(ctx, actor, platform, key, c)
	case flows.VerbStart:
		if c.Arg == "" {
			return Reply{Message: s.engine.Help("Which flow? Pick one below, or type " + s.typed(platform, "start <flow>") + ".")}, nil
		}
		def, ok := s.engine.Flow(c.Arg)
		if !ok {
			note := fmt.Sprintf("There is no flow called %q.", c.Arg)
			if sug := s.engine.Suggest(c.Arg); sug != "" {
				note += fmt.Sprintf(" Did you mean %q? Try: %s", sug, s.typed(platform, "start "+sug))
			}
			return Reply{Message: s.engine.Help(note)}, nil
		}
		return Reply{Form: def}, nil
	case flows.VerbTasks:
		ins, err := s.store.List(ctx, flows.Query{Assignee: actor})
		if err != nil {
			return Reply{}, err
		}
		slices.SortFunc(ins, func(a, b *flows.Instance) int { return a.StepStarted.Compare(b.StepStarted) })
		return Reply{Message: s.engine.TaskList(ins, actor, now)}, nil
	case flows.VerbRequests:
		ins, err := s.store.List(ctx, flows.Query{Requester: actor, Limit: 20})
		if err != nil {
			return Reply{}, err
		}
		return Reply{Message: s.engine.RequestList(ins, actor, now, s.typed(platform, "start <flow>"))}, nil
	case flows.VerbStatus:
		m, err := s.Status(ctx, actor, c.Arg)
		if err != nil {
			return Reply{Message: s.note(err, c.Arg, platform), Refused: true}, nil
		}
		return Reply{Message: m}, nil
	case flows.VerbSnooze:
		// Someone the request is nothing to learns nothing of it.
		if in, err := s.store.Get(ctx, c.Arg); err != nil || !s.mayView(actor, in) {
			if err == nil {
				err = &flows.InputError{Msg: fmt.Sprintf("%s is not one of your tasks; type %s for yours.", c.Arg, s.typed(platform, "tasks"))}
			}
			return Reply{Message: s.note(err, c.Arg, platform), Refused: true}, nil
		}
		out, err := s.Handle(ctx, flows.Event{Kind: flows.EventSnooze, Key: key, Instance: c.Arg, Actor: actor, Platform: platform,
			Data: map[string]string{"for": cmp.Or(c.Rest, "1h")}})
		if err != nil {
			return Reply{Message: s.note(err, c.Arg, platform), Refused: true}, nil
		}
		return Reply{Message: &flows.Message{Kind: flows.MsgInfo, Instance: c.Arg, Title: out.Text}, Refused: !out.OK}, nil
	case flows.VerbComment, flows.VerbDelegate, flows.VerbSkip, flows.VerbRetry:
		return s.onRequest(ctx, actor, platform, key, c), nil
	case flows.VerbCancel:
		in, err := s.store.Get(ctx, c.Arg)
		if err != nil {
			return Reply{Message: s.note(err, c.Arg, platform), Refused: true}, nil
		}
		kind := flows.EventCancel
		if in.Requester == actor {
			kind = flows.EventWithdraw
			if c.Rest == "" && in.Status.Open() {
				// Typed, it is final at once: ask for the reason first, as
				// the buttons do, so that trying the example costs nothing.
				return Reply{Message: &flows.Message{Kind: flows.MsgInfo, Instance: in.ID,
					Title: fmt.Sprintf("To withdraw %s, say why: %s. It cannot be undone.", in.ID, s.typed(platform, "cancel "+in.ID+" <reason>"))}, Refused: true}, nil
			}
		}
		out, err := s.Handle(ctx, flows.Event{Kind: kind, Key: key, Instance: in.ID, Actor: actor, Platform: platform, Reason: c.Rest})
		var ie *flows.InputError
		if errors.As(err, &ie) && c.Rest == "" {
			return Reply{Message: &flows.Message{Kind: flows.MsgInfo, Instance: in.ID,
				Title: fmt.Sprintf("Say why: %s.", s.typed(platform, "cancel "+in.ID+" <reason>"))}, Refused: true}, nil
		}
		if err != nil {
			return Reply{Message: s.note(err, c.Arg, platform), Refused: true}, nil
		}
		return Reply{Message: &flows.Message{Kind: flows.MsgInfo, Instance: in.ID, Title: out.Text}, Refused: !out.OK}, nil
	}
	return Reply{Message: s.engine.Help(s.namedNote(platform, c.Note))}, nil
}

// onRequest runs comment, delegate, skip and retry: what the status page
// offers, typed.
func (s *Service) onRequest(ctx context.Context, actor, platform, key string, c flows.Command) Reply {
	refuse := func(format string, args ...any) Reply {
		return Reply{Message: &flows.Message{Kind: flows.MsgInfo, Instance: c.Arg, Title: fmt.Sprintf(format, args...)}, Refused: true}
	}
	in, err := s.store.Get(ctx, c.Arg)
	if err == nil && !s.mayView(actor, in) { // someone it is nothing to learns nothing of it
		err = &flows.InputError{Msg: fmt.Sprintf("%s is not one of your requests or tasks; type %s for yours.", c.Arg, s.typed(platform, "tasks"))}
	}
	if err != nil {
		return Reply{Message: s.note(err, c.Arg, platform), Refused: true}
	}
	ev := flows.Event{Key: key, Instance: in.ID, Actor: actor, Platform: platform, Reason: c.Rest}
	switch c.Verb {
	case flows.VerbComment:
		if c.Rest == "" {
			return refuse("Say what: %s.", s.typed(platform, "comment "+in.ID+" <text>"))
		}
		ev.Kind = flows.EventComment
	case flows.VerbDelegate:
		who, why := firstPerson(c.Rest)
		if who == "" {
			return refuse("Say to whom: %s.", s.typed(platform, "delegate "+in.ID+" <person> [reason]"))
		}
		if ev.Target = s.typedPerson(who); ev.Target == "" {
			return refuse("%q is not a person in the directory: name them by their id, e.g. %s.", shownPerson(who), s.typed(platform, "delegate "+in.ID+" carol"))
		}
		ev.Kind, ev.Reason, ev.Step, ev.Round = flows.EventDelegate, why, in.Step, in.Round
	case flows.VerbSkip:
		if c.Rest == "" {
			return refuse("Say why: %s.", s.typed(platform, "skip "+in.ID+" <reason>"))
		}
		ev.Kind, ev.Step, ev.Round = flows.EventSkip, in.Step, in.Round
	case flows.VerbRetry: // at the step and round it failed at, as read: not a later failure's
		ev.Kind, ev.Step, ev.Round = flows.EventRetry, in.Step, in.Round
	}
	out, err := s.Handle(ctx, ev)
	if err != nil {
		return Reply{Message: s.note(err, in.ID, platform), Refused: true}
	}
	return Reply{Message: &flows.Message{Kind: flows.MsgInfo, Instance: in.ID, Title: out.Text}, Refused: !out.OK}
}

// firstPerson splits typed text into the person it starts with and the
// rest: a word, or a whole Slack mention, whose name may have spaces
// ("<@U123|carol diaz> on leave").
func firstPerson(rest string) (string, string) {
	if strings.HasPrefix(rest, "<@") {
		if i := strings.IndexByte(rest, '>'); i > 0 {
			return rest[:i+1], strings.TrimSpace(rest[i+1:])
		}
	}
	who, why, _ := strings.Cut(rest, " ")
	return who, strings.TrimSpace(why)
}

// whichRequest is the parser's note asking which request a verb is for.
var whichRequest = regexp.MustCompile(`^Say which request: (\w+) <id>, e\.g\. (\w+) PR-12\.$`)

// namedNote is a help note of the command parser (flows.ParseCommand), with
// the commands it names as people of platform type them.
func (s *Service) namedNote(platform, note string) string {
	if s.namers[platform] == nil {
		return note
	}
	if m := whichRequest.FindStringSubmatch(note); m != nil {
		return fmt.Sprintf("Say which request: %s, e.g. %s.", s.typed(platform, m[1]+" <id>"), s.typed(platform, m[2]+" PR-12"))
	}
	return strings.Replace(note, "; type tasks to see", "; type "+s.typed(platform, "tasks")+" to see", 1)
}

// requestID reads an id typed without its dash as the one request it can
// be, or returns a note asking for the dash when it can be several.
func (s *Service) requestID(ctx context.Context, arg string) (string, string) {
	ids := s.engine.RequestIDs(arg)
	if len(ids) <= 1 {
		return cmp.Or(append(ids, arg)...), ""
	}
	var found []string
	for _, id := range ids {
		if _, err := s.store.Get(ctx, id); err == nil {
			found = append(found, id)
		}
	}
	switch len(found) {
	case 0:
		return ids[0], "" // not found either way: said for the first
	case 1:
		return found[0], ""
	}
	return "", fmt.Sprintf("%s can be %s: type the id with its dash.", arg, strings.Join(found, " or "))
}

// note turns a user-facing error about request id into a short message,
// for people of platform.
func (s *Service) note(err error, id, platform string) *flows.Message {
	text := err.Error()
	if errors.Is(err, flows.ErrNotFound) {
		text = fmt.Sprintf("There is no request %s. Check the id; your requests: type %s.", id, s.typed(platform, "requests"))
	}
	return &flows.Message{Kind: flows.MsgInfo, Title: text}
}

// Status renders an instance's timeline for viewer, who must be involved in
// it (requester, assignee, decider), its flow's owner, or an admin.
func (s *Service) Status(ctx context.Context, viewer, id string) (*flows.Message, error) {
	in, err := s.store.Get(ctx, strings.ToUpper(id))
	if err != nil {
		return nil, err
	}
	if !s.mayView(viewer, in) {
		return nil, &flows.InputError{Msg: fmt.Sprintf("%s is not one of your requests or tasks; ask its requester or the flow owner.", in.ID)}
	}
	audit, err := s.store.Audit(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	return s.engine.Timeline(in, audit, viewer, s.clock.Now()), nil
}

// MayView reports whether viewer may see in: they are involved in it
// (requester, assignee, decider), own its flow, or are an admin.
func (s *Service) MayView(viewer string, in *flows.Instance) bool { return s.mayView(viewer, in) }

func (s *Service) mayView(viewer string, in *flows.Instance) bool {
	if in.Involves(viewer) || s.engine.IsAdmin(viewer) {
		return true
	}
	def, ok := s.engine.Flow(in.Flow)
	return ok && def.Owner == viewer
}

// Instance returns an instance (e.g. to pre-fill a resubmission form).
func (s *Service) Instance(ctx context.Context, id string) (*flows.Instance, error) {
	return s.store.Get(ctx, id)
}

// Tasks returns what is waiting on person, oldest first.
func (s *Service) Tasks(ctx context.Context, person string) ([]*flows.Instance, error) {
	ins, err := s.store.List(ctx, flows.Query{Assignee: person})
	slices.SortFunc(ins, func(a, b *flows.Instance) int { return a.StepStarted.Compare(b.StepStarted) })
	return ins, err
}

// Requests returns the requests person started, newest first.
func (s *Service) Requests(ctx context.Context, person string, limit int) ([]*flows.Instance, error) {
	return s.store.List(ctx, flows.Query{Requester: person, Limit: limit})
}

// FormValues returns an instance's form data as strings, for pre-filling.
func FormValues(def *flows.Definition, in *flows.Instance) map[string]string {
	out := map[string]string{}
	for _, f := range def.Form {
		if v, ok := in.Data[f.Name]; ok {
			if n, isNum := v.(float64); isNum {
				out[f.Name] = strconv.FormatFloat(n, 'f', -1, 64) // as typed: no 1e+06, no thousands separator
			} else {
				out[f.Name] = flows.FormatValue(v)
			}
		}
	}
	return out
}
