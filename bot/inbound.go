package bot

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/batonbot/baton/flows"
)

// InboundRoute is where other systems start flows: POST with a signed JSON
// body of form values.
const InboundRoute = "/hooks/flows/{flow}"

// InboundWindow is how far a request's X-Baton-Timestamp may be from now.
const InboundWindow = 5 * time.Minute

// Inbound starts flows from signed webhooks (a flow's inbound: setting).
//
// The request is signed as Baton signs its own webhooks (see Webhooks):
// X-Baton-Timestamp is the unix time in seconds and X-Baton-Signature is
// "v1=" + hex(HMAC-SHA256(secret, timestamp + "." + body)), with the secret
// BATON_SECRET_<NAME> the flow names. The body is a JSON object of form
// values, checked like a form. Idempotency-Key (or X-Delivery-Id) makes a
// retry return the first instance; an exact replay of the same signed
// request does too, whatever key it carries (the keys are not signed: a
// captured request replayed with a new key must not start another).
//
// Answers (an error as {"error","code","request_id"}, the code the HTTP
// API's for its status): 201 {"instance","status"}; 401 on a missing,
// wrong or stale signature, or one already used for another flow (the
// signature does not cover the path); 400 on a body that is not a JSON
// object (or gives a value twice) or an Idempotency-Key that is too long
// or not printable; 415 on a compressed body; 422 with "fields" when form
// values are wrong; 404 when the flow takes no inbound starts. Only a 201
// changes anything. A 201 carries Location: the instance in the HTTP API.
type Inbound struct {
	svc     *Service
	secrets map[string]string
	kv      KV     // the key each signature was first used with
	locker  Locker // claims a signature once
	clock   clockwork.Clock
	log     *slog.Logger
	metrics *Metrics
	maxBody int64
}

// NewInbound builds the handler. secrets maps lowercase secret names to
// values (Config.Secrets); kv and locker (storage.Store) remember the
// signatures seen, so a replay starts nothing new; clock nil means the real
// clock.
func NewInbound(svc *Service, secrets map[string]string, kv KV, locker Locker, clock clockwork.Clock, log *slog.Logger, metrics *Metrics) *Inbound {
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	return &Inbound{svc: svc, secrets: secrets, kv: kv, locker: locker, clock: clock, log: log, metrics: metrics, maxBody: 1 << 20}
}

func (h *Inbound) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost { // answered in JSON, as every other mistake here (the mux's would be text)
		w.Header().Set("Allow", http.MethodPost)
		inboundJSON(w, r, http.StatusMethodNotAllowed, map[string]any{"error": r.Method + " is not how flows are started here: POST the signed JSON"})
		return
	}
	name := r.PathValue("flow")
	def, ok := h.svc.Engine().Flow(name)
	if !ok || def.Inbound == nil {
		// The caller is not authenticated yet (each flow has its own
		// secret): it is told no flow's name, nor whether this one exists
		// (only that no signed start goes here). What was wrong, and the
		// nearest name, go to the log for the operator.
		why := "no such flow"
		if ok {
			why = "the flow takes no inbound starts; give its definition inbound: {secret: NAME, requester: PERSON}"
		} else if d, ok := h.svc.Engine().Flow(h.svc.Engine().Suggest(name)); ok && d.Inbound != nil {
			why += fmt.Sprintf("; did you mean %q?", d.ID)
		}
		h.log.Warn("inbound start refused", "flow", name, "request", RequestID(r.Context()), "err", why)
		inboundJSON(w, r, http.StatusNotFound, map[string]any{"error": fmt.Sprintf("no flow %q takes signed starts here", name)})
		return
	}
	secret := secretOf(h.secrets, def.Inbound.Secret)
	if secret == "" {
		h.metrics.Failures.WithLabelValues("inbound").Inc()
		h.log.Error("inbound start refused: its signing secret is not configured", "flow", def.ID, "fix", "set "+SecretVar(def.Inbound.Secret))
		inboundJSON(w, r, http.StatusServiceUnavailable, map[string]any{"error": "inbound starts of this flow are not configured on this server"})
		return
	}
	if !Identity(r) {
		inboundJSON(w, r, http.StatusUnsupportedMediaType, map[string]any{"error": UncompressedText})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, h.maxBody+1))
	if err != nil {
		inboundJSON(w, r, http.StatusBadRequest, map[string]any{"error": "read body: " + err.Error()})
		return
	}
	if int64(len(body)) > h.maxBody {
		inboundJSON(w, r, http.StatusRequestEntityTooLarge, map[string]any{"error": fmt.Sprintf("body larger than %d bytes", h.maxBody)})
		return
	}
	sig, err := h.verify(secret, r.Header, body)
	if err != nil {
		h.log.Warn("inbound start refused", "flow", def.ID, "request", RequestID(r.Context()), "err", err)
		inboundJSON(w, r, http.StatusUnauthorized, map[string]any{"error": err.Error()})
		return
	}
	data, err := formValues(body, def.Form)
	var fe flows.FieldErrors
	switch {
	case errors.As(err, &fe):
		h.invalid(w, r, err)
		return
	case err != nil:
		inboundJSON(w, r, http.StatusBadRequest, map[string]any{"error": err.Error()})
		return
	}
	if _, err := h.svc.Engine().ParseForm(def, def.Inbound.Requester, data); err != nil {
		h.invalid(w, r, err)
		return
	}
	sum := sha256.Sum256([]byte(sig)) // an exact replay of one signed request
	sigID := hex.EncodeToString(sum[:16])
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		key = r.Header.Get("X-Delivery-Id")
	}
	if len(key) > 200 || strings.IndexFunc(key, func(c rune) bool { return c <= ' ' || c > '~' }) >= 0 {
		// Told, not dropped: a retry under a key we ignored would start
		// the request again (as in the HTTP API).
		inboundJSON(w, r, http.StatusBadRequest, map[string]any{"error": "Idempotency-Key (or X-Delivery-Id): at most 200 printable ASCII characters, no spaces (a UUID is fine)"})
		return
	}
	if key == "" {
		key = "sig-" + sigID
	}
	// The key is the sender's within its values: a retry carries the same
	// values (however its JSON is spelled), and a key reused on other
	// values is another start, never a dropped one (the HTTP API answers it
	// with a 422 instead).
	key = "hook:" + def.ID + ":" + valuesHash(def, data) + ":" + key
	// The idempotency headers are not signed: a signature seen before keeps
	// the key it first came with, so its replay returns the first start.
	key, err = h.firstKey(r.Context(), sigID, key)
	if err == nil && !strings.HasPrefix(key, "hook:"+def.ID+":") {
		// The signature does not cover the path: flows sharing a secret
		// would otherwise take each other's requests.
		err = errReplayOther
	}
	if err != nil {
		switch {
		case errors.Is(err, errReplayBusy):
			inboundJSON(w, r, http.StatusConflict, map[string]any{"error": err.Error(), "code": "in_progress"})
			return
		case errors.Is(err, errReplayOther):
			h.log.Warn("inbound start refused", "flow", def.ID, "request", RequestID(r.Context()), "err", err)
			inboundJSON(w, r, http.StatusUnauthorized, map[string]any{"error": err.Error()})
			return
		}
		h.log.Error("inbound start: replay check", "flow", def.ID, "request", RequestID(r.Context()), "err", err)
		inboundJSON(w, r, http.StatusServiceUnavailable, map[string]any{"error": "the request could not be checked just now; retry"})
		return
	}
	out, err := h.svc.Handle(r.Context(), flows.Event{Kind: flows.EventStart, Key: key, Flow: def.ID,
		Actor: def.Inbound.Requester, Platform: "webhook", Data: data})
	if err != nil {
		var ie *flows.InputError
		var fe flows.FieldErrors
		if errors.As(err, &fe) || errors.As(err, &ie) {
			h.invalid(w, r, err)
			return
		}
		inboundJSON(w, r, http.StatusInternalServerError, map[string]any{"error": "the start could not be saved; retry with the same Idempotency-Key"})
		return
	}
	if !out.OK {
		inboundJSON(w, r, http.StatusConflict, map[string]any{"error": out.Text, "code": out.Code, "instance": out.Instance})
		return
	}
	w.Header().Set("Location", "/api/v1/instances/"+out.Instance) // where the API reads it, as its starts answer
	inboundJSON(w, r, http.StatusCreated, map[string]any{"instance": out.Instance, "status": out.Status})
}

// replayTTL is how long a signature is remembered: longer than it can pass
// the timestamp window (on either side of now), with room for clock skew.
const replayTTL = 2*InboundWindow + 5*time.Minute

var (
	errReplayBusy  = errors.New("this signed request is being processed; retry shortly")
	errReplayOther = errors.New("this signed request was already used to start another flow: sign each request when sending it")
)

// firstKey returns the engine key of the first request bearing the
// signature sigID: key when this is the first.
func (h *Inbound) firstKey(ctx context.Context, sigID, key string) (string, error) {
	won, err := h.locker.Claim(ctx, "inbound-sig:"+sigID, replayTTL)
	if err != nil {
		return "", err
	}
	if won {
		return key, h.kv.SetValue(ctx, "inbound-sig", sigID, key, replayTTL)
	}
	first, ok, err := h.kv.GetValue(ctx, "inbound-sig", sigID)
	switch {
	case err != nil:
		return "", err
	case !ok: // the first is between its claim and its record
		return "", errReplayBusy
	}
	return first, nil
}

// verify checks the timestamp window and the signature; it returns the
// signature.
func (h *Inbound) verify(secret string, hdr http.Header, body []byte) (string, error) {
	tsText, sig := hdr.Get("X-Baton-Timestamp"), hdr.Get("X-Baton-Signature")
	if tsText == "" || sig == "" {
		return "", errors.New("missing X-Baton-Timestamp or X-Baton-Signature: sign the body with the flow's secret")
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return "", errors.New("X-Baton-Timestamp must be unix seconds")
	}
	if d := h.clock.Now().Sub(time.Unix(ts, 0)); d > InboundWindow || d < -InboundWindow {
		if now := h.clock.Now(); ts/1000 > now.Unix()-int64(InboundWindow.Seconds()) && ts/1000 < now.Unix()+int64(InboundWindow.Seconds()) {
			return "", errors.New("X-Baton-Timestamp is in milliseconds: send unix seconds")
		}
		return "", errors.New("X-Baton-Timestamp is more than 5 minutes from now: sign each request when sending it")
	}
	// Hex in either case is the same signature: lowered, a replay spelt
	// in capitals is still known as the first request.
	sig = strings.ToLower(sig)
	if !hmac.Equal([]byte(sig), []byte(Sign(secret, ts, body))) {
		return "", errors.New("signature does not match: X-Baton-Signature is v1=hex(HMAC-SHA256(secret, timestamp + \".\" + body))")
	}
	return sig, nil
}

// Identity reports whether r's body comes as it is, not compressed or
// otherwise encoded (Baton reads bodies as they come).
func Identity(r *http.Request) bool {
	for _, v := range r.Header.Values("Content-Encoding") { // every header, every listed coding
		for _, ce := range strings.Split(v, ",") {
			if ce = strings.TrimSpace(ce); ce != "" && !strings.EqualFold(ce, "identity") {
				return false
			}
		}
	}
	return true
}

// UncompressedText is the answer to a body that is not Identity.
const UncompressedText = "send the body uncompressed: Content-Encoding is not supported"

func (h *Inbound) invalid(w http.ResponseWriter, r *http.Request, err error) {
	resp := map[string]any{"error": err.Error()}
	var fe flows.FieldErrors
	if errors.As(err, &fe) {
		resp["fields"] = fe
	}
	inboundJSON(w, r, http.StatusUnprocessableEntity, resp)
}

// formValues turns a JSON object into form values: strings as they are,
// numbers as written (for a number field, with its dot a decimal point:
// flows.ProgramNumber), booleans as true/false; null is absent.
func formValues(body []byte, fields []flows.Field) (map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return nil, errors.New("the body must be a JSON object of form values, e.g. {\"amount\": 1200, \"item\": \"Laptop\"}")
	}
	if err := CheckJSON(body, nil); err != nil { // a form value given twice
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF { // more, or a stray } or ] (which More does not see)
		return nil, errors.New("the body must hold one JSON object and nothing after it")
	}
	data := make(map[string]string, len(obj))
	fe := flows.FieldErrors{}
	for k, v := range obj {
		switch x := v.(type) {
		case nil:
		case string:
			data[k] = x
		case json.Number:
			data[k] = x.String()
			if slices.ContainsFunc(fields, func(f flows.Field) bool { return f.Name == k && f.Kind == flows.FieldNumber }) {
				data[k] = flows.ProgramNumber(data[k])
			}
		case bool:
			data[k] = strconv.FormatBool(x)
		default:
			fe[k] = fmt.Sprintf("%s must be a text, a number or a boolean", k)
		}
	}
	if len(fe) > 0 {
		return nil, fe
	}
	return data, nil
}

// inboundJSON writes an answer. An error also carries the HTTP API's code
// for its status (unless it has a code of its own) and the request id the
// log has, as the API's errors do.
func inboundJSON(w http.ResponseWriter, r *http.Request, code int, v map[string]any) {
	if code >= 400 {
		if _, ok := v["code"]; !ok {
			v["code"] = errorCodes[code]
		}
		if id := RequestID(r.Context()); id != "" {
			v["request_id"] = id
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// errorCodes are the HTTP API's error codes by status.
var errorCodes = map[int]string{
	http.StatusBadRequest: "bad_request", http.StatusUnauthorized: "unauthorized", http.StatusNotFound: "not_found",
	http.StatusMethodNotAllowed: "method_not_allowed", http.StatusConflict: "conflict", http.StatusRequestEntityTooLarge: "too_large", http.StatusUnsupportedMediaType: "unsupported_media_type",
	http.StatusUnprocessableEntity: "invalid", http.StatusInternalServerError: "internal", http.StatusServiceUnavailable: "unavailable",
}

// interface check: the handler is mounted on the server's mux.
var _ http.Handler = (*Inbound)(nil)

// valuesHash identifies a start's values as sent: whatever their order,
// with empty ones (null) left out and numbers read as numbers (1200.0 is
// 1200). Defaults and the directory play no part, so a retry after either
// changed is still the same start.
func valuesHash(def *flows.Definition, data map[string]string) string {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(data)) {
		v := strings.TrimSpace(data[k])
		if v == "" {
			continue
		}
		if f := def.Field(k); f != nil && f.Kind == flows.FieldNumber {
			if n, err := f.Parse(v); err == nil && n != nil {
				v = flows.FormatValue(n)
				if x, ok := n.(float64); ok && x != math.Trunc(x) {
					// Decimals as FormatValue wrote them before it grouped
					// their thousands too: a retry from before an upgrade
					// keeps its hash.
					v = strconv.FormatFloat(x, 'f', -1, 64)
				}
			}
		}
		fmt.Fprintf(h, "%q=%q\n", k, v)
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}
