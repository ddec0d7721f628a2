package historybench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/provisioner/provisioner/api"
	"github.com/provisioner/provisioner/dispatcher"
	"github.com/provisioner/provisioner/importer"
	"github.com/provisioner/provisioner/internal/procwatch"
	"github.com/provisioner/provisioner/internal/samplegen"
	"github.com/provisioner/provisioner/jobs"
	"github.com/provisioner/provisioner/ops"
	"github.com/provisioner/provisioner/reference"
	"github.com/provisioner/provisioner/simulator"
)

const (
	gwToken = "bench-history-token"
	gwDest  = "CRM01"
)

// A figure is one line of the table: a throughput (higher is better, compared
// with the baseline's) or an operator's read (a time, with a ceiling).
type figure struct {
	name       string
	throughput bool
	order      int
	info       bool // no goal: for information
}

// The figures, in the order of the table.
var (
	figProcess = figure{"processing run (requests/s)", true, 0, false}
	figImport  = figure{"importer (rows/s)", true, 1, false}
	figCreate  = figure{"Web API create (creates/s)", true, 2, false}
	// For information (no goal): the CPU time of a create, which the machine's other
	// load does not inflate as it does the rate.
	figCreatePG   = figure{"Web API create: PostgreSQL CPU per create (µs)", false, 3, true}
	figCreateSelf = figure{"Web API create: API and client CPU per create (µs)", false, 4, true}
	figShow       = figure{"Web API show p50 (ms)", false, 5, false}
	figStatus     = figure{"status (ms)", false, 6, false}
	figCard       = figure{"requests list --smartcard (ms)", false, 7, false}
	figSub        = figure{"requests list --subscription (ms)", false, 8, false}
	figRef        = figure{"requests list, reference number (ms)", false, 9, false}
	figRejected   = figure{"requests list --state REJECTED (ms)", false, 10, false}
	figPending    = figure{"requests list --state PENDING (ms)", false, 11, false}
	figCreated    = figure{"requests list --created-since/until, a day (ms)", false, 12, false}
	figExecuted   = figure{"requests list --executed-since/until, a day (ms)", false, 13, false}
	allFigures    = []figure{figProcess, figImport, figCreate, figShow, figStatus, figCard, figSub, figRef, figRejected, figPending, figCreated, figExecuted}
	readCeiling   = 50.0 // ms: the operator's reads
	throughRatio  = 0.9  // at the largest history ÷ at the baseline
	hkRatio       = 0.8  // the processing run during housekeeping ÷ without
)

// figures holds every measurement: figure -> size -> values (one per round, or
// per read).
type figures map[figure]map[int64][]float64

func (f figures) add(fg figure, size int64, v float64) {
	if f[fg] == nil {
		f[fg] = map[int64][]float64{}
	}
	f[fg][size] = append(f[fg][size], v)
}

// round measures every figure once on every database, the databases in turn (their
// order rotated from round to round, so that none always goes first).
func (b *bench) round(ctx context.Context, r int) error {
	file := filepath.Join(b.work, fmt.Sprintf("round-%d.csv", r))
	out, err := os.Create(file)
	if err != nil {
		return err
	}
	_, err = samplegen.WriteInstructions(out, samplegen.Config{Rows: b.cfg.ImportRows, Seed: b.nonce + uint64(r), Subscriptions: b.cfg.Cards})
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("instruction file: %w", err)
	}
	b.sampleLoad()
	defer b.sampleLoad()
	n := len(b.targets)
	for k := range n {
		t := b.targets[(k+r)%n]
		if err := b.measure(ctx, t, file, r); err != nil {
			return fmt.Errorf("round %d, %d settled: %w", r+1, t.size, err)
		}
	}
	if b.cfg.ReadsOnly {
		return nil
	}
	if err := b.creates(ctx, r); err != nil {
		return err
	}
	return b.nightly(ctx, r)
}

// nightly runs the housekeeping job on every database, as production's nightly one
// does between one day's bulk and the next (crontab.example), deleting nothing
// (the housekeeping phase measures deletions): its vacuum when the day's
// write-backs have left enough dead rows (store.VacuumRequestHistory). Without
// it a round met the dead rows of every round before it, which no server keeps:
// autovacuum, where it is on, or housekeeping clears them.
func (b *bench) nightly(ctx context.Context, r int) error {
	for _, t := range b.targets {
		if err := b.nightlyOn(ctx, t, fmt.Sprintf("round %d, %d settled", r+1, t.size)); err != nil {
			return err
		}
	}
	return nil
}

