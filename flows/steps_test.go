package flows_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/batonbot/baton/flows"
)

func webhookFlow(onError string) string {
	return `
id: hook
name: Ticket
owner: olivia
form:
  - {name: summary, required: true}
steps:
  - id: ticket
    name: Open a ticket
    type: webhook
    url: https://tickets.example.com/api/new
    secret: tickets
    retries: 2
    due: 1h
    on_error: ` + onError + `
    store: {ticket: issue.key, link: issue.url, votes: issue.votes, open: issue.open, meta: issue.meta}
  - id: check
    name: Check
    type: approval
    when: 'ticket startsWith "OPS-" && votes > 2'
    assignees: [person:bob]
`
}

func TestWebhookStep(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, webhookFlow("fail")))
	tr := r.start("hook", "alice", form("summary", "Printer on fire"))
	wantStatus(t, r.in, flows.StatusRunning, "ticket", 1)
	calls := effectsOf(tr, flows.EffectWebhook)
	if len(calls) != 1 {
		t.Fatalf("effects: %s", describe(tr.Effects))
	}
	c := calls[0].Webhook
	if c.URL != "https://tickets.example.com/api/new" || c.Secret != "tickets" || c.Retries != 2 || c.Step != "ticket" || c.Round != 1 {
		t.Fatalf("call %+v", c)
	}
	if c.Body["instance"] != "X-1" || c.Body["flow"] != "hook" || c.Body["requester"] != "alice" || c.Body["step"] != "ticket" ||
		c.Body["data"].(map[string]any)["summary"] != "Printer on fire" {
		t.Fatalf("body %+v", c.Body)
	}
	if a := tr.Audit[len(tr.Audit)-1]; a.Action != "webhook_called" || a.Actor != flows.System || a.Detail["url"] != "https://tickets.example.com" { // the host only: a URL may hold credentials
		t.Fatalf("audit %+v", a)
	}
	contains(t, "outcome", tr.Outcome.Text, "Waiting on Open a ticket (tickets.example.com).")
	if _, ok := r.timer(flows.TimerTimeout, 0); !ok {
		t.Fatal("no timeout timer for the call")
	}
	// Nobody can approve a webhook step.
	r.inputErr(flows.Event{Kind: flows.EventApprove, Actor: admin}, "X-1 is waiting for Open a ticket, not for a person")
	// A decision for another round of the current step is out of date.
	contains(t, "a click for round 7", r.refused(flows.Event{Kind: flows.EventApprove, Actor: admin, Round: 7}, flows.CodeNotReached).Outcome.Text, "X-1 has not reached Open a ticket (round 7)")
	// A result for another step or round is a late one: nothing happens.
	for _, ev := range []flows.Event{
		{Kind: flows.EventWebhookResult, Step: "ticket", Round: 2, Result: &flows.WebhookResult{OK: true}},
		{Kind: flows.EventWebhookResult, Step: "check", Round: 1, Result: &flows.WebhookResult{OK: true}},
		{Kind: flows.EventWebhookResult, Step: "ticket", Round: 1},
	} {
		if tr := r.do(ev); !tr.Noop {
			t.Fatalf("%+v changed something", ev)
		}
	}

	reply := map[string]any{"issue": map[string]any{"key": "OPS-7", "url": "https://t/7", "votes": 3.0, "open": true, "meta": map[string]any{"a": 1.0}}}
	tr = r.do(flows.Event{Kind: flows.EventWebhookResult, Step: "ticket", Round: 1, Result: &flows.WebhookResult{OK: true, Status: 201, Reply: reply}})
	if r.in.Data["ticket"] != "OPS-7" || r.in.Data["link"] != "https://t/7" || r.in.Data["votes"] != 3.0 || r.in.Data["open"] != true || r.in.Data["meta"] != `{"a":1}` {
		t.Fatalf("stored %v", r.in.Data)
	}
	a := tr.Audit[0]
	if a.Action != "webhook_ok" || a.Actor != flows.System || a.Detail["ticket"] != "OPS-7" || a.Detail["votes"] != "3" || a.Detail["open"] != "true" {
		t.Fatalf("audit %+v", a)
	}
	// The stored reply feeds the next step's condition, and the timeout is gone.
	wantStatus(t, r.in, flows.StatusRunning, "check", 1)
	if len(effectsOf(tr, flows.EffectCancelTimer)) != 1 {
		t.Fatalf("effects %s", describe(tr.Effects))
	}
	if r.in.History[0].Outcome != "done" || r.in.History[0].By != flows.System {
		t.Fatalf("history %+v", r.in.History)
	}
	// The same result again is a no-op.
	if tr := r.do(flows.Event{Kind: flows.EventWebhookResult, Step: "ticket", Round: 1, Result: &flows.WebhookResult{OK: true, Reply: reply}}); !tr.Noop {
		t.Fatal("a repeated result changed something")
	}
}

