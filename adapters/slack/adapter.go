package slack

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
)

// Service is what the adapter needs from the runtime (bot.Service has it).
type Service interface {
	Engine() *flows.Engine
	Now() time.Time
	Handle(ctx context.Context, ev flows.Event) (flows.Outcome, error)
	Command(ctx context.Context, actor, platform, key, text string) (bot.Reply, error)
	Instance(ctx context.Context, id string) (*flows.Instance, error)
	Status(ctx context.Context, viewer, id string) (*flows.Message, error)
	Tasks(ctx context.Context, person string) ([]*flows.Instance, error)
	Requests(ctx context.Context, person string, limit int) ([]*flows.Instance, error)
}

var _ Service = (*bot.Service)(nil)

// Deps is what the adapter uses from the rest of Baton.
type Deps struct {
	Service Service
	KV      bot.KV     // DM channel ids, users.info answers, seen event ids, who opened the App Home
	Locker  bot.Locker // claims each event's handling, so one replica does it
	Log     *slog.Logger
	Metrics prometheus.Registerer // nil: metrics are kept but not registered
}

// The slash command, events and routes the adapter serves. The manifest
// (manifests/slack/app-manifest.yaml) must agree; a test checks it does.
const (
	Command           = "/baton"
	PathCommands      = "/slack/commands"
	PathInteractions  = "/slack/interactions"
	PathEvents        = "/slack/events"
	platformName      = "slack"
	asyncTimeout      = 30 * time.Second
	ackDeadline       = 2500 * time.Millisecond // Slack gives up at 3 s: answer something before
	nsDM              = "slack.dm"              // user id -> DM channel id
	nsUser            = "slack.user"            // user id -> users.info (name, timezone)
	nsEvent           = "slack.event"           // team/event id -> seen
	nsHome            = "slack.home"            // user id -> has opened the App Home
	nsCard            = "slack.card"            // channel/ts of a task card -> what a reaction to it may confirm (reactions.go)
	eventSeenFor      = time.Hour               // Slack retries an event for about 6 minutes
	eventHandling     = 45 * time.Second        // one delivery of an event at a time: longer than its work may take (asyncTimeout)
	homeMarkerFor     = 90 * 24 * time.Hour
	cardKnownFor      = 180 * 24 * time.Hour // a reaction to an older task card is not recognized
	userInfoFor       = 24 * time.Hour
	maxHomeRetries    = 5
	maxSocketAckBytes = 19 * 1024 // Slack drops Socket Mode acks of 20 KB and more
)

// Events lists the Events API events the adapter handles.
var Events = []string{"app_home_opened", "reaction_added"}

// Scopes lists the bot token scopes the adapter needs, and no others:
// commands (/baton), chat:write (cards, updates, private answers), im:write
// (conversations.open for DMs), reactions:read (reaction_added, for a
// reaction to a task card) and users:read (names and timezones).
var Scopes = []string{"chat:write", "commands", "im:write", "reactions:read", "users:read"}

// ThreadEvents and ThreadScopes are what an app adds, if its admins choose,
// for short replies in a task card's thread ("lgtm", "rejected") to be
// answered with the decision as one click: the messages of the channels
// Baton is in. They are not in the manifest by default (its comments say
// how to add them), as they let Baton read every message there.
var (
	ThreadEvents = []string{"message.channels", "message.groups"}
	ThreadScopes = []string{"channels:history", "groups:history"}
)

// Adapter is the Slack adapter: HTTP handlers, Socket Mode, the Messenger,
// and the App Home. It is safe for concurrent use.
type Adapter struct {
	svc    Service
	kv     bot.KV
	locker bot.Locker
	log    *slog.Logger
	cfg    Config
	api    *webAPI
	m      *metrics
	homes  *homes

	bg    tracker  // background work started by requests and deliveries
	dms   sync.Map // user id -> DM channel id
	users sync.Map // user id -> userInfo
}

