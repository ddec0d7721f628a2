package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/provisioner/provisioner/csvin"
	"github.com/provisioner/provisioner/provisioning"
)

// apiProblem is one reason a call is refused, named by the API's parameter.
type apiProblem struct {
	Parameter   string `json:"parameter"`
	Code        string `json:"code"`
	Description string `json:"description"`
}

// problems is the answer refusing a call for ps: status 400, or 409 when the only
// problem is a reference already used; the first code is the status message, and
// data lists them all.
func refused(ps []apiProblem) *failure {
	httpStatus := http.StatusConflict
	desc := make([]string, len(ps))
	for i, p := range ps {
		desc[i] = p.Parameter + ": " + p.Description + " (" + p.Code + ")"
		if p.Code != provisioning.CodeDuplicateReference {
			httpStatus = http.StatusBadRequest
		}
	}
	return &failure{status: httpStatus, code: ps[0].Code, desc: strings.Join(desc, "; "), data: map[string]any{"errors": ps}}
}

// readBody reads a call's JSON object into its members, undecoded. Before anything
// is decoded it walks the whole body once (checkBody): a key given twice at any
// depth, or a NUL in any string, refuses the call, since the standard decoder keeps
// the last of repeated keys (a second "token" would win) and PostgreSQL refuses a
// NUL in text (a 500 otherwise).
func readBody(w http.ResponseWriter, r *http.Request, limit int64) (map[string]json.RawMessage, *failure) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, &failure{status: http.StatusRequestEntityTooLarge, code: CodeBodyTooLarge, desc: fmt.Sprintf("body: larger than %d bytes", limit)}
	case isTimeout(err):
		// The error names both ends of the connection: say what happened instead.
		return nil, &failure{status: http.StatusRequestTimeout, code: CodeRequestTimeout, desc: "body: not received in time; send it whole, at once"}
	case err != nil:
		return nil, &failure{status: http.StatusBadRequest, code: CodeMalformedRequest, desc: "body: could not be read whole"}
	}
	if f := checkBody(body); f != nil {
		return nil, f
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil {
		// checkBody found one JSON object: this cannot happen.
		return nil, &failure{err: fmt.Errorf("decode body: %w", err)}
	}
	return members, nil
}

// isTimeout reports whether err is a read deadline passing: the server's read
// timeout ended a body sent too slowly.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// checkBody walks body's tokens: it must be one JSON object, with no key twice in
// any object and no NUL in any key or string. Its messages are the API's words,
// never the decoder's (which name Go types).
func checkBody(body []byte) *failure {
	malformed := func(desc string) *failure {
		return &failure{status: http.StatusBadRequest, code: CodeMalformedRequest, desc: "body: " + desc}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	first, err := dec.Token()
	if err != nil {
		return malformed(syntaxError(err, "not a JSON object"))
	}
	if d, ok := first.(json.Delim); !ok || d != '{' {
		return malformed("not a JSON object but " + kind(first))
	}
	// A frame per open object or array: its path, its keys (objects), its next
	// index (arrays), and the key whose value comes next.
	type frame struct {
		path  string
		keys  map[string]bool
		index int
		key   string
		inObj bool
		atKey bool
	}
	stack := []*frame{{keys: map[string]bool{}, inObj: true, atKey: true}}
	var ps []apiProblem
	dups := 0
	for len(stack) > 0 {
		tok, err := dec.Token()
		if err != nil {
			return malformed(syntaxError(err, "not one JSON object"))
		}
		top := stack[len(stack)-1]
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			continue
		}
		if top.inObj && top.atKey {
			k := tok.(string) // the decoder allows only strings here
			top.key, top.atKey = k, false
			name := keyPath(top.path, k)
			switch {
			case strings.ContainsRune(k, 0):
				ps = append(ps, apiProblem{printable(name), csvin.CodeEncoding, "a key holds a NUL character"})
			case top.keys[k]:
				dups++
				ps = append(ps, apiProblem{name, CodeMalformedRequest, "is given more than once"})
			}
			top.keys[k] = true
			continue
		}
		// A value: of the key just read, or the next item of an array.
		var path string
		if top.inObj {
			path, top.atKey = keyPath(top.path, top.key), true
		} else {
			path = fmt.Sprintf("%s[%d]", top.path, top.index)
			top.index++
		}
		switch v := tok.(type) {
		case json.Delim: // '{' or '['
			stack = append(stack, &frame{path: path, keys: map[string]bool{}, inObj: v == '{', atKey: v == '{'})
		case string:
			if strings.ContainsRune(v, 0) {
				ps = append(ps, apiProblem{printable(path), csvin.CodeEncoding, "holds a NUL character (\\u0000)"})
			}
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return malformed("more after the JSON object")
	}
	if ps == nil {
		return nil
	}
	f := refused(ps)
	if dups > 0 {
		f.code = CodeMalformedRequest // a key twice is a malformed body, whatever else is wrong
	}
	return f
}

// keyPath is the path of key k in the object at path.
func keyPath(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// printable is a path with its NULs shown as \u0000.
func printable(path string) string { return strings.ReplaceAll(path, "\x00", `\u0000`) }

// kind names the JSON kind of a first token that is not '{'.
func kind(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return fmt.Sprint(v)
	default:
		return "null"
	}
}

// syntaxError describes a decoding error in the API's words: where the JSON is
// wrong, or that it ends too soon.
func syntaxError(err error, what string) string {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return what + ": " + se.Error()
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return what + ": the JSON ends too soon"
	default:
		return what
	}
}

