// Package bot is Baton's runtime: configuration, the service that turns
// people's actions into engine events and commits them through the store,
// the outbox dispatcher that delivers cards to chat platforms (with retries
// and pacing), the timer loop, each person's daily digest (Digests, on every
// platform that reaches them), scheduled starts (Schedules) and signed
// inbound webhook starts (Inbound), signed outbound event webhooks
// (hooks.go: announced in the transition's commit, delivered from the
// outbox through a queue per request and subscriber, HookQueues), the HTTP
// server with health and metrics.
//
// bot imports flows and libraries; it never imports storage or an adapter.
// It owns the small ports the adapters implement (Messenger) and the ones
// they call (the Service's methods); main wires the concrete parts together.
package bot
