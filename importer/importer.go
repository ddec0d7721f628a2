package importer

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/csvin"
	"github.com/provisioner/provisioner/provisioning"
	provsql "github.com/provisioner/provisioner/sql"
	"github.com/provisioner/provisioner/store"
)

// State is what became of a file.
type State string

// The states of an import; the first three are also the import record's.
const (
	Imported  State = "IMPORTED"  // its good rows are requests now
	Duplicate State = "DUPLICATE" // the same content was imported before: nothing created
	Refused   State = "FAILED"    // refused whole (encoding, header, broken CSV): nothing created
	// Validated is the state of a dry run: checked, nothing written.
	Validated State = "VALIDATED"
	// Recovered is a file found in processing/ after a crash that had in fact been
	// imported (the crash came after the commit): it is only moved on.
	Recovered State = "RECOVERED"
)

// Options tune an Importer. The zero value is usable.
type Options struct {
	// ChunkSize is how many rows are checked against the reference data together.
	ChunkSize int
	// DryRun checks every row and reports, but writes nothing anywhere: no request,
	// no import record, no file moved; rejected rows go to RejectsOut.
	DryRun     bool
	RejectsOut io.Writer
	// Now is the clock; scheduled_date of rows that give none. Default time.Now.
	Now func() time.Time
	// PreloadMaxItems is the largest fleet of installed items the importer reads
	// into memory at once for a large file instead of looking items up chunk by
	// chunk (see preload.go). 0: DefaultPreloadMaxItems; negative: never.
	PreloadMaxItems int
	// Progress, when set, wraps a file's reader to show progress (bytes read of size).
	Progress func(name string, size int64, r io.Reader) (io.Reader, func())
	// FileTimeout bounds the statements of a file's transaction, its COPY above all,
	// which streams the whole file as one statement and so outlasts the connection's
	// statement_timeout on a large file. 0: DefaultFileTimeout.
	FileTimeout time.Duration
}

// DefaultFileTimeout is an hour: 10 million rows import in a few minutes.
const DefaultFileTimeout = time.Hour

// MaxFileTimeout is the most a file's statements may be given. A request's number
// follows its creation time only up to the length of the transaction that created
// it (created_at is the transaction's start, the number is drawn as the row goes
// in), and the created-date filters of `requests list` and the console rely on that
// lag being under ops.CreateSkew, twice this.
const MaxFileTimeout = time.Hour

// Importer imports instruction files into the database.
type Importer struct {
	db   *store.DB
	log  logrus.FieldLogger
	opts Options
}

// New returns an Importer.
func New(db *store.DB, log logrus.FieldLogger, opts Options) *Importer {
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = 2000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.PreloadMaxItems == 0 {
		opts.PreloadMaxItems = DefaultPreloadMaxItems
	}
	if opts.FileTimeout <= 0 {
		opts.FileTimeout = DefaultFileTimeout
	}
	return &Importer{db: db, log: log, opts: opts}
}

// Result is what became of one file.
type Result struct {
	Path        string // where the file was read
	Name        string // the name recorded for it
	SHA256      string
	State       State
	FileID      int64 // the import record, when one was written
	DuplicateOf int64 // the earlier import of the same content
	Rows        int   // data rows read
	Created     int   // requests created
	Rejected    int   // rows rejected
	Immediate   int   // requests created with process_immediately: to send at once
	Reason      string
	Rejects     string // the rejects file written, if any
	Duration    time.Duration
}

// refusal is a reason to refuse a whole file.
type refusal struct{ reason string }

func (r *refusal) Error() string { return r.reason }

