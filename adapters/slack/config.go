package slack

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// DefaultAPIURL is the Slack Web API.
const DefaultAPIURL = "https://slack.com/api/"

// Config configures the adapter. Zero values mean the documented defaults.
type Config struct {
	BotToken      string // SLACK_BOT_TOKEN (xoxb-…): every Web API call
	SigningSecret string // SLACK_SIGNING_SECRET: HTTP mode (requests are verified with it)
	AppToken      string // SLACK_APP_TOKEN (xapp-…, connections:write): Socket Mode
	APIURL        string // SLACK_API_URL: Web API base URL ending in "/" (default https://slack.com/api/)

	HTTPTimeout   time.Duration // one Web API call (default 10 s)
	PostInterval  time.Duration // chat.postMessage pace per channel (default 1 s: Slack's "about one per second")
	PostBurst     int           // messages a channel may take at once before pacing starts (default 3)
	HomeInterval  time.Duration // pace of views.publish across users (default 700 ms, under Tier 4's 100/min)
	HomeDelay     time.Duration // wait before refreshing a Home tab, so a burst of changes is one publish (default 2 s)
	SocketBackoff time.Duration // first Socket Mode reconnect delay, doubled up to 1 min (default 1 s)
	MaxBody       int64         // largest request body accepted (default 1 MiB)
	MaxCalls      int           // delivery calls to the Web API in flight at once (default 8)
}

// ConfigFromEnv reads the SLACK_* variables. ok is false when Slack is not
// configured (no SLACK_BOT_TOKEN and no other SLACK_ setting); a partial or
// malformed configuration is an error saying what to set.
func ConfigFromEnv(getenv func(string) string) (cfg Config, ok bool, err error) {
	cfg = Config{
		BotToken:      strings.TrimSpace(getenv("SLACK_BOT_TOKEN")),
		SigningSecret: strings.TrimSpace(getenv("SLACK_SIGNING_SECRET")),
		AppToken:      strings.TrimSpace(getenv("SLACK_APP_TOKEN")),
		APIURL:        strings.TrimSpace(getenv("SLACK_API_URL")),
	}
	if cfg.BotToken == "" && cfg.SigningSecret == "" && cfg.AppToken == "" {
		return Config{}, false, nil
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, false, err
	}
	return cfg, true, nil
}

// Validate checks the configuration; the error says what to fix.
func (c Config) Validate() error {
	var errs []error
	switch {
	case c.BotToken == "":
		errs = append(errs, errors.New("SLACK_BOT_TOKEN is not set: copy the Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions page"))
	case !strings.HasPrefix(c.BotToken, "xoxb-"):
		errs = append(errs, errors.New("SLACK_BOT_TOKEN must be the Bot User OAuth Token (it starts with xoxb-)"))
	}
	if c.SigningSecret == "" && c.AppToken == "" {
		errs = append(errs, errors.New("set SLACK_SIGNING_SECRET (HTTP mode: Basic Information → Signing Secret) or SLACK_APP_TOKEN (Socket Mode: an xapp- token with connections:write)"))
	}
	if c.AppToken != "" && !strings.HasPrefix(c.AppToken, "xapp-") {
		errs = append(errs, errors.New("SLACK_APP_TOKEN must be an app-level token (it starts with xapp-)"))
	}
	if c.APIURL != "" && (!strings.HasSuffix(c.APIURL, "/") || !strings.HasPrefix(c.APIURL, "http://") && !strings.HasPrefix(c.APIURL, "https://")) {
		errs = append(errs, fmt.Errorf("SLACK_API_URL %q must be an http(s) URL ending with \"/\", e.g. https://slack.com/api/", c.APIURL))
	}
	return errors.Join(errs...)
}

// withDefaults resolves zero values.
func (c Config) withDefaults() Config {
	c.APIURL = cmp.Or(c.APIURL, DefaultAPIURL)
	c.HTTPTimeout = cmp.Or(c.HTTPTimeout, 10*time.Second)
	c.PostInterval = cmp.Or(c.PostInterval, time.Second)
	c.PostBurst = cmp.Or(c.PostBurst, 3)
	c.HomeInterval = cmp.Or(c.HomeInterval, 700*time.Millisecond)
	c.HomeDelay = cmp.Or(c.HomeDelay, 2*time.Second)
	c.SocketBackoff = cmp.Or(c.SocketBackoff, time.Second)
	c.MaxBody = cmp.Or(c.MaxBody, 1<<20)
	c.MaxCalls = cmp.Or(c.MaxCalls, 8)
	return c
}

// LogValue keeps secrets out of logs: only whether each is set is shown.
func (c Config) LogValue() slog.Value {
	set := func(s string) string {
		if s == "" {
			return "unset"
		}
		return "set"
	}
	return slog.GroupValue(
		slog.String("bot_token", set(c.BotToken)),
		slog.String("signing_secret", set(c.SigningSecret)),
		slog.String("app_token", set(c.AppToken)),
		slog.String("api_url", cmp.Or(c.APIURL, DefaultAPIURL)),
	)
}

// String is LogValue for fmt: secrets are never printed.
func (c Config) String() string { return c.LogValue().String() }
