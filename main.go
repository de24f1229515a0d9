// Command baton is a chat-first workflow orchestration bot for Slack and
// Microsoft Teams. This file is the composition root: it reads the
// configuration, builds the parts and runs them. Run `baton --help`.
package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // directory timezones work in a scratch or distroless image

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	slackadapter "github.com/batonbot/baton/adapters/slack"
	"github.com/batonbot/baton/adapters/teams"
	"github.com/batonbot/baton/adapters/web"
	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
	"github.com/batonbot/baton/manifests"
	"github.com/batonbot/baton/storage"
)

// gcPercent is Baton's GOGC unless the environment sets one. Its live heap
// is small (tens of MB) and every transition allocates: collecting when the
// heap has grown 4x instead of 2x spends about a fifth less CPU per approval
// (README, Performance). Where memory is tight, GOMEMLIMIT caps the heap
// (manifests/k8s sets it below the container's limit).
const gcPercent = 400

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	// go-redis logs failed dials and the like on its own, in its own format,
	// before Baton reports the error with what to do about it: its lines
	// are kept for BATON_LOG_LEVEL=debug only.
	if !strings.EqualFold(os.Getenv("BATON_LOG_LEVEL"), "debug") {
		redis.SetLogger(quietRedis{})
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Environ(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// quietRedis drops go-redis's own log lines.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// commands are baton's commands besides serving (serve, the default).
var commands = []string{"validate", "graph", "audit", "dead", "healthcheck", "token", "doctor", "teams-package", "version"}

// run is the whole program: it returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, environ []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "validate":
			return validate(args[1:], getenv, stdout, stderr)
		case "graph":
			return graph(args[1:], getenv, stdout, stderr)
		case "audit":
			return audit(ctx, args[1:], getenv, stdout, stderr)
		case "dead":
			return dead(ctx, args[1:], getenv, stdout, stderr) // main_dead.go
		case "healthcheck":
			if len(args) > 1 {
				w := stderr
				if wantsHelp(args[1:]) {
					w = stdout
				}
				fmt.Fprintln(w, "usage: baton healthcheck (exits 0 when the Baton listening on BATON_HTTP_ADDR on this machine answers /healthz)")
				if wantsHelp(args[1:]) {
					return 0
				}
				return 2
			}
			return healthcheck(ctx, getenv, stderr)
		case "token":
			return token(ctx, args[1:], getenv, stdout, stderr) // main_api.go
		case "doctor":
			return doctor(ctx, args[1:], getenv, environ, stdout, stderr)
		case "teams-package":
			return teamsPackage(args[1:], getenv, stdout, stderr)
		case "version":
			if len(args) > 1 {
				w, code := stderr, 2
				if wantsHelp(args[1:]) {
					w, code = stdout, 0
				}
				fmt.Fprintln(w, "usage: baton version (prints the build: version, commit and Go version)")
				return code
			}
			fmt.Fprintln(stdout, version())
			return 0
		case "serve":
			args = args[1:]
		default:
			if a := args[0]; !strings.HasPrefix(a, "-") { // no command takes a word: a mistyped command
				fmt.Fprintf(stderr, "%s (the commands are serve, %s; see baton --help)\n",
					noSuch("baton: there is no command", a, append(slices.Clone(commands), "serve", "help")), strings.Join(commands, ", "))
				return 2
			}
		case "help":
			if len(args) > 1 && args[1] != "serve" && args[1] != "help" && !wantsHelp(args[1:2]) { // baton help token: as baton token --help
				if !slices.Contains(commands, args[1]) {
					fmt.Fprintf(stderr, "%s; the commands are %s (see baton --help)\n", noSuch("baton help: there is no command", args[1], commands), strings.Join(commands, ", "))
					return 2
				}
				return run(ctx, []string{args[1], "--help"}, getenv, environ, stdout, stderr)
			}
			args = []string{"--help"} // baton help: as baton --help
		}
	}
	var cfg bot.Config
	err := routed(stdout, stderr, func(w io.Writer) (err error) {
		cfg, err = bot.LoadConfig(args, getenv, environ, w)
		return err
	})
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "baton: %v\n", err)
		return 2
	}
	log := cfg.Logger(stderr)
	if err := serve(ctx, cfg, getenv, log, nil); err != nil {
		// 2, as for a bad environment value above, when the configuration
		// is wrong (the flows, the directory, secrets, admins); 1 for
		// anything else that stopped it.
		code := 1
		if errors.As(err, new(configError)) {
			code = 2
		}
		if msg := err.Error(); cfg.LogFormat == "text" && strings.Contains(msg, "\n") {
			// A list of problems (in the flows, the directory) is for a
			// person to read: as written, not quoted into one line.
			log.Error("baton stopped; the problems follow")
			fmt.Fprintf(stderr, "%s\n", msg)
			return code
		}
		log.Error("baton stopped", "err", err)
		return code
	}
	return 0
}

