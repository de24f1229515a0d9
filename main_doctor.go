package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/batonbot/baton/adapters/email"
	slackadapter "github.com/batonbot/baton/adapters/slack"
	"github.com/batonbot/baton/adapters/teams"
	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
	"github.com/batonbot/baton/manifests"
	"github.com/batonbot/baton/storage"
)

// minRedis is the oldest Redis Baton runs on (XAUTOCLAIM came in 6.2).
var minRedis = [2]int{6, 2}

// doctorTimeout bounds each network check.
const doctorTimeout = 10 * time.Second

// checkup prints one line per check and remembers whether any failed.
type checkup struct {
	out      io.Writer
	failed   bool
	warned   int           // how many checks warned
	engine   *flows.Engine // the flows, once they load
	noPeople bool          // no platform carries cards to people (the API alone)
}

func (c *checkup) ok(name, format string, args ...any) { c.line("ok  ", name, format, args...) }
func (c *checkup) warn(name, format string, args ...any) {
	c.warned++
	c.line("warn", name, format, args...)
}
func (c *checkup) skip(name, format string, args ...any) { c.line("skip", name, format, args...) }
func (c *checkup) fail(name, format string, args ...any) {
	c.failed = true
	c.line("FAIL", name, format, args...)
}

func (c *checkup) line(status, name, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	// Multi-line details (a flow file's problems) are indented under their check.
	msg = strings.ReplaceAll(strings.TrimRight(msg, "\n"), "\n", "\n       ")
	fmt.Fprintf(c.out, "%s %s: %s\n", status, name, msg)
}

// doctor checks the configuration and everything Baton connects to, one
// line per check with how to fix what fails; exit 1 on any failure. It
// never prints a secret.
func doctor(ctx context.Context, args []string, getenv func(string) string, environ []string, stdout, stderr io.Writer) int {
	c := &checkup{out: stdout}
	if wantsHelp(args) {
		// Its flags are the server's: said first, then listed.
		fmt.Fprintln(stdout, "usage: baton doctor [flags]  checks the configuration, Redis, flows, directory, Slack auth.test, Teams token and mail relay")
		fmt.Fprintln(stdout, "that baton with the same flags and environment would use; exit 1 on any failure. The flags, as baton's:")
		fmt.Fprintln(stdout)
	}
	var cfg bot.Config
	err := routed(stdout, stderr, func(w io.Writer) (err error) {
		cfg, err = bot.LoadConfig(args, getenv, environ, w)
		return err
	})
	var ext *extSettings // nil: not read, as the configuration is wrong
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		c.fail("config", "%v", err)
		// What they check comes from the configuration: said, not left out.
		for _, name := range []string{"redis", "directory", "flows", "secrets", "email"} {
			c.skip(name, "not checked until the configuration is fixed")
		}
	default:
		if set, err := externalSettings(cfg, getenv); err != nil { // main_external.go
			c.fail("config", "%v", err)
			c.skip("email", "not checked until the configuration is fixed")
		} else {
			ext = &set
			console := cfg.Console
			switch on := consoleOn(cfg, chatPlatforms(getenv)); {
			case cfg.Console == "auto" && on:
				console += " (on: the demo, with no chat platform and no Redis)"
			case cfg.Console == "auto":
				console += " (off: a chat platform or Redis is configured; BATON_CONSOLE=local turns it on for this machine)"
			}
			c.ok("config", "listen on %s, console %s, log %s/%s", cfg.HTTPAddr, console, cfg.LogFormat, cfg.LogLevel)
		}
		c.platforms(cfg, getenv)
		c.redis(ctx, cfg)
		c.flows(cfg)
		c.stranded(ctx, cfg)
	}
	c.slack(ctx, getenv)
	c.teams(ctx, getenv)
	if ext != nil {
		// The console shows the mail it would send where no relay is set:
		// on when start-up would turn it on.
		c.email(ctx, ext.smtp, consoleOn(cfg, chatPlatforms(getenv)))
	}
	if c.failed {
		fmt.Fprintln(stdout, "baton doctor: some checks failed; fix them and run baton doctor again")
		return 1
	}
	if c.warned > 0 { // not "all passed": a warning is something to read
		fmt.Fprintf(stdout, "baton doctor: no check failed, but %s: see the warn lines above\n", flows.Plural(c.warned, "check warned", "checks warned"))
		return 0
	}
	fmt.Fprintln(stdout, "baton doctor: all checks passed")
	return 0
}

