// Package config reads the provisioner's configuration file: one TOML file with every
// setting of the scheduler and its jobs (samples/provisioner.toml is the complete,
// commented example), checked as a whole so that every bad key, value or cron spec is
// named with its line, not only the first. Environment variables override the file
// for the secrets and the usual per-host settings (DATABASE_URL, CAS_GATEWAY_URL,
// CAS_GATEWAY_TOKEN, CAS_DESTINATION_ID, LOG_LEVEL, LOG_FORMAT).
//
// The gateway token has no key in the file: a secret belongs in the environment (a
// systemd EnvironmentFile readable by the service's user only), not in a file that
// is copied between hosts and into version control. A database URL that holds a
// password is accepted in the file, with a warning when the file is readable by
// others.
//
// The file is parsed by github.com/pelletier/go-toml/v2; its parser gives the
// position of every key, which the checks here use to say where each mistake is.
package config
