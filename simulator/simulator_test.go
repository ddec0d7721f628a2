package simulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/provisioner/provisioner/casapi"
)

// TestCommands covers every command type with every error code of the
// page's table: setup is sent first and must complete; then cmd must get
// exactly want, and the listed cards must then be in exactly the given state.
func TestCommands(t *testing.T) {
	with := func(st casapi.SmartcardState, f func(*casapi.SmartcardState)) casapi.SmartcardState {
		f(&st)
		return st
	}
	disabled := with(fresh("SCD"), func(s *casapi.SmartcardState) { s.Status = casapi.SmartcardDisabled })
	cases := []struct {
		name  string
		setup []casapi.Command
		cmd   casapi.Command
		want  casapi.Result // Reference: the one after the setup's
		state []casapi.SmartcardState
	}{
		// ADD_PRODUCTS
		{"add", nil, add("c", "SC1", "P1", "P2"), completed("c", 1),
			[]casapi.SmartcardState{with(fresh("SC1"), func(s *casapi.SmartcardState) { s.Products = []string{"P1", "P2"} })}},
		{"add already entitled stays", []casapi.Command{add("s1", "SC1", "P1")}, add("c", "SC1", "P2", "P1"), completed("c", 2),
			[]casapi.SmartcardState{with(fresh("SC1"), func(s *casapi.SmartcardState) { s.Products = []string{"P1", "P2"} })}},
		{"add product listed twice", nil, add("c", "SC1", "P1", "P1"), completed("c", 1),
			[]casapi.SmartcardState{with(fresh("SC1"), func(s *casapi.SmartcardState) { s.Products = []string{"P1"} })}},
		{"add unknown smartcard", nil, add("c", "SCX", "P1"),
			rejected("c", 1, casapi.ErrCodeUnknownSmartcard, "smartcard SCX is not known"), nil},
		{"add disabled", nil, add("c", "SCD", "P1"),
			rejected("c", 1, casapi.ErrCodeSmartcardDisabled, "smartcard SCD is disabled"), []casapi.SmartcardState{disabled}},
		{"add disabled before unknown product", nil, add("c", "SCD", "PX"),
			rejected("c", 1, casapi.ErrCodeSmartcardDisabled, "smartcard SCD is disabled"), []casapi.SmartcardState{disabled}},
		{"add unknown product applies nothing", nil, add("c", "SC1", "P1", "PX", "P2"),
			rejected("c", 1, casapi.ErrCodeUnknownProduct, "product PX is not known"), []casapi.SmartcardState{fresh("SC1")}},

		// CANCEL_PRODUCTS
		{"cancel", []casapi.Command{add("s1", "SC1", "P1", "P2", "P3")}, cancel("c", "SC1", "P3", "P1"), completed("c", 2),
			[]casapi.SmartcardState{with(fresh("SC1"), func(s *casapi.SmartcardState) { s.Products = []string{"P2"} })}},
		{"cancel unknown smartcard", nil, cancel("c", "SCX", "P1"),
			rejected("c", 1, casapi.ErrCodeUnknownSmartcard, "smartcard SCX is not known"), nil},
		{"cancel unknown product before not entitled", []casapi.Command{add("s1", "SC1", "P1")}, cancel("c", "SC1", "P2", "PX"),
			rejected("c", 2, casapi.ErrCodeUnknownProduct, "product PX is not known"),
			[]casapi.SmartcardState{with(fresh("SC1"), func(s *casapi.SmartcardState) { s.Products = []string{"P1"} })}},
		{"cancel not entitled changes nothing", []casapi.Command{add("s1", "SC1", "P1", "P3")}, cancel("c", "SC1", "P1", "P2"),
			rejected("c", 2, casapi.ErrCodeNotEntitled, "smartcard SC1 is not entitled to P2"),
			[]casapi.SmartcardState{with(fresh("SC1"), func(s *casapi.SmartcardState) { s.Products = []string{"P1", "P3"} })}},
		{"cancel on disabled card is not refused for being disabled", nil, cancel("c", "SCD", "P1"),
			rejected("c", 1, casapi.ErrCodeNotEntitled, "smartcard SCD is not entitled to P1"), []casapi.SmartcardState{disabled}},

		// PAIR
		{"pair", nil, pair("c", "SC1", "STB1"), completed("c", 1),
			[]casapi.SmartcardState{with(fresh("SC1"), func(s *casapi.SmartcardState) { s.STB = "STB1" })}},
		{"pair replaces earlier pairing", []casapi.Command{pair("s1", "SC1", "STB1")}, pair("c", "SC1", "STB2"), completed("c", 2),
			[]casapi.SmartcardState{with(fresh("SC1"), func(s *casapi.SmartcardState) { s.STB = "STB2" })}},
		{"pair frees the earlier STB", []casapi.Command{pair("s1", "SC1", "STB1"), pair("s2", "SC1", "STB2")}, pair("c", "SC2", "STB1"), completed("c", 3),
			[]casapi.SmartcardState{
				with(fresh("SC1"), func(s *casapi.SmartcardState) { s.STB = "STB2" }),
				with(fresh("SC2"), func(s *casapi.SmartcardState) { s.STB = "STB1" }),
			}},
		{"pair again with the same STB", []casapi.Command{pair("s1", "SC1", "STB1")}, pair("c", "SC1", "STB1"), completed("c", 2),
			[]casapi.SmartcardState{with(fresh("SC1"), func(s *casapi.SmartcardState) { s.STB = "STB1" })}},
		{"pair disabled card", nil, pair("c", "SCD", "STB1"), completed("c", 1),
			[]casapi.SmartcardState{with(disabled, func(s *casapi.SmartcardState) { s.STB = "STB1" })}},
		{"pair unknown smartcard", nil, pair("c", "SCX", "STBX"),
			rejected("c", 1, casapi.ErrCodeUnknownSmartcard, "smartcard SCX is not known"), nil},
		{"pair unknown STB", []casapi.Command{pair("s1", "SC1", "STB1")}, pair("c", "SC1", "STBX"),
			rejected("c", 2, casapi.ErrCodeUnknownSTB, "STB STBX is not known"),
			[]casapi.SmartcardState{with(fresh("SC1"), func(s *casapi.SmartcardState) { s.STB = "STB1" })}},
		{"pair STB paired elsewhere", []casapi.Command{pair("s1", "SC2", "STB1"), pair("s2", "SC1", "STB2")}, pair("c", "SC1", "STB1"),
			rejected("c", 3, casapi.ErrCodeSTBPairedElsewhere, "STB1 is paired with SC2"),
			[]casapi.SmartcardState{
				with(fresh("SC1"), func(s *casapi.SmartcardState) { s.STB = "STB2" }),
				with(fresh("SC2"), func(s *casapi.SmartcardState) { s.STB = "STB1" }),
			}},

		// UNPAIR
		{"unpair", []casapi.Command{pair("s1", "SC1", "STB1")}, unpair("c", "SC1"), completed("c", 2),
			[]casapi.SmartcardState{fresh("SC1")}},
		{"unpair frees the STB", []casapi.Command{pair("s1", "SC1", "STB1"), unpair("s2", "SC1")}, pair("c", "SC2", "STB1"), completed("c", 3),
			[]casapi.SmartcardState{fresh("SC1"), with(fresh("SC2"), func(s *casapi.SmartcardState) { s.STB = "STB1" })}},
		{"unpair disabled card", []casapi.Command{pair("s1", "SCD", "STB1")}, unpair("c", "SCD"), completed("c", 2),
			[]casapi.SmartcardState{disabled}},
		{"unpair unknown smartcard", nil, unpair("c", "SCX"),
			rejected("c", 1, casapi.ErrCodeUnknownSmartcard, "smartcard SCX is not known"), nil},
		{"unpair not paired", nil, unpair("c", "SC1"),
			rejected("c", 1, casapi.ErrCodeNotPaired, "smartcard SC1 is not paired"), []casapi.SmartcardState{fresh("SC1")}},

		// RESET_PIN
		{"reset pin", []casapi.Command{setPIN("s1", "SC1", "4821")}, resetPIN("c", "SC1"), completed("c", 2),
			[]casapi.SmartcardState{fresh("SC1")}},
		{"reset pin already default", nil, resetPIN("c", "SC1"), completed("c", 1), []casapi.SmartcardState{fresh("SC1")}},
		{"reset pin disabled card", []casapi.Command{setPIN("s1", "SCD", "4821")}, resetPIN("c", "SCD"), completed("c", 2),
			[]casapi.SmartcardState{disabled}},
		{"reset pin unknown smartcard", nil, resetPIN("c", "SCX"),
			rejected("c", 1, casapi.ErrCodeUnknownSmartcard, "smartcard SCX is not known"), nil},

		// SET_PIN
		{"set pin", nil, setPIN("c", "SC1", "4821"), completed("c", 1),
			[]casapi.SmartcardState{with(fresh("SC1"), func(s *casapi.SmartcardState) { s.PINIsDefault = false })}},
		{"set pin disabled card", nil, setPIN("c", "SCD", "4821"), completed("c", 1),
			[]casapi.SmartcardState{with(disabled, func(s *casapi.SmartcardState) { s.PINIsDefault = false })}},
		{"set pin 0000", []casapi.Command{setPIN("s1", "SC1", "4821")}, setPIN("c", "SC1", "0000"),
			rejected("c", 2, casapi.ErrCodeInvalidPIN, "PIN 0000 may not be set"),
			[]casapi.SmartcardState{with(fresh("SC1"), func(s *casapi.SmartcardState) { s.PINIsDefault = false })}},
		{"set pin unknown smartcard", nil, setPIN("c", "SCX", "4821"),
			rejected("c", 1, casapi.ErrCodeUnknownSmartcard, "smartcard SCX is not known"), nil},

		// RESET_SMARTCARD
		{"reset smartcard changes nothing", []casapi.Command{add("s1", "SC1", "P1"), pair("s2", "SC1", "STB3"), setPIN("s3", "SC1", "1111")},
			resetCard("c", "SC1"), completed("c", 4),
			[]casapi.SmartcardState{{Smartcard: "SC1", Status: casapi.SmartcardActive, Products: []string{"P1"}, STB: "STB3", PINIsDefault: false}}},
		{"reset smartcard disabled card", nil, resetCard("c", "SCD"), completed("c", 1), []casapi.SmartcardState{disabled}},
		{"reset smartcard unknown smartcard", nil, resetCard("c", "SCX"),
			rejected("c", 1, casapi.ErrCodeUnknownSmartcard, "smartcard SCX is not known"), nil},
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		seen[tc.cmd.Type+"/"+tc.want.ErrorCode] = true
		t.Run(tc.name, func(t *testing.T) {
			g := startDefault(t)
			if len(tc.setup) > 0 {
				for i, r := range g.send(tc.setup...) {
					if want := completed(tc.setup[i].CommandID, i+1); r != want {
						t.Fatalf("setup %d: %+v, want %+v", i, r, want)
					}
				}
			}
			got := g.send(tc.cmd)[0]
			if got != tc.want {
				t.Fatalf("result\n got %+v\nwant %+v", got, tc.want)
			}
			for _, want := range tc.state {
				if st := g.state(want.Smartcard); !reflect.DeepEqual(st, want) {
					t.Errorf("state\n got %+v\nwant %+v", st, want)
				}
			}
			wantLog := len(tc.setup)
			if got.Status == casapi.StatusCompleted {
				wantLog++
			}
			if n := len(g.sim.AppliedLog()); n != wantLog {
				t.Errorf("applied log has %d entries, want %d", n, wantLog)
			}
		})
	}
	// Every code of the page's table, for every type that lists it.
	table := map[string][]string{
		casapi.TypeAddProducts:    {casapi.ErrCodeUnknownSmartcard, casapi.ErrCodeSmartcardDisabled, casapi.ErrCodeUnknownProduct},
		casapi.TypeCancelProducts: {casapi.ErrCodeUnknownSmartcard, casapi.ErrCodeUnknownProduct, casapi.ErrCodeNotEntitled},
		casapi.TypePair:           {casapi.ErrCodeUnknownSmartcard, casapi.ErrCodeUnknownSTB, casapi.ErrCodeSTBPairedElsewhere},
		casapi.TypeUnpair:         {casapi.ErrCodeUnknownSmartcard, casapi.ErrCodeNotPaired},
		casapi.TypeResetPIN:       {casapi.ErrCodeUnknownSmartcard},
		casapi.TypeSetPIN:         {casapi.ErrCodeUnknownSmartcard, casapi.ErrCodeInvalidPIN},
		casapi.TypeResetSmartcard: {casapi.ErrCodeUnknownSmartcard},
	}
	for typ, codes := range table {
		for _, code := range append(codes, "") {
			if !seen[typ+"/"+code] {
				t.Errorf("no case for %s answered %q", typ, code)
			}
		}
	}
}

