package store

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// hidden stands in for a password in whatever Redact returns.
const hidden = "xxxxx"

// passwordMarker finds where a password begins in a connection string that cannot be
// parsed: the key=value form's "password=", a URL's "?password=" or "&password=".
var passwordMarker = regexp.MustCompile(`(?i)password\s*=\s*`)

// Redact hides the password of a connection string, whatever its form, so that the
// string can be printed or logged: a postgres:// URL (its user info and a password
// query parameter), key=value settings (password=x, password='x y'), and strings
// neither parser takes (a URL with "%zz" in its password, an unterminated quote),
// of which everything after the password marker is hidden, or the whole string
// when there is no marker to go by.
func Redact(dsn string) string { return guard(redact(dsn)) }

// guard cuts s after the first password marker not followed by the hidden stand-in:
// whatever the parsers made of s ("0= password=x" is a value holding the marker
// to libpq), a marker's value is never shown.
func guard(s string) string {
	for _, loc := range passwordMarker.FindAllStringIndex(s, -1) {
		if !strings.HasPrefix(s[loc[1]:], hidden) {
			return s[:loc[1]] + hidden
		}
	}
	return s
}

func redact(dsn string) string {
	if isURL(dsn) {
		return redactURL(dsn)
	}
	if spans, ok := keyValuePasswords(dsn); ok {
		var b strings.Builder
		last := 0
		for _, s := range spans {
			b.WriteString(dsn[last:s[0]])
			b.WriteString(hidden)
			last = s[1]
		}
		b.WriteString(dsn[last:])
		return b.String()
	}
	return cutAtMarker(dsn)
}

// HasPassword reports whether dsn carries a password (or might: one that cannot be
// parsed and names a password).
func HasPassword(dsn string) bool { return Redact(dsn) != dsn }

func isURL(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// redactURL hides the user info's password and any password query parameter.
func redactURL(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		// Where the password ends is unknown: hide the whole user info, and then
		// whatever follows a password marker.
		scheme, rest, _ := strings.Cut(dsn, "://")
		at := strings.LastIndex(rest, "@")
		if at < 0 {
			return scheme + "://" + hidden
		}
		return scheme + "://" + hidden + "@" + cutAtMarker(rest[at+1:])
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), hidden)
		}
	}
	if u.RawQuery != "" {
		parts := strings.Split(u.RawQuery, "&")
		for i, p := range parts {
			k, _, _ := strings.Cut(p, "=")
			if key, err := url.QueryUnescape(k); err != nil || strings.EqualFold(key, "password") {
				parts[i] = k + "=" + hidden
			}
		}
		u.RawQuery = strings.Join(parts, "&")
	}
	return u.String()
}

// cutAtMarker hides everything after the first password marker, or everything when
// there is none but the word password (or "%": a mangled escape) is there.
func cutAtMarker(s string) string {
	if loc := passwordMarker.FindStringIndex(s); loc != nil {
		return s[:loc[1]] + hidden
	}
	if strings.Contains(strings.ToLower(s), "pass") || strings.Contains(s, "%") {
		return hidden
	}
	return s
}

// keyValuePasswords reads dsn as libpq's key=value settings and returns the byte
// spans of the password values (quotes included); ok is false when dsn is not
// well-formed key=value settings.
func keyValuePasswords(dsn string) (spans [][2]int, ok bool) {
	i, n := 0, len(dsn)
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' }
	for {
		for i < n && isSpace(dsn[i]) {
			i++
		}
		if i == n {
			return spans, true
		}
		k := i
		for i < n && dsn[i] != '=' && !isSpace(dsn[i]) {
			i++
		}
		key := dsn[k:i]
		for i < n && isSpace(dsn[i]) {
			i++
		}
		if i == n || dsn[i] != '=' || key == "" {
			return nil, false
		}
		i++
		for i < n && isSpace(dsn[i]) {
			i++
		}
		v := i
		if i < n && dsn[i] == '\'' {
			i++
			for i < n && dsn[i] != '\'' {
				if dsn[i] == '\\' {
					i++
				}
				i++
			}
			if i >= n {
				return nil, false // unterminated quote
			}
			i++
		} else {
			for i < n && !isSpace(dsn[i]) {
				if dsn[i] == '\\' {
					i++
				}
				i++
			}
			if i > n {
				return nil, false // a backslash at the end
			}
		}
		if strings.EqualFold(key, "password") {
			spans = append(spans, [2]int{v, i})
		}
	}
}

// redactedError is an error whose message had the connection string's secrets
// hidden; it still unwraps to the driver's error for errors.Is and errors.As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactErr hides in err's message every piece of dsn that may be its password: the
// driver's parse errors quote what they could not read (`missing "=" after "y"` of
// password=x y, or a URL whole).
func redactErr(dsn string, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	red := Redact(dsn)
	if red == dsn {
		return err
	}
	msg = strings.ReplaceAll(msg, dsn, red)
	msg = strings.ReplaceAll(msg, strconv.Quote(dsn), strconv.Quote(red))
	for _, s := range secretPieces(dsn) {
		msg = strings.ReplaceAll(msg, strconv.Quote(s), strconv.Quote(hidden))
		if len(s) >= 4 {
			msg = strings.ReplaceAll(msg, s, hidden)
		}
	}
	return &redactedError{msg: msg, err: err}
}

// secretPieces are the strings a driver's message might quote from dsn's password:
// the password as written and as read, and, where dsn cannot be parsed, every word
// after the password marker.
func secretPieces(dsn string) []string {
	var out []string
	if isURL(dsn) {
		if u, err := url.Parse(dsn); err == nil {
			if p, ok := u.User.Password(); ok {
				out = append(out, p, url.PathEscape(p))
			}
			for k, vs := range u.Query() {
				if strings.EqualFold(k, "password") {
					out = append(out, vs...)
				}
			}
			if _, raw, ok := strings.Cut(u.RawQuery, "password="); ok {
				raw, _, _ = strings.Cut(raw, "&")
				out = append(out, raw)
			}
			return out
		}
		_, rest, _ := strings.Cut(dsn, "://")
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			userinfo := rest[:at]
			if _, p, ok := strings.Cut(userinfo, ":"); ok {
				out = append(out, p, userinfo)
				for i := strings.Index(p, "%"); i >= 0 && i < len(p); {
					out = append(out, p[i:min(i+3, len(p))]) // url's "invalid URL escape "%zz""
					next := strings.Index(p[i+1:], "%")
					if next < 0 {
						break
					}
					i += 1 + next
				}
			}
		}
	}
	if spans, ok := keyValuePasswords(dsn); ok {
		for _, s := range spans {
			v := dsn[s[0]:s[1]]
			out = append(out, v, strings.Trim(v, "'"))
		}
		return out
	}
	if loc := passwordMarker.FindStringIndex(dsn); loc != nil {
		tail := dsn[loc[1]:]
		out = append(out, tail)
		out = append(out, strings.Fields(tail)...)
		for _, f := range strings.Fields(tail) {
			out = append(out, strings.Trim(f, `'\`))
		}
	}
	return out
}
