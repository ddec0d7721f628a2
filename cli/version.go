package cli

import (
	"context"
	"fmt"
)

func runVersion(_ context.Context, env Env, _ []string) error {
	fmt.Fprintln(env.Stdout, "provisioner", Version)
	return nil
}
