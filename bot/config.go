package bot

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/batonbot/baton/flows"
)

// Config is Baton's configuration: environment variables, which flags may
// override.
type Config struct {
	RedisURL      string        // BATON_REDIS_URL; empty: the embedded store
	HTTPAddr      string        // BATON_HTTP_ADDR, default :8080
	FlowsDir      string        // BATON_FLOWS_DIR; empty: the built-in example flows
	Directory     string        // BATON_DIRECTORY; empty: the demo directory
	Admins        []string      // BATON_ADMINS, comma-separated person ids
	LogLevel      slog.Level    // BATON_LOG_LEVEL: debug, info, warn, error
	LogFormat     string        // BATON_LOG_FORMAT: text or json
	Console       string        // BATON_CONSOLE: auto, local, open or off
	TimerInterval time.Duration // BATON_TIMER_INTERVAL, default 1s
	TimerLease    time.Duration // BATON_TIMER_LEASE, default 1m
	Reclaim       time.Duration // BATON_OUTBOX_RECLAIM, default 5m
	Secrets       map[string]string
	Webhooks      []flows.Hook  // BATON_WEBHOOK_URLS with BATON_WEBHOOK_EVENTS: global event subscribers
	HookRetryFor  time.Duration // BATON_WEBHOOK_RETRY_FOR, default 24h: how long an event is tried again
	DigestAt      DigestAt      // BATON_DIGEST_AT (formerly SLACK_DIGEST_AT), default 09:00
}

// Secret environment variables: BATON_SECRET_<NAME> for webhook steps.
const secretPrefix = "BATON_SECRET_"

