package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"text/tabwriter"
	"time"

	"github.com/batonbot/baton/adapters/api"
	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
	"github.com/batonbot/baton/storage"
)

// apiTokens adapts the storage's token records to the API's port.
type apiTokens struct{ s *storage.Store }

func (t apiTokens) TokenByHash(ctx context.Context, hash string) (api.Token, bool, error) {
	r, ok, err := t.s.TokenByHash(ctx, hash)
	return api.Token{Name: r.Name, Scope: api.Scope(r.Scope), Person: r.Person, Hash: r.Hash}, ok, err
}

// mountAPI serves the REST API under /api/v1 and turns on outbound event
// webhooks (global ones from the configuration, per flow from webhooks:).
// (Their secrets are checked at start-up with the flows': Config.CheckSecrets.)
func mountAPI(a *app, cfg bot.Config, webhooks *bot.Webhooks, log *slog.Logger) error {
	a.svc.SetWebhooks(cfg.Webhooks)
	webhooks.RecordAttempts(a.store)
	rest := api.New(api.Deps{Service: a.svc, Instances: a.store, Tokens: apiTokens{a.store}, Deliveries: a.store, Log: log}, api.Config{})
	for pattern, h := range rest.Routes() {
		a.server.Handle(pattern, h)
	}
	return nil
}

var tokenName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

const tokenUsage = `usage: baton token create --name NAME --scope read|start|admin [--person ID]
       baton token revoke NAME
       baton token list
Scopes nest: admin (decide, cancel, skip and retry on behalf of people) includes start
(start instances, comment, withdraw for their requester), which includes read. --person binds the token to one person: it acts only as them.
Tokens live in Redis (BATON_REDIS_URL or --redis-url); only their SHA-256 is kept.`

// token manages API tokens.
func token(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, tokenUsage)
		return 2
	}
	if args[0] == "help" || wantsHelp(args[:1]) {
		fmt.Fprintln(stdout, tokenUsage)
		return 0
	}
	verb := args[0]
	fs := flag.NewFlagSet("token "+verb, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(fs.Output(), tokenUsage) }
	url := redisURLFlag(fs, getenv)
	name := fs.String("name", "", "create: the token's name (who uses it, e.g. crm)")
	scope := fs.String("scope", "", "create: read, start or admin")
	person := fs.String("person", "", "create: the only person the token may act as")
	if err := parseRouted(fs, args[1:], stdout, stderr, parseFlags); err != nil { // flags before or after NAME
		return flagsExit(err)
	}
	// What was asked is checked before Redis is looked for: a usage
	// mistake is told as one.
	switch {
	case verb == "create" && (fs.NArg() > 0 || *name == "" || *scope == ""),
		verb == "revoke" && fs.NArg() != 1,
		verb == "list" && fs.NArg() > 0:
		fmt.Fprintln(stderr, tokenUsage)
		return 2
	case verb != "create" && verb != "revoke" && verb != "list":
		fmt.Fprintf(stderr, "baton token: unknown command %q\n%s\n", verb, tokenUsage)
		return 2
	}
	var sc api.Scope
	if verb == "create" {
		if !tokenName.MatchString(*name) {
			fmt.Fprintf(stderr, "baton token: name %q: use lowercase letters, digits, _ . or - (at most 64), e.g. crm\n", *name)
			return 2
		}
		var err error
		if sc, err = api.ParseScope(*scope); err != nil {
			fmt.Fprintf(stderr, "baton token: %v\n", err)
			return 2
		}
		if *person != "" {
			engine, err := loadEngine(bot.Config{FlowsDir: getenv("BATON_FLOWS_DIR"), Directory: getenv("BATON_DIRECTORY")})
			if err != nil {
				fmt.Fprintf(stderr, "baton token: %v\n", err)
				return 1
			}
			if _, ok := engine.Directory().Person(*person); !ok {
				fmt.Fprintf(stderr, "baton token: %q is not in the people directory (BATON_DIRECTORY)\n", *person)
				return 2
			}
		}
	}
	store, closeStore, ok := openStore(url(), "baton token", "tokens are kept in Redis: set BATON_REDIS_URL (the embedded store of a running Baton cannot be reached)", stderr)
	if !ok {
		return 2
	}
	defer closeStore()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	switch verb {
	case "create":
		tok, hash := api.NewToken()
		err := store.CreateToken(ctx, storage.Token{Name: *name, Scope: string(sc), Person: *person, Hash: hash, Created: time.Now().UTC()})
		if err != nil {
			fmt.Fprintf(stderr, "baton token: %v\n", err)
			return 1
		}
		as := "on behalf of whoever each request names (on_behalf_of)"
		if *person != "" {
			as = "as " + *person + " only"
		}
		fmt.Fprintf(stdout, "Created API token %q, scope %s, acting %s.\n", *name, sc, as)
		fmt.Fprintf(stdout, "It is shown only this once; send it as Authorization: Bearer TOKEN. Revoke it with: baton token revoke %s\n", *name)
		fmt.Fprintln(stdout, tok)
	case "revoke":
		if err := store.RevokeToken(ctx, fs.Arg(0)); err != nil {
			if errors.Is(err, flows.ErrNotFound) {
				fmt.Fprintf(stderr, "baton token: there is no token %q; see baton token list\n", fs.Arg(0))
			} else {
				fmt.Fprintf(stderr, "baton token: %v\n", err)
			}
			return 1
		}
		fmt.Fprintf(stdout, "Revoked API token %q: requests bearing it are refused from now on.\n", fs.Arg(0))
	case "list":
		toks, err := store.Tokens(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "baton token: %v\n", err)
			return 1
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSCOPE\tPERSON\tCREATED")
		for _, t := range toks {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Name, t.Scope, cmp.Or(t.Person, "-"), t.Created.Format(time.RFC3339))
		}
		tw.Flush()
	}
	return 0
}
