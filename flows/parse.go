package flows

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"path"
	"reflect"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"text/template"
	tmplparse "text/template/parse"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// The YAML shape of a flow definition. Everything is kept as written
// (durations as strings) so validation can point at the exact field.
type rawFlow struct {
	ID          string        `yaml:"id"`
	Name        string        `yaml:"name"`
	Description string        `yaml:"description"`
	Owner       string        `yaml:"owner"`
	Command     string        `yaml:"command"`
	Prefix      string        `yaml:"prefix"`
	Title       string        `yaml:"title"`
	Form        []rawField    `yaml:"form"`
	Steps       []rawStep     `yaml:"steps"`
	Schedule    *rawSchedules `yaml:"schedule"`
	Inbound     *rawInbound   `yaml:"inbound"`
	Webhooks    []rawHook     `yaml:"webhooks"`
	// WorkingHours counts the steps' due times, reminders and escalations
	// in the directory's working hours.
	WorkingHours bool `yaml:"working_hours"`
}

type rawField struct {
	Name     string   `yaml:"name"`
	Label    string   `yaml:"label"`
	Type     string   `yaml:"type"`
	Required bool     `yaml:"required"`
	Min      *float64 `yaml:"min"`
	Max      *float64 `yaml:"max"`
	Pattern  string   `yaml:"pattern"`
	Help     string   `yaml:"help"`
	Default  any      `yaml:"default"`
	Options  []any    `yaml:"options"`
	Internal bool     `yaml:"internal"`
}

type rawStep struct {
	ID                string            `yaml:"id"`
	Name              string            `yaml:"name"`
	Type              string            `yaml:"type"`
	When              string            `yaml:"when"`
	Assignees         []string          `yaml:"assignees"`
	Policy            string            `yaml:"policy"`
	Quorum            *int              `yaml:"quorum"` // nil: not set (0 is a mistake to tell)
	AllowSelfApproval bool              `yaml:"allow_self_approval"`
	Channel           string            `yaml:"channel"`
	Due               string            `yaml:"due"`
	Remind            *rawRemind        `yaml:"remind"`
	Escalate          []rawRung         `yaml:"escalate"`
	OnTimeout         string            `yaml:"on_timeout"`
	MaxRounds         *int              `yaml:"max_rounds"` // nil: 3
	ReapproveOn       []string          `yaml:"reapprove_on"`
	Instructions      string            `yaml:"instructions"`
	Outputs           []rawField        `yaml:"outputs"`
	Message           string            `yaml:"message"`
	To                []string          `yaml:"to"`
	URL               string            `yaml:"url"`
	Secret            string            `yaml:"secret"`
	Store             map[string]string `yaml:"store"`
	Retries           *int              `yaml:"retries"`
	OnError           string            `yaml:"on_error"`
	Next              string            `yaml:"next"`
}

type rawRemind struct {
	Every string `yaml:"every"`
	Max   *int   `yaml:"max"` // nil: 3
}

type rawRung struct {
	After    string `yaml:"after"`
	Notify   string `yaml:"notify"`
	Reassign string `yaml:"reassign"`
}

// Problem is one thing wrong with a definition: where it is and what to fix.
type Problem struct {
	File string
	Line int
	Path string // e.g. steps[1].due
	Msg  string
	// Warning: the flow runs, but perhaps not as its author meant
	// (Definition.Warnings); a problem without it is an error.
	Warning bool
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteString(":" + strconv.Itoa(p.Line))
	}
	b.WriteString(": ")
	if p.Warning {
		b.WriteString("warning: ")
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// DefinitionError lists every problem found in one or more definitions.
type DefinitionError struct{ Problems []Problem }

func (e *DefinitionError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

var (
	idPattern    = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,39}$`)
	namePattern  = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)
	prefixRegexp = regexp.MustCompile(`^[A-Z][A-Z0-9]{0,7}$`)
)

// ParseDefinition parses and validates one flow definition. file names the
// source in error messages. Every problem is reported, each with its line and
// field path, in a *DefinitionError.
func ParseDefinition(file string, src []byte) (*Definition, error) {
	v := newValidator(file, nil)
	v.dropNodes = dropNodes
	src = bytes.TrimPrefix(src, utf8BOM) // some editors on Windows start a file with one
	v.src = src
	if len(src) > maxDefinitionSize {
		v.add("", "the file is %d KiB; a flow definition may be at most %d KiB (the examples are 2 KiB)", (len(src)+1023)>>10, maxDefinitionSize>>10)
		return nil, v.err()
	}
	f, docs, err := parseYAML(src)
	if err != nil {
		v.yamlError(err, nil)
		return nil, v.err()
	}
	if f == nil {
		v.add("", "a file holds exactly one flow definition; this one has %d YAML documents (lines starting with ---)", docs)
		return nil, v.err()
	}
	for _, doc := range f.Docs {
		if doc.Body != nil {
			ast.Walk(v, doc.Body)
		}
	}
	if len(f.Docs) != 1 || f.Docs[0].Body == nil {
		v.add("", "a file holds exactly one flow definition (a YAML mapping with id, name, owner, form and steps)")
		return nil, v.err()
	}
	if !v.tagsHaveValues() {
		return nil, v.err()
	}
	// The decoder stops at the first unknown key or value of the wrong type:
	// drop each one it finds (up to a point) and decode again, so that one
	// run reports them all, in the file's order, and then the other
	// problems (but for those at a dropped value's place: that it is
	// missing now was said already).
	var raw rawFlow
	dropped, ok := v.decode(f.Docs[0].Body, func() any { raw = rawFlow{}; return &raw })
	if !ok {
		return nil, v.err()
	}
	// The decoder cuts a fraction given for a whole number (quorum: 1.5
	// reads as 1): say so instead.
	for _, f := range v.floats {
		p := strings.TrimPrefix(strings.TrimPrefix(f.GetPath(), "$"), ".")
		if t, ok := v.typeAt(p); ok && t.Kind() == reflect.Int && f.Value != float64(int64(f.Value)) {
			v.add(p, "%s is not a whole number", f.GetToken().Value)
		}
	}
	// A key left empty is said with the decoder's problems: it explains
	// those of its content written beside it (remind:, then every: as an
	// unknown key). What a check says of it (no assignees, no step) is
	// said better by "it has no value", as of a value dropped.
	for _, p := range v.emptyKeys() {
		v.problems = append(v.problems, p)
		dropped = append(dropped, p.Path)
	}
	v.sortByLine()
	said := len(v.problems)
	def := v.flow(&raw)
	v.problems = append(v.problems[:said], slices.DeleteFunc(v.problems[said:], func(p Problem) bool {
		return slices.ContainsFunc(dropped, func(d string) bool {
			return p.Path == d || strings.HasPrefix(p.Path, d+".") || strings.HasPrefix(p.Path, d+"[")
		})
	})...)
	// What the checks found, top to bottom, after what the decoder did (an
	// unknown key, which often explains what follows: ownr, then no owner).
	slices.SortStableFunc(v.problems[said:], func(a, b Problem) int { return cmp.Compare(a.Line, b.Line) })
	if err := v.err(); err != nil {
		return nil, err
	}
	def.Source = file
	def.warnings = v.warnings
	return def, nil
}

// Warnings lists what the definition's file holds that runs, but perhaps
// not as its author meant, each with its line and what to do (baton
// validate prints them; they do not fail it).
func (d *Definition) Warnings() []Problem {
	out := slices.Clone(d.warnings)
	for i := range out {
		out[i].File = d.Source // as named where it was loaded (a flows directory's path)
	}
	return out
}

// line is the line of the key at path (steps[1].assignees[0]) in the
// definition's file, or of the nearest key holding it; 0 when unknown (a
// definition built in code).
func (d *Definition) line(path string) int {
	for {
		if l, ok := d.keyLines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i <= 0 {
			return d.keyLines[""]
		}
		path = path[:i]
	}
}

// emptyKeys reports each key written with no value (remind: and nothing
// after it) that holds a mapping or a list: its content is missing, most
// often written on the next lines without being indented under it.
func (v *validator) emptyKeys() []Problem {
	var out []Problem
	for _, yp := range slices.Sorted(maps.Keys(v.empty)) {
		p := strings.TrimPrefix(strings.TrimPrefix(yp, "$"), ".")
		t, ok := v.keyType(p)
		if !ok {
			continue // an unknown key, said already
		}
		key := p[strings.LastIndexAny(p, ".]")+1:]
		var msg string
		switch t.Kind() {
		case reflect.Struct:
			msg = fmt.Sprintf("%s has no value: write its keys (%s) indented under it, or remove it", key, strings.Join(structKeys(elemType(t)), ", "))
		case reflect.Slice:
			msg = fmt.Sprintf("%s has no value: list its items indented under it, each on a line starting with \"- \", or remove it", key)
		case reflect.Map:
			msg = fmt.Sprintf("%s has no value: write its entries (name: value) indented under it, or remove it", key)
		default:
			continue // a single value left empty is said by the checks that need it
		}
		out = append(out, Problem{File: v.file, Line: v.empty[yp], Path: p, Msg: msg})
	}
	return out
}

// keyType is the Go type the key at path decodes into, pointers taken off
// (a list stays a list, unlike typeAt).
func (v *validator) keyType(path string) (reflect.Type, bool) {
	parent, key := "", path
	if i := strings.LastIndex(path, "."); i >= 0 {
		parent, key = path[:i], path[i+1:]
	}
	pt, ok := v.typeAt(parent)
	if !ok {
		return nil, false
	}
	f, ok := fieldByTag(pt, key)
	if !ok {
		return nil, false
	}
	t := f.Type
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t, true
}

// elemType is what one item of t is: the element of a list, one schedule
// of a schedule key, else t.
func elemType(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t == reflect.TypeFor[rawSchedules]() {
		t = reflect.TypeFor[rawSchedule]()
	}
	return t
}

// structKeys lists the keys a struct of the format takes.
func structKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		if k := t.Field(i).Tag.Get("yaml"); k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

// emptyOwner finds, for an unknown key at path on line, the key left empty
// just before it in the same mapping that takes it (remind:, then every:
// at remind's own indentation): its name, its line, and whether it holds a
// list; "" if none.
func (v *validator) emptyOwner(path string, line int) (name string, at int, list bool) {
	parent, key := "", path
	if i := strings.LastIndex(path, "."); i >= 0 {
		parent, key = path[:i], path[i+1:]
	}
	for yp, l := range v.empty {
		p := strings.TrimPrefix(strings.TrimPrefix(yp, "$"), ".")
		pp, k := "", p
		if i := strings.LastIndex(p, "."); i >= 0 {
			pp, k = p[:i], p[i+1:]
		}
		if pp != parent || l >= line || l <= at {
			continue
		}
		t, ok := v.keyType(p)
		if !ok {
			continue
		}
		if et := elemType(t); et.Kind() == reflect.Struct && slices.Contains(structKeys(et), key) {
			name, at, list = k, l, t.Kind() == reflect.Slice
		}
	}
	return name, at, list
}

// newValidator checks a file whose document decodes into root (nil: a
// flow definition, rawFlow).
func newValidator(file string, root reflect.Type) *validator {
	return &validator{root: root, file: file, lines: map[string]int{}, byPos: map[[2]int]string{}, empty: map[string]int{}}
}

// tagsHaveValues reports whether the walked document has no custom tag
// without a value, recording the problem when it has one: goccy/go-yaml's
// decoder dereferences nil on such a tag (steps: !x).
func (v *validator) tagsHaveValues() bool {
	if v.emptyTag == "" {
		return true
	}
	v.add(strings.TrimPrefix(strings.TrimPrefix(v.emptyTag, "$"), "."), "a YAML tag (!...) here has no value; remove the tag or give it a value")
	return false
}

// decode decodes body into the value fresh returns (a new one each try).
// The decoder stops at the first unknown key or value of the wrong type:
// each one it finds (up to a point) is recorded and dropped, and body
// decoded again, so that one run reports them all. It returns the paths
// dropped; ok is false when the decoder stopped at something it cannot
// drop (its problem is recorded).
func (v *validator) decode(body ast.Node, fresh func() any) (dropped []string, ok bool) {
	ast.Walk(flowColons{}, body)
	for drops := 0; ; drops++ {
		err := decodeYAML(func() error { return yaml.NodeToValue(body, fresh(), yaml.Strict()) })
		if err == nil {
			return dropped, true
		}
		var uf *yaml.UnknownFieldError
		var te *yaml.TypeError
		var ne *yaml.UnexpectedNodeTypeError
		var ye yaml.Error
		typeErr := errors.As(err, &te) || errors.As(err, &ne)
		var entry *droppedItem
		if drops < maxDrops && (v.dropNodes == 0 || (drops+1)*v.nodes <= v.dropNodes) && (typeErr || errors.As(err, &uf)) && errors.As(err, &ye) && ye.GetToken() != nil {
			entry = dropKey(body, ye.GetToken().Position, typeErr)
		}
		dropped = append(dropped, v.yamlError(err, entry))
		if entry == nil {
			v.sortByLine()
			return dropped, false
		}
	}
}

// flowColons mends what goccy/go-yaml (v1.19.2) reads wrongly: in a flow
// sequence inside a flow mapping, a plain scalar with a colon and no space
// after it ({id: a, assignees: [person:bob]}) becomes the mapping
// {person: bob}, where YAML has the text "person:bob" (as the same list
// written on its own, or in block style, is read). Such an item is put
// back as the text it was written as. Hand-written: no version of the
// library reads it right, and the assignee syntax has exactly this shape.
type flowColons struct{}

func (flowColons) Visit(n ast.Node) ast.Visitor {
	seq, ok := n.(*ast.SequenceNode)
	if !ok || !seq.IsFlowStyle {
		return flowColons{}
	}
	for i, item := range seq.Values {
		m, ok := item.(*ast.MappingNode)
		if !ok || m.IsFlowStyle || len(m.Values) != 1 {
			continue // a mapping in braces is one as written
		}
		mv := m.Values[0]
		key, ok1 := mv.Key.(*ast.StringNode)
		val, ok2 := mv.Value.(*ast.StringNode)
		if !ok1 || !ok2 || key.Token.Type != token.StringType || val.Token.Type != token.StringType {
			continue // quoted, or not text: as written
		}
		kp, cp, vp := key.Token.Position, mv.Start.Position, val.Token.Position
		if kp.Line != vp.Line || cp.Column != kp.Column+len([]rune(key.Value)) || vp.Column != cp.Column+1 {
			continue // "key: value", with its space: a mapping indeed
		}
		tk := *key.Token
		tk.Value = key.Value + ":" + val.Value
		tk.Origin = tk.Value
		seq.Values[i] = ast.String(&tk)
	}
	return flowColons{}
}

// maxDefinitionSize and maxDocuments bound the YAML ParseDefinition reads,
// whose reading takes time growing faster than the file on some shapes: a
// 128 KiB list of 40,000 mistyped steps took 45 s to validate (see
// dropNodes), a 1 MiB one would take minutes, and each document (---) costs
// the parser time in proportion to those after it (14,500 documents: 4 s).
const (
	maxDefinitionSize = 128 << 10
	maxDocuments      = 100
)

// parseYAML parses src as parser.ParseBytes does, unless it has more than
// maxDocuments documents: then it returns their number and no file.
func parseYAML(src []byte) (f *ast.File, documents int, err error) {
	tokens := lexer.Tokenize(string(src))
	for _, tk := range tokens {
		if tk.Type == token.DocumentHeaderType {
			documents++
		}
	}
	if documents > maxDocuments {
		return nil, documents, nil
	}
	f, err = parser.Parse(tokens, 0)
	return f, documents, err
}

// utf8BOM is the byte-order mark a UTF-8 file may start with.
var utf8BOM = []byte("\xef\xbb\xbf")

// decodeYAML runs a goccy/go-yaml decode, turning a panic of the library on
// malformed input into an error: a bad file must get a message, not crash
// the validator.
func decodeYAML(decode func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the YAML could not be read (%v); check its tags (!...) and indentation", r)
		}
	}()
	return decode()
}

// maxOptionLen and maxOptions bound a choice field's options to what every
// chat platform's menus take: Slack's option text holds 75 characters, and
// its menus 100 options.
const (
	maxOptionLen = 75
	maxOptions   = 100
)

// InFlowsDir is the problem of a people directory in a flows directory.
const InFlowsDir = "this is a people directory, and every *.yaml file here is read as a flow: move it out of the flows directory (BATON_DIRECTORY names it)"

// duplicateKey is goccy/go-yaml's message for a key written twice.
var duplicateKey = regexp.MustCompile(`mapping key "([^"]+)" already defined at \[(\d+):\d+\]`)

