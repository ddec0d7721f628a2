package api_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/provisioner/provisioner/api"
)

// goTypes are what a decoding error of the standard library shows of Go: never in
// an answer.
var goTypes = regexp.MustCompile(`map\[|json\.|Go value|Go struct|RawMessage`)

// TestHostileBodies: a NUL in any string, a key given twice at any depth, and
// bodies that are not one JSON object are refused with 400, naming what is wrong
// in the API's words; nothing is created and nothing is logged as an error.
func TestHostileBodies(t *testing.T) {
	e := setup(t, noGateway)
	const card = `"smartcard_identifier": {"serial_number": "SC0000000001"}`
	const services = `"services_set": [{"service_identifier": {"code": "SPORTS"}}]`
	tests := []struct {
		name, method, body string
		code               string
		params             []string // data.errors' parameters; nil: no data
		desc               string   // in status.description
	}{
		{"NUL in a serial number", "add_services",
			`{"token": "$TOKEN", "smartcard_identifier": {"serial_number": "SC\u00000001"}, ` + services + `}`,
			"E_ENCODING", []string{"smartcard_identifier.serial_number"}, "smartcard_identifier.serial_number: holds a NUL character"},
		{"NUL in a service code", "add_services",
			`{"token": "$TOKEN", ` + card + `, "services_set": [{"service_identifier": {"code": "SPORTS"}}, {"service_identifier": {"code": "K\u0000"}}]}`,
			"E_ENCODING", []string{"services_set[1].service_identifier.code"}, "services_set[1].service_identifier.code: holds a NUL"},
		{"NUL in the reference and the PIN", "set_pin",
			`{"token": "$TOKEN", "subscription_identifier": {"number": "S1005"}, "smartcard_ca_id": "1000000005", "pin": "48\u000021", "reference": "\u0000"}`,
			"E_ENCODING", []string{"pin", "reference"}, "pin: holds a NUL character"},
		{"NUL in a key", "reset_pin",
			`{"token": "$TOKEN", "subscription_identifier": {"number": "S1004"}, "smartcard_ca_id": "1000000004", "x\u0000y": 1}`,
			"E_ENCODING", []string{`x\u0000y`}, "a key holds a NUL character"},
		{"token twice, the good one last", "reset_pin",
			`{"token": "bad", "token": "$TOKEN", "subscription_identifier": {"number": "S1004"}, "smartcard_ca_id": "1000000004"}`,
			"E_MALFORMED_REQUEST", []string{"token"}, "token: is given more than once"},
		{"token twice, the good one first", "reset_pin",
			`{"token": "$TOKEN", "token": "bad", "subscription_identifier": {"number": "S1004"}, "smartcard_ca_id": "1000000004"}`,
			"E_MALFORMED_REQUEST", []string{"token"}, "token: is given more than once"},
		{"PIN twice", "set_pin",
			`{"token": "$TOKEN", "subscription_identifier": {"number": "S1005"}, "smartcard_ca_id": "1000000005", "pin": "0000", "pin": "4821"}`,
			"E_MALFORMED_REQUEST", []string{"pin"}, "pin: is given more than once"},
		{"a key twice in an identifier", "add_services",
			`{"token": "$TOKEN", "smartcard_identifier": {"serial_number": "SC0000000001", "serial_number": "SC0000000002"}, ` + services + `}`,
			"E_MALFORMED_REQUEST", []string{"smartcard_identifier.serial_number"}, "is given more than once"},
		{"a key twice in a list's item", "add_services",
			`{"token": "$TOKEN", ` + card + `, "services_set": [{"service_identifier": {"code": "SPORTS"}}, {"service_identifier": {"code": "KIDS", "code": "NEWS"}}]}`,
			"E_MALFORMED_REQUEST", []string{"services_set[1].service_identifier.code"}, "is given more than once"},
		{"a key twice and a NUL", "reset_pin",
			`{"token": "$TOKEN", "x": "\u0000", "x": 1}`,
			"E_MALFORMED_REQUEST", []string{"x", "x"}, "x: is given more than once"},
		{"null", "reset_pin", `null`, "E_MALFORMED_REQUEST", nil, "body: not a JSON object but null"},
		{"a string", "reset_pin", `"{}"`, "E_MALFORMED_REQUEST", nil, "body: not a JSON object but a string"},
		{"a number", "reset_pin", `12`, "E_MALFORMED_REQUEST", nil, "body: not a JSON object but a number"},
		{"a list", "reset_pin", `[{"token": "$TOKEN"}]`, "E_MALFORMED_REQUEST", nil, "body: not a JSON object but an array"},
		{"cut short", "reset_pin", `{"token": "$TOKEN", "x": [1, {"y": `, "E_MALFORMED_REQUEST", nil, "body: not one JSON object: the JSON ends too soon"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := e.post(tt.method, tt.body)
			if a.HTTP != http.StatusBadRequest || a.Status.Message != tt.code || !strings.Contains(a.Status.Description, tt.desc) {
				t.Fatalf("answer %d %s\nwant 400 %s with %q", a.HTTP, a.Raw, tt.code, tt.desc)
			}
			if goTypes.Match(a.Raw) {
				t.Errorf("the answer names Go types: %s", a.Raw)
			}
			var params []string
			if string(a.Data) != "null" {
				for _, p := range a.errors(t) {
					params = append(params, p.Parameter)
				}
			}
			if fmt.Sprint(params) != fmt.Sprint(tt.params) {
				t.Errorf("parameters %q, want %q: %s", params, tt.params, a.Raw)
			}
		})
	}
	if n := e.requests(); n != 0 {
		t.Errorf("%d requests created", n)
	}
	if strings.Contains(e.logs.String(), `"level":"error"`) {
		t.Errorf("an error logged:\n%s", e.logs)
	}
}

