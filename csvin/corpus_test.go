package csvin

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// sharedTestdataPath is $PROVISIONER_SHARED/testdata, or the tree's shared/testdata
// beside the repository (the package directory is <tree>/main/csvin).
func sharedTestdataPath() string {
	dir := filepath.Join("..", "..", "shared")
	if env := os.Getenv("PROVISIONER_SHARED"); env != "" {
		dir = env
	}
	return filepath.Join(dir, "testdata")
}

// sharedTestdata returns sharedTestdataPath, skipping the test when the corpora are
// absent (a checkout without the shared tree) unless PROVISIONER_SHARED asked for them.
func sharedTestdata(t testing.TB) string {
	t.Helper()
	dir := sharedTestdataPath()
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("PROVISIONER_SHARED") != "" {
			t.Fatalf("PROVISIONER_SHARED: %v", err)
		}
		t.Skipf("shared corpora not found (%v); set PROVISIONER_SHARED to the shared directory", err)
	}
	return dir
}

// corpusWant is what this package must make of a corpus file: a header and counts, or
// a refusal. These are our semantics (comma only, UTF-8 only, strict), not the
// corpus authors': where they differ the entry says what the upstream README expects.
type corpusWant struct {
	header     []string // nil when the file is refused at or before the header
	headerLine int
	rows       int    // good records
	rowErrs    []int  // lines of *RowError, in order
	code       string // Code of the *FileError ending the file, "" when it reads to EOF
	line       int    // that error's line
}

