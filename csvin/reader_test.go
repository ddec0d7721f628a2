package csvin

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/gocarina/gocsv"
)

// Expected outcomes are written as strings so that a failing case prints a readable diff.

// rec is a record at line.
func rec(line int, fields ...string) string { return fmt.Sprintf("%d %q", line, fields) }

// rowErr is a *RowError at line with the fields it carries.
func rowErr(line int, reason string, fields ...string) string {
	return fmt.Sprintf("row error %d %q %q", line, reason, fields)
}

// fileErr is the *FileError that ends the file.
func fileErr(code string, line int, reason string) string {
	return fmt.Sprintf("%s %d %q", code, line, reason)
}

type outcome struct {
	Header     []string
	RawHeader  []string
	HeaderLine int
	Events     []string // records and row errors, in order
	End        string   // the FileError that ended the file, "" for io.EOF
}

// chunkReader returns at most n bytes per Read, so that multi-byte sequences, CRLF
// pairs and BOMs are split at every possible place.
type chunkReader struct {
	b []byte
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	k := min(c.n, len(p), len(c.b))
	copy(p, c.b[:k])
	c.b = c.b[k:]
	return k, nil
}

// sources feeds the same bytes in differently sized reads: every case must give the
// same outcome through each of them.
var sources = []struct {
	name string
	wrap func([]byte) io.Reader
}{
	{"whole", func(b []byte) io.Reader { return bytes.NewReader(b) }},
	{"one-byte", func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) }},
	{"half", func(b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) }},
	{"data-err", func(b []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) }},
	{"3-byte", func(b []byte) io.Reader { return &chunkReader{b: b, n: 3} }},
}

// readAll reads a whole file through Reader, checking on the way the properties that
// hold for every input: field counts, increasing lines, error types, sticky ends.
func readAll(t *testing.T, src io.Reader) outcome {
	t.Helper()
	o, _ := readAllDetail(t, src)
	return o
}

// detail is what readAll saw, unformatted.
type detail struct {
	records []Record
	rowErrs []*RowError
	end     *FileError
}

func readAllDetail(t *testing.T, src io.Reader) (outcome, detail) {
	t.Helper()
	r := NewReader(src)
	var o outcome
	var d detail
	h, err := r.Header()
	if err != nil {
		var fe *FileError
		if !errors.As(err, &fe) {
			t.Fatalf("Header: %T %v, want *FileError", err, err)
		}
		o.End, d.end = fileErr(fe.Code, fe.Line, fe.Reason), fe
		for range 2 {
			if _, again := r.Read(); again != err {
				t.Fatalf("Read after Header failed: %v, want the same %v", again, err)
			}
		}
		if h2, again := r.Header(); h2 != nil || again != err {
			t.Fatalf("second Header: %q %v, want nil and the same %v", h2, again, err)
		}
		return o, d
	}
	o.Header, o.RawHeader, o.HeaderLine = h, r.RawHeader(), r.HeaderLine()
	if len(o.RawHeader) != len(h) {
		t.Fatalf("RawHeader %q and Header %q differ in length", o.RawHeader, h)
	}
	last := o.HeaderLine
	for i := 0; ; i++ {
		if i > 10000 {
			t.Fatal("Read never ends")
		}
		rc, err := r.Read()
		var line int
		switch e := err.(type) {
		case nil:
			if len(rc.Fields) != len(h) {
				t.Fatalf("record %d has %d fields, header %d", rc.Line, len(rc.Fields), len(h))
			}
			o.Events = append(o.Events, rec(rc.Line, rc.Fields...))
			d.records = append(d.records, rc)
			line = rc.Line
		case *RowError:
			o.Events = append(o.Events, rowErr(e.Line, e.Reason, e.Fields...))
			d.rowErrs = append(d.rowErrs, e)
			line = e.Line
		case *FileError:
			o.End, d.end = fileErr(e.Code, e.Line, e.Reason), e
			for range 2 {
				if _, again := r.Read(); again != err {
					t.Fatalf("Read after FileError: %v, want the same %v", again, err)
				}
			}
			return o, d
		default:
			if err != io.EOF {
				t.Fatalf("Read: %T %v", err, err)
			}
			if _, again := r.Read(); again != io.EOF {
				t.Fatalf("Read after EOF: %v", again)
			}
			return o, d
		}
		if line <= last {
			t.Fatalf("line %d after line %d", line, last)
		}
		last = line
	}
}

type readerCase struct {
	name       string
	in         string
	header     []string // nil when the file is refused before a header
	rawHeader  []string // nil: same as header
	headerLine int
	events     []string
	end        string // fileErr(...), "" for io.EOF
}

