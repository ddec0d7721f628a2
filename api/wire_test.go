package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// documentedAnswer is the example answer of docs/web-api.md's "Answers": the
// CRM's documentation as a client is written against it.
func documentedAnswer(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../docs/web-api.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n## Answers\n")
	if !ok {
		t.Fatal(`docs/web-api.md: no "## Answers"`)
	}
	_, rest, ok = strings.Cut(rest, "```json\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal(`docs/web-api.md: no json block under "## Answers"`)
	}
	return []byte(block)
}

var dateValue = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$`)

// decodeAny decodes JSON keeping numbers as written.
func decodeAny(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%v:\n%s", err, b)
	}
	return v
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "array"
	default:
		return "object"
	}
}

// compareJSON lists every difference between doc and got, by path: a field missing
// or extra, another JSON type, another value. Dates (YYYY-MM-DDTHH:MM:SS) are
// equal to any date: they are the clock's.
func compareJSON(path string, doc, got any) []string {
	if jsonKind(doc) != jsonKind(got) {
		return []string{fmt.Sprintf("%s: documented %s %s, answered %s %s", path, jsonKind(doc), js(doc), jsonKind(got), js(got))}
	}
	var out []string
	switch d := doc.(type) {
	case map[string]any:
		g := got.(map[string]any)
		keys := map[string]bool{}
		for k := range d {
			keys[k] = true
		}
		for k := range g {
			keys[k] = true
		}
		var sorted []string
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			dv, din := d[k]
			gv, gin := g[k]
			switch {
			case !gin:
				out = append(out, fmt.Sprintf("%s.%s: documented, not answered", path, k))
			case !din:
				out = append(out, fmt.Sprintf("%s.%s: answered, not documented", path, k))
			default:
				out = append(out, compareJSON(path+"."+k, dv, gv)...)
			}
		}
	case []any:
		g := got.([]any)
		if len(d) != len(g) {
			return []string{fmt.Sprintf("%s: documented %d items, answered %d", path, len(d), len(g))}
		}
		for i := range d {
			out = append(out, compareJSON(fmt.Sprintf("%s[%d]", path, i), d[i], g[i])...)
		}
	case string:
		if dateValue.MatchString(d) && dateValue.MatchString(got.(string)) {
			return nil
		}
		if d != got.(string) {
			out = append(out, fmt.Sprintf("%s: documented %q, answered %q", path, d, got))
		}
	default:
		if js(doc) != js(got) {
			out = append(out, fmt.Sprintf("%s: documented %s, answered %s", path, js(doc), js(got)))
		}
	}
	return out
}

// TestCRMExample sends the README's examples in order, with a gateway, and
// compares the answer of set_pin (the sixth) with the documented example field by
// field: what a CRM client parses must be there, with the documented JSON type and
// value.
func TestCRMExample(t *testing.T) {
	doc := decodeAny(t, documentedAnswer(t))
	e := setup(t, simGateway)
	var got []byte
	for i, ex := range readmeExamples(t) {
		url := strings.Replace(replaceToken(ex.url, e.token), "http://127.0.0.1:8080", e.url, 1)
		verb := http.MethodGet
		if ex.body != "" {
			verb = http.MethodPost
		}
		a := e.do(verb, url, replaceToken(ex.body, e.token))
		if i == 5 {
			if !strings.HasSuffix(ex.url, "/set_pin") {
				t.Fatalf("README.md:%d: the sixth example is %s, not set_pin", ex.line, ex.url)
			}
			got = a.Raw
		}
	}
	if got == nil {
		t.Fatal("README.md has fewer than six examples")
	}
	for _, d := range compareJSON("", doc, decodeAny(t, got)) {
		t.Error(d)
	}
	// And the shapes the CRM parses, named, so that a change of the example itself
	// is seen too.
	data := doc.(map[string]any)["data"].(map[string]any)
	for field, kind := range map[string]string{"id": "string", "number": "string", "name": "null", "process_immediately": "number"} {
		if jsonKind(data[field]) != kind {
			t.Errorf("the documented %s is %s, want %s", field, jsonKind(data[field]), kind)
		}
	}
	if pi := js(data["process_immediately"]); pi != "1" {
		t.Errorf("the documented process_immediately is %s, want 1", pi)
	}
	for _, k := range []string{"created_by_user", "updated_by_user"} {
		if u := js(data["log_information"].(map[string]any)[k]); u != `{"username":"crm"}` {
			t.Errorf("the documented log_information.%s is %s", k, u)
		}
	}
}

// TestProcessImmediatelyForms: calls take process_immediately as true/false and as
// the answers write it, 0/1; anything else is refused.
func TestProcessImmediatelyForms(t *testing.T) {
	e := setup(t, noGateway)
	for _, tt := range []struct {
		value string
		want  int
	}{
		{"true", 1}, {"false", 0}, {"1", 1}, {"0", 0}, {`"true"`, 1}, {`"false"`, 0}, {`"1"`, 1}, {`"0"`, 0}, {"null", 0},
	} {
		v := e.post("reset_pin", `{"token": "$TOKEN", "subscription_identifier": {"number": "S1004"}, "smartcard_ca_id": "1000000004", "process_immediately": `+tt.value+`}`).view(t)
		if v.ProcessImmediately != tt.want {
			t.Errorf("process_immediately %s: answered %d, want %d", tt.value, v.ProcessImmediately, tt.want)
		}
	}
	for _, bad := range []string{"2", "-1", "1.0", "1e0", `[]`, `{}`} {
		a := e.post("reset_pin", `{"token": "$TOKEN", "subscription_identifier": {"number": "S1004"}, "smartcard_ca_id": "1000000004", "process_immediately": `+bad+`}`)
		if a.HTTP != http.StatusBadRequest || a.errors(t)[0].Parameter != "process_immediately" || a.errors(t)[0].Description != "must be true, false, 0 or 1" {
			t.Errorf("process_immediately %s: %d %s", bad, a.HTTP, a.Raw)
		}
	}
	for _, bad := range []string{`"2"`, `"yes"`} {
		a := e.post("reset_pin", `{"token": "$TOKEN", "subscription_identifier": {"number": "S1004"}, "smartcard_ca_id": "1000000004", "process_immediately": `+bad+`}`)
		if a.HTTP != http.StatusBadRequest || a.errors(t)[0].Code != "E_INVALID_BOOLEAN" || a.errors(t)[0].Description != bad+" is not true, false, 0 or 1" {
			t.Errorf("process_immediately %s: %d %s", bad, a.HTTP, a.Raw)
		}
	}
}
