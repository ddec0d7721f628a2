package benchrun

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/importer"
	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/internal/samplegen"
	"github.com/provisioner/provisioner/reference"
)

// BenchmarkImport imports a generated file in this process, for profiling the
// importer (make bench measures the binary):
//
//	BENCH_ROWS=200000 go test ./internal/benchrun -run '^$' -bench Import -benchtime 2x -cpuprofile cpu.out
//	go tool pprof -top -cum internal/benchrun/benchrun.test cpu.out
//
// Each iteration starts from an empty request table, as make bench's rounds do.
func BenchmarkImport(b *testing.B) {
	ctx := context.Background()
	rows := 200_000
	if v := os.Getenv("BENCH_ROWS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("BENCH_ROWS=%q: want a positive number", v)
		}
		rows = n
	}
	dir := b.TempDir()
	if _, err := samplegen.Generate(dir, samplegen.Config{Rows: rows, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	db, _ := pgtest.New(b)
	if _, err := reference.Load(ctx, db, filepath.Join(dir, samplegen.ReferenceDir)); err != nil {
		b.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "VACUUM ANALYZE"); err != nil {
		b.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	im := importer.New(db, log, importer.Options{})
	file := filepath.Join(dir, samplegen.InstructionsFile)

	var took time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for _, q := range []string{"TRUNCATE provisioning_requests, import_files RESTART IDENTITY", "CHECKPOINT"} {
			if _, err := db.ExecContext(ctx, q); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		t := time.Now()
		res, err := im.ImportFile(ctx, file, dir)
		took += time.Since(t)
		if err != nil {
			b.Fatal(err)
		}
		if res.Created != rows || res.Rejected != 0 {
			b.Fatalf("created %d, rejected %d, want %d created", res.Created, res.Rejected, rows)
		}
	}
	b.ReportMetric(float64(rows*b.N)/took.Seconds(), "rows/s")
}
