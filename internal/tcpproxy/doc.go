// Package tcpproxy is the TCP proxy the tests put between the program and PostgreSQL
// (or any server) to break the network without touching the server that other tests
// share: it passes connections, cuts the links open (new ones still pass), refuses
// connections (its listening socket closed, as a host whose server is down), or
// blackholes them (accepted, nothing forwarded either way, as a network that drops
// every packet; the traffic held flows again once it passes).
//
// It is the one proxy of the project: internal/pgtest.NewProxy puts it in front of a
// test database, and the chaos suite (internal/chaos) uses it for its outages.
// It listens on loopback only.
package tcpproxy
