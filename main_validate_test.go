package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs baton with args and no environment.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(t.Context(), args, func(string) string { return "" }, nil, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestValidateCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	bom := filepath.Join(dir, "bom.yaml")
	src, err := os.ReadFile(filepath.Join("manifests", "flows", "purchase.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bom, append([]byte("\xef\xbb\xbf"), src...), 0o644); err != nil {
		t.Fatal(err)
	}
	// A schedule naming its requester as the approver, beside a file with
	// a mistake of its own: both are reported.
	sched := filepath.Join(dir, "sched.yaml")
	if err := os.WriteFile(sched, []byte(`id: rep
name: Report
owner: olivia
schedule: {cron: "0 9 * * MON", requester: alice, data: {approver: alice}}
form:
  - {name: approver, type: person, required: true}
steps:
  - {id: s, type: approval, assignees: ["field:approver"]}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "validate", sched, filepath.Join(dir, "missing.yaml"))
	if code != 1 || !strings.Contains(errOut, "missing.yaml: no such file or directory") ||
		!strings.Contains(errOut, "schedule[0].data: invalid form: approver: you are making this request") {
		t.Errorf("validate with a bad schedule and a missing file: exit %d\n%s", code, errOut)
	}
	// The files that are fine are said to be, beside another's problems;
	// the one with a problem is not.
	code, out, errOut := runCLI(t, "validate", bom, sched, filepath.Join("manifests", "directory.yaml"))
	if code != 1 || !strings.Contains(out, "ok  "+bom+": flow purchase") || !strings.Contains(out, "directory.yaml: people directory") ||
		strings.Contains(out, sched) || !strings.Contains(errOut, "schedule[0].data") {
		t.Errorf("validate of good files beside a bad one: exit %d\n%s%s", code, out, errOut)
	}
	// A people directory is checked as one, not as a flow.
	if code, out, errOut := runCLI(t, "validate", filepath.Join("manifests", "directory.yaml")); code != 0 || !strings.Contains(out, "directory.yaml: people directory, ") {
		t.Errorf("validate of the demo directory: exit %d\n%s%s", code, out, errOut)
	}
	people := filepath.Join(dir, "people.yaml")
	if err := os.WriteFile(people, []byte("people:\n  - {id: a, name: A, manager: nobody}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCLI(t, "validate", people); code != 1 || !strings.Contains(errOut, "nobody") || strings.Contains(errOut, "steps") {
		t.Errorf("validate of a bad directory: exit %d\n%s", code, errOut)
	}
	// In a flows directory, it is said to be out of place (Baton reads every
	// *.yaml there as a flow).
	flowsDir := filepath.Join(dir, "withpeople")
	if err := os.Mkdir(flowsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"purchase.yaml": src, "people.yaml": []byte("people:\n  - {id: a, name: A}\n")} {
		if err := os.WriteFile(filepath.Join(flowsDir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if code, _, errOut := runCLI(t, "validate", flowsDir); code != 1 || !strings.Contains(errOut, "people.yaml:1: this is a people directory, and every *.yaml file here is read as a flow") {
		t.Errorf("validate of a flows directory holding a people directory: exit %d\n%s", code, errOut)
	}
	// A file given twice (a glob and its name) is read once: no clash with itself.
	if code, out, errOut := runCLI(t, "validate", bom, filepath.Join(dir, ".", "bom.yaml")); code != 0 || strings.Count(out, "flow purchase") != 1 {
		t.Errorf("validate of one file given twice: exit %d\n%s%s", code, out, errOut)
	}
	// So is a file given alone and in its directory.
	if code, out, errOut := runCLI(t, "validate", "manifests/flows", filepath.Join("manifests", "flows", "purchase.yaml")); code != 0 || strings.Count(out, "flow purchase") != 1 {
		t.Errorf("validate of a directory and a file in it: exit %d\n%s%s", code, out, errOut)
	}
	// Or beside a flow whose id clashes with it.
	clash := filepath.Join(dir, "clash.yaml")
	if err := os.WriteFile(clash, []byte("id: rep\nname: Again\nowner: olivia\nprefix: AG\nsteps:\n  - {id: s, type: notify, to: [requester], message: hi}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runCLI(t, "validate", sched, clash)
	if code != 1 || !strings.Contains(errOut, `clash.yaml:1: id: id "rep" is also flow rep's id or command`) || !strings.Contains(errOut, "schedule[0].data") {
		t.Errorf("validate with a bad schedule and a clash: exit %d\n%s", code, errOut)
	}
	// A clash is found beside a file that does not parse, too.
	broken := filepath.Join(dir, "broken")
	if err := os.Mkdir(broken, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string]string{
		"a.yaml":   "id: a\nname: A\nowner: olivia\ncommand: buy\nsteps:\n  - {id: s, type: notify, to: [requester], message: hi}\n",
		"b.yaml":   "id: b\nname: B\nowner: olivia\ncommand: buy\nsteps:\n  - {id: s, type: notify, to: [requester], message: hi}\n",
		"bad.yaml": "id: c\nname: C\nowner: olivia\nsteps:\n  - {id: s, type: nope}\n",
	} {
		if err := os.WriteFile(filepath.Join(broken, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, _, errOut = runCLI(t, "validate", broken)
	if code != 1 || !strings.Contains(errOut, `b.yaml:4: command: command "buy" is also flow a's`) || !strings.Contains(errOut, `bad.yaml:5: steps[0].type`) {
		t.Errorf("validate with a clash beside a broken file: exit %d\n%s", code, errOut)
	}
	for _, tt := range []struct {
		args       []string
		code       int
		out, err   string
		notInError string
	}{
		{[]string{"manifests/flows"}, 0, "ok  manifests/flows/purchase.yaml: flow purchase, 3 steps", "", ""},
		{[]string{bom}, 0, "ok  " + bom + ": flow purchase", "", ""}, // saved by an editor that writes a byte-order mark
		{[]string{empty}, 1, "", empty + ": no flow definitions (*.yaml or *.yml files) in this directory", ""},
		{[]string{filepath.Join(dir, "missing.yaml")}, 1, "", "missing.yaml: no such file or directory", "stat"},
		{[]string{"--help"}, 0, "usage: baton validate [-directory FILE] PATH...", "", ""},
		{nil, 2, "", "usage: baton validate [-directory FILE] PATH...", ""},
	} {
		code, out, errOut := runCLI(t, append([]string{"validate"}, tt.args...)...)
		if code != tt.code || !strings.Contains(out, tt.out) || !strings.Contains(errOut, tt.err) ||
			tt.notInError != "" && strings.Contains(errOut, tt.notInError) {
			t.Errorf("validate %q: exit %d\nstdout: %s\nstderr: %s\nwant exit %d, stdout with %q, stderr with %q", tt.args, code, out, errOut, tt.code, tt.out, tt.err)
		}
	}
}

// strangersFlow names a person, a group and a channel the test directory
// (peopleYAML) lacks, and a quorum its group cannot fill.
const strangersFlow = `id: strangers
name: Strangers
owner: olivai
steps:
  - id: a
    type: approval
    assignees: [person:nobody]
    escalate:
      - {after: 1d, notify: person:nobody2}
  - id: b
    type: approval
    assignees: [group:finance]
    quorum: 5
  - id: c
    type: approval
    assignees: [group:nonexistent]
    channel: nochannel
`

const peopleYAML = `people:
  - {id: olivia, name: Olivia Brown}
  - {id: carol, name: Carol Diaz, groups: [finance]}
  - {id: frank, name: Frank Osei, groups: [finance]}
  - {id: gina, name: Gina Ray, groups: [finance]}
channels:
  - {id: procurement}
`

// validate checks what the flows name against the people directory Baton
// would run them with, each problem with its file, line and path: the one
// -directory or BATON_DIRECTORY names; with neither, the demo directory for
// the built-in flows, and, for others, nothing, which it says.
func TestValidateAgainstDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	flow := write("strangers.yaml", strangersFlow)
	people := write("people.yaml", peopleYAML)
	validateIn := func(getenv func(string) string, args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(t.Context(), append([]string{"validate"}, args...), getenv, nil, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	wantLines := []string{
		flow + `:3: owner: "olivai" is not a person in the directory (did you mean "olivia"?)`,
		flow + `:7: steps[0].assignees[0]: "nobody" is not a person in the directory; add them to it, or name someone who is`,
		flow + `:9: steps[0].escalate[0].notify: "nobody2" is not a person in the directory`,
		flow + `:13: steps[1].quorum: quorum: 5 needs 5 people who may approve, and this step can have at most 3 (group finance has 3 people in the directory)`,
		flow + `:16: steps[2].assignees[0]: group "nonexistent" has nobody in the directory`,
		flow + `:17: steps[2].channel: channel "nochannel" is not in the directory`,
	}
	for _, tt := range []struct {
		name   string
		getenv func(string) string
		args   []string
	}{
		{"BATON_DIRECTORY", env("BATON_DIRECTORY", people), []string{flow}},
		{"-directory, after the path", env(), []string{flow, "-directory", people}},
		{"-directory over BATON_DIRECTORY", env("BATON_DIRECTORY", filepath.Join(dir, "missing.yaml")), []string{"-directory", people, flow}},
		{"a directory file among the paths", env(), []string{flow, people}},
	} {
		code, out, errOut := validateIn(tt.getenv, tt.args...)
		if code != 1 || strings.Contains(out, "ok  "+flow) || strings.Contains(errOut, "not checked") {
			t.Errorf("%s: exit %d, want 1\nstdout: %s\nstderr: %s", tt.name, code, out, errOut)
		}
		for _, l := range wantLines {
			if !strings.Contains(errOut, l) {
				t.Errorf("%s: stderr lacks %q:\n%s", tt.name, l, errOut)
			}
		}
	}
	// A directory that cannot be read or used is said to be, and fails.
	if code, _, errOut := validateIn(env("BATON_DIRECTORY", filepath.Join(dir, "missing.yaml")), flow); code != 1 || !strings.Contains(errOut, "missing.yaml") || !strings.Contains(errOut, "the people directory to check the flows against") {
		t.Errorf("a missing directory: exit %d\n%s", code, errOut)
	}
	// No directory: an operator's flows are not checked against the demo
	// directory, and validate says so and how to check them.
	code, out, errOut := validateIn(env(), flow)
	if code != 0 || !strings.Contains(out, "ok  "+flow) || !strings.Contains(errOut, "were not checked: no people directory was given") ||
		!strings.Contains(errOut, "baton validate -directory people.yaml PATH...") {
		t.Errorf("no directory: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	// The built-in flows, as shipped, are checked against the demo
	// directory Baton runs them with; a copy changed is an operator's.
	code, out, errOut = validateIn(env(), "manifests/flows")
	if code != 0 || errOut != "" || strings.Count(out, "ok  ") != 3 {
		t.Errorf("the built-in flows: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	src, err := os.ReadFile(filepath.Join("manifests", "flows", "purchase.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	shipped := write("purchase.yaml", string(src))
	if code, _, errOut := validateIn(env(), shipped); code != 0 || errOut != "" {
		t.Errorf("a copy of a built-in flow: exit %d\n%s", code, errOut)
	}
	changed := write("purchase.yaml", strings.Replace(string(src), "group:finance", "group:finace", 1))
	if code, _, errOut := validateIn(env(), changed); code != 0 || !strings.Contains(errOut, "were not checked") {
		t.Errorf("a changed copy of a built-in flow, no directory: exit %d\n%s", code, errOut)
	}
	if code, _, errOut := validateIn(env(), "-directory", "manifests/directory.yaml", changed); code != 1 || !strings.Contains(errOut, `steps[1].assignees[0]: group "finace" has nobody in the directory (did you mean "finance"?)`) {
		t.Errorf("a changed copy of a built-in flow, the demo directory: exit %d\n%s", code, errOut)
	}
}

// A warning is told, marked so, on stderr, and the file is still ok: exit
// 0 unless something else is wrong.
func TestValidateWarnings(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "optional.yaml")
	if err := os.WriteFile(p, []byte(`id: optional
name: Optional reviewer
owner: olivia
form:
  - {name: reviewer, label: Second reviewer, type: person}
steps:
  - id: review
    type: approval
    assignees: [field:reviewer]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "validate", "-directory", "manifests/directory.yaml", p)
	if code != 0 || !strings.Contains(out, "ok  "+p+": flow optional, 1 step, started with: start optional, 1 warning") ||
		!strings.Contains(errOut, p+`:9: warning: steps[0].assignees: field:reviewer names an optional field: when Second reviewer is left empty, the step goes to the requester's manager instead`) {
		t.Errorf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
}

func TestGraphCommand(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args     []string
		code     int
		out, err string
	}{
		{[]string{"purchase"}, 0, "flowchart TD", ""},
		{[]string{"purchase", "-flows", "manifests/flows"}, 0, "flowchart TD", ""}, // a flag after the flow
		{[]string{"-flows", "/nonexistent", "purchase"}, 1, "", "flows directory /nonexistent: there is no such directory"},
		{[]string{"purchse"}, 1, "", `no flow called "purchse"; did you mean "purchase"?`},
		{[]string{"manifests/flows/access.yaml"}, 0, "Security review", ""}, // a file, by its path
		{[]string{"nowhere.yaml"}, 1, "", "nowhere.yaml: no such file"},
		{nil, 2, "", "usage: baton graph"},
	} {
		code, out, errOut := runCLI(t, append([]string{"graph"}, tt.args...)...)
		if code != tt.code || !strings.Contains(out, tt.out) || !strings.Contains(errOut, tt.err) {
			t.Errorf("graph %q: exit %d\nstdout: %s\nstderr: %s\nwant exit %d, stdout with %q, stderr with %q", tt.args, code, out, errOut, tt.code, tt.out, tt.err)
		}
	}
}

// A mistake in the flows stops start-up before the store is looked for: it
// is told alone, without the embedded store's warning before it.
func TestStartupFlowsCheckedFirst(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	code := run(t.Context(), nil, env("BATON_FLOWS_DIR", filepath.Join(t.TempDir(), "nowhere"), "BATON_HTTP_ADDR", "127.0.0.1:0"), nil, &out, &errOut)
	if code != 2 || !strings.Contains(errOut.String(), "there is no such directory") || strings.Contains(errOut.String(), "BATON_REDIS_URL") {
		t.Errorf("exit %d:\n%s", code, errOut.String())
	}
}

// TestStartupAddressCheckedFirst: an address Baton cannot listen on (a port
// in use, a host that does not resolve) is a setting to fix: it stops
// start-up with exit 2 and how to fix it, before the store (or anything
// else) starts.
func TestStartupAddressCheckedFirst(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for addr, want := range map[string]string{
		taken.Addr().String():     "is in use",
		"nosuchhost.invalid:8080": "cannot be resolved",
	} {
		var out, errOut bytes.Buffer
		code := run(t.Context(), nil, env("BATON_HTTP_ADDR", addr), nil, &out, &errOut)
		if code != 2 || !strings.Contains(errOut.String(), "BATON_HTTP_ADDR (-http-addr)") || !strings.Contains(errOut.String(), want) ||
			strings.Contains(errOut.String(), "embedded in-process store") {
			t.Errorf("BATON_HTTP_ADDR=%s: exit %d:\n%s\nwant exit 2 saying %q, alone", addr, code, errOut.String(), want)
		}
	}
}

// TestStartupProblemsReadable: start-up refused for a list of problems (a
// people directory's) prints them one per line, as written, not quoted
// into one log line.
func TestStartupProblemsReadable(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "people.yaml")
	if err := os.WriteFile(dir, []byte("people:\n  - {id: a, manager: b}\n  - {id: b, manager: a, backup: b}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := run(t.Context(), nil, env("BATON_DIRECTORY", dir, "BATON_HTTP_ADDR", "127.0.0.1:0"), nil, &out, &errOut)
	if code != 2 {
		t.Fatalf("exit %d, want 2:\n%s", code, errOut.String())
	}
	for _, line := range []string{
		"person a: the management chain loops back to a (a → b → a); change one of these managers",
		"\nperson b: backup is b themselves; name someone else, or leave backup out\n",
	} {
		if !strings.Contains(errOut.String(), line) {
			t.Errorf("stderr lacks %q:\n%s", line, errOut.String())
		}
	}
}
