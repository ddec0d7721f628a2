package csvin

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
)

// Record is one data record.
type Record struct {
	Line   int      // physical 1-based line where the record starts
	Fields []string // exactly len(header) fields, as written (not trimmed)
}

// Reader reads a header-first CSV file. It is not safe for concurrent use.
type Reader struct {
	v  *validator
	cr *csv.Reader

	headerDone bool
	header     []string // normalised names
	raw        []string // names as written, same length as header
	headerLine int

	err error // sticky: a *FileError, or io.EOF once the file is exhausted
}

// NewReader returns a Reader over r. Nothing is read until Header is called.
func NewReader(r io.Reader) *Reader {
	v := newValidator(r)
	cr := csv.NewReader(v)
	// Field counts are checked here, not by encoding/csv: trailing empty fields are
	// tolerated, and the count has to be compared with the trimmed header.
	cr.FieldsPerRecord = -1
	return &Reader{v: v, cr: cr}
}

// NewCSVReader returns an *encoding/csv.Reader over the same validated byte stream
// (BOM stripped, encoding checked) for callers that decode with gocsv. Errors from the
// validation surface from its Read as *FileError (check with errors.As); encoding/csv
// passes them through unwrapped, and the validator delivers them at a line boundary so
// that a quoting error in half a line cannot come first (except for lines longer than
// 64 KiB). The Reader's own rules (sep= line, blank-looking records, header checks,
// field counts) are not applied: the csv.Reader has encoding/csv's defaults.
func NewCSVReader(r io.Reader) *csv.Reader {
	return csv.NewReader(newValidator(r))
}

// Header reads the header record, skipping leading blank lines and an optional first
// line `sep=,` as Excel writes it. It returns the column names trimmed of spaces and
// lowercased. It returns a *FileError when the file has no header or is refused whole.
// Later calls return the same result.
func (r *Reader) Header() ([]string, error) {
	if !r.headerDone {
		r.headerDone = true
		if err := r.readHeader(); err != nil {
			r.err = err
		}
	}
	if r.header == nil {
		return nil, r.err
	}
	return append([]string(nil), r.header...), nil
}

// HeaderLine is the physical line of the header (1-based), 0 before Header succeeds.
func (r *Reader) HeaderLine() int { return r.headerLine }

// RawHeader is the header as written (after BOM stripping, before trimming), for
// echoing back to users. It has the same length as Header: RawHeader()[i] is how
// column i was written.
func (r *Reader) RawHeader() []string { return append([]string(nil), r.raw...) }

func (r *Reader) readHeader() *FileError {
	first, sepSeen := true, false
	for {
		rec, err := r.cr.Read()
		if err == io.EOF {
			reason := "no header: the file has only blank lines"
			switch {
			case r.v.delivered == 0:
				reason = "no header: the file is empty"
			case sepSeen:
				reason = "no header: the file has only a sep=, line"
			}
			return &FileError{Code: CodeHeaders, Reason: reason}
		}
		if err != nil {
			fe, re := r.classify(err, rec)
			if re != nil { // recoverable in data, but without a header there is no file
				fe = &FileError{Line: re.Line, Code: CodeParse, Reason: "header: " + re.Reason}
			}
			return fe
		}
		if isBlankRecord(rec) {
			continue
		}
		line, _ := r.cr.FieldPos(0)
		if first && len(rec[0]) >= 4 && strings.EqualFold(rec[0][:4], "sep=") {
			first = false
			// Excel's `sep=,` parses as the two fields "sep=" and "".
			if len(rec[0]) == 4 && len(rec) == 2 && isBlank(rec[1]) {
				sepSeen = true
				continue
			}
			reason := "sep= line names no delimiter; only comma is supported"
			if delim := strings.Join(rec, ",")[4:]; delim != "" {
				reason = fmt.Sprintf("unsupported delimiter %q in sep= line; only comma is supported", delim)
			}
			return &FileError{Line: line, Code: CodeHeaders, Reason: reason}
		}
		first = false
		return r.setHeader(rec, line)
	}
}

func (r *Reader) setHeader(rec []string, line int) *FileError {
	names := make([]string, len(rec))
	for i, f := range rec {
		names[i] = strings.ToLower(strings.TrimFunc(f, isSpaceOrBOM))
	}
	n := len(names)
	for n > 0 && names[n-1] == "" {
		n-- // spreadsheets leave empty columns at the right
	}
	if n == 0 {
		return &FileError{Line: line, Code: CodeHeaders, Reason: "the header has no column names"}
	}
	seen := make(map[string]int, n)
	for i, name := range names[:n] {
		switch {
		case name == "":
			return &FileError{Line: line, Code: CodeHeaders, Reason: fmt.Sprintf("column %d has no name", i+1)}
		case strings.ContainsAny(name, "\r\n"):
			// A quoted name spanning lines, or a file with CR-only line endings whose
			// lines all ran into one "header": neither names a column.
			return &FileError{Line: line, Code: CodeHeaders,
				Reason: fmt.Sprintf("column %d name contains a line break (CR-only line endings?)", i+1)}
		}
		if j, dup := seen[name]; dup {
			return &FileError{Line: line, Code: CodeHeaders,
				Reason: fmt.Sprintf("duplicate column %q (columns %d and %d)", name, j+1, i+1)}
		}
		seen[name] = i
	}
	r.header, r.raw, r.headerLine = names[:n:n], rec[:n:n], line
	return nil
}

