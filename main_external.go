package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/batonbot/baton/adapters/api"
	"github.com/batonbot/baton/adapters/email"
	"github.com/batonbot/baton/adapters/web"
	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/storage"
)

// external is the wiring of external participants (mail with signed
// links, the approval page at /x/) and of the operations dashboard.
type external struct {
	links     *bot.Links
	messenger *email.Messenger
	outbox    *email.Outbox // development mail (no BATON_SMTP_URL), or nil
	routes    map[string]http.Handler
}

// external's settings, read and checked without I/O (baton doctor checks
// them the same way).
type extSettings struct {
	public string
	ttl    time.Duration
	smtp   *email.SMTPConfig // nil: development mail
}

func externalSettings(cfg bot.Config, getenv func(string) string) (extSettings, error) {
	set := extSettings{public: getenv("BATON_PUBLIC_URL"), ttl: 7 * 24 * time.Hour}
	if set.public == "" {
		_, port, _ := net.SplitHostPort(cfg.HTTPAddr)
		set.public = "http://localhost:" + port
	} else if u, err := url.Parse(set.public); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return set, fmt.Errorf("BATON_PUBLIC_URL %s: write the address people reach Baton at, e.g. https://baton.example.com", redactURL(set.public))
	}
	if v := getenv("BATON_LINK_TTL"); v != "" {
		d, err := bot.ConfigDuration(v)
		if err != nil || d < time.Minute {
			return set, fmt.Errorf("BATON_LINK_TTL %q: write a duration of at least 1m, e.g. 7d or 168h", v)
		}
		set.ttl = d
	}
	if v := getenv("BATON_LINK_SECRET"); v != "" && len(v) < 32 {
		return set, fmt.Errorf("BATON_LINK_SECRET is too short: use at least 32 random characters (e.g. openssl rand -hex 32)")
	}
	if v := getenv("BATON_DASHBOARD_TOKEN"); v != "" && len(v) < 32 {
		return set, fmt.Errorf("BATON_DASHBOARD_TOKEN is too short: use at least 32 random characters (e.g. openssl rand -hex 32)")
	}
	if raw := getenv("BATON_SMTP_URL"); raw != "" {
		sc, err := email.ParseURL(raw)
		if err != nil {
			return set, err
		}
		set.smtp = &sc
	}
	return set, nil
}

// buildExternal reads BATON_PUBLIC_URL, BATON_LINK_SECRET, BATON_LINK_TTL,
// BATON_SMTP_URL and BATON_DASHBOARD_TOKEN. It resolves the link secret
// (generating one in Redis when none is configured).
func buildExternal(ctx context.Context, cfg bot.Config, getenv func(string) string, a *app, log *slog.Logger, clock clockwork.Clock) (*external, error) {
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	set, err := externalSettings(cfg, getenv)
	if err != nil {
		return nil, err
	}
	public, ttl := set.public, set.ttl
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	secret, err := bot.LinkSecret(sctx, getenv("BATON_LINK_SECRET"), a.store)
	cancel()
	if err != nil {
		return nil, err
	}
	x := &external{links: bot.NewLinks(secret, a.store, a.store, clock, bot.LinksConfig{TTL: ttl}), routes: map[string]http.Handler{}}
	var sender email.Sender
	from := "baton@localhost"
	if set.smtp != nil {
		sender, from = email.NewSMTP(*set.smtp), set.smtp.From
	} else {
		x.outbox = &email.Outbox{}
		sender = x.outbox
		if a.console != nil {
			a.console.ShowMail(func() []web.Mail {
				var out []web.Mail
				for _, m := range x.outbox.Mails() {
					out = append(out, web.Mail{At: m.At, To: m.To, Subject: m.Subject, Text: m.Text, Link: m.Link})
				}
				return out
			})
		} else {
			log.Warn("BATON_SMTP_URL is not set and the console is off: mail to external participants (email: assignees) is not sent anywhere. " +
				"Set BATON_SMTP_URL=smtp://user:pass@host:587?from=baton@example.com")
		}
	}
	x.messenger = email.New(sender, x.links, email.Config{From: from, PublicURL: public, Location: a.engine.Directory().Location("")}, clock.Now)
	x.routes["/x/"] = web.NewExternal(a.svc, x.links, log).Handler()

	dashToken := getenv("BATON_DASHBOARD_TOKEN") // its length checked by externalSettings
	auth := func(ctx context.Context, user, token string) (bool, error) {
		if !a.engine.IsAdmin(user) {
			return false, nil
		}
		if dashToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(dashToken)) == 1 {
			return true, nil
		}
		return adminAPIToken(ctx, a.store, user, token)
	}
	// A session holds while its person is an admin and its token is good:
	// BATON_DASHBOARD_TOKEN unchanged, or an API token not revoked.
	dashHash := api.HashToken(dashToken)
	still := func(ctx context.Context, user string, signedInWith func(tokenHash string) bool) (bool, error) {
		if !a.engine.IsAdmin(user) {
			return false, nil
		}
		if dashToken != "" && signedInWith(dashHash) {
			return true, nil
		}
		toks, err := a.store.Tokens(ctx)
		if err != nil {
			return false, err
		}
		for _, t := range toks {
			if signedInWith(t.Hash) {
				return t.Scope == "admin" && (t.Person == "" || t.Person == user), nil
			}
		}
		return false, nil // revoked
	}
	sessionKey := hmac.New(sha256.New, secret)
	sessionKey.Write([]byte("dashboard sessions"))
	dash := web.NewDashboard(a.svc, web.DashboardConfig{Authenticate: auth, Still: still, SignedOut: a.store, SessionKey: sessionKey.Sum(nil),
		Local: a.console != nil && len(a.platforms) == 0,
		Dead: func(ctx context.Context) (int64, error) {
			b, err := a.store.Backlog(ctx)
			return b.Dead, err
		}}, log)
	x.routes["/dashboard"] = dash.Handler()
	x.routes["/dashboard/"] = dash.Handler()
	return x, nil
}

// adminAPIToken reports whether token is an API token (baton token create)
// with the admin scope that user may use.
func adminAPIToken(ctx context.Context, store *storage.Store, user, token string) (bool, error) {
	t, ok, err := store.TokenByHash(ctx, api.HashToken(strings.TrimSpace(token)))
	if err != nil || !ok {
		return false, err
	}
	return t.Scope == "admin" && (t.Person == "" || t.Person == user), nil
}
