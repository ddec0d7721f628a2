package benchrun

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/provisioner/provisioner/internal/samplegen"
)

// The goals the importer is measured against.
const (
	goalRate  = 100_000 // rows/s
	goalRatio = 0.9     // of the raw COPY's rows/s (issue 16)
	goalRSS   = 150e6   // bytes of peak resident memory
)

type report struct {
	rows, rounds, cpus int
	pgVersion          string
	fileSize           int64
	gen                samplegen.Stats
	total              time.Duration

	generate, migrate, reference time.Duration

	importer    []measurement
	importerOwn []time.Duration // the importer's own logged duration of each round
	psql        []measurement
	base        []measurement // the base build's import (Config.Base), in the same rounds
	pq          []measurement
	pqSkipped   string
}

func (m measurement) String() string {
	return fmt.Sprintf("%8s  %9s rows/s  client CPU %7s  postgres CPU %7s%s",
		secs(m.wall), thousands(m.rate()), secs(m.clientCPU), pgSecs(m.pgCPU), rss(m.maxRSS, "  peak RSS "))
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "\nprovisioner import vs raw COPY: %s rows (%.1f MB), %d rounds alternating, PostgreSQL %s, %d CPUs\n",
		thousands(float64(r.rows)), float64(r.fileSize)/1e6, r.rounds, r.pgVersion, r.cpus)
	fmt.Fprintf(w, "setup: generate %s, migrate %s, reference load %s (%s subscriptions, %s smartcards, %s STBs, %d products)\n\n",
		secs(r.generate), secs(r.migrate), secs(r.reference), thousands(float64(r.gen.Subscriptions)),
		thousands(float64(r.gen.Smartcards)), thousands(float64(r.gen.STBs)), r.gen.Products)

	runs := []struct {
		name string
		ms   []measurement
	}{
		{"importer (bin/provisioner import)", r.importer},
		{"raw COPY (psql \\copy)", r.psql},
		{"raw COPY (lib/pq CopyIn, rows in memory)", r.pq},
		{"base build's importer (-base)", r.base},
	}
	const roundRow = "%-6s %-41s %8s %10s %11s %13s %11s %9s\n"
	fmt.Fprintf(w, roundRow, "ROUND", "RUN", "WALL", "ROWS/S", "CLIENT CPU", "POSTGRES CPU", "CPU µs/ROW", "PEAK RSS")
	for i := 0; i < r.rounds; i++ {
		for _, run := range runs {
			if i < len(run.ms) {
				m := run.ms[i]
				fmt.Fprintf(w, roundRow, strconv.Itoa(i+1), run.name, secs(m.wall), thousands(m.rate()),
					secs(m.clientCPU), pgSecs(m.pgCPU), perRow(m.clientCPU, m.pgCPU, r.rows), rss(m.maxRSS, ""))
			}
		}
	}
	fmt.Fprintln(w)
	const medianRow = "%-6s %-41s %8s %10s %8s %11s %13s %11s %8s\n"
	fmt.Fprintf(w, medianRow, "MEDIAN", "RUN", "WALL", "ROWS/S", "vs psql", "CLIENT CPU", "POSTGRES CPU", "CPU µs/ROW", "vs psql")
	psqlRate := r.medianRate(r.psql)
	psqlCPU := r.medianCPU(r.psql)
	for _, run := range runs {
		if len(run.ms) == 0 {
			continue
		}
		rate, cpu := r.medianRate(run.ms), r.medianCPU(run.ms)
		client := time.Duration(median(run.ms, func(m measurement) float64 { return float64(m.clientCPU) }))
		pg := time.Duration(median(run.ms, func(m measurement) float64 { return float64(m.pgCPU) }))
		cpuRatio := "?"
		if cpu > 0 && psqlCPU > 0 {
			cpuRatio = fmt.Sprintf("%.2f", psqlCPU/cpu)
		}
		fmt.Fprintf(w, medianRow, "", run.name, secs(time.Duration(median(run.ms, func(m measurement) float64 { return float64(m.wall) }))), thousands(rate), fmt.Sprintf("%.2f", rate/psqlRate),
			secs(client), pgSecs(pg), perRow(client, pg, r.rows), cpuRatio)
	}
	fmt.Fprintln(w, "vs psql: this run's figure against psql's, 1.00 = as good as the raw COPY: rows/s over psql's rows/s, and psql's")
	fmt.Fprintln(w, "CPU per row over this one's. Other load on the machine moves wall times a lot and CPU times little.")
	if r.pqSkipped != "" {
		fmt.Fprintf(w, "lib/pq CopyIn baseline skipped: %s\n", r.pqSkipped)
	}
	if own := medianDuration(r.importerOwn); own > 0 {
		fmt.Fprintf(w, "the importer's own logged duration: median %s (%s rows/s); the rest of its wall time is process start, connecting, exit\n",
			secs(own), thousands(float64(r.rows)/own.Seconds()))
	}

	rate := r.medianRate(r.importer)
	ratio := rate / psqlRate
	peak := int64(0)
	for _, m := range r.importer {
		peak = max(peak, m.maxRSS)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GOAL\t\tMEASURED\t")
	fmt.Fprintf(tw, "importer throughput\t>= %s rows/s\t%s rows/s (median)\t%s\n", thousands(goalRate), thousands(rate), verdict(rate >= goalRate))
	fmt.Fprintf(tw, "importer / raw COPY (psql)\t>= %.2f\t%.2f (medians)\t%s\n", goalRatio, ratio, verdict(ratio >= goalRatio))
	if impCPU, psqlCPU := r.medianCPU(r.importer), r.medianCPU(r.psql); impCPU > 0 && psqlCPU > 0 {
		// No goal: the importer parses and checks every row, which psql's COPY of rows
		// already resolved does not; the figure says what that costs.
		fmt.Fprintf(tw, "CPU per row, client + PostgreSQL\t(compared)\timporter %.1f µs, psql \\copy %.1f µs: %.2f\t\n", impCPU, psqlCPU, psqlCPU/impCPU)
	}
	fmt.Fprintf(tw, "importer peak RSS\t< %.0f MB\t%s (highest of %d)\t%s\n", goalRSS/1e6, rss(peak, ""), len(r.importer), verdict(float64(peak) < goalRSS))
	tw.Flush()
	fmt.Fprintf(w, "\nCPU: client = the importer's process (or psql, or this one for lib/pq); postgres = the bench database's backends and\n"+
		"their parallel workers, plus walwriter, checkpointer and background writer (polled: a little low). bench took %s.\n", secs(r.total))
}