func runCases(t *testing.T, cases []readerCase) {
	t.Helper()
	for _, c := range cases {
		want := outcome{Header: c.header, RawHeader: c.rawHeader, HeaderLine: c.headerLine, Events: c.events, End: c.end}
		if want.RawHeader == nil {
			want.RawHeader = c.header
		}
		for _, s := range sources {
			t.Run(c.name+"/"+s.name, func(t *testing.T) {
				got := readAll(t, s.wrap([]byte(c.in)))
				if !reflect.DeepEqual(got, want) {
					t.Errorf("input %q\n got %+v\nwant %+v", c.in, got, want)
				}
			})
		}
	}
}

var encodingCases = []readerCase{
	{name: "utf8 bom stripped", in: "\xEF\xBB\xBFid,v\n1,2\n",
		header: []string{"id", "v"}, headerLine: 1, events: []string{rec(2, "1", "2")}},
	{name: "bom only", in: "\xEF\xBB\xBF",
		end: fileErr(CodeHeaders, 0, "no header: the file is empty")},
	{name: "a bom later in the file is data", in: "\xEF\xBB\xBFid\n\xEF\xBB\xBFx\n",
		header: []string{"id"}, headerLine: 1, events: []string{rec(2, "\ufeffx")}},
	{name: "utf16 le bom", in: "\xFF\xFEi\x00d\x00\n\x00",
		end: fileErr(CodeEncoding, 0, "not UTF-8: UTF-16 LE byte-order mark")},
	{name: "utf16 be bom", in: "\xFE\xFF\x00i\x00d",
		end: fileErr(CodeEncoding, 0, "not UTF-8: UTF-16 BE byte-order mark")},
	{name: "utf32 le bom", in: "\xFF\xFE\x00\x00i\x00\x00\x00",
		end: fileErr(CodeEncoding, 0, "not UTF-8: UTF-32 LE byte-order mark")},
	{name: "utf32 be bom", in: "\x00\x00\xFE\xFF\x00\x00\x00i",
		end: fileErr(CodeEncoding, 0, "not UTF-8: UTF-32 BE byte-order mark")},
	{name: "utf16 le bom alone", in: "\xFF\xFE",
		end: fileErr(CodeEncoding, 0, "not UTF-8: UTF-16 LE byte-order mark")},
	{name: "utf16 le without bom", in: "i\x00d\x00,\x00v\x00\n\x00",
		end: fileErr(CodeEncoding, 1, "not UTF-8: looks like UTF-16 LE without a byte-order mark")},
	{name: "utf16 be without bom", in: "\x00i\x00d\x00\n",
		end: fileErr(CodeEncoding, 1, "not UTF-8: looks like UTF-16 BE without a byte-order mark")},
	{name: "utf32 le without bom", in: "i\x00\x00\x00d\x00\x00\x00",
		end: fileErr(CodeEncoding, 1, "not UTF-8: looks like UTF-32 LE without a byte-order mark")},
	{name: "nul in header", in: "id,\x00v\n1,2\n",
		end: fileErr(CodeEncoding, 1, "NUL byte (column 4)")},
	{name: "nul on line 3", in: "id,v\n1,2\n3,\x00\n4,5\n",
		header: []string{"id", "v"}, headerLine: 1, events: []string{rec(2, "1", "2")},
		end: fileErr(CodeEncoding, 3, "NUL byte (column 3)")},
	{name: "nul inside a quoted field", in: "id,v\n1,\"a\nb\x00\"\n",
		header: []string{"id", "v"}, headerLine: 1,
		end: fileErr(CodeEncoding, 3, "NUL byte (column 2)")},
	{name: "latin-1 byte on line 7", in: "id,name\n1,a\n2,b\n\n3,c\n4,d\n5,Jos\xe9\n6,f\n",
		header: []string{"id", "name"}, headerLine: 1,
		events: []string{rec(2, "1", "a"), rec(3, "2", "b"), rec(5, "3", "c"), rec(6, "4", "d")},
		end:    fileErr(CodeEncoding, 7, "invalid UTF-8 (byte 0xe9, column 6)")},
	{name: "invalid byte after a bom counts the bom in the column", in: "\xEF\xBB\xBFi\xFFd\n",
		end: fileErr(CodeEncoding, 1, "invalid UTF-8 (byte 0xff, column 5)")},
	{name: "invalid byte inside a multi-line quoted field", in: "id,v\n1,\"a\nb\nc\x80\"\n2,3\n",
		header: []string{"id", "v"}, headerLine: 1,
		end: fileErr(CodeEncoding, 4, "invalid UTF-8 (byte 0x80, column 2)")},
	{name: "overlong encoding", in: "id\n\xC0\xAF\n",
		header: []string{"id"}, headerLine: 1, end: fileErr(CodeEncoding, 2, "invalid UTF-8 (byte 0xc0, column 1)")},
	{name: "encoded surrogate", in: "id\nx\xED\xA0\x80\n",
		header: []string{"id"}, headerLine: 1, end: fileErr(CodeEncoding, 2, "invalid UTF-8 (byte 0xed, column 2)")},
	{name: "sequence truncated at end of file", in: "id\nab\xE2\x82",
		header: []string{"id"}, headerLine: 1, end: fileErr(CodeEncoding, 2, "invalid UTF-8 (byte 0xe2, column 3)")},
	{name: "sequence truncated by a newline", in: "id\nab\xE2\x82\ncd\n",
		header: []string{"id"}, headerLine: 1, end: fileErr(CodeEncoding, 2, "invalid UTF-8 (byte 0xe2, column 3)")},
	{name: "multi-byte sequences of every length", in: "name,sym\nJürgen,€\nŁódź,𝄞\n",
		header: []string{"name", "sym"}, headerLine: 1,
		events: []string{rec(2, "Jürgen", "€"), rec(3, "Łódź", "𝄞")}},
	{name: "replacement character is valid utf-8", in: "a\n\xEF\xBF\xBD\n",
		header: []string{"a"}, headerLine: 1, events: []string{rec(2, "\uFFFD")}},
}

