package bot

import (
	"cmp"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"
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
	Secrets       map[string]string
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
  BATON_FLOWS_DIR       directory of flow definitions (*.yaml); empty: the built-in examples
  BATON_DIRECTORY       people directory file (YAML); empty: the built-in demo directory
  BATON_ADMINS          comma-separated person ids who may act on any task, cancel and skip
  BATON_LOG_LEVEL       debug, info (default), warn or error
  BATON_LOG_FORMAT      text (default) or json
  BATON_CONSOLE         the web console: auto (default: on, for local clients only, unless a
                        chat platform is configured), local, open (any client: demo only) or off
  BATON_TIMER_INTERVAL  how often due reminders and escalations are looked for (default 1s)
  BATON_SECRET_<NAME>   HMAC secret a webhook step names with "secret: <name>"
                        (default name: webhook, i.e. BATON_SECRET_WEBHOOK)
`

// LoadConfig reads the configuration from getenv and args (flags win). Any
// bad value is an error that says how to fix it; fs output goes to out.
func LoadConfig(args []string, getenv func(string) string, environ []string, out io.Writer) (Config, error) {
	c := Config{Secrets: map[string]string{}}
	fs := flag.NewFlagSet("baton", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: baton [flags]                 run Baton (HTTP server, timers, delivery)\n")
		fmt.Fprintf(out, "       baton validate PATH...         check flow definitions (files or directories); exit 1 on any error\n")
		fmt.Fprintf(out, "       baton graph FLOW               print a flow as a Mermaid flowchart\n")
		fmt.Fprintf(out, "       baton audit [-json] ID         print (or export as JSON lines) an instance's audit trail and verify its hash chain\n")
		fmt.Fprintf(out, "       baton healthcheck              exit 0 if the Baton on this machine answers /healthz (for containers)\n\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprintf(out, "\n%s", ConfigHelp)
	}
	fs.StringVar(&c.RedisURL, "redis-url", getenv("BATON_REDIS_URL"), "Redis URL (BATON_REDIS_URL)")
	fs.StringVar(&c.HTTPAddr, "http-addr", cmp.Or(getenv("BATON_HTTP_ADDR"), ":8080"), "listen address (BATON_HTTP_ADDR)")
	fs.StringVar(&c.FlowsDir, "flows", getenv("BATON_FLOWS_DIR"), "flow definitions directory (BATON_FLOWS_DIR)")
	fs.StringVar(&c.Directory, "directory", getenv("BATON_DIRECTORY"), "people directory file (BATON_DIRECTORY)")
	admins := fs.String("admins", getenv("BATON_ADMINS"), "comma-separated admin person ids (BATON_ADMINS)")
	level := fs.String("log-level", cmp.Or(getenv("BATON_LOG_LEVEL"), "info"), "debug, info, warn or error (BATON_LOG_LEVEL)")
	fs.StringVar(&c.LogFormat, "log-format", cmp.Or(getenv("BATON_LOG_FORMAT"), "text"), "text or json (BATON_LOG_FORMAT)")
	fs.StringVar(&c.Console, "console", cmp.Or(getenv("BATON_CONSOLE"), "auto"), "web console: auto, local, open or off (BATON_CONSOLE)")
	interval := fs.String("timer-interval", cmp.Or(getenv("BATON_TIMER_INTERVAL"), "1s"), "timer poll interval (BATON_TIMER_INTERVAL)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q; see baton --help", fs.Arg(0))
	}
	for _, a := range strings.Split(*admins, ",") {
		if a = strings.TrimSpace(a); a != "" {
			c.Admins = append(c.Admins, a)
		}
	}
	if err := c.LogLevel.UnmarshalText([]byte(*level)); err != nil {
		return c, fmt.Errorf("BATON_LOG_LEVEL %q: use debug, info, warn or error", *level)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return c, fmt.Errorf("BATON_LOG_FORMAT %q: use text or json", c.LogFormat)
	}
	switch c.Console {
	case "auto", "local", "open", "off":
	default:
		return c, fmt.Errorf("BATON_CONSOLE %q: use auto, local, open or off", c.Console)
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		return c, fmt.Errorf("BATON_HTTP_ADDR %q: write host:port or :port, e.g. :8080", c.HTTPAddr)
	}
	d, err := time.ParseDuration(*interval)
	if err != nil || d < 10*time.Millisecond {
		return c, fmt.Errorf("BATON_TIMER_INTERVAL %q: write a duration of at least 10ms, e.g. 1s", *interval)
	}
	c.TimerInterval = d
	if c.RedisURL != "" && !strings.Contains(c.RedisURL, "://") {
		return c, fmt.Errorf("BATON_REDIS_URL must be a URL like redis://localhost:6379/0")
	}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if name, ok := strings.CutPrefix(k, secretPrefix); ok && name != "" {
			c.Secrets[strings.ToLower(name)] = v
		}
	}
	return c, nil
}

// Logger builds the configured logger.
func (c Config) Logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

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