// redis checks reachability, version and cluster mode.
func (c *checkup) redis(ctx context.Context, cfg bot.Config) {
	if cfg.RedisURL == "" {
		c.warn("redis", "BATON_REDIS_URL is not set: Baton will use an embedded store whose state is lost when it stops; set BATON_REDIS_URL=redis://host:6379/0 for anything but a demo")
		return
	}
	where := redactURL(cfg.RedisURL)
	rdb, err := storage.Client(cfg.RedisURL)
	if err != nil {
		c.fail("redis", "BATON_REDIS_URL %s: %v", where, err)
		return
	}
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	_, isCluster := rdb.(*redis.ClusterClient)
	if err := rdb.Ping(ctx).Err(); err != nil {
		if strings.Contains(err.Error(), "cluster support disabled") {
			c.fail("redis", "%s is not a Redis Cluster: write the URL as redis://host:6379/0 (not redis-cluster://)", where)
			return
		}
		c.fail("redis", "cannot reach %s: %v; check BATON_REDIS_URL (host, port, password, TLS: rediss://) and that Redis is running", where, err)
		return
	}
	defer c.dead(ctx, rdb) // after the line about Redis, whatever it says
	info, err := rdb.Info(ctx, "server").Result()
	if err != nil {
		c.warn("redis", "%s answers PING but not INFO server (%v): its version is unknown; Baton needs Redis %d.%d or later", where, err, minRedis[0], minRedis[1])
		return
	}
	version := infoField(info, "redis_version")
	if !versionAtLeast(version, minRedis) {
		c.fail("redis", "%s runs Redis %s; Baton needs %d.%d or later (for XAUTOCLAIM): upgrade Redis", where, cmp.Or(version, "of unknown version"), minRedis[0], minRedis[1])
		return
	}
	mode := "standalone"
	if ci, err := rdb.Info(ctx, "cluster").Result(); err == nil && infoField(ci, "cluster_enabled") == "1" {
		if !isCluster {
			c.fail("redis", "%s is a Redis Cluster node: write the URL as redis-cluster://host:port?addr=other:port so every node is used", where)
			return
		}
		mode = "cluster"
	}
	if m := infoField(info, "redis_mode"); m == "sentinel" {
		mode = "sentinel"
	}
	c.ok("redis", "%s reachable, Redis %s (%s)", where, version, mode)
}

// chatPlatforms is how many chat platforms the environment configures, as
// start-up counts them (the console's auto mode turns on with none).
func chatPlatforms(getenv func(string) string) int {
	n := 0
	if _, ok, _ := slackadapter.ConfigFromEnv(getenv); ok {
		n++
	}
	if _, ok, _ := teams.LoadConfig(getenv); ok {
		n++
	}
	return n
}

// platforms says plainly when no platform carries cards to people: a
// deployment used through the API alone, where cards are dropped.
func (c *checkup) platforms(cfg bot.Config, getenv func(string) string) {
	chat := 0
	if _, ok, err := slackadapter.ConfigFromEnv(getenv); ok || err != nil { // a mistake is the slack check's to say
		chat++
	}
	if _, ok, err := teams.LoadConfig(getenv); ok || err != nil {
		chat++
	}
	if chat == 0 && !consoleOn(cfg, 0) {
		c.noPeople = true
		c.ok("platforms", "%s. To send cards, configure Slack (SLACK_BOT_TOKEN) or Teams (MicrosoftAppId), or set BATON_CONSOLE", noPeoplePlatform)
	}
}

// dead warns of deliveries given up on, which wait for an operator.
func (c *checkup) dead(ctx context.Context, rdb redis.UniversalClient) {
	b, err := storage.New(rdb, storage.Config{}).Backlog(ctx)
	if err != nil || b.Dead == 0 {
		return
	}
	what := flows.Plural(int(b.Dead), "delivery was", "deliveries were")
	if c.noPeople {
		c.warn("deliveries", "%s given up on (cards, updates or event announcements not delivered): baton dead lists them; cards among them cannot be sent again while no platform carries cards to people (baton dead drop deletes them), event announcements can (baton dead retry)", what)
		return
	}
	c.warn("deliveries", "%s given up on (cards, updates or event announcements not delivered): baton dead lists them, and sends them again once what made them fail is fixed", what)
}

