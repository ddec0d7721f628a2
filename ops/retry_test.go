package ops_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/casapi"
	"github.com/provisioner/provisioner/dispatcher"
	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/ops"
	"github.com/provisioner/provisioner/provisioning"
	"github.com/provisioner/provisioner/simulator"
	"github.com/provisioner/provisioner/store"
)

const (
	cardA = "1000000001" // its CANCEL_PRODUCTS is rejected by the gateway: not entitled
	cardB = "1000000002" // its SET_PIN is applied, and the answer lost
)

// dropCard forwards to the simulator, but for the first batch that holds a command
// for card it lets the simulator apply it and then breaks the connection: an
// unknown outcome.
type dropCard struct {
	sim     *simulator.Simulator
	card    string
	dropped atomic.Bool
}

func (h *dropCard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	var b casapi.Batch
	json.Unmarshal(body, &b)
	hit := r.URL.Path == casapi.PathBatches && slices.ContainsFunc(b.Commands, func(c casapi.Command) bool { return c.Smartcard == h.card })
	if !hit || h.dropped.Swap(true) {
		h.sim.ServeHTTP(w, r)
		return
	}
	h.sim.ServeHTTP(httptest.NewRecorder(), r) // applied; the answer is lost
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		conn.Close()
	}
}

type row struct {
	Number   int64  `db:"number"`
	State    string `db:"life_cycle_state"`
	Code     string `db:"error_code"`
	Request  string `db:"request"`
	Response string `db:"response"`
}

func rowOf(t *testing.T, db *store.DB, number int64) row {
	t.Helper()
	var r row
	if err := db.Get(&r, `SELECT number, life_cycle_state, coalesce(error_code, '') AS error_code,
	        coalesce(request, '') AS request, coalesce(response, '') AS response
	    FROM provisioning_requests WHERE number = $1`, number); err != nil {
		t.Fatal(err)
	}
	return r
}