// DefinitionFile says whether a file of a flows directory, by its name,
// holds a flow definition (*.yaml or *.yml).
func DefinitionFile(name string) bool {
	ext := strings.ToLower(path.Ext(name))
	return ext == ".yaml" || ext == ".yml"
}

// LoadDefinitions parses every *.yaml and *.yml file directly in dir of fsys.
// Problems in all files are reported together, in a *DefinitionError, with
// the definitions that parsed without any (for their clashes to be checked
// in the same run).
func LoadDefinitions(fsys fs.FS, dir string) ([]*Definition, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read flow directory %s: %w", dir, err)
	}
	var defs []*Definition
	var all DefinitionError
	for _, e := range entries {
		if e.IsDir() || !DefinitionFile(e.Name()) {
			continue
		}
		p := path.Join(dir, e.Name())
		src, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, fmt.Errorf("read flow %s: %w", p, err)
		}
		if LooksLikeDirectory(src) { // said so, not read as a flow with nonsense errors
			all.Problems = append(all.Problems, Problem{File: p, Line: 1, Msg: InFlowsDir})
			continue
		}
		d, err := ParseDefinition(p, src)
		var de *DefinitionError
		switch {
		case errors.As(err, &de):
			all.Problems = append(all.Problems, de.Problems...)
		case err != nil:
			return nil, err
		default:
			defs = append(defs, d)
		}
	}
	if len(all.Problems) > 0 {
		// The ones that parsed too, so that clashes among them are found
		// in the same run (a caller that stops at the error drops them).
		return defs, &all
	}
	return defs, nil
}

type validator struct {
	root      reflect.Type // what the document decodes into: rawFlow unless set
	file      string
	src       []byte            // the file's text, for what the parser cannot say (a line indented too little)
	emptyTag  string            // yaml path of a tag with no value
	lines     map[string]int    // yaml path -> line
	byPos     map[[2]int]string // (line, column) -> yaml path
	empty     map[string]int    // yaml path of a key written with no value -> its line
	floats    []*ast.FloatNode  // numbers with a point, checked against whole-number keys
	nodes     int               // the nodes walked: what a decode visits
	dropNodes int               // if set, bounds the nodes decode's decodes visit together (a flow's: dropNodes)
	problems  []Problem
	warnings  []Problem // Definition.Warnings
}

// Visit records the line of every node's path (ast.Visitor).
func (v *validator) Visit(n ast.Node) ast.Visitor {
	if n == nil {
		return v
	}
	v.nodes++
	if tag, ok := n.(*ast.TagNode); ok && v.emptyTag == "" && !strings.HasPrefix(tag.Start.Value, "!!") { // YAML's own tags (!!null, !!str) decode without a value
		if _, null := tag.Value.(*ast.NullNode); tag.Value == nil || null {
			v.emptyTag = tag.GetPath()
		}
	}
	if f, ok := n.(*ast.FloatNode); ok {
		v.floats = append(v.floats, f)
	}
	if mv, ok := n.(*ast.MappingValueNode); ok {
		// remind: with nothing after it (not ~ or null, written on purpose)
		if null, ok := mv.Value.(*ast.NullNode); ok && null.Token != nil && null.Token.Type == token.ImplicitNullType {
			if tk := mv.Key.GetToken(); tk != nil && tk.Position != nil {
				v.empty[mv.GetPath()] = tk.Position.Line
			}
		}
	}
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		p := n.GetPath()
		if l, ok := v.lines[p]; !ok || tk.Position.Line < l {
			v.lines[p] = tk.Position.Line
		}
		v.byPos[[2]int{tk.Position.Line, tk.Position.Column}] = p
	}
	return v
}

