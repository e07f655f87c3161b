// Package chat turns a conversation into the prompt text a model was trained
// on, by rendering the model's Hugging Face chat template
// (tokenizer.chat_template, Jinja) with gonja.
//
// Templates are rendered the way transformers' apply_chat_template does:
// trim_blocks and lstrip_blocks on, loop controls (break, continue) on, and
// the variables messages (each with role and content), add_generation_prompt,
// bos_token, eos_token, the functions raise_exception and strftime_now, and
// tools left undefined. The Python-isms templates rely on that gonja lacks
// (dict.get on messages, str.split with no argument, Python-style tojson,
// slices with negative steps...) are provided here; see compat.go.
//
// Promises: rendering never panics and never reads files (include, import
// and extends are refused); a template that cannot be parsed or rendered
// gives an error wrapping ErrTemplate that names the problem; a template that
// rejects the conversation with raise_exception gives an error wrapping
// ErrRejected with the template's message. Error text leaves out the
// message contents, so it can be logged. A model without a template gets
// ChatML (RenderChatML).
package chat

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
)

// Errors. Match them with errors.Is.
var (
	// ErrTemplate: the template cannot be parsed or rendered (a syntax error,
	// a construct this package does not support, a runtime error).
	ErrTemplate = errors.New("chat template cannot be rendered")
	// ErrRejected: the template refused the conversation with
	// raise_exception (for example "System role not supported"); the
	// request, not the template, is at fault.
	ErrRejected = errors.New("chat template rejected the conversation")
)

// Message is one turn of a conversation.
type Message struct {
	Role    string // system, user, assistant, tool
	Content string
}

// Options are the template variables besides the messages.
type Options struct {
	// AddGenerationPrompt ends the prompt with the opening of an assistant turn.
	AddGenerationPrompt bool
	// BOSToken and EOSToken are the text of the model's BOS and EOS tokens.
	BOSToken, EOSToken string
	// Now is the time strftime_now formats; zero means the current time.
	Now time.Time
	// Vars are further template variables (for example enable_thinking);
	// they cannot replace the ones above.
	Vars map[string]any
}

// Template is a parsed chat template, safe for concurrent use.
type Template struct {
	source string
	tmpl   *exec.Template
}

// maxTemplateSize bounds the source length: real templates are a few KiB.
const maxTemplateSize = 1 << 20

// Compile parses a chat template.
func Compile(source string) (t *Template, err error) {
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, fmt.Errorf("chat: parse template: %w: %v", ErrTemplate, r)
		}
	}()
	if len(source) > maxTemplateSize {
		return nil, fmt.Errorf("chat: parse template: %w: %d bytes is too long", ErrTemplate, len(source))
	}
	src := rewrite(source)
	if err := checkMacros(src); err != nil {
		return nil, fmt.Errorf("chat: parse template: %w: %v", ErrTemplate, err)
	}
	loader := &oneLoader{name: templateName, source: src}
	tmpl, err := exec.NewTemplate(templateName, templateConfig(), loader, environment)
	if err != nil {
		return nil, fmt.Errorf("chat: parse template: %w: %s", ErrTemplate, cleanError(err, src, nil))
	}
	return &Template{source: source, tmpl: tmpl}, nil
}

// Render renders a chat template source for msgs; see Template.Render.
func Render(template string, msgs []Message, opts Options) (string, error) {
	t, err := Compile(template)
	if err != nil {
		return "", err
	}
	return t.Render(msgs, opts)
}