// insert inserts a request, due, and returns its number: what an operator retries by.
func insert(t *testing.T, db *store.DB, o pgtest.RequestOpts) int64 {
	t.Helper()
	var n int64
	if err := db.Get(&n, `SELECT number FROM provisioning_requests WHERE id = $1`, pgtest.Request(t, db, o)); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRetryEndToEnd: against the simulator, a request the gateway rejected, retried
// once the cause is fixed on the gateway, is sent under a new command_id and
// completes (it is not answered with the stored rejection); a request rejected with
// E_MAX_ATTEMPTS after the gateway applied it unseen is resent under its old id and
// answered as a replay, applied once in all; and a retried request goes behind what
// was queued for its card meanwhile.
func TestRetryEndToEnd(t *testing.T) {
	db, _ := pgtest.New(t)
	known := simulator.Known{Smartcards: []string{cardA, cardB}, Products: []string{"P-1001"}}
	sim := simulator.New(simulator.Config{Token: "tok", DestinationID: "CRM01", Seed: 1}, known)
	h := &dropCard{sim: sim, card: cardB}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { sim.Close(); srv.Close() })
	client, err := dispatcher.NewClient(dispatcher.GatewayConfig{URL: srv.URL, Token: "tok", DestinationID: "CRM01", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	// One command a batch, so the lost answer is B's alone; one attempt, so it is
	// rejected E_MAX_ATTEMPTS at once.
	d, err := dispatcher.New(db, client, log, dispatcher.Options{BatchSize: 1, Concurrency: 1, MaxAttempts: 1, MaxAttemptsAge: dispatcher.NoMaxAttemptsAge})
	if err != nil {
		t.Fatal(err)
	}

	a := insert(t, db, pgtest.RequestOpts{Type: "CANCEL_PRODUCTS", Smartcard: cardA, Services: []string{"P-1001"}})
	b := insert(t, db, pgtest.RequestOpts{Type: "SET_PIN", Smartcard: cardB, PIN: pgtest.Ptr("4821")})
	if sum, err := d.Run(context.Background()); err != nil || sum.Rejected != 2 {
		t.Fatalf("first run: %+v %v", sum, err)
	}
	if r := rowOf(t, db, a); r.State != "REJECTED" || r.Code != casapi.ErrCodeNotEntitled {
		t.Fatalf("A after the first run: %+v", r)
	}
	if r := rowOf(t, db, b); r.State != "REJECTED" || r.Code != provisioning.CodeMaxAttempts {
		t.Fatalf("B after the first run: %+v", r)
	}
	// Settled, B keeps no PIN: neither in its row nor in the command it recorded.
	var pin sql.NullString
	var raw string
	if err := db.QueryRow("SELECT pin, request FROM provisioning_requests WHERE number = $1", b).Scan(&pin, &raw); err != nil {
		t.Fatal(err)
	}
	if pin.Valid || strings.Contains(raw, "4821") || !strings.Contains(raw, `"pin":"****"`) {
		t.Fatalf("B settled: pin %v, request %s; want both erased", pin, raw)
	}
	// Queued for card A after its rejection.
	c := insert(t, db, pgtest.RequestOpts{Type: "RESET_SMARTCARD", Smartcard: cardA})

	// The operator fixes the cause on the gateway: card A gets P-1001.
	fix := client.Send(context.Background(), casapi.Batch{BatchID: "ops-fix", Commands: []casapi.Command{
		{CommandID: "ops-fix-1", Type: casapi.TypeAddProducts, Smartcard: cardA, Products: []string{"P-1001"}}}})
	if fix.Kind != dispatcher.Answered || fix.Results[0].Status != casapi.StatusCompleted {
		t.Fatalf("fix on the gateway: %+v", fix)
	}

	// B's PIN was erased when it was settled: retried with the others, it is
	// refused (nothing retried); alone, with its PIN again, it is taken.
	f := ops.Filter{ErrorCodes: []string{casapi.ErrCodeNotEntitled, provisioning.CodeMaxAttempts}}
	_, err = ops.Retry(context.Background(), db, f, ops.RetryOptions{Expect: 2, Now: time.Now()})
	var needPIN *ops.PINNeededError
	if !errors.As(err, &needPIN) || !slices.Equal(needPIN.Numbers, []int64{b}) {
		t.Fatalf("retry of a SET_PIN without its PIN: %v", err)
	}
	if _, err := ops.Retry(context.Background(), db, f, ops.RetryOptions{Expect: 2, Now: time.Now(), PIN: "4821"}); !errors.Is(err, ops.ErrPINUse) {
		t.Fatalf("a PIN for two requests: %v", err)
	}
	cands, err := ops.Retry(context.Background(), db, ops.Filter{ErrorCodes: []string{casapi.ErrCodeNotEntitled}}, ops.RetryOptions{Expect: 1, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	more, err := ops.Retry(context.Background(), db, ops.Filter{Number: b}, ops.RetryOptions{Expect: 1, Now: time.Now(), PIN: "4821"})
	if err != nil {
		t.Fatal(err)
	}
	cands = append(cands, more...)
	got := []string{cands[0].NextCommandID, cands[1].NextCommandID}
	if want := []string{strconv.FormatInt(a, 10) + ".1", strconv.FormatInt(b, 10)}; !slices.Equal(got, want) || !cands[0].NewCommandID || cands[1].NewCommandID {
		t.Fatalf("retry: command ids %v, want %v", got, want)
	}

	if sum, err := d.Run(context.Background()); err != nil || sum.Completed != 3 || sum.Rejected != 0 {
		t.Fatalf("second run: %+v %v", sum, err)
	}
	results := map[int64]casapi.Result{}
	for _, n := range []int64{a, b, c} {
		r := rowOf(t, db, n)
		var res casapi.Result
		if err := json.Unmarshal([]byte(r.Response), &res); err != nil || r.State != "COMPLETED" {
			t.Fatalf("request %d after the second run: %+v", n, r)
		}
		results[n] = res
	}
	if res := results[a]; res.Replayed || res.CommandID != strconv.FormatInt(a, 10)+".1" {
		t.Errorf("A: %+v, want applied afresh under %d.1", res, a)
	}
	if res := results[b]; !res.Replayed || res.CommandID != strconv.FormatInt(b, 10) {
		t.Errorf("B: %+v, want the replay of %d", res, b)
	}
	// What the gateway applied, in order: B once (in the first run, its answer lost),
	// the fix, then card A's queue in order: C (queued first), then A's retry.
	var applied []string
	for _, e := range sim.AppliedLog() {
		applied = append(applied, e.CommandID)
	}
	want := []string{strconv.FormatInt(b, 10), "ops-fix-1", strconv.FormatInt(c, 10), strconv.FormatInt(a, 10) + ".1"}
	if !slices.Equal(applied, want) {
		t.Errorf("applied %v, want %v", applied, want)
	}
	if st, _ := sim.State(cardB); st.PINIsDefault {
		t.Errorf("card B's PIN was not set: %+v", st)
	}
}

// TestRetryRefusesOtherStates: only REJECTED requests can be retried.
func TestRetryRefusesOtherStates(t *testing.T) {
	db, _ := pgtest.New(t)
	_, err := ops.Retry(context.Background(), db, ops.Filter{States: []string{"PENDING"}}, ops.RetryOptions{Expect: -1})
	if err == nil || err.Error() != "retry: only REJECTED requests can be retried, not [PENDING]" {
		t.Errorf("err %v", err)
	}
}

// TestRetryOrder: retried requests get new sequence numbers, behind every request
// already there, in the order of their old sequence numbers (not of their numbers).
func TestRetryOrder(t *testing.T) {
	db, _ := pgtest.New(t)
	var a, b, c int64
	for _, p := range []*int64{&a, &b, &c} {
		*p = insert(t, db, pgtest.RequestOpts{Type: "RESET_PIN", Smartcard: cardA})
	}
	// a and b rejected; b was (re)queued before a: its sequence number is lower.
	if _, err := db.Exec(`UPDATE provisioning_requests SET life_cycle_state = 'REJECTED', error_code = 'E_X',
	        sequence_number = CASE number WHEN $1 THEN 900 ELSE 800 END WHERE number IN ($1, $2)`, a, b); err != nil {
		t.Fatal(err)
	}
	if _, err := ops.Retry(context.Background(), db, ops.Filter{ErrorCodes: []string{"E_X"}}, ops.RetryOptions{Expect: 2, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	seq := map[int64]int64{}
	rows, err := db.Query("SELECT number, sequence_number FROM provisioning_requests")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n, s int64
		rows.Scan(&n, &s)
		seq[n] = s
	}
	rows.Close()
	if !(seq[c] < seq[b] && seq[b] < seq[a]) {
		t.Errorf("sequence numbers: c %d, b %d, a %d; want c < b < a", seq[c], seq[b], seq[a])
	}
}
