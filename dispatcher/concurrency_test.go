package dispatcher_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/provisioner/provisioner/dispatcher"
	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/provisioning"
	"github.com/provisioner/provisioner/simulator"
	"github.com/provisioner/provisioner/store"
)

// TestConcurrency runs four processing runs at once (each its own Dispatcher, client
// and connection pool) over the same requests, with mild faults, and checks that
// every request is settled as the model predicts, that the gateway applied no
// command_id twice and every smartcard saw its commands in sequence order, and that
// the runs' summaries and their processes rows account for every request exactly
// once.
func TestConcurrency(t *testing.T) {
	seed := accSeed(t)
	// 2,000 cards: more heads than the four runs hold at once (4 x 4 x 50), so
	// that each run finds work until the tail. No request is refused before
	// sending, so that every batch a run counts reaches the gateway.
	spec := accSpec{cards: 2000, perCard: 5, disabledEvery: 50}
	if testing.Short() {
		spec.cards, spec.perCard = 800, 3
	}
	w := accGenerate(seed, spec)
	db, dsn := pgtest.New(t)
	accInsert(t, db, w)
	sim, srv, _ := accServe(t, seed, simulator.Faults{Latency: 5 * time.Millisecond, Jitter: 20 * time.Millisecond, Busy: 0.02}, w)

	// A run ends when nothing is due and nothing of its own is in flight. With no
	// backoff after E_BUSY (1 ns), a request sent back for a retry is due at once,
	// and the run that wrote it back claims again before it can end: so the four
	// runs settle everything between them and no fifth run is needed. The lease
	// outlasts any batch: no run takes over another's requests.
	opts := dispatcher.Options{
		BatchSize:   50,
		Concurrency: 4,
		Lease:       time.Minute,
		MaxAttempts: 100,
		BackoffBase: time.Nanosecond,
		BackoffCap:  time.Nanosecond,
	}
	const runs = 4
	var logs accLogBuffer
	ds := make([]*dispatcher.Dispatcher, runs)
	for i := range ds {
		rdb, err := store.Open(context.Background(), dsn, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rdb.Close() })
		ds[i] = accDispatcher(t, rdb, srv.URL, 10*time.Second, opts, &logs)
	}
	sums := make([]dispatcher.Summary, runs)
	errs := make([]error, runs)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, d := range ds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			sums[i], errs[i] = d.Run(context.Background())
		}()
	}
	began := time.Now()
	close(start)
	wg.Wait()
	elapsed := time.Since(began)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("run %d: %v; log tail:\n%s", i, err, logs.tail(4000))
		}
	}
	if n := accCount(t, db, `SELECT count(*) FROM provisioning_requests WHERE life_cycle_state = 'PENDING'`); n > 0 {
		t.Fatalf("%d requests still PENDING after the four runs (summaries %+v); log tail:\n%s", n, sums, logs.tail(4000))
	}

	fig := accCheck(t, db, sim, w)
	st := sim.Stats()

	// The runs account for every request exactly once.
	var completed, rejected, retried, batches int
	byProcess := map[int64]dispatcher.Summary{}
	for i, s := range sums {
		if s.Claimed != s.Completed+s.Rejected+s.Retried+s.Released+s.Lost {
			t.Errorf("run %d: claimed %d != completed %d + rejected %d + retried %d + released %d + lost %d",
				i, s.Claimed, s.Completed, s.Rejected, s.Retried, s.Released, s.Lost)
		}
		if s.Released != 0 || s.Lost != 0 {
			t.Errorf("run %d: released %d, lost %d; want 0 (no shutdown, no lease expired)", i, s.Released, s.Lost)
		}
		// The four runs share the work (a fair share is a quarter each). A run whose
		// claim comes back empty while nothing of its own is in flight ends: claims
		// that lose every candidate to another run's claim at the same moment must
		// not come back empty while work is due.
		if s.Completed+s.Rejected < len(w.reqs)/10 {
			t.Errorf("run %d settled %d of %d requests: the four runs did not share the work (summaries %+v)",
				i, s.Completed+s.Rejected, len(w.reqs), sums)
		}
		completed += s.Completed
		rejected += s.Rejected
		retried += s.Retried
		batches += s.Batches
		byProcess[s.ProcessID] = s
	}
	settled := accCount(t, db, `SELECT count(*) FROM provisioning_requests WHERE life_cycle_state IN ('COMPLETED', 'REJECTED')`)
	if completed+rejected != settled || settled != len(w.reqs) {
		t.Errorf("summaries: completed %d + rejected %d = %d; settled in the database %d; requests %d",
			completed, rejected, completed+rejected, settled, len(w.reqs))
	}
	if completed != fig.completed || rejected != fig.rejected {
		t.Errorf("summaries: completed %d, rejected %d; database: %d, %d", completed, rejected, fig.completed, fig.rejected)
	}
	// Each settled request names the run that settled it; per run, those are its
	// summary's completed and rejected.
	var perProcess []struct {
		ProcessID int64 `db:"process_id"`
		Completed int   `db:"completed"`
		Rejected  int   `db:"rejected"`
	}
	if err := db.Select(&perProcess, `SELECT process_id, count(*) FILTER (WHERE life_cycle_state = 'COMPLETED') AS completed,
	        count(*) FILTER (WHERE life_cycle_state = 'REJECTED') AS rejected
	    FROM provisioning_requests GROUP BY process_id ORDER BY process_id`); err != nil {
		t.Fatal(err)
	}
	for _, p := range perProcess {
		s, ok := byProcess[p.ProcessID]
		if !ok || s.Completed != p.Completed || s.Rejected != p.Rejected {
			t.Errorf("process %d settled %d COMPLETED and %d REJECTED; its run's summary: %+v (known: %v)", p.ProcessID, p.Completed, p.Rejected, s, ok)
		}
	}
	// Every unsettled send was an E_BUSY, counted once by the run that wrote it back.
	if attempts := accCount(t, db, `SELECT coalesce(sum(attempts), 0) FROM provisioning_requests`); attempts != retried || retried != st.Retried {
		t.Errorf("attempts in the database %d, retried in the summaries %d, E_BUSY at the simulator %d: want all equal", attempts, retried, st.Retried)
	}
	// Every batch a run counted reached the gateway once, and nothing was resent
	// but the E_BUSY commands (which the gateway does not store): no replays.
	if st.Batches != batches || st.CommandsReceived != completed+rejected+retried || st.Replayed != 0 {
		t.Errorf("simulator: batches %d, commands %d, replayed %d; runs: batches %d, commands sent %d; want equal and 0 replays",
			st.Batches, st.CommandsReceived, st.Replayed, batches, completed+rejected+retried)
	}

	// The processes table: the four runs, SUCCEEDED, with their summaries' counts.
	var procs []struct {
		ID        int64  `db:"id"`
		Name      string `db:"name"`
		PID       int    `db:"pid"`
		State     string `db:"state"`
		Claimed   int    `db:"claimed"`
		Completed int    `db:"completed"`
		Rejected  int    `db:"rejected"`
		Retried   int    `db:"retried"`
		Batches   int    `db:"batches"`
		Finished  bool   `db:"finished"`
		Error     bool   `db:"error"`
	}
	if err := db.Select(&procs, `SELECT id, name, pid, state, claimed, completed, rejected, retried, batches,
	        finished_at IS NOT NULL AS finished, error IS NOT NULL AS error FROM processes ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	if len(procs) != runs {
		t.Errorf("processes: %d rows, want %d", len(procs), runs)
	}
	for _, p := range procs {
		s, ok := byProcess[p.ID]
		if !ok || p.Name != provisioning.ProcessName || p.PID != os.Getpid() || p.State != "SUCCEEDED" || !p.Finished || p.Error ||
			p.Claimed != s.Claimed || p.Completed != s.Completed || p.Rejected != s.Rejected || p.Retried != s.Retried || p.Batches != s.Batches {
			t.Errorf("processes row %+v; the run's summary %+v (known: %v)", p, s, ok)
		}
	}

	for i, s := range sums {
		t.Logf("run %d (process %d): claimed %d, completed %d, rejected %d, retried %d, batches %d, in %v",
			i, s.ProcessID, s.Claimed, s.Completed, s.Rejected, s.Retried, s.Batches, s.Duration.Round(time.Millisecond))
	}
	t.Logf("%d requests over %d smartcards settled in %v by %d runs: %d COMPLETED, %d REJECTED; applied %d, duplicates %d, out of order %d",
		len(w.reqs), spec.cards, elapsed.Round(time.Millisecond), runs, fig.completed, fig.rejected, fig.applied, fig.duplicates, fig.outOfOrder)
	t.Logf("simulator: batches %d, commands %d, applied %d, replayed %d, rejected %d, retried %d; HTTP %v",
		st.Batches, st.CommandsReceived, st.Applied, st.Replayed, st.Rejected, st.Retried, st.HTTPStatus)
}
