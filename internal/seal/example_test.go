package seal_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"strings"
	"time"

	"github.com/silo-ai/silo/internal/seal"
)

// Sealing a stored message to a device key and the admin key, then opening
// it on the device. The server would only hold the recipients.
func ExampleSeal() {
	device, err := seal.GenerateIdentity() // on the device
	if err != nil {
		log.Fatal(err)
	}
	admin, err := seal.GenerateIdentity() // on the admin's machine
	if err != nil {
		log.Fatal(err)
	}
	outsider, err := seal.GenerateIdentity()
	if err != nil {
		log.Fatal(err)
	}

	// The server parses the uploaded public keys and seals.
	adminPub, err := seal.ParseRecipient(admin.Recipient().String())
	if err != nil {
		log.Fatal(err)
	}
	recipients := []seal.Recipient{device.Recipient(), adminPub}
	sealed, err := seal.Seal([]byte("hello, sealed world"), recipients)
	if err != nil {
		log.Fatal(err)
	}

	// Back on the device.
	plaintext, err := seal.Open(sealed, device)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", plaintext)

	_, err = seal.Open(sealed, outsider)
	fmt.Println(errors.Is(err, seal.ErrNoIdentity))
	// Output:
	// hello, sealed world
	// true
}

// An identity file in age-keygen's format, which `age -d -i` reads.
func ExampleIdentity_MarshalFile() {
	id, err := seal.GenerateIdentity()
	if err != nil {
		log.Fatal(err)
	}
	file := id.MarshalFile(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	ids, err := seal.ParseIdentities(bytes.NewReader(file))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(ids), ids[0].Recipient().String() == id.Recipient().String())
	lines := strings.Split(string(file), "\n")
	fmt.Println(lines[0])
	fmt.Printf("%.21s...\n", lines[1])
	fmt.Printf("%.19s...\n", lines[2])
	// Output:
	// 1 true
	// # created: 2026-01-02T03:04:05Z
	// # public key: age1pq1...
	// AGE-SECRET-KEY-PQ-1...
}

// A request sealed in transit and its streamed, sealed response.
func ExampleSealRequest() {
	server, err := seal.GenerateServerKey() // LoadOrCreateServerKey on a real server
	if err != nil {
		log.Fatal(err)
	}
	guard := seal.NewReplayGuard(5*time.Minute, 100_000)

	// Client.
	body := []byte(`{"model":"tiny","messages":[{"role":"user","content":"hi"}]}`)
	sealedReq, respKey, err := seal.SealRequest(server.PublicKey(), body, "POST", "/v1/chat/completions")
	if err != nil {
		log.Fatal(err)
	}

	// Server.
	req, err := server.OpenRequest(sealedReq, "POST", "/v1/chat/completions", guard)
	if err != nil {
		log.Fatal(err)
	}
	var wire bytes.Buffer // the HTTP response body
	w, err := req.SealResponse(&wire)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(w, "data: {\"echo\":%d}\n\n", len(req.Body))
	fmt.Fprint(w, "data: [DONE]\n\n")
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}

	// Client.
	r, err := respKey.OpenResponse(&wire)
	if err != nil {
		log.Fatal(err)
	}
	resp, err := io.ReadAll(r)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(resp))

	// A replay is refused.
	_, err = server.OpenRequest(sealedReq, "POST", "/v1/chat/completions", guard)
	fmt.Println(errors.Is(err, seal.ErrReplay))
	// Output:
	// data: {"echo":60}
	//
	// data: [DONE]
	//
	// true
}
