package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/batonbot/baton/flows"
	"github.com/batonbot/baton/storage"
)

const deadUsage = `usage: baton dead [list] [-json] [-redis-url URL]         list the deliveries given up on, oldest first
       baton dead retry [-redis-url URL] (-all | REF...)  send them again, once what made them fail is fixed
       baton dead drop [-redis-url URL] (-all | REF...)   delete them
A delivery (a card, a card update, an event announcement) is given up on after its retries
(Slack, Teams or the mail relay down, the app not in a channel, a person no platform reaches).
REF is the first column of the list. A retried card is sent only where it was not sent before.
A card whose buttons act on the request, or a webhook step's call, is not sent once the request
has moved past its step and round, or no longer waits on the card's person (it stays listed).`

// deadMax bounds the dead letters read per shard: above what a stream keeps
// (trimmed to about 10,000, a little more at times).
const deadMax = 20000

// dead lists, retries or drops the deliveries given up on.
func dead(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	verb := "list"
	if len(args) > 0 && (args[0] == "retry" || args[0] == "drop" || args[0] == "list") {
		verb, args = args[0], args[1:]
	} else if len(args) > 0 && !strings.HasPrefix(args[0], "-") && !deadRef(args[0]) { // a mistyped word, not a REF
		fmt.Fprintf(stderr, "%s\n%s\n", noSuch("baton dead: there is no subcommand", args[0], []string{"retry", "drop", "list"}), deadUsage)
		return 2
	}
	fs := newFlags("dead", deadUsage)
	asJSON := fs.Bool("json", false, "list as JSON lines")
	all := fs.Bool("all", false, "retry or drop every dead letter")
	url := redisURLFlag(fs, getenv)
	if err := parseRouted(fs, args, stdout, stderr, parseFlags); err != nil {
		return flagsExit(err)
	}
	refs := fs.Args()
	switch {
	case verb == "list" && (len(refs) > 0 || *all):
		fmt.Fprintf(stderr, "baton: dead lists every dead letter: -all and REFs go with retry or drop\n%s\n", deadUsage)
		return 2
	case verb != "list" && *asJSON:
		fmt.Fprintf(stderr, "baton: -json goes with the list\n%s\n", deadUsage)
		return 2
	case verb != "list" && len(refs) > 0 && *all:
		fmt.Fprintf(stderr, "baton: dead %s takes -all or the REFs of the letters (the first column of baton dead), not both\n%s\n", verb, deadUsage)
		return 2
	case verb != "list" && len(refs) == 0 && !*all:
		fmt.Fprintf(stderr, "baton: dead %s needs the REFs of the letters (the first column of baton dead), or -all\n%s\n", verb, deadUsage)
		return 2
	}
	store, closeStore, ok := openStore(url(), "baton", "dead reads Redis: set BATON_REDIS_URL (the embedded store keeps nothing once Baton stops)", stderr)
	if !ok {
		return 2
	}
	defer closeStore()
	letters, err := store.DeadLetters(ctx, deadMax)
	if err != nil {
		fmt.Fprintf(stderr, "baton: %v%s\n", err, redisHint(err))
		return 1
	}
	if verb == "list" {
		listDead(letters, *asJSON, stdout, stderr)
		return 0
	}
	picked, code := pickDead(letters, refs, stderr)
	if verb == "drop" {
		n, err := store.DropDead(ctx, picked)
		if err != nil {
			fmt.Fprintf(stderr, "baton: %v%s\n", err, redisHint(err))
			return 1
		}
		fmt.Fprintf(stdout, "dropped %s\n", flows.Plural(n, "dead letter", "dead letters"))
		return code
	}
	requests := map[string]*flows.Instance{} // read once each: many letters may be of one request
	get := func(id string) (*flows.Instance, error) {
		if in, ok := requests[id]; ok {
			return in, nil
		}
		in, err := store.Get(ctx, id)
		if err == nil {
			requests[id] = in
		}
		return in, err
	}
	var send []storage.DeadLetter
	for _, d := range picked {
		why, err := outOfDate(get, d)
		if err != nil {
			fmt.Fprintf(stderr, "baton: %s: %v\n", d.Ref, err)
			return 1
		}
		if why != "" {
			fmt.Fprintf(stderr, "%s: not sent: %s (baton dead drop %s deletes it)\n", d.Ref, why, d.Ref)
			if !*all { // asked for by name: not done
				code = 1
			}
			continue
		}
		send = append(send, d)
	}
	n, err := store.Requeue(ctx, send)
	if err != nil {
		fmt.Fprintf(stderr, "baton: %v%s\n", err, redisHint(err))
		return 1
	}
	fmt.Fprintf(stdout, "sent %s again: Baton delivers %s as it runs (now, if it is running)\n", flows.Plural(n, "dead letter", "dead letters"), pronoun(n))
	if n < len(send) {
		fmt.Fprintf(stderr, "%s no longer dead (retried or dropped meanwhile)\n", flows.Plural(len(send)-n, "letter was", "letters were"))
	}
	return code
}