// ConfigHelp documents the configuration for --help.
const ConfigHelp = `Configuration (environment variables; the flags above override them):
  BATON_REDIS_URL       Redis: redis://host:6379/0, rediss://… (TLS),
                        redis-cluster://host:7000?addr=host2:7001,
                        redis-sentinel://host:26379?master_name=mymaster.
                        Empty: an embedded in-process store whose state is lost on exit.
  BATON_HTTP_ADDR       listen address (default :8080)
  BATON_FLOWS_DIR       directory of flow definitions (*.yaml, *.yml); empty: the built-in examples
  BATON_DIRECTORY       people directory file (YAML); empty: the built-in demo directory
  BATON_ADMINS          comma-separated person ids who may act on any task, cancel and skip
  BATON_LOG_LEVEL       debug, info (default), warn or error
  BATON_LOG_FORMAT      text (default) or json
  BATON_CONSOLE         the web console: auto (default: on, for local clients only, with no chat
                        platform and no BATON_REDIS_URL), local, open (any client: demo only) or off
  BATON_TIMER_INTERVAL  how often due reminders and escalations are looked for (default 1s, at most 1m)
  BATON_TIMER_LEASE     how long a replica holds the timers of a request it claimed before another may fire them (default 1m)
  BATON_OUTBOX_RECLAIM  how long an undelivered outbox entry of a stopped replica waits before
                        another replica takes it over (default 5m)
  BATON_SECRET_<NAME>   HMAC secret a webhook step or a flow's webhooks: entry names with
                        "secret: <name>" (default name: webhook, i.e. BATON_SECRET_WEBHOOK); also
                        the secret a flow's "inbound: {secret: <name>}" checks on
                        POST /hooks/flows/<flow> (e.g. crm_hook: BATON_SECRET_CRM_HOOK)
  BATON_WEBHOOK_URLS    comma-separated URLs that receive every flow's events (started, assigned,
                        decided, reminded, escalated, completed, cancelled, ...) as signed JSON
                        POSTs; signed with BATON_SECRET_WEBHOOK, which must then be set
  BATON_WEBHOOK_EVENTS  comma-separated event types those URLs receive (default: all; only with the URLs)
  BATON_WEBHOOK_RETRY_FOR  how long an event a subscriber (BATON_WEBHOOK_URLS or a flow's webhooks:)
                        did not accept is tried again, from when it was queued, waiting up to 5 minutes
                        between tries, the request's later events to it waiting behind it; then it
                        is a dead letter (baton dead). Default 24h, from 1m to 30d
  BATON_DIGEST_AT       local time of each person's daily digest of what waits on them, sent on
                        working days in their own timezone on every platform that reaches them:
                        HH:MM (default 09:00), or off (SLACK_DIGEST_AT, its former name, is read too)
  BATON_PUBLIC_URL      where people reach Baton, for links in mail, and the name an open console
                        answers as (default http://localhost:PORT)
  BATON_SMTP_URL        mail to external participants (email: assignees):
                        smtp://user:pass@host:587?from=baton@example.com (STARTTLS, required off this
                        machine unless &starttls=optional) or smtps://…:465.
                        Empty: mail is kept in memory and shown by the console (/console/mail) when it is on
  BATON_LINK_SECRET     HMAC key of the signed approval links mailed to external participants
                        (at least 32 random characters); empty: one is generated and kept in Redis
  BATON_LINK_TTL        how long an approval link stays valid (default 168h); each works once
  BATON_DASHBOARD_TOKEN token admins (BATON_ADMINS) sign in to /dashboard with, at least 32
                        characters (an API token of scope admin works too); in local console
                        mode the dashboard is open to this machine without sign-in

REST API: /api/v1 (described at /api/v1/openapi.json), with bearer tokens made by
  baton token create --name NAME --scope read|start|admin (tokens are kept in Redis).

Slack (on when SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET or SLACK_APP_TOKEN are set):
  SLACK_BOT_TOKEN       the Bot User OAuth Token, xoxb-…
  SLACK_SIGNING_SECRET  HTTP mode: verifies every request to /slack/commands, /slack/interactions
                        and /slack/events
  SLACK_APP_TOKEN       Socket Mode (no public URL needed): an app-level token, xapp-…
  SLACK_API_URL         Web API base URL (default https://slack.com/api/), for proxies and tests

Microsoft Teams (on when MicrosoftAppId and MicrosoftAppPassword are set; endpoint /api/messages):
  MicrosoftAppId        the bot's Microsoft App ID
  MicrosoftAppPassword  its client secret
  MicrosoftAppTenantId  the bot's tenant (Directory ID); required unless MultiTenant
  MicrosoftAppType      SingleTenant (default with a tenant id) or MultiTenant
  TEAMS_OPENID_METADATA_URL  where inbound tokens' keys are published (sovereign clouds, tests)
  TEAMS_TOKEN_URL       where Baton gets its own tokens (sovereign clouds, tests)
`

