package web

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"regexp"
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
	// PublicHost is a name the console answers as when Open, besides
	// localhost and IP addresses (BATON_PUBLIC_URL's host).
	PublicHost string
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

	key  func() string // idempotency keys for forms (tests make them fixed)
	mail func() []Mail // the outbox mail view (mail.go), or nil

	mu      sync.Mutex
	notes   map[string]note // per person: the answer to their last action
	closing chan struct{}
	closed  sync.Once
}

type note struct {
	OK   bool
	Text string
	Msg  *flows.Message
	// Refilled is a card's form that was refused (Mark done with outputs):
	// the page shows it open again, with what was typed and what is wrong.
	Refilled *refilled
	// Seen is what the note talks about as it was when it was made: the
	// requests, each with when it last changed ("PR-1@<unix ns>,…").
	// Since, for a list (tasks, requests), is the feed's change count then:
	// a card sent after it may be about a request the list lacks. The page
	// sends both back as it updates live, and drops the note once the
	// inbox says it is out of date (noteStale).
	Seen, Since string
}

// maxSeen is the most requests a note keeps track of.
const maxSeen = 50

// refilled is what a person typed in a card's form, and its problems.
type refilled struct {
	Action flows.Action
	Values map[string]string
	Errors flows.FieldErrors
}

//go:embed templates/*.html
var templatesFS embed.FS

// staticFS holds the stylesheet, the script and the icon, served as they
// are (no build step) under /console/static/, each with a version in its
// URL so browsers may keep them.
//
//go:embed static
var staticFS embed.FS