// rvlWant covers every file of rvl-csv-corpus (README.md there lists rvl's outcomes).
// rvl sniffs the delimiter and honours sep=; we do neither, so a file in another
// delimiter reads as ONE column (the caller's header check rejects it by name) and its
// quoted fields become bare quotes. rvl refuses a whole file for a quote error or a
// ragged row; we refuse only the row when encoding/csv resumes reliably after it.
var rvlWant = map[string]corpusWant{
	"accounting_parentheses.csv": {header: []string{"id", "amount"}, headerLine: 1, rows: 5},
	// rvl: E_DIALECT (comma/semicolon tie). Comma is the only delimiter here: no tie.
	"ambiguous_delimiter.csv": {header: []string{"h1", "h2;h3"}, headerLine: 1, rows: 1},
	// rvl: parse_ok with backslash escapes. RFC 4180 has none: `"a\"b"` closes the
	// field after `a\`, so the `b"` is a stray quote in that one row.
	"backslash_escape.csv":          {header: []string{"col"}, headerLine: 2, rowErrs: []int{3}},
	"backslash_in_quoted_rfc.csv":   {header: []string{"id", "comment"}, headerLine: 1, rows: 2},
	"basic_new.csv":                 {header: []string{"id", "value"}, headerLine: 1, rows: 2},
	"basic_old.csv":                 {header: []string{"id", "value"}, headerLine: 1, rows: 2},
	"blank_lines_before_header.csv": {header: []string{"id", "value"}, headerLine: 3, rows: 2}, // blank = spaces/tabs too
	"blank_only.csv":                {code: CodeHeaders},
	"blank_records.csv":             {header: []string{"id", "value"}, headerLine: 1, rows: 2},
	"blank_records_between.csv":     {header: []string{"id", "value"}, headerLine: 2, rows: 2}, // `,` and ` ` lines skipped
	"bom_no_trailing_newline.csv":   {header: []string{"id", "value"}, headerLine: 1, rows: 2},
	// rvl: parse_ok with `^`. Here: one column.
	"caret_basic.csv":     {header: []string{"id^value"}, headerLine: 1, rows: 2},
	"caret_delimiter.csv": {header: []string{"id^name^value"}, headerLine: 1, rows: 2},
	"caret_quoted.csv":    {header: []string{"id^name^note"}, headerLine: 1, rowErrs: []int{2, 3}},
	// rvl: parse_ok only with a forced 0x01 delimiter. Here: one column; control
	// characters other than NUL are valid UTF-8 and not refused.
	"control_byte_header.csv": {header: []string{"id\x01value"}, headerLine: 1, rows: 2},
	"crlf_line_endings.csv":   {header: []string{"id", "value"}, headerLine: 1, rows: 2},
	"currency_values.csv":     {header: []string{"id", "amount"}, headerLine: 1, rows: 3},
	// rvl: parse_ok with 0x1F. Here: one column.
	"delim_0x1f.csv":        {header: []string{"id\x1fvalue"}, headerLine: 1, rows: 2},
	"duplicate_headers.csv": {code: CodeHeaders, line: 1},
	"empty_fields.csv":      {header: []string{"id", "value", "comment"}, headerLine: 1, rows: 3},
	"empty_file.csv":        {code: CodeHeaders},
	// rvl: parse_ok, naming empty columns __rvl_col_*. Here an unnamed column before a
	// named one refuses the file (only trailing empty names are dropped).
	"empty_header_names.csv":   {code: CodeHeaders, line: 1},
	"empty_headers.csv":        {code: CodeHeaders, line: 1},
	"encoding_nul_first8k.csv": {code: CodeEncoding, line: 1},
	"encoding_utf16le.csv":     {code: CodeEncoding}, // BOM: line 0
	"encoding_utf32be.csv":     {code: CodeEncoding},
	"excel_quoted_commas.csv":  {header: []string{"id", "name", "notes"}, headerLine: 1, rows: 3},
	"extra_fields_empty.csv":   {header: []string{"id", "value"}, headerLine: 1, rows: 2},
	// rvl: E_HEADERS for the whole file. Here: that row only.
	"extra_fields_non_empty.csv":      {header: []string{"id", "value"}, headerLine: 2, rowErrs: []int{3}},
	"extra_trailing_empty_fields.csv": {header: []string{"id", "value"}, headerLine: 1, rows: 2},           // `,, ` dropped
	"extra_trailing_nonempty.csv":     {header: []string{"id", "value"}, headerLine: 2, rowErrs: []int{3}}, // rvl: E_HEADERS
	"header_only.csv":                 {header: []string{"id", "value", "comment"}, headerLine: 1},
	"header_with_spaces.csv":          {header: []string{"id", "value"}, headerLine: 2, rows: 2},
	"hex_prefix_header.csv":           {header: []string{"hex:dead", "value"}, headerLine: 1, rows: 2},
	// rvl: E_CSV_PARSE for the whole file. Here: the stray quote is confined to its
	// line, so only that row.
	"invalid_quote.csv":                  {header: []string{"id", "value"}, headerLine: 1, rowErrs: []int{2}},
	"leading_blank_lines.csv":            {header: []string{"id", "value"}, headerLine: 3, rows: 2},
	"leading_tabs_header.csv":            {header: []string{"id", "value"}, headerLine: 2, rows: 2},
	"locale_decimal.csv":                 {header: []string{"id", "amount"}, headerLine: 1, rows: 2},
	"missing_tokens.csv":                 {header: []string{"id", "value", "comment"}, headerLine: 1, rows: 5},
	"missingness_numeric_vs_missing.csv": {header: []string{"id", "amount"}, headerLine: 1, rows: 4},
	"mixed_line_endings.csv":             {header: []string{"id", "value"}, headerLine: 1, rows: 2},
	"mixed_types_numeric_text.csv":       {header: []string{"id", "value"}, headerLine: 1, rows: 3},
	"multiline_quoted.csv":               {header: []string{"id", "comment"}, headerLine: 2, rows: 2},
	"no_trailing_newline.csv":            {header: []string{"id", "value"}, headerLine: 1, rows: 2},
	"non_ascii_header.csv":               {header: []string{"café", "naïve", "value"}, headerLine: 1, rows: 2},
	"nul_in_8k.csv":                      {header: []string{"a", "b"}, headerLine: 1, code: CodeEncoding, line: 2},
	"numeric_thousands.csv":              {header: []string{"id", "value"}, headerLine: 1, rows: 2},
	"only_blank_lines.csv":               {code: CodeHeaders},
	"only_header.csv":                    {header: []string{"id", "value", "amount"}, headerLine: 1},
	"percent_values.csv":                 {header: []string{"id", "rate"}, headerLine: 1, rows: 2},
	// rvl: parse_ok with `|`. Here: one column, and quoted fields are bare quotes.
	"pipe_delimiter.csv":      {header: []string{"id|name|value"}, headerLine: 1, rows: 2},
	"pipe_quoted.csv":         {header: []string{"id|name|note"}, headerLine: 1, rowErrs: []int{2, 3}},
	"pipe_with_spaces.csv":    {header: []string{"id|name|value"}, headerLine: 1, rows: 2},
	"plus_sign_numbers.csv":   {header: []string{"id", "value"}, headerLine: 1, rows: 3},
	"quoted_empty_fields.csv": {header: []string{"id", "value", "comment"}, headerLine: 1, rows: 2},
	// `, , ` beyond the header: blank cells, dropped.
	"ragged_rows_long_empty.csv": {header: []string{"id", "value"}, headerLine: 1, rows: 2},
	// rvl: parse_ok (pads short rows). Here short rows are row errors: a missing
	// trailing value is not the same as an empty one for provisioning.
	"ragged_rows_short.csv":   {header: []string{"id", "value", "comment"}, headerLine: 1, rows: 1, rowErrs: []int{2, 4}},
	"rfc4180_quotes.csv":      {header: []string{"id", "comment"}, headerLine: 1, rows: 2},
	"rfc_quote_escape.csv":    {header: []string{"col"}, headerLine: 2, rows: 1},
	"scientific_notation.csv": {header: []string{"id", "value"}, headerLine: 1, rows: 2},
	// rvl: parse_ok with `;`. Here: one column, and quoted fields are bare quotes.
	"semicolon_delimiter.csv":   {header: []string{"id;name;value"}, headerLine: 1, rows: 2},
	"semicolon_quoted.csv":      {header: []string{"id;name;note"}, headerLine: 1, rowErrs: []int{2, 3}},
	"semicolon_with_spaces.csv": {header: []string{"id;name;value"}, headerLine: 1, rows: 2},
	// rvl: parse_ok with the delimiter the sep= line names. Here: only sep=, is
	// accepted, any other refuses the file.
	"sep_caret.csv":     {code: CodeHeaders, line: 1},
	"sep_equal.csv":     {code: CodeHeaders, line: 1},
	"sep_equals.csv":    {code: CodeHeaders, line: 1},
	"sep_only.csv":      {code: CodeHeaders},
	"sep_pipe.csv":      {code: CodeHeaders, line: 1},
	"sep_semicolon.csv": {code: CodeHeaders, line: 1},
	"sep_tab.csv":       {code: CodeHeaders, line: 1},
	// rvl: E_DIALECT (its sniffer's single-column guardrail). Nothing to sniff here.
	"single_column.csv": {header: []string{"only"}, headerLine: 1, rows: 1},
	// rvl: parse_ok with tab. Here: one column, and quoted fields are bare quotes.
	"tab_basic.csv":              {header: []string{"id\tvalue"}, headerLine: 1, rows: 2},
	"tab_delimiter.csv":          {header: []string{"id\tname\tvalue"}, headerLine: 1, rows: 2},
	"tab_quoted.csv":             {header: []string{"id\tname\tnote"}, headerLine: 1, rowErrs: []int{2, 3}},
	"tab_with_spaces.csv":        {header: []string{"id\tname\tvalue"}, headerLine: 1, rows: 2},
	"trailing_blank_lines.csv":   {header: []string{"id", "value"}, headerLine: 1, rows: 2},
	"trailing_spaces_fields.csv": {header: []string{"id", "value"}, headerLine: 1, rows: 2},
	"u8_prefix_header.csv":       {header: []string{"u8:col", "value"}, headerLine: 1, rows: 2},
	"unterminated_quote.csv":     {header: []string{"id", "value"}, headerLine: 1, code: CodeParse, line: 2},
	"utf16le_bom.csv":            {code: CodeEncoding},
	"utf32be_bom.csv":            {code: CodeEncoding},
	"utf8_accented.csv":          {header: []string{"id", "name"}, headerLine: 1, rows: 2},
	"utf8_bom.csv":               {header: []string{"id", "value"}, headerLine: 1, rows: 2},
	"utf8_bom_blank_lines.csv":   {header: []string{"id", "value"}, headerLine: 4, rows: 2},
	"utf8_bom_sep_pipe.csv":      {code: CodeHeaders, line: 1}, // rvl: parse_ok with `|`
	"wide_row_extra_empty.csv":   {header: []string{"a", "b"}, headerLine: 1, rows: 1},
	// rvl: E_HEADERS for the whole file. Here: that row only.
	"wide_row_extra_non_empty.csv": {header: []string{"a", "b"}, headerLine: 2, rowErrs: []int{3}},
	"windows_crlf.csv":             {header: []string{"id", "value"}, headerLine: 1, rows: 2},
	"windows_quotes_crlf.csv":      {header: []string{"id", "comment"}, headerLine: 1, rows: 2},
}