// nightlyOn runs the nightly housekeeping job on t (see nightly).
func (b *bench) nightlyOn(ctx context.Context, t *target, what string) error {
	start := time.Now()
	res, err := jobs.Housekeeping(ctx, b.housekeepingEnv(t, 0))
	if err != nil {
		return fmt.Errorf("%s: housekeeping: %w", what, err)
	}
	b.logf("%s: nightly housekeeping in %v (%s)", what, time.Since(start).Round(time.Millisecond), res.Summary)
	return nil
}

// measure takes every figure once on t.
func (b *bench) measure(ctx context.Context, t *target, file string, r int) error {
	if b.cfg.ReadsOnly {
		if err := b.reads(ctx, t); err != nil {
			return err
		}
		b.logf("round %d, %d settled: reads timed", r+1, t.size)
		return nil
	}
	if err := emptyQueue(ctx, t); err != nil {
		return err
	}
	// The importer, as `provisioner import FILE` runs it (no gateway: its
	// process_immediately requests wait for the run).
	im := importer.New(t.db, b.log, importer.Options{})
	start := time.Now()
	res, err := im.ImportFile(ctx, file, b.work)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if res.State != importer.Imported || res.Created == 0 {
		return fmt.Errorf("import: %s, %d created, %d rejected (%s)", res.State, res.Created, res.Rejected, res.Reason)
	}
	b.fig.add(figImport, t.size, float64(res.Rows)/time.Since(start).Seconds())

	// The processing run sends them.
	rate, err := b.process(ctx, t)
	if err != nil {
		return err
	}
	b.fig.add(figProcess, t.size, rate)

	if err := b.shows(ctx, t, r); err != nil {
		return err
	}
	if err := b.reads(ctx, t); err != nil {
		return err
	}
	b.logf("round %d, %d settled: import %.0f rows/s, run %.0f requests/s", r+1, t.size,
		last(b.fig[figImport][t.size]), rate)
	// Every figure of the round as it stands, so that a run cut short still says it.
	for _, f := range allFigures {
		if v := b.fig[f][t.size]; len(v) > 0 {
			b.logf("round %d, %d settled: %s %s (median so far)", r+1, t.size, f.name, num(median(v), f.throughput))
		}
	}
	return nil
}

func last(v []float64) float64 { return v[len(v)-1] }

// emptyQueue deletes the PENDING requests earlier rounds left (scheduled later than
// their run, or created by the Web API and never sent), with their sends, so that
// every database meets each round's work with the same queue: the round's file
// alone. Left, they differ from database to database (the housekeeping phase
// imports more files into the largest history, a -reuse run adds to what the last
// one left) and grow from round to round, and every claim weighs them: one run
// measured 2.7 times as many requests waiting behind a later one at 10M as at 0,
// which the comparison put down to the history.
func emptyQueue(ctx context.Context, t *target) error {
	if _, err := t.db.ExecContext(ctx, `
	    WITH gone AS (DELETE FROM provisioning_requests WHERE life_cycle_state = 'PENDING' RETURNING id)
	    DELETE FROM request_attempts a USING gone WHERE a.request_id = gone.id`); err != nil {
		return fmt.Errorf("empty the queue: %w", err)
	}
	return nil
}

// gateway serves a simulator that knows the fleet.
func (b *bench) gateway() (*dispatcher.Client, func(), error) {
	var k simulator.Known
	var err error
	if k.Smartcards, k.STBs, k.Products, err = reference.ReadKnown(b.ref); err != nil {
		return nil, nil, err
	}
	sim := simulator.New(simulator.Config{Token: gwToken, DestinationID: gwDest, Seed: 1}, k)
	srv := httptest.NewServer(sim)
	client, err := dispatcher.NewClient(dispatcher.GatewayConfig{URL: srv.URL, Token: gwToken, DestinationID: gwDest, Timeout: time.Minute})
	if err != nil {
		srv.Close()
		return nil, nil, err
	}
	return client, func() { srv.Close(); sim.Close() }, nil
}

// process runs one processing run (the defaults of `provisioner process`) over
// what is due, and returns the requests it settled per second.
func (b *bench) process(ctx context.Context, t *target) (float64, error) {
	r, err := b.timedProcess(ctx, t)
	if err != nil {
		return 0, err
	}
	return float64(r.settled) / r.took.Seconds(), nil
}

// timedRun is one processing run: its record's id, when it started, how long it
// took and what it settled.
type timedRun struct {
	process int64
	start   time.Time
	took    time.Duration
	settled int
}

