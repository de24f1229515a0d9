package flows

import (
	"cmp"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
)

// exprPosition is the position expr-lang adds to a run-time error: " (1:1)".
var exprPosition = regexp.MustCompile(`\s*\(\d+:\d+\)$`)

// A condition is a step's `when`, written in expr-lang
// (https://expr-lang.org): comparisons, && || !, arithmetic, `in`,
// contains/startsWith/endsWith/matches and a few pure functions
// (conditionBuiltins). It can read form fields, step outputs, webhook-stored
// values and `requester`; it cannot call out, loop, bind variables or read
// the clock, so it is a pure function of the request that finishes quickly.
type condition struct {
	src     string
	prog    *vm.Program
	env     map[string]any    // zero values of every typed name, for fields left empty
	dynamic []string          // names whose type is only known at run time (webhook replies)
	reads   []string          // the names it reads
	outputs map[string]string // the task outputs it reads, with the step that sets each
}

// conditionBuiltins are the functions a condition may call. None of them can
// make its result much larger than its input. The others expr-lang offers
// are refused: closures (map, filter, reduce…) and `let` can run for minutes
// or exhaust memory (reduce(1..60, #acc + #acc, "x")), replace and repeat can
// blow a string up a millionfold, and now/date read the clock.
var conditionBuiltins = []string{"len", "abs", "ceil", "floor", "round", "int", "float", "string",
	"trim", "trimPrefix", "trimSuffix", "upper", "lower", "split", "indexOf", "lastIndexOf",
	"hasPrefix", "hasSuffix", "max", "min", "first", "last"}

// maxConditionLen bounds a condition's source: a `when` is one line of logic.
const maxConditionLen = 1000

// conditionEnv returns the typed names a condition may use (with their zero
// values) and the names whose type only a webhook's reply decides.
func conditionEnv(fields []Field) (map[string]any, []string) {
	env := map[string]any{"requester": ""}
	var dynamic []string
	for _, f := range fields {
		switch f.Kind {
		case FieldNumber:
			env[f.Name] = float64(0)
		case "":
			dynamic = append(dynamic, f.Name)
		default:
			env[f.Name] = ""
		}
	}
	return env, dynamic
}

// unknownField is a condition naming fields it may not use.
type unknownField struct {
	src   string
	names []string // in the order the condition names them
	known []string // what it may use
}

func (e *unknownField) Error() string { return e.about(e.names) }

// about says what is wrong with the condition's names among names, each
// with the nearest it may use.
func (e *unknownField) about(names []string) string {
	var named []string
	for _, u := range names {
		hint := ""
		if s := nearest(u, e.known); s != "" {
			hint = fmt.Sprintf(" (did you mean %q?)", s)
		}
		named = append(named, fmt.Sprintf("%q%s", u, hint))
	}
	what := "field " + named[0]
	if len(named) > 1 {
		what = "fields " + JoinNames(named)
	}
	return fmt.Sprintf("condition %q names unknown %s; it may use %s", e.src, what, someOf(e.known))
}

