package teams

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/batonbot/baton/bot"
)

func testActivity() *outActivity {
	return cardActivity(newCard([]any{rich(textRun("hello", runStyle{}))}, nil), "hello")
}

// 429 with Retry-After is waited out (here: recorded, not slept) and the
// message goes through; the connector's pace is honoured, not guessed.
func TestConnectorRetriesHonourRetryAfter(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	calls := 0
	w.conn.fail = func(r *http.Request) (int, string) {
		calls++
		switch calls {
		case 1:
			return http.StatusTooManyRequests, "2"
		case 2:
			return http.StatusBadGateway, ""
		}
		return 0, ""
	}
	id, err := w.a.conn.send(t.Context(), w.conn.serviceURL(), chat("bob"), testActivity())
	if err != nil || id == "" {
		t.Fatalf("send: %q %v", id, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.waits) != 2 || w.waits[0] != 2*time.Second || w.waits[1] <= 0 || w.waits[1] > time.Second {
		t.Fatalf("waits %v, want [2s, a backoff under 1s]", w.waits)
	}
}

// A Retry-After longer than the adapter waits in place goes back to the
// dispatcher as a *bot.RetryAfterError, without waiting here.
func TestConnectorLongRetryAfterGoesToTheDispatcher(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.conn.fail = func(r *http.Request) (int, string) { return http.StatusTooManyRequests, "120" }
	_, err := w.a.conn.send(t.Context(), w.conn.serviceURL(), chat("bob"), testActivity())
	var ra *bot.RetryAfterError
	if !errors.As(err, &ra) || ra.After != 2*time.Minute {
		t.Fatalf("err %v, want a RetryAfterError of 2m", err)
	}
	if len(w.waits) != 0 {
		t.Errorf("waited %v in place", w.waits)
	}
}

// 412/502/504 are retried; what still fails is an ordinary (retryable)
// error for the dispatcher. Other 4xx are permanent at once.
func TestConnectorErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status    int
		calls     int
		permanent bool
	}{
		{http.StatusPreconditionFailed, 3, false},
		{http.StatusGatewayTimeout, 3, false},
		{http.StatusInternalServerError, 1, false},
		{http.StatusNotFound, 1, true},
		{http.StatusForbidden, 1, true},
		{http.StatusBadRequest, 1, true},
	} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			calls := 0
			w.conn.fail = func(r *http.Request) (int, string) { calls++; return tc.status, "" }
			_, err := w.a.conn.send(t.Context(), w.conn.serviceURL(), chat("bob"), testActivity())
			var apiErr *APIError
			if !errors.As(err, &apiErr) || apiErr.Status != tc.status || apiErr.Code != "Throttled" {
				t.Fatalf("err %v, want the connector's answer", err)
			}
			if calls != tc.calls || bot.IsPermanent(err) != tc.permanent {
				t.Fatalf("%d calls, permanent %v; want %d, %v", calls, bot.IsPermanent(err), tc.calls, tc.permanent)
			}
		})
	}
}

// Refused credentials are permanent, say what to check, and send nothing
// with an empty token (defect D13).
func TestConnectorBadCredentials(t *testing.T) {
	t.Parallel()
	w := newWorld(t, func(c *Config) { c.AppPassword = "wrong" })
	_, err := w.a.conn.send(t.Context(), w.conn.serviceURL(), chat("bob"), testActivity())
	if !bot.IsPermanent(err) || !strings.Contains(err.Error(), "MicrosoftAppPassword") || !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Fatalf("err %v", err)
	}
	if n := w.conn.count(); n != 0 {
		t.Errorf("%d calls reached the connector", n)
	}
}

// An unreachable token endpoint is an error to retry, not a panic (D12).
func TestConnectorTokenEndpointDown(t *testing.T) {
	t.Parallel()
	w := newWorld(t, func(c *Config) { c.TokenURL = "http://127.0.0.1:1/token" })
	_, err := w.a.conn.send(t.Context(), w.conn.serviceURL(), chat("bob"), testActivity())
	if err == nil || bot.IsPermanent(err) {
		t.Fatalf("err %v, want a retryable error", err)
	}
}

// Cold, concurrent sends share one token request (no stampede, no race: D14).
func TestConnectorTokenSharedAcrossGoroutines(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			_, err := w.a.conn.send(t.Context(), w.conn.serviceURL(), chat("bob"), testActivity())
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := w.tok.hits.Load(); n != 1 {
		t.Errorf("%d token requests for 32 concurrent sends, want 1", n)
	}
}

// The bearer token is only sent to https service URLs (or this machine's).
func TestConnectorRefusesPlainHTTP(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	_, err := w.a.conn.send(t.Context(), "http://smba.example.com/emea/", chat("bob"), testActivity())
	if !bot.IsPermanent(err) || w.tok.hits.Load() != 0 {
		t.Fatalf("err %v, %d token requests", err, w.tok.hits.Load())
	}
}

