package flows

import (
	"fmt"
	"net/mail"
	"slices"
	"strings"
)

// External participants are people outside the chat workspace who take
// part by email: a step assigned to email:ADDRESS (or to field:NAME of an
// email field) waits on the person id "email:address" unless the directory
// knows the address, in which case it is that directory person. Baton mails
// such a person a signed link to a web page where they decide.

// ValidEmail reports whether s is a bare email address (no display name,
// no spaces), such as name@example.com.
func ValidEmail(s string) bool {
	if s == "" || len(s) > 254 || strings.ContainsAny(s, " \t\r\n<>,;\"") {
		return false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	return at > 0 && strings.Contains(s[at+1:], ".") && !strings.HasSuffix(s, ".")
}

// ExternalEmail returns the address of an external participant's person id
// ("email:address"), lower-cased, and whether id is one.
func ExternalEmail(id string) (string, bool) {
	addr, ok := strings.CutPrefix(id, "email:")
	if !ok || !ValidEmail(addr) {
		return "", false
	}
	return strings.ToLower(addr), true
}

// ExternalID is the person id of the external participant with address addr.
func ExternalID(addr string) string { return "email:" + strings.ToLower(addr) }

// fieldAssignee resolves field:NAME: a person field holds a person id; an
// email field an address, which is a directory person if the directory
// knows it and an external participant otherwise.
func (t *tx) fieldAssignee(name string) string {
	v := FormatValue(t.in.Data[name])
	if v == "" {
		return ""
	}
	for f := range t.def.allFields() {
		if f.Name == name && f.Kind == FieldEmail {
			return t.e.dir.Resolve("email", v)
		}
	}
	return v
}

// checkExternal refuses external participants on steps other than
// approvals: their page offers approve, reject and request changes only.
func checkExternal(d *Definition, s *Step, a string) error {
	if s.Kind == StepApproval {
		return nil
	}
	external := strings.HasPrefix(a, "email:")
	if name, ok := strings.CutPrefix(a, "field:"); ok {
		for f := range d.allFields() {
			external = external || f.Name == name && f.Kind == FieldEmail
		}
	}
	if external {
		return fmt.Errorf("%q is someone outside the workspace (by email), who can only be assigned approval steps", a)
	}
	return nil
}

// outsider reports whether p is someone outside the workspace, to whom
// Baton writes by mail (email:address): what is sent to them leaves the
// flow's internal fields out.
func outsider(p string) bool {
	_, ok := ExternalEmail(p)
	return ok
}

// cardOwner is the person whose own card key names (cardKey's
// step/round/person, or the same key ending in "/", its reminders'
// thread), or "" for another key (a round's every card, step/round/).
func cardOwner(key string) string {
	parts := strings.SplitN(strings.TrimSuffix(key, "/"), "/", 3)
	if len(parts) < 3 {
		return ""
	}
	return parts[2]
}

// forOutsiders leaves the flow's internal fields out of what the
// transition sends to people outside the workspace: of each card addressed
// to one (a notify, an update of their own card), its facts and changes,
// and, when the flow's title reads an internal field, the request's title
// in the card's. The update of a round's every card at once is one message
// for everyone: the mail to them drops its facts and takes its
// OutsidersTitle (Message.ForOutsiders). A notify step's message that
// names internal fields is warned of by validation (it is written whole);
// the texts the engine writes (changeNotice) are written for whom they are
// for.
func (t *tx) forOutsiders() {
	if t.def.titleInternal {
		for _, e := range t.effects {
			if e.Msg != nil && e.Msg.OutsidersTitle == "" {
				e.Msg.OutsidersTitle = t.outsidersTitle(e.Msg.Title)
			}
		}
	}
	for i, e := range t.effects {
		to := e.To.Person
		if e.Kind == EffectUpdate {
			to = cardOwner(e.Card)
		}
		if e.Msg == nil || !outsider(to) {
			continue
		}
		m := e.Msg.ForOutsiders()
		if changes := t.changesFor(to, m.Changes); len(changes) < len(m.Changes) {
			if m == e.Msg {
				c := *m
				m = &c
			}
			m.Changes = changes
		}
		t.effects[i].Msg = m
	}
}

// outsidersTitle is a card's title without the request's title (of a flow
// whose title reads an internal field), the flow's name and the request's
// id in its place: "Approved: Vendor contract VC-1 (Acme, CC-4711)" is
// "Approved: Vendor contract VC-1". It is "" when title does not hold the
// request's title. (Of a resubmission, only the requester's card is made
// before the title changes.)
func (t *tx) outsidersTitle(title string) string {
	shown := t.in.Title
	if shown == "" || !strings.Contains(title, shown) {
		return ""
	}
	head := t.def.Name + " " + t.in.ID
	out := strings.ReplaceAll(title, head+": "+shown, head)  // "Vendor contract VC-1: …"
	out = strings.ReplaceAll(out, head+" ("+shown+")", head) // "Approved: Vendor contract VC-1 (…)"
	if strings.Contains(out, shown) {                        // written some other way
		out = head
	}
	return out
}

// changesFor is changes as p may see them: without those of internal
// fields when p is outside the workspace (changes itself when none is
// left out).
func (t *tx) changesFor(p string, changes []Change) []Change {
	if !t.def.internal || !outsider(p) {
		return changes
	}
	internal := func(c Change) bool { return t.internal(c.Field) }
	if !slices.ContainsFunc(changes, internal) {
		return changes
	}
	return slices.DeleteFunc(slices.Clone(changes), internal)
}

// internal reports whether name is an internal field (of the form, or a
// task's output).
func (t *tx) internal(name string) bool {
	for f := range t.def.allFields() {
		if f.Name == name {
			return f.Internal
		}
	}
	return false
}

// unsureNote begins the routing note of a step asked though its condition
// could not be checked; the error follows in brackets, and ends the note
// (in.Routed: nothing is added after it, and nothing before holds it).
const unsureNote = "asked to be safe: its condition could not be checked"

// routedFor is the routing note of step s (in.Routed) as p may be told it:
// without the error of its condition when conditionFor leaves the
// condition out for p, as the error names the condition (and may hold a
// value: a pattern that is no regular expression).
func (t *tx) routedFor(p string, s *Step) string {
	routed := t.in.Routed
	if !t.def.internal || s.When == "" || t.conditionFor(p, s) != "" {
		return routed
	}
	if i := strings.Index(routed, unsureNote+" ("); i >= 0 {
		return routed[:i] + unsureNote
	}
	return routed
}

// conditionFor is s's condition (its when) as p may be told it: "" when p
// is outside the workspace and it reads an internal field, whose value it
// may hold (cost_centre != "CC-0001").
func (t *tx) conditionFor(p string, s *Step) string {
	if !t.def.internal || s.cond == nil || !outsider(p) {
		return s.When
	}
	if slices.ContainsFunc(s.cond.reads, t.internal) {
		return ""
	}
	return s.When
}
