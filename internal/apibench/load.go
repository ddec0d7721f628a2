package apibench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/provisioner/provisioner/internal/procwatch"
)

// measurement is one timed run.
type measurement struct {
	wall      time.Duration
	n         int             // transactions, creates or calls
	clientCPU time.Duration   // pgbench, or this process (the callers)
	serverCPU time.Duration   // provisioner serve; 0 for pgbench
	pgCPU     time.Duration   // the database's PostgreSQL processes; -1 unknown
	latencies []time.Duration // per call, sorted (creates and immediate)
	tps       float64         // pgbench's own figure
}

func (m measurement) rate() float64 {
	if m.tps > 0 {
		return m.tps
	}
	return float64(m.n) / m.wall.Seconds()
}

// cpuPer is the CPU time of everything (client, serve, PostgreSQL) per unit of
// work, in microseconds; 0 when PostgreSQL's is unknown.
func (m measurement) cpuPer() float64 {
	if m.pgCPU < 0 || m.n == 0 {
		return 0
	}
	return float64(m.clientCPU+m.serverCPU+m.pgCPU) / float64(time.Microsecond) / float64(m.n)
}

func (m measurement) percentile(p float64) time.Duration {
	if len(m.latencies) == 0 {
		return 0
	}
	return m.latencies[min(len(m.latencies)-1, int(p*float64(len(m.latencies))))]
}

// rounds alternates the three measurements, pgbench first in odd rounds and the
// API's first in even ones, so that neither always runs on a warmer server.
func (b *bench) rounds(ctx context.Context, rep *report) error {
	// The first cards are the immediate calls', one each, so that each call's request
	// is the only one of its card and may be sent at once; the creates use the rest.
	reserved := b.reserved()
	if reserved+100 > len(b.cards) {
		return fmt.Errorf("%d cards: the immediate calls need %d of them and the creates at least 100 more", len(b.cards), reserved)
	}
	b.logf("warming up")
	if _, err := b.creates(ctx, time.Second); err != nil {
		return err
	}
	if _, _, err := b.immediate(ctx, warmUp); err != nil {
		return err
	}
	for round := 1; round <= b.cfg.Rounds; round++ {
		pg := func() error {
			m, err := b.pgbench(ctx)
			if err != nil {
				return err
			}
			rep.pgbench = append(rep.pgbench, m)
			b.logf("round %d/%d: pgbench    %s", round, b.cfg.Rounds, m)
			return nil
		}
		api := func() error {
			m, err := b.creates(ctx, b.cfg.Duration)
			if err != nil {
				return err
			}
			rep.creates = append(rep.creates, m)
			b.logf("round %d/%d: creates    %s", round, b.cfg.Rounds, m)
			m, base, err := b.immediate(ctx, b.cfg.Immediate)
			if err != nil {
				return err
			}
			rep.immediate = append(rep.immediate, m)
			b.logf("round %d/%d: immediate  %s", round, b.cfg.Rounds, m)
			if b.base != nil {
				rep.baseImmediate = append(rep.baseImmediate, base)
				b.logf("round %d/%d: base build %s", round, b.cfg.Rounds, base)
			}
			c, err := b.commitLatency(ctx)
			if err != nil {
				return err
			}
			rep.commits = append(rep.commits, measurement{latencies: []time.Duration{c}})
			b.logf("round %d/%d: one commit %s (pgbench -c 1, one INSERT)", round, b.cfg.Rounds, ms(c))
			return nil
		}
		steps := []func() error{pg, api}
		if round%2 == 0 {
			steps = []func() error{api, pg}
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return err
			}
		}
	}
	return nil
}

// warmUp immediate calls precede the rounds: the first connections of serve's pool.
const warmUp = 20

func (m measurement) String() string {
	s := fmt.Sprintf("%7.2fs %9.0f/s  CPU µs each %7.1f", m.wall.Seconds(), m.rate(), m.cpuPer())
	if len(m.latencies) > 0 {
		s += fmt.Sprintf("  p50 %s  p90 %s  p99 %s", ms(m.percentile(0.5)), ms(m.percentile(0.9)), ms(m.percentile(0.99)))
	}
	return s
}

