package teams

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/infracloudio/msbotbuilder-go/schema"
)

const activityURL = "https://smba.trafficmanager.net/emea/"

func testValidator(t testing.TB, idp *fakeIdP) *validator {
	t.Helper()
	cfg := Config{AppID: testAppID, AppPassword: testSecret, TenantID: testTenant, OpenIDMetadataURL: idp.metadataURL(), Timeout: 5 * time.Second}.withDefaults()
	return newValidator(cfg, slog.New(slog.DiscardHandler))
}

func activityAt(serviceURL string) schema.Activity {
	return schema.Activity{Type: schema.Message, ServiceURL: serviceURL, ChannelID: "msteams"}
}

func authStatus(err error) int {
	var ae *AuthError
	if errors.As(err, &ae) {
		return ae.Status
	}
	if err != nil {
		return -1
	}
	return http.StatusOK
}

// The real validator against a local IdP: each way a token can be wrong is
// refused with 401 (unreadable) or 403 (not for us); clock skew within 5
// minutes is tolerated.
func TestValidator(t *testing.T) {
	t.Parallel()
	now := time.Now()
	with := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := claims(activityURL)
		edit(c)
		return c
	}
	cases := []struct {
		name   string
		header func(idp *fakeIdP) string
		act    schema.Activity
		want   int
	}{
		{"valid", func(idp *fakeIdP) string { return "Bearer " + idp.sign(t, "key-1", claims(activityURL)) }, activityAt(activityURL), http.StatusOK},
		{"audience as a list", func(idp *fakeIdP) string {
			return "Bearer " + idp.sign(t, "key-1", with(func(c jwt.MapClaims) { c["aud"] = []string{"other", testAppID} }))
		}, activityAt(activityURL), http.StatusOK},
		{"expired 2 min ago: within the leeway", func(idp *fakeIdP) string {
			return "Bearer " + idp.sign(t, "key-1", with(func(c jwt.MapClaims) { c["exp"] = now.Add(-2 * time.Minute).Unix() }))
		}, activityAt(activityURL), http.StatusOK},
		{"not valid for 2 more min: within the leeway", func(idp *fakeIdP) string {
			return "Bearer " + idp.sign(t, "key-1", with(func(c jwt.MapClaims) { c["nbf"] = now.Add(2 * time.Minute).Unix() }))
		}, activityAt(activityURL), http.StatusOK},
		{"wrong audience", func(idp *fakeIdP) string {
			return "Bearer " + idp.sign(t, "key-1", with(func(c jwt.MapClaims) { c["aud"] = "11111111-2222-3333-4444-555555555555" }))
		}, activityAt(activityURL), http.StatusForbidden},
		{"wrong issuer", func(idp *fakeIdP) string {
			return "Bearer " + idp.sign(t, "key-1", with(func(c jwt.MapClaims) { c["iss"] = "https://sts.windows.net/d6d49420-f39b-4df7-a1dc-d59a935871db/" }))
		}, activityAt(activityURL), http.StatusForbidden},
		{"expired", func(idp *fakeIdP) string {
			return "Bearer " + idp.sign(t, "key-1", with(func(c jwt.MapClaims) { c["exp"] = now.Add(-10 * time.Minute).Unix() }))
		}, activityAt(activityURL), http.StatusForbidden},
		{"no expiry", func(idp *fakeIdP) string {
			return "Bearer " + idp.sign(t, "key-1", with(func(c jwt.MapClaims) { delete(c, "exp") }))
		}, activityAt(activityURL), http.StatusForbidden},
		{"not yet valid", func(idp *fakeIdP) string {
			return "Bearer " + idp.sign(t, "key-1", with(func(c jwt.MapClaims) { c["nbf"] = now.Add(10 * time.Minute).Unix() }))
		}, activityAt(activityURL), http.StatusForbidden},
		{"serviceurl of another activity", func(idp *fakeIdP) string {
			return "Bearer " + idp.sign(t, "key-1", claims("https://smba.trafficmanager.net/amer/"))
		}, activityAt(activityURL), http.StatusForbidden},
		{"no serviceurl claim", func(idp *fakeIdP) string {
			return "Bearer " + idp.sign(t, "key-1", with(func(c jwt.MapClaims) { delete(c, "serviceurl") }))
		}, activityAt(activityURL), http.StatusForbidden},
		{"serviceurl claim not a string", func(idp *fakeIdP) string {
			return "Bearer " + idp.sign(t, "key-1", with(func(c jwt.MapClaims) { c["serviceurl"] = 42 }))
		}, activityAt(activityURL), http.StatusUnauthorized},
		{"key never published", func(idp *fakeIdP) string { return "Bearer " + idp.sign(t, "key-rogue", claims(activityURL)) }, activityAt(activityURL), http.StatusForbidden},
		{"key not endorsed for the channel", func(idp *fakeIdP) string { return "Bearer " + idp.sign(t, "key-1", claims(activityURL)) },
			schema.Activity{ServiceURL: activityURL, ChannelID: "slack"}, http.StatusForbidden},
		{"signed with HS256 using the app id", func(idp *fakeIdP) string {
			tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(activityURL))
			tok.Header["kid"] = "key-1"
			s, _ := tok.SignedString([]byte(testAppID))
			return "Bearer " + s
		}, activityAt(activityURL), http.StatusForbidden},
		{"unsigned (alg none)", func(idp *fakeIdP) string {
			s, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims(activityURL)).SignedString(jwt.UnsafeAllowNoneSignatureType)
			return "Bearer " + s
		}, activityAt(activityURL), http.StatusForbidden},
		{"missing", func(*fakeIdP) string { return "" }, activityAt(activityURL), http.StatusUnauthorized},
		{"not bearer", func(*fakeIdP) string { return "Basic YWxhZGRpbjpvcGVuc2VzYW1l" }, activityAt(activityURL), http.StatusUnauthorized},
		{"malformed", func(*fakeIdP) string { return "Bearer not.a.jwt" }, activityAt(activityURL), http.StatusUnauthorized},
		{"not a JWT at all", func(*fakeIdP) string { return "Bearer abcdef" }, activityAt(activityURL), http.StatusUnauthorized},
		{"a megabyte of dots", func(*fakeIdP) string { return "Bearer " + strings.Repeat(".", 1<<20) }, activityAt(activityURL), http.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			idp := newIdP(t)
			v := testValidator(t, idp)
			id, err := v.AuthenticateRequest(t.Context(), tc.act, tc.header(idp), nil, "")
			if got := authStatus(err); got != tc.want {
				t.Fatalf("status %d (%v), want %d", got, err, tc.want)
			}
			if err == nil && id.GetClaimValue("serviceurl") != tc.act.ServiceURL {
				t.Errorf("identity serviceurl %q", id.GetClaimValue("serviceurl"))
			}
		})
	}
}

