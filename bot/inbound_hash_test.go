package bot

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/batonbot/baton/flows"
)

// An inbound start's values hash as they did before numbers' display
// grouped a decimal's thousands (12,345.5): a retry sent before an upgrade
// and arriving after it is still the same start.
func TestValuesHashKeepsDecimalsAsBefore(t *testing.T) {
	def := &flows.Definition{Form: []flows.Field{{Name: "amount", Kind: flows.FieldNumber}}}
	for in, spelled := range map[string]string{"12345.5": "12345.5", "12,345.50": "12345.5", "12345": "12,345", "999.25": "999.25"} {
		h := sha256.New()
		fmt.Fprintf(h, "%q=%q\n", "amount", spelled)
		if got, want := valuesHash(def, map[string]string{"amount": in}), hex.EncodeToString(h.Sum(nil)[:8]); got != want {
			t.Errorf("%s: hash %s, want %s (the earlier build's, of %q)", in, got, want, spelled)
		}
	}
}