// tokenOf is the token member of a body: "" when it is missing or not a string.
func tokenOf(members map[string]json.RawMessage) string {
	var s string
	if json.Unmarshal(members[pToken], &s) != nil {
		return ""
	}
	return s
}

// checkNames refuses the members that the method does not take, naming each.
func (m *method) checkNames(members map[string]json.RawMessage) []apiProblem {
	var ps []apiProblem
	for _, name := range sortedKeys(members) {
		param := name
		if param == "" {
			param = `""` // a problem must name something
		}
		switch {
		case m.takes(name):
		case anyTakes(name):
			ps = append(ps, apiProblem{param, provisioning.CodeFieldNotAllowed, "is not taken by " + m.name})
		default:
			ps = append(ps, apiProblem{param, CodeUnknownField, "unknown parameter"})
		}
	}
	return ps
}

// instruction builds the instruction of a call from its members, checking only
// their JSON shapes: the rules are Parse's and Resolve's.
func (m *method) instruction(members map[string]json.RawMessage) (provisioning.Instruction, []apiProblem) {
	var ps shapes
	in := provisioning.Instruction{Action: string(m.action)}
	if sub := ps.identifier(members[pSubscription], pSubscription, subscriptionKeys); sub != nil {
		in.SubscriptionByID, in.SubscriptionNumber = sub["id"], sub["number"]
	}
	if card := ps.identifier(members[pSmartcard], pSmartcard, itemKeys); card != nil {
		in.SmartcardByID, in.SmartcardSerial, in.SmartcardByAltCode = card["id"], card["serial_number"], card["alternative_code"]
	}
	if stb := ps.identifier(members[pSTB], pSTB, itemKeys); stb != nil {
		in.STBByID, in.STBSerial, in.STBByAltCode = stb["id"], stb["serial_number"], stb["alternative_code"]
	}
	in.ServicesByKey = ps.services(members[pServices])
	in.SmartcardCAID = ps.scalar(members[pCAID], pCAID, true)
	in.PIN = ps.scalar(members[pPIN], pPIN, false) // a number would lose its leading zeros
	in.Priority = ps.scalar(members[pPriority], pPriority, false)
	in.ScheduledDate = crmDate(ps.scalar(members[pScheduled], pScheduled, false))
	in.ProcessImmediately = ps.boolean(members[pImmediately], pImmediately)
	in.Reference = ps.scalar(members[pReference], pReference, false)
	return in, ps
}