// flows checks the flow definitions, the people directory and the secrets
// the flows name.
func (c *checkup) flows(cfg bot.Config) {
	var defs []*flows.Definition
	var err error
	from := "the built-in examples"
	if cfg.FlowsDir != "" {
		from = cfg.FlowsDir
		defs, err = loadFlowsDir(cfg.FlowsDir)
	} else {
		defs, err = flows.LoadDefinitions(manifests.Flows, "flows")
	}
	switch problem := flowsDirProblem(cfg.FlowsDir); {
	case problem != nil:
		c.fail("flows", "%v", problem)
	case err != nil:
		c.fail("flows", "%s:\n%v\nfix these (baton validate %s shows them too)", from, err, cmp.Or(cfg.FlowsDir, "DIR"))
		defs = nil // the rest is checked once they load
	case len(defs) == 0:
		c.fail("flows", "no flow definitions (*.yaml) in %s; set BATON_FLOWS_DIR to the directory of your flows", from)
	}
	src, name := manifests.Directory, "the built-in demo directory"
	dirOK := true
	if cfg.Directory != "" {
		name = cfg.Directory
		if src, err = os.ReadFile(cfg.Directory); err != nil {
			c.fail("directory", "%v; set BATON_DIRECTORY to a readable YAML file", err)
			dirOK = false
		}
	}
	var dir *flows.Directory
	if dirOK {
		if dir, err = flows.ParseDirectory(name, src); err != nil {
			c.fail("directory", "%v", err)
		} else {
			c.ok("directory", "%s: %d people", name, len(dir.People()))
		}
	}
	if len(defs) == 0 {
		return
	}
	engine, err := flows.NewEngine(defs, dir, cfg.Admins)
	if err != nil {
		c.fail("flows", "%v", err)
		return
	}
	c.engine = engine
	schedules, inbound := 0, 0
	var missing []string
	needed := map[string]bool{} // the secrets' variables
	var short []string          // set, but short enough to guess
	need := func(what, secret string) {
		name := bot.SecretVar(secret)
		needed[name] = true
		switch v := cfg.Secret(secret); {
		case v == "":
			missing = append(missing, fmt.Sprintf("%s needs %s", what, name))
		case len(v) < minSecret && !slices.Contains(short, name):
			short = append(short, name)
		}
	}
	for _, d := range defs {
		schedules += len(d.Schedules)
		if d.Inbound != nil {
			inbound++
			need("flow "+d.ID+" (inbound)", d.Inbound.Secret)
		}
		for _, s := range d.Steps {
			if s.Kind == flows.StepWebhook {
				need(fmt.Sprintf("flow %s step %s (webhook)", d.ID, s.ID), cmp.Or(s.Webhook.Secret, "webhook"))
			}
		}
		for _, h := range d.Webhooks { // as start-up checks them (Config.CheckSecrets)
			need(fmt.Sprintf("flow %s webhooks to %s", d.ID, flows.HookTarget(h.URL)), cmp.Or(h.Secret, "webhook"))
		}
	}
	c.ok("flows", "%s: %s, %s, %s", from, flows.Plural(len(defs), "flow", "flows"), flows.Plural(schedules, "schedule", "schedules"), flows.Plural(inbound, "inbound webhook", "inbound webhooks"))
	var warnings []string
	for _, d := range defs {
		for _, w := range d.Warnings() {
			warnings = append(warnings, w.String())
		}
	}
	if len(warnings) > 0 {
		c.warn("flows", "%s: they run, perhaps not as meant:\n%s", flows.Plural(len(warnings), "warning", "warnings"), strings.Join(warnings, "\n"))
	}
	if dir != nil { // a directory that failed its check has said why; its hours are not known
		doctorHours(c, defs, dir, time.Now())
	}
	if problems := engine.ScheduleProblems(); len(problems) > 0 {
		c.warn("schedules", "%s", strings.Join(problems, "; "))
	}
	if err := checkAdmins(engine, cfg.Admins); err != nil { // start-up refuses it too
		c.fail("admins", "%v", err)
	}
	if problems := engine.DirectoryProblems(); len(problems) > 0 {
		lines := make([]string, len(problems))
		for i, p := range problems {
			lines[i] = p.String()
		}
		again := ""
		if cfg.Directory != "" && cfg.FlowsDir != "" {
			again = fmt.Sprintf(" (baton validate -directory %s %s lists them too)", cfg.Directory, cfg.FlowsDir)
		}
		c.warn("people", "%s between the flows and %s: work sent there reaches nobody, or goes to a stand-in; fix the flows or the directory%s:\n%s",
			flows.Plural(len(problems), "mismatch", "mismatches"), name, again, strings.Join(lines, "\n"))
	}
	switch {
	case len(missing) > 0:
		c.fail("secrets", "%s: set them to long random strings shared with the other system", strings.Join(missing, "; "))
	case len(short) > 0:
		slices.Sort(short)
		c.warn("secrets", "%s %s shorter than %d characters: anyone who guesses one can sign requests as the other system; use long random strings (e.g. openssl rand -hex 32)",
			strings.Join(short, ", "), map[bool]string{true: "is", false: "are"}[len(short) == 1], minSecret)
	case len(needed) > 0:
		c.ok("secrets", "%s set", strings.Join(slices.Sorted(maps.Keys(needed)), ", "))
	default:
		c.skip("secrets", "no flow needs one (no webhook step, webhook subscription or inbound start)")
	}
}