// TestWebhookReplyGaps: a path into a list stores its item; a field the
// reply does not have is named in the record, and the approval whose
// condition needs it is asked, not passed over; a field stored as text
// where the condition wants a number too.
func TestWebhookReplyGaps(t *testing.T) {
	t.Parallel()
	src := strings.Replace(webhookFlow("fail"), "store: {ticket: issue.key, link: issue.url, votes: issue.votes, open: issue.open, meta: issue.meta}",
		"store: {ticket: issues.0.key, link: issues.1.url, votes: issue.votes}", 1)
	for name, c := range map[string]struct {
		reply   map[string]any
		missing string
	}{
		"no votes": {map[string]any{"issues": []any{map[string]any{"key": "OPS-7"}, map[string]any{"url": "https://t/8"}}},
			"votes (issue.votes)"},
		"votes as text": {map[string]any{"issues": []any{map[string]any{"key": "OPS-7"}, map[string]any{"url": "https://t/8"}}, "issue": map[string]any{"votes": "7"}},
			""},
		"a list too short, and no votes": {map[string]any{"issues": []any{map[string]any{"key": "OPS-7"}}},
			"link (issues.1.url), votes (issue.votes)"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := newRun(t, newEngine(t, src))
			r.start("hook", "alice", form("summary", "Printer on fire"))
			tr := r.do(flows.Event{Kind: flows.EventWebhookResult, Step: "ticket", Round: 1, Result: &flows.WebhookResult{OK: true, Status: 200, Reply: c.reply}})
			if r.in.Data["ticket"] != "OPS-7" {
				t.Errorf("issues.0.key stored %v", r.in.Data["ticket"])
			}
			if a := tr.Audit[0]; a.Action != "webhook_ok" || a.Detail["not in the reply"] != c.missing {
				t.Errorf("record %+v, want %q not in the reply", a, c.missing)
			}
			wantStatus(t, r.in, flows.StatusRunning, "check", 1) // asked, to be safe
		})
	}
	// A step that stores from its reply and gets no JSON object, or a
	// value over MaxStoredChars, fails, to be retried or skipped: it does
	// not go on with nothing (or too much) stored.
	for name, c := range map[string]struct {
		res  flows.WebhookResult
		want string
	}{
		"a reply that is no JSON": {flows.WebhookResult{OK: true, Status: 200, NotJSON: "not a JSON object (text/html)", Body: "<html><title>Sign in</title>"},
			"HTTP 200 from https://tickets.example.com, but its reply is not a JSON object (text/html): link, ticket, votes cannot be stored from it"},
		"a reply too large": {flows.WebhookResult{OK: true, Status: 200, NotJSON: "over 1 MiB (application/json), more than Baton reads", Body: `{"issues":[`},
			"HTTP 200 from https://tickets.example.com, but its reply is over 1 MiB (application/json), more than Baton reads: link, ticket, votes cannot be stored from it"},
		"an empty reply": {flows.WebhookResult{OK: true, Status: 204, NotJSON: "empty"},
			"HTTP 204 from https://tickets.example.com, but its reply is empty: link, ticket, votes cannot be stored from it"},
		"a value too long": {flows.WebhookResult{OK: true, Status: 200, Reply: map[string]any{"issues": []any{map[string]any{"key": strings.Repeat("k", flows.MaxStoredChars+1)}}}},
			"HTTP 200 from https://tickets.example.com, but a value to store from its reply is over 4000 characters, the most a stored value may have: ticket (issues.0.key) has 4001; store a shorter part of the reply"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := newRun(t, newEngine(t, src))
			r.start("hook", "alice", form("summary", "Printer on fire"))
			tr := r.do(flows.Event{Kind: flows.EventWebhookResult, Step: "ticket", Round: 1, Result: &c.res})
			if r.in.Status != flows.StatusFailed || r.in.Outcome != c.want {
				t.Fatalf("status %s, outcome %q, want failed: %q", r.in.Status, r.in.Outcome, c.want)
			}
			if _, ok := r.in.Data["ticket"]; ok {
				t.Errorf("stored %v", r.in.Data)
			}
			a := tr.Audit[0]
			if a.Action != "webhook_failed" || a.Reason != c.want || a.Detail["http status"] != strconv.Itoa(c.res.Status) || a.Detail["reply"] != c.res.Body {
				t.Errorf("record %+v", a)
			}
			// Rescued as any failed call: retried, its next round.
			tr = r.act(flows.EventRetry, "olivia")
			if calls := effectsOf(tr, flows.EffectWebhook); len(calls) != 1 || calls[0].Webhook.Round != 2 {
				t.Errorf("retry: %s", describe(tr.Effects))
			}
		})
	}
	t.Run("a value as long as may be", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, newEngine(t, src))
		r.start("hook", "alice", form("summary", "Printer on fire"))
		key := strings.Repeat("é", flows.MaxStoredChars) // characters, not bytes
		r.do(flows.Event{Kind: flows.EventWebhookResult, Step: "ticket", Round: 1, Result: &flows.WebhookResult{OK: true, Status: 200,
			Reply: map[string]any{"issues": []any{map[string]any{"key": key}}}}})
		if r.in.Data["ticket"] != key {
			t.Errorf("status %s: %d characters not stored", r.in.Status, flows.MaxStoredChars)
		}
	})
	t.Run("a reply that is no JSON, to a step that stores nothing", func(t *testing.T) {
		t.Parallel()
		plain := strings.NewReplacer("store: {ticket: issues.0.key, link: issues.1.url, votes: issue.votes}", "", `when: 'ticket startsWith "OPS-" && votes > 2'`, "").Replace(src)
		r := newRun(t, newEngine(t, plain))
		r.start("hook", "alice", form("summary", "Printer on fire"))
		tr := r.do(flows.Event{Kind: flows.EventWebhookResult, Step: "ticket", Round: 1, Result: &flows.WebhookResult{OK: true, Status: 200, NotJSON: "not a JSON object (text/html)"}})
		if a := tr.Audit[0]; a.Action != "webhook_ok" {
			t.Errorf("record %+v, want the call done", a)
		}
	})
}

