package jobs

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
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