// importFile imports the open file f, recorded under name, writing rejected rows to
// rej. recovering says f was found in processing/ after a crash: if it was in fact
// imported then, it is not a duplicate of itself. It returns an error only for what may go better next time (the database is
// down, the disk is full): the caller leaves the file where it is. A file refused whole
// is a Result in state Refused.
func (im *Importer) importFile(ctx context.Context, f *os.File, name string, rej *rejects, recovering bool) (res Result, err error) {
	started := im.opts.Now()
	res = Result{Path: f.Name(), Name: name}
	defer func() { res.Duration = im.opts.Now().Sub(started) }()

	sum, size, err := hashFile(f)
	if err != nil {
		return res, err
	}
	res.SHA256 = sum

	if !im.opts.DryRun {
		prev, found, err := im.previousImport(ctx, sum)
		if err != nil {
			return res, err
		}
		if found {
			if recovering && prev.Name == name {
				// The very file, imported before a crash kept it from being moved on.
				// It reports what that import did, as recorded at its commit: 0 rows and
				// exit 0 hid the rows it had rejected (issue 16, item 5).
				res.State, res.FileID = Recovered, prev.ID
				res.Rows, res.Created, res.Rejected = prev.Rows, prev.Created, prev.Rejected
				return res, nil
			}
			return im.duplicate(ctx, res, started, prev)
		}
	}

	var in io.Reader = f
	if im.opts.Progress != nil {
		var done func()
		in, done = im.opts.Progress(name, size, f)
		defer done()
	}
	if im.opts.DryRun {
		return im.validateFile(ctx, res, in, size, rej)
	}
	return im.importRows(ctx, res, started, in, size, rej)
}

// validateFile is importFile's dry run: the rows go through the pipeline, checked
// and counted, and nothing is written but the rejects.
func (im *Importer) validateFile(ctx context.Context, res Result, in io.Reader, size int64, rej *rejects) (Result, error) {
	c, err := im.pipeline(ctx, in, size, nil, 0, rej)
	var ref *refusal
	switch {
	case errors.As(err, &ref):
		res.State, res.Reason = Refused, ref.reason // reported, not recorded
		return res, nil
	case err != nil:
		return res, err
	}
	c.fill(&res, Validated)
	return res, rej.flush()
}

// importRows records the import and copies the file's requests in one transaction,
// so that a file is imported whole or not at all; a file refused midway is recorded
// as refused instead.
func (im *Importer) importRows(ctx context.Context, res Result, started time.Time, in io.Reader, size int64, rej *rejects) (Result, error) {
	// The transaction is not bound to ctx: on cancellation database/sql would roll it
	// back from its own goroutine while lib/pq's COPY goroutine still reads the same
	// connection (a data race). The stages stop on ctx instead, and the deferred
	// Rollback runs once they have.
	tx, err := im.db.BeginTxx(context.WithoutCancel(ctx), nil)
	if err != nil {
		return res, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, provsql.FileTimeout, fmt.Sprint(im.opts.FileTimeout.Milliseconds())); err != nil {
		return res, fmt.Errorf("begin: %w", err)
	}
	if err := tx.GetContext(ctx, &res.FileID, provsql.InsertImportFile, res.Name, res.SHA256, Imported, started, nil, nil); err != nil {
		if store.IsUniqueViolation(err, "import_files_imported_sha256") {
			// Another importer committed the same content while we hashed.
			tx.Rollback()
			prev, _, err := im.previousImport(ctx, res.SHA256)
			if err != nil {
				return res, err
			}
			return im.duplicate(ctx, res, started, prev)
		}
		return res, fmt.Errorf("record import: %w", err)
	}
	stmt, err := tx.PrepareContext(ctx, provsql.CopyRequests)
	if err != nil {
		return res, fmt.Errorf("start copy: %w", err)
	}
	c, err := im.copyRows(ctx, stmt, in, size, res.FileID, rej)
	var ref *refusal
	if errors.As(err, &ref) {
		tx.Rollback()
		res.FileID = 0
		return im.refuse(ctx, res, started, ref.reason)
	}
	if err != nil {
		return res, err
	}
	if _, err := tx.ExecContext(ctx, provsql.FinishImportFile, res.FileID, c.rows, c.created, c.rejected); err != nil {
		return res, fmt.Errorf("record import: %w", err)
	}
	if err := rej.flush(); err != nil {
		return res, err
	}
	if c.created > 0 {
		im.refreshStats(ctx, tx)
	}
	if err := tx.Commit(); err != nil {
		return res, fmt.Errorf("commit: %w", err)
	}
	c.fill(&res, Imported)
	return res, nil
}

