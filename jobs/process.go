package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/config"
	"github.com/provisioner/provisioner/dispatcher"
	"github.com/provisioner/provisioner/store"
)

// Process is the process job: one processing run, as `provisioner process`.
func Process(ctx context.Context, env Env) (Result, error) {
	opts := ProcessOptions(env.Config)
	opts.Observer = env.Gateway
	d, err := NewDispatcher(env.DB, env.Log, GatewayConfig(env.Config), opts)
	if err != nil {
		return Result{}, err
	}
	sum, err := d.Run(ctx)
	return ProcessResult(sum), err
}

// NewDispatcher builds a processing run on the gateway of gw; a bad setting is a
// *ConfigError naming it (CheckDispatcher).
func NewDispatcher(db *store.DB, log logrus.FieldLogger, gw dispatcher.GatewayConfig, opts dispatcher.Options) (*dispatcher.Dispatcher, error) {
	if err := CheckDispatcher(gw, opts); err != nil {
		return nil, err
	}
	client, err := dispatcher.NewClient(gw)
	if err != nil {
		return nil, configErrorf("gateway: %w", err)
	}
	d, err := dispatcher.New(db, client, log, opts)
	if err != nil {
		return nil, &ConfigError{err}
	}
	return d, nil
}

// CheckDispatcher names, as a *ConfigError, what NewDispatcher would refuse in the
// settings, without a database: commands check them before they open it.
func CheckDispatcher(gw dispatcher.GatewayConfig, opts dispatcher.Options) error {
	if err := gw.Check(); err != nil {
		return configErrorf("gateway: %w", err)
	}
	if err := dispatcher.Check(gw, opts); err != nil {
		return &ConfigError{err}
	}
	return nil
}

// GatewayConfig is the gateway of the configuration (the environment's overrides
// applied).
func GatewayConfig(c *config.Config) dispatcher.GatewayConfig {
	return dispatcher.GatewayConfig{URL: c.Gateway.URL, Token: c.Gateway.Token, DestinationID: c.Gateway.Destination, Timeout: c.Gateway.BatchTimeout}
}

// ProcessOptions are the processing run's settings of the configuration.
func ProcessOptions(c *config.Config) dispatcher.Options { return c.Process.Options() }

// ProcessResult is a processing run's summary as a job's result.
func ProcessResult(sum dispatcher.Summary) Result {
	paused := ""
	if sum.Paused != "" {
		paused = "; stopped claiming: the queue is " + sum.Paused
	}
	return Result{
		Counts: map[string]int{
			"process_id": int(sum.ProcessID), "claimed": sum.Claimed, "completed": sum.Completed, "rejected": sum.Rejected,
			"retried": sum.Retried, "released": sum.Released, "batches": sum.Batches,
		},
		Rejected: sum.Rejected,
		Summary: fmt.Sprintf("run %d: claimed %d, completed %d, rejected %d, retry later %d, released %d, in %s%s",
			sum.ProcessID, sum.Claimed, sum.Completed, sum.Rejected, sum.Retried, sum.Released, sum.Duration.Round(time.Millisecond), paused),
	}
}
