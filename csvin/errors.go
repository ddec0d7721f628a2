package csvin

import "fmt"

// Stable machine codes for FileError.Code. Callers switch on these (and write them
// into reports), so their spelling must not change.
const (
	CodeEncoding = "E_ENCODING"  // not UTF-8: foreign BOM, NUL byte, invalid sequence
	CodeHeaders  = "E_HEADERS"   // no header, or a header that cannot name the columns
	CodeParse    = "E_CSV_PARSE" // quoting that leaves no reliable record boundaries
	CodeIO       = "E_IO"        // the underlying reader failed; Err holds its error
)

// FileError refuses a whole file: nothing after it can be trusted, so every later
// Read returns the same error.
type FileError struct {
	Line   int    // physical 1-based line, 0 when it is not about a line
	Reason string // short, lowercase, for an operator; does not repeat Line
	Code   string // one of the Code* constants
	Err    error  // underlying error for CodeIO, nil otherwise
}

func (e *FileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
	}
	return e.Reason
}

// Unwrap exposes the reader's own error for CodeIO, so callers can still test for,
// say, context cancellation or a closed file.
func (e *FileError) Unwrap() error { return e.Err }

// RowError rejects one record; the next Read continues with the record after it.
type RowError struct {
	Line   int      // physical 1-based line where the record starts
	Fields []string // the fields as far as they could be read (may be nil), for a rejects file
	Reason string   // short, lowercase; does not repeat Line
}

func (e *RowError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }
