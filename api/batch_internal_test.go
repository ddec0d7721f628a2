package api

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/lib/pq"
	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/ops"
	"github.com/provisioner/provisioner/provisioning"
	provsql "github.com/provisioner/provisioner/sql"
	"github.com/provisioner/provisioner/store"
)

// heldBatcher is a batcher whose first batch waits for release, so that a test can
// queue calls behind it; it records every batch's inputs.
type heldBatcher struct {
	*batcher[int, int]
	release chan struct{}
	seenMu  sync.Mutex
	seen    [][]int
}

func newHeldBatcher(most, running int) *heldBatcher {
	h := &heldBatcher{release: make(chan struct{})}
	h.batcher = newBatcher(most, running, func(_ context.Context, jobs []*batchJob[int, int]) {
		h.seenMu.Lock()
		var in []int
		for _, j := range jobs {
			in = append(in, j.in)
		}
		h.seen = append(h.seen, in)
		first := len(h.seen) == 1
		h.seenMu.Unlock()
		if first {
			<-h.release
		}
		for _, j := range jobs {
			if j.in < 0 {
				panic("negative")
			}
			j.out, j.err = j.in*10, nil
		}
	})
	return h
}

// until waits until cond holds of the batcher's state.
func (h *heldBatcher) until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.mu.Lock()
		h.seenMu.Lock()
		ok := cond()
		h.seenMu.Unlock()
		h.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s", what)
		}
		time.Sleep(time.Millisecond) // between polls of the condition
	}
}

// TestBatcherGathers: while a batch runs, the calls that arrive queue, and the next
// batches take them in order, at most `most` each; each call gets its own answer; a
// call gone before its batch starts is left out of it; a batch that panics answers
// each of its calls with an error and the batcher goes on.
func TestBatcherGathers(t *testing.T) {
	for _, c := range []struct {
		name    string
		most    int
		calls   []int // queued behind the first call (0)
		gone    int   // index in calls of one whose context ends before it is taken; -1 none
		batches [][]int
		errs    map[int]bool // inputs answered with an error
	}{
		{"all in the next", 64, []int{1, 2, 3, 4, 5}, -1, [][]int{{0}, {1, 2, 3, 4, 5}}, nil},
		{"at most most", 2, []int{1, 2, 3, 4, 5}, -1, [][]int{{0}, {1, 2}, {3, 4}, {5}}, nil},
		{"gone left out", 64, []int{1, 2, 3}, 1, [][]int{{0}, {1, 3}}, map[int]bool{2: true}},
		{"panic", 64, []int{1, -2, 3}, -1, [][]int{{0}, {1, -2, 3}}, map[int]bool{1: true, -2: true, 3: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHeldBatcher(c.most, 1)
			type result struct {
				in, out int
				err     error
			}
			results := make(chan result, len(c.calls)+1)
			call := func(ctx context.Context, in int) {
				out, err := h.do(ctx, in)
				results <- result{in, out, err}
			}
			go call(context.Background(), 0)
			h.until(t, "the first batch to run", func() bool { return len(h.seen) == 1 })
			var cancel context.CancelFunc
			for i, in := range c.calls {
				ctx := context.Background()
				if i == c.gone {
					ctx, cancel = context.WithCancel(ctx)
				}
				go call(ctx, in)
				// One at a time: the queue's order is the calls'.
				h.until(t, fmt.Sprintf("%d calls queued", i+1), func() bool { return len(h.queue) == i+1 })
			}
			if cancel != nil {
				cancel()
			}
			close(h.release)
			for range len(c.calls) + 1 {
				r := <-results
				switch {
				case c.errs[r.in] && r.err == nil:
					t.Errorf("call %d: no error", r.in)
				case !c.errs[r.in] && (r.err != nil || r.out != r.in*10):
					t.Errorf("call %d: %d, %v; want %d", r.in, r.out, r.err, r.in*10)
				}
			}
			// The last batch hands nothing on after its calls have their answers.
			h.until(t, "no batch busy, none queued", func() bool { return h.busy == 0 && len(h.queue) == 0 })
			h.seenMu.Lock()
			defer h.seenMu.Unlock()
			if fmt.Sprint(h.seen) != fmt.Sprint(c.batches) {
				t.Errorf("batches %v, want %v", h.seen, c.batches)
			}
		})
	}
}

