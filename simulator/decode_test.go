package simulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/provisioner/provisioner/casapi"
)

// everyType is a valid batch with one command of every type, each with the
// fields its type takes.
func everyType() casapi.Batch {
	return casapi.Batch{BatchID: "run-1-1", Commands: []casapi.Command{
		{CommandID: "1", Type: casapi.TypeAddProducts, Smartcard: "SC1", Products: []string{"P1", "P2"}},
		{CommandID: "2", Type: casapi.TypeCancelProducts, Smartcard: "SC1", Products: []string{"P1"}},
		{CommandID: "3", Type: casapi.TypePair, Smartcard: "SC1", STB: "STB1"},
		{CommandID: "4", Type: casapi.TypeUnpair, Smartcard: "SC1"},
		{CommandID: "5", Type: casapi.TypeResetPIN, Smartcard: "SC1"},
		{CommandID: "6.1", Type: casapi.TypeSetPIN, Smartcard: "SC1", PIN: "4821"},
		{CommandID: "7", Type: casapi.TypeResetSmartcard, Smartcard: "SC1"},
	}}
}

// benchBody is what the dispatcher's Client sends (json.Marshal of the
// Batch) for n commands of the shapes of the processing run's benchmark
// (dispatcher/bench_test.go), with command_ids from first on.
func benchBody(tb testing.TB, n, first int) []byte {
	tb.Helper()
	types := []string{casapi.TypeAddProducts, casapi.TypeAddProducts, casapi.TypeCancelProducts, casapi.TypePair,
		casapi.TypeResetPIN, casapi.TypeSetPIN, casapi.TypeResetSmartcard}
	b := casapi.Batch{BatchID: "run-12-345"}
	for i := range n {
		c := (i * 7919) % benchCards
		cmd := casapi.Command{CommandID: strconv.Itoa(first + i), Type: types[i%len(types)], Smartcard: fmt.Sprintf("SC%010d", c)}
		switch cmd.Type {
		case casapi.TypeAddProducts, casapi.TypeCancelProducts:
			cmd.Products = []string{fmt.Sprintf("P-%d", 1000+i%40)}
			if i%3 == 1 {
				cmd.Products = append(cmd.Products, fmt.Sprintf("P-%d", 1000+(i*7+3)%40))
			}
		case casapi.TypePair:
			cmd.STB = fmt.Sprintf("STB%010d", c)
		case casapi.TypeSetPIN:
			cmd.PIN = fmt.Sprintf("%04d", 1+i%9999)
		}
		b.Commands = append(b.Commands, cmd)
	}
	body, err := json.Marshal(b)
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

// fastBodies are bodies that decodeBatchFast must take: if one falls back to
// the strict path, the speed-up is gone.
func fastBodies(tb testing.TB) map[string]string {
	tb.Helper()
	every, err := json.Marshal(everyType())
	if err != nil {
		tb.Fatal(err)
	}
	indented, err := json.MarshalIndent(everyType(), "", "\t")
	if err != nil {
		tb.Fatal(err)
	}
	return map[string]string{
		"every type":          string(every),
		"every type indented": string(indented),
		"client 100":          string(benchBody(tb, 100, 100000)),
		"client 500":          string(benchBody(tb, 500, 100000)),
		"whitespace everywhere": " \r\n\t{ \"commands\" : [ { \"smartcard\" : \"SC1\" , \"products\" : [ \"P1\" , \"P2\" ] ," +
			" \"type\" : \"ADD_PRODUCTS\" , \"command_id\" : \"1\" } ] , \"batch_id\" : \"b\" } \n",
		"fields in any order":    `{"commands":[{"pin":"1234","smartcard":"SC1","type":"SET_PIN","command_id":"x"}],"batch_id":"b"}`,
		"printable ASCII in ids": `{"batch_id":"run 42/7 <&> ~","commands":[{"command_id":"a","type":"PAIR","smartcard":"S C/1","stb":"STB~1"}]}`,
		"64 products":            `{"batch_id":"b","commands":[{"command_id":"a","type":"ADD_PRODUCTS","smartcard":"SC1","products":["P1"` + strings.Repeat(`,"P1"`, 63) + `]}]}`,
	}
}

// strictBodies are bodies that must fall back to the strict path although
// some are valid: the fast path does not handle them with certainty.
var strictBodies = map[string]string{
	"escape":               `{"batch_id":"b\u0031","commands":[{"command_id":"1","type":"UNPAIR","smartcard":"SC1"}]}`,
	"non-ASCII":            `{"batch_id":"é","commands":[{"command_id":"1","type":"UNPAIR","smartcard":"SC1"}]}`,
	"duplicate top key":    `{"batch_id":"a","batch_id":"b","commands":[{"command_id":"1","type":"UNPAIR","smartcard":"SC1"}]}`,
	"duplicate field":      `{"batch_id":"b","commands":[{"command_id":"1","type":"UNPAIR","smartcard":"SC1","smartcard":"SC2"}]}`,
	"empty stb on UNPAIR":  `{"batch_id":"b","commands":[{"command_id":"1","type":"UNPAIR","smartcard":"SC1","stb":""}]}`,
	"empty pin on PAIR":    `{"batch_id":"b","commands":[{"command_id":"1","type":"PAIR","smartcard":"SC1","stb":"S","pin":""}]}`,
	"products on RESET":    `{"batch_id":"b","commands":[{"command_id":"1","type":"RESET_PIN","smartcard":"SC1","products":["P1"]}]}`,
	"trailing data":        `{"batch_id":"b","commands":[{"command_id":"1","type":"UNPAIR","smartcard":"SC1"}]}x`,
	"null product":         `{"batch_id":"b","commands":[{"command_id":"1","type":"ADD_PRODUCTS","smartcard":"SC1","products":["P1",null]}]}`,
	"invalid per Validate": `{"batch_id":"b","commands":[{"command_id":"a+b","type":"UNPAIR","smartcard":"SC1"}]}`,
}

func TestDecodeBatchFast(t *testing.T) {
	for name, body := range fastBodies(t) {
		t.Run(name, func(t *testing.T) {
			want, err := decodeBatchStrict([]byte(body))
			if err != nil {
				t.Fatalf("strict: %v", err)
			}
			got, ok := decodeBatchFast([]byte(body))
			if !ok {
				t.Fatal("fast path gave up")
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("fast %+v\nstrict %+v", got, want)
			}
		})
	}
	for name, body := range strictBodies {
		t.Run(name, func(t *testing.T) {
			if b, ok := decodeBatchFast([]byte(body)); ok {
				t.Fatalf("fast path took it: %+v", b)
			}
			want, wantErr := decodeBatchStrict([]byte(body))
			got, gotErr := decodeBatch([]byte(body))
			if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || !reflect.DeepEqual(got, want) {
				t.Fatalf("decodeBatch %+v, %v\nstrict %+v, %v", got, gotErr, want, wantErr)
			}
		})
	}
}

// The fast path's products share one backing array; an append to one
// command's products must not change the next command's.
func TestDecodeBatchFastProductsApart(t *testing.T) {
	b, ok := decodeBatchFast([]byte(`{"batch_id":"b","commands":[` +
		`{"command_id":"1","type":"ADD_PRODUCTS","smartcard":"SC1","products":["P1"]},` +
		`{"command_id":"2","type":"ADD_PRODUCTS","smartcard":"SC1","products":["P2","P3"]}]}`))
	if !ok {
		t.Fatal("fast path gave up")
	}
	_ = append(b.Commands[0].Products, "X")
	if got := b.Commands[1].Products; !reflect.DeepEqual(got, []string{"P2", "P3"}) {
		t.Fatalf("second command's products %q", got)
	}
}

// FuzzDecodeBatch checks that decodeBatch (the fast path, falling back to the
// strict one) answers every body exactly as decodeBatchStrict does.
func FuzzDecodeBatch(f *testing.F) {
	for _, body := range fastBodies(f) {
		f.Add([]byte(body))
	}
	for _, body := range strictBodies {
		f.Add([]byte(body))
	}
	// The bodies of TestMalformed and TestTooMany.
	const ok = `{"command_id":"ok","type":"ADD_PRODUCTS","smartcard":"SC1","products":["P1"]}`
	batch := func(cmd string) string { return `{"batch_id":"b","commands":[` + ok + `,` + cmd + `]}` }
	for _, body := range []string{
		``, `{"batch_id":`, `[]`, `null`, `{}`,
		`{"batch_id":"b","commands":[` + ok + `]} {}`,
		`{"batch_id":"b","commands":[` + ok + `],"priority":1}`,
		`{"Batch_ID":"b","commands":[` + ok + `]}`,
		`{"commands":[` + ok + `]}`,
		`{"batch_id":"","commands":[` + ok + `]}`,
		`{"batch_id":"` + strings.Repeat("b", 65) + `","commands":[` + ok + `]}`,
		`{"batch_id":7,"commands":[` + ok + `]}`,
		`{"batch_id":"b"}`,
		`{"batch_id":"b","commands":[]}`,
		`{"batch_id":"b","commands":null}`,
		`{"batch_id":"b","commands":{}}`,
		batch(`"x"`),
		batch(`null`),
		batch(`{"command_id":"2","type":"UNPAIR","smartcard":"SC1","priority":1}`),
		batch(`{"command_id":"2","type":"UNPAIR","Smartcard":"SC1"}`),
		batch(`{"command_id":"2","type":"UNPAIR","smartcard":"SC1","replayed":true}`),
		batch(`{"type":"UNPAIR","smartcard":"SC1"}`),
		batch(`{"command_id":"` + strings.Repeat("a", 65) + `","type":"UNPAIR","smartcard":"SC1"}`),
		batch(`{"command_id":"a+b","type":"UNPAIR","smartcard":"SC1"}`),
		batch(`{"command_id":18572,"type":"UNPAIR","smartcard":"SC1"}`),
		batch(`{"command_id":"2","smartcard":"SC1"}`),
		batch(`{"command_id":"2","type":"DISABLE","smartcard":"SC1"}`),
		batch(`{"command_id":"2","type":"UNPAIR"}`),
		batch(`{"command_id":"2","type":"UNPAIR","smartcard":""}`),
		batch(`{"command_id":"2","type":"CANCEL_PRODUCTS","smartcard":"SC1"}`),
		batch(`{"command_id":"2","type":"ADD_PRODUCTS","smartcard":"SC1","products":[]}`),
		batch(`{"command_id":"2","type":"ADD_PRODUCTS","smartcard":"SC1","products":["P1"` + strings.Repeat(`,"P1"`, 64) + `]}`),
		batch(`{"command_id":"2","type":"ADD_PRODUCTS","smartcard":"SC1","products":[1]}`),
		batch(`{"command_id":"2","type":"ADD_PRODUCTS","smartcard":"SC1","products":"P1"}`),
		batch(`{"command_id":"2","type":"ADD_PRODUCTS","smartcard":"SC1","products":["P1",""]}`),
		batch(`{"command_id":"2","type":"ADD_PRODUCTS","smartcard":"SC1","products":[null]}`),
		batch(`{"command_id":"2","type":"PAIR","smartcard":"SC1","stb":"STB1","products":["P1"]}`),
		batch(`{"command_id":"2","type":"UNPAIR","smartcard":"SC1","products":[]}`),
		batch(`{"command_id":"2","type":"RESET_PIN","smartcard":"SC1","products":null}`),
		batch(`{"command_id":"2","type":"PAIR","smartcard":"SC1"}`),
		batch(`{"command_id":"2","type":"PAIR","smartcard":"SC1","stb":""}`),
		batch(`{"command_id":"2","type":"ADD_PRODUCTS","smartcard":"SC1","products":["P1"],"stb":"STB1"}`),
		batch(`{"command_id":"2","type":"UNPAIR","smartcard":"SC1","stb":""}`),
		batch(`{"command_id":"2","type":"SET_PIN","smartcard":"SC1"}`),
		batch(`{"command_id":"2","type":"SET_PIN","smartcard":"SC1","pin":"123"}`),
		batch(`{"command_id":"2","type":"SET_PIN","smartcard":"SC1","pin":"12345"}`),
		batch(`{"command_id":"2","type":"SET_PIN","smartcard":"SC1","pin":"12ab"}`),
		batch(`{"command_id":"2","type":"SET_PIN","smartcard":"SC1","pin":1234}`),
		batch(`{"command_id":"2","type":"RESET_PIN","smartcard":"SC1","pin":"1234"}`),
		batch(`{"command_id":"2","type":"RESET_SMARTCARD","smartcard":"SC1","pin":""}`),
		batch(`{"command_id":"2","type":"UNPAIR","smartcard":"SC1"}`),
	} {
		f.Add([]byte(body))
	}
	// 501 commands, and 501 with a malformed one: 413 whatever else.
	cmds := make([]casapi.Command, 501)
	for i := range cmds {
		cmds[i] = casapi.Command{CommandID: fmt.Sprintf("c%d", i), Type: casapi.TypeSetPIN, Smartcard: "SC1", PIN: fmt.Sprintf("%04d", i+1)}
	}
	for _, b := range []casapi.Batch{{BatchID: "b", Commands: cmds}, {Commands: append([]casapi.Command{{CommandID: "x", PIN: "x"}}, cmds[1:]...)}} {
		body, err := json.Marshal(b)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
	}

	f.Fuzz(func(t *testing.T, body []byte) {
		want, wantErr := decodeBatchStrict(body)
		got, gotErr := decodeBatch(body)
		if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
			t.Fatalf("body %q\nerror %v\nstrict %v", body, gotErr, wantErr)
		}
		if errors.Is(gotErr, casapi.ErrTooMany) != errors.Is(wantErr, casapi.ErrTooMany) {
			t.Fatalf("body %q\nerror %v\nstrict %v: ErrTooMany differs", body, gotErr, wantErr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("body %q\nbatch %#v\nstrict %#v", body, got, want)
		}
		if fast, ok := decodeBatchFast(body); ok && (wantErr != nil || !reflect.DeepEqual(fast, want)) {
			t.Fatalf("body %q\nfast %#v\nstrict %#v, %v", body, fast, want, wantErr)
		}
	})
}

// BenchmarkDecodeBatch compares the strict path with decodeBatch (which takes
// the fast path for these bodies) on what the dispatcher's Client sends.
func BenchmarkDecodeBatch(b *testing.B) {
	for _, n := range []int{100, 500} {
		body := benchBody(b, n, 100000)
		if _, ok := decodeBatchFast(body); !ok {
			b.Fatal("fast path gave up")
		}
		for _, path := range []struct {
			name   string
			decode func([]byte) (casapi.Batch, error)
		}{{"strict", decodeBatchStrict}, {"fast", decodeBatch}} {
			b.Run(fmt.Sprintf("%d/%s", n, path.name), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(body)))
				for b.Loop() {
					if _, err := path.decode(body); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// nextRefLocked formats without fmt; it must write what "GW-%08d" writes.
func TestNextRef(t *testing.T) {
	s := &Simulator{}
	for _, n := range []int64{1, 9, 10, 99999999, 100000000, 1234567890123} {
		s.refs = n - 1
		if got, want := s.nextRefLocked(), fmt.Sprintf("GW-%08d", n); got != want {
			t.Errorf("ref %d: %q, want %q", n, got, want)
		}
	}
}
