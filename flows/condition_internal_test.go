package flows

import (
	"strings"
	"testing"
	"time"
)

// The names a fuzzed condition may use: one of every kind.
var fuzzFields = []Field{
	{Name: "amount", Kind: FieldNumber},
	{Name: "dept", Kind: FieldChoice},
	{Name: "note", Kind: FieldLongText},
	{Name: "score"}, // webhook-stored values: any JSON type
	{Name: "label"},
}

// Data a condition runs over: empty, ordinary, large, and of surprising types.
var fuzzData = []map[string]any{
	{},
	{"amount": 1500.0, "dept": "eng", "note": "hello", "score": 70.0},
	{"amount": -1e308, "dept": "", "note": strings.Repeat("ab", 50_000), "score": "x"},
	{"score": true},
	{"score": map[string]any{"a": 1.0}},
	{"amount": "not a number", "score": nil},
}

// FuzzCondition: compiling and evaluating any condition never panics and
// finishes quickly, whatever the data.
func FuzzCondition(f *testing.F) {
	for _, s := range []string{
		`amount > 1000 && dept == "eng"`, `level == "admin"`, `audience == "external"`, `requester == "alice"`,
		`dept in ["eng", "ops"] || amount <= 10`, `note contains "x" and not (score > 3)`, `note matches "^(a+)+$"`,
		`len(note) > 3 && lower(trim(note)) startsWith "h"`, `amount % 7 == 1`, `1/0 > amount`, `int(amount) % 0 == 1`,
		`score ?? 3 > 2`, `amount in 1..10`, `[1,2,3][amount] == 1`, `note[1:3] == "b"`, `amount ** 1e308 > 0`,
		`max(amount, 3, score) > 1`, `split(note, "")[0] == "a"`, `string(score) == "1"`, `score.x == 1`, `$env.amount > 1`,
		// Constructs conditions refuse: each could run for minutes or exhaust memory.
		`len(replace(repeat(note, 1000), "a", repeat(note, 1000))) > 0`,
		`len(replace(repeat("x", 100000), "x", repeat("y", 100000))) > 0`, // 28 s and 10 GB before conditions refused replace()
		`len(reduce(1..60, #acc + #acc, "x")) > 0`,
		`let x = note + note; let y = x + x; len(y + y) > 0`,
		`all(1..999, {all(1..999, {all(1..999, {true})})})`,
		`len(join(map(1..100000, {repeat(note, 1000)}), "")) > 0`,
		`now() > date("2026-01-01")`,
		strings.Repeat("(", 2000) + "true" + strings.Repeat(")", 2000),
		strings.Repeat("!", 600) + "true",
		strings.Repeat("note + ", 300) + `"" == ""`,
	} {
		f.Add(s)
	}
	env, dynamic := conditionEnv(fuzzFields)
	f.Fuzz(func(t *testing.T, src string) {
		start := time.Now()
		c, err := compileCondition(src, env, dynamic, nil)
		if err != nil {
			if c != nil || err.Error() == "" {
				t.Fatalf("compileCondition = %v, %v", c, err)
			}
			return
		}
		for _, d := range fuzzData {
			_, _ = c.eval(d, "alice", nil)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("condition %q took %s", src, d)
		}
	})
}