// Render renders the template for msgs.
func (t *Template) Render(msgs []Message, opts Options) (out string, err error) {
	st := &renderState{now: opts.Now}
	if st.now.IsZero() {
		st.now = time.Now()
	}
	defer func() {
		if r := recover(); r != nil {
			out, err = "", fmt.Errorf("chat: render template: %w: %v", ErrTemplate, r)
		}
	}()
	data := make(map[string]any, len(opts.Vars)+8)
	for k, v := range opts.Vars {
		data[k] = v
	}
	messages := make([]any, len(msgs))
	for i, m := range msgs {
		messages[i] = map[string]any{"role": m.Role, "content": m.Content}
	}
	data["messages"] = messages
	data["add_generation_prompt"] = opts.AddGenerationPrompt
	data["bos_token"] = opts.BOSToken
	data["eos_token"] = opts.EOSToken
	data["raise_exception"] = st.raiseException
	data["strftime_now"] = st.strftimeNow
	var buf limitedBuffer
	err = t.tmpl.Execute(&buf, exec.NewContext(data))
	out = buf.String()
	if st.raised != "" {
		return "", fmt.Errorf("chat: render template: %w: %s", ErrRejected, st.raised)
	}
	if err != nil {
		return "", fmt.Errorf("chat: render template: %w: %s", ErrTemplate, cleanError(err, "", msgs))
	}
	return out, nil
}

// maxOutput bounds the rendered prompt.
const maxOutput = 16 << 20

// limitedBuffer is a strings.Builder that refuses to grow past maxOutput.
type limitedBuffer struct{ strings.Builder }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxOutput {
		return 0, fmt.Errorf("prompt longer than %d bytes", maxOutput)
	}
	return b.Builder.Write(p)
}

func (b *limitedBuffer) WriteString(s string) (int, error) {
	if b.Len()+len(s) > maxOutput {
		return 0, fmt.Errorf("prompt longer than %d bytes", maxOutput)
	}
	return b.Builder.WriteString(s)
}

// renderState holds what the template's function calls record.
type renderState struct {
	now    time.Time
	raised string
}

func (s *renderState) raiseException(_ *exec.Evaluator, params *exec.VarArgs) *exec.Value {
	msg := "raise_exception called"
	if len(params.Args) > 0 {
		msg = params.Args[0].String()
	}
	if s.raised == "" {
		s.raised = msg
	}
	return exec.AsValue(errors.New(msg))
}

func (s *renderState) strftimeNow(_ *exec.Evaluator, params *exec.VarArgs) *exec.Value {
	if len(params.Args) != 1 || !params.Args[0].IsString() {
		return exec.AsValue(exec.ErrInvalidCall(errors.New("strftime_now takes one format string")))
	}
	return exec.AsValue(strftime(s.now, params.Args[0].String()))
}

const templateName = "chat_template"

// templateConfig is transformers' Jinja environment: trim_blocks and
// lstrip_blocks, no autoescape, no kept trailing newline.
func templateConfig() *config.Config {
	c := config.New()
	c.TrimBlocks = true
	c.LeftStripBlocks = true
	return c
}

// environment is gonja's built-ins plus the compatibility layer, shared by
// every template (it is read-only after init).
var environment = newEnvironment()

func newEnvironment() *exec.Environment {
	filters := exec.NewFilterSet(map[string]exec.FilterFunction{}).Update(builtins.Filters)
	for name, fn := range compatFilters {
		if filters.Exists(name) {
			_ = filters.Replace(name, fn)
		} else {
			_ = filters.Register(name, fn)
		}
	}
	ctx := exec.EmptyContext().Update(builtins.GlobalFunctions).Update(builtins.GlobalVariables)
	ctx.Set("namespace", namespaceFunction)
	ctx.Set("range", rangeFunction)
	return &exec.Environment{
		Context:           ctx,
		Filters:           filters,
		Tests:             builtins.Tests,
		ControlStructures: controlStructures(),
		Methods:           compatMethods(),
	}
}

// oneLoader serves the template itself and refuses every other name, so a
// template cannot include, import or extend files.
type oneLoader struct {
	name, source string
}

func (l *oneLoader) Read(path string) (io.Reader, error) {
	if path != l.name {
		return nil, fmt.Errorf("loading other templates (%q) is not supported", path)
	}
	return strings.NewReader(l.source), nil
}

func (l *oneLoader) Resolve(path string) (string, error) {
	if path != l.name {
		return "", fmt.Errorf("loading other templates (%q) is not supported", path)
	}
	return path, nil
}

func (l *oneLoader) Inherit(from string) (loaders.Loader, error) {
	return nil, fmt.Errorf("loading other templates (%q) is not supported", from)
}