var latencyLine = regexp.MustCompile(`(?m)^latency average = ([0-9.]+) ms`)

// commitLatency is the latency of one INSERT committed by one client, pgbench
// alone on its database: the floor under any call that waits for a WAL flush.
func (b *bench) commitLatency(ctx context.Context) (time.Duration, error) {
	script := filepath.Join(b.work, "commit.sql")
	if err := os.WriteFile(script, []byte("INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, 1, 0, now());\n"), 0o644); err != nil {
		return 0, err
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, b.cfg.Pgbench, "-n", "-c", "1", "-T", "3", "-f", script, b.pgURL)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("pgbench -c 1: %w\n%s%s", err, stdout.String(), stderr.String())
	}
	m := latencyLine.FindStringSubmatch(stdout.String())
	if m == nil {
		return 0, fmt.Errorf("pgbench -c 1: no latency in its output:\n%s", stdout.String())
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return time.Duration(v * float64(time.Millisecond)), nil
}

var tpsLine = regexp.MustCompile(`(?m)^tps = ([0-9.]+) \(without initial connection time\)`)
var txLine = regexp.MustCompile(`(?m)^number of transactions actually processed: ([0-9]+)`)

// pgbench runs pgbench's built-in TPC-B-like script on its database.
func (b *bench) pgbench(ctx context.Context) (measurement, error) {
	var m measurement
	w := b.watchPostgres(b.cfg.Database + "_pgbench")
	t := time.Now()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, b.cfg.Pgbench, "-c", strconv.Itoa(b.cfg.Concurrency), "-j", "2",
		"-T", strconv.Itoa(int(b.cfg.Duration.Seconds()+0.5)), b.pgURL)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	m.wall = time.Since(t)
	m.pgCPU = w.Finish()
	if ps := cmd.ProcessState; ps != nil {
		m.clientCPU = ps.UserTime() + ps.SystemTime()
	}
	if err != nil {
		return m, fmt.Errorf("pgbench: %w\n%s%s", err, stdout.String(), stderr.String())
	}
	tps, tx := tpsLine.FindStringSubmatch(stdout.String()), txLine.FindStringSubmatch(stdout.String())
	if tps == nil || tx == nil {
		return m, fmt.Errorf("pgbench: no tps in its output:\n%s", stdout.String())
	}
	m.tps, _ = strconv.ParseFloat(tps[1], 64)
	m.n, _ = strconv.Atoi(tx[1])
	return m, nil
}

