package bot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/batonbot/baton/flows"
)

// Messenger delivers messages on one platform (Slack, Teams, the web
// console). It is the port chat adapters implement. Implementations are
// safe for concurrent use; they pace themselves (a call may block while a
// rate limit recovers), report a platform's Retry-After as *RetryAfterError,
// and mark errors that retrying cannot fix with Permanent.
type Messenger interface {
	// Platform names the platform: "slack", "teams", "web". It is stored
	// with each card reference.
	Platform() string
	// Reach says where a recipient is on this platform, if anywhere.
	Reach(to flows.Recipient) (Address, bool)
	// Send posts m, as a reply in the thread of the card with reference
	// thread when thread is not empty, and returns the new card's reference.
	Send(ctx context.Context, to Address, m *flows.Message, thread string) (ref string, err error)
	// Update replaces the card with reference ref by m.
	Update(ctx context.Context, ref string, m *flows.Message) error
}

// UpdateSender is a Messenger whose Update sends something new rather than
// change the card in place, so that making an update twice would be seen
// twice: mail, which cannot change once sent (a reply says the card
// closed). UpdateKey names what Update would send to the card with
// reference ref, or is "" when it would send nothing. The dispatcher
// records the key of each such update it made among the instance's card
// references, stored as the references of sent cards are (every few
// milliseconds), and does not make it again when the effect is delivered
// again: by another replica taking over an entry this one did not
// acknowledge, or as a dead letter retried.
type UpdateSender interface {
	UpdateKey(ref string, m *flows.Message) string
}

// Address is a recipient on one platform.
type Address struct {
	Person  string // directory id of a person ("" for a channel)
	Channel string // directory id of a channel ("" for a person)
	ID      string // the platform's id for them (user id, channel id…)
}

// RetryAfterError is a platform asking us to wait before trying again.
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("asked to retry after %s: %v", e.After, e.Err) // a 429, or a 5xx with Retry-After
}

func (e *RetryAfterError) Unwrap() error { return e.Err }

type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

// Permanent marks err as one that retrying cannot fix (unknown user,
// missing scope…): the delivery is given up at once.
func Permanent(err error) error { return permanentError{err} }

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool { return errors.As(err, new(permanentError)) }

// DispatcherConfig tunes the dispatcher. Zero values mean the defaults.
type DispatcherConfig struct {
	Consumer     string        // this replica's consumer name (default host-pid-random)
	Batch        int           // entries read at once (default 256)
	MaxInFlight  int           // effects being delivered at once before reading more (default 4096); one read takes up to Batch entries of each shard, so it may go over by that
	Attempts     int           // tries of a failing delivery before giving up (default 20: 7 to 13 min with the default backoff); not of an event announcement (HookRetryFor)
	Backoff      time.Duration // first retry delay, doubled each time (default 500 ms)
	MaxBackoff   time.Duration // longest retry delay (default 1 min)
	Reclaim      time.Duration // idle time after which a dead replica's entries (and event queues) are taken over (default 5 min)
	Poll         time.Duration // how often to look for work from other replicas, and event queues due to be tried again (default 1 s)
	DrainTimeout time.Duration // on shutdown, how long in-flight deliveries and their acknowledgements may take (default 20 s)
	// Instance reads a request (the Service's Instance), so that a webhook
	// step's call is not tried again once its request has moved on; nil:
	// every attempt is made.
	Instance func(context.Context, string) (*flows.Instance, error)
	// HookRetryFor is how long an event announcement to a subscriber is
	// tried again, from when it was queued (default 24 h): receivers expect to
	// be down for hours without losing events. Its tries are at most
	// HookMaxBackoff apart (default 5 min), and the request's later events
	// to that subscriber wait behind it (HookQueues).
	HookRetryFor   time.Duration
	HookMaxBackoff time.Duration
	// Clock times the event announcements' tries (default: the webhooks'
	// clock, else the real one).
	Clock clockwork.Clock
	// DropUnreachable is for a deployment with no platform that carries
	// cards to people (no chat platform, the console off: the API alone):
	// a card that no platform reaches is counted (result "unreachable") and
	// dropped, as nothing an operator fixes could send it. Otherwise it is
	// a dead letter: a person the directory gives no id on the platforms.
	DropUnreachable bool
}

