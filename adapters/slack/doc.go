// Package slack is Baton's Slack adapter. It turns what people do in Slack
// (the /baton command, buttons on Block Kit cards, modal submissions, opening
// the App Home) into calls on the runtime's Service, and it is the "slack"
// delivery platform (bot.Messenger): it renders flows.Message cards as Block
// Kit and posts, threads and updates them through the Web API, paced per
// channel and honouring Retry-After.
//
// Requests arrive over HTTP (signed with the signing secret, verified before
// anything is parsed) or over Socket Mode (an authenticated WebSocket), and
// both paths share one set of handlers that acknowledge within milliseconds:
// state changes are committed by the Service (idempotency keys make Slack's
// redeliveries and double clicks harmless) and the cards they cause are
// delivered later by the outbox dispatcher.
//
// It imports flows, bot (whose Messenger port it implements, with the
// TimezoneFinder and CommandNamer the daily digest uses, and whose KV and
// Locker ports it uses), slack-go (Web API, Block Kit types, Socket Mode),
// x/time (pacing), Prometheus (metrics) and the standard library; never storage and never
// another adapter.
package slack
