package cli_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/lib/pq" // the driver of the heartbeat check

	"github.com/provisioner/provisioner/cli"
	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/internal/testutil"
	"github.com/provisioner/provisioner/simulator"
	"github.com/provisioner/provisioner/store"
)

// TestConfigCheck: config check names every mistake with its line (exit 2), accepts
// the shipped sample (exit 0) and finds the file through PROVISIONER_CONFIG.
func TestConfigCheck(t *testing.T) {
	bad := filepath.Join("..", "config", "testdata", "mistakes.toml")
	r := runCLI(t, nil, "config", "check", bad)
	if r.code != cli.ExitUsage || !strings.Contains(r.stderr, "18 mistakes in "+bad) {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
	testutil.Golden(t, "config-check.golden", []byte(r.stdout))

	// The sample, where its inbox exists and with the gateway token in the
	// environment (the unit's secrets.env): what the scheduler needs to start.
	data, err := os.ReadFile(filepath.Join("..", "samples", "provisioner.toml"))
	if err != nil {
		t.Fatal(err)
	}
	sample := filepath.Join(t.TempDir(), "provisioner.toml")
	os.WriteFile(sample, []byte(strings.Replace(string(data), `"/var/spool/provisioner/inbox"`, `"`+t.TempDir()+`"`, 1)), 0o600)
	r = runCLI(t, map[string]string{"PROVISIONER_CONFIG": sample, "CAS_GATEWAY_TOKEN": "tok"}, "config", "check")
	if r.code != 0 || !strings.HasPrefix(r.stdout, sample+": ok\n") || !regexp.MustCompile(`\nprocess +\*/5 \* \* \* \* +true`).MatchString(r.stdout) {
		t.Errorf("sample: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, args := range [][]string{{"config"}, {"config", "lint"}, {"config", "check", "a", "b"}, {"config", "check"}} {
		if r := runCLI(t, nil, args...); r.code != cli.ExitUsage {
			t.Errorf("%q: exit %d", args, r.code)
		}
	}
}

// TestConfigCheckFindsWhatTheSchedulerRefuses (issue 11): config check finds, beside
// the file's mistakes, whatever makes the scheduler refuse to start, and the
// scheduler refuses each with exit 2 (a listen failure too, which exited 1 and was
// restarted every 10 s for ever).
func TestConfigCheckFindsWhatTheSchedulerRefuses(t *testing.T) {
	dir := t.TempDir()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	inbox := t.TempDir()
	cases := []struct {
		name, file string
		env        map[string]string
		check      string // a line of config check's output; exit 2 unless warn
		warn       bool   // config check passes with this warning
		scheduler  string // what the scheduler says, exit 2
	}{
		{name: "missing inbox", file: "[jobs.import]\nschedule = \"* * * * *\"\ninbox = \"/nonexistent/inbox\"\n",
			check:     "the import job is scheduled, but its inbox /nonexistent/inbox is not a directory that can be read (stat /nonexistent/inbox: no such file or directory)",
			scheduler: "refusing to start: the import job is scheduled, but its inbox /nonexistent/inbox is not a directory"},
		{name: "port out of range", file: "[scheduler]\nmetrics_listen = \"127.0.0.1:99999\"\n[jobs.housekeeping]\nschedule = \"* * * * *\"\n",
			check:     `:2: scheduler.metrics_listen: "127.0.0.1:99999": the port must be a number from 0 to 65535`,
			scheduler: `scheduler.metrics_listen: "127.0.0.1:99999": the port must be a number from 0 to 65535`},
		{name: "gateway settings missing", file: "[jobs.process]\nschedule = \"* * * * *\"\n",
			check:     "the process job is scheduled, but gateway: the gateway URL is not set (CAS_GATEWAY_URL)",
			scheduler: "refusing to start: the process job is scheduled, but gateway: the gateway URL is not set"},
		{name: "address in use", file: "[scheduler]\nmetrics_listen = \"" + busy.Addr().String() + "\"\n[jobs.import]\nschedule = \"* * * * *\"\ninbox = \"" + inbox + "\"\n",
			check: "warning: scheduler.metrics_listen " + busy.Addr().String() + " is in use now (by a running scheduler?)", warn: true,
			scheduler: "refusing to start: cannot serve metrics: metrics: listen on " + busy.Addr().String()},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			file := filepath.Join(dir, fmt.Sprintf("c%d.toml", i))
			os.WriteFile(file, []byte(c.file), 0o600)
			r := runCLI(t, c.env, "config", "check", file)
			want := cli.ExitUsage
			if c.warn {
				want = 0
			}
			if r.code != want || !strings.Contains(r.stdout, c.check) {
				t.Errorf("config check: exit %d, want %d and the line %q:\n%s%s", r.code, want, c.check, r.stdout, r.stderr)
			}
			env := map[string]string{"DATABASE_URL": pgtest.NewURL(t)}
			if r := runCLI(t, env, "scheduler", "--config", file); r.code != cli.ExitUsage || !strings.Contains(r.stderr, c.scheduler) {
				t.Errorf("scheduler: exit %d, want 2 and %q:\n%s", r.code, c.scheduler, r.stderr)
			}
		})
	}
}

