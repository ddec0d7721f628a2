package dispatcher_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lib/pq"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/provisioner/provisioner/casapi"
	"github.com/provisioner/provisioner/dispatcher"
	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/provisioning"
	"github.com/provisioner/provisioner/simulator"
	"github.com/provisioner/provisioner/store"
)

const (
	token = "test-token"
	dest  = "CRM01"
)

// known is what the simulated gateway knows: the CA ids of samples/reference.
var known = simulator.Known{
	Smartcards: []string{"1000000001", "1000000002", "1000000003", "1000000004", "1000000005", "1000000006", "1000000007", "1000000099"},
	STBs:       []string{"7700000001", "7700000002", "7700000003", "7700000004", "7700000099"},
	Products:   []string{"P-1001", "P-1002", "P-1003", "P-1004"},
}

// req is a request to insert for a test; the sequence number follows insertion order.
type req struct {
	typ, card, stb, pin string
	products            []string
	express             bool
	number              int64 // 0: from the sequence
}

func insert(t *testing.T, db *store.DB, rs ...req) []int64 {
	t.Helper()
	ids := make([]int64, len(rs))
	for i, r := range rs {
		o := pgtest.RequestOpts{Type: r.typ, Smartcard: r.card, Services: r.products, Number: r.number}
		if r.express {
			o.Priority = "EXPRESS"
		}
		if r.stb != "" {
			o.STB = &r.stb
		}
		if r.pin != "" {
			o.PIN = &r.pin
		}
		ids[i] = pgtest.Request(t, db, o)
	}
	return ids
}

// final is a request's fields after a run.
type final struct {
	ID        int64          `db:"id"`
	Number    int64          `db:"number"`
	State     string         `db:"life_cycle_state"`
	Reference string         `db:"reference_number"`
	Code      string         `db:"error_code"`
	Desc      string         `db:"error_description"`
	Request   string         `db:"request"`
	Response  string         `db:"response"`
	Attempts  int            `db:"attempts"`
	Executed  bool           `db:"executed"`
	Next      *time.Time     `db:"next_attempt_at"`
	Process   string         `db:"process_name"`
	ProcessID int64          `db:"process_id"`
	Claimed   bool           `db:"claimed"`
	Products  pq.StringArray `db:"service_ca_ids"`
}

func finals(t *testing.T, db *store.DB) []final {
	t.Helper()
	var fs []final
	err := db.Select(&fs, `SELECT id, number, life_cycle_state, coalesce(reference_number, '') AS reference_number,
	        coalesce(error_code, '') AS error_code, coalesce(error_description, '') AS error_description,
	        coalesce(request, '') AS request, coalesce(response, '') AS response, attempts,
	        executed_date IS NOT NULL AS executed, next_attempt_at, coalesce(process_name, '') AS process_name,
	        coalesce(process_id, 0) AS process_id, claimed_by IS NOT NULL AS claimed, service_ca_ids
	    FROM provisioning_requests ORDER BY sequence_number`)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func newSim(t *testing.T, faults simulator.Faults) (*simulator.Simulator, *httptest.Server) {
	t.Helper()
	sim := simulator.New(simulator.Config{Token: token, DestinationID: dest, Seed: 1, Faults: faults}, known)
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { sim.Close(); srv.Close() })
	return sim, srv
}