// rvlDocs are the files in rvl-csv-corpus that are not fixtures.
var rvlDocs = []string{".gitattributes", "LICENSE", "NOTICE.md", "README.md"}

// How a csv-spectrum file's records compare with its json/ expectation.
const (
	jsonSame     = iota
	jsonCRLFAsLF // encoding/csv reads CRLF inside a quoted field as LF, by design
	jsonNone     // no records to compare
)

// spectrumWant covers every file of csv-spectrum/csvs. All of them are comma-separated
// UTF-8, so ours agree with upstream except where noted.
var spectrumWant = map[string]struct {
	corpusWant
	json int
}{
	"comma_in_quotes.csv": {corpusWant{header: []string{"first", "last", "address", "city", "zip"}, headerLine: 1, rows: 1}, jsonSame},
	"empty.csv":           {corpusWant{header: []string{"a", "b", "c"}, headerLine: 1, rows: 2}, jsonSame},
	"empty_crlf.csv":      {corpusWant{header: []string{"a", "b", "c"}, headerLine: 1, rows: 2}, jsonSame},
	"escaped_quotes.csv":  {corpusWant{header: []string{"a", "b"}, headerLine: 1, rows: 2}, jsonSame},
	"json.csv":            {corpusWant{header: []string{"key", "val"}, headerLine: 1, rows: 1}, jsonSame},
	// Upstream expects the bare quotes (37°36'37.8"N) read literally, and its json has
	// a different phone number (fixture bug). Strict RFC 4180: that row is rejected.
	"location_coordinates.csv": {corpusWant{header: []string{"contact phone number", "location coordinates", "cities", "counties"}, headerLine: 1, rowErrs: []int{2}}, jsonNone},
	"newlines.csv":             {corpusWant{header: []string{"a", "b", "c"}, headerLine: 1, rows: 3}, jsonSame},
	"newlines_crlf.csv":        {corpusWant{header: []string{"a", "b", "c"}, headerLine: 1, rows: 3}, jsonCRLFAsLF},
	"quotes_and_newlines.csv":  {corpusWant{header: []string{"a", "b"}, headerLine: 1, rows: 2}, jsonSame},
	"simple.csv":               {corpusWant{header: []string{"a", "b", "c"}, headerLine: 1, rows: 1}, jsonSame},
	"simple_crlf.csv":          {corpusWant{header: []string{"a", "b", "c"}, headerLine: 1, rows: 1}, jsonSame},
	"utf8.csv":                 {corpusWant{header: []string{"a", "b", "c"}, headerLine: 1, rows: 2}, jsonSame},
}

