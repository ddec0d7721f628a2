package importer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The inbox's folders, created inside it on first use.
const (
	ProcessingDir = "processing" // claimed files being imported
	ArchiveDir    = "archive"    // imported (and duplicate) files
	FailedDir     = "failed"     // files refused whole, each with a .error.txt
	RejectsDir    = "rejects"    // <name>.rejects.csv of the rows that were rejected
)

// DefaultSettle is how long a file must have been left unchanged before the inbox
// picks it up: a file still being copied in is never read.
const DefaultSettle = 5 * time.Second

// ErrInbox is a problem with the inbox directory itself (a configuration error).
var ErrInbox = errors.New("inbox")

// ImportInbox imports, once, what is waiting in the inbox dir: first the files left in
// processing/ by a run that died, then every settled *.csv, oldest first. It returns
// a Result per file handled; the error is for what stopped the run (the database is
// gone): the file it was on stays in processing/ for the next run.
func (im *Importer) ImportInbox(ctx context.Context, dir string, settle time.Duration) ([]Result, error) {
	if err := prepareInbox(dir); err != nil {
		return nil, err
	}
	var results []Result
	handle := func(path string, recovering bool) error {
		res, ok, err := im.importClaimed(ctx, dir, path, recovering)
		if ok {
			results = append(results, res)
		}
		return err
	}

	if !im.opts.DryRun {
		left, err := listCSV(filepath.Join(dir, ProcessingDir), 0, time.Time{})
		if err != nil {
			return nil, err
		}
		for _, path := range left {
			if err := handle(path, true); err != nil {
				return results, err
			}
		}
	}

	waiting, err := listCSV(dir, settle, time.Now())
	if err != nil {
		return results, err
	}
	for _, path := range waiting {
		if err := ctx.Err(); err != nil {
			return results, err
		}
		if im.opts.DryRun {
			res, err := im.ImportFile(ctx, path, "")
			if err != nil {
				return results, err
			}
			results = append(results, res)
			continue
		}
		claimed := filepath.Join(dir, ProcessingDir, stamped(filepath.Base(path)))
		if err := os.Rename(path, claimed); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // another importer claimed it first
			}
			return results, fmt.Errorf("claim %s: %w", path, err)
		}
		if err := handle(claimed, false); err != nil {
			return results, err
		}
	}
	return results, nil
}

// RejectsPath is where the rejects of the file recorded as name (import_files.name),
// imported from the inbox dir, are filed: the console reads them there.
func RejectsPath(dir, name string) string {
	return filepath.Join(dir, RejectsDir, strings.TrimSuffix(name, filepath.Ext(name))+".rejects.csv")
}

// importClaimed imports a file in processing/ while holding an exclusive lock on it,
// then moves it on. ok is false when another importer holds the file.
func (im *Importer) importClaimed(ctx context.Context, dir, path string, recovering bool) (res Result, ok bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return res, false, nil // finished by another importer meanwhile
	}
	if err != nil {
		return res, false, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	// The lock tells a live importer's file from one a dead importer left behind: the
	// kernel drops it when its holder dies, however it dies.
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return res, false, nil
		}
		return res, false, fmt.Errorf("lock %s: %w", path, err)
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return res, false, nil // moved on by its importer between our open and lock
	}

	name := filepath.Base(path)
	rejectsPath := RejectsPath(dir, name)
	rej := rejectsFile(rejectsPath)
	defer rej.discard()
	res, err = im.importFile(ctx, f, name, rej, recovering)
	if err != nil {
		im.log.WithError(err).WithField("file", name).Error("import failed; the file stays in processing/ for the next run")
		return res, true, fmt.Errorf("import %s: %w", name, err)
	}

	switch res.State {
	case Refused:
		dst := filepath.Join(dir, FailedDir, name)
		if err := writePrivate(dst+".error.txt", []byte(res.Reason+"\n")); err != nil {
			return res, true, fmt.Errorf("write %s.error.txt: %w", dst, err)
		}
		err = os.Rename(path, dst)
		res.Path = dst
	case Recovered:
		// A crash between commit and the moves: finish what that run began.
		if _, statErr := os.Stat(rejectsPath + ".tmp"); statErr == nil {
			if err := os.Rename(rejectsPath+".tmp", rejectsPath); err != nil {
				return res, true, fmt.Errorf("rejects: %w", err)
			}
			res.Rejects = rejectsPath
		}
		fallthrough
	default:
		if res.Rejects == "" {
			if res.Rejects, err = rej.commit(); err != nil {
				return res, true, err
			}
		}
		dst := filepath.Join(dir, ArchiveDir, name)
		err = os.Rename(path, dst)
		res.Path = dst
	}
	im.logResult(res)
	if err != nil {
		return res, true, fmt.Errorf("move %s: %w", name, err)
	}
	return res, true, nil
}

