package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/lib/pq"
	"golang.org/x/crypto/bcrypt"

	provsql "github.com/provisioner/provisioner/sql"
	"github.com/provisioner/provisioner/store"
)

// The roles of an operator: a viewer sees every page; an operator also pulls the
// levers (retry, hold, release, cancel, reschedule, priority, pause, resume); an
// admin also manages operators.
const (
	RoleViewer   = "viewer"
	RoleOperator = "operator"
	RoleAdmin    = "admin"
)

// Roles are the roles, least rights first.
var Roles = []string{RoleViewer, RoleOperator, RoleAdmin}

func rank(role string) int {
	for i, r := range Roles {
		if r == role {
			return i
		}
	}
	return -1
}

// Lock-out: MaxFailures failed sign-ins in a row lock the account for LockFor, the
// right password included, which makes guessing a password online too slow to matter.
const (
	MaxFailures = 5
	LockFor     = 15 * time.Minute
)

// Passwords are 8 to 72 bytes: bcrypt reads no more than 72.
const (
	MinPassword = 8
	MaxPassword = 72
)

// BcryptCost is the work factor of the password hashes. Tests lower it.
var BcryptCost = 12

// Errors of the account commands and the sign-in.
var (
	ErrName       = errors.New("an operator name is 1 to 64 characters of A-Z a-z 0-9 . _ @ -, starting with a letter or digit")
	ErrRole       = errors.New("a role is viewer, operator or admin")
	ErrPassword   = fmt.Errorf("a password is %d to %d bytes", MinPassword, MaxPassword)
	ErrExists     = errors.New("an operator has this name")
	ErrNoOperator = errors.New("no operator has this name")
	// ErrSignIn: wrong name or password, or a disabled account; one error for all,
	// so that the page does not say which names exist.
	ErrSignIn = errors.New("wrong name or password")
)

// LockedError refuses a sign-in to a locked account.
type LockedError struct{ Until time.Time }

