package cli

import (
	"context"
	"errors"
	"flag"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/config"
	"github.com/provisioner/provisioner/internal/cmdline"
	"github.com/provisioner/provisioner/internal/escape"
	"github.com/provisioner/provisioner/ops"
	"github.com/provisioner/provisioner/store"
)

// dbFlags are the flags of every command that uses the database: --database-url,
// which overrides DATABASE_URL, and --config, the configuration file of scheduler and
// run, whose database.url, database.statement_timeout, log and gateway settings then
// stand in for the environment's (the environment first, then the file).
type dbFlags struct {
	url, config string
	// cfg is the configuration read by configure; nil when there is none.
	cfg *config.Config
	// conns is how many connections the command uses at once (a processing run:
	// dispatcher.Options.Conns); 0: store.Open's default pool.
	conns int
}

func addDBFlags(fs *flag.FlagSet) *dbFlags {
	f := &dbFlags{}
	fs.StringVar(&f.url, "database-url", "", "PostgreSQL URL (default: $DATABASE_URL, else the configuration's database.url)")
	fs.StringVar(&f.config, "config", "", "configuration file (default: $PROVISIONER_CONFIG; none: the environment alone)")
	return f
}

// configure reads the configuration file when one is given (--config, else
// $PROVISIONER_CONFIG) and returns env seen through it, and the logger.
func (f *dbFlags) configure(env Env) (Env, *logrus.Logger, error) {
	if f.config == "" && env.Getenv("PROVISIONER_CONFIG") == "" {
		log, err := newLogger(env)
		return env, log, err
	}
	c, err := loadConfig(env, f.config)
	if err != nil {
		return env, nil, err
	}
	f.cfg = c
	return configured(env, c)
}

// open opens the database of env (as configure returned it), or the flag's.
func (f *dbFlags) open(ctx context.Context, env Env) (*store.DB, error) {
	return openPool(ctx, env, f.url, f.conns)
}

// setUp is the start of every command that uses the database, once its flags are
// checked: the configuration, the logger, then the database. The caller closes db.
func (f *dbFlags) setUp(ctx context.Context, env Env) (Env, *logrus.Logger, *store.DB, error) {
	env, log, err := f.configure(env)
	if err != nil {
		return env, nil, nil, err
	}
	db, err := f.open(ctx, env)
	if err != nil {
		return env, nil, nil, err
	}
	return env, log, db, nil
}

func databaseURL(env Env, flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if u := env.Getenv("DATABASE_URL"); u != "" {
		return u, nil
	}
	return "", usagef("no database: set DATABASE_URL (for example postgres://user@127.0.0.1:5432/provisioner?sslmode=disable) or pass --database-url")
}

// openDB opens the database and checks that its schema is this binary's.
func openDB(ctx context.Context, env Env, flagValue string) (*store.DB, error) {
	return openPool(ctx, env, flagValue, 0)
}

// openPool is openDB for a command that uses conns connections at once; 0 for the
// default pool.
func openPool(ctx context.Context, env Env, flagValue string, conns int) (*store.DB, error) {
	dsn, err := databaseURL(env, flagValue)
	if err != nil {
		return nil, err
	}
	opts, err := dbOptions(env)
	if err != nil {
		return nil, err
	}
	opts.Conns = conns
	db, err := store.Open(ctx, dsn, opts)
	if err != nil {
		return nil, err
	}
	if err := store.CheckSchema(ctx, db); err != nil {
		db.Close()
		if errors.Is(err, store.ErrSchema) {
			return nil, &cmdline.UsageError{Msg: err.Error()} // a set-up problem, not a failure of the run
		}
		return nil, err
	}
	return db, nil
}

// dbOptions reads DATABASE_STATEMENT_TIMEOUT (or the configuration's
// database.statement_timeout): a Go duration, 0 for none.
func dbOptions(env Env) (store.Options, error) {
	var o store.Options
	if v := env.Getenv("DATABASE_STATEMENT_TIMEOUT"); v != "" {
		d, err := store.ParseStatementTimeout(v)
		if err != nil {
			return o, usagef("DATABASE_STATEMENT_TIMEOUT: %v", err)
		}
		o.StatementTimeout = d
	}
	return o, nil
}

// configFlag adds --config.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", "", "configuration file (default: $PROVISIONER_CONFIG)")
}

// loadConfig reads the configuration; mistakes are a usage error that lists them.
func loadConfig(env Env, path string) (*config.Config, error) {
	c, err := config.Load(path, env.Getenv)
	var ps *config.Problems
	switch {
	case errors.As(err, &ps):
		return nil, usagef("%s in the configuration:\n%v", ops.Plural(len(ps.List), "mistake", "mistakes"), err)
	case errors.Is(err, config.ErrNoFile):
		return nil, usagef("%v", err)
	case err != nil:
		return nil, usagef("%v", err)
	}
	return c, nil
}

// configured returns env seen through the configuration (the environment first, then
// the file) and a logger set up from both.
func configured(env Env, c *config.Config) (Env, *logrus.Logger, error) {
	env.Getenv = c.Getenv(env.Getenv)
	log, err := newLogger(env)
	if err != nil {
		return env, nil, err
	}
	for _, w := range c.Warnings {
		log.Warn(w)
	}
	return env, log, nil
}

// LogTimeLayout is the logs' time: RFC 3339 with milliseconds (logrus's default has
// whole seconds, too coarse to order a run's lines or match them with the database's).
const LogTimeLayout = "2006-01-02T15:04:05.000Z07:00"

// escapingFormatter escapes the control characters of a text log line's message and
// string fields: logrus quotes a field that needs it, but not the message of a
// coloured line (a terminal's), nor an error's text. JSON escapes them itself.
type escapingFormatter struct{ logrus.Formatter }

func (f escapingFormatter) Format(e *logrus.Entry) ([]byte, error) {
	c := *e
	c.Message = escape.Control(e.Message)
	c.Data = make(logrus.Fields, len(e.Data))
	for k, v := range e.Data {
		switch v := v.(type) {
		case string:
			c.Data[k] = escape.Control(v)
		case error:
			c.Data[k] = escape.Control(v.Error())
		default:
			c.Data[k] = v
		}
	}
	return f.Formatter.Format(&c)
}

// newLogger sets up logrus: text on a terminal, JSON otherwise (for log collectors),
// unless LOG_FORMAT says; LOG_LEVEL sets the level.
func newLogger(env Env) (*logrus.Logger, error) {
	log := logrus.New()
	log.SetOutput(env.Stderr)
	format := strings.ToLower(env.Getenv("LOG_FORMAT"))
	switch {
	case format == "json", format == "" && !env.StderrIsTerminal:
		log.SetFormatter(&logrus.JSONFormatter{TimestampFormat: LogTimeLayout})
	case format == "text", format == "":
		log.SetFormatter(escapingFormatter{&logrus.TextFormatter{FullTimestamp: true, TimestampFormat: LogTimeLayout}})
	default:
		return nil, usagef("LOG_FORMAT=%q: expected text or json", format)
	}
	if lvl := env.Getenv("LOG_LEVEL"); lvl != "" {
		l, err := logrus.ParseLevel(lvl)
		if err != nil {
			return nil, usagef("LOG_LEVEL=%q: expected one of panic, fatal, error, warn, info, debug, trace", lvl)
		}
		log.SetLevel(l)
	}
	return log, nil
}
