package importer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Backlog is what an inbox holds for the operator's status: the files waiting to be
// imported (the oldest's modification time), the files in processing/ (being
// imported, or left by an importer that died: the next run takes them), and the
// files refused whole in failed/. Its fields are ops.InboxFiles's: status converts one
// to the other, so that ops need not import the importer.
type Backlog struct {
	Waiting       int
	OldestWaiting time.Time // zero when nothing waits
	Processing    int
	Failed        int
}

// InboxBacklog counts the files of the inbox dir as an import would see them (the
// same rules: *.csv, not hidden, regular files; recent files count as waiting). A
// sub-folder that does not exist yet counts nothing; a missing dir is an error.
func InboxBacklog(dir string) (Backlog, error) {
	var b Backlog
	waiting, err := listCSV(dir, 0, time.Time{})
	if err != nil {
		return b, err
	}
	b.Waiting = len(waiting)
	if len(waiting) > 0 {
		if info, err := os.Stat(waiting[0]); err == nil {
			b.OldestWaiting = info.ModTime()
		}
	}
	count := func(sub string) (int, error) {
		files, err := listCSV(filepath.Join(dir, sub), 0, time.Time{})
		if errors.Is(err, fs.ErrNotExist) {
			return 0, nil
		}
		if err != nil {
			return 0, fmt.Errorf("%s: %w", sub, err)
		}
		return len(files), nil
	}
	if b.Processing, err = count(ProcessingDir); err != nil {
		return b, err
	}
	b.Failed, err = count(FailedDir)
	return b, err
}
