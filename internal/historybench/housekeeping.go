package historybench

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/provisioner/provisioner/config"
	"github.com/provisioner/provisioner/importer"
	"github.com/provisioner/provisioner/internal/samplegen"
	"github.com/provisioner/provisioner/jobs"
)

// hkMinWindow is the shortest overlap of a run and housekeeping that the verdict
// accepts: under it, the rates say little about a run's pace while housekeeping
// deletes (the first claims and batches weigh too much). Five seconds: on a quiet
// machine housekeeping deletes a run's part (260,000 requests at 10M) in 7 to 8 s
// while the run settles about 9,000 requests a second, so a window of 5 s holds
// some 40,000 of them, 400 batches; 30 s, as first set on a machine at load 10,
// was longer than housekeeping ever works beside a run there.
const hkMinWindow = 5 * time.Second

// housekeepingFigures: the processing run's rate on the largest history without
// housekeeping and while it deletes, each round's two runs compared over the same
// window from their start: as long as housekeeping was at work during the one
// beside it (and no longer than either run).
type housekeepingFigures struct {
	without, during []float64 // requests/s over each round's window
	rounds          []hkRound
	cutoff          time.Time     // housekeeping deletes what settled before it in the end
	deleted         int64         // by housekeeping, during the runs and after them
	finish          time.Duration // housekeeping's time to delete the rest alone
	finished        int64         // what it deleted then
}

// hkRound is one round's run beside housekeeping: the window the rates are taken
// over, the run's length, and what housekeeping deleted in how long.
type hkRound struct {
	window, run, hkTook time.Duration
	hkDeleted           int64
}

// rates returns the medians of the rates without and during housekeeping over the
// rounds whose window is long enough for the verdict (hkMinWindow), and how many
// those are.
func (h *housekeepingFigures) rates() (without, during float64, rounds int) {
	var wo, du []float64
	for i, r := range h.rounds {
		if r.window >= hkMinWindow {
			wo, du = append(wo, h.without[i]), append(du, h.during[i])
		}
	}
	return median(wo), median(du), len(wo)
}

// housekeeping alternates, on the largest history, a processing run alone and one
// while housekeeping deletes settled requests, then lets housekeeping finish alone
// what is older than HousekeepAge. What is to be deleted (from the oldest
// settlement to HousekeepAge ago) is cut into one part per round, oldest first, so
// that each run beside housekeeping has deletions of its own to run beside:
// given the whole at once, housekeeping finished it during the first such run and
// the next ran beside nothing. Housekeeping starts before the run (once its first
// slice is gone) and is stopped when the run ends, or ends on its own before; the
// rates are compared over the part of the run it was at work for.
func (b *bench) housekeeping(ctx context.Context) (*housekeepingFigures, error) {
	t := b.targets[len(b.targets)-1]
	hf := &housekeepingFigures{cutoff: time.Now().Add(-b.cfg.HousekeepAge)}
	var oldest sql.NullTime
	if err := t.raw.QueryRowContext(ctx, `SELECT min(executed_date) FROM provisioning_requests WHERE executed_date IS NOT NULL`).Scan(&oldest); err != nil {
		return nil, fmt.Errorf("housekeeping: the oldest settlement: %w", err)
	}
	if !oldest.Valid || !oldest.Time.Before(hf.cutoff) {
		return nil, fmt.Errorf("housekeeping: nothing settled before %s to delete (-housekeep-age %v; on a -reuse database an earlier run's housekeeping may have deleted it): give a shorter -housekeep-age",
			hf.cutoff.UTC().Format(time.RFC3339), b.cfg.HousekeepAge)
	}
	rounds := max(2, b.cfg.Rounds)
	part := hf.cutoff.Sub(oldest.Time) / time.Duration(rounds)
	for r := range rounds {
		var runs [2]timedRun // [without, during]
		var hr hkRound
		var hkEnded time.Time // when housekeeping ended on its own (zero: stopped at the run's end)
		for _, during := range []bool{r%2 == 1, r%2 == 0} {
			// Each run starts from the table as the nightly housekeeping leaves it
			// (its vacuum), as the rounds' runs do: without it each run met the dead
			// rows of every run and deletion before it in this phase, housekeeping's
			// own vacuum being cut off with the run it was stopped with, and the run
			// second in a round went slower whichever it was (session 10: 0.72-0.82
			// by round, where two runs alike from a vacuumed table, one beside
			// housekeeping deleting 560,000 requests, went at 0.97).
			if err := b.nightlyOn(ctx, t, fmt.Sprintf("housekeeping round %d", r+1)); err != nil {
				return nil, err
			}
			if err := b.importHousekeepingFile(ctx, t, r, during); err != nil {
				return nil, err
			}
			var stop func() (int64, time.Time)
			var hkStart time.Time
			if during {
				var err error
				upTo := oldest.Time.Add(part * time.Duration(r+1))
				hkStart = time.Now()
				if stop, err = b.startHousekeeping(ctx, t, b.housekeepingEnv(t, time.Since(upTo))); err != nil {
					return nil, err
				}
			}
			run, err := b.timedProcess(ctx, t)
			if stop != nil {
				var n int64
				n, hkEnded = stop()
				hf.deleted += n
				hr.hkDeleted, hr.run = n, run.took
				if hr.hkTook = time.Since(hkStart); !hkEnded.IsZero() {
					hr.hkTook = hkEnded.Sub(hkStart)
				}
			}
			if err != nil {
				return nil, err
			}
			runs[btoi(during)] = run
			b.logf("housekeeping round %d: run %.0f requests/s over %v (during housekeeping: %v)", r+1,
				float64(run.settled)/run.took.Seconds(), run.took.Round(time.Second), during)
		}
		hr.window = hkWindow(runs[0], runs[1], hkEnded)
		for i, into := range []*[]float64{&hf.without, &hf.during} {
			rate, err := settledRate(ctx, t, runs[i], hr.window)
			if err != nil {
				return nil, err
			}
			*into = append(*into, rate)
		}
		hf.rounds = append(hf.rounds, hr)
		b.logf("housekeeping round %d: over the first %v of each run: %.0f requests/s without, %.0f during (housekeeping deleted %d in %v)",
			r+1, hr.window.Round(time.Second), last(hf.without), last(hf.during), hr.hkDeleted, hr.hkTook.Round(time.Second))
	}
	st := time.Now()
	res, err := jobs.Housekeeping(ctx, b.housekeepingEnv(t, time.Since(hf.cutoff)))
	if err != nil {
		return nil, fmt.Errorf("housekeeping: %w", err)
	}
	hf.finish, hf.finished = time.Since(st), int64(res.Counts["requests_deleted"])
	hf.deleted += hf.finished
	return hf, nil
}

