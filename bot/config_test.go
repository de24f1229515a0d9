package bot_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
)

// env is a fake environment: getenv and environ over one map.
type env map[string]string

func (e env) get(k string) string { return e[k] }

func (e env) list() []string {
	var out []string
	for k, v := range e {
		out = append(out, k+"="+v)
	}
	return out
}

func load(t *testing.T, args []string, e env) (bot.Config, string, error) {
	t.Helper()
	var out bytes.Buffer
	c, err := bot.LoadConfig(args, e.get, e.list(), &out)
	return c, out.String(), err
}

func TestLoadConfigDefaults(t *testing.T) {
	c, out, err := load(t, nil, env{})
	if err != nil {
		t.Fatal(err)
	}
	want := bot.Config{HTTPAddr: ":8080", LogLevel: slog.LevelInfo, LogFormat: "text", Console: "auto",
		TimerInterval: time.Second, TimerLease: time.Minute, Reclaim: 5 * time.Minute, Secrets: map[string]string{}, DigestAt: bot.DigestAt{Hour: 9},
		HookRetryFor: 24 * time.Hour}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", c, want)
	}
	if out != "" {
		t.Errorf("LoadConfig printed %q on success", out)
	}
}

func TestLoadConfigEnvironment(t *testing.T) {
	e := env{
		"BATON_REDIS_URL":         "redis://redis.internal:6379/2",
		"BATON_HTTP_ADDR":         "127.0.0.1:9000",
		"BATON_FLOWS_DIR":         "/etc/baton/flows",
		"BATON_DIRECTORY":         "/etc/baton/people.yaml",
		"BATON_ADMINS":            " olivia, dana ,,",
		"BATON_LOG_LEVEL":         "debug",
		"BATON_LOG_FORMAT":        "json",
		"BATON_CONSOLE":           "off",
		"BATON_TIMER_INTERVAL":    "250ms",
		"BATON_TIMER_LEASE":       "90s",
		"BATON_OUTBOX_RECLAIM":    "2m",
		"BATON_WEBHOOK_RETRY_FOR": "3d",
		"BATON_DIGEST_AT":         "08:30",
		"SLACK_DIGEST_AT":         "off", // the former name: the new one wins
		"BATON_SECRET_WEBHOOK":    "s3cret",
		"BATON_SECRET_CRM_HOOK":   "crm=value", // '=' in the value survives
		"BATON_SECRET_":           "ignored",   // no name
		"OTHER_SECRET_X":          "ignored",
	}
	c, _, err := load(t, nil, e)
	if err != nil {
		t.Fatal(err)
	}
	want := bot.Config{RedisURL: "redis://redis.internal:6379/2", HTTPAddr: "127.0.0.1:9000", FlowsDir: "/etc/baton/flows",
		Directory: "/etc/baton/people.yaml", Admins: []string{"olivia", "dana"}, LogLevel: slog.LevelDebug, LogFormat: "json",
		Console: "off", TimerInterval: 250 * time.Millisecond, TimerLease: 90 * time.Second, Reclaim: 2 * time.Minute,
		Secrets: map[string]string{"webhook": "s3cret", "crm_hook": "crm=value"}, DigestAt: bot.DigestAt{Hour: 8, Minute: 30},
		HookRetryFor: 72 * time.Hour}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("from the environment:\n got %+v\nwant %+v", c, want)
	}
}

