package chat

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// caseSpec is testdata/cases.json, shared with testdata/check_golden.py.
type caseSpec struct {
	Now           time.Time            `json:"now"`
	Tokens        map[string][2]string `json:"tokens"`
	Conversations map[string][]Message `json:"conversations"`
	Variants      []struct {
		Suffix              string   `json:"suffix"`
		AddGenerationPrompt bool     `json:"add_generation_prompt"`
		Only                []string `json:"only"`
	} `json:"variants"`
}

func (m *Message) UnmarshalJSON(b []byte) error {
	var v struct{ Role, Content string }
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*m = Message{Role: v.Role, Content: v.Content}
	return nil
}

func readTemplate(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "templates", name+".jinja"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRealTemplates renders every real template in testdata/templates for
// every conversation in testdata/cases.json and compares with the golden
// files (made with -update, checked against Python Jinja2 by
// testdata/check_golden.py).
func TestRealTemplates(t *testing.T) {
	b, err := os.ReadFile("testdata/cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var spec caseSpec
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("testdata/templates/*.jinja")
	if err != nil || len(files) != len(spec.Tokens) {
		t.Fatalf("%d templates, %d token entries in cases.json (%v)", len(files), len(spec.Tokens), err)
	}
	names := make([]string, 0, len(spec.Tokens))
	for n := range spec.Tokens {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		tokens := spec.Tokens[name]
		tmpl, err := Compile(readTemplate(t, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		for conv, msgs := range spec.Conversations {
			for _, v := range spec.Variants {
				if v.Only != nil && !contains(v.Only, conv) {
					continue
				}
				golden := filepath.Join("testdata", "golden", name+"."+conv+v.Suffix+".txt")
				t.Run(filepath.Base(golden), func(t *testing.T) {
					got, err := tmpl.Render(msgs, Options{
						AddGenerationPrompt: v.AddGenerationPrompt,
						BOSToken:            tokens[0],
						EOSToken:            tokens[1],
						Now:                 spec.Now,
					})
					if err != nil {
						if !errors.Is(err, ErrRejected) {
							t.Fatalf("render: %v", err)
						}
						got = err.Error()
					}
					if *update {
						if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
							t.Fatal(err)
						}
						return
					}
					want, err := os.ReadFile(golden)
					if err != nil {
						t.Fatal(err)
					}
					if diff := cmp.Diff(string(want), got); diff != "" {
						t.Errorf("render mismatch (-want +got):\n%s", diff)
					}
				})
			}
		}
	}
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// TestTemplatesFromTokenizerConfigs pins a few exact prompts of the two
// templates that ship with the test vocabularies.
func TestTemplatesFromTokenizerConfigs(t *testing.T) {
	msgs := []Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Hi"}}
	got, err := Render(readTemplate(t, "llama3-base"), msgs, Options{BOSToken: "<|begin_of_text|>"})
	if err != nil {
		t.Fatal(err)
	}
	want := "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>" +
		"<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
	if got != want {
		t.Errorf("llama3:\n got %q\nwant %q", got, want)
	}
	qwen := readTemplate(t, "qwen3")
	got, err = Render(qwen, msgs, Options{AddGenerationPrompt: true, Vars: map[string]any{"enable_thinking": false}})
	if err != nil {
		t.Fatal(err)
	}
	want = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
	if got != want {
		t.Errorf("qwen3 without thinking:\n got %q\nwant %q", got, want)
	}
}

func TestPythonisms(t *testing.T) {
	tests := []struct {
		name, tmpl, want string
	}{
		{"strip", `[{{ "  a b \n".strip() }}][{{ "xxaxx".strip("x") }}][{{ " a ".strip(none) }}]`, "[a b][a][a]"},
		{"lstrip rstrip", `[{{ "\n\ta ".lstrip() }}][{{ " a\n\n".rstrip() }}][{{ "\n\nx\n".lstrip("\n") }}]`, "[a ][ a][x\n]"},
		{"split", `{{ " a  b\tc ".split() }}|{{ "a,b,,c".split(",") }}|{{ "a b c".split(" ", 1) }}`, "['a', 'b', 'c']|['a', 'b', '', 'c']|['a', 'b c']"},
		{"split index", `{{ "x</think>y</think>z".split("</think>")[-1] }}`, "z"},
		{"startswith endswith", `{{ "<tool>x".startswith("<tool>") }} {{ "x".endswith("y") }}`, "True False"},
		{"dict items get", `{% set d = {"a": 1} %}{% for k, v in d.items() %}{{ k }}={{ v }}{% endfor %} {{ d.get("b", 2) }}`, "a=1 2"},
		{"is defined", `{{ x is defined }} {{ messages is defined }} {{ tools is defined }}`, "False True False"},
		{"loop vars", `{% for m in messages %}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}`, "0TrueFalse2;1FalseTrue2;"},
		{"namespace", `{% set ns = namespace(n=0, seen=false) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}{{ ns.seen }}`, "2False"},
		{"reverse slice", `{% for m in messages[::-1] %}{{ m.role }}{% endfor %}{{ messages[1:][0].content }}`, "assistantuserhello"},
		{"tojson", `{{ {"role": "user", "content": "é<b>"} | tojson }}|{{ [1, "a", none, true] | tojson }}|{{ {"a": []} | tojson(indent=2) }}`,
			"{\"role\": \"user\", \"content\": \"é<b>\"}|[1, \"a\", null, true]|{\n  \"a\": []\n}"},
		{"generation tags", `{% generation %}x{% endgeneration %}`, "x"},
		{"loop controls", `{% for i in range(5) %}{% if i == 1 %}{% continue %}{% endif %}{% if i == 3 %}{% break %}{% endif %}{{ i }}{% endfor %}`, "02"},
		{"strftime", `{{ strftime_now("%d %b %Y %H:%M %A %B %j %%") }}`, "02 Jan 2026 15:04 Friday January 002 %"},
		{"trim blocks", "{% if true %}\n  x\n  {% endif %}\ny", "  x\ny"},
		{"content is data", `{{ messages[0].content }}`, "hi"},
	}
	msgs := []Message{{Role: "user", Content: "hi"}, {Role: "assistant", Content: "hello"}}
	now := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Render(tt.tmpl, msgs, Options{Now: now})
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	// Message text is never parsed as template syntax.
	got, err := Render(`{{ messages[0].content }}`, []Message{{Role: "user", Content: "{{ 7*7 }}{% if x %}"}}, Options{})
	if err != nil || got != "{{ 7*7 }}{% if x %}" {
		t.Errorf("content rendered as %q, %v", got, err)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name, tmpl string
		target     error
		want       string
	}{
		{"syntax", `{% if %}`, ErrTemplate, "parse template"},
		{"unclosed", `{% for m in messages %}x`, ErrTemplate, "parse template"},
		{"include", `{% include "/etc/passwd" %}`, ErrTemplate, "parse template"},
		{"extends", `{% extends "base.html" %}`, ErrTemplate, "parse template"},
		{"unknown filter", `{{ "x" | frobnicate }}`, ErrTemplate, "frobnicate"},
		{"raise", `{{ raise_exception("System role not supported") }}`, ErrRejected, "System role not supported"},
		{"raise in loop", `{% for m in messages %}{% if m.role == "user" %}{{ raise_exception("no users") }}{% endif %}{% endfor %}`, ErrRejected, "no users"},
		{"bad call", `{{ messages(3) }}`, ErrTemplate, "render template"},
		{"too big", strings.Repeat("x", maxTemplateSize+1), ErrTemplate, "too long"},
		{"recursive macro", `{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}`, ErrTemplate, `macro "f" is recursive`},
		{"mutually recursive macros", `{% macro a() %}{{ b() }}{% endmacro %}{% macro b() %}{{ a() }}{% endmacro %}{{ a() }}`, ErrTemplate, "is recursive"},
		{"huge range", `{% for i in range(1000000000) %}{% endfor %}`, ErrTemplate, "range of more than"},
		{"huge output", `{% set s = "x" * 1000000 %}{% for i in range(20) %}{{ s }}{% endfor %}`, ErrTemplate, "prompt longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Render(tt.tmpl, []Message{{Role: "user", Content: "hi"}}, Options{})
			if !errors.Is(err, tt.target) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %v containing %q", err, tt.target, tt.want)
			}
		})
	}
	// Error text does not quote the conversation.
	_, err := Render(`{{ messages[0].content.nosuch() }}`, []Message{{Role: "user", Content: "my secret text"}}, Options{})
	if !errors.Is(err, ErrTemplate) || strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("method error = %v", err)
	}
	// Real templates refusing a conversation.
	_, err = Render(readTemplate(t, "gemma"), []Message{{Role: "system", Content: "x"}, {Role: "user", Content: "y"}}, Options{})
	if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "System role not supported") {
		t.Errorf("gemma with a system message: %v", err)
	}
}

func TestChatML(t *testing.T) {
	msgs := []Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Hi"}}
	want := "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
	if got := RenderChatML(msgs, Options{AddGenerationPrompt: true}); got != want {
		t.Errorf("RenderChatML = %q, want %q", got, want)
	}
	got, err := RenderOrChatML("  ", msgs, Options{AddGenerationPrompt: true})
	if err != nil || got != want {
		t.Errorf("RenderOrChatML(empty) = %q, %v", got, err)
	}
	// The fallback is the ChatML template's own output.
	got, err = RenderOrChatML(readTemplate(t, "chatml"), msgs, Options{AddGenerationPrompt: true})
	if err != nil || got != want {
		t.Errorf("RenderOrChatML(chatml template) = %q, %v", got, err)
	}
}

func TestConcurrentRender(t *testing.T) {
	tmpl, err := Compile(readTemplate(t, "qwen3"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := tmpl.Render([]Message{{Role: "user", Content: "x"}}, Options{AddGenerationPrompt: true})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			for range 20 {
				got, err := tmpl.Render([]Message{{Role: "user", Content: "x"}}, Options{AddGenerationPrompt: true})
				if err == nil && got != want {
					err = errors.New("different output: " + got)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
