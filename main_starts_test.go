package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
	"github.com/batonbot/baton/storage"
	"github.com/batonbot/baton/storage/storagetest"
)

// TestStartsWiring: the assembled Baton takes signed inbound starts on
// /hooks/flows/{flow} and fires the flows' schedules through the store.
func TestStartsWiring(t *testing.T) {
	t.Parallel()
	b := storagetest.Default(t)
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 30, 8, 0, 30, 0, time.UTC)) // Monday 09:00:30 in Paris
	cfg := bot.Config{Console: "off", TimerInterval: time.Second, HTTPAddr: "127.0.0.1:0",
		FlowsDir: flowsDir(t, map[string]string{"lead.yaml": doctorFlow}), Secrets: map[string]string{"crm_hook": hookSecretVal}}
	a, err := build(t.Context(), cfg, func(string) string { return "" }, slog.New(slog.NewTextHandler(io.Discard, nil)), b.Client, clock,
		storage.Config{Prefix: storagetest.Prefix(), Shards: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.store.DeleteAll(context.Background()) })
	srv := httptest.NewServer(a.server.Handler())
	t.Cleanup(srv.Close)

	body := `{"company": "Acme"}`
	var answer map[string]any // the last post's
	post := func(sig string) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/hooks/flows/lead", strings.NewReader(body))
		req.Header.Set("X-Baton-Timestamp", strconv.FormatInt(clock.Now().Unix(), 10))
		req.Header.Set("X-Baton-Signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		answer = nil
		_ = json.NewDecoder(resp.Body).Decode(&answer)
		return resp.StatusCode
	}
	if code := post("v1=00"); code != http.StatusUnauthorized {
		t.Errorf("bad signature: %d, want 401", code)
	}
	// An error carries the API's code, and the request id the log has.
	if id, _ := answer["request_id"].(string); answer["code"] != "unauthorized" || id == "" {
		t.Errorf("bad signature answered %v: want code unauthorized and a request_id", answer)
	}
	if code := post(bot.Sign(hookSecretVal, clock.Now().Unix(), []byte(body))); code != http.StatusCreated {
		t.Errorf("signed start: %d, want 201", code)
	}

	def, _ := a.engine.Flow("lead")
	f := a.schedules.Fire(t.Context(), def, 0)
	if f.Err != nil || !f.Claimed || f.Instance == "" || !f.At.Equal(time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)) {
		t.Errorf("firing %+v", f)
	}
	if again := a.schedules.Fire(t.Context(), def, 0); again.Claimed {
		t.Errorf("the same firing was claimed twice: %+v", again)
	}
	ins, err := a.store.List(t.Context(), flows.Query{Flow: "lead"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 2 {
		t.Errorf("%d instances, want 2 (one inbound, one scheduled)", len(ins))
	}
}