// TestBatchOrderAndReferences: one result per command in order, references
// increasing over COMPLETED and REJECTED, and a failing command does not stop
// the ones after it.
func TestBatchOrderAndReferences(t *testing.T) {
	g := startDefault(t)
	got := g.send(
		add("18572", "SC1", "P1", "P2"),
		pair("18573", "SC2", "STB1"),
		pair("18574", "SC1", "STB1"),
		setPIN("18575", "SC1", "4821"),
	)
	want := []casapi.Result{
		completed("18572", 1),
		completed("18573", 2),
		rejected("18574", 3, casapi.ErrCodeSTBPairedElsewhere, "STB1 is paired with SC2"),
		completed("18575", 4),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("results\n got %+v\nwant %+v", got, want)
	}
	wantLog := []AppliedEntry{
		{Seq: 1, CommandID: "18572", Type: casapi.TypeAddProducts, Smartcard: "SC1", Reference: ref(1)},
		{Seq: 2, CommandID: "18573", Type: casapi.TypePair, Smartcard: "SC2", Reference: ref(2)},
		{Seq: 3, CommandID: "18575", Type: casapi.TypeSetPIN, Smartcard: "SC1", Reference: ref(4)},
	}
	if log := g.sim.AppliedLog(); !reflect.DeepEqual(log, wantLog) {
		t.Fatalf("log\n got %+v\nwant %+v", log, wantLog)
	}
}

