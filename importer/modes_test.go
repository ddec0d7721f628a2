package importer_test

import (
	"context"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/provisioner/provisioner/importer"
)

// TestCreatedFilesPrivate: what the importer creates is its owner's alone: the
// inbox's folders 0700, a rejects file (which holds a set_pin's PIN) and a refused
// file's .error.txt 0600, whatever the umask lets through (issue 11, part 1).
func TestCreatedFilesPrivate(t *testing.T) {
	db := setup(t)
	im, _ := newImporter(t, db, importer.Options{})
	inbox := t.TempDir()
	writeFile(t, inbox, "pins.csv", header+"set_pin,S1005,,1000000005,,,12,,,,\n"+goodRow)
	writeFile(t, inbox, "refused.csv", "action,colour\n")
	if _, err := im.ImportInbox(context.Background(), inbox, importer.DefaultSettle); err != nil {
		t.Fatal(err)
	}
	var seen int
	err := filepath.WalkDir(inbox, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == inbox {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(inbox, path)
		switch {
		case d.IsDir() && info.Mode().Perm() != 0o700:
			t.Errorf("folder %s: mode %v, want 0700", rel, info.Mode().Perm())
		case !d.IsDir() && filepath.Dir(rel) != importer.ArchiveDir && filepath.Ext(rel) != ".csv" || filepath.Dir(rel) == importer.RejectsDir:
			seen++
			if info.Mode().Perm() != 0o600 {
				t.Errorf("file %s: mode %v, want 0600", rel, info.Mode().Perm())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != 2 {
		t.Errorf("%d files created (rejects, .error.txt), want 2", seen)
	}
}