func TestEncoding(t *testing.T) { runCases(t, encodingCases) }

var lineCases = []readerCase{
	{name: "crlf", in: "id,v\r\n1,2\r\n3,4\r\n",
		header: []string{"id", "v"}, headerLine: 1, events: []string{rec(2, "1", "2"), rec(3, "3", "4")}},
	{name: "mixed endings", in: "id,v\r\n1,2\n3,4\r\n5,6\n",
		header: []string{"id", "v"}, headerLine: 1,
		events: []string{rec(2, "1", "2"), rec(3, "3", "4"), rec(4, "5", "6")}},
	{name: "no final newline", in: "id,v\n1,2",
		header: []string{"id", "v"}, headerLine: 1, events: []string{rec(2, "1", "2")}},
	{name: "no final newline after crlf lines ends in cr", in: "id,v\r\n1,2\r",
		header: []string{"id", "v"}, headerLine: 1, events: []string{rec(2, "1", "2")}},
	{name: "cr-only line endings", in: "id,value\r1,10\r2,20\r",
		end: fileErr(CodeHeaders, 1, "column 2 name contains a line break (CR-only line endings?)")},
	{name: "leading blank lines count", in: "\n\r\n\nid,v\n1,2\n",
		header: []string{"id", "v"}, headerLine: 4, events: []string{rec(5, "1", "2")}},
	{name: "blank lines between records count", in: "id,v\n\n1,2\n\n\n3,4\n\n",
		header: []string{"id", "v"}, headerLine: 1, events: []string{rec(3, "1", "2"), rec(6, "3", "4")}},
	{name: "whitespace-only lines are blank", in: "  \n\t\nid,v\n1,2\n   \n \t \n3,4\n",
		header: []string{"id", "v"}, headerLine: 3, events: []string{rec(4, "1", "2"), rec(7, "3", "4")}},
	{name: "rows of empty cells are skipped", in: "id,v,w\n1,2,3\n,,\n, ,\t\n,,,,,\n4,5,6\n,,\n",
		header: []string{"id", "v", "w"}, headerLine: 1, events: []string{rec(2, "1", "2", "3"), rec(6, "4", "5", "6")}},
	{name: "a row of empty cells before the header is blank", in: ",,\nid,v\n1,2\n",
		header: []string{"id", "v"}, headerLine: 2, events: []string{rec(3, "1", "2")}},
	{name: "quoted empty cells are empty", in: "id,v\n\"\",\"\"\n1,2\n",
		header: []string{"id", "v"}, headerLine: 1, events: []string{rec(3, "1", "2")}},
	{name: "a record with one empty cell is kept", in: "id,v\n1,\n,2\n",
		header: []string{"id", "v"}, headerLine: 1, events: []string{rec(2, "1", ""), rec(3, "", "2")}},
	{name: "empty file", in: "",
		end: fileErr(CodeHeaders, 0, "no header: the file is empty")},
	{name: "only blank lines", in: "\n \r\n\t\n,,\n",
		end: fileErr(CodeHeaders, 0, "no header: the file has only blank lines")},
	{name: "header only", in: "id,v\n",
		header: []string{"id", "v"}, headerLine: 1},
	{name: "header only without newline", in: "id",
		header: []string{"id"}, headerLine: 1},
}

func TestLineEndingsAndBlankLines(t *testing.T) { runCases(t, lineCases) }

