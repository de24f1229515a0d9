package slack

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	if _, ok, err := ConfigFromEnv(env()); ok || err != nil {
		t.Fatalf("no SLACK_ variables: ok=%v err=%v, want Slack off", ok, err)
	}
	cfg, ok, err := ConfigFromEnv(env("SLACK_BOT_TOKEN", testBotToken, "SLACK_SIGNING_SECRET", testSecret))
	if !ok || err != nil || cfg.APIURL != "" || cfg.withDefaults().APIURL != DefaultAPIURL {
		t.Fatalf("HTTP mode: %+v %v %v", cfg, ok, err)
	}
	if _, ok, err := ConfigFromEnv(env("SLACK_BOT_TOKEN", testBotToken, "SLACK_APP_TOKEN", testAppToken, "SLACK_API_URL", "http://127.0.0.1:9/api/")); !ok || err != nil {
		t.Fatalf("Socket Mode: %v %v", ok, err)
	}
	for _, c := range []struct {
		env  func(string) string
		want string
	}{
		{env("SLACK_SIGNING_SECRET", testSecret), "SLACK_BOT_TOKEN is not set"},
		{env("SLACK_BOT_TOKEN", testBotToken), "set SLACK_SIGNING_SECRET (HTTP mode"},
		{env("SLACK_BOT_TOKEN", "xoxp-user-token", "SLACK_SIGNING_SECRET", "s"), "it starts with xoxb-"},
		{env("SLACK_BOT_TOKEN", testBotToken, "SLACK_APP_TOKEN", "xoxb-wrong"), "it starts with xapp-"},
		{env("SLACK_BOT_TOKEN", testBotToken, "SLACK_SIGNING_SECRET", "s", "SLACK_API_URL", "https://slack.example/api"), `ending with "/"`},
	} {
		_, ok, err := ConfigFromEnv(c.env)
		if ok || err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got ok=%v err=%v, want an error saying %q", ok, err, c.want)
		}
		if err != nil && (strings.Contains(err.Error(), testBotToken) || strings.Contains(err.Error(), testSecret)) {
			t.Errorf("an error shows a secret: %v", err)
		}
	}
	if _, err := New(Deps{}, Config{BotToken: testBotToken}); err == nil {
		t.Error("New accepted a configuration with neither a signing secret nor an app token")
	}
}

// TestSecretsNeverLogged drives the paths that log (refused requests,
// refused tokens, failed deliveries, Socket Mode failures, the
// configuration itself) at debug level and checks no secret reaches the
// logs, while the Web API did receive the token.
func TestSecretsNeverLogged(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config, _ *[]*flows.Definition, _ **flows.Directory) {
		c.AppToken, c.SocketBackoff = testAppToken, 5*time.Millisecond
	})
	log := slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	log.Info("configuration", "slack", h.a.cfg)
	log.Debug(fmt.Sprint(h.a.cfg), "printf", fmt.Sprintf("%v %+v", h.a.cfg, h.a.cfg))

	// Refused requests.
	h.postSigned(PathInteractions, formType, []byte("payload={}"), time.Now().Unix(), "forged")
	h.postSigned(PathCommands, formType, h.commandBody("U0ALICE", "help"), time.Now().Unix()-3600, testSecret)
	// A delivery Slack refuses, through a dispatcher logging to the same place.
	h.api.failNext("chat.postMessage", "invalid_auth", "500", "token_revoked")
	d := bot.NewDispatcher(bot.DispatcherConfig{Consumer: "secrets", Backoff: time.Millisecond, MaxBackoff: time.Millisecond},
		h.rig.Store, []bot.Messenger{h.a.Messenger()}, nil, h.rig.Svc.Handle, log, nil)
	out, err := h.rig.Svc.Handle(t.Context(), flows.Event{Kind: flows.EventStart, Key: "s1", Flow: "purchase", Actor: "alice",
		Data: map[string]string{"item": "Laptop", "amount": "10", "justification": "my old one broke down"}})
	if err != nil || !out.OK {
		t.Fatal(err, out)
	}
	if _, err := d.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Socket Mode whose token is refused, then Run stopped.
	h.api.failNext("apps.connections.open", "invalid_auth", "invalid_auth", "invalid_auth")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- h.a.Run(ctx) }()
	h.api.waitFor("three connection attempts", func(c []apiCall) bool { return count(c, "apps.connections.open") >= 3 })
	cancel()
	<-done
	// A bot token Slack refuses at start-up.
	h.api.failNext("auth.test", "invalid_auth")
	if err := h.a.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "SLACK_BOT_TOKEN is not valid") {
		t.Errorf("Run with a refused token: %v", err)
	} else {
		log.Error("baton stopped", "err", err)
	}

	logs := h.logs.String()
	for _, c := range []string{"slack request refused", "delivery failed", "slack socket mode stopped", "invalid_auth"} {
		if !strings.Contains(logs, c) {
			t.Errorf("the logs lack %q; the test did not reach that path:\n%s", c, logs)
		}
	}
	for name, secret := range map[string]string{"bot token": testBotToken, "signing secret": testSecret, "app token": testAppToken} {
		for _, part := range []string{secret, secret[len(secret)-12:]} {
			if strings.Contains(logs, part) {
				t.Errorf("the %s appears in the logs", name)
			}
		}
	}
	var sawBot, sawApp bool
	for _, c := range h.api.Calls() {
		sawBot = sawBot || c.Token == testBotToken
		sawApp = sawApp || c.Token == testAppToken
	}
	if !sawBot || !sawApp {
		t.Errorf("the Web API never received the tokens (bot %v, app %v): the test proves nothing", sawBot, sawApp)
	}
}
