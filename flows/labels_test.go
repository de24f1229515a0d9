package flows_test

import (
	"testing"

	"github.com/batonbot/baton/flows"
)

func TestLabelColon(t *testing.T) {
	t.Parallel()
	for label, want := range map[string]string{
		"Vendor":            "Vendor: ",
		"Is this urgent?":   "Is this urgent? ",
		"Notes:":            "Notes: ",
		"Really!":           "Really! ",
		"Needed by ":        "Needed by: ",
		"Why? Explain it":   "Why? Explain it: ",
		"至急ですか？":            "至急ですか？ ",
		"":                  ": ",
		"Amount (EUR)":      "Amount (EUR): ",
		"Vendor changed":    "Vendor changed: ",
		"Is it ok? changed": "Is it ok? changed: ",
	} {
		if got := flows.LabelColon(label); got != want {
			t.Errorf("LabelColon(%q) = %q, want %q", label, got, want)
		}
	}
}
