package flows

import (
	"fmt"
	"net/mail"
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