// Dispatcher delivers the outbox: at least once, in order per instance, with
// retries and backoff, recording each sent card's reference so later effects
// can update it. Several replicas share the work through a consumer group.
type Dispatcher struct {
	cfg        DispatcherConfig
	outbox     flows.Outbox
	messengers map[string]Messenger
	order      []string
	webhooks   *Webhooks
	handle     func(context.Context, flows.Event) (flows.Outcome, error)
	log        *slog.Logger
	metrics    *Metrics
	sleep      func(context.Context, time.Duration) error

	wake chan struct{}
	done chan flows.Delivery
	// stop is Run's context: once it ends, no delivery is started or tried
	// again; those under way finish (until the drain timeout).
	stop context.Context

	// hookq keeps each request's event announcements to each subscriber in
	// a queue in the store (nil: an outbox that cannot, whose deliveries
	// are retried here, as other effects are).
	hookq HookQueues

	mu       sync.Mutex
	queues   map[string][]queued          // per instance, in stream order
	recent   map[string]map[string]string // refs sent but not yet flushed, per instance
	inflight map[string]flows.Delivery    // entries taken and not yet acknowledged (inflightKey)
	hooksRun int                          // event queues claimed and being delivered (pollHookQueues)
}

type queued struct {
	d         flows.Delivery
	reclaimed bool
	cut       bool // not delivered, for the shutdown: handed back, not acknowledged
	// An event announcement put in its queue as it was read (preQueue):
	// hookQueued says it is there, hookFirst is the queue's first event
	// when that started the queue (this replica holds it and delivers it).
	hookQueued bool
	hookFirst  *flows.QueuedHook
}

