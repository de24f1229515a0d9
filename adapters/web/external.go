package web

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
)

// ExternalService is what the approval page needs from the runtime
// (bot.Service has it).
type ExternalService interface {
	Engine() *flows.Engine
	Now() time.Time
	Handle(ctx context.Context, ev flows.Event) (flows.Outcome, error)
	Instance(ctx context.Context, id string) (*flows.Instance, error)
}

// clockSkew is how far behind one replica's clock may run another's.
const clockSkew = time.Minute

// LinkChecker checks and spends signed links (bot.Links does).
type LinkChecker interface {
	Verify(token string) (bot.LinkClaims, error)
	Used(ctx context.Context, c bot.LinkClaims) (bool, error)
	Use(ctx context.Context, c bot.LinkClaims) error
}

// External serves the approval page of external participants at
// /x/{token}: the request, its history and Approve / Reject / Request
// changes with a reason. The token is the only credential: it names one
// person, one step and one round, expires, and works once. Anyone may
// reach the page (it is meant for the internet); forms are protected
// against cross-site posts, and the page never sends a Referer.
type External struct {
	svc   ExternalService
	links LinkChecker
	log   *slog.Logger
	tmpl  *template.Template
	csrf  *http.CrossOriginProtection
}

// NewExternal builds the approval page. It does no I/O.
func NewExternal(svc ExternalService, links LinkChecker, log *slog.Logger) *External {
	return &External{svc: svc, links: links, log: log, tmpl: pageTemplates("/x/static/"), csrf: http.NewCrossOriginProtection()}
}

// Handler serves the page. Mount it at "/x/".
func (x *External) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /x/static/{name}", static)
	mux.HandleFunc("GET /x/{token}", x.page)
	mux.HandleFunc("POST /x/{token}", x.decide)
	mux.HandleFunc("POST /x/{token}/renew", x.renew)
	x.csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		x.problem(w, http.StatusForbidden, "Not allowed", "This form was posted from another site. Open the link from your mail and decide on that page.")
	}))
	protected := x.csrf.Handler(mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 32<<10)
		protected.ServeHTTP(w, r)
	})
}

type problemData struct {
	Title, Msg string
	Renew      string // an expired link's token: the page offers to mail a new one
}

func (x *External) problem(w http.ResponseWriter, code int, title, msg string) {
	renderPage(w, x.log, x.tmpl, code, "x-problem", problemData{Title: title, Msg: msg})
}

// renewDelay is how soon a new link is mailed for an expired one: the
// shortest reminder one may ask for (flows.MinSnooze).
const renewDelay = "5m"

// renew mails a new link for an expired one, if the step it was for still
// waits on its person: as a reminder they asked for (a snooze), which
// brings a fresh link like every reminder mail. The expired link, still
// signed, is only good for this, once: it asks nothing but a mail to its
// own address.
func (x *External) renew(w http.ResponseWriter, r *http.Request) {
	c, err := x.links.Verify(r.PathValue("token"))
	switch {
	case err == nil: // not expired after all: its page
		http.Redirect(w, r, "/x/"+r.PathValue("token"), http.StatusSeeOther)
		return
	case !errors.Is(err, bot.ErrLinkExpired):
		x.problem(w, http.StatusNotFound, "This link is not valid",
			"The link is incomplete or was changed. Open it again from your mail, copying the whole address.")
		return
	}
	out, err := x.svc.Handle(r.Context(), flows.Event{Kind: flows.EventSnooze, Key: "x:" + c.Nonce + ":renew", Instance: c.Instance,
		Actor: flows.ExternalID(c.Email), Platform: "email", Step: c.Step, Round: c.Round, Data: map[string]string{"for": renewDelay}})
	switch {
	case err != nil:
		x.log.Error("approval link renewal", "instance", c.Instance, "step", c.Step, "err", err)
		x.problem(w, http.StatusInternalServerError, "No new link was sent", "Something went wrong; it was logged. Try again in a minute.")
	case !out.OK:
		x.problem(w, http.StatusConflict, "No new link was sent", out.Text)
	default:
		renderPage(w, x.log, x.tmpl, http.StatusOK, "x-problem", problemData{Title: "A new link is on its way",
			Msg: fmt.Sprintf("Baton mails a new link for %s to %s within a few minutes.", c.Instance, c.Email)})
	}
}

// externalData is what the approval page shows.
type externalData struct {
	Claims    bot.LinkClaims
	Who       string // the address, as the person is shown to others
	Flow      *flows.Definition
	Step      *flows.Step
	In        *flows.Instance
	Title     string // the request's title as they may see it ("": none)
	Fields    []flows.Fact
	Changed   []flows.Change // what the resubmission changed, as they may see it
	History   []historyRow
	Requester string
	Changes   bool // Request changes is offered (rounds left)
	Now       time.Time
	Error     string
	Reason    string
	Done      string // after a decision: what happened
}

type historyRow struct {
	Step, Outcome, By, Reason string
	At                        time.Time
}

// check verifies a link and the request it names, answering (and
// returning ok false) when it cannot be used. Nothing is spent.
func (x *External) check(w http.ResponseWriter, r *http.Request) (externalData, bool) {
	c, err := x.links.Verify(r.PathValue("token"))
	switch {
	case errors.Is(err, bot.ErrLinkExpired):
		renderPage(w, x.log, x.tmpl, http.StatusGone, "x-problem", problemData{Title: "This link has expired", Renew: r.PathValue("token"),
			Msg: fmt.Sprintf("The link for %s expired at %s. If the request still waits on you, ask for a new one: it comes by mail.", c.Instance, flows.FormatTime(c.Expires, time.UTC))})
		return externalData{}, false
	case err != nil:
		x.problem(w, http.StatusNotFound, "This link is not valid",
			"The link is incomplete or was changed. Open it again from your mail, copying the whole address; if it still fails, ask the requester for a new one.")
		return externalData{}, false
	}
	used, err := x.links.Used(r.Context(), c)
	if err != nil {
		x.log.Error("approval link", "instance", c.Instance, "err", err)
		x.problem(w, http.StatusServiceUnavailable, "Please try again", "Baton could not check this link just now; the error was logged. Try again in a minute.")
		return externalData{}, false
	}
	if used {
		x.problem(w, http.StatusGone, "This link was already used",
			fmt.Sprintf("Each link works once, and this one already recorded a decision on %s. If you need to change it, contact the requester.", c.Instance))
		return externalData{}, false
	}
	in, err := x.svc.Instance(r.Context(), c.Instance)
	if errors.Is(err, flows.ErrNotFound) {
		x.problem(w, http.StatusNotFound, "This request no longer exists", fmt.Sprintf("There is no request %s any more.", c.Instance))
		return externalData{}, false
	}
	if err != nil {
		x.log.Error("approval link", "instance", c.Instance, "err", err)
		x.problem(w, http.StatusServiceUnavailable, "Please try again", "Baton could not load the request just now; the error was logged. Try again in a minute.")
		return externalData{}, false
	}
	e := x.svc.Engine()
	dir := e.Directory()
	me := flows.ExternalID(c.Email)
	if in.Status != flows.StatusRunning || in.Step != c.Step || in.Round != c.Round {
		msg := fmt.Sprintf("%s is %s; there is nothing left to decide with this link.", in.ID, strings.ReplaceAll(string(in.Status), "_", " "))
		for i := len(in.History) - 1; i >= 0; i-- {
			if h := in.History[i]; h.Step == c.Step && h.Round == c.Round {
				msg = fmt.Sprintf("This step of %s was already %s by %s at %s.", in.ID, strings.ToLower(strings.ReplaceAll(h.Outcome, "_", " ")), dir.Name(h.By), flows.FormatTime(h.Ended, time.UTC))
				if h.By == flows.System || h.By == "" {
					msg = fmt.Sprintf("This step of %s already ended (%s) at %s.", in.ID, strings.ReplaceAll(h.Outcome, "_", " "), flows.FormatTime(h.Ended, time.UTC))
				}
				break
			}
		}
		x.problem(w, http.StatusConflict, "Already decided", msg)
		return externalData{}, false
	}
	var task *flows.Task
	for i := range in.Tasks {
		if in.Tasks[i].Assignee == me {
			task = &in.Tasks[i]
		}
	}
	switch {
	case task == nil || !c.Issued.IsZero() && c.Issued.Add(clockSkew).Before(task.Since): // (signed by an older version: unknown)
		// Not theirs now, or theirs again since the link was signed (it
		// moved away and back): that assignment has its own link. (The
		// replica that signed may run behind the one that assigned.)
		x.problem(w, http.StatusForbidden, "Not assigned to you",
			fmt.Sprintf("This step of %s is not (or no longer) assigned to %s with this link; it is waiting on someone else, or on a newer link.", in.ID, c.Email))
		return externalData{}, false
	case task.Decision != flows.Pending:
		x.problem(w, http.StatusConflict, "Already decided",
			fmt.Sprintf("You already %s %s at %s.", strings.ReplaceAll(string(task.Decision), "_", " "), in.ID, flows.FormatTime(task.At, time.UTC)))
		return externalData{}, false
	}
	def, ok := e.Flow(in.Flow)
	s := (*flows.Step)(nil)
	if ok {
		s = def.Step(in.Step)
	}
	if s == nil || s.Kind != flows.StepApproval {
		x.problem(w, http.StatusConflict, "Nothing to decide here", fmt.Sprintf("%s is not waiting for an approval you can give on this page.", in.ID))
		return externalData{}, false
	}
	d := externalData{Claims: c, Who: dir.Name(me), Flow: def, Step: s, In: in, Title: def.TitleForOutsiders(in), Requester: dir.Name(in.Requester),
		Changes: in.Round < s.MaxRounds, Now: x.svc.Now()}
	for _, f := range def.Form {
		if v, has := in.Data[f.Name]; has && !f.Internal { // internal: for people in the workspace only
			val := flows.FormatValue(v)
			if f.Kind == flows.FieldPerson {
				val = dir.Name(val)
			}
			d.Fields = append(d.Fields, flows.Fact{Label: f.Label, Value: val})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(in.Refs)) {
		d.Fields = append(d.Fields, flows.Fact{Label: k, Value: in.Refs[k]})
	}
	for _, c := range in.Changes {
		f := def.Field(c.Field)
		if f != nil && f.Internal {
			continue
		}
		if f != nil && f.Kind == flows.FieldPerson { // by name, as the fields above and the cards show them
			c.Old, c.New = dir.Name(c.Old), dir.Name(c.New) // ("" stays "")
		}
		d.Changed = append(d.Changed, c)
	}
	for _, h := range in.History {
		name := h.Step
		if hs := def.Step(h.Step); hs != nil {
			name = hs.Name
		}
		by := dir.DecidedBy(h) // all of a quorum's, and for whom a delegate decided
		d.History = append(d.History, historyRow{Step: name, Outcome: strings.ReplaceAll(h.Outcome, "_", " "), By: by, Reason: h.Reason, At: h.Ended})
	}
	return d, true
}

func (x *External) page(w http.ResponseWriter, r *http.Request) {
	d, ok := x.check(w, r)
	if !ok {
		return
	}
	renderPage(w, x.log, x.tmpl, http.StatusOK, "x-page", d)
}

// decide records the person's decision through the Service like anyone
// else's, as email:ADDRESS on platform "email", keyed by the link's nonce and
// the decision: a replay or a double click of the same decision is the same
// event (decided once), another decision racing it is refused by the engine
// (the step is decided). Only then is the link spent: a decision that failed
// leaves it usable, so the person can try again.
func (x *External) decide(w http.ResponseWriter, r *http.Request) {
	d, ok := x.check(w, r)
	if !ok {
		return
	}
	kinds := map[string]flows.EventKind{"approve": flows.EventApprove, "reject": flows.EventReject, "changes": flows.EventRequestChanges}
	kind, known := kinds[r.PostFormValue("decision")]
	d.Reason = strings.TrimSpace(r.PostFormValue("reason"))
	switch {
	case !known:
		d.Error = "Pick Approve, Reject or Request changes."
	case kind == flows.EventRequestChanges && !d.Changes:
		d.Error = "This request has had all the rounds of changes it may have; approve or reject it."
	case kind != flows.EventApprove && d.Reason == "":
		d.Error = "Please give a reason: the requester sees it."
	case utf8.RuneCountInString(d.Reason) > 4000:
		d.Error = "Please keep the reason under 4,000 characters."
	}
	if d.Error != "" {
		renderPage(w, x.log, x.tmpl, http.StatusUnprocessableEntity, "x-page", d)
		return
	}
	c := d.Claims
	out, err := x.svc.Handle(r.Context(), flows.Event{Kind: kind, Key: "x:" + c.Nonce + ":" + string(kind), Instance: c.Instance,
		Actor: flows.ExternalID(c.Email), Platform: "email", Step: c.Step, Round: c.Round, Reason: d.Reason})
	if err != nil {
		var ie *flows.InputError
		if errors.As(err, &ie) {
			x.problem(w, http.StatusConflict, "Your decision was not recorded", ie.Error())
			return
		}
		x.log.Error("approval link decision", "instance", c.Instance, "step", c.Step, "err", err)
		x.problem(w, http.StatusInternalServerError, "Your decision was not recorded", "Something went wrong; it was logged. Try again in a minute; if it keeps failing, contact the requester.")
		return
	}
	if !out.OK {
		x.problem(w, http.StatusConflict, "Your decision was not recorded", out.Text)
		return
	}
	// Spend the link. Of a double click, both posts were the same event;
	// the one that does not spend it is told the link was used.
	if err := x.links.Use(r.Context(), c); err != nil {
		if errors.Is(err, bot.ErrLinkUsed) {
			x.problem(w, http.StatusGone, "This link was already used",
				fmt.Sprintf("Each link works once, and this one already recorded a decision on %s.", c.Instance))
			return
		}
		// The decision is saved; the step no longer waits on this link.
		x.log.Error("approval link: mark used", "instance", c.Instance, "err", err)
	}
	d.Done = map[flows.EventKind]string{flows.EventApprove: "You approved", flows.EventReject: "You rejected", flows.EventRequestChanges: "You asked for changes to"}[kind] +
		" " + c.Instance + ". " + d.Requester + " and the team see your decision" + map[bool]string{true: " and your reason", false: ""}[d.Reason != ""] + ". Thank you."
	renderPage(w, x.log, x.tmpl, http.StatusOK, "x-done", d)
}