// medianCPU is the median of client and PostgreSQL CPU time together, per row in
// microseconds; 0 when PostgreSQL's is unknown.
func (r *report) medianCPU(ms []measurement) float64 {
	return median(ms, func(m measurement) float64 {
		if m.pgCPU < 0 {
			return 0
		}
		return float64(m.clientCPU+m.pgCPU) / float64(time.Microsecond) / float64(r.rows)
	})
}

func perRow(client, pg time.Duration, rows int) string {
	if pg < 0 {
		return "?"
	}
	return fmt.Sprintf("%.2f", float64(client+pg)/float64(time.Microsecond)/float64(rows))
}

// medianRate is the rows per second of the median wall time (with an even number of
// rounds, the mean of the two middle ones), so that it agrees with the WALL column.
func (r *report) medianRate(ms []measurement) float64 {
	return float64(r.rows) / time.Duration(median(ms, func(m measurement) float64 { return float64(m.wall) })).Seconds()
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

// median of f over ms; 0 for none.
func median(ms []measurement, f func(measurement) float64) float64 {
	if len(ms) == 0 {
		return 0
	}
	v := make([]float64, len(ms))
	for i, m := range ms {
		v[i] = f(m)
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[n/2]
}

func medianDuration(ds []time.Duration) time.Duration {
	ms := make([]measurement, len(ds))
	for i, d := range ds {
		ms[i].wall = d
	}
	return time.Duration(median(ms, func(m measurement) float64 { return float64(m.wall) }))
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

func pgSecs(d time.Duration) string {
	if d < 0 {
		return "?"
	}
	return secs(d)
}

func rss(b int64, prefix string) string {
	if b <= 0 {
		return ""
	}
	return fmt.Sprintf("%s%.1f MB", prefix, float64(b)/1e6)
}

// thousands formats v rounded, with thousands separated by commas.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
