package teams

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"github.com/infracloudio/msbotbuilder-go/connector/auth"
	"github.com/infracloudio/msbotbuilder-go/schema"
	"golang.org/x/time/rate"

	"github.com/batonbot/baton/bot"
)

// maxTokenLen bounds the bearer token we are willing to parse: real Bot
// Framework tokens are about 1.5 KiB, and a cap keeps a hostile header from
// costing memory (the CVE-2025-30204 class of bug).
const maxTokenLen = 8 << 10

// AuthError is an inbound request that failed authentication. Nothing of
// it is processed.
type AuthError struct {
	Status int    // 401: no or unreadable token; 403: a token not valid for this bot; 503: keys unavailable
	Reason string // for the log: never contains the token
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("authentication failed (%d): %s", e.Status, e.Reason)
}

func authErr(status int, format string, args ...any) *AuthError {
	return &AuthError{Status: status, Reason: fmt.Sprintf(format, args...)}
}

// botClaims are the claims of a Bot Connector → bot token. Typed fields make
// a claim of an unexpected type a parse error, never a panic (defect D7).
type botClaims struct {
	jwt.RegisteredClaims
	ServiceURL string `json:"serviceurl"`
}

// identity is what a valid token says; it implements the library's
// auth.ClaimsIdentity without its panicking type assertions.
type identity struct{ claims *botClaims }

func (id identity) GetClaimValue(name string) string {
	switch name {
	case "serviceurl":
		return id.claims.ServiceURL
	case "iss":
		return id.claims.Issuer
	case "aud":
		return strings.Join(id.claims.Audience, " ")
	}
	return ""
}

func (id identity) IsAuthenticated() bool { return true }

// keySet is the loaded OpenID configuration: the issuer to accept and the
// signing keys (refreshed by jwkset when a token names an unknown key).
type keySet struct {
	issuer string
	keys   keyfunc.Keyfunc
}

// validator authenticates Bot Connector requests. It replaces the
// library's JwtTokenValidator (defects D3–D11): keys are cached and
// goroutine-safe, an unknown key id triggers a rate-limited refresh, claims
// are typed, and clocks may drift by 5 minutes. It is safe for concurrent use.
type validator struct {
	appID       string
	metadataURL string
	issuer      string // "" = the metadata's
	client      *http.Client
	timeout     time.Duration
	unknownWait time.Duration
	now         func() time.Time
	log         *slog.Logger

	keys        atomic.Pointer[keySet]
	endorsement atomic.Pointer[map[string][]string] // key id -> channels the key may sign for

	mu         sync.Mutex // one load at a time
	lastFailAt time.Time  // under mu: a failed load is not retried by requests for a few seconds
	lastFail   error
}

var _ auth.TokenValidator = (*validator)(nil)

func newValidator(cfg Config, log *slog.Logger) *validator {
	return &validator{appID: cfg.AppID, metadataURL: cfg.OpenIDMetadataURL, issuer: cfg.Issuer, client: cfg.HTTPClient,
		timeout: cfg.Timeout, unknownWait: cfg.UnknownKeyWait, now: time.Now, log: log}
}

// teamsChannel is the channel id of Teams' activities.
const teamsChannel = "msteams"