func newDispatcher(t *testing.T, db *store.DB, url string, timeout time.Duration, opts dispatcher.Options) *dispatcher.Dispatcher {
	t.Helper()
	client, err := dispatcher.NewClient(dispatcher.GatewayConfig{URL: url, Token: token, DestinationID: dest, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	d, err := dispatcher.New(db, client, log, opts)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func run(t *testing.T, d *dispatcher.Dispatcher) dispatcher.Summary {
	t.Helper()
	sum, err := d.Run(context.Background())
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return sum
}

// TestEveryCommandAndErrorCode sends one request per outcome of the gateway's page and
// checks every field the run writes back.
func TestEveryCommandAndErrorCode(t *testing.T) {
	db, _ := pgtest.New(t)
	sim, srv := newSim(t, simulator.Faults{DisabledSmartcards: []string{"1000000007"}})

	// A command_id the gateway already saw with another payload.
	c := dispatcherClient(t, srv.URL)
	if out := c.Send(context.Background(), casapi.Batch{BatchID: "earlier", Commands: []casapi.Command{
		{CommandID: "900", Type: casapi.TypeResetPIN, Smartcard: "1000000099"}}}); out.Kind != dispatcher.Answered {
		t.Fatalf("seeding command 900: %+v", out)
	}

	type want struct{ state, code string }
	cases := []struct {
		r    req
		want want
	}{
		// Only the head of each card's queue goes in a batch: a card's requests go in
		// successive batches, in this order.
		{req{typ: "ADD_PRODUCTS", card: "1000000001", products: []string{"P-1001", "P-1002"}}, want{"COMPLETED", ""}},
		{req{typ: "ADD_PRODUCTS", card: "1000000404", products: []string{"P-1001"}}, want{"REJECTED", "E_UNKNOWN_SMARTCARD"}},
		{req{typ: "ADD_PRODUCTS", card: "1000000007", products: []string{"P-1001"}}, want{"REJECTED", "E_SMARTCARD_DISABLED"}},
		{req{typ: "ADD_PRODUCTS", card: "1000000002", products: []string{"P-9999"}}, want{"REJECTED", "E_UNKNOWN_PRODUCT"}},
		{req{typ: "CANCEL_PRODUCTS", card: "1000000001", products: []string{"P-1002"}}, want{"COMPLETED", ""}},
		{req{typ: "PAIR", card: "1000000003", stb: "7700000003"}, want{"COMPLETED", ""}},
		{req{typ: "CANCEL_PRODUCTS", card: "1000000003", products: []string{"P-1003"}}, want{"REJECTED", "E_NOT_ENTITLED"}},
		{req{typ: "CANCEL_PRODUCTS", card: "1000000003", products: []string{"P-9999"}}, want{"REJECTED", "E_UNKNOWN_PRODUCT"}},
		{req{typ: "RESET_PIN", card: "1000000004", number: 900}, want{"REJECTED", "E_COMMAND_ID_REUSED"}},
		{req{typ: "PAIR", card: "1000000004", stb: "7700000003"}, want{"REJECTED", "E_STB_PAIRED_ELSEWHERE"}},
		{req{typ: "UNPAIR", card: "1000000003"}, want{"COMPLETED", ""}},
		{req{typ: "PAIR", card: "1000000005", stb: "7700000404"}, want{"REJECTED", "E_UNKNOWN_STB"}},
		{req{typ: "UNPAIR", card: "1000000006"}, want{"REJECTED", "E_NOT_PAIRED"}},
		{req{typ: "RESET_PIN", card: "1000000005"}, want{"COMPLETED", ""}},
		{req{typ: "SET_PIN", card: "1000000006", pin: "4821"}, want{"COMPLETED", ""}},
		{req{typ: "SET_PIN", card: "1000000002", pin: "0000"}, want{"REJECTED", "E_INVALID_PIN"}},
		{req{typ: "RESET_SMARTCARD", card: "1000000002"}, want{"COMPLETED", ""}},
		{req{typ: "RESET_SMARTCARD", card: "1000000404"}, want{"REJECTED", "E_UNKNOWN_SMARTCARD"}},
		// Refused before sending: the gateway would refuse the whole batch for it.
		{req{typ: "SET_PIN", card: "1000000004", pin: "12a4"}, want{"REJECTED", "E_BAD_REQUEST"}},
	}
	for _, tc := range cases {
		insert(t, db, tc.r)
	}
	// One batch at a time, so that the gateway sees the PAIRs in the order above.
	d := newDispatcher(t, db, srv.URL, 5*time.Second, dispatcher.Options{Concurrency: 1, BatchSize: 500})
	sum := run(t, d)
	completed, rejected := 0, 0
	for _, tc := range cases {
		if tc.want.state == "COMPLETED" {
			completed++
		} else {
			rejected++
		}
	}
	if sum.Claimed != len(cases) || sum.Completed != completed || sum.Rejected != rejected || sum.Retried != 0 {
		t.Errorf("summary %+v, want %d claimed, %d completed, %d rejected", sum, len(cases), completed, rejected)
	}

	for i, f := range finals(t, db) {
		tc := cases[i]
		if f.State != tc.want.state || f.Code != tc.want.code {
			t.Errorf("%s %s: %s %s (%s), want %s %s", tc.r.typ, tc.r.card, f.State, f.Code, f.Desc, tc.want.state, tc.want.code)
		}
		if f.Process != provisioning.ProcessName || f.ProcessID != sum.ProcessID || !f.Executed || f.Claimed || f.Attempts != 0 || f.Next != nil {
			t.Errorf("%s %s: process %q/%d executed=%v claimed=%v attempts=%d next=%v", tc.r.typ, tc.r.card, f.Process, f.ProcessID, f.Executed, f.Claimed, f.Attempts, f.Next)
		}
		// A settled SET_PIN keeps no PIN: the command recorded holds "****".
		wantPIN := tc.r.pin
		if wantPIN != "" {
			wantPIN = "****"
		}
		var sent casapi.Command
		if err := json.Unmarshal([]byte(f.Request), &sent); err != nil || sent.CommandID != strconv.FormatInt(f.Number, 10) ||
			sent.Type != tc.r.typ || sent.Smartcard != tc.r.card || sent.STB != tc.r.stb || sent.PIN != wantPIN ||
			strings.Join(sent.Products, ",") != strings.Join(tc.r.products, ",") {
			t.Errorf("%s %s: raw request %s", tc.r.typ, tc.r.card, f.Request)
		}
		switch {
		case tc.want.code == "E_BAD_REQUEST":
			if f.Response != "" || !strings.Contains(f.Desc, "pin") {
				t.Errorf("refused locally: response %q, description %q", f.Response, f.Desc)
			}
		default:
			var res casapi.Result
			if err := json.Unmarshal([]byte(f.Response), &res); err != nil || res.Status != tc.want.state || res.CommandID != sent.CommandID {
				t.Errorf("%s %s: raw response %s", tc.r.typ, tc.r.card, f.Response)
			}
			if !strings.HasPrefix(f.Reference, "GW-") {
				t.Errorf("%s %s: reference %q", tc.r.typ, tc.r.card, f.Reference)
			}
			if tc.want.state == "REJECTED" && f.Desc == "" {
				t.Errorf("%s %s: no error description", tc.r.typ, tc.r.card)
			}
		}
	}
	// What the gateway holds now agrees with what was written back.
	if st, _ := sim.State("1000000001"); strings.Join(st.Products, ",") != "P-1001" {
		t.Errorf("card 1 entitled to %v, want P-1001", st.Products)
	}
	if st, _ := sim.State("1000000006"); st.PINIsDefault {
		t.Error("card 6 PIN still default")
	}
}

func dispatcherClient(t *testing.T, url string) *dispatcher.Client {
	t.Helper()
	c, err := dispatcher.NewClient(dispatcher.GatewayConfig{URL: url, Token: token, DestinationID: dest, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestOrder: the claim order. EXPRESS before REGULAR, then sequence number; a
// smartcard's requests one at a time in sequence order; and an EXPRESS request behind
// REGULAR ones promotes them ahead of other REGULAR work. One request per run, each run
// after the last: the applied order is the order in which each claim takes requests.
func TestOrder(t *testing.T) {
	db, _ := pgtest.New(t)
	sim, srv := newSim(t, simulator.Faults{})
	ids := insert(t, db,
		req{typ: "RESET_PIN", card: "1000000001"},                // 1: card A, blocks 2 and 6
		req{typ: "RESET_SMARTCARD", card: "1000000001"},          // 2: card A
		req{typ: "RESET_PIN", card: "1000000002"},                // 3: card B, plain REGULAR
		req{typ: "RESET_PIN", card: "1000000003", express: true}, // 4: card C, EXPRESS head
		req{typ: "RESET_PIN", card: "1000000004"},                // 5: card D, plain REGULAR
		req{typ: "RESET_PIN", card: "1000000001", express: true}, // 6: card A, EXPRESS behind 1 and 2
		req{typ: "RESET_PIN", card: "1000000002"},                // 7: card B, behind 3
	)
	d := newDispatcher(t, db, srv.URL, 5*time.Second, dispatcher.Options{Concurrency: 1, BatchSize: 1, MaxRequests: 1})
	for range ids {
		if sum := run(t, d); sum.Completed != 1 {
			t.Fatalf("run %+v: want one request completed", sum)
		}
	}
	if sum := run(t, d); sum.Claimed != 0 {
		t.Errorf("a run after all were sent claimed %d", sum.Claimed)
	}
	numbers := map[string]int{}
	for i, f := range finals(t, db) {
		numbers[strconv.FormatInt(f.Number, 10)] = i + 1
		if f.State != "COMPLETED" {
			t.Errorf("request %d: %s %s", ids[i], f.State, f.Code)
		}
	}
	var order []int
	for _, e := range sim.AppliedLog() {
		order = append(order, numbers[e.CommandID])
	}
	want := []int{4, 1, 2, 6, 3, 5, 7}
	if !slices.Equal(order, want) {
		t.Errorf("applied order %v, want %v", order, want)
	}
}

// TestOrderPipelined: within one run, claims run ahead of the send slots and
// write-backs behind them. Each smartcard's requests still reach the gateway one at a
// time in sequence order; the first claim takes the EXPRESS head and the promoted head
// first; and an EXPRESS request behind REGULAR ones is not stuck behind the whole
// queue: only the work already in the pipeline when each of its predecessors was
// written back goes before the next one (doc.go, "Order").
func TestOrderPipelined(t *testing.T) {
	db, _ := pgtest.New(t)
	sim, srv := newSim(t, simulator.Faults{})
	rs := []req{
		{typ: "RESET_PIN", card: "1000000001"},                // card A: three REGULAR...
		{typ: "RESET_SMARTCARD", card: "1000000001"},          //
		{typ: "RESET_PIN", card: "1000000001"},                //
		{typ: "RESET_PIN", card: "1000000003", express: true}, // card C: an EXPRESS head
		{typ: "RESET_PIN", card: "1000000001", express: true}, // ...then A's EXPRESS
	}
	// Then plenty of plain REGULAR work on the other cards, two rounds of them.
	others := []string{"1000000002", "1000000004", "1000000005", "1000000006", "1000000007", "1000000099"}
	for i := 0; i < 60; i++ {
		rs = append(rs, req{typ: "RESET_PIN", card: others[i%len(others)]})
	}
	insert(t, db, rs...)
	d := newDispatcher(t, db, srv.URL, 5*time.Second, dispatcher.Options{Concurrency: 1, BatchSize: 1})
	if sum := run(t, d); sum.Completed != len(rs) {
		t.Fatalf("run %+v: want all %d completed", sum, len(rs))
	}
	seq := map[string]int{} // command_id -> position in rs
	for i, f := range finals(t, db) {
		seq[strconv.FormatInt(f.Number, 10)] = i
	}
	var order []int
	last := map[string]int{} // card -> position in rs of its last applied request
	for _, e := range sim.AppliedLog() {
		i := seq[e.CommandID]
		order = append(order, i)
		if prev, ok := last[rs[i].card]; ok && prev > i {
			t.Errorf("card %s: request %d applied after request %d", rs[i].card, i, prev)
		}
		last[rs[i].card] = i
	}
	if len(order) != len(rs) {
		t.Fatalf("applied %d commands, want %d", len(order), len(rs))
	}
	if order[0] != 3 || order[1] != 0 {
		t.Errorf("applied first %v, want the EXPRESS head (3) then the promoted head (0)", order[:2])
	}
	// A's EXPRESS request waits for its three predecessors, each sent at the first
	// claim after the last one was written back; the REGULAR work of the other cards
	// fills the pipeline meanwhile (one batch sent, one waiting, the answers being
	// written: a handful per step), not the whole queue of 60.
	pos := slices.Index(order, 4)
	t.Logf("applied order %v", order)
	if pos < 4 || pos > 4+3*8 {
		t.Errorf("A's EXPRESS request applied at position %d of %d (order %v); want after its 3 predecessors, ahead of most REGULAR work", pos, len(order), order)
	}
}

// lockFirst forwards to the simulator; while it forwards the first batch it locks
// that batch's request in the database (SELECT ... FOR UPDATE in a transaction of its
// own), so that the run's write-back of it waits on the lock until the test lets go.
type lockFirst struct {
	sim     *simulator.Simulator
	db      *store.DB
	t       *testing.T
	tx      chan *sql.Tx // the lock, once taken
	batches atomic.Int32
	arrived chan struct{} // a batch reached the gateway
}

func (h *lockFirst) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == casapi.PathBatches {
		if h.batches.Add(1) == 1 {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			var b casapi.Batch
			json.Unmarshal(body, &b)
			tx, err := h.db.Begin()
			if err == nil {
				_, err = tx.Exec("SELECT 1 FROM provisioning_requests WHERE number = $1 FOR UPDATE", b.Commands[0].CommandID)
			}
			if err != nil {
				h.t.Errorf("lock the first request: %v", err)
			}
			h.tx <- tx
		}
		defer func() { h.arrived <- struct{}{} }()
	}
	h.sim.ServeHTTP(w, r)
}

// TestSlotFreedAtAnswer: a send slot is free as soon as the gateway answers, not once
// the answer is written back: while the write-back of the first batch waits (its row
// locked), the one slot sends the next batches; the senders stop when the writers
// fall behind (the answers waiting are bounded); and a shutdown meanwhile still writes
// back every answer, and releases what was not sent.
func TestSlotFreedAtAnswer(t *testing.T) {
	db, _ := pgtest.New(t)
	sim := simulator.New(simulator.Config{Token: token, DestinationID: dest, Seed: 1}, known)
	h := &lockFirst{sim: sim, db: db, t: t, tx: make(chan *sql.Tx, 1), arrived: make(chan struct{}, 100)}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { sim.Close(); srv.Close() })
	var rs []req
	for _, c := range known.Smartcards {
		rs = append(rs, req{typ: "RESET_PIN", card: c})
	}
	insert(t, db, rs...)
	// One slot, one writer, room for one answer to wait for it: with the first
	// write-back stuck, batch 2 is answered and waits, batch 3 is answered and its
	// sender waits to hand it over; nothing more is sent. (Or one more: batch 2 may
	// have been handed over while the writer was merging what waited with batch 1.)
	d := newDispatcher(t, db, srv.URL, 5*time.Second, dispatcher.Options{Concurrency: 1, BatchSize: 1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		sum dispatcher.Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		sum, err := d.Run(ctx)
		done <- result{sum, err}
	}()
	tx := <-h.tx
	sent := 3
	for i := 0; i < sent; i++ {
		select {
		case <-h.arrived:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d batches reached the gateway while the first write-back waited; want %d: the slot waits for the write-back", i, sent)
		}
	}
	// At most one more may come while the writer is stuck: give a wrong design time
	// to show.
	for timeout := time.After(300 * time.Millisecond); ; {
		select {
		case <-h.arrived:
			if sent++; sent > 4 {
				t.Errorf("%d batches sent while the first write-back waited: the answers waiting are not bounded", sent)
			}
			continue
		case <-timeout:
		}
		break
	}
	var written int
	db.Get(&written, "SELECT count(*) FROM provisioning_requests WHERE life_cycle_state <> 'PENDING'")
	if written != 0 {
		t.Errorf("%d requests written back while the first write-back waited", written)
	}
	cancel() // SIGTERM while three answers wait to be written
	tx.Rollback()
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	sum := res.sum
	if sum.Completed != sent || sum.Batches != sent || sum.Claimed != sum.Completed+sum.Released {
		t.Errorf("summary %+v: want the %d sent written back COMPLETED and the rest released", sum, sent)
	}
	var claimed, completed int
	db.Get(&claimed, "SELECT count(*) FROM provisioning_requests WHERE claimed_by IS NOT NULL")
	db.Get(&completed, "SELECT count(*) FROM provisioning_requests WHERE life_cycle_state = 'COMPLETED'")
	if claimed != 0 || completed != sent {
		t.Errorf("%d requests still claimed, %d completed; want 0 and %d", claimed, completed, sent)
	}
}

// TestRetryBackoffAndMaxAttempts: a command the gateway keeps answering RETRY stays
// PENDING with its attempts raised and its next attempt after a growing, jittered
// backoff; the next request of the same card waits; after MaxAttempts it is REJECTED
// with E_MAX_ATTEMPTS and the last error.
func TestRetryBackoffAndMaxAttempts(t *testing.T) {
	db, _ := pgtest.New(t)
	_, srv := newSim(t, simulator.Faults{Busy: 1})
	insert(t, db, req{typ: "RESET_PIN", card: "1000000001"}, req{typ: "RESET_SMARTCARD", card: "1000000001"})
	// Long enough that a run started right after a write-back, on a loaded machine,
	// still finds the request waiting (a run ends a few claims after its last
	// write-back; at 400 ms, half of it jittered away, it did not always).
	// MaxRequests: one send per run, however slow the run's end (see
	// TestSendsRecorded).
	base := time.Second
	d := newDispatcher(t, db, srv.URL, 5*time.Second, dispatcher.Options{MaxAttempts: 3, MaxAttemptsAge: dispatcher.NoMaxAttemptsAge, BackoffBase: base, BackoffCap: time.Hour, MaxRequests: 1})
	for attempt := 1; attempt <= 2; attempt++ {
		before := time.Now()
		sum := run(t, d)
		if sum.Claimed != 1 || sum.Retried != 1 {
			t.Fatalf("attempt %d: %+v, want the head alone claimed and retried", attempt, sum)
		}
		f := finals(t, db)
		first, second := f[0], f[1]
		if first.State != "PENDING" || first.Attempts != attempt || first.Code != "E_BUSY" || first.Claimed || first.Next == nil {
			t.Fatalf("attempt %d: %+v", attempt, first)
		}
		// Equal jitter: between half and all of base * 2^(attempt-1).
		full := base << (attempt - 1)
		wait := first.Next.Sub(before)
		if wait < full/2 || wait > full+time.Second {
			t.Errorf("attempt %d: next attempt in %v, want between %v and %v", attempt, wait, full/2, full)
		}
		if second.Attempts != 0 || second.Request != "" {
			t.Errorf("the card's next request was sent while the first waits: %+v", second)
		}
		// Not due yet: a run now claims nothing.
		if sum := run(t, d); sum.Claimed != 0 {
			t.Errorf("attempt %d: a run before the backoff ended claimed %d", attempt, sum.Claimed)
		}
		time.Sleep(time.Until(*first.Next) + 50*time.Millisecond)
	}
	sum := run(t, d)
	f := finals(t, db)[0]
	if sum.Rejected != 1 || f.State != "REJECTED" || f.Code != provisioning.CodeMaxAttempts || f.Attempts != 3 ||
		!strings.Contains(f.Desc, "after 3 attempts") || !strings.Contains(f.Desc, "E_BUSY") {
		t.Errorf("after 3 attempts: summary %+v, request %+v", sum, f)
	}
}

// TestThrottled: 429 and 503 leave the batch PENDING with attempts raised and its next
// attempt no sooner than the gateway's Retry-After.
func TestThrottled(t *testing.T) {
	cases := []struct {
		name   string
		faults simulator.Faults
		code   string
		after  time.Duration
	}{
		{"503", simulator.Faults{Unavailable: 1, RetryAfter: 3 * time.Second}, "HTTP_503", 3 * time.Second},
		{"429", simulator.Faults{RateLimit: 0.001, RateBurst: 1, RetryAfter: 4 * time.Second}, "HTTP_429", 4 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := pgtest.New(t)
			sim, srv := newSim(t, tc.faults)
			insert(t, db, req{typ: "RESET_PIN", card: "1000000001"}, req{typ: "RESET_PIN", card: "1000000002"})
			// 503: both in one batch. 429: one per batch, so that the second is over the
			// rate. MaxRequests: one pass; the run would otherwise send them again after
			// Retry-After, until E_MAX_ATTEMPTS.
			batch := 2
			if tc.name == "429" {
				batch = 1
			}
			d := newDispatcher(t, db, srv.URL, 5*time.Second, dispatcher.Options{Concurrency: 1, BatchSize: batch, BackoffBase: 10 * time.Millisecond, MaxRequests: 2})
			before := time.Now()
			sum := run(t, d)
			var throttled []final
			for _, f := range finals(t, db) {
				if f.State == "PENDING" {
					throttled = append(throttled, f)
				}
			}
			want := 2
			if tc.name == "429" {
				want = 1
			}
			if len(throttled) != want || sum.Retried != want {
				t.Fatalf("%d throttled, summary %+v; want %d", len(throttled), sum, want)
			}
			for _, f := range throttled {
				if f.Attempts != 1 || f.Code != tc.code || f.Next == nil || f.Next.Sub(before) < tc.after {
					t.Errorf("%+v: want attempts 1, %s, next attempt ≥ %v from the send", f, tc.code, tc.after)
				}
			}
			if st := sim.Stats(); st.Applied != 2-want {
				t.Errorf("the gateway applied %d", st.Applied)
			}
		})
	}
}

// dropFirst forwards to the simulator but drops the connection without an answer for
// the first n batches, after the simulator applied them: an unknown outcome.
type dropFirst struct {
	sim *simulator.Simulator
	n   atomic.Int32
}

func (h *dropFirst) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != casapi.PathBatches || h.n.Add(-1) < 0 {
		h.sim.ServeHTTP(w, r)
		return
	}
	h.sim.ServeHTTP(httptest.NewRecorder(), r) // applied; the answer is lost
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

// TestUnknownOutcomeReplayed: an answer lost after the gateway applied the batch
// leaves the requests PENDING; the resend carries the same command_ids, the gateway
// answers with the stored outcome (replayed) and applies nothing twice.
func TestUnknownOutcomeReplayed(t *testing.T) {
	db, _ := pgtest.New(t)
	sim := simulator.New(simulator.Config{Token: token, DestinationID: dest, Seed: 1}, known)
	h := &dropFirst{sim: sim}
	h.n.Store(1)
	srv := httptest.NewServer(h)
	t.Cleanup(func() { sim.Close(); srv.Close() })
	insert(t, db,
		req{typ: "ADD_PRODUCTS", card: "1000000001", products: []string{"P-1001"}},
		req{typ: "SET_PIN", card: "1000000002", pin: "1234"},
		req{typ: "UNPAIR", card: "1000000003"}, // REJECTED E_NOT_PAIRED, also on replay
	)
	opts := dispatcher.Options{BackoffBase: 10 * time.Millisecond, BackoffCap: 20 * time.Millisecond, MaxRequests: 3}
	sum := run(t, newDispatcher(t, db, srv.URL, 5*time.Second, opts))
	if sum.Retried != 3 {
		t.Fatalf("first run %+v, want 3 unknown outcomes", sum)
	}
	for _, f := range finals(t, db) {
		if f.State != "PENDING" || f.Code != "E_OUTCOME_UNKNOWN" || f.Attempts != 1 {
			t.Errorf("after the lost answer: %+v", f)
		}
	}
	firstRefs := map[string]string{}
	for _, e := range sim.AppliedLog() {
		firstRefs[e.CommandID] = e.Reference
	}
	time.Sleep(50 * time.Millisecond)
	opts.MaxRequests = 0
	sum = run(t, newDispatcher(t, db, srv.URL, 5*time.Second, opts))
	if sum.Completed != 2 || sum.Rejected != 1 {
		t.Fatalf("second run %+v", sum)
	}
	for _, f := range finals(t, db) {
		var res casapi.Result
		json.Unmarshal([]byte(f.Response), &res)
		if !res.Replayed {
			t.Errorf("request %d: response %s, want a replay", f.Number, f.Response)
		}
		if ref, ok := firstRefs[strconv.FormatInt(f.Number, 10)]; ok && f.Reference != ref {
			t.Errorf("request %d: reference %s, want the one of the first apply %s", f.Number, f.Reference, ref)
		}
	}
	if st := sim.Stats(); st.Applied != 2 || st.Replayed != 3 {
		t.Errorf("gateway applied %d and replayed %d, want 2 and 3", st.Applied, st.Replayed)
	}
}

// slowFirst holds the first batch's answer until released, past the lease, so that
// another run takes the requests over meanwhile. arrived is closed when the first
// batch reached it: the test waits on that, not on time (on a busy machine the slow
// run may take any time to claim and send).
type slowFirst struct {
	sim     *simulator.Simulator
	arrived chan struct{}
	release chan struct{}
	n       atomic.Int32
}

func (h *slowFirst) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == casapi.PathBatches && h.n.Add(1) == 1 {
		close(h.arrived)
		<-h.release
	}
	h.sim.ServeHTTP(w, r)
}

// TestWriteBackGuard: a run whose lease expired while it waited for the gateway, and
// whose requests another run took over and finished, writes nothing back.
func TestWriteBackGuard(t *testing.T) {
	db, _ := pgtest.New(t)
	sim := simulator.New(simulator.Config{Token: token, DestinationID: dest, Seed: 1}, known)
	h := &slowFirst{sim: sim, arrived: make(chan struct{}), release: make(chan struct{})}
	srv := httptest.NewServer(h)
	var once sync.Once
	release := func() { once.Do(func() { close(h.release) }) }
	t.Cleanup(func() { release(); sim.Close(); srv.Close() })
	insert(t, db, req{typ: "RESET_PIN", card: "1000000001"}, req{typ: "RESET_PIN", card: "1000000002"})

	slow := newDispatcher(t, db, srv.URL, 10*time.Second, dispatcher.Options{Lease: time.Minute})
	done := make(chan dispatcher.Summary)
	go func() { done <- run(t, slow) }()
	// While the slow run waits for its answer, its leases run out (as when its host
	// froze past them): expire them by hand.
	select {
	case <-h.arrived:
	case <-time.After(time.Minute):
		t.Fatal("the slow run's batch never reached the gateway")
	}
	if _, err := db.Exec("UPDATE provisioning_requests SET lease_expires_at = now() - interval '1 second' WHERE claimed_by IS NOT NULL"); err != nil {
		t.Fatal(err)
	}
	fast := newDispatcher(t, db, srv.URL, 10*time.Second, dispatcher.Options{Lease: time.Minute})
	fastSum := run(t, fast)
	release() // the slow run's answer comes only now, after the takeover
	slowSum := <-done

	if fastSum.Completed != 2 || slowSum.Lost != 2 || slowSum.Completed != 0 {
		t.Errorf("fast run %+v, slow run %+v: want the fast run to finish both and the slow one to write nothing", fastSum, slowSum)
	}
	for _, f := range finals(t, db) {
		if f.State != "COMPLETED" || f.ProcessID != fastSum.ProcessID {
			t.Errorf("%+v: want COMPLETED by run %d", f, fastSum.ProcessID)
		}
	}
	if st := sim.Stats(); st.Applied != 2 {
		t.Errorf("gateway applied %d, want each once", st.Applied)
	}
}

// TestRefusedCredentials: 401 stops the run with an error and gives the requests
// back untouched.
func TestRefusedCredentials(t *testing.T) {
	db, _ := pgtest.New(t)
	_, srv := newSim(t, simulator.Faults{})
	insert(t, db, req{typ: "RESET_PIN", card: "1000000001"})
	client, _ := dispatcher.NewClient(dispatcher.GatewayConfig{URL: srv.URL, Token: "wrong", DestinationID: dest, Timeout: time.Second})
	log := logrus.New()
	log.SetOutput(io.Discard)
	d, _ := dispatcher.New(db, client, log, dispatcher.Options{})
	sum, err := d.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("error %v, want the gateway's 401", err)
	}
	f := finals(t, db)[0]
	if sum.Released != 1 || f.State != "PENDING" || f.Attempts != 0 || f.Claimed || f.Request != "" {
		t.Errorf("summary %+v, request %+v: want it released untouched", sum, f)
	}
	var state string
	db.Get(&state, "SELECT state FROM processes WHERE id = $1", sum.ProcessID)
	if state != "FAILED" {
		t.Errorf("process state %s, want FAILED", state)
	}
}

// TestShutdown: a run cancelled (SIGTERM) mid-way stops claiming, sees the batches in
// flight through, writes them back and leaves no request claimed.
func TestShutdown(t *testing.T) {
	db, _ := pgtest.New(t)
	_, srv := newSim(t, simulator.Faults{Latency: 300 * time.Millisecond})
	var rs []req
	for i := 0; i < 60; i++ {
		rs = append(rs, req{typ: "RESET_PIN", card: known.Smartcards[i%len(known.Smartcards)]})
	}
	insert(t, db, rs...)
	d := newDispatcher(t, db, srv.URL, 5*time.Second, dispatcher.Options{Concurrency: 2, BatchSize: 2})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(450*time.Millisecond, cancel)
	sum, err := d.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Completed == 0 || sum.Completed >= len(rs) || sum.Claimed != sum.Completed+sum.Released {
		t.Errorf("summary %+v: want some completed, the rest never claimed or released", sum)
	}
	var claimed, completed int
	db.Get(&claimed, "SELECT count(*) FROM provisioning_requests WHERE claimed_by IS NOT NULL")
	db.Get(&completed, "SELECT count(*) FROM provisioning_requests WHERE life_cycle_state = 'COMPLETED'")
	if claimed != 0 || completed != sum.Completed {
		t.Errorf("%d requests still claimed, %d completed (summary says %d)", claimed, completed, sum.Completed)
	}
	var state string
	db.Get(&state, "SELECT state FROM processes WHERE id = $1", sum.ProcessID)
	if state != "INTERRUPTED" {
		t.Errorf("process state %s, want INTERRUPTED", state)
	}
}

// TestRunRequest checks the Web API's process_immediately run: it sends the one
// request named and nothing else, and not even that one while an earlier request of
// the same card waits.
func TestRunRequest(t *testing.T) {
	db, _ := pgtest.New(t)
	_, srv := newSim(t, simulator.Faults{})
	ids := insert(t, db,
		req{typ: "RESET_PIN", card: "1000000001"},       // 0: another card's: stays
		req{typ: "RESET_SMARTCARD", card: "1000000002"}, // 1: the one named
		req{typ: "RESET_PIN", card: "1000000003"},       // 2: first in its card's queue
		req{typ: "RESET_SMARTCARD", card: "1000000003"}, // 3: named, but behind 2
	)
	d := newDispatcher(t, db, srv.URL, 5*time.Second, dispatcher.Options{})
	for _, id := range []int64{ids[1], ids[3]} {
		if _, err := d.RunRequest(context.Background(), id); err != nil {
			t.Fatalf("run request %d: %v", id, err)
		}
	}
	var got []string
	for _, f := range finals(t, db) {
		got = append(got, f.State)
	}
	if want := []string{"PENDING", "COMPLETED", "PENDING", "PENDING"}; !slices.Equal(got, want) {
		t.Errorf("states %v, want %v", got, want)
	}
}

// panicky is an Observer that panics on the first call of one of its methods.
type panicky struct {
	in   string // "BatchSent" or "Results"
	done atomic.Bool
}

func (o *panicky) BatchSent(string, string, int, time.Duration) {
	if o.in == "BatchSent" && o.done.CompareAndSwap(false, true) {
		panic("observer says no")
	}
}

func (o *panicky) Results(string, string, int) {
	if o.in == "Results" && o.done.CompareAndSwap(false, true) {
		panic("observer says no")
	}
}

// TestPanicFailsTheRun: a panic in a sender or a writer (here an Observer's) fails
// the run, saying what and where, instead of crashing the process (the scheduler's,
// which runs other jobs too); the pipeline drains, and once the leases of the batch
// caught in the panic expire, the next run finishes everything and the gateway
// applies nothing twice.
func TestPanicFailsTheRun(t *testing.T) {
	for _, in := range []string{"BatchSent", "Results"} {
		t.Run(in, func(t *testing.T) {
			db, _ := pgtest.New(t)
			sim, srv := newSim(t, simulator.Faults{})
			var rs []req
			for i := range 24 {
				rs = append(rs, req{typ: "RESET_PIN", card: known.Smartcards[i%len(known.Smartcards)]})
			}
			insert(t, db, rs...)
			opts := dispatcher.Options{BatchSize: 2, Concurrency: 2, Lease: time.Second, Observer: &panicky{in: in}}
			sum, err := newDispatcher(t, db, srv.URL, 400*time.Millisecond, opts).Run(context.Background())
			want := `^panic: observer says no \(at .*/dispatcher_test\.go:\d+ in .*\(\*panicky\)\.` + in + `\)$`
			if err == nil || !regexp.MustCompile(want).MatchString(err.Error()) {
				t.Fatalf("run error %v, want %s", err, want)
			}
			var state, msg string
			db.QueryRow("SELECT state, coalesce(error, '') FROM processes WHERE id = $1", sum.ProcessID).Scan(&state, &msg)
			if state != "FAILED" || msg != err.Error() {
				t.Errorf("process %s %q, want FAILED with the run's error", state, msg)
			}
			if sum.Claimed == len(rs) {
				t.Errorf("summary %+v: the failed run should have stopped claiming", sum)
			}

			time.Sleep(1100 * time.Millisecond) // the leases of the batch caught in the panic
			opts.Observer = nil
			run(t, newDispatcher(t, db, srv.URL, 400*time.Millisecond, opts))
			for _, f := range finals(t, db) {
				if f.State != "COMPLETED" || f.Claimed {
					t.Errorf("request %d: %s (claimed %v), want COMPLETED", f.Number, f.State, f.Claimed)
				}
			}
			applied := map[string]int{}
			for _, e := range sim.AppliedLog() {
				if applied[e.CommandID]++; applied[e.CommandID] > 1 {
					t.Errorf("command %s applied twice", e.CommandID)
				}
			}
			if len(applied) != len(rs) {
				t.Errorf("the gateway applied %d commands, want %d", len(applied), len(rs))
			}
		})
	}
}

// TestWaitNamedRetryAfter: a batch claimed before the gateway's 503 and held past its
// lease by the Retry-After is released with a warning that names the Retry-After,
// not a rate limit the run does not have (no Rate set; issue 16, item 4).
func TestWaitNamedRetryAfter(t *testing.T) {
	db, _ := pgtest.New(t)
	_, srv := newSim(t, simulator.Faults{Unavailable: 1, RetryAfter: 2 * time.Second})
	insert(t, db, req{typ: "RESET_PIN", card: "1000000001"}, req{typ: "RESET_PIN", card: "1000000002"})
	client, err := dispatcher.NewClient(dispatcher.GatewayConfig{URL: srv.URL, Token: token, DestinationID: dest, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	log, hook := logtest.NewNullLogger()
	// Concurrency 1 claims two batches of one: the second waits in the queue while
	// the first is answered 503, then waits out the Retry-After, past its lease.
	d, err := dispatcher.New(db, client, log, dispatcher.Options{Concurrency: 1, BatchSize: 1, Lease: 2 * time.Second, MaxRequests: 2})
	if err != nil {
		t.Fatal(err)
	}
	sum := run(t, d)
	if sum.Released == 0 {
		t.Fatalf("summary %+v: want the second batch released", sum)
	}
	var found bool
	for _, e := range hook.AllEntries() {
		if strings.Contains(e.Message, "waited too long") {
			found = true
			if !strings.Contains(e.Message, "Retry-After") || strings.Contains(e.Message, "rate limit") {
				t.Errorf("logged %q: want the wait named as the gateway's Retry-After", e.Message)
			}
		}
	}
	if !found {
		t.Errorf("no \"waited too long\" warning among %d entries", len(hook.AllEntries()))
	}
}