// maxDrops bounds the unknown keys and mistyped values reported for one
// file: each costs a decode of the whole file. dropNodes bounds, for a flow
// definition, the nodes those decodes visit together, so that a long one
// stops sooner: each mistyped item of a list costs the decoder some 15 µs,
// and 50 decodes of a 128 KiB list of 40,000 of them took 45 s (an example
// flow has 180 to 250 nodes). A people directory is not bounded so: a long
// one is usual, and right.
const (
	maxDrops  = 50
	dropNodes = 20_000
)

// dropKey removes from the tree under n what a decoding error at pos is
// about, and returns it (nil if nothing): for an unknown key, the mapping
// entry whose key is at pos; for a value of the wrong type, the outermost
// mapping entry or list item whose value starts there (a block mapping's
// value starts at its first key). It keeps an entry that holds an anchor (&name): an alias
// elsewhere would then fail, with a misleading message.
func dropKey(n ast.Node, pos *token.Position, mistyped bool) *droppedItem {
	d := &keyDropper{pos: pos, mistyped: mistyped}
	ast.Walk(d, n)
	return d.found
}

// droppedItem is what dropKey removed: a mapping entry, or (for a value of the
// wrong type in a list) a list item.
type droppedItem struct {
	path  string   // its yaml path
	line  int      // where it starts
	value ast.Node // its value
}

type keyDropper struct {
	pos      *token.Position
	mistyped bool
	found    *droppedItem
}

// at says whether n's own token is at pos.
func at(n ast.Node, pos *token.Position) bool {
	tk := n.GetToken()
	return tk != nil && tk.Position != nil && tk.Position.Line == pos.Line && tk.Position.Column == pos.Column
}

// startsAt says whether the value n starts at pos: its own token, or a block
// mapping's first key.
func startsAt(n ast.Node, pos *token.Position) bool {
	m, block := n.(*ast.MappingNode)
	return at(n, pos) || block && len(m.Values) > 0 && at(m.Values[0].Key, pos)
}

func (d *keyDropper) Visit(n ast.Node) ast.Visitor {
	if d.found != nil || d.pos == nil {
		return d
	}
	drop := func(item ast.Node, del func(), found *droppedItem) ast.Visitor {
		a := &anchorFinder{}
		if ast.Walk(a, item); !a.found {
			del()
			d.found = found
		}
		d.pos = nil // done either way
		return nil
	}
	switch c := n.(type) {
	case *ast.MappingNode:
		for i, mv := range c.Values {
			if d.mistyped && startsAt(mv.Value, d.pos) || !d.mistyped && at(mv.Key, d.pos) {
				return drop(mv, func() { c.Values = slices.Delete(c.Values, i, i+1) },
					&droppedItem{path: mv.GetPath(), line: mv.Key.GetToken().Position.Line, value: mv.Value})
			}
		}
	case *ast.SequenceNode:
		for i, item := range c.Values {
			if d.mistyped && startsAt(item, d.pos) {
				return drop(item, func() { c.Values = slices.Delete(c.Values, i, i+1) },
					&droppedItem{path: item.GetPath(), line: d.pos.Line, value: item})
			}
		}
	}
	return d
}

type anchorFinder struct{ found bool }

func (a *anchorFinder) Visit(n ast.Node) ast.Visitor {
	if _, ok := n.(*ast.AnchorNode); ok {
		a.found = true
	}
	if a.found {
		return nil
	}
	return a
}

// sortByLine puts the problems found so far (the unknown keys, which the
// decoder finds in no fixed order) in the file's order.
func (v *validator) sortByLine() {
	slices.SortStableFunc(v.problems, func(a, b Problem) int { return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Path, b.Path)) })
}

func (v *validator) err() error {
	if len(v.problems) == 0 {
		return nil
	}
	return &DefinitionError{Problems: v.problems}
}

// add records a problem at a path like "steps[1].due" (empty: the document).
func (v *validator) add(p, format string, args ...any) {
	v.problems = append(v.problems, Problem{File: v.file, Line: v.line(p), Path: p, Msg: fmt.Sprintf(format, args...)})
}

// warn records a warning (Definition.Warnings) at a path.
func (v *validator) warn(p, format string, args ...any) {
	v.warnings = append(v.warnings, Problem{File: v.file, Line: v.line(p), Path: p, Msg: fmt.Sprintf(format, args...), Warning: true})
}

// line is the line of the key at path, or of the nearest key holding it.
func (v *validator) line(p string) int {
	yp := "$"
	if p != "" {
		yp = "$." + p
	}
	for {
		if l, ok := v.lines[yp]; ok {
			return l
		}
		i := strings.LastIndexAny(yp, ".[")
		if i <= 0 {
			return 0
		}
		yp = yp[:i]
	}
}

// isGroup reports whether an assignee entry names a group (which may stand
// for any number of people).
func isGroup(a string) bool { return strings.HasPrefix(a, "group:") }

// keysAt lists the keys the format accepts beside the key at path (e.g.
// steps[0].remind.maxx: those of remind), for "did you mean"; every key
// when path leads nowhere known.
func (v *validator) keysAt(path string) []string {
	parent := ""
	if i := strings.LastIndex(path, "."); i >= 0 {
		parent = path[:i]
	}
	t, ok := v.typeAt(parent)
	if !ok || t.Kind() != reflect.Struct {
		if v.root != nil {
			return nil
		}
		return allKeys
	}
	var keys []string
	for i := range t.NumField() {
		if k := t.Field(i).Tag.Get("yaml"); k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

// typeAt is the Go type a path of the format decodes into (of an element,
// for a list): rawFlow for "", rawStep for steps[1], int for
// steps[1].quorum.
func (v *validator) typeAt(path string) (reflect.Type, bool) {
	t := v.root
	if t == nil {
		t = reflect.TypeFor[rawFlow]()
	}
	if path == "" {
		return t, true
	}
	for _, part := range strings.Split(path, ".") {
		name, _, _ := strings.Cut(part, "[")
		f, ok := fieldByTag(t, name)
		if !ok {
			return nil, false
		}
		t = f.Type
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t == reflect.TypeFor[rawSchedules]() { // one schedule or a list of them
			t = reflect.TypeFor[rawSchedule]()
		}
	}
	return t, true
}

func fieldByTag(t reflect.Type, tag string) (reflect.StructField, bool) {
	if t.Kind() != reflect.Struct {
		return reflect.StructField{}, false
	}
	for i := range t.NumField() {
		if t.Field(i).Tag.Get("yaml") == tag {
			return t.Field(i), true
		}
	}
	return reflect.StructField{}, false
}

// allKeys lists every key the format accepts.
var allKeys = func() []string {
	var keys []string
	for _, t := range []reflect.Type{reflect.TypeFor[rawFlow](), reflect.TypeFor[rawField](), reflect.TypeFor[rawStep](), reflect.TypeFor[rawRemind](), reflect.TypeFor[rawRung](),
		reflect.TypeFor[rawSchedule](), reflect.TypeFor[rawInbound](), reflect.TypeFor[rawHook]()} {
		for i := range t.NumField() {
			keys = append(keys, t.Field(i).Tag.Get("yaml"))
		}
	}
	return keys
}()

// yamlError records a problem the YAML decoder found (about entry, what was
// dropped for it, if anything), and returns its path.
func (v *validator) yamlError(err error, entry *droppedItem) string {
	var ye yaml.Error
	if !errors.As(err, &ye) || ye.GetToken() == nil || ye.GetToken().Position == nil {
		v.problems = append(v.problems, Problem{File: v.file, Msg: err.Error()})
		return ""
	}
	pos := ye.GetToken().Position
	line, got := pos.Line, ye.GetToken()
	msg := ye.GetMessage()
	p := strings.TrimPrefix(strings.TrimPrefix(v.byPos[[2]int{pos.Line, pos.Column}], "$"), ".")
	if entry != nil {
		p = strings.TrimPrefix(strings.TrimPrefix(entry.path, "$"), ".")
		line = entry.line
		if !at(entry.value, pos) {
			got = nil // a block mapping: the error is at its first key, which is not the value
		}
	}
	var uf *yaml.UnknownFieldError
	var te *yaml.TypeError
	if errors.As(err, &te) {
		want := te.DstType
		for want.Kind() == reflect.Pointer {
			want = want.Elem()
		}
		msg = typeMsg(want.Kind(), got)
	}
	var ne *yaml.UnexpectedNodeTypeError
	if errors.As(err, &ne) {
		kind := map[ast.NodeType]reflect.Kind{ast.SequenceType: reflect.Slice, ast.MappingType: reflect.Map}[ne.Expected]
		if kind == reflect.Invalid {
			kind = reflect.String
		}
		msg = typeMsg(kind, got)
	}
	if errors.As(err, &uf) {
		key := ye.GetToken().Value
		msg = fmt.Sprintf("unknown key %q", key)
		if owner, at, list := v.emptyOwner(p, line); owner != "" {
			// Not a key to remove: one of the empty key's, written at its
			// indentation instead of under it.
			msg += fmt.Sprintf(" here: it is a key of %s (line %d), which has no value; indent it under %s:", owner, at, owner)
			if list {
				msg += fmt.Sprintf(", as an item (- %s: ...)", key)
			}
		} else if s := nearest(key, v.keysAt(p)); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		} else {
			msg += "; remove it"
		}
	}
	// What the parser says of a line out of place, not of a value's own
	// syntax (an unclosed [), is perhaps a dedented child of an empty key.
	var se *yaml.SyntaxError
	if errors.As(err, &se) && (strings.Contains(msg, "not allowed in this context") || strings.Contains(msg, "unexpected key name")) {
		if hint := v.underEmpty(line); hint != "" {
			msg = hint
		}
	}
	v.problems = append(v.problems, Problem{File: v.file, Line: line, Path: p, Msg: syntaxHint(msg)})
	return p
}

// emptyKeyLine is a line holding a key and no value (remind:, - remind:),
// perhaps with a comment.
var emptyKeyLine = regexp.MustCompile(`^(\s*(?:-\s+)?)([A-Za-z_][\w-]*):\s*(?:#.*)?$`)

// underEmpty says what is wrong when the parser stops at a line indented
// less than the key left empty on the line before it (assignees:, then its
// items dedented: "value is not allowed in this context", "unexpected key
// name"), or "" when that is not the case.
func (v *validator) underEmpty(line int) string {
	lines := strings.Split(string(v.src), "\n")
	if line < 2 || line > len(lines) {
		return ""
	}
	cur := strings.TrimRight(lines[line-1], "\r")
	for prev := line - 1; prev >= 1; prev-- {
		l := strings.TrimRight(lines[prev-1], "\r")
		if t := strings.TrimSpace(l); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		m := emptyKeyLine.FindStringSubmatch(l)
		indent := len(cur) - len(strings.TrimLeft(cur, " "))
		// A list may start at its key's own indentation; nothing else may.
		if m == nil || indent > len(m[1]) || indent == len(m[1]) && strings.HasPrefix(strings.TrimSpace(cur), "-") {
			return ""
		}
		less := "less than"
		if indent == len(m[1]) {
			less = "no further in than"
		}
		return fmt.Sprintf("this line is indented %s %s: (line %d), which has no value: indent what belongs to %s under it, further in than the key", less, m[2], prev, m[2])
	}
	return ""
}

// syntaxHint adds what to fix to the YAML parser's commonest complaints,
// which say what it found but not why.
func syntaxHint(msg string) string {
	if m := duplicateKey.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("%s is written twice in one mapping (first on line %s): keep one", m[1], m[2])
	}
	switch {
	case strings.Contains(msg, "found character '\t'"):
		return "a tab: YAML indents with spaces only; replace the tab with spaces"
	case strings.Contains(msg, "mapping value is not allowed in this context"):
		return msg + `: quote a text that holds ": " (name: "a: b"), and indent a key only under the key it belongs to`
	}
	return msg
}

