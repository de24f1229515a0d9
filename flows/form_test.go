package flows_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/batonbot/baton/flows"
)

// kindsFlow has one field of every kind, with every constraint.
const kindsFlow = `
id: kinds
name: Every kind
owner: olivia
form:
  - {name: title, type: text, required: true, min: 3, max: 10}
  - {name: body, label: Body, type: longtext, min: 4, max: 20}
  - {name: amount, label: Amount, type: number, min: 1, max: 1000000}
  - {name: color, label: Color, type: choice, options: [red, green], default: green}
  - {name: day, label: Day, type: date}
  - {name: who, label: Who, type: person}
  - {name: link, label: Link, type: url}
  - {name: code, label: Code, pattern: "[A-Z]{2}-[0-9]+", help: like AB-12}
  - {name: count, label: Count, type: number, default: 5}
  - {name: flag, label: Flag, type: choice, options: [yes, no, 3]}
steps:
  - {id: s, type: notify, to: [requester], message: hi}
`

func TestFieldKindsAndConstraints(t *testing.T) {
	t.Parallel()
	def := mustParse(t, kindsFlow)
	tests := []struct {
		field, raw string
		want       any    // the typed value (nil: left empty)
		err        string // the message, when refused
	}{
		{field: "title", raw: "", err: "title is required"},
		{field: "title", raw: "   ", err: "title is required"},
		{field: "title", raw: "ab", err: "title must be at least 3 characters"},
		{field: "title", raw: "abcdefghijk", err: "title must be at most 10 characters"},
		{field: "title", raw: "  héllo  ", want: "héllo"},
		{field: "title", raw: "ééééééééé", want: "ééééééééé"}, // 9 characters, 18 bytes
		{field: "body", raw: "", want: nil},
		{field: "body", raw: "  two\n lines \n\n", want: "  two\n lines"},
		{field: "body", raw: strings.Repeat("x", 21), err: "Body must be at most 20 characters"},
		{field: "body", raw: "          x", err: "Body must be at least 4 characters"}, // spaces are no content
		{field: "title", raw: "a\nb", err: "title must be on one line"},
		{field: "title", raw: "a\r\nb", err: "title must be on one line"},
		{field: "title", raw: "a\x00bcd", err: "title has an invisible control character (U+0000); remove it"},
		{field: "title", raw: "abc\x1b[31m", err: "title has an invisible control character (U+001B)"},
		{field: "title", raw: "abc\u0085d", err: "title must be on one line"}, // NEL is a line break
		{field: "title", raw: "abc\u0090d", err: "title has an invisible control character (U+0090)"},
		{field: "title", raw: "abc\xff\xfe", err: "title has bytes that are not text (UTF-8)"},
		{field: "title", raw: "\u202eevil", err: "title has an invisible text-direction override (U+202E); remove it"},
		{field: "title", raw: "\u202bשלום\u202c", want: "\u202bשלום\u202c"},     // an embedding, as word processors write right-to-left text
		{field: "title", raw: "by \u2068דנה\u2069", want: "by \u2068דנה\u2069"}, // an isolate, as phones do
		{field: "title", raw: "a\tb c", want: "a\tb c"},
		{field: "title", raw: "שלום עולם", want: "שלום עולם"},    // right-to-left text itself is text
		{field: "body", raw: "two\r\nlines", want: "two\nlines"}, // Windows' line ends
		{field: "body", raw: "one\rtwo", want: "one\ntwo"},       // a lone CR is a line break too
		{field: "body", raw: "a\u202dbcd", err: "Body has an invisible text-direction override (U+202D)"},
		{field: "body", raw: "page one\fpage two", want: "page one\npage two"}, // a PDF's page break
		{field: "body", raw: "soft\vreturn\u2028here", want: "soft\nreturn\nhere"},
		{field: "link", raw: "https://example.com/\x7f", err: "Link has an invisible control character (U+007F)"},
		{field: "amount", raw: "1,500", want: 1500.0},
		{field: "amount", raw: " 2.5 ", want: 2.5},
		{field: "amount", raw: "abc", err: "Amount must be a number"},
		{field: "amount", raw: "0", err: "Amount must be at least 1"},
		{field: "amount", raw: "2000000", err: "Amount must be at most 1,000,000"},
		{field: "amount", raw: "NaN", err: "Amount must be a number"},
		{field: "amount", raw: "1e400", err: "Amount must be a number"},
		{field: "count", raw: "Inf", err: "Count must be a number"},
		{field: "count", raw: "-infinity", err: "Count must be a number"},
		{field: "count", raw: "-3", want: -3.0},
		{field: "color", raw: "red", want: "red"},
		{field: "color", raw: "blue", err: "Color must be one of: red, green"},
		{field: "flag", raw: "3", want: "3"},
		{field: "day", raw: "2026-12-31", want: "2026-12-31"},
		{field: "day", raw: "2026-02-30", err: "Day must be a date like 2026-12-31"},
		{field: "day", raw: "31/12/2026", err: "Day must be a date like 2026-12-31"},
		{field: "who", raw: "ivan", want: "ivan"},
		{field: "who", raw: "Ivan Petrov", err: "Who must be one person, by their id or email"},
		{field: "link", raw: "https://example.com/q", want: "https://example.com/q"},
		{field: "link", raw: "http://example.com", want: "http://example.com"},
		{field: "link", raw: "HTTPS://EXAMPLE.COM/Q", want: "https://EXAMPLE.COM/Q"},
		{field: "link", raw: "ftp://example.com/q", err: "Link must be a web address starting with https:// or http://"},
		{field: "link", raw: "https://a", err: "Link must be a web address"},
		{field: "link", raw: "https://exa mple.com", err: "Link must be a web address"},
		{field: "code", raw: "AB-12", want: "AB-12"},
		{field: "code", raw: "ab-12", err: "Code does not have the expected format (like AB-12)"},
		{field: "code", raw: "XAB-12", err: "Code does not have the expected format"}, // anchored
	}
	for _, tt := range tests {
		t.Run(tt.field+"="+tt.raw, func(t *testing.T) {
			t.Parallel()
			f := def.Field(tt.field)
			if f == nil {
				t.Fatalf("no field %s", tt.field)
			}
			got, err := f.Parse(tt.raw)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Parse(%q) = %v, %v; want error %q", tt.raw, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Parse(%q) = %#v, %v; want %#v", tt.raw, got, err, tt.want)
			}
		})
	}
}