// TestHostileQueries: a NUL in a parameter of show or list is refused with 400
// naming it, not passed to the database (500).
func TestHostileQueries(t *testing.T) {
	e := setup(t, noGateway)
	for _, q := range []struct{ path, query, param string }{
		{api.PathList, "token=$TOKEN&reference_number=GW%00-1", "reference_number"},
		{api.PathList, "token=$TOKEN&type=PAIR%00", "type"},
		{api.PathShow, "token=$TOKEN&number=1%00", "number"},
	} {
		a := e.get(q.path, q.query)
		if a.HTTP != http.StatusBadRequest || a.Status.Message != "E_ENCODING" || a.errors(t)[0].Parameter != q.param {
			t.Errorf("%s?%s: %d %s", q.path, q.query, a.HTTP, a.Raw)
		}
	}
	if strings.Contains(e.logs.String(), `"level":"error"`) {
		t.Errorf("an error logged:\n%s", e.logs)
	}
}

// TestSlowBody: a body that does not arrive within the server's read timeout is
// answered 408, and the answer does not show the connection's addresses.
func TestSlowBody(t *testing.T) {
	e := setup(t, noGateway)
	srv := httptest.NewUnstartedServer(e.api.Handler())
	srv.Config.ReadTimeout = 2 * time.Second // the headers are sent at once: only the body is slow
	srv.Start()
	t.Cleanup(srv.Close)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST %sreset_pin HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"token\": ", api.CreatePrefix)
	// The rest never comes: the answer is the server's, once its deadline passes.
	conn.SetReadDeadline(time.Now().Add(time.Minute))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a answer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatal(err)
	}
	local, remote := conn.LocalAddr().String(), conn.RemoteAddr().String()
	_, lport, _ := net.SplitHostPort(local)
	_, rport, _ := net.SplitHostPort(remote)
	desc := a.Status.Description
	if resp.StatusCode != http.StatusRequestTimeout || a.Status.Message != "E_REQUEST_TIMEOUT" {
		t.Errorf("answer %d %+v, want 408 E_REQUEST_TIMEOUT", resp.StatusCode, a.Status)
	}
	if strings.Contains(desc, "127.0.0.1") || strings.Contains(desc, lport) || strings.Contains(desc, rport) || strings.Contains(desc, "tcp") {
		t.Errorf("the description shows the connection: %q", desc)
	}
}

