package bot

import (
	"context"
	"time"

	"github.com/batonbot/baton/flows"
)

// KV keeps small values shared by every replica: conversation references,
// cached platform ids. storage.Store implements it.
type KV interface {
	// GetValue returns the value under ns/key; ok is false when there is none.
	GetValue(ctx context.Context, ns, key string) (value string, ok bool, err error)
	// SetValue stores a value; ttl 0 keeps it until it is overwritten.
	SetValue(ctx context.Context, ns, key, value string, ttl time.Duration) error
	// AddValue stores a value unless there is one, for ttl (0: until it is
	// overwritten); true if it did (one of several replicas adding does).
	AddValue(ctx context.Context, ns, key, value string, ttl time.Duration) (bool, error)
}

// Locker lets one replica claim a named piece of once-only work (a daily
// digest, a scheduled start). storage.Store implements it.
type Locker interface {
	// Claim returns true for exactly one caller until the claim expires.
	Claim(ctx context.Context, name string, ttl time.Duration) (bool, error)
	// Release ends a claim early, so a failed piece of work can be taken again.
	Release(ctx context.Context, name string) error
}

// HookQueues keeps each request's event announcements to each subscriber
// in a queue of their own, delivered one at a time, first to last, by the
// replica that holds the queue: so while one is tried again (for hours, a
// receiver being down), the request's later events to that subscriber wait
// behind it, on every replica, and nothing else does. storage.Store
// implements it; the Dispatcher finds it on its outbox.
type HookQueues interface {
	// QueueHook puts h, read from the outbox, in its queue. When the queue
	// was empty, the caller holds it until now+lease and delivers it: h is
	// returned. Otherwise h waits behind the events queued (nil).
	QueueHook(ctx context.Context, h flows.QueuedHook, now time.Time, lease time.Duration) (*flows.QueuedHook, error)
	// ClaimHookQueues takes about n queues whose first event is due to be
	// tried again at now, or whose holder's lease ran out, each held until
	// now+lease, and returns their first events.
	ClaimHookQueues(ctx context.Context, now time.Time, lease time.Duration, n int) ([]flows.QueuedHook, error)
	// SettleHook records what became of h, the first event of a queue the
	// caller holds, and returns the next one to deliver (the queue held
	// until how.Lease), or nil when there is none, or the queue waits to try
	// h again, or it was taken over (the caller's lease ran out). One given
	// up on is kept aside with the dead letters.
	SettleHook(ctx context.Context, h flows.QueuedHook, how flows.HookSettle) (*flows.QueuedHook, error)
}
