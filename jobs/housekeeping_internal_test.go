package jobs

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/config"
	"github.com/provisioner/provisioner/internal/pgtest"
)

// TestRetireFiles: files in archive/, rejects/ and failed/ since before the cutoff go
// (deleted, or moved under move_to); newer ones and other folders stay.
func TestRetireFiles(t *testing.T) {
	for _, moveTo := range []string{"", t.TempDir()} {
		inbox := t.TempDir()
		write := func(rel string) {
			p := filepath.Join(inbox, rel)
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, []byte(rel), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for _, f := range []string{"archive/a.csv", "rejects/a.rejects.csv", "failed/b.csv", "failed/b.csv.error.txt", "processing/c.csv", "d.csv"} {
			write(f)
		}
		time.Sleep(20 * time.Millisecond) // file times are what is measured
		cutoff := time.Now()
		time.Sleep(20 * time.Millisecond)
		write("archive/new.csv")
		moved, deleted, err := retireFiles(context.Background(), inbox, moveTo, cutoff)
		if err != nil {
			t.Fatal(err)
		}
		var left []string
		filepath.Walk(inbox, func(p string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() {
				rel, _ := filepath.Rel(inbox, p)
				left = append(left, rel)
			}
			return nil
		})
		want := []string{"archive/new.csv", "d.csv", "processing/c.csv"}
		if len(left) != len(want) || left[0] != want[0] || left[1] != want[1] || left[2] != want[2] {
			t.Errorf("left %q, want %q", left, want)
		}
		if moveTo == "" && (deleted != 4 || moved != 0) || moveTo != "" && (moved != 4 || deleted != 0) {
			t.Errorf("move_to %q: moved %d, deleted %d", moveTo, moved, deleted)
		}
		if moveTo != "" {
			if b, err := os.ReadFile(filepath.Join(moveTo, "failed", "b.csv.error.txt")); err != nil || string(b) != "failed/b.csv.error.txt" {
				t.Errorf("moved file: %q %v", b, err)
			}
			// The folders it creates are the operators' alone.
			if st, err := os.Stat(filepath.Join(moveTo, "failed")); err != nil {
				t.Error(err)
			} else if st.Mode().Perm() != 0o700 {
				t.Errorf("folder made under move_to: mode %v, want 0700", st.Mode().Perm())
			}
		}
	}
}

// TestSlicePause: housekeeping pauses after a slice of deletions as long as it took,
// and three times as long while a processing run holds a lease on a PENDING
// request; an expired lease (a run that died) or a settled request's does not count.
func TestSlicePause(t *testing.T) {
	const took = 40 * time.Millisecond
	for _, tc := range []struct {
		name  string
		lease string // the PENDING request's lease_expires_at, SQL; "" for none
		state string
		want  time.Duration
	}{
		{"no run", "", "PENDING", took},
		{"a run at work", "now() + interval '5 minutes'", "PENDING", 3 * took},
		{"a dead run's lease", "now() - interval '1 minute'", "PENDING", took},
		{"settled", "now() + interval '5 minutes'", "COMPLETED", took},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := pgtest.New(t)
			lease := "NULL"
			if tc.lease != "" {
				lease = tc.lease
			}
			db.MustExec(`INSERT INTO provisioning_requests (type, smartcard_ca_id, life_cycle_state, lease_expires_at, executed_date)
				VALUES ('PAIR', 'card-1', $1, `+lease+`, CASE WHEN $1 = 'PENDING' THEN NULL ELSE now() END)`, tc.state)
			l := logrus.New()
			l.SetOutput(io.Discard)
			got, err := slicePause(context.Background(), Env{DB: db, Log: l, Config: config.Default()}, took)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("pause %v after a slice of %v, want %v", got, took, tc.want)
			}
		})
	}
}