var headerCases = []readerCase{
	{name: "trimmed and lowercased", in: " Serial Number ,\tPIN\t,Ca_Id\n1,2,3\n",
		header: []string{"serial number", "pin", "ca_id"}, rawHeader: []string{" Serial Number ", "\tPIN\t", "Ca_Id"},
		headerLine: 1, events: []string{rec(2, "1", "2", "3")}},
	{name: "non-ascii names lowercased", in: "CAFÉ,Naïve\n1,2\n",
		header: []string{"café", "naïve"}, rawHeader: []string{"CAFÉ", "Naïve"}, headerLine: 1,
		events: []string{rec(2, "1", "2")}},
	{name: "no-break spaces and a second bom trimmed", in: "\xEF\xBB\xBF\uFEFFid,\u00a0v\u00a0\n1,2\n",
		header: []string{"id", "v"}, rawHeader: []string{"\uFEFFid", "\u00a0v\u00a0"}, headerLine: 1,
		events: []string{rec(2, "1", "2")}},
	{name: "quoted names", in: "\"id\",\"a,b\"\n1,2\n",
		header: []string{"id", "a,b"}, headerLine: 1, events: []string{rec(2, "1", "2")}},
	{name: "trailing empty names trimmed", in: "id,v,, \n1,2\n3,4,,\n5,6,,,\n",
		header: []string{"id", "v"}, headerLine: 1,
		events: []string{rec(2, "1", "2"), rec(3, "3", "4"), rec(4, "5", "6")}},
	{name: "empty name in the middle", in: "id,,v\n1,2,3\n",
		end: fileErr(CodeHeaders, 1, "column 2 has no name")},
	{name: "blank name in the middle", in: "id, \t,v\n1,2,3\n",
		end: fileErr(CodeHeaders, 1, "column 2 has no name")},
	{name: "empty first name", in: ",v\n1,2\n",
		end: fileErr(CodeHeaders, 1, "column 1 has no name")},
	{name: "only no-break spaces", in: "\u00a0\n1\n",
		end: fileErr(CodeHeaders, 1, "the header has no column names")},
	{name: "duplicate after normalisation", in: "id,PIN,x, pin \n1,2,3,4\n",
		end: fileErr(CodeHeaders, 1, `duplicate column "pin" (columns 2 and 4)`)},
	{name: "duplicate reported on the header's line", in: "\n\nname,name\nA,B\n",
		end: fileErr(CodeHeaders, 3, `duplicate column "name" (columns 1 and 2)`)},
	{name: "multi-line quoted name", in: "id,\"a\nb\"\n1,2\n",
		end: fileErr(CodeHeaders, 1, "column 2 name contains a line break (CR-only line endings?)")},
	{name: "sep=, skipped", in: "sep=,\nid,v\n1,2\n",
		header: []string{"id", "v"}, headerLine: 2, events: []string{rec(3, "1", "2")}},
	{name: "sep=, after bom, crlf", in: "\xEF\xBB\xBFsep=,\r\nid,v\r\n1,2\r\n",
		header: []string{"id", "v"}, headerLine: 2, events: []string{rec(3, "1", "2")}},
	{name: "SEP=, in capitals", in: "SEP=,\nid\n1\n",
		header: []string{"id"}, headerLine: 2, events: []string{rec(3, "1")}},
	{name: "sep=, after blank lines, blank lines after it", in: "\n\nsep=,\n\nid,v\n1,2\n",
		header: []string{"id", "v"}, headerLine: 5, events: []string{rec(6, "1", "2")}},
	{name: "sep=, only", in: "sep=,\n",
		end: fileErr(CodeHeaders, 0, "no header: the file has only a sep=, line")},
	{name: "sep=, then blank lines", in: "sep=,\n\n  \n",
		end: fileErr(CodeHeaders, 0, "no header: the file has only a sep=, line")},
	{name: "sep=;", in: "sep=;\nid;v\n1;2\n",
		end: fileErr(CodeHeaders, 1, `unsupported delimiter ";" in sep= line; only comma is supported`)},
	{name: "sep=tab", in: "sep=\t\nid\tv\n",
		end: fileErr(CodeHeaders, 1, `unsupported delimiter "\t" in sep= line; only comma is supported`)},
	{name: "sep=| after bom", in: "\xEF\xBB\xBFsep=|\nid|v\n",
		end: fileErr(CodeHeaders, 1, `unsupported delimiter "|" in sep= line; only comma is supported`)},
	{name: "sep=,, is not sep=,", in: "sep=,x\nid\n",
		end: fileErr(CodeHeaders, 1, `unsupported delimiter ",x" in sep= line; only comma is supported`)},
	{name: "sep= without delimiter", in: "sep=\nid\n",
		end: fileErr(CodeHeaders, 1, "sep= line names no delimiter; only comma is supported")},
	{name: "sep=, after the header is data", in: "a,b\nsep=,\n",
		header: []string{"a", "b"}, headerLine: 1, events: []string{rec(2, "sep=", "")}},
	{name: "bare quote in header", in: "id,a\"b\n1,2\n",
		end: fileErr(CodeParse, 1, `header: bare " in unquoted field 2`)},
	{name: "unterminated quote in header", in: "id,\"v\n1,2\n",
		end: fileErr(CodeParse, 1, "unterminated quoted field (no closing quote before the end of the file)")},
	{name: "wrong delimiter reads as one column", in: "id;v\n1;2\n",
		header: []string{"id;v"}, headerLine: 1, events: []string{rec(2, "1;2")}},
}

