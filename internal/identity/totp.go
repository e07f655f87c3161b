package identity

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/silo-ai/silo/internal/store"
)

// TOTP (RFC 6238) second factor: SHA-1, six digits, 30-second steps, as
// every authenticator app reads from an otpauth:// URL. A code is accepted
// for the current step or one step either side (clock skew), and only for
// a step after the last one accepted, so each code works once.

// TOTP parameters.
const (
	totpIssuer = "silo"
	totpPeriod = 30
	totpSkew   = 1
)

// TOTP errors.
var (
	// ErrTOTPRequired: the user has a second factor (or must enroll one)
	// and gave no code.
	ErrTOTPRequired = errors.New("a TOTP code is required")
	// ErrBadTOTP: the code is wrong, stale, or was used already.
	ErrBadTOTP = errors.New("invalid TOTP code")
	// ErrTOTPEnrolled: the user has a confirmed TOTP; it is not replaced.
	ErrTOTPEnrolled = errors.New("TOTP is enrolled already")
	// ErrTOTPNotEnrolled: there is nothing to confirm.
	ErrTOTPNotEnrolled = errors.New("no TOTP enrollment to confirm")
)

// TOTPs manages users' authenticator-app secrets.
type TOTPs struct {
	st  store.Store
	now func() time.Time
}

// NewTOTPs returns a TOTP manager over st.
func NewTOTPs(st store.Store) *TOTPs { return &TOTPs{st: st, now: time.Now} }

// Enroll makes a new secret for u and returns it with its otpauth:// URL,
// to be shown once. It is not used until Confirm. A confirmed TOTP is not
// replaced (ErrTOTPEnrolled).
func (t *TOTPs) Enroll(ctx context.Context, u *store.User) (secret, url string, err error) {
	cur, err := t.st.GetTOTP(ctx, u.ID)
	switch {
	case err == nil && cur.ConfirmedAt != nil:
		return "", "", ErrTOTPEnrolled
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return "", "", fmt.Errorf("identity: enroll totp: %w", err)
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: totpIssuer, AccountName: u.Name, Period: totpPeriod,
		SecretSize: 20, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", "", fmt.Errorf("identity: enroll totp: %w", err)
	}
	if err := t.st.PutTOTP(ctx, &store.TOTP{UserID: u.ID, Secret: key.Secret()}); err != nil {
		return "", "", fmt.Errorf("identity: enroll totp: %w", err)
	}
	return key.Secret(), key.URL(), nil
}

// Confirm turns on an enrollment with a first valid code.
func (t *TOTPs) Confirm(ctx context.Context, u *store.User, code string) error {
	cur, err := t.st.GetTOTP(ctx, u.ID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && cur.ConfirmedAt != nil) {
		return ErrTOTPNotEnrolled
	}
	if err != nil {
		return fmt.Errorf("identity: confirm totp: %w", err)
	}
	step, ok := matchCode(cur.Secret, code, t.now())
	if !ok || step <= cur.LastStep {
		return ErrBadTOTP
	}
	now := t.now()
	cur.ConfirmedAt, cur.LastStep = &now, step
	if err := t.st.PutTOTP(ctx, cur); err != nil {
		return fmt.Errorf("identity: confirm totp: %w", err)
	}
	return nil
}

// Enrolled reports whether the user has a confirmed TOTP.
func (t *TOTPs) Enrolled(ctx context.Context, u *store.User) (bool, error) {
	cur, err := t.st.GetTOTP(ctx, u.ID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("identity: totp: %w", err)
	}
	return cur.ConfirmedAt != nil, nil
}

// Check accepts a code of the user's confirmed TOTP once.
func (t *TOTPs) Check(ctx context.Context, u *store.User, code string) error {
	cur, err := t.st.GetTOTP(ctx, u.ID)
	if errors.Is(err, store.ErrNotFound) {
		return ErrBadTOTP
	}
	if err != nil {
		return fmt.Errorf("identity: check totp: %w", err)
	}
	if cur.ConfirmedAt == nil {
		return ErrBadTOTP
	}
	step, ok := matchCode(cur.Secret, code, t.now())
	if !ok {
		return ErrBadTOTP
	}
	if err := t.st.UseTOTPStep(ctx, u.ID, step); errors.Is(err, store.ErrConflict) {
		return ErrBadTOTP
	} else if err != nil {
		return fmt.Errorf("identity: check totp: %w", err)
	}
	return nil
}

// matchCode returns the time step whose code is code, within the skew.
// Every candidate is computed and compared in constant time.
func matchCode(secret, code string, at time.Time) (int64, bool) {
	if len(code) != 6 {
		return 0, false
	}
	cur := at.Unix() / totpPeriod
	var found int64
	ok := false
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		step := cur + d
		want, err := CodeAt(secret, time.Unix(step*totpPeriod, 0))
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			found, ok = step, true
		}
	}
	return found, ok
}

// CodeAt is the six-digit code of a base32 secret at a time (for clients
// and tests).
func CodeAt(secret string, at time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
}
