package flows

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	// The same bytes as encoding/json (TestDigestIsOverEncodingJSON), in
	// half the time: every transition hashes its audit entries.
	json "github.com/goccy/go-json"
)

// AuditEntry is one record of an instance's append-only audit trail. Entries
// are hash-chained: Hash is the SHA-256 of the entry (with Hash empty), and
// Prev is the Hash of the entry before, so any edit or removal shows.
type AuditEntry struct {
	Seq      int               `json:"seq"`
	At       time.Time         `json:"at"`
	Actor    string            `json:"actor"`
	OnBehalf string            `json:"on_behalf,omitempty"`
	Action   string            `json:"action"`
	Step     string            `json:"step,omitempty"`
	Round    int               `json:"round,omitempty"`
	Reason   string            `json:"reason,omitempty"`
	Detail   map[string]string `json:"detail,omitempty"`
	Refused  bool              `json:"refused,omitempty"`
	Platform string            `json:"platform,omitempty"`
	Via      string            `json:"via,omitempty"` // the event's Via: who acted for Actor
	Prev     string            `json:"prev"`
	Hash     string            `json:"hash"`
}

// System is the actor for what Baton does by itself (timers, webhooks).
const System = "baton"

func (a *AuditEntry) digest() string {
	hash, _ := a.seal()
	return hash
}

// seal returns the entry's hash and its JSON encoding with that hash, as
// stored. The hash is over the encoding with Hash empty, which ends with
// the hash field: the entry is encoded once, with a placeholder of the
// hash's length, and the hash is computed over those bytes with the
// placeholder cut out, then written in its place.
func (a *AuditEntry) seal() (string, []byte) {
	c := *a
	c.Hash = placeholder
	b, err := json.Marshal(c)
	if err != nil {
		panic(err) // only strings, ints, a time and a string map: cannot fail
	}
	// b ends with "hash":"<placeholder>"}; hashed, it ends with "hash":""}.
	end := len(b) - len(`"}`)
	start := end - len(placeholder)
	if !bytes.HasSuffix(b[:start], []byte(`,"hash":"`)) || string(b[end:]) != `"}` {
		panic("audit entry encoding does not end with its hash") // Hash is the struct's last field
	}
	b[start], b[start+1] = '"', '}'
	sum := sha256.Sum256(b[:start+2])
	hex.Encode(b[start:end], sum[:])
	return string(b[start:end]), b
}

// placeholder stands for an entry's hash while it is encoded: a SHA-256 in hex.
var placeholder = strings.Repeat("0", sha256.Size*2)

// chain numbers and links entries after the instance's current head, moves
// the head forward, and returns the entries' stored encodings.
func chain(in *Instance, entries []AuditEntry) [][]byte {
	out := make([][]byte, len(entries))
	for i := range entries {
		in.AuditSeq++
		entries[i].Seq = in.AuditSeq
		entries[i].Prev = in.AuditHead
		entries[i].Hash, out[i] = entries[i].seal()
		in.AuditHead = entries[i].Hash
	}
	return out
}

// VerifyChain checks that entries form an unbroken hash chain from the first
// entry. It returns an error naming the first entry that does not fit.
func VerifyChain(entries []AuditEntry) error {
	prev := ""
	for i := range entries {
		e := &entries[i]
		if e.Seq != i+1 {
			return fmt.Errorf("audit entry %d: sequence %d out of order (entries missing or inserted)", i+1, e.Seq)
		}
		if e.Prev != prev {
			return fmt.Errorf("audit entry %d: does not follow entry %d (chain broken)", e.Seq, e.Seq-1)
		}
		if got := e.digest(); got != e.Hash {
			return fmt.Errorf("audit entry %d: content does not match its hash (entry altered)", e.Seq)
		}
		prev = e.Hash
	}
	return nil
}

// actionWords writes what an entry records as the words after its actor's
// name on a timeline: "approved", "requested changes", "tried to reject
// (refused)". A refused entry's action is the event tried, any other the
// thing done.
func actionWords(a *AuditEntry) string {
	if a.Refused {
		if a.Action == string(EventTaskDone) {
			return "tried to mark the task done (refused)"
		}
		return "tried to " + strings.ReplaceAll(a.Action, "_", " ") + " (refused)"
	}
	switch a.Action {
	case string(Changes):
		return "requested changes"
	case string(Done):
		return "marked the task done"
	case "withdrawn":
		return "withdrew the request"
	case "declined":
		return "closed the request"
	case "completed":
		return "completed the request"
	case "overdue":
		return "marked the step overdue"
	case "snoozed":
		return "asked to be reminded later"
	case "snooze_reminded":
		return "reminded them, as they asked"
	case "webhook_called":
		return "called the webhook"
	case "webhook_ok":
		return "got the webhook's reply"
	case "webhook_failed":
		return "could not complete the webhook call"
	case "retried":
		return "retried the webhook call"
	case "condition_failed":
		return "could not evaluate the step's condition"
	case "reminder_held":
		return "held a reminder until the working day of whom it waits on"
	case "not_reassigned":
		return "left tasks where they were"
	case "assign_failed":
		return "found nobody who may take the step"
	case "timer_skipped":
		return cmp.Or(map[string]string{"remind": "skipped a reminder", "escalate": "skipped an escalation", "timeout": "skipped the timeout", "snooze": "skipped a reminder someone asked for"}[a.Detail["timer"]], "skipped a timer")
	case "skipped":
		if a.Actor == System && strings.HasPrefix(a.Reason, "condition is false") {
			return "passed over the step" // not needed: nobody skipped it
		}
	}
	return strings.ReplaceAll(a.Action, "_", " ")
}

// deciders returns everyone who decided h's round of its step the way it
// ended, in the order they did: under an all or quorum policy several people
// approve, and h.By holds only the last of them. A round Baton ended (a
// timeout, a webhook) has no deciders, whoever had voted before.
func deciders(h StepRecord, audit []AuditEntry) []string {
	if h.By == "" || h.By == System {
		return nil
	}
	var ids []string
	for _, a := range audit {
		if !a.Refused && a.Action == h.Outcome && a.Step == h.Step && a.Round == h.Round &&
			a.Actor != System && !slices.Contains(ids, a.Actor) {
			ids = append(ids, a.Actor)
		}
	}
	if !slices.Contains(ids, h.By) {
		ids = append(ids, h.By)
	}
	return ids
}

// decidedAs says in what capacity id decided h's round, when not as an
// assignee: "for Bob Chen" (a delegate), "as an admin", "on escalation".
func (e *Engine) decidedAs(h StepRecord, audit []AuditEntry, id string) string {
	for _, a := range audit {
		if a.Refused || a.Action != h.Outcome || a.Step != h.Step || a.Round != h.Round || a.Actor != id {
			continue
		}
		switch {
		case a.OnBehalf != "" && a.OnBehalf != id:
			return "for " + e.dir.Name(a.OnBehalf)
		case a.Detail["authority"] == "admin":
			return "as an admin"
		case a.Detail["authority"] == "escalation":
			return "on escalation"
		}
		return ""
	}
	return ""
}
