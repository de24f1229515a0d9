package bot_test

import (
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