// NewDispatcher builds a dispatcher. handle reports webhook results back as
// events (the Service's Handle); webhooks may be nil when no flow has
// webhook steps.
func NewDispatcher(cfg DispatcherConfig, outbox flows.Outbox, messengers []Messenger, webhooks *Webhooks,
	handle func(context.Context, flows.Event) (flows.Outcome, error), log *slog.Logger, metrics *Metrics) *Dispatcher {
	host, _ := os.Hostname()
	cfg.Consumer = cmp.Or(cfg.Consumer, fmt.Sprintf("%s-%d-%04x", cmp.Or(host, "baton"), os.Getpid(), rand.IntN(1<<16)))
	cfg.Batch = cmp.Or(cfg.Batch, 256)
	cfg.MaxInFlight = cmp.Or(cfg.MaxInFlight, 4096)
	cfg.Attempts = cmp.Or(cfg.Attempts, 20) // a platform or mail relay down for minutes loses nothing
	cfg.Backoff = cmp.Or(cfg.Backoff, 500*time.Millisecond)
	cfg.MaxBackoff = cmp.Or(cfg.MaxBackoff, time.Minute)
	cfg.HookRetryFor = cmp.Or(cfg.HookRetryFor, DefaultHookRetryFor)
	cfg.HookMaxBackoff = cmp.Or(cfg.HookMaxBackoff, 5*time.Minute)
	if cfg.Clock == nil && webhooks != nil {
		cfg.Clock = webhooks.clock
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	cfg.Reclaim = cmp.Or(cfg.Reclaim, 5*time.Minute)
	cfg.Poll = cmp.Or(cfg.Poll, time.Second)
	cfg.DrainTimeout = cmp.Or(cfg.DrainTimeout, 20*time.Second)
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	d := &Dispatcher{cfg: cfg, outbox: outbox, messengers: map[string]Messenger{}, webhooks: webhooks, handle: handle,
		log: log, metrics: metrics, sleep: Sleep, stop: context.Background(),
		wake: make(chan struct{}, 1), done: make(chan flows.Delivery, cfg.Batch),
		queues: map[string][]queued{}, recent: map[string]map[string]string{}, inflight: map[string]flows.Delivery{}}
	for _, m := range messengers {
		d.messengers[m.Platform()] = m
		d.order = append(d.order, m.Platform())
	}
	d.hookq, _ = outbox.(HookQueues)
	return d
}

// Sleep waits for d, or until ctx ends (then it returns ctx's error).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Wake tells the dispatcher that new entries are waiting. It never blocks.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx is cancelled, then stops reading, lets in-flight
// deliveries finish and acknowledges them, all within DrainTimeout (plus
// one acknowledgement's timeout, if one is under way then), and hands back
// what it cut short (within handBackTimeout).
func (d *Dispatcher) Run(ctx context.Context) error {
	d.stop = ctx
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	var workers sync.WaitGroup
	var handBack []flows.Delivery // what the shutdown cut short
	var cutMu sync.Mutex
	cut := func(del flows.Delivery) {
		cutMu.Lock()
		handBack = append(handBack, del)
		cutMu.Unlock()
	}
	flushed := make(chan struct{})
	go func() { defer close(flushed); d.flusher(work) }()

	poll := time.NewTicker(d.cfg.Poll)
	defer poll.Stop()
	reclaim := time.NewTicker(d.cfg.Reclaim / 2)
	defer reclaim.Stop()
	touch := time.NewTicker(d.cfg.Reclaim / 4)
	defer touch.Stop()
	d.Wake()
	// The first read takes over what a stopped replica (this one, before a
	// restart) handed back or left, before what is new, so that a request's
	// effects keep their order.
	idle := d.cfg.Reclaim
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-d.wake:
		case <-poll.C:
			d.pollHookQueues(work, &workers)
		case <-reclaim.C:
			idle = d.cfg.Reclaim
		case <-touch.C:
			d.touch(ctx)
			continue
		}
		for ctx.Err() == nil {
			d.mu.Lock()
			n := min(d.cfg.Batch, d.cfg.MaxInFlight-len(d.inflight))
			d.mu.Unlock()
			if n <= 0 {
				break // full: finished deliveries wake us
			}
			batch, err := d.outbox.ReadOutbox(ctx, d.cfg.Consumer, n, idle)
			if err != nil {
				if ctx.Err() == nil {
					d.metrics.Failures.WithLabelValues("outbox").Inc()
					d.log.Error("read outbox", "err", err)
				}
				break
			}
			qs := d.preQueue(ctx, batch)
			for i := range qs {
				qs[i].reclaimed = idle > 0
				d.enqueue(work, &workers, qs[i], cut)
			}
			if idle > 0 { // taking over, until nothing is left (each read takes n per shard); then what is new
				if len(batch) == 0 {
					idle = 0
				}
				continue
			}
			if len(batch) < n {
				break
			}
		}
		idle = 0
	}
	// The drain timeout bounds the whole shutdown: the deliveries under way,
	// then the last acknowledgements (which, with Redis down, would be
	// retried for ever). What is cut short is delivered again.
	drain := time.NewTimer(d.cfg.DrainTimeout)
	defer drain.Stop()
	waited := make(chan struct{})
	go func() { workers.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-drain.C:
		d.log.Warn("shutdown: deliveries still running after the drain timeout; they will be retried", "timeout", d.cfg.DrainTimeout)
		cancelWork()
		<-waited
	}
	close(d.done)
	select {
	case <-flushed:
	case <-drain.C:
		d.log.Warn("shutdown: deliveries not acknowledged by the drain timeout; they will be delivered again", "timeout", d.cfg.DrainTimeout)
		cancelWork()
		<-flushed
	}
	// Handed back as abandoned: the next replica to look (a restart of this
	// one at once) takes them over without waiting for Reclaim to pass.
	if len(handBack) > 0 {
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), handBackTimeout)
		err := d.outbox.HandBack(hctx, d.cfg.Consumer, handBack, d.cfg.Reclaim)
		cancel()
		if err != nil {
			d.log.Warn("shutdown: hand back undelivered entries; they are taken over after the reclaim time", "entries", len(handBack), "reclaim", d.cfg.Reclaim, "err", err)
		} else {
			d.log.Info("shutdown: handed back undelivered entries", "entries", len(handBack))
		}
	}
	return nil
}

// enqueue hands an entry to its instance's queue, starting a worker for the
// instance if none runs: one instance's effects are delivered in order, and
// different instances in parallel.
func (d *Dispatcher) enqueue(ctx context.Context, workers *sync.WaitGroup, q queued, cut func(flows.Delivery)) {
	d.mu.Lock()
	if _, ok := d.inflight[inflightKey(q.d)]; ok {
		d.mu.Unlock()
		return // still being delivered here (a reclaim of our own slow entry)
	}
	d.inflight[inflightKey(q.d)] = q.d
	qk := queueKey(q.d)
	items, running := d.queues[qk]
	d.queues[qk] = append(items, q)
	d.mu.Unlock()
	if running {
		return
	}
	workers.Go(func() {
		for {
			d.mu.Lock()
			items := d.queues[qk]
			if len(items) == 0 {
				delete(d.queues, qk)
				d.mu.Unlock()
				return
			}
			next := items[0]
			d.queues[qk] = items[1:]
			d.mu.Unlock()
			if ctx.Err() == nil && d.stop.Err() == nil {
				d.deliver(ctx, &next)
			} else {
				next.cut = true // not started: the shutdown takes no more work
				if next.hookFirst != nil {
					d.runHookQueue(ctx, next.hookFirst) // stopping: it hands the queue back, due at once
				}
			}
			if ctx.Err() != nil || next.cut {
				// Cut short by the shutdown (not begun, waiting to be tried
				// again, or past the drain timeout): not acknowledged (and
				// not dead), handed back for another replica to deliver.
				d.forget([]flows.Delivery{next.d}, true)
				cut(next.d)
				continue
			}
			d.done <- next.d
		}
	})
}