// checkAdmins refuses an admin the directory does not know (a typo would
// leave Baton without the admin it was meant to have), unless there is no
// directory to check against.
func checkAdmins(engine *flows.Engine, admins []string) error {
	dir := engine.Directory()
	if dir.Empty() {
		return nil
	}
	var unknown []string
	for _, a := range admins {
		if _, ok := dir.Person(a); !ok {
			unknown = append(unknown, fmt.Sprintf("%q", a))
		}
	}
	switch len(unknown) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("BATON_ADMINS (-admins): %s is not a person in the people directory; list directory ids (e.g. BATON_ADMINS=olivia), or add them to BATON_DIRECTORY", unknown[0])
	}
	return fmt.Errorf("BATON_ADMINS (-admins): %s are not people in the people directory; list directory ids (e.g. BATON_ADMINS=olivia), or add them to BATON_DIRECTORY", strings.Join(unknown, ", "))
}

// flowsDirProblem says what is wrong with a configured flows directory
// that is not one (nil for "", the built-in flows).
func flowsDirProblem(dir string) error {
	if info, err := os.Stat(dir); dir != "" && (err != nil || !info.IsDir()) {
		return fmt.Errorf("flows directory %s: there is no such directory; set BATON_FLOWS_DIR (or -flows) to the directory of your flows", dir)
	}
	return nil
}

// checkSettings checks, without I/O, the settings the rest of start-up
// reads from the environment (mail and links, the chat platforms), so that
// a bad value stops Baton as a bad BATON_* value does: before Redis is
// looked for, exiting 2. build reads them again.
func checkSettings(cfg bot.Config, getenv func(string) string) error {
	if _, err := externalSettings(cfg, getenv); err != nil {
		return err
	}
	if _, _, err := slackadapter.ConfigFromEnv(getenv); err != nil {
		return err
	}
	if _, _, err := teams.LoadConfig(getenv); err != nil {
		return fmt.Errorf("teams: %w", err)
	}
	return nil
}

// configError is a mistake in Baton's configuration found at start-up:
// baton exits 2 for it.
type configError struct{ error }

func (e configError) Unwrap() error { return e.error }

// prepare loads the engine and checks what start-up refuses of it: the
// secrets its flows need, and the admins.
func prepare(cfg bot.Config) (*flows.Engine, error) {
	engine, err := loadEngine(cfg)
	if err != nil {
		return nil, err
	}
	if err := cfg.CheckSecrets(engine.Flows()); err != nil {
		return nil, err
	}
	if err := checkAdmins(engine, cfg.Admins); err != nil {
		return nil, err
	}
	return engine, nil
}

// loadFlowsDir loads the flows of an operator's directory, each file named
// by its path as configured (flows/a.yaml), not by its name alone: in a
// problem, and where one flow's clash with another names it.
func loadFlowsDir(dir string) ([]*flows.Definition, error) {
	defs, err := flows.LoadDefinitions(os.DirFS(dir), ".")
	for _, d := range defs {
		d.Source = filepath.Join(dir, d.Source)
	}
	return defs, prefixProblems(err, dir)
}

// loadEngine reads the flows and the directory the configuration names (or
// the built-in ones) and builds the engine.
func loadEngine(cfg bot.Config) (*flows.Engine, error) {
	var defs []*flows.Definition
	var err error
	if err := flowsDirProblem(cfg.FlowsDir); err != nil {
		return nil, err
	}
	if cfg.FlowsDir != "" {
		defs, err = loadFlowsDir(cfg.FlowsDir)
	} else {
		defs, err = flows.LoadDefinitions(manifests.Flows, "flows")
	}
	if err != nil {
		return nil, fmt.Errorf("flow definitions:\n%w", err)
	}
	if len(defs) == 0 {
		return nil, fmt.Errorf("no flow definitions (*.yaml or *.yml files) in %s; set BATON_FLOWS_DIR (or -flows) to the directory of your flows, or unset it for the built-in examples", cfg.FlowsDir)
	}
	src, name := manifests.Directory, "built-in demo directory"
	if cfg.Directory != "" {
		if src, err = os.ReadFile(cfg.Directory); err != nil {
			return nil, fmt.Errorf("people directory: %w; set BATON_DIRECTORY (or -directory) to a readable YAML file", err)
		}
		name = cfg.Directory
	}
	dir, err := flows.ParseDirectory(name, src)
	if err != nil {
		return nil, fmt.Errorf("people directory:\n%w", err) // a list of problems, as the flows'
	}
	return flows.NewEngine(defs, dir, cfg.Admins)
}

// app is Baton assembled: what serve runs and what tests drive.
type app struct {
	engine     *flows.Engine
	store      *storage.Store
	svc        *bot.Service
	console    *web.Console
	platforms  []*platform
	dispatcher *bot.Dispatcher
	timers     *bot.Timers
	schedules  *bot.Schedules // scheduled starts (flows' schedule:)
	digests    *bot.Digests   // each person's daily digest of what waits on them
	server     *bot.Server
	external   *external // mail to external participants, the approval page, the dashboard
}

