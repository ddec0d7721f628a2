package escape

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Control returns s with every control character, bidirectional override and
// invalid UTF-8 byte escaped; s itself when it has none (no allocation).
func Control(s string) string {
	i := firstUnsafe(s)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(s[i])>>4, 16))
			b.WriteString(strconv.FormatUint(uint64(s[i])&0xf, 16))
		case unsafe(r):
			q := strconv.QuoteRuneToASCII(r) // '\x1b', '\n', '\u202e'
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// Lines is Control for a message of several lines: each line is escaped, the line
// breaks between them kept (a configuration's list of mistakes).
func Lines(s string) string {
	if firstUnsafe(s) < 0 {
		return s
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = Control(l)
	}
	return strings.Join(lines, "\n")
}

func firstUnsafe(s string) int {
	for i, r := range s {
		if r == utf8.RuneError || unsafe(r) {
			if r == utf8.RuneError {
				if _, size := utf8.DecodeRuneInString(s[i:]); size != 1 {
					continue // a real U+FFFD
				}
			}
			return i
		}
	}
	return -1
}

// unsafe: C0 and C1 controls, DEL, and the bidirectional embeddings, overrides and
// isolates (U+202A-U+202E, U+2066-U+2069), which make a terminal show text in
// another order than it is.
func unsafe(r rune) bool {
	return unicode.IsControl(r) || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
}