// LoadConfig reads the configuration from getenv and args (flags win). Any
// bad value is an error that says how to fix it; fs output goes to out.
func LoadConfig(args []string, getenv func(string) string, environ []string, out io.Writer) (Config, error) {
	c := Config{Secrets: map[string]string{}}
	fs := flag.NewFlagSet("baton", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: baton [flags]                 run Baton (HTTP server, timers, delivery)\n")
		fmt.Fprintf(out, "       baton validate [-directory FILE] PATH...\n")
		fmt.Fprintf(out, "                                      check flow definitions (files or directories), and the people they name against a people\n")
		fmt.Fprintf(out, "                                      directory; or a people directory file; exit 1 on any error\n")
		fmt.Fprintf(out, "       baton graph [-flows DIR] FLOW  print a flow (an id, or a file's path) as a Mermaid flowchart\n")
		fmt.Fprintf(out, "       baton audit [-json] [-redis-url URL] ID\n")
		fmt.Fprintf(out, "                                      print (or export as JSON lines) an instance's audit trail and verify its hash chain\n")
		fmt.Fprintf(out, "       baton dead [retry|drop] [-all | REF...]\n")
		fmt.Fprintf(out, "                                      list the deliveries given up on, send them again or delete them\n")
		fmt.Fprintf(out, "       baton doctor [flags]           check configuration, Redis, flows, directory, Slack auth.test, Teams token and mail relay; exit 1 on any failure\n")
		fmt.Fprintf(out, "       baton token create --name NAME --scope read|start|admin [--person ID]\n")
		fmt.Fprintf(out, "                                      create a REST API token (printed once, on the last line); also: token list, token revoke NAME\n")
		fmt.Fprintf(out, "       baton teams-package [-o FILE]  build the Teams app package (manifest and icons) to upload\n")
		fmt.Fprintf(out, "       baton healthcheck              exit 0 if the Baton on this machine answers /healthz (for containers)\n")
		fmt.Fprintf(out, "       baton version                  print the build: version, commit and Go version\n\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprintf(out, "\n%s", ConfigHelp)
	}
	// Not defaulted to BATON_REDIS_URL, which the usage would print (the URL
	// may hold a password): that is read after parsing.
	fs.StringVar(&c.RedisURL, "redis-url", "", "Redis URL (default BATON_REDIS_URL)")
	fs.StringVar(&c.HTTPAddr, "http-addr", cmp.Or(getenv("BATON_HTTP_ADDR"), ":8080"), "listen address (BATON_HTTP_ADDR)")
	fs.StringVar(&c.FlowsDir, "flows", getenv("BATON_FLOWS_DIR"), "flow definitions directory (BATON_FLOWS_DIR)")
	fs.StringVar(&c.Directory, "directory", getenv("BATON_DIRECTORY"), "people directory file (BATON_DIRECTORY)")
	admins := fs.String("admins", getenv("BATON_ADMINS"), "comma-separated admin person ids (BATON_ADMINS)")
	level := fs.String("log-level", cmp.Or(getenv("BATON_LOG_LEVEL"), "info"), "debug, info, warn or error (BATON_LOG_LEVEL)")
	fs.StringVar(&c.LogFormat, "log-format", cmp.Or(getenv("BATON_LOG_FORMAT"), "text"), "text or json (BATON_LOG_FORMAT)")
	fs.StringVar(&c.Console, "console", cmp.Or(getenv("BATON_CONSOLE"), "auto"), "web console: auto, local, open or off (BATON_CONSOLE)")
	interval := fs.String("timer-interval", cmp.Or(getenv("BATON_TIMER_INTERVAL"), "1s"), "timer poll interval (BATON_TIMER_INTERVAL)")
	lease := fs.String("timer-lease", cmp.Or(getenv("BATON_TIMER_LEASE"), "1m"), "timer claim lease (BATON_TIMER_LEASE)")
	reclaim := fs.String("outbox-reclaim", cmp.Or(getenv("BATON_OUTBOX_RECLAIM"), "5m"), "idle time before another replica's outbox entries are taken over (BATON_OUTBOX_RECLAIM)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.RedisURL = cmp.Or(c.RedisURL, getenv("BATON_REDIS_URL"))
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q; see baton --help", fs.Arg(0))
	}
	for _, a := range strings.Split(*admins, ",") {
		if a = strings.TrimSpace(a); a != "" {
			c.Admins = append(c.Admins, a)
		}
	}
	if err := c.LogLevel.UnmarshalText([]byte(*level)); err != nil {
		return c, fmt.Errorf("BATON_LOG_LEVEL (-log-level) %q: use debug, info, warn or error", *level)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return c, fmt.Errorf("BATON_LOG_FORMAT (-log-format) %q: use text or json", c.LogFormat)
	}
	switch c.Console {
	case "auto", "local", "open", "off":
	default:
		return c, fmt.Errorf("BATON_CONSOLE (-console) %q: use auto, local, open or off", c.Console)
	}
	if _, port, err := net.SplitHostPort(c.HTTPAddr); err != nil || !validPort(port) {
		return c, fmt.Errorf("BATON_HTTP_ADDR (-http-addr) %q: write host:port or :port, e.g. :8080", c.HTTPAddr)
	}
	// Due work waits up to an interval: more than a minute would make
	// reminders and escalations late by that much.
	d, err := ConfigDuration(*interval)
	if err != nil || d < 10*time.Millisecond || d > time.Minute {
		return c, fmt.Errorf("BATON_TIMER_INTERVAL (-timer-interval) %q: write a duration from 10ms to 1m, e.g. 1s (due reminders and escalations wait up to that long)", *interval)
	}
	c.TimerInterval = d
	// A lease or reclaim shorter than a slow delivery or timer event makes
	// another replica repeat it: allow a second, no less.
	if c.TimerLease, err = ConfigDuration(*lease); err != nil || c.TimerLease < time.Second {
		return c, fmt.Errorf("BATON_TIMER_LEASE (-timer-lease) %q: write a duration of at least 1s, e.g. 1m", *lease)
	}
	if c.Reclaim, err = ConfigDuration(*reclaim); err != nil || c.Reclaim < time.Second {
		return c, fmt.Errorf("BATON_OUTBOX_RECLAIM (-outbox-reclaim) %q: write a duration of at least 1s, e.g. 5m", *reclaim)
	}
	if c.RedisURL != "" && !strings.Contains(c.RedisURL, "://") {
		return c, fmt.Errorf("BATON_REDIS_URL (-redis-url) must be a URL like redis://localhost:6379/0")
	}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if name, ok := strings.CutPrefix(k, secretPrefix); ok && name != "" {
			c.Secrets[strings.ToLower(name)] = v
		}
	}
	if c.Webhooks, err = webhooksConfig(getenv, c.Secrets); err != nil {
		return c, err
	}
	retryFor := cmp.Or(strings.TrimSpace(getenv("BATON_WEBHOOK_RETRY_FOR")), "24h")
	if c.HookRetryFor, err = ConfigDuration(retryFor); err != nil || c.HookRetryFor < time.Minute || c.HookRetryFor > 30*24*time.Hour {
		return c, fmt.Errorf("BATON_WEBHOOK_RETRY_FOR %q: write a duration from 1m to 30d, e.g. 24h or 3d (how long an event a subscriber did not accept is tried again)", retryFor)
	}
	// BATON_DIGEST_AT wins; SLACK_DIGEST_AT, its former name, counts alone.
	name := "BATON_DIGEST_AT"
	if strings.TrimSpace(getenv(name)) == "" && strings.TrimSpace(getenv("SLACK_DIGEST_AT")) != "" {
		name = "SLACK_DIGEST_AT"
	}
	if c.DigestAt, err = ParseDigestAt(getenv(name)); err != nil {
		return c, fmt.Errorf("%s %w", name, err)
	}
	return c, nil
}

