package teams

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/batonbot/baton/flows"
)

// A label ending in a question mark or a colon is not given a second colon
// before its value, in a card's facts or in what changed.
func TestLabelsEndingInPunctuation(t *testing.T) {
	r := goldenRenderer(t)
	m := &flows.Message{Kind: flows.MsgTask, Instance: "GR-7", Flow: "gear", Step: "manager", Round: 2, Title: "Gear request GR-7",
		Fields:  []flows.Fact{{Label: "Is this urgent?", Value: "yes"}},
		Changes: []flows.Change{{Field: "why", Label: "Why is it needed?", Old: "eyes", New: "eyes hurt"}, {Field: "notes", Label: "Notes:", Old: "", New: "soon"}}}
	b, err := json.Marshal(r.message(m, viewOf(m)))
	if err != nil {
		t.Fatal(err)
	}
	card := string(b)
	for _, want := range []string{`"text":"Is this urgent? "`, `"text":"Why is it needed? "`, `"text":"Notes: "`} {
		if !strings.Contains(card, want) {
			t.Errorf("the card lacks %s:\n%s", want, card)
		}
	}
	if strings.Contains(card, "?:") || strings.Contains(card, "::") {
		t.Errorf("the card doubles a label's punctuation:\n%s", card)
	}
}