func TestWebhookFailure(t *testing.T) {
	t.Parallel()
	failed := &flows.WebhookResult{Status: 500, Error: "HTTP 500 after 3 attempts"}
	t.Run("on_error fail", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, newEngine(t, webhookFlow("fail")))
		r.start("hook", "alice", form("summary", "x"))
		tr := r.do(flows.Event{Kind: flows.EventWebhookResult, Step: "ticket", Round: 1, Result: failed})
		if r.in.Status != flows.StatusFailed || r.in.Outcome != "HTTP 500 after 3 attempts" || !r.in.Failed.Equal(t0) {
			t.Fatalf("instance %+v", r.in)
		}
		if !r.in.Completed.IsZero() { // it waits to be rescued: it has not ended
			t.Errorf("a failed request has completed %v", r.in.Completed)
		}
		if a := tr.Audit[0]; a.Action != "webhook_failed" || a.Reason != failed.Error || a.Actor != flows.System {
			t.Fatalf("audit %+v", a)
		}
		m := notified(t, tr, "alice", "failed/3/alice").Msg
		if m.Title != "Failed: Ticket X-1 (x)" || m.Text != "Open a ticket could not complete: HTTP 500 after 3 attempts\n"+
			"Olivia Brown and Ada Admin (who may retry the call, skip the step or cancel the request) have been told." {
			t.Fatalf("notice %+v", m)
		}
		notified(t, tr, "olivia", "failed/3/olivia")
		notified(t, tr, "ada", "failed/3/ada")
		tl := r.e.Timeline(r.in, r.audit, "alice", r.now)
		if tl.Text != "Status: failed: HTTP 500 after 3 attempts" {
			t.Fatalf("timeline status %q", tl.Text)
		}
		// It waits at the step, failed: its requester may still withdraw it.
		r.act(flows.EventWithdraw, "alice")
		if r.in.Status != flows.StatusWithdrawn {
			t.Fatalf("withdrawn: %s", r.in.Status)
		}
	})
	t.Run("on_error continue", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, newEngine(t, webhookFlow("continue")))
		r.start("hook", "alice", form("summary", "x"))
		tr := r.do(flows.Event{Kind: flows.EventWebhookResult, Step: "ticket", Round: 1, Result: failed})
		// Nothing was stored, so the check's condition cannot be
		// evaluated: it fails safe, and Bob is asked.
		if r.in.Status != flows.StatusRunning || r.in.Step != "check" || r.in.History[0].Outcome != "failed" {
			t.Fatalf("instance %+v", r.in)
		}
		if got := auditActions(tr.Audit); !slices.Equal(got, []string{"webhook_failed", "condition_failed", "assigned"}) {
			t.Fatalf("audit %v", got)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		r := newRun(t, newEngine(t, webhookFlow("fail")))
		r.start("hook", "alice", form("summary", "x"))
		tr := r.fire(flows.TimerTimeout)
		if r.in.Status != flows.StatusFailed || r.in.Outcome != "no reply within 1 h" || tr.Audit[0].Action != "webhook_failed" {
			t.Fatalf("instance %+v, audit %+v", r.in, tr.Audit)
		}
		// The reply that comes after the timeout changes nothing.
		if tr := r.do(flows.Event{Kind: flows.EventWebhookResult, Step: "ticket", Round: 1, Result: &flows.WebhookResult{OK: true}}); !tr.Noop {
			t.Fatal("a late reply changed something")
		}
	})
}

