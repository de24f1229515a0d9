package main

// slackPlatform wires the Slack adapter when Slack is configured
// (SLACK_BOT_TOKEN with SLACK_SIGNING_SECRET or SLACK_APP_TOKEN); it
// returns nil otherwise.
func slackPlatform(d platformDeps) (*platform, error) {
	return nil, nil
}
