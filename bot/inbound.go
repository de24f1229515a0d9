package bot

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/batonbot/baton/flows"
)

// InboundRoute is where other systems start flows: POST with a signed JSON
// body of form values.
const InboundRoute = "POST /hooks/flows/{flow}"

// InboundWindow is how far a request's X-Baton-Timestamp may be from now.
const InboundWindow = 5 * time.Minute

// Inbound starts flows from signed webhooks (a flow's inbound: setting).
//
// The request is signed as Baton signs its own webhooks (see Webhooks):
// X-Baton-Timestamp is the unix time in seconds and X-Baton-Signature is
// "v1=" + hex(HMAC-SHA256(secret, timestamp + "." + body)), with the secret
// BATON_SECRET_<NAME> the flow names. The body is a JSON object of form
// values, checked like a form. Idempotency-Key (or X-Delivery-Id) makes a
// retry return the first instance; without one, an exact replay of the same
// signed request does.
//
// Answers: 201 {"instance","status"}; 401 on a missing, wrong or stale
// signature; 422 {"error","fields"} when form values are wrong; 404 when the
// flow takes no inbound starts. Only a 201 changes anything.
type Inbound struct {
	svc     *Service
	secrets map[string]string
	clock   clockwork.Clock
	log     *slog.Logger
	metrics *Metrics
	maxBody int64
}

// NewInbound builds the handler. secrets maps lowercase secret names to
// values (Config.Secrets); clock nil means the real clock.
func NewInbound(svc *Service, secrets map[string]string, clock clockwork.Clock, log *slog.Logger, metrics *Metrics) *Inbound {
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	return &Inbound{svc: svc, secrets: secrets, clock: clock, log: log, metrics: metrics, maxBody: 1 << 20}
}

func (h *Inbound) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("flow")
	def, ok := h.svc.Engine().Flow(name)
	if !ok || def.Inbound == nil {
		inboundJSON(w, http.StatusNotFound, map[string]any{"error": fmt.Sprintf("flow %q takes no inbound starts; give its definition inbound: {secret: NAME, requester: PERSON}", name)})
		return
	}
	secret, ok := h.secrets[strings.ToLower(envName(def.Inbound.Secret))]
	if !ok || secret == "" {
		h.metrics.Failures.WithLabelValues("inbound").Inc()
		h.log.Error("inbound start refused: its signing secret is not configured", "flow", def.ID, "fix", "set BATON_SECRET_"+envName(def.Inbound.Secret))
		inboundJSON(w, http.StatusServiceUnavailable, map[string]any{"error": "inbound starts of this flow are not configured on this server"})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, h.maxBody+1))
	if err != nil {
		inboundJSON(w, http.StatusBadRequest, map[string]any{"error": "read body: " + err.Error()})
		return
	}
	if int64(len(body)) > h.maxBody {
		inboundJSON(w, http.StatusRequestEntityTooLarge, map[string]any{"error": fmt.Sprintf("body larger than %d bytes", h.maxBody)})
		return
	}
	sig, err := h.verify(secret, r.Header, body)
	if err != nil {
		h.log.Warn("inbound start refused", "flow", def.ID, "request", RequestID(r.Context()), "err", err)
		inboundJSON(w, http.StatusUnauthorized, map[string]any{"error": err.Error()})
		return
	}
	data, err := formValues(body)
	var fe flows.FieldErrors
	switch {
	case errors.As(err, &fe):
		h.invalid(w, err)
		return
	case err != nil:
		inboundJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
		return
	}
	if _, err := flows.ParseForm(def.Form, data); err != nil {
		h.invalid(w, err)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		key = r.Header.Get("X-Delivery-Id")
	}
	if key == "" || len(key) > 200 {
		sum := sha256.Sum256([]byte(sig)) // an exact replay of one signed request
		key = "sig-" + hex.EncodeToString(sum[:16])
	}
	out, err := h.svc.Handle(r.Context(), flows.Event{Kind: flows.EventStart, Key: "hook:" + def.ID + ":" + key, Flow: def.ID,
		Actor: def.Inbound.Requester, Platform: "webhook", Data: data})
	if err != nil {
		var ie *flows.InputError
		var fe flows.FieldErrors
		if errors.As(err, &fe) || errors.As(err, &ie) {
			h.invalid(w, err)
			return
		}
		inboundJSON(w, http.StatusInternalServerError, map[string]any{"error": "the start could not be saved; retry with the same Idempotency-Key"})
		return
	}
	if !out.OK {
		inboundJSON(w, http.StatusConflict, map[string]any{"error": out.Text, "code": out.Code, "instance": out.Instance})
		return
	}
	inboundJSON(w, http.StatusCreated, map[string]any{"instance": out.Instance, "status": out.Status})
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
		return "", errors.New("X-Baton-Timestamp is more than 5 minutes from now: sign each request when sending it")
	}
	if !hmac.Equal([]byte(sig), []byte(Sign(secret, ts, body))) {
		return "", errors.New("signature does not match: X-Baton-Signature is v1=hex(HMAC-SHA256(secret, timestamp + \".\" + body))")
	}
	return sig, nil
}

func (h *Inbound) invalid(w http.ResponseWriter, err error) {
	resp := map[string]any{"error": err.Error()}
	var fe flows.FieldErrors
	if errors.As(err, &fe) {
		resp["fields"] = fe
	}
	inboundJSON(w, http.StatusUnprocessableEntity, resp)
}

// formValues turns a JSON object into form values: strings as they are,
// numbers as written, booleans as true/false; null is absent.
func formValues(body []byte) (map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return nil, errors.New("the body must be a JSON object of form values, e.g. {\"amount\": 1200, \"item\": \"Laptop\"}")
	}
	if dec.More() {
		return nil, errors.New("the body must hold one JSON object")
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

func inboundJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// interface check: the handler is mounted on the server's mux.
var _ http.Handler = (*Inbound)(nil)