func TestHeader(t *testing.T) { runCases(t, headerCases) }

var fieldCountCases = []readerCase{
	{name: "short row", in: "id,v,w\n1,2\n3,4,5\n6\n",
		header: []string{"id", "v", "w"}, headerLine: 1,
		events: []string{
			rowErr(2, "has 2 fields, the header has 3", "1", "2"),
			rec(3, "3", "4", "5"),
			rowErr(4, "has 1 field, the header has 3", "6"),
		}},
	{name: "long row", in: "id,v\n1,2,x\n3,4\n",
		header: []string{"id", "v"}, headerLine: 1,
		events: []string{rowErr(2, "has 3 fields, the header has 2", "1", "2", "x"), rec(3, "3", "4")}},
	{name: "trailing empty and blank extras dropped", in: "id,v\n1,2,\n3,4,,\n5,6, ,\t\n",
		header: []string{"id", "v"}, headerLine: 1,
		events: []string{rec(2, "1", "2"), rec(3, "3", "4"), rec(4, "5", "6")}},
	{name: "quoted empty extras dropped", in: "id,v\n1,2,\"\"\n",
		header: []string{"id", "v"}, headerLine: 1, events: []string{rec(2, "1", "2")}},
	{name: "non-empty extra after empty ones", in: "id,v\n1,2,,x\n",
		header: []string{"id", "v"}, headerLine: 1,
		events: []string{rowErr(2, "has 4 fields, the header has 2", "1", "2", "", "x")}},
	{name: "trailing empties after a non-empty extra are not counted", in: "id,v\n1,2,x,,\n",
		header: []string{"id", "v"}, headerLine: 1,
		events: []string{rowErr(2, "has 3 fields, the header has 2", "1", "2", "x")}},
	{name: "empty cells within the header's width are kept", in: "id,v,w\n1,,\n",
		header: []string{"id", "v", "w"}, headerLine: 1, events: []string{rec(2, "1", "", "")}},
	{name: "values are not trimmed", in: "id,v\n 1 ,\t2\n\"  \",\" x \"\n",
		header: []string{"id", "v"}, headerLine: 1,
		events: []string{rec(2, " 1 ", "\t2"), rec(3, "  ", " x ")}},
}

func TestFieldCounts(t *testing.T) { runCases(t, fieldCountCases) }

