package provenance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
)

// Errors (wrapped) of this package.
var (
	// ErrMalformed: bytes that do not parse as the expected format.
	ErrMalformed = errors.New("malformed")
	// ErrPolicy: a policy file that cannot be used (it is refused whole).
	ErrPolicy = errors.New("invalid policy")
	// ErrUnverifiedModel: the model fails the policy.
	ErrUnverifiedModel = errors.New("model fails the trust policy")
)

// Mode is a policy's enforcement mode.
type Mode string

// Modes.
const (
	ModeEnforce Mode = "enforce" // refuse models that fail
	ModeWarn    Mode = "warn"    // load them, but report why they fail
	ModeOff     Mode = "off"     // do not evaluate
)

// Policy is a trust policy. Its JSON form:
//
//	{
//	  "mode": "enforce",
//	  "keys": {"alice": "ssh-ed25519 AAAA...", "bob": "ed25519:base64...",
//	           "carol": "-----BEGIN PUBLIC KEY-----\n<ECDSA P-256>..."},
//	  "rules": [
//	    {"models": "acme/*", "keys": ["alice", "bob"], "threshold": 2,
//	     "requiredFields": ["buildDefinition.resolvedDependencies", "runDetails.builder.id"],
//	     "log": {"required": true, "witnesses": 1}}
//	  ]
//	}
//
// Rules are tried in order; the first whose "models" glob (path.Match
// syntax, matched against "publisher/name") matches the model applies. A
// model that no rule matches fails. requiredFields are dotted paths into
// the SLSA predicate that must be present and non-empty.
type Policy struct {
	Mode  Mode              `json:"mode"`
	Keys  map[string]string `json:"keys"`
	Rules []Rule            `json:"rules"`

	keys map[string]PublicKey // by name, parsed
}

// Rule is one policy rule.
type Rule struct {
	Models         string    `json:"models"`
	Keys           []string  `json:"keys"`
	Threshold      int       `json:"threshold"`
	RequiredFields []string  `json:"requiredFields,omitempty"`
	Log            LogPolicy `json:"log"`
}

// LogPolicy says whether a certificate must be in the transparency log.
type LogPolicy struct {
	Required  bool `json:"required"`
	Witnesses int  `json:"witnesses"`
}

// LogEvidence is what the caller has verified about the envelope's
// inclusion in the transparency log (with internal/tlog's Verifier).
type LogEvidence struct {
	Included  bool // inclusion of the envelope bytes proven against a checkpoint
	Witnesses int  // distinct trusted witnesses that cosigned that checkpoint
}

// maxPolicyLen bounds a policy file.
const maxPolicyLen = 1 << 20

