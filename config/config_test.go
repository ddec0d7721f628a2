package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/provisioner/provisioner/config"
	"github.com/provisioner/provisioner/internal/testutil"
)

// TestMistakes: every mistake of the file is named, with its line, in file order.
func TestMistakes(t *testing.T) {
	path := filepath.Join("testdata", "mistakes.toml")
	_, err := config.Load(path, noEnv)
	var ps *config.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("want *Problems, got %v", err)
	}
	if len(ps.List) != 18 {
		t.Errorf("%d problems, want 18", len(ps.List))
	}
	testutil.Golden(t, "mistakes.golden", []byte(err.Error()+"\n"))
}

// TestSample: the shipped sample is valid and holds every setting, at its default
// unless the sample says why not.
func TestSample(t *testing.T) {
	path := filepath.Join("..", "samples", "provisioner.toml")
	c, err := config.Load(path, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	for _, k := range config.Keys() {
		name := k[strings.LastIndexByte(k, '.')+1:]
		if !strings.Contains(string(data), "\n"+name+" = ") && !strings.Contains(string(data), "# "+name+" = ") {
			t.Errorf("the sample does not show %s", k)
		}
	}
	d := config.Default()
	if c.Process.Lease != d.Process.Lease || c.Process.BatchSize != d.Process.BatchSize || c.Housekeeping.RunsAfter != 90*24*time.Hour ||
		c.Housekeeping.RequestsAfter != 0 || c.Scheduler.GracePeriod != d.Scheduler.GracePeriod || c.Import.Chunk != d.Import.Chunk {
		t.Errorf("the sample's values are not the defaults: %+v", c)
	}
	for name, j := range c.Jobs() {
		// The reconciliation is off by default: its weekly example is commented in.
		if (j.Cron == nil) != (name == "reconcile") {
			t.Errorf("job %s: scheduled %v in the sample", name, j.Cron != nil)
		}
	}
}

func noEnv(string) string { return "" }

// TestEnvOverrides: the environment wins over the file; the token comes only from it.
func TestEnvOverrides(t *testing.T) {
	path := filepath.Join("..", "samples", "provisioner.toml")
	env := map[string]string{"DATABASE_URL": "postgres://other@db/x", "CAS_GATEWAY_TOKEN": "tok", "LOG_LEVEL": "debug"}
	c, err := config.Load(path, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Database.URL != env["DATABASE_URL"] || c.Gateway.Token != "tok" || c.Log.Level != "debug" || c.Gateway.Destination != "CRM01" {
		t.Errorf("overrides not applied: %+v", c)
	}
	if _, err := config.Parse("x.toml", []byte("[gateway]\ntoken = \"secret\"\n")); err == nil || !strings.Contains(err.Error(), "x.toml:2: gateway.token: unknown key") {
		t.Errorf("a token in the file: %v", err)
	}
	if _, err := config.Load("", noEnv); !errors.Is(err, config.ErrNoFile) {
		t.Errorf("no file: %v", err)
	}
	got, err := config.Load("", func(k string) string {
		if k == "PROVISIONER_CONFIG" {
			return path
		}
		return ""
	})
	if err != nil || got.Path != path {
		t.Errorf("PROVISIONER_CONFIG: %v", err)
	}
}

// TestPasswordWarning: a password in a file others can read is worth a warning,
// whatever the form of the setting (a key=value one was missed).
func TestPasswordWarning(t *testing.T) {
	for _, url := range []string{`postgres://u:pw@db/x`, `host=db password=pw`, `host=db password='p w'`} {
		path := filepath.Join(t.TempDir(), "p.toml")
		os.WriteFile(path, []byte("[database]\nurl = \""+url+"\"\n"), 0o644)
		os.Chmod(path, 0o644)
		c, err := config.Load(path, noEnv)
		if err != nil || len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "readable by others (mode -rw-r--r--)") {
			t.Fatalf("%s: %v %q", url, err, c.Warnings)
		}
		os.Chmod(path, 0o600)
		if c, _ = config.Load(path, noEnv); len(c.Warnings) != 0 {
			t.Errorf("%s: mode 600: %q", url, c.Warnings)
		}
	}
	// No password, no warning.
	path := filepath.Join(t.TempDir(), "p.toml")
	os.WriteFile(path, []byte("[database]\nurl = \"host=db user=u\"\n"), 0o644)
	os.Chmod(path, 0o644)
	if c, _ := config.Load(path, noEnv); len(c.Warnings) != 0 {
		t.Errorf("no password: %q", c.Warnings)
	}
}

func TestSchedules(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		spec string
		loc  *time.Location
		next time.Time
		err  string
	}{
		{"*/5 * * * *", time.UTC, time.Date(2026, 12, 1, 10, 5, 0, 0, time.UTC), ""},
		{"30 * * * * *", time.UTC, time.Date(2026, 12, 1, 10, 0, 30, 0, time.UTC), ""},
		{"0 2 * * *", paris, time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC), ""},
		{"CRON_TZ=Europe/Paris 0 12 * * *", time.UTC, time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC), ""},
		{"@hourly", time.UTC, time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC), ""},
		{"@every 5m", time.UTC, time.Time{}, "@every is not aligned to the clock"},
		{"* * *", time.UTC, time.Time{}, "expected 5 to 6 fields, found 3"},
		{"61 * * * *", time.UTC, time.Time{}, "end of range (61) above maximum (59)"},
	}
	for _, tc := range cases {
		s, err := config.ParseSchedule(tc.spec, tc.loc)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.spec, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.spec, err)
			continue
		}
		if got := s.Next(at); !got.Equal(tc.next) {
			t.Errorf("%q: next %v, want %v", tc.spec, got, tc.next)
		}
	}
}

