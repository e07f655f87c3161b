package e2e

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/respjson"

	"github.com/silo-ai/silo/internal/engine/enginetest"
)

// sdkClient is the official Go SDK pointed at s with key.
func sdkClient(t *testing.T, s *Server, key string) openai.Client {
	return openai.NewClient(
		option.WithBaseURL(s.URL+"/v1/"),
		option.WithAPIKey(key),
		option.WithHTTPClient(s.HTTPClient(t)),
		option.WithMaxRetries(0),
	)
}

// TestGoSDK runs the official Go SDK against silo serve in front of the
// double: list models, chat plain and streamed, and a bad key's 401.
func TestGoSDK(t *testing.T) {
	t.Parallel()
	f := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := sdkClient(t, f.srv, f.key)
	const prompt = "the quick brown fox"
	params := openai.ChatCompletionNewParams{
		Model:    enginetest.DefaultModel,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(prompt)},
	}

	t.Run("models", func(t *testing.T) {
		page, err := client.Models.List(ctx)
		if err != nil {
			t.Fatalf("Models.List: %v", err)
		}
		var ids []string
		for _, m := range page.Data {
			ids = append(ids, m.ID)
		}
		if !slices.Contains(ids, enginetest.DefaultModel) {
			t.Errorf("Models.List = %q, want it to hold %q", ids, enginetest.DefaultModel)
		}
		m, err := client.Models.Get(ctx, enginetest.DefaultModel)
		if err != nil {
			t.Fatalf("Models.Get: %v", err)
		}
		if m.ID != enginetest.DefaultModel || m.Object != "model" {
			t.Errorf("Models.Get = {id %q object %q}", m.ID, m.Object)
		}
	})

	t.Run("chat", func(t *testing.T) {
		res, err := client.Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatalf("Chat.Completions.New: %v", err)
		}
		if len(res.Choices) != 1 {
			t.Fatalf("got %d choices, want 1", len(res.Choices))
		}
		c := res.Choices[0]
		if c.Message.Content != prompt || c.FinishReason != "stop" || c.Message.Role != "assistant" {
			t.Errorf("choice = {role %q content %q finish %q}, want {assistant %q stop}", c.Message.Role, c.Message.Content, c.FinishReason, prompt)
		}
		if res.Object != "chat.completion" || res.Model != enginetest.DefaultModel {
			t.Errorf("object %q model %q", res.Object, res.Model)
		}
		if u := res.Usage; u.PromptTokens != 4 || u.CompletionTokens != 4 || u.TotalTokens != 8 {
			t.Errorf("usage = %+v, want 4+4=8", u)
		}
	})

	t.Run("chat streamed", func(t *testing.T) {
		p := params
		p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		stream := client.Chat.Completions.NewStreaming(ctx, p)
		defer stream.Close()
		var acc openai.ChatCompletionAccumulator
		var text strings.Builder
		chunks := 0
		for stream.Next() {
			ch := stream.Current()
			chunks++
			if !acc.AddChunk(ch) {
				t.Fatalf("accumulator refused chunk %d: %s", chunks, ch.RawJSON())
			}
			for _, c := range ch.Choices {
				text.WriteString(c.Delta.Content)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatalf("stream: %v", err)
		}
		if text.String() != prompt {
			t.Errorf("streamed text %q, want %q", text.String(), prompt)
		}
		if chunks < 4 {
			t.Errorf("%d chunks, want one per word at least", chunks)
		}
		if len(acc.Choices) != 1 || acc.Choices[0].Message.Content != prompt || acc.Choices[0].FinishReason != "stop" {
			t.Errorf("accumulated %+v", acc.Choices)
		}
		if acc.Usage.CompletionTokens != 4 || acc.Usage.PromptTokens != 4 {
			t.Errorf("streamed usage = %+v, want 4 and 4", acc.Usage)
		}
	})

	t.Run("bad key", func(t *testing.T) {
		bad := sdkClient(t, f.srv, "sk-silo-not-a-real-key")
		before := f.double.Generations()
		_, err := bad.Models.List(ctx)
		checkAuthError(t, "Models.List", err)
		_, err = bad.Chat.Completions.New(ctx, params)
		checkAuthError(t, "Chat.Completions.New", err)
		stream := bad.Chat.Completions.NewStreaming(ctx, params)
		for stream.Next() {
			t.Errorf("streamed chunk with a bad key: %s", stream.Current().RawJSON())
		}
		checkAuthError(t, "Chat.Completions.NewStreaming", stream.Err())
		if n := f.double.Generations() - before; n != 0 {
			t.Errorf("%d requests with a bad key reached the double", n)
		}
	})
}

func checkAuthError(t *testing.T, op string, err error) {
	t.Helper()
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("%s with a bad key: error %v (%T), want *openai.Error", op, err, err)
	}
	if apiErr.StatusCode != http.StatusUnauthorized || apiErr.Type != "invalid_request_error" ||
		apiErr.Code != "invalid_api_key" || apiErr.Message == "" {
		t.Errorf("%s with a bad key: status %d type %q code %q message %q, want 401 invalid_request_error invalid_api_key",
			op, apiErr.StatusCode, apiErr.Type, apiErr.Code, apiErr.Message)
	}
	if apiErr.JSON.Param.Raw() == respjson.Omitted {
		t.Errorf("%s: error object lacks param: %s", op, apiErr.RawJSON())
	}
}

// TestNodeSDK runs tests/js/sdk.mjs, the official npm openai package under
// node, against silo serve in front of the double.
func TestNodeSDK(t *testing.T) {
	t.Parallel()
	runNodeScript(t, "sdk.mjs", "openai")
}

// runNodeScript runs script of tests/js (which needs npm package pkg)
// under node against silo serve in front of the double; the script
// reports "N passed, 0 failed".
func runNodeScript(t *testing.T, script, pkg string) {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "tests", "js"))
	if err != nil {
		t.Fatal(err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		skipOrFail(t, "node is not installed")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err != nil {
		skipOrFail(t, "tests/js/node_modules is missing: run `npm ci` in tests/js")
	}
	f := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = dir
	cmd.Env = append(f.srv.Environ(),
		"SILO_URL="+f.srv.URL,
		"SILO_API_KEY="+f.key,
		"SILO_MODEL="+enginetest.DefaultModel,
		"NODE_EXTRA_CA_CERTS="+f.srv.CAFile(),
	)
	out, err := cmd.CombinedOutput()
	t.Logf("node %s:\n%s", script, out)
	if err != nil {
		t.Fatalf("node %s: %v", script, err)
	}
	if !strings.Contains(string(out), " passed, 0 failed") {
		t.Fatalf("node %s did not report its checks", script)
	}
}

// skipOrFail skips outside CI and fails in CI, where every test must run.
func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
}
