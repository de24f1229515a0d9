package bot

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/batonbot/baton/flows"
)

// Outbound event webhooks. Every committed transition announces its events
// (flows.HookEvents) to the global subscribers (BATON_WEBHOOK_URLS) and to
// its flow's (webhooks: in the definition): the Service adds one
// flows.EffectHook per event and subscriber to the transition before it is
// committed, so the announcements are written atomically with the change.
// The Dispatcher reads them from the outbox and puts each in its queue in
// the store (HookQueues): one per request and subscriber, delivered one
// event at a time, at least once, in order, whichever replica read them.
// An event a receiver does not accept is tried again, with a backoff up to
// HookMaxBackoff, for HookRetryFor (a day: receivers are down for hours),
// the request's later events to that subscriber waiting behind it, and is
// then kept aside (dead). A down receiver holds up nothing else: not other
// subscribers, other requests, nor chat cards.
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

// DefaultHookRetryFor is how long an event announcement is tried again
// by default (BATON_WEBHOOK_RETRY_FOR).
const DefaultHookRetryFor = 24 * time.Hour

// maxHookQueues bounds the event queues one replica delivers at once after
// claiming them (their first event due to be tried again).
const maxHookQueues = 64

// minHookLease is the shortest hold a replica takes of an event queue:
// more than one try takes (a call's 15 s timeout, recording it, settling
// it), so that no other replica takes the queue over while a try is under
// way and sends its event a second time at once (BATON_OUTBOX_RECLAIM may
// be as short as a second).
const minHookLease = time.Minute

// hookLease is how long a replica holds an event queue it delivers: the
// reclaim time, at least minHookLease.
func (d *Dispatcher) hookLease() time.Duration { return max(d.cfg.Reclaim, minHookLease) }

// deliverHook puts an event announcement in its queue (HookQueues) and,
// when that starts the queue, delivers the queue. Without a store that
// keeps queues, it is delivered here, retried as other effects are.
func (d *Dispatcher) deliverHook(ctx context.Context, q *queued) error {
	del := &q.d
	call := del.Effect.Hook
	if call == nil {
		return fmt.Errorf("hook effect without a call")
	}
	if d.webhooks == nil {
		return fmt.Errorf("outbound webhooks are not configured")
	}
	if d.hookq == nil {
		return d.retryHook(ctx, del)
	}
	if q.hookQueued { // as it was read
		if q.hookFirst != nil {
			d.runHookQueue(ctx, q.hookFirst)
		}
		return nil
	}
	// Queued with retries, as a delivery is made: a Redis timeout or
	// failover is no reason to give the event up (queueing it twice is
	// harmless: the script knows it). Counted "queued"; its delivery is
	// counted as it is made.
	var first *flows.QueuedHook
	err := d.retryAs(ctx, del, "hook", "queued", false, func() error {
		var err error
		first, err = d.queueHook(ctx, del)
		return err
	})
	if err != nil {
		return err
	}
	if first != nil {
		d.runHookQueue(ctx, first)
	}
	return nil
}

// queueHook puts the event announcement of del in its queue, and returns
// the queue's first event when that started the queue (held by this
// replica, to deliver), else nil.
func (d *Dispatcher) queueHook(ctx context.Context, del *flows.Delivery) (*flows.QueuedHook, error) {
	now := d.cfg.Clock.Now()
	h := flows.QueuedHook{Entry: del.ID, Shard: del.Shard, Instance: del.Instance, Effect: del.Effect, Since: now, Replay: del.Replay}
	return d.hookq.QueueHook(ctx, h, now, d.hookLease())
}

