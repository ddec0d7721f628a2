package historybench

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestPrintInfoFigures: the CPU per create is printed beside the rate for
// information: its ratio, no goal and no verdict, and it decides nothing.
func TestPrintInfoFigures(t *testing.T) {
	cfg := Config{Sizes: []int64{0, 10_000_000}, Rounds: 2, Days: 90, Cards: 200_000, ImportRows: 1000,
		CreateTime: 20 * time.Second, CreateSlices: 4, Shows: 1, Concurrency: 8, Reads: 1}
	tests := []struct {
		name        string
		rate        [2]float64 // creates/s at 0, at 10M
		pg          [2]float64 // µs per create
		wantVerdict string
		wantLines   []string
	}{
		{"rate met, CPU doubled", [2]float64{1000, 950}, [2]float64{500, 1000}, "every goal: PASS",
			[]string{"Web API create (creates/s)|  1000|  950|  0.95|  >= 0.9x|  PASS|",
				"Web API create: PostgreSQL CPU per create (µs)|  500.0|  1000.0|  2.00x|  -|  |"}},
		{"rate missed", [2]float64{1000, 800}, [2]float64{500, 500}, "every goal: MISS",
			[]string{"Web API create (creates/s)|  1000|  800|  0.80|  >= 0.9x|  MISS|",
				"Web API create: PostgreSQL CPU per create (µs)|  500.0|  500.0|  1.00x|  -|  |"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := &bench{cfg: cfg, fig: figures{}, loads: []float64{1.5, 2.5}}
			for i, s := range cfg.Sizes {
				b.fig.add(figCreate, s, tc.rate[i])
				b.fig.add(figCreatePG, s, tc.pg[i])
			}
			var out bytes.Buffer
			b.print(&out, nil, time.Minute)
			got := out.String()
			squeezed := strings.Join(strings.Fields(got), " ")
			for _, l := range tc.wantLines {
				if !strings.Contains(squeezed, strings.Join(strings.Fields(l), " ")) {
					t.Errorf("no line %q in:\n%s", l, got)
				}
			}
			if !strings.Contains(got, tc.wantVerdict) {
				t.Errorf("no %q in:\n%s", tc.wantVerdict, got)
			}
			if !strings.Contains(got, "(load average 1.5 to 2.5)") {
				t.Errorf("no load average in:\n%s", got)
			}
		})
	}
}
