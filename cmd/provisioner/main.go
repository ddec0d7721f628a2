// Command provisioner provisions smartcards on the conditional-access system: it
// imports operators' instruction files and (soon) sends the requests to the CAS
// gateway. Run `provisioner help` for its commands.
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