var quoteCases = []readerCase{
	{name: "escaped quotes and commas", in: "id,v\n1,\"a \"\"b\"\", c\"\n",
		header: []string{"id", "v"}, headerLine: 1, events: []string{rec(2, "1", `a "b", c`)}},
	{name: "multi-line field then rows", in: "id,note\n1,\"first\nsecond\nthird\"\n2,x\n\n3,y\n",
		header: []string{"id", "note"}, headerLine: 1,
		events: []string{rec(2, "1", "first\nsecond\nthird"), rec(5, "2", "x"), rec(7, "3", "y")}},
	{name: "two multi-line fields in one record", in: "a,b,c\n\"x\ny\",\"p\n\nq\",z\n1,2,3\n",
		header: []string{"a", "b", "c"}, headerLine: 1,
		events: []string{rec(2, "x\ny", "p\n\nq", "z"), rec(6, "1", "2", "3")}},
	{name: "crlf inside a quoted field reads as lf", in: "id,note\r\n1,\"a\r\nb\"\r\n2,c\r\n",
		header: []string{"id", "note"}, headerLine: 1,
		events: []string{rec(2, "1", "a\nb"), rec(4, "2", "c")}},
	{name: "lone cr inside a quoted field is kept", in: "id,note\n1,\"a\rb\"\n",
		header: []string{"id", "note"}, headerLine: 1, events: []string{rec(2, "1", "a\rb")}},
	{name: "multi-line header-width record after blank lines", in: "\n\nid,v\n\n\"1\n\",\"2\n\n\"\n3,4",
		header: []string{"id", "v"}, headerLine: 3,
		events: []string{rec(5, "1\n", "2\n\n"), rec(9, "3", "4")}},
	{name: "bare quote is a row error", in: "id,size\n1,5\" floppy\n2,ok\n",
		header: []string{"id", "size"}, headerLine: 1,
		events: []string{rowErr(2, `bare " in unquoted field 2`, "1"), rec(3, "2", "ok")}},
	{name: "bare quote in first field", in: "id,size\nab\"c,1\n2,ok\n",
		header: []string{"id", "size"}, headerLine: 1,
		events: []string{rowErr(2, `bare " in unquoted field 1`), rec(3, "2", "ok")}},
	{name: "stray quote after closing quote", in: "id,v,w\n1,\"12\"x,3\n2,ok,\"fine\"\n",
		header: []string{"id", "v", "w"}, headerLine: 1,
		events: []string{rowErr(2, `unescaped " in quoted field 2`, "1"), rec(3, "2", "ok", "fine")}},
	{name: "unescaped quotes inside quotes", in: "id,v\n1,\"he said \"hi\" today\"\n2,x\n",
		header: []string{"id", "v"}, headerLine: 1,
		events: []string{rowErr(2, `unescaped " in quoted field 2`, "1"), rec(3, "2", "x")}},
	{name: "stray quote on the last line without newline is not unterminated", in: "id,v\nA,\"12\"x",
		header: []string{"id", "v"}, headerLine: 1,
		events: []string{rowErr(2, `unescaped " in quoted field 2`, "A")}},
	{name: "quote error after a multi-line field refuses the file", in: "id,v\n1,\"oops\n2,\"x\"y\n3,ok\n",
		header: []string{"id", "v"}, headerLine: 1,
		end: fileErr(CodeParse, 2, `unescaped " in quoted field 2 on line 3 of a record spanning several lines: cannot tell where the next records start`)},
	{name: "bare quote after a multi-line field refuses the file", in: "a,b,c\n0,0,0\n\"x\ny\",p\"q,r\n1,2,3\n",
		header: []string{"a", "b", "c"}, headerLine: 1, events: []string{rec(2, "0", "0", "0")},
		end: fileErr(CodeParse, 3, `bare " in unquoted field 2 on line 4 of a record spanning several lines: cannot tell where the next records start`)},
	{name: "unterminated quote", in: "id,value\nA,\"123\n",
		header: []string{"id", "value"}, headerLine: 1,
		end: fileErr(CodeParse, 2, "unterminated quoted field (no closing quote before the end of the file)")},
	{name: "unterminated quote names the line where the field starts", in: "id,a,b\n0,0,0\n1,\"x\ny\",\"open\nmore\n\nlines\n",
		header: []string{"id", "a", "b"}, headerLine: 1, events: []string{rec(2, "0", "0", "0")},
		end: fileErr(CodeParse, 4, "unterminated quoted field (no closing quote before the end of the file)")},
	{name: "unterminated quote in the first field", in: "id\n1\n\"abc\ndef\n",
		header: []string{"id"}, headerLine: 1, events: []string{rec(2, "1")},
		end: fileErr(CodeParse, 3, "unterminated quoted field (no closing quote before the end of the file)")},
	{name: "unterminated lone quote at the end", in: "id\n1\n\"",
		header: []string{"id"}, headerLine: 1, events: []string{rec(2, "1")},
		end: fileErr(CodeParse, 3, "unterminated quoted field (no closing quote before the end of the file)")},
	{name: "unterminated after an escaped quote, crlf, trailing cr", in: "id,v\r\n1,\"a\"\"\r",
		header: []string{"id", "v"}, headerLine: 1,
		end: fileErr(CodeParse, 2, "unterminated quoted field (no closing quote before the end of the file)")},
	{name: "unterminated swallowing the rest of the rows", in: "id,v\n1,\"a\n2,b\n3,c\n",
		header: []string{"id", "v"}, headerLine: 1,
		end: fileErr(CodeParse, 2, "unterminated quoted field (no closing quote before the end of the file)")},
}

func TestQuotes(t *testing.T) { runCases(t, quoteCases) }

