package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/provisioner/provisioner/console"
	"github.com/provisioner/provisioner/ops"
)

const operatorsUsage = `operators create NAME --role viewer|operator|admin [--password-stdin]
       operators list | disable NAME | password NAME [--password-stdin]  [--database-url URL] [--as NAME]

The operator console's accounts (docs/console.md). create adds an operator; a viewer
sees every page, an operator also pulls the levers, an admin also manages
operators. Without --password-stdin a password is generated and printed on stdout,
once: only its bcrypt hash is kept. With it, the first line of standard input is the
password (8 to 72 bytes). password NAME sets a new one, clears a lock-out and signs
the operator out everywhere; disable NAME refuses its sign-ins and ends its
sessions. list shows every operator, without the hashes. create, disable and
password are recorded in the audit trail under --as NAME (default: the login name).`

func runOperators(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "operators", operatorsUsage)
	dbf := addDBFlags(fs)
	as := addAsFlag(fs)
	role := fs.String("role", "", "create: viewer, operator or admin")
	fromStdin := fs.Bool("password-stdin", false, "create, password: read the password from the first line of standard input instead of generating one")
	if len(args) == 0 {
		fs.Usage()
		return usagef("give create NAME --role R, list, disable NAME or password NAME")
	}
	sub := args[0]
	if isHelp(sub) {
		fs.Usage()
		return nil
	}
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	pos := fs.Args()
	want := 1
	switch sub {
	case "create":
		if *role == "" {
			return usagef("operators create needs --role viewer, operator or admin")
		}
	case "disable", "password":
	case "list":
		want = 0
	default:
		return usagef("unknown operators command %q: give create NAME, list, disable NAME or password NAME", sub)
	}
	if len(pos) != want {
		return usagef("operators %s takes %d argument(s), got %q", sub, want, pos)
	}
	if *role != "" && sub != "create" {
		return usagef("--role goes with create only")
	}
	password, generated := "", false
	if sub == "create" || sub == "password" {
		var err error
		if password, generated, err = readPassword(env, *fromStdin); err != nil {
			return err
		}
	}
	env, _, db, err := dbf.setUp(ctx, env)
	if err != nil {
		return err
	}
	defer db.Close()
	actor := ops.Actor{Operator: *as, Command: commandLine("operators", args)}
	now := env.now()
	usage := func(err error) error {
		if errors.Is(err, console.ErrName) || errors.Is(err, console.ErrRole) || errors.Is(err, console.ErrPassword) ||
			errors.Is(err, console.ErrExists) || errors.Is(err, console.ErrNoOperator) {
			return usagef("%v", err)
		}
		return err
	}

	switch sub {
	case "create", "password":
		name := pos[0]
		action := ops.ActionOperatorCreate
		params := map[string]any{"name": name}
		if sub == "create" {
			err = console.CreateOperator(ctx, db, name, *role, password, now)
			params["role"] = *role
		} else {
			err = console.SetPassword(ctx, db, name, password, now)
			action = ops.ActionOperatorPassword
		}
		if err != nil {
			return usage(err)
		}
		// Done and committed: a failure to record it is said, and a generated
		// password still shown (it is set).
		if err := ops.Audit(ctx, db, actor, action, params, nil, now); err != nil {
			fmt.Fprintf(env.Stderr, "operator %s: done, but not recorded in the audit trail: %v\n", name, err)
		}
		if generated {
			fmt.Fprintln(env.Stdout, password)
			fmt.Fprintf(env.Stderr, "operator %s: its password is shown this once and cannot be read back\n", name)
		} else {
			fmt.Fprintf(env.Stdout, "operator %s: password set\n", name)
		}
	case "disable":
		if err := console.DisableOperator(ctx, db, pos[0], now); err != nil {
			return usage(err)
		}
		if err := ops.Audit(ctx, db, actor, ops.ActionOperatorDisable, map[string]any{"name": pos[0]}, nil, now); err != nil {
			return fmt.Errorf("operator %s disabled, but: %w", pos[0], err)
		}
		fmt.Fprintf(env.Stdout, "operator %s disabled: its sessions are ended\n", pos[0])
	case "list":
		list, err := console.ListOperators(ctx, db)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tSTATE\tCREATED")
		for _, o := range list {
			state := "active"
			switch {
			case o.Disabled:
				state = "disabled"
			case o.LockedUntil != nil && o.LockedUntil.After(now):
				state = "locked until " + o.LockedUntil.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", esc(o.Name), o.Role, state, o.CreatedAt.UTC().Format(time.RFC3339))
		}
		tw.Flush()
	}
	return nil
}

// readPassword reads the first line of stdin (--password-stdin), or generates one.
func readPassword(env Env, fromStdin bool) (string, bool, error) {
	if !fromStdin {
		return console.GeneratePassword(), true, nil
	}
	if env.Stdin == nil {
		return "", false, usagef("--password-stdin: no standard input")
	}
	line, err := bufio.NewReader(env.Stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", false, fmt.Errorf("read password: %w", err)
	}
	p := strings.TrimRight(line, "\r\n")
	if len(p) < console.MinPassword || len(p) > console.MaxPassword {
		return "", false, usagef("--password-stdin: %v", console.ErrPassword)
	}
	return p, false, nil
}
