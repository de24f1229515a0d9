package main

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/storage"
	"github.com/batonbot/baton/storage/storagetest"
)

func env(kv ...string) func(string) string {
	return func(k string) string {
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i] == k {
				return kv[i+1]
			}
		}
		return ""
	}
}

func TestTeamsPackageCommand(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "baton-teams.zip")
	var stdout, stderr bytes.Buffer
	if code := teamsPackage([]string{"-o", out, "-version", "1.0.1"}, env("MicrosoftAppId", "5f0e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	zr, err := zip.OpenReader(out)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		if f.Name == "manifest.json" {
			rc, _ := f.Open()
			b, _ := io.ReadAll(rc)
			rc.Close()
			if !strings.Contains(string(b), `"botId": "5f0e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"`) || !strings.Contains(string(b), `"version": "1.0.1"`) {
				t.Errorf("manifest.json:\n%s", b)
			}
		}
	}
	if strings.Join(names, ",") != "manifest.json,color.png,outline.png" {
		t.Errorf("package holds %v", names)
	}
	stderr.Reset()
	if code := teamsPackage([]string{"-o", out}, env(), &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "MicrosoftAppId") {
		t.Errorf("without a bot id: exit %d, %s", code, stderr.String())
	}
}

// Teams is wired when configured: the messaging endpoint is mounted and
// refuses unauthenticated requests; a half configuration stops start-up.
func TestTeamsPlatformWiring(t *testing.T) {
	t.Parallel()
	b := storagetest.Default(t)
	cfg := bot.Config{Console: "auto", TimerInterval: time.Second, HTTPAddr: "127.0.0.1:0"}
	log := slog.New(slog.DiscardHandler)
	getenv := env("MicrosoftAppId", "5f0e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b", "MicrosoftAppPassword", "secret", "MicrosoftAppTenantId", "a1b2c3d4-0000-4000-8000-000000000001")
	a, err := build(t.Context(), cfg, getenv, log, b.Client, nil, storage.Config{Prefix: storagetest.Prefix()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.store.DeleteAll(context.Background()) })
	if len(a.platforms) != 1 || a.platforms[0].name != "teams" || a.platforms[0].run == nil {
		t.Fatalf("platforms %+v", a.platforms)
	}
	if a.console != nil {
		t.Error("the console is on although Teams is configured")
	}
	rec := httptest.NewRecorder()
	a.server.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/messages", strings.NewReader(`{"type":"message"}`)))
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("unauthenticated POST /api/messages: %d", rec.Code)
	}

	half := storage.Config{Prefix: storagetest.Prefix()}
	t.Cleanup(func() { _ = storage.New(b.Client, half).DeleteAll(context.Background()) })
	_, err = build(t.Context(), cfg, env("MicrosoftAppId", "5f0e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"), log, b.Client, nil, half)
	if err == nil || !strings.Contains(err.Error(), "MicrosoftAppPassword") {
		t.Errorf("half-configured Teams: %v", err)
	}
}

// BATON_CONSOLE=auto is the demo's: on with no chat platform and no Redis
// URL; a server on Redis (perhaps behind a proxy on its machine) has none
// unless it is asked for.
func TestConsoleAutoOnlyForTheDemo(t *testing.T) {
	t.Parallel()
	b := storagetest.Default(t)
	for _, tc := range []struct {
		console, redis string
		want           bool
	}{
		{"auto", "", true},
		{"auto", "redis://127.0.0.1:6379/0", false},
		{"local", "redis://127.0.0.1:6379/0", true},
	} {
		cfg := bot.Config{Console: tc.console, RedisURL: tc.redis, TimerInterval: time.Second, HTTPAddr: "127.0.0.1:0"}
		a, err := build(t.Context(), cfg, env(), slog.New(slog.DiscardHandler), b.Client, nil, storage.Config{Prefix: storagetest.Prefix()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = a.store.DeleteAll(context.Background()) })
		if got := a.console != nil; got != tc.want {
			t.Errorf("console %s with Redis URL %q: on %v, want %v", tc.console, tc.redis, got, tc.want)
		}
	}
}
