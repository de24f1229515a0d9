package slack

import (
	"strings"
	"testing"

	"github.com/batonbot/baton/flows"
)

// A label ending in a question mark or a colon is not given a second colon
// before what changed.
func TestLabelsEndingInPunctuation(t *testing.T) {
	m := &flows.Message{Kind: flows.MsgTask, Title: "Gear request GR-7", Text: "Manager approval",
		Changes: []flows.Change{{Field: "why", Label: "Why is it needed?", Old: "eyes", New: "eyes hurt"}, {Field: "notes", Label: "Notes:", Old: "", New: "soon"}}}
	b := string(mustJSON(t, renderMessage(m, maxMessageBlocks)))
	for _, want := range []string{`• Why is it needed? ~eyes~ → *eyes hurt*`, `• Notes: ~(empty)~ → *soon*`} {
		if !strings.Contains(b, want) {
			t.Errorf("the card lacks %q:\n%s", want, b)
		}
	}
	if strings.Contains(b, "?:") || strings.Contains(b, "::") {
		t.Errorf("the card doubles a label's punctuation:\n%s", b)
	}
}
