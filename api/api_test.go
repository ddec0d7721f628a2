package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/provisioner/provisioner/api"
)

// crmFields are the fields of a request in the CRM's documentation: data has
// exactly these.
var crmFields = []string{
	"id", "number", "name", "type", "life_cycle_state", "priority", "sequence_number", "scheduled_date", "executed_date",
	"process_immediately", "request", "response", "reference_number", "error_code", "error_description",
	"process_name", "process_id", "parameters_set", "log_information",
}

func ptr(s string) *string { return &s }

// checkFields checks that data has exactly the CRM's fields, its parameters_set
// items and log_information theirs, and that the log dates are now's.
func checkFields(t *testing.T, data json.RawMessage) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := slices.Clone(crmFields)
	sort.Strings(want)
	if !slices.Equal(keys, want) {
		t.Errorf("data fields:\n got %v\nwant %v", keys, want)
	}
	var v struct {
		Params []map[string]any           `json:"parameters_set"`
		Log    map[string]json.RawMessage `json:"log_information"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	for _, p := range v.Params {
		if len(p) != 3 || !hasKeys(p, "smartcard_ca_id", "service_ca_id", "stb_ca_id") {
			t.Errorf("parameters_set item %v: want smartcard_ca_id, service_ca_id, stb_ca_id", p)
		}
	}
	if len(v.Log) != 4 {
		t.Errorf("log_information %s: want created_date, created_by_user, updated_date, updated_by_user", js(data))
	}
	for _, k := range []string{"created_date", "updated_date"} {
		var s string
		json.Unmarshal(v.Log[k], &s)
		d, err := time.Parse(api.DateLayout, s)
		if err != nil || time.Since(d) > time.Minute || time.Until(d) > time.Second {
			t.Errorf("log_information.%s = %s: want now as YYYY-MM-DDTHH:MM:SS", k, v.Log[k])
		}
	}
	// The API's requests are made by the test's token, crm.
	for _, k := range []string{"created_by_user", "updated_by_user"} {
		if got := js(v.Log[k]); got != `{"username":"crm"}` {
			t.Errorf("log_information.%s = %s: want {\"username\":\"crm\"}", k, got)
		}
	}
}

func hasKeys(m map[string]any, keys ...string) bool {
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			return false
		}
	}
	return true
}

var logDates = regexp.MustCompile(`"(created_date|updated_date|executed_date)": "[0-9T:-]{19}"`)

// stable replaces the dates of the database's clock for a golden file.
func stable(raw []byte) []byte { return logDates.ReplaceAll(raw, []byte(`"$1": "(now)"`)) }

// TestMethods calls each method with good parameters and checks the answer: the
// envelope, every field of the request, and the request stored.
func TestMethods(t *testing.T) {
	tests := []struct {
		method, body string
		typ          string
		priority     string
		scheduled    string
		params       []api.Parameter
	}{
		{
			"add_services",
			`{"token": "$TOKEN", "subscription_identifier": {"number": "S1001"}, "smartcard_identifier": {"serial_number": "SC0000000001"},
			  "services_set": [{"service_identifier": {"code": "SPORTS"}}, {"service_identifier": {"code": "MOVIES"}}],
			  "priority": "EXPRESS", "scheduled_date": "2026-12-24T18:00:00"}`,
			"ADD_PRODUCTS", "EXPRESS", "2026-12-24T18:00:00",
			[]api.Parameter{{SmartcardCAID: "1000000001", ServiceCAID: ptr("P-1001")}, {SmartcardCAID: "1000000001", ServiceCAID: ptr("P-1002")}},
		},
		{
			"cancel_services",
			`{"token": "$TOKEN", "subscription_identifier": {"number": "S1002"}, "smartcard_identifier": {"serial_number": "SC0000000002"},
			  "services_set": [{"service_identifier": {"code": "KIDS"}}], "process_immediately": false, "priority": "REGULAR"}`,
			"CANCEL_PRODUCTS", "REGULAR", "2026-11-29T10:00:00",
			[]api.Parameter{{SmartcardCAID: "1000000002", ServiceCAID: ptr("P-1003")}},
		},
		{
			"pair_smartcard_decoder",
			`{"token": "$TOKEN", "smartcard_identifier": {"serial_number": "SC0000000003"}, "stb_identifier": {"serial_number": "STB-0003"}}`,
			"PAIR", "REGULAR", "2026-11-29T10:00:00",
			[]api.Parameter{{SmartcardCAID: "1000000003", STBCAID: ptr("7700000003")}},
		},
		{
			"pair_smartcard_decoder", // without stb_identifier: unpair
			`{"token": "$TOKEN", "subscription_identifier": {"number": "S1002"}, "smartcard_identifier": {"serial_number": "SC0000000002"}, "stb_identifier": null}`,
			"UNPAIR", "REGULAR", "2026-11-29T10:00:00",
			[]api.Parameter{{SmartcardCAID: "1000000002"}},
		},
		{
			"reset_pin",
			`{"token": "$TOKEN", "subscription_identifier": {"number": "S1004"}, "smartcard_ca_id": "1000000004"}`,
			"RESET_PIN", "REGULAR", "2026-11-29T10:00:00",
			[]api.Parameter{{SmartcardCAID: "1000000004"}},
		},
		{
			"set_pin",
			`{"token": "$TOKEN", "subscription_identifier": {"number": "S1005"}, "smartcard_ca_id": "1000000005", "pin": "4821"}`,
			"SET_PIN", "REGULAR", "2026-11-29T10:00:00",
			[]api.Parameter{{SmartcardCAID: "1000000005"}},
		},
		{
			"reset_smartcard",
			`{"token": "$TOKEN", "subscription_identifier": {"number": "S1006"}, "smartcard_ca_id": 1000000006}`,
			"RESET_SMARTCARD", "REGULAR", "2026-11-29T10:00:00",
			[]api.Parameter{{SmartcardCAID: "1000000006"}},
		},
	}
	e := setup(t, noGateway)
	for i, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			a := e.post(tt.method, tt.body)
			if a.HTTP != http.StatusOK || a.Status.Code != "OK" || a.Status.Message != "" || a.Status.Description != "" {
				t.Fatalf("answer %d %s", a.HTTP, a.Raw)
			}
			checkFields(t, a.Data)
			v := a.view(t)
			n := int64(i + 1)
			want := api.View{
				ID: fmt.Sprint(n), Number: fmt.Sprint(n), Type: tt.typ, LifeCycleState: "PENDING", Priority: tt.priority, SequenceNumber: n,
				ScheduledDate: tt.scheduled, ParametersSet: tt.params, LogInformation: v.LogInformation,
			}
			if !reflect.DeepEqual(v, want) {
				t.Errorf("request:\n got %+v\nwant %+v", v, want)
			}
			golden(t, strings.ToLower(tt.typ)+".json", stable(a.Raw))
			// The source: the API and the token, not a file.
			if n := e.count(`SELECT count(*) FROM provisioning_requests r JOIN api_tokens t ON t.id = r.source_token_id
			    WHERE r.id = $1 AND t.name = 'crm' AND r.source_file_id IS NULL AND r.source_line IS NULL`, v.ID); n != 1 {
				t.Errorf("request %s does not record the token crm as its source", v.ID)
			}
		})
	}
	// The PIN is stored for the gateway; nothing else of the call is.
	if n := e.count(`SELECT count(*) FROM provisioning_requests WHERE type = 'SET_PIN' AND pin = '4821'`); n != 1 {
		t.Errorf("%d SET_PIN requests with the PIN, want 1", n)
	}
}

// TestIdentifierForms names each record by each of its keys.
func TestIdentifierForms(t *testing.T) {
	e := setup(t, noGateway)
	sub := e.id("subscriptions", "number", "S1001")
	card := e.id("installed_items", "serial_number", "SC0000000001")
	stb := e.id("installed_items", "serial_number", "STB-0099")
	sports := e.id("products", "code", "SPORTS")
	tests := []struct {
		name, method, body string
		params             []api.Parameter
	}{
		{"subscription by id, card by id, service by id", "add_services",
			`{"token": "$TOKEN", "subscription_identifier": {"id": ` + sub + `}, "smartcard_identifier": {"id": ` + card + `},
			  "services_set": [{"service_identifier": {"id": ` + sports + `}}]}`,
			[]api.Parameter{{SmartcardCAID: "1000000001", ServiceCAID: ptr("P-1001")}}},
		{"ids as strings", "add_services",
			`{"token": "$TOKEN", "subscription_identifier": {"id": "` + sub + `"}, "smartcard_identifier": {"id": "` + card + `"},
			  "services_set": [{"service_identifier": {"id": "` + sports + `"}}]}`,
			[]api.Parameter{{SmartcardCAID: "1000000001", ServiceCAID: ptr("P-1001")}}},
		{"subscription by number, card by alternative code, services by code and alternative code", "cancel_services",
			`{"token": "$TOKEN", "subscription_identifier": {"number": "S1001"}, "smartcard_identifier": {"alternative_code": "ALT-SC-1"},
			  "services_set": [{"service_identifier": {"alternative_code": "MOV"}}, {"service_identifier": {"code": "NEWS"}}]}`,
			[]api.Parameter{{SmartcardCAID: "1000000001", ServiceCAID: ptr("P-1002")}, {SmartcardCAID: "1000000001", ServiceCAID: ptr("P-1004")}}},
		{"card by serial number, STB by id", "pair_smartcard_decoder",
			`{"token": "$TOKEN", "smartcard_identifier": {"serial_number": "SC0000000099"}, "stb_identifier": {"id": ` + stb + `}}`,
			[]api.Parameter{{SmartcardCAID: "1000000099", STBCAID: ptr("7700000099")}}},
		{"STB by serial number, subscription by id", "pair_smartcard_decoder",
			`{"token": "$TOKEN", "subscription_identifier": {"id": ` + sub + `}, "smartcard_identifier": {"id": ` + card + `}, "stb_identifier": {"serial_number": "STB-0001"}}`,
			[]api.Parameter{{SmartcardCAID: "1000000001", STBCAID: ptr("7700000001")}}},
		{"STB by alternative code", "pair_smartcard_decoder",
			`{"token": "$TOKEN", "smartcard_identifier": {"alternative_code": "ALT-SC-2"}, "stb_identifier": {"alternative_code": "ALT-STB-2"}}`,
			[]api.Parameter{{SmartcardCAID: "1000000002", STBCAID: ptr("7700000002")}}},
		{"set_pin with the subscription by id", "set_pin",
			`{"token": "$TOKEN", "subscription_identifier": {"id": ` + sub + `}, "smartcard_ca_id": "1000000001", "pin": "1234"}`,
			[]api.Parameter{{SmartcardCAID: "1000000001"}}},
	}
	// The samples have no STB with an alternative code: give one.
	if _, err := e.db.Exec(`UPDATE installed_items SET alternative_code = 'ALT-STB-2' WHERE serial_number = 'STB-0002'`); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := e.post(tt.method, tt.body)
			v := a.view(t)
			if !reflect.DeepEqual(v.ParametersSet, tt.params) {
				t.Errorf("parameters_set:\n got %s\nwant %s", js(v.ParametersSet), js(tt.params))
			}
		})
	}
	// The subscription is the one named, by either key.
	if n := e.count(`SELECT count(*) FROM provisioning_requests WHERE subscription_id = $1`, sub); n != 5 {
		t.Errorf("%d requests on subscription S1001 (id %s), want 5", n, sub)
	}
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestMissingParameters leaves out each mandatory parameter of each method in turn:
// 400, E_MISSING_FIELD naming the parameter, nothing created.
func TestMissingParameters(t *testing.T) {
	good := map[string]map[string]string{
		"add_services": { // subscription_identifier is optional here, as the CRM documents it
			"smartcard_identifier": `{"serial_number": "SC0000000001"}`, "services_set": `[{"service_identifier": {"code": "SPORTS"}}]`,
		},
		"cancel_services": {
			"subscription_identifier": `{"number": "S1001"}`, "smartcard_identifier": `{"serial_number": "SC0000000001"}`,
			"services_set": `[{"service_identifier": {"code": "SPORTS"}}]`,
		},
		"pair_smartcard_decoder": {"smartcard_identifier": `{"serial_number": "SC0000000003"}`},
		"reset_pin":              {"subscription_identifier": `{"number": "S1004"}`, "smartcard_ca_id": `"1000000004"`},
		"set_pin":                {"subscription_identifier": `{"number": "S1004"}`, "smartcard_ca_id": `"1000000004"`, "pin": `"4821"`},
		"reset_smartcard":        {"subscription_identifier": `{"number": "S1004"}`, "smartcard_ca_id": `"1000000004"`},
	}
	e := setup(t, noGateway)
	for method, params := range good {
		for missing := range params {
			for _, form := range []string{"absent", "null", "empty"} {
				t.Run(method+"/"+missing+"/"+form, func(t *testing.T) {
					body := []string{`"token": "$TOKEN"`}
					for k, v := range params {
						switch {
						case k != missing:
							body = append(body, fmt.Sprintf("%q: %s", k, v))
						case form == "null":
							body = append(body, fmt.Sprintf("%q: null", k))
						case form == "empty":
							empty := map[byte]string{'{': "{}", '[': "[]", '"': `""`}[v[0]]
							body = append(body, fmt.Sprintf("%q: %s", k, empty))
						}
					}
					a := e.post(method, "{"+strings.Join(body, ", ")+"}")
					if a.HTTP != http.StatusBadRequest || a.Status.Code != "ERROR" || a.Status.Message != "E_MISSING_FIELD" {
						t.Fatalf("answer %d %s", a.HTTP, a.Raw)
					}
					want := []problem{{missing, "E_MISSING_FIELD", "is required for " + method}}
					if got := a.errors(t); !reflect.DeepEqual(got, want) {
						t.Errorf("errors %+v, want %+v", got, want)
					}
					if want := missing + ": is required for " + method + " (E_MISSING_FIELD)"; a.Status.Description != want {
						t.Errorf("description %q, want %q", a.Status.Description, want)
					}
				})
			}
		}
	}
	if n := e.requests(); n != 0 {
		t.Errorf("%d requests created by refused calls", n)
	}
}