// minSecret is the length under which doctor warns of a signing secret.
const minSecret = 16

// slack calls auth.test with the bot token.
func (c *checkup) slack(ctx context.Context, getenv func(string) string) {
	cfg, ok, err := slackadapter.ConfigFromEnv(getenv)
	switch {
	case err != nil:
		c.fail("slack", "%v", err)
		return
	case !ok:
		c.skip("slack", "not configured (SLACK_BOT_TOKEN is not set)")
		return
	}
	api := cmp.Or(cfg.APIURL, slackadapter.DefaultAPIURL)
	ctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, api+"auth.test", nil)
	if err != nil {
		c.fail("slack", "SLACK_API_URL %q: %v", api, err)
		return
	}
	req.Header.Set("Authorization", "Bearer "+cfg.BotToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.fail("slack", "cannot reach %s: %v; check the network (proxy, firewall) or SLACK_API_URL", api, redactErr(err, cfg.BotToken))
		return
	}
	defer resp.Body.Close()
	var r struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
		Team  string `json:"team"`
		User  string `json:"user"`
		URL   string `json:"url"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&r); err != nil || resp.StatusCode != http.StatusOK {
		c.fail("slack", "auth.test at %s answered HTTP %d, not Slack's JSON; check SLACK_API_URL", api, resp.StatusCode)
		return
	}
	if !r.OK {
		fix := "see https://api.slack.com/methods/auth.test"
		switch r.Error {
		case "invalid_auth", "not_authed", "token_revoked", "token_expired":
			fix = "SLACK_BOT_TOKEN was refused: copy the Bot User OAuth Token (xoxb-…) again from the app's OAuth & Permissions page, reinstalling the app if it was revoked"
		case "account_inactive":
			fix = "the app's bot user is deactivated or the app was uninstalled: reinstall it to the workspace"
		}
		c.fail("slack", "auth.test: %s: %s", r.Error, fix)
		return
	}
	mode := "HTTP mode (SLACK_SIGNING_SECRET)"
	if cfg.AppToken != "" {
		mode = "Socket Mode (SLACK_APP_TOKEN)"
	}
	c.ok("slack", "auth.test: bot @%s in workspace %s, %s", r.User, r.Team, mode)
}

// email opens a session with the SMTP relay as a mail would (TLS, sign-in,
// the sender) and sends nothing. sc is BATON_SMTP_URL as the configuration
// read it (nil: not set); console, whether Baton would serve the console
// (which shows the mail it does not send).
func (c *checkup) email(ctx context.Context, sc *email.SMTPConfig, console bool) {
	switch {
	case sc == nil && console:
		c.skip("email", "not configured (BATON_SMTP_URL is not set): mail to external participants (email: assignees) is shown in the console (/console/mail), not sent")
		return
	case sc == nil:
		c.skip("email", "not configured (BATON_SMTP_URL is not set): mail to external participants (email: assignees) is not sent anywhere, as the console is off; set BATON_SMTP_URL=smtp://user:pass@host:587?from=baton@example.com")
		return
	}
	cfg := *sc
	cfg.Timeout = doctorTimeout
	secured, err := email.NewSMTP(cfg).Check(ctx)
	if err != nil {
		c.fail("email", "%s; check BATON_SMTP_URL (host, port, user and password, from=) and that this machine may reach the relay", redactErr(err, cfg.Password))
		return
	}
	who := ""
	if cfg.Username != "" {
		who = ", signed in as " + cfg.Username
	}
	c.ok("email", "relay %s accepted MAIL FROM %s (%s%s); no mail sent (some relays check the sender only when a mail is sent)", cfg.Addr, cfg.From, secured, who)
}

// teams fetches a Bot Framework token with the app's credentials.
func (c *checkup) teams(ctx context.Context, getenv func(string) string) {
	cfg, ok, err := teams.LoadConfig(getenv)
	switch {
	case err != nil:
		c.fail("teams", "%v", err)
		return
	case !ok:
		c.skip("teams", "not configured (MicrosoftAppId is not set)")
		return
	}
	tokenURL, scope := cfg.TokenEndpoint()
	ctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	ctx = context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Timeout: doctorTimeout})
	cc := &clientcredentials.Config{ClientID: cfg.AppID, ClientSecret: cfg.AppPassword, TokenURL: tokenURL, Scopes: []string{scope}}
	tok, err := cc.Token(ctx)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			code := re.ErrorCode
			if code == "" && re.Response != nil {
				code = "HTTP " + strconv.Itoa(re.Response.StatusCode)
			}
			c.fail("teams", "token from %s refused: %s %s; check MicrosoftAppId, MicrosoftAppPassword (not expired?), MicrosoftAppTenantId and MicrosoftAppType",
				tokenURL, code, firstLine(re.ErrorDescription))
			return
		}
		c.fail("teams", "cannot get a token from %s: %v; check the network or TEAMS_TOKEN_URL", tokenURL, redactErr(err, cfg.AppPassword))
		return
	}
	if tok.AccessToken == "" {
		c.fail("teams", "%s answered without an access token; check TEAMS_TOKEN_URL", tokenURL)
		return
	}
	c.ok("teams", "got a Bot Framework token for app %s from %s", cfg.AppID, tokenURL)
}

// redactURL hides a URL's password.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	q := u.Query()
	for k := range q { // password=, sentinel_password=, a token…
		if lk := strings.ToLower(k); strings.Contains(lk, "pass") || strings.Contains(lk, "secret") || strings.Contains(lk, "token") || strings.Contains(lk, "key") {
			q[k] = []string{"xxxxx"}
		}
	}
	u.RawQuery = q.Encode()
	return u.Redacted()
}

// redactErr keeps a secret out of an error's text.
func redactErr(err error, secret string) string {
	if secret == "" {
		return err.Error()
	}
	return strings.ReplaceAll(err.Error(), secret, "[redacted]")
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	s, _, _ = strings.Cut(s, "\r")
	return s
}

// infoField reads "name:value" from an INFO reply.
func infoField(info, name string) string {
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), name+":"); ok {
			return v
		}
	}
	return ""
}

// versionAtLeast compares "major.minor.patch" with min.
func versionAtLeast(v string, min [2]int) bool {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return major > min[0] || major == min[0] && minor >= min[1]
}

// doctorHours reports the working hours that flows with working_hours: true
// count in, and warns when the directory sets none (the standard ones
// apply) or lists no holiday ahead of today (a list not kept up to date).
func doctorHours(c *checkup, defs []*flows.Definition, dir *flows.Directory, now time.Time) {
	var users []string
	for _, d := range defs {
		if d.WorkingHours {
			users = append(users, d.ID)
		}
	}
	if len(users) == 0 {
		return
	}
	w := dir.WorkingHours()
	if w == nil {
		c.warn("working hours", "flows %s count working hours, and the directory sets none: Monday to Friday, 09:00-17:00 apply (UTC for people without a timezone); add working_hours to the directory to set the days, hours and holidays",
			strings.Join(users, ", "))
		return
	}
	last := ""
	for h := range w.Holidays {
		last = max(last, h)
	}
	if today := now.Format(time.DateOnly); last < today {
		c.warn("working hours", "no holiday listed after today in the directory's working_hours (the last: %s): add the coming ones, or flows %s count them as working days",
			cmp.Or(last, "none"), strings.Join(users, ", "))
		return
	}
	c.ok("working hours", "%s (%s for people without a timezone), %s, the last on %s; counted by flows %s",
		w, w.Location, flows.Plural(len(w.Holidays), "holiday", "holidays"), last, strings.Join(users, ", "))
}

// stranded warns of open requests whose flow is no longer defined.
func (c *checkup) stranded(ctx context.Context, cfg bot.Config) {
	if cfg.RedisURL == "" || c.engine == nil {
		return
	}
	rdb, err := storage.Client(cfg.RedisURL)
	if err != nil {
		return // said by the redis check
	}
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	store := storage.New(rdb, storage.Config{})
	open, err := store.OpenByFlow(ctx)
	if err != nil {
		return // an unreachable Redis is said by the redis check
	}
	steps, _ := strandedSteps(ctx, store, c.engine, open)
	stranded := append(strandedFlows(open, c.engine), steps...)
	if len(stranded) == 0 {
		return
	}
	c.warn("requests", "%s", strings.Join(stranded, "; "))
}

// strandedFlows says, for each flow that has open requests (open, from
// Store.OpenByFlow) and is no longer defined (its file removed or
// renamed), how many: nothing moves them on but cancelling or withdrawing
// them.
func strandedFlows(open map[string]int64, engine *flows.Engine) []string {
	var out []string
	for _, f := range slices.Sorted(maps.Keys(open)) {
		if _, ok := engine.Flow(f); !ok {
			out = append(out, fmt.Sprintf("flow %q: %s, and the flow is no longer defined (its file removed or renamed): restore it in BATON_FLOWS_DIR, or an admin cancels them (their requesters may withdraw them)",
				f, flows.Plural(int(open[f]), "open request", "open requests")))
		}
	}
	return out
}

// strandedSteps says, for each defined flow with open requests (open),
// which of its latest open requests (strandedRead of them) are at a step
// it no longer has (removed or renamed): nothing moves those on either. It
// reads requests, so start-up runs it in the background.
func strandedSteps(ctx context.Context, store *storage.Store, engine *flows.Engine, open map[string]int64) ([]string, error) {
	var openStatuses []flows.Status
	for _, st := range flows.Statuses {
		if st.Open() {
			openStatuses = append(openStatuses, st)
		}
	}
	var out []string
	for _, f := range slices.Sorted(maps.Keys(open)) {
		def, ok := engine.Flow(f)
		if !ok {
			continue // said by strandedFlows
		}
		ins, err := store.List(ctx, flows.Query{Flow: f, Status: openStatuses, Limit: strandedRead})
		if err != nil {
			return out, err
		}
		var at []string
		for _, in := range ins {
			if in.Step != "" && def.Step(in.Step) == nil {
				at = append(at, in.ID+" at "+in.Step)
			}
		}
		if len(at) > 0 {
			shown := at[:min(len(at), 5)]
			more := ""
			if len(at) > len(shown) {
				more = fmt.Sprintf(" and %d more", len(at)-len(shown))
			}
			of := ""
			if open[f] > strandedRead {
				of = fmt.Sprintf(" (of its latest %d open requests)", strandedRead)
			}
			out = append(out, fmt.Sprintf("flow %q: %s at a step it no longer has%s (%s%s): the owner or an admin skips that step of a running one (it goes on after the last step it went through) or cancels it; one sent back to its requester can only be withdrawn or cancelled",
				f, flows.Plural(len(at), "open request", "open requests"), of, strings.Join(shown, ", "), more))
		}
	}
	return out, nil
}

// strandedRead bounds the open requests of each flow strandedSteps reads.
const strandedRead = 500