// platformDeps is what a chat platform's wiring (main_slack.go,
// main_teams.go) gets to build its adapter.
type platformDeps struct {
	getenv func(string) string
	svc    *bot.Service
	engine *flows.Engine
	kv     bot.KV
	locker bot.Locker
	log    *slog.Logger
	reg    prometheus.Registerer
	clock  clockwork.Clock // nil: the real clock
}

// platform is a configured chat platform.
type platform struct {
	name      string
	messenger bot.Messenger
	routes    map[string]http.Handler         // ServeMux patterns, e.g. "POST /slack/events"
	run       func(ctx context.Context) error // background work (Socket Mode), or nil
}

// platformBuilders wire each chat platform; each returns nil when its
// configuration is absent.
var platformBuilders = []func(platformDeps) (*platform, error){slackPlatform, teamsPlatform}

// build assembles Baton over a Redis client. clock nil means the real clock.
func build(ctx context.Context, cfg bot.Config, getenv func(string) string, log *slog.Logger, rdb redis.UniversalClient, clock clockwork.Clock, scfg storage.Config) (*app, error) {
	engine, err := prepare(cfg)
	if err != nil {
		return nil, err
	}
	// Warned of, not refused: the directory changes without the flows
	// (someone leaves), and Baton still runs what it can. baton doctor
	// says so too, and baton validate refuses them.
	for _, p := range engine.DirectoryProblems() {
		log.Warn("the flows and the people directory do not match: work sent there reaches nobody, or a stand-in", "problem", p.String(), "fix", "add them to BATON_DIRECTORY or fix the flow")
	}
	for _, s := range engine.ScheduleProblems() {
		log.Warn("a schedule's data is refused", "what", s, "fix", "fix the schedule's data, or BATON_DIRECTORY if it names someone the directory lacks")
	}
	store := storage.New(rdb, scfg)
	ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = store.Init(ictx)
	var installation string
	if err == nil {
		installation, err = store.Installation(ictx)
	}
	cancel()
	if err != nil {
		return nil, fmt.Errorf("redis: %w; check BATON_REDIS_URL and that Redis is running", err)
	}
	// Open requests nothing moves on (baton doctor says so too).
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	open, err := store.OpenByFlow(octx)
	cancel()
	if err != nil {
		log.Warn("open requests could not be counted by flow", "err", err)
	}
	for _, s := range strandedFlows(open, engine) {
		log.Warn("open requests nothing moves on: their flow is no longer defined", "what", s)
	}
	go func() { // reads requests: not in start-up's way
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		stranded, err := strandedSteps(ctx, store, engine, open)
		if err != nil && ctx.Err() == nil {
			log.Warn("open requests at steps no longer defined could not be looked for", "err", err)
		}
		for _, s := range stranded {
			log.Warn("open requests nothing moves on: their step is no longer defined", "what", s)
		}
	}()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := bot.NewMetrics(reg)
	reg.MustRegister(backlogCollector{store})
	a := &app{engine: engine, store: store}
	a.svc = bot.NewService(engine, store, clock, log, metrics)
	var messengers []bot.Messenger
	deps := platformDeps{getenv: getenv, svc: a.svc, engine: engine, kv: store, locker: store, log: log, reg: reg, clock: clock}
	for _, b := range platformBuilders {
		p, err := b(deps)
		if err != nil {
			return nil, err
		}
		if p != nil {
			a.platforms = append(a.platforms, p)
			messengers = append(messengers, p.messenger)
		}
	}
	if consoleOn(cfg, len(a.platforms)) {
		a.console = web.New(a.svc, web.Config{Open: cfg.Console == "open", PublicHost: publicHost(getenv("BATON_PUBLIC_URL"))}, log)
		messengers = append(messengers, a.console.Messenger())
	}
	if a.external, err = buildExternal(ctx, cfg, getenv, a, log, clock); err != nil { // main_external.go
		return nil, err
	}
	messengers = append(messengers, a.external.messenger)
	for _, m := range messengers { // answers name commands as each platform's people type them
		if n, ok := m.(bot.CommandNamer); ok {
			a.svc.SetCommandNamer(m.Platform(), n)
		}
	}
	// With no platform that carries cards to people (the API alone), a
	// card has nowhere to go, and none ever will: counted and dropped, not
	// a dead letter for an operator to fix. Said once, here.
	reachPeople := len(a.platforms) > 0 || a.console != nil
	if !reachPeople {
		log.Info(noPeoplePlatform, "fix", "to send cards, configure Slack (SLACK_BOT_TOKEN) or Teams (MicrosoftAppId), or turn on the console (BATON_CONSOLE)")
	} else if unreached := unreachable(engine.Directory(), messengers); len(unreached) > 0 {
		log.Warn("people in the directory no platform reaches: work sent to them reaches nobody", "people", strings.Join(unreached, ", "),
			"fix", "add their Slack or Teams id to BATON_DIRECTORY, or turn on the console (BATON_CONSOLE)")
	}
	webhooks := bot.NewWebhooks(nil, cfg.Secrets, clock)
	webhooks.SetInstallation(installation)
	a.dispatcher = bot.NewDispatcher(bot.DispatcherConfig{Reclaim: cfg.Reclaim, HookRetryFor: cfg.HookRetryFor, Instance: a.svc.Instance,
		DropUnreachable: !reachPeople}, store, messengers, webhooks, a.svc.Handle, log, metrics)
	a.svc.OnCommit(a.dispatcher.Wake)
	a.timers = bot.NewTimers(bot.TimerConfig{Interval: cfg.TimerInterval, Lease: cfg.TimerLease}, store, a.svc.Apply, clock, log, metrics)
	a.schedules = bot.NewSchedules(bot.ScheduleConfig{}, engine.Flows(), store, a.svc.Handle, clock, log, metrics)
	a.digests = bot.NewDigests(cfg.DigestAt, a.svc, messengers, store, clock, log, metrics)
	a.server = bot.NewServer(cfg.HTTPAddr, log, metrics, reg, store.Ping)
	a.server.Handle(bot.InboundRoute, bot.NewInbound(a.svc, cfg.Secrets, store, store, clock, log, metrics))
	for _, p := range a.platforms {
		for pattern, h := range p.routes {
			a.server.Handle(pattern, h)
		}
	}
	for pattern, h := range a.external.routes {
		a.server.Handle(pattern, h)
	}
	if err := mountAPI(a, cfg, webhooks, log); err != nil { // main_api.go
		return nil, err
	}
	if a.console != nil {
		a.server.Handle("/", a.console.Handler())
	}
	return a, nil
}