func TestNotifyStep(t *testing.T) {
	t.Parallel()
	e := newEngine(t, `
id: tell
name: Heads-up
owner: olivia
title: "{{.item}} for {{.who}}"
form:
  - {name: item, required: true}
  - {name: who}
  - {name: amount, type: number}
steps:
  - id: note
    name: Tell everyone
    type: notify
    to: [requester, manager, owner, "person:erin", "group:finance", "channel:ops"]
    message: "{{.requester}} asked for {{.item}} ({{.id}}, {{.title}}) worth {{.amount}}; for: {{.who}}."
`)
	r := newRun(t, e)
	tr := r.start("tell", "alice", form("item", "pens", "amount", "12345"))
	if r.in.Title != "pens for" {
		t.Fatalf("title %q", r.in.Title)
	}
	want := []string{"alice", "bob", "olivia", "erin", "carol", "frank", "gina", "#ops"}
	var got []string
	for _, n := range notifies(tr) {
		if n.Card == "notify/note" {
			got = append(got, n.To.Person+strings.TrimSuffix("#"+n.To.Channel, "#"))
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("sent to %v, want %v", got, want)
	}
	for _, n := range notifies(tr)[:len(want)] {
		if n.Card != "notify/note" || n.Msg.Kind != flows.MsgInfo || n.Msg.Step != "note" || n.Msg.Title != "Heads-up X-1: pens for" {
			t.Fatalf("notice %+v %+v", n, n.Msg)
		}
		if n.Msg.Text != "Alice Martin asked for pens (X-1, pens for) worth 12,345; for: ." {
			t.Fatalf("text %q", n.Msg.Text)
		}
	}
	wantStatus(t, r.in, flows.StatusCompleted, "", 0)
	if r.in.Outcome != "completed" {
		t.Fatalf("outcome %q", r.in.Outcome)
	}
	if got := auditActions(tr.Audit); !slices.Equal(got, []string{"started", "notified", "completed"}) {
		t.Fatalf("audit %v", got)
	}
	if a := tr.Audit[1]; a.Actor != flows.System || a.Step != "note" || a.Detail["to"] != "alice, bob, olivia, erin, carol, frank, gina, #ops" {
		t.Fatalf("notified entry %+v", a)
	}
	if h := r.in.History[0]; h.Step != "note" || h.Outcome != "notified" || len(h.Assigned) != 8 {
		t.Fatalf("history %+v", h)
	}
	done := notified(t, tr, "alice", "requester/done").Msg
	if done.Title != "Completed: Heads-up X-1 (pens for)" {
		t.Fatalf("done %+v", done)
	}
	contains(t, "outcome", tr.Outcome.Text, "Started X-1 (Heads-up): completed.")

	// Someone with no manager: "manager" falls back to the owner, who is told once.
	r2 := newRun(t, e)
	tr = r2.start("tell", "zed", form("item", "pens"))
	if got := recipients(tr)[:3]; !slices.Equal(got, []string{"zed", "olivia", "erin"}) { // each once
		t.Fatalf("sent to %v", got)
	}
}

// nextFlow branches: small amounts take the fast track and jump to the
// order; others get the full review; big ones also go to the board, which
// the order step's jump to the end skips for the rest.
const nextFlow = `
id: nxt
name: Next
owner: olivia
form:
  - {name: amount, type: number, required: true}
steps:
  - id: fast
    name: Fast track
    type: approval
    when: amount < 100
    assignees: [manager]
    next: order
  - id: full
    name: Full review
    type: approval
    assignees: [group:finance]
  - id: order
    type: notify
    when: amount < 1000
    to: [requester]
    message: ordered
    next: end
  - id: board
    name: Board
    type: approval
    assignees: [person:dana]
`

func TestNextJumps(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		amount string
		path   []string // steps that ran, in order
	}{
		{"50", []string{"fast", "order"}},
		{"500", []string{"full", "order"}},
		{"5000", []string{"full", "board"}},
	} {
		t.Run(tt.amount, func(t *testing.T) {
			t.Parallel()
			r := newRun(t, newEngine(t, nextFlow))
			r.start("nxt", "alice", form("amount", tt.amount))
			for r.in.Status == flows.StatusRunning {
				who := r.in.Tasks[0].Assignee
				r.act(flows.EventApprove, who)
			}
			if r.in.Status != flows.StatusCompleted {
				t.Fatalf("status %s", r.in.Status)
			}
			var path []string
			for _, h := range r.in.History {
				path = append(path, h.Step)
			}
			if !slices.Equal(path, tt.path) {
				t.Fatalf("ran %v, want %v", path, tt.path)
			}
		})
	}
}

// A step's jump also applies when it is skipped by hand.
func TestSkipFollowsNext(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, nextFlow))
	r.start("nxt", "alice", form("amount", "50"))
	r.act(flows.EventSkip, "olivia", reason("known vendor"))
	if r.in.Status != flows.StatusCompleted || len(r.in.History) != 2 || r.in.History[1].Step != "order" {
		t.Fatalf("instance %+v", r.in)
	}
}

