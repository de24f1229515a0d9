package storage

import (
	"crypto/sha256"
	"encoding/hex"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/batonbot/baton/flows"
)

// Every Redis key Baton uses is built here.
//
// Instances are spread over a fixed number of shards. All keys of a shard
// share one hash tag, {PREFIX:N}, so one Lua script can update an instance,
// its audit trail and idempotency records, the shard's timer set, outbox
// stream and indexes atomically, and Redis Cluster keeps them in one slot.
// The shard of an instance is derived from its id, so the id alone finds
// every key. Global counters live under the tag {PREFIX:g}.
type keys struct {
	prefix string
	shards int
}

func (k keys) shardOf(id string) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() % uint32(k.shards))
}

func (k keys) tag(shard int) string {
	return "{" + k.prefix + ":" + strconv.Itoa(shard) + "}"
}

func (k keys) global() string { return "{" + k.prefix + ":g}" }

// instance: HASH {v: version, s: state JSON, h: the state's audit head (the
// hash of its last audit entry), k:KEY: the outcome (JSON) of the event with
// idempotency key KEY}.
func (k keys) instance(id string) string { return k.tag(k.shardOf(id)) + ":i:" + id }

// audit: LIST of audit entries (JSON), append-only, hash-chained.
func (k keys) audit(id string) string { return k.tag(k.shardOf(id)) + ":a:" + id }

// refs: HASH "card key|platform" -> platform message reference of a sent card.
func (k keys) refs(id string) string { return k.tag(k.shardOf(id)) + ":r:" + id }

// timers: ZSET of instance ids, each scored by when its earliest timer is
// due (unix ms); the timers themselves are in the instance's state. (Earlier
// versions kept one member per timer, "instance|timer id"; those still fire.)
func (k keys) timers(shard int) string { return k.tag(shard) + ":timers" }

// leases: ZSET of the instance ids (or, of earlier versions, "instance|timer
// id") whose due timers a replica claimed, scored by lease expiry (unix ms).
func (k keys) leases(shard int) string { return k.tag(shard) + ":leases" }

// outbox: STREAM of effects to deliver, fields i (instance id) and e (JSON
// array of one transition's consecutive cards, or of one other effect), and
// r ("1") on a dead letter sent again (baton dead retry).
func (k keys) outbox(shard int) string { return k.tag(shard) + ":outbox" }

// dead: STREAM of effects that could not be delivered after every retry:
// {i: instance, e: the effect (JSON), why, id: its outbox entry's id, part:
// the effect's place in it, and entry: the entry as stored, when e cannot
// show the effect (undecodable, or of a kind this version does not know)}.
func (k keys) dead(shard int) string { return k.tag(shard) + ":dead" }

// hookDue: ZSET of the shard's event queues (hookQueue) by their member,
// "instance|subscriber" (hookMember), scored by when the first event is tried
// next, or the lease of the replica delivering the queue ends (unix ms).
func (k keys) hookDue(shard int) string { return k.tag(shard) + ":hq" }

// hookQueue: LIST of one request's event announcements to one subscriber,
// delivered one at a time, in outbox order: "ENTRY-ID PAYLOAD", the payload
// a JSON flows.QueuedHook. member is its hookDue member (hookMember).
func (k keys) hookQueue(member string) string {
	id := member[:max(strings.LastIndexByte(member, '|'), 0)]
	return k.tag(k.shardOf(id)) + ":hq:" + member
}

// hookMember names the queue of id's events to the subscriber at url: by a
// hash of the URL, whose path or query may be a secret.
func hookMember(id, url string) string {
	h := sha256.Sum256([]byte(url))
	return id + "|" + hex.EncodeToString(h[:8])
}

// ixAssignee: ZSET of instance ids waiting on person, scored by step start (unix ms).
func (k keys) ixAssignee(shard int, person string) string {
	return k.tag(shard) + ":ix:assignee:" + person
}

// ixRequester: ZSET of instance ids person started, scored by creation (unix ms).
func (k keys) ixRequester(shard int, person string) string {
	return k.tag(shard) + ":ix:requester:" + person
}

// flowsIn: SET of the ids of the flows with instances in the shard. A
// listing by status alone reads their ixFlow indexes (versions up to
// 4542456 kept an index per status instead, "ix:status:STATUS").
func (k keys) flowsIn(shard int) string { return k.tag(shard) + ":flows" }

// flowsSeeded: STRING, set once the flowsIn sets hold the flows of data
// written by versions up to 4542456 (see Store.seedFlowSets).
func (k keys) flowsSeeded() string { return k.global() + ":flows-seeded" }

// ixFlow: ZSET of instance ids of a flow in a status, scored by creation (unix ms).
func (k keys) ixFlow(shard int, flow string, status flows.Status) string {
	return k.tag(shard) + ":ix:flow:" + flow + ":" + string(status)
}

// seq: STRING counter of a flow's instance numbers.
func (k keys) seq(flow string) string { return k.global() + ":seq:" + flow }

// start: STRING, the instance id reserved for a start event's idempotency key; expires.
func (k keys) start(key string) string { return k.global() + ":start:" + key }

// installation: STRING, a random id made the first time Baton runs on this
// data (see Store.Installation).
func (k keys) installation() string { return k.global() + ":installation" }

// kv: STRING, a small shared value (conversation references, cached ids).
// Single-key operations only, so no hash tag: values spread over the cluster.
func (k keys) kv(ns, key string) string { return k.prefix + ":kv:" + ns + ":" + key }

// away: HASH of the people out of office: person -> JSON flows.Away.
func (k keys) away() string { return k.global() + ":away" }

// claim: STRING, held by the replica that claimed a piece of once-only work; expires.
func (k keys) claim(name string) string { return k.prefix + ":claim:" + name }

// hookLog: LIST of an instance's outbound webhook delivery attempts (JSON
// flows.HookAttempt), the newest last, trimmed to the last few hundred.
func (k keys) hookLog(id string) string { return k.tag(k.shardOf(id)) + ":wh:" + id }

// API tokens share the tag {PREFIX:tok}, so one script updates both hashes.
func (k keys) tokTag() string { return "{" + k.prefix + ":tok}" }

// tokByHash: HASH SHA-256 of a token (hex) -> token record (JSON). Only the
// hash is stored: a token cannot be read back.
func (k keys) tokByHash() string { return k.tokTag() + ":byhash" }

// tokByName: HASH token name -> SHA-256 of its token (hex).
func (k keys) tokByName() string { return k.tokTag() + ":byname" }

// all matches every key under the prefix (for tests' cleanup).
func (k keys) all() []string { return []string{"{" + k.prefix + ":*", k.prefix + ":*"} }
