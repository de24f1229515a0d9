package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/batonbot/baton/flows"
	"github.com/batonbot/baton/storage"
	"github.com/batonbot/baton/storage/storagetest"
)

// runDead runs `baton dead [args]` against the Redis at redisURL.
func runDead(t *testing.T, redisURL string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(t.Context(), append([]string{"dead"}, args...), env("BATON_REDIS_URL", redisURL), nil, &out, &errOut)
	return code, out.String(), errOut.String()
}

// deadWorld is a cross-platform world whose Slack refuses to post in
// channel with slackErr, where Alice has started a purchase of amount in
// Slack and Bob has approved it in Teams. Its data is in a Redis of its
// own, at the returned URL: the command reads the default prefix and shards.
func deadWorld(t *testing.T, channel, slackErr, amount string) (*crossWorld, redis.UniversalClient, string) {
	t.Helper()
	rdb, url := storagetest.EmbeddedURL(t)
	x := newCrossWorldOn(t, rdb, storage.Config{})
	x.slack.mu.Lock()
	x.slack.refuse = map[string]string{channel: slackErr}
	x.slack.mu.Unlock()
	bobChat := "a:1bob-chat"
	x.teamsHello("bob")
	x.startInSlack(amount)
	x.teamsDecide("bob", bobChat, x.ms.last(t, bobChat), "approve", "Approved by Bob Chen")
	x.drain()
	findCall(t, x.slack.take(), "chat.postMessage", channel) // refused
	return x, rdb, url
}

// keepDead puts a dead letter for PR-1 straight into its shard's stream, as
// the dispatcher keeps one.
func keepDead(t *testing.T, x *crossWorld, rdb redis.UniversalClient, e flows.Effect, why string) {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if err := rdb.XAdd(t.Context(), &redis.XAddArgs{Stream: fmt.Sprintf("{baton:%d}:dead", x.a.store.ShardOf("PR-1")),
		Values: map[string]any{"i": "PR-1", "e": b, "why": why, "id": "1-0", "part": 0}}).Err(); err != nil {
		t.Fatal(err)
	}
}

// taskCard is PR-1's task card for person at step, round 1.
func taskCard(person, step string) flows.Effect {
	return flows.Effect{Kind: flows.EffectNotify, To: flows.Recipient{Person: person}, Card: step + "/1/" + person,
		Msg: &flows.Message{Kind: flows.MsgTask, Instance: "PR-1", Step: step, Round: 1, Title: "Purchase request PR-1",
			Actions: []flows.Action{{Kind: flows.ActApprove, Label: "Approve", Instance: "PR-1", Step: step, Round: 1}}}}
}

// unrefuse lets Slack post everywhere again.
func (x *crossWorld) unrefuse() {
	x.slack.mu.Lock()
	x.slack.refuse = nil
	x.slack.mu.Unlock()
}

// The app is not in the procurement channel in Slack: the order notice
// dies there (Teams gets it). Once the app is invited, baton dead retry
// sends it again, to Slack only; a task card whose step is over is not
// sent again, and is dropped.
func TestDeadLettersRetried(t *testing.T) {
	t.Parallel()
	x, rdb, url := deadWorld(t, "C0PROCURE", "not_in_channel", "500")
	mustHave(t, "Teams calls after the approval", strings.Join(x.ms.takeCalls(), "\n"), "procurement")

	code, out, errOut := runDead(t, url)
	if code != 0 || strings.Count(out, "\n") != 1 {
		t.Fatalf("baton dead: exit %d\n%s%s", code, out, errOut)
	}
	mustHave(t, "baton dead", out, "PR-1", "notify notify/order (info) to #procurement: slack: ", "invite it (/invite @Baton)")
	mustHave(t, "baton dead's stderr", errOut, "1 dead letter; once what made it fail is fixed, baton dead retry REF... (or -all) sends it again")
	ref := strings.Fields(out)[0]
	code, out, errOut = runDead(t, url, "-json")
	var line deadLine
	if err := json.Unmarshal([]byte(out), &line); code != 0 || err != nil || line.Ref != ref || line.Instance != "PR-1" ||
		line.Kind != "notify" || line.To != "#procurement" || line.Message != "info" || !strings.Contains(line.Why, "not in this channel") {
		t.Fatalf("baton dead -json: exit %d, %+v (%v)\n%s", code, line, err, errOut)
	}

	mustHave(t, "/metrics", metricsText(t, x.srv.URL), `baton_backlog{kind="dead"} 1`, `baton_backlog{kind="outbox"} 0`)
	var doc bytes.Buffer
	run(t.Context(), []string{"doctor"}, env("BATON_REDIS_URL", url), nil, &doc, &doc)
	mustHave(t, "baton doctor", doc.String(), "deliveries", "1 delivery was given up on", "baton dead lists them")

	// Once the app is in the channel, the notice goes to Slack.
	x.unrefuse()
	if code, out, errOut = runDead(t, url, "retry", ref); code != 0 || out != "sent 1 dead letter again: Baton delivers it as it runs (now, if it is running)\n" {
		t.Fatalf("baton dead retry %s: exit %d\n%s%s", ref, code, out, errOut)
	}
	x.drain()
	wantLines(t, "Slack calls after the retry", summaries(x.slack.take()), []string{
		"chat.postMessage C0PROCURE: Purchase request PR-1: Laptop (EUR 500) — Alice Martin's purchase PR-1 may go ahead: Laptop from Dell, EUR 500. Please order it."})
	wantLines(t, "Teams calls after the retry", x.ms.takeCalls(), nil) // sent there the first time
	if code, out, errOut = runDead(t, url); code != 0 || out != "" || errOut != "no dead letters: none is waiting for an operator\n" {
		t.Fatalf("baton dead after the retry: exit %d\n%s%s", code, out, errOut)
	}
	mustHave(t, "/metrics after the retry", metricsText(t, x.srv.URL), `baton_backlog{kind="dead"} 0`)
	if code, _, errOut = runDead(t, url, "retry", ref); code != 1 || !strings.Contains(errOut, "no dead letter "+ref) {
		t.Fatalf("baton dead retry %s again: exit %d, %s", ref, code, errOut)
	}

	// Bob's task card, had it died, is out of date now that he decided.
	keepDead(t, x, rdb, taskCard("bob", "manager"), "teams: down")
	code, out, errOut = runDead(t, url, "retry", "-all")
	if code != 0 || out != "sent 0 dead letters again: Baton delivers them as it runs (now, if it is running)\n" ||
		!strings.Contains(errOut, "not sent: its task card for step manager (round 1) is out of date: PR-1 is completed") {
		t.Fatalf("baton dead retry -all of an old task card: exit %d\n%s%s", code, out, errOut)
	}
	_, out, _ = runDead(t, url)
	if code, _, errOut = runDead(t, url, "retry", strings.Fields(out)[0]); code != 1 || !strings.Contains(errOut, "is out of date") {
		t.Fatalf("baton dead retry of an old task card by its REF: exit %d, %s; want 1", code, errOut)
	}
	x.drain()
	wantLines(t, "Teams calls after retrying the old card", x.ms.takeCalls(), nil)
	if code, out, _ = runDead(t, url, "drop", "-all"); code != 0 || out != "dropped 1 dead letter\n" {
		t.Fatalf("baton dead drop -all: exit %d, %s", code, out)
	}
	if code, out, _ = runDead(t, url); code != 0 || out != "" {
		t.Fatalf("baton dead after the drop: exit %d, %s", code, out)
	}

	// Mistakes are told, and change nothing.
	for _, args := range [][]string{{"retry"}, {"drop"}, {"retry", "-all", ref}, {"-all"}, {"retry", "-json", "-all"}} {
		if code, out, errOut = runDead(t, url, args...); code != 2 || out != "" || !strings.Contains(errOut, "usage: baton dead") {
			t.Errorf("baton dead %s: exit %d, stdout %q, stderr %q; want the usage and exit 2", strings.Join(args, " "), code, out, errOut)
		}
	}
	if _, _, errOut = runDead(t, url, "retry"); !strings.Contains(errOut, "dead retry needs the REFs of the letters") {
		t.Errorf("baton dead retry, nothing named: %q", errOut)
	}
}

