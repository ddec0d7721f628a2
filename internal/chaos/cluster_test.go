package chaos_test

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/provisioner/provisioner/internal/pgcluster"
)

// The scenarios that restart PostgreSQL or exhaust its connections share one cluster
// of their own (scenarios 2 and 5); each has its own database on it.
var (
	clusterOnce sync.Once
	cluster     *pgcluster.Cluster
	clusterErr  error
)

// ownCluster is the shared cluster, started on first use and stopped by TestMain;
// the test is skipped, saying why, where this machine cannot make one.
func ownCluster(t *testing.T) *pgcluster.Cluster {
	t.Helper()
	clusterOnce.Do(func() {
		cluster, clusterErr = pgcluster.Start(os.TempDir(), nil, map[string]string{"max_connections": "40"}, nil)
	})
	if errors.Is(clusterErr, pgcluster.ErrNoCluster) {
		t.Skipf("skipped: %v", clusterErr)
	}
	if clusterErr != nil {
		t.Fatalf("own cluster: %v", clusterErr)
	}
	return cluster
}

func stopCluster() {
	if cluster != nil {
		cluster.Stop()
	}
}

// clusterDB creates a migrated database on c for t and returns its URL.
func clusterDB(t *testing.T, c *pgcluster.Cluster, host string) string {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	name := "chaos_" + hex.EncodeToString(b)
	return createDB(t, func(db string) string { return c.URL("127.0.0.1", db) }, func(db string) string { return c.URL(host, db) }, name)
}
