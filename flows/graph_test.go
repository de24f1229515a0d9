package flows_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/batonbot/baton/flows"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (run go test ./flows -run %s -update to accept):\n--- got\n%s\n--- want\n%s", path, t.Name(), got, want)
	}
}

func TestMermaid(t *testing.T) {
	t.Parallel()
	examples, err := flows.LoadDefinitions(os.DirFS(filepath.Join("..", "manifests")), "flows")
	if err != nil {
		t.Fatal(err)
	}
	defs := map[string]*flows.Definition{
		"branches": mustParse(t, nextFlow),
		"webhook":  mustParse(t, webhookFlow("continue")),
		"quotes": mustParse(t, `id: q
name: Say "hi" <now>
owner: o
command: hi
steps:
  - id: say-hi
    name: "Line one\nline two: `+"`code`"+` #35; #1"
    type: notify
    to: [requester]
    message: hi
`),
	}
	defs["conditions"] = mustParse(t, `id: c
name: Conditions
owner: o
form:
  - {name: n, type: number}
steps:
  - {id: big, type: notify, to: [requester], message: big, when: "n > 100"}
  - {id: mid, type: notify, to: [requester], message: mid, when: "n > 10"}
  - {id: small, type: notify, to: [requester], message: small, when: "n > 1"}
  - {id: last, type: notify, to: [requester], message: last}
`)
	defs["ids"] = mustParse(t, `id: ids
name: Ids
owner: o
steps:
  - {id: a-b, type: notify, to: [requester], message: hi}
  - {id: a_b, type: notify, to: [requester], message: hi}
`)
	for _, d := range examples {
		defs["example-"+d.ID] = d
	}
	for name, d := range defs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := d.Mermaid()
			if !strings.HasPrefix(got, "flowchart TD\n") || strings.Count(got, "\n  start([") != 1 {
				t.Fatalf("not a flowchart:\n%s", got)
			}
			if d.Mermaid() != got {
				t.Fatal("Mermaid is not deterministic")
			}
			golden(t, "mermaid-"+name+".golden", got)
		})
	}
}
