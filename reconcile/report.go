package reconcile

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/provisioner/provisioner/provisioning"
)

// ReportHeader is the drift report's header.
var ReportHeader = []string{"card", "subscription", "kind", "expected", "actual", "action", "request_number"}

// Column indexes of the report.
const (
	colAction  = 5
	colRequest = 6
)

// report is the drift report being written: to a .part file first, renamed when the
// run ends, so that a report in the folder is always whole.
type report struct {
	path, part string
	f          *os.File
	bw         *bufio.Writer
	w          *csv.Writer
}

// ReportName is the report file of run id started at t.
func ReportName(id int64, t time.Time) string {
	return fmt.Sprintf("reconcile-%06d-%s.csv", id, t.UTC().Format("20060102T150405Z"))
}

// createReport creates the report of run id in dir: the folder 0700 and the file
// 0600, as they name the fleet's cards and subscriptions.
func createReport(dir string, id int64, t time.Time) (*report, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("reports folder: %w", err)
	}
	path := filepath.Join(dir, ReportName(id, t))
	part := filepath.Join(dir, "."+filepath.Base(path)+".part")
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("drift report: %w", err)
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	r := &report{path: path, part: part, f: f, bw: bw, w: csv.NewWriter(bw)}
	if err := r.w.Write(ReportHeader); err != nil {
		r.abort()
		return nil, fmt.Errorf("drift report: %w", err)
	}
	return r, nil
}

func (r *report) row(rec []string) error { return r.w.Write(rec) }

// finish writes the report out and puts it in place. When rewrite is set (the run
// created nothing after all: capped, failed), each row's action gets note and its
// request number is cleared: the rows were written before it was known.
func (r *report) finish(rewrite bool, note string) error {
	r.w.Flush()
	if err := r.w.Error(); err != nil {
		r.abort()
		return fmt.Errorf("drift report: %w", err)
	}
	// csv.Writer flushed into the bufio.Writer: flush that too.
	if err := r.bw.Flush(); err != nil {
		r.abort()
		return fmt.Errorf("drift report: %w", err)
	}
	if rewrite {
		if err := r.rewrite(note); err != nil {
			r.abort()
			return err
		}
	}
	if err := r.f.Sync(); err != nil {
		r.abort()
		return fmt.Errorf("drift report: %w", err)
	}
	if err := r.f.Close(); err != nil {
		os.Remove(r.part)
		return fmt.Errorf("drift report: %w", err)
	}
	if err := os.Rename(r.part, r.path); err != nil {
		os.Remove(r.part)
		return fmt.Errorf("drift report: %w", err)
	}
	return nil
}

// rewrite streams the part file into a new one with the note in every row's action.
func (r *report) rewrite(note string) error {
	in, err := os.Open(r.part)
	if err != nil {
		return fmt.Errorf("drift report: %w", err)
	}
	defer in.Close()
	tmp := r.part + ".2"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("drift report: %w", err)
	}
	bw := bufio.NewWriterSize(out, 64<<10)
	cw := csv.NewWriter(bw)
	cr := csv.NewReader(bufio.NewReader(in))
	for first := true; ; first = false {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			out.Close()
			os.Remove(tmp)
			return fmt.Errorf("drift report: %w", err)
		}
		if !first && isCorrection(rec[colAction]) {
			rec[colAction], rec[colRequest] = rec[colAction]+" ("+note+")", ""
		}
		if err := cw.Write(rec); err != nil {
			out.Close()
			os.Remove(tmp)
			return fmt.Errorf("drift report: %w", err)
		}
	}
	cw.Flush()
	err = cw.Error()
	if err == nil {
		err = bw.Flush()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("drift report: %w", err)
	}
	r.f.Close()
	if err := os.Rename(tmp, r.part); err != nil {
		return fmt.Errorf("drift report: %w", err)
	}
	r.f, err = os.OpenFile(r.part, os.O_RDONLY, 0)
	return err
}

func (r *report) abort() {
	r.f.Close()
	os.Remove(r.part)
}

// isCorrection reports whether a report's action is a request type: a correction.
func isCorrection(action string) bool {
	for _, t := range provisioning.Types {
		if action == string(t) {
			return true
		}
	}
	return false
}