// TestAllow: a 405 says in Allow which method the path takes.
func TestAllow(t *testing.T) {
	e := setup(t, noGateway)
	for _, tt := range []struct{ verb, path, allow string }{
		{"GET", api.CreatePrefix + "reset_pin", "POST"},
		{"PUT", api.CreatePrefix + "set_pin", "POST"},
		{"POST", api.PathShow, "GET, HEAD"},
		{"DELETE", api.PathList, "GET, HEAD"},
		{"POST", api.PathHealth, "GET, HEAD"},
	} {
		a := e.do(tt.verb, e.url+tt.path, "{}")
		if a.HTTP != http.StatusMethodNotAllowed || a.Header.Get("Allow") != tt.allow {
			t.Errorf("%s %s: %d, Allow %q; want 405, Allow %q", tt.verb, tt.path, a.HTTP, a.Header.Get("Allow"), tt.allow)
		}
	}
}

// TestRequestID: every answer carries an X-Request-Id, the caller's when it is
// sane, and the access log line has it.
func TestRequestID(t *testing.T) {
	e := setup(t, noGateway)
	generated := regexp.MustCompile(`^[0-9a-f]{32}$`)
	tests := []struct {
		name, verb, path, body string
		given                  []string
		want                   string // "" : a generated one
	}{
		{"a call, with the caller's", "POST", api.CreatePrefix + "reset_pin",
			`{"token": "$TOKEN", "subscription_identifier": {"number": "S1004"}, "smartcard_ca_id": "1000000004"}`, []string{"crm-7f3a:42"}, "crm-7f3a:42"},
		{"a call, without", "POST", api.CreatePrefix + "reset_pin",
			`{"token": "$TOKEN", "subscription_identifier": {"number": "S1004"}, "smartcard_ca_id": "1000000004"}`, nil, ""},
		{"a refusal", "POST", api.CreatePrefix + "reset_pin", `{"token": "$TOKEN"}`, []string{"abc"}, "abc"},
		{"unauthorized", "POST", api.CreatePrefix + "reset_pin", `{"token": "x"}`, []string{"abc.def"}, "abc.def"},
		{"malformed", "POST", api.CreatePrefix + "reset_pin", `null`, []string{"u-1"}, "u-1"},
		{"not found", "POST", "/nope", `{}`, []string{"u-2"}, "u-2"},
		{"405", "GET", api.CreatePrefix + "reset_pin", ``, []string{"u-3"}, "u-3"},
		{"show", "GET", api.PathShow + "?token=$TOKEN&number=1", ``, []string{"u-4"}, "u-4"},
		{"health", "GET", api.PathHealth, ``, []string{"u-5"}, "u-5"},
		{"too long", "POST", "/nope", `{}`, []string{strings.Repeat("a", 129)}, ""},
		{"a space", "POST", "/nope", `{}`, []string{"a b"}, ""},
		{"a tab", "POST", "/nope", `{}`, []string{"a\tb"}, ""},
		{"a quote", "POST", "/nope", `{}`, []string{`a"b`}, ""},
		{"given twice", "POST", "/nope", `{}`, []string{"a", "b"}, ""},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.verb, e.url+replaceToken(tt.path, e.token), strings.NewReader(replaceToken(tt.body, e.token)))
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range tt.given {
				req.Header.Add(api.HeaderRequestID, v)
			}
			before := len(e.logs.String())
			a := e.send(http.DefaultClient, req)
			got := a.Header.Get(api.HeaderRequestID)
			switch {
			case tt.want != "" && got != tt.want:
				t.Errorf("X-Request-Id %q, want the caller's %q", got, tt.want)
			case tt.want == "" && (!generated.MatchString(got) || seen[got]):
				t.Errorf("X-Request-Id %q, want a new one", got)
			}
			seen[got] = true
			var line struct {
				Msg string `json:"msg"`
				XID string `json:"x_request_id"`
			}
			logged := strings.TrimSpace(e.logs.String()[before:])
			if err := json.Unmarshal([]byte(logged), &line); err != nil || !strings.HasPrefix(line.Msg, "api call") || line.XID != got {
				t.Errorf("log line %q (%v): want one access line with x_request_id %q", logged, err, got)
			}
		})
	}
}

