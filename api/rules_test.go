package api_test

import (
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/provisioner/provisioner/api"
)

// TestRefusals checks calls the rules refuse: wrong classifications, unknown
// records, bad values, each with the importer's code and the API's parameter name,
// and nothing created.
func TestRefusals(t *testing.T) {
	tests := []struct {
		name, method, body string
		want               []problem
	}{
		{"an STB given as smartcard", "add_services",
			`{"token": "$TOKEN", "subscription_identifier": {"number": "S1001"}, "smartcard_identifier": {"serial_number": "STB-0001"}, "services_set": [{"service_identifier": {"code": "SPORTS"}}]}`,
			[]problem{{"smartcard_identifier.serial_number", "E_NOT_A_SMARTCARD", "STB-0001 is an STB, not a smartcard"}}},
		{"an STB's CA id given as smartcard_ca_id", "reset_pin",
			`{"token": "$TOKEN", "subscription_identifier": {"number": "S1001"}, "smartcard_ca_id": "7700000001"}`,
			[]problem{{"smartcard_ca_id", "E_NOT_A_SMARTCARD", "7700000001 is an STB, not a smartcard"}}},
		{"a smartcard given as STB", "pair_smartcard_decoder",
			`{"token": "$TOKEN", "smartcard_identifier": {"serial_number": "SC0000000099"}, "stb_identifier": {"alternative_code": "ALT-SC-2"}}`,
			[]problem{{"stb_identifier.alternative_code", "E_NOT_AN_STB", "SC0000000002 is a smartcard, not an STB"}}},
		{"a HARDWARE product as service", "add_services",
			`{"token": "$TOKEN", "subscription_identifier": {"number": "S1001"}, "smartcard_identifier": {"serial_number": "SC0000000001"}, "services_set": [{"service_identifier": {"code": "SPORTS"}}, {"service_identifier": {"code": "DECODER-HD"}}]}`,
			[]problem{{"services_set", "E_NOT_A_SERVICE", "product DECODER-HD is classified HARDWARE, not SERVICE"}}},
		{"unknown records", "pair_smartcard_decoder",
			`{"token": "$TOKEN", "subscription_identifier": {"id": 999}, "smartcard_identifier": {"alternative_code": "NOPE"}, "stb_identifier": {"id": 999}}`,
			[]problem{
				{"smartcard_identifier.alternative_code", "E_UNKNOWN_SMARTCARD", "no smartcard with alternative code NOPE"},
				{"subscription_identifier.id", "E_UNKNOWN_SUBSCRIPTION", "no subscription with id 999"},
				{"stb_identifier.id", "E_UNKNOWN_STB", "no STB with id 999"},
			}},
		{"unknown service, card on another subscription", "cancel_services",
			`{"token": "$TOKEN", "subscription_identifier": {"number": "S1002"}, "smartcard_identifier": {"serial_number": "SC0000000001"}, "services_set": [{"service_identifier": {"alternative_code": "XXX"}}]}`,
			[]problem{
				{"subscription_identifier.number", "E_NOT_INSTALLED_ON_SUBSCRIPTION", "smartcard SC0000000001 is installed on subscription S1001, not S1002"},
				{"services_set", "E_UNKNOWN_SERVICE", "no service with alternative code XXX"},
			}},
		{"bad values", "set_pin",
			`{"token": "$TOKEN", "subscription_identifier": {"number": "S1001"}, "smartcard_ca_id": "1000000001", "pin": "0000", "process_immediately": "maybe"}`,
			[]problem{
				{"pin", "E_INVALID_PIN", "0000 is the default PIN and cannot be set (use reset_pin)"},
				{"process_immediately", "E_INVALID_BOOLEAN", `"maybe" is not true, false, 0 or 1`},
			}},
		{"bad priority and date", "add_services",
			`{"token": "$TOKEN", "subscription_identifier": {"number": "S1001"}, "smartcard_identifier": {"serial_number": "SC0000000001"}, "services_set": [{"service_identifier": {"code": "KIDS"}}], "priority": "URGENT", "scheduled_date": "2026-12-32T10:00:00"}`,
			[]problem{
				{"priority", "E_INVALID_PRIORITY", `"URGENT" is not REGULAR or EXPRESS`},
				{"scheduled_date", "E_INVALID_DATE", `"2026-12-32 10:00:00" is not RFC 3339 or YYYY-MM-DD HH:MM:SS`},
			}},
		{"two keys of one card, a service twice", "add_services",
			`{"token": "$TOKEN", "subscription_identifier": {"number": "S1001"}, "smartcard_identifier": {"serial_number": "SC0000000001", "id": 1}, "services_set": [{"service_identifier": {"code": "KIDS"}}, {"service_identifier": {"code": "KIDS"}}]}`,
			[]problem{
				{"smartcard_identifier.id", "E_FIELD_NOT_ALLOWED", "give one key of the smartcard, not smartcard_serial_number and smartcard_id"},
				{"services_set", "E_DUPLICATE_SERVICE", "service KIDS is listed twice"},
			}},
		{"one service by two keys", "add_services",
			`{"token": "$TOKEN", "subscription_identifier": {"number": "S1001"}, "smartcard_identifier": {"serial_number": "SC0000000001"}, "services_set": [{"service_identifier": {"code": "SPORTS"}}, {"service_identifier": {"alternative_code": "SPT"}}]}`,
			[]problem{{"services_set", "E_DUPLICATE_SERVICE", "service SPORTS is listed twice"}}},
		{"a bad id", "reset_smartcard",
			`{"token": "$TOKEN", "subscription_identifier": {"id": "S1001"}, "smartcard_ca_id": "1000000001"}`,
			[]problem{{"subscription_identifier.id", "E_INVALID_ID", `"S1001" is not a positive whole number`}}},
		// The JSON shapes, checked before the rules.
		{"unknown parameters, each named", "reset_pin",
			`{"token": "$TOKEN", "subscription_identifier": {"number": "S1001"}, "smartcard_ca_id": "1000000001", "smartcard_id": 4, "Pin": "1"}`,
			[]problem{{"Pin", "E_UNKNOWN_FIELD", "unknown parameter"}, {"smartcard_id", "E_UNKNOWN_FIELD", "unknown parameter"}}},
		{"another method's parameters", "reset_pin",
			`{"token": "$TOKEN", "subscription_identifier": {"number": "S1001"}, "smartcard_ca_id": "1000000001", "pin": "1234", "smartcard_identifier": {"id": 1}}`,
			[]problem{{"pin", "E_FIELD_NOT_ALLOWED", "is not taken by reset_pin"}, {"smartcard_identifier", "E_FIELD_NOT_ALLOWED", "is not taken by reset_pin"}}},
		{"unknown identifier keys", "add_services",
			`{"token": "$TOKEN", "subscription_identifier": {"code": "S1001"}, "smartcard_identifier": {"serial": "SC0000000001"}, "services_set": [{"service_identifier": {"name": "KIDS"}, "qty": 1}]}`,
			[]problem{
				{"subscription_identifier.code", "E_UNKNOWN_FIELD", "unknown key (expected one of id, number)"},
				{"smartcard_identifier.serial", "E_UNKNOWN_FIELD", "unknown key (expected one of id, serial_number, alternative_code)"},
				{"services_set[0].qty", "E_UNKNOWN_FIELD", "unknown key (expected service_identifier)"},
				{"services_set[0].service_identifier.name", "E_UNKNOWN_FIELD", "unknown key (expected one of id, code, alternative_code)"},
			}},
		{"wrong JSON types", "set_pin",
			`{"token": "$TOKEN", "subscription_identifier": "S1001", "smartcard_ca_id": {"id": 1}, "pin": 4821, "process_immediately": 2}`,
			[]problem{
				{"subscription_identifier", "E_INVALID_PARAMETER", "must be an object with one of id, number"},
				{"smartcard_ca_id", "E_INVALID_PARAMETER", "must be a string or a number"},
				{"pin", "E_INVALID_PARAMETER", "must be a string"},
				{"process_immediately", "E_INVALID_PARAMETER", "must be true, false, 0 or 1"},
			}},
		{"services_set not a list", "add_services",
			`{"token": "$TOKEN", "subscription_identifier": {"number": "S1001"}, "smartcard_identifier": {"id": true}, "services_set": {"code": "KIDS"}}`,
			[]problem{
				{"smartcard_identifier.id", "E_INVALID_PARAMETER", "must be a string or a number"},
				{"services_set", "E_INVALID_PARAMETER", `must be a list of {"service_identifier": {...}}`},
			}},
	}
	e := setup(t, noGateway)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := e.post(tt.method, tt.body)
			if a.HTTP != http.StatusBadRequest || a.Status.Code != "ERROR" || a.Status.Message != tt.want[0].Code {
				t.Fatalf("answer %d %s", a.HTTP, a.Raw)
			}
			if got := a.errors(t); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n got %+v\nwant %+v", got, tt.want)
			}
			var desc []string
			for _, p := range tt.want {
				desc = append(desc, p.Parameter+": "+p.Description+" ("+p.Code+")")
			}
			if want := strings.Join(desc, "; "); a.Status.Description != want {
				t.Errorf("description:\n got %s\nwant %s", a.Status.Description, want)
			}
		})
	}
	if n := e.requests(); n != 0 {
		t.Errorf("%d requests created by refused calls", n)
	}
}

