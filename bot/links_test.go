package bot_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/bot/bottest"
)

func TestLinkSecret(t *testing.T) {
	rig := bottest.New(t)
	a, err := bot.LinkSecret(t.Context(), "", rig.Store, rig.Store)
	if err != nil || len(a) != 32 {
		t.Fatalf("generated: %d bytes, %v", len(a), err)
	}
	b, err := bot.LinkSecret(t.Context(), "", rig.Store, rig.Store)
	if err != nil || string(a) != string(b) {
		t.Errorf("second replica got another secret (%v): links of one would not verify on the other", err)
	}
	c, err := bot.LinkSecret(t.Context(), "configured-secret-0123456789abcdef", rig.Store, rig.Store)
	if err != nil || string(c) != "configured-secret-0123456789abcdef" {
		t.Errorf("configured: %q %v", c, err)
	}
	if _, err := bot.LinkSecret(t.Context(), "short", rig.Store, rig.Store); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Errorf("short secret: %v", err)
	}
}

func TestLinks(t *testing.T) {
	rig := bottest.New(t)
	l := bot.NewLinks([]byte("0123456789abcdef0123456789abcdef"), rig.Store, rig.Store, rig.Clock, bot.LinksConfig{TTL: time.Hour})
	token, exp := l.New("VC-1", "vendor_ok", 2, "Sales@Acme.example")
	if !exp.Equal(bottest.T0.Add(time.Hour)) {
		t.Errorf("expires %v", exp)
	}
	c, err := l.Verify(token)
	if err != nil || c.Instance != "VC-1" || c.Step != "vendor_ok" || c.Round != 2 || c.Email != "sales@acme.example" || len(c.Nonce) != 32 {
		t.Fatalf("claims %+v %v", c, err)
	}
	other, _ := l.New("VC-1", "vendor_ok", 2, "sales@acme.example")
	if other == token {
		t.Error("two links are the same: each needs its own nonce")
	}
	if used, err := l.Used(t.Context(), c); err != nil || used {
		t.Errorf("fresh link used=%v %v", used, err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { errs[i] = l.Use(t.Context(), c) })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, bot.ErrLinkUsed):
			t.Errorf("Use: %v", err)
		}
	}
	if won != 1 {
		t.Errorf("%d of 8 concurrent uses succeeded, want exactly 1", won)
	}
	if used, _ := l.Used(t.Context(), c); !used {
		t.Error("a used link is not reported used")
	}
	rig.Clock.Advance(time.Hour)
	if _, err := l.Verify(other); !errors.Is(err, bot.ErrLinkExpired) {
		t.Errorf("after its TTL: %v, want ErrLinkExpired", err)
	}
	if _, err := l.Verify(token[:len(token)-1] + "x"); !errors.Is(err, bot.ErrLinkInvalid) {
		t.Errorf("tampered: %v, want ErrLinkInvalid", err)
	}
}

// heldOnce is a locker where another replica holds the claim at first; a
// claim that lapses (a TTL) can be taken once it has, one that never lapses
// stays held, its replica gone.
type heldOnce struct {
	bot.Locker
	calls int
}

func (h *heldOnce) Claim(ctx context.Context, name string, ttl time.Duration) (bool, error) {
	if h.calls++; h.calls == 1 || ttl <= 0 {
		return false, nil
	}
	return h.Locker.Claim(ctx, name, ttl)
}

// A replica that claimed the link secret and died before storing it does
// not stop every later start: the claim lapses and another generates it.
func TestLinkSecretAfterADeadClaim(t *testing.T) {
	rig := bottest.New(t)
	locker := &heldOnce{Locker: rig.Store}
	s, err := bot.LinkSecret(t.Context(), "", rig.Store, locker)
	if err != nil || len(s) != 32 || locker.calls < 2 {
		t.Fatalf("secret %d bytes, %v, after %d claims", len(s), err, locker.calls)
	}
}
