package api

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"mime"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
)

//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the embedded OpenAPI 3 description.
func OpenAPI() []byte { return slices.Clone(openAPI) }

// Service is what the API needs of the runtime (bot.Service implements it).
type Service interface {
	Handle(ctx context.Context, ev flows.Event) (flows.Outcome, error)
	// CheckStart checks a start's form, dates' bounds included, before
	// anything is reserved; a start under a key used before is a retry,
	// left to Handle.
	CheckStart(ctx context.Context, def *flows.Definition, actor string, data map[string]string, key string) error
	Engine() *flows.Engine
	Now() time.Time
	MayView(viewer string, in *flows.Instance) bool
}

// Instances reads instances (flows.Store implements it).
type Instances interface {
	Get(ctx context.Context, id string) (*flows.Instance, error)
	Audit(ctx context.Context, id string) ([]flows.AuditEntry, error)
	List(ctx context.Context, q flows.Query) ([]*flows.Instance, error)
	// Page is List, and where a filtered listing stopped reading short of
	// q.Limit matches (the zero Place: it did not).
	Page(ctx context.Context, q flows.Query) ([]*flows.Instance, flows.Place, error)
}

// Tokens finds tokens by hash.
type Tokens interface {
	// TokenByHash returns the token whose SHA-256 is hash; ok is false when
	// there is none (never created, or revoked).
	TokenByHash(ctx context.Context, hash string) (tok Token, ok bool, err error)
}

// Deliveries reads an instance's webhook delivery attempts.
type Deliveries interface {
	HookAttempts(ctx context.Context, instance string) ([]flows.HookAttempt, error)
}

// Deps are the API's dependencies. Deliveries may be nil.
type Deps struct {
	Service    Service
	Instances  Instances
	Tokens     Tokens
	Deliveries Deliveries
	Log        *slog.Logger
}

// Config tunes the API. Zero values mean the defaults.
type Config struct {
	MaxBody      int64 // largest request body (default 64 KiB)
	PersonWindow int   // newest instances a person-bound token's list looks through, besides the person's own (default 1,000)
}

// API serves /api/v1.
type API struct {
	d   Deps
	cfg Config
	mux *http.ServeMux // the routes, to tell 404 from 405
}

// New builds the API. It does no I/O.
func New(d Deps, cfg Config) *API {
	cfg.MaxBody = cmp.Or(cfg.MaxBody, 64<<10)
	cfg.PersonWindow = cmp.Or(cfg.PersonWindow, 1000)
	a := &API{d: d, cfg: cfg, mux: http.NewServeMux()}
	for pattern, h := range a.routes() {
		a.mux.Handle(pattern, h)
	}
	return a
}

// Prefix is where the API is mounted.
const Prefix = "/api/v1/"

func (a *API) routes() map[string]http.Handler {
	return map[string]http.Handler{
		"GET /api/v1/openapi.json":              http.HandlerFunc(a.openapi),
		"GET /api/v1/flows":                     a.auth(ScopeRead, a.listFlows),
		"POST /api/v1/flows/{flow}/instances":   a.auth(ScopeStart, a.start),
		"GET /api/v1/instances":                 a.auth(ScopeRead, a.list),
		"GET /api/v1/instances/{id}":            a.auth(ScopeRead, a.get),
		"POST /api/v1/instances/{id}/decisions": a.auth(ScopeAdmin, a.decide),
		"POST /api/v1/instances/{id}/comments":  a.auth(ScopeStart, a.comment),
		"POST /api/v1/instances/{id}/actions":   a.auth(ScopeStart, a.act), // cancel, skip and retry need admin: checked by act
	}
}

// Routes returns the API's handlers by ServeMux pattern, to mount on the
// server (each route gets its own metrics), plus Prefix, which answers
// unknown paths and methods with JSON 404 and 405.
func (a *API) Routes() map[string]http.Handler {
	r := a.routes()
	r[Prefix] = http.HandlerFunc(a.fallback)
	return r
}

// Handler serves every route (for tests and for mounting under one pattern).
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	for p, h := range a.Routes() {
		mux.Handle(p, h)
	}
	return mux
}

func (a *API) fallback(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		c := r.Clone(r.Context())
		c.Method = m
		if _, p := a.mux.Handler(c); p != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, r, http.StatusMethodNotAllowed, "method_not_allowed", fmt.Sprintf("%s %s: use %s", r.Method, r.URL.Path, strings.Join(allow, " or ")), nil)
		return
	}
	writeError(w, r, http.StatusNotFound, "not_found", fmt.Sprintf("no endpoint %s; the API is described at /api/v1/openapi.json", r.URL.Path), nil)
}

func (a *API) openapi(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(openAPI)
}

// ---- errors

type apiError struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

