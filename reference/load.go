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
	if _, err := db.ExecContext(ctx, provsql.AnalyzeReference); err != nil {
		return results, fmt.Errorf("analyze reference tables: %w", err)
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
		res.Rows, bad, err = loadChunked(path, checkSubscription, func(_ map[string]bool, rows []Subscription, _ []int) ([]RowError, error) {
			return nil, upsertSubscriptions(ctx, tx, rows)
		})
	case SmartcardsFile, STBsFile:
		kind := provisioning.KindSmartcard
		if res.File == STBsFile {
			kind = provisioning.KindSTB
		}
		res.Rows, bad, err = loadChunked(path, checkItem, func(present map[string]bool, rows []Item, lines []int) ([]RowError, error) {
			return upsertItems(ctx, tx, kind, res.File, present, rows, lines)
		})
	case ProductsFile:
		res.Rows, bad, err = loadChunked(path, checkProduct, func(present map[string]bool, rows []Product, lines []int) ([]RowError, error) {
			return upsertProducts(ctx, tx, res.File, present, rows, lines)
		})
	case EntitlementsFile:
		var el *entitlementLoader
		if el, err = newEntitlementLoader(ctx, tx); err == nil {
			res.Rows, bad, err = loadChunked(path, checkEntitlement, func(present map[string]bool, rows []Entitlement, lines []int) ([]RowError, error) {
				return el.insert(ctx, tx, present, rows, lines)
			})
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

// loadChunked reads the good rows of path and hands them to upsert a chunk at a time,
// with their lines and the columns the file has; upsert returns the rows it finds bad
// against the database. It returns how many good rows were read and every bad row.
func loadChunked[T any](path string, check func(*T) []string,
	upsert func(present map[string]bool, rows []T, lines []int) ([]RowError, error)) (int, []RowError, error) {
	present := map[string]bool{}
	var rows []T
	var lines []int
	var bad []RowError
	n := 0
	flush := func() error {
		if len(rows) == 0 {
			return nil
		}
		rowBad, err := upsert(present, rows, lines)
		bad = append(bad, rowBad...)
		rows, lines = rows[:0], lines[:0]
		return err
	}
	readBad, err := readRowsColumns(path, present, check, func(line int, r *T) error {
		n++
		rows, lines = append(rows, *r), append(lines, line)
		if len(rows) == chunk {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	return n, append(bad, readBad...), err
}

func upsertSubscriptions(ctx context.Context, tx *sqlx.Tx, rows []Subscription) error {
	numbers, states := make([]string, len(rows)), make([]string, len(rows))
	for i, r := range rows {
		numbers[i], states[i] = r.Number, r.State
	}
	if _, err := tx.ExecContext(ctx, provsql.UpsertSubscriptions, pq.StringArray(numbers), pq.StringArray(states)); err != nil {
		return fmt.Errorf("upsert: %w", err)
	}
	return nil
}

// upsertItems upserts one chunk of smartcards or STBs, after checking it against the
// database: rows that name an unknown subscription, take another item's CA id or
// alternative code, or name an item of the other kind are returned as bad.
func upsertItems(ctx context.Context, tx *sqlx.Tx, kind, file string, present map[string]bool, rows []Item, lines []int) ([]RowError, error) {
	var subs, serials, caIDs, alts []string
	for _, r := range rows {
		if r.SubscriptionNumber != "" {
			subs = append(subs, r.SubscriptionNumber)
		}
		serials, caIDs = append(serials, r.SerialNumber), append(caIDs, r.CAID)
		if r.AlternativeCode != "" {
			alts = append(alts, r.AlternativeCode)
		}
	}
	var found []struct {
		ID     int64  `db:"id"`
		Number string `db:"number"`
	}
	if err := tx.SelectContext(ctx, &found, provsql.LookupSubscriptions, pq.StringArray(subs)); err != nil {
		return nil, fmt.Errorf("look up subscriptions: %w", err)
	}
	knownSubs := map[string]bool{}
	for _, s := range found {
		knownSubs[s.Number] = true
	}
	var stored []struct {
		Serial string `db:"serial_number"`
		Kind   string `db:"kind"`
		CAID   string `db:"ca_id"`
		Alt    string `db:"alternative_code"`
	}
	if err := tx.SelectContext(ctx, &stored, provsql.ItemConflicts, pq.StringArray(serials), pq.StringArray(caIDs), pq.StringArray(alts)); err != nil {
		return nil, fmt.Errorf("look up items: %w", err)
	}
	bySerial, byCAID, byAlt := map[string]string{}, map[string]string{}, map[string]string{}
	for _, it := range stored {
		bySerial[it.Serial], byCAID[it.CAID] = it.Kind, it.Serial
		if it.Alt != "" {
			byAlt[it.Alt] = it.Serial
		}
	}

	var bad []RowError
	for i, r := range rows {
		var ps []string
		if r.SubscriptionNumber != "" && !knownSubs[r.SubscriptionNumber] {
			ps = append(ps, fmt.Sprintf("subscription_number: no subscription %s", r.SubscriptionNumber))
		}
		if k, ok := bySerial[r.SerialNumber]; ok && k != kind {
			ps = append(ps, fmt.Sprintf("serial_number: %s is stored as %s, not %s", r.SerialNumber, k, kind))
		}
		if other, ok := byCAID[r.CAID]; ok && other != r.SerialNumber {
			ps = append(ps, fmt.Sprintf("ca_id: %s belongs to %s", r.CAID, other))
		}
		if other, ok := byAlt[r.AlternativeCode]; ok && r.AlternativeCode != "" && other != r.SerialNumber {
			ps = append(ps, fmt.Sprintf("alternative_code: %s belongs to %s", r.AlternativeCode, other))
		}
		if len(ps) > 0 {
			bad = append(bad, RowError{File: file, Line: lines[i], Reason: strings.Join(ps, "; ")})
		}
	}
	if len(bad) > 0 {
		return bad, nil // the file will not load: no need to write
	}
	subNumbers := make([]string, len(rows))
	altCodes := make([]string, len(rows))
	for i, r := range rows {
		subNumbers[i], altCodes[i] = r.SubscriptionNumber, r.AlternativeCode
	}
	if _, err := tx.ExecContext(ctx, provsql.UpsertInstalledItems, kind, pq.StringArray(serials), pq.StringArray(altCodes),
		pq.StringArray(caIDs), pq.StringArray(subNumbers), present["alternative_code"], present["subscription_number"]); err != nil {
		return nil, fmt.Errorf("upsert: %w", err)
	}
	return nil, nil
}

// upsertProducts upserts one chunk of products after checking that none takes
// another product's CA id or alternative code.
func upsertProducts(ctx context.Context, tx *sqlx.Tx, file string, present map[string]bool, rows []Product, lines []int) ([]RowError, error) {
	n := len(rows)
	codes, alts, classes, caIDs := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, p := range rows {
		codes[i], alts[i], classes[i], caIDs[i] = p.Code, p.AlternativeCode, p.Classification, p.CAID
	}
	var stored []struct {
		Code string `db:"code"`
		CAID string `db:"ca_id"`
		Alt  string `db:"alternative_code"`
	}
	if err := tx.SelectContext(ctx, &stored, provsql.ProductConflicts, pq.StringArray(codes), pq.StringArray(caIDs), pq.StringArray(alts)); err != nil {
		return nil, fmt.Errorf("look up products: %w", err)
	}
	byCAID, byAlt := map[string]string{}, map[string]string{}
	for _, p := range stored {
		if p.CAID != "" {
			byCAID[p.CAID] = p.Code
		}
		if p.Alt != "" {
			byAlt[p.Alt] = p.Code
		}
	}
	var bad []RowError
	for i, p := range rows {
		var ps []string
		if other, ok := byCAID[p.CAID]; ok && p.CAID != "" && other != p.Code {
			ps = append(ps, fmt.Sprintf("ca_id: %s belongs to product %s", p.CAID, other))
		}
		if other, ok := byAlt[p.AlternativeCode]; ok && p.AlternativeCode != "" && other != p.Code {
			ps = append(ps, fmt.Sprintf("alternative_code: %s belongs to product %s", p.AlternativeCode, other))
		}
		if len(ps) > 0 {
			bad = append(bad, RowError{File: file, Line: lines[i], Reason: strings.Join(ps, "; ")})
		}
	}
	if len(bad) > 0 {
		return bad, nil
	}
	if _, err := tx.ExecContext(ctx, provsql.UpsertProducts, pq.StringArray(codes), pq.StringArray(alts),
		pq.StringArray(classes), pq.StringArray(caIDs), present["alternative_code"]); err != nil {
		return nil, fmt.Errorf("upsert: %w", err)
	}
	return nil, nil
}