// Read returns the next data record. Record.Line is the physical 1-based line where
// the record starts. At the end it returns io.EOF. A problem confined to one record
// returns a *RowError and reading may continue; a problem with the whole file returns
// a *FileError and every later Read returns the same error. Read calls Header if it
// has not been called.
func (r *Reader) Read() (Record, error) {
	if !r.headerDone {
		r.Header()
	}
	if r.err != nil {
		return Record{}, r.err
	}
	for {
		rec, err := r.cr.Read()
		if err == io.EOF {
			r.err = io.EOF
			return Record{}, io.EOF
		}
		if err != nil {
			fe, re := r.classify(err, rec)
			if re != nil {
				return Record{}, re
			}
			r.err = fe
			return Record{}, fe
		}
		if isBlankRecord(rec) {
			continue // blank-looking lines and spreadsheet rows of empty cells
		}
		line, _ := r.cr.FieldPos(0)
		n := len(r.header)
		if len(rec) > n {
			m := len(rec)
			for m > n && isBlank(rec[m-1]) {
				m-- // spreadsheets pad rows with empty cells beyond the last column
			}
			rec = rec[:m:m]
		}
		if len(rec) != n {
			return Record{}, &RowError{Line: line, Fields: rec, Reason: fmt.Sprintf("has %s, the header has %d", plural(len(rec), "field"), n)}
		}
		return Record{Line: line, Fields: rec}, nil
	}
}

// classify turns an error from encoding/csv into either a *FileError or a *RowError.
//
// Quote errors, from experiments with encoding/csv (go1.26): after ErrBareQuote or
// ErrQuote it discards the rest of the physical line where it noticed the problem and
// starts the next Read on the following line, with its line count intact. So:
//
//   - the problem is on the record's only line (StartLine == Line): RowError. The next
//     record starts on the next line, as the writer most likely meant: whatever the
//     stray quote was (an inch mark, an unescaped quote in quotes), the line ended
//     the record.
//   - the record spans lines (a quoted field was open across a line break): FileError.
//     The opening quote may itself have been the mistake and have swallowed real
//     records (`1,"oops` then `2,"x"y` loses record 2 without a trace), so nothing
//     after it can be trusted to start where it seems to.
//   - an unterminated quoted field runs to the end of the file: FileError naming the
//     line where the field starts.
func (r *Reader) classify(err error, partial []string) (*FileError, *RowError) {
	var fe *FileError
	if r.v.errDelivered {
		// encoding/csv met the validator's error (possibly after a quote error in the
		// start of an over-long line): that error is the real one
		return r.v.err, nil
	}
	if errors.As(err, &fe) {
		return fe, nil
	}
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return &FileError{Code: CodeParse, Reason: "csv: " + err.Error(), Err: err}, nil
	}
	field := len(partial) + 1 // encoding/csv returns the fields completed before the error
	if pe.Err == csv.ErrQuote && r.v.pastEnd(pe.Line, pe.Column) {
		line := pe.StartLine
		if k := len(partial); k > 0 {
			// The open field starts where field k ended: on field k's line plus the
			// line breaks inside it (only quoted fields hold any; CRLF reads as LF).
			l, _ := r.cr.FieldPos(k - 1)
			line = l + strings.Count(partial[k-1], "\n")
		}
		return &FileError{Line: line, Code: CodeParse,
			Reason: "unterminated quoted field (no closing quote before the end of the file)"}, nil
	}
	var what string
	switch pe.Err {
	case csv.ErrBareQuote:
		what = fmt.Sprintf(`bare " in unquoted field %d`, field)
	case csv.ErrQuote:
		what = fmt.Sprintf(`unescaped " in quoted field %d`, field)
	default:
		return &FileError{Line: pe.StartLine, Code: CodeParse, Reason: pe.Err.Error(), Err: err}, nil
	}
	if pe.StartLine != pe.Line {
		return &FileError{Line: pe.StartLine, Code: CodeParse,
			Reason: fmt.Sprintf("%s on line %d of a record spanning several lines: cannot tell where the next records start", what, pe.Line)}, nil
	}
	return nil, &RowError{Line: pe.StartLine, Fields: partial, Reason: what}
}

// isBlank reports whether a field holds nothing but spaces and tabs. Such fields and
// records are what editors and spreadsheets leave behind, not data.
func isBlank(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != ' ' && s[i] != '\t' {
			return false
		}
	}
	return true
}

// isBlankRecord reports whether a record is a line of blanks (`   `) or of empty cells
// (`,,,,`). encoding/csv skips only truly empty lines.
func isBlankRecord(rec []string) bool {
	for _, f := range rec {
		if !isBlank(f) {
			return false
		}
	}
	return true
}

// isSpaceOrBOM trims header names: a stray U+FEFF (a second BOM, or one left by
// concatenating files) would otherwise make a column silently unknown.
func isSpaceOrBOM(c rune) bool { return unicode.IsSpace(c) || c == '\uFEFF' }

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