func TestChannelStep(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, policyFlow("    policy: all\n    channel: finance\n    due: 1d\n    on_timeout: wait\n    remind: {every: 2h, max: 1}")))
	tr := r.start("pol", "alice", form("item", "x"))
	if got := recipients(tr); !slices.Equal(got, []string{"#finance"}) {
		t.Fatalf("cards to %v", got)
	}
	card := notified(t, tr, "#finance", "fin/1/#finance").Msg
	if len(card.Actions) == 0 || !slices.Contains(card.Context, "Waiting on Carol Diaz, Frank Osei and Gina Ray") {
		t.Fatalf("channel card %+v", card)
	}
	tr = r.fire(flows.TimerRemind)
	if e := notifies(tr); len(e) != 1 || e[0].To.Channel != "finance" || e[0].Thread != "fin/1/#finance" || !strings.HasPrefix(e[0].Card, "fin/1/#finance/r") {
		t.Fatalf("reminder %s", describe(tr.Effects))
	}
	// One approves: the channel card, still open to the others, says who is left.
	tr = r.act(flows.EventApprove, "carol")
	up := updated(t, tr, "fin/1/#finance").Msg
	if len(up.Actions) == 0 || !slices.Contains(up.Context, "Waiting on Frank Osei and Gina Ray") {
		t.Fatalf("channel card after one approval %+v", up)
	}
	// Overdue: the channel card is shown overdue.
	tr = r.fire(flows.TimerTimeout)
	up = updated(t, tr, "fin/1/#finance").Msg
	if !slices.Contains(up.Context, "Overdue since Fri 27 Nov 09:00 UTC") {
		t.Fatalf("overdue channel card %+v", up)
	}
	// A comment reaches the people waited on, without threading under a card they never got.
	tr = r.act(flows.EventComment, "alice", reason("ping"))
	for _, e := range notifies(tr) {
		if e.Thread != "" {
			t.Fatalf("comment threads under %q", e.Thread)
		}
	}
	// Reassigned: the new person gets their own card, the channel card is updated.
	tr = r.act(flows.EventReassign, "frank", target("erin"))
	notified(t, tr, "erin", "fin/1/erin")
	up = updated(t, tr, "fin/1/#finance").Msg
	if !slices.Contains(up.Context, "Waiting on Erin Park and Gina Ray") {
		t.Fatalf("channel card after reassign %+v", up)
	}
	r.now = r.now.Add(time.Hour)
	r.act(flows.EventApprove, "erin")
	r.act(flows.EventApprove, "gina")
	if r.in.Status != flows.StatusCompleted {
		t.Fatal(r.in.Status)
	}
}

// TestWebhookURLCredentialsStayOut: a webhook step's URL may carry
// credentials (user:password, an api_key in the query); what people see and
// the audit trail keep only its host.
func TestWebhookURLCredentialsStayOut(t *testing.T) {
	t.Parallel()
	src := strings.Replace(webhookFlow("fail"), "https://tickets.example.com/api/new", "https://svc:SuperSecret@tickets.example.com/api/new?api_key=KEY-1", 1)
	r := newRun(t, newEngine(t, src))
	tr := r.start("hook", "alice", form("summary", "x"))
	if c := effectsOf(tr, flows.EffectWebhook)[0].Webhook; c.URL != "https://svc:SuperSecret@tickets.example.com/api/new?api_key=KEY-1" {
		t.Fatalf("the call itself must keep the URL: %q", c.URL)
	}
	contains(t, "outcome", tr.Outcome.Text, "Waiting on Open a ticket (tickets.example.com).")
	for _, a := range r.audit {
		for k, v := range a.Detail {
			if strings.Contains(v, "SuperSecret") || strings.Contains(v, "KEY-1") {
				t.Errorf("audit %s %s=%q holds the URL's credentials", a.Action, k, v)
			}
		}
	}
	tl := fmt.Sprint(r.e.Timeline(r.in, r.audit, "alice", r.now).Items)
	if strings.Contains(tl, "SuperSecret") || strings.Contains(tl, "KEY-1") || !strings.Contains(tl, "tickets.example.com") {
		t.Errorf("timeline %s", tl)
	}
}

// TestTimelineNamesChannels: a channel is named in the timeline as on
// cards ("#vendor-management"), not by the id its record keeps.
func TestTimelineNamesChannels(t *testing.T) {
	t.Parallel()
	r := newRun(t, newEngine(t, `
id: tell
name: Tell
owner: olivia
form:
  - {name: item, type: text}
steps:
  - {id: tell, name: Tell the vendors team, type: notify, to: ["channel:vendors"], message: "{{.item}}"}
`))
	r.start("tell", "alice", form("item", "pens"))
	tl := fmt.Sprint(r.e.Timeline(r.in, r.audit, "alice", r.now).Items)
	if !strings.Contains(tl, "#vendor-management") || strings.Contains(tl, "#vendors") {
		t.Errorf("timeline %s", tl)
	}
}