func TestAuth(t *testing.T) {
	right := casapi.BearerPrefix + testToken
	cases := []struct {
		name   string
		hdr    map[string]string
		status int
		body   string
	}{
		{"no headers", map[string]string{}, 401, "missing or wrong bearer token\n"},
		{"no token", map[string]string{casapi.HeaderDestinationID: testDest}, 401, "missing or wrong bearer token\n"},
		{"wrong token", map[string]string{casapi.HeaderAuthorization: "Bearer nope", casapi.HeaderDestinationID: testDest}, 401, "missing or wrong bearer token\n"},
		{"token without scheme", map[string]string{casapi.HeaderAuthorization: testToken, casapi.HeaderDestinationID: testDest}, 401, "missing or wrong bearer token\n"},
		{"token with more", map[string]string{casapi.HeaderAuthorization: right + "x", casapi.HeaderDestinationID: testDest}, 401, "missing or wrong bearer token\n"},
		{"wrong token and destination", map[string]string{casapi.HeaderAuthorization: "Bearer nope", casapi.HeaderDestinationID: "CRM99"}, 401, "missing or wrong bearer token\n"},
		{"no destination", map[string]string{casapi.HeaderAuthorization: right}, 403, "unknown destination\n"},
		{"unknown destination", map[string]string{casapi.HeaderAuthorization: right, casapi.HeaderDestinationID: "CRM99"}, 403, "unknown destination\n"},
		{"destination in other case", map[string]string{casapi.HeaderAuthorization: right, casapi.HeaderDestinationID: "crm01"}, 403, "unknown destination\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := startDefault(t)
			batch := mustJSON(t, casapi.Batch{BatchID: "b", Commands: []casapi.Command{add("1", "SC1", "P1")}})
			calls := []struct{ method, path string }{
				{http.MethodPost, casapi.PathBatches},
				{http.MethodGet, casapi.PathSmartcards + "SC1"},
				{http.MethodGet, casapi.PathHealth},
			}
			for _, c := range calls {
				var body []byte
				if c.method == http.MethodPost {
					body = batch
				}
				a, err := g.request(g.hc, c.method, c.path, body, tc.hdr)
				if err != nil {
					t.Fatal(err)
				}
				if a.status != tc.status || string(a.body) != tc.body {
					t.Errorf("%s %s: %d %q, want %d %q", c.method, c.path, a.status, a.body, tc.status, tc.body)
				}
			}
			if log := g.sim.AppliedLog(); len(log) != 0 {
				t.Fatalf("applied %+v", log)
			}
			if st := g.state("SC1"); !reflect.DeepEqual(st, fresh("SC1")) {
				t.Fatalf("state %+v", st)
			}
			st := g.sim.Stats()
			if st.Batches != 0 || st.HTTPStatus[tc.status] != 3 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
	t.Run("health", func(t *testing.T) {
		g := startDefault(t)
		a := g.call(http.MethodGet, casapi.PathHealth, nil)
		if a.status != 200 || string(a.body) != "{\"status\":\"ok\"}\n" || a.header.Get("Content-Type") != "application/json" {
			t.Fatalf("health: %d %q %q", a.status, a.body, a.header.Get("Content-Type"))
		}
	})
}

func TestSmartcardEndpoint(t *testing.T) {
	g := startDefault(t)
	cases := []struct {
		id     string
		status int
		body   string
	}{
		{"SC1", 200, `{"smartcard":"SC1","status":"ACTIVE","products":[],"pin_is_default":true}`},
		{"SCD", 200, `{"smartcard":"SCD","status":"DISABLED","products":[],"pin_is_default":true}`},
		{"SCX", 404, `{"error_code":"E_UNKNOWN_SMARTCARD","error_description":"smartcard SCX is not known"}`},
		{"SC2", 200, `{"smartcard":"SC2","status":"ACTIVE","products":["P1","P2","P3"],"stb":"STB2","pin_is_default":false}`},
	}
	g.send(add("1", "SC2", "P3", "P1", "P2"), pair("2", "SC2", "STB2"), setPIN("3", "SC2", "9999"))
	for _, tc := range cases {
		a := g.call(http.MethodGet, casapi.PathSmartcards+tc.id, nil)
		if a.status != tc.status || string(a.body) != tc.body+"\n" {
			t.Errorf("GET %s: %d %s, want %d %s", tc.id, a.status, a.body, tc.status, tc.body)
		}
	}
}

// TestMalformed: every rule of the page's field table broken on the wire
// gets 400 E_BAD_REQUEST and nothing of the batch is applied, the valid
// commands before the bad one included.
func TestMalformed(t *testing.T) {
	const ok = `{"command_id":"ok","type":"ADD_PRODUCTS","smartcard":"SC1","products":["P1"]}`
	batch := func(cmd string) string { return `{"batch_id":"b","commands":[` + ok + `,` + cmd + `]}` }
	products65 := `["P1"` + strings.Repeat(`,"P1"`, 64) + `]`
	cases := []struct {
		name, body, desc string
	}{
		{"empty body", ``, `body: not a JSON object: unexpected end of JSON input`},
		{"not JSON", `{"batch_id":`, `body: not a JSON object: unexpected end of JSON input`},
		{"array", `[]`, `body: not a JSON object: json: cannot unmarshal array into Go value of type map[string]json.RawMessage`},
		{"null", `null`, `body: not a JSON object`},
		{"trailing data", `{"batch_id":"b","commands":[` + ok + `]} {}`, `body: not a JSON object: invalid character '{' after top-level value`},
		{"unknown top field", `{"batch_id":"b","commands":[` + ok + `],"priority":1}`, `unknown field "priority"`},
		{"top field in other case", `{"Batch_ID":"b","commands":[` + ok + `]}`, `unknown field "Batch_ID"`},
		{"batch_id missing", `{"commands":[` + ok + `]}`, `batch_id: must be 1 to 64 characters, has 0`},
		{"batch_id empty", `{"batch_id":"","commands":[` + ok + `]}`, `batch_id: must be 1 to 64 characters, has 0`},
		{"batch_id 65", `{"batch_id":"` + strings.Repeat("b", 65) + `","commands":[` + ok + `]}`, `batch_id: must be 1 to 64 characters, has 65`},
		{"batch_id number", `{"batch_id":7,"commands":[` + ok + `]}`, `batch_id: must be a string`},
		{"commands missing", `{"batch_id":"b"}`, `commands: must hold 1 to 500 commands, has none`},
		{"commands empty", `{"batch_id":"b","commands":[]}`, `commands: must hold 1 to 500 commands, has none`},
		{"commands null", `{"batch_id":"b","commands":null}`, `commands: must hold 1 to 500 commands, has none`},
		{"commands object", `{"batch_id":"b","commands":{}}`, `commands: must be an array`},
		{"command not object", batch(`"x"`), `command 1: not a JSON object`},
		{"command null", batch(`null`), `command 1: not a JSON object`},
		{"unknown command field", batch(`{"command_id":"2","type":"UNPAIR","smartcard":"SC1","priority":1}`), `command 1: unknown field "priority"`},
		{"command field in other case", batch(`{"command_id":"2","type":"UNPAIR","Smartcard":"SC1"}`), `command 1: unknown field "Smartcard"`},
		{"replayed is not a request field", batch(`{"command_id":"2","type":"UNPAIR","smartcard":"SC1","replayed":true}`), `command 1: unknown field "replayed"`},
		{"command_id missing", batch(`{"type":"UNPAIR","smartcard":"SC1"}`), `command 1 (command_id ""): command_id: must be 1 to 64 characters, has 0`},
		{"command_id 65", batch(`{"command_id":"` + strings.Repeat("a", 65) + `","type":"UNPAIR","smartcard":"SC1"}`), `command 1 (command_id "` + strings.Repeat("a", 65) + `"): command_id: must be 1 to 64 characters, has 65`},
		{"command_id character", batch(`{"command_id":"a+b","type":"UNPAIR","smartcard":"SC1"}`), `command 1 (command_id "a+b"): command_id: character '+' not allowed, only A-Z a-z 0-9 . _ -`},
		{"command_id number", batch(`{"command_id":18572,"type":"UNPAIR","smartcard":"SC1"}`), `command 1: command_id: must be a string`},
		{"type missing", batch(`{"command_id":"2","smartcard":"SC1"}`), `command 1 (command_id "2"): type: required`},
		{"type unknown", batch(`{"command_id":"2","type":"DISABLE","smartcard":"SC1"}`), `command 1 (command_id "2"): type: unknown command type "DISABLE"`},
		{"smartcard missing", batch(`{"command_id":"2","type":"UNPAIR"}`), `command 1 (command_id "2"): smartcard: required`},
		{"smartcard empty", batch(`{"command_id":"2","type":"UNPAIR","smartcard":""}`), `command 1 (command_id "2"): smartcard: required`},
		{"products missing", batch(`{"command_id":"2","type":"CANCEL_PRODUCTS","smartcard":"SC1"}`), `command 1 (command_id "2"): products: must list 1 to 64 products, lists 0`},
		{"products empty", batch(`{"command_id":"2","type":"ADD_PRODUCTS","smartcard":"SC1","products":[]}`), `command 1 (command_id "2"): products: must list 1 to 64 products, lists 0`},
		{"products 65", batch(`{"command_id":"2","type":"ADD_PRODUCTS","smartcard":"SC1","products":` + products65 + `}`), `command 1 (command_id "2"): products: must list 1 to 64 products, lists 65`},
		{"products not strings", batch(`{"command_id":"2","type":"ADD_PRODUCTS","smartcard":"SC1","products":[1]}`), `command 1: products: must be an array of strings`},
		{"products a string", batch(`{"command_id":"2","type":"ADD_PRODUCTS","smartcard":"SC1","products":"P1"}`), `command 1: products: must be an array of strings`},
		{"product empty", batch(`{"command_id":"2","type":"ADD_PRODUCTS","smartcard":"SC1","products":["P1",""]}`), `command 1 (command_id "2"): products: product 1 is empty`},
		{"product null", batch(`{"command_id":"2","type":"ADD_PRODUCTS","smartcard":"SC1","products":[null]}`), `command 1 (command_id "2"): products: product 0 is empty`},
		{"products on PAIR", batch(`{"command_id":"2","type":"PAIR","smartcard":"SC1","stb":"STB1","products":["P1"]}`), `command 1 (command_id "2"): products: not taken by PAIR, must be absent`},
		{"products empty on UNPAIR", batch(`{"command_id":"2","type":"UNPAIR","smartcard":"SC1","products":[]}`), `command 1 (command_id "2"): products: not taken by UNPAIR, must be absent`},
		{"products null on RESET_PIN", batch(`{"command_id":"2","type":"RESET_PIN","smartcard":"SC1","products":null}`), `command 1 (command_id "2"): products: not taken by RESET_PIN, must be absent`},
		{"stb missing on PAIR", batch(`{"command_id":"2","type":"PAIR","smartcard":"SC1"}`), `command 1 (command_id "2"): stb: required for PAIR`},
		{"stb empty on PAIR", batch(`{"command_id":"2","type":"PAIR","smartcard":"SC1","stb":""}`), `command 1 (command_id "2"): stb: required for PAIR`},
		{"stb on ADD", batch(`{"command_id":"2","type":"ADD_PRODUCTS","smartcard":"SC1","products":["P1"],"stb":"STB1"}`), `command 1 (command_id "2"): stb: not taken by ADD_PRODUCTS, must be absent`},
		{"stb empty on UNPAIR", batch(`{"command_id":"2","type":"UNPAIR","smartcard":"SC1","stb":""}`), `command 1 (command_id "2"): stb: not taken by UNPAIR, must be absent`},
		{"pin missing on SET_PIN", batch(`{"command_id":"2","type":"SET_PIN","smartcard":"SC1"}`), `command 1 (command_id "2"): pin: must be exactly 4 digits`},
		{"pin 3 digits", batch(`{"command_id":"2","type":"SET_PIN","smartcard":"SC1","pin":"123"}`), `command 1 (command_id "2"): pin: must be exactly 4 digits`},
		{"pin 5 digits", batch(`{"command_id":"2","type":"SET_PIN","smartcard":"SC1","pin":"12345"}`), `command 1 (command_id "2"): pin: must be exactly 4 digits`},
		{"pin letters", batch(`{"command_id":"2","type":"SET_PIN","smartcard":"SC1","pin":"12ab"}`), `command 1 (command_id "2"): pin: must be exactly 4 digits`},
		{"pin number", batch(`{"command_id":"2","type":"SET_PIN","smartcard":"SC1","pin":1234}`), `command 1: pin: must be a string`},
		{"pin on RESET_PIN", batch(`{"command_id":"2","type":"RESET_PIN","smartcard":"SC1","pin":"1234"}`), `command 1 (command_id "2"): pin: not taken by RESET_PIN, must be absent`},
		{"pin empty on RESET_SMARTCARD", batch(`{"command_id":"2","type":"RESET_SMARTCARD","smartcard":"SC1","pin":""}`), `command 1 (command_id "2"): pin: not taken by RESET_SMARTCARD, must be absent`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := startDefault(t)
			a := g.call(http.MethodPost, casapi.PathBatches, []byte(tc.body))
			want := mustJSON(t, casapi.ErrorBody{ErrorCode: casapi.ErrCodeBadRequest, ErrorDescription: tc.desc})
			if a.status != http.StatusBadRequest || string(a.body) != string(want)+"\n" {
				t.Fatalf("got %d %s\nwant 400 %s", a.status, a.body, want)
			}
			if log := g.sim.AppliedLog(); len(log) != 0 {
				t.Fatalf("applied %+v", log)
			}
			if st := g.state("SC1"); !reflect.DeepEqual(st, fresh("SC1")) {
				t.Fatalf("state %+v", st)
			}
			if st := g.sim.Stats(); st.CommandsReceived != 0 || st.HTTPStatus[400] != 1 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
	t.Run("valid batch of the same shape", func(t *testing.T) {
		g := startDefault(t)
		a := g.call(http.MethodPost, casapi.PathBatches, []byte(batch(`{"command_id":"2","type":"UNPAIR","smartcard":"SC1"}`)))
		if a.status != 200 {
			t.Fatalf("got %d %s", a.status, a.body)
		}
	})
}

func TestTooMany(t *testing.T) {
	cmds := func(n int) []casapi.Command {
		cs := make([]casapi.Command, n)
		for i := range cs {
			cs[i] = setPIN(fmt.Sprintf("c%d", i), "SC1", fmt.Sprintf("%04d", i+1))
		}
		return cs
	}
	t.Run("501", func(t *testing.T) {
		g := startDefault(t)
		a := g.call(http.MethodPost, casapi.PathBatches, mustJSON(t, casapi.Batch{BatchID: "b", Commands: cmds(501)}))
		if a.status != 413 || string(a.body) != "commands: 501, at most 500 allowed: too many commands\n" {
			t.Fatalf("got %d %q", a.status, a.body)
		}
		if log := g.sim.AppliedLog(); len(log) != 0 {
			t.Fatalf("applied %d", len(log))
		}
	})
	t.Run("501 and malformed", func(t *testing.T) {
		g := startDefault(t)
		cs := cmds(501)
		cs[0].PIN = "x"
		a := g.call(http.MethodPost, casapi.PathBatches, mustJSON(t, casapi.Batch{Commands: cs}))
		if a.status != 413 {
			t.Fatalf("got %d %q", a.status, a.body)
		}
	})
	t.Run("body above 8 MiB", func(t *testing.T) {
		g := startDefault(t)
		body := `{"batch_id":"b","commands":[{"command_id":"1","type":"UNPAIR","smartcard":"` + strings.Repeat("S", 8<<20) + `"}]}`
		a := g.call(http.MethodPost, casapi.PathBatches, []byte(body))
		if a.status != 413 || string(a.body) != "body larger than 8388608 bytes\n" {
			t.Fatalf("got %d %q", a.status, a.body)
		}
	})
	t.Run("500", func(t *testing.T) {
		g := startDefault(t)
		res := g.send(cmds(500)...)
		for i, r := range res {
			if r != completed(fmt.Sprintf("c%d", i), i+1) {
				t.Fatalf("result %d: %+v", i, r)
			}
		}
		if log := g.sim.AppliedLog(); len(log) != 500 || log[499].CommandID != "c499" {
			t.Fatalf("applied %d", len(log))
		}
		if st := g.state("SC1"); st.PINIsDefault {
			t.Fatalf("state %+v", st)
		}
	})
}

func TestReplay(t *testing.T) {
	g := startDefault(t)
	first := []casapi.Command{add("a", "SC1", "P1", "P2"), setPIN("b", "SC1", "0000"), pair("c", "SC1", "STB1")}
	want := []casapi.Result{
		completed("a", 1),
		rejected("b", 2, casapi.ErrCodeInvalidPIN, "PIN 0000 may not be set"),
		completed("c", 3),
	}
	if got := g.send(first...); !reflect.DeepEqual(got, want) {
		t.Fatalf("first send\n got %+v\nwant %+v", got, want)
	}

	// A resend, even after the state moved on, is answered from the store.
	g.send(unpair("d", "SC1"), pair("e", "SC2", "STB1"))
	again := g.send(first...)
	for i := range want {
		if again[i] != replayed(want[i]) {
			t.Fatalf("resend %d: %+v, want %+v", i, again[i], replayed(want[i]))
		}
	}
	if log := g.sim.AppliedLog(); len(log) != 4 {
		t.Fatalf("applied %d, want 4 (a, c, d, e)", len(log))
	}
	if st := g.state("SC2"); st.STB != "STB1" {
		t.Fatalf("replay of c applied again: SC2 %+v", st)
	}

	// The same command_id with another payload: rejected, not applied, not stored.
	reused := []casapi.Command{
		cancel("a", "SC1", "P1", "P2"),
		add("a", "SC2", "P1", "P2"),
		add("a", "SC1", "P1"),
		add("a", "SC1", "P2", "P1"),
		add("a", "SC1", "P1", "P2", "P3"),
		pair("c", "SC1", "STB2"),
		setPIN("b", "SC1", "1234"),
	}
	n := 5 // references handed out so far: a b c d e
	for _, c := range reused {
		n++
		got := g.send(c)[0]
		w := rejected(c.CommandID, n, casapi.ErrCodeCommandIDReused, fmt.Sprintf("command_id %s was used for another request", c.CommandID))
		if got != w {
			t.Fatalf("reuse %+v\n got %+v\nwant %+v", c, got, w)
		}
	}
	if log := g.sim.AppliedLog(); len(log) != 4 {
		t.Fatalf("applied %d, want 4", len(log))
	}
	wantSC1 := casapi.SmartcardState{Smartcard: "SC1", Status: casapi.SmartcardActive, Products: []string{"P1", "P2"}, PINIsDefault: true}
	if st := g.state("SC1"); !reflect.DeepEqual(st, wantSC1) {
		t.Fatalf("SC1 %+v, want %+v", st, wantSC1)
	}
	// The stored outcome is still the first payload's.
	if got := g.send(first[0])[0]; got != replayed(want[0]) {
		t.Fatalf("after reuse: %+v", got)
	}

	// The same command_id twice in one batch: the second is a replay.
	got := g.send(setPIN("f", "SC3", "1234"), setPIN("f", "SC3", "1234"), setPIN("f", "SC3", "5678"))
	wantDup := []casapi.Result{
		completed("f", 13),
		replayed(completed("f", 13)),
		rejected("f", 14, casapi.ErrCodeCommandIDReused, "command_id f was used for another request"),
	}
	if !reflect.DeepEqual(got, wantDup) {
		t.Fatalf("duplicates in one batch\n got %+v\nwant %+v", got, wantDup)
	}

	st := g.sim.Stats()
	// 12 batches and 2 GETs, all answered 200.
	wantStats := Stats{Batches: 12, CommandsReceived: 19, Applied: 5, Replayed: 5, Rejected: 9, HTTPStatus: map[int]int{200: 14}}
	if !reflect.DeepEqual(st, wantStats) {
		t.Fatalf("stats\n got %+v\nwant %+v", st, wantStats)
	}
}

// TestRetryNotStored: a RETRY is not applied and not stored, so a resend
// applies it, and a resend with another payload is no E_COMMAND_ID_REUSED.
func TestRetryNotStored(t *testing.T) {
	t.Run("always busy", func(t *testing.T) {
		cfg := testConfig()
		cfg.Faults.Busy = 1
		g := start(t, cfg, testKnown)
		cmds := []casapi.Command{add("a", "SC1", "P1"), unpair("b", "SCX"), setPIN("c", "SC1", "0000")}
		for round := 0; round < 2; round++ {
			got := g.send(cmds...)
			want := []casapi.Result{busy("a"), busy("b"), busy("c")}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round %d\n got %+v\nwant %+v", round, got, want)
			}
		}
		if log := g.sim.AppliedLog(); len(log) != 0 {
			t.Fatalf("applied %+v", log)
		}
		if st := g.state("SC1"); !reflect.DeepEqual(st, fresh("SC1")) {
			t.Fatalf("state %+v", st)
		}
		if st := g.sim.Stats(); st.Retried != 6 || st.Faults.Busy != 6 || st.Applied != 0 || st.Replayed != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("resend applies", func(t *testing.T) {
		cfg := testConfig()
		cfg.Faults.Busy = 0.5
		g := start(t, cfg, testKnown)
		refs := 0 // references handed out so far
		// firstBusy sends mk(1), mk(2), ... until one is answered RETRY and
		// returns it; the others complete.
		firstBusy := func(mk func(i int) casapi.Command) casapi.Command {
			for i := 1; i <= 50; i++ {
				c := mk(i)
				got := g.send(c)[0]
				if got.Status == casapi.StatusRetry {
					if got != busy(c.CommandID) {
						t.Fatalf("got %+v", got)
					}
					return c
				}
				refs++
				if got != completed(c.CommandID, refs) {
					t.Fatalf("got %+v", got)
				}
			}
			t.Fatal("no RETRY in 50 commands")
			return casapi.Command{}
		}
		// untilDone resends c until it is not RETRY and returns that result.
		untilDone := func(c casapi.Command) casapi.Result {
			for i := 0; i < 50; i++ {
				if got := g.send(c)[0]; got != busy(c.CommandID) {
					return got
				}
			}
			t.Fatal("still RETRY after 50 resends")
			return casapi.Result{}
		}

		// The same payload again: applied now, not replayed.
		a := firstBusy(func(i int) casapi.Command { return add(fmt.Sprintf("a%d", i), "SC1", "P1") })
		refs++
		if got := untilDone(a); got != completed(a.CommandID, refs) {
			t.Fatalf("%s resent: %+v", a.CommandID, got)
		}
		aRef := refs
		// Another payload under the command_id of a RETRY: processed, not
		// refused as a reuse, since nothing was stored.
		d := firstBusy(func(i int) casapi.Command { return setPIN(fmt.Sprintf("d%d", i), "SC2", "1234") })
		d.PIN = "5678"
		refs++
		if got := untilDone(d); got != completed(d.CommandID, refs) {
			t.Fatalf("%s with another PIN: %+v", d.CommandID, got)
		}
		if st := g.state("SC2"); st.PINIsDefault {
			t.Fatalf("SC2 %+v", st)
		}
		// A resend of a stored command is a replay and is never busy.
		for i := 0; i < 20; i++ {
			if r := g.send(a)[0]; r != replayed(completed(a.CommandID, aRef)) {
				t.Fatalf("replay %d: %+v", i, r)
			}
		}
		if log := g.sim.AppliedLog(); len(log) != refs {
			t.Fatalf("applied %d, want %d", len(log), refs)
		}
		st := g.sim.Stats()
		if st.Applied != refs || st.Replayed != 20 || st.Rejected != 0 || st.Retried != st.Faults.Busy || st.Retried < 2 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestSimEndpoints(t *testing.T) {
	g := startDefault(t)
	g.send(add("a", "SC1", "P1"), unpair("b", "SC1"), pair("c", "SC2", "STB1"))
	g.send(add("a", "SC1", "P1"))
	g.call(http.MethodPost, casapi.PathBatches, []byte(`{}`))

	get := func(path string) string {
		a, err := g.request(g.hc, http.MethodGet, path, nil, map[string]string{})
		if err != nil || a.status != 200 {
			t.Fatalf("GET %s: %v %d", path, err, a.status)
		}
		return string(a.body)
	}
	wantStats := `{"batches":3,"commands_received":4,"applied":2,"replayed":1,"rejected":1,"retried":0,"abandoned":0,` +
		`"faults":{"latency":0,"rate_limited":0,"unavailable":0,"partial_failure":0,"drop_after_apply":0,"stall_after_apply":0,"busy":0},` +
		`"http_status":{"200":2,"400":1},"queries":0,"cards_queried":0}` + "\n"
	if got := get("/sim/stats"); got != wantStats {
		t.Fatalf("stats\n got %s\nwant %s", got, wantStats)
	}
	wantLog := `[{"seq":1,"command_id":"a","type":"ADD_PRODUCTS","smartcard":"SC1","reference":"GW-00000001"},` +
		`{"seq":2,"command_id":"c","type":"PAIR","smartcard":"SC2","reference":"GW-00000003"}]` + "\n"
	if got := get("/sim/log"); got != wantLog {
		t.Fatalf("log\n got %s\nwant %s", got, wantLog)
	}

	a, err := g.request(g.hc, http.MethodPost, "/sim/reset", nil, map[string]string{})
	if err != nil || a.status != http.StatusNoContent {
		t.Fatalf("reset: %v %d", err, a.status)
	}
	if got := get("/sim/log"); got != "[]\n" {
		t.Fatalf("log after reset: %s", got)
	}
	var st Stats
	if err := json.Unmarshal([]byte(get("/sim/stats")), &st); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(st, Stats{HTTPStatus: map[int]int{}}) {
		t.Fatalf("stats after reset: %+v", st)
	}
	if s := g.state("SC2"); !reflect.DeepEqual(s, fresh("SC2")) {
		t.Fatalf("SC2 after reset: %+v", s)
	}
	// References and the store start over: "a" is applied afresh.
	if got := g.send(add("a", "SC1", "P1"))[0]; got != completed("a", 1) {
		t.Fatalf("after reset: %+v", got)
	}
}

func TestConfigCheck(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"valid", func(*Config) {}, ""},
		{"no token", func(c *Config) { c.Token = "" }, "token: required"},
		{"no destination", func(c *Config) { c.DestinationID = "" }, "destination id: required"},
		{"busy above 1", func(c *Config) { c.Faults.Busy = 1.5 }, "busy: 1.5 is not a probability in [0, 1]"},
		{"unavailable negative", func(c *Config) { c.Faults.Unavailable = -0.1 }, "unavailable: -0.1 is not a probability in [0, 1]"},
		{"after-apply faults sum above 1", func(c *Config) {
			c.Faults.PartialFailure, c.Faults.DropAfterApply = 0.6, 0.5
		}, "partial failure + drop after apply + stall after apply: 1.1, must be at most 1"},
		{"stall without duration", func(c *Config) { c.Faults.StallAfterApply = 0.1 }, "stall: must be positive when stall after apply is set"},
		{"negative latency", func(c *Config) { c.Faults.Latency = -1 }, "latency: -1ns is negative"},
		{"negative rate", func(c *Config) { c.Faults.RateLimit = -1 }, "rate limit: -1 is not a finite rate of at least 0"},
		{"negative burst", func(c *Config) { c.Faults.RateBurst = -1 }, "rate burst: -1 is negative"},
		{"unknown disabled card", func(c *Config) { c.Faults.DisabledSmartcards = []string{"SCX"} }, `disabled smartcards: "SCX" is not a known smartcard`},
		{"disabled fraction", func(c *Config) { c.Faults.DisabledFraction = 2 }, "disabled fraction: 2 is not a probability in [0, 1]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			tc.mod(&cfg)
			err := cfg.Check(testKnown)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Check() = %v, want %q", err, tc.want)
			}
			defer func() {
				if r := recover(); r != "simulator: "+tc.want {
					t.Fatalf("New panicked with %v", r)
				}
			}()
			New(cfg, testKnown)
		})
	}
}

func TestDisabledFraction(t *testing.T) {
	known := Known{}
	for i := 0; i < 20; i++ {
		known.Smartcards = append(known.Smartcards, fmt.Sprintf("SC%02d", i))
	}
	disabledSet := func(seed int64, order []string) []string {
		cfg := testConfig()
		cfg.Seed = seed
		cfg.Faults = Faults{DisabledFraction: 0.25, DisabledSmartcards: []string{"SC19"}}
		s := New(cfg, Known{Smartcards: order})
		var out []string
		for _, id := range known.Smartcards {
			if st, _ := s.State(id); st.Status == casapi.SmartcardDisabled {
				out = append(out, id)
			}
		}
		return out
	}
	a := disabledSet(7, known.Smartcards)
	reversed := make([]string, len(known.Smartcards))
	for i, id := range known.Smartcards {
		reversed[len(reversed)-1-i] = id
	}
	b := disabledSet(7, reversed)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("same seed, other order: %v vs %v", a, b)
	}
	// 5 by the fraction, plus SC19 unless the fraction drew it too.
	if n := len(a); n != 5 && n != 6 || a[len(a)-1] != "SC19" {
		t.Fatalf("disabled %v", a)
	}
	if c := disabledSet(8, known.Smartcards); reflect.DeepEqual(a, c) {
		t.Fatalf("seeds 7 and 8 disable the same cards %v", a)
	}
}

// pins gives n SET_PIN commands over SC1..SC4 that all complete.
func pins(prefix string, n int) []casapi.Command {
	cs := make([]casapi.Command, n)
	for i := range cs {
		cs[i] = setPIN(fmt.Sprintf("%s%d", prefix, i), fmt.Sprintf("SC%d", i%4+1), fmt.Sprintf("%04d", i+1))
	}
	return cs
}

func TestRateLimit(t *testing.T) {
	cases := []struct {
		name       string
		retryAfter time.Duration
		want       string
	}{
		{"Retry-After from the bucket", 0, "1000"}, // 1 batch per 1000 s
		{"Retry-After configured, rounded up", 2500 * time.Millisecond, "3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Faults.RateLimit, cfg.Faults.RateBurst, cfg.Faults.RetryAfter = 0.001, 2, tc.retryAfter
			g := start(t, cfg, testKnown)
			g.send(pins("a", 1)...)
			g.send(pins("b", 1)...)
			a := g.call(http.MethodPost, casapi.PathBatches, mustJSON(t, g.nextBatch(pins("c", 1)...)))
			if a.status != 429 || a.header.Get("Retry-After") != tc.want || string(a.body) != "rate limited\n" {
				t.Fatalf("got %d Retry-After %q %q", a.status, a.header.Get("Retry-After"), a.body)
			}
			if log := g.sim.AppliedLog(); len(log) != 2 {
				t.Fatalf("applied %d, want 2", len(log))
			}
			want := Stats{Batches: 3, CommandsReceived: 2, Applied: 2, Faults: FaultStats{RateLimited: 1}, HTTPStatus: map[int]int{200: 2, 429: 1}}
			if st := g.sim.Stats(); !reflect.DeepEqual(st, want) {
				t.Fatalf("stats\n got %+v\nwant %+v", st, want)
			}
			// The other endpoints are not rate limited.
			if a := g.call(http.MethodGet, casapi.PathHealth, nil); a.status != 200 {
				t.Fatalf("health %d", a.status)
			}
		})
	}
}

func TestUnavailable(t *testing.T) {
	cases := []struct {
		retryAfter time.Duration
		want       string
	}{{0, "1"}, {2500 * time.Millisecond, "3"}, {4 * time.Second, "4"}}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			cfg := testConfig()
			cfg.Faults.Unavailable, cfg.Faults.RetryAfter = 1, tc.retryAfter
			g := start(t, cfg, testKnown)
			a := g.call(http.MethodPost, casapi.PathBatches, mustJSON(t, g.nextBatch(pins("a", 3)...)))
			if a.status != 503 || a.header.Get("Retry-After") != tc.want || string(a.body) != "gateway unavailable\n" {
				t.Fatalf("got %d Retry-After %q %q", a.status, a.header.Get("Retry-After"), a.body)
			}
			if log := g.sim.AppliedLog(); len(log) != 0 {
				t.Fatalf("applied %d", len(log))
			}
			want := Stats{Batches: 1, Faults: FaultStats{Unavailable: 1}, HTTPStatus: map[int]int{503: 1}}
			if st := g.sim.Stats(); !reflect.DeepEqual(st, want) {
				t.Fatalf("stats\n got %+v\nwant %+v", st, want)
			}
		})
	}
}

