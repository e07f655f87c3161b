package builtin

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/silo-ai/silo/internal/engine/gguf"
	"github.com/silo-ai/silo/internal/engine/kernels"
	"github.com/silo-ai/silo/internal/engine/llama"
)

// BenchOptions configures Bench. Zero fields take the defaults noted.
type BenchOptions struct {
	PrefillTokens int             // prompt length for the prefill figure (default 128)
	DecodeTokens  int             // tokens decoded for the decode figure (default 64)
	CopyBytes     int             // buffer size for the bandwidth figure (default 512 MiB)
	CacheType     llama.CacheType // KV cache type (default F16)
	// BatchSequences is how many sequences the batched decode figure
	// decodes together (default 4; negative: skip it).
	BatchSequences int
}

// BenchResult holds the figures of one Bench run. Bandwidth is that of a
// large memory copy on all threads, counting bytes read and written (the
// mean of probes taken between the decode figure's rounds); the
// roofline is that bandwidth divided by the bytes a decode step reads
// (every weight matrix once, plus the KV cache), the most tokens per second
// memory allows.
type BenchResult struct {
	Model         string  `json:"model"`
	Arch          string  `json:"arch"`
	WeightType    string  `json:"weight_type"`
	Params        int64   `json:"params"`
	FileBytes     int64   `json:"file_bytes"`
	Threads       int     `json:"threads"`
	SIMD          string  `json:"simd"`
	PrefillTokens int     `json:"prefill_tokens"`
	PrefillTPS    float64 `json:"prefill_tokens_per_second"`
	DecodeTokens  int     `json:"decode_tokens"`
	DecodeTPS     float64 `json:"decode_tokens_per_second"`
	// BatchDecodeTPS is the total decode rate of BatchSequences sequences
	// decoded together (one batched forward step per token of each).
	BatchSequences int     `json:"batch_sequences"`
	BatchDecodeTPS float64 `json:"batch_decode_tokens_per_second"`
	BandwidthBPS   float64 `json:"bandwidth_bytes_per_second"`
	BytesPerToken  int64   `json:"bytes_per_token"`
	RooflineTPS    float64 `json:"roofline_tokens_per_second"`
	RooflineRatio  float64 `json:"roofline_ratio"`
	// ReadBandwidthBPS is that of a large streaming read on all threads
	// (bytes read), measured in the same run: decoding only reads
	// weights, and on some machines reading alone moves fewer bytes per
	// second than a copy's reads and writes together. ReadRooflineTPS and
	// ReadRooflineRatio are the roofline and ratio with it.
	ReadBandwidthBPS  float64 `json:"read_bandwidth_bytes_per_second"`
	ReadRooflineTPS   float64 `json:"read_roofline_tokens_per_second"`
	ReadRooflineRatio float64 `json:"read_roofline_ratio"`
	ResidentBytes     int64   `json:"resident_bytes"`
	KVCacheBytes      int64   `json:"kv_cache_bytes"`
}

// String formats r for people.
func (r *BenchResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "model        %s (%s, %s, %.2fB params, %.0f MiB)\n", r.Model, r.Arch, r.WeightType,
		float64(r.Params)/1e9, float64(r.FileBytes)/(1<<20))
	fmt.Fprintf(&b, "threads      %d (kernels: %s)\n", r.Threads, r.SIMD)
	fmt.Fprintf(&b, "prefill      %d tokens: %.1f tokens/s\n", r.PrefillTokens, r.PrefillTPS)
	fmt.Fprintf(&b, "decode       %d tokens: %.1f tokens/s\n", r.DecodeTokens, r.DecodeTPS)
	if r.BatchSequences > 0 {
		fmt.Fprintf(&b, "batched      %d sequences: %.1f tokens/s in all\n", r.BatchSequences, r.BatchDecodeTPS)
	}
	fmt.Fprintf(&b, "bandwidth    %.1f GB/s (memory copy, read+write)\n", r.BandwidthBPS/1e9)
	fmt.Fprintf(&b, "roofline     %.1f tokens/s (%.0f MiB read per token)\n", r.RooflineTPS, float64(r.BytesPerToken)/(1<<20))
	fmt.Fprintf(&b, "ratio        %.0f%% of roofline\n", 100*r.RooflineRatio)
	fmt.Fprintf(&b, "read         %.1f GB/s (streaming read): roofline %.1f tokens/s, ratio %.0f%%\n",
		r.ReadBandwidthBPS/1e9, r.ReadRooflineTPS, 100*r.ReadRooflineRatio)
	fmt.Fprintf(&b, "resident     %.0f MiB (KV cache %.1f MiB)\n", float64(r.ResidentBytes)/(1<<20), float64(r.KVCacheBytes)/(1<<20))
	return b.String()
}