// Only Teams' activities are taken: another channel of the same bot
// registration (Web Chat is on by default; Direct Line lets its client say
// who speaks) is refused, even signed by a key endorsed for it, as is an
// activity naming no channel.
func TestValidatorTeamsOnly(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	idp.endorse = []string{"msteams", "webchat", "directline"}
	v := testValidator(t, idp)
	for _, channel := range []string{"msteams", "webchat", "directline", ""} {
		act := schema.Activity{Type: schema.Message, ServiceURL: activityURL, ChannelID: channel}
		_, err := v.AuthenticateRequest(t.Context(), act, "Bearer "+idp.sign(t, "key-1", claims(activityURL)), nil, "")
		if want := map[bool]int{true: http.StatusOK, false: http.StatusForbidden}[channel == "msteams"]; authStatus(err) != want {
			t.Errorf("channel %q: %d (%v), want %d", channel, authStatus(err), err, want)
		}
	}
}

// Microsoft rotates its keys: a token signed with a key published after
// the validator loaded the set is accepted after one refresh, without
// reloading the metadata.
func TestValidatorKeyRotation(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	v := testValidator(t, idp)
	ctx := t.Context()
	if _, err := v.AuthenticateRequest(ctx, activityAt(activityURL), "Bearer "+idp.sign(t, "key-1", claims(activityURL)), nil, ""); err != nil {
		t.Fatal(err)
	}
	meta, keys := idp.metadataHits.Load(), idp.keysHits.Load()
	idp.publish("key-2")
	if _, err := v.AuthenticateRequest(ctx, activityAt(activityURL), "Bearer "+idp.sign(t, "key-2", claims(activityURL)), nil, ""); err != nil {
		t.Fatalf("token signed with the rotated-in key: %v", err)
	}
	if idp.keysHits.Load() != keys+1 || idp.metadataHits.Load() != meta {
		t.Errorf("key set fetched %d more times, metadata %d more; want 1 and 0", idp.keysHits.Load()-keys, idp.metadataHits.Load()-meta)
	}
	// Known keys are served from the cache: no fetch per request (defect D4).
	for range 5 {
		if _, err := v.AuthenticateRequest(ctx, activityAt(activityURL), "Bearer "+idp.sign(t, "key-1", claims(activityURL)), nil, ""); err != nil {
			t.Fatal(err)
		}
	}
	if idp.keysHits.Load() != keys+1 || idp.metadataHits.Load() != meta {
		t.Error("known keys were fetched again")
	}
}

