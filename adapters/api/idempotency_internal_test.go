package api

import "testing"

// TestFingerprint: the same value however its JSON is spelled; another
// value, another fingerprint. Numbers are compared exactly.
func TestFingerprint(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		a, b string
		same bool
	}{
		{`{"a":1,"b":[1,2]}`, ` { "b" : [ 1 , 2 ] , "a" : 1 } `, true},
		{`{"a":"é"}`, `{"a":"\u00e9"}`, true},
		{`{"n":1450}`, `{"n":1450.0}`, true},
		{`{"n":1450}`, `{"n":1.45E+3}`, true},
		{`{"n":0}`, `{"n":-0.0e7}`, true},
		{`{"n":0.1}`, `{"n":1e-1}`, true},
		{`{"n":1450}`, `{"n":1451}`, false},
		{`{"n":1450}`, `{"n":"1450"}`, false},
		{`{"n":0.1}`, `{"n":0.10000000000000001}`, false}, // the same float64, not the same number
		{`{"a":null}`, `{}`, false},
		{`{"a":[1,2]}`, `{"a":[2,1]}`, false},
		{`{"n":1e99999999999999999999}`, `{"n":1e99999999999999999999}`, true},
	} {
		if same := fingerprint([]byte(c.a)) == fingerprint([]byte(c.b)); same != c.same {
			t.Errorf("%s and %s: same %v, want %v", c.a, c.b, same, c.same)
		}
	}
}

func TestCanonicalNumber(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"0": "0", "-0": "0", "0.000": "0", "1450": "145e1", "1450.00": "145e1", "1.45e3": "145e1", "-12.5": "-125e-1",
		"0.001": "1e-3", "100E-2": "1e0", "7e+2": "7e2", "1e99999999999999999999": "1e99999999999999999999",
	} {
		if got := canonicalNumber(in); got != want {
			t.Errorf("canonicalNumber(%s) = %s, want %s", in, got, want)
		}
	}
}