// serve runs Baton until ctx is cancelled. ready (for tests) is called with
// the listening address.
func serve(ctx context.Context, cfg bot.Config, getenv func(string) string, log *slog.Logger, ready func(addr string)) error {
	// The flows, the directory and what they need are checked before Redis
	// (or the embedded store, and its warning) is looked for: a mistake in
	// them is told alone. build checks them again, which costs a few ms.
	if _, err := prepare(cfg); err != nil {
		return configError{err}
	}
	if err := checkSettings(cfg, getenv); err != nil {
		return configError{err}
	}
	// The address is bound next, before Redis, the embedded store or
	// anything else starts: one this machine cannot listen on (a host that
	// does not resolve, a port in use) is the configuration's to fix.
	ln, err := bot.Listen(cfg.HTTPAddr)
	if err != nil {
		return configError{err}
	}
	defer ln.Close() // the server closes it once it runs; this, if start-up stops before
	rdb, closeRedis, err := connect(cfg, log)
	if err != nil {
		return err
	}
	defer closeRedis()
	a, err := build(ctx, cfg, getenv, log, rdb, nil, storage.Config{})
	if err != nil {
		return err
	}
	a.server.UseListener(ln)
	addr := ln.Addr()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.server.Run(gctx) })
	g.Go(func() error { return a.dispatcher.Run(gctx) })
	g.Go(func() error { return a.timers.Run(gctx) })
	g.Go(func() error { return a.schedules.Run(gctx) })
	g.Go(func() error { return a.digests.Run(gctx) })
	for _, p := range a.platforms {
		if p.run != nil {
			g.Go(func() error { return p.run(gctx) })
		}
	}
	if a.console != nil {
		g.Go(func() error {
			<-gctx.Done()
			a.console.Close() // end live-update streams so the server can stop
			return nil
		})
	}
	var names []string
	for _, d := range a.engine.Flows() {
		names = append(names, d.ID)
	}
	var platforms []string
	for _, p := range a.platforms {
		platforms = append(platforms, p.name)
	}
	console := "off"
	switch {
	case a.console != nil:
		console = consoleURL(addr.String())
	case cfg.Console == "auto" && len(a.platforms) == 0:
		console = "off (a server on Redis; BATON_CONSOLE=local turns it on for this machine)"
	}
	log.Info("baton is running", "addr", addr.String(), "flows", strings.Join(names, ","), "platforms", strings.Join(platforms, ","), "console", console)
	if ready != nil {
		ready(addr.String())
	}
	if err = g.Wait(); err == nil { // else run says it stopped, and why
		log.Info("baton stopped")
	}
	return err
}

// publicHost is the host of BATON_PUBLIC_URL ("" if none).
func publicHost(public string) string {
	if u, err := url.Parse(public); err == nil {
		return u.Hostname()
	}
	return ""
}

func consoleURL(addr string) string {
	_, port, _ := strings.Cut(addr, "]:")
	if port == "" {
		_, port, _ = strings.Cut(addr, ":")
	}
	return "http://localhost:" + port + "/"
}

