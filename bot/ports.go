package bot

import (
	"context"
	"time"
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