// TestNotifyAField: a notify step tells whoever a person or email field
// names (someone outside the workspace by mail), and nobody for a field
// left empty.
func TestNotifyAField(t *testing.T) {
	t.Parallel()
	e := newEngine(t, `
id: tell
name: Tell
owner: olivia
form:
  - {name: sponsor, type: person}
  - {name: contact, type: email}
steps:
  - {id: tell, name: Tell the sponsor, type: notify, to: [field:sponsor, field:contact], message: "go ahead"}
`)
	told := func(tr *flows.Transition) []string {
		var out []string
		for _, n := range notifies(tr) {
			if n.Card == "notify/tell" {
				out = append(out, n.To.Person)
			}
		}
		return out
	}
	r := newRun(t, e)
	if got := told(r.start("tell", "alice", form("sponsor", "carol", "contact", "Pat@Vendor.example"))); !slices.Equal(got, []string{"carol", "email:pat@vendor.example"}) {
		t.Errorf("told %v", got)
	}
	r = newRun(t, e)
	if got := told(r.start("tell", "alice", form())); len(got) != 0 {
		t.Errorf("with both fields empty, told %v", got)
	}
	if tl := fmt.Sprint(r.e.Timeline(r.in, r.audit, "alice", r.now).Items); !strings.Contains(tl, "to: nobody (no one it names is on this request)") {
		t.Errorf("timeline %s", tl)
	}
}

// TestTimelineNotifyStep: a notify step has no rounds, and its timeline
// line names only the step.
func TestTimelineNotifyStep(t *testing.T) {
	t.Parallel()
	r := newRun(t, exampleEngine(t))
	r.start("purchase", "alice", form("item", "Laptop", "amount", "500", "justification", "my old one broke down"))
	r.act(flows.EventApprove, "bob")
	tl := fmt.Sprint(r.e.Timeline(r.in, r.audit, "alice", r.now).Items)
	if !strings.Contains(tl, "Tell procurement ·") || strings.Contains(tl, "round 0") || !strings.Contains(tl, "Manager approval, round 1") {
		t.Errorf("timeline %s", tl)
	}
}

// TestVoteOnCards: under a quorum the cards say where the vote stands, and
// in a step's last round that changes can no longer be requested.
func TestVoteOnCards(t *testing.T) {
	t.Parallel()
	e := exampleEngine(t)
	r := newRun(t, e)
	r.do(flows.Event{Kind: flows.EventStart, Instance: "AR-1", Flow: "access", Actor: "alice", Data: form("system", "aws", "level", "admin", "reason", "on call duty")})
	tr := r.act(flows.EventApprove, "bob")
	// Before the first vote too: one approval will not do.
	if c := notified(t, tr, "erin", "security/1/erin").Msg.Context; !slices.ContainsFunc(c, func(s string) bool { return strings.HasPrefix(s, "2 approvals needed, of ") }) {
		t.Errorf("erin's card before any vote: %q", c)
	}
	tr = r.act(flows.EventApprove, "erin")
	if c := updated(t, tr, "security/1/gus").Msg.Context; !slices.Contains(c, "Approved so far by Erin Park (1 of 2 needed)") {
		t.Errorf("gus's card after erin's vote: %q", c)
	}

	r = newRun(t, e)
	r.do(flows.Event{Kind: flows.EventStart, Instance: "CR-1", Flow: "content", Actor: "alice",
		Data: form("headline", "Launch", "draft", "https://docs.example.com/d/1", "audience", "internal", "editor", "ivan")})
	for round := 1; round < 4; round++ {
		r.act(flows.EventRequestChanges, "ivan", reason("tighter"))
		tr = r.act(flows.EventResubmit, "alice", data("headline", "Launch", "draft", "https://docs.example.com/d/1", "audience", "internal", "editor", "ivan"))
	}
	card := notified(t, tr, "ivan", "edit/4/ivan").Msg
	if !slices.Contains(card.Context, "Round 4 of 4, the last: changes can no longer be requested") || slices.Contains(card.Context, "Round 4") {
		t.Errorf("the last round's card: %q", card.Context)
	}
}

