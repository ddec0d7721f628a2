package historybench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// print writes the table: one line per figure, its median at every size, the ratio
// of the largest history's to the baseline's (throughputs) and the goal.
func (b *bench) print(w io.Writer, hk *housekeepingFigures, took time.Duration) {
	c := b.cfg
	fmt.Fprintf(w, "History bench: the same work beside 0 to %s settled requests (spread over %d days, %d cards, %d CPUs)\n",
		size(c.Sizes[len(c.Sizes)-1]), c.Days, c.Cards, cpus())
	where := "the server of -server"
	if c.Cluster != "" {
		where = "a cluster of the bench's own, set up as docs/operating.md recommends"
	}
	fmt.Fprintf(w, "on %s: %s\n", where, b.server)
	fmt.Fprintf(w, "each round, on every database in turn: import %d rows, one processing run over them (defaults: batch 100, concurrency 4,\n"+
		"simulator over HTTP), %d Web API shows, %d times each operator's read; then Web API creates at concurrency %d for %v on each\n"+
		"database, in %d slices alternated between them; then the nightly housekeeping job on each (its vacuum); %d rounds,\n"+
		"medians (load average %s)\n\n",
		c.ImportRows, c.Shows, c.Reads, c.Concurrency, c.CreateTime, c.CreateSlices, c.Rounds, b.loadRange())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	head := []string{"figure"}
	for _, s := range c.Sizes {
		head = append(head, "at "+size(s))
	}
	head = append(head, "ratio", "goal", "")
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	figs := make([]figure, 0, len(b.fig))
	for f := range b.fig {
		figs = append(figs, f)
	}
	slices.SortFunc(figs, func(a, b figure) int { return a.order - b.order })
	pass := true
	base, top := c.Sizes[0], c.Sizes[len(c.Sizes)-1]
	for _, f := range figs {
		row := []string{f.name}
		for _, s := range c.Sizes {
			row = append(row, num(median(b.fig[f][s]), f.throughput))
		}
		b0, bt := median(b.fig[f][base]), median(b.fig[f][top])
		var ok bool
		if f.info {
			row = append(row, fmt.Sprintf("%.2fx", bt/b0), "-", "")
			fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
			continue
		}
		if f.throughput {
			ratio := bt / b0
			ok = ratio >= throughRatio
			row = append(row, fmt.Sprintf("%.2f", ratio), fmt.Sprintf(">= %.1fx", throughRatio))
		} else {
			ok = bt < readCeiling
			row = append(row, fmt.Sprintf("%.1fx", bt/b0), fmt.Sprintf("< %.0f ms", readCeiling))
		}
		pass = pass && ok
		row = append(row, verdict(ok))
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	if hk != nil {
		wo, du, n := hk.rates()
		ok := n > 0 && du/wo >= hkRatio
		pass = pass && ok
		wos, dus, ratio := num(wo, true), num(du, true), fmt.Sprintf("%.2f", du/max(wo, 1e-9))
		if n == 0 { // no window long enough: no figure (see below)
			wos, dus, ratio = "-", "-", "-"
		}
		fmt.Fprintf(tw, "processing run during housekeeping at %s (requests/s)\t%s\t%s\t%s\t>= %.1fx\t%s\t\n",
			size(top), wos+" without", dus+" during", ratio, hkRatio, verdict(ok))
	}
	tw.Flush()
	if hk != nil {
		fmt.Fprintf(w, "\nhousekeeping (requests settled before %s, in %d parts, one per run beside it): each round's two runs compared over the\n"+
			"same window from their start, while housekeeping was at work beside the one (medians of the windows of at least %v):\n",
			hk.cutoff.UTC().Format("2006-01-02 15:04"), len(hk.rounds), hkMinWindow)
		for i, r := range hk.rounds {
			short := ""
			if r.window < hkMinWindow {
				short = " (window too short: left out of the line above)"
			}
			fmt.Fprintf(w, "  round %d: window %v of a %v run; housekeeping deleted %d in %v; %s without, %s during%s\n", i+1,
				r.window.Round(time.Second), r.run.Round(time.Second), r.hkDeleted, r.hkTook.Round(time.Second),
				num(hk.without[i], true), num(hk.during[i], true), short)
		}
		fmt.Fprintf(w, "  %d deleted in all; after the runs it deleted %d alone in %v (%.0f/s)\n",
			hk.deleted, hk.finished, hk.finish.Round(time.Second), float64(hk.finished)/max(hk.finish.Seconds(), 0.001))
		if _, _, n := hk.rates(); n == 0 {
			fmt.Fprintf(w, "  every window was shorter than %v: housekeeping ended too early in its runs to tell (MISS)\n", hkMinWindow)
		}
	}
	fmt.Fprintf(w, "throughputs: ratio = at %s / at %s; reads: ratio for information, the goal is the time at %s; CPU per create: for\n"+
		"information (PostgreSQL's processes of the database, and this process: the API server and its HTTP client). Took %v.\n",
		size(top), size(base), size(top), took.Round(time.Second))
	if pass {
		fmt.Fprintln(w, "every goal: PASS")
	} else {
		fmt.Fprintln(w, "every goal: MISS (see the lines above)")
	}
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

func num(v float64, throughput bool) string {
	if throughput {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

func size(n int64) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1_000 && n%1_000 == 0:
		return fmt.Sprintf("%dk", n/1_000)
	}
	return fmt.Sprint(n)
}

// loadRange is the lowest and highest 1-minute load average sampled during the run.
func (b *bench) loadRange() string {
	if len(b.loads) == 0 {
		return "?"
	}
	return fmt.Sprintf("%.1f to %.1f", slices.Min(b.loads), slices.Max(b.loads))
}
