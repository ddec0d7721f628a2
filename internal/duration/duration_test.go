package duration_test

import (
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/duration"
)

func TestParse(t *testing.T) {
	cases := map[string]time.Duration{"0": 0, "0d": 0, "90s": 90 * time.Second, "1h30m": 90 * time.Minute, "30d": 720 * time.Hour,
		"100000d": 100000 * 24 * time.Hour}
	for s, want := range cases {
		if got, err := duration.Parse(s); err != nil || got != want {
			t.Errorf("%q: %v %v", s, got, err)
		}
	}
	for _, s := range []string{"", "-1s", "-1d", "1.5d", "d", "10 days", "100001d", "9999999999999999999d"} {
		if _, err := duration.Parse(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}
