package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/provisioner/provisioner/importer"
	"github.com/provisioner/provisioner/instances"
	provsql "github.com/provisioner/provisioner/sql"
	"github.com/provisioner/provisioner/store"
)

// requestSlice is how many requests one statement deletes: small enough that no
// statement holds its locks for long, big enough to be quick.
const requestSlice = 20000

// yieldFactor: after each slice of deletions, housekeeping pauses as long as the
// slice took, or this many times as long while a processing run is at work, so that
// it takes a quarter of one connection's time then rather than half: of the two,
// housekeeping is the one that can wait, and a nightly deletion that takes twice as
// long harms no one (docs/benchmarks.md measures a run beside it).
const yieldFactor = 3

// Housekeeping is the housekeeping job: it removes the inbox's old files, finished
// requests and run records past their ages (a zero age keeps them), marks
// processing runs that died FAILED, and job runs whose instance died ABANDONED.
func Housekeeping(ctx context.Context, env Env) (Result, error) {
	h := env.Config.Housekeeping
	counts := map[string]int{}
	res := Result{Counts: counts}
	var errs []error

	if h.FilesAfter > 0 && env.Config.Import.Inbox != "" {
		moved, deleted, err := retireFiles(ctx, env.Config.Import.Inbox, h.MoveTo, time.Now().Add(-h.FilesAfter))
		counts["files_moved"], counts["files_deleted"] = moved, deleted
		if err != nil {
			errs = append(errs, err)
		}
	}
	if h.RequestsAfter > 0 {
		n, err := deleteRequests(ctx, env, h.RequestsAfter)
		counts["requests_deleted"] = n
		if err != nil {
			errs = append(errs, err)
		}
	}
	// What the deletions and the runs' write-backs left dead, vacuumed: after this
	// job's own deletions whatever the statistics say (they can lag).
	if ctx.Err() == nil {
		v, err := store.VacuumRequestHistory(ctx, env.DB, counts["requests_deleted"] > 0)
		if v {
			counts["requests_vacuumed"] = 1
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	// The deltas of the counts, summed, and the small tables status reads vacuumed
	// (store.TidyQueueTables): housekeeping's deletions add some.
	if _, err := store.TidyQueueTables(ctx, env.DB); err != nil {
		errs = append(errs, err)
	}
	if h.RunsAfter > 0 {
		for key, q := range map[string]string{"job_runs_deleted": provsql.HousekeepingDeleteJobRuns, "processes_deleted": provsql.HousekeepingDeleteProcesses} {
			r, err := env.DB.ExecContext(ctx, q, h.RunsAfter.Seconds())
			if err != nil {
				errs = append(errs, fmt.Errorf("delete old run records: %w", err))
				continue
			}
			n, _ := r.RowsAffected()
			counts[key] = int(n)
		}
	}
	var dead []int64
	if err := env.DB.SelectContext(ctx, &dead, provsql.HousekeepingStaleProcesses, h.StaleProcessAfter.Seconds()); err != nil {
		errs = append(errs, fmt.Errorf("mark dead processing runs: %w", err))
	} else if len(dead) > 0 {
		env.Log.WithField("processes", dead).Warn("processing runs that died marked FAILED")
	}
	counts["processes_marked_failed"] = len(dead)

	// The heartbeat rows of instances dead for as long as a processing run must be
	// silent to be called dead: no live instance goes that long without a beat.
	gone, err := instances.DeleteDead(ctx, env.DB, h.StaleProcessAfter)
	if err != nil {
		errs = append(errs, err)
	}
	counts["instances_deleted"] = gone

	l := Ledger{DB: env.DB, Log: env.Log}
	n, err := l.Sweep(ctx, Names())
	counts["runs_abandoned"] = n
	if err != nil {
		errs = append(errs, err)
	}

	res.Summary = fmt.Sprintf("files: %d moved, %d deleted; deleted %d requests (with their sends), %d job runs, %d processes, %d dead instances; marked %d dead processing runs FAILED, %d job runs ABANDONED",
		counts["files_moved"], counts["files_deleted"], counts["requests_deleted"], counts["job_runs_deleted"], counts["processes_deleted"], gone, len(dead), n)
	if counts["requests_vacuumed"] == 1 {
		res.Summary += "; vacuumed the requests and their sends"
	}
	return res, errors.Join(errs...)
}

// deleteRequests deletes the requests settled more than age ago, oldest first, a
// slice per statement, each slice going on from where the one before ended, with a
// pause after each as long as the slice took, three times as long while a
// processing run is at work (yieldFactor): the run keeps most of the database's
// time (docs/benchmarks.md measures it).
func deleteRequests(ctx context.Context, env Env, age time.Duration) (int, error) {
	var total int
	var after *time.Time
	for ctx.Err() == nil {
		var s struct {
			Deleted int        `db:"deleted"`
			Seen    int        `db:"seen"`
			Last    *time.Time `db:"last"`
		}
		t := time.Now()
		if err := env.DB.GetContext(ctx, &s, provsql.HousekeepingDeleteRequests, age.Seconds(), requestSlice, after); err != nil {
			return total, fmt.Errorf("delete finished requests: %w", err)
		}
		total += s.Deleted
		if s.Seen < requestSlice || s.Last == nil {
			break
		}
		after = s.Last
		pause, err := slicePause(ctx, env, time.Since(t))
		if err != nil {
			return total, err
		}
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
	}
	return total, nil
}

// slicePause is the pause after a slice of deletions that took took: as long, or
// yieldFactor times as long while a processing run is at work.
func slicePause(ctx context.Context, env Env, took time.Duration) (time.Duration, error) {
	var busy bool
	if err := env.DB.GetContext(ctx, &busy, provsql.ProcessingRunAtWork); err != nil {
		return 0, fmt.Errorf("delete finished requests: is a run at work: %w", err)
	}
	if busy {
		return took * yieldFactor, nil
	}
	return took, nil
}

// retireFiles deletes, or moves under moveTo, the files of the inbox's archive,
// rejects and failed folders that have been there since before cutoff. A file's
// time there is the later of its change times: the move into the folder changes its
// ctime, and writing it (a rejects file) its mtime, while a file's mtime alone can
// be far older than its import.
func retireFiles(ctx context.Context, inbox, moveTo string, cutoff time.Time) (moved, deleted int, err error) {
	for _, sub := range []string{importer.ArchiveDir, importer.RejectsDir, importer.FailedDir} {
		dir := filepath.Join(inbox, sub)
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return moved, deleted, fmt.Errorf("housekeeping: %w", err)
		}
		for _, e := range entries {
			if ctx.Err() != nil {
				return moved, deleted, ctx.Err()
			}
			info, err := e.Info()
			if err != nil || !info.Mode().IsRegular() || !changedBefore(info, cutoff) {
				continue
			}
			path := filepath.Join(dir, e.Name())
			if moveTo == "" {
				if err := os.Remove(path); err != nil {
					return moved, deleted, fmt.Errorf("housekeeping: %w", err)
				}
				deleted++
				continue
			}
			if err := moveFile(path, filepath.Join(moveTo, sub, e.Name())); err != nil {
				return moved, deleted, fmt.Errorf("housekeeping: %w", err)
			}
			moved++
		}
	}
	return moved, deleted, nil
}

func changedBefore(info fs.FileInfo, cutoff time.Time) bool {
	t := info.ModTime()
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		if c := time.Unix(st.Ctim.Sec, st.Ctim.Nsec); c.After(t) {
			t = c
		}
	}
	return t.Before(cutoff)
}

// moveFile renames src to dst, or copies and removes it when dst is on another file
// system. A file already at dst is not overwritten.
func moveFile(src, dst string) error {
	// 0700 and 0600: the archive holds the inbox's files, PINs of set_pin rows
	// included, for the operators alone.
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("move %s: %s already exists", src, dst)
	}
	err := os.Rename(src, dst)
	if !errors.Is(err, syscall.EXDEV) {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst+".part", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(dst + ".part")
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		os.Remove(dst + ".part")
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if err := os.Rename(dst+".part", dst); err != nil {
		return err
	}
	return os.Remove(src)
}