// TestRefusalEnvelope pins the shape of a refusal.
func TestRefusalEnvelope(t *testing.T) {
	e := setup(t, noGateway)
	a := e.post("cancel_services", `{"token": "$TOKEN", "smartcard_identifier": {"serial_number": "STB-0001"}, "services_set": []}`)
	golden(t, "refused.json", a.Raw)
	a = e.post("reset_pin", `{"subscription_identifier": {"number": "S1001"}, "smartcard_ca_id": "1000000001"}`)
	golden(t, "unauthorized.json", a.Raw)
}

// TestBodies checks what comes before the parameters: size, syntax, paths, verbs.
func TestBodies(t *testing.T) {
	e := setup(t, noGateway)
	big := `{"token": "$TOKEN", "reference": "` + strings.Repeat("x", api.DefaultMaxBody) + `"}`
	tests := []struct {
		name, verb, path, body string
		status                 int
		code, desc             string
	}{
		{"too large", "POST", api.CreatePrefix + "reset_pin", big, 413, "E_BODY_TOO_LARGE", "body: larger than 65536 bytes"},
		{"not JSON", "POST", api.CreatePrefix + "reset_pin", `token=x`, 400, "E_MALFORMED_REQUEST", "body: not a JSON object: invalid character 'o' in literal true (expecting 'r')"},
		{"a list", "POST", api.CreatePrefix + "reset_pin", `[1]`, 400, "E_MALFORMED_REQUEST", "body: not a JSON object but an array"},
		{"two objects", "POST", api.CreatePrefix + "reset_pin", `{"token": "$TOKEN"} {}`, 400, "E_MALFORMED_REQUEST", "body: more after the JSON object"},
		{"empty", "POST", api.CreatePrefix + "reset_pin", ``, 400, "E_MALFORMED_REQUEST", "body: not a JSON object: the JSON ends too soon"},
		{"unknown method", "POST", api.CreatePrefix + "add_service", `{}`, 404, "E_NOT_FOUND", "no such method: /nagravision/provisioning_requests/add_service"},
		{"GET a method", "GET", api.CreatePrefix + "reset_pin", ``, 405, "E_METHOD_NOT_ALLOWED", "GET /nagravision/provisioning_requests/reset_pin: use POST"},
		{"POST show", "POST", api.PathShow, `{}`, 405, "E_METHOD_NOT_ALLOWED", "POST /provisioning/provisioning_requests/show: use GET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := e.do(tt.verb, e.url+tt.path, replaceToken(tt.body, e.token))
			if a.HTTP != tt.status || a.Status.Code != "ERROR" || a.Status.Message != tt.code || a.Status.Description != tt.desc {
				t.Errorf("answer %d %s\nwant %d %s %s", a.HTTP, a.Raw, tt.status, tt.code, tt.desc)
			}
		})
	}
	if n := e.requests(); n != 0 {
		t.Errorf("%d requests created", n)
	}
	a := e.do("GET", e.url+api.PathHealth, "")
	if a.HTTP != 200 || a.Status.Code != "OK" || js(a.Data) != `{"database":"ok"}` {
		t.Errorf("health: %d %s", a.HTTP, a.Raw)
	}
}
