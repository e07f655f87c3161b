package upstream

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/silo-ai/silo/internal/engine"
)

func TestDecodeStream(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		text    string
		res     engine.Result
		wantErr error
	}{
		{
			name: "CRLF, comments, multi-line data, no usage chunk",
			body: ": ping\r\nevent: message\r\ndata: {\"choices\":\r\ndata: [{\"index\":0,\"delta\":{\"content\":\"x\"}}]}\r\n\r\n" +
				"data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"other choice\"}}]}\n\n" +
				"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"y\"},\"finish_reason\":\"length\"}]}\n\ndata: [DONE]\n\n",
			text: "xy",
			// Without a usage chunk, chunks are counted.
			res: engine.Result{FinishReason: engine.FinishLength, Usage: engine.Usage{CompletionTokens: 2}},
		},
		{
			name: "usage chunk, no finish reason",
			body: "data: {\"choices\":[{\"index\":0,\"text\":\"a\"}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":9}}\n\ndata: [DONE]\n\n",
			text: "a",
			res:  engine.Result{FinishReason: engine.FinishStop, Usage: engine.Usage{PromptTokens: 4, CompletionTokens: 9}},
		},
		{name: "no [DONE]", body: "data: {\"choices\":[{\"index\":0,\"text\":\"a\"}]}\n\n", text: "a", wantErr: errNoDone},
		{name: "cut inside an event", body: "data: {\"choices\":[]}", wantErr: io.ErrUnexpectedEOF},
		{name: "malformed", body: "data: {\"choices\n\n", wantErr: errMalformed},
		{name: "error event", body: "data: {\"error\":{\"message\":\"boom\"}}\n\n", wantErr: errStreamBody},
		{name: "line too long", body: "data: " + strings.Repeat("x", maxEventLine+1) + "\n\n", wantErr: bufio.ErrTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			res, err := decodeStream(strings.NewReader(tt.body), func(c engine.Chunk) error {
				b.WriteString(c.Text)
				return nil
			}, nil)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if diff := cmp.Diff(tt.res, res); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			if b.String() != tt.text {
				t.Errorf("text = %q, want %q", b.String(), tt.text)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	tests := map[string]string{
		`{"error":{"message":"bad  thing\n here"}}`: "bad thing here",
		`{"error":"plain"}`:                         "plain",
		`{"object":"error","message":"vllm says"}`:  "vllm says",
		`{"detail":"fastapi says"}`:                 "fastapi says",
		"Bad Gateway\n":                             "Bad Gateway",
		strings.Repeat("é", 400):                    strings.Repeat("é", 250) + "...",
	}
	for in, want := range tests {
		if got := errorMessage([]byte(in)); got != want {
			t.Errorf("errorMessage(%.40q) = %.60q, want %.60q", in, got, want)
		}
	}
}