// touch keeps the entries this replica holds from looking abandoned: a
// delivery slower than Reclaim (a slow webhook, a long Retry-After) would
// otherwise be taken over and made a second time by another replica.
func (d *Dispatcher) touch(ctx context.Context) {
	d.mu.Lock()
	held := slices.Collect(maps.Values(d.inflight))
	d.mu.Unlock()
	if err := d.outbox.Touch(ctx, d.cfg.Consumer, held); err != nil && ctx.Err() == nil {
		d.metrics.Failures.WithLabelValues("outbox").Inc()
		d.log.Error("touch the outbox entries being delivered", "entries", len(held), "err", err)
	}
}

// inflightKey names an effect among all shards: stream ids are only
// unique within one stream (two shards often hand out the same id in the
// same millisecond), and an entry holds its transition's effects.
func inflightKey(d flows.Delivery) string {
	return strconv.Itoa(d.Shard) + "/" + d.ID + "/" + strconv.Itoa(d.Part)
}

// handBackTimeout bounds handing back what the shutdown cut short: the
// entries stay taken otherwise, and are taken over after Reclaim.
const handBackTimeout = 5 * time.Second

// ackTimeout bounds one acknowledgement of a batch of finished deliveries.
const ackTimeout = 10 * time.Second

// flusher acknowledges finished deliveries in batches.
func (d *Dispatcher) flusher(ctx context.Context) {
	var batch []flows.Delivery
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	flush := func() {
		for attempt := 0; len(batch) > 0; attempt++ {
			// A context of its own: finished deliveries are acknowledged
			// even when the drain timeout has just cut the others short
			// (no retry then).
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ackTimeout)
			err := d.outbox.Delivered(actx, batch)
			cancel()
			if err == nil {
				break
			}
			d.metrics.Failures.WithLabelValues("outbox").Inc()
			d.log.Error("acknowledge deliveries", "count", len(batch), "err", err)
			if ctx.Err() != nil || d.sleep(ctx, min(d.cfg.Backoff<<attempt, d.cfg.MaxBackoff)) != nil {
				break // unacknowledged entries are delivered again by a reclaim
			}
		}
		d.forget(batch, true)
		batch = batch[:0]
		d.Wake()
	}
	for {
		select {
		case del, ok := <-d.done:
			if !ok {
				flush()
				return
			}
			batch = append(batch, del)
			if len(batch) >= d.cfg.Batch {
				flush()
			} else if len(batch) == 1 {
				timer.Reset(2 * time.Millisecond)
			}
		case <-timer.C:
			flush()
		}
	}
}

// forget drops the bookkeeping of acknowledged deliveries.
func (d *Dispatcher) forget(batch []flows.Delivery, inflight bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, del := range batch {
		for k := range del.Refs {
			delete(d.recent[del.Instance], k)
		}
		if len(d.recent[del.Instance]) == 0 {
			delete(d.recent, del.Instance)
		}
		if inflight {
			delete(d.inflight, inflightKey(del))
		}
	}
}

