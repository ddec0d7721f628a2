package simulator

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/provisioner/provisioner/casapi"
)

// The answers the simulator gives a well-behaved client must take the hand
// encoder, and come out as json.Marshal writes them.
func TestAppendBatchResult(t *testing.T) {
	cases := map[string]casapi.BatchResult{
		"no results": {BatchID: "b", Results: []casapi.Result{}},
		"every kind": {BatchID: "run-12-345", Results: []casapi.Result{
			{CommandID: "1", Status: casapi.StatusCompleted, Reference: "GW-00000001"},
			{CommandID: "2", Status: casapi.StatusRejected, Reference: "GW-00000002", ErrorCode: casapi.ErrCodeUnknownSmartcard, ErrorDescription: "smartcard SC9 is not known"},
			{CommandID: "3", Status: casapi.StatusRetry, ErrorCode: casapi.ErrCodeBusy, ErrorDescription: "smartcard is busy, send again later"},
			{CommandID: "1", Status: casapi.StatusCompleted, Reference: "GW-00000001", Replayed: true},
		}},
	}
	for name, r := range cases {
		t.Run(name, func(t *testing.T) {
			want, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := appendBatchResult(nil, r)
			if !ok {
				t.Fatal("hand encoder gave up")
			}
			if string(got) != string(want) {
				t.Fatalf("got  %s\nwant %s", got, want)
			}
		})
	}
	for name, r := range map[string]casapi.BatchResult{
		"nil results": {BatchID: "b"},
		"html":        {BatchID: "<b>", Results: []casapi.Result{}},
		"quote":       {BatchID: "b", Results: []casapi.Result{{CommandID: `a"b`}}},
		"non-ASCII":   {BatchID: "b", Results: []casapi.Result{{CommandID: "1", ErrorDescription: "é"}}},
	} {
		t.Run(name, func(t *testing.T) {
			if got, ok := appendBatchResult(nil, r); ok {
				t.Fatalf("hand encoder took it: %s", got)
			}
		})
	}
}

// FuzzAppendBatchResult checks that whatever the hand encoder takes it
// writes exactly as json.Marshal does.
func FuzzAppendBatchResult(f *testing.F) {
	f.Add("run-1-1", "18572", casapi.StatusCompleted, "GW-00000001", "", "", false, uint8(3))
	f.Add("b", "2", casapi.StatusRejected, "GW-00000002", casapi.ErrCodeNotEntitled, "smartcard SC1 is not entitled to P1", true, uint8(1))
	f.Add("b<", "2\"", "\x7f", "é", "\\", "\u2028", true, uint8(0))
	f.Fuzz(func(t *testing.T, batchID, commandID, status, ref, code, desc string, replayed bool, n uint8) {
		r := casapi.BatchResult{BatchID: batchID, Results: []casapi.Result{}}
		for i := range int(n % 4) {
			res := casapi.Result{CommandID: commandID, Status: status, Reference: ref, ErrorCode: code, ErrorDescription: desc, Replayed: replayed}
			// Vary which fields are empty from one result to the next.
			switch i {
			case 1:
				res.Reference, res.Replayed = "", !replayed
			case 2:
				res.ErrorCode, res.ErrorDescription = "", ""
			}
			r.Results = append(r.Results, res)
		}
		got, ok := appendBatchResult([]byte("x"), r)
		if !ok {
			return
		}
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != "x"+string(want) {
			t.Fatalf("got  %s\nwant x%s", got, want)
		}
	})
}

// BenchmarkEncodeBatchResult compares json.Marshal with the hand encoder on
// the answer to a batch of n commands of the processing run's mix.
func BenchmarkEncodeBatchResult(b *testing.B) {
	for _, n := range []int{100, 500} {
		r := casapi.BatchResult{BatchID: "run-12-345", Results: make([]casapi.Result, n)}
		for i := range r.Results {
			r.Results[i] = casapi.Result{CommandID: fmt.Sprint(100000 + i), Status: casapi.StatusCompleted, Reference: fmt.Sprintf("GW-%08d", i+1)}
			if i%10 == 3 {
				r.Results[i].Status, r.Results[i].ErrorCode, r.Results[i].ErrorDescription = casapi.StatusRejected, casapi.ErrCodeNotEntitled, "smartcard SC0000012345 is not entitled to P-1012"
			}
		}
		b.Run(fmt.Sprintf("%d/json", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := json.Marshal(r); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("%d/hand", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := appendBatchResult(make([]byte, 0, 64+88*len(r.Results)), r); !ok {
					b.Fatal("hand encoder gave up")
				}
			}
		})
	}
}

// TestHandWrittenFieldsComplete: the hand-written decoder and encoder know the
// fields of casapi.Command and casapi.Result by name. A field added there must be
// added to them too, or the fast paths would drop it; this fails until it is.
func TestHandWrittenFieldsComplete(t *testing.T) {
	for _, tc := range []struct {
		typ  reflect.Type
		want []string
	}{
		{reflect.TypeFor[casapi.Command](), []string{"command_id", "type", "smartcard", "products,omitempty", "stb,omitempty", "pin,omitempty"}},
		{reflect.TypeFor[casapi.Result](), []string{"command_id", "status", "reference,omitempty", "error_code,omitempty", "error_description,omitempty", "replayed,omitempty"}},
		{reflect.TypeFor[casapi.BatchResult](), []string{"batch_id", "results"}},
		{reflect.TypeFor[casapi.Batch](), []string{"batch_id", "commands"}},
	} {
		var got []string
		for f := range tc.typ.Fields() {
			got = append(got, f.Tag.Get("json"))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%v has the fields %q; decode_fast.go and encode.go know %q: teach them the change", tc.typ, got, tc.want)
		}
	}
}