// listDir returns the names of the files in dir, failing on subdirectories: a new
// kind of entry needs a decision, not silence.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() {
			t.Errorf("%s: unexpected directory %s", dir, e.Name())
			continue
		}
		names = append(names, e.Name())
	}
	return names
}

// sameFiles fails unless the directory holds exactly the files the table knows.
func sameFiles(t *testing.T, dir string, got []string, want []string) {
	t.Helper()
	slices.Sort(got)
	slices.Sort(want)
	for _, n := range got {
		if _, found := slices.BinarySearch(want, n); !found {
			t.Errorf("%s: %s is not in the table: add what csvin must make of it", dir, n)
		}
	}
	for _, n := range want {
		if _, found := slices.BinarySearch(got, n); !found {
			t.Errorf("%s: table entry %s has no file", dir, n)
		}
	}
}

func TestCorpusRVL(t *testing.T) {
	dir := filepath.Join(sharedTestdata(t), "rvl-csv-corpus")
	names := listDir(t, dir)
	sameFiles(t, dir, names, append(slices.Collect(maps.Keys(rvlWant)), rvlDocs...))
	for name, want := range rvlWant {
		t.Run(name, func(t *testing.T) {
			checkCorpusFile(t, filepath.Join(dir, name), want)
		})
	}
}

