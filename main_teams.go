package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/batonbot/baton/adapters/teams"
	teamsapp "github.com/batonbot/baton/manifests/teams"
)

// teamsPlatform wires the Microsoft Teams adapter when Teams is configured
// (MicrosoftAppId and MicrosoftAppPassword); it returns nil otherwise.
func teamsPlatform(d platformDeps) (*platform, error) {
	cfg, ok, err := teams.LoadConfig(d.getenv)
	if err != nil {
		return nil, fmt.Errorf("teams: %w", err)
	}
	if !ok {
		return nil, nil
	}
	a, err := teams.New(cfg, d.svc, d.kv, d.log)
	if err != nil {
		return nil, err
	}
	d.log.Info("teams: configured; the Bot Framework messaging endpoint is POST /api/messages", "platform", "teams", "config", cfg)
	return &platform{
		name:      "teams",
		messenger: a,
		routes:    map[string]http.Handler{"POST /api/messages": a.Handler()},
		run:       a.Run,
	}, nil
}

// teamsPackage builds the Teams app package (manifest.json and icons, zipped).
func teamsPackage(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("teams-package", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: baton teams-package [flags]\n\nBuilds the Teams app package to upload (Teams: Apps > Manage your apps > Upload an app,\nor the Teams admin center). Flags:\n")
		fs.PrintDefaults()
	}
	out := fs.String("o", "baton-teams.zip", "where to write the package")
	botID := fs.String("bot-id", getenv("MicrosoftAppId"), "the bot's Microsoft App ID (default MicrosoftAppId)")
	appID := fs.String("app-id", getenv("TEAMS_APP_ID"), "the Teams app id, a GUID (default TEAMS_APP_ID, else the bot id)")
	version := fs.String("version", "", "the app version, major.minor.patch: raise it for each upload of a change (default: the manifest's)")
	if err := parseRouted(fs, args, stdout, stderr, (*flag.FlagSet).Parse); err != nil {
		return flagsExit(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "baton teams-package: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	var buf bytes.Buffer
	if err := teamsapp.Build(&buf, teamsapp.Options{BotID: *botID, AppID: *appID, Version: *version}); err != nil {
		fmt.Fprintf(stderr, "baton teams-package: %v\n", err)
		return 1
	}
	if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		fmt.Fprintf(stderr, "baton teams-package: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s (bot %s): upload it in Teams (Apps > Manage your apps > Upload an app) or in the Teams admin center\n", *out, *botID)
	return 0
}
