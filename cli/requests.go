package cli

import (
	"context"
	"flag"
	"fmt"

	"github.com/provisioner/provisioner/ops"
)

const requestsUsage = `requests list [filters] [--sort number|newest|executed|executed-newest] [--limit N] [--format table|csv|json]
       provisioner requests show [--json] NUMBER
       provisioner requests retry [filters | --all] (--dry-run | --yes | --expect N) [--as NAME]
       provisioner requests hold [--reason TEXT] (NUMBER | filters | --all) [confirmation]
       provisioner requests release (NUMBER | filters | --all) [confirmation]
       provisioner requests cancel --reason TEXT (NUMBER | filters | --all) [confirmation]
       provisioner requests reschedule --at TIME (NUMBER | filters | --all) [confirmation]
       provisioner requests priority EXPRESS|REGULAR (NUMBER | filters | --all) [confirmation]

The levers (hold ... priority) change PENDING requests only, never one in flight.
With filters or --all, confirm with --dry-run | --yes | --expect N, as retry does.
Every change is recorded in the audit trail, under --as NAME (default: the login name).

Filters (combined with AND; a comma-separated list matches any of its values):
  --state, --type, --priority, --error-code, --smartcard (CA id or serial number),
  --subscription (number), --file (import file id, or its name as dropped or recorded),
  --created-since, --created-until, --executed-since, --executed-until
  (RFC 3339, "2026-11-29 02:15:00" UTC, 2026-11-29, or an age: 90m, 36h, 7d).
list sorts by number, or by settlement time (executed: PENDING ones left out) when
--executed-since or --executed-until is given and --sort is not.`

func runRequests(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 {
		return usagef("usage: provisioner %s", requestsUsage)
	}
	if isHelp(args[0]) {
		fmt.Fprintf(env.Stderr, "usage: provisioner %s\n", requestsUsage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "list":
		return runRequestsList(ctx, env, args[1:])
	case "show":
		return runRequestsShow(ctx, env, args[1:])
	case "retry":
		return runRequestsRetry(ctx, env, args[1:])
	case ops.ActionHold, ops.ActionRelease, ops.ActionCancel, ops.ActionReschedule, ops.ActionPriority:
		return runRequestsLever(ctx, env, args[0], args[1:])
	}
	return usagef("unknown subcommand %q: expected list, show, retry, hold, release, cancel, reschedule or priority", args[0])
}