// TestPartialFailure: a 500 after a prefix was applied; resending the batch
// until it is answered gives replays for the applied prefix and fresh
// applies for the rest.
func TestPartialFailure(t *testing.T) {
	cfg := testConfig()
	cfg.Faults.PartialFailure = 0.5
	g := start(t, cfg, testKnown)
	cmds := pins("c", 12)
	b := g.nextBatch(cmds...)
	applied, partials := 0, 0
	for attempt := 0; ; attempt++ {
		if attempt == 20 {
			t.Fatal("no 200 in 20 attempts")
		}
		a := g.call(http.MethodPost, casapi.PathBatches, mustJSON(t, b))
		if a.status == 500 {
			if string(a.body) != "internal error while applying the batch\n" {
				t.Fatalf("500 body %q", a.body)
			}
			log := g.sim.AppliedLog()
			if len(log) < applied || len(log) >= len(cmds) {
				t.Fatalf("attempt %d: %d applied after %d, want a proper prefix", attempt, len(log), applied)
			}
			for i, e := range log {
				want := AppliedEntry{Seq: i + 1, CommandID: cmds[i].CommandID, Type: casapi.TypeSetPIN, Smartcard: cmds[i].Smartcard, Reference: ref(i + 1)}
				if e != want {
					t.Fatalf("attempt %d: log %d is %+v, want %+v", attempt, i, e, want)
				}
			}
			if len(log) > applied {
				partials++
			}
			applied = len(log)
			continue
		}
		res := g.results(a, b)
		for i, r := range res {
			want := completed(cmds[i].CommandID, i+1)
			if i < applied {
				want = replayed(want)
			}
			if r != want {
				t.Fatalf("result %d: %+v, want %+v", i, r, want)
			}
		}
		break
	}
	if partials == 0 {
		t.Fatal("no 500 applied a non-empty prefix; the seed must give one")
	}
	if log := g.sim.AppliedLog(); len(log) != len(cmds) {
		t.Fatalf("applied %d, want %d", len(log), len(cmds))
	}
	st := g.sim.Stats()
	if st.Applied != 12 || st.Replayed != applied || st.HTTPStatus[500] != st.Faults.PartialFailure || st.HTTPStatus[200] != 1 {
		t.Fatalf("stats %+v", st)
	}
	t.Logf("%d partial failures, %d applied before the 200", st.Faults.PartialFailure, applied)
}

