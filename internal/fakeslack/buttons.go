package fakeslack

import (
	"encoding/json"
	"testing"
)

// ButtonValue returns the value of the button with actionID anywhere in a
// posted message (a response URL post, or a call's blocks), failing the
// test when there is none: it is how a test "clicks" what the bot posted.
func ButtonValue(t testing.TB, msg any, actionID string) string {
	t.Helper()
	data, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	var generic any
	_ = json.Unmarshal(data, &generic)
	var found string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if x["action_id"] == actionID {
				found, _ = x["value"].(string)
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(generic)
	if found == "" {
		t.Fatalf("no %s button in %s", actionID, data)
	}
	return found
}
