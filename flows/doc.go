// Package flows is Baton's domain: flow definitions (parsed and validated
// from YAML), the people directory, instances, events, and a pure,
// deterministic engine that turns (instance, event, now) into a new instance
// and the effects it causes (notifications in a platform-neutral card model,
// timers to set or cancel, webhook calls).
//
// flows does no I/O: no Redis, no HTTP, no chat platform. It imports no other
// package of this module and no Redis or chat library. The storage layer
// persists its types; the bot runtime executes its effects; the adapters render
// its messages.
package flows