// TestSyntaxError: a file that is not TOML is named with the line of the mistake.
func TestSyntaxError(t *testing.T) {
	_, err := config.Parse("s.toml", []byte("[log]\nlevel = \"info\"\nformat = \"json\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "s.toml:3: TOML syntax: ") {
		t.Errorf("%v", err)
	}
}

// FuzzParse: no input makes the parser panic, and what it accepts is complete.
func FuzzParse(f *testing.F) {
	for _, p := range []string{filepath.Join("..", "samples", "provisioner.toml"), filepath.Join("testdata", "mistakes.toml")} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("jobs = { process = { schedule = \"* * * * *\" } }"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := config.Parse("f.toml", data)
		if err == nil && c.Scheduler.Location == nil {
			t.Fatal("accepted without a location")
		}
		var ps *config.Problems
		if err != nil && (!errors.As(err, &ps) || len(ps.List) == 0) {
			t.Fatalf("error without problems: %v", err)
		}
	})
}

// TestOneMistakeEach (issue 11): a mistake is named once, where it is: a misspelled
// table is one mistake, not one more per key under it; a key whose own value is bad
// is not blamed again (nor is the default left in its place) by the checks between
// settings; a port out of range is found in the file.
func TestOneMistakeEach(t *testing.T) {
	cases := []struct {
		name, file string
		want       []string // the problems, as Error() prints them
	}{
		{"misspelled table", "[jobs.proccess]\nschedule = \"* * * * *\"\nbatch_size = 10\nlease = \"1m\"\n",
			[]string{"x.toml:1: unknown table [jobs.proccess] (the tables are log, database, gateway, scheduler, jobs.import, jobs.process, jobs.housekeeping, jobs.reconcile)"}},
		{"bad lease beside a long batch timeout", "[gateway]\nbatch_timeout = \"10m\"\n[jobs.process]\nlease = \"-5m\"\n",
			[]string{`x.toml:4: jobs.process.lease: "-5m": must not be negative`}},
		{"lease too short for its own rule", "[jobs.process]\nlease = \"500ms\"\n",
			[]string{"x.toml:2: jobs.process.lease: 500ms: must be at least 1s"}},
		{"bad stale_process_after", "[jobs.process]\nlease = \"1h\"\n[jobs.housekeeping]\nstale_process_after = \"soon\"\n",
			[]string{`x.toml:4: jobs.housekeeping.stale_process_after: "soon": not a duration (such as "30s", "5m", "12h" or "30d")`}},
		{"a good lease against the default still checked", "[jobs.process]\nlease = \"4h\"\n",
			[]string{"x.toml:2: jobs.housekeeping.stale_process_after: 6h0m0s: must be at least twice jobs.process.lease (4h0m0s), or a live run could be taken for dead"}},
		{"file timeout past what the created-date filters allow", "[jobs.import]\nfile_timeout = \"3h\"\n",
			[]string{`x.toml:2: jobs.import.file_timeout: "3h": must be at most 1h0m0s: a longer import could be left out of the created-date filters of requests list and the console`}},
		{"port out of range", "[scheduler]\nmetrics_listen = \"127.0.0.1:99999\"\n",
			[]string{`x.toml:2: scheduler.metrics_listen: "127.0.0.1:99999": the port must be a number from 0 to 65535 (address 99999: invalid port)`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := config.Parse("x.toml", []byte(c.file))
			var ps *config.Problems
			if !errors.As(err, &ps) {
				t.Fatalf("want *Problems, got %v", err)
			}
			if got := strings.Split(err.Error(), "\n"); strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", err, strings.Join(c.want, "\n"))
			}
		})
	}
}
