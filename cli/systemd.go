package cli

import (
	"net"

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
