package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"

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

// readBody reads a call's JSON object into its members, undecoded.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) (map[string]json.RawMessage, *failure) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, &failure{status: http.StatusRequestEntityTooLarge, code: CodeBodyTooLarge, desc: fmt.Sprintf("body: larger than %d bytes", limit)}
	case err != nil:
		return nil, &failure{status: http.StatusBadRequest, code: CodeMalformedRequest, desc: "body: " + err.Error()}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var members map[string]json.RawMessage
	if err := dec.Decode(&members); err != nil {
		return nil, &failure{status: http.StatusBadRequest, code: CodeMalformedRequest, desc: "body: not a JSON object: " + err.Error()}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &failure{status: http.StatusBadRequest, code: CodeMalformedRequest, desc: "body: more after the JSON object"}
	}
	return members, nil
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

// boolean is a true/false member as Parse reads it; a string is passed on for Parse
// to judge, as a file's cell would be.
func (ps *shapes) boolean(raw json.RawMessage, param string) string {
	var b bool
	if isNull(raw) {
		return ""
	}
	if json.Unmarshal(raw, &b) == nil {
		return fmt.Sprint(b)
	}
	return ps.scalar(raw, param, false)
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
