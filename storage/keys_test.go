package storage

import (
	"fmt"
	"strings"
	"testing"

	"github.com/batonbot/baton/flows"
)

// hashTag is the part of a key Redis Cluster hashes to pick its slot: the
// text between the first "{" and the next "}" when it is not empty, else
// the whole key.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

// TestKeysOfAScriptShareASlot checks the rule that makes the store work on
// Redis Cluster: the keys one script (or pipeline read) touches together
// hash to one slot. A real cluster enforces it (CROSSSLOT); this says which
// keys must agree without one.
func TestKeysOfAScriptShareASlot(t *testing.T) {
	k := keys{prefix: "baton", shards: 16}
	tags := map[string]bool{}
	for i := range 1000 {
		id := fmt.Sprintf("PR-%d", i)
		sh := k.shardOf(id)
		// transition.lua, Apply's read, Delivered's refs, the webhook log,
		// the event queue scripts.
		group := []string{k.instance(id), k.audit(id), k.timers(sh), k.leases(sh), k.outbox(sh),
			k.ixAssignee(sh, "bob"), k.ixRequester(sh, "alice"), k.flowsIn(sh),
			k.ixFlow(sh, "purchase", flows.StatusCompleted), k.refs(id), k.dead(sh), k.hookLog(id),
			k.hookDue(sh), k.hookQueue(hookMember(id, "https://crm.example.com/in|x"))}
		for _, key := range group {
			if hashTag(key) != hashTag(group[0]) {
				t.Fatalf("%s: key %s hashes on %q, the instance on %q", id, key, hashTag(key), hashTag(group[0]))
			}
		}
		tags[hashTag(group[0])] = true
	}
	if len(tags) != k.shards {
		t.Fatalf("1000 instances landed on %d hash tags, want one per shard (%d)", len(tags), k.shards)
	}
	// reserve.lua; the token scripts.
	for _, pair := range [][2]string{{k.start("web:1"), k.seq("purchase")}, {k.tokByHash(), k.tokByName()}} {
		if hashTag(pair[0]) != hashTag(pair[1]) {
			t.Fatalf("%s and %s hash on %q and %q", pair[0], pair[1], hashTag(pair[0]), hashTag(pair[1]))
		}
	}
}
