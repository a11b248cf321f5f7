package hangar

// Why this file exists: HasInput is asked on most calls (the echo agent asks
// it twice per Create), and answering it by decoding the inputs cost more
// than anything else the SDK did in a call. hasTopLevelKey answers it by
// walking the object's text once, without allocating.

import "encoding/json"

// hasTopLevelKey reports whether the JSON object `text` has the key `name`
// at its top level. Keys of nested objects and string values that look like
// keys do not count. Text that is not a JSON object gives false (never a
// panic); setJSON has already rejected it for tasks from the host.
func hasTopLevelKey(text []byte, name string) bool {
	depth := 0
	keyNext := false // the next string at depth 1 is a key
	for i := 0; i < len(text); i++ {
		switch text[i] {
		case '{':
			depth++
			keyNext = depth == 1
		case '[':
			depth++
		case '}', ']':
			depth--
		case ',':
			keyNext = depth == 1
		case '"':
			end, escaped := stringEnd(text, i)
			if end < 0 {
				return false
			}
			if depth == 1 && keyNext {
				if keyEquals(text[i:end+1], escaped, name) {
					return true
				}
				keyNext = false
			}
			i = end
		}
	}
	return false
}

// stringEnd is the index of the quote that closes the JSON string opening at
// text[open], and whether the string holds an escape; -1 if it never closes.
func stringEnd(text []byte, open int) (int, bool) {
	escaped := false
	for i := open + 1; i < len(text); i++ {
		switch text[i] {
		case '\\':
			escaped = true
			i++ // the escaped byte cannot close the string
		case '"':
			return i, escaped
		}
	}
	return -1, escaped
}

// keyEquals compares a quoted key with `name`; only a key with escapes
// (rare) is decoded first.
func keyEquals(quoted []byte, escaped bool, name string) bool {
	if !escaped {
		return string(quoted[1:len(quoted)-1]) == name
	}
	var key string
	return json.Unmarshal(quoted, &key) == nil && key == name
}
