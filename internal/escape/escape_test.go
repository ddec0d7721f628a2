package escape_test

import (
	"testing"
	"unicode/utf8"

	"github.com/provisioner/provisioner/internal/escape"
)

func TestControl(t *testing.T) {
	cases := []struct{ in, want string }{
		{"SC0000000001", "SC0000000001"},
		{"a\u001b[31mRED\r\nfake", `a\x1b[31mRED\r\nfake`},
		{"tab\there", `tab\there`},
		{"del\x7f", `del\x7f`},
		{"c1\u0085next", `c1\u0085next`},
		{"bidi\u202etxt.exe", `bidi\u202etxt.exe`},
		{"bad\xffutf8", `bad\xffutf8`},
		{"é ü 中文 \ufffd", "é ü 中文 \ufffd"},
		{`back\slash`, `back\slash`},
		{"", ""},
	}
	for _, c := range cases {
		if got := escape.Control(c.in); got != c.want {
			t.Errorf("Control(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := escape.Lines("3 mistakes:\nline 1: \u001b[2J\nline 2"); got != "3 mistakes:\nline 1: \\x1b[2J\nline 2" {
		t.Errorf("Lines: %q", got)
	}
}

// FuzzControl: whatever the input, the output is valid UTF-8 with no control
// character, and escaping it again changes nothing.
func FuzzControl(f *testing.F) {
	for _, s := range []string{"a\u001b[31mRED\r\nfake", "plain", "\xff\xfe", "\u202e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := escape.Control(s)
		if !utf8.ValidString(out) {
			t.Fatalf("Control(%q) = %q: not UTF-8", s, out)
		}
		for _, r := range out {
			if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 {
				t.Fatalf("Control(%q) = %q keeps %U", s, out, r)
			}
		}
		if escape.Control(out) != out {
			t.Fatalf("Control(%q) = %q is escaped again", s, out)
		}
	})
}