// pickDead returns the letters refs name (all of them when refs is empty),
// and exit code 1 when a ref names none.
func pickDead(letters []storage.DeadLetter, refs []string, stderr io.Writer) ([]storage.DeadLetter, int) {
	if len(refs) == 0 {
		return letters, 0
	}
	code := 0
	var out []storage.DeadLetter
	for _, ref := range slices.Compact(slices.Sorted(slices.Values(refs))) {
		i := slices.IndexFunc(letters, func(d storage.DeadLetter) bool { return d.Ref == ref })
		if i < 0 {
			fmt.Fprintf(stderr, "baton: no dead letter %s (baton dead lists them)\n", ref)
			code = 1
			continue
		}
		out = append(out, letters[i])
	}
	return out, code
}

// outOfDate says why a dead letter should not be sent again, or "": a card
// with buttons that act on the request (approve, mark done, resubmit…) once
// the request has moved past the step, round and status it was made for, or
// no longer waits on the person it is for, as they would only be refused; and a webhook step's call once the request no
// longer waits on it (sent again, the call is made again). Closed cards,
// notices and event announcements never go out of date. get reads a
// request; err is its error: nothing is known then.
func outOfDate(get func(id string) (*flows.Instance, error), d storage.DeadLetter) (why string, err error) {
	step, round, status, what := "", 0, flows.StatusRunning, ""
	switch m, w := d.Effect.Msg, d.Effect.Webhook; {
	case w != nil:
		step, round, what = w.Step, w.Round, "webhook call"
	case m != nil && slices.ContainsFunc(m.Actions, func(a flows.Action) bool { return a.Kind != flows.ActStatus }):
		step, round, what = m.Step, m.Round, string(m.Kind)+" card"
		switch {
		case m.Kind == flows.MsgChanges:
			status = flows.StatusChangesRequested
		case slices.ContainsFunc(m.Actions, func(a flows.Action) bool { return a.Kind == flows.ActWithdraw }):
			status = flows.StatusRejected
		}
	default:
		return "", nil
	}
	in, err := get(d.Instance)
	if errors.Is(err, flows.ErrNotFound) {
		return d.Instance + " no longer exists", nil
	}
	if err != nil {
		return "", err
	}
	if in.Status != status || in.Step != step || in.Round != round {
		return fmt.Sprintf("its %s for step %s (round %d) is out of date: %s is %s", what, step, round, in.ID, where(in)), nil
	}
	// A task's card to someone who no longer has it (reassigned, decided).
	if p := d.Effect.To.Person; p != "" && status == flows.StatusRunning && d.Effect.Msg != nil &&
		!slices.Contains(in.Pending(), p) && !slices.Contains(in.Escalated, p) {
		return fmt.Sprintf("its %s for step %s (round %d) is out of date: %s no longer waits on %s", what, step, round, in.ID, p), nil
	}
	return "", nil
}