// Pacing follows Teams' per-conversation limits: a burst, then one send per
// two seconds; conversations are paced apart, a channel and its threads
// together; idle ones are forgotten.
func TestPacer(t *testing.T) {
	t.Parallel()
	p := newPacer(0.5, 6, rate.Inf)
	t0 := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	for i := range 6 {
		if d := p.delay("a", t0); d != 0 {
			t.Fatalf("send %d of the burst waits %v", i+1, d)
		}
	}
	if d := p.delay("a", t0); d != 2*time.Second {
		t.Fatalf("7th send waits %v, want 2s", d)
	}
	if d := p.delay("b", t0); d != 0 {
		t.Fatalf("another conversation waits %v", d)
	}
	if d := p.delay("a;messageid=1764147600123", t0); d != 4*time.Second {
		t.Fatalf("a send in a thread of channel a waits %v, want 4s (a channel's threads share its pace)", d)
	}
	if d := p.delay("a", t0.Add(10*time.Second)); d != 0 {
		t.Fatalf("after a pause the send waits %v", d)
	}
	g := newPacer(rate.Inf, 1, 2)
	g.delay("x", t0)
	g.delay("y", t0)
	if d := g.delay("z", t0); d != 500*time.Millisecond {
		t.Fatalf("the overall pace gives %v, want 500ms", d)
	}
}

func TestTokenURLDefaults(t *testing.T) {
	t.Parallel()
	single := Config{AppID: testAppID, AppPassword: "x", TenantID: testTenant}.withDefaults()
	if single.AppType != SingleTenant || single.TokenURL != "https://login.microsoftonline.com/"+testTenant+"/oauth2/v2.0/token" {
		t.Errorf("single-tenant: %s %s", single.AppType, single.TokenURL)
	}
	multi := Config{AppID: testAppID, AppPassword: "x", AppType: MultiTenant}.withDefaults()
	if multi.TokenURL != "https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token" {
		t.Errorf("multi-tenant: %s", multi.TokenURL)
	}
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	if _, ok, err := LoadConfig(env()); ok || err != nil {
		t.Errorf("unset: ok %v err %v", ok, err)
	}
	cfg, ok, err := LoadConfig(env("MicrosoftAppId", testAppID, "MicrosoftAppPassword", testSecret, "MicrosoftAppTenantId", testTenant,
		"MicrosoftAppType", "SingleTenant", "TEAMS_OPENID_METADATA_URL", "https://login.botframework.azure.us/v1/.well-known/openidconfiguration",
		"TEAMS_TOKEN_URL", "https://login.microsoftonline.us/"+testTenant+"/oauth2/v2.0/token"))
	if !ok || err != nil || cfg.TenantID != testTenant || !strings.Contains(cfg.OpenIDMetadataURL, "azure.us") || !strings.Contains(cfg.TokenURL, ".us/") {
		t.Errorf("full: %v %v %+v", ok, err, cfg)
	}
	if _, ok, err := LoadConfig(env("MicrosoftAppId", testAppID, "MicrosoftAppPassword", testSecret, "MicrosoftAppType", "MultiTenant")); !ok || err != nil {
		t.Errorf("a legacy multi-tenant bot: %v %v", ok, err)
	}
	for _, tc := range []struct {
		env  func(string) string
		want string
	}{
		{env("MicrosoftAppId", testAppID), "MicrosoftAppPassword is not set"},
		{env("MicrosoftAppPassword", testSecret), "MicrosoftAppId is not set"},
		{env("MicrosoftAppId", testAppID, "MicrosoftAppPassword", testSecret, "MicrosoftAppType", "SingleTenant"), "MicrosoftAppTenantId is not set"},
		{env("MicrosoftAppId", testAppID, "MicrosoftAppPassword", testSecret, "MicrosoftAppType", "Sometimes"), "use SingleTenant or MultiTenant"},
		// No tenant and no type: not silently a multi-tenant bot.
		{env("MicrosoftAppId", testAppID, "MicrosoftAppPassword", testSecret), "MicrosoftAppTenantId is not set: set it to the bot's Directory (tenant) ID"},
		{env("MicrosoftAppId", testAppID, "MicrosoftAppPassword", testSecret, "MicrosoftAppTenantId", "contoso.onmicrosoft.com"), "use the Directory (tenant) ID, a GUID"},
		{env("MicrosoftAppId", testAppID, "MicrosoftAppPassword", testSecret, "TEAMS_TOKEN_URL", "login/token"), "TEAMS_TOKEN_URL"},
	} {
		if _, _, err := LoadConfig(tc.env); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err %v, want %q", err, tc.want)
		}
	}
}