// TestDropAfterApply: the whole batch is applied, the connection closed
// without an answer; the client gets an error and the resend is all replays.
func TestDropAfterApply(t *testing.T) {
	cfg := testConfig()
	cfg.Faults.DropAfterApply = 0.5
	g := start(t, cfg, testKnown)
	cmds := pins("c", 5)
	b := g.nextBatch(cmds...)
	drops := 0
	for attempt := 0; ; attempt++ {
		if attempt == 20 {
			t.Fatal("no answer in 20 attempts")
		}
		a, err := g.request(g.hc, http.MethodPost, casapi.PathBatches, mustJSON(t, b), nil)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("attempt %d: error %v, want EOF", attempt, err)
			}
			drops++
			if log := g.sim.AppliedLog(); len(log) != len(cmds) {
				t.Fatalf("after a drop %d applied, want all %d", len(log), len(cmds))
			}
			continue
		}
		res := g.results(a, b)
		for i, r := range res {
			want := completed(cmds[i].CommandID, i+1)
			if drops > 0 {
				want = replayed(want)
			}
			if r != want {
				t.Fatalf("result %d: %+v, want %+v", i, r, want)
			}
		}
		break
	}
	if drops == 0 {
		t.Fatal("no drop; the seed must give one")
	}
	want := Stats{Batches: drops + 1, CommandsReceived: 5 * (drops + 1), Applied: 5, Replayed: 5 * drops,
		Faults: FaultStats{DropAfterApply: drops}, HTTPStatus: map[int]int{200: 1}}
	if st := g.sim.Stats(); !reflect.DeepEqual(st, want) {
		t.Fatalf("stats\n got %+v\nwant %+v", st, want)
	}
}