// connect opens Redis, or the embedded store when no URL is configured.
func connect(cfg bot.Config, log *slog.Logger) (redis.UniversalClient, func(), error) {
	if cfg.RedisURL != "" {
		rdb, err := storage.Client(cfg.RedisURL)
		if err != nil { // a URL that cannot be one: the configuration's to fix (exit 2)
			return nil, nil, configError{fmt.Errorf("BATON_REDIS_URL: %w", err)}
		}
		return rdb, func() { rdb.Close() }, nil
	}
	m, rdb, err := storage.Embedded()
	if err != nil {
		return nil, nil, err
	}
	log.Warn("BATON_REDIS_URL is not set: using an embedded in-process store. Its state (requests, audit trails, timers) " +
		"is lost when Baton stops. Set BATON_REDIS_URL=redis://host:6379/0 for anything but a demo.")
	return rdb, func() { rdb.Close(); m.Close() }, nil
}

// validate checks flow definitions (files or directories), and what they
// name against the people directory Baton would run them with.
func validate(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	const usage = "usage: baton validate [-directory FILE] PATH... (flow files, or directories of *.yaml and *.yml files; a people directory file is checked as one)\n" +
		"Checks every flow and reports each problem with file:line, field path and what to fix; exits 1 on any (warnings, marked so, do not fail it).\n" +
		"The people, groups and channels the flows name are checked against the people directory: -directory, else BATON_DIRECTORY, else a people\n" +
		"directory file among the paths, else (for the built-in flows only) the built-in demo directory; with none, they are not checked, and validate says so."
	flagSet := newFlags("validate", usage)
	dirFlag := flagSet.String("directory", "", "people directory file to check the flows against (default BATON_DIRECTORY)")
	if err := parseRouted(flagSet, args, stdout, stderr, parseFlags); err != nil {
		return flagsExit(err)
	}
	paths := flagSet.Args()
	if len(paths) == 0 {
		fmt.Fprintln(stderr, strings.SplitN(usage, "\n", 2)[0])
		return 2
	}
	// The files to read: each given file, and a directory's *.yaml and
	// *.yml files, as the flows directory is read. A file reached twice (a
	// directory and a file in it, a shell glob and a file) is read once.
	var files, problems []string
	seen := map[string]bool{}
	named := map[string]bool{} // files given by name, not found in a directory
	add := func(f string) {
		if abs, err := filepath.Abs(f); err == nil {
			if seen[abs] {
				return
			}
			seen[abs] = true
		}
		files = append(files, f)
	}
	for _, p := range paths {
		info, err := os.Stat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			problems = append(problems, fmt.Sprintf("%s: no such file or directory", p))
		case err != nil:
			problems = append(problems, err.Error())
		case !info.IsDir():
			add(p)
			named[p] = true
		default:
			entries, err := os.ReadDir(p)
			if err != nil {
				problems = append(problems, err.Error())
				continue
			}
			n := 0
			for _, e := range entries {
				if !e.IsDir() && flows.DefinitionFile(e.Name()) {
					add(filepath.Join(p, e.Name()))
					n++
				}
			}
			if n == 0 {
				problems = append(problems, fmt.Sprintf("%s: no flow definitions (*.yaml or *.yml files) in this directory", p))
			}
		}
	}
	var defs []*flows.Definition
	var ok []string // the people directories that are fine
	var given []*flows.Directory
	var givenNames []string // the people directory files named, that parsed
	builtIn := true         // every flow read is one of the built-in ones, as shipped
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		if flows.LooksLikeDirectory(src) { // checked as what it is, not as a flow
			if !named[f] { // in a flows directory, as the server would read it
				problems = append(problems, f+":1: "+flows.InFlowsDir)
			} else if dir, err := flows.ParseDirectory(f, src); err != nil {
				problems = append(problems, err.Error())
			} else {
				ok = append(ok, fmt.Sprintf("ok  %s: people directory, %s", f, flows.Plural(len(dir.People()), "person", "people")))
				given, givenNames = append(given, dir), append(givenNames, f)
			}
			continue
		}
		shipped, err := fs.ReadFile(manifests.Flows, "flows/"+filepath.Base(f))
		builtIn = builtIn && err == nil && bytes.Equal(shipped, src)
		d, err := flows.ParseDefinition(f, src)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		defs = append(defs, d) // those that parsed, even beside others that did not: their clashes too
	}
	// The people directory to check them against: the one Baton would run
	// with. With none configured that is the demo directory, which is only
	// meant for the built-in flows: an operator's flows are not checked
	// against it (their people would all be strangers), and that is said.
	var dir *flows.Directory
	var unchecked string
	switch dirFile := cmp.Or(*dirFlag, getenv("BATON_DIRECTORY")); {
	case dirFile != "":
		src, err := os.ReadFile(dirFile)
		if err == nil {
			dir, err = flows.ParseDirectory(dirFile, src)
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("%v\n(the people directory to check the flows against: -directory, else BATON_DIRECTORY; fix it to have the flows' people, groups and channels checked)", err))
		}
	case len(given) == 1: // validate flows/ people.yaml: the flows against it
		dir = given[0]
	case len(given) > 1:
		unchecked = "note: the people, groups and channels the flows name were not checked: several people directories were given (" + strings.Join(givenNames, ", ") +
			"); name the one Baton runs with: baton validate -directory people.yaml PATH..."
	case builtIn:
		dir, _ = flows.ParseDirectory("built-in demo directory", manifests.Directory)
	default:
		unchecked = "note: the people, groups and channels the flows name were not checked: no people directory was given (Baton would check them at start-up against BATON_DIRECTORY, warning of those it lacks); " +
			"check them now with baton validate -directory people.yaml PATH... (or BATON_DIRECTORY=people.yaml)"
	}
	// The flows that loaded, together (ids, commands and prefixes must not
	// clash), their schedules' data and what they name, against the
	// directory.
	e, err := flows.NewEngine(defs, dir, nil)
	if err != nil {
		problems = append(problems, err.Error())
	}
	for _, p := range e.DirectoryProblems() {
		problems = append(problems, p.String())
	}
	problems = append(problems, e.ScheduleProblems()...) // the engine holds every flow, clashing or not
	var warnings []string
	// The files that are fine are said to be, beside the others' problems:
	// those no problem names.
	for _, d := range defs {
		w := d.Warnings()
		for _, p := range w {
			warnings = append(warnings, p.String())
		}
		if slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, d.Source) }) {
			continue
		}
		steps := "steps"
		if len(d.Steps) == 1 {
			steps = "step"
		}
		warned := ""
		if len(w) > 0 {
			warned = ", " + flows.Plural(len(w), "warning", "warnings")
		}
		fmt.Fprintf(stdout, "ok  %s: flow %s, %d %s, started with: start %s%s\n", d.Source, d.ID, len(d.Steps), steps, d.Command, warned)
	}
	for _, l := range ok {
		fmt.Fprintln(stdout, l)
	}
	for _, w := range warnings {
		fmt.Fprintln(stderr, w)
	}
	if unchecked != "" && len(defs) > 0 {
		fmt.Fprintln(stderr, unchecked)
	}
	if len(problems) > 0 {
		fmt.Fprintln(stderr, strings.Join(problems, "\n"))
		return 1
	}
	return 0
}