// templateNames reports each name a template reads from its data ({{.x}},
// {{$.x}}) that is not among known, or that later says is not written yet
// when the template is; and every read into a value, which is text
// ({{.x.y}}, index, range, {{.y}} inside {{with .x}}). It returns the names
// read, once each.
func (v *validator) templateNames(path string, t *template.Template, known []string, later func(name string) string) (read []string) {
	if t == nil || t.Tree == nil {
		return nil
	}
	seen := map[string]bool{}
	check := func(name string) {
		if seen[name] {
			return
		}
		seen[name] = true
		read = append(read, name)
		if slices.Contains(known, name) {
			if why := later(name); why != "" {
				v.add(path, "{{.%s}} %s", name, why)
			}
			return
		}
		msg := fmt.Sprintf("{{.%s}} names no field", name)
		if s := nearest(name, known); s != "" {
			msg += fmt.Sprintf(" (did you mean {{.%s}}?)", s)
		} else {
			msg += "; use a form field's name, id or requester"
		}
		v.add(path, "%s", msg)
	}
	var walk func(n tmplparse.Node, top bool)
	walk = func(n tmplparse.Node, top bool) {
		switch n := n.(type) {
		case *tmplparse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c, top)
				}
			}
		case *tmplparse.ActionNode:
			walk(n.Pipe, top)
		case *tmplparse.PipeNode:
			if n != nil {
				for _, c := range n.Cmds {
					for _, a := range c.Args {
						walk(a, top)
					}
				}
			}
		case *tmplparse.FieldNode:
			switch {
			case top:
				check(n.Ident[0])
				if len(n.Ident) > 1 && !seen["."+n.String()] {
					seen["."+n.String()] = true
					v.add(path, "{{%s}} reads a part of %s, whose value is written as text: store the part under a name of its own (a webhook step's store takes dotted paths, e.g. %s_%s: <path in the reply>.%s)",
						n.String(), n.Ident[0], n.Ident[0], n.Ident[1], n.Ident[1])
				}
			case !seen["."+n.String()]: // inside a with: dot is a field's value, which is text
				seen["."+n.String()] = true
				v.add(path, "{{%s}} inside {{with}} reads a part of a field's value, which is text: name fields with {{$.name}} there, or use {{.}} for the value itself", n.String())
			}
		case *tmplparse.IdentifierNode:
			if (n.Ident == "index" || n.Ident == "slice") && !seen[n.Ident+"()"] {
				seen[n.Ident+"()"] = true
				v.add(path, "%s reads into a list or an object, and a field's value is written as text: store the item under a name of its own (a webhook step's store takes paths like issues.0.key)", n.Ident)
			}
		case *tmplparse.VariableNode:
			if len(n.Ident) > 1 && n.Ident[0] != "$" && !seen[n.String()] { // $x := .account, then $x.k
				seen[n.String()] = true
				v.add(path, "{{%s}} reads a part of a value, which is text: name fields with {{.name}}", n.String())
			}
			if len(n.Ident) > 1 && n.Ident[0] == "$" {
				check(n.Ident[1])
				if len(n.Ident) > 2 && !seen[n.String()] {
					seen[n.String()] = true
					v.add(path, "{{%s}} reads a part of %s, whose value is written as text: store the part under a name of its own (a webhook step's store takes dotted paths)", n.String(), n.Ident[1])
				}
			}
		case *tmplparse.ChainNode:
			walk(n.Node, top)
		case *tmplparse.IfNode:
			walk(n.Pipe, top)
			walk(n.List, top)
			walk(n.ElseList, top)
		case *tmplparse.WithNode:
			walk(n.Pipe, top)
			walk(n.List, false)
			walk(n.ElseList, top)
		case *tmplparse.RangeNode:
			if !seen["range"] { // over text: it fails when the message is sent, which then shows as written
				seen["range"] = true
				v.add(path, "range goes over a list, and every field's value is text: store each item under a name of its own (a webhook step's store takes paths like issues.0.key)")
			}
			walk(n.Pipe, top)
			walk(n.List, false)
			walk(n.ElseList, top)
		}
	}
	walk(t.Tree.Root, true)
	return read
}

// printedBare returns the names a template writes as they are ({{.x}},
// {{$.x}}, {{printf "%s" .x}}, {{$v}} after {{$v := .x}}): not inside an
// if or a with on them (nor in its else: {{if not .x}}none{{else}}{{.x}}
// {{end}}), nor in or, which say what the text means when a value is not
// given.
func printedBare(t *template.Template) []string {
	if t == nil || t.Tree == nil {
		return nil
	}
	var out []string
	// vars holds the names each variable was given ({{$v := .x}}), by every
	// declaration and assignment of that name: a variable of an inner scope
	// and one of an outer by the same name are one (a warning too many
	// rather than one too few).
	vars := map[string][]string{}
	declare := func(pipe *tmplparse.PipeNode, names []string) {
		for _, d := range pipe.Decl {
			vars[d.Ident[0]] = append(vars[d.Ident[0]], names...)
		}
	}
	// read appends to names the names n reads (for a variable, those it was
	// given); written, those an or reads are left out.
	var read func(n tmplparse.Node, names []string, written bool) []string
	read = func(n tmplparse.Node, names []string, written bool) []string {
		switch n := n.(type) {
		case *tmplparse.PipeNode:
			for _, c := range n.Cmds {
				if len(c.Args) > 0 && written {
					if id, ok := c.Args[0].(*tmplparse.IdentifierNode); ok && id.Ident == "or" {
						continue
					}
				}
				for _, a := range c.Args {
					names = read(a, names, written)
				}
			}
		case *tmplparse.FieldNode:
			names = append(names, n.Ident[0])
		case *tmplparse.VariableNode:
			if n.Ident[0] != "$" {
				names = append(names, vars[n.Ident[0]]...)
			} else if len(n.Ident) > 1 {
				names = append(names, n.Ident[1])
			}
		case *tmplparse.ChainNode:
			names = read(n.Node, names, written)
		}
		return names
	}
	var walk func(n tmplparse.Node, guarded []string)
	// branches walks an if's or a with's lists: what its pipe reads is
	// guarded in both (the else is where it is empty).
	branches := func(pipe *tmplparse.PipeNode, list, elseList *tmplparse.ListNode, guarded []string) {
		reads := read(pipe, nil, false)
		declare(pipe, reads) // {{with $v := .x}}
		g := append(slices.Clip(guarded), reads...)
		walk(list, g)
		walk(elseList, g)
	}
	walk = func(n tmplparse.Node, guarded []string) {
		switch n := n.(type) {
		case *tmplparse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c, guarded)
				}
			}
		case *tmplparse.ActionNode:
			names := read(n.Pipe, nil, true)
			if len(n.Pipe.Decl) > 0 { // {{$v := .x}} writes nothing; {{$v}} writes .x
				declare(n.Pipe, names)
				return
			}
			for _, name := range names {
				if !slices.Contains(guarded, name) && !slices.Contains(out, name) {
					out = append(out, name)
				}
			}
		case *tmplparse.IfNode:
			branches(n.Pipe, n.List, n.ElseList, guarded)
		case *tmplparse.WithNode:
			branches(n.Pipe, n.List, n.ElseList, guarded)
		}
	}
	walk(t.Tree.Root, nil)
	return out
}

// typeMsg says what a value of the wrong type should be, in the words of
// the file, not Go's.
func typeMsg(want reflect.Kind, got *token.Token) string {
	var what string
	switch want {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		what = "a whole number"
	case reflect.Float32, reflect.Float64:
		what = "a number"
	case reflect.Bool:
		what = "true or false"
	case reflect.String:
		what = "a single value (quote it if it has a colon or starts with [ or {)"
	case reflect.Slice, reflect.Array:
		what = "a list ([a, b] or one \"- item\" per line)"
	default:
		what = "a mapping (key: value)"
	}
	if got != nil && (got.Type == token.DoubleQuoteType || got.Type == token.SingleQuoteType) {
		_, boolErr := strconv.ParseBool(got.Value)
		_, numErr := strconv.ParseFloat(got.Value, 64)
		if want == reflect.Bool && boolErr == nil || what != "true or false" && strings.Contains(what, "number") && numErr == nil {
			return fmt.Sprintf("%q is in quotes, which makes it text: write %s without them", got.Value, got.Value)
		}
	}
	if got != nil && got.Type != token.SequenceStartType && got.Type != token.MappingStartType &&
		got.Type != token.SequenceEntryType && got.Type != token.MappingValueType {
		return fmt.Sprintf("%q is not %s", got.Value, what)
	}
	return "this should be " + what
}

