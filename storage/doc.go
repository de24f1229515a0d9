// Package storage keeps Baton's state in Redis through go-redis's
// UniversalClient (a single server, Sentinel or Cluster, chosen by the URL;
// Embedded starts an in-process miniredis for running without one).
//
// Store implements the flows ports. One Lua script commits a transition
// atomically: the instance's state with a check-and-set on its version, the
// event's outcome under its idempotency key (a redelivery gets the first
// outcome and changes nothing), hash-chained audit entries, timer changes,
// outbox entries and index updates. Concurrent transitions share script
// calls (group commit), pipelined in one round trip with concurrent instance
// reads, card-reference reads and id reservations; each still succeeds or
// fails on its own. Due timers are claimed with a lease, and the outbox is a
// stream per shard read by a consumer group, so several replicas fire each
// timer and deliver each entry once. Event announcements read from it wait
// in a queue per request and subscriber (hookqueue.go), delivered in order
// by the replica holding it.
//
// Every key is built in keys.go; the scripts are in lua/.
package storage