// parseFlags parses args with flags before or after the other arguments
// (baton audit PR-12 -json), which the flag package alone stops at.
// newFlags is a subcommand's flag set, printing usage and the flags.
func newFlags(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), usage)
		fs.PrintDefaults()
	}
	return fs
}

// openStore opens the Store at url for a command, or says on stderr why
// it cannot (noURL when url is empty), each line led by prefix ("baton").
func openStore(url, prefix, noURL string, stderr io.Writer) (store *storage.Store, closeStore func(), ok bool) {
	if url == "" {
		fmt.Fprintf(stderr, "%s: %s\n", prefix, noURL)
		return nil, nil, false
	}
	rdb, err := storage.Client(url)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prefix, err)
		return nil, nil, false
	}
	return storage.New(rdb, storage.Config{}), func() { rdb.Close() }, true
}

// noSuch says that word is not one of known: what, the word, and the
// nearest of known if there is one near enough.
func noSuch(what, word string, known []string) string {
	msg := fmt.Sprintf("%s %q", what, word)
	if n := flows.Nearest(word, known); n != "" && word != "" {
		msg += fmt.Sprintf("; did you mean %s?", n)
	}
	return msg
}

// redisHint is what to check when a command could not read or write
// Redis: nothing for an answer Redis gave (no such instance).
func redisHint(err error) string {
	if errors.Is(err, flows.ErrNotFound) {
		return ""
	}
	return "; check BATON_REDIS_URL (or -redis-url) and that Redis is running"
}

// redisURLFlag adds -redis-url to fs and returns the URL to use once fs is
// parsed: the flag's, or BATON_REDIS_URL. The environment's is not the
// flag's default, which the usage would print: the URL may hold a password.
func redisURLFlag(fs *flag.FlagSet, getenv func(string) string) func() string {
	url := fs.String("redis-url", "", "Redis URL (default BATON_REDIS_URL)")
	return func() string { return cmp.Or(*url, getenv("BATON_REDIS_URL")) }
}

// routed runs a parse of flags that writes to w (a mistake and the usage,
// or the usage asked for) and sends what it wrote where it belongs: help
// asked for (-h, --help) to standard output, so `baton graph --help | less`
// works; a mistake to standard error.
func routed(stdout, stderr io.Writer, parse func(w io.Writer) error) error {
	var buf bytes.Buffer
	err := parse(&buf)
	if errors.Is(err, flag.ErrHelp) {
		_, _ = stdout.Write(buf.Bytes())
	} else {
		_, _ = stderr.Write(buf.Bytes())
	}
	return err
}

// parseRouted parses args into fs (with parse: fs.Parse, or parseFlags for
// flags after arguments), its output routed.
func parseRouted(fs *flag.FlagSet, args []string, stdout, stderr io.Writer, parse func(*flag.FlagSet, []string) error) error {
	return routed(stdout, stderr, func(w io.Writer) error {
		fs.SetOutput(w)
		defer fs.SetOutput(stderr)
		return parse(fs, args)
	})
}