// timedProcess is process, with the run's record and times.
func (b *bench) timedProcess(ctx context.Context, t *target) (timedRun, error) {
	client, stop, err := b.gateway()
	if err != nil {
		return timedRun{}, err
	}
	defer stop()
	d, err := dispatcher.New(t.db, client, b.log, dispatcher.DefaultOptions())
	if err != nil {
		return timedRun{}, err
	}
	start := time.Now()
	s, err := d.Run(ctx)
	if err != nil {
		return timedRun{}, fmt.Errorf("processing run: %w", err)
	}
	if s.Completed+s.Rejected == 0 {
		return timedRun{}, fmt.Errorf("processing run settled nothing: %+v", s)
	}
	return timedRun{process: s.ProcessID, start: start, took: s.Duration, settled: s.Completed + s.Rejected}, nil
}

// shows measures the Web API's shows of random numbers on t, one at a time (p50).
func (b *bench) shows(ctx context.Context, t *target, r int) error {
	if err := b.ensureToken(ctx, t); err != nil {
		return err
	}
	srv := httptest.NewServer(api.New(t.db, b.log, api.Options{}).Handler())
	defer srv.Close()
	hc := srv.Client()
	rng := rand.New(rand.NewPCG(uint64(r), uint64(t.size)))
	var shows []float64
	for range b.cfg.Shows {
		num := t.numbers[0] + rng.Int64N(t.numbers[1]-t.numbers[0]+1)
		st := time.Now()
		resp, err := hc.Get(fmt.Sprintf("%s%s?token=%s&number=%d", srv.URL, api.PathShow, t.token, num))
		if err != nil {
			return fmt.Errorf("show: %w", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotFound {
			return fmt.Errorf("show %d: HTTP %d", num, resp.StatusCode)
		}
		shows = append(shows, ms(time.Since(st)))
	}
	b.fig.add(figShow, t.size, median(shows))
	return nil
}

func (b *bench) ensureToken(ctx context.Context, t *target) error {
	if t.token != "" {
		return nil
	}
	var err error
	t.token, err = api.CreateToken(ctx, t.db, fmt.Sprintf("bench-%d", time.Now().UnixNano()))
	return err
}

// createTally is what one database's creates of a round added up to over its
// slices: the creates, their time, and the CPU time PostgreSQL (its processes for
// that database) and this process (the HTTP client and the API server) spent.
type createTally struct {
	creates        int64
	took, pg, self time.Duration
}

// creates measures the Web API's creates (add_services over HTTP at Concurrency,
// with the API's defaults: serve's group commit) for CreateTime on every database,
// in CreateSlices slices alternated between them (the order rotated from round to
// round). A few seconds of creates on one database and then on the other (as
// before: 2,000 a round) put any burst of the shared machine's load on one of them:
// the same code gave 0.80, 0.92 and 1.06 at 10M in three runs. Beside the rate, the
// CPU time per create, PostgreSQL's and this process's, which the machine's other
// load does not inflate as it does the time.
func (b *bench) creates(ctx context.Context, r int) error {
	n := len(b.targets)
	tally := make([]createTally, n)
	slice := b.cfg.CreateTime / time.Duration(b.cfg.CreateSlices)
	for s := range b.cfg.CreateSlices {
		for k := range n {
			i := (k + r + s) % n
			got, err := b.createSlice(ctx, b.targets[i], r, s, slice)
			if err != nil {
				return fmt.Errorf("round %d, %d settled: %w", r+1, b.targets[i].size, err)
			}
			tally[i].creates += got.creates
			tally[i].took += got.took
			if got.pg < 0 || tally[i].pg < 0 { // /proc could not tell
				tally[i].pg = -1
			} else {
				tally[i].pg += got.pg
			}
			tally[i].self += got.self
		}
		b.sampleLoad()
	}
	for i, t := range b.targets {
		c := tally[i]
		b.fig.add(figCreate, t.size, float64(c.creates)/c.took.Seconds())
		if c.pg >= 0 {
			b.fig.add(figCreatePG, t.size, float64(c.pg.Microseconds())/float64(c.creates))
		}
		b.fig.add(figCreateSelf, t.size, float64(c.self.Microseconds())/float64(c.creates))
		b.logf("round %d, %d settled: %d Web API creates in %v, %.0f/s; CPU per create: PostgreSQL %.0f µs, this process %.0f µs (load average %s)",
			r+1, t.size, c.creates, c.took.Round(time.Millisecond), float64(c.creates)/c.took.Seconds(),
			float64(c.pg.Microseconds())/float64(c.creates), float64(c.self.Microseconds())/float64(c.creates), loadAverage())
	}
	return nil
}

// createSlice runs creates on t for d (the creates in flight then finish) and
// returns them with their time and CPU; pg is negative when /proc could not tell.
func (b *bench) createSlice(ctx context.Context, t *target, r, s int, d time.Duration) (createTally, error) {
	if err := b.ensureToken(ctx, t); err != nil {
		return createTally{}, err
	}
	srv := httptest.NewServer(api.New(t.db, b.log, api.Options{}).Handler())
	defer srv.Close()
	hc := srv.Client()
	var backend int
	if err := t.raw.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		return createTally{}, fmt.Errorf("backend: %w", err)
	}
	var next, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	watch := procwatch.WatchCPU(backend, t.name)
	start := time.Now()
	stop := start.Add(d)
	for range b.cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) && ctx.Err() == nil {
				i := int(next.Add(1))
				// A card per create, different from round to round and slice to slice.
				card := 1 + (i*7919+r*104729+s*15485863)%b.cfg.Cards
				body, _ := json.Marshal(map[string]any{
					"token":                   t.token,
					"subscription_identifier": map[string]string{"number": fmt.Sprintf("SUB%08d", card)},
					"smartcard_identifier":    map[string]string{"serial_number": fmt.Sprintf("SC%010d", card)},
					"services_set":            []any{map[string]any{"service_identifier": map[string]string{"code": "SPORTS"}}},
				})
				resp, err := hc.Post(srv.URL+api.CreatePrefix+"add_services", "application/json", bytes.NewReader(body))
				if err == nil {
					if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
						msg, _ := io.ReadAll(resp.Body)
						err = fmt.Errorf("create: HTTP %d: %s", resp.StatusCode, msg)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	self, pg := watch.Finish()
	if err, _ := firstErr.Load().(error); err != nil {
		return createTally{}, fmt.Errorf("web API: %d of %d creates failed: %w", failed.Load(), next.Load(), err)
	}
	return createTally{creates: next.Load(), took: took, pg: pg, self: self}, nil
}

// sampleLoad records the load average now, for the table's range.
func (b *bench) sampleLoad() {
	if v, err := strconv.ParseFloat(loadAverage(), 64); err == nil {
		b.loads = append(b.loads, v)
	}
}

// loadAverage is the machine's load average over the last minute, as uptime says it.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// reads times the operator's reads as the commands make them: `status`
// (ops.Snapshot) and `requests list` with each filter (ops.List, its default
// --limit 100 plus the one that tells there are more, and its default order).
func (b *bench) reads(ctx context.Context, t *target) error {
	day := func(f *ops.Filter, executed bool) {
		if executed {
			f.ExecutedSince, f.ExecutedUntil = t.day, t.day.Add(24*time.Hour)
		} else {
			f.CreatedSince, f.CreatedUntil = t.day, t.day.Add(24*time.Hour)
		}
	}
	lists := []struct {
		fg figure
		f  ops.Filter
	}{
		{figCard, ops.Filter{Smartcard: t.card}},
		{figSub, ops.Filter{Subscription: t.subscription}},
		{figRef, ops.Filter{ReferenceNumber: t.refNumber}},
		{figRejected, ops.Filter{States: []string{"REJECTED"}}},
		{figPending, ops.Filter{States: []string{"PENDING"}}},
		{figCreated, ops.Filter{}},
		{figExecuted, ops.Filter{}},
	}
	day(&lists[5].f, false)
	day(&lists[6].f, true)
	// In the command's default order (`requests list` without --sort): by settlement
	// time for the settlement range, by number for the others.
	for i := range lists {
		if err := lists[i].f.SetSort(""); err != nil {
			return fmt.Errorf("%s: %w", lists[i].fg.name, err)
		}
	}
	for range b.cfg.Reads {
		st := time.Now()
		if _, err := ops.Snapshot(ctx, t.db, ops.StatusOptions{Now: time.Now(), Jobs: jobs.Names()}); err != nil {
			return fmt.Errorf("status: %w", err)
		}
		b.fig.add(figStatus, t.size, ms(time.Since(st)))
		for _, l := range lists {
			f := l.f
			f.Limit = 101
			st := time.Now()
			rows, err := ops.List(ctx, t.db, f)
			if err != nil {
				return fmt.Errorf("%s: %w", l.fg.name, err)
			}
			if len(rows) == 0 && t.size > 0 && l.fg != figPending {
				return fmt.Errorf("%s: nothing found on %d settled requests (%+v): the probe is wrong", l.fg.name, t.size, f)
			}
			b.fig.add(l.fg, t.size, ms(time.Since(st)))
		}
	}
	return nil
}

func btoi(v bool) int {
	if v {
		return 1
	}
	return 0
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
