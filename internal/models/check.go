package models

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/silo-ai/silo/internal/provenance"
)

// Status is a model's provenance status.
type Status string

// Statuses.
const (
	// StatusVerified: the model passes the trust policy.
	StatusVerified Status = "verified"
	// StatusRefused: the model fails the policy in mode enforce; it is not
	// served.
	StatusRefused Status = "refused"
	// StatusUnverified: the model is served without passing a policy:
	// there is none, its mode is off, or it failed in mode warn.
	StatusUnverified Status = "unverified"
)

// NoPolicyReason is the reason given for every model when no trust policy
// is configured.
const NoPolicyReason = "no trust policy configured (silo serve --policy FILE): model not verified"

// Verdict is a Checker's answer for one model.
type Verdict struct {
	Status Status `json:"status"`
	// Allow says whether the model may be served.
	Allow bool `json:"-"`
	// Reason is one line for logs, the API and the CLI.
	Reason  string   `json:"reason"`
	Signers []string `json:"signers,omitempty"`
	SHA256  string   `json:"sha256,omitempty"`
	// Statement is the certificate's statement when its signatures met
	// the policy's threshold.
	Statement *provenance.Statement `json:"-"`
}

// Checker evaluates models against a trust policy.
//
// Without a Policy (none configured), every model is allowed and reported
// unverified with NoPolicyReason: silo then serves what is in its models
// directory, as before provenance existed, and says so at start and for
// each model. A configured policy decides by its mode; evaluation fails
// closed (see provenance.Evaluate).
type Checker struct {
	// Policy is the trust policy; nil when none is configured.
	Policy *provenance.Policy
	// Digests hashes model files (nil: an in-memory cache).
	Digests *DigestCache
	// Evidence, when set, returns what the caller verified about the
	// inclusion of a model's certificate envelope in the transparency log.
	Evidence func(modelPath string, envelope []byte) *provenance.LogEvidence
	// LogState, when set with Evidence, identifies the log's current
	// checkpoint (CertLog.State): remembered verdicts hold only while it is
	// unchanged, since the evidence may change with it.
	LogState func() string
	// Log receives one line per model the first time it is refused or
	// allowed with a warning (default slog.Default()).
	Log *slog.Logger

	once     sync.Once
	mu       sync.Mutex
	warned   map[string]string // path -> last reason logged
	verdicts map[string]cachedVerdict
}

// SigExtension is appended to a model file's name for its OpenSSF Model
// Signing bundle (model-transparency's signature file), which the Checker
// reads when the model has no NAME.gguf.dsse.json certificate.
const SigExtension = ".sig"

// SigPath returns the path of the Model Signing bundle of a model file.
func SigPath(modelPath string) string { return modelPath + SigExtension }

// cachedVerdict is a verdict valid while the model file and its
// certificates keep the stamps they had (see racy).
type cachedVerdict struct {
	name            string
	file, cert, sig digestEntry
	log             string
	v               Verdict
}

// stamps returns the stamps of a model file and of its certificate and
// Model Signing bundle (zero where it has none), and whether they are
// settled enough to cache a verdict on.
func stamps(path string) (file, cert, sig digestEntry, ok bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return file, cert, sig, false
	}
	file = keyOf(fi)
	for _, c := range []struct {
		path string
		e    *digestEntry
	}{{CertPath(path), &cert}, {SigPath(path), &sig}} {
		if ci, err := os.Stat(c.path); err == nil {
			*c.e = keyOf(ci)
			if racy(*c.e) {
				return file, cert, sig, false
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return file, cert, sig, false
		}
	}
	return file, cert, sig, !racy(file)
}

// LoadPolicy reads and parses a policy file. Any problem is an error: a
// policy that was asked for and cannot be used must stop the server, not be
// ignored.
func LoadPolicy(file string) (*provenance.Policy, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("models: policy: %w", err)
	}
	p, err := provenance.ParsePolicy(b)
	if err != nil {
		return nil, fmt.Errorf("models: policy %s: %w", file, err)
	}
	return p, nil
}

// Mode returns the effective mode: the policy's, or warn without one.
func (c *Checker) Mode() provenance.Mode {
	if c.Policy == nil {
		return provenance.ModeWarn
	}
	return c.Policy.Mode
}

func (c *Checker) init() {
	c.once.Do(func() {
		if c.Digests == nil {
			c.Digests, _ = OpenDigestCache("")
		}
		if c.Log == nil {
			c.Log = slog.Default()
		}
		c.warned = map[string]string{}
		c.verdicts = map[string]cachedVerdict{}
	})
}

