package storage

import (
	"strings"
	"testing"
)

// TestTokenKeysShareASlot: token_create.lua and token_revoke.lua touch both
// token hashes, so on Redis Cluster they must share a hash tag.
func TestTokenKeysShareASlot(t *testing.T) {
	k := keys{prefix: "baton", shards: 16}
	for _, key := range []string{k.tokByHash(), k.tokByName()} {
		if !strings.HasPrefix(key, "{baton:tok}:") {
			t.Errorf("token key %s is not under the tag {baton:tok}", key)
		}
	}
	if k.tokByHash() == k.tokByName() {
		t.Error("the two token hashes are one key")
	}
}
