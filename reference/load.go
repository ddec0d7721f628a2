package reference

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/provisioner/provisioner/provisioning"
	provsql "github.com/provisioner/provisioner/sql"
	"github.com/provisioner/provisioner/store"
)

// chunk is how many rows go to the database in one upsert statement.
const chunk = 5000

// FileResult is what became of one reference file.
type FileResult struct {
	File   string
	Rows   int        // good rows read
	Loaded bool       // false when the file had bad rows (and so loaded nothing)
	Bad    []RowError // every bad row, in file order
}

// Load upserts the reference files found in dir, each in its own transaction. A file
// with bad rows loads nothing; the others load. The error is for what stops the whole
// load: a missing directory, a file the CSV layer refuses whole, a database failure.
func Load(ctx context.Context, db *store.DB, dir string) ([]FileResult, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("reference directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("reference directory: %s is not a directory", dir)
	}
	if err := checkNoStrayFiles(dir); err != nil {
		return nil, err
	}
	var results []FileResult
	for _, file := range Files {
		path := filepath.Join(dir, file)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			continue
		}
		res, err := loadFile(ctx, db, path)
		if err != nil {
			return results, fmt.Errorf("load %s: %w", file, err)
		}
		results = append(results, res)
	}
	if len(results) == 0 {
		return nil, fmt.Errorf("reference directory %s holds none of %s", dir, strings.Join(Files, ", "))
	}
	return results, nil
}

// checkNoStrayFiles refuses a directory with a .csv file that is not a reference file:
// a misnamed file (smartcard.csv) must not be skipped in silence.
func checkNoStrayFiles(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("reference directory: %w", err)
	}
	known := map[string]bool{}
	for _, f := range Files {
		known[f] = true
	}
	for _, e := range entries {
		if n := e.Name(); strings.EqualFold(filepath.Ext(n), ".csv") && !known[n] {
			return fmt.Errorf("reference directory %s: unknown file %s (expected %s)", dir, n, strings.Join(Files, ", "))
		}
	}
	return nil
}

func loadFile(ctx context.Context, db *store.DB, path string) (FileResult, error) {
	res := FileResult{File: filepath.Base(path)}
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return res, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()

	var bad []RowError
	switch res.File {
	case SubscriptionsFile:
		var numbers, states []string
		flush := func() error {
			_, err := tx.ExecContext(ctx, provsql.UpsertSubscriptions, pq.StringArray(numbers), pq.StringArray(states))
			numbers, states = numbers[:0], states[:0]
			return err
		}
		bad, err = readRows(path, checkSubscription, func(_ int, s *Subscription) error {
			res.Rows++
			numbers, states = append(numbers, s.Number), append(states, s.State)
			if len(numbers) == chunk {
				return flush()
			}
			return nil
		})
		if err == nil {
			err = flush()
		}
	case SmartcardsFile, STBsFile:
		kind := provisioning.KindSmartcard
		if res.File == STBsFile {
			kind = provisioning.KindSTB
		}
		var rows []Item
		var lines []int
		flush := func() error {
			rowBad, err := upsertItems(ctx, tx, kind, res.File, rows, lines)
			bad = append(bad, rowBad...)
			rows, lines = rows[:0], lines[:0]
			return err
		}
		var readBad []RowError
		readBad, err = readRows(path, checkItem, func(line int, it *Item) error {
			res.Rows++
			rows, lines = append(rows, *it), append(lines, line)
			if len(rows) == chunk {
				return flush()
			}
			return nil
		})
		if err == nil {
			err = flush()
		}
		bad = append(bad, readBad...)
	case ProductsFile:
		var codes, alts, classes, caIDs []string
		flush := func() error {
			_, err := tx.ExecContext(ctx, provsql.UpsertProducts, pq.StringArray(codes), pq.StringArray(alts), pq.StringArray(classes), pq.StringArray(caIDs))
			codes, alts, classes, caIDs = codes[:0], alts[:0], classes[:0], caIDs[:0]
			return err
		}
		bad, err = readRows(path, checkProduct, func(_ int, p *Product) error {
			res.Rows++
			codes, alts, classes, caIDs = append(codes, p.Code), append(alts, p.AlternativeCode), append(classes, p.Classification), append(caIDs, p.CAID)
			if len(codes) == chunk {
				return flush()
			}
			return nil
		})
		if err == nil {
			err = flush()
		}
	}
	if err != nil {
		return res, err
	}
	sortRowErrors(bad)
	res.Bad = bad
	if len(bad) > 0 {
		return res, nil // the deferred rollback drops what was upserted
	}
	if err := tx.Commit(); err != nil {
		return res, fmt.Errorf("commit: %w", err)
	}
	res.Loaded = true
	return res, nil
}

// upsertItems upserts one chunk of smartcards or STBs, after checking that the
// subscriptions they name exist; rows that name an unknown one are returned as bad.
func upsertItems(ctx context.Context, tx *sqlx.Tx, kind, file string, rows []Item, lines []int) ([]RowError, error) {
	if len(rows) == 0 {
		return nil, nil
	}
	var subs []string
	for _, r := range rows {
		if r.SubscriptionNumber != "" {
			subs = append(subs, r.SubscriptionNumber)
		}
	}
	known := map[string]bool{}
	if len(subs) > 0 {
		q, err := tx.QueryContext(ctx, provsql.LookupSubscriptions, pq.StringArray(subs))
		if err != nil {
			return nil, fmt.Errorf("look up subscriptions: %w", err)
		}
		for q.Next() {
			var id int64
			var number string
			if err := q.Scan(&id, &number); err != nil {
				q.Close()
				return nil, fmt.Errorf("look up subscriptions: %w", err)
			}
			known[number] = true
		}
		if err := q.Err(); err != nil {
			return nil, fmt.Errorf("look up subscriptions: %w", err)
		}
	}
	var bad []RowError
	serials, alts, caIDs, subNumbers := make([]string, 0, len(rows)), make([]string, 0, len(rows)), make([]string, 0, len(rows)), make([]string, 0, len(rows))
	for i, r := range rows {
		if r.SubscriptionNumber != "" && !known[r.SubscriptionNumber] {
			bad = append(bad, RowError{File: file, Line: lines[i], Reason: fmt.Sprintf("subscription_number: no subscription %s", r.SubscriptionNumber)})
			continue
		}
		serials, alts, caIDs, subNumbers = append(serials, r.SerialNumber), append(alts, r.AlternativeCode), append(caIDs, r.CAID), append(subNumbers, r.SubscriptionNumber)
	}
	if len(bad) > 0 {
		return bad, nil // the file will not load: no need to write
	}
	if _, err := tx.ExecContext(ctx, provsql.UpsertInstalledItems, kind, pq.StringArray(serials), pq.StringArray(alts), pq.StringArray(caIDs), pq.StringArray(subNumbers)); err != nil {
		return nil, fmt.Errorf("upsert: %w", err)
	}
	return nil, nil
}
