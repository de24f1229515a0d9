package slack

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"time"

	slackgo "github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// runSocket receives Slack's requests over Socket Mode until ctx is
// cancelled. slack-go reconnects when Slack asks it to, but RunContext
// returns when a reconnection fails (or the token is refused): this loop
// starts it again, forever, with jittered exponential backoff (reset after
// a connection that lasted).
func (a *Adapter) runSocket(ctx context.Context) {
	sm := socketmode.New(a.api.client)
	done := make(chan struct{})
	go func() { defer close(done); a.socketEvents(ctx, sm) }()
	backoff := a.cfg.SocketBackoff
	for ctx.Err() == nil {
		began := time.Now()
		err := sm.RunContext(ctx)
		if ctx.Err() != nil {
			break
		}
		a.m.socket.WithLabelValues("disconnected").Inc()
		if time.Since(began) > 2*time.Minute {
			backoff = a.cfg.SocketBackoff
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		a.log.Warn("slack socket mode stopped; reconnecting", "in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		backoff = min(2*backoff, time.Minute)
	}
	<-done
}

// socketEvents consumes the Socket Mode client's events: requests are
// handled concurrently, each acknowledged with its envelope id.
func (a *Adapter) socketEvents(ctx context.Context, sm *socketmode.Client) {
	for {
		var evt socketmode.Event
		select {
		case <-ctx.Done():
			return
		case evt = <-sm.Events:
		}
		switch evt.Type {
		case socketmode.EventTypeConnected:
			a.m.socket.WithLabelValues("connected").Inc()
			a.log.Info("slack socket mode connected")
		case socketmode.EventTypeConnectionError:
			a.m.socket.WithLabelValues("error").Inc()
			if e, ok := evt.Data.(*slackgo.ConnectionErrorEvent); ok {
				a.log.Warn("slack socket mode cannot connect; retrying", "attempt", e.Attempt, "in", e.Backoff, "err", e.ErrorObj)
			}
		case socketmode.EventTypeInvalidAuth:
			a.m.socket.WithLabelValues("error").Inc()
			a.log.Error("slack refused SLACK_APP_TOKEN: create an app-level token with connections:write (Basic Information → App-Level Tokens)")
		case socketmode.EventTypeEventsAPI, socketmode.EventTypeInteractive, socketmode.EventTypeSlashCommand:
			if evt.Request != nil {
				a.bg.Go(func() { a.socketRequest(ctx, sm, evt) })
			}
		case socketmode.EventTypeErrorBadMessage:
			// An envelope slack-go could not parse (e.g. an event type it
			// does not know): acknowledge it anyway, or Slack resends it.
			if bad, ok := evt.Data.(*socketmode.ErrorBadMessage); ok {
				var env struct {
					EnvelopeID string `json:"envelope_id"`
				}
				if json.Unmarshal(bad.Message, &env) == nil && env.EnvelopeID != "" {
					_ = sm.AckCtx(ctx, env.EnvelopeID, nil)
				}
				a.log.Warn("slack socket mode message not understood", "err", bad.Cause)
			}
		}
	}
}

func (a *Adapter) socketRequest(ctx context.Context, sm *socketmode.Client, evt socketmode.Event) {
	began := time.Now()
	hctx, cancel := context.WithTimeout(ctx, ackDeadline)
	defer cancel()
	kind, result := "event", "ok"
	var ack any
	switch evt.Type {
	case socketmode.EventTypeSlashCommand:
		kind = "command"
		c, _ := evt.Data.(slackgo.SlashCommand)
		if err := checkCommand(c); err != nil {
			result = "bad_request"
			a.log.Warn("slack command not understood", "err", err)
			break
		}
		ack = a.onCommand(hctx, c)
		if b, _ := json.Marshal(ack); len(b) > maxSocketAckBytes && c.ResponseURL != "" {
			// Too big for an acknowledgement: answer through the response URL.
			reply := ack.(*cmdReply)
			ack = nil
			a.async(ctx, "command answer", func(ctx context.Context) error {
				return a.api.respond(ctx, c.ResponseURL, reply.Blocks, reply.Text)
			})
		}
	case socketmode.EventTypeInteractive:
		kind = "interaction"
		ic, _ := evt.Data.(slackgo.InteractionCallback)
		if err := checkInteraction(ic); err != nil {
			result = "bad_request"
			a.log.Warn("slack interaction not understood", "err", err)
			break
		}
		ack = a.onInteraction(hctx, ic)
	case socketmode.EventTypeEventsAPI:
		if e, err := parseEvent(evt.Request.Payload); err == nil {
			if _, busy := a.onEvent(hctx, e).(inProgress); busy {
				// Not acknowledged: Slack delivers it again later, as it
				// retries an HTTP delivery answered 503.
				a.m.inbound.WithLabelValues(kind, "in_progress").Inc()
				return
			}
		} else {
			result = "bad_request"
			a.log.Warn("slack event not understood", "err", err)
		}
	}
	if err := sm.AckCtx(ctx, evt.Request.EnvelopeID, ack); err != nil {
		result = "error"
		a.log.Warn("slack socket mode acknowledgement failed", "kind", kind, "err", err)
	}
	a.m.inbound.WithLabelValues(kind, result).Inc()
	a.m.ackTime.WithLabelValues(kind).Observe(time.Since(began).Seconds())
}