// Commas in a number are thousands separators or a mistake: removing them
// all would read a decimal comma (999,99) as a hundred times the amount.
func TestNumberCommas(t *testing.T) {
	t.Parallel()
	f := mustParse(t, kindsFlow).Field("count") // a number without bounds
	const grouping = "Count must be a number: use a dot for decimals, and commas only between groups of three digits (12,345.5)"
	tests := []struct {
		raw  string
		want float64
		err  string // the whole message, when refused
	}{
		{raw: "1,234", want: 1234},
		{raw: "1,500", want: 1500},
		{raw: "12,345,678.5", want: 12345678.5},
		{raw: "999,999", want: 999999},
		{raw: "-1,234.25", want: -1234.25},
		{raw: "+1,000", want: 1000},
		{raw: "1234.5", want: 1234.5},
		{raw: "999,99", err: "Count must be a number: write 999.99, with a dot for decimals"},
		{raw: "1,5", err: "Count must be a number: write 1.5, with a dot for decimals"},
		// A dot before three digits may group thousands (most of Europe).
		{raw: "1.500", err: "Count: 1.500 could be 1500 or 1.5 (a dot may group thousands); write 1500, or 1.5 for the decimal"},
		{raw: "1.125", err: "Count: 1.125 could be 1125 or 1.125 (a dot may group thousands); write 1125, or 1.1250 for the decimal"},
		{raw: "1.1250", want: 1.125},
		{raw: "-12.000", err: "Count: -12.000 could be -12000 or -12 (a dot may group thousands); write -12000, or -12 for the decimal"},
		{raw: "1.250.000", err: "Count must be a number: write 1250000, without dots between thousands"},
		{raw: "0.125", want: 0.125},
		{raw: "1 500", err: "Count must be a number: write 1500, without spaces"},
		{raw: "12\u00a0000.5", err: "Count must be a number: write 12000.5, without spaces"},
		{raw: "1 5x", err: "Count must be a number"},
		{raw: "1 5", err: "Count must be a number"},
		{raw: "in f", err: "Count must be a number"},
		{raw: "1. 500", err: "Count must be a number"},
		{raw: "-1 000", err: "Count must be a number: write -1000, without spaces"},
		{raw: "1\u202f000\u202f000", err: "Count must be a number: write 1000000, without spaces"},
		{raw: "1 500,50", err: "Count must be a number: write 1500.50, with a dot for decimals"},
		{raw: flows.ProgramNumber("1.125"), want: 1.125}, // a JSON number's dot is a decimal point
		{raw: flows.ProgramNumber("-12.500"), want: -12.5},
		{raw: "1.5", want: 1.5},
		{raw: "1500.000", want: 1500},
		{raw: "0,500", err: "Count must be a number: write 0.500, with a dot for decimals"},
		{raw: "-2,75", err: "Count must be a number: write -2.75, with a dot for decimals"},
		// A comma with no digits after it is a stray one: no decimal to suggest.
		{raw: "1500,", err: "Count must be a number: use a dot for decimals, and commas only between groups of three digits (12,345.5)"},
		{raw: "1,2345", err: "Count must be a number: write 1.2345, with a dot for decimals"},
		{raw: "1.234,56", err: grouping},
		{raw: "12,34,567", err: grouping},
		{raw: "1,234,56", err: grouping},
		{raw: "1234,567", err: "Count must be a number: write 1234.567, with a dot for decimals"},
		{raw: ",5", err: "Count must be a number: write .5, with a dot for decimals"},
		{raw: "1,,234", err: grouping},
		{raw: "1,234.5,6", err: grouping},
		{raw: "a,b", err: grouping},
		{raw: "NaN,1", err: grouping},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			t.Parallel()
			got, err := f.Parse(tt.raw)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("Parse(%q) = %v, %v; want error %q", tt.raw, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Parse(%q) = %#v, %v; want %v", tt.raw, got, err, tt.want)
			}
		})
	}
}