// ParsePolicy parses and validates a policy. Any problem (unknown fields, an
// unknown mode, a bad key, one key under two names, a rule naming an unknown
// key, a threshold outside 1..len(keys), a bad glob) refuses the whole
// policy with ErrPolicy.
func ParsePolicy(b []byte) (*Policy, error) {
	bad := func(format string, a ...any) (*Policy, error) {
		return nil, fmt.Errorf("provenance: parse policy: %w: %s", ErrPolicy, fmt.Sprintf(format, a...))
	}
	if len(b) > maxPolicyLen {
		return bad("too long")
	}
	if err := checkNoDuplicateKeys(b); err != nil {
		return bad("%v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p Policy
	if err := dec.Decode(&p); err != nil {
		return bad("%v", err)
	}
	switch p.Mode {
	case ModeEnforce, ModeWarn, ModeOff:
	default:
		return bad("mode %q is not enforce, warn or off", p.Mode)
	}
	p.keys = map[string]PublicKey{}
	byID := map[string]string{}
	for name, s := range p.Keys {
		pk, err := ParseTrustedKey(name, s)
		if err != nil {
			return bad("key %q: %v", name, err)
		}
		if other, dup := byID[pk.ID()]; dup {
			return bad("keys %q and %q are the same key", other, name)
		}
		byID[pk.ID()] = name
		p.keys[name] = pk
	}
	if p.Mode != ModeOff && len(p.Rules) == 0 {
		return bad("no rules")
	}
	for i, r := range p.Rules {
		if _, err := path.Match(r.Models, ""); err != nil || r.Models == "" {
			return bad("rule %d: bad models pattern %q", i, r.Models)
		}
		seen := map[string]bool{}
		for _, k := range r.Keys {
			if _, ok := p.keys[k]; !ok {
				return bad("rule %d: unknown key %q", i, k)
			}
			if seen[k] {
				return bad("rule %d: key %q listed twice", i, k)
			}
			seen[k] = true
		}
		if r.Threshold < 1 || r.Threshold > len(r.Keys) {
			return bad("rule %d: threshold %d of %d keys", i, r.Threshold, len(r.Keys))
		}
		if r.Log.Witnesses < 0 || (r.Log.Witnesses > 0 && !r.Log.Required) {
			return bad("rule %d: witnesses require log.required", i)
		}
		for _, f := range r.RequiredFields {
			if f == "" || strings.HasPrefix(f, ".") || strings.HasSuffix(f, ".") || strings.Contains(f, "..") {
				return bad("rule %d: bad required field %q", i, f)
			}
		}
	}
	return &p, nil
}

// Input is what Evaluate decides on.
type Input struct {
	// Model is the model's "publisher/name", matched against rule globs.
	Model string
	// Envelope is the model's certificate: a DSSE envelope (JSON), or an
	// OpenSSF Model Signing Sigstore bundle; nil if the model has none.
	Envelope []byte
	// Files maps each file to be loaded to the lowercase hex SHA-256 of its
	// bytes. Every one must be a subject of the statement.
	Files map[string]string
	// Log is the verified log evidence for Envelope, or nil.
	Log *LogEvidence
}

// Decision is the outcome of Evaluate.
type Decision struct {
	// Allow says whether the model may be loaded: it passed, or the mode is
	// warn or off.
	Allow bool
	// Passed says whether the model satisfied the policy (false in mode off).
	Passed bool
	Mode   Mode
	// Reason is one line for logs, the API and the CLI.
	Reason string
	// Err is nil when Passed, else wraps ErrUnverifiedModel or ErrPolicy.
	Err error
	// Signers names the trusted keys of the matching rule with a valid
	// signature.
	Signers   []string
	Statement *Statement
}

// Evaluate decides whether a model may be loaded under p. It fails closed:
// a nil policy, an unparsed (zero) policy, or any error while evaluating is
// a refusal, even before the mode is known.
func Evaluate(p *Policy, in Input) Decision {
	if p == nil || p.keys == nil {
		err := fmt.Errorf("provenance: %w: no valid policy loaded", ErrPolicy)
		return Decision{Mode: ModeEnforce, Reason: "no valid trust policy is loaded; refusing to load models", Err: err}
	}
	d := Decision{Mode: p.Mode}
	if p.Mode == ModeOff {
		d.Allow, d.Reason = true, "trust policy is off; model not verified"
		return d
	}
	d.Signers, d.Statement, d.Err = p.check(in)
	if d.Err == nil {
		d.Allow, d.Passed = true, true
		d.Reason = fmt.Sprintf("model %s verified: signed by %s", in.Model, strings.Join(d.Signers, ", "))
		return d
	}
	d.Reason = d.Err.Error()
	if p.Mode == ModeWarn {
		d.Allow = true
		d.Reason = "warning (policy mode warn): " + d.Reason
	}
	return d
}

func (p *Policy) check(in Input) ([]string, *Statement, error) {
	fail := func(format string, a ...any) ([]string, *Statement, error) {
		return nil, nil, fmt.Errorf("model %s refused: %s: %w", in.Model, fmt.Sprintf(format, a...), ErrUnverifiedModel)
	}
	var rule *Rule
	for i := range p.Rules {
		if ok, _ := path.Match(p.Rules[i].Models, in.Model); ok {
			rule = &p.Rules[i]
			break
		}
	}
	if rule == nil {
		return fail("no policy rule matches the model name")
	}
	if len(in.Envelope) == 0 {
		return fail("no signed certificate")
	}
	env, err := ParseCertificate(in.Envelope)
	if err != nil {
		return fail("certificate: %v", err)
	}
	if env.PayloadType != PayloadType {
		return fail("certificate payloadType %q, want %q", env.PayloadType, PayloadType)
	}
	var trusted []PublicKey
	for _, name := range rule.Keys {
		trusted = append(trusted, p.keys[name])
	}
	var signers []string
	for _, k := range env.VerifiedKeys(trusted) {
		signers = append(signers, k.Name)
	}
	slices.Sort(signers)
	if len(signers) < rule.Threshold {
		return fail("%d valid signature(s) from trusted keys (%s), policy requires %d of %d",
			len(signers), strings.Join(signers, ", "), rule.Threshold, len(rule.Keys))
	}
	// Only now, with the payload authenticated, is it parsed.
	st, err := ParseStatement(env.Payload)
	if err != nil {
		return fail("statement: %v", err)
	}
	// The files are the subjects of a SLSA Provenance statement, or the
	// sha256 resources of an OpenSSF model signature.
	var subjects []ResourceDescriptor
	switch st.PredicateType {
	case SLSAProvenanceV1:
		subjects = st.Subject
	case ModelSigningV1:
		ms, err := ParseModelSignature(st)
		if err != nil {
			return fail("%v", err)
		}
		for _, r := range ms.Resources {
			if r.Algorithm == DigestSHA256 {
				subjects = append(subjects, ResourceDescriptor{Name: r.Name, Digest: map[string]string{DigestSHA256: r.Digest}})
			}
		}
	default:
		return fail("predicateType %q, want %q or %q", st.PredicateType, SLSAProvenanceV1, ModelSigningV1)
	}
	if len(in.Files) == 0 {
		return fail("no files to check against the certificate")
	}
	names := make([]string, 0, len(in.Files))
	for n := range in.Files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		want := in.Files[name]
		covered, named := false, ""
		for _, s := range subjects {
			if s.Digest[DigestSHA256] == want {
				covered = true
				break
			}
			if s.Name == name {
				named = s.Digest[DigestSHA256]
			}
		}
		if !covered {
			if named != "" {
				return fail("file %s has sha256 %s but the certificate says %s", name, want, named)
			}
			return fail("file %s (sha256 %s) is not a subject of the certificate", name, want)
		}
	}
	if len(rule.RequiredFields) > 0 {
		var pred map[string]any
		if err := json.Unmarshal(st.Predicate, &pred); err != nil {
			return fail("predicate: %v", err)
		}
		for _, f := range rule.RequiredFields {
			if !present(pred, strings.Split(f, ".")) {
				return fail("required predicate field %s is missing or empty", f)
			}
		}
	}
	if rule.Log.Required {
		if in.Log == nil || !in.Log.Included {
			return fail("certificate is not proven to be in the transparency log")
		}
		if in.Log.Witnesses < rule.Log.Witnesses {
			return fail("log checkpoint has %d witness cosignature(s), policy requires %d", in.Log.Witnesses, rule.Log.Witnesses)
		}
	}
	return signers, st, nil
}

// present reports whether the dotted path exists in v with a non-empty
// value (not null, "", [] or {}).
func present(v any, keys []string) bool {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		if v, ok = m[k]; !ok {
			return false
		}
	}
	switch v := v.(type) {
	case nil:
		return false
	case string:
		return v != ""
	case []any:
		return len(v) > 0
	case map[string]any:
		return len(v) > 0
	}
	return true
}
