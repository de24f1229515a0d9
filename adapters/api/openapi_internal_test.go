package api

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/batonbot/baton/flows"
)

// TestOpenAPIDescribesEveryField: each name a response can carry is a
// property of its schema in openapi.json, so the document does not fall
// behind the code (omitempty names too: they appear when set).
func TestOpenAPIDescribesEveryField(t *testing.T) {
	t.Parallel()
	var doc struct {
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		schema string // a schema, or schema.property for the items of an array property
		v      any
	}{
		{"Summary", summary{}},
		{"Instance", instanceView{Instance: &flows.Instance{}}},
		{"AuditEntry", flows.AuditEntry{}},
		{"HookAttempt", flows.HookAttempt{}},
		{"Flow", flowView{}},
		{"Flow.form", fieldView{}},
		{"Flow.steps", stepView{}},
		{"Instance.tasks", flows.Task{}},
		{"Instance.timers", flows.Timer{}},
		{"Instance.changes", flows.Change{}},
		{"Instance.history", flows.StepRecord{}},
		{"Outcome", outcome{}},
		{"ErrorBody", apiError{}},
		{"HookEvent", flows.HookEvent{}},
		{"HookInstance", flows.HookInstance{}},
	} {
		name, items, _ := strings.Cut(c.schema, ".")
		props := schemaProps(t, doc.Components.Schemas, doc.Components.Schemas[name], items)
		for _, k := range jsonKeys(reflect.TypeOf(c.v)) {
			if !slices.Contains(props, k) {
				t.Errorf("schema %s does not describe %q", c.schema, k)
			}
		}
	}
}

// schemaProps returns the property names of a schema (through $ref and
// allOf), or of the items of its array property items.
func schemaProps(t *testing.T, all map[string]json.RawMessage, raw json.RawMessage, items string) []string {
	t.Helper()
	var s struct {
		Ref        string                     `json:"$ref"`
		AllOf      []json.RawMessage          `json:"allOf"`
		Properties map[string]json.RawMessage `json:"properties"`
		Items      json.RawMessage            `json:"items"`
	}
	if err := json.Unmarshal(raw, &s); err != nil || raw == nil {
		t.Fatalf("schema %s: %v", raw, err)
	}
	if s.Ref != "" {
		return schemaProps(t, all, all[strings.TrimPrefix(s.Ref, "#/components/schemas/")], items)
	}
	if items != "" {
		prop := s.Properties[items]
		for _, a := range s.AllOf { // the property may come from a part
			if prop == nil {
				var part struct {
					Properties map[string]json.RawMessage `json:"properties"`
				}
				_ = json.Unmarshal(a, &part)
				prop = part.Properties[items]
			}
		}
		var p struct {
			Items json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(prop, &p); err != nil || p.Items == nil {
			t.Fatalf("no items for %s: %v", items, err)
		}
		return schemaProps(t, all, p.Items, "")
	}
	var out []string
	for k := range s.Properties {
		out = append(out, k)
	}
	for _, a := range s.AllOf {
		out = append(out, schemaProps(t, all, a, "")...)
	}
	return out
}

// jsonKeys returns the JSON names encoding/json gives the fields of a
// struct type, embedded structs' included.
func jsonKeys(t reflect.Type) []string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-" || !f.IsExported() && !f.Anonymous:
		case f.Anonymous && name == "":
			out = append(out, jsonKeys(f.Type)...)
		case name == "":
			out = append(out, f.Name)
		default:
			out = append(out, name)
		}
	}
	return out
}

// TestOpenAPIOutcomeWords: the outcomes openapi.json lists are the ones
// Baton gives.
func TestOpenAPIOutcomeWords(t *testing.T) {
	t.Parallel()
	var doc struct {
		Components struct {
			Schemas struct {
				OutcomeWord struct {
					Enum []string `json:"enum"`
				} `json:"OutcomeWord"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	if got := doc.Components.Schemas.OutcomeWord.Enum; !slices.Equal(got, flows.Outcomes) {
		t.Errorf("openapi.json's outcomes %v, Baton's %v", got, flows.Outcomes)
	}
}
