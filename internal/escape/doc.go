// Package escape makes text from files, API calls and the gateway safe to print to
// an operator's terminal: control characters (an ESC that starts a colour or moves
// the cursor, a CR or LF that forges a line, C1 controls) and the bidirectional
// overrides that reorder what is shown are written as Go escapes (\x1b, \r, \n,
// \u202e), and bytes that are not UTF-8 as \xNN. Every operator-facing output
// (tables, CSV, status, text logs, error messages) passes its strings through it.
package escape
