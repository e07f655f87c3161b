package identity_test

import (
	"encoding/base32"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/silo-ai/silo/internal/identity"
)

// TestTOTPRFC6238Vectors checks the TOTP library against the test vectors
// of RFC 6238, Appendix B (8 digits, 30-second steps, all three hashes).
func TestTOTPRFC6238Vectors(t *testing.T) {
	seeds := map[otp.Algorithm]string{
		otp.AlgorithmSHA1:   "12345678901234567890",
		otp.AlgorithmSHA256: "12345678901234567890123456789012",
		otp.AlgorithmSHA512: "1234567890123456789012345678901234567890123456789012345678901234",
	}
	vectors := []struct {
		unix int64
		want map[otp.Algorithm]string
	}{
		{59, map[otp.Algorithm]string{otp.AlgorithmSHA1: "94287082", otp.AlgorithmSHA256: "46119246", otp.AlgorithmSHA512: "90693936"}},
		{1111111109, map[otp.Algorithm]string{otp.AlgorithmSHA1: "07081804", otp.AlgorithmSHA256: "68084774", otp.AlgorithmSHA512: "25091201"}},
		{1111111111, map[otp.Algorithm]string{otp.AlgorithmSHA1: "14050471", otp.AlgorithmSHA256: "67062674", otp.AlgorithmSHA512: "99943326"}},
		{1234567890, map[otp.Algorithm]string{otp.AlgorithmSHA1: "89005924", otp.AlgorithmSHA256: "91819424", otp.AlgorithmSHA512: "93441116"}},
		{2000000000, map[otp.Algorithm]string{otp.AlgorithmSHA1: "69279037", otp.AlgorithmSHA256: "90698825", otp.AlgorithmSHA512: "38618901"}},
		{20000000000, map[otp.Algorithm]string{otp.AlgorithmSHA1: "65353130", otp.AlgorithmSHA256: "77737706", otp.AlgorithmSHA512: "47863826"}},
	}
	for _, v := range vectors {
		for alg, want := range v.want {
			secret := base32.StdEncoding.EncodeToString([]byte(seeds[alg]))
			got, err := totp.GenerateCodeCustom(secret, time.Unix(v.unix, 0).UTC(),
				totp.ValidateOpts{Period: 30, Digits: otp.DigitsEight, Algorithm: alg})
			if err != nil || got != want {
				t.Errorf("T=%d %s: %q, %v; want %q", v.unix, alg, got, err, want)
			}
		}
	}
	// silo's codes are the last six digits of the SHA-1 vectors.
	secret := base32.StdEncoding.EncodeToString([]byte(seeds[otp.AlgorithmSHA1]))
	for _, v := range vectors {
		got, err := identity.CodeAt(secret, time.Unix(v.unix, 0))
		if want := v.want[otp.AlgorithmSHA1][2:]; err != nil || got != want {
			t.Errorf("CodeAt(T=%d) = %q, %v; want %q", v.unix, got, err, want)
		}
	}
}

func TestPolicy(t *testing.T) {
	p := identity.Policy{TOTPRequired: identity.TOTPAdmins, AllowedEmailDomains: []string{"example.com"}}
	for _, c := range []struct {
		email string
		want  bool
	}{
		{"a@example.com", true},
		{"a@EXAMPLE.com", true},
		{"a@sub.example.com", false},
		{"a@example.com.evil", false},
		{"a@evil.example", false},
		{"example.com", false},
		{"", false},
		{"@example.com", false},
	} {
		if got := p.AllowsEmail(c.email); got != c.want {
			t.Errorf("AllowsEmail(%q) = %v, want %v", c.email, got, c.want)
		}
	}
	if !(identity.Policy{}).AllowsEmail("any@where.test") {
		t.Error("no domain list should allow any address")
	}
	if !p.RequiresTOTP("admin") || p.RequiresTOTP("user") {
		t.Error("admins policy")
	}
	if !(identity.Policy{TOTPRequired: identity.TOTPEveryone}).RequiresTOTP("user") || (identity.Policy{TOTPRequired: identity.TOTPNone}).RequiresTOTP("admin") {
		t.Error("everyone / none policy")
	}
}

func TestCSRFToken(t *testing.T) {
	a, b := identity.SessionPrefix+"aaaa", identity.SessionPrefix+"bbbb"
	if !identity.CheckCSRF(a, identity.CSRFToken(a)) {
		t.Error("own token refused")
	}
	for _, tok := range []string{"", identity.CSRFToken(b), identity.CSRFToken(a)[1:], a} {
		if identity.CheckCSRF(a, tok) {
			t.Errorf("token %q accepted", tok)
		}
	}
}