// AuthenticateRequest checks the Authorization header of an activity's
// request: a bearer JWT signed by a current Bot Framework key, issued by the
// expected issuer for this bot (audience = app id), unexpired (5 minutes of
// leeway), whose serviceurl claim is the activity's serviceUrl, for an
// activity of Teams' channel, and whose key is endorsed for it when the key
// lists endorsements.
// Errors are *AuthError. It implements auth.TokenValidator so that the
// library's BotFrameworkAdapter.ParseRequest runs it.
func (v *validator) AuthenticateRequest(ctx context.Context, act schema.Activity, header string, _ auth.CredentialProvider, _ string) (auth.ClaimsIdentity, error) {
	claims, kid, err := v.token(ctx, header)
	if err != nil {
		return nil, err
	}
	if claims.ServiceURL == "" || claims.ServiceURL != act.ServiceURL {
		return nil, authErr(http.StatusForbidden, "the token's serviceurl claim %q is not the activity's serviceUrl %q", claims.ServiceURL, act.ServiceURL)
	}
	// Only Teams: a bot registration may have other channels on (Web Chat
	// is by default; Direct Line lets its client say who is speaking), whose
	// activities name a Teams user as easily and carry a valid token.
	if act.ChannelID != teamsChannel {
		return nil, authErr(http.StatusForbidden, "the activity's channel %q is not Teams (%s)", act.ChannelID, teamsChannel)
	}
	if m := v.endorsement.Load(); m != nil {
		if channels := (*m)[kid]; len(channels) > 0 && !slices.Contains(channels, act.ChannelID) {
			return nil, authErr(http.StatusForbidden, "signing key %q is not endorsed for channel %q", kid, act.ChannelID)
		}
	}
	return identity{claims}, nil
}

// token checks what the Authorization header proves without the activity:
// a bearer JWT signed by a current Bot Framework key, for this bot, by the
// expected issuer, unexpired. It returns its claims and its key's id.
// Errors are *AuthError.
func (v *validator) token(ctx context.Context, header string) (*botClaims, string, error) {
	raw, ok := strings.CutPrefix(strings.TrimSpace(header), "Bearer ")
	raw = strings.TrimSpace(raw)
	switch {
	case !ok || raw == "":
		return nil, "", authErr(http.StatusUnauthorized, "no bearer token")
	case len(raw) > maxTokenLen:
		return nil, "", authErr(http.StatusUnauthorized, "bearer token of %d bytes is too long", len(raw))
	case strings.Count(raw, ".") != 2:
		return nil, "", authErr(http.StatusUnauthorized, "bearer token is not a JWT")
	}
	ks, err := v.keySet(ctx)
	if err != nil {
		return nil, "", &AuthError{Status: http.StatusServiceUnavailable, Reason: err.Error()}
	}
	claims := &botClaims{}
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(ks.issuer), jwt.WithAudience(v.appID),
		jwt.WithLeeway(5*time.Minute), jwt.WithExpirationRequired(), jwt.WithTimeFunc(v.now))
	tok, err := parser.ParseWithClaims(raw, claims, ks.keys.KeyfuncCtx(ctx))
	if err != nil {
		if errors.Is(err, jwt.ErrTokenMalformed) {
			return nil, "", authErr(http.StatusUnauthorized, "malformed token: %v", err)
		}
		return nil, "", authErr(http.StatusForbidden, "invalid token: %v", err)
	}
	kid, _ := tok.Header["kid"].(string)
	return claims, kid, nil
}

// keySet returns the loaded keys, loading them on first use (a request may
// arrive before Run has loaded them).
func (v *validator) keySet(ctx context.Context) (*keySet, error) {
	if ks := v.keys.Load(); ks != nil {
		return ks, nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if ks := v.keys.Load(); ks != nil {
		return ks, nil
	}
	if v.lastFail != nil && v.now().Sub(v.lastFailAt) < 5*time.Second {
		return nil, v.lastFail // do not let a burst of requests hammer a failing endpoint
	}
	ks, err := v.load(ctx)
	if err != nil {
		v.lastFail, v.lastFailAt = err, v.now()
		return nil, err
	}
	v.lastFail = nil
	v.keys.Store(ks)
	return ks, nil
}

// reload replaces the keys (and the metadata) with fresh ones, keeping the
// old ones when that fails.
func (v *validator) reload(ctx context.Context) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	ks, err := v.load(ctx)
	if err != nil {
		return err
	}
	v.keys.Store(ks)
	return nil
}

// openIDConfig is the part of the OpenID metadata we use.
type openIDConfig struct {
	Issuer  string `json:"issuer"`
	JWKSURI string `json:"jwks_uri"`
}

