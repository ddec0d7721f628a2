package cli

import (
	"context"
	"runtime/debug"

	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/instances"
	"github.com/provisioner/provisioner/store"
)

// startHeartbeat records this process as a live instance (package instances) until
// the returned stop. A heartbeat that cannot be recorded is only logged: it is for
// the operator's view of what runs, not for the work.
func startHeartbeat(ctx context.Context, db *store.DB, log logrus.FieldLogger, kind, name string, doing func() string) (stop func()) {
	bi, _ := debug.ReadBuildInfo()
	h, err := instances.Start(ctx, db, instances.Options{Kind: kind, Name: name, Version: versionLine(bi), Doing: doing, Log: log})
	if err != nil {
		log.WithError(err).Warn("no heartbeat: status will not list this instance")
		return func() {}
	}
	return h.Stop
}
