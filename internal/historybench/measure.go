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
	"sync"
	"sync/atomic"
	"time"

	"github.com/provisioner/provisioner/api"
	"github.com/provisioner/provisioner/dispatcher"
	"github.com/provisioner/provisioner/importer"
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
}

// The figures, in the order of the table.
var (
	figProcess   = figure{"processing run (requests/s)", true, 0}
	figImport    = figure{"importer (rows/s)", true, 1}
	figCreate    = figure{"Web API create (creates/s)", true, 2}
	figShow      = figure{"Web API show p50 (ms)", false, 3}
	figStatus    = figure{"status (ms)", false, 4}
	figCard      = figure{"requests list --smartcard (ms)", false, 5}
	figSub       = figure{"requests list --subscription (ms)", false, 6}
	figRef       = figure{"requests list, reference number (ms)", false, 7}
	figRejected  = figure{"requests list --state REJECTED (ms)", false, 8}
	figPending   = figure{"requests list --state PENDING (ms)", false, 9}
	figCreated   = figure{"requests list --created-since/until, a day (ms)", false, 10}
	figExecuted  = figure{"requests list --executed-since/until, a day (ms)", false, 11}
	allFigures   = []figure{figProcess, figImport, figCreate, figShow, figStatus, figCard, figSub, figRef, figRejected, figPending, figCreated, figExecuted}
	readCeiling  = 50.0 // ms: the operator's reads
	throughRatio = 0.9  // at the largest history ÷ at the baseline
	hkRatio      = 0.8  // the processing run during housekeeping ÷ without
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
	n := len(b.targets)
	for k := range n {
		t := b.targets[(k+r)%n]
		if err := b.measure(ctx, t, file, r); err != nil {
			return fmt.Errorf("round %d, %d settled: %w", r+1, t.size, err)
		}
	}
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

	if err := b.webAPI(ctx, t, r); err != nil {
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

// webAPI measures the Web API's creates (Creates at Concurrency, over HTTP) and
// shows (one at a time, p50) on t.
func (b *bench) webAPI(ctx context.Context, t *target, r int) error {
	if t.token == "" {
		var err error
		if t.token, err = api.CreateToken(ctx, t.db, fmt.Sprintf("bench-%d", time.Now().UnixNano())); err != nil {
			return err
		}
	}
	srv := httptest.NewServer(api.New(t.db, b.log, api.Options{}).Handler())
	defer srv.Close()
	hc := srv.Client()
	var next, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range b.cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.cfg.Creates) {
					return
				}
				card := 1 + (int(i)*7919+r*104729)%b.cfg.Cards
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
	if err, _ := firstErr.Load().(error); err != nil {
		return fmt.Errorf("web API: %d of %d creates failed: %w", failed.Load(), b.cfg.Creates, err)
	}
	b.fig.add(figCreate, t.size, float64(b.cfg.Creates)/time.Since(start).Seconds())

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
