package flows_test

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/batonbot/baton/flows"
)

// fuzzMinimizeTime is this package's default -fuzzminimizetime: how long
// fuzzing may spend making an input smaller once it reaches new code.
const fuzzMinimizeTime = "2s"

// minimizeTimeGiven: the command line gave -fuzzminimizetime.
var minimizeTimeGiven bool

// TestMain sets -fuzzminimizetime to fuzzMinimizeTime unless the command line
// gives one: testing's default, 60 s, left fuzzing no time to fuzz. Fuzzing
// minimises every input that reaches new code before it goes on, and the
// minimiser's pass over subranges (internal/fuzz's minimizeBytes) runs the
// target about n²/2 times for an n-byte input: for one grown from a 1.5–2 kB
// example flow, over a million runs of ParseDefinition at some 4,000 a
// second. So a minute of FuzzParseDefinition was a minute of minimising its
// first find, the count stuck at "execs: 24 (0/sec)"; FuzzCondition's long
// seeds stalled it for seconds at a time.
func TestMain(m *testing.M) {
	flag.Parse()
	flag.Visit(func(f *flag.Flag) { minimizeTimeGiven = minimizeTimeGiven || f.Name == "test.fuzzminimizetime" })
	if !minimizeTimeGiven {
		if err := flag.Set("test.fuzzminimizetime", fuzzMinimizeTime); err != nil {
			fmt.Fprintf(os.Stderr, "set -fuzzminimizetime: %v\n", err)
			os.Exit(2)
		}
	}
	m.Run()
}

// Fuzzing minimises for fuzzMinimizeTime unless told otherwise (see TestMain).
func TestFuzzMinimizeTime(t *testing.T) {
	t.Parallel()
	if minimizeTimeGiven {
		t.Skip("-fuzzminimizetime given on the command line")
	}
	if got := flag.Lookup("test.fuzzminimizetime").Value.String(); got != fuzzMinimizeTime {
		t.Fatalf("-fuzzminimizetime = %s, want %s: with testing's default of 60 s, FuzzParseDefinition spends a fuzzing run minimising", got, fuzzMinimizeTime)
	}
}

// FuzzParseDefinition: ParseDefinition never panics; it either returns a
// definition or a *DefinitionError whose every problem names the file and a
// line of it; a definition it accepts draws as Mermaid and starts.
func FuzzParseDefinition(f *testing.F) {
	examples, _ := filepath.Glob(filepath.Join("..", "manifests", "flows", "*.yaml"))
	for _, p := range examples {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{buyFlow, kindsFlow, conditionFlow, nextFlow, timersFlow("wait"), webhookFlow("fail"), policyFlow("    quorum: 2"),
		"", "id: a\n", "[", "id: a\nid: b\n", "- 1\n", "id: a\n---\nid: b\n", "steps: [{}]\n", "form: [{type: choice, default: 1}]\n",
		"id: x\nname: y\nowner: o\nsteps:\n  - {id: a, type: approval, assignees: [manager], next: a}\n",
		"id: x\nname: y\nowner: o\nschedule: {cron: \"0 9 * * MON\", timezone: Europe/Paris, requester: o}\ninbound: {secret: s, requester: o}\nsteps:\n  - {id: a, type: notify, to: [requester], message: hi}\n",
		"schedule: [{cron: x, data: {a: [1]}}, 1, {timezone: Mars/Base}]\ninbound: [1]\n"} {
		f.Add([]byte(s))
	}
	dir, err := flows.ParseDirectory("directory.yaml", []byte(testDirectory))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		def, err := flows.ParseDefinition("f.yaml", src)
		if err != nil {
			var de *flows.DefinitionError
			if def != nil || !errors.As(err, &de) || len(de.Problems) == 0 {
				t.Fatalf("ParseDefinition = %v, %v; want nil and a *DefinitionError", def, err)
			}
			// YAML breaks lines at \n, \r and \r\n (and goccy at a few more).
			lines := 1 + strings.Count(strings.ReplaceAll(string(src), "\r\n", "\n"), "\n") + strings.Count(string(src), "\r") +
				strings.Count(string(src), "\u0085") + strings.Count(string(src), "\u2028") + strings.Count(string(src), "\u2029")
			for _, p := range de.Problems {
				if p.File != "f.yaml" || p.Line < 0 || p.Line > lines || p.Msg == "" {
					t.Fatalf("problem %+v (the file has %d lines)", p, lines)
				}
			}
			return
		}
		if def.ID == "" || len(def.Steps) == 0 || def.Source != "f.yaml" {
			t.Fatalf("accepted an incomplete definition %+v", def)
		}
		if !strings.HasPrefix(def.Mermaid(), "flowchart TD\n") {
			t.Fatal("Mermaid")
		}
		e, err := flows.NewEngine([]*flows.Definition{def}, dir, []string{admin})
		if err != nil {
			t.Fatal(err)
		}
		form := map[string]string{}
		for _, fl := range def.Form {
			if fl.Default == "" {
				form[fl.Name] = map[flows.FieldKind]string{flows.FieldNumber: "5", flows.FieldDate: "2026-12-31", flows.FieldURL: "https://example.com/x", flows.FieldChoice: firstOr(fl.Options)}[fl.Kind]
			}
		}
		tr, err := e.Apply(nil, flows.Event{Kind: flows.EventStart, Instance: "F-1", Flow: def.ID, Actor: "alice", Data: form}, t0)
		if err != nil {
			return // a form the guesses above do not satisfy
		}
		if tr.Instance == nil || len(tr.Audit) == 0 || flows.VerifyChain(tr.Audit) != nil {
			t.Fatalf("start: %+v", tr)
		}
	})
}

