package flows_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/batonbot/baton/flows"
)

func TestDirectory(t *testing.T) {
	t.Parallel()
	d := testDir(t)
	alice, ok := d.Person("alice")
	if !ok || alice.Name != "Alice Martin" || alice.Manager != "bob" {
		t.Fatalf("alice %+v", alice)
	}
	withBackup, err := flows.NewDirectory([]flows.Person{{ID: "a", Backup: "b"}, {ID: "b"}}, nil)
	if err != nil || withBackup.Backup("a") != "b" || withBackup.Backup("b") != "" || withBackup.Backup("zz") != "" {
		t.Fatalf("backups: %v", err)
	}
	if d.Name("alice") != "Alice Martin" || d.Name("slack:U9") != "slack:U9" || d.Manager("alice") != "bob" || d.Manager("dana") != "" || d.Manager("nobody") != "" {
		t.Fatal("names and managers")
	}
	if got := d.Members("finance"); !slices.Equal(got, []string{"carol", "frank", "gina"}) {
		t.Fatalf("members %v", got)
	}
	if got := d.Members("nobody"); len(got) != 0 {
		t.Fatalf("members of no group %v", got)
	}
	// Members is a copy: changing it changes nothing.
	d.Members("finance")[0] = "mallory"
	if d.Members("finance")[0] != "carol" {
		t.Fatal("Members exposes the directory's slice")
	}
	if d.Location("alice").String() != "Europe/London" || d.Location("bob").String() != "UTC" || d.Location("nobody").String() != "UTC" {
		t.Fatal("locations")
	}
	if ps := d.People(); len(ps) != 12 || ps[0].ID != "ada" || ps[11].ID != "zed" {
		t.Fatalf("people %v", ps)
	}
	if cs := d.Channels(); len(cs) != 3 || cs[0].ID != "finance" {
		t.Fatalf("channels %v", cs)
	}
	if _, ok := d.Channel("nowhere"); ok {
		t.Fatal("unknown channel found")
	}
	if c, ok := d.Channel("ops"); !ok || c.Name != "#ops" {
		t.Fatalf("channel %+v", c)
	}

	for _, tt := range []struct{ platform, id, want string }{
		{"slack", "UALICE", "alice"},
		{"teams", "29:alice", "alice"},
		{"email", "alice@example.com", "alice"},
		{"email", "ALICE@EXAMPLE.COM", "alice"},
		{"slack", "U404", "slack:U404"},
		{"teams", "29:x", "teams:29:x"},
		{"email", "Zed@Example.com", "email:zed@example.com"},
	} {
		if got := d.Resolve(tt.platform, tt.id); got != tt.want {
			t.Errorf("Resolve(%s, %s) = %s, want %s", tt.platform, tt.id, got, tt.want)
		}
	}
	for _, tt := range []struct{ person, platform, want string }{
		{"alice", "slack", "UALICE"},
		{"alice", "teams", "29:alice"},
		{"alice", "email", "Alice@Example.com"},
		{"alice", "web", ""},
		{"bob", "slack", ""},
		{"slack:U404", "slack", "U404"},
		{"slack:U404", "teams", ""},
		{"teams:29:x", "teams", "29:x"},
	} {
		if got := d.Identity(tt.person, tt.platform); got != tt.want {
			t.Errorf("Identity(%s, %s) = %q, want %q", tt.person, tt.platform, got, tt.want)
		}
	}
	// A nil directory is an empty one.
	var none *flows.Directory
	if _, ok := none.Person("alice"); ok || none.Name("alice") != "alice" || none.Members("x") != nil || none.Location("x").String() != "UTC" ||
		none.Resolve("slack", "U1") != "slack:U1" || none.People() != nil || none.Channels() != nil {
		t.Fatal("nil directory")
	}
}

func TestDirectoryValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src string
		want      []string
	}{
		{"unknown manager and backup", `
people:
  - {id: a, manager: ghost, backup: phantom}
`, []string{`person a: manager "ghost" is not in the directory`, `person a: backup "phantom" is not in the directory`}},
		{"a management cycle", `
people:
  - {id: a, manager: b}
  - {id: b, manager: c}
  - {id: c, manager: a}
  - {id: d, manager: a}
`, []string{"person a: the management chain loops back to a (a → b → c → a); change one of these managers", "person d: the management chain loops back to a"}},
		{"one's own backup", `
people:
  - {id: a, backup: a}
`, []string{"person a: backup is a themselves; name someone else, or leave backup out"}},
		{"one's own manager", `
people:
  - {id: a, manager: a}
`, []string{"person a: the management chain loops back to a"}},
		{"bad timezone", `
people:
  - {id: a, timezone: Mars/Olympus}
`, []string{`person a: timezone "Mars/Olympus" is unknown; use an IANA name like Europe/Paris`}},
		{"duplicate identities", `
people:
  - {id: a, slack: U1, email: A@x.io}
  - {id: b, slack: U1, email: a@X.io}
  - {id: a}
`, []string{"person b: slack:U1 is also a's", "person b: email:a@x.io is also a's", `people[2]: id "a" appears twice`}},
		{"bad ids", `
people:
  - {id: "two words"}
  - {id: "slack:U1"}
  - {name: Nameless}
channels:
  - {id: c}
  - {id: c}
  - {name: x}
`, []string{`people[0]: id "two words" must be one word`, `people[1]: id "slack:U1" must be one word without ':'`, `people[2]: id "" must be one word`,
			`channels[1]: id "c" is empty or appears twice`, `channels[2]: id "" is empty or appears twice`}},
		{"a tag without a value", `
people:
  - id: a
    groups: !x
`, []string{`dir.yaml:4: people[0].groups: a YAML tag (!...) here has no value`}},
		{"a tag of YAML's own without a value, and a document after a comment", `# the team
---
people:
  - {id: b, managr: a}
  - id: a
    manager: !!str
`, []string{`dir.yaml:4: people[0].managr: unknown key "managr" (did you mean "manager"?)`}},
		{"two documents", `
people:
  - {id: a}
---
people:
  - {id: b}
`, []string{`dir.yaml: the file holds 2 YAML documents (split by ---)`}},
		// Read as flows are: every unknown key in one run, each with its
		// line, path and the nearest key.
		{"unknown keys", `
people:
  - {id: a, manger: b}
  - id: b
    timezon: Europe/Paris
chanels: []
`, []string{`dir.yaml:3: people[0].manger: unknown key "manger" (did you mean "manager"?)`,
			`dir.yaml:5: people[1].timezon: unknown key "timezon" (did you mean "timezone"?)`, `dir.yaml:6: chanels: unknown key "chanels" (did you mean "channels"?)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := flows.ParseDirectory("dir.yaml", []byte(tt.src))
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "dir.yaml:") {
				t.Errorf("error does not name the file: %s", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
			// The same file always gives the same message (problems are sorted).
			_, again := flows.ParseDirectory("dir.yaml", []byte(tt.src))
			if again.Error() != msg {
				t.Errorf("message changes between runs:\n%s\n%s", msg, again)
			}
		})
	}
}