// where says where a request is, for a reader.
func where(in *flows.Instance) string {
	if in.Status == flows.StatusRunning {
		return fmt.Sprintf("at step %s (round %d)", in.Step, in.Round)
	}
	return strings.ReplaceAll(string(in.Status), "_", " ")
}

// deadLine is a dead letter as baton dead -json lists it: what it was and
// where it went, without its content (a card's text, an event's data) or
// anything secret (a subscriber's path and query).
type deadLine struct {
	Ref      string    `json:"ref"`
	At       time.Time `json:"at"`
	Instance string    `json:"instance"`
	Kind     string    `json:"kind"`
	Card     string    `json:"card,omitempty"`
	To       string    `json:"to,omitempty"`
	Message  string    `json:"message,omitempty"` // the card's kind: task, outcome…
	Step     string    `json:"step,omitempty"`
	Round    int       `json:"round,omitempty"`
	Event    string    `json:"event,omitempty"`  // an announced event's type
	Target   string    `json:"target,omitempty"` // an announcement's subscriber, scheme://host
	// Subscriber names it among others on its host: "purchase webhook 1".
	Subscriber string `json:"subscriber,omitempty"`
	Why        string `json:"why"`
}

func deadLineOf(d storage.DeadLetter) deadLine {
	e := d.Effect
	l := deadLine{Ref: d.Ref, At: d.At, Instance: d.Instance, Kind: cmp.Or(string(e.Kind), "undecodable"), Card: e.Card, Why: d.Dead}
	switch {
	case e.To.Person != "":
		l.To = e.To.Person
	case e.To.Channel != "":
		l.To = "#" + e.To.Channel
	}
	if e.Msg != nil {
		l.Message, l.Step, l.Round = string(e.Msg.Kind), e.Msg.Step, e.Msg.Round
	}
	if e.Hook != nil {
		l.Event, l.Target, l.Subscriber = e.Hook.Event.Type, flows.HookTarget(e.Hook.URL), e.Hook.Name
	}
	if e.Webhook != nil {
		l.Step, l.Round = e.Webhook.Step, e.Webhook.Round
	}
	return l
}

// listDead prints the dead letters, one a line, and a count with what to
// do on standard error.
func listDead(letters []storage.DeadLetter, asJSON bool, stdout, stderr io.Writer) {
	enc := json.NewEncoder(stdout)
	for _, d := range letters {
		l := deadLineOf(d)
		if asJSON {
			_ = enc.Encode(l)
			continue
		}
		what := l.Kind
		switch {
		case l.Event != "":
			what += fmt.Sprintf(" %s to %s", l.Event, l.Target)
			if l.Subscriber != "" {
				what += " (" + l.Subscriber + ")"
			}
		case l.Kind == string(flows.EffectWebhook):
			what += fmt.Sprintf(" result of step %s (round %d)", l.Step, l.Round)
		case l.Card != "":
			what += " " + l.Card
			if l.Message != "" {
				what += " (" + l.Message + ")"
			}
			if l.To != "" {
				what += " to " + l.To
			}
		}
		fmt.Fprintf(stdout, "%s  %s  %-8s %s: %s\n", l.Ref, l.At.Format(time.RFC3339), l.Instance, what, l.Why)
	}
	if len(letters) == 0 {
		fmt.Fprintln(stderr, "no dead letters: none is waiting for an operator")
		return
	}
	fmt.Fprintf(stderr, "%s; once what made %s fail is fixed, baton dead retry REF... (or -all) sends %[2]s again; baton dead drop deletes %[2]s\n",
		flows.Plural(len(letters), "dead letter", "dead letters"), pronoun(len(letters)))
}

// pronoun is "it" for one thing, "them" for any other number.
func pronoun(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

// deadRef says whether s could be a dead letter's REF ("shard/stream-id"):
// a word that is not is a mistyped subcommand.
func deadRef(s string) bool { return strings.Contains(s, "/") }