// preQueue returns the entries of a batch read from the outbox, each to be
// delivered, with its event announcements put in their queues at once, in
// the batch's order: a transition's events are then queued before another
// replica can read the next transition's and queue those first, while this
// one still delivers earlier events of the request (holding the rest in
// memory until then, they would be queued after the next transition's). An
// event that cannot be queued now is queued as it is delivered, with
// retries (deliverHook).
func (d *Dispatcher) preQueue(ctx context.Context, batch []flows.Delivery) []queued {
	qs := make([]queued, len(batch))
	for i := range batch {
		qs[i].d = batch[i]
		del := &qs[i].d
		if d.hookq == nil || d.webhooks == nil || del.Dead != "" || del.Effect.Kind != flows.EffectHook || del.Effect.Hook == nil {
			continue
		}
		d.mu.Lock()
		_, busy := d.inflight[inflightKey(*del)]
		d.mu.Unlock()
		if busy { // still being delivered here (a reclaim of our own slow entry): it may be out of its queue already
			continue
		}
		if first, err := d.queueHook(ctx, del); err == nil {
			qs[i].hookQueued, qs[i].hookFirst = true, first
		}
	}
	return qs
}

// runHookQueue delivers a queue it holds, h its first event: one event
// after the other, until the queue is empty or waits to try one again. Once
// the shutdown has begun it tries no more: the queue is handed back, due at
// once, for another replica (or this one, restarted).
func (d *Dispatcher) runHookQueue(ctx context.Context, h *flows.QueuedHook) {
	for h != nil {
		var how flows.HookSettle
		if ctx.Err() != nil || d.stop.Err() != nil {
			how.Retry = d.cfg.Clock.Now()
		} else {
			how = d.tryHook(ctx, h)
		}
		// Settled even once the drain timeout has cut the attempt short.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ackTimeout)
		next, err := d.hookq.SettleHook(sctx, *h, how)
		cancel()
		if err != nil {
			// Its lease runs out, and whoever claims the queue then tries
			// the event again.
			d.metrics.Failures.WithLabelValues("outbox").Inc()
			d.log.Error("settle an event delivery", append(deliveryAttrs(&flows.Delivery{Instance: h.Instance, Effect: h.Effect}), "err", err)...)
			return
		}
		h = next
	}
}

// tryHook makes one attempt at delivering h, the first event of a queue
// this replica holds, and says what becomes of it: delivered; given up on,
// for an answer retrying cannot change or once HookRetryFor has passed
// since its first try; or to be tried again after a backoff (or the
// receiver's Retry-After).
func (d *Dispatcher) tryHook(ctx context.Context, h *flows.QueuedHook) flows.HookSettle {
	del := &flows.Delivery{ID: h.Entry, Shard: h.Shard, Instance: h.Instance, Effect: h.Effect}
	h.Tries++
	began := d.cfg.Clock.Now()
	err := d.hookAttempt(ctx, del, h.Tries)
	now := d.cfg.Clock.Now()
	if err == nil {
		d.metrics.Deliveries.WithLabelValues("hook", string(flows.EffectHook), "ok").Inc()
		d.metrics.DeliverTime.WithLabelValues("hook").Observe(now.Sub(began).Seconds())
		return flows.HookSettle{Lease: now.Add(d.hookLease())}
	}
	if ctx.Err() != nil { // cut short by the shutdown: not a try
		h.Tries--
		return flows.HookSettle{Retry: now}
	}
	wait := hookBackoff(d.cfg.Backoff, d.cfg.HookMaxBackoff, h.Tries)
	if ra := (*RetryAfterError)(nil); errors.As(err, &ra) {
		wait = ra.After
	}
	// The last try comes as the window ends; due strictly later than now,
	// so that a claim at the same instant does not take it again.
	until := h.Since.Add(d.cfg.HookRetryFor)
	wait = max(min(wait, until.Sub(now)), time.Millisecond)
	why := ""
	switch {
	case IsPermanent(err):
		why = err.Error()
	case !now.Before(until):
		why = fmt.Sprintf("%v; given up after %d tries in %s (BATON_WEBHOOK_RETRY_FOR is %s)", err, h.Tries,
			now.Sub(h.Since).Round(time.Second), d.cfg.HookRetryFor)
	}
	if why != "" {
		d.metrics.Deliveries.WithLabelValues("hook", string(flows.EffectHook), "dead").Inc()
		d.log.Error("delivery failed", append(deliveryAttrs(del), "err", why)...)
		return flows.HookSettle{Dead: why, Lease: now.Add(d.hookLease())}
	}
	d.metrics.Deliveries.WithLabelValues("hook", string(flows.EffectHook), "retry").Inc()
	d.log.Warn("delivery will be retried", append(deliveryAttrs(del), "platform", "hook", "attempt", h.Tries, "in", wait, "err", err)...)
	return flows.HookSettle{Retry: now.Add(wait)}
}