func (v *validator) flow(r *rawFlow) *Definition {
	d := &Definition{
		ID: r.ID, Name: r.Name, Description: strings.TrimSpace(r.Description), Owner: r.Owner,
		Command: cmp.Or(r.Command, r.ID), Prefix: r.Prefix, Title: r.Title, WorkingHours: r.WorkingHours,
		keyLines: map[string]int{},
	}
	for yp, l := range v.lines {
		d.keyLines[strings.TrimPrefix(strings.TrimPrefix(yp, "$"), ".")] = l
	}
	switch {
	case r.ID == "":
		v.add("id", "id is required: a short lowercase name such as purchase-request")
	case !idPattern.MatchString(r.ID):
		v.add("id", "id %q must be lowercase letters, digits, - or _, starting with a letter (at most 40)", r.ID)
	}
	if r.Name == "" {
		v.add("name", "name is required: what people call this flow")
	}
	if r.Owner == "" {
		v.add("owner", "owner is required: the person accountable for this flow (a person id from the directory)")
	} else if err := checkPersonRef(r.Owner); err != nil {
		v.add("owner", "%v", err)
	}
	if r.Command != "" && !idPattern.MatchString(r.Command) { // an empty command is the id, checked above
		v.add("command", "command %q must be one lowercase word (letters, digits, - or _)", d.Command)
	}
	if d.Prefix == "" {
		d.Prefix = defaultPrefix(r.ID)
	} else if !prefixRegexp.MatchString(d.Prefix) {
		v.add("prefix", "prefix %q must be 1-8 capital letters or digits, starting with a letter, e.g. PR", d.Prefix)
	}
	if d.Title != "" {
		t, err := template.New("title").Option("missingkey=zero").Parse(d.Title)
		if err != nil {
			v.add("title", "title is not a valid template: %v; write field names as {{.amount}}", err)
		}
		d.title = t
	}

	names := map[string]string{"requester": "a built-in name"}
	d.Form = v.fields("form", r.Form, names)
	d.Schedules = v.schedules(r.Schedule, d.Form)
	d.Inbound = v.inbound(r.Inbound)
	d.Webhooks = v.hooks(r.Webhooks)
	for i := range d.Webhooks {
		d.Webhooks[i].Name = fmt.Sprintf("%s webhook %d", d.ID, i+1)
	}
	if len(r.Steps) == 0 {
		v.add("steps", "a flow needs at least one step")
	}
	ids := map[string]int{}
	for i := range r.Steps {
		p := fmt.Sprintf("steps[%d]", i)
		s := v.step(p, &r.Steps[i], names, r.WorkingHours)
		if s.ID != "" {
			if j, dup := ids[s.ID]; dup {
				v.add(p+".id", "step id %q is already used by steps[%d]; step ids must be unique", s.ID, j)
			}
			ids[s.ID] = i
		}
		d.Steps = append(d.Steps, s)
	}
	// Templates name fields, the id and the requester (and a notify message
	// the title too); a name that is none of them would print nothing, and
	// so would a name that a step sets after the template is written: the
	// title is made from the form, a step's text before it runs.
	known := slices.Sorted(maps.Keys(names))
	known = append(known, "id")
	setIn := map[string]int{} // field -> the index of the step that sets it
	for i, s := range d.Steps {
		for f := range (&Definition{Steps: []Step{s}}).fields(true) {
			setIn[f.Name] = i
		}
	}
	setAt := func(name string) int { // the index of the step that sets name, or -1 (the form, built in)
		if i, ok := setIn[name]; ok {
			return i
		}
		return -1
	}
	titleReads := v.templateNames("title", d.title, known, func(name string) string {
		if i := setAt(name); i >= 0 {
			return fmt.Sprintf("is set by step %s, but the title is made from the start form (and again on resubmission): use form fields in it, and %s in a later step's message", d.Steps[i].ID, name)
		}
		return ""
	})
	messageReads := make([][]string, len(d.Steps))
	for i, s := range d.Steps {
		later := func(name string) string {
			switch j := setAt(name); {
			case j == i:
				return "is set by this step once it is done, and its text is written before: use it in a later step's message"
			case j > i:
				return fmt.Sprintf("is set by step %s, later: a step's text may use the form and what earlier steps set", d.Steps[j].ID)
			}
			return ""
		}
		messageReads[i] = v.templateNames(fmt.Sprintf("steps[%d].message", i), s.msg, append(known, "title"), later)
		v.templateNames(fmt.Sprintf("steps[%d].instructions", i), s.instr, append(known, "title"), later)
		// What an earlier step sets, which it may not have when this one
		// runs: written notGivenText there. Said, unless the text says
		// what then.
		for _, text := range []struct {
			key, shows string
			t          *template.Template
		}{{"message", "the message shows", s.msg}, {"instructions", "the instructions show", s.instr}} {
			for _, name := range printedBare(text.t) {
				j := setAt(name)
				if j < 0 || j >= i {
					continue
				}
				var why string
				switch sj := d.Steps[j]; {
				case sj.When != "" && sj.When != s.When:
					why = fmt.Sprintf("runs only when %s", sj.When)
				case sj.Kind == StepWebhook && sj.Webhook.OnError == "continue":
					why = "may fail and the flow go on without it (on_error: continue)"
				default:
					continue
				}
				v.warn(fmt.Sprintf("steps[%d].%s", i, text.key), "{{.%s}} is set by step %s, which %s: when it has not set it, %s \"%s\" there; say what that means with {{or .%s \"none\"}}, or leave it out with {{with .%s}}…{{end}}",
					name, d.Steps[j].ID, why, text.shows, notGivenText, name, name)
			}
		}
	}
	for f := range d.allFields() {
		d.internal = d.internal || f.Internal
	}
	if d.internal {
		for _, name := range titleReads {
			if f := d.Field(name); f != nil && f.Internal {
				d.titleInternal = true
			}
		}
	}
	v.internalToOutsiders(d, titleReads, messageReads)
	// A step's condition may use the form and what the steps before it set:
	// a later step's output is always empty when it is evaluated.
	setBy := map[string]string{} // field -> the step that sets it
	for name, i := range setIn {
		setBy[name] = d.Steps[i].ID
	}
	available := slices.Clone(d.Form)
	badNext := false
	personFields := map[string]bool{}
	choices := map[string][]string{} // the choice fields' options
	for f := range d.allFields() {
		if f.Kind == FieldPerson || f.Kind == FieldEmail {
			personFields[f.Name] = true
		}
		if f.Kind == FieldChoice {
			choices[f.Name] = f.Options
		}
	}
	for i := range d.Steps {
		s := &d.Steps[i]
		p := fmt.Sprintf("steps[%d]", i)
		if s.When != "" {
			env, dynamic := conditionEnv(available)
			outputs := map[string]string{} // the task outputs it may use
			for _, f := range available {
				if by := setBy[f.Name]; by != "" && f.Kind != "" {
					outputs[f.Name] = by
				}
			}
			c, err := compileCondition(s.When, env, dynamic, outputs)
			// A name a step sets is no typo: said as set too late, apart
			// from the names that are unknown.
			if uf := (*unknownField)(nil); errors.As(err, &uf) {
				var unknown []string
				for _, n := range uf.names {
					switch by := setBy[n]; {
					case by == s.ID:
						v.add(p+".when", "condition %q uses %q, which this step sets: its condition is checked before it runs, so it may use the form and what earlier steps set", s.When, n)
					case by != "":
						v.add(p+".when", "condition %q uses %q, which step %s sets later: a condition may use the form and what earlier steps set", s.When, n, by)
					default:
						unknown = append(unknown, n)
					}
				}
				if len(unknown) > 0 {
					v.add(p+".when", "%s", uf.about(unknown))
				}
			} else if err != nil {
				v.add(p+".when", "%v", err)
			} else if problem := choiceMismatch(s.When, choices); problem != "" {
				v.add(p+".when", "condition %q compares %s", s.When, problem)
			}
			s.cond = c
		}
		for j, a := range s.Assignees {
			if err := checkExternal(d, s, a); err != nil { // external.go
				v.add(fmt.Sprintf("%s.assignees[%d]", p, j), "%v", err)
			}
			name, ok := strings.CutPrefix(a, "field:")
			switch {
			case !ok:
			case !personFields[name]:
				v.add(fmt.Sprintf("%s.assignees[%d]", p, j), "%q names no person field; add a form field %q of type person (or type email, for someone outside the workspace), or use person:ID, group:NAME or manager", a, name)
			case !slices.ContainsFunc(available, func(f Field) bool { return f.Name == name }):
				// A task's output, set by this step or a later one: nobody
				// is named when the step is assigned.
				by := "step " + setBy[name] + " sets later"
				if setBy[name] == s.ID {
					by = "this step sets once done"
				}
				v.add(fmt.Sprintf("%s.assignees[%d]", p, j), "%q names %s, which %s: an assignee may be a person field of the form or one an earlier step sets", a, name, by)
			}
		}
		for j, to := range s.To { // a notify step's: a person field of the form, or one an earlier step sets
			name, ok := strings.CutPrefix(to, "field:")
			switch {
			case !ok:
			case !personFields[name]:
				v.add(fmt.Sprintf("%s.to[%d]", p, j), "%q names no person field; add a form field %q of type person (or type email, for someone outside the workspace), or use person:ID, group:NAME or channel:NAME", to, name)
			case !slices.ContainsFunc(available, func(f Field) bool { return f.Name == name }):
				v.add(fmt.Sprintf("%s.to[%d]", p, j), "%q names %s, which step %s sets later: a notify step may name a person field of the form or one an earlier step sets", to, name, setBy[name])
			}
		}
		v.optionalAssignees(p, s, available)
		available = slices.AppendSeq(available, (&Definition{Steps: []Step{*s}}).fields(true))
		for j, name := range s.ReapproveOn {
			if d.Field(name) == nil {
				var names []string
				for _, f := range d.Form {
					names = append(names, f.Name)
				}
				v.add(fmt.Sprintf("%s.reapprove_on[%d]", p, j), "reapprove_on %q is not a form field; name form fields whose change by a resubmission should ask this step again (%s)",
					name, someOf(names))
			}
		}
		if s.Next != "" && s.Next != EndStep {
			j, ok := ids[s.Next]
			switch {
			case !ok:
				var later []string // next only jumps forward
				for _, o := range d.Steps[i+1:] {
					later = append(later, o.ID)
				}
				hint := ""
				if g := nearest(s.Next, later); g != "" {
					hint = fmt.Sprintf(" (did you mean %q?)", g)
				}
				use := "end (it is the last step)"
				if len(later) > 0 {
					use = fmt.Sprintf("a later step (%s) or end", someOf(later))
				}
				v.add(p+".next", "next %q is not a step id%s; use %s", s.Next, hint, use)
				badNext = true
			case j <= i:
				v.add(p+".next", "next %q goes backwards; next may only jump forward (send work back with request changes instead)", s.Next)
				badNext = true
			}
		}
	}
	if badNext || len(d.Steps) == 0 {
		return d
	}
	// A step leads to its next; one with a condition also to the step below
	// it, where the flow goes when the condition is false.
	reached := make([]bool, len(d.Steps)+1)
	for todo := []int{0}; len(todo) > 0; {
		i := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		for ; i < len(d.Steps) && !reached[i]; i = d.successor(i) {
			reached[i] = true
			if d.Steps[i].When != "" {
				todo = append(todo, i+1)
			}
		}
	}
	for i := range d.Steps {
		if !reached[i] {
			v.add(fmt.Sprintf("steps[%d]", i), "step %q is never reached: an earlier step's next jumps over it; remove the step or the jump", d.Steps[i].ID)
		}
	}
	return d
}

