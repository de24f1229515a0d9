package storage_test

import (
	"strings"
	"testing"

	"github.com/batonbot/baton/storage"
)

// A Redis URL that does not parse is not quoted in the error: it holds the
// password.
func TestClientURLErrorsKeepThePassword(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{"redis://:sec%zzret@localhost:6379/0", "redis://:secret pass@local host:6379", "redis://:sec/ret@localhost:6379/0", "redis://u:sec#ret@localhost"} {
		_, err := storage.Client(raw)
		if err == nil || strings.Contains(err.Error(), "sec") {
			t.Errorf("Client(%q): %v", raw, err)
		}
	}
}
