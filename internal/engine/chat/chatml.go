package chat

import "strings"

// RenderChatML renders msgs as ChatML, the format silo uses for a model
// whose GGUF has no tokenizer.chat_template:
//
//	<|im_start|>{role}\n{content}<|im_end|>\n   (for each message)
//	<|im_start|>assistant\n                     (if AddGenerationPrompt)
//
// Only AddGenerationPrompt of opts is used. Models trained on another format
// will still answer, less well; give them their template.
func RenderChatML(msgs []Message, opts Options) string {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString("<|im_start|>")
		b.WriteString(m.Role)
		b.WriteString("\n")
		b.WriteString(m.Content)
		b.WriteString("<|im_end|>\n")
	}
	if opts.AddGenerationPrompt {
		b.WriteString("<|im_start|>assistant\n")
	}
	return b.String()
}

// RenderOrChatML renders template for msgs, or ChatML when template is empty.
func RenderOrChatML(template string, msgs []Message, opts Options) (string, error) {
	if strings.TrimSpace(template) == "" {
		return RenderChatML(msgs, opts), nil
	}
	return Render(template, msgs, opts)
}