// An IdP that does not answer is not the caller's fault: 503, so that the
// Bot Connector retries, and the validator recovers once the IdP is back.
func TestValidatorKeysUnavailable(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	v := testValidator(t, idp)
	v.metadataURL = idp.srv.URL + "/nowhere"
	_, err := v.AuthenticateRequest(t.Context(), activityAt(activityURL), "Bearer "+idp.sign(t, "key-1", claims(activityURL)), nil, "")
	if authStatus(err) != http.StatusServiceUnavailable {
		t.Fatalf("status %d (%v), want 503", authStatus(err), err)
	}
	v.mu.Lock()
	v.metadataURL, v.lastFail = idp.metadataURL(), nil
	v.mu.Unlock()
	if _, err := v.AuthenticateRequest(t.Context(), activityAt(activityURL), "Bearer "+idp.sign(t, "key-1", claims(activityURL)), nil, ""); err != nil {
		t.Fatalf("after the IdP is back: %v", err)
	}
}

// Run loads the keys before any request, and stops with its context.
func TestValidatorRun(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	served := make(chan struct{}, 1)
	idp.keysServed = served
	v := testValidator(t, idp)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- v.run(ctx, time.Hour) }()
	<-served
	// A request now waits for Run's load instead of starting its own.
	if _, err := v.keySet(t.Context()); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if idp.metadataHits.Load() != 1 || idp.keysHits.Load() != 1 {
		t.Errorf("metadata fetched %d times, keys %d; want 1 and 1", idp.metadataHits.Load(), idp.keysHits.Load())
	}
}

// Odd claims never panic the validator (defect D7): any JSON object,
// validly signed, is either accepted with exactly the expected claims or
// refused with an AuthError.
func FuzzValidatorClaims(f *testing.F) {
	for _, seed := range []string{
		`{"iss":"https://api.botframework.com","aud":"` + testAppID + `","serviceurl":"` + activityURL + `","exp":4102444800}`,
		`{"aud":["a",1,null],"serviceurl":{"x":1},"exp":"soon"}`,
		`{"serviceurl":null,"exp":1e308,"nbf":-1e308}`,
		`{"iss":7,"aud":{"":""},"exp":4102444800}`,
		`{}`,
	} {
		f.Add([]byte(seed))
	}
	idp := newIdP(f)
	v := testValidator(f, idp)
	key := idp.signing["key-1"]
	f.Fuzz(func(t *testing.T, raw []byte) {
		var c jwt.MapClaims
		if json.Unmarshal(raw, &c) != nil || c == nil {
			return
		}
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
		tok.Header["kid"] = "key-1"
		s, err := tok.SignedString(key)
		if err != nil {
			return
		}
		id, err := v.AuthenticateRequest(t.Context(), activityAt(activityURL), "Bearer "+s, nil, "")
		if err != nil {
			if authStatus(err) < 400 {
				t.Fatalf("error is not an AuthError: %v", err)
			}
			return
		}
		if c["iss"] != testIssuer || id.GetClaimValue("serviceurl") != activityURL || !strings.Contains(id.GetClaimValue("aud"), testAppID) {
			t.Fatalf("accepted claims %s", raw)
		}
	})
}

// Any Authorization header is refused without a panic.
func FuzzValidatorHeader(f *testing.F) {
	f.Add("Bearer a.b.c")
	f.Add("Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6ImtleS0xIn0.e30.c2ln")
	f.Add("Bearer ....")
	f.Add("bearer x")
	idp := newIdP(f)
	v := testValidator(f, idp)
	f.Fuzz(func(t *testing.T, header string) {
		if _, err := v.AuthenticateRequest(t.Context(), activityAt(activityURL), header, nil, ""); authStatus(err) < 400 {
			t.Fatalf("header %q: %v", header, err)
		}
	})
}

// A key the validator never saw is refused after a refresh that finds
// nothing: and the refresh is rate limited, so a flood of made-up key ids
// does not become a flood of key set fetches.
func TestValidatorUnknownKeysRateLimited(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	v := testValidator(t, idp)
	other, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims(activityURL))
		tok.Header["kid"] = "made-up-" + string(rune('a'+i))
		s, _ := tok.SignedString(other)
		if _, err := v.AuthenticateRequest(t.Context(), activityAt(activityURL), "Bearer "+s, nil, ""); authStatus(err) != http.StatusForbidden {
			t.Fatalf("made-up key: %v", err)
		}
	}
	if n := idp.keysHits.Load(); n > 2 {
		t.Errorf("key set fetched %d times for 5 made-up key ids; want at most 2 (load + one refresh)", n)
	}
}
