package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/batonbot/baton/bot"
	"github.com/batonbot/baton/flows"
	"github.com/batonbot/baton/manifests"
	"github.com/batonbot/baton/storage"
	"github.com/batonbot/baton/storage/storagetest"
)

// reaches is a messenger reaching the people it lists.
type reaches []string

func (r reaches) Platform() string { return "fake" }
func (r reaches) Reach(to flows.Recipient) (bot.Address, bool) {
	return bot.Address{ID: to.Person}, slices.Contains(r, to.Person)
}
func (r reaches) Send(context.Context, bot.Address, *flows.Message, string) (string, error) {
	return "", nil
}
func (r reaches) Update(context.Context, string, *flows.Message) error { return nil }

// The people no platform reaches are named (start-up warns of them).
func TestUnreachable(t *testing.T) {
	t.Parallel()
	dir, err := flows.ParseDirectory("directory.yaml", manifests.Directory)
	if err != nil {
		t.Fatal(err)
	}
	var everyone []string
	for _, p := range dir.People() {
		everyone = append(everyone, p.ID)
	}
	all := slices.DeleteFunc(slices.Clone(everyone), func(id string) bool { return id == "gus" || id == "hana" })
	if got := unreachable(dir, []bot.Messenger{reaches(all[:3]), reaches(all[3:])}); !slices.Equal(got, []string{"gus", "hana"}) {
		t.Errorf("unreachable %v, want gus and hana", got)
	}
	if got := unreachable(dir, []bot.Messenger{reaches(everyone)}); len(got) != 0 {
		t.Errorf("unreachable %v, want none", got)
	}
}

// An API-only deployment (no chat platform, the console off, no mail):
// cards have nowhere to go, and never will. They are counted as
// unreachable and dropped, not dead letters (which an alert on
// baton_backlog{kind="dead"} would report for ever); start-up says so
// once, instead of naming everyone in the directory as unreachable.
func TestAPIOnlyDropsCards(t *testing.T) {
	t.Parallel()
	b := storagetest.Default(t)
	var logs bytes.Buffer
	cfg := bot.Config{Console: "off", TimerInterval: time.Second, HTTPAddr: "127.0.0.1:0", Secrets: map[string]string{}}
	a, err := build(t.Context(), cfg, env(), slog.New(slog.NewTextHandler(&logs, nil)), b.Client, clockwork.NewFakeClockAt(t0), storage.Config{Prefix: storagetest.Prefix()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.store.DeleteAll(context.Background()) })
	out, err := a.svc.Handle(t.Context(), flows.Event{Kind: flows.EventStart, Key: "k1", Actor: "alice", Flow: "purchase",
		Data: map[string]string{"item": "Laptop", "amount": "900", "justification": "the old one broke down"}})
	if err != nil || !out.OK {
		t.Fatalf("start: %+v %v", out, err)
	}
	if _, err := a.dispatcher.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	backlog, err := a.store.Backlog(t.Context())
	if err != nil || backlog.Dead != 0 || backlog.Outbox != 0 {
		t.Errorf("backlog %+v %v, want no dead letters and nothing left", backlog, err)
	}
	srv := httptest.NewServer(a.server.Handler())
	t.Cleanup(srv.Close)
	res, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(metrics), `baton_deliveries_total{effect="notify",platform="none",result="unreachable"} 1`) {
		t.Errorf("metrics do not count bob's card as unreachable:\n%s", grepLines(string(metrics), "baton_deliveries_total"))
	}
	if n := strings.Count(logs.String(), "no platform carries cards to people"); n != 1 || strings.Contains(logs.String(), "people in the directory no platform reaches") {
		t.Errorf("start-up said it %d times (want once), and named no one:\n%s", n, logs.String())
	}
}

// baton doctor says it plainly, and does not promise that dead letters
// left by an earlier build could be sent.
func TestDoctorAPIOnly(t *testing.T) {
	t.Parallel()
	c, url := storagetest.EmbeddedURL(t)
	s := storage.New(c, storage.Config{}) // as doctor reads it
	if err := s.Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	left := flows.Delivery{ID: "1-0", Instance: "PR-1", Effect: flows.Effect{Kind: flows.EffectNotify}, Dead: "no platform reaches bob"}
	if err := s.Delivered(t.Context(), []flows.Delivery{left}); err != nil { // kept aside by an earlier build
		t.Fatal(err)
	}
	_, out := runDoctor(t, "BATON_REDIS_URL", url)
	doctorWants(t, out, "ok   platforms: no platform carries cards to people (no Slack, no Teams, the console off)",
		"warn deliveries: 1 delivery was given up on", "cards among them cannot be sent again while no platform carries cards to people (baton dead drop deletes them)")
	// With the console on, cards do reach people.
	_, out = runDoctor(t, "BATON_REDIS_URL", url, "BATON_CONSOLE", "local")
	if strings.Contains(out, "platforms:") || !strings.Contains(out, "sends them again once what made them fail is fixed") {
		t.Errorf("with the console on:\n%s", out)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for l := range strings.Lines(s) {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}