// hkWindow is the window from each run's start over which a round's runs are
// compared: as long as the run beside housekeeping (during) lasted, or until
// housekeeping ended on its own (hkEnded; zero: it was still at work when the run
// ended), and no longer than the run without it. 0 when housekeeping ended before
// its run started.
func hkWindow(without, during timedRun, hkEnded time.Time) time.Duration {
	w := min(during.took, without.took)
	if !hkEnded.IsZero() {
		w = min(w, hkEnded.Sub(during.start))
	}
	return max(0, w)
}

// settledRate is the requests run settled in the window from its start, per second.
// Their executed_date is the write-back's time (the database's clock, as the
// bench's own on one machine).
func settledRate(ctx context.Context, t *target, run timedRun, window time.Duration) (float64, error) {
	if window <= 0 {
		return 0, nil
	}
	var n int64
	if err := t.raw.QueryRowContext(ctx, `
		SELECT count(*) FROM provisioning_requests
		WHERE executed_date >= $1 AND executed_date < $2 AND process_id = $3 AND life_cycle_state <> 'PENDING'`,
		run.start, run.start.Add(window), run.process).Scan(&n); err != nil {
		return 0, fmt.Errorf("requests settled by run %d in its first %v: %w", run.process, window, err)
	}
	return float64(n) / window.Seconds(), nil
}

// housekeepingEnv is the housekeeping job's environment on t, deleting the requests
// settled more than age ago (and nothing else of note: no inbox).
func (b *bench) housekeepingEnv(t *target, age time.Duration) jobs.Env {
	cfg := config.Default()
	cfg.Housekeeping.RequestsAfter = age
	cfg.Housekeeping.FilesAfter = 0
	cfg.Import.Inbox = ""
	return jobs.Env{DB: t.db, Log: b.log, Config: cfg}
}

// importHousekeepingFile imports a generated file of ImportRows rows for one run of
// the housekeeping rounds to send.
func (b *bench) importHousekeepingFile(ctx context.Context, t *target, r int, during bool) error {
	file := filepath.Join(b.work, fmt.Sprintf("hk-%d-%v.csv", r, during))
	out, err := os.Create(file)
	if err != nil {
		return err
	}
	_, err = samplegen.WriteInstructions(out, samplegen.Config{Rows: b.cfg.ImportRows, Seed: b.nonce + uint64(1000+2*r+btoi(during)), Subscriptions: b.cfg.Cards})
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("instruction file: %w", err)
	}
	if err := emptyQueue(ctx, t); err != nil { // the runs alone and beside housekeeping meet the same queue
		return err
	}
	if _, err := importer.New(t.db, b.log, importer.Options{}).ImportFile(ctx, file, b.work); err != nil {
		return fmt.Errorf("import for the housekeeping round: %w", err)
	}
	return nil
}

// startHousekeeping starts the housekeeping job and waits until it has deleted its
// first requests (the oldest number is gone). stop cancels it and returns what it
// deleted and when it ended on its own (zero: it was still at work).
func (b *bench) startHousekeeping(ctx context.Context, t *target, env jobs.Env) (stop func() (int64, time.Time), err error) {
	var first int64
	if err := t.raw.QueryRowContext(ctx, `SELECT min(number) FROM provisioning_requests`).Scan(&first); err != nil {
		return nil, err
	}
	hkCtx, cancel := context.WithCancel(ctx)
	var done atomic.Bool
	var res jobs.Result
	var ended time.Time
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		res, _ = jobs.Housekeeping(hkCtx, env) // cancelled: its error says so
		ended = time.Now()
		done.Store(true)
	}()
	stop = func() (int64, time.Time) {
		running := !done.Load()
		cancel()
		wg.Wait()
		if running {
			return int64(res.Counts["requests_deleted"]), time.Time{}
		}
		return int64(res.Counts["requests_deleted"]), ended
	}
	deadline := time.Now().Add(10 * time.Minute)
	for !done.Load() {
		var gone bool
		if err := t.raw.QueryRowContext(ctx, `SELECT NOT EXISTS (SELECT FROM provisioning_requests WHERE number = $1)`, first).Scan(&gone); err != nil {
			stop()
			return nil, err
		}
		if gone {
			return stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("housekeeping deleted nothing in 10 minutes")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return stop, nil
}
