package flows

import (
	"cmp"
	"context"
	"errors"
	"strings"
	"time"
)

// ErrConflict means a transition kept losing races for the same instance
// (Store.Apply gives up after many retries).
var ErrConflict = errors.New("conflicting concurrent updates")

// Store persists instances. Each transition is committed atomically with its
// audit entries, timer changes and outgoing effects, under a check-and-set
// on the instance's version.
type Store interface {
	// Reserve returns the instance id for a start event's idempotency key:
	// prefix + the flow's next number the first time, the same id after.
	Reserve(ctx context.Context, flow, prefix, key string) (string, error)
	// Reserved returns the id reserved before for a start event's key, or
	// "" if none was.
	Reserved(ctx context.Context, key string) (string, error)
	// Apply loads ev.Instance (nil if it does not exist yet), calls fn and
	// commits the transition it returns. A conflicting write retries with the
	// fresh instance. If ev.Key was already applied, fn is not called and the
	// first outcome is returned with Duplicate set. Errors from fn are
	// returned as they are, and nothing is written. fn must not modify cur,
	// nor the caller the committed Transition's Instance: a store may keep
	// them as its last known state (the Engine works on a copy).
	Apply(ctx context.Context, ev Event, fn func(cur *Instance) (*Transition, error)) (Applied, error)
	// Get returns an instance or an error wrapping ErrNotFound.
	Get(ctx context.Context, id string) (*Instance, error)
	// Audit returns an instance's audit trail, oldest first.
	Audit(ctx context.Context, id string) ([]AuditEntry, error)
	// List returns instances matching q, newest first.
	List(ctx context.Context, q Query) ([]*Instance, error)
}

// Applied is what Store.Apply did.
type Applied struct {
	Outcome    Outcome
	Duplicate  bool        // the event's key was seen before: nothing changed
	Transition *Transition // what was committed (nil when Duplicate or a no-op)
	Version    int64       // the instance's version after the commit
}

// Query selects instances. Empty fields match everything; Limit 0 means 100.
type Query struct {
	Flow      string
	Status    []Status
	Requester string
	Assignee  string // a person a running instance is waiting on, or whom an escalation brought in (Instance.Deciders)
	// CreatedBefore, when set, keeps instances created before it (the
	// oldest open requests, for "older than two days").
	CreatedBefore time.Time
	Limit         int
	// After, when its ID is set, keeps the instances listed after the one
	// created at After.Created with id After.ID: the next page, from the
	// last instance of the one before. Listings are newest first by
	// creation to the millisecond, then by id (greatest first), so that
	// instances created in the same millisecond have a place each.
	After Place
	// Paged lists an Assignee's instances in ListOrder too (After implies
	// it), for a caller that pages: their index is by when the step came to
	// them, so it is read whole. Without it, they are listed the newest step
	// first, the limit keeping the tasks that came to them last.
	Paged bool
}

// Place is where an instance is in a listing (ListOrder): its creation
// time (to the millisecond) and id. No two instances share one, so a page
// that ends at one leaves no doubt where the next starts, however many were
// created in the same millisecond. The zero Place is the listing's start.
type Place struct {
	Created time.Time
	ID      string
}

// PlaceOf is in's place in a listing.
func PlaceOf(in *Instance) Place { return Place{in.Created, in.ID} }

// Compare is negative when p comes before o in a listing.
func (p Place) Compare(o Place) int {
	return ListOrder(p.Created.UnixMilli(), p.ID, o.Created.UnixMilli(), o.ID)
}

// After reports whether p comes after o (anything comes after the start).
func (p Place) After(o Place) bool { return o.ID == "" || p.Compare(o) > 0 }

// ListOrder is the order of listings (Store.List): newest first by
// creation in unix ms, then by id, greatest first (as Redis orders members
// of one score read newest first). It is negative when a comes first.
// Every instance has its own place, so a page ends at one and the next
// starts right after it, however many share its millisecond.
func ListOrder(aMS int64, aID string, bMS int64, bID string) int {
	return cmp.Or(cmp.Compare(bMS, aMS), strings.Compare(bID, aID))
}

// InstanceOrder is ListOrder for instances.
func InstanceOrder(a, b *Instance) int { return PlaceOf(a).Compare(PlaceOf(b)) }