// TestSchedulerRefusesBadFile: the scheduler does not start on a file with mistakes,
// and says each of them; nor without a file, nor with nothing scheduled.
func TestSchedulerRefusesBadFile(t *testing.T) {
	bad := filepath.Join("..", "config", "testdata", "mistakes.toml")
	r := runCLI(t, map[string]string{"DATABASE_URL": "postgres://x@127.0.0.1:1/x"}, "scheduler", "--config", bad)
	if r.code != cli.ExitUsage || !strings.Contains(r.stderr, "refusing to start: 18 mistakes in the configuration:\n") ||
		!strings.Contains(r.stderr, bad+":22: jobs.process.batch_size: 600: must be 1 to 500\n") ||
		!strings.Contains(r.stderr, bad+":33: unknown table [jobz]") {
		t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if r := runCLI(t, nil, "scheduler"); r.code != cli.ExitUsage || !strings.Contains(r.stderr, "no configuration file: pass --config FILE or set PROVISIONER_CONFIG") {
		t.Errorf("no file: exit %d %s", r.code, r.stderr)
	}
	empty := filepath.Join(t.TempDir(), "empty.toml")
	os.WriteFile(empty, []byte("[log]\nlevel = \"warn\"\n"), 0o600)
	if r := runCLI(t, map[string]string{"DATABASE_URL": pgtest.NewURL(t)}, "scheduler", "--config", empty); r.code != cli.ExitUsage || !strings.Contains(r.stderr, "schedules no job") {
		t.Errorf("nothing scheduled: exit %d %s", r.code, r.stderr)
	}
	noInbox := filepath.Join(t.TempDir(), "i.toml")
	os.WriteFile(noInbox, []byte("[jobs.import]\nschedule = \"* * * * *\"\ninbox = \"/nonexistent/inbox\"\n"), 0o600)
	if r := runCLI(t, nil, "scheduler", "--config", noInbox); r.code != cli.ExitUsage || !strings.Contains(r.stderr, "the import job is scheduled, but its inbox /nonexistent/inbox is not a directory") {
		t.Errorf("no inbox: exit %d %s", r.code, r.stderr)
	}
	procOnly := filepath.Join(t.TempDir(), "p.toml")
	os.WriteFile(procOnly, []byte("[jobs.process]\nschedule = \"* * * * *\"\n"), 0o600)
	if r := runCLI(t, nil, "scheduler", "--config", procOnly); r.code != cli.ExitUsage || !strings.Contains(r.stderr, "the process job is scheduled, but gateway: the gateway URL is not set") {
		t.Errorf("no gateway: exit %d %s", r.code, r.stderr)
	}
}

// TestRun: `provisioner run JOB` records a MANUAL run and exits as the commands do.
func TestRun(t *testing.T) {
	dsn := pgtest.NewURL(t)
	if r := runCLI(t, map[string]string{"DATABASE_URL": dsn}, "reference", "load", filepath.Join("..", "samples", "reference")); r.code != 0 {
		t.Fatalf("reference load: %d %s", r.code, r.stderr)
	}
	sim := simulator.New(simulator.Config{Token: "tok", DestinationID: "CRM01", Seed: 1}, mustKnown(t))
	srv := httptest.NewServer(sim)
	defer srv.Close()
	defer sim.Close()
	inbox := t.TempDir()
	file := filepath.Join(t.TempDir(), "c.toml")
	os.WriteFile(file, []byte(`[database]
url = "`+dsn+`"
[gateway]
url = "`+srv.URL+`"
destination = "CRM01"
[jobs.import]
inbox = "`+inbox+`"
settle = "0"
`), 0o600)
	vars := map[string]string{"PROVISIONER_CONFIG": file, "CAS_GATEWAY_TOKEN": "tok"}

	os.WriteFile(filepath.Join(inbox, "mixed.csv"), []byte("action,subscription_number,smartcard_serial_number,stb_serial_number\npair_smartcard_decoder,,SC0000000004,\nreset_pin,S1005,SC0000000005,STB-0001\n"), 0o644)
	r := runCLI(t, vars, "run", "import")
	if r.code != cli.ExitRejected || !strings.Contains(r.stdout, "1 file: 2 rows, 1 request created, 1 row and 0 files rejected") || !strings.Contains(r.stdout, "import run 1: REJECTED") {
		t.Errorf("run import: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// The flags may come after the job's name, as in crontab.example.
	r = runCLI(t, map[string]string{"CAS_GATEWAY_TOKEN": "tok"}, "run", "process", "--config", file)
	if r.code != cli.ExitRejected || !strings.Contains(r.stdout, "claimed 1, completed 0, rejected 1") {
		t.Errorf("run process: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, vars, "run", "housekeeping")
	if r.code != 0 || !strings.Contains(r.stdout, "housekeeping run 3: SUCCEEDED") {
		t.Errorf("run housekeeping: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Every line says which instance ran it, as the scheduler's do, and when to the
	// millisecond (issue 11, part 5).
	stamp := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)$`)
	for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		var entry struct{ Instance, Time string }
		if err := json.Unmarshal([]byte(line), &entry); err != nil || entry.Instance == "" || !stamp.MatchString(entry.Time) {
			t.Errorf("run's log line without instance or a millisecond time: %s", line)
		}
	}
	if r := runCLI(t, map[string]string{"PROVISIONER_CONFIG": file}, "run", "process"); r.code != cli.ExitUsage || !strings.Contains(r.stderr, "the gateway token is not set (CAS_GATEWAY_TOKEN)") {
		t.Errorf("no token: exit %d %s", r.code, r.stderr)
	}
	if r := runCLI(t, vars, "run", "imprt"); r.code != cli.ExitUsage || !strings.Contains(r.stderr, `no job "imprt": the jobs are housekeeping, import, process`) {
		t.Errorf("unknown job: exit %d %s", r.code, r.stderr)
	}
	if r := runCLI(t, vars, "run"); r.code != cli.ExitUsage {
		t.Errorf("no job: exit %d", r.code)
	}
	db, err := store.Open(context.Background(), dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var got []string
	rows, _ := db.Query("SELECT job || ' ' || trigger || ' ' || state FROM job_runs ORDER BY id")
	for rows.Next() {
		var s string
		rows.Scan(&s)
		got = append(got, s)
	}
	rows.Close()
	if strings.Join(got, ",") != "import MANUAL REJECTED,process MANUAL REJECTED,housekeeping MANUAL SUCCEEDED" {
		t.Errorf("ledger %q", got)
	}
}

// syncBuffer is a log buffer the scheduler writes while the test reads it.
type syncBuffer struct{ testutil.Buffer }

// waitLimit bounds the tests' waits on a condition: generous, for a machine whose
// cores are all busy (scripts/stress-test.sh); a wait that passes ends at once.
const waitLimit = time.Minute

// waitFor waits until the log holds want.
func (s *syncBuffer) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !strings.Contains(s.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("log never said %q:\n%s", want, s.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSchedulerCommand runs `provisioner scheduler` in-process: it runs the
// housekeeping job every second, keeps its configuration on SIGHUP with a bad file
// (saying why), takes a good one, and exits 0 at SIGTERM.
func TestSchedulerCommand(t *testing.T) {
	dsn := pgtest.NewURL(t)
	file := filepath.Join(t.TempDir(), "c.toml")
	write := func(schedule string) {
		os.WriteFile(file, []byte("[jobs.housekeeping]\nschedule = \""+schedule+"\"\n"), 0o600)
	}
	write("* * * * * *")
	var stderr syncBuffer
	env := cli.Env{Stdout: &bytes.Buffer{}, Stderr: &stderr, Getenv: func(k string) string {
		return map[string]string{"DATABASE_URL": dsn, "LOG_FORMAT": "text"}[k]
	}}
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int)
	go func() { code <- cli.Main(ctx, env, []string{"scheduler", "--config", file}) }()
	stderr.waitFor(t, `msg="job finished"`)
	// Its heartbeat row (recorded before its first tick), live; gone at its clean end.
	sqldb, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer sqldb.Close()
	beats := func() (n int) {
		if err := sqldb.QueryRow(`SELECT count(*) FROM instances WHERE kind = 'scheduler' AND last_seen_at > now() - interval '1 minute'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := beats(); n != 1 {
		t.Errorf("%d live scheduler heartbeats, want 1", n)
	}

	write("* * * *")
	syscall.Kill(syscall.Getpid(), syscall.SIGHUP)
	stderr.waitFor(t, `SIGHUP: configuration not reloaded; the running one is kept" error="`+file+`:2: jobs.housekeeping.schedule: \"* * * *\": expected 5 to 6 fields, found 4`)
	write("*/2 * * * * *")
	syscall.Kill(syscall.Getpid(), syscall.SIGHUP)
	stderr.waitFor(t, `msg="configuration reloaded"`)

	cancel()
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("exit %d\n%s", c, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the scheduler did not stop")
	}
	if !strings.Contains(stderr.String(), `msg="scheduler stopped"`) {
		t.Errorf("log:\n%s", stderr.String())
	}
	if n := beats(); n != 0 {
		t.Errorf("%d scheduler heartbeats after a clean stop, want none", n)
	}
}

// TestSchedulerServesMetrics runs `provisioner scheduler` with metrics_listen set and
// scrapes /metrics over HTTP: the queue depth it reports is what the database holds,
// and the runs of the housekeeping job are counted.
func TestSchedulerServesMetrics(t *testing.T) {
	db, dsn := pgtest.New(t)
	// 3 pending REGULAR, 2 pending EXPRESS, 1 completed REGULAR.
	pgtest.Requests(t, db,
		pgtest.RequestOpts{Smartcard: "1"}, pgtest.RequestOpts{Smartcard: "2"}, pgtest.RequestOpts{Smartcard: "3"},
		pgtest.RequestOpts{Priority: "EXPRESS", Smartcard: "4"}, pgtest.RequestOpts{Priority: "EXPRESS", Smartcard: "5"},
		pgtest.RequestOpts{State: "COMPLETED", Smartcard: "6"})
	file := filepath.Join(t.TempDir(), "c.toml")
	os.WriteFile(file, []byte("[scheduler]\nmetrics_listen = \"127.0.0.1:0\"\n\n[jobs.housekeeping]\nschedule = \"* * * * * *\"\n"), 0o600)
	var stderr syncBuffer
	env := cli.Env{Stdout: &bytes.Buffer{}, Stderr: &stderr, Getenv: func(k string) string {
		return map[string]string{"DATABASE_URL": dsn, "LOG_FORMAT": "text"}[k]
	}}
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int)
	go func() { code <- cli.Main(ctx, env, []string{"scheduler", "--config", file}) }()
	defer func() {
		cancel()
		if c := <-code; c != 0 {
			t.Errorf("exit %d\n%s", c, stderr.String())
		}
	}()
	// The address is logged once the listener is open; the run is waited for on
	// /metrics itself, not on the log: "job finished" says nothing of the metrics.
	stderr.waitFor(t, `msg="serving metrics at /metrics"`)
	m := regexp.MustCompile(`address="?([0-9.]+:[0-9]+)"? .*msg="serving metrics at /metrics"|msg="serving metrics at /metrics".* address="?([0-9.]+:[0-9]+)`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no metrics address in the log:\n%s", stderr.String())
	}
	addr := m[1] + m[2]
	body := scrapeUntil(t, "http://"+addr+"/metrics", regexp.MustCompile(`provisioner_job_runs_total\{job="housekeeping",outcome="SUCCEEDED"\} [1-9]`))
	if hz, err := get("http://" + addr + "/healthz"); err != nil || hz != "ok\n" {
		t.Errorf("/healthz: %q %v", hz, err)
	}
	// The run is in the ledger by the time it is counted: its end is the last success.
	if m := regexp.MustCompile(`provisioner_job_last_success_timestamp_seconds\{job="housekeeping"\} ([0-9.e+]+)`).FindStringSubmatch(body); m == nil || m[1] == "0" {
		t.Errorf("no last success of housekeeping: %v\n%s", m, body)
	}
	for _, want := range []string{
		`provisioner_requests{priority="REGULAR",state="PENDING"} 3`,
		`provisioner_requests{priority="EXPRESS",state="PENDING"} 2`,
		`provisioner_requests{priority="REGULAR",state="COMPLETED"} 1`,
		`provisioner_queue_up 1`,
		`provisioner_job_runs_total{job="housekeeping",outcome="SUCCEEDED"}`,
		`provisioner_job_runs_total{job="housekeeping",outcome="FAILED"} 0`,
		`provisioner_build_info{`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, body)
		}
	}
}

// scrapeUntil scrapes url until its body matches want, and returns that body.
func scrapeUntil(t *testing.T, url string, want *regexp.Regexp) string {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		body, err := get(url)
		if err == nil && want.MatchString(body) {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never held %s (error %v):\n%s", url, want, err, body)
		}
		time.Sleep(20 * time.Millisecond) // a poll of the condition, not a wait on time
	}
}

func get(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// TestSchedulerWatchdog: with WatchdogSec= (systemd sets $WATCHDOG_USEC) the
// scheduler's loop says WATCHDOG=1 every half of it, after READY=1.
func TestSchedulerWatchdog(t *testing.T) {
	_, dsn := pgtest.New(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	file := filepath.Join(dir, "c.toml")
	os.WriteFile(file, []byte("[jobs.housekeeping]\nschedule = \"*/5 * * * *\"\n"), 0o600)
	var stderr syncBuffer
	env := cli.Env{Stdout: &bytes.Buffer{}, Stderr: &stderr, Getenv: func(k string) string {
		return map[string]string{"DATABASE_URL": dsn, "NOTIFY_SOCKET": sock, "WATCHDOG_USEC": "200000",
			"WATCHDOG_PID": strconv.Itoa(os.Getpid())}[k]
	}}
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	go func() { code <- cli.Main(ctx, env, []string{"scheduler", "--config", file}) }()
	var got []string
	buf := make([]byte, 4096)
	for pings := 0; pings < 3; {
		conn.SetReadDeadline(time.Now().Add(waitLimit))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("notifications %q, then: %v\n%s", got, err, stderr.String())
		}
		got = append(got, string(buf[:n]))
		if string(buf[:n]) == "WATCHDOG=1" {
			pings++
		}
	}
	if !strings.HasPrefix(got[0], "READY=1") {
		t.Errorf("notifications %q: READY=1 should come first", got)
	}
	cancel()
	if c := <-code; c != 0 {
		t.Errorf("exit %d\n%s", c, stderr.String())
	}
}

// TestSchedulerNotifiesSystemd: under systemd (Type=notify, $NOTIFY_SOCKET) the
// scheduler says READY=1 with its schedules once it schedules, and STOPPING=1 when
// it begins to stop; the datagrams go to a real socket, as systemd's.
func TestSchedulerNotifiesSystemd(t *testing.T) {
	_, dsn := pgtest.New(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	file := filepath.Join(dir, "c.toml")
	os.WriteFile(file, []byte("[jobs.housekeeping]\nschedule = \"*/5 * * * *\"\n"), 0o600)
	var stderr syncBuffer
	env := cli.Env{Stdout: &bytes.Buffer{}, Stderr: &stderr, Getenv: func(k string) string {
		return map[string]string{"DATABASE_URL": dsn, "NOTIFY_SOCKET": sock}[k]
	}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	code := make(chan int, 1)
	go func() { code <- cli.Main(ctx, env, []string{"scheduler", "--config", file}) }()

	next := func() string {
		t.Helper()
		buf := make([]byte, 4096)
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no notification: %v\n%s", err, stderr.String())
		}
		return string(buf[:n])
	}
	if got, want := next(), "READY=1\nSTATUS=scheduling housekeeping (*/5 * * * *)"; got != want {
		t.Errorf("first notification %q, want %q", got, want)
	}
	cancel()
	if got, want := next(), "STOPPING=1\nSTATUS=stopping: waiting up to 2m0s for the running jobs"; got != want {
		t.Errorf("at SIGTERM %q, want %q", got, want)
	}
	if c := <-code; c != 0 {
		t.Errorf("exit %d\n%s", c, stderr.String())
	}
}
