package bot

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"
)

// Signed links let people outside the chat workspace (external
// participants, flows.ExternalEmail) decide one step of one request from a
// web page. A link's token carries the instance, step, round, the person's
// address, an expiry and a random nonce, signed with HMAC-SHA256 under a
// server secret. It is single-use: the nonce is recorded in Redis when the
// link is used.

// Link errors, for callers to tell people what happened.
var (
	ErrLinkInvalid = errors.New("link is not valid")     // malformed or tampered with
	ErrLinkExpired = errors.New("link has expired")      // past its expiry
	ErrLinkUsed    = errors.New("link was already used") // its nonce is recorded
)

// LinkClaims is what a signed link grants: Email may decide Step (round
// Round) of Instance until Expires, once.
type LinkClaims struct {
	Instance string    `json:"i"`
	Step     string    `json:"s"`
	Round    int       `json:"r"`
	Email    string    `json:"e"`
	Expires  time.Time `json:"x"`
	Issued   time.Time `json:"t,omitzero"` // when signed: a task given to Email after that is not the one this link was for
	Nonce    string    `json:"n"`
}

// LinksConfig tunes signed links. Zero values mean the defaults.
type LinksConfig struct {
	TTL time.Duration // how long a link stays valid (default 7 days)
}

// Links signs and checks external participants' links. It is safe for
// concurrent use.
type Links struct {
	secret []byte
	kv     KV
	locker Locker
	clock  clockwork.Clock
	ttl    time.Duration
}

// NewLinks builds the link signer over a secret (LinkSecret resolves one).
// clock nil means the real clock. It does no I/O.
func NewLinks(secret []byte, kv KV, locker Locker, clock clockwork.Clock, cfg LinksConfig) *Links {
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 7 * 24 * time.Hour
	}
	return &Links{secret: secret, kv: kv, locker: locker, clock: clock, ttl: cfg.TTL}
}

// linkNS is the KV namespace of the generated secret and of used nonces.
const linkNS = "links"

// LinkSecret returns the secret links are signed with: configured (the
// BATON_LINK_SECRET variable) when set, else the one stored in Redis, else a
// new random one that it stores there, so every replica signs alike and
// links survive restarts. Of replicas starting together, one generates it.
func LinkSecret(ctx context.Context, configured string, kv KV) ([]byte, error) {
	if configured != "" {
		if len(configured) < 32 {
			return nil, fmt.Errorf("BATON_LINK_SECRET is too short: use at least 32 random characters (e.g. openssl rand -hex 32)")
		}
		return []byte(configured), nil
	}
	// One set-if-absent decides which replica's secret it is: nothing to
	// claim first, so nothing a replica dying half-way could leave held.
	v, ok, err := kv.GetValue(ctx, linkNS, "secret")
	if err != nil {
		return nil, fmt.Errorf("read the link secret: %w", err)
	}
	if !ok {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		added, err := kv.AddValue(ctx, linkNS, "secret", hex.EncodeToString(b), 0)
		if err != nil {
			return nil, fmt.Errorf("store the link secret: %w", err)
		}
		if added {
			return b, nil
		}
		if v, ok, err = kv.GetValue(ctx, linkNS, "secret"); err != nil || !ok { // another replica's, added just now
			return nil, fmt.Errorf("read the link secret: %v", cmp.Or[error](err, errors.New("it vanished")))
		}
	}
	return hex.DecodeString(v)
}

// TTL is how long new links stay valid.
func (l *Links) TTL() time.Duration { return l.ttl }

// New signs a link for email to decide step (round) of instance.
func (l *Links) New(instance, step string, round int, email string) (token string, expires time.Time) {
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	now := l.clock.Now().UTC()
	c := LinkClaims{Instance: instance, Step: step, Round: round, Email: strings.ToLower(email),
		Expires: now.Add(l.ttl).Truncate(time.Second), Issued: now, Nonce: hex.EncodeToString(nonce)}
	return l.sign(c), c.Expires
}

func (l *Links) sign(c LinkClaims) string {
	payload, _ := json.Marshal(c) // strings, an int and a time: cannot fail
	p := base64.RawURLEncoding.EncodeToString(payload)
	return p + "." + base64.RawURLEncoding.EncodeToString(l.mac(p))
}

func (l *Links) mac(payload string) []byte {
	m := hmac.New(sha256.New, l.secret)
	m.Write([]byte("baton-link-v1."))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// Verify checks a token's signature and expiry and returns its claims. It
// does not check whether it was used (Used, Use) nor whether the step is
// still waiting on the person (the caller asks the Service). Errors:
// ErrLinkInvalid, ErrLinkExpired (the claims are returned with it).
func (l *Links) Verify(token string) (LinkClaims, error) {
	p, sig, ok := strings.Cut(token, ".")
	if !ok || len(token) > 2048 {
		return LinkClaims{}, ErrLinkInvalid
	}
	// Strict: one encoding per token, so no altered spelling of a link passes.
	got, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil || !hmac.Equal(got, l.mac(p)) {
		return LinkClaims{}, ErrLinkInvalid
	}
	payload, err := base64.RawURLEncoding.Strict().DecodeString(p)
	if err != nil {
		return LinkClaims{}, ErrLinkInvalid
	}
	var c LinkClaims
	if err := json.Unmarshal(payload, &c); err != nil || c.Instance == "" || c.Step == "" || c.Email == "" || c.Nonce == "" {
		return LinkClaims{}, ErrLinkInvalid
	}
	if !l.clock.Now().Before(c.Expires) {
		return c, ErrLinkExpired
	}
	return c, nil
}

// Used reports whether the link with these claims was used.
func (l *Links) Used(ctx context.Context, c LinkClaims) (bool, error) {
	_, ok, err := l.kv.GetValue(ctx, linkNS, "used:"+c.Nonce)
	if err != nil {
		return false, fmt.Errorf("check link %s of %s: %w", c.Nonce[:8], c.Instance, err)
	}
	return ok, nil
}

// Use records the link as used, atomically: of several callers (a double
// click, a replay), exactly one succeeds and the others get ErrLinkUsed.
// The record outlives the link's expiry by a day.
func (l *Links) Use(ctx context.Context, c LinkClaims) error {
	keep := c.Expires.Sub(l.clock.Now()) + 24*time.Hour
	won, err := l.locker.Claim(ctx, "link:"+c.Nonce, keep)
	if err != nil {
		return fmt.Errorf("use link of %s: %w", c.Instance, err)
	}
	if !won {
		return ErrLinkUsed
	}
	if err := l.kv.SetValue(ctx, linkNS, "used:"+c.Nonce, l.clock.Now().UTC().Format(time.RFC3339), keep); err != nil {
		return fmt.Errorf("use link of %s: %w", c.Instance, err)
	}
	return nil
}
