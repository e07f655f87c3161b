package sample_test

import (
	"fmt"

	"github.com/silo-ai/silo/internal/engine/sample"
)

func Example() {
	s := sample.New(sample.Params{Temperature: 0.7, TopP: 0.9, Seed: 42, TopLogprobs: 2})
	logits := []float32{1.5, 3.0, 0.2, 2.9}
	r := s.Sample(logits)
	s.Accept(r.Token) // for repetition penalties on later tokens
	fmt.Println(r.Token, len(r.Top), r.Top[0].Token)
	// Output: 3 2 1
}
