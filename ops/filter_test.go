package ops

import (
	"slices"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func TestParseTime(t *testing.T) {
	cases := []struct {
		in   string
		want time.Time
		err  bool
	}{
		{"2026-11-29T02:15:00Z", time.Date(2026, 11, 29, 2, 15, 0, 0, time.UTC), false},
		{"2026-11-29T02:15:00+01:00", time.Date(2026, 11, 29, 1, 15, 0, 0, time.UTC), false},
		{"2026-11-29 02:15:00", time.Date(2026, 11, 29, 2, 15, 0, 0, time.UTC), false},
		{"2026-11-29", time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC), false},
		{" 90m ", now.Add(-90 * time.Minute), false},
		{"36h", now.Add(-36 * time.Hour), false},
		{"7d", time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC), false},
		{"0d", now, false},
		{"-5m", time.Time{}, true},
		{"-1d", time.Time{}, true},
		{"yesterday", time.Time{}, true},
		{"2026-13-01", time.Time{}, true},
		{"", time.Time{}, true},
		{"1.5d", time.Time{}, true},
	}
	for _, c := range cases {
		got, err := ParseTime(c.in, now)
		if (err != nil) != c.err || !got.Equal(c.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v (error %v)", c.in, got, err, c.want, c.err)
		}
		if err != nil && !strings.Contains(err.Error(), "is not a time") {
			t.Errorf("ParseTime(%q): error %q", c.in, err)
		}
	}
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2026-11-29T02:15:00Z", "2026-11-29 02:15:00", "2026-11-29", "90m", "7d", "-1d", "d", "9999999999999999999d"} {
		f.Add(s)
	}
	// Never a panic; an error always names the value; a time read is never the zero
	// time unless it was written so (a zero time would filter nothing).
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTime(s, now)
		switch {
		case err != nil && !strings.Contains(err.Error(), "is not a time"):
			t.Errorf("ParseTime(%q): error %q", s, err)
		case err == nil && got.IsZero() && !strings.HasPrefix(strings.TrimSpace(s), "0001-01-01"):
			t.Errorf("ParseTime(%q) = the zero time", s)
		}
	})
}

func TestParseLists(t *testing.T) {
	if got, err := ParseStates(" rejected,PENDING,rejected "); err != nil || !slices.Equal(got, []string{"REJECTED", "PENDING"}) {
		t.Errorf("states: %v %v", got, err)
	}
	if _, err := ParseTypes("ADD_PRODUCTS,ADD"); err == nil || err.Error() != `"ADD" is not one of ADD_PRODUCTS, CANCEL_PRODUCTS, PAIR, UNPAIR, RESET_PIN, SET_PIN, RESET_SMARTCARD` {
		t.Errorf("types: %v", err)
	}
	if _, err := ParsePriorities(""); err == nil {
		t.Error("empty priority list accepted")
	}
	if got, err := ParseErrorCodes("e_not_paired,HTTP_503"); err != nil || !slices.Equal(got, []string{"E_NOT_PAIRED", "HTTP_503"}) {
		t.Errorf("codes: %v %v", got, err)
	}
	if _, err := ParseErrorCodes("E-1"); err == nil {
		t.Error("bad code accepted")
	}
}

func TestStampedPattern(t *testing.T) {
	if got := stampedPattern("2026_bulk%.csv"); got != `2026\_bulk\%.________T______.______Z.csv` {
		t.Errorf("got %s", got)
	}
}