// Check evaluates model name, whose file is path, with its certificate
// CertPath(path), or else its OpenSSF Model Signing bundle SigPath(path). The verdict is remembered while neither file changes (by
// the digest cache's rules), so checking an unchanged model costs two stats.
func (c *Checker) Check(ctx context.Context, name, path string) Verdict {
	c.init()
	if c.Policy == nil || c.Policy.Mode == provenance.ModeOff {
		return c.check(ctx, name, path)
	}
	file, cert, sig, settled := stamps(path)
	logState := ""
	if c.LogState != nil {
		logState = c.LogState()
	}
	if settled {
		c.mu.Lock()
		e, ok := c.verdicts[path]
		c.mu.Unlock()
		if ok && e.name == name && e.file == file && e.cert == cert && e.sig == sig && e.log == logState {
			return e.v
		}
	}
	v := c.check(ctx, name, path)
	if c.LogState != nil {
		logState = c.LogState() // the check may have logged the certificate
	}
	if settled {
		// Stamps taken before the check: a change during it shows next time.
		c.mu.Lock()
		c.verdicts[path] = cachedVerdict{name: name, file: file, cert: cert, sig: sig, log: logState, v: v}
		c.mu.Unlock()
	}
	return v
}

func (c *Checker) check(ctx context.Context, name, path string) Verdict {
	if c.Policy == nil {
		return Verdict{Status: StatusUnverified, Allow: true, Reason: NoPolicyReason}
	}
	if c.Policy.Mode == provenance.ModeOff {
		d := provenance.Evaluate(c.Policy, provenance.Input{Model: name})
		return Verdict{Status: StatusUnverified, Allow: d.Allow, Reason: d.Reason}
	}
	refuse := func(reason string) Verdict {
		v := Verdict{Status: StatusRefused, Reason: reason}
		if c.Policy.Mode == provenance.ModeWarn {
			v.Status, v.Allow, v.Reason = StatusUnverified, true, "warning (policy mode warn): "+reason
		}
		return v
	}
	sum, err := c.Digests.Digest(path)
	if err != nil {
		return refuse(fmt.Sprintf("model %s refused: cannot hash its file: %v", name, err))
	}
	env, err := readCertificate(path)
	if err != nil {
		return refuse(fmt.Sprintf("model %s refused: cannot read its certificate: %v", name, err))
	}
	in := provenance.Input{Model: name, Envelope: env, Files: map[string]string{filepath.Base(path): sum}}
	if c.Evidence != nil && len(env) > 0 {
		in.Log = c.Evidence(path, env)
	}
	d := provenance.Evaluate(c.Policy, in)
	v := Verdict{Allow: d.Allow, Reason: d.Reason, Signers: d.Signers, SHA256: sum}
	switch {
	case d.Passed:
		v.Status, v.Statement = StatusVerified, d.Statement
	case d.Allow:
		v.Status = StatusUnverified
	default:
		v.Status = StatusRefused
	}
	return v
}

// readCertificate reads a model's certificate: CertPath, else the Model
// Signing bundle at SigPath, whose DSSE envelope is returned as the
// certificate (so the log records it like any other), or its bytes as they
// are if it does not parse (Evaluate then refuses it with the reason). No
// certificate is nil, nil.
func readCertificate(path string) ([]byte, error) {
	env, err := os.ReadFile(CertPath(path))
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return env, err
	}
	b, err := os.ReadFile(SigPath(path))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	sb, err := provenance.ParseSigstoreBundle(b)
	if err != nil {
		return b, nil
	}
	return sb.Envelope.MarshalJSON()
}

// Verify is the built-in engine's hook: nil if model name (file path) may
// be served, else a *RefusedError (wrapping provenance.ErrUnverifiedModel)
// with the reason. A refusal or warning is logged once per file and reason.
func (c *Checker) Verify(ctx context.Context, name, path string) error {
	v := c.Check(ctx, name, path)
	if v.Status != StatusVerified && c.Policy != nil {
		c.mu.Lock()
		fresh := c.warned[path] != v.Reason
		c.warned[path] = v.Reason
		c.mu.Unlock()
		if fresh {
			c.Log.WarnContext(ctx, "models: provenance", "model", name, "status", string(v.Status), "reason", v.Reason)
		}
	}
	if !v.Allow {
		return &RefusedError{Model: name, Reason: v.Reason}
	}
	return nil
}

// RefusedError is a model refused by the trust policy. It wraps
// provenance.ErrUnverifiedModel; its text is the reason.
type RefusedError struct {
	Model  string
	Reason string
}

func (e *RefusedError) Error() string { return e.Reason }

// Unwrap returns provenance.ErrUnverifiedModel.
func (e *RefusedError) Unwrap() error { return provenance.ErrUnverifiedModel }
