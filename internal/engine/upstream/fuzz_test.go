package upstream

import (
	"bytes"
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/silo-ai/silo/internal/engine"
)

// FuzzDecodeStream feeds arbitrary bytes to the SSE decoder as an
// upstream's response body: it must not panic, and it succeeds only on a
// stream that reached "data: [DONE]" with a finish reason set.
func FuzzDecodeStream(f *testing.F) {
	f.Add([]byte("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		var text []byte
		res, err := decodeStream(bytes.NewReader(body), func(c engine.Chunk) error {
			text = append(text, c.Text...)
			return nil
		}, nil)
		if err == nil {
			if res.FinishReason == "" {
				t.Error("success without a finish reason")
			}
			if !bytes.Contains(body, []byte("[DONE]")) {
				t.Error("success without [DONE]")
			}
		}
		// An emit error stops decoding and is returned as is.
		stop := errors.New("stop")
		_, err = decodeStream(bytes.NewReader(body), func(engine.Chunk) error { return stop }, nil)
		if len(text) > 0 && !errors.Is(err, stop) {
			t.Errorf("emit error not returned: %v", err)
		}
	})
}

// FuzzDecodeEmbeddings: arbitrary bytes as an embeddings response for
// three inputs never panic, and success means three vectors.
func FuzzDecodeEmbeddings(f *testing.F) {
	f.Add([]byte(`{"data":[{"index":0,"embedding":[1]},{"index":1,"embedding":[2]},{"index":2,"embedding":[3]}],"usage":{"prompt_tokens":3}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		vecs, _, err := decodeEmbeddings(bytes.NewReader(body), 3)
		if err != nil {
			return
		}
		if len(vecs) != 3 {
			t.Fatalf("%d vectors for 3 inputs", len(vecs))
		}
		for i, v := range vecs {
			if v == nil {
				t.Errorf("vector %d missing", i)
			}
		}
	})
}

// FuzzErrorMessage: any error body gives a short, valid UTF-8 message.
func FuzzErrorMessage(f *testing.F) {
	f.Add([]byte(`{"error":{"message":"bad","type":"invalid_request_error"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		msg := errorMessage(body)
		if !utf8.ValidString(msg) {
			t.Errorf("message %q is not valid UTF-8", msg)
		}
		if len(msg) > 503 {
			t.Errorf("message of %d bytes", len(msg))
		}
	})
}
