package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
	"github.com/batonbot/baton/storage"
	"github.com/batonbot/baton/storage/storagetest"
)

// TestTokenCommandAndAPIEndToEnd: a token made with baton token create
// starts a request over the API, the start is announced to a global webhook
// (signed), the delivery shows on the instance, and once the token is
// revoked it is refused.
func TestTokenCommandAndAPIEndToEnd(t *testing.T) {
	t.Parallel()
	// The token command uses the default key prefix: give it a Redis of its own.
	rdb, url := storagetest.EmbeddedURL(t)
	getenv := func(k string) string {
		return map[string]string{"BATON_REDIS_URL": url}[k]
	}
	cli := func(args ...string) (int, string, string) {
		var out, errw bytes.Buffer
		code := run(t.Context(), append([]string{"token"}, args...), getenv, nil, &out, &errw)
		return code, out.String(), errw.String()
	}
	code, out, errs := cli("create", "--name", "crm", "--scope", "start")
	if code != 0 {
		t.Fatalf("token create: %d %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	tok := lines[len(lines)-1]
	if !strings.HasPrefix(tok, "baton_") || len(tok) != len("baton_")+43 {
		t.Fatalf("the last line is not the token alone: %q", out)
	}
	if code, _, errs := cli("create", "--name", "crm", "--scope", "read"); code != 1 || !strings.Contains(errs, "exists") {
		t.Errorf("a second crm token: %d %s", code, errs)
	}
	if code, _, errs := cli("create", "--name", "x", "--scope", "owner"); code != 2 || !strings.Contains(errs, "read, start or admin") {
		t.Errorf("a bad scope: %d %s", code, errs)
	}
	if code, out, _ := cli("list"); code != 0 || !strings.Contains(out, "crm") || !strings.Contains(out, "start") || strings.Contains(out, tok) {
		t.Errorf("token list: %d %q", code, out)
	}
	// Flags go before or after the name; a usage mistake is told as one,
	// Redis or not.
	if code, out, errs := cli("revoke", "nobody", "--redis-url", url); code != 1 || !strings.Contains(errs, `there is no token "nobody"`) {
		t.Errorf("revoke with a flag after the name: %d %q %q", code, out, errs)
	}
	for _, args := range [][]string{{"create"}, {"list", "extra"}, {"revoke"}, {"frobnicate"}} {
		var out, errw bytes.Buffer
		code := run(t.Context(), append([]string{"token"}, args...), func(string) string { return "" }, nil, &out, &errw)
		if code != 2 || !strings.Contains(errw.String(), "usage: baton token") {
			t.Errorf("token %v without Redis: %d %q, want the usage", args, code, errw.String())
		}
	}

	var mu sync.Mutex
	var got []flows.HookEvent
	rx := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts, _ := strconv.ParseInt(r.Header.Get("X-Baton-Timestamp"), 10, 64)
		if r.Header.Get("X-Baton-Signature") != bot.Sign("whsec", ts, body) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev flows.HookEvent
		_ = json.Unmarshal(body, &ev)
		mu.Lock()
		got = append(got, ev)
		mu.Unlock()
	}))
	t.Cleanup(rx.Close)
	var logs bytes.Buffer
	cfg := bot.Config{Console: "off", TimerInterval: time.Second, HTTPAddr: "127.0.0.1:0",
		Secrets: map[string]string{"webhook": "whsec"}, Webhooks: []flows.Hook{{URL: rx.URL, Events: []string{"started"}}}}
	a, err := build(t.Context(), cfg, func(string) string { return "" }, slog.New(slog.NewTextHandler(&logs, nil)), rdb, clockwork.NewFakeClockAt(t0), storage.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.server.Handler())
	t.Cleanup(srv.Close)
	call := func(method, path, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var v map[string]any
		_ = json.NewDecoder(res.Body).Decode(&v)
		return res.StatusCode, v
	}
	code, v := call("POST", "/api/v1/flows/purchase/instances",
		`{"data":{"item":"Laptop","amount":900,"justification":"the old one broke down"},"refs":{"crm_deal":"D-42"},"on_behalf_of":"alice"}`)
	if code != 201 || v["instance"] != "PR-1" {
		t.Fatalf("start: %d %v", code, v)
	}
	if _, err := a.dispatcher.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(got) != 1 || got[0].Type != "started" || got[0].Instance.Refs["crm_deal"] != "D-42" {
		t.Errorf("webhook got %+v", got)
	}
	mu.Unlock()
	code, v = call("GET", "/api/v1/instances/PR-1", "")
	if d, _ := v["deliveries"].([]any); code != 200 || len(d) != 1 || d[0].(map[string]any)["ok"] != true {
		t.Errorf("instance: %d deliveries %v", code, v["deliveries"])
	}
	if code, v := call("POST", "/api/v1/instances/PR-1/decisions", `{"decision":"approve","on_behalf_of":"bob"}`); code != 403 {
		t.Errorf("a start token decided: %d %v", code, v)
	}
	if code, out, _ := cli("revoke", "crm"); code != 0 || !strings.Contains(out, "Revoked") {
		t.Fatalf("revoke: %d %s", code, out)
	}
	if code, _ := call("GET", "/api/v1/instances/PR-1", ""); code != 401 {
		t.Errorf("a revoked token answered %d", code)
	}
	if code, _, errs := cli("revoke", "crm"); code != 1 || !strings.Contains(errs, "no token") {
		t.Errorf("revoke twice: %d %s", code, errs)
	}
	if code, out, _ := cli("list", "extra"); code != 2 || out != "" {
		t.Errorf("token list with an argument: %d %q, want the usage and exit 2", code, out)
	}
	if strings.Contains(logs.String(), tok) {
		t.Error("the token reached the log")
	}
}

func TestFlowWebhookNeedsItsSecret(t *testing.T) {
	t.Parallel()
	if got := bot.SecretVar("crm-prod"); got != "BATON_SECRET_CRM_PROD" {
		t.Errorf("SecretVar = %q", got)
	}
	dir := t.TempDir()
	src := `id: hooked
name: Hooked
owner: olivia
form:
  - {name: item, required: true}
steps:
  - id: review
    type: approval
    assignees: ["person:bob"]
webhooks:
  - url: https://crm.example.com/hook?k=secret
    secret: crm_prod
`
	if err := os.WriteFile(filepath.Join(dir, "hooked.yaml"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	m, rdb, err := storage.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close(); m.Close() })
	cfg := bot.Config{Console: "off", FlowsDir: dir, HTTPAddr: "127.0.0.1:0", Secrets: map[string]string{}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	_, err = build(t.Context(), cfg, func(string) string { return "" }, log, rdb, nil, storage.Config{})
	if err == nil || !strings.Contains(err.Error(), "BATON_SECRET_CRM_PROD") || strings.Contains(err.Error(), "k=secret") {
		t.Fatalf("build without the flow's webhook secret: %v", err)
	}
	cfg.Secrets["crm_prod"] = "s"
	if _, err := build(t.Context(), cfg, func(string) string { return "" }, log, rdb, nil, storage.Config{}); err != nil {
		t.Fatalf("with the secret: %v", err)
	}
}
