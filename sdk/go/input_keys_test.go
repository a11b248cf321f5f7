package hangar

import (
	"encoding/json"
	"testing"
)

func TestHasTopLevelKey(t *testing.T) {
	cases := []struct {
		text string
		name string
		want bool
	}{
		{`{"n": 3, "s": "hi"}`, "n", true},
		{`{"n": 3, "s": "hi"}`, "s", true},
		{`{"n": 3, "s": "hi"}`, "hi", false},            // a value, not a key
		{`{"a": {"fail": 1}}`, "fail", false},           // a nested key
		{`{"a": [{"fail": 1}], "b": 2}`, "fail", false}, // a key in an array
		{`{"a": [{"x": 1}], "fail": 2}`, "fail", true},  // after a nested array
		{`{"a": "x\"}, \"fail\": 1", "b": 2}`, "fail", false},
		{`{"a": "x\\", "fail": 1}`, "fail", true}, // an escaped backslash ends the string
		{`{"f\u0061il": true}`, "fail", true},     // an escaped key
		{`{"fa\"il": true}`, `fa"il`, true},
		{` { "fail" : null } `, "fail", true},
		{`{"failure": 1}`, "fail", false},
		{`{"": 1}`, "", true},
		{`{}`, "fail", false},
		{``, "fail", false},
		{`null`, "fail", false},
		{`["fail"]`, "fail", false},
		{`"fail"`, "fail", false},
		{`{"fail`, "fail", false}, // cut short: no panic
		{`{"a": "x`, "fail", false},
		{`{"a\`, "a", false},
		{`}}}{"fail": 1}`, "fail", false}, // not JSON: no panic, no claim
	}
	for _, c := range cases {
		if got := hasTopLevelKey([]byte(c.text), c.name); got != c.want {
			t.Errorf("hasTopLevelKey(%s, %q) = %v, want %v", c.text, c.name, got, c.want)
		}
		// For valid objects, the answer is the decoder's.
		var m map[string]json.RawMessage
		if json.Unmarshal([]byte(c.text), &m) == nil && m != nil {
			if _, ok := m[c.name]; ok != c.want {
				t.Errorf("case %s %q disagrees with encoding/json (%v)", c.text, c.name, ok)
			}
		}
	}
}
