// Package client is the CLI's HTTP client for a silo server: the /api/v1
// admin API (problem+json errors turned into Go errors) and streamed chat
// over /v1. It trusts the server's self-signed certificate when given its
// PEM file, and otherwise the system roots.
package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/silo-ai/silo/internal/attest"
	"github.com/silo-ai/silo/internal/seal"
)

// Client talks to one silo server.
type Client struct {
	BaseURL string
	APIKey  string
	HTTP    *http.Client
}

// New returns a client for baseURL. caFile, if set, is a PEM certificate
// to trust (silo's self-signed certificate).
func New(baseURL, apiKey, caFile string) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: server URL %q is not an http(s) URL", baseURL)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("client: read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client: %s holds no PEM certificate", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), APIKey: apiKey, HTTP: &http.Client{Transport: tr}}, nil
}

// Problem is an RFC 9457 problem answered by the server.
type Problem struct {
	Type   string   `json:"type"`
	Title  string   `json:"title"`
	Status int      `json:"status"`
	Detail string   `json:"detail"`
	Errors []string `json:"errors"`
}

func (p *Problem) Error() string {
	msg := fmt.Sprintf("%s (%d)", p.Title, p.Status)
	if p.Detail != "" {
		msg += ": " + p.Detail
	}
	if len(p.Errors) > 0 {
		msg += "\n  " + strings.Join(p.Errors, "\n  ")
	}
	return msg
}

// Do sends a JSON request to path and decodes a JSON answer into out
// (which may be nil).
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.APIKey)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return readError(resp)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("client: decode answer of %s %s: %w", method, path, err)
	}
	return nil
}

func readError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var p Problem
	if json.Unmarshal(b, &p) == nil && p.Title != "" {
		return &p
	}
	var oe struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &oe) == nil && oe.Error.Message != "" {
		return &Problem{Title: oe.Error.Message, Status: resp.StatusCode}
	}
	return &Problem{Title: http.StatusText(resp.StatusCode), Status: resp.StatusCode}
}

// Message is a chat turn.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ChatOptions tune a chat request.
type ChatOptions struct {
	Temperature *float64
	MaxTokens   int
	Seed        *int64
	// Conversation, when set, names a stored conversation the server
	// appends this turn to, sealed (header X-Silo-Conversation).
	Conversation string
	// Sealed seals the request body in transit with HPKE to the server's
	// published transport key and opens the sealed answer (internal/seal);
	// an answer that comes back in the clear is refused.
	Sealed bool
}

// sealedType is the content type of bodies sealed in transit.
const sealedType = "application/silo-sealed+hpke"

// ServerKey fetches the server's transport public key and its fingerprint.
func (c *Client) ServerKey(ctx context.Context) (pub []byte, fingerprint string, err error) {
	var out struct {
		PublicKey   []byte `json:"public_key"`
		Fingerprint string `json:"fingerprint"`
	}
	if err := c.Do(ctx, "GET", "/api/v1/keys/server", nil, &out); err != nil {
		return nil, "", err
	}
	if seal.PublicKeyFingerprint(out.PublicKey) != out.Fingerprint {
		return nil, "", errors.New("client: the server's transport key does not match its fingerprint")
	}
	return out.PublicKey, out.Fingerprint, nil
}

// ChatStream sends a streamed chat completion and calls onText for each
// piece of the answer. It returns the whole answer.
func (c *Client) ChatStream(ctx context.Context, model string, msgs []Message, o ChatOptions, onText func(string)) (string, error) {
	in := map[string]any{"model": model, "messages": msgs, "stream": true}
	if o.Temperature != nil {
		in["temperature"] = *o.Temperature
	}
	if o.MaxTokens > 0 {
		in["max_tokens"] = o.MaxTokens
	}
	if o.Seed != nil {
		in["seed"] = *o.Seed
	}
	b, _ := json.Marshal(in)
	const path = "/v1/chat/completions"
	contentType := "application/json"
	var rk *seal.ResponseKey
	if o.Sealed {
		pub, _, err := c.ServerKey(ctx)
		if err != nil {
			return "", err
		}
		if b, rk, err = seal.SealRequest(pub, b, http.MethodPost, path); err != nil {
			return "", fmt.Errorf("client: seal request: %w", err)
		}
		contentType = sealedType
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+path, bytes.NewReader(b))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+c.APIKey)
	if o.Conversation != "" {
		req.Header.Set("X-Silo-Conversation", o.Conversation)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return "", fmt.Errorf("client: %w", err)
	}
	defer resp.Body.Close()
	body := io.Reader(resp.Body)
	switch {
	case rk != nil && resp.Header.Get("Content-Type") == sealedType:
		if body, err = rk.OpenResponse(resp.Body); err != nil {
			return "", fmt.Errorf("client: open sealed answer: %w", err)
		}
		resp.Body = io.NopCloser(body)
	case rk != nil && resp.StatusCode < 400:
		return "", errors.New("client: the server answered a sealed request in the clear")
	case rk == nil && resp.Header.Get("Content-Type") == sealedType:
		return "", errors.New("client: the server sealed the answer to a plain request")
	}
	if resp.StatusCode >= 400 {
		return "", readError(resp)
	}
	var answer strings.Builder
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			return answer.String(), nil
		}
		var ev struct {
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
			Error *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			return answer.String(), fmt.Errorf("client: bad stream event: %w", err)
		}
		if ev.Error != nil {
			return answer.String(), fmt.Errorf("server: %s", ev.Error.Message)
		}
		for _, ch := range ev.Choices {
			if ch.Delta.Content != "" {
				answer.WriteString(ch.Delta.Content)
				onText(ch.Delta.Content)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return answer.String(), fmt.Errorf("client: stream: %w", err)
	}
	return answer.String(), errors.New("client: the stream ended before [DONE]")
}

// WaitReady polls /healthz until the server answers or ctx ends.
func (c *Client) WaitReady(ctx context.Context) error {
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+"/healthz", nil)
		resp, err := c.HTTP.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Attestation is a server's answer to GET /api/v1/attestation, with the
// TLS key of the connection it came on.
type Attestation struct {
	attest.Evidence
	AKFingerprint string `json:"ak_fingerprint"`
	PCR           int    `json:"pcr"`
	// ServerTLSKey is the hex SHA-256 of the TLS key the server says the
	// quote is bound to; ConnTLSKey that of the key the connection used
	// (zero over plain HTTP).
	ServerTLSKey string   `json:"tls_key_sha256"`
	ConnTLSKey   [32]byte `json:"-"`
}

// Attestation asks the server for a quote for nonce (without an API key:
// the route is public).
func (c *Client) Attestation(ctx context.Context, nonce []byte) (*Attestation, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.BaseURL+"/api/v1/attestation?nonce="+hex.EncodeToString(nonce), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return nil, readError(resp)
	}
	var a Attestation
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&a); err != nil {
		return nil, fmt.Errorf("client: decode attestation: %w", err)
	}
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		a.ConnTLSKey = attest.TLSKey(resp.TLS.PeerCertificates[0])
	}
	return &a, nil
}