// TestBruteForce: after AuthFailures failed tokens from one address, its calls get
// 429 with Retry-After, without the database, for the window; a valid token from
// another address is unaffected; the log has one line for the window, not one per
// refused call.
func TestBruteForce(t *testing.T) {
	const failures = 5
	e := setupWith(t, noGateway, func(o *api.Options) { o.AuthFailures, o.AuthWindow = failures, time.Hour })
	good := `{"token": "$TOKEN", "subscription_identifier": {"number": "S1004"}, "smartcard_ca_id": "1000000004"}`
	bad := `{"token": "prov_guess", "subscription_identifier": {"number": "S1004"}, "smartcard_ca_id": "1000000004"}`
	other := from(t, "127.0.0.2")
	post := func(client *http.Client, body string) answer {
		t.Helper()
		req, err := http.NewRequest("POST", e.url+api.CreatePrefix+"reset_pin", strings.NewReader(replaceToken(body, e.token)))
		if err != nil {
			t.Fatal(err)
		}
		return e.send(client, req)
	}
	for i := range failures {
		if a := post(http.DefaultClient, bad); a.HTTP != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d %s", i+1, a.HTTP, a.Raw)
		}
	}
	blocked := func(a answer) bool {
		secs, err := strconv.Atoi(a.Header.Get("Retry-After"))
		return a.HTTP == http.StatusTooManyRequests && a.Status.Message == "E_TOO_MANY_FAILURES" && err == nil && secs > 3500 && secs <= 3600
	}
	// Bounded: the 29,639 in 10 s, scaled down.
	for i := range 300 {
		if a := post(http.DefaultClient, bad); !blocked(a) {
			t.Fatalf("call %d after the failures: %d %s %v", i, a.HTTP, a.Raw, a.Header)
		}
	}
	if a := post(http.DefaultClient, good); !blocked(a) {
		t.Errorf("a good token from the blocked address: %d %s", a.HTTP, a.Raw)
	}
	if a := e.get(api.PathShow, "token=$TOKEN&number=1"); !blocked(a) {
		t.Errorf("show from the blocked address: %d %s", a.HTTP, a.Raw)
	}
	if a := post(other, good); a.HTTP != http.StatusOK {
		t.Errorf("a good token from another address: %d %s", a.HTTP, a.Raw)
	}
	logs := e.logs.String()
	if n := strings.Count(logs, `"error_code":"E_UNAUTHORIZED"`); n != failures {
		t.Errorf("%d lines of failed tokens, want %d", n, failures)
	}
	if n := strings.Count(logs, "too many failed tokens from one address"); n != 1 {
		t.Errorf("%d lines for the block, want 1:\n%s", n, logs)
	}
	if n := strings.Count(logs, "E_TOO_MANY_FAILURES"); n != 0 {
		t.Errorf("%d lines for refused calls, want none", n)
	}
	// Without the database: with it gone, a blocked call is still 429, not 500.
	e.db.Close()
	if a := post(http.DefaultClient, bad); !blocked(a) {
		t.Errorf("a blocked call with the database closed: %d %s", a.HTTP, a.Raw)
	}
	if a := post(other, good); a.HTTP != http.StatusInternalServerError {
		t.Errorf("the database is not closed after all: %d %s", a.HTTP, a.Raw)
	}
}