// webhooksConfig reads the global event subscribers.
func webhooksConfig(getenv func(string) string, secrets map[string]string) ([]flows.Hook, error) {
	var events []string
	for _, e := range strings.Split(getenv("BATON_WEBHOOK_EVENTS"), ",") {
		if e = strings.TrimSpace(e); e == "" {
			continue
		}
		if !slices.Contains(flows.HookEventTypes, e) {
			return nil, fmt.Errorf("BATON_WEBHOOK_EVENTS: %q is not an event type; use %s", e, strings.Join(flows.HookEventTypes, ", "))
		}
		events = append(events, e)
	}
	var hooks []flows.Hook
	for i, u := range strings.Split(getenv("BATON_WEBHOOK_URLS"), ",") {
		if u = strings.TrimSpace(u); u == "" {
			continue
		}
		// Named by position, and scheme and host: its user, password, path
		// or query may be credentials, and this is printed.
		if p := flows.HookURLProblem(u); p != "" {
			what := fmt.Sprintf("URL %d", i+1)
			if pu, err := url.Parse(u); err == nil && pu.Host != "" {
				what += " (" + flows.HookTarget(u) + ")"
			}
			return nil, fmt.Errorf("BATON_WEBHOOK_URLS: %s %s", what, p)
		}
		hooks = append(hooks, flows.Hook{Name: fmt.Sprintf("BATON_WEBHOOK_URLS %d", i+1), URL: u, Events: events})
	}
	if len(hooks) == 0 && len(events) > 0 {
		return nil, fmt.Errorf("BATON_WEBHOOK_EVENTS is set but BATON_WEBHOOK_URLS is not: it chooses what those URLs receive; set them, or unset it (a flow's own webhooks list their events in the flow)")
	}
	if len(hooks) > 0 && secrets["webhook"] == "" {
		return nil, fmt.Errorf("BATON_WEBHOOK_URLS is set but BATON_SECRET_WEBHOOK is not: set it to a long random string the receivers use to check signatures")
	}
	return hooks, nil
}