// TestStallAfterApply: the batch is applied and the answer comes after the
// client's timeout; the resend is all replays.
func TestStallAfterApply(t *testing.T) {
	cfg := testConfig()
	cfg.Faults.StallAfterApply, cfg.Faults.Stall = 1, 700*time.Millisecond
	g := start(t, cfg, testKnown)
	cmds := pins("c", 3)
	b := g.nextBatch(cmds...)
	impatient := &http.Client{Transport: &http.Transport{}, Timeout: 100 * time.Millisecond}
	_, err := g.request(impatient, http.MethodPost, casapi.PathBatches, mustJSON(t, b), nil)
	var ue *url.Error
	if !errors.As(err, &ue) || !ue.Timeout() {
		t.Fatalf("error %v, want a client timeout", err)
	}
	if log := g.sim.AppliedLog(); len(log) != 3 {
		t.Fatalf("applied %d, want 3", len(log))
	}
	start := time.Now()
	res := g.results(g.call(http.MethodPost, casapi.PathBatches, mustJSON(t, b)), b)
	if d := time.Since(start); d < cfg.Faults.Stall {
		t.Fatalf("answered after %v, before the stall of %v", d, cfg.Faults.Stall)
	}
	for i, r := range res {
		if want := replayed(completed(cmds[i].CommandID, i+1)); r != want {
			t.Fatalf("result %d: %+v, want %+v", i, r, want)
		}
	}
	// The first stall ended when its client left, without an answer.
	want := Stats{Batches: 2, CommandsReceived: 6, Applied: 3, Replayed: 3,
		Faults: FaultStats{StallAfterApply: 2}, HTTPStatus: map[int]int{200: 1}}
	if st := g.sim.Stats(); !reflect.DeepEqual(st, want) {
		t.Fatalf("stats\n got %+v\nwant %+v", st, want)
	}
}

