package provenance

import (
	"crypto/ed25519"
	"encoding/json"
	"testing"
)

func FuzzParseEnvelope(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := ParseEnvelope(b)
		if err != nil {
			return
		}
		out, err := json.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseEnvelope(out)
		if err != nil {
			t.Fatalf("re-encoded envelope does not parse: %v", err)
		}
		if string(again.Payload) != string(env.Payload) || again.PayloadType != env.PayloadType || len(again.Signatures) != len(env.Signatures) {
			t.Fatal("envelope round trip differs")
		}
		env.VerifiedKeys([]PublicKey{{Name: "k", Key: testKey("alice").Public().(ed25519.PublicKey)}})
	})
}

func FuzzParseStatement(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := ParseStatement(b)
		if err != nil {
			return
		}
		if len(st.Subject) == 0 || st.Type != StatementType {
			t.Fatalf("accepted invalid statement %+v", st)
		}
		out, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseStatement(out); err != nil {
			t.Fatalf("re-encoded statement does not parse: %v", err)
		}
	})
}

func FuzzParsePolicy(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePolicy(b)
		if err != nil {
			return
		}
		d := Evaluate(p, Input{Model: "acme/m", Envelope: []byte(`{}`), Files: map[string]string{"f": "00"}})
		if d.Passed {
			t.Fatal("an empty envelope passed a policy")
		}
	})
}
