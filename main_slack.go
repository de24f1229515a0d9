package main

import (
	slackadapter "github.com/batonbot/baton/adapters/slack"
)

// slackPlatform wires the Slack adapter when Slack is configured
// (SLACK_BOT_TOKEN with SLACK_SIGNING_SECRET or SLACK_APP_TOKEN); it
// returns nil otherwise.
func slackPlatform(d platformDeps) (*platform, error) {
	cfg, ok, err := slackadapter.ConfigFromEnv(d.getenv)
	if err != nil || !ok {
		return nil, err
	}
	a, err := slackadapter.New(slackadapter.Deps{Service: d.svc, KV: d.kv, Locker: d.locker,
		Log: d.log.With("platform", "slack"), Metrics: d.reg}, cfg)
	if err != nil {
		return nil, err
	}
	return &platform{name: "slack", messenger: a.Messenger(), routes: a.Routes(), run: a.Run}, nil
}
