package bot

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/batonbot/baton/flows"
)

// Outbound event webhooks. Every committed transition announces its events
// (flows.HookEvents) to the global subscribers (BATON_WEBHOOK_URLS) and to
// its flow's (webhooks: in the definition): the Service adds one
// flows.EffectHook per event and subscriber to the transition before it is
// committed, so the announcements are written atomically with the change,
// and the Dispatcher delivers them from the outbox like any effect: at
// least once, retried with backoff, kept aside (dead) when they keep
// failing. Each subscriber gets its events in order, in a queue of its own,
// so a slow receiver never holds up chat cards.
//
// The request is a JSON POST of the flows.HookEvent, signed like webhook
// steps' calls: X-Baton-Signature is "v1=" + hex(HMAC-SHA256(secret,
// timestamp + "." + body)) and X-Baton-Timestamp the unix seconds.
// X-Baton-Event-Id carries the event id and Idempotency-Key the installation
// id and the event id, the same on every redelivery, so a receiver drops
// repeats; X-Baton-Event names the type.

// HookLog keeps delivery attempts for operators (storage.Store implements it).
type HookLog interface {
	RecordHookAttempt(ctx context.Context, a flows.HookAttempt) error
}

// SetWebhooks sets the global subscribers of every flow's events. Call it
// before handling events.
func (s *Service) SetWebhooks(global []flows.Hook) { s.hooks = global }

// addHooks adds t's announcements to its effects.
func (s *Service) addHooks(t *flows.Transition) {
	if t == nil || t.Noop || t.Instance == nil {
		return
	}
	subs := s.hooks
	if def, ok := s.engine.Flow(t.Instance.Flow); ok && len(def.Webhooks) > 0 {
		subs = append(subs[:len(subs):len(subs)], def.Webhooks...)
	}
	if len(subs) == 0 {
		return
	}
	for _, ev := range flows.HookEvents(t) {
		for _, h := range subs {
			if h.Wants(ev.Type) {
				t.Effects = append(t.Effects, flows.Effect{Kind: flows.EffectHook, Hook: &flows.HookCall{Name: h.Name, URL: h.URL, Secret: h.Secret, Event: ev}})
			}
		}
	}
}

// RecordAttempts makes w record each delivery attempt of an event in log.
func (w *Webhooks) RecordAttempts(log HookLog) *Webhooks {
	w.attempts = log
	return w
}

// SetInstallation sets the installation id (storage.Store.Installation)
// that starts every Idempotency-Key sent, so that keys stay unique when
// instance ids start again on new data. Call it before the first call.
func (w *Webhooks) SetInstallation(id string) { w.installation = id }

// idempotencyKey is key, prefixed with the installation id when there is one.
func (w *Webhooks) idempotencyKey(key string) string {
	if w.installation == "" {
		return key
	}
	return w.installation + ":" + key
}

// hookSecret returns the value of a hook's signing secret.
func (w *Webhooks) hookSecret(name string) (string, error) {
	name = cmp.Or(name, "webhook")
	secret := secretOf(w.secrets, name)
	if secret == "" {
		return "", Permanent(fmt.Errorf("signing secret %q is not configured: set %s", name, SecretVar(name)))
	}
	return secret, nil
}

// maxHookRetryAfter caps how long a receiver's Retry-After holds its queue
// (or a webhook step's call).
const maxHookRetryAfter = time.Minute

// retryAfter is the wait a receiver's Retry-After (in seconds) asks for, at
// most maxHookRetryAfter; 0 when it asks for none.
func retryAfter(h http.Header) time.Duration {
	s, err := strconv.Atoi(h.Get("Retry-After"))
	if err != nil || s <= 0 {
		return 0
	}
	return time.Duration(min(s, int(maxHookRetryAfter/time.Second))) * time.Second // capped first: no overflow
}

// deliverHook makes one delivery attempt. It returns the HTTP status (0 when
// none came back) and an error: Permanent for answers retrying cannot change
// (4xx other than 408 and 429), *RetryAfterError when the receiver asks us
// to wait.
func (w *Webhooks) deliverHook(ctx context.Context, call *flows.HookCall, attempt int) (int, error) {
	secret, err := w.hookSecret(call.Secret)
	if err != nil {
		return 0, err
	}
	body, err := json.Marshal(call.Event)
	if err != nil {
		return 0, Permanent(fmt.Errorf("encode event: %w", err))
	}
	ts := w.clock.Now().Unix()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, call.URL, bytes.NewReader(body))
	if err != nil {
		return 0, Permanent(fmt.Errorf("webhook to %s: %w", call.Subscriber(), withoutURL(err)))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Baton-Webhook/1")
	req.Header.Set("X-Baton-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("X-Baton-Signature", Sign(secret, ts, body))
	req.Header.Set("X-Baton-Event", call.Event.Type)
	req.Header.Set("X-Baton-Event-Id", call.Event.ID)
	req.Header.Set("X-Baton-Attempt", strconv.Itoa(attempt))
	req.Header.Set("Idempotency-Key", w.idempotencyKey(call.Event.ID))
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("webhook to %s: %w", call.Subscriber(), withoutURL(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	code := resp.StatusCode
	err = fmt.Errorf("webhook to %s: HTTP %d", call.Subscriber(), code)
	if code >= 300 && code < 400 {
		err = fmt.Errorf("webhook to %s: HTTP %d%s; subscribe the address to POST to", call.Subscriber(), code, redirected(resp))
	}
	switch {
	case code >= 200 && code < 300:
		return code, nil
	case code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500:
		if after := retryAfter(resp.Header); after > 0 {
			return code, &RetryAfterError{After: after, Err: err}
		}
		return code, err
	default:
		return code, Permanent(err)
	}
}

// deliverHook delivers an event to a subscriber, retrying with backoff, and
// records every attempt.
func (d *Dispatcher) deliverHook(ctx context.Context, del *flows.Delivery) error {
	call := del.Effect.Hook
	if call == nil {
		return fmt.Errorf("hook effect without a call")
	}
	if d.webhooks == nil {
		return fmt.Errorf("outbound webhooks are not configured")
	}
	target := flows.HookTarget(call.URL)
	attempt := 0
	return d.retry(ctx, del, "hook", func() error {
		attempt++
		code, err := d.webhooks.deliverHook(ctx, call, attempt)
		a := flows.HookAttempt{Instance: del.Instance, Event: call.Event.ID, Type: call.Event.Type, Target: target, Subscriber: call.Name,
			Attempt: attempt, At: d.webhooks.clock.Now().UTC().Truncate(time.Millisecond), OK: err == nil, Status: code} // ms, as every time kept
		if err != nil {
			a.Error = err.Error()
		} else {
			d.log.Info("webhook delivered", "instance", del.Instance, "event", call.Event.Type, "id", call.Event.ID, "target", call.Subscriber(), "attempt", attempt, "code", code)
		}
		if d.webhooks.attempts != nil {
			if rerr := d.webhooks.attempts.RecordHookAttempt(ctx, a); rerr != nil {
				d.log.Warn("record webhook delivery", "instance", del.Instance, "err", rerr)
			}
		}
		return err
	})
}

// queueKey names the queue an entry is delivered in: its instance's, or for
// an event announcement, its instance's queue for that subscriber.
func queueKey(del flows.Delivery) string {
	if del.Effect.Kind == flows.EffectHook && del.Effect.Hook != nil {
		return del.Instance + "|hook|" + del.Effect.Hook.URL
	}
	return del.Instance
}