// TestConditionErrorFailsSafe: a step whose condition cannot be evaluated
// is not passed over (that would let a request past an approval): an
// approval is asked, with the reason recorded; a webhook step is not
// called, and the request fails, or goes on past it with on_error:
// continue.
func TestConditionErrorFailsSafe(t *testing.T) {
	t.Parallel()
	// A flow whose first step is step, with a condition that cannot be
	// evaluated for the form below ("(" is no pattern).
	flow := func(step string) string {
		return `
id: cond
name: Cond
owner: olivia
form:
  - {name: item, type: text}
  - {name: pattern, type: text}
steps:
  - ` + step + `
  - {id: tell, type: notify, to: [requester], message: done}
`
	}
	broken := form("item", "x", "pattern", "(")
	r := newRun(t, newEngine(t, flow(`{id: check, name: Check, type: approval, assignees: ["person:bob"], when: "item matches pattern"}`)))
	tr := r.start("cond", "alice", broken)
	if r.in.Status != flows.StatusRunning || r.in.Step != "check" {
		t.Fatalf("the approval was not asked: %s at %q", r.in.Status, r.in.Step)
	}
	if !slices.ContainsFunc(tr.Audit, func(a flows.AuditEntry) bool {
		return a.Action == "condition_failed" && a.Step == "check" && strings.HasPrefix(a.Reason, "condition could not be evaluated: ") &&
			strings.HasSuffix(a.Reason, "; the step is asked, to be safe")
	}) {
		t.Errorf("no record of the condition's failure: %+v", tr.Audit)
	}
	items := itemTexts(r.e.Timeline(r.in, r.audit, "alice", r.now))
	if got := items["Check"]; !strings.HasPrefix(got, "Waiting on Bob Chen") {
		t.Errorf("the step's summary %q", got)
	}
	// The approver is told why they are asked.
	contains(t, "bob's card", strings.Join(notified(t, tr, "bob", "check/1/bob").Msg.Context, "\n"), "Routing: asked to be safe: its condition could not be checked (")

	for _, onError := range []string{"fail", "continue"} {
		r := newRun(t, newEngine(t, flow(`{id: call, name: Provision, type: webhook, url: "https://ops.example.com/provision", on_error: `+onError+`, when: "item matches pattern"}`)))
		tr := r.start("cond", "alice", broken)
		for _, e := range tr.Effects {
			if e.Kind == flows.EffectWebhook {
				t.Errorf("on_error %s: the webhook was called: %+v", onError, e)
			}
		}
		switch onError {
		case "fail":
			if r.in.Status != flows.StatusFailed || !strings.HasPrefix(r.in.Outcome, "condition could not be evaluated: ") {
				t.Errorf("on_error fail: %s %q, want failed with the reason", r.in.Status, r.in.Outcome)
			}
			notified(t, tr, "alice", "failed/2/alice")
			notified(t, tr, "olivia", "failed/2/olivia")
			if evs := flows.HookEvents(tr); !slices.ContainsFunc(evs, func(e flows.HookEvent) bool { return e.Type == flows.HookFailed }) {
				t.Errorf("on_error fail: no failed event announced: %+v", evs)
			}
		case "continue":
			if r.in.Status != flows.StatusCompleted {
				t.Errorf("on_error continue: %s, want completed past the step", r.in.Status)
			}
		}
	}
}

// TestConditionErrorOnResubmit: a resubmission that makes an earlier,
// passed-over approval's condition fail to evaluate asks that approval
// first (fail safe), as starting with that data would have.
func TestConditionErrorOnResubmit(t *testing.T) {
	t.Parallel()
	e := newEngine(t, `
id: cond
name: Cond
owner: olivia
form:
  - {name: item, type: text}
  - {name: pattern, type: text}
steps:
  - {id: check, name: Check, type: approval, assignees: ["person:bob"], when: "item matches pattern"}
  - {id: final, name: Final, type: approval, assignees: ["person:carol"]}
`)
	r := newRun(t, e)
	r.start("cond", "alice", form("item", "x", "pattern", "y"))
	if r.in.Step != "final" {
		t.Fatalf("at %q, want final (check's condition is false)", r.in.Step)
	}
	r.act(flows.EventRequestChanges, "carol", reason("which item?"))
	r.act(flows.EventResubmit, "alice", data("item", "x", "pattern", "("))
	if r.in.Status != flows.StatusRunning || r.in.Step != "check" {
		t.Errorf("after a resubmission breaking check's condition: %s at %q, want check asked", r.in.Status, r.in.Step)
	}
}

// TestResubmitNewWayAsksJumpedSteps: edits that take the request down
// another way ask the steps on it that the old way jumped over (next),
// before it returns to the step that sent it back.
func TestResubmitNewWayAsksJumpedSteps(t *testing.T) {
	t.Parallel()
	e := newEngine(t, `
id: jump
name: Jump
owner: olivia
form:
  - {name: amount, type: number}
steps:
  - {id: big, name: Big, type: approval, when: amount > 1000, assignees: ["person:dana"], next: fin}
  - {id: small, name: Small, type: approval, assignees: ["person:bob"]}
  - {id: fin, name: Finance, type: approval, assignees: ["person:carol"]}
`)
	r := newRun(t, e)
	r.start("jump", "alice", form("amount", "5000"))
	r.act(flows.EventApprove, "dana")
	r.act(flows.EventRequestChanges, "carol", reason("too much"))
	r.act(flows.EventResubmit, "alice", data("amount", "500"))
	if r.in.Step != "small" {
		t.Fatalf("after the resubmission: at %q, want small (on the new way, never asked)", r.in.Step)
	}
	r.act(flows.EventApprove, "bob")
	if r.in.Status != flows.StatusRunning || r.in.Step != "fin" || r.in.Round != 2 {
		t.Fatalf("after small: %s at %q round %d, want fin round 2", r.in.Status, r.in.Step, r.in.Round)
	}
	r.act(flows.EventApprove, "carol")
	if r.in.Status != flows.StatusCompleted {
		t.Fatalf("after fin: %s", r.in.Status)
	}
}

