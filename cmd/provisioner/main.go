// Command provisioner provisions smartcards on the conditional-access system: it
// imports operators' instruction files, serves the CRM's Web API, sends the requests
// to the CAS gateway and runs these jobs on schedules. It is a thin main: package cli
// is the command line. Run `provisioner help` for its commands; README.md and docs/
// are the manual.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/provisioner/provisioner/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, cli.OSEnv(), os.Args[1:])
	stop()
	os.Exit(code)
}