// creates has Concurrency callers create requests for d, one call after another
// each, and counts the answers; any answer but 200 fails the bench.
func (b *bench) creates(ctx context.Context, d time.Duration) (measurement, error) {
	var m measurement
	cards := b.cards[b.reserved():]
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	serveCPU, _ := procwatch.ProcessCPU(b.serve.Process.Pid)
	self := procwatch.SelfCPU()
	pg := b.watchPostgres(b.cfg.Database)
	t := time.Now()
	deadline := t.Add(d)
	for i := range b.cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(i), uint64(t.UnixNano())))
			var lat []time.Duration
			for time.Now().Before(deadline) && ctx.Err() == nil {
				body := b.body(cards[rnd.IntN(len(cards))], b.products[rnd.IntN(len(b.products))], false)
				c := time.Now()
				_, err := b.call(ctx, body)
				lat = append(lat, time.Since(c))
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
			mu.Lock()
			m.latencies = append(m.latencies, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	m.wall = time.Since(t)
	m.pgCPU = pg.Finish()
	m.clientCPU = procwatch.SelfCPU() - self
	if after, ok := procwatch.ProcessCPU(b.serve.Process.Pid); ok {
		m.serverCPU = after - serveCPU
	}
	m.n = len(m.latencies)
	slices.Sort(m.latencies)
	if firstErr != nil {
		return m, fmt.Errorf("creates: %w", firstErr)
	}
	return m, ctx.Err()
}

// watchPostgres watches the server's processes of database. Every 250 ms: the
// measured connections (serve's pool, pgbench's clients) live through a measurement,
// and polling every 20 ms took about 8 ms of this process's CPU per immediate call,
// taken from the two cores serve and PostgreSQL share with it.
func (b *bench) watchPostgres(database string) *procwatch.Postgres {
	return procwatch.WatchPostgresEvery(b.pgPID, database, 250*time.Millisecond)
}

// reserved is how many of the first cards the immediate calls take.
func (b *bench) reserved() int {
	n := b.cfg.Immediate*b.cfg.Rounds + warmUp
	if b.base != nil {
		n *= 2
	}
	return n
}

// immediate makes n calls with process_immediately, one after the other, each on
// a card of its own; every request must come back COMPLETED. With a base build
// (Config.Base), it makes n more, every other call to the base build's serve, the
// first of each pair to either in turn: base holds those. Their CPU times are each
// serve's own; PostgreSQL's cannot be told apart then, and is left unknown.
func (b *bench) immediate(ctx context.Context, n int) (m, base measurement, err error) {
	serveCPU, _ := procwatch.ProcessCPU(b.serve.Process.Pid)
	var baseCPU time.Duration
	if b.base != nil {
		baseCPU, _ = procwatch.ProcessCPU(b.base.Process.Pid)
	}
	self := procwatch.SelfCPU()
	pg := b.watchPostgres(b.cfg.Database)
	t := time.Now()
	one := func(url string, into *measurement) error {
		card := b.cards[b.next]
		b.next++
		body := b.body(card, b.products[b.next%len(b.products)], true)
		c := time.Now()
		state, err := b.callAt(ctx, url, body)
		into.latencies = append(into.latencies, time.Since(c))
		if err != nil {
			return fmt.Errorf("immediate: %w", err)
		}
		if state != "COMPLETED" {
			return fmt.Errorf("immediate: the request of card %s came back %s, not COMPLETED: is the simulator up?", card, state)
		}
		return nil
	}
	for i := range n {
		if b.base == nil {
			if err := one(b.apiURL, &m); err != nil {
				return m, base, err
			}
			continue
		}
		type target struct {
			url  string
			into *measurement
		}
		pair := [2]target{{b.apiURL, &m}, {b.baseURL, &base}}
		if i%2 == 1 {
			pair[0], pair[1] = pair[1], pair[0]
		}
		for _, t := range pair {
			if err := one(t.url, t.into); err != nil {
				return m, base, err
			}
		}
	}
	m.wall = time.Since(t)
	m.pgCPU = pg.Finish()
	m.clientCPU = procwatch.SelfCPU() - self
	if after, ok := procwatch.ProcessCPU(b.serve.Process.Pid); ok {
		m.serverCPU = after - serveCPU
	}
	m.n = n
	slices.Sort(m.latencies)
	if b.base != nil {
		base.wall, base.n, base.pgCPU, m.pgCPU = m.wall, n, -1, -1
		if after, ok := procwatch.ProcessCPU(b.base.Process.Pid); ok {
			base.serverCPU = after - baseCPU
		}
		slices.Sort(base.latencies)
	}
	return m, base, nil
}

func (b *bench) body(card, product string, immediately bool) []byte {
	v := map[string]any{
		"token":                b.token,
		"smartcard_identifier": map[string]string{"serial_number": card},
		"services_set":         []any{map[string]any{"service_identifier": map[string]string{"code": product}}},
	}
	if immediately {
		v["process_immediately"] = true
	}
	body, _ := json.Marshal(v)
	return body
}

// call creates one request with add_services and returns its state.
func (b *bench) call(ctx context.Context, body []byte) (string, error) {
	return b.callAt(ctx, b.apiURL, body)
}

// callAt is call to the serve at url.
func (b *bench) callAt(ctx context.Context, url string, body []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/nagravision/provisioning_requests/add_services", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, data)
	}
	var answer struct {
		Data struct {
			State string `json:"life_cycle_state"`
		} `json:"data"`
	}
	if err := json.Unmarshal(data, &answer); err != nil {
		return "", fmt.Errorf("answer: %w", err)
	}
	return answer.Data.State, nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }
