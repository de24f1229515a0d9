package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	slackgo "github.com/slack-go/slack"
)

// errBadRequest marks a request that is signed but cannot be understood.
var errBadRequest = errors.New("bad request")

// errInProgress answers a delivery of an event another delivery is handling
// now: Slack is told to try again later (by then it is done, and the retry
// is acknowledged, or it failed, and the retry handles it).
var errInProgress = errors.New("this event is being handled; try again later")

// inProgress is what onEvent gives for such a delivery.
type inProgress struct{}

// endpoint wraps a handler with what every Slack request needs: the body
// read once under a size cap, the v0 signature and its 5-minute window
// checked on those exact bytes before anything is parsed (401 and nothing
// done otherwise), and the acknowledgement written as JSON.
func (a *Adapter) endpoint(kind string, handle func(ctx context.Context, w http.ResponseWriter, body []byte) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		began := time.Now()
		result := "ok"
		defer func() {
			a.m.inbound.WithLabelValues(kind, result).Inc()
			a.m.ackTime.WithLabelValues(kind).Observe(time.Since(began).Seconds())
		}()
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.cfg.MaxBody))
		if err != nil {
			if errors.As(err, new(*http.MaxBytesError)) {
				result = "too_large"
				http.Error(w, fmt.Sprintf("request body over %d bytes", a.cfg.MaxBody), http.StatusRequestEntityTooLarge)
				return
			}
			result = "bad_request"
			http.Error(w, "could not read the request body", http.StatusBadRequest)
			return
		}
		if err := a.verify(r.Header, body); err != nil {
			result = "unauthorized"
			a.log.Warn("slack request refused", "kind", kind, "reason", err.Error(), "remote", r.RemoteAddr)
			http.Error(w, "invalid Slack request signature", http.StatusUnauthorized)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), ackDeadline)
		defer cancel()
		ack, err := handle(ctx, w, body)
		if errors.Is(err, errInProgress) {
			result = "in_progress"
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		if err != nil {
			result = "bad_request"
			if !errors.Is(err, errBadRequest) {
				result = "error"
			}
			a.log.Warn("slack request not understood", "kind", kind, "err", err)
			w.Header().Set("X-Slack-No-Retry", "1") // the same bytes will fail again
			// The log has the detail (a decoder's words name Go types).
			http.Error(w, "Baton could not read this Slack request; its log says why", http.StatusBadRequest)
			return
		}
		if ack == nil {
			w.WriteHeader(http.StatusOK)
			return
		}
		b, err := json.Marshal(ack)
		if err != nil {
			result = "error"
			a.log.Error("slack acknowledgement could not be encoded", "kind", kind, "err", err)
			w.WriteHeader(http.StatusOK)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	})
}

// verify checks the request signature (X-Slack-Signature over
// "v0:timestamp:body" with the signing secret, compared in constant time)
// and that X-Slack-Request-Timestamp is within 5 minutes of now.
func (a *Adapter) verify(h http.Header, body []byte) error {
	sv, err := slackgo.NewSecretsVerifier(h, a.cfg.SigningSecret)
	if err != nil {
		return err
	}
	if _, err := sv.Write(body); err != nil {
		return err
	}
	return sv.Ensure()
}

func (a *Adapter) httpCommand(ctx context.Context, _ http.ResponseWriter, body []byte) (any, error) {
	c, err := parseCommand(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadRequest, err)
	}
	return a.onCommand(ctx, c), nil
}

func (a *Adapter) httpInteraction(ctx context.Context, _ http.ResponseWriter, body []byte) (any, error) {
	ic, err := parseInteraction(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadRequest, err)
	}
	return a.onInteraction(ctx, ic), nil
}

func (a *Adapter) httpEvent(ctx context.Context, _ http.ResponseWriter, body []byte) (any, error) {
	e, err := parseEvent(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadRequest, err)
	}
	ack := a.onEvent(ctx, e)
	if _, busy := ack.(inProgress); busy {
		return nil, errInProgress
	}
	return ack, nil
}
