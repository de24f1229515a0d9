package slack

import (
	"encoding/json"
	"net/url"
	"reflect"
	"testing"

	"github.com/batonbot/baton/bot/bottest"
	"github.com/batonbot/baton/flows"
)

// TestMain runs the package's tests, and its fuzz targets, with
// -fuzzminimizetime shortened (bottest.FuzzMain): large seeds would stall
// fuzzing for testing's default minute of minimising each new find.
func TestMain(m *testing.M) { bottest.FuzzMain(m) }

// Fuzzing minimises for bottest.FuzzMinimizeTime unless told otherwise.
func TestFuzzMinimizeTime(t *testing.T) {
	t.Parallel()
	bottest.CheckFuzzMinimizeTime(t)
}

// Fuzz targets for everything parsed from Slack: the bodies of the three
// endpoints, button values, card references and modal metadata. Seeds
// are the recorded payloads in testdata. Run one with, e.g.:
//
//	go test ./adapters/slack -run '^$' -fuzz FuzzInteraction -fuzztime 30s

// FuzzInteraction parses interaction bodies and hands what parses to the
// handler (over a real runtime and the Web API stand-in): nothing panics,
// and every acknowledgement encodes.
func FuzzInteraction(f *testing.F) {
	for _, name := range []string{"block_actions.json", "view_submission.json"} {
		b := readTestdata(f, name)
		f.Add([]byte(url.Values{"payload": {string(b)}}.Encode()))
	}
	f.Add([]byte("payload=%7B%22type%22%3A%22block_actions%22%2C%22user%22%3A%7B%22id%22%3A%22U0BOB%22%7D%2C%22actions%22%3A%5B%7B%22action_id%22%3A%22baton%3Astart%3A0%22%2C%22value%22%3A%22v1%7Cstart%7C%7C%7C0%7Cpurchase%22%7D%5D%7D"))
	f.Add([]byte("payload="))
	h := newHarness(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		ic, err := parseInteraction(body)
		if err != nil {
			return
		}
		ic.ResponseURL = h.api.responseURL("fuzz") // never call out to a fuzzed (or real) URL
		for _, ba := range ic.ActionCallback.BlockActions {
			if a, err := decodeAction(ba.Value); err == nil {
				if b, err := decodeAction(encodeAction(a)); err != nil || !reflect.DeepEqual(b, a) {
					t.Fatalf("button value %q does not round-trip: %+v %v", ba.Value, b, err)
				}
			}
		}
		ack := h.a.onInteraction(t.Context(), ic)
		if _, err := json.Marshal(ack); err != nil {
			t.Fatalf("acknowledgement does not encode: %v", err)
		}
		h.a.Wait()
	})
}

// FuzzCommand parses slash command bodies and runs what parses.
func FuzzCommand(f *testing.F) {
	f.Add(readTestdata(f, "command.txt"))
	f.Add([]byte("user_id=U0BOB&command=%2Fbaton&text=status+PR-1"))
	f.Add([]byte("user_id=U0BOB&command=%2Fbaton&text=cancel+%23PR-1+because"))
	f.Add([]byte("%zz"))
	h := newHarness(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := parseCommand(body)
		if err != nil {
			return
		}
		c.ResponseURL = "" // never call out to a fuzzed URL
		if _, err := json.Marshal(h.a.onCommand(t.Context(), c)); err != nil {
			t.Fatal(err)
		}
		h.a.Wait()
	})
}

// FuzzEvent parses Events API bodies.
func FuzzEvent(f *testing.F) {
	f.Add(readTestdata(f, "app_home_opened.json"))
	f.Add(readTestdata(f, "url_verification.json"))
	f.Add([]byte(`{"type":"event_callback","event_id":"E1","event":null}`))
	f.Add([]byte(`{"type":"app_rate_limited","team_id":"T1","minute_rate_limited":1518467820}`))
	f.Add(reactionBody(f, "Ev1", "U0BOB", "+1::skin-tone-2", "D0BOB", "1764147600.000001"))
	f.Fuzz(func(t *testing.T, body []byte) {
		e, err := parseEvent(body)
		if err == nil && e.Type == "url_verification" && e.Challenge == "" {
			t.Fatal("url_verification accepted without a challenge")
		}
	})
}

// FuzzValues parses button values, card references and modal metadata:
// what parses round-trips.
func FuzzValues(f *testing.F) {
	f.Add("v1|approve|PR-1|manager|1|")
	f.Add("v1|start|||0|purchase")
	f.Add("D0BOB/1764147600.000001/U0BOB/reply")
	f.Add(`{"k":"reason","a":"reject","i":"PR-1","s":"finance","r":2}`)
	f.Fuzz(func(t *testing.T, s string) {
		if a, err := decodeAction(s); err == nil {
			if b, err := decodeAction(encodeAction(a)); err != nil || !reflect.DeepEqual(b, a) {
				t.Fatalf("%q: %+v does not round-trip (%+v, %v)", s, a, b, err)
			}
		}
		if r, err := parseRef(s); err == nil {
			if r2, err := parseRef(r.String()); err != nil || r2 != r {
				t.Fatalf("%q: %+v does not round-trip (%+v, %v)", s, r, r2, err)
			}
		}
		if m, err := decodeMeta(s); err == nil {
			if m2, err := decodeMeta(m.encode()); err != nil || m2 != m {
				t.Fatalf("%q: %+v does not round-trip", s, m)
			}
		}
	})
}

// FuzzRender renders messages made of arbitrary text: always within
// Slack's limits.
func FuzzRender(f *testing.F) {
	f.Add("Purchase request PR-1: Laptop", "Manager approval\n<b>&</b> slack:U0XYZ", "Approved by Bob · Thu\nReason: x", 3)
	f.Fuzz(func(t *testing.T, title, text, outcome string, n int) {
		n = min(max(n, 0), 300)
		m := &flows.Message{Kind: flows.MsgTask, Title: title, Text: text, Outcome: outcome, Context: []string{text, title}}
		for i := range n {
			m.Fields = append(m.Fields, flows.Fact{Label: title, Value: text})
			m.Items = append(m.Items, flows.Item{Title: title, Text: text, Actions: []flows.Action{{Kind: flows.ActStatus, Label: title, Instance: "PR-1", Round: i}}})
		}
		if title == "" || text == "" || outcome == "" {
			return // the engine never makes an empty title or text
		}
		checkBlockKit(t, "fuzz", renderMessage(m, maxMessageBlocks), maxMessageBlocks)
	})
}