// metricsText returns what Baton's /metrics serves.
func metricsText(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: HTTP %d %s", resp.StatusCode, b)
	}
	return string(b)
}

// Carol's finance card dies in Slack (a workspace setting): retried once
// that is fixed, it reaches her while the request still waits on finance,
// and her click on it decides and closes it. A webhook step's call whose
// step the request is not at is not made again.
func TestDeadDecisionCardRetried(t *testing.T) {
	t.Parallel()
	x, rdb, url := deadWorld(t, "D0CAROL", "restricted_action", "2500")
	x.ms.takeCalls()
	keepDead(t, x, rdb, flows.Effect{Kind: flows.EffectWebhook, Webhook: &flows.WebhookCall{URL: "https://erp.example.com/check", Step: "check", Round: 1}},
		"report the result: timeout")
	// Bob's card for the finance step (had he had one, it would be out of date: it is not his).
	keepDead(t, x, rdb, taskCard("bob", "finance"), "teams: down")
	code, out, errOut := runDead(t, url)
	if code != 0 || strings.Count(out, "\n") != 3 {
		t.Fatalf("baton dead: exit %d\n%s%s", code, out, errOut)
	}
	mustHave(t, "baton dead", out, "(task) to carol: slack: ", "a workspace setting prevents the app from posting here", "webhook result of step check (round 1)")

	x.unrefuse()
	code, out, errOut = runDead(t, url, "retry", "-all")
	if code != 0 || out != "sent 1 dead letter again: Baton delivers it as it runs (now, if it is running)\n" ||
		!strings.Contains(errOut, "not sent: its webhook call for step check (round 1) is out of date: PR-1 is at step finance (round 1)") ||
		!strings.Contains(errOut, "not sent: its task card for step finance (round 1) is out of date: PR-1 no longer waits on bob") {
		t.Fatalf("baton dead retry -all: exit %d\n%s%s", code, out, errOut)
	}
	x.drain()
	calls := x.slack.take()
	card := findCall(t, calls, "chat.postMessage", "D0CAROL")
	if len(calls) != 1 || !slices.Contains(card.buttons(), "v1|approve|PR-1|finance|1|") {
		t.Fatalf("Slack calls after the retry: %v; want Carol's finance card, with its buttons", summaries(calls))
	}
	wantLines(t, "Teams calls after the retry", x.ms.takeCalls(), nil) // Frank's card was sent the first time

	x.slackClick("U0CAROL", "v1|approve|PR-1|finance|1|", "D0CAROL", card.TS)
	x.drain()
	closed := findCall(t, x.slack.take(), "chat.update", "D0CAROL")
	if closed.str("ts") != card.TS || len(closed.buttons()) != 0 || !strings.Contains(closed.text(), "Approved by Carol Diaz") {
		t.Fatalf("Carol's card after her approval: %s", closed.summary())
	}
}
