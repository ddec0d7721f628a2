package csvin

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzReader checks the guarantees that must hold for any input:
//   - no panic (in Reader or NewCSVReader);
//   - errors are *FileError (with a content Code and a line in the file), *RowError
//     or io.EOF, and a *FileError is sticky;
//   - every Record has exactly len(header) fields;
//   - lines of records and row errors strictly increase after the header line, and
//     none is beyond the file's last line (newlines + 1);
//   - the outcome does not depend on how the bytes are split into reads.
func FuzzReader(f *testing.F) {
	for _, cases := range [][]readerCase{encodingCases, lineCases, headerCases, fieldCountCases, quoteCases} {
		for _, c := range cases {
			f.Add([]byte(c.in))
		}
	}
	if dir, ok := fuzzCorpusDir(); ok {
		for _, sub := range []string{"rvl-csv-corpus", filepath.Join("csv-spectrum", "csvs")} {
			paths, _ := filepath.Glob(filepath.Join(dir, sub, "*.csv"))
			for _, p := range paths {
				if b, err := os.ReadFile(p); err == nil {
					f.Add(b)
				}
			}
		}
	}

	f.Fuzz(func(t *testing.T, in []byte) {
		maxLine := bytes.Count(in, []byte{'\n'}) + 1

		r := NewReader(bytes.NewReader(in))
		h, err := r.Header()
		var fe *FileError
		switch {
		case err == nil:
			if len(h) == 0 || r.HeaderLine() < 1 || r.HeaderLine() > maxLine {
				t.Fatalf("header %q on line %d of %d", h, r.HeaderLine(), maxLine)
			}
		case errors.As(err, &fe):
			checkFileError(t, fe, maxLine)
			if _, again := r.Read(); again != err {
				t.Fatalf("Read after Header's %v: %v", err, again)
			}
			checkSplitReads(t, in)
			return
		default:
			t.Fatalf("Header: %T %v", err, err)
		}

		last := r.HeaderLine()
		for i := 0; ; i++ {
			if i > maxLine {
				t.Fatalf("more than %d Reads for %d lines", i, maxLine)
			}
			rec, err := r.Read()
			line := 0
			switch e := err.(type) {
			case nil:
				if len(rec.Fields) != len(h) {
					t.Fatalf("line %d: %d fields, header has %d", rec.Line, len(rec.Fields), len(h))
				}
				line = rec.Line
			case *RowError:
				line = e.Line
			case *FileError:
				checkFileError(t, e, maxLine)
				for range 2 {
					if _, again := r.Read(); again != err {
						t.Fatalf("FileError %v not sticky: %v", err, again)
					}
				}
				checkSplitReads(t, in)
				return
			default:
				if err != io.EOF {
					t.Fatalf("Read: %T %v", err, err)
				}
				if _, again := r.Read(); again != io.EOF {
					t.Fatalf("Read after EOF: %v", again)
				}
				checkSplitReads(t, in)
				return
			}
			if line <= last || line > maxLine {
				t.Fatalf("line %d after line %d (file has %d lines)", line, last, maxLine)
			}
			last = line
		}
	})
}

func checkFileError(t *testing.T, fe *FileError, maxLine int) {
	t.Helper()
	switch {
	case fe.Code != CodeEncoding && fe.Code != CodeHeaders && fe.Code != CodeParse:
		t.Fatalf("FileError with code %q: %v", fe.Code, fe)
	case fe.Reason == "" || fe.Line < 0 || fe.Line > maxLine:
		t.Fatalf("FileError on line %d of %d: %q", fe.Line, maxLine, fe.Reason)
	}
}

// checkSplitReads compares the whole read with byte-at-a-time and 3-byte reads, and
// runs NewCSVReader to the end.
func checkSplitReads(t *testing.T, in []byte) {
	t.Helper()
	want := readAll(t, bytes.NewReader(in))
	for _, s := range sources[1:] {
		if got := readAll(t, s.wrap(in)); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s reads differ:\n got %+v\nwant %+v", s.name, got, want)
		}
	}

	cr := NewCSVReader(bytes.NewReader(in))
	for range bytes.Count(in, []byte{'\n'}) + 2 {
		_, err := cr.Read()
		var fe *FileError
		var pe *csv.ParseError
		if err == io.EOF || errors.As(err, &fe) {
			return
		}
		if err != nil && !errors.As(err, &pe) {
			t.Fatalf("NewCSVReader: %T %v", err, err)
		}
	}
	t.Fatal("NewCSVReader does not reach the end")
}

func fuzzCorpusDir() (string, bool) {
	dir := sharedTestdataPath()
	_, err := os.Stat(dir)
	return dir, err == nil
}
