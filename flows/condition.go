package flows

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

// A condition is a step's `when`, written in expr-lang
// (https://expr-lang.org): comparisons, && || !, arithmetic, `in`, string
// functions. It can read form fields, step outputs and `requester`; it cannot
// call out, loop without bound, or read the clock (now() and date() are
// disabled, so a condition is a pure function of the request).
type condition struct {
	src  string
	prog *vm.Program
	env  map[string]any // zero values of every name, for fields left empty
}

var unknownName = regexp.MustCompile(`unknown name ([A-Za-z_][A-Za-z0-9_]*)`)

func conditionEnv(fields []Field) map[string]any {
	env := map[string]any{"requester": ""}
	for _, f := range fields {
		if f.Kind == FieldNumber {
			env[f.Name] = float64(0)
		} else {
			env[f.Name] = ""
		}
	}
	return env
}

func compileCondition(src string, env map[string]any) (*condition, error) {
	prog, err := expr.Compile(src, expr.Env(env), expr.AsBool(), expr.DisableBuiltin("now"), expr.DisableBuiltin("date"), expr.MaxNodes(500))
	if err != nil {
		msg, _, _ := strings.Cut(err.Error(), "\n")
		if m := unknownName.FindStringSubmatch(msg); m != nil {
			names := slices.Sorted(maps.Keys(env))
			hint := ""
			if s := nearest(m[1], names); s != "" {
				hint = fmt.Sprintf(" (did you mean %q?)", s)
			}
			return nil, fmt.Errorf("condition %q names unknown field %q%s; it may use %s", src, m[1], hint, strings.Join(names, ", "))
		}
		return nil, fmt.Errorf("condition %q is not valid: %s", src, msg)
	}
	return &condition{src: src, prog: prog, env: env}, nil
}

// eval runs the condition over an instance's data.
func (c *condition) eval(data map[string]any, requester string) (bool, error) {
	env := make(map[string]any, len(c.env))
	for k, zero := range c.env {
		v, ok := data[k]
		if !ok || v == nil {
			v = zero
		}
		env[k] = v
	}
	env["requester"] = requester
	out, err := expr.Run(c.prog, env)
	if err != nil {
		return false, fmt.Errorf("condition %q: %w", c.src, err)
	}
	b, _ := out.(bool)
	return b, nil
}

// nearest returns the candidate closest to s by edit distance, if it is close
// enough to be a plausible typo; otherwise "".
func nearest(s string, candidates []string) string {
	best, bestD := "", len(s)/2+2
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(s), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
