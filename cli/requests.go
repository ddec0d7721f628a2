package cli

import (
	"context"
	"flag"
	"fmt"
)

const requestsUsage = `requests list [filters] [--limit N] [--format table|csv|json]
       provisioner requests show [--json] NUMBER
       provisioner requests retry [filters | --all] (--dry-run | --yes | --expect N)

Filters (combined with AND; a comma-separated list matches any of its values):
  --state, --type, --priority, --error-code, --smartcard (CA id or serial number),
  --subscription (number), --file (import file id, or its name as dropped or recorded),
  --created-since, --created-until, --executed-since, --executed-until
  (RFC 3339, "2026-11-29 02:15:00" UTC, 2026-11-29, or an age: 90m, 36h, 7d).`

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
	}
	return usagef("unknown subcommand %q: expected list, show or retry", args[0])
}