// assetVersion is a digest of the static files: their URLs change when they do.
var assetVersion = func() string {
	h := sha256.New()
	_ = fs.WalkDir(staticFS, "static", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := staticFS.ReadFile(path)
			h.Write([]byte(path))
			h.Write(b)
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}()

// New builds the console. It does no I/O.
func New(svc Service, cfg Config, log *slog.Logger) *Console {
	c := &Console{svc: svc, cfg: cfg, log: log, feed: newFeed(), notes: map[string]note{}, closing: make(chan struct{}),
		csrf: http.NewCrossOriginProtection(), key: newKey}
	c.tmpl = template.Must(template.New("").Funcs(template.FuncMap{
		"time": func(t time.Time, who string) string {
			return flows.FormatTime(t, svc.Engine().Directory().Location(who))
		},
		"name": func(id string) string { return svc.Engine().Directory().Name(id) },
		"outcome": func(m *flows.Message, who string) string {
			return m.OutcomeIn(svc.Engine().Directory().Location(who)) // in the viewer's zone, as the rest of the page
		},
		"lines":         func(s string) []string { return strings.Split(s, "\n") },
		"labelColon":    flows.LabelColon,
		"actionID":      func(a flows.Action) string { return fmt.Sprintf("%s-%s-%s-%d", a.Kind, a.Instance, a.Step, a.Round) },
		"snoozeChoices": func() []flows.Fact { return flows.SnoozeChoices },
		"key":           func() string { return c.key() },
		"link":          link,
		"asset":         func(name string) string { return "/console/static/" + name + "?v=" + assetVersion },
		"kind":          func(m *flows.Message) string { return string(m.Kind) },
		"closed":        func(m *flows.Message) bool { return m.Outcome != "" },
		// negative marks a request's end that is not what its requester
		// asked for (rejected, cancelled…), coloured apart from approvals.
		"negative": func(m *flows.Message) bool {
			word, _, _ := strings.Cut(m.Title, ":")
			return m.Kind == flows.MsgOutcome && slices.Contains([]string{"Rejected", "Declined", "Cancelled", "Withdrawn", "Failed"}, word)
		},
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
		"nonNegative": func(p *float64) bool { return p != nil && *p >= 0 },
		"trim":        strings.TrimSpace,
		// minText is a text field's least length, said beside it ("" if
		// none): else it is learnt only from the refusal.
		"minText": func(f formField) string {
			if f.Min == nil || *f.Min <= 0 || !slices.Contains([]flows.FieldKind{flows.FieldText, flows.FieldLongText, flows.FieldURL, flows.FieldEmail}, f.Kind) {
				return ""
			}
			return strconv.FormatFloat(*f.Min, 'f', -1, 64)
		},
		"num": func(p *float64) string {
			if p == nil {
				return ""
			}
			return strconv.FormatFloat(*p, 'f', -1, 64)
		},
		// refill is a if it is the action of the refused form n, else nil.
		"refill": func(v any, a flows.Action) *refilled { // v: a *note, or nothing where a page has no note
			n, _ := v.(*note)
			if n == nil || n.Refilled == nil {
				return nil
			}
			if r := n.Refilled.Action; r.Kind != a.Kind || r.Instance != a.Instance || r.Step != a.Step || r.Round != a.Round {
				return nil
			}
			return n.Refilled
		},
		// fieldIn is a card's form field for as, as r (nil: nothing) left
		// it. A date's bounds are from as's today: the page is made as it
		// is viewed, and the engine checks a task's outputs from the today
		// of who marks it done.
		"fieldIn": func(as string, a flows.Action, f flows.Field, r *refilled) formField {
			// Scoped to the card's task: a page may list several tasks' forms.
			ff := formField{Field: f, Input: inputType(f.Kind), Scope: a.Instance + "-" + a.Step + "-" + strconv.Itoa(a.Round)}
			ff.MinDate, ff.MaxDate = f.DateBounds(today(svc, as))
			if r != nil {
				ff.Value, ff.Error = r.Values[f.Name], r.Errors[f.Name]
			}
			return ff
		},
		// reassignTo is whom as may move the task of a to: anyone but as and
		// whom the engine would not take (a.Exclude, as the request was when
		// the card was made; the engine still refuses whom it would not take).
		"reassignTo": func(as string, a flows.Action) []flows.Person {
			return slices.DeleteFunc(svc.Engine().Directory().People(), func(p flows.Person) bool { return p.ID == as || slices.Contains(a.Exclude, p.ID) })
		},
		"outputs": func(flow string, a flows.Action) []flows.Field {
			if def := flowOf(svc.Engine(), flow, a.Instance); def != nil {
				if s := def.Step(a.Step); s != nil {
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

// flowOf returns the flow a card's button acts in: the card's flow, or for
// lists (tasks, requests), whose items are of several flows, the flow whose
// prefix the instance id has (ids are Prefix-N).
func flowOf(e *flows.Engine, flow, instance string) *flows.Definition {
	if def, ok := e.Flow(flow); ok {
		return def
	}
	i := strings.LastIndexByte(instance, '-')
	if i < 0 {
		return nil
	}
	for _, def := range e.Flows() {
		if def.Prefix == instance[:i] {
			return def
		}
	}
	return nil
}

// link returns s when it is a web address worth making clickable, else "".
func link(s string) string {
	if !strings.HasPrefix(s, "https://") && !strings.HasPrefix(s, "http://") || strings.ContainsAny(s, " \n") {
		return ""
	}
	if u, err := url.Parse(s); err != nil || u.Host == "" {
		return ""
	}
	return s
}

func newKey() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Handler serves the console. Mount it at "/".
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", c.page)
	mux.HandleFunc("GET /console/static/{name}", static)
	mux.HandleFunc("GET /console/inbox", c.inbox)
	mux.HandleFunc("GET /console/events", c.events)
	mux.HandleFunc("POST /console/command", c.command)
	mux.HandleFunc("GET /console/start/{flow}", c.startForm)
	mux.HandleFunc("POST /console/start/{flow}", c.start)
	mux.HandleFunc("GET /console/resubmit/{id}", c.resubmitForm)
	mux.HandleFunc("POST /console/resubmit/{id}", c.resubmit)
	mux.HandleFunc("POST /console/act", c.act)
	mux.HandleFunc("GET /console/status/{id}", c.status)
	mux.HandleFunc("GET /console/mail", c.mailbox) // mail.go
	return c.guard(mux)
}

// guard refuses other machines (unless Open), pages of other sites
// reaching it through a DNS name bound to this machine (unless Open), and
// cross-site form posts.
func (c *Console) guard(next http.Handler) http.Handler {
	c.csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "The Baton console refuses forms posted from another site (cross-origin request); "+
			"use the console's own page.", http.StatusForbidden)
	}))
	protected := c.csrf.Handler(c.parsed(next))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !c.cfg.Open && !fromThisMachine(r) {
			http.Error(w, "The Baton console only answers this machine (it lets anyone act as anyone), "+
				"and not through a proxy, which would pass on anyone's requests. "+
				"Use Slack or Teams, or set BATON_CONSOLE=open for a demo on a trusted network.", http.StatusForbidden)
			return
		}
		// A page of another site reaches this machine through a name it
		// points here (DNS rebinding): answered only as localhost, an IP
		// address (no site's name), or, open, BATON_PUBLIC_URL's host.
		if !localHost(r.Host) && !(c.cfg.Open && (ipHost(r.Host) || c.cfg.PublicHost != "" && hostOf(r.Host) == strings.ToLower(c.cfg.PublicHost))) {
			http.Error(w, fmt.Sprintf("The Baton console answers only as localhost or 127.0.0.1, not as %q "+
				"(another site may have pointed its name at this machine). Open http://localhost with the console's port, "+
				"or, with BATON_CONSOLE=open, its IP address or BATON_PUBLIC_URL.", r.Host), http.StatusForbidden)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		protected.ServeHTTP(w, r)
	})
}

// maxBody is the most a request to the console may send.
const maxBody = 64 << 10

// parsed reads a posted form before the handlers do. They read its values
// without looking at errors: a form over maxBody, or one that does not
// parse, would reach them empty (acting as the cookie's person, on no
// action). It is answered 413 or 400 instead, and nothing changes.
func (c *Console) parsed(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			err := r.ParseForm() // ParseMultipartForm drops its error when the form is not multipart
			if err == nil {
				if err = r.ParseMultipartForm(maxBody); errors.Is(err, http.ErrNotMultipart) {
					err = nil
				}
			}
			var tooLarge *http.MaxBytesError
			switch {
			case errors.As(err, &tooLarge):
				c.fail(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("Request too large: at most %d KB. Shorten the text and send it again.", tooLarge.Limit>>10), nil)
				return
			case err != nil:
				c.fail(w, r, http.StatusBadRequest, fmt.Sprintf("The form could not be read (%v); send it from the console's page.", err), nil)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// localHost reports whether a Host header names this machine: localhost
// (or a name under .localhost), a loopback address or 0.0.0.0, with any
// port. Any other name may be a site that pointed its DNS name at
// 127.0.0.1 to read and post to the console as its own origin (DNS
// rebinding), which the cross-origin checks cannot see.
func localHost(host string) bool {
	host = hostOf(host)
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || ip.IsUnspecified())
}

// hostOf is a Host header's name, without its port, in lower case.
func hostOf(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
}

// ipHost reports whether a Host header names an IP address.
func ipHost(host string) bool { return net.ParseIP(hostOf(host)) != nil }

// proxyHeaders are those a proxy adds: a request that carries one came
// from elsewhere, whatever its connection's address.
var proxyHeaders = []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Real-Ip", "Via"}

// fromThisMachine reports whether a request comes from this machine: over
// loopback, and not passed on by a proxy that says so. (A proxy on this
// machine that says nothing cannot be told apart: local mode is not for
// a server behind one, Running in production.)
func fromThisMachine(r *http.Request) bool {
	if !loopback(r.RemoteAddr) {
		return false
	}
	for _, h := range proxyHeaders {
		if r.Header.Get(h) != "" {
			return false
		}
	}
	return true
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
// person of the directory. An unknown ?as= is refused; an unknown cookie
// (left by another directory) is ignored, or no page would ever open.
func (c *Console) who(w http.ResponseWriter, r *http.Request) (string, bool) {
	dir := c.svc.Engine().Directory()
	as := r.FormValue("as")
	if as == "" {
		if ck, err := r.Cookie("baton_as"); err == nil {
			if _, known := dir.Person(ck.Value); known {
				as = ck.Value
			}
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
	c.seen(r, &n)
	c.mu.Lock()
	c.notes[as] = n
	c.mu.Unlock()
	// Acted on a request's status page: back to it, with the answer.
	if id := strings.ToUpper(strings.TrimSpace(r.PostFormValue("instance"))); r.PostFormValue("back") == "status" && requestID.MatchString(id) {
		http.Redirect(w, r, "/console/status/"+id+"?as="+url.QueryEscape(as), http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/?as="+url.QueryEscape(as), http.StatusSeeOther)
}

// requestID is the shape of a request's id (PR-12), where an answer may go
// back to its status page.
var requestID = regexp.MustCompile(`^[A-Z0-9]+-[0-9]+$`)

// seen sets n.Seen and n.Since: the requests n talks about (the one acted
// on, the one its message is about, those a list names) as they are now,
// just after the action it answers.
func (c *Console) seen(r *http.Request, n *note) {
	ids := []string{r.PostFormValue("instance"), r.PathValue("id")}
	if m := n.Msg; m != nil {
		ids = append(ids, m.Instance)
		for _, it := range m.Items {
			for _, a := range it.Actions {
				ids = append(ids, a.Instance)
			}
		}
		if m.Kind == flows.MsgList {
			n.Since = c.feed.boot + ":" + strconv.Itoa(c.feed.changeCount()) // a count of this run's feed
		}
	}
	var seen []string
	for _, id := range ids {
		id = strings.ToUpper(strings.TrimSpace(id))
		if !requestID.MatchString(id) || len(seen) == maxSeen || slices.ContainsFunc(seen, func(s string) bool { return strings.HasPrefix(s, id+"@") }) {
			continue
		}
		if in, err := c.svc.Instance(r.Context(), id); err == nil {
			seen = append(seen, id+"@"+strconv.FormatInt(in.Updated.UnixNano(), 10))
		}
	}
	n.Seen = strings.Join(seen, ",")
}

// noteStale reports whether a note made when things were as seen and since
// say (its Seen and Since) is out of date: a request it talks about has
// changed since, or, for a list, a card came to as about a request it does
// not list. (A request changed by the action the note answers is seen as
// it was after it: the cards that action sends do not make it stale.)
func (c *Console) noteStale(ctx context.Context, as, seen, since string) bool {
	listed := map[string]bool{}
	for i, s := range strings.Split(seen, ",") {
		id, at, _ := strings.Cut(s, "@")
		ns, err := strconv.ParseInt(at, 10, 64)
		if i == maxSeen || err != nil || !requestID.MatchString(id) {
			break
		}
		listed[id] = true
		in, err := c.svc.Instance(ctx, id)
		if errors.Is(err, flows.ErrNotFound) || err == nil && in.Updated.UnixNano() != ns {
			return true
		}
	}
	if since == "" {
		return false
	}
	boot, count, _ := strings.Cut(since, ":")
	if boot != c.feed.boot { // counted by an earlier run of the console, whose cards are gone: a restart
		return true
	}
	if n, err := strconv.Atoi(count); err == nil {
		for _, id := range c.feed.changedSince(personBox(as), n) {
			if !listed[id] {
				return true
			}
		}
	}
	return false
}

// fail answers bad input: 4xx, a clear message, nothing changed.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, code int, msg string, fields flows.FieldErrors) {
	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": msg, "fields": fields})
		return
	}
	title := "That did not work"
	switch code {
	case http.StatusForbidden:
		title = "Not allowed"
	case http.StatusNotFound:
		title = "Not found"
	}
	back := "/"
	if as := r.FormValue("as"); as != "" {
		if _, ok := c.svc.Engine().Directory().Person(as); ok {
			back += "?as=" + url.QueryEscape(as)
		}
	}
	c.renderStatus(w, code, "error", errorData{Title: title, Msg: msg, Back: back})
}

type errorData struct {
	Title, Msg, Back string
}

// fieldProblems lists the problems of a form in a sentence.
func fieldProblems(fe flows.FieldErrors) string {
	var msgs []string
	for _, name := range slices.Sorted(maps.Keys(fe)) {
		msgs = append(msgs, fe[name])
	}
	return "Please fix: " + strings.Join(msgs, "; ") + "."
}

// outcomeError maps an error from the service to a status and a message.
func (c *Console) outcomeError(w http.ResponseWriter, r *http.Request, as string, err error) {
	var ie *flows.InputError
	var fe flows.FieldErrors
	switch {
	case errors.As(err, &fe):
		if wantsJSON(r) {
			c.fail(w, r, http.StatusUnprocessableEntity, fe.Error(), fe)
			return
		}
		// A card's form (e.g. "Mark done" with outputs): say what to fix
		// on the person's page, where the card is.
		c.answer(w, r, as, note{Text: fieldProblems(fe)})
	case errors.As(err, &ie):
		if wantsJSON(r) {
			c.fail(w, r, http.StatusUnprocessableEntity, ie.Error(), nil)
			return
		}
		c.answer(w, r, as, note{Text: ie.Error()})
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

// takeNote returns, and forgets, the answer waiting for as's next page
// (nil if none).
func (c *Console) takeNote(as string) *note {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.notes[as]
	if !ok {
		return nil
	}
	delete(c.notes, as)
	return &n
}

func (c *Console) data(as string, consume bool) pageData {
	e := c.svc.Engine()
	d := pageData{As: as, People: e.Directory().People(), Flows: e.Flows(), Threads: c.feed.threads(personBox(as)), Now: c.svc.Now()}
	if consume {
		d.Note = c.takeNote(as)
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

// contentSecurityPolicy allows the console's own files only: no inline
// script or style, so text from a form can never run as code.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func (c *Console) render(w http.ResponseWriter, name string, data any) {
	c.renderStatus(w, http.StatusOK, name, data)
}

// renderStatus renders a template in full before sending anything, so a
// template error is a clean 500 and not half a page.
func (c *Console) renderStatus(w http.ResponseWriter, code int, name string, data any) {
	var buf bytes.Buffer
	if err := c.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		c.log.Error("render console", "template", name, "err", err)
		http.Error(w, "The console could not render this page; the error was logged.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", contentSecurityPolicy)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = buf.WriteTo(w)
}

// static serves the stylesheet, the script and the icon.
func static(w http.ResponseWriter, r *http.Request) {
	b, err := staticFS.ReadFile("static/" + r.PathValue("name"))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	if r.URL.Query().Get("v") == assetVersion {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, r.PathValue("name"), time.Time{}, bytes.NewReader(b))
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
	// The note the page shows, if it sends what it was made of: said out
	// of date, the page drops it.
	if c.noteStale(r.Context(), as, r.FormValue("seen"), r.FormValue("since")) {
		w.Header().Set("X-Baton-Note", "stale")
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
	rep, err := c.svc.Command(r.Context(), as, "web", eventKey(as, r.FormValue("key")), text)
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
	c.answer(w, r, as, note{OK: !rep.Refused, Msg: rep.Message})
}

// eventKey is the idempotency key of an event a person sends with a form's
// key (a fresh one without). It is scoped to the person: a key someone else
// sent (or guessed) never answers with their request or their outcome, and
// the same person sending the same form twice still acts once.
func eventKey(as, key string) string { return "web:" + as + ":" + cmp.Or(key, newKey()) }

type formData struct {
	As       string
	Flow     *flows.Definition
	Fields   []formField
	Action   string
	Title    string
	Key      string
	Error    string
	People   []flows.Person
	Resubmit bool
	Changes  string // resubmission: who sent it back and why
	Note     string // resubmission: the note for the reviewer
	Focus    string // the field the page starts on: the first with a problem, else the first
}

type formField struct {
	flows.Field
	Value   string
	Error   string
	Input   string // HTML input type
	Exclude string // a person field's choice left out: the requester, where it names their approver
	// MinDate and MaxDate are a date field's bounds (2006-01-02) for the
	// browser's date picker; Baton checks them itself too.
	MinDate, MaxDate string
	Scope            string // what tells the field's element from another form's on the page ("" on a page of one form)
}

// Selected is the option a choice shows picked: its value, or, when that
// is not (or no longer) an option, its default.
func (f formField) Selected() string {
	if slices.Contains(f.Options, f.Value) {
		return f.Value
	}
	return f.Default
}

// ID is the field's element id, for its label.
func (f formField) ID() string {
	if f.Scope != "" {
		return "f-" + f.Scope + "-" + f.Name
	}
	return "f-" + f.Name
}

// today is now where person is: their date pickers' bounds count from it.
func today(svc Service, person string) time.Time {
	return svc.Now().In(svc.Engine().Directory().Location(person))
}

func (c *Console) form(as string, def *flows.Definition, fields []flows.Field, values map[string]string, errs flows.FieldErrors, action, title string) formData {
	fd := formData{As: as, Flow: def, Action: action, Title: title, Key: c.key(), People: c.svc.Engine().Directory().People()}
	for _, f := range fields {
		v, ok := values[f.Name]
		if !ok {
			v = f.Default
		}
		ff := formField{Field: f, Value: v, Error: errs[f.Name], Input: inputType(f.Kind)}
		if def.ApprovalNamedBy(f.Name) != nil { // as makes (or resubmits) the request
			ff.Exclude = as
		}
		ff.MinDate, ff.MaxDate = f.DateBounds(today(c.svc, as))
		fd.Fields = append(fd.Fields, ff)
		if fd.Focus == "" && len(errs) == 0 || ff.Error != "" && !slices.ContainsFunc(fd.Fields[:len(fd.Fields)-1], func(o formField) bool { return o.Error != "" }) {
			fd.Focus = ff.ID()
		}
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
	out, err := c.svc.Handle(r.Context(), flows.Event{Kind: flows.EventStart, Key: eventKey(as, r.PostFormValue("key")),
		Actor: as, Platform: "web", Flow: def.ID, Data: input})
	var fe flows.FieldErrors
	if errors.As(err, &fe) && !wantsJSON(r) {
		c.renderStatus(w, http.StatusUnprocessableEntity, "form", c.form(as, def, def.Form, input, fe, "/console/start/"+def.ID, "Start: "+def.Name))
		return
	}
	if err != nil {
		c.outcomeError(w, r, as, err)
		return
	}
	c.answer(w, r, as, note{OK: out.OK, Text: out.Text, Msg: &flows.Message{Kind: flows.MsgInfo, Instance: out.Instance, Title: out.Text}})
}

// sentBack returns the instance's flow if as may resubmit it now;
// otherwise it answers and returns nil. The engine decides in the end; this
// spares a person a form that would be refused (e.g. from an old notice's
// button).
func (c *Console) sentBack(w http.ResponseWriter, r *http.Request, as string) (*flows.Instance, *flows.Definition) {
	in, def := c.instanceFlow(w, r, as)
	if in == nil {
		return nil, nil
	}
	if out := c.svc.Engine().Allowed(in, flows.Event{Kind: flows.EventResubmit, Actor: as}, c.svc.Now()); !out.OK {
		if in.Requester != as { // the form would show someone else's request
			c.fail(w, r, http.StatusForbidden, out.Text, nil)
		} else {
			c.answer(w, r, as, note{Text: out.Text})
		}
		return nil, nil
	}
	return in, def
}

// instanceFlow returns the instance the path names and its flow; otherwise
// it answers and returns nil.
func (c *Console) instanceFlow(w http.ResponseWriter, r *http.Request, as string) (*flows.Instance, *flows.Definition) {
	in, err := c.svc.Instance(r.Context(), strings.ToUpper(r.PathValue("id")))
	if err != nil {
		c.outcomeError(w, r, as, err)
		return nil, nil
	}
	def, ok := c.svc.Engine().Flow(in.Flow)
	if !ok {
		c.fail(w, r, http.StatusNotFound, fmt.Sprintf("The flow of %s (%s) is no longer defined.", in.ID, in.Flow), nil)
		return nil, nil
	}
	return in, def
}

func (c *Console) resubmitForm(w http.ResponseWriter, r *http.Request) {
	as, ok := c.who(w, r)
	if !ok {
		return
	}
	in, def := c.sentBack(w, r, as)
	if in == nil {
		return
	}
	c.render(w, "form", c.resubmitData(as, def, in, bot.FormValues(def, in), nil, ""))
}

func (c *Console) resubmitData(as string, def *flows.Definition, in *flows.Instance, values map[string]string, errs flows.FieldErrors, reviewerNote string) formData {
	fd := c.form(as, def, def.Form, values, errs, "/console/resubmit/"+in.ID, fmt.Sprintf("Edit and resubmit %s", in.ID))
	fd.Resubmit, fd.Note = true, reviewerNote
	verb := "sent it back"
	if in.Status == flows.StatusRejected {
		verb = "rejected it"
	}
	fd.Changes = "It was sent back"
	if n := len(in.History); n > 0 && in.History[n-1].By != "" && in.History[n-1].By != flows.System {
		fd.Changes = c.svc.Engine().Directory().Name(in.History[n-1].By) + " " + verb
	}
	if in.Outcome != "" {
		fd.Changes += ": " + in.Outcome
	}
	return fd
}

func (c *Console) resubmit(w http.ResponseWriter, r *http.Request) {
	as, ok := c.who(w, r)
	if !ok {
		return
	}
	// Not sentBack: a resubmission sent twice (a double click) is answered
	// as the first was, by its key, which only the service knows.
	in, def := c.instanceFlow(w, r, as)
	if in == nil {
		return
	}
	if in.Requester != as {
		c.sentBack(w, r, as) // refuses, as for the form
		return
	}
	input := formInput(r, def.Form)
	out, err := c.svc.Handle(r.Context(), flows.Event{Kind: flows.EventResubmit, Key: eventKey(as, r.PostFormValue("key")),
		Instance: in.ID, Actor: as, Platform: "web", Data: input, Reason: r.PostFormValue("note")})
	var fe flows.FieldErrors
	if errors.As(err, &fe) && !wantsJSON(r) {
		c.renderStatus(w, http.StatusUnprocessableEntity, "form", c.resubmitData(as, def, in, input, fe, r.PostFormValue("note")))
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
		"retry": flows.EventRetry, "snooze": flows.EventSnooze,
	}
	kind, ok := kinds[r.PostFormValue("action")]
	if !ok {
		c.fail(w, r, http.StatusBadRequest, fmt.Sprintf("Unknown action %q; the actions are %s.", r.PostFormValue("action"), strings.Join(slices.Sorted(maps.Keys(kinds)), ", ")), nil)
		return
	}
	id := strings.ToUpper(strings.TrimSpace(r.PostFormValue("instance")))
	if id == "" {
		c.fail(w, r, http.StatusBadRequest, "Say which request: the form lacks the instance field (e.g. PR-1).", nil)
		return
	}
	round := 0 // the current round
	if v := r.PostFormValue("round"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			c.fail(w, r, http.StatusBadRequest, fmt.Sprintf("round %q is not a round number.", v), nil)
			return
		}
		round = n
	}
	ev := flows.Event{Kind: kind, Key: eventKey(as, r.PostFormValue("key")), Instance: id, Actor: as, Platform: "web",
		Step: r.PostFormValue("step"), Round: round, Reason: r.PostFormValue("reason"), Target: r.PostFormValue("target"),
		From: r.PostFormValue("from")} // reassign or delegate by an admin: whose task ("" = the first pending)
	if kind == flows.EventSnooze {
		ev.Data = map[string]string{"for": r.PostFormValue("for")}
	}
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
	var fe flows.FieldErrors
	if kind == flows.EventTaskDone && errors.As(err, &fe) && !wantsJSON(r) {
		// The form opens again on the card, as it was filled in.
		a := flows.Action{Kind: flows.ActDone, Instance: id, Step: ev.Step, Round: ev.Round}
		c.answer(w, r, as, note{Text: fieldProblems(fe), Refilled: &refilled{Action: a, Values: ev.Data, Errors: fe}})
		return
	}
	if err != nil {
		c.outcomeError(w, r, as, err)
		return
	}
	c.answer(w, r, as, note{OK: out.OK, Text: out.Text})
}

type statusData struct {
	As      string
	Note    *note // the answer to what the viewer just did here
	Msg     *flows.Message
	Now     time.Time
	People  []flows.Person
	Open    bool // the request is still open: withdraw or cancel it
	Running bool // a step waits on people or a system: delegate a task, skip the step
	Failed  bool // it failed at a step, and waits there: retry its call, skip the step
	Mine    bool // the viewer made the request: they withdraw it rather than cancel it
	// What the viewer may do beyond comment, so that nobody is offered
	// what would be refused (and recorded on someone else's request).
	Delegate bool // they hold a pending task of the step, or are an escalation target or admin who may decide it
	Cancel   bool // the flow's owner or an admin
	Skip     bool // the same, unless it would be deciding their own request
	Retry    bool // the same, on a request that failed at a webhook step
	// Decide: an admin or escalation target with no card of their own for
	// the step may decide it here (approve, reject, ask for changes on an
	// approval; reassign either kind). Step and Round are the step's.
	Decide, Approval bool
	// DecidesFor names whom the step waits on, when Decide: a decision
	// here is the whole step's, in their place.
	DecidesFor string
	Step       string
	Round      int
	// Holders: the people whose pending task an admin, or someone the step
	// was escalated to, chooses to reassign or delegate, when there are
	// several (the viewer's own first).
	Holders []flows.Person
	// Move: they may reassign someone else's pending task apart from
	// deciding the step (an admin whose own seat is decided).
	Move bool
	// ReassignTo, DelegateTo: whom a task of the step may go to (not the
	// requester of an approval, nor anyone already on it).
	ReassignTo, DelegateTo []flows.Person
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
	d := statusData{As: as, Note: c.takeNote(as), Msg: m, Now: c.svc.Now(), People: c.svc.Engine().Directory().People()}
	if in, err := c.svc.Instance(r.Context(), m.Instance); err == nil {
		e := c.svc.Engine()
		d.Open, d.Running, d.Failed, d.Mine = in.Status.Open(), in.Status == flows.StatusRunning, in.Status == flows.StatusFailed, in.Requester == as
		def, _ := e.Flow(in.Flow)
		manager := e.IsAdmin(as) || def != nil && def.Owner == as
		d.Cancel = manager
		// Skipping or passing on an approval is deciding it: the engine's
		// own check says who may (not an admin who made the request).
		now := c.svc.Now()
		mayDecide := e.Allowed(in, flows.Event{Kind: flows.EventDelegate, Actor: as, Step: in.Step, Round: in.Round}, now).OK
		var step *flows.Step
		if def != nil {
			step = def.Step(in.Step)
		}
		selfApproval := step != nil && step.Kind == flows.StepApproval && !step.AllowSelfApproval && in.Requester == as
		d.Skip = manager && !selfApproval
		d.Retry = manager && d.Failed && step != nil && step.Kind == flows.StepWebhook
		waitsOnPeople := step != nil && (step.Kind == flows.StepApproval || step.Kind == flows.StepTask)
		holds := slices.ContainsFunc(in.Tasks, func(t flows.Task) bool { return t.Assignee == as && t.Decision == flows.Pending })
		d.Delegate = waitsOnPeople && mayDecide && (e.IsAdmin(as) || slices.Contains(in.Escalated, as) || holds)
		// Those who hold a task decide on its card; others who may (an
		// admin, someone an escalation brought in) decide here.
		// (Deciding is checked as itself: an admin who has decided their own
		// seat may still move the others' tasks, but not decide the step.)
		decide := flows.Event{Kind: flows.EventApprove, Actor: as, Step: in.Step, Round: in.Round}
		if step != nil && step.Kind == flows.StepTask {
			decide.Kind = flows.EventTaskDone
		}
		d.Decide = waitsOnPeople && !holds && !slices.Contains(in.Pending(), as) && e.Allowed(in, decide, now).OK
		d.Approval, d.Step, d.Round = step != nil && step.Kind == flows.StepApproval, in.Step, in.Round
		if d.Decide {
			var names []string
			for _, p := range in.Pending() {
				names = append(names, e.Directory().Name(p))
			}
			d.DecidesFor = flows.JoinNames(names)
		}
		d.ReassignTo = e.Takers(in, false)
		d.DelegateTo = slices.DeleteFunc(e.Takers(in, true), func(p flows.Person) bool { return p.ID == as })
		if movesAny := e.IsAdmin(as) || slices.Contains(in.Escalated, as) && !slices.Contains(in.Pending(), as); movesAny && (d.Delegate || d.Decide) {
			for _, t := range in.Tasks {
				if t.Decision == flows.Pending {
					d.Holders = append(d.Holders, flows.Person{ID: t.Assignee, Name: e.Directory().Name(t.Assignee)})
				}
			}
			if i := slices.IndexFunc(d.Holders, func(p flows.Person) bool { return p.ID == as }); i > 0 {
				d.Holders[0], d.Holders[i] = d.Holders[i], d.Holders[0]
			}
			// Moving a task apart from deciding: someone else's (an admin
			// whose own seat is decided moves the others' here).
			d.Move = !d.Decide && slices.ContainsFunc(d.Holders, func(p flows.Person) bool { return p.ID != as })
			if len(d.Holders) < 2 {
				d.Holders = nil
			}
		}
	}
	c.render(w, "status", d)
}