// Bench measures prefill and decode speed of the GGUF model at path, the
// memory bandwidth of this machine in the same run, and resident memory.
func Bench(ctx context.Context, path string, o BenchOptions) (*BenchResult, error) {
	if o.PrefillTokens <= 0 {
		o.PrefillTokens = 128
	}
	if o.DecodeTokens <= 0 {
		o.DecodeTokens = 64
	}
	if o.CopyBytes <= 0 {
		o.CopyBytes = 512 << 20
	}
	if o.BatchSequences == 0 {
		o.BatchSequences = 4
	}
	f, err := gguf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("builtin: bench: %w", err)
	}
	defer f.Close()
	lm, err := llama.Load(f)
	if err != nil {
		return nil, fmt.Errorf("builtin: bench: %w", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("builtin: bench: %w", err)
	}
	c := lm.Config
	if o.PrefillTokens+1 > c.Context || o.DecodeTokens+1 > c.Context {
		return nil, fmt.Errorf("builtin: bench: %d/%d tokens exceed the context length %d", o.PrefillTokens, o.DecodeTokens, c.Context)
	}
	r := &BenchResult{Model: path, Arch: c.Arch, WeightType: lm.Layers[0].Q.Type.String(), FileBytes: st.Size(),
		Threads: kernels.Threads(), SIMD: kernels.SIMD(), PrefillTokens: o.PrefillTokens, DecodeTokens: o.DecodeTokens}
	for i := range f.Tensors {
		r.Params += int64(f.Tensors[i].Elements())
	}
	runner := lm.NewRunner()
	tokens := make([]int, max(o.PrefillTokens, o.DecodeTokens))
	for i := range tokens {
		tokens[i] = (i*7919 + 13) % c.Vocab
	}

	// Warm up: one step reads every weight once (page faults, caches).
	seq := lm.NewSequence(o.CacheType, 0)
	if _, err := runner.Forward(ctx, []llama.Token{{Seq: seq, ID: tokens[0], Logits: true}}); err != nil {
		return nil, fmt.Errorf("builtin: bench: %w", err)
	}

	// Prefill: best of two.
	for range 2 {
		seq := lm.NewSequence(o.CacheType, 0)
		batch := make([]llama.Token, o.PrefillTokens)
		for i := range batch {
			batch[i] = llama.Token{Seq: seq, ID: tokens[i], Logits: i == len(batch)-1}
		}
		start := time.Now()
		if _, err := runner.Forward(ctx, batch); err != nil {
			return nil, fmt.Errorf("builtin: bench: %w", err)
		}
		r.PrefillTPS = max(r.PrefillTPS, float64(o.PrefillTokens)/time.Since(start).Seconds())
	}

	// Decode from an empty context, greedy, as llama-bench's tg test, in
	// rounds, with the memory bandwidth probed before the first round and
	// after each: on a shared machine bandwidth moves from second to
	// second, and probes spread through the decode see the same moments
	// as the decode does.
	p, err := newProbe(o.CopyBytes)
	if err != nil {
		return nil, fmt.Errorf("builtin: bench: %w", err)
	}
	if err := p.run(ctx); err != nil {
		return nil, fmt.Errorf("builtin: bench: %w", err)
	}
	seq = lm.NewSequence(o.CacheType, 0)
	tok := tokens[0]
	rounds := min(8, o.DecodeTokens)
	var decodeTime time.Duration
	for i := range rounds {
		n := o.DecodeTokens/rounds + btoi(i < o.DecodeTokens%rounds)
		start := time.Now()
		for range n {
			out, err := runner.Forward(ctx, []llama.Token{{Seq: seq, ID: tok, Logits: true}})
			if err != nil {
				return nil, fmt.Errorf("builtin: bench: %w", err)
			}
			tok = argmax(out.Logits[0])
		}
		decodeTime += time.Since(start)
		if err := p.run(ctx); err != nil {
			return nil, fmt.Errorf("builtin: bench: %w", err)
		}
	}
	r.DecodeTPS = float64(o.DecodeTokens) / decodeTime.Seconds()
	r.BandwidthBPS, r.ReadBandwidthBPS = p.means()
	p.free()
	r.KVCacheBytes = int64(seq.Bytes())
	r.ResidentBytes = residentBytes()

	// Batched decode: the weights are read once per step for all sequences.
	if o.BatchSequences > 0 {
		r.BatchSequences = o.BatchSequences
		batch := make([]llama.Token, o.BatchSequences)
		for i := range batch {
			batch[i] = llama.Token{Seq: lm.NewSequence(o.CacheType, 0), ID: tokens[i%len(tokens)], Logits: true}
		}
		steps := max(1, o.DecodeTokens/o.BatchSequences)
		start := time.Now()
		for range steps {
			out, err := runner.Forward(ctx, batch)
			if err != nil {
				return nil, fmt.Errorf("builtin: bench: %w", err)
			}
			for i := range batch {
				batch[i].ID = argmax(out.Logits[i])
			}
		}
		r.BatchDecodeTPS = float64(steps*o.BatchSequences) / time.Since(start).Seconds()
	}

	// Bytes read per decoded token: the weights, and the KV cache at the
	// mean position of the decode run.
	kvPerPos := int64(seq.Bytes()) / int64(max(1, seq.Cap()))
	r.BytesPerToken = lm.WeightBytes() + kvPerPos*int64(o.DecodeTokens/2)

	r.RooflineTPS = r.BandwidthBPS / float64(r.BytesPerToken)
	r.RooflineRatio = r.DecodeTPS / r.RooflineTPS
	r.ReadRooflineTPS = r.ReadBandwidthBPS / float64(r.BytesPerToken)
	r.ReadRooflineRatio = r.DecodeTPS / r.ReadRooflineTPS
	return r, nil
}

