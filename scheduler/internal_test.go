package scheduler

import (
	"testing"
	"time"

	"github.com/provisioner/provisioner/config"
)

func TestLatestTick(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 17, 42, 500, time.UTC)
	cases := []struct {
		spec  string
		after time.Time
		want  time.Time
	}{
		{"* * * * * *", now.Add(-90 * 24 * time.Hour), time.Date(2026, 12, 1, 10, 17, 42, 0, time.UTC)},
		{"*/5 * * * *", now.Add(-time.Hour), time.Date(2026, 12, 1, 10, 15, 0, 0, time.UTC)},
		{"0 3 1 * *", time.Date(2026, 9, 15, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)},
		{"0 0 1 1 *", time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"*/5 * * * *", time.Date(2026, 12, 1, 10, 14, 0, 0, time.UTC), time.Date(2026, 12, 1, 10, 15, 0, 0, time.UTC)},
	}
	for _, tc := range cases {
		s, err := config.ParseSchedule(tc.spec, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		if got := latestTick(s, tc.after, now); !got.Equal(tc.want) {
			t.Errorf("%q after %v: %v, want %v", tc.spec, tc.after, got, tc.want)
		}
	}
}