// TestWindowBoundaries pushes data through the validator's 64 KiB window: multi-byte
// sequences split by it, lines longer than it, and an error far into the file.
func TestWindowBoundaries(t *testing.T) {
	var b strings.Builder
	b.WriteString("id,name\n")
	var want []string
	line := 2
	for i := 0; b.Len() < 3*bufSize; i++ {
		// names of 1..4-byte runes of varying length so that window ends fall everywhere
		name := strings.Repeat(string([]rune("é€𝄞a")[i%4:]), 1+i%37)
		if i%50 == 0 {
			name = "\"" + name + "\n" + name + "\"" // multi-line quoted field
			fmt.Fprintf(&b, "%d,%s\n", i, name)
			want = append(want, rec(line, fmt.Sprint(i), name[1:len(name)-1]))
			line += 2
			continue
		}
		fmt.Fprintf(&b, "%d,%s\n", i, name)
		want = append(want, rec(line, fmt.Sprint(i), name))
		line++
	}
	long := strings.Repeat("ü", bufSize) // 128 KiB in one field: delivered in pieces
	fmt.Fprintf(&b, "long,%s\nafter,x\n", long)
	want = append(want, rec(line, "long", long), rec(line+1, "after", "x"))
	good := b.String()
	bad := good + "z,\xC3\x28\n"

	for _, s := range sources {
		t.Run(s.name, func(t *testing.T) {
			got := readAll(t, s.wrap([]byte(good)))
			if !reflect.DeepEqual(got.Events, want) || got.End != "" {
				t.Errorf("good file: %d events (want %d), end %q", len(got.Events), len(want), got.End)
			}
			got = readAll(t, s.wrap([]byte(bad)))
			wantEnd := fileErr(CodeEncoding, line+2, "invalid UTF-8 (byte 0xc3, column 3)")
			if !reflect.DeepEqual(got.Events, want) || got.End != wantEnd {
				t.Errorf("bad file: %d events (want %d), end %q, want %q", len(got.Events), len(want), got.End, wantEnd)
			}
		})
	}
}

func TestReadWithoutHeader(t *testing.T) {
	r := NewReader(strings.NewReader("sep=,\n\nID,v\n1,2\n"))
	got, err := r.Read()
	if err != nil || got.Line != 4 || !reflect.DeepEqual(got.Fields, []string{"1", "2"}) {
		t.Fatalf("Read before Header: %+v %v", got, err)
	}
	h, err := r.Header()
	if err != nil || !reflect.DeepEqual(h, []string{"id", "v"}) || r.HeaderLine() != 3 {
		t.Fatalf("Header after Read: %q %v line %d", h, err, r.HeaderLine())
	}
	h[0] = "changed"
	if h2, _ := r.Header(); h2[0] != "id" {
		t.Fatalf("Header shares its slice with callers: %q", h2)
	}
}

type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestReadError(t *testing.T) {
	cause := errors.New("disk on fire")
	r := NewReader(&failingReader{data: []byte("id,v\n1,2\n3,"), err: cause})
	if _, err := r.Header(); err != nil {
		t.Fatal(err)
	}
	if got, err := r.Read(); err != nil || got.Line != 2 {
		t.Fatalf("first record: %+v %v", got, err)
	}
	_, err := r.Read()
	var fe *FileError
	if !errors.As(err, &fe) || fe.Code != CodeIO || !errors.Is(err, cause) || fe.Error() != "read error: disk on fire" {
		t.Fatalf("got %T %v, want a *FileError E_IO wrapping the cause", err, err)
	}
	if _, again := r.Read(); again != err {
		t.Fatalf("not sticky: %v", again)
	}

	// a reader that never returns anything must not hang the import
	r = NewReader(iotest.ErrReader(nil))
	if _, err := r.Header(); !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("reader without progress: %v", err)
	}
}

func TestErrorMessages(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{&FileError{Line: 7, Code: CodeEncoding, Reason: "invalid UTF-8 (byte 0xe9, column 6)"}, "line 7: invalid UTF-8 (byte 0xe9, column 6)"},
		{&FileError{Code: CodeEncoding, Reason: "not UTF-8: UTF-16 LE byte-order mark"}, "not UTF-8: UTF-16 LE byte-order mark"},
		{&RowError{Line: 3, Reason: "has 5 fields, the header has 7"}, "line 3: has 5 fields, the header has 7"},
	} {
		if got := c.err.Error(); got != c.want {
			t.Errorf("Error() = %q, want %q", got, c.want)
		}
	}
}

