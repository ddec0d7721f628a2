package casapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func validBatch() Batch {
	return Batch{BatchID: "run-42-7", Commands: []Command{
		{CommandID: "18572", Type: TypeAddProducts, Smartcard: "SC1", Products: []string{"P-1001", "P-1002"}},
		{CommandID: "18573", Type: TypePair, Smartcard: "SC1", STB: "STB-77001"},
		{CommandID: "18574", Type: TypeSetPIN, Smartcard: "SC1", PIN: "4821"},
	}}
}

// one returns a batch holding only c, so each case states one command.
func one(c Command) Batch { return Batch{BatchID: "b", Commands: []Command{c}} }

func TestValidate(t *testing.T) {
	products := func(n int) []string {
		p := make([]string, n)
		for i := range p {
			p[i] = fmt.Sprintf("P%d", i)
		}
		return p
	}
	commands := func(n int) []Command {
		cs := make([]Command, n)
		for i := range cs {
			cs[i] = Command{CommandID: fmt.Sprint(i), Type: TypeUnpair, Smartcard: "SC1"}
		}
		return cs
	}
	cases := []struct {
		name  string
		batch Batch
		want  string // "" for valid; otherwise the exact error text
	}{
		{"page example", validBatch(), ""},
		{"every type minimal", Batch{BatchID: "b", Commands: []Command{
			{CommandID: "1", Type: TypeAddProducts, Smartcard: "SC1", Products: []string{"P"}},
			{CommandID: "2", Type: TypeCancelProducts, Smartcard: "SC1", Products: []string{"P"}},
			{CommandID: "3", Type: TypePair, Smartcard: "SC1", STB: "S"},
			{CommandID: "4", Type: TypeUnpair, Smartcard: "SC1"},
			{CommandID: "5", Type: TypeResetPIN, Smartcard: "SC1"},
			{CommandID: "6", Type: TypeSetPIN, Smartcard: "SC1", PIN: "0000"},
			{CommandID: "7", Type: TypeResetSmartcard, Smartcard: "SC1"},
		}}, ""},

		// batch_id
		{"batch_id empty", Batch{Commands: commands(1)}, `batch_id: must be 1 to 64 characters, has 0`},
		{"batch_id 64", Batch{BatchID: strings.Repeat("b", 64), Commands: commands(1)}, ""},
		{"batch_id 65", Batch{BatchID: strings.Repeat("b", 65), Commands: commands(1)}, `batch_id: must be 1 to 64 characters, has 65`},
		{"batch_id counts characters not bytes", Batch{BatchID: strings.Repeat("é", 64), Commands: commands(1)}, ""},
		{"batch_id any characters", Batch{BatchID: "run 42/7 ✓", Commands: commands(1)}, ""},

		// commands count
		{"no commands", Batch{BatchID: "b"}, `commands: must hold 1 to 500 commands, has none`},
		{"500 commands", Batch{BatchID: "b", Commands: commands(500)}, ""},
		{"501 commands", Batch{BatchID: "b", Commands: commands(501)}, `commands: 501, at most 500 allowed: too many commands`},
		{"501 commands checked before batch_id", Batch{Commands: commands(501)}, `commands: 501, at most 500 allowed: too many commands`},

		// command_id
		{"command_id empty", one(Command{Type: TypeUnpair, Smartcard: "SC1"}), `command 0 (command_id ""): command_id: must be 1 to 64 characters, has 0`},
		{"command_id 64", one(Command{CommandID: strings.Repeat("a", 64), Type: TypeUnpair, Smartcard: "SC1"}), ""},
		{"command_id 65", one(Command{CommandID: strings.Repeat("a", 65), Type: TypeUnpair, Smartcard: "SC1"}), `command 0 (command_id "` + strings.Repeat("a", 65) + `"): command_id: must be 1 to 64 characters, has 65`},
		{"command_id all allowed characters", one(Command{CommandID: "AZaz09._-", Type: TypeUnpair, Smartcard: "SC1"}), ""},
		{"command_id space", one(Command{CommandID: "a b", Type: TypeUnpair, Smartcard: "SC1"}), `command 0 (command_id "a b"): command_id: character ' ' not allowed, only A-Z a-z 0-9 . _ -`},
		{"command_id slash", one(Command{CommandID: "a/b", Type: TypeUnpair, Smartcard: "SC1"}), `command 0 (command_id "a/b"): command_id: character '/' not allowed, only A-Z a-z 0-9 . _ -`},
		{"command_id non-ASCII", one(Command{CommandID: "é", Type: TypeUnpair, Smartcard: "SC1"}), `command 0 (command_id "é"): command_id: character 'é' not allowed, only A-Z a-z 0-9 . _ -`},
		{"command_id colon", one(Command{CommandID: "a:b", Type: TypeUnpair, Smartcard: "SC1"}), `command 0 (command_id "a:b"): command_id: character ':' not allowed, only A-Z a-z 0-9 . _ -`},

		// type
		{"type empty", one(Command{CommandID: "1", Smartcard: "SC1"}), `command 0 (command_id "1"): type: required`},
		{"type unknown", one(Command{CommandID: "1", Type: "ADD_PRODUCT", Smartcard: "SC1"}), `command 0 (command_id "1"): type: unknown command type "ADD_PRODUCT"`},
		{"type lower case", one(Command{CommandID: "1", Type: "pair", Smartcard: "SC1", STB: "S"}), `command 0 (command_id "1"): type: unknown command type "pair"`},

		// smartcard
		{"smartcard missing ADD", one(Command{CommandID: "1", Type: TypeAddProducts, Products: []string{"P"}}), `command 0 (command_id "1"): smartcard: required`},
		{"smartcard missing RESET_SMARTCARD", one(Command{CommandID: "1", Type: TypeResetSmartcard}), `command 0 (command_id "1"): smartcard: required`},

		// products
		{"products missing ADD", one(Command{CommandID: "1", Type: TypeAddProducts, Smartcard: "SC1"}), `command 0 (command_id "1"): products: must list 1 to 64 products, lists 0`},
		{"products empty CANCEL", one(Command{CommandID: "1", Type: TypeCancelProducts, Smartcard: "SC1", Products: []string{}}), `command 0 (command_id "1"): products: must list 1 to 64 products, lists 0`},
		{"products 64", one(Command{CommandID: "1", Type: TypeAddProducts, Smartcard: "SC1", Products: products(64)}), ""},
		{"products 65", one(Command{CommandID: "1", Type: TypeCancelProducts, Smartcard: "SC1", Products: products(65)}), `command 0 (command_id "1"): products: must list 1 to 64 products, lists 65`},
		{"products empty id", one(Command{CommandID: "1", Type: TypeAddProducts, Smartcard: "SC1", Products: []string{"P", ""}}), `command 0 (command_id "1"): products: product 1 is empty`},
		{"products on PAIR", one(Command{CommandID: "1", Type: TypePair, Smartcard: "SC1", STB: "S", Products: []string{"P"}}), `command 0 (command_id "1"): products: not taken by PAIR, must be absent`},
		{"products on UNPAIR", one(Command{CommandID: "1", Type: TypeUnpair, Smartcard: "SC1", Products: []string{"P"}}), `command 0 (command_id "1"): products: not taken by UNPAIR, must be absent`},
		{"products on RESET_PIN", one(Command{CommandID: "1", Type: TypeResetPIN, Smartcard: "SC1", Products: []string{"P"}}), `command 0 (command_id "1"): products: not taken by RESET_PIN, must be absent`},
		{"products on SET_PIN", one(Command{CommandID: "1", Type: TypeSetPIN, Smartcard: "SC1", PIN: "1234", Products: []string{"P"}}), `command 0 (command_id "1"): products: not taken by SET_PIN, must be absent`},
		{"products on RESET_SMARTCARD", one(Command{CommandID: "1", Type: TypeResetSmartcard, Smartcard: "SC1", Products: []string{"P"}}), `command 0 (command_id "1"): products: not taken by RESET_SMARTCARD, must be absent`},

		// stb
		{"stb missing PAIR", one(Command{CommandID: "1", Type: TypePair, Smartcard: "SC1"}), `command 0 (command_id "1"): stb: required for PAIR`},
		{"stb on UNPAIR", one(Command{CommandID: "1", Type: TypeUnpair, Smartcard: "SC1", STB: "S"}), `command 0 (command_id "1"): stb: not taken by UNPAIR, must be absent`},
		{"stb on ADD", one(Command{CommandID: "1", Type: TypeAddProducts, Smartcard: "SC1", Products: []string{"P"}, STB: "S"}), `command 0 (command_id "1"): stb: not taken by ADD_PRODUCTS, must be absent`},
		{"stb on SET_PIN", one(Command{CommandID: "1", Type: TypeSetPIN, Smartcard: "SC1", PIN: "1234", STB: "S"}), `command 0 (command_id "1"): stb: not taken by SET_PIN, must be absent`},

		// pin
		{"pin missing SET_PIN", one(Command{CommandID: "1", Type: TypeSetPIN, Smartcard: "SC1"}), `command 0 (command_id "1"): pin: must be exactly 4 digits`},
		{"pin 3 digits", one(Command{CommandID: "1", Type: TypeSetPIN, Smartcard: "SC1", PIN: "123"}), `command 0 (command_id "1"): pin: must be exactly 4 digits`},
		{"pin 5 digits", one(Command{CommandID: "1", Type: TypeSetPIN, Smartcard: "SC1", PIN: "12345"}), `command 0 (command_id "1"): pin: must be exactly 4 digits`},
		{"pin letter", one(Command{CommandID: "1", Type: TypeSetPIN, Smartcard: "SC1", PIN: "12a4"}), `command 0 (command_id "1"): pin: must be exactly 4 digits`},
		{"pin non-ASCII digits", one(Command{CommandID: "1", Type: TypeSetPIN, Smartcard: "SC1", PIN: "١٢٣٤"}), `command 0 (command_id "1"): pin: must be exactly 4 digits`},
		{"pin 0000 is well formed", one(Command{CommandID: "1", Type: TypeSetPIN, Smartcard: "SC1", PIN: "0000"}), ""},
		{"pin on RESET_PIN", one(Command{CommandID: "1", Type: TypeResetPIN, Smartcard: "SC1", PIN: "1234"}), `command 0 (command_id "1"): pin: not taken by RESET_PIN, must be absent`},
		{"pin on PAIR", one(Command{CommandID: "1", Type: TypePair, Smartcard: "SC1", STB: "S", PIN: "1234"}), `command 0 (command_id "1"): pin: not taken by PAIR, must be absent`},
		{"pin on CANCEL", one(Command{CommandID: "1", Type: TypeCancelProducts, Smartcard: "SC1", Products: []string{"P"}, PIN: "1234"}), `command 0 (command_id "1"): pin: not taken by CANCEL_PRODUCTS, must be absent`},

		// the error names the failing command, not the first
		{"names index and id", Batch{BatchID: "b", Commands: []Command{
			{CommandID: "ok", Type: TypeUnpair, Smartcard: "SC1"},
			{CommandID: "ok2", Type: TypeUnpair, Smartcard: "SC1"},
			{CommandID: "bad", Type: TypeUnpair},
		}}, `command 2 (command_id "bad"): smartcard: required`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.batch.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tc.want)
			}
			if err.Error() != tc.want {
				t.Fatalf("Validate() = %q, want %q", err.Error(), tc.want)
			}
			tooMany := strings.Contains(tc.want, "too many commands")
			if errors.Is(err, ErrTooMany) != tooMany || errors.Is(err, ErrInvalid) == tooMany {
				t.Fatalf("errors.Is(ErrTooMany) = %v, errors.Is(ErrInvalid) = %v; want %v, %v",
					errors.Is(err, ErrTooMany), errors.Is(err, ErrInvalid), tooMany, !tooMany)
			}
		})
	}
}

func TestCommandValidate(t *testing.T) {
	err := Command{CommandID: "x1", Type: TypePair, Smartcard: "SC1"}.Validate()
	if err == nil || err.Error() != `command_id "x1": stb: required for PAIR` || !errors.Is(err, ErrInvalid) {
		t.Fatalf("Validate() = %v", err)
	}
	if err := (Command{CommandID: "x1", Type: TypeUnpair, Smartcard: "SC1"}).Validate(); err != nil {
		t.Fatalf("Validate() = %v, want nil", err)
	}
}

// TestWireFormat pins the json names and that fields a type does not take are
// absent on the wire, as the page requires.
func TestWireFormat(t *testing.T) {
	got, err := json.Marshal(validBatch())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"batch_id":"run-42-7","commands":[` +
		`{"command_id":"18572","type":"ADD_PRODUCTS","smartcard":"SC1","products":["P-1001","P-1002"]},` +
		`{"command_id":"18573","type":"PAIR","smartcard":"SC1","stb":"STB-77001"},` +
		`{"command_id":"18574","type":"SET_PIN","smartcard":"SC1","pin":"4821"}]}`
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}

	res := BatchResult{BatchID: "b", Results: []Result{
		{CommandID: "1", Status: StatusCompleted, Reference: "GW-00000001"},
		{CommandID: "2", Status: StatusRejected, Reference: "GW-00000002", ErrorCode: ErrCodeSTBPairedElsewhere, ErrorDescription: "d", Replayed: true},
		{CommandID: "3", Status: StatusRetry, ErrorCode: ErrCodeBusy, ErrorDescription: "busy"},
	}}
	got, _ = json.Marshal(res)
	want = `{"batch_id":"b","results":[` +
		`{"command_id":"1","status":"COMPLETED","reference":"GW-00000001"},` +
		`{"command_id":"2","status":"REJECTED","reference":"GW-00000002","error_code":"E_STB_PAIRED_ELSEWHERE","error_description":"d","replayed":true},` +
		`{"command_id":"3","status":"RETRY","error_code":"E_BUSY","error_description":"busy"}]}`
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}

	got, _ = json.Marshal(SmartcardState{Smartcard: "SC1", Status: SmartcardActive, Products: []string{"P-1001"}, STB: "STB-1", PINIsDefault: false})
	want = `{"smartcard":"SC1","status":"ACTIVE","products":["P-1001"],"stb":"STB-1","pin_is_default":false}`
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	got, _ = json.Marshal(ErrorBody{ErrorCode: ErrCodeBadRequest, ErrorDescription: "x"})
	if want = `{"error_code":"E_BAD_REQUEST","error_description":"x"}`; string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	got, _ = json.Marshal(Health{Status: HealthOK})
	if want = `{"status":"ok"}`; string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestSamePayload(t *testing.T) {
	base := Command{CommandID: "1", Type: TypeAddProducts, Smartcard: "SC1", Products: []string{"A", "B"}}
	cases := []struct {
		name  string
		other Command
		same  bool
	}{
		{"identical", base, true},
		{"other command_id ignored", Command{CommandID: "2", Type: TypeAddProducts, Smartcard: "SC1", Products: []string{"A", "B"}}, true},
		{"type", Command{CommandID: "1", Type: TypeCancelProducts, Smartcard: "SC1", Products: []string{"A", "B"}}, false},
		{"card", Command{CommandID: "1", Type: TypeAddProducts, Smartcard: "SC2", Products: []string{"A", "B"}}, false},
		{"fewer products", Command{CommandID: "1", Type: TypeAddProducts, Smartcard: "SC1", Products: []string{"A"}}, false},
		{"other order", Command{CommandID: "1", Type: TypeAddProducts, Smartcard: "SC1", Products: []string{"B", "A"}}, false},
		{"stb", Command{CommandID: "1", Type: TypeAddProducts, Smartcard: "SC1", Products: []string{"A", "B"}, STB: "S"}, false},
		{"pin", Command{CommandID: "1", Type: TypeAddProducts, Smartcard: "SC1", Products: []string{"A", "B"}, PIN: "1234"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := base.SamePayload(tc.other); got != tc.same {
				t.Fatalf("SamePayload = %v, want %v", got, tc.same)
			}
		})
	}
}

func TestTakes(t *testing.T) {
	want := map[string][3]bool{ // products, stb, pin
		TypeAddProducts:    {true, false, false},
		TypeCancelProducts: {true, false, false},
		TypePair:           {false, true, false},
		TypeUnpair:         {false, false, false},
		TypeResetPIN:       {false, false, false},
		TypeSetPIN:         {false, false, true},
		TypeResetSmartcard: {false, false, false},
	}
	if len(want) != len(CommandTypes) {
		t.Fatalf("CommandTypes has %d types, test knows %d", len(CommandTypes), len(want))
	}
	for _, typ := range CommandTypes {
		w := want[typ]
		got := [3]bool{Takes(typ, "products"), Takes(typ, "stb"), Takes(typ, "pin")}
		if got != w {
			t.Errorf("%s: Takes(products, stb, pin) = %v, want %v", typ, got, w)
		}
	}
}