// TestChoiceEmptyComparison: comparing a choice with "" (is it set at
// all) is no mistyped option: it is accepted and works.
func TestChoiceEmptyComparison(t *testing.T) {
	t.Parallel()
	e := newEngine(t, `
id: opt
name: Opt
owner: olivia
form:
  - {name: item, type: text}
  - {name: level, type: choice, options: [read, admin]}
steps:
  - {id: check, name: Check, type: approval, assignees: ["person:bob"], when: 'level != ""'}
  - {id: tell, type: notify, to: [requester], message: done}
`)
	for level, want := range map[string]flows.Status{"": flows.StatusCompleted, "admin": flows.StatusRunning} {
		r := newRun(t, e)
		r.start("opt", "alice", form("item", "x", "level", level))
		if r.in.Status != want {
			t.Errorf("level %q: %s, want %s", level, r.in.Status, want)
		}
	}
}

// TestTaskInstructionsTemplate: a task's instructions may name fields, as
// a notify message does; a name that is none is refused by validation.
func TestTaskInstructionsTemplate(t *testing.T) {
	t.Parallel()
	const src = `
id: acct
name: Account
owner: olivia
form:
  - {name: system, type: text}
steps:
  - id: grant
    name: Grant it
    type: task
    assignees: [person:erin]
    instructions: "Create {{.requester}}'s account on {{.system}}."
`
	r := newRun(t, newEngine(t, src))
	tr := r.start("acct", "alice", form("system", "GitHub"))
	contains(t, "Erin's card", notified(t, tr, "erin", "grant/1/erin").Msg.Text, "Grant it\nCreate Alice Martin's account on GitHub.")
	_, err := flows.ParseDefinition("acct.yaml", []byte(strings.Replace(src, "{{.system}}", "{{.sytem}}", 1)))
	if err == nil || !strings.Contains(err.Error(), "steps[0].instructions") || !strings.Contains(err.Error(), "sytem") {
		t.Errorf("an unknown name in instructions: %v", err)
	}
}

// notGivenFlow's notice names what two steps set that may not run: an
// order placed only above 100, and a ticket whose call may fail.
const notGivenFlow = `
id: ng
name: Order
owner: olivia
form:
  - {name: amount, type: number, required: true}
steps:
  - id: order
    name: Place order
    type: task
    when: amount > 100
    assignees: [person:erin]
    outputs:
      - {name: po, label: PO number}
  - id: ticket
    name: Open a ticket
    type: webhook
    url: https://tickets.example.com/api/new
    secret: tickets
    on_error: continue
    store: {ticket: issue.key}
  - id: tell
    type: notify
    to: [requester]
    message: 'PO number: {{.po}}. Ticket: {{.ticket}}.{{with .po}} Quote {{.}}.{{end}} {{or .ticket "No ticket"}}.{{if eq .po ""}} No PO.{{end}}'
`

// A template naming what a step sets, when the step did not set it (it
// was passed over or skipped, its call failed, its reply lacked the
// field, its task left it empty), writes "—" there, not nothing; to with,
// or and eq it is empty, so that the flow's own words for it still apply.
func TestTemplateNotGiven(t *testing.T) {
	t.Parallel()
	hook := func(r *run, res flows.WebhookResult) *flows.Transition {
		return r.do(flows.Event{Kind: flows.EventWebhookResult, Step: "ticket", Round: 1, Result: &res})
	}
	ok := func(reply map[string]any) flows.WebhookResult {
		return flows.WebhookResult{OK: true, Status: 200, Reply: reply}
	}
	tests := []struct {
		name   string
		amount string
		order  func(r *run) // the order step, if it is asked
		result flows.WebhookResult
		want   string
	}{
		{"both set", "500", func(r *run) { r.act(flows.EventTaskDone, "erin", data("po", "PO-1")) },
			ok(map[string]any{"issue": map[string]any{"key": "T-9"}}), "PO number: PO-1. Ticket: T-9. Quote PO-1. T-9."},
		{"passed over, and the call failed", "50", nil,
			flows.WebhookResult{Status: 500, Error: "HTTP 500"}, "PO number: —. Ticket: —. No ticket. No PO."},
		{"skipped, and the reply lacked it", "500", func(r *run) { r.act(flows.EventSkip, "olivia", reason("ordered by phone")) },
			ok(map[string]any{}), "PO number: —. Ticket: —. No ticket. No PO."},
		// Done, with the optional output left empty: not given either.
		{"left empty", "500", func(r *run) { r.act(flows.EventTaskDone, "erin", data("po", "")) },
			ok(map[string]any{"issue": map[string]any{"key": "T-9"}}), "PO number: —. Ticket: T-9. T-9. No PO."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRun(t, newEngine(t, notGivenFlow))
			r.start("ng", "alice", form("amount", tt.amount))
			if tt.order != nil {
				tt.order(r)
			}
			tr := hook(r, tt.result)
			wantStatus(t, r.in, flows.StatusCompleted, "", 0)
			if got := notified(t, tr, "alice", "notify/tell").Msg.Text; got != tt.want {
				t.Errorf("notice %q, want %q", got, tt.want)
			}
		})
	}
}
