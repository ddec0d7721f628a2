package reconcile

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/sirupsen/logrus"
	"golang.org/x/sync/errgroup"

	"github.com/provisioner/provisioner/casapi"
	"github.com/provisioner/provisioner/dispatcher"
	"github.com/provisioner/provisioner/provisioning"
	provsql "github.com/provisioner/provisioner/sql"
	"github.com/provisioner/provisioner/store"
)

// ScopeError is a scope that names what is not there (an unknown subscription or
// smartcard): bad usage, exit 2.
type ScopeError struct{ Msg string }

func (e *ScopeError) Error() string { return e.Msg }

// Run reconciles the cards of opts.Scope once (see the package doc) and records it.
// The error is for a run that failed (the database, the gateway refusing our
// credentials or never answering, a scope naming what is not there): nothing of it
// is created. A capped run is no error: Summary.Capped says so.
func Run(ctx context.Context, db *store.DB, client *dispatcher.Client, log logrus.FieldLogger, opts Options) (Summary, error) {
	opts = opts.withDefaults()
	sum := Summary{Scope: opts.Scope.String(), DryRun: opts.DryRun, Max: opts.MaxCorrections}
	if err := opts.Scope.Check(); err != nil {
		return sum, &ScopeError{err.Error()}
	}
	started := time.Now()
	ids, err := scopeIDs(ctx, db, opts.Scope, log)
	if err != nil {
		return sum, err
	}
	cat, err := readCatalogue(ctx, db)
	if err != nil {
		return sum, err
	}
	host, _ := os.Hostname()
	if err := db.QueryRowContext(ctx, provsql.ReconcileRunStart, sum.Scope, opts.DryRun, host, os.Getpid()).Scan(&sum.RunID); err != nil {
		return sum, fmt.Errorf("record reconciliation run: %w", err)
	}
	log = log.WithField("reconciliation", sum.RunID)
	r := &run{db: db, log: log, opts: opts, cat: cat, sum: &sum, gw: newGateway(client, log, opts), now: started}
	runErr := r.do(ctx, ids)
	sum.Duration = time.Since(started)
	sum.Fallback = r.gw.fallback.Load()

	state := Succeeded
	switch {
	case runErr != nil && ctx.Err() != nil:
		state = Interrupted
	case runErr != nil:
		state = Failed
	case sum.Capped:
		state = Capped
	}
	sum.State = state
	errText := ""
	if runErr != nil {
		errText = runErr.Error()
	} else if sum.Capped {
		errText = sum.CapMessage()
	}
	c := sum.Counts
	created := c.Corrections // the record counts the corrections created, not those that would be
	if state != Succeeded || opts.DryRun {
		created = 0
	}
	// The record is written even when ctx was cancelled: a run must not stay RUNNING.
	if _, err := db.ExecContext(context.WithoutCancel(ctx), provsql.ReconcileRunFinish, sum.RunID, string(state),
		c.Checked, c.InSync, c.Drifted, c.MissingProducts, c.ExtraProducts, c.WrongPairing, c.MissingPairing, c.ExtraPairing,
		c.Busy, c.Unknown, c.Disabled, c.Uncorrectable, created, sum.Report, errText); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("record reconciliation run: %w", err))
	}
	if opts.Observer != nil {
		opts.Observer.ReconcileDone(sum)
	}
	return sum, runErr
}

