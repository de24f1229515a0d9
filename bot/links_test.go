package bot_test

import (
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
	a, err := bot.LinkSecret(t.Context(), "", rig.Store)
	if err != nil || len(a) != 32 {
		t.Fatalf("generated: %d bytes, %v", len(a), err)
	}
	b, err := bot.LinkSecret(t.Context(), "", rig.Store)
	if err != nil || string(a) != string(b) {
		t.Errorf("second replica got another secret (%v): links of one would not verify on the other", err)
	}
	c, err := bot.LinkSecret(t.Context(), "configured-secret-0123456789abcdef", rig.Store)
	if err != nil || string(c) != "configured-secret-0123456789abcdef" {
		t.Errorf("configured: %q %v", c, err)
	}
	if _, err := bot.LinkSecret(t.Context(), "short", rig.Store); err == nil || !strings.Contains(err.Error(), "too short") {
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

// A claim to generate the link secret left by an earlier version (one that
// never expires, its replica gone) does not stop a start: the secret is
// added with one set-if-absent, no claim.
func TestLinkSecretAfterADeadClaim(t *testing.T) {
	rig := bottest.New(t)
	if ok, err := rig.Store.Claim(t.Context(), "link-secret", 0); !ok || err != nil {
		t.Fatalf("claim: %v %v", ok, err)
	}
	s, err := bot.LinkSecret(t.Context(), "", rig.Store)
	if err != nil || len(s) != 32 {
		t.Fatalf("secret %d bytes, %v", len(s), err)
	}
}