// hookBackoff is the wait before the next try of an event tried tries
// times: first, doubling each time up to most, with jitter.
func hookBackoff(first, most time.Duration, tries int) time.Duration {
	b := first
	for i := 1; i < tries && b < most; i++ {
		b *= 2
	}
	b = min(b, most)
	return b/2 + rand.N(b/2+1)
}

// pollHookQueues claims the event queues due to be tried again (or left by
// a replica that stopped), as many as may run besides those running, and
// delivers each in a worker of its own.
func (d *Dispatcher) pollHookQueues(ctx context.Context, workers *sync.WaitGroup) {
	if d.hookq == nil || d.webhooks == nil {
		return
	}
	d.mu.Lock()
	n := maxHookQueues - d.hooksRun
	d.mu.Unlock()
	if n <= 0 {
		return
	}
	heads, err := d.hookq.ClaimHookQueues(ctx, d.cfg.Clock.Now(), d.hookLease(), n)
	if err != nil && ctx.Err() == nil {
		d.metrics.Failures.WithLabelValues("outbox").Inc()
		d.log.Error("claim event queues", "err", err)
	}
	d.mu.Lock()
	d.hooksRun += len(heads)
	d.mu.Unlock()
	for _, h := range heads {
		workers.Go(func() {
			defer func() {
				d.mu.Lock()
				d.hooksRun--
				d.mu.Unlock()
			}()
			d.runHookQueue(ctx, &h)
		})
	}
}

// drainHookQueues delivers the event queues due now, one after the other
// (Drain), and returns how many it claimed.
func (d *Dispatcher) drainHookQueues(ctx context.Context) (int, error) {
	if d.hookq == nil || d.webhooks == nil {
		return 0, nil
	}
	heads, err := d.hookq.ClaimHookQueues(ctx, d.cfg.Clock.Now(), d.hookLease(), d.cfg.Batch)
	for _, h := range heads {
		d.runHookQueue(ctx, &h)
	}
	return len(heads), err
}

// hookAttempt makes one attempt at delivering an event, the tries-th, and
// records it.
func (d *Dispatcher) hookAttempt(ctx context.Context, del *flows.Delivery, tries int) error {
	call := del.Effect.Hook
	code, err := d.webhooks.deliverHook(ctx, call, tries)
	a := flows.HookAttempt{Instance: del.Instance, Event: call.Event.ID, Type: call.Event.Type, Target: flows.HookTarget(call.URL), Subscriber: call.Name,
		Attempt: tries, At: d.webhooks.clock.Now().UTC().Truncate(time.Millisecond), OK: err == nil, Status: code} // ms, as every time kept
	if err != nil {
		a.Error = err.Error()
	} else {
		d.log.Info("webhook delivered", "instance", del.Instance, "event", call.Event.Type, "id", call.Event.ID, "target", call.Subscriber(), "attempt", tries, "code", code)
	}
	if d.webhooks.attempts != nil {
		if rerr := d.webhooks.attempts.RecordHookAttempt(ctx, a); rerr != nil {
			d.log.Warn("record webhook delivery", "instance", del.Instance, "err", rerr)
		}
	}
	return err
}

// retryHook delivers an event to a subscriber, retrying with backoff as
// other effects are (an outbox that keeps no event queues).
func (d *Dispatcher) retryHook(ctx context.Context, del *flows.Delivery) error {
	attempt := 0
	return d.retry(ctx, del, "hook", func() error {
		attempt++
		return d.hookAttempt(ctx, del, attempt)
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
