package cli

import (
	"net"
	"os"
	"strconv"
	"time"

	"github.com/sirupsen/logrus"
)

// sdNotifier returns what tells systemd the scheduler's state (sd_notify(3): one
// datagram of "KEY=value" lines to $NOTIFY_SOCKET, set for a Type=notify service),
// or nil when there is no socket (a terminal, cron, Type=simple). Written here
// rather than taken from go-systemd, whose SdNotify reads the process environment:
// the commands read theirs through Env.Getenv, so that tests give each its own.
func sdNotifier(socket string, log logrus.FieldLogger) func(string) {
	if socket == "" {
		return nil
	}
	// A leading '@' is an abstract socket: net does that translation on Linux.
	addr := &net.UnixAddr{Name: socket, Net: "unixgram"}
	return func(state string) {
		conn, err := net.DialUnix("unixgram", nil, addr)
		if err == nil {
			_, err = conn.Write([]byte(state))
			conn.Close()
		}
		if err != nil {
			log.WithError(err).Warn("systemd notification not sent")
		}
	}
}

// watchdogInterval is how often to say WATCHDOG=1: half of $WATCHDOG_USEC, which
// systemd sets from the unit's WatchdogSec= (sd_watchdog_enabled(3)), when
// $WATCHDOG_PID is unset or names this process; 0 otherwise.
func watchdogInterval(getenv func(string) string, log logrus.FieldLogger) time.Duration {
	v := getenv("WATCHDOG_USEC")
	if v == "" {
		return 0
	}
	if pid := getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0 // meant for another process (a wrapper that started us)
	}
	usec, err := strconv.ParseInt(v, 10, 64)
	if err != nil || usec <= 0 {
		log.WithField("WATCHDOG_USEC", v).Warn("systemd watchdog: not a number of microseconds; no pings sent")
		return 0
	}
	return time.Duration(usec) * time.Microsecond / 2
}