// crmDate turns the CRM's own date form, YYYY-MM-DDTHH:MM:SS (as its answers give
// dates, in UTC), into the instruction file's YYYY-MM-DD HH:MM:SS, which Parse reads
// as UTC too. Anything else goes to Parse as it is.
func crmDate(s string) string {
	if t := strings.TrimSpace(s); len(t) == len("2006-01-02T15:04:05") && t[10] == 'T' {
		return t[:10] + " " + t[11:]
	}
	return s
}

// shapes collects the problems of JSON shapes.
type shapes []apiProblem

func (ps *shapes) add(param, desc string) {
	*ps = append(*ps, apiProblem{param, CodeInvalidParameter, desc})
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(bytes.TrimSpace(raw)) == "null"
}

// scalar is a string member (or a number, when numbers is set) as text; "" when it
// is absent or null.
func (ps *shapes) scalar(raw json.RawMessage, param string, numbers bool) string {
	if isNull(raw) {
		return ""
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	dec.Decode(&v) // raw is one JSON value: readBody decoded it
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		if numbers {
			return v.String()
		}
	}
	if numbers {
		ps.add(param, "must be a string or a number")
	} else {
		ps.add(param, "must be a string")
	}
	return ""
}

// boolean is a flag member as Parse reads it: true/false, or 0/1 as the CRM's
// answers write it (and so may its calls). A string is passed on for Parse to judge,
// as a file's cell would be.
func (ps *shapes) boolean(raw json.RawMessage, param string) string {
	if isNull(raw) {
		return ""
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	dec.Decode(&v) // raw is one JSON value: readBody decoded it
	switch v := v.(type) {
	case bool:
		return fmt.Sprint(v)
	case string, json.Number:
		switch s := fmt.Sprint(v); strings.TrimSpace(s) {
		case "0":
			return "false"
		case "1":
			return "true"
		default:
			if _, isString := v.(string); isString {
				return s
			}
		}
	}
	ps.add(param, "must be true, false, 0 or 1")
	return ""
}

// identifier is an identifier object's keys; nil when it is absent or null, or not
// an object. Its keys must be known; how many are given is Parse's to judge.
func (ps *shapes) identifier(raw json.RawMessage, param string, keys []string) map[string]string {
	if isNull(raw) {
		return nil
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil || members == nil {
		ps.add(param, fmt.Sprintf("must be an object with one of %s", strings.Join(keys, ", ")))
		return nil
	}
	out := make(map[string]string, len(members))
	for _, k := range sortedKeys(members) {
		name := param + "." + k
		if !slices.Contains(keys, k) {
			*ps = append(*ps, apiProblem{name, CodeUnknownField, "unknown key (expected one of " + strings.Join(keys, ", ") + ")"})
			continue
		}
		out[k] = ps.scalar(members[k], name, true)
	}
	return out
}

// services is services_set: [{"service_identifier": {...}}, ...].
func (ps *shapes) services(raw json.RawMessage) []provisioning.ServiceKey {
	if isNull(raw) {
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		ps.add(pServices, `must be a list of {"service_identifier": {...}}`)
		return nil
	}
	keys := make([]provisioning.ServiceKey, 0, len(items))
	for i, item := range items {
		name := fmt.Sprintf("%s[%d]", pServices, i)
		var members map[string]json.RawMessage
		if err := json.Unmarshal(item, &members); err != nil || members == nil {
			ps.add(name, `must be {"service_identifier": {...}}`)
			continue
		}
		for _, k := range sortedKeys(members) {
			if k != pService {
				*ps = append(*ps, apiProblem{name + "." + k, CodeUnknownField, "unknown key (expected service_identifier)"})
			}
		}
		id := ps.identifier(members[pService], name+"."+pService, serviceKeys)
		keys = append(keys, provisioning.ServiceKey{ID: id["id"], Code: id["code"], AltCode: id["alternative_code"]})
	}
	return keys
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
