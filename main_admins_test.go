package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/batonbot/baton/bot"
)

// An admin the directory does not know stops start-up, saying how to fix
// it: a typo would otherwise leave Baton without the admin it was meant to
// have.
func TestUnknownAdminStopsStartUp(t *testing.T) {
	t.Parallel()
	engine, err := loadEngine(bot.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := checkAdmins(engine, []string{"olivia"}); err != nil {
		t.Errorf("olivia, in the demo directory: %v", err)
	}
	if err := checkAdmins(engine, []string{"olivia", "olivai"}); err == nil || !strings.Contains(err.Error(), `BATON_ADMINS (-admins): "olivai" is not a person in the people directory`) {
		t.Errorf("a misspelt admin: %v", err)
	}
}

// A mistake in the configuration stops start-up with exit code 2, whether
// it is a bad environment value or flows, a directory or admins that
// cannot be used; nothing is served.
func TestConfigMistakesExit2(t *testing.T) {
	t.Parallel()
	for _, kv := range [][]string{
		{"BATON_LOG_LEVEL", "loud"},
		{"BATON_FLOWS_DIR", filepath.Join(t.TempDir(), "none")},
		{"BATON_ADMINS", "olivai"},
		// Read after the store was opened, once: now checked before it.
		{"BATON_LINK_TTL", "forever"},
		{"BATON_DASHBOARD_TOKEN", "short"},
		{"BATON_PUBLIC_URL", "notaurl"},
		{"BATON_SMTP_URL", "foo://x"},
		{"SLACK_BOT_TOKEN", "xoxb-1", "SLACK_SIGNING_SECRET"}, // names what is missing
		{"MicrosoftAppId", "abc", "MicrosoftAppPassword"},
		// A URL that cannot be Redis's (a reachable one that refuses is 1).
		{"BATON_REDIS_URL", "http://127.0.0.1:6379/5", "use redis://"},
		{"BATON_REDIS_URL", "redis://127.0.0.1:6379/5?pool_size=abc", "pool_size"},
		{"BATON_REDIS_URL", "redis-sentinel://127.0.0.1:26379", "master_name"},
	} {
		var out, errOut strings.Builder
		want := kv[0]
		if len(kv) > 2 {
			want, kv = kv[2], kv[:2]
		}
		code := run(t.Context(), nil, env(append(kv, "BATON_HTTP_ADDR", "127.0.0.1:0")...), nil, &out, &errOut)
		if code != 2 || !strings.Contains(errOut.String(), want) {
			t.Errorf("%s=%s: exit %d, stderr %q; want 2 naming it", kv[0], kv[1], code, errOut.String())
		}
	}
}

// BATON_LINK_TTL takes days as flows write them.
func TestLinkTTLInDays(t *testing.T) {
	t.Parallel()
	set, err := externalSettings(bot.Config{HTTPAddr: ":8080"}, env("BATON_LINK_TTL", "7d"))
	if err != nil || set.ttl != 7*24*time.Hour {
		t.Errorf("BATON_LINK_TTL=7d: %v, %v", set.ttl, err)
	}
}

// A flows directory's files are named by their paths as configured, in a
// problem of one file and in a clash between two.
func TestFlowsDirNamesFilesByPath(t *testing.T) {
	t.Parallel()
	plain := func(id string) string {
		return "id: " + id + "\nname: " + id + "\nowner: olivia\nprefix: LD\nsteps:\n  - {id: a, type: notify, to: [requester], message: hi}\n"
	}
	broken := flowsDir(t, map[string]string{"a.yaml": plain("one"), "c.yaml": "id: three\nownr: olivia\n"})
	clashing := flowsDir(t, map[string]string{"a.yaml": plain("one"), "b.yaml": plain("two")})
	for dir, want := range map[string][]string{
		broken:   {filepath.Join(broken, "c.yaml") + ":2: ownr"},
		clashing: {filepath.Join(clashing, "b.yaml") + ":4: prefix", "(" + filepath.Join(clashing, "a.yaml") + ")"},
	} {
		_, err := loadEngine(bot.Config{FlowsDir: dir})
		for _, w := range want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("error lacks %q:\n%v", w, err)
			}
		}
	}
}