func TestLoadConfigFlagsOverrideEnvironment(t *testing.T) {
	e := env{
		"BATON_REDIS_URL": "redis://env:6379/0", "BATON_HTTP_ADDR": ":1111", "BATON_FLOWS_DIR": "/env/flows",
		"BATON_DIRECTORY": "/env/dir.yaml", "BATON_ADMINS": "env", "BATON_LOG_LEVEL": "error",
		"BATON_LOG_FORMAT": "text", "BATON_CONSOLE": "local", "BATON_TIMER_INTERVAL": "5s",
		"BATON_TIMER_LEASE": "5m", "BATON_OUTBOX_RECLAIM": "10m",
	}
	c, _, err := load(t, []string{"--redis-url", "redis://flag:6379/1", "--http-addr", ":2222", "--flows", "/flag/flows",
		"--directory", "/flag/dir.yaml", "--admins", "flag1,flag2", "--log-level", "warn", "--log-format", "json",
		"--console", "open", "--timer-interval", "2s", "--timer-lease", "30s", "--outbox-reclaim", "1m"}, e)
	if err != nil {
		t.Fatal(err)
	}
	want := bot.Config{RedisURL: "redis://flag:6379/1", HTTPAddr: ":2222", FlowsDir: "/flag/flows", Directory: "/flag/dir.yaml",
		Admins: []string{"flag1", "flag2"}, LogLevel: slog.LevelWarn, LogFormat: "json", Console: "open",
		TimerInterval: 2 * time.Second, TimerLease: 30 * time.Second, Reclaim: time.Minute, Secrets: map[string]string{}, DigestAt: bot.DigestAt{Hour: 9},
		HookRetryFor: 24 * time.Hour}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("flags over the environment:\n got %+v\nwant %+v", c, want)
	}

	// A bad environment value does not matter when a flag replaces it.
	if _, _, err := load(t, []string{"-log-level=info"}, env{"BATON_LOG_LEVEL": "loud"}); err != nil {
		t.Errorf("a flag should replace the bad BATON_LOG_LEVEL: %v", err)
	}
}

func TestLoadConfigRejectsBadValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  env
		args []string
		want []string // in the message: the variable, the bad value, how to fix it
	}{
		{"log level", env{"BATON_LOG_LEVEL": "loud"}, nil, []string{"BATON_LOG_LEVEL", `"loud"`, "use debug, info, warn or error"}},
		{"log level flag", nil, []string{"--log-level", "verbose"}, []string{"BATON_LOG_LEVEL", `"verbose"`, "use debug, info, warn or error"}},
		{"log format", env{"BATON_LOG_FORMAT": "xml"}, nil, []string{"BATON_LOG_FORMAT", `"xml"`, "use text or json"}},
		{"console", env{"BATON_CONSOLE": "public"}, nil, []string{"BATON_CONSOLE", `"public"`, "use auto, local, open or off"}},
		{"address without port", env{"BATON_HTTP_ADDR": "8080"}, nil, []string{"BATON_HTTP_ADDR", `"8080"`, "host:port or :port"}},
		{"address with a bad port", env{"BATON_HTTP_ADDR": ":99999"}, nil, []string{"BATON_HTTP_ADDR", `":99999"`, "host:port or :port"}},
		{"address with a bad port name", env{"BATON_HTTP_ADDR": "localhost:no-such-port"}, nil, []string{"BATON_HTTP_ADDR", "host:port or :port"}},
		{"timer interval", env{"BATON_TIMER_INTERVAL": "often"}, nil, []string{"BATON_TIMER_INTERVAL", `"often"`, "e.g. 1s"}},
		{"timer interval unit", env{"BATON_TIMER_INTERVAL": "5"}, nil, []string{"BATON_TIMER_INTERVAL", `"5"`, "e.g. 1s"}},
		{"timer interval too short", env{"BATON_TIMER_INTERVAL": "1ms"}, nil, []string{"BATON_TIMER_INTERVAL", "from 10ms to 1m"}},
		{"timer interval negative", env{"BATON_TIMER_INTERVAL": "-1s"}, nil, []string{"BATON_TIMER_INTERVAL", "from 10ms to 1m"}},
		{"timer interval too long", env{"BATON_TIMER_INTERVAL": "1d"}, nil, []string{"BATON_TIMER_INTERVAL", "from 10ms to 1m", "wait up to that long"}},
		{"timer lease", env{"BATON_TIMER_LEASE": "forever"}, nil, []string{"BATON_TIMER_LEASE", `"forever"`, "e.g. 1m"}},
		{"timer lease too short", env{"BATON_TIMER_LEASE": "100ms"}, nil, []string{"BATON_TIMER_LEASE", "at least 1s"}},
		{"outbox reclaim", env{"BATON_OUTBOX_RECLAIM": "soon"}, nil, []string{"BATON_OUTBOX_RECLAIM", `"soon"`, "e.g. 5m"}},
		{"outbox reclaim too short", nil, []string{"--outbox-reclaim", "0s"}, []string{"BATON_OUTBOX_RECLAIM", "at least 1s"}},
		{"webhook retry window", env{"BATON_WEBHOOK_RETRY_FOR": "a while"}, nil, []string{"BATON_WEBHOOK_RETRY_FOR", `"a while"`, "from 1m to 30d", "e.g. 24h"}},
		{"webhook retry window too short", env{"BATON_WEBHOOK_RETRY_FOR": "30s"}, nil, []string{"BATON_WEBHOOK_RETRY_FOR", "from 1m to 30d"}},
		{"webhook retry window too long", env{"BATON_WEBHOOK_RETRY_FOR": "5w"}, nil, []string{"BATON_WEBHOOK_RETRY_FOR", "from 1m to 30d"}},
		{"digest time", env{"BATON_DIGEST_AT": "9am"}, nil, []string{"BATON_DIGEST_AT", `"9am"`, "like 09:00, or off"}},
		{"digest time, former name", env{"SLACK_DIGEST_AT": "25:00"}, nil, []string{"SLACK_DIGEST_AT", `"25:00"`, "like 09:00, or off"}},
		{"redis url", env{"BATON_REDIS_URL": "localhost:6379"}, nil, []string{"BATON_REDIS_URL", "redis://localhost:6379/0"}},
		{"stray argument", nil, []string{"serve-now"}, []string{`"serve-now"`, "baton --help"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := load(t, tc.args, tc.env)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestLoadConfigDigestFormerName: SLACK_DIGEST_AT, the digest time's
// name when only Slack had digests, still works alone.
func TestLoadConfigDigestFormerName(t *testing.T) {
	for in, want := range map[string]bot.DigestAt{"off": {Off: true}, "07:45": {Hour: 7, Minute: 45}} {
		c, _, err := load(t, nil, env{"SLACK_DIGEST_AT": in})
		if err != nil || c.DigestAt != want {
			t.Errorf("SLACK_DIGEST_AT=%s: %v, %v; want %v", in, c.DigestAt, err, want)
		}
	}
}

func TestLoadConfigAcceptsEdgeValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  env
	}{
		{"host and port", env{"BATON_HTTP_ADDR": "0.0.0.0:80"}},
		{"ipv6", env{"BATON_HTTP_ADDR": "[::1]:8080"}},
		{"any port", env{"BATON_HTTP_ADDR": ":0"}},
		{"shortest interval", env{"BATON_TIMER_INTERVAL": "10ms"}},
		{"longest interval", env{"BATON_TIMER_INTERVAL": "1m"}},
		{"a lease in days, as flows write them", env{"BATON_TIMER_LEASE": "1d"}},
		{"upper-case level", env{"BATON_LOG_LEVEL": "WARN"}},
		{"tls redis", env{"BATON_REDIS_URL": "rediss://u:p@host:6380/1"}},
		{"cluster", env{"BATON_REDIS_URL": "redis-cluster://h1:7000?addr=h2:7001"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := load(t, nil, tc.env); err != nil {
				t.Errorf("rejected: %v", err)
			}
		})
	}
}

func TestLoadConfigHelp(t *testing.T) {
	for _, arg := range []string{"--help", "-h"} {
		_, out, err := load(t, []string{arg}, env{})
		if !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("%s: err %v, want flag.ErrHelp", arg, err)
		}
		if !strings.Contains(out, bot.ConfigHelp) {
			t.Errorf("%s does not print ConfigHelp:\n%s", arg, out)
		}
		for _, f := range []string{"-redis-url", "-http-addr", "-flows", "-directory", "-admins", "-log-level", "-log-format", "-console", "-timer-interval", "-timer-lease", "-outbox-reclaim"} {
			if !strings.Contains(out, f) {
				t.Errorf("%s does not list flag %s", arg, f)
			}
		}
	}
	// Every variable LoadConfig reads is documented.
	var read []string
	getenv := func(k string) string { read = append(read, k); return "" }
	if _, err := bot.LoadConfig(nil, getenv, nil, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if len(read) < 11 {
		t.Fatalf("LoadConfig read only %v", read)
	}
	for _, k := range append(read, "BATON_SECRET_") {
		if !strings.Contains(bot.ConfigHelp, k) {
			t.Errorf("ConfigHelp does not document %s", k)
		}
	}
}

func TestLoadConfigUnknownFlag(t *testing.T) {
	_, out, err := load(t, []string{"--redis", "x"}, env{})
	if err == nil || errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err %v, want an error for the unknown flag", err)
	}
	if !strings.Contains(out, "-redis") || !strings.Contains(out, "Usage: baton") {
		t.Errorf("the error output should name the flag and show the usage:\n%s", out)
	}
}

