package duration

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MaxDays is the most days Parse takes: far beyond any retention, and well inside
// time.Duration (about 106,000 days).
const MaxDays = 100000

// Parse reads a Go duration ("90s", "1h30m"), or a whole number of days ("30d").
// Negative durations are refused.
func Parse(s string) (time.Duration, error) {
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > MaxDays {
			return 0, fmt.Errorf("%q: not a duration (a whole number of days such as \"30d\", or \"12h\", \"5m\", \"30s\")", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("%q: not a duration (such as \"30s\", \"5m\", \"12h\" or \"30d\")", s)
		}
	}
	if d < 0 {
		return 0, fmt.Errorf("%q: must not be negative", s)
	}
	return d, nil
}