// TestRefusedByServer: only PostgreSQL's own refusal of the statement lets a batch be
// written again call by call; a lost connection may have lost the answer to a commit.
func TestRefusedByServer(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("create request: %w", &pq.Error{Code: "23505", Constraint: "provisioning_requests_reference"}), true},
		{&pq.Error{Code: "57014"}, true}, // canceled: the statement's transaction rolled back
		{fmt.Errorf("create request: %w", driver.ErrBadConn), false},
		{fmt.Errorf("create request: %w", io.ErrUnexpectedEOF), false},
		{context.DeadlineExceeded, false},
	} {
		if got := refusedByServer(c.err); got != c.want {
			t.Errorf("%v: %v, want %v", c.err, got, c.want)
		}
	}
}

// TestMaxBatch: the largest batch's insert stays within PostgreSQL's parameters.
func TestMaxBatch(t *testing.T) {
	if n := MaxBatch * provsql.InsertRequestsColumns; n > 65535 {
		t.Errorf("MaxBatch %d: %d parameters", MaxBatch, n)
	}
}

// TestInsertBatch writes calls together as one batch would: each gets its own
// request; a call whose token was revoked gets errRevoked and creates nothing; and a
// batch with a reference used twice falls back to one by one, so that only the
// second call with it fails (409), the others are created.
func TestInsertBatch(t *testing.T) {
	ctx := context.Background()
	db, _ := pgtest.New(t)
	live, err := CreateToken(ctx, db, "crm")
	if err != nil {
		t.Fatal(err)
	}
	gone, err := CreateToken(ctx, db, "old")
	if err != nil {
		t.Fatal(err)
	}
	if err := RevokeToken(ctx, db, "old"); err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	s := New(db, log, Options{})
	when := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	type row struct {
		card, reference, token string
	}
	for _, c := range []struct {
		name string
		rows []row
		want []string // per row: "ok", "revoked" or "duplicate"
	}{
		{"together", []row{{"1000000001", "", live}, {"1000000002", "A", live}, {"1000000003", "", live}},
			[]string{"ok", "ok", "ok"}},
		{"revoked", []row{{"1000000004", "", live}, {"1000000005", "", gone}, {"1000000006", "B", live}},
			[]string{"ok", "revoked", "ok"}},
		{"one reference twice", []row{{"1000000007", "C", live}, {"1000000008", "", live}, {"1000000009", "C", live}},
			[]string{"ok", "ok", "duplicate"}},
		{"a reference used before", []row{{"1000000010", "A", live}, {"1000000011", "", live}},
			[]string{"duplicate", "ok"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var jobs []*batchJob[toInsert, ops.Request]
			for _, r := range c.rows {
				res := &provisioning.Resolved{
					Draft: provisioning.Draft{Type: provisioning.AddProducts, Priority: provisioning.Regular,
						ScheduledDate: when, Reference: r.reference},
					SmartcardCAID: r.card, ServiceCAIDs: []string{"P-1001"},
				}
				jobs = append(jobs, &batchJob[toInsert, ops.Request]{in: toInsert{res, hashToken(r.token)}, err: errNotRun})
			}
			s.insertBatch(ctx, jobs)
			for i, j := range jobs {
				r := c.rows[i]
				var got string
				switch {
				case j.err == nil && j.out.Smartcard == r.card && j.out.Reference == r.reference && j.out.Number > 0:
					got = "ok"
				case j.err == nil:
					got = fmt.Sprintf("the wrong request: card %s reference %q", j.out.Smartcard, j.out.Reference)
				case errors.Is(j.err, errRevoked):
					got = "revoked"
				case store.IsUniqueViolation(j.err, "provisioning_requests_reference"):
					got = "duplicate"
				default:
					got = j.err.Error()
				}
				var n int
				if err := db.GetContext(ctx, &n, "SELECT count(*) FROM provisioning_requests WHERE smartcard_ca_id = $1", r.card); err != nil {
					t.Fatal(err)
				}
				if want := map[bool]int{true: 1, false: 0}[c.want[i] == "ok"]; got != c.want[i] || n != want {
					t.Errorf("call %d (card %s): %s with %d requests of its card, want %s", i, r.card, got, n, c.want[i])
				}
			}
		})
	}
}
