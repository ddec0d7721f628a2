package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/api"
	"github.com/provisioner/provisioner/importer"
)

// TestListAndShow creates ten requests, five of them completed by the simulator, and
// pages and filters them with exact counts.
func TestListAndShow(t *testing.T) {
	e := setup(t, simGateway)
	calls := []struct {
		method, body, state string
	}{
		{"add_services", `"subscription_identifier": {"number": "S1001"}, "smartcard_identifier": {"serial_number": "SC0000000001"}, "services_set": [{"service_identifier": {"code": "KIDS"}}]`, "PENDING"},
		{"add_services", `"subscription_identifier": {"number": "S1002"}, "smartcard_identifier": {"serial_number": "SC0000000002"}, "services_set": [{"service_identifier": {"code": "KIDS"}}]`, "PENDING"},
		{"add_services", `"subscription_identifier": {"number": "S1003"}, "smartcard_identifier": {"serial_number": "SC0000000003"}, "services_set": [{"service_identifier": {"code": "KIDS"}}]`, "PENDING"},
		{"add_services", `"subscription_identifier": {"number": "S1004"}, "smartcard_identifier": {"serial_number": "SC0000000004"}, "services_set": [{"service_identifier": {"code": "KIDS"}}]`, "PENDING"},
		{"reset_pin", `"subscription_identifier": {"number": "S1005"}, "smartcard_ca_id": "1000000005", "process_immediately": true`, "COMPLETED"},
		{"reset_pin", `"subscription_identifier": {"number": "S1006"}, "smartcard_ca_id": "1000000006", "process_immediately": true`, "COMPLETED"},
		{"reset_pin", `"subscription_identifier": {"number": "S1007"}, "smartcard_ca_id": "1000000007", "process_immediately": true`, "COMPLETED"},
		{"reset_smartcard", `"subscription_identifier": {"number": "S1005"}, "smartcard_ca_id": "1000000005", "process_immediately": true`, "COMPLETED"},
		{"pair_smartcard_decoder", `"smartcard_identifier": {"serial_number": "SC0000000099"}, "stb_identifier": {"serial_number": "STB-0099"}, "process_immediately": true`, "COMPLETED"},
		// Behind the card's pending add_services: not sent.
		{"cancel_services", `"subscription_identifier": {"number": "S1001"}, "smartcard_identifier": {"serial_number": "SC0000000001"}, "services_set": [{"service_identifier": {"code": "KIDS"}}], "process_immediately": true`, "PENDING"},
	}
	refs := map[string]string{}
	for i, c := range calls {
		v := e.post(c.method, `{"token": "$TOKEN", `+c.body+`}`).view(t)
		if v.Number != fmt.Sprint(i+1) || v.LifeCycleState != c.state {
			t.Fatalf("call %d: request %s %s, want %d %s", i, v.Number, v.LifeCycleState, i+1, c.state)
		}
		if v.ReferenceNumber != nil {
			refs[v.Number] = *v.ReferenceNumber
		}
	}
	list := func(t *testing.T, query string) api.List {
		t.Helper()
		a := e.get(api.PathList, "token=$TOKEN&"+query)
		if a.HTTP != 200 || a.Status.Code != "OK" {
			t.Fatalf("list?%s: %d %s", query, a.HTTP, a.Raw)
		}
		var l api.List
		if err := json.Unmarshal(a.Data, &l); err != nil {
			t.Fatal(err)
		}
		return l
	}
	tests := []struct {
		query   string
		total   int64
		offset  int64
		numbers []int64
	}{
		{"", 10, 0, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{"number_of_results=3", 10, 0, []int64{1, 2, 3}},
		{"number_of_results=3&offset=3", 10, 3, []int64{4, 5, 6}},
		{"number_of_results=3&offset=6", 10, 6, []int64{7, 8, 9}},
		{"number_of_results=3&offset=9", 10, 9, []int64{10}},
		{"number_of_results=3&offset=10", 10, 10, []int64{}},
		{"offset=25", 10, 25, []int64{}},
		{"type=ADD_PRODUCTS", 4, 0, []int64{1, 2, 3, 4}},
		{"type=ADD_PRODUCTS&number_of_results=2&offset=1", 4, 1, []int64{2, 3}},
		{"type=CANCEL_PRODUCTS", 1, 0, []int64{10}},
		{"type=UNPAIR", 0, 0, []int64{}},
		{"life_cycle_state=PENDING", 5, 0, []int64{1, 2, 3, 4, 10}},
		{"life_cycle_state=COMPLETED", 5, 0, []int64{5, 6, 7, 8, 9}},
		{"life_cycle_state=REJECTED", 0, 0, []int64{}},
		{"type=RESET_PIN&life_cycle_state=COMPLETED", 3, 0, []int64{5, 6, 7}},
		{"type=RESET_PIN&life_cycle_state=COMPLETED&number_of_results=1&offset=2", 3, 2, []int64{7}},
		{"reference_number=" + refs["6"], 1, 0, []int64{6}},
		{"reference_number=" + refs["9"] + "&type=PAIR", 1, 0, []int64{9}},
		{"reference_number=" + refs["9"] + "&type=RESET_PIN", 0, 0, []int64{}},
		{"reference_number=GW-NOPE", 0, 0, []int64{}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			l := list(t, tt.query)
			var numbers []int64
			for _, v := range l.Requests {
				n, _ := strconv.ParseInt(v.Number, 10, 64)
				numbers = append(numbers, n)
			}
			if numbers == nil {
				numbers = []int64{}
			}
			if l.TotalResults != tt.total || l.Offset != tt.offset || l.NumberOfResults != int64(len(tt.numbers)) || !slices.Equal(numbers, tt.numbers) {
				t.Errorf("total %d, offset %d, %d results %v; want %d, %d, %d %v",
					l.TotalResults, l.Offset, l.NumberOfResults, numbers, tt.total, tt.offset, len(tt.numbers), tt.numbers)
			}
		})
	}
	a := e.get(api.PathList, "token=$TOKEN&type=RESET_SMARTCARD")
	golden(t, "list.json", stable(a.Raw))

	bad := []struct{ query, param, code string }{
		{"type=FOO", "type", "E_INVALID_PARAMETER"},
		{"life_cycle_state=DONE", "life_cycle_state", "E_INVALID_PARAMETER"},
		{"number_of_results=0", "number_of_results", "E_INVALID_PARAMETER"},
		{"number_of_results=1001", "number_of_results", "E_INVALID_PARAMETER"},
		{"number_of_results=ten", "number_of_results", "E_INVALID_PARAMETER"},
		{"offset=-1", "offset", "E_INVALID_PARAMETER"},
		{"type=PAIR&type=UNPAIR", "type", "E_INVALID_PARAMETER"},
		{"state=PENDING", "state", "E_UNKNOWN_FIELD"},
	}
	for _, b := range bad {
		a := e.get(api.PathList, "token=$TOKEN&"+b.query)
		if a.HTTP != 400 || a.Status.Message != b.code || len(a.errors(t)) != 1 || a.errors(t)[0].Parameter != b.param {
			t.Errorf("list?%s: %d %s", b.query, a.HTTP, a.Raw)
		}
	}

	// show, by id and by number.
	byID := e.get(api.PathShow, "token=$TOKEN&id=6")
	byNumber := e.get(api.PathShow, "token=$TOKEN&number=6")
	checkFields(t, byID.Data)
	if v := byID.view(t); v.ID != "6" || v.Number != "6" || v.Type != "RESET_PIN" || v.LifeCycleState != "COMPLETED" || *v.ReferenceNumber != refs["6"] {
		t.Errorf("show id=6: %s", byID.Raw)
	}
	if !reflect.DeepEqual(byID.view(t), byNumber.view(t)) {
		t.Errorf("show by id and by number differ:\n%s\n%s", byID.Raw, byNumber.Raw)
	}
	if v := list(t, "number_of_results=1&offset=5").Requests[0]; !reflect.DeepEqual(v, byID.view(t)) {
		t.Errorf("list and show differ:\n%+v\n%+v", v, byID.view(t))
	}
	showBad := []struct {
		query  string
		status int
		code   string
		desc   string
	}{
		{"id=11", 404, "E_NOT_FOUND", "id: no provisioning request with id 11"},
		{"number=11", 404, "E_NOT_FOUND", "number: no provisioning request with number 11"},
		{"", 400, "E_MISSING_FIELD", "id: give id or number (E_MISSING_FIELD)"},
		{"id=1&number=1", 400, "E_FIELD_NOT_ALLOWED", "number: give id or number, not both (E_FIELD_NOT_ALLOWED)"},
		{"id=x", 400, "E_INVALID_PARAMETER", `id: "x" is not a whole number from 1 (E_INVALID_PARAMETER)`},
		{"id=1&type=PAIR", 400, "E_UNKNOWN_FIELD", "type: unknown parameter (expected id, number) (E_UNKNOWN_FIELD)"},
	}
	for _, b := range showBad {
		a := e.get(api.PathShow, "token=$TOKEN&"+b.query)
		if a.HTTP != b.status || a.Status.Code != "ERROR" || a.Status.Message != b.code || a.Status.Description != b.desc {
			t.Errorf("show?%s: %d %s", b.query, a.HTTP, a.Raw)
		}
	}
}