// TestNewCSVReader checks that validation errors come out of a plain *csv.Reader as
// *FileError. encoding/csv returns reader errors unwrapped; the wrapped case is
// checked too in case that ever changes (csv.ParseError has Unwrap).
func TestNewCSVReader(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		records [][]string // before the error
		end     string     // fileErr(...) of the *FileError, "" for io.EOF
	}{
		{name: "bom stripped", in: "\xEF\xBB\xBFid,v\n1,2\n", records: [][]string{{"id", "v"}, {"1", "2"}}},
		{name: "utf16 bom", in: "\xFF\xFEi\x00", end: fileErr(CodeEncoding, 0, "not UTF-8: UTF-16 LE byte-order mark")},
		{name: "nul on line 3", in: "id,v\n1,2\n3,\x00\n", records: [][]string{{"id", "v"}, {"1", "2"}},
			end: fileErr(CodeEncoding, 3, "NUL byte (column 3)")},
		{name: "invalid in a quoted field", in: "id,v\n1,\"a\nb\xff\"\n", records: [][]string{{"id", "v"}},
			end: fileErr(CodeEncoding, 3, "invalid UTF-8 (byte 0xff, column 2)")},
		// the bad line's start is held back, so its bare quote cannot be reported first
		{name: "bare quote before invalid byte on the same line", in: "id,v\n1,a\"b\xff\n", records: [][]string{{"id", "v"}},
			end: fileErr(CodeEncoding, 2, "invalid UTF-8 (byte 0xff, column 6)")},
	}
	for _, c := range cases {
		for _, s := range sources {
			t.Run(c.name+"/"+s.name, func(t *testing.T) {
				cr := NewCSVReader(s.wrap([]byte(c.in)))
				var got [][]string
				for {
					r, err := cr.Read()
					if err == io.EOF {
						if c.end != "" {
							t.Fatalf("EOF, want %s", c.end)
						}
						break
					}
					if err != nil {
						var fe *FileError
						if !errors.As(err, &fe) {
							t.Fatalf("%T %v is not a *FileError", err, err)
						}
						if g := fileErr(fe.Code, fe.Line, fe.Reason); g != c.end {
							t.Fatalf("got %s, want %s", g, c.end)
						}
						wrapped := error(&csv.ParseError{StartLine: 1, Line: 1, Err: err})
						if !errors.As(wrapped, new(*FileError)) {
							t.Fatal("errors.As fails on a *FileError wrapped in *csv.ParseError")
						}
						break
					}
					got = append(got, r)
				}
				if !reflect.DeepEqual(got, c.records) {
					t.Fatalf("records %q, want %q", got, c.records)
				}
			})
		}
	}
}

// TestNewCSVReaderGocsv is the reference loader's use: gocsv maps the BOM-stripped
// header and sees the validation error as a *FileError.
func TestNewCSVReaderGocsv(t *testing.T) {
	type row struct {
		ID   string `csv:"id"`
		Name string `csv:"name"`
	}
	um, err := gocsv.NewUnmarshaller(NewCSVReader(strings.NewReader("\xEF\xBB\xBFid,name\n1,Zoë\n2,Jos\xe9\n")), row{})
	if err != nil {
		t.Fatal(err)
	}
	if len(um.MismatchedHeaders) > 0 || len(um.MismatchedStructFields) > 0 {
		t.Fatalf("header not mapped: %q %q", um.MismatchedHeaders, um.MismatchedStructFields)
	}
	v, err := um.Read()
	if err != nil || v.(row) != (row{"1", "Zoë"}) {
		t.Fatalf("first row: %+v %v", v, err)
	}
	_, err = um.Read()
	var fe *FileError
	if !errors.As(err, &fe) || fe.Code != CodeEncoding || fe.Line != 3 {
		t.Fatalf("second row: %T %v, want *FileError E_ENCODING on line 3", err, err)
	}
}

// TestConstantMemory reads a 400,000-row file streamed from a generator, never held
// in memory, and checks that the live heap stays small: nothing may accumulate per
// record or per byte.
func TestConstantMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 20 MB")
	}
	const rows = 400_000
	r := NewReader(&generator{rows: rows})
	if _, err := r.Header(); err != nil {
		t.Fatal(err)
	}
	var peak uint64
	var ms runtime.MemStats
	for n := 0; ; n++ {
		_, err := r.Read()
		if err == io.EOF {
			if n != rows {
				t.Fatalf("read %d rows, want %d", n, rows)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if n%100_000 == 0 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
	}
	if peak > 16<<20 {
		t.Fatalf("live heap reached %d bytes while reading", peak)
	}
}

// generator streams a header and rows of about 50 bytes, with multi-line quoted fields.
type generator struct {
	rows, n int
	buf     []byte
}

func (g *generator) Read(p []byte) (int, error) {
	for len(g.buf) < len(p) && g.n <= g.rows {
		if g.n == 0 {
			g.buf = append(g.buf, "serial,pin,name\r\n"...)
		} else {
			g.buf = fmt.Appendf(g.buf, "SC%012d,%04d,\"Name %d,\nline two\"\r\n", g.n, g.n%10000, g.n)
		}
		g.n++
	}
	if len(g.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, g.buf)
	g.buf = g.buf[:copy(g.buf, g.buf[n:])]
	return n, nil
}