func argmax(x []float32) int {
	bi := 0
	for i, v := range x {
		if v > x[bi] {
			bi = i
		}
	}
	return bi
}

// probe measures memory bandwidth on all threads, once per run: a copy
// between two buffers of n bytes each, counting bytes read and written,
// and a streaming read of one of them, counting bytes read.
type probe struct {
	src, dst      []byte
	copies, reads []float64
	sums          []uint64 // a cache line per worker, so that the reads stay
}

func newProbe(n int) (*probe, error) {
	if n < 1<<20 {
		return nil, fmt.Errorf("bandwidth buffer of %d bytes is too small to measure memory", n)
	}
	p := &probe{src: make([]byte, n), dst: make([]byte, n), sums: make([]uint64, 8*runtime.GOMAXPROCS(0))}
	for i := 0; i < n; i += 4096 {
		p.src[i] = byte(i >> 12)
		p.dst[i] = 1
	}
	return p, nil
}

// run measures one copy and one read.
func (p *probe) run(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	n := len(p.src)
	workers := len(p.sums) / 8
	part := (n/workers + 63) &^ 63
	for _, read := range []bool{false, true} {
		start := time.Now()
		var wg sync.WaitGroup
		for w := range workers {
			lo, hi := min(n, w*part), min(n, (w+1)*part)
			if read {
				wg.Go(func() { p.sums[8*w] += readAll(p.src[lo:hi]) })
			} else {
				wg.Go(func() { copy(p.dst[lo:hi], p.src[lo:hi]) })
			}
		}
		wg.Wait()
		secs := time.Since(start).Seconds()
		if read {
			p.reads = append(p.reads, float64(n)/secs)
		} else {
			p.copies = append(p.copies, 2*float64(n)/secs)
		}
	}
	return nil
}

// means returns the mean copy and read bandwidths over the runs.
func (p *probe) means() (copyBPS, readBPS float64) {
	mean := func(x []float64) float64 {
		s := 0.0
		for _, v := range x {
			s += v
		}
		return s / float64(max(1, len(x)))
	}
	return mean(p.copies), mean(p.reads)
}

// free returns the buffers' memory to the system, so that resident
// memory measured afterwards is the model's.
func (p *probe) free() {
	p.src, p.dst = nil, nil
	debug.FreeOSMemory()
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// readAll reads every byte of b (64 bytes an iteration, in four
// independent chains) and returns a checksum so that the reads stay.
func readAll(b []byte) uint64 {
	var a0, a1, a2, a3 uint64
	for len(b) >= 64 {
		a0 ^= binary.LittleEndian.Uint64(b[0:]) ^ binary.LittleEndian.Uint64(b[32:])
		a1 ^= binary.LittleEndian.Uint64(b[8:]) ^ binary.LittleEndian.Uint64(b[40:])
		a2 ^= binary.LittleEndian.Uint64(b[16:]) ^ binary.LittleEndian.Uint64(b[48:])
		a3 ^= binary.LittleEndian.Uint64(b[24:]) ^ binary.LittleEndian.Uint64(b[56:])
		b = b[64:]
	}
	for _, v := range b {
		a0 ^= uint64(v)
	}
	return a0 ^ a1 ^ a2 ^ a3
}

// residentBytes reads VmRSS from /proc/self/status (0 where unavailable).
func residentBytes() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			fields := strings.Fields(rest)
			if len(fields) >= 1 {
				kb, err := strconv.ParseInt(fields[0], 10, 64)
				if err == nil {
					return kb << 10
				}
			}
		}
	}
	return 0
}