// TestSameAsImport creates the same requests from a CSV file and through the API:
// every column of each pair is equal, apart from the number, the source and times.
func TestSameAsImport(t *testing.T) {
	e := setup(t, noGateway)
	rows := []struct{ csv, method, body string }{
		{"add_services,S1001,SC0000000001,,,SPORTS;MOVIES,,EXPRESS,2026-12-24 18:00:00,true", "add_services",
			`"subscription_identifier": {"number": "S1001"}, "smartcard_identifier": {"serial_number": "SC0000000001"}, "services_set": [{"service_identifier": {"code": "SPORTS"}}, {"service_identifier": {"alternative_code": "MOV"}}], "priority": "EXPRESS", "scheduled_date": "2026-12-24T18:00:00", "process_immediately": true`},
		{"cancel_services,S1002,,1000000002,,KIDS,,,,", "cancel_services",
			`"subscription_identifier": {"number": "S1002"}, "smartcard_identifier": {"alternative_code": "ALT-SC-2"}, "services_set": [{"service_identifier": {"code": "KIDS"}}]`},
		{"pair_smartcard_decoder,,SC0000000003,,STB-0003,,,,,", "pair_smartcard_decoder",
			`"smartcard_identifier": {"serial_number": "SC0000000003"}, "stb_identifier": {"serial_number": "STB-0003"}`},
		{"pair_smartcard_decoder,S1004,SC0000000004,,,,,,,", "pair_smartcard_decoder",
			`"subscription_identifier": {"number": "S1004"}, "smartcard_identifier": {"serial_number": "SC0000000004"}`},
		{"pair_smartcard_decoder,,SC0000000099,,STB-0099,,,,,", "pair_smartcard_decoder",
			`"smartcard_identifier": {"serial_number": "SC0000000099"}, "stb_identifier": {"serial_number": "STB-0099"}`},
		{"reset_pin,S1005,,1000000005,,,,,,", "reset_pin",
			`"subscription_identifier": {"number": "S1005"}, "smartcard_ca_id": "1000000005"`},
		{"set_pin,S1006,SC0000000006,,,,4821,,,false", "set_pin",
			`"subscription_identifier": {"number": "S1006"}, "smartcard_ca_id": "1000000006", "pin": "4821", "process_immediately": false`},
		{"reset_smartcard,S1007,,1000000007,,,,,,", "reset_smartcard",
			`"subscription_identifier": {"number": "S1007"}, "smartcard_ca_id": "1000000007"`},
	}
	dir := t.TempDir()
	csv := "action,subscription_number,smartcard_serial_number,smartcard_ca_id,stb_serial_number,services,pin,priority,scheduled_date,process_immediately\n"
	for _, r := range rows {
		csv += r.csv + "\n"
	}
	path := filepath.Join(dir, "same.csv")
	if err := os.WriteFile(path, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	res, err := importer.New(e.db, log, importer.Options{Now: func() time.Time { return fixedNow }}).ImportFile(context.Background(), path, dir)
	if err != nil || res.Created != len(rows) {
		t.Fatalf("import: %+v, %v", res, err)
	}
	for _, r := range rows {
		e.post(r.method, `{"token": "$TOKEN", `+r.body+`}`).view(t)
	}
	var fields []string
	err = e.db.Select(&fields, `SELECT (to_jsonb(r) - '{id,number,sequence_number,source_file_id,source_line,source_token_id,created_by_token,updated_by_token,created_at,updated_at}'::text[])::text
	    FROM provisioning_requests r ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	if len(fields) != 2*len(rows) {
		t.Fatalf("%d requests, want %d", len(fields), 2*len(rows))
	}
	for i, r := range rows {
		if fields[i] != fields[len(rows)+i] {
			t.Errorf("%s:\n file %s\n API  %s", r.method, fields[i], fields[len(rows)+i])
		}
	}
	// And the sources tell them apart.
	if n := e.count(`SELECT count(*) FROM provisioning_requests WHERE source_file_id = $1 AND source_token_id IS NULL`, res.FileID); n != len(rows) {
		t.Errorf("%d requests from the file, want %d", n, len(rows))
	}
	if n := e.count(`SELECT count(*) FROM provisioning_requests WHERE source_file_id = $1 AND created_by_token IS NULL AND updated_by_token IS NULL`, res.FileID); n != len(rows) {
		t.Errorf("%d requests from the file without a token's name, want %d", n, len(rows))
	}
	if n := e.count(`SELECT count(*) FROM provisioning_requests WHERE source_token_id IS NOT NULL AND source_file_id IS NULL
	    AND created_by_token = 'crm' AND updated_by_token = 'crm'`); n != len(rows) {
		t.Errorf("%d requests from the API, want %d", n, len(rows))
	}
}

// TestReference: the caller's reference makes a repeated call a duplicate (409),
// whether the first request came through the API or from a file.
func TestReference(t *testing.T) {
	e := setup(t, noGateway)
	body := `{"token": "$TOKEN", "subscription_identifier": {"number": "S1004"}, "smartcard_ca_id": "1000000004", "reference": "CRM-42"}`
	if a := e.post("reset_pin", body); a.HTTP != 200 {
		t.Fatalf("first: %d %s", a.HTTP, a.Raw)
	}
	a := e.post("reset_smartcard", body)
	want := []problem{{"reference", "E_DUPLICATE_REFERENCE", "reference CRM-42 is already used by another request"}}
	if a.HTTP != http.StatusConflict || a.Status.Message != "E_DUPLICATE_REFERENCE" || !reflect.DeepEqual(a.errors(t), want) {
		t.Errorf("again: %d %s", a.HTTP, a.Raw)
	}
	// A duplicate among other problems is a 400: the call is wrong anyway.
	a = e.post("reset_smartcard", `{"token": "$TOKEN", "subscription_identifier": {"number": "S1001"}, "smartcard_ca_id": "1000000004", "reference": "CRM-42"}`)
	if a.HTTP != http.StatusBadRequest || len(a.errors(t)) != 2 {
		t.Errorf("duplicate and wrong: %d %s", a.HTTP, a.Raw)
	}
	if n := e.requests(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

// TestReferenceRace: calls racing with the same reference create one request; the
// others get 409, whether the lookup or the unique index caught them.
func TestReferenceRace(t *testing.T) {
	e := setup(t, noGateway)
	const n = 8
	statuses := make(chan int, n)
	for i := 0; i < n; i++ {
		go func() {
			statuses <- e.post("reset_pin", `{"token": "$TOKEN", "subscription_identifier": {"number": "S1004"}, "smartcard_ca_id": "1000000004", "reference": "CRM-RACE"}`).HTTP
		}()
	}
	got := map[int]int{}
	for i := 0; i < n; i++ {
		got[<-statuses]++
	}
	if got[200] != 1 || got[409] != n-1 {
		t.Errorf("statuses %v, want one 200 and %d 409", got, n-1)
	}
	if c := e.requests(); c != 1 {
		t.Errorf("%d requests, want 1", c)
	}
}

// TestDatabaseDown: an internal failure is a 500 with the envelope, saying nothing of
// the cause; the log says it.
func TestDatabaseDown(t *testing.T) {
	e := setup(t, noGateway)
	e.db.Close()
	a := e.post("reset_pin", `{"token": "$TOKEN", "subscription_identifier": {"number": "S1004"}, "smartcard_ca_id": "1000000004"}`)
	if a.HTTP != 500 || a.Status.Code != "ERROR" || a.Status.Message != "E_INTERNAL" || a.Status.Description != "internal error; the call may be repeated" {
		t.Errorf("answer %d %s", a.HTTP, a.Raw)
	}
	if !strings.Contains(e.logs.String(), `"error":"look up token: sql: database is closed"`) {
		t.Errorf("the cause is not logged:\n%s", e.logs)
	}
}