// scopeIDs are the smartcard ids of the scope, sorted; nil for --all.
func scopeIDs(ctx context.Context, db *store.DB, s Scope, log logrus.FieldLogger) ([]int64, error) {
	var ids []int64
	switch {
	case s.All:
		return nil, nil
	case s.Subscription != "":
		if err := db.SelectContext(ctx, &ids, provsql.ReconcileScopeSubscription, s.Subscription); err != nil {
			return nil, fmt.Errorf("read scope: %w", err)
		}
		if len(ids) == 0 {
			var n []struct {
				ID     int64  `db:"id"`
				Number string `db:"number"`
			}
			if err := db.SelectContext(ctx, &n, provsql.LookupSubscriptions, pq.StringArray{s.Subscription}); err != nil {
				return nil, fmt.Errorf("read scope: %w", err)
			}
			if len(n) == 0 {
				return nil, &ScopeError{fmt.Sprintf("--subscription %s: no such subscription", s.Subscription)}
			}
			log.Warnf("subscription %s has no smartcard installed: nothing to reconcile", s.Subscription)
		}
	default:
		var items []struct {
			ID       int64  `db:"id"`
			Serial   string `db:"serial_number"`
			Kind     string `db:"kind"`
			Entitled bool   `db:"entitled"`
		}
		if err := db.SelectContext(ctx, &items, provsql.ReconcileScopeSmartcards, pq.StringArray(s.Smartcards)); err != nil {
			return nil, fmt.Errorf("read scope: %w", err)
		}
		found := make(map[string]bool, len(items))
		var bad []string
		for _, it := range items {
			found[it.Serial] = true
			switch {
			case it.Kind != provisioning.KindSmartcard:
				bad = append(bad, it.Serial+" is an STB, not a smartcard")
			case !it.Entitled:
				log.Warnf("smartcard %s is not listed in the entitlements: not reconciled", it.Serial)
			default:
				ids = append(ids, it.ID)
			}
		}
		for _, sc := range s.Smartcards {
			if !found[sc] {
				bad = append(bad, "no smartcard "+sc)
			}
		}
		if len(bad) > 0 {
			if len(bad) > 5 {
				bad = append(bad[:5], fmt.Sprintf("and %d more", len(bad)-5))
			}
			return nil, &ScopeError{"scope: " + strings.Join(bad, "; ")}
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

func readCatalogue(ctx context.Context, db *store.DB) (*catalogue, error) {
	var all []provisioning.Product
	if err := db.SelectContext(ctx, &all, provsql.AllProducts); err != nil {
		return nil, fmt.Errorf("read products: %w", err)
	}
	cat := &catalogue{byID: make(map[string]provisioning.Product, len(all)), byCA: make(map[string]provisioning.Product, len(all)),
		byCode: make(map[string]provisioning.Product, len(all))}
	for _, p := range all {
		cat.byCode[p.Code] = p
		cat.byID[strconv.FormatInt(p.ID, 10)] = p
		if p.CAID != "" {
			cat.byCA[p.CAID] = p
		}
	}
	return cat, nil
}

type run struct {
	db   *store.DB
	log  logrus.FieldLogger
	opts Options
	cat  *catalogue
	sum  *Summary
	gw   *gateway
	now  time.Time

	tx     *sqlx.Tx
	insert *sqlx.Stmt
	// lookStmt is reconcile_lookup.sql, prepared once a run (see look).
	lookStmt *sqlx.Stmt
	rep      *report
	// rows and reqs wait for flush: the report's rows in order, and the corrections
	// they name (pendingRow.req indexes reqs).
	rows []pendingRow
	reqs []provisioning.Resolved
	// pending are the cards busy at the start of a run --all (pendingSet); nil:
	// checkBusy asks the database for each chunk.
	pending map[string]struct{}
}

// chunk is one chunk of cards on its way: read, asked of the gateway, compared.
type chunk struct {
	cards   []card
	states  map[string]casapi.SmartcardState
	unknown map[string]bool
	// drifts are each card's differences (by index), found by the worker that asked
	// the gateway; stbs the serial numbers of the STBs the gateway pairs the drifted
	// cards with (prepare).
	drifts [][]drift
	stbs   map[string]string
	err    error
	done   chan struct{}
}

// do reads the scope's cards chunk by chunk, asks the gateway for up to
// Concurrency chunks at once, and handles their answers in order; then it commits
// the corrections, or rolls them back when over the cap.
func (r *run) do(ctx context.Context, ids []int64) (err error) {
	rep, err := createReport(r.opts.ReportsDir, r.sum.RunID, r.now)
	if err != nil {
		return err
	}
	r.rep = rep
	defer func() {
		// The corrections are rolled back unless committed: the report says so.
		created := err == nil && !r.sum.Capped && !r.opts.DryRun
		note := "not created: over --max-corrections"
		if err != nil {
			note = "not created: the run failed"
		}
		if ferr := rep.finish(!created && !r.opts.DryRun, note); ferr != nil {
			err = errors.Join(err, ferr)
			return
		}
		r.sum.Report = rep.path
	}()
	if !r.opts.DryRun {
		if r.tx, err = r.db.BeginTxx(ctx, nil); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		defer r.tx.Rollback()
		if r.insert, err = r.tx.PreparexContext(ctx, provsql.InsertCorrections); err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
	}

	if r.opts.Scope.All {
		if r.pending, err = pendingSet(ctx, r.db); err != nil {
			return err
		}
	}
	if r.lookStmt, err = r.db.PreparexContext(ctx, provsql.ReconcileLookup); err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	defer r.lookStmt.Close()

	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The chunks in flight, read and not yet handled: they bound the run's memory.
	// The reader runs up to inFlight chunks ahead of handle and Concurrency ahead of
	// the gateway's queries, so that a worker done with a query finds the next chunk
	// read (the cursor's FETCH overlapping the queries, not between them).
	ordered := make(chan *chunk, inFlight*r.opts.Concurrency)
	work := make(chan *chunk, r.opts.Concurrency)
	var wg, prep sync.WaitGroup
	// At most Concurrency compares and look-ups at once: the pool is sized for the
	// workers' Concurrency connections beside the reader's and the corrections'
	// (cli), and more at once opened connections past its idle ones, closed again
	// (PostgreSQL's CPU rose by a tenth in an A/B).
	preparing := make(chan struct{}, r.opts.Concurrency)
	for range r.opts.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ch := range work {
				if ch.err = r.checkBusy(ctx, ch); ch.err == nil {
					r.ask(ctx, ch)
				}
				// The compare and its look-ups (the database's) go on beside the
				// next query, chunks in parallel, so that the gateway keeps
				// Concurrency queries in flight, as the query-only pass does, and
				// the one sequential step, handle, only writes. Bounded by the
				// chunks in flight.
				prep.Add(1)
				go func() {
					defer prep.Done()
					if ch.err == nil {
						preparing <- struct{}{}
						ch.err = r.prepare(ctx, ch)
						<-preparing
					}
					close(ch.done)
				}()
			}
		}()
	}
	readErr := make(chan error, 1)
	go func() {
		defer close(ordered)
		defer close(work)
		readErr <- r.read(ctx, ids, func(ch *chunk) bool {
			select {
			case ordered <- ch:
			case <-ctx.Done():
				return false
			}
			select {
			case work <- ch:
				return true
			case <-ctx.Done():
				ch.err = ctx.Err()
				close(ch.done)
				return false
			}
		})
	}()
	// The chunks are handled in the order read, so that the report follows the
	// cards' order and the first error is the one reported.
	var handleErr error
	for ch := range ordered {
		<-ch.done
		if handleErr != nil {
			continue
		}
		if handleErr = ch.err; handleErr == nil {
			if handleErr = r.handle(ctx, ch); handleErr == nil {
				handleErr = r.flushIfDue(ctx)
			}
		}
		if handleErr != nil {
			cancel()
		}
	}
	wg.Wait()
	prep.Wait()
	rerr := <-readErr
	if handleErr == nil && rerr == nil && parent.Err() == nil {
		handleErr = r.flush(ctx, true)
	} else if ferr := r.flush(ctx, false); ferr != nil {
		// The run failed: its rows go in the report all the same, with no number.
		r.log.WithError(ferr).Warn("drift report: the failed run's last rows")
	}
	switch {
	case parent.Err() != nil:
		return parent.Err()
	case handleErr != nil:
		return handleErr
	case rerr != nil:
		return rerr
	}

	c := &r.sum.Counts
	if !r.opts.Force && float64(c.CorrectedCards) > r.opts.MaxCorrections*float64(c.Checked) {
		r.sum.Capped = true
		return nil // the deferred rollback drops the corrections
	}
	if r.tx != nil {
		if err := r.tx.Commit(); err != nil {
			return fmt.Errorf("commit corrections: %w", err)
		}
	}
	return nil
}

// read hands the scope's cards to emit a chunk at a time, by keyset; it stops when
// emit says so.
func (r *run) read(ctx context.Context, ids []int64, emit func(*chunk) bool) error {
	if r.opts.Scope.All {
		return r.readAll(ctx, emit)
	}
	// Prepared once: planning the chunk's query cost more than running it (measured
	// 20-60 ms against 14-30 ms on a loaded 2-core machine).
	stmt, err := r.db.PreparexContext(ctx, provsql.ReconcileCards)
	if err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	defer stmt.Close()
	// One read takes readChunks query chunks: the read is the one sequential step
	// of the run, and its cost is mostly per statement (measured: 9,400 cards/s
	// reading 500 at a time on a loaded machine).
	per := r.opts.ChunkSize * readChunks
	var after int64
	for k := 0; ; {
		var scope any // NULL: every card with entitlements
		if !r.opts.Scope.All {
			if k >= len(ids) {
				return nil
			}
			end := min(k+per, len(ids))
			scope, after, k = pq.Int64Array(ids[k:end]), 0, end
		}
		rows, err := stmt.QueryContext(ctx, after, per, scope)
		if err != nil {
			return fmt.Errorf("read cards: %w", err)
		}
		cards, err := scanCards(rows, per)
		if err != nil {
			return err
		}
		if r.opts.Scope.All {
			if len(cards) == 0 {
				return nil
			}
			after = cards[len(cards)-1].ID
		}
		for len(cards) > 0 {
			n := min(len(cards), r.opts.ChunkSize)
			if !emit(&chunk{cards: cards[:n:n], done: make(chan struct{})}) {
				return nil
			}
			cards = cards[n:]
		}
	}
}

// readChunks is how many query chunks one read of the cards takes.
const readChunks = 4

// inFlight is how many chunks per query in flight may be read and not yet handled.
const inFlight = 4

// readAll reads every card with entitlements through one cursor, in a read-only
// transaction of its own, 2,000 at a time.
func (r *run) readAll(ctx context.Context, emit func(*chunk) bool) error {
	tx, err := r.db.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("read cards: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, provsql.ReconcileCursor); err != nil {
		return fmt.Errorf("read cards: %w", err)
	}
	for {
		rows, err := tx.QueryContext(ctx, provsql.ReconcileFetch)
		if err != nil {
			return fmt.Errorf("read cards: %w", err)
		}
		cards, err := scanCards(rows, fetchSize)
		if err != nil {
			return err
		}
		if len(cards) == 0 {
			return nil
		}
		for len(cards) > 0 {
			n := min(len(cards), r.opts.ChunkSize)
			if !emit(&chunk{cards: cards[:n:n], done: make(chan struct{})}) {
				return nil
			}
			cards = cards[n:]
		}
	}
}

// fetchSize is the rows of one FETCH (sql/queries/reconcile_fetch.sql).
const fetchSize = 2000

// scanCards reads rows (the columns of reconcile_cards.sql, in its order) into a
// slice made for size cards, and closes them. By hand rather than by sqlx's
// Select: its reflection grew the slice a card at a time, about a third of the
// reading goroutine's CPU (profiled over 100,000 cards), and the reading is the
// one sequential step of a run.
func scanCards(rows *sql.Rows, size int) ([]card, error) {
	defer rows.Close()
	cards := make([]card, 0, size)
	for rows.Next() {
		cards = append(cards, card{})
		c := &cards[len(cards)-1]
		if err := rows.Scan(&c.ID, &c.Serial, &c.CAID, &c.SubscriptionID, &c.SubscriptionNumber, &c.SubscriptionState,
			&c.ProductIDs, &c.STBChecked, &c.STBSerial, &c.STBCAID); err != nil {
			return nil, fmt.Errorf("read cards: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read cards: %w", err)
	}
	return cards, nil
}

// ask asks the gateway for the state of the chunk's cards that are not busy.
func (r *run) ask(ctx context.Context, ch *chunk) {
	ids := make([]string, 0, len(ch.cards))
	for i := range ch.cards {
		if !ch.cards[i].Busy {
			ids = append(ids, ch.cards[i].CAID)
		}
	}
	if len(ids) == 0 {
		return
	}
	states, unknown, err := r.gw.states(ctx, ids)
	if err != nil {
		ch.err = err
		return
	}
	ch.states, ch.unknown = states, make(map[string]bool, len(unknown))
	for _, id := range unknown {
		ch.unknown[id] = true
	}
}

// ReadAll reads every card with entitlements as a run --all does (the same cursor,
// the same fetches and decoding, the same busy check of each chunk by as many workers)
// and nothing else: the database's part of a run, which the reconciliation bench
// measures beside the gateway's as the ceiling of a run on the machine. It returns
// the cards read.
func ReadAll(ctx context.Context, db *store.DB) (int, error) {
	r := &run{db: db, opts: Options{Scope: Scope{All: true}}.withDefaults()}
	var err error
	if r.pending, err = pendingSet(ctx, db); err != nil {
		return 0, err
	}
	if r.lookStmt, err = db.PreparexContext(ctx, provsql.ReconcileLookup); err != nil {
		return 0, fmt.Errorf("prepare: %w", err)
	}
	defer r.lookStmt.Close()
	g, ctx := errgroup.WithContext(ctx)
	work := make(chan *chunk)
	for range r.opts.Concurrency {
		g.Go(func() error {
			for ch := range work {
				if err := r.checkBusy(ctx, ch); err != nil {
					return err
				}
			}
			return nil
		})
	}
	n := 0
	g.Go(func() error {
		defer close(work)
		return r.readAll(ctx, func(ch *chunk) bool {
			n += len(ch.cards)
			select {
			case work <- ch:
				return true
			case <-ctx.Done():
				return false
			}
		})
	})
	err = g.Wait()
	return n, err
}
