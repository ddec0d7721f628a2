package cli

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/provisioner/provisioner/api"
	"github.com/provisioner/provisioner/ops"
)

const tokensUsage = `tokens create NAME | tokens revoke NAME | tokens list  [--database-url URL] [--as NAME]

The Web API's tokens. create issues a token for a caller (the CRM, say) and prints
it on stdout, once: only its hash is kept. revoke NAME refuses the token from now
on (401). list shows every token issued, live or revoked, without the secrets.
create and revoke are recorded in the audit trail under --as NAME (default: the
login name).`

func runTokens(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "tokens", tokensUsage)
	dbf := addDBFlags(fs)
	as := addAsFlag(fs)
	if len(args) == 0 {
		fs.Usage()
		return usagef("give create NAME, revoke NAME or list")
	}
	sub := args[0]
	if isHelp(sub) {
		fs.Usage()
		return nil
	}
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	want := 1
	switch sub {
	case "create", "revoke":
	case "list":
		want = 0
	default:
		return usagef("unknown tokens command %q: give create NAME, revoke NAME or list", sub)
	}
	if fs.NArg() != want {
		return usagef("tokens %s takes %d argument(s), got %q", sub, want, fs.Args())
	}
	env, _, db, err := dbf.setUp(ctx, env)
	if err != nil {
		return err
	}
	defer db.Close()
	actor := ops.Actor{Operator: *as, Command: commandLine("tokens", args)}

	switch sub {
	case "create":
		name := fs.Arg(0)
		secret, err := api.CreateToken(ctx, db, name)
		if errors.Is(err, api.ErrTokenName) {
			return usagef("%v", err)
		}
		if err != nil {
			return err
		}
		// Issued and committed: a failure to record it is said, and the secret still
		// shown (it exists; revoke it if unwanted).
		if err := ops.Audit(ctx, db, actor, ops.ActionTokenCreate, map[string]any{"name": name}, nil, env.now()); err != nil {
			fmt.Fprintf(env.Stderr, "token %s issued but not recorded in the audit trail: %v\n", name, err)
		}
		fmt.Fprintln(env.Stdout, secret)
		fmt.Fprintf(env.Stderr, "token %s issued: it is shown this once and cannot be read back; give it to the caller now\n", name)
	case "revoke":
		if err := api.RevokeToken(ctx, db, fs.Arg(0)); err != nil {
			return err
		}
		if err := ops.Audit(ctx, db, actor, ops.ActionTokenRevoke, map[string]any{"name": fs.Arg(0)}, nil, env.now()); err != nil {
			return fmt.Errorf("token %s revoked, but: %w", fs.Arg(0), err)
		}
		fmt.Fprintf(env.Stdout, "token %s revoked\n", fs.Arg(0))
	case "list":
		ts, err := api.ListTokens(ctx, db)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSTATE\tCREATED\tREVOKED\tREQUESTS")
		for _, t := range ts {
			state, revoked := "live", "-"
			if t.RevokedAt != nil {
				state, revoked = "revoked", t.RevokedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", esc(t.Name), state, t.CreatedAt.UTC().Format(time.RFC3339), revoked, t.Requests)
		}
		tw.Flush()
	}
	return nil
}