// Drain delivers everything waiting in the outbox now, one entry after the
// other, and returns how many it delivered. Tests use it instead of Run to
// know when delivery is over without waiting on a clock.
func (d *Dispatcher) Drain(ctx context.Context) (int, error) {
	total := 0
	for {
		batch, err := d.outbox.ReadOutbox(ctx, d.cfg.Consumer, d.cfg.Batch, 0)
		if err != nil {
			return total, err
		}
		if len(batch) == 0 {
			// Then the event queues due to be tried again now (by the
			// clock: a test moves it on), one after the other.
			if n, err := d.drainHookQueues(ctx); err != nil || n == 0 {
				return total, err
			}
			continue
		}
		for i, q := range d.preQueue(ctx, batch) {
			d.deliver(ctx, &q)
			batch[i] = q.d
		}
		if err := ctx.Err(); err != nil {
			d.forget(batch, false) // cut short: left for a redelivery
			return total, err
		}
		err = d.outbox.Delivered(ctx, batch)
		d.forget(batch, false)
		if err != nil {
			return total, err
		}
		total += len(batch)
	}
}

// refs returns an instance's card references: stored ones, and the ones
// sent here but not acknowledged yet.
func (d *Dispatcher) refs(ctx context.Context, instance string) (map[string]string, error) {
	// Memory first: an acknowledgement stores refs before dropping them
	// here, so in this order one of the two reads sees each ref.
	d.mu.Lock()
	recent := maps.Clone(d.recent[instance])
	d.mu.Unlock()
	refs, err := d.outbox.Refs(ctx, instance)
	if err != nil {
		return nil, err
	}
	if refs == nil {
		refs = map[string]string{}
	}
	maps.Copy(refs, recent)
	return refs, nil
}

// noCard is the reference recorded for a card that was not sent (nobody
// reachable, or sending failed for good), so that its updates and thread
// replies know at once that there is nothing to wait for.
const noCard = "-"

// cardWaits bounds how often a delivery waits (with backoff) for the
// reference of a card it updates or replies to.
const cardWaits = 4

// cardRefs returns the instance's card references, once they hold one (or
// noCard) for card, when card is not empty. Within one replica an
// instance's effects are delivered in order, so the card is always known;
// but another replica may have sent it and not yet acknowledged it: then
// this waits a little (Backoff, doubling, cardWaits times) rather than skip
// the update or post the reply outside its thread.
func (d *Dispatcher) cardRefs(ctx context.Context, instance, card string) (map[string]string, error) {
	refs, err := d.refs(ctx, instance)
	backoff := d.cfg.Backoff
	for range cardWaits {
		if err != nil || card == "" || hasCard(refs, card) {
			break
		}
		if err := d.sleep(ctx, backoff); err != nil {
			return nil, err
		}
		backoff = min(2*backoff, d.cfg.MaxBackoff)
		refs, err = d.refs(ctx, instance)
	}
	return refs, err
}

// cardMatches says whether a card key is the one an effect names, or under
// the prefix it names (a key ending in "/").
func cardMatches(card, want string) bool {
	return card == want || strings.HasSuffix(want, "/") && strings.HasPrefix(card, want)
}

// hasCard says whether refs holds any reference (or noCard) for card.
func hasCard(refs map[string]string, card string) bool {
	for key := range refs {
		if c, _, _ := strings.Cut(key, "|"); cardMatches(c, card) {
			return true
		}
	}
	return false
}

func (d *Dispatcher) remember(del *flows.Delivery, key, ref string) {
	if del.Refs == nil {
		del.Refs = map[string]string{}
	}
	del.Refs[key] = ref
	d.mu.Lock()
	if d.recent[del.Instance] == nil {
		d.recent[del.Instance] = map[string]string{}
	}
	d.recent[del.Instance][key] = ref
	d.mu.Unlock()
}

