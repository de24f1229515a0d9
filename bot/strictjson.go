package bot

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// CheckJSON reports what encoding/json lets through in a request body, to
// be decoded into v, and a sender should hear about instead: a name given
// twice in one object (encoding/json keeps the last, so a proxy that reads
// the first sees another request than Baton does), and, when v points to
// a struct, a name of the body's object that is one of the struct's JSON
// names spelt in another case (encoding/json would take "Flow" for
// "flow"). Any other name is left to the decoder (DisallowUnknownFields, or
// a map's). A body that is not JSON passes: the decoder says what is wrong
// with it.
//
// Hand-written: encoding/json has no option for either, and json/v2, which
// rejects both, is still an experiment.
func CheckJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	c := checker{dec: dec}
	err := c.value(jsonNames(v))
	var dup *nameError
	if errors.As(err, &dup) {
		return err
	}
	return nil // not JSON, cut short or too deep: the decoder's error says so
}

// maxDepth is how deep CheckJSON looks: as deep as encoding/json reads.
const maxDepth = 10000

// nameError is a name CheckJSON refuses.
type nameError struct{ msg string }

func (e *nameError) Error() string { return e.msg }

// errTooDeep stops a walk past maxDepth.
var errTooDeep = errors.New("nested too deep")

// checker walks one body. path holds where the walk is, a segment per
// level (".name" or "[i]"), made a string only for an error: each value's
// work stays the same however deep it is.
type checker struct {
	dec  *json.Decoder
	path []string
}

func (c *checker) at() string { return strings.TrimPrefix(strings.Join(c.path, ""), ".") }

// value reads one value; names, if not nil, are the exact names its
// members may have.
func (c *checker) value(names []string) error {
	if len(c.path) > maxDepth {
		return errTooDeep
	}
	tok, err := c.dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for c.dec.More() {
			tok, err := c.dec.Token()
			if err != nil {
				return err
			}
			name, _ := tok.(string)
			c.path = append(c.path, "."+name)
			if seen[name] {
				return &nameError{fmt.Sprintf("%q is given twice: send each name once", c.at())}
			}
			seen[name] = true
			if names != nil && !slices.Contains(names, name) {
				for _, n := range names {
					if strings.EqualFold(n, name) {
						return &nameError{fmt.Sprintf("%q: names are case-sensitive; did you mean %q?", c.at(), n)}
					}
				}
			}
			if err := c.value(nil); err != nil {
				return err
			}
			c.path = c.path[:len(c.path)-1]
		}
		_, err = c.dec.Token() // }
		return err
	case json.Delim('['):
		for i := 0; c.dec.More(); i++ {
			c.path = append(c.path, "["+strconv.Itoa(i)+"]")
			if err := c.value(nil); err != nil {
				return err
			}
			c.path = c.path[:len(c.path)-1]
		}
		_, err = c.dec.Token() // ]
		return err
	}
	return nil
}

// jsonNames returns the JSON names of the fields of the struct v points to,
// or nil if v points to no struct.
func jsonNames(v any) []string {
	t := reflect.TypeOf(v)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil
	}
	t = t.Elem()
	names := []string{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case !f.IsExported() || name == "-":
		case name == "":
			names = append(names, f.Name)
		default:
			names = append(names, name)
		}
	}
	return names
}