func (e *LockedError) Error() string {
	return fmt.Sprintf("too many failed sign-ins: the account is locked until %s", e.Until.UTC().Format(time.RFC3339))
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// Operator is a console account, never with its hash.
type Operator struct {
	ID            int64      `db:"id"`
	Name          string     `db:"name"`
	Role          string     `db:"role"`
	Disabled      bool       `db:"disabled"`
	FailedSignins int        `db:"failed_signins"`
	LockedUntil   *time.Time `db:"locked_until"`
	CreatedAt     time.Time  `db:"created_at"`
	UpdatedAt     time.Time  `db:"updated_at"`
}

// Can reports whether the operator's role has the rights of role.
func (o Operator) Can(role string) bool { return rank(o.Role) >= rank(role) }

// GeneratePassword returns a random password of 20 characters (120 bits).
func GeneratePassword() string {
	b := make([]byte, 15)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hash(password string) (string, error) {
	if len(password) < MinPassword || len(password) > MaxPassword {
		return "", ErrPassword
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), BcryptCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// CreateOperator adds an operator with role and password (only its hash is kept).
func CreateOperator(ctx context.Context, db *store.DB, name, role, password string, now time.Time) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("operator name %q: %w", name, ErrName)
	}
	if rank(role) < 0 {
		return fmt.Errorf("role %q: %w", role, ErrRole)
	}
	h, err := hash(password)
	if err != nil {
		return err
	}
	var id int64
	err = db.GetContext(ctx, &id, provsql.OperatorInsert, name, role, h, now)
	var pe *pq.Error
	if errors.As(err, &pe) && pe.Code == "23505" {
		return fmt.Errorf("operator %s: %w", name, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create operator %s: %w", name, err)
	}
	return nil
}

// ListOperators returns every operator, by name.
func ListOperators(ctx context.Context, db *store.DB) ([]Operator, error) {
	var out []Operator
	if err := db.SelectContext(ctx, &out, provsql.OperatorList); err != nil {
		return nil, fmt.Errorf("list operators: %w", err)
	}
	return out, nil
}

// DisableOperator disables an operator and ends its sessions.
func DisableOperator(ctx context.Context, db *store.DB, name string, now time.Time) error {
	return oneOperator(ctx, db, name, "disable", provsql.OperatorDisable, name, now)
}

// SetPassword sets an operator's password, clears its lock-out and ends its sessions.
func SetPassword(ctx context.Context, db *store.DB, name, password string, now time.Time) error {
	h, err := hash(password)
	if err != nil {
		return err
	}
	return oneOperator(ctx, db, name, "set password of", provsql.OperatorPassword, name, h, now)
}

func oneOperator(ctx context.Context, db *store.DB, name, what, q string, args ...any) error {
	var id int64
	err := db.GetContext(ctx, &id, q, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("operator %s: %w", name, ErrNoOperator)
	}
	if err != nil {
		return fmt.Errorf("%s operator %s: %w", what, name, err)
	}
	return nil
}

// dummyHash is compared with when no operator has the name, so that a sign-in takes
// as long for a name that does not exist as for a wrong password: made once, at
// BcryptCost, on the first such sign-in.
var (
	dummyOnce sync.Once
	dummyHash []byte
)

func compareDummy(password string) {
	dummyOnce.Do(func() { dummyHash, _ = bcrypt.GenerateFromPassword([]byte("no such operator"), BcryptCost) })
	bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
}

// SignIn checks name and password and returns the operator: ErrSignIn when either is
// wrong or the account is disabled, *LockedError when it is locked (then the
// password is not even read). A wrong password counts towards the lock-out.
func SignIn(ctx context.Context, db *store.DB, name, password string, now time.Time) (Operator, error) {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return Operator{}, fmt.Errorf("sign in: %w", err)
	}
	defer tx.Rollback()
	var row struct {
		Operator
		Hash string `db:"password_hash"`
	}
	err = tx.GetContext(ctx, &row, provsql.OperatorByName, name)
	if errors.Is(err, sql.ErrNoRows) {
		compareDummy(password)
		return Operator{}, ErrSignIn
	}
	if err != nil {
		return Operator{}, fmt.Errorf("sign in: %w", err)
	}
	if row.LockedUntil != nil && row.LockedUntil.After(now) {
		return Operator{}, &LockedError{Until: *row.LockedUntil}
	}
	if bcrypt.CompareHashAndPassword([]byte(row.Hash), []byte(password)) != nil || row.Disabled {
		var until *time.Time
		if err := tx.GetContext(ctx, &until, provsql.OperatorSigninFailed, row.ID, MaxFailures, now.Add(LockFor)); err != nil {
			return Operator{}, fmt.Errorf("sign in: %w", err)
		}
		if err := tx.Commit(); err != nil {
			return Operator{}, fmt.Errorf("sign in: %w", err)
		}
		if until != nil && until.After(now) {
			return Operator{}, &LockedError{Until: *until}
		}
		return Operator{}, ErrSignIn
	}
	if _, err := tx.ExecContext(ctx, provsql.OperatorSigninOK, row.ID); err != nil {
		return Operator{}, fmt.Errorf("sign in: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Operator{}, fmt.Errorf("sign in: %w", err)
	}
	return row.Operator, nil
}

// Session is a signed-in browser: its operator and the CSRF token of its forms.
type Session struct {
	OperatorID int64  `db:"operator_id"`
	Operator   string `db:"name"`
	Role       string `db:"role"`
	CSRF       string `db:"csrf_token"`
}

// Can reports whether the session's operator has the rights of role.
func (s Session) Can(role string) bool { return rank(s.Role) >= rank(role) }

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

func sessionKey(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// startSession opens a session for op, idle for at most idle, and returns the
// cookie's secret (only its hash is stored) and the session.
func startSession(ctx context.Context, db *store.DB, op Operator, now time.Time, idle time.Duration) (string, Session, error) {
	secret, csrf := randomToken(), randomToken()
	if _, err := db.ExecContext(ctx, provsql.SessionInsert, sessionKey(secret), op.ID, csrf, now, now.Add(idle)); err != nil {
		return "", Session{}, fmt.Errorf("start session: %w", err)
	}
	return secret, Session{OperatorID: op.ID, Operator: op.Name, Role: op.Role, CSRF: csrf}, nil
}

// touchSession returns the live session of the cookie's secret and, with keep,
// moves its idle expiry on; ok false when there is none.
func touchSession(ctx context.Context, db *store.DB, secret string, now time.Time, idle time.Duration, keep bool) (Session, bool, error) {
	var s Session
	err := db.GetContext(ctx, &s, provsql.SessionTouch, sessionKey(secret), now, now.Add(idle), keep)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, false, nil
	}
	if err != nil {
		return Session{}, false, fmt.Errorf("session: %w", err)
	}
	return s, true, nil
}

func endSession(ctx context.Context, db *store.DB, secret string) error {
	if _, err := db.ExecContext(ctx, provsql.SessionDelete, sessionKey(secret)); err != nil {
		return fmt.Errorf("sign out: %w", err)
	}
	return nil
}