func firstOr(s []string) string {
	if len(s) > 0 {
		return s[0]
	}
	return ""
}

var verbs = []flows.Verb{flows.VerbStart, flows.VerbTasks, flows.VerbRequests, flows.VerbStatus, flows.VerbCancel, flows.VerbSnooze,
	flows.VerbComment, flows.VerbDelegate, flows.VerbSkip, flows.VerbRetry, flows.VerbAway, flows.VerbBack, flows.VerbHelp}

// FuzzParseCommand: ParseCommand never panics and always returns a known
// verb; what it returns is normalised (no spaces in Arg, ids upper case).
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"", "help", "start purchase", "status #pr-1", "cancel PR-1 because", "strat", "withdraw", "?", "show", "\u00a0tasks\u3000x", "ǅ", "İstatus x",
		"snooze pr 12 2h", "comment PR-1 looks fine", "delegate #pr-1 @carol on leave", "skip PR-1 no longer needed", "retry PR-1", "away until 2026-12-03 carol", "back", "/baton ooo"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := flows.ParseCommand(s)
		if !slices.Contains(verbs, c.Verb) {
			t.Fatalf("verb %q", c.Verb)
		}
		if strings.ContainsFunc(c.Arg, unicode.IsSpace) || strings.HasPrefix(c.Rest, " ") || strings.HasSuffix(c.Rest, " ") {
			t.Fatalf("not normalised: %+v", c)
		}
		if c.Note != "" && c.Verb != flows.VerbHelp {
			t.Fatalf("a note on %q", c.Verb)
		}
		if c.Verb.OnRequest() && (c.Arg == "" || c.Arg != strings.ToUpper(c.Arg)) {
			t.Fatalf("id %q", c.Arg)
		}
		if c != flows.ParseCommand(s) {
			t.Fatal("not deterministic")
		}
	})
}

// FuzzParseDuration: ParseDuration never panics and never returns a
// duration that is not positive.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30m", "1d12h", "1.5h", "", "h", "0s", "9999999999w", "53375d53375d53375d53375d53375d", "1e9h", ".h", "1..2h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := flows.ParseDuration(s)
		if err == nil && d <= 0 || err != nil && d != 0 {
			t.Fatalf("ParseDuration(%q) = %v, %v", s, d, err)
		}
		if err == nil && flows.FormatDuration(d) == "" {
			t.Fatal("FormatDuration")
		}
		_ = flows.FormatDuration(time.Duration(len(s)) * time.Hour)
	})
}
