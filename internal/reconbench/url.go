package reconbench

import "net/url"

// neturlWithDB is server's URL naming database db instead.
func neturlWithDB(server, db string) (string, error) {
	u, err := url.Parse(server)
	if err != nil {
		return "", err
	}
	u.Path = "/" + db
	return u.String(), nil
}