// compileCondition compiles src over the typed names env and the names
// dynamic. outputs are the names among env that a task step sets (with the
// step): read as stored values, one is not known when its step was skipped
// by someone (eval).
func compileCondition(src string, env map[string]any, dynamic []string, outputs map[string]string) (*condition, error) {
	if len(src) > maxConditionLen {
		return nil, fmt.Errorf("condition is %d characters long, more than %d; split the logic over steps or simplify it", len(src), maxConditionLen)
	}
	names := append(slices.Collect(maps.Keys(env)), dynamic...)
	slices.Sort(names)
	var read []string // the names it reads
	if tree, err := parser.Parse(src); err == nil {
		check := conditionCheck{names: names}
		ast.Walk(&tree.Node, &check)
		refused := cmp.Or(check.builtin, check.construct) // a closure's own names are no field: say what is refused first
		if refused != "" {
			return nil, fmt.Errorf("condition %q uses %s, which conditions do not allow; compare fields with == != < > <= >=, combine with && || !, and use in, contains, startsWith, endsWith, matches or %s()", src, refused, strings.Join(conditionBuiltins, "(), "))
		}
		if len(check.unknown) > 0 { // every one, so that one run shows them all
			return nil, &unknownField{src: src, names: check.unknown, known: names}
		}
		read = check.read
	}
	compile := func(stored []string) (*vm.Program, error) { // reading the names stored through storedFunc
		opts := []expr.Option{expr.Env(env), expr.AllowUndefinedVariables(), expr.AsBool(), expr.DisableAllBuiltins(), expr.MaxNodes(500),
			expr.Patch(storedPatcher(stored)), expr.Function(storedFunc, readStored)}
		for _, b := range conditionBuiltins {
			opts = append(opts, expr.EnableBuiltin(b))
		}
		return expr.Compile(src, opts...)
	}
	prog, err := compile(dynamic)
	if err != nil {
		msg, _, _ := strings.Cut(err.Error(), "\n")
		return nil, fmt.Errorf("condition %q is not valid: %s", src, conditionWords(src, msg, env))
	}
	c := &condition{src: src, prog: prog, env: env, dynamic: dynamic, reads: read}
	// Checked with their types (above), run as stored values: the outputs
	// of a task step someone skipped are not known, and the condition fails
	// safe, as for a webhook's reply without a field (otherwise risk ==
	// "high" is false when nobody said what risk is, and an approval is
	// passed over).
	for _, n := range read {
		if step, ok := outputs[n]; ok {
			if c.outputs == nil {
				c.outputs = map[string]string{}
			}
			c.outputs[n] = step
		}
	}
	if len(c.outputs) > 0 {
		if c.prog, err = compile(append(slices.Clone(dynamic), slices.Collect(maps.Keys(c.outputs))...)); err != nil {
			msg, _, _ := strings.Cut(err.Error(), "\n")
			return nil, fmt.Errorf("condition %q is not valid: %s", src, msg)
		}
	}
	return c, nil
}

// commaNumber is a number written with grouping commas (1,000).
var commaNumber = regexp.MustCompile(`\b\d{1,3}(?:,\d{3})+(?:\.\d+)?\b`)

// loneEquals is a = that is not part of ==, !=, <= or >=.
var loneEquals = regexp.MustCompile(`([^=!<>])=([^=])`)

// goTypes names expr-lang's words for a value's type (Go's) in a flow
// author's.
var goTypes = strings.NewReplacer("float64", "a number", "int", "a number", "string", "a text", "bool", "true or false")

// conditionWords says what expr-lang's compile error msg means for a
// condition src over env, in words and with the fix, for the commonest
// mistakes; msg as it is for the others.
func conditionWords(src, msg string, env map[string]any) string {
	msg = exprPosition.ReplaceAllString(msg, "")
	switch {
	case strings.Contains(msg, `unexpected token Operator("=")`):
		return fmt.Sprintf("= is not a comparison; use == to compare: %s", loneEquals.ReplaceAllString(src, "$1==$2"))
	case strings.Contains(msg, `unexpected token Operator(",")`) && commaNumber.MatchString(src):
		n := commaNumber.FindString(src)
		return fmt.Sprintf("%s: numbers are written without grouping commas; write %s (or %s)", n, strings.ReplaceAll(n, ",", ""), strings.ReplaceAll(n, ",", "_"))
	case strings.Contains(msg, "mismatched types"):
		if w := mismatchWords(src, env); w != "" {
			return w
		}
		return goTypes.Replace(msg)
	}
	return msg
}

// mismatchWords says which comparison of src compares a field with a value
// of another kind (amount > "500", amount a number field), and how to
// write it; "" if none does.
func mismatchWords(src string, env map[string]any) string {
	m := mismatch{env: env}
	walk(src, &m)
	return m.words
}

// walk walks v over src's syntax tree; a src that does not parse is not
// walked (its error is said elsewhere).
func walk(src string, v ast.Visitor) {
	if tree, err := parser.Parse(src); err == nil {
		ast.Walk(&tree.Node, v)
	}
}

type mismatch struct {
	env   map[string]any
	words string
}