// internalToOutsiders warns of a text that shows an internal field to
// people outside the workspace, who are otherwise never shown one: the
// title (the subject of their mail, the heading of their approval page),
// when a step may be sent to one of them; a notify step's message, when it
// is sent to one. title and messages are the names those templates read
// (messages by step). A text is written whole: Baton cannot take a value
// out of it.
func (v *validator) internalToOutsiders(d *Definition, title []string, messages [][]string) {
	if !d.internal {
		return
	}
	internal, email := map[string]bool{}, map[string]bool{}
	for f := range d.allFields() {
		internal[f.Name] = f.Internal
		email[f.Name] = f.Kind == FieldEmail
	}
	// outside: whether a step's assignee or notify target may be someone
	// outside the workspace (an address the directory may not know).
	outside := func(ref string) bool {
		name, ok := strings.CutPrefix(ref, "field:")
		return strings.HasPrefix(ref, "email:") || ok && email[name]
	}
	// shown names the internal fields among names as the template wrote
	// them, and what to say of them ("" when there are none).
	shown := func(names []string) (refs, are, them string) {
		var out []string
		for _, name := range names {
			if internal[name] {
				out = append(out, "{{."+name+"}}")
			}
		}
		switch len(out) {
		case 0:
			return "", "", ""
		case 1:
			return out[0], "is an internal field", "it"
		}
		return JoinNames(out), "are internal fields", "them"
	}
	if refs, are, them := shown(title); refs != "" {
		for i, s := range d.Steps {
			var to []string // whom the step sends the title (a task's people are all inside)
			switch s.Kind {
			case StepApproval:
				to = s.Assignees
			case StepNotify:
				to = s.To
			}
			if j := slices.IndexFunc(to, outside); j >= 0 {
				v.warn("title", "%s %s (internal: true), and the title heads what is sent to people outside the workspace (steps[%d] goes to %s, who may be one): they are shown \"%s %s-12\" (the flow's name and the request's id) instead of the title; leave %s out of the title to show them the title",
					refs, are, i, to[j], d.Name, d.Prefix, them)
				break
			}
		}
	}
	for i, s := range d.Steps {
		j := slices.IndexFunc(s.To, outside)
		if s.Kind != StepNotify || j < 0 {
			continue
		}
		if refs, are, them := shown(messages[i]); refs != "" {
			v.warn(fmt.Sprintf("steps[%d].message", i), "%s %s (internal: true), and this message goes to %s, who may be outside the workspace: they would read it; leave %s out of the message, or send it to people in the workspace only",
				refs, are, s.To[j], them)
		}
		// {{.title}} is the request's title as written, not the one people
		// outside the workspace are shown in its place (a form field named
		// title is one of the fields above).
		if d.titleInternal && !internal["title"] && slices.Contains(messages[i], "title") {
			refs, are, _ := shown(title)
			v.warn(fmt.Sprintf("steps[%d].message", i), "{{.title}} is the request's title, which reads %s (%s, internal: true), and this message goes to %s, who may be outside the workspace: they would read it; write the fields of the title that are not internal instead of {{.title}}, or send the message to people in the workspace only",
				refs, strings.TrimPrefix(strings.TrimPrefix(are, "is "), "are "), s.To[j])
		}
	}
}

// optionalAssignees warns of a step (at p) whose every assignee is a field
// (of those available to it) that may be left empty, and whose condition
// does not test it: left empty, the step goes to a stand-in (the
// requester's manager, else the owner, then an admin), which its author
// may not expect.
func (v *validator) optionalAssignees(p string, s *Step, available []Field) {
	if s.Kind != StepApproval && s.Kind != StepTask || len(s.Assignees) == 0 {
		return
	}
	var names, refs, labels, tests []string
	for _, a := range s.Assignees {
		name, ok := strings.CutPrefix(a, "field:")
		i := slices.IndexFunc(available, func(f Field) bool { return f.Name == name })
		if !ok || i < 0 || available[i].Required {
			return // someone is named, or another assignee is there
		}
		if s.cond != nil && slices.Contains(s.cond.reads, name) {
			return // the condition says what an empty one means
		}
		names, refs, labels, tests = append(names, name), append(refs, a), append(labels, available[i].Label), append(tests, name+` != ""`)
	}
	if len(names) == 1 {
		v.warn(p+".assignees", "%s names an optional field: when %s is left empty, the step goes to the requester's manager instead (else the flow's owner, then an admin); make the field required (required: true), or add when: %s to the step to skip it then",
			refs[0], labels[0], tests[0])
		return
	}
	v.warn(p+".assignees", "%s name optional fields: when %s are all left empty, the step goes to the requester's manager instead (else the flow's owner, then an admin); make one of them required (required: true), or add when: %s to the step to skip it then",
		JoinNames(refs), JoinNames(labels), strings.Join(tests, " || "))
}

func (v *validator) fields(p string, raw []rawField, names map[string]string) []Field {
	var out []Field
	for i, r := range raw {
		fp := fmt.Sprintf("%s[%d]", p, i)
		f := Field{Name: r.Name, Label: cmp.Or(r.Label, r.Name), Kind: FieldKind(r.Type), Required: r.Required,
			Min: r.Min, Max: r.Max, Pattern: r.Pattern, Help: r.Help, Internal: r.Internal}
		if r.Type == "" {
			f.Kind = FieldText
		}
		switch {
		case r.Name == "":
			v.add(fp+".name", "name is required: a lowercase identifier such as amount")
		case !namePattern.MatchString(r.Name):
			v.add(fp+".name", "name %q must be a lowercase identifier (letters, digits, _), e.g. cost_center", r.Name)
		case names[r.Name] != "":
			v.add(fp+".name", "name %q is already used by %s; field names must be unique across the form and step outputs", r.Name, names[r.Name])
		default:
			names[r.Name] = fp
		}
		if !slices.Contains(fieldKinds, f.Kind) {
			v.add(fp+".type", "type %q is not a field type; use one of %s", r.Type, joinKinds(fieldKinds))
		}
		for j, o := range r.Options {
			text := strings.TrimSpace(fmt.Sprint(o))
			switch {
			case o == nil || text == "":
				v.add(fmt.Sprintf("%s.options[%d]", fp, j), "an option is empty (null, or ~ in YAML); write the value people pick")
				continue
			case slices.Contains(f.Options, text):
				v.add(fmt.Sprintf("%s.options[%d]", fp, j), "option %q is listed twice", text)
				continue
			}
			switch o.(type) {
			case map[string]any, []any:
				v.add(fmt.Sprintf("%s.options[%d]", fp, j), "an option is one value, not a list or a map (quote it if it has a colon)")
				continue
			}
			if n := utf8.RuneCountInString(text); n > maxOptionLen {
				v.add(fmt.Sprintf("%s.options[%d]", fp, j), "option is %d characters long; keep it to %d, as much as a chat menu shows (Slack's), and say more in the field's help", n, maxOptionLen)
			}
			f.Options = append(f.Options, text)
		}
		if len(f.Options) > maxOptions {
			v.add(fp+".options", "%d options; a chat menu holds at most %d (Slack's): split the choice, or make it a text field", len(f.Options), maxOptions)
		}
		if f.Kind == FieldChoice && len(f.Options) == 0 {
			v.add(fp+".options", "a choice field needs options: a list of the values people pick from")
		}
		if f.Kind != FieldChoice && len(f.Options) > 0 {
			v.add(fp+".options", "options are only for fields of type choice")
		}
		if (f.Kind == FieldText || f.Kind == FieldLongText) && f.Max == nil {
			if f.Min != nil && *f.Min > DefaultTextMax {
				v.add(fp+".min", "min %v is above the %d characters a %s field takes when it sets no max; set max too", *f.Min, DefaultTextMax, f.Kind)
			}
			f.Max = new(float64(DefaultTextMax))
		} else if f.Min != nil && f.Max != nil && *f.Min > *f.Max {
			v.add(fp+".min", "min %v is above max %v", *f.Min, *f.Max)
		}
		if f.Kind == FieldDate { // min and max count days from the day the form is filled in
			for key, n := range map[string]*float64{"min": f.Min, "max": f.Max} {
				if n != nil && (*n != math.Trunc(*n) || math.Abs(*n) > maxDateBound) {
					v.add(fp+"."+key, "%s of a date field is a number of days from the day the form is filled in: a whole number from -%d to %d (0: today, 30: in 30 days, -7: a week ago); leave it out for no bound", key, maxDateBound, maxDateBound)
				}
			}
		}
		if f.Kind != FieldNumber && f.Kind != FieldDate { // min and max count characters
			lengths := slices.Contains([]FieldKind{FieldText, FieldLongText, FieldURL, FieldEmail}, f.Kind)
			// The shortest value a field takes: a web address has at least
			// 10 characters (https://a.b), an email address 3 (a@b).
			shortest := map[FieldKind]float64{FieldURL: 10, FieldEmail: 3}[f.Kind]
			for _, b := range []struct {
				key   string
				n     *float64
				least float64
			}{{"min", f.Min, 0}, {"max", f.Max, max(1, shortest)}} {
				switch {
				case b.n == nil:
				case !lengths:
					v.add(fp+"."+b.key, "%s is for number fields (a value), date fields (days from today) and text, longtext, url and email fields (a number of characters), not %s fields", b.key, f.Kind)
				case *b.n < b.least || *b.n != math.Trunc(*b.n):
					v.add(fp+"."+b.key, "%s of a %s field is a number of characters: a whole number, %v or more", b.key, f.Kind, b.least)
				}
			}
		}
		if r.Pattern != "" {
			// Checked alone, so that what is said of it is of the pattern as
			// written (and a ")" in it cannot close the group it is put in).
			_, err := regexp.Compile(r.Pattern)
			if err == nil {
				f.re, err = regexp.Compile("^(?:" + r.Pattern + ")$")
			}
			if err != nil {
				v.add(fp+".pattern", "pattern \"%s\" is not a valid regular expression: %s", r.Pattern, regexpWords(err))
			}
		}
		if r.Default != nil {
			f.Default = fmt.Sprint(r.Default)
			probe := f
			probe.Required = false
			if _, err := probe.Parse(f.Default); err != nil {
				v.add(fp+".default", "default %q is not a valid value: %v", f.Default, err)
			} else if f.dateBounded() {
				// Its bounds move with the days, a fixed date does not.
				v.add(fp+".default", "a date field with min or max can have no fixed default: the day it is out of bounds, every form would be refused; leave default out")
			}
		}
		out = append(out, f)
	}
	return out
}

