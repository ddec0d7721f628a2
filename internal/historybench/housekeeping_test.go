package historybench

import (
	"testing"
	"time"
)

func TestHkWindow(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	run := func(took time.Duration) timedRun { return timedRun{start: t0, took: took} }
	tests := []struct {
		name            string
		without, during timedRun
		hkEnded         time.Time
		want            time.Duration
	}{
		{"housekeeping outlasted the run", run(100 * time.Second), run(120 * time.Second), time.Time{}, 100 * time.Second},
		{"the run without it shorter", run(90 * time.Second), run(120 * time.Second), time.Time{}, 90 * time.Second},
		{"housekeeping ended in the run", run(100 * time.Second), run(120 * time.Second), t0.Add(40 * time.Second), 40 * time.Second},
		{"housekeeping ended after the run", run(200 * time.Second), run(120 * time.Second), t0.Add(150 * time.Second), 120 * time.Second},
		{"housekeeping ended before the run", run(100 * time.Second), run(120 * time.Second), t0.Add(-time.Second), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := hkWindow(tc.without, tc.during, tc.hkEnded); got != tc.want {
				t.Errorf("hkWindow = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestHousekeepingRates(t *testing.T) {
	tests := []struct {
		name            string
		windows         []time.Duration
		without, during []float64
		wantWo, wantDu  float64
		wantN           int
	}{
		{"no round", nil, nil, nil, 0, 0, 0},
		{"every window long enough", []time.Duration{hkMinWindow, 2 * hkMinWindow}, []float64{100, 200}, []float64{50, 150}, 150, 100, 2},
		{"a short one left out", []time.Duration{2 * hkMinWindow, hkMinWindow - time.Second}, []float64{100, 400}, []float64{90, 10}, 100, 90, 1},
		{"every one too short", []time.Duration{time.Second, 0}, []float64{100, 400}, []float64{90, 10}, 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &housekeepingFigures{without: tc.without, during: tc.during}
			for _, w := range tc.windows {
				h.rounds = append(h.rounds, hkRound{window: w})
			}
			if wo, du, n := h.rates(); wo != tc.wantWo || du != tc.wantDu || n != tc.wantN {
				t.Errorf("rates() = %v, %v, %d; want %v, %v, %d", wo, du, n, tc.wantWo, tc.wantDu, tc.wantN)
			}
		})
	}
}
