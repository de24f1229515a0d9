package web

import (
	"cmp"
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
)

// Service is what the console needs from the runtime (bot.Service has it).
type Service interface {
	Engine() *flows.Engine
	Now() time.Time
	Handle(ctx context.Context, ev flows.Event) (flows.Outcome, error)
	Command(ctx context.Context, actor, platform, key, text string) (bot.Reply, error)
	Instance(ctx context.Context, id string) (*flows.Instance, error)
	Status(ctx context.Context, viewer, id string) (*flows.Message, error)
}

// Config configures the console.
type Config struct {
	// Open serves every client; otherwise only clients on this machine
	// (loopback) are served. The console lets anyone act as anyone: it is a
	// local demo and test surface, not for a shared network.
	Open bool
}

// Console is the local web console: pick who you are, type the commands a
// chat user would, fill start forms, see the cards each person receives and
// click their buttons. It is also the "web" delivery platform.
type Console struct {
	svc  Service
	cfg  Config
	log  *slog.Logger
	feed *feed
	tmpl *template.Template
	csrf *http.CrossOriginProtection

	mu      sync.Mutex
	notes   map[string]note // per person: the answer to their last action
	closing chan struct{}
	closed  sync.Once
}

type note struct {
	OK   bool
	Text string
	Msg  *flows.Message
}

//go:embed templates/*.html
var templatesFS embed.FS

// New builds the console. It does no I/O.
func New(svc Service, cfg Config, log *slog.Logger) *Console {
	c := &Console{svc: svc, cfg: cfg, log: log, feed: newFeed(), notes: map[string]note{}, closing: make(chan struct{}),
		csrf: http.NewCrossOriginProtection()}
	c.tmpl = template.Must(template.New("").Funcs(template.FuncMap{
		"time": func(t time.Time, who string) string {
			return flows.FormatTime(t, svc.Engine().Directory().Location(who))
		},
		"name":     func(id string) string { return svc.Engine().Directory().Name(id) },
		"lines":    func(s string) []string { return strings.Split(s, "\n") },
		"actionID": func(a flows.Action) string { return fmt.Sprintf("%s-%s-%s-%d", a.Kind, a.Instance, a.Step, a.Round) },
		"key":      newKey,
		"kind":     func(m *flows.Message) string { return string(m.Kind) },
		"closed":   func(m *flows.Message) bool { return m.Outcome != "" },
		"dict": func(kv ...any) map[string]any {
			m := map[string]any{}
			for i := 0; i+1 < len(kv); i += 2 {
				m[kv[i].(string)] = kv[i+1]
			}
			return m
		},
		"field": func(f flows.Field) formField {
			return formField{Field: f, Input: inputType(f.Kind)}
		},
		"num": func(p *float64) string {
			if p == nil {
				return ""
			}
			return strconv.FormatFloat(*p, 'f', -1, 64)
		},
		"outputs": func(flow, step string) []flows.Field {
			if def, ok := svc.Engine().Flow(flow); ok {
				if s := def.Step(step); s != nil {
					return s.Outputs
				}
			}
			return nil
		},
	}).ParseFS(templatesFS, "templates/*.html"))
	return c
}

// Messenger returns the console as a delivery platform.
func (c *Console) Messenger() bot.Messenger { return messenger{c} }

// Close ends the console's live-update streams (so the HTTP server can stop).
func (c *Console) Close() { c.closed.Do(func() { close(c.closing) }) }

func newKey() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Handler serves the console. Mount it at "/".
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", c.page)
	mux.HandleFunc("GET /console/inbox", c.inbox)
	mux.HandleFunc("GET /console/events", c.events)
	mux.HandleFunc("POST /console/command", c.command)
	mux.HandleFunc("GET /console/start/{flow}", c.startForm)
	mux.HandleFunc("POST /console/start/{flow}", c.start)
	mux.HandleFunc("GET /console/resubmit/{id}", c.resubmitForm)
	mux.HandleFunc("POST /console/resubmit/{id}", c.resubmit)
	mux.HandleFunc("POST /console/act", c.act)
	mux.HandleFunc("GET /console/status/{id}", c.status)
	return c.guard(mux)
}

// guard refuses other machines (unless Open) and cross-site form posts.
func (c *Console) guard(next http.Handler) http.Handler {
	protected := c.csrf.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !c.cfg.Open && !loopback(r.RemoteAddr) {
			http.Error(w, "The Baton console only answers this machine (it lets anyone act as anyone). "+
				"Use Slack or Teams, or set BATON_CONSOLE=open for a demo on a trusted network.", http.StatusForbidden)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		protected.ServeHTTP(w, r)
	})
}

func loopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// who is the person the page acts as: ?as=, else the cookie, else the first
// person of the directory. An unknown id is refused.
func (c *Console) who(w http.ResponseWriter, r *http.Request) (string, bool) {
	dir := c.svc.Engine().Directory()
	as := r.FormValue("as")
	if as == "" {
		if ck, err := r.Cookie("baton_as"); err == nil {
			as = ck.Value
		}
	}
	if as == "" {
		if people := dir.People(); len(people) > 0 {
			as = people[0].ID
		}
	}
	if _, ok := dir.Person(as); !ok {
		c.fail(w, r, http.StatusBadRequest, fmt.Sprintf("%q is not in the people directory; pick someone from the list.", as), nil)
		return "", false
	}
	http.SetCookie(w, &http.Cookie{Name: "baton_as", Value: as, Path: "/", SameSite: http.SameSiteLaxMode, HttpOnly: true})
	return as, true
}

func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

// answer reports the result of an action: JSON for API-style callers, else
// a note on the person's page and a redirect to it.
func (c *Console) answer(w http.ResponseWriter, r *http.Request, as string, n note) {
	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": n.OK, "text": n.Text, "message": n.Msg})
		return
	}
	c.mu.Lock()
	c.notes[as] = n
	c.mu.Unlock()
	http.Redirect(w, r, "/?as="+url.QueryEscape(as), http.StatusSeeOther)
}

// fail answers bad input: 4xx, a clear message, nothing changed.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, code int, msg string, fields flows.FieldErrors) {
	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": msg, "fields": fields})
		return
	}
	http.Error(w, msg, code)
}

// outcomeError maps an error from the service to a status and a message.
func (c *Console) outcomeError(w http.ResponseWriter, r *http.Request, as string, err error) {
	var ie *flows.InputError
	var fe flows.FieldErrors
	switch {
	case errors.As(err, &fe):
		c.fail(w, r, http.StatusUnprocessableEntity, fe.Error(), fe)
	case errors.As(err, &ie):
		if wantsJSON(r) {
			c.fail(w, r, http.StatusUnprocessableEntity, ie.Msg, nil)
			return
		}
		c.answer(w, r, as, note{Text: ie.Msg})
	case errors.Is(err, flows.ErrNotFound):
		c.fail(w, r, http.StatusNotFound, "There is no such request.", nil)
	default:
		c.log.Error("console action failed", "user", as, "err", err)
		c.fail(w, r, http.StatusInternalServerError, "Something went wrong; it was logged. Try again.", nil)
	}
}

type pageData struct {
	As       string
	People   []flows.Person
	Flows    []*flows.Definition
	Note     *note
	Threads  []thread
	Channels []channelData
	Now      time.Time
}

type channelData struct {
	ID, Name string
	Threads  []thread
}

func (c *Console) data(as string, consume bool) pageData {
	e := c.svc.Engine()
	d := pageData{As: as, People: e.Directory().People(), Flows: e.Flows(), Threads: c.feed.threads(personBox(as)), Now: c.svc.Now()}
	if consume {
		c.mu.Lock()
		if n, ok := c.notes[as]; ok {
			d.Note = &n
			delete(c.notes, as)
		}
		c.mu.Unlock()
	}
	seen := map[string]bool{}
	for _, ch := range e.Directory().Channels() {
		seen[ch.ID] = true
		d.Channels = append(d.Channels, channelData{ID: ch.ID, Name: cmp.Or(ch.Name, "#"+ch.ID), Threads: c.feed.threads(channelBox(ch.ID))})
	}
	c.feed.mu.Lock()
	var extra []string
	for box := range c.feed.boxes {
		if id, ok := strings.CutPrefix(box, "c:"); ok && !seen[id] {
			extra = append(extra, id)
		}
	}
	c.feed.mu.Unlock()
	slices.Sort(extra)
	for _, id := range extra {
		d.Channels = append(d.Channels, channelData{ID: id, Name: "#" + id, Threads: c.feed.threads(channelBox(id))})
	}
	return d
}

func (c *Console) render(w http.ResponseWriter, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if err := c.tmpl.ExecuteTemplate(w, name, data); err != nil {
		c.log.Error("render console", "template", name, "err", err)
	}
}

func (c *Console) page(w http.ResponseWriter, r *http.Request) {
	as, ok := c.who(w, r)
	if !ok {
		return
	}
	c.render(w, "page", c.data(as, true))
}

func (c *Console) inbox(w http.ResponseWriter, r *http.Request) {
	as, ok := c.who(w, r)
	if !ok {
		return
	}
	c.render(w, "inbox", c.data(as, false))
}

