package bot

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
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
	err := checkValue(dec, "", jsonNames(v))
	var dup *nameError
	if errors.As(err, &dup) {
		return err
	}
	return nil // not JSON, or cut short: the decoder's error says so
}

// nameError is a name CheckJSON refuses.
type nameError struct{ msg string }

func (e *nameError) Error() string { return e.msg }

// checkValue reads one value. path is where it is, for the error ("" for
// the body, "data" for a member of it); names, if not nil, are the exact
// names its members may have.
func checkValue(dec *json.Decoder, path string, names []string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			name, _ := tok.(string)
			at := name
			if path != "" {
				at = path + "." + name
			}
			if seen[name] {
				return &nameError{fmt.Sprintf("%q is given twice: send each name once", at)}
			}
			seen[name] = true
			if names != nil && !slices.Contains(names, name) {
				for _, n := range names {
					if strings.EqualFold(n, name) {
						return &nameError{fmt.Sprintf("%q: names are case-sensitive; did you mean %q?", at, n)}
					}
				}
			}
			if err := checkValue(dec, at, nil); err != nil {
				return err
			}
		}
		_, err = dec.Token() // }
		return err
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			if err := checkValue(dec, fmt.Sprintf("%s[%d]", path, i), nil); err != nil {
				return err
			}
		}
		_, err = dec.Token() // ]
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