func writeError(w http.ResponseWriter, r *http.Request, status int, code, msg string, fields map[string]string) {
	writeJSON(w, status, map[string]any{"error": apiError{Code: code, Message: msg, Fields: fields}, "request_id": bot.RequestID(r.Context())})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func invalid(w http.ResponseWriter, r *http.Request, fields map[string]string) {
	names := slices.Sorted(maps.Keys(fields))
	writeError(w, r, http.StatusUnprocessableEntity, "invalid", "invalid input: "+strings.Join(names, ", ")+"; nothing was changed", fields)
}

// ---- authentication

type tokenKey struct{}

func tokenOf(r *http.Request) Token { t, _ := r.Context().Value(tokenKey{}).(Token); return t }

// auth checks the bearer token and its scope before h runs.
func (a *API) auth(need Scope, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		tok = strings.TrimSpace(tok)
		if tok == "" || !strings.EqualFold(scheme, "Bearer") {
			w.Header().Set("WWW-Authenticate", `Bearer realm="baton"`)
			writeError(w, r, http.StatusUnauthorized, "unauthorized", "send an API token: Authorization: Bearer baton_… (create one with baton token create)", nil)
			return
		}
		if !wellFormed(tok) {
			a.unknownToken(w, r)
			return
		}
		hash := HashToken(tok)
		t, ok, err := a.d.Tokens.TokenByHash(r.Context(), hash)
		if err != nil {
			a.d.Log.Error("api: token lookup", "request", bot.RequestID(r.Context()), "err", err)
			writeError(w, r, http.StatusServiceUnavailable, "unavailable", "the token store cannot be reached; try again", nil)
			return
		}
		if !ok || !sameHash(t.Hash, hash) {
			a.unknownToken(w, r)
			return
		}
		if !t.Scope.Allows(need) {
			writeError(w, r, http.StatusForbidden, "insufficient_scope", fmt.Sprintf("token %s has scope %s; this needs %s", t.Name, t.Scope, need), nil)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), tokenKey{}, t)))
	})
}