func TestConfigLogger(t *testing.T) {
	var buf bytes.Buffer
	c, _, err := load(t, nil, env{"BATON_LOG_FORMAT": "json", "BATON_LOG_LEVEL": "warn"})
	if err != nil {
		t.Fatal(err)
	}
	log := c.Logger(&buf)
	log.Info("hidden")
	log.Warn("shown", "instance", "PR-1")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("one JSON record expected, got %q: %v", buf.String(), err)
	}
	if rec["msg"] != "shown" || rec["instance"] != "PR-1" {
		t.Errorf("record %v", rec)
	}

	buf.Reset()
	c, _, _ = load(t, nil, env{})
	c.Logger(&buf).Debug("hidden")
	c.Logger(&buf).Info("shown", "instance", "PR-2")
	if got := buf.String(); strings.Contains(got, "hidden") || !strings.Contains(got, "msg=shown instance=PR-2") {
		t.Errorf("text logger at info wrote %q", got)
	}
}

// TestLoadConfigErrorsKeepSecrets: a rejected Redis URL may hold a
// password; the error (printed at startup) must not repeat it.
func TestLoadConfigErrorsKeepSecrets(t *testing.T) {
	_, _, err := load(t, nil, env{"BATON_REDIS_URL": "admin:hunter2@redis.internal:6379"})
	if err == nil {
		t.Fatal("accepted a URL without a scheme")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("the error repeats the password: %v", err)
	}
}

// TestWebhookURLsErrorsKeepSecrets: a rejected BATON_WEBHOOK_URLS entry is
// named by its position (and scheme and host when it parses), never with
// its user, password or query, and the error says what is wrong with it.
func TestWebhookURLsErrorsKeepSecrets(t *testing.T) {
	for _, tc := range []struct {
		urls string
		want []string
	}{
		{"ftp://svcuser:secretpw@x/?token=KEY-1", []string{"BATON_WEBHOOK_URLS", "URL 1 (ftp://x)", "must be an http:// or https:// address"}},
		{"https://ok.example/a, http://svcuser:secretpw@x y/?token=KEY-1", []string{"BATON_WEBHOOK_URLS", "URL 2", "is not a valid URL", "has a space"}},
		{"http://svcuser:secret%zzpw@x/?token=KEY-1", []string{"URL 1", "is not a valid URL", "percent-encoded"}},
		{"https:///hook?token=KEY-1", []string{"URL 1", "has no host"}},
	} {
		_, _, err := load(t, nil, env{"BATON_WEBHOOK_URLS": tc.urls, "BATON_SECRET_WEBHOOK": "k"})
		if err == nil {
			t.Errorf("%s: accepted", tc.urls)
			continue
		}
		for _, s := range []string{"secret", "svcuser", "KEY-1", "token"} {
			if strings.Contains(err.Error(), s) {
				t.Errorf("%s: the error shows %q: %v", tc.urls, s, err)
			}
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", tc.urls, err, w)
			}
		}
		if strings.Contains(tc.urls, " ") && strings.Contains(err.Error(), "http:// or https://") {
			t.Errorf("%s: a URL with a space is blamed on its scheme: %v", tc.urls, err)
		}
	}
}