// deliver carries out one effect. Failures are retried here; what still
// fails is marked dead (kept aside, counted, logged).
func (d *Dispatcher) deliver(ctx context.Context, q *queued) {
	del := &q.d
	if del.Dead != "" {
		return
	}
	e := del.Effect
	var dead []string
	switch e.Kind {
	case flows.EffectNotify:
		var refs map[string]string
		if q.reclaimed || del.Replay || e.Thread != "" {
			var err error
			if refs, err = d.cardRefs(ctx, del.Instance, e.Thread); err != nil {
				dead = append(dead, err.Error())
				break
			}
		}
		reached := false
		for _, p := range d.order {
			m := d.messengers[p]
			addr, ok := m.Reach(e.To)
			if !ok {
				continue
			}
			reached = true
			key := e.Card + "|" + p
			if ref := refs[key]; ref != "" && !(del.Replay && ref == noCard) {
				continue // sent before the crash that made us redeliver (or, replayed, sent before)
			}
			thread := ""
			if e.Thread != "" && refs[e.Thread+"|"+p] != noCard {
				thread = refs[e.Thread+"|"+p]
			}
			var ref string
			err := d.retry(ctx, del, p, func() (err error) {
				ref, err = m.Send(ctx, addr, e.Msg, thread)
				return err
			})
			if err != nil {
				dead = append(dead, p+": "+err.Error())
				if ctx.Err() == nil && d.stop.Err() == nil { // given up on, not cut short by the shutdown
					d.remember(del, key, noCard) // later updates of it need not wait for it
				}
				continue
			}
			d.remember(del, key, ref)
		}
		if !reached {
			d.metrics.Deliveries.WithLabelValues("none", string(e.Kind), "unreachable").Inc()
			if !d.cfg.DropUnreachable {
				dead = append(dead, fmt.Sprintf("no platform reaches %s", cmp.Or(e.To.Person, "#"+e.To.Channel)))
			}
			d.remember(del, e.Card+"|", noCard)
		}
	case flows.EffectUpdate:
		refs, err := d.cardRefs(ctx, del.Instance, e.Card)
		if err != nil {
			dead = append(dead, err.Error())
			break
		}
		updated := false
		for _, key := range slices.Sorted(maps.Keys(refs)) {
			card, p, _ := strings.Cut(key, "|")
			m := d.messengers[p]
			if m == nil || refs[key] == noCard || !cardMatches(card, e.Card) {
				continue
			}
			updated = true
			made := "" // the record of an update that sends something (UpdateSender)
			if us, ok := m.(UpdateSender); ok {
				if k := us.UpdateKey(refs[key], e.Msg); k != "" {
					if made = key + "|" + k; refs[made] != "" {
						continue // sent before this redelivery
					}
				}
			}
			if err := d.retry(ctx, del, p, func() error { return m.Update(ctx, refs[key], e.Msg) }); err != nil {
				dead = append(dead, p+": "+err.Error())
			} else if made != "" {
				d.remember(del, made, "sent")
			}
		}
		if !updated {
			// No card was sent for it (nobody could be reached, or sending
			// failed for good), or one is still unacknowledged after the
			// wait in cardRefs: counted.
			d.metrics.Deliveries.WithLabelValues("none", string(e.Kind), "no_card").Inc()
			d.log.Debug("card update skipped: no card sent for it", "instance", del.Instance, "card", e.Card)
		}
	case flows.EffectWebhook:
		if err := d.callWebhook(ctx, del); err != nil {
			dead = append(dead, err.Error())
		}
	case flows.EffectHook:
		if err := d.deliverHook(ctx, q); err != nil {
			dead = append(dead, err.Error())
		}
	default:
		dead = append(dead, fmt.Sprintf("unknown effect %q", e.Kind))
	}
	if len(dead) > 0 && (ctx.Err() != nil || d.stop.Err() != nil) {
		q.cut = true // cut short by the shutdown is not dead: it is delivered again
		return
	}
	if len(dead) > 0 {
		del.Dead = strings.Join(dead, "; ")
		d.log.Error("delivery failed", append(deliveryAttrs(del), "err", del.Dead)...)
	}
}

// deliveryAttrs names a delivery in the log: its instance, effect, and
// card or announced event.
func deliveryAttrs(del *flows.Delivery) []any {
	attrs := []any{"instance", del.Instance, "effect", del.Effect.Kind}
	switch {
	case del.Effect.Hook != nil:
		attrs = append(attrs, "event", del.Effect.Hook.Event.ID, "target", del.Effect.Hook.Subscriber())
	case del.Effect.Card != "":
		attrs = append(attrs, "card", del.Effect.Card)
	}
	return attrs
}

// retry runs f until it succeeds, honouring Retry-After, backing off
// exponentially with jitter on other errors, and giving up on permanent
// errors or after the configured attempts.
func (d *Dispatcher) retry(ctx context.Context, del *flows.Delivery, platform string, f func() error) error {
	return d.retryAs(ctx, del, platform, "ok", false, f)
}