func TestCorpusSpectrum(t *testing.T) {
	dir := filepath.Join(sharedTestdata(t), "csv-spectrum")
	names := listDir(t, filepath.Join(dir, "csvs"))
	sameFiles(t, filepath.Join(dir, "csvs"), names, slices.Collect(maps.Keys(spectrumWant)))
	var jsons []string
	for _, n := range listDir(t, filepath.Join(dir, "json")) {
		jsons = append(jsons, strings.TrimSuffix(n, ".json")+".csv")
	}
	sameFiles(t, filepath.Join(dir, "json"), jsons, names) // every expectation has its csv and back

	for name, want := range spectrumWant {
		t.Run(name, func(t *testing.T) {
			d, raw := checkCorpusFile(t, filepath.Join(dir, "csvs", name), want.corpusWant)
			if want.json == jsonNone {
				return
			}
			b, err := os.ReadFile(filepath.Join(dir, "json", strings.TrimSuffix(name, ".csv")+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var objs []map[string]string
			if err := json.Unmarshal(b, &objs); err != nil {
				t.Fatal(err)
			}
			var got []map[string]string
			for _, r := range d.records {
				obj := map[string]string{}
				for i, f := range r.Fields {
					obj[raw[i]] = f // json keys are the header as written
				}
				got = append(got, obj)
			}
			if want.json == jsonCRLFAsLF {
				for _, o := range objs {
					for k, v := range o {
						o[k] = strings.ReplaceAll(v, "\r\n", "\n")
					}
				}
			}
			if !reflect.DeepEqual(got, objs) {
				t.Errorf("records\n got %q\nwant %q", got, objs)
			}
		})
	}
}

// checkCorpusFile reads one file through every source and through NewCSVReader, and
// compares with want. It returns what the whole-file read saw and the raw header.
func checkCorpusFile(t *testing.T, path string, want corpusWant) (detail, []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var first outcome
	var d detail
	for i, s := range sources {
		o, dd := readAllDetail(t, s.wrap(b))
		if i == 0 {
			first, d = o, dd
		} else if !reflect.DeepEqual(o, first) {
			t.Errorf("%s reads differ from whole reads:\n got %+v\nwant %+v", s.name, o, first)
		}
	}
	got := corpusWant{header: first.Header, headerLine: first.HeaderLine, rows: len(d.records)}
	for _, e := range d.rowErrs {
		got.rowErrs = append(got.rowErrs, e.Line)
	}
	if d.end != nil {
		got.code, got.line = d.end.Code, d.end.Line
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("\n got %+v (end: %s)\nwant %+v", got, first.End, want)
	}

	// NewCSVReader on the same bytes: it must not panic, errors must be ours or
	// encoding/csv's, and an encoding refusal must surface as the same *FileError.
	cr := NewCSVReader(bytes.NewReader(b))
	var fe *FileError
	for range 1000 {
		_, err := cr.Read()
		if err == io.EOF {
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &fe) {
			break
		}
		if err != nil && !errors.As(err, &pe) {
			t.Fatalf("NewCSVReader: %T %v", err, err)
		}
	}
	if want.code == CodeEncoding && (fe == nil || fe.Code != CodeEncoding || fe.Line != want.line) {
		t.Errorf("NewCSVReader: got %v, want the %s refusal on line %d", fe, want.code, want.line)
	}
	return d, first.RawHeader
}