// TimerQueue hands out due timers.
type TimerQueue interface {
	// ClaimTimers takes the due timers of up to n instances (of each shard,
	// where the queue has shards), each instance leased until now+lease: no
	// other caller gets its timers unless the lease runs out first. Applying
	// a fired timer's event releases the lease. It returns what it could
	// claim, with an error for what it could not, and more when it took as
	// many instances as it could, so that more may be due.
	ClaimTimers(ctx context.Context, now time.Time, lease time.Duration, n int) (due []DueTimer, more bool, err error)
	// ReleaseTimers ends the lease of a claimed timer's instance at at, if
	// that is sooner, so that any caller claims it again from then: for a
	// timer this caller could not fire and another may.
	ReleaseTimers(ctx context.Context, d DueTimer, at time.Time) error
}

// DueTimer is a claimed timer.
type DueTimer struct {
	Instance string
	Timer    string
	Due      time.Time
}

// Outbox holds the effects transitions committed, until they are delivered.
type Outbox interface {
	// ReadOutbox takes up to n undelivered entries for consumer, as their
	// effects. With idle above zero it instead takes entries another
	// consumer took more than idle ago without finishing (it crashed).
	ReadOutbox(ctx context.Context, consumer string, n int, idle time.Duration) ([]Delivery, error)
	// Delivered stores the platform references of the cards finished
	// deliveries sent, keeps dead ones aside, and acknowledges each entry
	// whose last effect is among them (an entry's effects are delivered in
	// order, so its last is done after the others).
	Delivered(ctx context.Context, done []Delivery) error
	// Refs returns the references of an instance's sent cards, keyed
	// "card key|platform".
	Refs(ctx context.Context, instance string) (map[string]string, error)
	// Touch says consumer is still delivering ds (a slow call, a rate
	// limit waited out), so that no other consumer takes them over as if
	// it had crashed.
	Touch(ctx context.Context, consumer string, ds []Delivery) error
	// HandBack says consumer stops without delivering ds: they are made to
	// look idle for idle, so that the next consumer reclaiming entries idle
	// that long takes them at once.
	HandBack(ctx context.Context, consumer string, ds []Delivery, idle time.Duration) error
}

// Delivery is one effect of an outbox entry. An entry holds consecutive
// cards (notify, update) of one transition, in order, or one other effect;
// the effects of an entry are delivered one after the other, in its
// instance's queue, and the entry is done when its last effect is.
type Delivery struct {
	ID       string // stream entry id
	Shard    int
	Part     int // the effect's place in its entry, from 0
	Parts    int // how many effects the entry holds (0 counts as 1)
	Instance string
	Effect   Effect
	Refs     map[string]string // set by the deliverer: "card key|platform" -> reference
	Dead     string            // set by the deliverer when it gave up: why
	// Entry is the outbox entry's payload as stored, kept aside with a dead
	// delivery whose Effect cannot show it: one that could not be decoded,
	// or of a kind this version does not know (a newer version's).
	Entry string
	// Replay marks a dead letter an operator sent again: a card is sent
	// where it has no reference yet, including where it was given up on.
	Replay bool
}

// Last reports whether d is the last effect of its entry.
func (d *Delivery) Last() bool { return d.Part >= d.Parts-1 }

// QueuedHook is an event announcement (an EffectHook) in its queue: the
// events of one request to one subscriber, delivered one at a time, first
// to last, so that while one is tried again the later ones wait.
type QueuedHook struct {
	Entry    string    `json:"-"` // the id of the outbox entry it came from: its place in the queue
	Shard    int       `json:"-"`
	Item     string    `json:"-"` // the queue's item as stored (set by the store)
	Instance string    `json:"i"`
	Effect   Effect    `json:"e"`
	Since    time.Time `json:"since"`       // when it was first tried, or queued: its retries are counted from then
	Tries    int       `json:"n,omitempty"` // how many times it was tried
	Replay   bool      `json:"r,omitempty"` // a dead letter sent again
}

// HookSettle is what became of the first event of a queue its holder
// delivered: delivered (the zero value, with Lease), given up on (Dead),
// or to be tried again at Retry.
type HookSettle struct {
	Dead  string    // why it was given up on
	Retry time.Time // when to try it again
	Lease time.Time // delivered or given up on: until when the holder keeps the queue to deliver the next
}