func (a *API) unknownToken(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="baton", error="invalid_token"`)
	writeError(w, r, http.StatusUnauthorized, "invalid_token", "the token is not valid (mistyped, or revoked); create a new one with baton token create", nil)
}

// actor returns who a write acts as: the token's person, or on_behalf_of.
// ok false means an error was written.
func (a *API) actor(w http.ResponseWriter, r *http.Request, onBehalf string, fields map[string]string) (string, bool) {
	t := tokenOf(r)
	switch {
	case t.Person != "" && onBehalf != "" && onBehalf != t.Person:
		writeError(w, r, http.StatusForbidden, "forbidden", fmt.Sprintf("token %s acts as %s only", t.Name, t.Person), nil)
		return "", false
	case t.Person != "":
		return t.Person, true
	case onBehalf == "":
		fields["on_behalf_of"] = "say on whose behalf this is done: a person id from the directory"
	default:
		if _, ok := a.d.Service.Engine().Directory().Person(onBehalf); !ok {
			fields["on_behalf_of"] = fmt.Sprintf("%q is not in the people directory", onBehalf)
		}
	}
	return onBehalf, true
}

// ---- requests

// decode reads a JSON body into v and returns the body (for idemKey). ok
// false means an error was written.
func (a *API) decode(w http.ResponseWriter, r *http.Request, v any) (body []byte, ok bool) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, r, http.StatusUnsupportedMediaType, "unsupported_media_type", "send Content-Type: application/json", nil)
		return nil, false
	}
	if !bot.Identity(r) {
		writeError(w, r, http.StatusUnsupportedMediaType, "unsupported_media_type", bot.UncompressedText, nil)
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.cfg.MaxBody))
	if err == nil && !bytes.HasPrefix(bytes.TrimLeft(body, " \t\r\n"), []byte("{")) {
		err = io.EOF // null, an array, a string...: not an object
	}
	if err == nil {
		if err := bot.CheckJSON(body, v); err != nil { // a name twice, or in the wrong case
			writeError(w, r, http.StatusBadRequest, "bad_request", err.Error(), nil)
			return nil, false
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		dec.UseNumber() // amounts keep their digits
		err = dec.Decode(v)
		if err == nil && dec.Decode(new(json.RawMessage)) != io.EOF {
			err = errors.New("one JSON object only")
		}
	}
	var mbe *http.MaxBytesError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		writeError(w, r, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the body is over %d bytes", a.cfg.MaxBody), nil)
		return nil, false
	case errors.Is(err, io.EOF):
		writeError(w, r, http.StatusBadRequest, "bad_request", "send a JSON object", nil)
		return nil, false
	case errors.As(err, &te):
		writeError(w, r, http.StatusBadRequest, "bad_request", typeError(te), nil)
		return nil, false
	case err != nil:
		writeError(w, r, http.StatusBadRequest, "bad_request", "the body is not valid: "+err.Error(), nil)
		return nil, false
	}
	return body, true
}

// typeError says which field has a value of the wrong JSON type, in the
// request's terms rather than Go's.
func typeError(te *json.UnmarshalTypeError) string {
	switch te.Field {
	case "":
		return "send a JSON object"
	case "data":
		return "data must be a JSON object of form values"
	case "refs": // also a value inside refs: encoding/json names the map only
		return `refs must be a JSON object of texts, e.g. {"crm_deal": "D-42"}`
	case "round":
		return "round must be a whole number"
	}
	return te.Field + " must be text"
}

// formValue turns a JSON value into the form's text.
func formValue(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// formData turns a request's data into form values, checking each value's
// JSON type against its field (fields, by name): text of any kind, or a
// number; true or false only for a choice (whose options say whether it
// is one of them), as "true" is no one's item or reason. Problems go into
// problems, as "data.NAME".
func formData(raw map[string]any, fields []flows.Field, problems map[string]string) map[string]string {
	data := map[string]string{}
	for k, v := range raw {
		if v == nil { // a null value is no value
			continue
		}
		s, ok := formValue(v)
		if !ok {
			problems["data."+k] = "must be text or a number, not an object or a list"
			continue
		}
		i := slices.IndexFunc(fields, func(f flows.Field) bool { return f.Name == k })
		if _, isBool := v.(bool); isBool && i >= 0 && fields[i].Kind != flows.FieldChoice {
			problems["data."+k] = fmt.Sprintf("must be %s, not %s", fieldValueKind(fields[i].Kind), s)
			continue
		}
		if _, isStr := v.(string); !isStr && i >= 0 && fields[i].Kind == flows.FieldNumber {
			s = flows.ProgramNumber(s) // a JSON number's dot is a decimal point
		}
		data[k] = s
	}
	return data
}

// fieldValueKind is what a field of kind takes, for a refusal.
func fieldValueKind(kind flows.FieldKind) string {
	switch kind {
	case flows.FieldNumber:
		return "a number"
	case flows.FieldDate:
		return "a date (YYYY-MM-DD)"
	case flows.FieldPerson:
		return "a person's id"
	case flows.FieldEmail:
		return "an email address"
	case flows.FieldURL:
		return "a URL"
	}
	return "text"
}

var refKey = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

type startRequest struct {
	Data       map[string]any    `json:"data"`
	Refs       map[string]string `json:"refs"`
	OnBehalfOf string            `json:"on_behalf_of"`
}

// outcome is the answer to a write: what the engine said. It is built from
// the stored outcome only, so a replay answers the same.
type outcome struct {
	OK       bool         `json:"ok"`
	Instance string       `json:"instance,omitempty"`
	Status   flows.Status `json:"status,omitempty"`
	Code     string       `json:"code,omitempty"`
	Text     string       `json:"text"`
}

func (a *API) start(w http.ResponseWriter, r *http.Request) {
	var req startRequest
	body, ok := a.decode(w, r, &req)
	if !ok {
		return
	}
	name := r.PathValue("flow")
	def, found := a.d.Service.Engine().Flow(name)
	if !found {
		msg := fmt.Sprintf("there is no flow %q; GET /api/v1/flows lists them", name)
		if s := a.d.Service.Engine().Suggest(name); s != "" {
			msg = fmt.Sprintf("there is no flow %q; did you mean %q?", name, s)
		}
		writeError(w, r, http.StatusNotFound, "not_found", msg, nil)
		return
	}
	fields := map[string]string{}
	actor, ok := a.actor(w, r, req.OnBehalfOf, fields)
	if !ok {
		return
	}
	data := formData(req.Data, def.Form, fields)
	if len(req.Refs) > 20 {
		fields["refs"] = "at most 20 references"
	}
	for k, v := range req.Refs {
		switch problem := flows.OneLineProblem(v); {
		case !refKey.MatchString(k):
			fields["refs."+k] = "a reference name is a lowercase identifier (letters, digits, _), e.g. crm_deal"
		case v == "" || utf8.RuneCountInString(v) > 2048:
			fields["refs."+k] = "a reference is 1 to 2048 characters"
		case problem != "":
			fields["refs."+k] = "a reference is one line of text: it " + problem
		}
	}
	id, ok := idemKey(w, r, body)
	if !ok {
		return
	}
	// The form is checked before anything is reserved, so every problem
	// is reported at once and an invalid start creates nothing.
	if err := a.d.Service.CheckStart(r.Context(), def, actor, data, id.key); err != nil {
		var fe flows.FieldErrors
		var ie *flows.InputError
		switch {
		case errors.As(err, &fe):
			for f, msg := range fe {
				if _, ok := fields["data."+f]; !ok { // a value of the wrong type is left out of data: say why
					fields["data."+f] = msg
				}
			}
		case errors.As(err, &ie):
			writeError(w, r, http.StatusUnprocessableEntity, "invalid", err.Error(), nil)
			return
		default:
			a.fail(w, r, err)
			return
		}
	}
	if len(fields) > 0 {
		invalid(w, r, fields)
		return
	}
	ev := flows.Event{Kind: flows.EventStart, Key: id.key, Fingerprint: id.fingerprint, Actor: actor, Platform: "api", Via: via(r), Flow: def.ID, Data: data, Refs: req.Refs}
	out, err := a.d.Service.Handle(r.Context(), ev)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if keyReused(w, r, id, out) {
		return
	}
	a.d.Log.Info("api: start", "request", bot.RequestID(r.Context()), "token", tokenOf(r).Name, "flow", def.ID, "instance", out.Instance, "user", actor, "ok", out.OK)
	if out.OK {
		w.Header().Set("Location", "/api/v1/instances/"+out.Instance)
	}
	a.answer(w, r, out, http.StatusCreated)
}

// answer writes an engine outcome: success with status ok, a refusal as
// 403 (not theirs to do) or 409 (already decided, closed).
func (a *API) answer(w http.ResponseWriter, r *http.Request, out flows.Outcome, ok int) {
	body := outcome{OK: out.OK, Instance: out.Instance, Status: out.Status, Code: out.Code, Text: out.Text}
	if out.OK {
		writeJSON(w, ok, body)
		return
	}
	status := http.StatusForbidden
	if out.Code == flows.CodeAlreadyDecided || out.Code == flows.CodeClosed || out.Code == flows.CodeNotReached || out.Code == flows.CodeWrongState {
		status = http.StatusConflict
	}
	writeJSON(w, status, map[string]any{"error": apiError{Code: out.Code, Message: out.Text}, "outcome": body, "request_id": bot.RequestID(r.Context())})
}

// fail writes an error of Service.Handle.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var fe flows.FieldErrors
	var ie *flows.InputError
	switch {
	case errors.As(err, &fe):
		fields := map[string]string{}
		for f, msg := range fe {
			fields["data."+f] = msg
		}
		invalid(w, r, fields)
	case errors.Is(err, flows.ErrNotFound):
		msg := err.Error()
		if id := instanceID(r); id != "" { // as a read of it answers
			msg = fmt.Sprintf("there is no instance %s", id)
		}
		writeError(w, r, http.StatusNotFound, "not_found", msg, nil)
	case errors.As(err, &ie) && ie.Field != "":
		invalid(w, r, map[string]string{ie.Field: ie.Error()})
	case errors.As(err, &ie):
		writeError(w, r, http.StatusUnprocessableEntity, "invalid", ie.Error(), nil)
	case errors.Is(err, flows.ErrConflict):
		writeError(w, r, http.StatusConflict, "conflict", "the request is being changed by others right now; try again", nil)
	default:
		a.d.Log.Error("api: write failed", "request", bot.RequestID(r.Context()), "token", tokenOf(r).Name, "err", err)
		writeError(w, r, http.StatusInternalServerError, "internal", "the change could not be saved; try again with the same Idempotency-Key", nil)
	}
}

type decisionRequest struct {
	Decision   string         `json:"decision"`
	Reason     string         `json:"reason"`
	OnBehalfOf string         `json:"on_behalf_of"`
	Step       string         `json:"step"`
	Round      *wholeNumber   `json:"round"` // nil: the current round
	Data       map[string]any `json:"data"`  // done: the task's outputs
}

var decisions = map[string]flows.EventKind{
	"approve": flows.EventApprove, "reject": flows.EventReject, "request_changes": flows.EventRequestChanges, "done": flows.EventTaskDone,
}

func instanceID(r *http.Request) string { return strings.ToUpper(r.PathValue("id")) }

func (a *API) decide(w http.ResponseWriter, r *http.Request) {
	var req decisionRequest
	body, ok := a.decode(w, r, &req)
	if !ok {
		return
	}
	fields := map[string]string{}
	kind, known := decisions[req.Decision]
	switch {
	case req.Decision == "":
		fields["decision"] = "say approve, reject, request_changes or done"
	case !known:
		fields["decision"] = fmt.Sprintf("%q is not a decision; say approve, reject, request_changes or done", req.Decision)
	case (kind == flows.EventReject || kind == flows.EventRequestChanges) && strings.TrimSpace(req.Reason) == "":
		fields["reason"] = "a reason is required to " + strings.ReplaceAll(req.Decision, "_", " ")
	case flows.TextLen(req.Reason) > flows.MaxText: // as the engine counts
		fields["reason"] = fmt.Sprintf("at most %d characters", flows.MaxText)
	}
	round := roundField(req.Round, fields)
	actor, ok := a.actor(w, r, req.OnBehalfOf, fields)
	if !ok {
		return
	}
	// The task's outputs are checked by the engine, against the step the
	// request is at; here only their JSON types, against the fields of the
	// step named or current (a number for a number field, its dot a decimal
	// point).
	var outputs []flows.Field
	if len(req.Data) > 0 { // read the request only for data to type
		outputs = a.outputs(r, req.Step)
	}
	data := formData(req.Data, outputs, fields)
	if len(data) > 0 && kind != flows.EventTaskDone {
		fields["data"] = "only a done decision takes data (the task's outputs)"
	}
	if len(fields) > 0 {
		invalid(w, r, fields)
		return
	}
	a.write(w, r, body, flows.Event{Kind: kind, Actor: actor, Reason: req.Reason, Step: req.Step, Round: round, Data: data}, http.StatusOK)
}

// outputs returns the output fields of the step of the request in r's path
// (step, or else its current one), or nil when there is no such request or
// step, or the token may not see it: the engine, or the write's not
// found, then says so (typing data against a request the token may not see
// would tell it the request exists, and where it stands).
func (a *API) outputs(r *http.Request, step string) []flows.Field {
	in, err := a.d.Instances.Get(r.Context(), instanceID(r))
	if err != nil || !a.mayView(r, in) {
		return nil
	}
	def, ok := a.d.Service.Engine().Flow(in.Flow)
	if !ok {
		return nil
	}
	if s := def.Step(cmp.Or(step, in.Step)); s != nil {
		return s.Outputs
	}
	return nil
}

type commentRequest struct {
	Text       string `json:"text"`
	OnBehalfOf string `json:"on_behalf_of"`
}

func (a *API) comment(w http.ResponseWriter, r *http.Request) {
	var req commentRequest
	body, ok := a.decode(w, r, &req)
	if !ok {
		return
	}
	fields := map[string]string{}
	switch {
	case strings.TrimSpace(req.Text) == "":
		fields["text"] = "write the comment"
	case flows.TextLen(req.Text) > flows.MaxText: // as the engine counts
		fields["text"] = fmt.Sprintf("at most %d characters", flows.MaxText)
	}
	actor, ok := a.actor(w, r, req.OnBehalfOf, fields)
	if !ok {
		return
	}
	if len(fields) > 0 {
		invalid(w, r, fields)
		return
	}
	a.write(w, r, body, flows.Event{Kind: flows.EventComment, Actor: actor, Reason: req.Text}, http.StatusCreated)
}

type actionRequest struct {
	Action     string       `json:"action"`
	Reason     string       `json:"reason"`
	OnBehalfOf string       `json:"on_behalf_of"`
	Step       string       `json:"step"`  // skip, retry: the step seen ("": the current one)
	Round      *wholeNumber `json:"round"` // nil: the current round
}

// actionKinds are the actions on a request besides deciding and
// commenting, as the chat commands take them: who may is the engine's to
// say (cancel, skip, retry: the flow's owner or an admin; withdraw: the
// requester), and the token's scope the API's.
var actionKinds = map[string]struct {
	kind   flows.EventKind
	scope  Scope
	reason bool // one is required
	step   bool // it takes the step and round seen
}{
	"cancel":   {flows.EventCancel, ScopeAdmin, true, false},
	"withdraw": {flows.EventWithdraw, ScopeStart, false, false},
	"skip":     {flows.EventSkip, ScopeAdmin, true, true},
	"retry":    {flows.EventRetry, ScopeAdmin, false, true},
}

const actionWords = "cancel, withdraw, skip or retry"

func (a *API) act(w http.ResponseWriter, r *http.Request) {
	var req actionRequest
	body, ok := a.decode(w, r, &req)
	if !ok {
		return
	}
	fields := map[string]string{}
	act, known := actionKinds[req.Action]
	switch {
	case req.Action == "":
		fields["action"] = "say " + actionWords
	case !known:
		fields["action"] = fmt.Sprintf("%q is not an action; say %s (to approve, reject, request changes or mark done: POST …/decisions)", req.Action, actionWords)
	case !tokenOf(r).Scope.Allows(act.scope):
		t := tokenOf(r)
		writeError(w, r, http.StatusForbidden, "insufficient_scope", fmt.Sprintf("token %s has scope %s; %s needs %s", t.Name, t.Scope, req.Action, act.scope), nil)
		return
	case act.reason && strings.TrimSpace(req.Reason) == "":
		fields["reason"] = "a reason is required to " + req.Action
	case flows.TextLen(req.Reason) > flows.MaxText: // as the engine counts
		fields["reason"] = fmt.Sprintf("at most %d characters", flows.MaxText)
	}
	round := 0 // the current one
	if known && !act.step && (req.Step != "" || req.Round != nil) {
		fields["step"] = "only skip and retry take a step and round"
	} else {
		round = roundField(req.Round, fields)
	}
	actor, ok := a.actor(w, r, req.OnBehalfOf, fields)
	if !ok {
		return
	}
	if len(fields) > 0 {
		invalid(w, r, fields)
		return
	}
	a.write(w, r, body, flows.Event{Kind: act.kind, Actor: actor, Reason: req.Reason, Step: req.Step, Round: round}, http.StatusOK)
}

// roundField is the round a decision or an action names (0, the current
// one, when it names none), or 0 with the error in fields.
func roundField(round *wholeNumber, fields map[string]string) int {
	if round == nil {
		return 0
	}
	if *round < 1 {
		fields["round"] = "a round is 1 or more (leave it out for the current one)"
		return 0
	}
	return int(*round)
}

// wholeNumber is a JSON number that is whole, however it is written (2,
// 2.0, 2e0: a client's JSON library may write any of them, and a retry's
// spelling may differ from the first request's); a string is refused.
type wholeNumber int

func (n *wholeNumber) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64) // a JSON number's syntax is ParseFloat's; a quoted one is refused
	if err != nil || f != math.Trunc(f) || math.Abs(f) > math.MaxInt32 {
		return &json.UnmarshalTypeError{Value: "number " + string(b), Type: reflect.TypeFor[int]()}
	}
	*n = wholeNumber(f)
	return nil
}

// write applies an event to the instance of the path. For a token bound to
// a person, an instance they may not see is not found, as for a read, and
// nothing is recorded; any other token needs no read first (an unknown
// instance is not found by the write itself).
func (a *API) write(w http.ResponseWriter, r *http.Request, body []byte, ev flows.Event, ok int) {
	if tokenOf(r).Person != "" {
		if _, good := a.visible(w, r, instanceID(r)); !good {
			return
		}
	}
	id, good := idemKey(w, r, body)
	if !good {
		return
	}
	ev.Key, ev.Fingerprint, ev.Instance, ev.Platform, ev.Via = id.key, id.fingerprint, instanceID(r), "api", via(r)
	out, err := a.d.Service.Handle(r.Context(), ev)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if keyReused(w, r, id, out) {
		return
	}
	a.d.Log.Info("api: "+string(ev.Kind), "request", bot.RequestID(r.Context()), "token", tokenOf(r).Name, "instance", ev.Instance, "user", ev.Actor, "ok", out.OK, "code", out.Code)
	a.answer(w, r, out, ok)
}

// via is the Via of the token's events: the audit trail says which token
// acted for the actor.
func via(r *http.Request) string { return "api token " + tokenOf(r).Name }

// ---- reads

// visible loads an instance the token may see. ok false means an error was
// written.
func (a *API) visible(w http.ResponseWriter, r *http.Request, id string) (*flows.Instance, bool) {
	in, err := a.d.Instances.Get(r.Context(), id)
	if errors.Is(err, flows.ErrNotFound) || err == nil && !a.mayView(r, in) {
		// Someone a token may not see does not exist for it.
		writeError(w, r, http.StatusNotFound, "not_found", fmt.Sprintf("there is no instance %s", id), nil)
		return nil, false
	}
	if err != nil {
		a.d.Log.Error("api: read", "request", bot.RequestID(r.Context()), "instance", id, "err", err)
		writeError(w, r, http.StatusInternalServerError, "internal", "the instance could not be read; try again", nil)
		return nil, false
	}
	return in, true
}

func (a *API) mayView(r *http.Request, in *flows.Instance) bool {
	p := tokenOf(r).Person
	return p == "" || a.d.Service.MayView(p, in)
}

type instanceView struct {
	*flows.Instance
	// Outcome and Reason stand in for the Instance's Outcome, which holds
	// one or the other (flows.Instance.Result).
	Outcome    string              `json:"outcome,omitempty"`
	Reason     string              `json:"reason,omitempty"`
	WaitingOn  []string            `json:"waiting_on,omitempty"`
	Timeline   []flows.AuditEntry  `json:"timeline"`
	Deliveries []flows.HookAttempt `json:"deliveries"`
}

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	in, ok := a.visible(w, r, instanceID(r))
	if !ok {
		return
	}
	audit, err := a.d.Instances.Audit(r.Context(), in.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	v := instanceView{Instance: in, WaitingOn: in.Pending(), Timeline: audit, Deliveries: []flows.HookAttempt{}}
	v.Outcome, v.Reason = in.Result()
	// Deliveries name the event subscribers and their errors: for the
	// integrations' tokens, not for one person's. (A webhook step's call is
	// part of the flow: its record is on the timeline.)
	if a.d.Deliveries != nil && tokenOf(r).Person == "" {
		if v.Deliveries, err = a.d.Deliveries.HookAttempts(r.Context(), in.ID); err != nil {
			a.fail(w, r, err)
			return
		}
		if v.Deliveries == nil {
			v.Deliveries = []flows.HookAttempt{}
		}
	}
	writeJSON(w, http.StatusOK, v)
}

// summary is an instance in a list.
type summary struct {
	ID        string            `json:"id"`
	Flow      string            `json:"flow"`
	Title     string            `json:"title"`
	Requester string            `json:"requester"`
	Status    flows.Status      `json:"status"`
	Outcome   string            `json:"outcome,omitempty"` // its reason is the instance's to GET
	Step      string            `json:"step,omitempty"`
	Round     int               `json:"round,omitempty"`
	WaitingOn []string          `json:"waiting_on,omitempty"`
	Due       time.Time         `json:"due,omitzero"`
	Overdue   bool              `json:"overdue,omitempty"`
	Refs      map[string]string `json:"refs,omitempty"`
	Created   time.Time         `json:"created"`
	Updated   time.Time         `json:"updated"`
	Completed time.Time         `json:"completed,omitzero"`
}

var listParams = []string{"flow", "status", "requester", "assignee", "older_than", "limit", "cursor"}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	qv := r.URL.Query()
	fields := map[string]string{}
	for k, vs := range qv {
		switch {
		case !slices.Contains(listParams, k):
			fields[k] = "unknown parameter; use " + strings.Join(listParams, ", ")
		case len(vs) > 1 && k != "status": // qv.Get would take the first and drop the rest
			fields[k] = fmt.Sprintf("given %d times: give %s once", len(vs), k)
		}
	}
	q := flows.Query{Requester: qv.Get("requester"), Assignee: qv.Get("assignee"), Limit: 50}
	if f := qv.Get("flow"); f != "" {
		def, ok := a.d.Service.Engine().Flow(f)
		if !ok {
			fields["flow"] = fmt.Sprintf("there is no flow %q", f)
		} else {
			q.Flow = def.ID
		}
	}
	// Statuses, comma-separated, in one parameter or in several.
	for _, s := range strings.Split(strings.Join(qv["status"], ","), ",") {
		switch s = strings.TrimSpace(s); {
		case s == "":
		case s == "open": // failed too: it waits at the step it failed at
			for _, st := range flows.Statuses {
				if st.Open() {
					q.Status = append(q.Status, st)
				}
			}
		case slices.Contains(flows.Statuses, flows.Status(s)):
			q.Status = append(q.Status, flows.Status(s))
		default:
			fields["status"] = fmt.Sprintf("%q is not a status; use open or %s", s, joinStatuses())
		}
	}
	var olderThan time.Duration
	if s := qv.Get("older_than"); s != "" {
		d, err := flows.ParseDuration(s)
		if err != nil {
			fields["older_than"] = err.Error()
		}
		olderThan = d
	}
	if s := qv.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 500 {
			fields["limit"] = "a number from 1 to 500 (default 50)"
		}
		q.Limit = n
	}
	var after, floor flows.Place // the first page starts at the newest
	if s := qv.Get("cursor"); s != "" {
		var ok bool
		if after, floor, ok = decodeCursor(s); !ok {
			fields["cursor"] = "not a cursor this API gave out: pass next_cursor back as it came, or leave cursor out to start from the newest"
		}
	}
	if _, bad := fields["cursor"]; bad {
		// A cursor is no input to correct but a token to hand back as it
		// came: a bad one makes a bad request (400), not an invalid field
		// (422). The other fields' problems are told all the same.
		writeError(w, r, http.StatusBadRequest, "bad_request", "bad cursor: it was cut short or changed; nothing was changed", fields)
		return
	}
	if len(fields) > 0 {
		invalid(w, r, fields)
		return
	}
	limit := q.Limit
	if olderThan > 0 {
		q.CreatedBefore = a.d.Service.Now().Add(-olderThan)
	}
	// One more than a page tells whether there is a next one.
	// A filtered listing may stop reading short of a page (storage's
	// Page): it then ends at cut, where the next page starts.
	var ins []*flows.Instance
	var cut flows.Place
	var err error
	if person := tokenOf(r).Person; person != "" {
		ins, floor, cut, err = a.personList(r.Context(), q, person, after, floor, limit+1)
	} else {
		q.After, q.Limit, q.Paged = after, limit+1, true
		ins, cut, err = a.d.Instances.Page(r.Context(), q)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := []summary{}
	for _, in := range ins[:min(len(ins), limit)] {
		outcome, _ := in.Result()
		out = append(out, summary{ID: in.ID, Flow: in.Flow, Title: in.Title, Requester: in.Requester, Status: in.Status, Outcome: outcome,
			Step: in.Step, Round: in.Round, WaitingOn: in.Pending(), Due: in.Due, Overdue: in.Overdue, Refs: in.Refs,
			Created: in.Created, Updated: in.Updated, Completed: in.Completed})
	}
	body := map[string]any{"instances": out, "count": len(out)}
	switch {
	case len(ins) > limit:
		body["next_cursor"] = encodeCursor(flows.PlaceOf(ins[limit-1]), floor)
	case cut.ID != "":
		body["next_cursor"] = encodeCursor(cut, floor)
	}
	writeJSON(w, http.StatusOK, body)
}

// personList returns, for a token bound to person, the first n instances
// matching q they may see, in the store's order, after the place after, and
// the end of the window it used. What they asked for or are asked to decide
// is found however many newer instances there are; the rest they may see
// (steps they decided, requests they commented on) among the PersonWindow
// newest matches of q when the first page was asked for. That window ends
// at floor (from the cursor; on the first page, found and returned): the
// pages then split one listing, which a window found again on each page
// would not (a request started meanwhile would push its oldest out). The
// page is cut where the first of the listings it merges that stopped short
// (Instances.Page) was read to, and that place is returned too. (A window
// that stopped short on the first page sets no floor: later pages then
// find the person's window anew, each still only what they may see.)
func (a *API) personList(ctx context.Context, q flows.Query, person string, after, floor flows.Place, n int) ([]*flows.Instance, flows.Place, flows.Place, error) {
	q.Paged = true
	var cut flows.Place
	page := func(q flows.Query, limit int) ([]*flows.Instance, error) {
		q.After, q.Limit = after, limit
		ins, upTo, err := a.d.Instances.Page(ctx, q)
		if upTo.ID != "" && (cut.ID == "" || upTo.Compare(cut) < 0) {
			cut = upTo
		}
		return ins, err
	}
	var ins []*flows.Instance
	if q.Requester == person || q.Assignee == person {
		// All of it is theirs to see: no window, only the page.
		var err error
		if ins, err = page(q, n); err != nil {
			return nil, flows.Place{}, flows.Place{}, err
		}
	} else {
		window, err := page(q, a.cfg.PersonWindow)
		if err != nil {
			return nil, flows.Place{}, flows.Place{}, err
		}
		switch {
		case after.ID == "" && len(window) == a.cfg.PersonWindow:
			floor = flows.PlaceOf(window[len(window)-1])
		case after.ID != "" && floor.ID != "":
			window = slices.DeleteFunc(window, func(in *flows.Instance) bool { return flows.PlaceOf(in).After(floor) })
		}
		ins = window
		if q.Requester == "" && q.Assignee == "" {
			// Everything these find is the person's to see: the store's
			// own listing (which reads on past matches a filter drops)
			// needs no window, only the page.
			mine, waiting := q, q
			mine.Requester, waiting.Assignee = person, person
			for _, extra := range []flows.Query{mine, waiting} {
				more, err := page(extra, n)
				if err != nil {
					return nil, flows.Place{}, flows.Place{}, err
				}
				ins = append(ins, more...)
			}
		}
	}
	var out []*flows.Instance
	seen := map[string]bool{}
	for _, in := range ins {
		if cut.ID != "" && flows.PlaceOf(in).After(cut) {
			continue // the next page's: a listing was not read this far
		}
		if !seen[in.ID] && flows.PlaceOf(in).After(after) && a.d.Service.MayView(person, in) {
			seen[in.ID] = true
			out = append(out, in)
		}
	}
	slices.SortFunc(out, flows.InstanceOrder)
	return out[:min(len(out), n)], floor, cut, nil
}

// cursorCheck seeds a cursor's check.
const cursorCheck = "baton list cursor 1:"

// encodeCursor returns the cursor of a page ending at p, in a listing whose
// window (see personList) ends at floor (none: the zero Place): the places
// in text, with a check, in URL-safe base64. Clients hand it back as it
// came; the check turns one cut short or edited into a 400 rather than
// another place. It is not a secret, and need not be: any place is one the
// same query reaches page by page, under the same filters and visibility.
func encodeCursor(p, floor flows.Place) string {
	text := strconv.FormatInt(p.Created.UnixMilli(), 10) + ":" + p.ID
	if floor.ID != "" { // ids have no "|" (storage refuses them)
		text += "|" + strconv.FormatInt(floor.Created.UnixMilli(), 10) + ":" + floor.ID
	}
	return base64.RawURLEncoding.EncodeToString([]byte(text + ":" + cursorSum(text)))
}

// decodeCursor returns the places a cursor marks; ok is false for anything
// encodeCursor did not write.
func decodeCursor(s string) (p, floor flows.Place, ok bool) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	i := bytes.LastIndexByte(raw, ':')
	if err != nil || i < 0 || string(raw[i+1:]) != cursorSum(string(raw[:i])) {
		return flows.Place{}, flows.Place{}, false
	}
	parse := func(text string) (flows.Place, bool) {
		ms, id, _ := strings.Cut(text, ":")
		n, err := strconv.ParseInt(ms, 10, 64)
		return flows.Place{Created: time.UnixMilli(n), ID: id}, err == nil && id != ""
	}
	at, end, windowed := strings.Cut(string(raw[:i]), "|")
	if p, ok = parse(at); ok && windowed {
		floor, ok = parse(end)
	}
	return p, floor, ok
}

func cursorSum(text string) string {
	sum := sha256.Sum256([]byte(cursorCheck + text))
	return hex.EncodeToString(sum[:6])
}

func joinStatuses() string {
	s := make([]string, len(flows.Statuses))
	for i, st := range flows.Statuses {
		s[i] = string(st)
	}
	return strings.Join(s, ", ")
}

type flowView struct {
	ID          string      `json:"id"`
	Name        string      `json:"name"`
	Description string      `json:"description,omitempty"`
	Owner       string      `json:"owner"`
	Command     string      `json:"command"`
	Prefix      string      `json:"prefix"`
	Form        []fieldView `json:"form"`
	Steps       []stepView  `json:"steps"`
}

type fieldView struct {
	Name     string   `json:"name"`
	Label    string   `json:"label"`
	Type     string   `json:"type"`
	Required bool     `json:"required,omitempty"`
	Min      *float64 `json:"min,omitempty"`
	Max      *float64 `json:"max,omitempty"`
	Pattern  string   `json:"pattern,omitempty"`
	Help     string   `json:"help,omitempty"`
	Default  string   `json:"default,omitempty"`
	Options  []string `json:"options,omitempty"`
	Internal bool     `json:"internal,omitempty"`
}

type stepView struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
}

func (a *API) listFlows(w http.ResponseWriter, r *http.Request) {
	out := []flowView{}
	for _, d := range a.d.Service.Engine().Flows() {
		v := flowView{ID: d.ID, Name: d.Name, Description: d.Description, Owner: d.Owner, Command: d.Command, Prefix: d.Prefix,
			Form: []fieldView{}, Steps: []stepView{}}
		for _, f := range d.Form {
			v.Form = append(v.Form, fieldView{Name: f.Name, Label: f.Label, Type: string(f.Kind), Required: f.Required,
				Min: f.Min, Max: f.Max, Pattern: f.Pattern, Help: f.Help, Default: f.Default, Options: f.Options, Internal: f.Internal})
		}
		for _, s := range d.Steps {
			v.Steps = append(v.Steps, stepView{ID: s.ID, Name: s.Name, Type: string(s.Kind)})
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"flows": out})
}