func TestParseForm(t *testing.T) {
	t.Parallel()
	def := mustParse(t, kindsFlow)

	t.Run("defaults and typed values", func(t *testing.T) {
		t.Parallel()
		got, err := flows.ParseForm(def.Form, form("title", "Pens", "amount", "12"))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"title": "Pens", "amount": 12.0, "color": "green", "count": 5.0}
		if len(got) != len(want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("%s = %#v, want %#v", k, got[k], v)
			}
		}
		// What the engine stores must survive storage (JSON).
		if _, err := json.Marshal(got); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("every problem, by field, and unknown keys", func(t *testing.T) {
		t.Parallel()
		_, err := flows.ParseForm(def.Form, form("title", "x", "amount", "lots", "colour", "red"))
		var fe flows.FieldErrors
		if !errors.As(err, &fe) {
			t.Fatalf("error %v is not FieldErrors", err)
		}
		want := flows.FieldErrors{
			"title":  "title must be at least 3 characters",
			"amount": "Amount must be a number",
			"colour": "colour is not a field of this form",
		}
		if len(fe) != len(want) {
			t.Fatalf("got %v, want %v", fe, want)
		}
		for k, v := range want {
			if fe[k] != v {
				t.Fatalf("%s: %q, want %q", k, fe[k], v)
			}
		}
		// The message lists them in field-name order.
		if got := err.Error(); got != "invalid form: Amount must be a number; colour is not a field of this form; title must be at least 3 characters" {
			t.Fatalf("message %q", got)
		}
	})

	// A text or longtext field whose flow sets no max takes
	// DefaultTextMax characters, as Slack's text inputs do, wherever the
	// value comes from (here a form of code: the field "code" has none).
	t.Run("a text field with no max takes 3000 characters", func(t *testing.T) {
		t.Parallel()
		plain := mustParse(t, `
id: plain
name: Plain
owner: olivia
form:
  - {name: item}
  - {name: notes, label: Notes, type: longtext}
  - {name: quote, label: Quote, type: longtext, max: 5000}
steps:
  - {id: s, type: notify, to: [requester], message: hi}
`)
		if _, err := flows.ParseForm(plain.Form, form("item", strings.Repeat("é", 3000), "notes", strings.Repeat("x\n", 1500), "quote", strings.Repeat("q", 5000))); err != nil {
			t.Errorf("3000 characters (a flow's own max: 5000): %v", err)
		}
		_, err := flows.ParseForm(plain.Form, form("item", strings.Repeat("x", 900_000), "notes", strings.Repeat("x", 3001)))
		var fe flows.FieldErrors
		if !errors.As(err, &fe) || fe["item"] != "item must be at most 3000 characters" || fe["notes"] != "Notes must be at most 3000 characters" {
			t.Errorf("over 3000 characters: %v", err)
		}
		for _, f := range plain.Form {
			if want := map[string]float64{"item": 3000, "notes": 3000, "quote": 5000}[f.Name]; f.Max == nil || *f.Max != want {
				t.Errorf("%s: max %v, want %v (what every surface's input offers)", f.Name, f.Max, want)
			}
		}
	})

	t.Run("an explicit empty value does not take the default", func(t *testing.T) {
		t.Parallel()
		got, err := flows.ParseForm(def.Form, form("title", "Pens", "count", ""))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := got["count"]; ok {
			t.Fatalf("count = %v, want it left empty", got["count"])
		}
	})
}