// New builds the adapter. It does no I/O: the Web API is first called when
// a request or a delivery needs it, and Run connects Socket Mode.
func New(d Deps, cfg Config) (*Adapter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	a := &Adapter{svc: d.Service, kv: d.KV, locker: d.Locker, log: d.Log, cfg: cfg, m: newMetrics(d.Metrics)}
	a.api = newWebAPI(cfg, a.m)
	a.homes = newHomes(a)
	return a, nil
}

// Messenger returns the adapter as the "slack" delivery platform.
func (a *Adapter) Messenger() bot.Messenger { return messenger{a} }

// Routes returns the HTTP handlers to mount (ServeMux patterns), or none
// when there is no signing secret (Socket Mode only).
func (a *Adapter) Routes() map[string]http.Handler {
	if a.cfg.SigningSecret == "" {
		return nil
	}
	return map[string]http.Handler{
		"POST " + PathCommands:     a.endpoint("command", a.httpCommand),
		"POST " + PathInteractions: a.endpoint("interaction", a.httpInteraction),
		"POST " + PathEvents:       a.endpoint("event", a.httpEvent),
	}
}

// Run does the adapter's background work until ctx is cancelled: it checks
// the bot token and runs Socket Mode (when an app token is set). It returns an error only when the token is refused; on return,
// background work has finished.
func (a *Adapter) Run(ctx context.Context) error {
	defer a.Wait()
	actx, cancel := context.WithTimeout(ctx, a.cfg.HTTPTimeout)
	who, err := a.api.authTest(actx)
	cancel()
	switch {
	case err != nil && bot.IsPermanent(err):
		return fmt.Errorf("slack: %w", err)
	case err != nil:
		a.log.Warn("slack auth.test failed; carrying on (Slack may be unreachable)", "err", err)
	default:
		a.log.Info("slack connected", "team", who.Team, "bot_user", who.UserID, "mode", a.mode())
	}
	var wg sync.WaitGroup
	if a.cfg.AppToken != "" {
		wg.Go(func() { a.runSocket(ctx) })
	}
	<-ctx.Done()
	wg.Wait()
	return nil
}

func (a *Adapter) mode() string {
	switch {
	case a.cfg.AppToken != "" && a.cfg.SigningSecret != "":
		return "socket+http"
	case a.cfg.AppToken != "":
		return "socket"
	}
	return "http"
}

// Wait blocks until the background work started so far (private answers,
// modals, App Home refreshes) has finished. Run calls it on the way out;
// tests call it before looking at what Slack received.
func (a *Adapter) Wait() { a.bg.Wait() }

// tracker counts background goroutines. Unlike a sync.WaitGroup it may
// start work while someone waits (a request arriving during shutdown):
// Wait returns once the count has dropped to zero.
type tracker struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to zero
}

// Go runs f in a goroutine, counted until it returns.
func (t *tracker) Go(f func()) {
	t.mu.Lock()
	if t.n == 0 {
		t.idle = make(chan struct{})
	}
	t.n++
	t.mu.Unlock()
	go func() {
		defer func() {
			t.mu.Lock()
			if t.n--; t.n == 0 {
				close(t.idle)
			}
			t.mu.Unlock()
		}()
		f()
	}()
}

// Wait blocks until no counted goroutine runs.
func (t *tracker) Wait() {
	t.mu.Lock()
	if t.n == 0 {
		t.mu.Unlock()
		return
	}
	idle := t.idle
	t.mu.Unlock()
	<-idle
}

// async runs f in the background with its own deadline, detached from the
// request that caused it (which is acknowledged without waiting).
func (a *Adapter) async(ctx context.Context, what string, f func(ctx context.Context) error) {
	ctx = context.WithoutCancel(ctx)
	a.bg.Go(func() {
		ctx, cancel := context.WithTimeout(ctx, asyncTimeout)
		defer cancel()
		if err := f(ctx); err != nil {
			a.log.Warn("slack "+what+" failed", "err", err)
		}
	})
}

// person is the directory id of a Slack user (slack:U… when not listed).
func (a *Adapter) person(user string) string {
	return a.svc.Engine().Directory().Resolve(platformName, user)
}

// slackUser is a person's Slack user id, or "".
func (a *Adapter) slackUser(person string) string {
	return a.svc.Engine().Directory().Identity(person, platformName)
}
