package csvin

import (
	"bytes"
	"fmt"
	"io"
	"unicode/utf8"
)

// bufSize is the validator's window. It bounds memory (it is the only buffer that
// does not belong to encoding/csv) and it is the longest line the validator holds
// back whole; see validator.
const bufSize = 64 << 10

// sniffLen is how much of the start of the file is gathered before anything is
// validated, so that the BOM check and guessWide see the same bytes however the
// underlying reader splits them.
const sniffLen = 16

// validator sits under encoding/csv and lets through only bytes that are proven to be
// UTF-8 without NUL. It strips a UTF-8 BOM and refuses the other Unicode BOMs.
//
// It hands out complete lines only. When it finds a bad byte, the start of that line
// is never delivered, so encoding/csv meets the error at a line boundary and returns
// it as is (its readRecord passes reader errors through unwrapped); had it been given
// half a line it could first report a quoting error in the half, hiding the encoding
// problem from callers of NewCSVReader. A line longer than bufSize has to be delivered
// in pieces, which reopens that window for such lines only.
type validator struct {
	src io.Reader
	buf []byte

	// buf[rd:vd]  validated, may be delivered
	// buf[vd:chk] validated, held back: the start of a line not yet complete
	// buf[chk:w]  not yet validated: the end of a UTF-8 sequence may still be coming
	rd, vd, chk, w int

	started bool  // BOM checked
	bomLen  int   // bytes of UTF-8 BOM stripped, for byte columns on line 1
	srcErr  error // error (io.EOF included) returned by src, acted on once buf is validated
	eof     bool  // src is exhausted and every byte was validated
	empty   int   // consecutive reads that returned nothing

	err          *FileError // sticky, returned once buf[rd:vd] is drained
	errDelivered bool       // err has been returned to the reader above

	delivered int64 // bytes handed to the reader above

	// Shape of the validated stream (after the BOM), used for error line numbers and
	// to tell an unterminated quoted field from a stray quote on the last line.
	lines       int   // '\n' seen
	lineLen     int64 // bytes since the last '\n'
	prevLineLen int64 // bytes of the line ended by the last '\n', without the '\n'
	prevCRLF    bool  // that line ended "\r\n"
	lastByte    byte
}

func newValidator(r io.Reader) *validator {
	return &validator{src: r, buf: make([]byte, bufSize)}
}

func (v *validator) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for v.rd == v.vd {
		if v.err != nil {
			v.errDelivered = true
			return 0, v.err
		}
		if v.eof {
			return 0, io.EOF
		}
		v.fill()
	}
	n := copy(p, v.buf[v.rd:v.vd])
	v.rd += n
	v.delivered += int64(n)
	return n, nil
}

// fill reads once from src and validates what it got. The caller loops until there is
// something to deliver, an error, or EOF.
func (v *validator) fill() {
	if v.vd > 0 { // everything up to vd is delivered: keep only the held-back tail
		n := copy(v.buf, v.buf[v.vd:v.w])
		v.chk -= v.vd
		v.w = n
		v.rd, v.vd = 0, 0
	}
	if v.srcErr == nil {
		n, err := v.src.Read(v.buf[v.w:])
		if n < 0 || n > len(v.buf)-v.w { // a broken reader must not make us panic
			n, err = 0, fmt.Errorf("reader returned an invalid count %d", n)
		}
		if n == 0 && err == nil {
			// as bufio does: a reader that never makes progress must not hang us
			if v.empty++; v.empty >= 100 {
				err = io.ErrNoProgress
			}
		} else {
			v.empty = 0
		}
		v.w += n
		v.srcErr = err
	}
	if !v.started {
		if v.w < sniffLen && v.srcErr == nil {
			return // wait for the longest BOM, and enough to guess UTF-16/32 without one
		}
		v.started = true
		if v.checkBOM() {
			return
		}
	}
	v.validate()
}

// checkBOM strips a UTF-8 BOM and refuses the others; it reports whether it refused.
// UTF-32 LE must be tested before UTF-16 LE: its BOM starts with the same two bytes.
func (v *validator) checkBOM() bool {
	b := v.buf[:v.w]
	if bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}) {
		v.bomLen = 3
		v.chk, v.rd, v.vd = 3, 3, 3
		return false
	}
	for _, bom := range []struct {
		b    []byte
		name string
	}{
		{[]byte{0xFF, 0xFE, 0x00, 0x00}, "UTF-32 LE"},
		{[]byte{0x00, 0x00, 0xFE, 0xFF}, "UTF-32 BE"},
		{[]byte{0xFF, 0xFE}, "UTF-16 LE"},
		{[]byte{0xFE, 0xFF}, "UTF-16 BE"},
	} {
		if bytes.HasPrefix(b, bom.b) {
			v.err = &FileError{Code: CodeEncoding, Reason: "not UTF-8: " + bom.name + " byte-order mark"}
			return true
		}
	}
	return false
}

