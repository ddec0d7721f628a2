package importer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/provisioner/provisioner/csvin"
	"github.com/provisioner/provisioner/provisioning"
)

// row is one data row on its way through the pipeline.
type row struct {
	line     int
	fields   []string // as read, for the rejects file
	draft    provisioning.Draft
	problems []provisioning.Problem
	resolved provisioning.Resolved
}

type counts struct{ rows, created, rejected, immediate int }

// chunk is a run of rows checked together, with the reference data they name.
type chunk struct {
	rows  []*row
	found found
	ready chan error // the lookups are done (nil) or failed
}

// lookupWorkers fetch the reference data of the next chunks while the current one is
// checked and copied: the lookups are round trips to the database, and without this
// the other stages spent most of their time waiting for them.
const lookupWorkers = 2

// pipeline streams the rows of in through stages that run at once, connected by small
// channels of chunks so that memory stays bounded by a few chunks:
//
//	read:    CSV records -> parsed drafts, in chunks (one goroutine)
//	lookup:  each chunk's reference data, with a few bulk queries (lookupWorkers)
//	resolve: Resolve each row, in file order; rejects are written here
//	copy:    good rows -> COPY (stmt nil: a dry run, nothing written)
//
// A whole-file problem comes back as a *refusal.
func (im *Importer) pipeline(ctx context.Context, in io.Reader, size int64, stmt *sql.Stmt, fileID int64, rej *rejects) (counts, error) {
	var c counts
	products, err := loadCatalogue(ctx, im.db)
	if err != nil {
		return c, err
	}
	var pre *preloaded
	if ok, items, err := im.shouldPreload(ctx, size); err != nil {
		return c, err
	} else if ok {
		if pre, err = preload(ctx, im.db, items); errors.Is(err, errCollision) {
			pre = nil // look items up chunk by chunk: slower, as right
		} else if err != nil {
			return c, err
		}
	}
	g, ctx := errgroup.WithContext(ctx)
	// Small buffers: rows in flight are the importer's memory (about 1 KB a row),
	// and the COPY stage sets the pace anyway.
	toLookup := make(chan *chunk, lookupWorkers)
	inOrder := make(chan *chunk, lookupWorkers)
	good := make(chan []*row, 1)
	now := im.opts.Now().UTC()

	g.Go(func() error {
		defer close(toLookup)
		defer close(inOrder)
		return im.read(ctx, in, now, rej, toLookup, inOrder, &c.rows)
	})
	for range lookupWorkers {
		g.Go(func() error {
			for ch := range toLookup {
				ch.ready <- ch.found.fill(ctx, im.db, pre, ch.rows)
			}
			return nil
		})
	}
	g.Go(func() error {
		defer close(good)
		look := &fileLookup{products: products, fileRefs: map[string]int{}}
		for ch := range inOrder {
			select {
			case err := <-ch.ready:
				if err != nil {
					return err
				}
			case <-ctx.Done():
				return ctx.Err()
			}
			look.cur = &ch.found
			ok := ch.rows[:0]
			for _, r := range ch.rows {
				if resolveRow(r, look) {
					r.fields, r.draft = nil, provisioning.Draft{} // only rejects need them
					ok = append(ok, r)
					continue
				}
				c.rejected++
				if err := rej.write(r.fields, r.line, provisioning.Join(r.problems)); err != nil {
					return err
				}
			}
			select {
			case good <- ok:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	g.Go(func() error {
		// The cards that have a row copied already: a later row of the same card waits
		// behind it (waits_behind, migration 000031), and both commit together, so the
		// mark is true when anyone sees it. A card's earlier requests from elsewhere are
		// not looked up: a request left unmarked costs the claim a step, no more.
		cards := map[string]struct{}{}
		for rows := range good {
			for _, r := range rows {
				card := r.resolved.SmartcardCAID
				_, behind := cards[card]
				if !behind && card != "" {
					cards[card] = struct{}{}
				}
				if stmt != nil {
					if _, err := stmt.ExecContext(ctx, CopyValues(&r.resolved, fileID, r.line, behind)...); err != nil {
						return fmt.Errorf("copy line %d: %w", r.line, err)
					}
				}
				c.created++
				if r.resolved.ProcessImmediately {
					c.immediate++
				}
			}
		}
		return nil
	})
	err = g.Wait()
	return c, err
}

// read is the first stage: it reads records, parses each into a draft and sends them
// on in chunks. It counts the rows it reads.
// Each chunk goes to the lookup workers and, in file order, to the resolve stage.
func (im *Importer) read(ctx context.Context, in io.Reader, now time.Time, rej *rejects, toLookup, inOrder chan<- *chunk, rows *int) error {
	cr := csvin.NewReader(in)
	header, err := cr.Header()
	if err != nil {
		return asRefusal(err)
	}
	lay, err := newLayout(header)
	if err != nil {
		return asRefusal(err)
	}
	rej.setHeader(cr.RawHeader(), lay.line, lay.err)

	send := func(rows []*row) error {
		ch := &chunk{rows: rows, ready: make(chan error, 1)}
		for _, out := range []chan<- *chunk{toLookup, inOrder} {
			select {
			case out <- ch:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
	chunk := make([]*row, 0, im.opts.ChunkSize)
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var r *row
		var re *csvin.RowError
		switch {
		case errors.As(err, &re):
			r = &row{line: re.Line, fields: re.Fields, problems: []provisioning.Problem{
				{Code: provisioning.CodeMalformedRow, Message: re.Reason},
			}}
		case err != nil:
			return asRefusal(err)
		default:
			r = &row{line: rec.Line, fields: rec.Fields}
			r.draft, r.problems = provisioning.Parse(lay.instruction(rec.Fields), now)
		}
		*rows++
		if chunk = append(chunk, r); len(chunk) == cap(chunk) {
			if err := send(chunk); err != nil {
				return err
			}
			chunk = make([]*row, 0, im.opts.ChunkSize)
		}
	}
	if len(chunk) > 0 {
		return send(chunk)
	}
	return nil
}

// resolveRow checks a parsed row against the reference data. Problems about a field
// that parsing already found wrong are dropped: they would only repeat it.
func resolveRow(r *row, look *fileLookup) bool {
	if len(r.problems) > 0 && r.problems[0].Code == provisioning.CodeMalformedRow {
		return false
	}
	res, ps := provisioning.Resolve(r.draft, look)
	for _, p := range ps {
		if !hasField(r.problems, p.Field) {
			r.problems = append(r.problems, p)
		}
	}
	if len(r.problems) > 0 {
		return false
	}
	r.resolved = res
	if ref := r.draft.Reference; ref != "" {
		look.fileRefs[ref] = r.line
	}
	return true
}

func hasField(ps []provisioning.Problem, field string) bool {
	for _, p := range ps {
		if p.Field == field {
			return true
		}
	}
	return false
}
