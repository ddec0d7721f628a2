// Package csvin reads the header-first CSV files that operators drop for import. It
// is the only place in the project that turns bytes into records, so everything above
// it (instruction import, reference-data loading) can rely on its guarantees instead
// of re-checking them:
//
//   - Encoding: the file is UTF-8, with or without a BOM (stripped). A UTF-16 or UTF-32
//     BOM, a NUL byte or an invalid UTF-8 sequence anywhere refuses the whole file with
//     a *FileError naming the line. The check streams under encoding/csv in a fixed
//     64 KiB window: memory does not grow with the file.
//   - Dialect: comma-separated, RFC 4180 quoting, CRLF or LF (or both) line endings, a
//     final newline optional. An Excel `sep=,` first line is skipped; any other sep=
//     refuses the file.
//   - Header: the first non-blank record. Names are trimmed and lowercased; an empty
//     name (except trailing ones, dropped), a duplicate, or no header at all refuses
//     the file.
//   - Records: every Record has exactly as many fields as the header, values exactly as
//     written (trimming is the caller's choice), and Line is the physical line where
//     the record starts in the file, counting blank lines, the header and the lines of
//     multi-line quoted fields. Lines of blanks and rows of empty cells are skipped;
//     empty cells padding a row beyond the header are dropped.
//   - Errors: a problem confined to one record is a *RowError and reading goes on; a
//     problem with the whole file is a *FileError with a stable Code, and it repeats
//     on every later Read. Nothing panics, whatever the input.
//
// Why so strict: these files provision smartcards. A guessed delimiter or encoding
// does not fail loudly, it shifts or garbles values (a Windows-1252 name becomes
// mojibake, a semicolon file becomes one column), and a wrong value provisioned on a
// card is worse than a refused file that an operator re-saves as "CSV UTF-8". So the
// package accepts the one dialect spreadsheets reliably write and refuses the rest
// with a reason an operator can act on.
//
// NewCSVReader gives the same validated stream to code that decodes with gocsv.
package csvin