// events streams a signal (server-sent events) whenever the person's inbox
// or a channel changes; the page then reloads its inbox.
func (c *Console) events(w http.ResponseWriter, r *http.Request) {
	as, ok := c.who(w, r)
	if !ok {
		return
	}
	ch, stop := c.feed.subscribe(personBox(as))
	defer stop()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	rc := http.NewResponseController(w)
	fmt.Fprint(w, "retry: 1000\n\n")
	_ = rc.Flush()
	keep := time.NewTicker(25 * time.Second)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-c.closing:
			return
		case <-keep.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case <-ch:
			fmt.Fprint(w, "data: changed\n\n")
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

func (c *Console) command(w http.ResponseWriter, r *http.Request) {
	as, ok := c.who(w, r)
	if !ok {
		return
	}
	text := r.FormValue("text")
	rep, err := c.svc.Command(r.Context(), as, "web", "web:"+cmp.Or(r.FormValue("key"), newKey()), text)
	if err != nil {
		c.outcomeError(w, r, as, err)
		return
	}
	if rep.Form != nil {
		if wantsJSON(r) {
			c.answer(w, r, as, note{OK: true, Text: "open the form of " + rep.Form.ID, Msg: &flows.Message{Kind: flows.MsgInfo, Flow: rep.Form.ID, Title: rep.Form.Name}})
			return
		}
		http.Redirect(w, r, "/console/start/"+url.PathEscape(rep.Form.ID)+"?as="+url.QueryEscape(as), http.StatusSeeOther)
		return
	}
	c.answer(w, r, as, note{OK: true, Msg: rep.Message})
}

type formData struct {
	As      string
	Flow    *flows.Definition
	Fields  []formField
	Action  string
	Title   string
	Key     string
	Error   string
	People  []flows.Person
	Changes string
}

type formField struct {
	flows.Field
	Value string
	Error string
	Input string // HTML input type
}

func (c *Console) form(as string, def *flows.Definition, fields []flows.Field, values map[string]string, errs flows.FieldErrors, action, title string) formData {
	fd := formData{As: as, Flow: def, Action: action, Title: title, Key: newKey(), People: c.svc.Engine().Directory().People()}
	for _, f := range fields {
		v, ok := values[f.Name]
		if !ok {
			v = f.Default
		}
		fd.Fields = append(fd.Fields, formField{Field: f, Value: v, Error: errs[f.Name], Input: inputType(f.Kind)})
	}
	if len(errs) > 0 {
		fd.Error = "Please fix the fields marked below."
	}
	return fd
}

// inputType is the HTML input type of a field kind (longtext, choice and
// person have their own elements).
func inputType(k flows.FieldKind) string {
	switch k {
	case flows.FieldNumber:
		return "number"
	case flows.FieldDate:
		return "date"
	case flows.FieldURL:
		return "url"
	}
	return "text"
}

func (c *Console) flow(w http.ResponseWriter, r *http.Request) (*flows.Definition, bool) {
	def, ok := c.svc.Engine().Flow(r.PathValue("flow"))
	if !ok {
		msg := fmt.Sprintf("There is no flow called %q.", r.PathValue("flow"))
		if s := c.svc.Engine().Suggest(r.PathValue("flow")); s != "" {
			msg += fmt.Sprintf(" Did you mean %q?", s)
		}
		c.fail(w, r, http.StatusNotFound, msg, nil)
	}
	return def, ok
}

func (c *Console) startForm(w http.ResponseWriter, r *http.Request) {
	as, ok := c.who(w, r)
	if !ok {
		return
	}
	if def, ok := c.flow(w, r); ok {
		c.render(w, "form", c.form(as, def, def.Form, nil, nil, "/console/start/"+def.ID, "Start: "+def.Name))
	}
}

// formInput collects the submitted values of fields (empty ones left out,
// so defaults apply).
func formInput(r *http.Request, fields []flows.Field) map[string]string {
	in := map[string]string{}
	for _, f := range fields {
		if v := r.PostFormValue(f.Name); v != "" {
			in[f.Name] = v
		}
	}
	return in
}

func (c *Console) start(w http.ResponseWriter, r *http.Request) {
	as, ok := c.who(w, r)
	if !ok {
		return
	}
	def, ok := c.flow(w, r)
	if !ok {
		return
	}
	input := formInput(r, def.Form)
	out, err := c.svc.Handle(r.Context(), flows.Event{Kind: flows.EventStart, Key: "web:" + cmp.Or(r.PostFormValue("key"), newKey()),
		Actor: as, Platform: "web", Flow: def.ID, Data: input})
	var fe flows.FieldErrors
	if errors.As(err, &fe) && !wantsJSON(r) {
		w.WriteHeader(http.StatusUnprocessableEntity)
		c.render(w, "form", c.form(as, def, def.Form, input, fe, "/console/start/"+def.ID, "Start: "+def.Name))
		return
	}
	if err != nil {
		c.outcomeError(w, r, as, err)
		return
	}
	c.answer(w, r, as, note{OK: out.OK, Text: out.Text, Msg: &flows.Message{Kind: flows.MsgInfo, Instance: out.Instance, Title: out.Text}})
}

func (c *Console) resubmitForm(w http.ResponseWriter, r *http.Request) {
	as, ok := c.who(w, r)
	if !ok {
		return
	}
	in, err := c.svc.Instance(r.Context(), r.PathValue("id"))
	if err != nil {
		c.outcomeError(w, r, as, err)
		return
	}
	def, ok := c.svc.Engine().Flow(in.Flow)
	if !ok {
		c.fail(w, r, http.StatusNotFound, "This request's flow is no longer defined.", nil)
		return
	}
	fd := c.form(as, def, def.Form, bot.FormValues(def, in), nil, "/console/resubmit/"+in.ID, fmt.Sprintf("Edit and resubmit %s", in.ID))
	fd.Changes = in.Outcome
	c.render(w, "form", fd)
}

func (c *Console) resubmit(w http.ResponseWriter, r *http.Request) {
	as, ok := c.who(w, r)
	if !ok {
		return
	}
	in, err := c.svc.Instance(r.Context(), r.PathValue("id"))
	if err != nil {
		c.outcomeError(w, r, as, err)
		return
	}
	def, ok := c.svc.Engine().Flow(in.Flow)
	if !ok {
		c.fail(w, r, http.StatusNotFound, "This request's flow is no longer defined.", nil)
		return
	}
	input := formInput(r, def.Form)
	out, err := c.svc.Handle(r.Context(), flows.Event{Kind: flows.EventResubmit, Key: "web:" + cmp.Or(r.PostFormValue("key"), newKey()),
		Instance: in.ID, Actor: as, Platform: "web", Data: input, Reason: r.PostFormValue("note")})
	var fe flows.FieldErrors
	if errors.As(err, &fe) && !wantsJSON(r) {
		w.WriteHeader(http.StatusUnprocessableEntity)
		c.render(w, "form", c.form(as, def, def.Form, input, fe, "/console/resubmit/"+in.ID, fmt.Sprintf("Edit and resubmit %s", in.ID)))
		return
	}
	if err != nil {
		c.outcomeError(w, r, as, err)
		return
	}
	c.answer(w, r, as, note{OK: out.OK, Text: out.Text})
}

// act handles a card's buttons.
func (c *Console) act(w http.ResponseWriter, r *http.Request) {
	as, ok := c.who(w, r)
	if !ok {
		return
	}
	kinds := map[string]flows.EventKind{
		"approve": flows.EventApprove, "reject": flows.EventReject, "changes": flows.EventRequestChanges,
		"reassign": flows.EventReassign, "delegate": flows.EventDelegate, "done": flows.EventTaskDone,
		"withdraw": flows.EventWithdraw, "comment": flows.EventComment, "cancel": flows.EventCancel, "skip": flows.EventSkip,
	}
	kind, ok := kinds[r.PostFormValue("action")]
	if !ok {
		c.fail(w, r, http.StatusBadRequest, fmt.Sprintf("unknown action %q", r.PostFormValue("action")), nil)
		return
	}
	id := strings.ToUpper(strings.TrimSpace(r.PostFormValue("instance")))
	round, _ := strconv.Atoi(r.PostFormValue("round"))
	ev := flows.Event{Kind: kind, Key: "web:" + cmp.Or(r.PostFormValue("key"), newKey()), Instance: id, Actor: as, Platform: "web",
		Step: r.PostFormValue("step"), Round: round, Reason: r.PostFormValue("reason"), Target: r.PostFormValue("target")}
	if kind == flows.EventTaskDone {
		if in, err := c.svc.Instance(r.Context(), id); err == nil {
			if def, ok := c.svc.Engine().Flow(in.Flow); ok {
				if s := def.Step(in.Step); s != nil {
					ev.Data = formInput(r, s.Outputs)
				}
			}
		}
	}
	out, err := c.svc.Handle(r.Context(), ev)
	if err != nil {
		c.outcomeError(w, r, as, err)
		return
	}
	c.answer(w, r, as, note{OK: out.OK, Text: out.Text})
}

type statusData struct {
	As  string
	Msg *flows.Message
	Now time.Time
}

func (c *Console) status(w http.ResponseWriter, r *http.Request) {
	as, ok := c.who(w, r)
	if !ok {
		return
	}
	m, err := c.svc.Status(r.Context(), as, r.PathValue("id"))
	if err != nil {
		c.outcomeError(w, r, as, err)
		return
	}
	if wantsJSON(r) {
		c.answer(w, r, as, note{OK: true, Msg: m})
		return
	}
	c.render(w, "status", statusData{As: as, Msg: m, Now: c.svc.Now()})
}