func TestFormatValue(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   any
		want string
	}{
		{nil, ""}, {"x", "x"}, {12.0, "12"}, {1234.0, "1234"}, {12345.0, "12,345"},
		{1234567.0, "1,234,567"}, {-12345.0, "-12,345"}, {2.5, "2.5"}, {true, "true"},
		{99999.5, "99,999.5"}, {-12345.25, "-12,345.25"}, {1234.5, "1234.5"}, {-0.5, "-0.5"}, {1e20, "100,000,000,000,000,000,000"},
	} {
		if got := flows.FormatValue(tt.in); got != tt.want {
			t.Errorf("FormatValue(%#v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDurations(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want string // time.Duration.String, or the error
	}{
		{"30m", "30m0s"}, {"4h", "4h0m0s"}, {"2d", "48h0m0s"}, {"1w", "168h0m0s"},
		{"1d12h", "36h0m0s"}, {" 1.5h ", "1h30m0s"}, {"90s", "1m30s"},
		{"", "empty duration"}, {"3", "invalid duration"}, {"h", "invalid duration"},
		{"3y", `unknown unit "y"`}, {"0h", "longer than zero"}, {"1..5h", "invalid duration"},
		{"-3h", `invalid duration "-3h": a duration cannot be negative; write it without the minus, e.g. 3h`}, {"99999999999999w", "too long"},
		{"0.5s", "the shortest is 1s"}, {"90min", "write 90m, not 90min"}, {"1day", "write 1d, not 1day"},
		{"2hours", "write 2h, not 2hours"}, {"3months", "months vary in length; write weeks or days (w, d), e.g. 8w or 60d"}, {"500ms", "the shortest is 1s"}, {"5000ms", "write 5s, not 5000ms"}, {"1500ms", "write 2s, not 1500ms"}, {"2yrs", "yrs is no unit; a unit is one letter"}, {"1d 12h", "write it without spaces, e.g. 1d12h"},
		{"1h-30m", `invalid duration "1h-30m": write numbers and units with no signs, e.g. 30m, 4h, 1h30m`}, {"-", "with no signs"}, {"-.5h", "cannot be negative; write it without the minus, e.g. .5h"}, {"-h", "with no signs"}, {"+2h", "with no signs"},
		// Every part fits but the sum does not: it must not wrap around.
		{"53375d53375d53375d53375d53375d", "too long"},
		// A unit's letters are runes, not bytes: these panicked (0xcb alone is no 'Ë'; U+0375,
		// bytes 0xcd 0xb5, is no letter, though 'Í' and 'µ' are), in a flow's due: too.
		{"00\xcbA00", `unknown unit "\xcb"`}, {"1\u0375", "unknown unit \"\u0375\""}, {"5é", `unknown unit "é"`}, {"5éé", "éé is no unit"},
	} {
		d, err := flows.ParseDuration(tt.in)
		got := d.String()
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, tt.want) {
			t.Errorf("ParseDuration(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	for _, tt := range []struct {
		in   string
		want string
	}{{"45s", "45 s"}, {"45m", "45 min"}, {"100s", "1 min 40 s"}, {"3h", "3 h"}, {"3h20m", "3 h 20 min"}, {"2d", "2 d"}, {"2d4h", "2 d 4 h"}} {
		d, _ := flows.ParseDuration(tt.in)
		if got := flows.FormatDuration(d); got != tt.want {
			t.Errorf("FormatDuration(%s) = %q, want %q", tt.in, got, tt.want)
		}
		if got := flows.FormatDuration(-d); got != tt.want {
			t.Errorf("FormatDuration(-%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// Every problem of a form is told at once: a person field naming no one in
// the directory beside a missing required field.
func TestFormProblemsAllAtOnce(t *testing.T) {
	t.Parallel()
	e := exampleEngine(t)
	def, _ := e.Flow("content")
	_, err := e.ParseForm(def, "alice", map[string]string{"headline": "", "draft": "https://docs.example.com/d/2", "editor": "nobody"})
	var fe flows.FieldErrors
	if !errors.As(err, &fe) || !strings.Contains(fe["headline"], "Headline is required") ||
		!strings.Contains(fe["editor"], `"nobody" is not a person in the directory`) || len(fe) != 2 {
		t.Fatalf("errors %v, want the headline's and the editor's", err)
	}
}

// The requester may not name themselves where the field names who approves
// (unless the step allows self-approval): at the start, and on resubmitting.
func TestFormRefusesTheRequesterAsTheirOwnApprover(t *testing.T) {
	t.Parallel()
	e := exampleEngine(t)
	def, _ := e.Flow("content")
	input := map[string]string{"headline": "Launch", "draft": "https://docs.example.com/d/2", "editor": "Alice"}
	_, err := e.ParseForm(def, "alice", input)
	var fe flows.FieldErrors
	if !errors.As(err, &fe) || fe["editor"] != "Editor: you are making this request, so you may not approve it (Editorial review); pick someone else" {
		t.Fatalf("error %v, want a field error on the editor", err)
	}
	if _, err := e.ParseForm(def, "bob", input); err != nil {
		t.Fatalf("bob naming Alice as his editor: %v", err)
	}
	r := newRun(t, e)
	if _, err := r.try(flows.Event{Kind: flows.EventStart, Instance: "X-1", Flow: "content", Actor: "alice", Data: input}); !errors.As(err, &fe) {
		t.Fatalf("start naming oneself: %v, want a field error", err)
	}
	input["editor"] = "ivan"
	r.start("content", "alice", input)
	r.act(flows.EventRequestChanges, "ivan", reason("shorter"))
	input["editor"] = "alice"
	r.inputErr(flows.Event{Kind: flows.EventResubmit, Actor: "alice", Data: input}, "you are making this request, so you may not approve it")

	// An email field naming an approver: her own address is her.
	def = mustParse(t, `
id: mail
name: Mail
owner: olivia
form:
  - {name: approver, type: email, required: true}
steps:
  - {id: s, type: approval, assignees: ["field:approver"]}
`)
	e, err = flows.NewEngine([]*flows.Definition{def}, testDir(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ParseForm(def, "alice", map[string]string{"approver": "ALICE@example.com"}); !errors.As(err, &fe) || !strings.Contains(fe["approver"], "you are making this request") {
		t.Fatalf("alice naming her own address: %v", err)
	}
	if _, err := e.ParseForm(def, "alice", map[string]string{"approver": "counsel@lawfirm.example"}); err != nil {
		t.Fatalf("someone outside: %v", err)
	}
}

// A date field's min and max count days from the requester's today, at the
// start and for a date changed on resubmitting; a date kept as it was stays
// good (a receipt's date cannot be made later).
func TestDateBounds(t *testing.T) {
	t.Parallel()
	e := newEngine(t, `
id: buy
name: Buy
owner: olivia
form:
  - {name: item, type: text, required: true}
  - {name: needed_by, label: Needed by, type: date, min: 0, max: 90}
  - {name: went, label: Went, type: date, max: -1}
steps:
  - {id: boss, type: approval, assignees: [manager]}
`)
	for _, tt := range []struct {
		who, date, went string
		now             time.Time
		want            string
	}{
		{"alice", "2026-11-26", "", t0, ""},
		{"alice", "2027-02-24", "2026-11-25", t0, ""},
		{"alice", "2026-11-25", "", t0, "Needed by must be today (2026-11-26) or later"},
		{"alice", "2027-02-25", "", t0, "Needed by must be 2027-02-24 or earlier"},
		{"alice", "", "2026-11-26", t0, "Went must be 2026-11-25 or earlier"},
		// 23:30 UTC is already the 27th in Paris, dana's zone, not in London, alice's.
		{"alice", "2026-11-26", "", t0.Add(14*time.Hour + 30*time.Minute), ""},
		{"dana", "2026-11-26", "", t0.Add(14*time.Hour + 30*time.Minute), "Needed by must be today (2026-11-27) or later"},
	} {
		_, err := e.Apply(nil, flows.Event{Kind: flows.EventStart, Key: "s", Instance: "X-1", Flow: "buy", Actor: tt.who,
			Data: form("item", "Desk", "needed_by", tt.date, "went", tt.went)}, tt.now)
		var fe flows.FieldErrors
		got := ""
		if errors.As(err, &fe) {
			got = fe["needed_by"] + fe["went"]
		} else if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("%s, %q/%q at %s: %q, want %q", tt.who, tt.date, tt.went, tt.now, got, tt.want)
		}
	}
	// ParseForm, the check before an id is reserved, leaves the bounds to
	// the start: a retried start comes through it whatever the day.
	def, _ := e.Flow("buy")
	if _, err := e.ParseForm(def, "alice", form("item", "Desk", "needed_by", "2020-01-01")); err != nil {
		t.Errorf("ParseForm checked a bound: %v", err)
	}

	r := newRun(t, e)
	r.start("buy", "alice", form("item", "Desk", "needed_by", "2026-11-27", "went", "2026-11-20"))
	r.act(flows.EventRequestChanges, "bob", reason("a cheaper one"))
	r.now = r.now.Add(72 * time.Hour)
	r.inputErr(flows.Event{Kind: flows.EventResubmit, Instance: "X-1", Actor: "alice", Data: form("item", "Stool", "needed_by", "2026-11-28", "went", "2026-11-20")},
		"Needed by must be today (2026-11-29) or later")
	r.act(flows.EventResubmit, "alice", data("item", "Stool", "needed_by", "2026-11-27", "went", "2026-11-20")) // as they were: still good

	for src, want := range map[string]string{
		"{name: d, type: date, min: 0.5}":                    "a whole number from -36500 to 36500",
		"{name: d, type: date, max: .inf}":                   "a whole number from -36500 to 36500",
		"{name: d, type: date, min: -1e19}":                  "a whole number from -36500 to 36500",
		"{name: d, type: date, min: 0, default: 2026-12-01}": "can have no fixed default",
	} {
		_, err := flows.ParseDefinition("x.yaml", []byte("id: x\nname: X\nowner: olivia\nform:\n  - "+src+"\nsteps:\n  - {id: s, type: notify, to: [requester], message: hi}\n"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", src, err, want)
		}
	}
	_, err := flows.ParseDefinition("x.yaml", []byte(`id: x
name: X
owner: olivia
schedule: {cron: "0 9 * * MON", requester: alice, data: {d: 2026-12-01}}
form:
  - {name: d, type: date, min: 0}
steps:
  - {id: s, type: notify, to: [requester], message: hi}
`))
	if err == nil || !strings.Contains(err.Error(), "schedule.data.d: d has min or max (days from the day of the start), so a schedule cannot give it a fixed date") {
		t.Errorf("a schedule's fixed date: %v", err)
	}
}