func (v *validator) step(p string, r *rawStep, names map[string]string, working bool) Step {
	s := Step{ID: r.ID, Name: cmp.Or(r.Name, r.ID), Kind: StepKind(r.Type), When: strings.TrimSpace(r.When),
		Assignees: r.Assignees, Policy: Policy(r.Policy), Quorum: deref(r.Quorum), AllowSelfApproval: r.AllowSelfApproval,
		Channel: r.Channel, OnTimeout: Timeout(r.OnTimeout), MaxRounds: cmp.Or(deref(r.MaxRounds), 3), ReapproveOn: r.ReapproveOn, Instructions: strings.TrimSpace(r.Instructions),
		Message: r.Message, To: r.To, Next: r.Next,
		Webhook: Webhook{URL: r.URL, Secret: r.Secret, Store: r.Store, OnError: cmp.Or(r.OnError, "fail")}}
	switch {
	case r.ID == "":
		v.add(p+".id", "id is required: a short lowercase name such as manager_approval")
	case r.ID == EndStep:
		v.add(p+".id", "%q is reserved (next: end finishes the flow); pick another id", EndStep)
	case !idPattern.MatchString(r.ID):
		v.add(p+".id", "id %q must be lowercase letters, digits, - or _, starting with a letter", r.ID)
	}
	if !slices.Contains(stepKinds, s.Kind) {
		var kinds []string
		for _, k := range stepKinds {
			kinds = append(kinds, string(k))
		}
		guess := nearest(r.Type, kinds)
		if guess == "" {
			v.add(p+".type", "type %q is not a step type; use one of %s", r.Type, joinKinds(stepKinds))
			return s
		}
		// A typo: the rest of the step is checked as the kind it most
		// likely means, so every problem of the file shows in one run.
		v.add(p+".type", "type %q is not a step type (did you mean %q?); use one of %s", r.Type, guess, joinKinds(stepKinds))
		s.Kind = StepKind(guess)
	}
	human := s.Kind == StepApproval || s.Kind == StepTask
	only := func(ok bool, key, what string) {
		if !ok {
			v.add(p+"."+key, "%s is only for %s steps", key, what)
		}
	}
	// Keys that belong to other step kinds are refused rather than ignored.
	if len(r.Assignees) > 0 || r.Channel != "" || r.Remind != nil || len(r.Escalate) > 0 || r.MaxRounds != nil || r.OnTimeout != "" {
		set := map[string]bool{"assignees": len(r.Assignees) > 0, "channel": r.Channel != "", "remind": r.Remind != nil, "escalate": len(r.Escalate) > 0, "max_rounds": r.MaxRounds != nil, "on_timeout": r.OnTimeout != ""}
		for _, key := range slices.Sorted(maps.Keys(set)) { // sorted: the same problems in the same order every time
			if set[key] {
				only(human, key, "approval and task")
			}
		}
	}
	if r.Policy != "" || r.Quorum != nil || r.AllowSelfApproval || len(r.ReapproveOn) > 0 {
		only(s.Kind == StepApproval, firstSet(map[string]bool{"policy": r.Policy != "", "quorum": r.Quorum != nil, "allow_self_approval": r.AllowSelfApproval,
			"reapprove_on": len(r.ReapproveOn) > 0}), "approval")
	}
	if len(r.Outputs) > 0 || r.Instructions != "" {
		only(s.Kind == StepTask, firstSet(map[string]bool{"outputs": len(r.Outputs) > 0, "instructions": r.Instructions != ""}), "task")
	}
	if r.Message != "" || len(r.To) > 0 {
		only(s.Kind == StepNotify, firstSet(map[string]bool{"message": r.Message != "", "to": len(r.To) > 0}), "notify")
	}
	if r.URL != "" || r.Secret != "" || len(r.Store) > 0 || r.Retries != nil || r.OnError != "" {
		only(s.Kind == StepWebhook, firstSet(map[string]bool{"url": r.URL != "", "secret": r.Secret != "", "store": len(r.Store) > 0, "retries": r.Retries != nil, "on_error": r.OnError != ""}), "webhook")
	}

	if r.Due != "" {
		sp, d, err := parseSpan(r.Due)
		if err != nil {
			v.add(p+".due", "%v", err)
		}
		s.Due, s.due = d, sp
	}
	switch s.Kind {
	case StepApproval, StepTask:
		if len(r.Assignees) == 0 {
			v.add(p+".assignees", "%s step needs assignees: person:ID, group:NAME, manager, field:NAME, requester or owner", map[StepKind]string{StepApproval: "an approval", StepTask: "a task"}[s.Kind])
		}
		if s.Kind == StepApproval && !r.AllowSelfApproval && len(r.Assignees) > 0 && !slices.ContainsFunc(r.Assignees, func(a string) bool { return a != "requester" }) {
			v.add(p+".assignees", "the requester may not approve their own request, so this step would go to their manager instead; name who approves (e.g. manager), or set allow_self_approval: true")
		}
		for j, a := range r.Assignees {
			if err := checkAssignee(a); err != nil {
				v.add(fmt.Sprintf("%s.assignees[%d]", p, j), "%v", err)
			} else if i := slices.Index(r.Assignees, a); i < j {
				v.add(fmt.Sprintf("%s.assignees[%d]", p, j), "assignee %q is listed twice (also assignees[%d]); remove one", a, i)
			}
		}
		if s.Kind == StepApproval {
			q := deref(r.Quorum)
			switch {
			case r.Quorum != nil && q < 1:
				v.add(p+".quorum", "quorum must be a positive number of approvals")
			case q > 0 && r.Policy != "" && r.Policy != string(PolicyQuorum):
				v.add(p+".quorum", "quorum: %d conflicts with policy %q; keep one of them", q, r.Policy)
			case q > 0 && !slices.ContainsFunc(r.Assignees, isGroup) && q > len(r.Assignees):
				v.add(p+".quorum", "quorum: %d needs at least %d assignees, and %s listed; add people or a group, or lower the quorum", q, q, Plural(len(r.Assignees), "is", "are"))
			case q > 0:
				s.Policy = PolicyQuorum
			case r.Policy == "":
				s.Policy = PolicyAny
			case r.Policy == string(PolicyQuorum):
				v.add(p+".quorum", "policy quorum needs quorum: N, the number of approvals required")
			case r.Policy != string(PolicyAny) && r.Policy != string(PolicyAll):
				v.add(p+".policy", "policy %q is not a policy; use any or all, or set quorum: N (a key of its own, beside policy) for N approvals", r.Policy)
			}
		}
		if r.Remind != nil {
			sp, every, err := parseSpan(r.Remind.Every)
			if err != nil {
				v.add(p+".remind.every", "%v", err)
			}
			s.Remind, s.every = Remind{Every: every, Max: cmp.Or(deref(r.Remind.Max), 3)}, sp
			if r.Remind.Max != nil && *r.Remind.Max < 1 {
				v.add(p+".remind.max", "max must be a positive number of reminders")
			}
		}
		var last int64
		for j, rr := range r.Escalate {
			rp := fmt.Sprintf("%s.escalate[%d]", p, j)
			afterSpan, after, err := parseSpan(rr.After)
			switch {
			case err != nil:
				v.add(rp+".after", "%v", err)
			case working && j > 0 && len(s.after) == j:
				// In working time a day is as long as the directory's working
				// day: compare by unit, so the order holds whatever it is.
				prev := s.after[j-1]
				later, earlier := afterSpan.Weeks > prev.Weeks || afterSpan.Days > prev.Days || afterSpan.Clock > prev.Clock,
					afterSpan.Weeks < prev.Weeks || afterSpan.Days < prev.Days || afterSpan.Clock < prev.Clock
				switch {
				case !later:
					v.add(rp+".after", "after %s must be later than the rung before it", rr.After)
				case earlier:
					v.add(rp+".after", "after %s is later than %s or not depending on how long a working day is; write both in the same units (e.g. 1d and 2d, or 10h and 20h)", rr.After, r.Escalate[j-1].After)
				}
			case !working && int64(after) <= last:
				v.add(rp+".after", "after %s must be later than the rung before it", rr.After)
			}
			last = int64(after)
			switch {
			case (rr.Notify == "") == (rr.Reassign == ""):
				v.add(rp, "a rung has exactly one of notify (manager, person:ID, group:NAME, channel:NAME) or reassign (manager or person:ID)")
			case rr.Notify != "":
				if err := checkTarget(rr.Notify, true); err != nil {
					v.add(rp+".notify", "%v", err)
				}
			default:
				if err := checkTarget(rr.Reassign, false); err != nil {
					v.add(rp+".reassign", "%v", err)
				}
			}
			s.Escalate = append(s.Escalate, Rung{After: after, Notify: rr.Notify, Reassign: rr.Reassign})
			s.after = append(s.after, afterSpan)
		}
		switch s.OnTimeout {
		case "":
			s.OnTimeout = TimeoutEscalate
		case TimeoutWait, TimeoutEscalate:
		case TimeoutApprove, TimeoutReject:
			if s.Kind != StepApproval {
				v.add(p+".on_timeout", "on_timeout %s is only for approval steps; a task can escalate or wait", s.OnTimeout)
			}
		default:
			v.add(p+".on_timeout", "on_timeout %q is not allowed; use escalate, approve, reject or wait", r.OnTimeout)
		}
		if r.OnTimeout != "" && r.Due == "" {
			v.add(p+".on_timeout", "on_timeout needs due: the time after which it applies")
		}
		if (s.OnTimeout == TimeoutApprove || s.OnTimeout == TimeoutReject) && s.Due > 0 {
			// The step ends at due, and its timers with it: a rung from then
			// on would be promised on the card and never happen.
			for j, a := range s.after {
				if notBefore(a, s.due, s.Escalate[j].After, s.Due, working) {
					v.add(fmt.Sprintf("%s.escalate[%d].after", p, j), "after %s is not before due %s, and on_timeout: %s ends the step at due, so this rung would never happen; make it earlier than due, or set on_timeout: wait to keep the step open", r.Escalate[j].After, r.Due, s.OnTimeout)
				}
			}
			// So would every reminder.
			if s.Remind.Every > 0 && notBefore(s.every, s.due, s.Remind.Every, s.Due, working) {
				v.add(p+".remind.every", "every %s is not shorter than due %s, and on_timeout: %s ends the step at due, so no reminder would be sent; remind more often, or set on_timeout: wait to keep the step open", r.Remind.Every, r.Due, s.OnTimeout)
			}
		}
		if r.MaxRounds != nil && *r.MaxRounds < 1 {
			v.add(p+".max_rounds", "max_rounds must be a positive number (1: no resubmission)")
		}
		s.Outputs = v.fields(p+".outputs", r.Outputs, names)
		if strings.Contains(s.Instructions, "{{") {
			if t, err := template.New(r.ID).Option("missingkey=zero").Parse(s.Instructions); err != nil {
				v.add(p+".instructions", "instructions are not a valid template: %v; write field names as {{.account}}", err)
			} else {
				s.instr = t
			}
		}
	case StepNotify:
		if strings.TrimSpace(r.Message) == "" {
			v.add(p+".message", "a notify step needs a message")
		} else if t, err := template.New(r.ID).Option("missingkey=zero").Parse(r.Message); err != nil {
			v.add(p+".message", "message is not a valid template: %v; write field names as {{.amount}}", err)
		} else {
			s.msg = t
		}
		if len(r.To) == 0 {
			v.add(p+".to", "a notify step needs to: requester, manager, owner, person:ID, group:NAME, channel:NAME or field:NAME")
		}
		for j, t := range r.To {
			if t == "requester" || t == "owner" || strings.HasPrefix(t, "field:") { // a field: checked with the flow's fields
				continue
			}
			if err := checkTarget(t, true); err != nil {
				v.add(fmt.Sprintf("%s.to[%d]", p, j), "%v; a notify step also takes requester, owner or field:NAME", err)
			}
		}
		if r.Due != "" {
			v.add(p+".due", "due is only for approval, task and webhook steps")
		}
	case StepWebhook:
		if r.URL == "" {
			v.add(p+".url", "a webhook step needs a url: the http:// or https:// address it POSTs the request to")
		} else if err := CheckHookURL(r.URL); err != nil { // says only the scheme and host: a URL may hold credentials
			v.add(p+".url", "%v", err)
		}
		s.Webhook.Retries = 5
		if r.Retries != nil {
			if *r.Retries < 0 || *r.Retries > 20 {
				v.add(p+".retries", "retries must be between 0 and 20")
			}
			s.Webhook.Retries = *r.Retries
		}
		if s.Webhook.OnError != "fail" && s.Webhook.OnError != "continue" {
			v.add(p+".on_error", "on_error %q is not allowed; use fail or continue", r.OnError)
		}
		for _, name := range slices.Sorted(maps.Keys(r.Store)) {
			sp := p + ".store." + name
			switch {
			case !namePattern.MatchString(name):
				v.add(sp, "store key %q must be a lowercase identifier", name)
			case names[name] != "":
				v.add(sp, "store key %q is already used by %s; pick a new field name", name, names[name])
			default:
				names[name] = sp
			}
			if strings.TrimSpace(r.Store[name]) == "" {
				v.add(sp, "give the path of the value in the JSON reply, e.g. id or ticket.key")
			}
		}
	}
	return s
}

