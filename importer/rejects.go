package importer

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/provisioner/provisioner/internal/escape"
)

// rejects writes the rejected rows of one file as CSV: the file's own columns, then
// `line` and `error`. A rejects file can be fixed and dropped back into the inbox as it
// is: the importer ignores its line and error columns, and a rejects file of a rejects
// file reuses them instead of adding more.
//
// A rejects file is written under a temporary name and renamed by commit once the
// import's transaction has committed, so that a failed import leaves no rejects behind.
type rejects struct {
	dst       io.Writer // a dry run's destination, or nil to write a file
	final     string
	file      *os.File
	w         *csv.Writer
	header    []string
	width     int // columns of the file itself
	lineCol   int
	errCol    int
	n         int
	headerOut bool
}

// rejectsTo writes rejects to w (a dry run: printed, not filed).
func rejectsTo(w io.Writer) *rejects { return &rejects{dst: w} }

// rejectsFile writes rejects to path, once committed.
func rejectsFile(path string) *rejects { return &rejects{final: path} }

func (r *rejects) setHeader(raw []string, lineCol, errCol int) {
	r.header = append([]string(nil), raw...)
	r.width = len(raw)
	if lineCol < 0 {
		lineCol = len(r.header)
		r.header = append(r.header, colLine)
	}
	if errCol < 0 {
		errCol = len(r.header)
		r.header = append(r.header, colError)
	}
	r.lineCol, r.errCol = lineCol, errCol
}

func (r *rejects) write(fields []string, line int, reason string) error {
	if r.w == nil {
		out := r.dst
		if out == nil {
			// 0600: rejected rows hold what the files hold, a set_pin's PIN
			// included. Chmod too: a .tmp left by a crash keeps its old mode.
			f, err := os.OpenFile(r.final+".tmp", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
			if err == nil {
				err = f.Chmod(0o600)
			}
			if err != nil {
				return fmt.Errorf("rejects: %w", err)
			}
			r.file, out = f, f
		}
		r.w = csv.NewWriter(out)
	}
	if !r.headerOut {
		if err := r.w.Write(r.header); err != nil {
			return fmt.Errorf("rejects: %w", err)
		}
		r.headerOut = true
	}
	rec := make([]string, len(r.header), len(r.header)+max(0, len(fields)-r.width))
	copy(rec, fields[:min(len(fields), r.width)])
	rec[r.lineCol] = strconv.Itoa(line)
	rec[r.errCol] = reason
	if len(fields) > r.width {
		// A row with more fields than the header: keep them all, after ours.
		rec = append(rec, fields[r.width:]...)
	}
	if r.dst != nil {
		// Printed (a dry run), not filed: the operator's terminal must not obey
		// an ESC in a field. A rejects file keeps the rows as given, to be fixed
		// and dropped again.
		for i := range rec {
			rec[i] = escape.Control(rec[i])
		}
	}
	r.n++
	if err := r.w.Write(rec); err != nil {
		return fmt.Errorf("rejects: %w", err)
	}
	return nil
}

// flush writes out what is buffered; it is called before the import commits, so that
// a full disk fails the import rather than losing rejects.
func (r *rejects) flush() error {
	if r.w == nil {
		return nil
	}
	r.w.Flush()
	if err := r.w.Error(); err != nil {
		return fmt.Errorf("rejects: %w", err)
	}
	if r.file != nil {
		if err := r.file.Sync(); err != nil {
			return fmt.Errorf("rejects: %w", err)
		}
		if err := r.file.Close(); err != nil {
			return fmt.Errorf("rejects: %w", err)
		}
		r.file = nil
	}
	return nil
}

// commit puts the rejects file in place; it returns its path, or "" when no row was
// rejected.
func (r *rejects) commit() (string, error) {
	if r.n == 0 || r.dst != nil {
		return "", nil
	}
	if err := os.Rename(r.final+".tmp", r.final); err != nil {
		return "", fmt.Errorf("rejects: %w", err)
	}
	return r.final, nil
}

// discard drops a rejects file that will not be committed.
func (r *rejects) discard() {
	if r.file != nil {
		r.file.Close()
		r.file = nil
	}
	if r.dst == nil && r.n > 0 {
		os.Remove(r.final + ".tmp")
	}
}