// CheckSecrets reports flows that name a secret that is not set: inbound
// starts signed with it (every request to them would get 503), webhooks:
// subscribers and webhook steps that sign their calls with it (every call
// would fail). Start-up stops on it; baton doctor fails on it.
func (c Config) CheckSecrets(defs []*flows.Definition) error {
	var errs []error
	for _, d := range defs {
		if d.Inbound != nil && c.Secret(d.Inbound.Secret) == "" {
			errs = append(errs, fmt.Errorf("%s: inbound starts of flow %s are signed with secret %q: set %s to a long random string the sender signs with",
				d.Source, d.ID, d.Inbound.Secret, SecretVar(d.Inbound.Secret)))
		}
		for _, h := range d.Webhooks {
			if name := cmp.Or(h.Secret, "webhook"); c.Secret(name) == "" {
				errs = append(errs, fmt.Errorf("%s: webhooks to %s are signed with secret %q: set %s", d.Source, flows.HookTarget(h.URL), name, SecretVar(name)))
			}
		}
		for _, s := range d.Steps {
			if name := cmp.Or(s.Webhook.Secret, "webhook"); s.Kind == flows.StepWebhook && c.Secret(name) == "" {
				errs = append(errs, fmt.Errorf("%s: webhook step %s of flow %s signs its calls with secret %q: set %s to a long random string the receiver checks with",
					d.Source, s.ID, d.ID, name, SecretVar(name)))
			}
		}
	}
	return errors.Join(errs...)
}

// validPort reports whether port is a port number (0-65535) or a service
// name the system knows ("http"): SplitHostPort accepts any string.
func validPort(port string) bool {
	_, err := net.LookupPort("tcp", port)
	return err == nil
}

// Logger builds the configured logger.
func (c Config) Logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "json" {
		// Durations as the text format writes them ("310ms"): slog's JSON
		// writes nanoseconds, with no unit.
		opts.ReplaceAttr = func(_ []string, a slog.Attr) slog.Attr {
			if a.Value.Kind() == slog.KindDuration {
				a.Value = slog.StringValue(a.Value.Duration().String())
			}
			return a
		}
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Secret returns the value of the secret called name (a flow's secret:),
// set as BATON_SECRET_<NAME>; "" if it is not set.
func (c Config) Secret(name string) string { return secretOf(c.Secrets, name) }

// secretOf looks the secret called name up in secrets, a Config's Secrets.
func secretOf(secrets map[string]string, name string) string {
	return secrets[strings.ToLower(envName(name))]
}

// SecretVar is the variable that sets the secret called name.
func SecretVar(name string) string { return "BATON_SECRET_" + envName(name) }

// envName turns a secret name into the suffix of its variable.
func envName(name string) string {
	b := []byte(strings.ToUpper(name))
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

// ConfigDuration reads a duration setting as Go writes durations (10ms,
// 1h30m) or as flows do (1d, 2w: days and weeks of 24 hours).
func ConfigDuration(s string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	return flows.ParseDuration(s)
}