// load fetches the OpenID metadata, then the key set it points to.
func (v *validator) load(ctx context.Context) (*keySet, error) {
	ctx, cancel := context.WithTimeout(ctx, v.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.metadataURL, nil)
	if err != nil {
		return nil, fmt.Errorf("load Bot Framework OpenID metadata: %w", err)
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("load Bot Framework OpenID metadata from %s: %w", v.metadataURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("load Bot Framework OpenID metadata from %s: HTTP %d; check TEAMS_OPENID_METADATA_URL", v.metadataURL, resp.StatusCode)
	}
	var meta openIDConfig
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&meta); err != nil {
		return nil, fmt.Errorf("load Bot Framework OpenID metadata from %s: %w", v.metadataURL, err)
	}
	issuer := v.issuer
	if issuer == "" {
		issuer = meta.Issuer
	}
	if meta.JWKSURI == "" || issuer == "" {
		return nil, fmt.Errorf("Bot Framework OpenID metadata from %s names no jwks_uri or issuer", v.metadataURL)
	}
	// The keys are fetched through a tap that keeps each key's endorsements
	// (the channels it may sign for), which jwkset does not keep.
	tapped := &http.Client{Timeout: v.timeout, Transport: endorsementTap{base: transport(v.client), v: v}}
	store, err := jwkset.NewStorageFromHTTP(meta.JWKSURI, jwkset.HTTPClientStorageOptions{
		Client: tapped, Ctx: ctx, HTTPTimeout: v.timeout,
		RefreshErrorHandler: func(ctx context.Context, err error) {
			v.log.WarnContext(ctx, "teams: refresh signing keys", "platform", "teams", "url", meta.JWKSURI, "err", err)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("load Bot Framework signing keys: %w", err)
	}
	// RateLimitWaitMax is short so a burst of tokens with made-up key ids
	// fails fast instead of holding requests while the limiter recovers.
	keys, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		HTTPURLs:          map[string]jwkset.Storage{meta.JWKSURI: store},
		RefreshUnknownKID: rate.NewLimiter(rate.Every(v.unknownWait), 1),
		RateLimitWaitMax:  2 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("load Bot Framework signing keys: %w", err)
	}
	kf, err := keyfunc.New(keyfunc.Options{Storage: keys})
	if err != nil {
		return nil, fmt.Errorf("load Bot Framework signing keys: %w", err)
	}
	return &keySet{issuer: issuer, keys: kf}, nil
}

// run loads the keys (retrying until it can), then reloads them every
// refresh so that a moved jwks_uri or revoked key is noticed even without
// an unknown key id.
func (v *validator) run(ctx context.Context, refresh time.Duration) error {
	for wait := time.Second; ; wait = min(2*wait, time.Minute) {
		_, err := v.keySet(ctx)
		if err == nil {
			break
		}
		v.log.WarnContext(ctx, "teams: cannot load signing keys yet; inbound requests get 503 until it works", "platform", "teams", "err", err, "retry_in", wait)
		if bot.Sleep(ctx, wait) != nil {
			return nil
		}
	}
	t := time.NewTicker(refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := v.reload(ctx); err != nil && ctx.Err() == nil {
				v.log.WarnContext(ctx, "teams: reload signing keys; keeping the current ones", "platform", "teams", "err", err)
			}
		}
	}
}

func transport(c *http.Client) http.RoundTripper {
	if c != nil && c.Transport != nil {
		return c.Transport
	}
	return http.DefaultTransport
}

// endorsementTap reads the endorsements of each key in a JWKS response as
// it passes, and hands the body on unchanged.
type endorsementTap struct {
	base http.RoundTripper
	v    *validator
}

func (t endorsementTap) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read signing keys: %w", err)
	}
	var set struct {
		Keys []struct {
			KID          string   `json:"kid"`
			Endorsements []string `json:"endorsements"`
		} `json:"keys"`
	}
	if json.Unmarshal(body, &set) == nil {
		m := map[string][]string{}
		for _, k := range set.Keys {
			m[k.KID] = k.Endorsements
		}
		t.v.endorsement.Store(&m)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, nil
}
