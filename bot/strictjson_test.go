package bot_test

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/batonbot/baton/bot"
)

func TestCheckJSON(t *testing.T) {
	t.Parallel()
	type req struct {
		Flow  string            `json:"flow"`
		Refs  map[string]string `json:"refs,omitempty"`
		Plain int
		Skip  int `json:"-"`
	}
	for _, c := range []struct{ body, want string }{
		{`{"flow":"a","refs":{"x":"1","X":"2"},"Plain":1}`, ""}, // map keys are case-sensitive names of their own
		{`{"flow":"a","flow":"b"}`, `"flow" is given twice: send each name once`},
		{`{"FLOW":"a"}`, `"FLOW": names are case-sensitive; did you mean "flow"?`},
		{`{"plain":1}`, `"plain": names are case-sensitive; did you mean "Plain"?`},
		{`{"skip":1}`, ""}, // not a field: the decoder refuses it as unknown
		{`{"refs":{"x":"1","x":"2"}}`, `"refs.x" is given twice: send each name once`},
		{`{"list":[{"a":1},{"a":1,"a":2}]}`, `"list[1].a" is given twice: send each name once`},
		{`{"flow":`, ""}, // not JSON: the decoder says so
		{`[{"a":1,"a":2}]`, `"[0].a" is given twice: send each name once`},
	} {
		err := bot.CheckJSON([]byte(c.body), &req{})
		if got := errText(err); got != c.want {
			t.Errorf("%s: %q, want %q", c.body, got, c.want)
		}
	}
	if err := bot.CheckJSON([]byte(`{"A":1,"a":2}`), nil); err != nil {
		t.Errorf("names of a map: %v", err)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestCheckJSONDeep: a small body nested deep costs CheckJSON in
// proportion to its size (it once built each level's whole path: 64 KiB
// of "[" took 11 GB and half a minute), and is left to the decoder.
// Not parallel: it reads the process's allocation count.
func TestCheckJSONDeep(t *testing.T) {
	body := []byte(`{"data":` + strings.Repeat("[", 64<<10))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := bot.CheckJSON(body, nil)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Errorf("a deep body: %v, want it left to the decoder", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 64<<20 {
		t.Errorf("a 64 KiB body allocated %d MiB", n>>20)
	}
	// A name twice deep down is still found, and named.
	deep := `{"a":` + strings.Repeat(`[`, 100) + `{"x":1,"x":2}` + strings.Repeat(`]`, 100) + `}`
	if err := bot.CheckJSON([]byte(deep), nil); err == nil || !strings.HasPrefix(err.Error(), `"a[0][0]`) || !strings.HasSuffix(err.Error(), `[0].x" is given twice: send each name once`) {
		t.Errorf("a name twice at depth 100: %v", err)
	}
}

func TestIdentity(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		headers []string
		want    bool
	}{
		{nil, true},
		{[]string{"identity"}, true},
		{[]string{"Identity", " "}, true},
		{[]string{"gzip"}, false},
		{[]string{"identity", "gzip"}, false}, // a second header counts too
		{[]string{"identity, br"}, false},     // and every coding listed
	} {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		for _, h := range c.headers {
			r.Header.Add("Content-Encoding", h)
		}
		if got := bot.Identity(r); got != c.want {
			t.Errorf("Content-Encoding %q: %v, want %v", c.headers, got, c.want)
		}
	}
}