// flagsExit is the exit code of a flag set's parse error: 0 for help.
func flagsExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}

// wantsHelp says whether args ask for help (before any "--").
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help", "--h":
			return true
		}
	}
	return false
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		rest, args = append(rest, fs.Arg(0)), fs.Args()[1:]
	}
	return fs.Parse(append([]string{"--"}, rest...))
}

// prefixProblems puts a directory in front of the file names of problems.
func prefixProblems(err error, dir string) error {
	var de *flows.DefinitionError
	if !errors.As(err, &de) {
		return err
	}
	for i := range de.Problems {
		de.Problems[i].File = filepath.Join(dir, de.Problems[i].File)
	}
	return de
}

// graph prints a flow as a Mermaid flowchart.
func graph(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	const usage = "usage: baton graph [-flows DIR] FLOW|FILE.yaml (prints the flow as a Mermaid flowchart)"
	fs := newFlags("graph", usage)
	dir := fs.String("flows", getenv("BATON_FLOWS_DIR"), "flow definitions directory (default: BATON_FLOWS_DIR, else the built-in flows)")
	if err := parseRouted(fs, args, stdout, stderr, parseFlags); err != nil {
		return flagsExit(err)
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	// A flow file, named by its path: that flow, as baton validate reads it.
	if f := fs.Arg(0); flows.DefinitionFile(f) {
		src, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(stderr, "baton: %v\n", err)
			return 1
		}
		def, err := flows.ParseDefinition(f, src)
		if err != nil {
			fmt.Fprintf(stderr, "baton: %v\n", err)
			return 1
		}
		fmt.Fprint(stdout, def.Mermaid())
		return 0
	}
	engine, err := loadEngine(bot.Config{FlowsDir: *dir})
	if err != nil {
		fmt.Fprintf(stderr, "baton: %v\n", err)
		return 1
	}
	def, ok := engine.Flow(fs.Arg(0))
	if !ok {
		msg := fmt.Sprintf("baton: no flow called %q", fs.Arg(0))
		if s := engine.Suggest(fs.Arg(0)); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		fmt.Fprintln(stderr, msg)
		return 1
	}
	fmt.Fprint(stdout, def.Mermaid())
	return 0
}