// copyRows runs the pipeline into the prepared COPY stmt and ends the COPY; stmt is
// closed on return.
func (im *Importer) copyRows(ctx context.Context, stmt *sql.Stmt, in io.Reader, size, fileID int64, rej *rejects) (counts, error) {
	defer stmt.Close()
	c, err := im.pipeline(ctx, in, size, stmt, fileID, rej)
	if err == nil {
		// Exec with no arguments ends the COPY and reports any error of the stream.
		_, err = stmt.ExecContext(ctx)
	}
	return c, err
}

// refreshStats analyses the requests, in the file's transaction, if its rows leave
// the planner's statistics far behind (store.RefreshRequestStatsTx): the statistics
// then commit with the rows, and the immediate send, the next run and operators'
// reads never meet the rows without them. In a savepoint: a failure (a lock wait
// cut by the statement timeout, a role that may not analyse) is logged and costs
// the file nothing.
func (im *Importer) refreshStats(ctx context.Context, tx *sqlx.Tx) {
	c, err := store.RefreshRequestStatsTx(ctx, tx)
	c.Log(im.log, err)
}

// fill puts the counts of a finished pipeline into res.
func (c counts) fill(res *Result, state State) {
	res.Rows, res.Created, res.Rejected, res.Immediate, res.State = c.rows, c.created, c.rejected, c.immediate, state
}

type previous struct {
	ID       int64  `db:"id"`
	Name     string `db:"name"`
	Rows     int    `db:"rows_read"`
	Created  int    `db:"rows_created"`
	Rejected int    `db:"rows_rejected"`
}

// previousImport finds the import that already brought in the content sum.
func (im *Importer) previousImport(ctx context.Context, sum string) (previous, bool, error) {
	var prev previous
	err := im.db.GetContext(ctx, &prev, provsql.ImportedBySHA256, sum)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return prev, false, nil
	case err != nil:
		return prev, false, fmt.Errorf("look up earlier imports: %w", err)
	}
	return prev, true, nil
}

// duplicate records that content already imported arrived again.
func (im *Importer) duplicate(ctx context.Context, res Result, started time.Time, prev previous) (Result, error) {
	res.State, res.DuplicateOf = Duplicate, prev.ID
	res.Reason = fmt.Sprintf("same content (SHA-256 %s…) as import %d (%s)", res.SHA256[:12], prev.ID, prev.Name)
	if err := im.db.GetContext(ctx, &res.FileID, provsql.InsertImportFile, res.Name, res.SHA256, Duplicate, started, prev.ID, nil); err != nil {
		return res, fmt.Errorf("record duplicate: %w", err)
	}
	return res, nil
}

// refuse records a file refused whole.
func (im *Importer) refuse(ctx context.Context, res Result, started time.Time, reason string) (Result, error) {
	res.State, res.Reason = Refused, reason
	if err := im.db.GetContext(ctx, &res.FileID, provsql.InsertImportFile, res.Name, res.SHA256, Refused, started, nil, reason); err != nil {
		return res, fmt.Errorf("record refusal: %w", err)
	}
	return res, nil
}

func hashFile(f *os.File) (string, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", 0, fmt.Errorf("rewind %s: %w", f.Name(), err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// asRefusal turns the CSV layer's whole-file errors into refusals.
func asRefusal(err error) error {
	var fe *csvin.FileError
	if errors.As(err, &fe) {
		return &refusal{fe.Error()}
	}
	var he *headerError
	if errors.As(err, &he) {
		return &refusal{he.Error()}
	}
	return err
}

// CopyValues are the COPY values of one resolved request from line of import file
// fileID, in the column order of sql/queries/copy_requests.sql; behind: an earlier
// row of the file has the same smartcard. Exported for the benchmark's raw-COPY
// baseline, which must write exactly what the importer writes.
func CopyValues(r *provisioning.Resolved, fileID int64, line int, behind bool) []any {
	return append(store.RequestValues(r), fileID, line, behind)
}
