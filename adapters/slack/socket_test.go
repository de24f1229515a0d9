package slack

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/batonbot/baton/flows"
)

// socketServer plays Slack's Socket Mode side: apps.connections.open
// hands out a WebSocket URL; each connection gets "hello", then whatever
// the test sends, and the acks come back on acks.
type socketServer struct {
	conns chan *websocket.Conn
}

func newSocketServer(t *testing.T, f *fakeSlack) *socketServer {
	s := &socketServer{conns: make(chan *websocket.Conn, 4)}
	f.handle("apps.connections.open", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+testAppToken {
			f.json(w, map[string]any{"ok": false, "error": "invalid_auth"})
			return
		}
		f.json(w, map[string]any{"ok": true, "url": "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/ws"})
	})
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	f.handle("ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		if err := c.WriteJSON(map[string]any{"type": "hello", "num_connections": 1}); err != nil {
			t.Error(err)
		}
		s.conns <- c
	})
	return s
}

// envelope sends a Socket Mode request and returns its ack's payload.
func envelope(t *testing.T, c *websocket.Conn, id, kind string, payload any) map[string]any {
	t.Helper()
	if err := c.WriteJSON(map[string]any{"envelope_id": id, "type": kind, "accepts_response_payload": kind != "events_api", "payload": payload}); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var ack struct {
			EnvelopeID string         `json:"envelope_id"`
			Payload    map[string]any `json:"payload"`
		}
		if err := c.ReadJSON(&ack); err != nil {
			t.Fatalf("reading the ack of %s: %v", id, err)
		}
		if ack.EnvelopeID == id {
			return ack.Payload
		}
	}
}

// TestSocketMode: with an app token, Baton takes Slack's requests over
// Socket Mode and acknowledges each envelope (with the answer where one is
// due). When a connection fails, or the token is refused for a while, it
// connects again.
func TestSocketMode(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config, _ *[]*flows.Definition, _ **flows.Directory) {
		c.AppToken, c.SigningSecret, c.SocketBackoff = testAppToken, "", 20*time.Millisecond
	})
	if len(h.a.Routes()) != 0 {
		t.Fatal("Socket Mode only: no HTTP routes should be served")
	}
	ss := newSocketServer(t, h.api)
	// Slack refuses the first connection outright (slack-go gives up on
	// it): Baton must try again.
	h.api.failNext("apps.connections.open", "invalid_auth")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- h.a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	var conn *websocket.Conn
	select {
	case conn = <-ss.conns:
	case <-time.After(10 * time.Second):
		t.Fatalf("no Socket Mode connection; Slack received:\n%s", summarize(h.api.Calls()))
	}

	// A slash command is answered in its ack.
	cmd := map[string]any{"team_id": "T0BATON", "user_id": "U0ALICE", "command": "/baton", "text": "help",
		"trigger_id": "trigger-socket-1", "response_url": h.api.responseURL("socket-1"), "channel_id": "C0GENERAL"}
	ack := envelope(t, conn, "env-1", "slash_commands", cmd)
	if ack["response_type"] != "ephemeral" || !strings.Contains(mustString(t, ack), "v1|start|||0|purchase") {
		t.Fatalf("command ack: %v", ack)
	}
	// One without the ids that key what it does is acknowledged with
	// nothing done, as over HTTP.
	noTrigger := map[string]any{"team_id": "T0BATON", "user_id": "U0ALICE", "command": "/baton", "text": "help", "channel_id": "C0GENERAL"}
	if ack := envelope(t, conn, "env-0", "slash_commands", noTrigger); len(ack) != 0 {
		t.Fatalf("command without trigger_id: ack %v, want an empty one", ack)
	}
	noView := h.submitPayload("U0ALICE", "", cbStart, viewMeta{Kind: "start", Flow: "purchase"}.encode(), purchaseValues("Laptop", "700"))
	if ack := envelope(t, conn, "env-0b", "interactive", noView); len(ack) != 0 {
		t.Fatalf("submission without view.id: ack %v, want an empty one", ack)
	}
	// A modal submission's answer (errors, here) is in its ack too.
	bad := h.submitPayload("U0ALICE", "V0SOCK", cbStart, viewMeta{Kind: "start", Flow: "purchase"}.encode(), purchaseValues("Laptop", "0"))
	if ack = envelope(t, conn, "env-2", "interactive", bad); ack["response_action"] != "errors" {
		t.Fatalf("submission ack: %v", ack)
	}
	good := h.submitPayload("U0ALICE", "V0SOCK", cbStart, viewMeta{Kind: "start", Flow: "purchase"}.encode(), purchaseValues("Laptop", "700"))
	if ack = envelope(t, conn, "env-3", "interactive", good); !strings.Contains(mustString(t, ack), "Started PR-1") {
		t.Fatalf("submission ack: %v", ack)
	}
	h.settle()

	// Slack drops the connection: Baton reconnects and carries on.
	conn.Close()
	select {
	case conn = <-ss.conns:
	case <-time.After(10 * time.Second):
		t.Fatal("no reconnection after the connection dropped")
	}
	defer conn.Close()
	click := h.clickPayload("U0BOB", "v1|approve|PR-1|manager|1|", "D0BOB")
	if ack = envelope(t, conn, "env-4", "interactive", click); len(ack) != 0 {
		t.Fatalf("click ack: %v", ack)
	}
	if in, _ := h.rig.Svc.Instance(t.Context(), "PR-1"); in.Status != flows.StatusCompleted {
		t.Fatalf("approval over Socket Mode: %s", in.Status)
	}
	var ev map[string]any
	_ = json.Unmarshal(readTestdata(t, "app_home_opened.json"), &ev)
	envelope(t, conn, "env-5", "events_api", ev)
	h.api.waitFor("the App Home", func(c []apiCall) bool { return count(c, "views.publish") > 0 })
	if n := count(h.api.Calls(), "apps.connections.open"); n < 3 {
		t.Errorf("apps.connections.open called %d times; want the refused one and two connections", n)
	}
}