func (m *mismatch) Visit(n *ast.Node) {
	b, ok := (*n).(*ast.BinaryNode)
	if !ok || m.words != "" || !slices.Contains([]string{"==", "!=", "<", ">", "<=", ">="}, b.Operator) {
		return
	}
	field := func(n ast.Node) (string, any, bool) {
		id, ok := n.(*ast.IdentifierNode)
		if !ok {
			return "", nil, false
		}
		v, ok := m.env[id.Value]
		return id.Value, v, ok
	}
	kind := func(v any) string {
		if kindOf(v) == "a number" {
			return "is a number field"
		}
		return "holds text"
	}
	name, v, ok := field(b.Left)
	lit, op := b.Right, b.Operator
	if !ok { // the field on the right (500 < amount): the advice puts it first, the comparison mirrored
		name, v, ok = field(b.Right)
		lit = b.Left
		op = cmp.Or(map[string]string{"<": ">", ">": "<", "<=": ">=", ">=": "<="}[op], op)
	}
	if !ok {
		return
	}
	if other, ov, ok := field(lit); ok && kindOf(ov) != kindOf(v) {
		m.words = fmt.Sprintf("%s %s and %s %s: they cannot be compared", name, kind(v), other, kind(ov))
		return
	}
	switch l := lit.(type) {
	case *ast.StringNode:
		if kindOf(v) != "a number" {
			return
		}
		m.words = fmt.Sprintf("%s is a number field, and %q is a text", name, l.Value)
		if _, err := strconv.ParseFloat(l.Value, 64); err == nil {
			m.words += fmt.Sprintf("; write the number without quotes: %s %s %s", name, op, l.Value)
		} else {
			m.words += "; compare it with a number (written without quotes)"
		}
	case *ast.IntegerNode, *ast.FloatNode:
		if kindOf(v) == "a number" {
			return
		}
		var num string
		if i, ok := l.(*ast.IntegerNode); ok {
			num = strconv.Itoa(i.Value)
		} else {
			num = strconv.FormatFloat(l.(*ast.FloatNode).Value, 'f', -1, 64)
		}
		m.words = fmt.Sprintf("%s holds text, and %s is a number; compare it with a text, in quotes: %s %s %q", name, num, name, op, num)
	case *ast.BoolNode:
		m.words = fmt.Sprintf("%s %s, and %v is true or false; compare it with a %s", name, kind(v), l.Value, map[bool]string{true: "number", false: "text, in quotes"}[kindOf(v) == "a number"])
	}
}

// storedFunc reads a name whose value only a step's run stores (a webhook
// reply's field): conditions read each such name through it (storedPatcher),
// so that one the request does not have is an error, and the condition fails
// safe, rather than nil, which == and != compare without complaint (risk ==
// "high" would be false, and an approval passed over). Reads are lazy, so
// a guard stays a guard: amount > 5000 && risk == "high" needs no risk for
// a small amount.
const storedFunc = "_baton_stored"

func readStored(params ...any) (any, error) {
	name, _ := params[0].(string)
	env, _ := params[1].(map[string]any)
	v, ok := env[name]
	if !ok {
		return nil, fmt.Errorf("%s is not known: no step stored it (a webhook's reply without it, or a step that did not run)", name)
	}
	// Compared with == or != to a literal (storedPatcher): one of another
	// kind is an error, not a false (risk == "high" with risk 7 would pass
	// an approval over when a reply changed its type).
	if len(params) == 3 && kindOf(v) != kindOf(params[2]) {
		return nil, fmt.Errorf("%s is %s, but the condition compares it with %s", name, describe(v), describe(params[2]))
	}
	return v, nil
}

// kindOf is the kind of a condition's value: number, text, yes/no, or
// another (nil, a list, an object).
func kindOf(v any) string {
	switch v.(type) {
	case string:
		return "a text"
	case bool:
		return "true or false"
	case int, int64, float64:
		return "a number"
	case nil:
		return "null"
	}
	return "a list or an object"
}

func describe(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q (a text)", s)
	}
	if k := kindOf(v); k != "a number" && k != "true or false" {
		return k
	}
	return fmt.Sprintf("%v (%s)", v, kindOf(v))
}

// storedPatcher rewrites each use of a name in dynamic as a call of
// storedFunc with the name and the environment, except where the condition
// itself says what a missing value means: risk ?? "low", ticket == nil,
// ticket != nil, and reply?.code under either (reply?.code ?? 0) read the
// name as it is (nil when missing). A bare reply?.code == "x" still fails
// safe: ?. says the value may be missing, not what that means. The walk
// visits children first, so a parent puts such a child back.
type storedPatcher []string

