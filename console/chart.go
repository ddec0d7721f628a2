package console

import (
	"fmt"
	"strings"
	"time"

	"github.com/provisioner/provisioner/ops"
)

// The overview's chart: the requests completed and rejected per minute over the
// last 24 hours (ops.SettledPerMinute, one statement bucketed in the database),
// drawn on the server as SVG: no script draws it, and it reads without JavaScript.

// Chart dimensions, in the SVG's own units: one unit a minute.
const (
	chartMinutes = 24 * 60
	chartHeight  = 160
)

type chartData struct {
	Width, Height       int
	Completed, Rejected string // polyline points
	Max                 int64  // the top of the scale: the busiest minute's count, at least 1
	Busiest             int64  // the busiest minute's count
	TotalCompleted      int64
	TotalRejected       int64
	Ticks               []chartTick
	From, Until         time.Time
}

type chartTick struct {
	X     int
	Label string
}

func drawChart(rows []ops.Settled, until time.Time) chartData {
	d := chartData{Width: chartMinutes, Height: chartHeight, Until: until, Max: 1}
	if len(rows) > 0 {
		d.From = rows[0].Minute
	}
	for _, r := range rows {
		d.TotalCompleted += r.Completed
		d.TotalRejected += r.Rejected
		d.Busiest = max(d.Busiest, r.Completed, r.Rejected)
	}
	d.Max = max(d.Busiest, 1)
	y := func(n int64) string {
		return fmt.Sprintf("%.1f", float64(chartHeight)-float64(n)*float64(chartHeight-4)/float64(d.Max))
	}
	var c, rj strings.Builder
	for i, r := range rows {
		fmt.Fprintf(&c, "%d,%s ", i, y(r.Completed))
		fmt.Fprintf(&rj, "%d,%s ", i, y(r.Rejected))
		if m := r.Minute; m.Minute() == 0 && m.Hour()%3 == 0 {
			d.Ticks = append(d.Ticks, chartTick{X: i, Label: m.Format("15:04")})
		}
	}
	d.Completed, d.Rejected = strings.TrimSpace(c.String()), strings.TrimSpace(rj.String())
	return d
}