// ImportFile imports one named file where it is (it is not moved). Its rejects go to
// rejectsDir/<name>.rejects.csv (beside the file when rejectsDir is empty), or to
// Options.RejectsOut in a dry run.
func (im *Importer) ImportFile(ctx context.Context, path, rejectsDir string) (Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return Result{Path: path, Name: filepath.Base(path)}, fmt.Errorf("open: %w", err)
	}
	defer f.Close()
	name := filepath.Base(path)
	if rejectsDir == "" {
		rejectsDir = filepath.Dir(path)
	}
	var rej *rejects
	if im.opts.DryRun {
		rej = rejectsTo(im.opts.RejectsOut)
	} else {
		rej = rejectsFile(filepath.Join(rejectsDir, strings.TrimSuffix(name, filepath.Ext(name))+".rejects.csv"))
	}
	defer rej.discard()
	res, err := im.importFile(ctx, f, name, rej, false)
	if err != nil {
		return res, fmt.Errorf("import %s: %w", name, err)
	}
	if res.Rejects, err = rej.commit(); err != nil {
		return res, err
	}
	im.logResult(res)
	return res, nil
}

func (im *Importer) logResult(res Result) {
	entry := im.log.WithFields(map[string]any{
		"file":     res.Name,
		"state":    string(res.State),
		"rows":     res.Rows,
		"created":  res.Created,
		"rejected": res.Rejected,
		"duration": res.Duration.Round(time.Millisecond).String(),
	})
	if res.Rejects != "" {
		entry = entry.WithField("rejects", res.Rejects)
	}
	switch res.State {
	case Refused:
		entry.WithField("reason", res.Reason).Warn("file refused")
	case Duplicate:
		entry.WithField("reason", res.Reason).Warn("duplicate file: nothing imported")
	case Validated:
		entry.Info("file checked (dry run): nothing written")
	case Recovered:
		entry.Info("file was imported before a crash: moved on")
	default:
		entry.Info("file imported")
	}
}

// prepareInbox checks the inbox and creates its folders.
func prepareInbox(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInbox, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%w: %s is not a directory", ErrInbox, dir)
	}
	for _, sub := range []string{ProcessingDir, ArchiveDir, FailedDir, RejectsDir} {
		// 0700: what the folders hold (files, rejects) is the operators' alone.
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return fmt.Errorf("%w: %w", ErrInbox, err)
		}
	}
	return nil
}

// listCSV lists the files of dir that the inbox picks up, oldest first: regular *.csv
// files, not hidden, unchanged for at least settle before now. Everything else (a
// .tmp or .part being written, a hidden editor file, a subfolder) is left alone.
func listCSV(dir string, settle time.Duration, now time.Time) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInbox, err)
	}
	type file struct {
		path string
		mod  time.Time
	}
	var files []file
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !strings.EqualFold(filepath.Ext(name), ".csv") || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // gone meanwhile
		}
		if settle > 0 && now.Sub(info.ModTime()) < settle {
			continue
		}
		files = append(files, file{filepath.Join(dir, name), info.ModTime()})
	}
	slices.SortFunc(files, func(a, b file) int {
		if c := a.mod.Compare(b.mod); c != 0 {
			return c
		}
		return strings.Compare(a.path, b.path)
	})
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = f.path
	}
	return paths, nil
}

// stamped gives a claimed file a name that cannot clash with an earlier file of the
// same name: the claim time goes before the extension.
func stamped(name string) string {
	ext := filepath.Ext(name)
	return strings.TrimSuffix(name, ext) + "." + time.Now().UTC().Format("20060102T150405.000000Z") + ext
}

// writePrivate writes a file only its owner reads (0600), as every file the
// importer creates: even one that was there already.
func writePrivate(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
