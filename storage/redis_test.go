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

// The embedded store listens on a loopback port: another process there (a
// local user, `redis-cli -p PORT`) is refused without the password only
// Baton's own client holds, so nobody can read its keys or mint a token.
func TestEmbeddedStoreRefusesOthers(t *testing.T) {
	t.Parallel()
	m, c, err := storage.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	defer c.Close()
	if err := c.Set(t.Context(), "k", "v", 0).Err(); err != nil {
		t.Fatalf("Baton's own client: %v", err)
	}
	other, err := storage.Client("redis://" + m.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if v, err := other.Get(t.Context(), "k").Result(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Fatalf("a client without the password read %q (err %v), want NOAUTH", v, err)
	}
}
