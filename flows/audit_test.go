package flows_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/batonbot/baton/flows"
)

// trail returns a real audit trail of a few transitions.
func trail(t *testing.T) []flows.AuditEntry {
	t.Helper()
	r := buyRun(t, "2500")
	r.act(flows.EventApprove, "bob")
	r.act(flows.EventReject, "carol", reason("no"))
	if len(r.audit) < 5 {
		t.Fatalf("short trail %d", len(r.audit))
	}
	return r.audit
}

func TestVerifyChain(t *testing.T) {
	t.Parallel()
	good := trail(t)
	if err := flows.VerifyChain(good); err != nil {
		t.Fatal(err)
	}
	if err := flows.VerifyChain(nil); err != nil {
		t.Fatalf("empty trail: %v", err)
	}
	// What storage writes and reads back (JSON) still verifies.
	var decoded []flows.AuditEntry
	if err := json.Unmarshal(mustJSON(t, good), &decoded); err != nil {
		t.Fatal(err)
	}
	if err := flows.VerifyChain(decoded); err != nil {
		t.Fatalf("after JSON: %v", err)
	}

	tests := []struct {
		name   string
		change func(es []flows.AuditEntry) []flows.AuditEntry
		want   string
	}{
		{"reason edited", func(es []flows.AuditEntry) []flows.AuditEntry {
			es[len(es)-1].Reason = "yes"
			return es
		}, "content does not match its hash (entry altered)"},
		{"actor edited", func(es []flows.AuditEntry) []flows.AuditEntry { es[2].Actor = "mallory"; return es }, "audit entry 3: content does not match"},
		{"detail added", func(es []flows.AuditEntry) []flows.AuditEntry {
			es[0].Detail["amount"] = "25"
			return es
		}, "audit entry 1: content does not match"},
		{"refusal hidden", func(es []flows.AuditEntry) []flows.AuditEntry { es[1].Refused = true; return es }, "audit entry 2: content does not match"},
		{"edited and rehashed", func(es []flows.AuditEntry) []flows.AuditEntry {
			// Recompute the edited entry's hash as an attacker would: the next
			// entry no longer follows it.
			es[1].Actor = "mallory"
			es[1].Hash = rehash(t, es[1])
			return es
		}, "audit entry 3: does not follow entry 2 (chain broken)"},
		{"entry removed", func(es []flows.AuditEntry) []flows.AuditEntry { return slices.Delete(es, 1, 2) }, "audit entry 2: sequence 3 out of order"},
		{"first entry removed", func(es []flows.AuditEntry) []flows.AuditEntry { return es[1:] }, "audit entry 1: sequence 2 out of order"},
		{"reordered", func(es []flows.AuditEntry) []flows.AuditEntry { es[1], es[2] = es[2], es[1]; return es }, "audit entry 2: sequence 3 out of order"},
		{"renumbered after removal", func(es []flows.AuditEntry) []flows.AuditEntry {
			es = slices.Delete(es, 1, 2)
			for i := range es {
				es[i].Seq = i + 1
			}
			return es
		}, "does not follow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var es []flows.AuditEntry
			if err := json.Unmarshal(mustJSON(t, good), &es); err != nil {
				t.Fatal(err)
			}
			err := flows.VerifyChain(tt.change(es))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("VerifyChain = %v, want %q", err, tt.want)
			}
		})
	}
}

// rehash computes an entry's hash the way the package documents it: the
// SHA-256 of its JSON with Hash empty. It must agree with the package.
func rehash(t *testing.T, e flows.AuditEntry) string {
	t.Helper()
	e.Hash = ""
	return sha256Hex(mustJSON(t, e))
}

func TestAuditHashIsDocumented(t *testing.T) {
	t.Parallel()
	for _, e := range trail(t) {
		if got := rehash(t, e); got != e.Hash {
			t.Fatalf("entry %d: hash %s, documented recipe gives %s", e.Seq, e.Hash, got)
		}
	}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// The engine hashes entries with goccy/go-json; the documented recipe (and
// every trail written before) uses encoding/json. Entries with awkward text
// must hash the same both ways.
func TestDigestIsOverEncodingJSON(t *testing.T) {
	t.Parallel()
	awkward := []string{"<b>&amp;</b>", "line\u2028sep\u2029", "bad \xff utf-8 \xc3", "quote \" back \\ nul \x00 tab \t", "émoji 🚀", ""}
	var entries []flows.AuditEntry
	prev := ""
	for i, s := range awkward {
		e := flows.AuditEntry{Seq: i + 1, At: t0.Add(time.Duration(i) * 1500 * time.Microsecond), Actor: s, OnBehalf: s, Action: "commented",
			Step: s, Round: i, Reason: s, Detail: map[string]string{s: s, "z": "1", "a": s + "x"}, Refused: i%2 == 0, Platform: s, Prev: prev}
		e.Hash = rehash(t, e)
		prev = e.Hash
		entries = append(entries, e)
	}
	if err := flows.VerifyChain(entries); err != nil {
		t.Fatal(err)
	}
}