// audit prints an instance's audit trail after verifying its hash chain.
func audit(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	const usage = "usage: baton audit [-json] [-redis-url URL] ID (prints a request's audit trail and verifies its hash chain)"
	fs := newFlags("audit", usage)
	asJSON := fs.Bool("json", false, "export as JSON lines")
	url := redisURLFlag(fs, getenv)
	if err := parseRouted(fs, args, stdout, stderr, parseFlags); err != nil {
		return flagsExit(err)
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	store, closeStore, ok := openStore(url(), "baton", "audit reads Redis: set BATON_REDIS_URL (the embedded store keeps nothing once Baton stops)", stderr)
	if !ok {
		return 2
	}
	defer closeStore()
	id := strings.ToUpper(fs.Arg(0))
	// The instance first: it records how many entries the trail has and the
	// last one's hash, which show entries cut off its end. The trail only
	// grows, so entries written between the two reads are no harm.
	in, err := store.Get(ctx, id)
	if err != nil {
		fmt.Fprintf(stderr, "baton: %v%s\n", err, redisHint(err))
		return 1
	}
	entries, err := store.Audit(ctx, id)
	if err != nil {
		fmt.Fprintf(stderr, "baton: %v%s\n", err, redisHint(err))
		return 1
	}
	chainErr := flows.VerifyChain(entries)
	if chainErr == nil {
		chainErr = reachesHead(entries, in)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, e := range entries {
			_ = enc.Encode(e)
		}
	} else {
		for _, e := range entries {
			action := e.Action
			if e.Refused { // in the action's column, so the columns after it line up
				action += " (refused)"
			}
			line := fmt.Sprintf("%4d  %s  %-10s %-18s", e.Seq, e.At.Format(time.RFC3339), e.Actor, action)
			if e.Step != "" {
				line += "  step=" + e.Step
				if e.Round > 0 { // a notify step has no rounds
					line += fmt.Sprintf(" round=%d", e.Round)
				}
			}
			if e.OnBehalf != "" {
				line += "  on behalf of " + e.OnBehalf
			}
			if e.Via != "" {
				line += fmt.Sprintf("  via=%q", e.Via)
			}
			if e.Platform != "" {
				line += "  platform=" + e.Platform
			}
			if e.Reason != "" {
				line += fmt.Sprintf("  reason=%q", e.Reason)
			}
			for _, k := range slices.Sorted(maps.Keys(e.Detail)) {
				line += fmt.Sprintf("  %s=%q", k, e.Detail[k])
			}
			fmt.Fprintln(stdout, line)
		}
	}
	if chainErr != nil {
		fmt.Fprintf(stderr, "baton: %s: AUDIT TRAIL DOES NOT VERIFY: %v\n", id, chainErr)
		return 1
	}
	fmt.Fprintf(stderr, "%s: %d entries, hash chain verified (head %s)\n", id, len(entries), headOf(entries))
	return 0
}

// reachesHead checks that a verified trail holds every entry the instance
// records, up to the hash the instance holds as its head: a hash chain alone
// does not show entries removed from its end.
func reachesHead(entries []flows.AuditEntry, in *flows.Instance) error {
	if in.AuditSeq == 0 {
		return nil
	}
	if len(entries) < in.AuditSeq {
		return fmt.Errorf("the trail ends at entry %d but the instance records %d (head %.16s): entries removed from its end",
			len(entries), in.AuditSeq, in.AuditHead)
	}
	if e := entries[in.AuditSeq-1]; e.Hash != in.AuditHead {
		return fmt.Errorf("audit entry %d: hash %.16s, but the instance records %.16s as its head (entries replaced)",
			e.Seq, e.Hash, in.AuditHead)
	}
	return nil
}

func headOf(entries []flows.AuditEntry) string {
	if len(entries) == 0 {
		return "-"
	}
	return entries[len(entries)-1].Hash[:16]
}

// healthcheck asks a running Baton on this machine whether it is healthy
// (for container health checks: the image has no shell or curl).
func healthcheck(ctx context.Context, getenv func(string) string, stderr io.Writer) int {
	addr := cmp.Or(getenv("BATON_HTTP_ADDR"), ":8080")
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		fmt.Fprintf(stderr, "baton: BATON_HTTP_ADDR %q: %v\n", addr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+port+"/healthz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "baton: unhealthy: %v\n", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "baton: unhealthy: HTTP %d\n", resp.StatusCode)
		return 1
	}
	return 0
}

// backlogDesc describes baton_backlog.
var backlogDesc = prometheus.NewDesc("baton_backlog",
	"Work waiting in Redis, read at each scrape: outbox entries not delivered (unacked: of those, read by a replica and not acknowledged), requests waiting on a timer (leased: claimed and not fired yet), dead letters waiting for an operator (baton dead), and hooks: requests whose events to a subscriber are being delivered or wait for one to be tried again (one per request and subscriber).",
	[]string{"kind"}, nil)

// backlogCollector reports the store's backlog at each scrape, for alerts:
// an outbox that does not drain, deliveries given up on. When Redis does not
// answer it reports nothing (/readyz says so), so the other metrics are
// still served.
type backlogCollector struct{ store *storage.Store }

func (c backlogCollector) Describe(ch chan<- *prometheus.Desc) { ch <- backlogDesc }

func (c backlogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	b, err := c.store.Backlog(ctx)
	if err != nil {
		return
	}
	for kind, n := range map[string]int64{"outbox": b.Outbox, "unacked": b.Unacked, "timers": b.Timers, "leased": b.Leased, "dead": b.Dead, "hooks": b.Hooks} {
		ch <- prometheus.MustNewConstMetric(backlogDesc, prometheus.GaugeValue, float64(n), kind)
	}
}

// version describes the build from what the Go toolchain recorded in it:
// the module version, the commit (and whether the tree had changes), and
// the Go version, e.g. "baton (devel) 03f0d5e 2026-11-29T15:02:57Z go1.26.8".
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "baton (unknown build)"
	}
	out := "baton " + bi.Main.Version
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		out += " " + rev[:min(len(rev), 7)]
		if settings["vcs.modified"] == "true" {
			out += "+changes"
		}
		if t := settings["vcs.time"]; t != "" {
			out += " " + t
		}
	}
	return out + " " + bi.GoVersion
}

// consoleOn says whether the web console runs: asked for (local, open),
// or auto for the demo: no chat platform, on the embedded store. A server
// on a real Redis is not one, and may be behind a proxy on its machine,
// whose requests the console could not tell from this machine's.
func consoleOn(cfg bot.Config, chatPlatforms int) bool {
	return cfg.Console == "local" || cfg.Console == "open" || cfg.Console == "auto" && chatPlatforms == 0 && cfg.RedisURL == ""
}

// noPeoplePlatform says what becomes of cards when no platform carries
// them to people: start-up logs it, and baton doctor says it.
const noPeoplePlatform = `no platform carries cards to people (no Slack, no Teams, the console off): ` +
	`cards are not sent, only counted (baton_deliveries_total{result="unreachable"}) and dropped, not kept as dead letters; ` +
	`people follow requests through the API (and webhooks)`

// unreachable lists the directory's people none of messengers reaches.
func unreachable(dir *flows.Directory, messengers []bot.Messenger) []string {
	var out []string
	for _, p := range dir.People() {
		if !slices.ContainsFunc(messengers, func(m bot.Messenger) bool {
			_, ok := m.Reach(flows.Recipient{Person: p.ID})
			return ok
		}) {
			out = append(out, p.ID)
		}
	}
	return out
}
