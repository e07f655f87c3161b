package enginetest_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/silo-ai/silo/internal/engine/enginetest"
)

// The double is checked with the official OpenAI Go SDK: if the SDK
// understands it, it is a fair stand-in for an OpenAI-compatible server.
func client(u *enginetest.Upstream) *openai.Client {
	c := openai.NewClient(
		option.WithBaseURL(u.URL+"/v1/"),
		option.WithAPIKey("test-key"),
		option.WithMaxRetries(0),
	)
	return &c
}

func TestSDKModels(t *testing.T) {
	u := enginetest.NewUpstream(t)
	u.SetModels("a", "b")
	page, err := client(u).Models.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
	}
	if diff := cmp.Diff([]string{"a", "b"}, ids); diff != "" {
		t.Errorf("models (-want +got):\n%s", diff)
	}
}

func TestSDKChat(t *testing.T) {
	u := enginetest.NewUpstream(t)
	c := client(u)
	params := openai.ChatCompletionNewParams{
		Model: enginetest.DefaultModel,
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("be brief"),
			openai.UserMessage("hello there world"),
		},
		MaxTokens: openai.Int(2),
	}
	resp, err := c.Chat.Completions.New(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Content; got != "hello there" {
		t.Errorf("content = %q", got)
	}
	if resp.Choices[0].FinishReason != "length" || resp.Usage.PromptTokens != 5 || resp.Usage.CompletionTokens != 2 {
		t.Errorf("finish = %q, usage = %+v", resp.Choices[0].FinishReason, resp.Usage)
	}

	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	stream := c.Chat.Completions.NewStreaming(t.Context(), params)
	var acc openai.ChatCompletionAccumulator
	var deltas []string
	for stream.Next() {
		ch := stream.Current()
		acc.AddChunk(ch)
		if len(ch.Choices) > 0 && ch.Choices[0].Delta.Content != "" {
			deltas = append(deltas, ch.Choices[0].Delta.Content)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"hello", " there"}, deltas); diff != "" {
		t.Errorf("deltas (-want +got):\n%s", diff)
	}
	if acc.Choices[0].Message.Content != "hello there" || acc.Usage.TotalTokens != 7 {
		t.Errorf("accumulated = %q, usage %+v", acc.Choices[0].Message.Content, acc.Usage)
	}
}

func TestSDKCompletionAndEmbeddings(t *testing.T) {
	u := enginetest.NewUpstream(t)
	c := client(u)
	comp, err := c.Completions.New(t.Context(), openai.CompletionNewParams{
		Model:  enginetest.DefaultModel,
		Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("a b STOP c")},
		Stop:   openai.CompletionNewParamsStopUnion{OfString: openai.String("STOP")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if comp.Choices[0].Text != "a b" || comp.Choices[0].FinishReason != "stop" {
		t.Errorf("completion = %+v", comp.Choices[0])
	}

	for _, format := range []openai.EmbeddingNewParamsEncodingFormat{openai.EmbeddingNewParamsEncodingFormatFloat, openai.EmbeddingNewParamsEncodingFormatBase64} {
		emb, err := c.Embeddings.New(t.Context(), openai.EmbeddingNewParams{
			Model:          enginetest.DefaultModel,
			Input:          openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"x y", "z"}},
			EncodingFormat: format,
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(emb.Data) != 2 || emb.Usage.PromptTokens != 3 {
			t.Fatalf("%s: %d vectors, usage %+v", format, len(emb.Data), emb.Usage)
		}
		var got []float32
		if format == openai.EmbeddingNewParamsEncodingFormatBase64 {
			got = decodeBase64(t, emb.Data[1].JSON.Embedding.Raw())
		} else {
			for _, f := range emb.Data[1].Embedding {
				got = append(got, float32(f))
			}
		}
		if diff := cmp.Diff(enginetest.Embedding("z"), got); diff != "" {
			t.Errorf("%s: vector (-want +got):\n%s", format, diff)
		}
	}
}

func decodeBase64(t *testing.T, raw string) []float32 {
	t.Helper()
	var s string
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		t.Fatalf("base64 embedding %s: %v", raw, err)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

func TestSDKErrors(t *testing.T) {
	u := enginetest.NewUpstream(t)
	c := client(u)
	params := openai.ChatCompletionNewParams{
		Model:    "missing",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	}
	_, err := c.Chat.Completions.New(t.Context(), params)
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound || apiErr.Code != "model_not_found" {
		t.Errorf("unknown model: err = %v", err)
	}

	params.Model = enginetest.DefaultModel
	u.FailNext(2, http.StatusServiceUnavailable)
	for range 2 {
		if _, err := c.Chat.Completions.New(t.Context(), params); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("injected failure: err = %v", err)
		}
	}
	if _, err := c.Chat.Completions.New(t.Context(), params); err != nil {
		t.Errorf("after injected failures: %v", err)
	}

	u.SetAPIKey("other")
	if _, err := c.Chat.Completions.New(t.Context(), params); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized {
		t.Errorf("bad key: err = %v", err)
	}
	if n := u.Requests("/v1/chat/completions"); n != 5 {
		t.Errorf("Requests = %d, want 5", n)
	}
}

// events reads a raw SSE response, returning each data payload.
func events(t *testing.T, u *enginetest.Upstream, body string) ([]string, error) {
	t.Helper()
	resp, err := http.Post(u.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, d)
		}
	}
	return out, sc.Err()
}

func TestFaults(t *testing.T) {
	const body = `{"model":"echo","stream":true,"messages":[{"role":"user","content":"a b c"}]}`
	tests := []struct {
		fault    enginetest.Fault
		wantLast string
		wantErr  bool
	}{
		{enginetest.FaultNone, "[DONE]", false},
		{enginetest.FaultCut, `"content":"a"`, true},
		{enginetest.FaultMalformed, `{"choices": [`, false},
		{enginetest.FaultNoDone, `"content":"a"`, false},
	}
	for _, tt := range tests {
		u := enginetest.NewUpstream(t)
		u.SetFault(1, tt.fault)
		got, err := events(t, u, body)
		if (err != nil) != tt.wantErr {
			t.Errorf("fault %d: read error = %v, want error %v", tt.fault, err, tt.wantErr)
		}
		if len(got) == 0 || !strings.Contains(got[len(got)-1], tt.wantLast) {
			t.Errorf("fault %d: events = %q, want the last to contain %q", tt.fault, got, tt.wantLast)
		}
	}
}

func TestStallObservesCancel(t *testing.T) {
	u := enginetest.NewUpstream(t)
	u.SetFault(1, enginetest.FaultStall)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stream := client(u).Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model:    enginetest.DefaultModel,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("a b")},
	})
	for stream.Next() {
		if len(stream.Current().Choices) > 0 && stream.Current().Choices[0].Delta.Content == "a" {
			cancel()
		}
	}
	<-u.Canceled()
	if now, max := u.InFlight(); now != 0 || max != 1 {
		t.Errorf("InFlight = %d, %d; want 0, 1", now, max)
	}
	if u.CanceledCount() != 1 {
		t.Errorf("CanceledCount = %d", u.CanceledCount())
	}
}