func (p storedPatcher) Visit(n *ast.Node) {
	switch x := (*n).(type) {
	case *ast.IdentifierNode:
		if slices.Contains(p, x.Value) {
			ast.Patch(n, &ast.CallNode{Callee: &ast.IdentifierNode{Value: storedFunc},
				Arguments: []ast.Node{&ast.StringNode{Value: x.Value}, &ast.IdentifierNode{Value: "$env"}}})
		}
	case *ast.BinaryNode:
		switch {
		case x.Operator == "??":
			unpatchNilAware(&x.Left)
		case x.Operator == "==" || x.Operator == "!=":
			if _, ok := x.Right.(*ast.NilNode); ok {
				unpatchNilAware(&x.Left)
			}
			if _, ok := x.Left.(*ast.NilNode); ok {
				unpatchNilAware(&x.Right)
			}
			// A stored value compared with a literal is read with the
			// literal, whose kind it must have (readStored).
			withLiteral(x.Left, x.Right)
			withLiteral(x.Right, x.Left)
		}
	}
}

// withLiteral passes lit to n, if n reads a stored value and lit is a
// literal text, number or true/false.
func withLiteral(n, lit ast.Node) {
	c, ok := n.(*ast.CallNode)
	if !ok || len(c.Arguments) != 2 {
		return
	}
	if callee, ok := c.Callee.(*ast.IdentifierNode); !ok || callee.Value != storedFunc {
		return
	}
	switch lit.(type) {
	case *ast.StringNode, *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode:
		c.Arguments = append(c.Arguments, lit)
	}
}

// unpatchNilAware puts back the names of n that a nil-aware parent reads as
// they are: n itself, the base of an optional chain (reply?.code), and the
// last value of a chain of ?? (a ?? b ?? "low" is (a ?? b) ?? "low": b).
func unpatchNilAware(n *ast.Node) {
	switch x := (*n).(type) {
	case *ast.CallNode:
		unpatchStored(n)
	case *ast.ChainNode:
		unpatchNilAware(&x.Node)
	case *ast.MemberNode:
		if base, ok := x.Node.(*ast.MemberNode); ok && base.Optional {
			unpatchNilAware(&x.Node)
		} else if x.Optional {
			unpatchStored(&x.Node)
		}
	case *ast.BinaryNode:
		if x.Operator == "??" {
			unpatchNilAware(&x.Right)
		}
	}
}

// unpatchStored turns a storedFunc call made by storedPatcher back into the
// plain name.
func unpatchStored(n *ast.Node) {
	if c, ok := (*n).(*ast.CallNode); ok && len(c.Arguments) == 2 {
		if callee, ok := c.Callee.(*ast.IdentifierNode); ok && callee.Value == storedFunc {
			if name, ok := c.Arguments[0].(*ast.StringNode); ok {
				ast.Patch(n, &ast.IdentifierNode{Value: name.Value})
			}
		}
	}
}

// conditionCheck finds the names, and the first function and construct, a
// condition may not use.
type conditionCheck struct {
	names              []string
	unknown            []string // every name it may not use, in order
	read               []string // every name it reads
	builtin, construct string
}

func (c *conditionCheck) Visit(n *ast.Node) {
	switch x := (*n).(type) {
	case *ast.IdentifierNode:
		if !slices.Contains(c.read, x.Value) {
			c.read = append(c.read, x.Value)
		}
		if !slices.Contains(c.names, x.Value) && !slices.Contains(c.unknown, x.Value) {
			c.unknown = append(c.unknown, x.Value)
		}
	case *ast.VariableDeclaratorNode:
		c.construct = cmp.Or(c.construct, "let")
	case *ast.PredicateNode, *ast.PointerNode:
		c.construct = cmp.Or(c.construct, "a closure")
	case *ast.BuiltinNode:
		if !slices.Contains(conditionBuiltins, x.Name) {
			c.builtin = cmp.Or(c.builtin, x.Name+"()")
		}
	}
}

// choiceInProblem says what is wrong with op (in, not in) testing a choice
// field with a list holding a text that is none of its options; item is the
// field, the text, then the options.
func choiceInProblem(op string, item []string) string {
	field, text, opts := item[0], item[1], item[2:]
	never := map[string]string{"in": "it never matches", "not in": "it never excludes anything"}[op]
	p := fmt.Sprintf("%s %s [...] with %q: %q is not one of %s's options (%s), so %s", field, op, text, text, field, strings.Join(opts, ", "), never)
	if s := nearest(text, opts); s != "" {
		p += fmt.Sprintf("; did you mean %q?", s)
	}
	return p
}