func TestConditionsRefuseCostlyConstructs(t *testing.T) {
	t.Parallel()
	env, dynamic := conditionEnv(fuzzFields)
	for _, tt := range []struct{ src, want string }{
		{`len(replace(note, "a", note)) > 0`, "uses replace(), which conditions do not allow"},
		{`repeat("x", 3) == note`, "uses repeat()"},
		{`len(reduce(1..60, #acc + #acc, "x")) > 0`, "uses reduce()"},
		{`all([1], {# > 0})`, "uses all()"},
		{`let x = 1; x > 0`, "uses let"},
		{`now() > 0`, "uses now()"},
		{`date("2026-01-01") != nil`, "uses date()"},
		{`toJSON(note) == ""`, "uses toJSON()"},
		{`amout > 1`, `names unknown field "amout" (did you mean "amount"?); it may use amount, dept, label, note, requester, score`},
		{`foo(1) > 1`, `names unknown field "foo"`},
		{`amont > 1000 && curency == "EUR" && amont < 5`, `names unknown fields "amont" (did you mean "amount"?) and "curency"; it may use`}, // every one, once
		{strings.Repeat("x", 1001), "more than 1000"},
		{`amount >`, `is not valid`},
		{`dept > 3`, `is not valid`},
	} {
		c, err := compileCondition(tt.src, env, dynamic, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("compileCondition(%.40q) = %v, %v; want %q", tt.src, c, err, tt.want)
		}
	}
	// What conditions are for still works, including values a webhook stored.
	for _, tt := range []struct {
		src  string
		data map[string]any
		want bool
	}{
		{`amount > 1000 && dept == "eng"`, map[string]any{"amount": 1500.0, "dept": "eng"}, true},
		{`amount > 1000`, map[string]any{}, false},
		{`score > 50`, map[string]any{"score": 70.0}, true},
		{`score == "gold"`, map[string]any{"score": "gold"}, true},
		{`score == true`, map[string]any{"score": true}, true},
		{`amount > 1000 && score == "gold"`, map[string]any{}, false}, // a guard needs no score
		// A condition that says what a missing stored value means is obeyed.
		{`(score ?? "low") == "low"`, map[string]any{}, true},
		{`(score ?? "low") == "low"`, map[string]any{"score": "high"}, false},
		{`score ?? false`, map[string]any{}, false},
		{`score ?? false`, map[string]any{"score": true}, true},
		{`score == nil`, map[string]any{}, true},
		{`nil != score`, map[string]any{}, false},
		{`score != nil && score > 50`, map[string]any{"score": 70.0}, true},
		{`score != nil && score > 50`, map[string]any{}, false},
		{`score?.level == "gold"`, map[string]any{"score": map[string]any{"level": "gold"}}, true},
		{`(score?.level ?? "none") == "none"`, map[string]any{}, true},
		{`score?.a?.b == nil`, map[string]any{}, true},
		{`(score ?? label ?? "low") == "low"`, map[string]any{}, true},
		{`(score ?? label ?? "low") == "mid"`, map[string]any{"label": "mid"}, true},
		{`!(score == nil)`, map[string]any{"score": 1.0}, true},
		{`upper(dept) in ["ENG"] && len(note) == 0 && abs(amount) < 1 && hasSuffix(requester, "ce")`, map[string]any{"dept": "eng"}, true},
	} {
		c, err := compileCondition(tt.src, env, dynamic, nil)
		if err != nil {
			t.Fatalf("%s: %v", tt.src, err)
		}
		if got, err := c.eval(tt.data, "alice", nil); err != nil || got != tt.want {
			t.Errorf("%s over %v = %v, %v; want %v", tt.src, tt.data, got, err, tt.want)
		}
	}
	// A stored name the request does not have cannot be compared: the
	// condition fails (and its step fails safe), whatever the operator.
	for _, src := range []string{`score == "gold"`, `score != "gold"`, `score > 50`, `amount > 1000 || score in ["a"]`, `score`, `(score ?? 1) > 0 && score > 5`, `score.level == "gold"`, `score?.level == "gold"`, `label ?? score`} {
		c, err := compileCondition(src, env, dynamic, nil)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if got, err := c.eval(map[string]any{}, "alice", nil); err == nil || !strings.Contains(err.Error(), "score is not known: no step stored it") {
			t.Errorf("%s without score = %v, %v; want an error naming score", src, got, err)
		}
	}
	// Nor can one of another kind than the literal it is compared with
	// (== would be false, != true, and the step passed over or asked on a
	// reply that changed its type).
	for _, tt := range []struct {
		src  string
		data map[string]any
		want string
	}{
		{`score == "high"`, map[string]any{"score": 7.0}, `score is 7 (a number), but the condition compares it with "high" (a text)`},
		{`"high" != score`, map[string]any{"score": 7.0}, `score is 7 (a number), but the condition compares it with "high" (a text)`},
		{`score == 7`, map[string]any{"score": "7"}, `score is "7" (a text), but the condition compares it with 7 (a number)`},
		{`score == true`, map[string]any{"score": "yes"}, `compares it with true (true or false)`},
		{`score == "high"`, map[string]any{"score": nil}, `score is null, but`},
		{`score == "high"`, map[string]any{"score": map[string]any{}}, `score is a list or an object, but`},
	} {
		c, err := compileCondition(tt.src, env, dynamic, nil)
		if err != nil {
			t.Fatalf("%s: %v", tt.src, err)
		}
		if got, err := c.eval(tt.data, "alice", nil); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s over %v = %v, %v; want an error %q", tt.src, tt.data, got, err, tt.want)
		} else if !strings.HasSuffix(err.Error(), "(in its condition, "+tt.src+")") || strings.Contains(err.Error(), "(1:") {
			t.Errorf("%s: error %q, want the condition as written, and no position", tt.src, err)
		}
	}
	// A task's output reads as its zero value unless its step was skipped
	// by someone: then it is not known.
	c, err := compileCondition(`seats > 10`, map[string]any{"seats": float64(0)}, nil, map[string]string{"seats": "grant"})
	if err != nil {
		t.Fatal(err)
	}
	passed := &Instance{History: []StepRecord{{Step: "grant", Outcome: "skipped", By: System}}}
	if got, err := c.eval(map[string]any{}, "alice", passed); err != nil || got {
		t.Errorf("passed over, no seats = %v, %v; want false", got, err)
	}
	skipped := &Instance{History: []StepRecord{{Step: "grant", Outcome: "skipped", By: "olivia"}}}
	if got, err := c.eval(map[string]any{}, "alice", skipped); err == nil || !strings.Contains(err.Error(), "seats is not known") {
		t.Errorf("skipped = %v, %v; want seats not known", got, err)
	}
}

func TestNearest(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		cand []string
		want string
	}{
		{"stauts", []string{"start", "tasks", "requests", "status", "cancel", "help"}, "status"},
		{"purhcase", []string{"access", "content", "purchase"}, "purchase"},
		{"Purchase", []string{"access", "purchase"}, "purchase"},
		{"asignees", (&validator{}).keysAt("steps[0].asignees"), "assignees"},
		{"xyzzy", []string{"start", "tasks"}, ""},
		{"people", allKeys, ""}, // not "title": four edits is no typo
		{"", []string{"a"}, "a"},
	} {
		if got := nearest(tt.in, tt.cand); got != tt.want {
			t.Errorf("nearest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, tt := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"abc", "", 3}, {"", "abc", 3}, {"kitten", "sitting", 3}, {"ab", "ba", 1}, {"abcd", "acbd", 1}, {"ca", "abc", 3}, {"héllo", "hello", 1}} {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