// regexpWords says what is wrong with a pattern, from Go's error, in words
// and with what to do.
func regexpWords(err error) string {
	var se *syntax.Error
	if !errors.As(err, &se) {
		return err.Error()
	}
	at := se.Expr
	switch se.Code {
	case syntax.ErrMissingBracket:
		return fmt.Sprintf("the [ of \"%s\" opens a set of characters and nothing closes it: add the ] (as in [A-Z]), or write \\[ for the character [", at)
	case syntax.ErrMissingParen:
		return fmt.Sprintf("a ( in \"%s\" opens a group and nothing closes it: add the ), or write \\( for the character (", at)
	case syntax.ErrUnexpectedParen:
		return fmt.Sprintf("a ) in \"%s\" closes no group: remove it, or write \\) for the character )", at)
	case syntax.ErrMissingRepeatArgument:
		return fmt.Sprintf("%s repeats nothing: put it after what it repeats (as in [0-9]+), or write it with a \\ before it for the character itself", at)
	case syntax.ErrInvalidRepeatOp:
		return fmt.Sprintf("%s repeats a repetition: write one of *, + and ? (a ? after one, as in +?, makes it match as little as it can)", at)
	case syntax.ErrInvalidRepeatSize:
		return fmt.Sprintf("%s is not a count: write {n}, {n,} or {n,m}, with n no more than m and at most 1000", at)
	case syntax.ErrInvalidEscape:
		return fmt.Sprintf("%s is not an escape Go's regular expressions know: write \\\\ for a backslash", at)
	case syntax.ErrTrailingBackslash:
		return "it ends in a lone \\: remove it, or write \\\\ for a backslash"
	case syntax.ErrInvalidCharRange:
		return fmt.Sprintf("%s is not a range: write the lower end first (a-z, 0-9), or put a - meant as itself last ([a-z-])", at)
	case syntax.ErrInvalidCharClass:
		return fmt.Sprintf("%s is not a class of characters Go's regular expressions know ([:alpha:], [:digit:], \\d, \\w, \\s, \\pL...)", at)
	case syntax.ErrInvalidPerlOp:
		return fmt.Sprintf("%s is not supported: Go's regular expressions have no lookahead or lookbehind ((?=, (?!, (?<=, (?<!) and no backreferences", at)
	case syntax.ErrInvalidNamedCapture:
		return fmt.Sprintf("%s is not a named group: write (?P<name>...), the name of letters, digits and _", at)
	}
	return fmt.Sprintf("%s (at \"%s\")", se.Code, at)
}

// checkAssignee validates an assignee reference.
func checkAssignee(a string) error {
	switch a {
	case "manager", "requester", "owner":
		return nil
	}
	kind, name, ok := strings.Cut(a, ":")
	if ok && name != "" && (kind == "person" || kind == "group" || kind == "field") {
		if strings.ContainsAny(name, " \t\n,") {
			return fmt.Errorf("assignee %q: %q is not one %s name; list each assignee on its own, e.g. [person:bob, person:carol]", a, name, kind)
		}
		return nil
	}
	if ok && kind == "email" {
		if !ValidEmail(name) {
			return fmt.Errorf("assignee %q: %q is not an email address; write email:name@example.com", a, name)
		}
		return nil
	}
	return fmt.Errorf("assignee %q is not understood; use person:ID, group:NAME, manager, field:NAME, email:ADDRESS, requester or owner", a)
}

// checkTarget validates a notify or reassign target.
func checkTarget(t string, notify bool) error {
	if t == "manager" {
		return nil
	}
	kind, name, ok := strings.Cut(t, ":")
	if ok && name != "" && (kind == "person" || notify && (kind == "channel" || kind == "group")) {
		if strings.ContainsAny(name, " \t\n,") {
			return fmt.Errorf("%q: %q is not one %s name (one word, as in the directory)", t, name, kind)
		}
		return nil
	}
	if notify {
		return fmt.Errorf("%q is not understood; use manager, person:ID, group:NAME or channel:NAME", t)
	}
	return fmt.Errorf("%q is not understood; reassign to manager or person:ID", t)
}

func checkPersonRef(id string) error {
	if strings.ContainsAny(id, " \t\n,") {
		return fmt.Errorf("%q is not a person id (one word, as in the directory)", id)
	}
	return nil
}

func defaultPrefix(id string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(id) {
		if r >= 'A' && r <= 'Z' {
			b.WriteRune(r)
		}
		if b.Len() == 3 {
			break
		}
	}
	if b.Len() == 0 {
		return "REQ"
	}
	return b.String()
}

// maxListed is the most names a problem lists (someOf).
const maxListed = 20

// someOf lists names, or the first maxListed of them and how many more: a
// problem said of each of many items does not list them all each time
// (8,000 steps, each with a next that is no step, wrote 227 MB).
func someOf(names []string) string {
	if len(names) <= maxListed {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:maxListed], ", "), len(names)-maxListed)
}

func joinKinds[T ~string](ks []T) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

func firstSet(m map[string]bool) string {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if m[k] {
			return k
		}
	}
	return ""
}

// deref is *p, or the zero value when p is nil (a key not written).
func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}