// retryAs is retry counting a success under result instead of "ok".
// With untilDrain, the shutdown does not stop the retries (only the drain
// timeout does): for what must not be done twice, as reporting a webhook's
// result once it was called.
func (d *Dispatcher) retryAs(ctx context.Context, del *flows.Delivery, platform, result string, untilDrain bool, f func() error) error {
	stop := d.stop
	if untilDrain {
		stop = context.Background()
	}
	kind := del.Effect.Kind
	began := time.Now()
	backoff := d.cfg.Backoff
	for attempt, waits := 1, 0; ; attempt++ {
		err := f()
		if err == nil {
			d.metrics.Deliveries.WithLabelValues(platform, string(kind), result).Inc()
			d.metrics.DeliverTime.WithLabelValues(platform).Observe(time.Since(began).Seconds())
			return nil
		}
		var wait time.Duration
		var ra *RetryAfterError
		switch {
		case errors.As(err, &ra) && waits < 100:
			// Rate limits are waited out, not counted as failures: nothing is dropped.
			wait, waits, attempt = ra.After, waits+1, attempt-1
		case ctx.Err() != nil:
			return err // stopping: the entry stays in the outbox
		case IsPermanent(err) || attempt >= d.cfg.Attempts:
			d.metrics.Deliveries.WithLabelValues(platform, string(kind), "dead").Inc()
			return err
		default:
			wait = backoff/2 + rand.N(backoff/2+1)
			backoff = min(2*backoff, d.cfg.MaxBackoff)
		}
		if stop.Err() != nil {
			return err // shutting down: not tried again here (it is handed back)
		}
		d.metrics.Deliveries.WithLabelValues(platform, string(kind), "retry").Inc()
		d.log.Warn("delivery will be retried", append(deliveryAttrs(del), "platform", platform, "attempt", attempt, "in", wait, "err", err)...)
		// The wait ends with the shutdown: a delivery waiting to be tried
		// again is not under way.
		wctx, cancel := context.WithCancel(ctx)
		unhook := context.AfterFunc(stop, cancel)
		err = d.sleep(wctx, wait)
		unhook()
		cancel()
		if err != nil {
			return err
		}
	}
}

// waitsFor returns whether the request id still waits for call (is at its
// step and round, running), for CallWhile to check before each attempt; nil
// without cfg.Instance. A request that cannot be read is taken to: the
// result is checked against it anyway.
func (d *Dispatcher) waitsFor(id string, call *flows.WebhookCall) func(context.Context) bool {
	if d.cfg.Instance == nil {
		return nil
	}
	return func(ctx context.Context) bool {
		in, err := d.cfg.Instance(ctx, id)
		if err != nil {
			return !errors.Is(err, flows.ErrNotFound)
		}
		return in.Status == flows.StatusRunning && in.Step == call.Step && in.Round == call.Round
	}
}

// callWebhook makes a webhook step's call and reports its result as an event.
func (d *Dispatcher) callWebhook(ctx context.Context, del *flows.Delivery) error {
	call := del.Effect.Webhook
	var res flows.WebhookResult
	moved := false // the request no longer waits for the call
	if d.webhooks == nil {
		res = flows.WebhookResult{Error: "webhooks are not configured"}
	} else {
		var wanted func(context.Context) bool
		if waits := d.waitsFor(del.Instance, call); waits != nil {
			wanted = func(ctx context.Context) bool { moved = !waits(ctx); return !moved }
		}
		res = d.webhooks.CallWhile(ctx, del.Instance, call, wanted)
	}
	if err := ctx.Err(); err != nil {
		return err // cut short by shutdown, not the receiver's failure: called again on redelivery
	}
	if moved {
		d.log.InfoContext(ctx, "webhook step's call stopped: the request has moved on", "instance", del.Instance, "step", call.Step, "round", call.Round)
		return nil
	}
	// Counted by the call's result, once it is reported to the request.
	result := "ok"
	if !res.OK {
		result = "failed"
		d.metrics.Failures.WithLabelValues("webhook").Inc()
		// What the receiver answered, as the audit trail keeps it (by
		// scheme and host, the reply's start with nothing of the URL).
		d.log.WarnContext(ctx, "webhook step's call failed", "instance", del.Instance, "step", call.Step, "round", call.Round,
			"status", res.Status, "err", res.Error, "reply", res.Body)
	}
	ev := flows.Event{Kind: flows.EventWebhookResult, Key: fmt.Sprintf("webhook:%s/%d", call.Step, call.Round),
		Instance: del.Instance, Actor: flows.System, Step: call.Step, Round: call.Round, Result: &res}
	// The call was made: its result is reported even while shutting down,
	// or the call would be made again elsewhere.
	return d.retryAs(ctx, del, "webhook", result, true, func() error {
		_, err := d.handle(ctx, ev)
		return err
	})
}