// TestStallEndsOnShutdown: a stall of an hour holds neither a client that
// gave up nor the server's shutdown.
func TestStallEndsOnShutdown(t *testing.T) {
	for _, clientLeaves := range []bool{true, false} {
		t.Run(fmt.Sprintf("client leaves %v", clientLeaves), func(t *testing.T) {
			cfg := testConfig()
			cfg.Faults.StallAfterApply, cfg.Faults.Stall = 1, time.Hour
			sim := New(cfg, testKnown)
			srv := httptest.NewServer(sim)
			defer srv.Close()
			defer sim.Close()
			g := &gw{t: t, sim: sim, srv: srv}
			hc := &http.Client{Transport: &http.Transport{}}
			if clientLeaves {
				hc.Timeout = 100 * time.Millisecond
			}
			errc := make(chan error, 1)
			go func() {
				_, err := g.request(hc, http.MethodPost, casapi.PathBatches, mustJSON(t, g.nextBatch(pins("c", 1)...)), nil)
				errc <- err
			}()
			if clientLeaves {
				if err := <-errc; err == nil {
					t.Fatal("client got an answer")
				}
			} else {
				for len(sim.AppliedLog()) == 0 { // wait until the batch stalls
					time.Sleep(time.Millisecond)
				}
				sim.Close()
				if err := <-errc; !errors.Is(err, io.EOF) {
					t.Fatalf("client: %v, want EOF (no answer)", err)
				}
			}
			start := time.Now()
			srv.Close()
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("server took %v to close", d)
			}
			if st := sim.Stats(); len(st.HTTPStatus) != 0 || st.Faults.StallAfterApply != 1 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestLatency(t *testing.T) {
	t.Run("delays the answer", func(t *testing.T) {
		cfg := testConfig()
		cfg.Faults.Latency, cfg.Faults.Jitter = 200*time.Millisecond, 50*time.Millisecond
		g := start(t, cfg, testKnown)
		start := time.Now()
		g.send(pins("c", 1)...)
		if d := time.Since(start); d < 200*time.Millisecond {
			t.Fatalf("answered after %v", d)
		}
		// Malformed batches are refused at once, before the latency.
		g.call(http.MethodPost, casapi.PathBatches, []byte(`{}`))
		if st := g.sim.Stats(); st.Faults.Latency != 1 {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("client leaving first applies nothing", func(t *testing.T) {
		cfg := testConfig()
		cfg.Faults.Latency = time.Hour
		sim := New(cfg, testKnown)
		srv := httptest.NewServer(sim)
		defer srv.Close()
		defer sim.Close()
		g := &gw{t: t, sim: sim, srv: srv}
		hc := &http.Client{Transport: &http.Transport{}, Timeout: 100 * time.Millisecond}
		if _, err := g.request(hc, http.MethodPost, casapi.PathBatches, mustJSON(t, g.nextBatch(pins("c", 2)...)), nil); err == nil {
			t.Fatal("client got an answer")
		}
		srv.Close() // waits for the handler, which returns once it sees the client gone
		want := Stats{Batches: 1, Abandoned: 1, Faults: FaultStats{Latency: 1}, HTTPStatus: map[int]int{}}
		if st := sim.Stats(); !reflect.DeepEqual(st, want) {
			t.Fatalf("stats\n got %+v\nwant %+v", st, want)
		}
		if log := sim.AppliedLog(); len(log) != 0 {
			t.Fatalf("applied %+v", log)
		}
	})
}

// TestDeterminism: the same seed and the same requests give the same faults,
// the same answers, the same log and the same counters; another seed does not.
func TestDeterminism(t *testing.T) {
	type run struct {
		trace []string
		log   []AppliedEntry
		stats Stats
	}
	play := func(seed int64) run {
		cfg := testConfig()
		cfg.Seed = seed
		cfg.Faults = Faults{
			Jitter:      2 * time.Millisecond,
			Unavailable: 0.1, PartialFailure: 0.15, DropAfterApply: 0.1,
			StallAfterApply: 0.1, Stall: 20 * time.Millisecond,
			Busy: 0.2, DisabledFraction: 0.2,
		}
		g := start(t, cfg, testKnown)
		gen := rand.New(rand.NewPCG(1, 2)) // the same requests on every run
		var r run
		for i := 0; i < 40; i++ {
			cmds := make([]casapi.Command, 5)
			for j := range cmds {
				// Ids repeat across batches, so replays and reuses happen too.
				id := fmt.Sprintf("c%d", gen.IntN(120))
				sc := fmt.Sprintf("SC%d", gen.IntN(4)+1)
				switch gen.IntN(3) {
				case 0:
					cmds[j] = add(id, sc, fmt.Sprintf("P%d", gen.IntN(3)+1))
				case 1:
					cmds[j] = pair(id, sc, fmt.Sprintf("STB%d", gen.IntN(3)+1))
				default:
					cmds[j] = setPIN(id, sc, fmt.Sprintf("%04d", gen.IntN(3)))
				}
			}
			a, err := g.request(g.hc, http.MethodPost, casapi.PathBatches, mustJSON(t, g.nextBatch(cmds...)), nil)
			// The fault counters after each batch say which faults it met.
			line := fmt.Sprintf("%d: faults %+v: ", i, g.sim.Stats().Faults)
			if err != nil {
				line += "error"
			} else {
				line += fmt.Sprintf("%d %s %s", a.status, a.header.Get("Retry-After"), a.body)
			}
			r.trace = append(r.trace, line)
		}
		g.sim.Close()
		g.srv.Close()
		r.log, r.stats = g.sim.AppliedLog(), g.sim.Stats()
		return r
	}
	a, b, c := play(11), play(11), play(12)
	if !reflect.DeepEqual(a.trace, b.trace) {
		for i := range a.trace {
			if a.trace[i] != b.trace[i] {
				t.Fatalf("seed 11 twice, batch %d:\n%s\n%s", i, a.trace[i], b.trace[i])
			}
		}
	}
	if !reflect.DeepEqual(a.log, b.log) || !reflect.DeepEqual(a.stats, b.stats) {
		t.Fatalf("seed 11 twice: logs or stats differ:\n%+v\n%+v", a.stats, b.stats)
	}
	if f := a.stats.Faults; f.Unavailable == 0 || f.PartialFailure == 0 || f.DropAfterApply == 0 || f.StallAfterApply == 0 || f.Busy == 0 || f.Latency == 0 {
		t.Fatalf("seed 11 did not fire every fault: %+v", f)
	}
	if a.stats.Replayed == 0 || a.stats.Rejected == 0 {
		t.Fatalf("seed 11: no replay or no rejection: %+v", a.stats)
	}
	if reflect.DeepEqual(a.trace, c.trace) {
		t.Fatal("seeds 11 and 12 gave the same run")
	}
}

// model is the page's command table written again, independently of the
// simulator, to check the simulator's answers under concurrency.
type model struct {
	cards    map[string]*modelCard
	stbs     map[string]string // STB -> card, "" when free
	products map[string]bool
}

type modelCard struct {
	disabled bool
	products map[string]bool
	stb, pin string
}

func newModel(k Known, disabled ...string) *model {
	m := &model{cards: map[string]*modelCard{}, stbs: map[string]string{}, products: map[string]bool{}}
	for _, id := range k.Smartcards {
		m.cards[id] = &modelCard{products: map[string]bool{}, pin: "0000"}
	}
	for _, id := range disabled {
		m.cards[id].disabled = true
	}
	for _, id := range k.STBs {
		m.stbs[id] = ""
	}
	for _, id := range k.Products {
		m.products[id] = true
	}
	return m
}

// apply returns the error code, "" when applied.
func (m *model) apply(c casapi.Command) string {
	sc := m.cards[c.Smartcard]
	if sc == nil {
		return casapi.ErrCodeUnknownSmartcard
	}
	allKnown := func() bool {
		for _, p := range c.Products {
			if !m.products[p] {
				return false
			}
		}
		return true
	}
	switch c.Type {
	case casapi.TypeAddProducts:
		if sc.disabled {
			return casapi.ErrCodeSmartcardDisabled
		}
		if !allKnown() {
			return casapi.ErrCodeUnknownProduct
		}
		for _, p := range c.Products {
			sc.products[p] = true
		}
	case casapi.TypeCancelProducts:
		if !allKnown() {
			return casapi.ErrCodeUnknownProduct
		}
		for _, p := range c.Products {
			if !sc.products[p] {
				return casapi.ErrCodeNotEntitled
			}
		}
		for _, p := range c.Products {
			delete(sc.products, p)
		}
	case casapi.TypePair:
		owner, ok := m.stbs[c.STB]
		if !ok {
			return casapi.ErrCodeUnknownSTB
		}
		if owner != "" && owner != c.Smartcard {
			return casapi.ErrCodeSTBPairedElsewhere
		}
		if sc.stb != "" {
			m.stbs[sc.stb] = ""
		}
		sc.stb, m.stbs[c.STB] = c.STB, c.Smartcard
	case casapi.TypeUnpair:
		if sc.stb == "" {
			return casapi.ErrCodeNotPaired
		}
		m.stbs[sc.stb], sc.stb = "", ""
	case casapi.TypeResetPIN:
		sc.pin = "0000"
	case casapi.TypeSetPIN:
		if c.PIN == "0000" {
			return casapi.ErrCodeInvalidPIN
		}
		sc.pin = c.PIN
	case casapi.TypeResetSmartcard:
	}
	return ""
}

func (m *model) state(id string) casapi.SmartcardState {
	c := m.cards[id]
	st := casapi.SmartcardState{Smartcard: id, Status: casapi.SmartcardActive, Products: []string{}, STB: c.stb, PINIsDefault: c.pin == "0000"}
	if c.disabled {
		st.Status = casapi.SmartcardDisabled
	}
	for p := range c.products {
		st.Products = append(st.Products, p)
	}
	slices.Sort(st.Products)
	return st
}

// TestConcurrentBatches: 8 clients send overlapping batches at once, resend
// their RETRYs and some whole batches. Afterwards every fresh answer, taken
// in reference order (the order the gateway processed them), must be what
// the model answers, the final states must be the model's, each batch's
// fresh references must be consecutive (a batch is atomic) and the applied
// log must hold exactly the COMPLETED commands.
func TestConcurrentBatches(t *testing.T) {
	known := Known{
		Smartcards: []string{"SC0", "SC1", "SC2", "SC3", "SC4", "SC5"},
		STBs:       []string{"T0", "T1", "T2", "T3"},
		Products:   []string{"P0", "P1", "P2", "P3"},
	}
	cfg := testConfig()
	cfg.Faults = Faults{Busy: 0.1, DisabledSmartcards: []string{"SC5"}}
	g := start(t, cfg, known)

	type sent struct {
		cmd     casapi.Command
		results []casapi.Result // every answer it got, in order
	}
	type client struct {
		cmds    map[string]*sent
		fresh   [][]int // per 200 answer: the fresh reference numbers in order
		batches int
		sentCmd int
		err     error
	}
	pick := func(r *rand.Rand, pre string, ids []string) string {
		if r.IntN(20) == 0 {
			return pre + "X" // unknown
		}
		return ids[r.IntN(len(ids))]
	}
	randomCommand := func(r *rand.Rand, id string) casapi.Command {
		sc := pick(r, "SC", known.Smartcards)
		switch r.IntN(7) {
		case 0, 1:
			n := r.IntN(3) + 1
			ps := make([]string, n)
			for i := range ps {
				ps[i] = pick(r, "P", known.Products)
			}
			if r.IntN(2) == 0 {
				return add(id, sc, ps...)
			}
			return cancel(id, sc, ps...)
		case 2, 3:
			return pair(id, sc, pick(r, "T", known.STBs))
		case 4:
			return unpair(id, sc)
		case 5:
			if r.IntN(2) == 0 {
				return resetPIN(id, sc)
			}
			return setPIN(id, sc, fmt.Sprintf("%04d", r.IntN(3)))
		default:
			return resetCard(id, sc)
		}
	}

	const clients, rounds = 8, 25
	cs := make([]*client, clients)
	var wg sync.WaitGroup
	for n := range cs {
		c := &client{cmds: map[string]*sent{}}
		cs[n] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(n), 99))
			hc := &http.Client{Transport: &http.Transport{}, Timeout: 30 * time.Second}
			var pending []casapi.Command // answered RETRY
			var earlier [][]casapi.Command
			post := func(cmds []casapi.Command) error {
				b := casapi.Batch{BatchID: fmt.Sprintf("g%d-%d", n, c.batches), Commands: cmds}
				c.batches++
				c.sentCmd += len(cmds)
				body, _ := json.Marshal(b)
				a, err := g.request(hc, http.MethodPost, casapi.PathBatches, body, nil)
				if err != nil {
					return err
				}
				var res casapi.BatchResult
				if a.status != 200 || json.Unmarshal(a.body, &res) != nil || len(res.Results) != len(cmds) {
					return fmt.Errorf("batch %s: %d %s", b.BatchID, a.status, a.body)
				}
				var refs []int
				for i, rs := range res.Results {
					s := c.cmds[cmds[i].CommandID]
					if rs.CommandID != cmds[i].CommandID {
						return fmt.Errorf("batch %s result %d for %s", b.BatchID, i, rs.CommandID)
					}
					s.results = append(s.results, rs)
					switch {
					case rs.Status == casapi.StatusRetry:
						pending = append(pending, cmds[i])
					case !rs.Replayed:
						var k int
						if _, err := fmt.Sscanf(rs.Reference, "GW-%08d", &k); err != nil {
							return fmt.Errorf("reference %q: %v", rs.Reference, err)
						}
						refs = append(refs, k)
					}
				}
				c.fresh = append(c.fresh, refs)
				return nil
			}
			for round := 0; round < rounds && c.err == nil; round++ {
				cmds := pending
				pending = nil
				for i := r.IntN(20) + 1; i > 0; i-- {
					cmd := randomCommand(r, fmt.Sprintf("g%d-%d-%d", n, round, i))
					c.cmds[cmd.CommandID] = &sent{cmd: cmd}
					cmds = append(cmds, cmd)
				}
				earlier = append(earlier, cmds)
				c.err = post(cmds)
				if c.err == nil && round%5 == 4 { // a whole earlier batch again
					c.err = post(earlier[r.IntN(len(earlier))])
				}
			}
			for tries := 0; len(pending) > 0 && c.err == nil; tries++ {
				if tries == 100 {
					c.err = fmt.Errorf("still RETRY after 100 resends: %v", pending)
					break
				}
				cmds := pending
				pending = nil
				c.err = post(cmds)
			}
		}()
	}
	wg.Wait()

	type answered struct {
		cmd casapi.Command
		res casapi.Result
	}
	byRef := map[int]answered{}
	var batches, sentCmds, replays, retries, rejects int
	for n, c := range cs {
		if c.err != nil {
			t.Fatalf("client %d: %v", n, c.err)
		}
		batches += c.batches
		sentCmds += c.sentCmd
		for _, refs := range c.fresh {
			for i := 1; i < len(refs); i++ {
				if refs[i] != refs[i-1]+1 {
					t.Fatalf("client %d: fresh references of one batch not consecutive: %v", n, refs)
				}
			}
		}
		for id, s := range c.cmds {
			var final *casapi.Result
			for i := range s.results {
				r := s.results[i]
				switch {
				case r.Status == casapi.StatusRetry:
					retries++
					if final != nil {
						t.Fatalf("%s: RETRY after a stored outcome", id)
					}
				case r.Replayed:
					replays++
					if final == nil || r != replayed(*final) {
						t.Fatalf("%s: replay %+v of %v", id, r, final)
					}
				default:
					if final != nil {
						t.Fatalf("%s: processed twice: %+v then %+v", id, *final, r)
					}
					final = &s.results[i]
					var k int
					fmt.Sscanf(r.Reference, "GW-%08d", &k)
					byRef[k] = answered{s.cmd, r}
					if r.Status == casapi.StatusRejected {
						rejects++
					}
				}
			}
			if final == nil {
				t.Fatalf("%s never processed: %+v", id, s.results)
			}
		}
	}

	m := newModel(known, "SC5")
	var wantLog []AppliedEntry
	for k := 1; k <= len(byRef); k++ {
		a, ok := byRef[k]
		if !ok {
			t.Fatalf("reference %d missing of %d", k, len(byRef))
		}
		code := m.apply(a.cmd)
		if code != a.res.ErrorCode {
			t.Fatalf("reference %d, %+v: gateway answered %q, model %q", k, a.cmd, a.res.ErrorCode, code)
		}
		if code == "" {
			wantLog = append(wantLog, AppliedEntry{Seq: len(wantLog) + 1, CommandID: a.cmd.CommandID, Type: a.cmd.Type, Smartcard: a.cmd.Smartcard, Reference: a.res.Reference})
		}
	}
	if log := g.sim.AppliedLog(); !reflect.DeepEqual(log, wantLog) {
		t.Fatalf("applied log differs from the COMPLETED answers in reference order (%d vs %d entries)", len(log), len(wantLog))
	}
	paired := map[string]string{}
	for _, id := range known.Smartcards {
		got, want := g.state(id), m.state(id)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: gateway %+v, model %+v", id, got, want)
		}
		if got.STB != "" {
			if other, dup := paired[got.STB]; dup {
				t.Errorf("%s paired with %s and %s", got.STB, other, id)
			}
			paired[got.STB] = id
		}
	}
	st := g.sim.Stats()
	want := Stats{Batches: batches, CommandsReceived: sentCmds, Applied: len(wantLog), Replayed: replays,
		Rejected: rejects, Retried: retries, Faults: FaultStats{Busy: retries},
		HTTPStatus: map[int]int{200: batches + len(known.Smartcards)}}
	if !reflect.DeepEqual(st, want) {
		t.Fatalf("stats\n got %+v\nwant %+v", st, want)
	}
	if replays == 0 || retries == 0 || rejects == 0 || len(wantLog) == 0 {
		t.Fatalf("the run did not exercise everything: %+v", st)
	}
	t.Logf("%d batches, %d commands: %d applied, %d rejected, %d replayed, %d retried", batches, sentCmds, len(wantLog), rejects, replays, retries)
}
