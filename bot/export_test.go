package bot

import (
	"context"
	"time"
)

// SetSleep replaces the dispatcher's wait between retries, so tests see
// the delays it asks for instead of waiting them out.
func (d *Dispatcher) SetSleep(f func(context.Context, time.Duration) error) { d.sleep = f }

// SetSleep replaces the webhook caller's wait between retries and sets its
// first backoff.
func (w *Webhooks) SetSleep(f func(context.Context, time.Duration) error, backoff time.Duration) {
	w.sleep, w.backoff = f, backoff
}

// Days is the day-of-week field of the digests' schedules.
func (d *Digests) Days() string { return d.days() }

// SetDrain sets how long the server's shutdown waits for requests in flight.
func (s *Server) SetDrain(d time.Duration) { s.drain = d }