// TestWebhookURLsNamed: each global subscriber is named by its place in
// BATON_WEBHOOK_URLS, which tells two on one host apart where URLs are
// not shown.
func TestWebhookURLsNamed(t *testing.T) {
	c, _, err := load(t, nil, env{"BATON_WEBHOOK_URLS": "https://h.example/a?k=1, , https://h.example/b", "BATON_SECRET_WEBHOOK": "k"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range c.Webhooks {
		names = append(names, h.Name)
	}
	if want := []string{"BATON_WEBHOOK_URLS 1", "BATON_WEBHOOK_URLS 3"}; !slices.Equal(names, want) {
		t.Errorf("names %q, want %q (their places in the list)", names, want)
	}
}

// TestCheckSecrets: a flow taking inbound starts, or calling a webhook,
// whose signing secret is not set stops start-up, saying which variable to
// set, instead of answering every request with 503 or failing every call.
func TestCheckSecrets(t *testing.T) {
	def, err := flows.ParseDefinition("lead.yaml", []byte(`id: lead
name: Lead
owner: olivia
form:
  - {name: company}
inbound: {secret: not_set_anywhere, requester: olivia}
steps:
  - {id: a, type: notify, to: [requester], message: hi}
`))
	if err != nil {
		t.Fatal(err)
	}
	defs := []*flows.Definition{def}
	for _, e := range []env{{}, {"BATON_SECRET_NOT_SET_ANYWHERE": ""}, {"BATON_SECRET_OTHER": "x"}} {
		c, _, err := load(t, nil, e)
		if err != nil {
			t.Fatal(err)
		}
		err = c.CheckSecrets(defs)
		if err == nil || !strings.Contains(err.Error(), "lead.yaml") || !strings.Contains(err.Error(), "set BATON_SECRET_NOT_SET_ANYWHERE") {
			t.Errorf("%v: %v, want an error naming the flow and BATON_SECRET_NOT_SET_ANYWHERE", e, err)
		}
	}
	c, _, err := load(t, nil, env{"BATON_SECRET_NOT_SET_ANYWHERE": "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckSecrets(defs); err != nil {
		t.Errorf("with the secret set: %v", err)
	}
	if err := c.CheckSecrets(nil); err != nil {
		t.Errorf("no flows: %v", err)
	}
	crm, err := flows.ParseDefinition("crm.yaml", []byte(`id: crm
name: CRM
owner: olivia
webhooks:
  - {url: "https://events.example.com/in", secret: crm_events}
steps:
  - {id: push, type: webhook, url: "https://crm.example.com/hook"}
  - {id: sign, type: webhook, url: "https://crm.example.com/hook", secret: crm}
`))
	if err != nil {
		t.Fatal(err)
	}
	err = c.CheckSecrets([]*flows.Definition{crm})
	if err == nil || !strings.Contains(err.Error(), "webhook step push of flow crm") || !strings.Contains(err.Error(), "set BATON_SECRET_WEBHOOK") ||
		!strings.Contains(err.Error(), "set BATON_SECRET_CRM to") || !strings.Contains(err.Error(), "webhooks to https://events.example.com are signed with secret \"crm_events\": set BATON_SECRET_CRM_EVENTS") {
		t.Errorf("webhook steps and subscribers without their secrets: %v", err)
	}
	c, _, err = load(t, nil, env{"BATON_SECRET_WEBHOOK": "s3cret", "BATON_SECRET_CRM": "s3cret2", "BATON_SECRET_CRM_EVENTS": "s3cret3"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckSecrets([]*flows.Definition{crm}); err != nil {
		t.Errorf("webhook steps with their secrets: %v", err)
	}
}

// JSON logs write durations as the text format does, with their unit:
// slog's JSON writes nanoseconds.
func TestJSONLogDurations(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	bot.Config{LogFormat: "json", LogLevel: slog.LevelInfo}.Logger(&buf).Info("delivery will be retried", "in", 310*time.Millisecond)
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil || line["in"] != "310ms" {
		t.Errorf("logged %s (%v), want in=\"310ms\"", buf.String(), err)
	}
}