// choiceMismatch returns what is wrong with a condition comparing a choice
// field with a text that is none of its options (level == "Admin" where the
// options are read, write and admin: never true), or "". options are the
// choice fields' options, by name.
func choiceMismatch(src string, options map[string][]string) string {
	c := choiceCheck{options: options}
	walk(src, &c)
	return c.problem
}

type choiceCheck struct {
	options map[string][]string
	problem string
	in      ast.Node // the "in" whose item is the problem (a "not" around it says "not in")
	item    []string // its field, item and the options, for saying it again
}

func (c *choiceCheck) Visit(n *ast.Node) {
	if u, ok := (*n).(*ast.UnaryNode); ok && u.Operator == "not" && c.in != nil && u.Node == c.in { // level not in [...]
		c.problem = choiceInProblem("not in", c.item)
		c.in = nil
		return
	}
	b, ok := (*n).(*ast.BinaryNode)
	if !ok || c.problem != "" {
		return
	}
	if b.Operator == "in" || b.Operator == "not in" { // level in ["read", "Admin"]: each item
		id, ok1 := b.Left.(*ast.IdentifierNode)
		arr, ok2 := b.Right.(*ast.ArrayNode)
		if !ok1 || !ok2 {
			return
		}
		opts, choice := c.options[id.Value]
		if !choice {
			return
		}
		for _, item := range arr.Nodes {
			if str, ok := item.(*ast.StringNode); ok && str.Value != "" && !slices.Contains(opts, str.Value) {
				c.in, c.item = b, append([]string{id.Value, str.Value}, opts...)
				c.problem = choiceInProblem(b.Operator, c.item)
				return
			}
		}
		return
	}
	if b.Operator != "==" && b.Operator != "!=" {
		return
	}
	id, ok1 := b.Left.(*ast.IdentifierNode)
	str, ok2 := b.Right.(*ast.StringNode)
	if !ok1 || !ok2 {
		id, ok1 = b.Right.(*ast.IdentifierNode)
		str, ok2 = b.Left.(*ast.StringNode)
	}
	if !ok1 || !ok2 {
		return
	}
	opts, choice := c.options[id.Value]
	if !choice || str.Value == "" || slices.Contains(opts, str.Value) { // "": is it set at all
		return
	}
	c.problem = fmt.Sprintf("%s %s %q: %q is not one of %s's options (%s), so this is always %v", id.Value, b.Operator, str.Value, str.Value, id.Value,
		strings.Join(opts, ", "), b.Operator == "!=")
	if s := nearest(str.Value, opts); s != "" {
		c.problem += fmt.Sprintf("; did you mean %q?", s)
	}
}

// eval runs the condition over a request's data, in the request in (nil:
// one no step of which was skipped by someone): an output of a task step
// someone skipped is not known (compileCondition). One a step passed over by
// its own condition, or not reached, did not set is empty, as a field left
// empty.
func (c *condition) eval(data map[string]any, requester string, in *Instance) (bool, error) {
	env := make(map[string]any, len(c.env)+len(c.dynamic)+1) // +1: requester
	for k, zero := range c.env {
		v, ok := data[k]
		if !ok || v == nil {
			if step, out := c.outputs[k]; out && in != nil && in.skippedByHand(step) {
				continue
			}
			v = zero
		}
		env[k] = v
	}
	for _, k := range c.dynamic {
		if v, ok := data[k]; ok {
			env[k] = v
		}
	}
	env["requester"] = requester
	out, err := expr.Run(c.prog, env)
	if err != nil {
		msg, _, _ := strings.Cut(err.Error(), "\n")
		// Read by people (a requester's notice, the timeline): the
		// condition as written, not quoted, and no position in it.
		msg = exprPosition.ReplaceAllString(msg, "")
		return false, fmt.Errorf("%s (in its condition, %s)", msg, c.src)
	}
	b, _ := out.(bool)
	return b, nil
}

// Nearest returns the candidate closest to s by edit distance, if it is
// close enough to be a plausible typo; otherwise "".
func Nearest(s string, candidates []string) string { return nearest(s, candidates) }

// nearest returns the candidate closest to s by edit distance, if it is close
// enough to be a plausible typo (about one edit in three); otherwise "".
func nearest(s string, candidates []string) string {
	best, bestD := "", len([]rune(s))/3+2
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(s), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and transpositions of neighbours ("stauts" is one
// edit from "status", the commonest kind of typo) each cost 1.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
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
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
