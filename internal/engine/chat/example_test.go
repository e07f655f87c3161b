package chat_test

import (
	"fmt"

	"github.com/silo-ai/silo/internal/engine/chat"
)

func ExampleRender() {
	// Gemma's template (google/gemma-2b-it), abridged.
	const tmpl = "{{ bos_token }}{% for message in messages %}" +
		"{% if message['role'] == 'assistant' %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}" +
		"{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}" +
		"{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
	prompt, err := chat.Render(tmpl, []chat.Message{{Role: "user", Content: " Hi! "}},
		chat.Options{AddGenerationPrompt: true, BOSToken: "<bos>"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(prompt)
	// Output:
	// <bos><start_of_turn>user
	// Hi!<end_of_turn>
	// <start_of_turn>model
}