func (v *validator) validate() {
	atEOF := v.srcErr != nil
	seg := v.buf[v.chk:v.w]
	end := len(seg)
	if !atEOF {
		end -= incompleteTail(seg)
	}
	s := seg[:end]

	// The first problem wins. utf8.Valid and IndexByte are the fast paths; the slow
	// scan for the offending byte only runs on a file that is refused anyway.
	bad, nul := -1, bytes.IndexByte(s, 0)
	check := s
	if nul >= 0 {
		check = s[:nul]
	}
	if !utf8.Valid(check) {
		bad = firstInvalid(check)
	}
	good := s
	switch {
	case bad >= 0:
		good = s[:bad]
	case nul >= 0:
		good = s[:nul]
	}

	from := v.chk
	v.account(good)
	v.chk += len(good)

	switch {
	case bad >= 0:
		v.err = v.encodingError(fmt.Sprintf("invalid UTF-8 (byte 0x%02x, column %d)", s[bad], v.column()))
	case nul >= 0:
		reason := fmt.Sprintf("NUL byte (column %d)", v.column())
		if v.lines == 0 && v.delivered == 0 {
			// nothing delivered yet, so buf[rd:] is the start of the file: say what it
			// probably is
			if enc := guessWide(v.buf[v.rd:v.w]); enc != "" {
				reason = "not UTF-8: looks like " + enc + " without a byte-order mark"
			}
		}
		v.err = v.encodingError(reason)
	case atEOF && v.srcErr != io.EOF:
		v.err = &FileError{Code: CodeIO, Reason: "read error: " + v.srcErr.Error(), Err: v.srcErr}
	}

	// Deliver complete lines only. The held-back part buf[vd:from] has no '\n' (or it
	// would have been delivered), so only the newly validated bytes need a look.
	if i := bytes.LastIndexByte(v.buf[from:v.chk], '\n'); i >= 0 {
		v.vd = from + i + 1
	}
	switch {
	case v.err != nil:
		// keep the start of the bad line back (see the type's comment)
	case atEOF:
		v.vd = v.chk
		v.eof = true
	case v.vd == v.rd && v.w == len(v.buf):
		v.vd = v.chk // a line longer than the window: it has to go out in pieces
	}
}

func (v *validator) encodingError(reason string) *FileError {
	return &FileError{Line: v.lines + 1, Code: CodeEncoding, Reason: reason}
}

// column is the 1-based byte column of the next byte to be validated.
func (v *validator) column() int64 {
	c := v.lineLen + 1
	if v.lines == 0 {
		c += int64(v.bomLen)
	}
	return c
}

// account records the shape of validated bytes: line count and the length of the
// last lines. It costs a Count and one or two LastIndexByte per chunk.
func (v *validator) account(b []byte) {
	if len(b) == 0 {
		return
	}
	if n := bytes.Count(b, []byte{'\n'}); n > 0 {
		last := bytes.LastIndexByte(b, '\n')
		if prev := bytes.LastIndexByte(b[:last], '\n'); prev >= 0 {
			v.prevLineLen = int64(last - prev - 1)
		} else {
			v.prevLineLen = v.lineLen + int64(last)
		}
		if last > 0 {
			v.prevCRLF = b[last-1] == '\r'
		} else {
			v.prevCRLF = v.lastByte == '\r'
		}
		v.lineLen = int64(len(b) - last - 1)
		v.lines += n
	} else {
		v.lineLen += int64(len(b))
	}
	v.lastByte = b[len(b)-1]
}

// pastEnd reports whether (line, col), in encoding/csv's terms, lies beyond the last
// byte of the file's last line. encoding/csv reports an unterminated quoted field with
// the position after the last byte it read; any other quote error points at a quote
// that is followed by at least one more byte on its line. This is how the two are told
// apart, both being csv.ErrQuote.
func (v *validator) pastEnd(line, col int) bool {
	if !v.eof {
		return false
	}
	lastLine, content := v.lines, v.prevLineLen
	if v.prevCRLF {
		content--
	}
	if v.lineLen > 0 { // no final newline: the last line is the unfinished one
		lastLine, content = v.lines+1, v.lineLen
		if v.lastByte == '\r' { // encoding/csv drops a '\r' right before EOF
			content--
		}
	}
	return line == lastLine && int64(col) > content
}

// incompleteTail returns how many bytes at the end of b are the start of a UTF-8
// sequence that the next read may complete.
func incompleteTail(b []byte) int {
	for i := 1; i < utf8.UTFMax && i <= len(b); i++ {
		c := b[len(b)-i]
		if c&0xC0 == 0x80 {
			continue // continuation byte: look further back for the lead
		}
		if c >= 0xC0 && !utf8.FullRune(b[len(b)-i:]) {
			return i
		}
		return 0
	}
	return 0
}

// firstInvalid returns the index of the first byte of b that is not part of a valid
// UTF-8 sequence, or -1.
func firstInvalid(b []byte) int {
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}

// guessWide names the encoding of text that starts like ASCII in UTF-16 or UTF-32
// (every character padded with NULs in a fixed pattern), or returns "". It only
// improves the message: the NUL bytes refuse the file either way.
func guessWide(b []byte) string {
	if len(b) > sniffLen {
		b = b[:sniffLen] // the same sample whatever the reads were
	}
	match := func(width, at int) bool { // every unit has its one non-NUL byte at `at`
		units := len(b) / width
		if units < 2 {
			return false
		}
		for u := 0; u < units; u++ {
			for j := 0; j < width; j++ {
				if (b[u*width+j] != 0) != (j == at) {
					return false
				}
			}
		}
		return true
	}
	switch {
	case match(4, 0):
		return "UTF-32 LE"
	case match(4, 3):
		return "UTF-32 BE"
	case match(2, 0):
		return "UTF-16 LE"
	case match(2, 1):
		return "UTF-16 BE"
	}
	return ""
}
