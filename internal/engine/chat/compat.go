package chat

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/parser"
)

// Where gonja and Python's Jinja (as transformers runs it) differ, for the
// constructs real chat templates use:
//
//   - str.strip/lstrip/rstrip without an argument (or with None) strip all
//     whitespace, not only spaces; str.split without an argument splits on
//     runs of whitespace and drops empty strings. Both are replaced here.
//   - tojson writes Python's json.dumps layout (", " and ": " separators,
//     non-ASCII kept, keys in insertion order for the messages this package
//     builds) as transformers' own tojson filter does.
//   - {% generation %} / {% endgeneration %} (transformers' assistant-mask
//     extension) mark text without changing it; they are removed before
//     parsing.
//   - "X if C else Y" inside brackets or call arguments, which gonja does
//     not parse, is rewritten to an equivalent it does (condexpr.go).
//   - include, import, from and extends are not available: a chat template
//     is one self-contained string, and must not read files.

// generationTag matches transformers' {% generation %} / {% endgeneration %}.
var generationTag = regexp.MustCompile(`\{%-?\s*(?:end)?generation\s*-?%\}`)

var (
	macroStart = regexp.MustCompile(`\{%-?\s*macro\s+([A-Za-z_][A-Za-z0-9_]*)`)
	macroEnd   = regexp.MustCompile(`\{%-?\s*endmacro\b`)
	identifier = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`)
)

// checkMacros refuses a template whose macros can call themselves, directly
// or through each other: unbounded recursion would overflow the stack, which
// Go cannot recover from. A macro "refers" to another when its body names it.
func checkMacros(src string) error {
	starts := macroStart.FindAllStringSubmatchIndex(src, -1)
	if len(starts) == 0 {
		return nil
	}
	bodies := map[string]string{}
	for _, m := range starts {
		name := src[m[2]:m[3]]
		body := src[m[1]:]
		if e := macroEnd.FindStringIndex(body); e != nil {
			body = body[:e[0]]
		}
		bodies[name] += body
	}
	calls := map[string][]string{}
	for name, body := range bodies {
		for _, id := range identifier.FindAllString(body, -1) {
			if _, ok := bodies[id]; ok {
				calls[name] = append(calls[name], id)
			}
		}
	}
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	var visit func(string) error
	visit = func(n string) error {
		switch state[n] {
		case visiting:
			return fmt.Errorf("macro %q is recursive", n)
		case done:
			return nil
		}
		state[n] = visiting
		for _, c := range calls[n] {
			if err := visit(c); err != nil {
				return err
			}
		}
		state[n] = done
		return nil
	}
	names := make([]string, 0, len(bodies))
	for n := range bodies {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := visit(n); err != nil {
			return err
		}
	}
	return nil
}

// maxRange bounds range(): a template has no use for more items.
const maxRange = 100000

// rangeFunction is range([start,] stop[, step]) with at most maxRange items.
func rangeFunction(_ *exec.Evaluator, params *exec.VarArgs) *exec.Value {
	var n []int
	for _, a := range params.Args {
		if !a.IsInteger() {
			return exec.AsValue(exec.ErrInvalidCall(errors.New("range takes integers")))
		}
		n = append(n, a.Integer())
	}
	start, stop, step := 0, 0, 1
	switch len(n) {
	case 1:
		stop = n[0]
	case 2:
		start, stop = n[0], n[1]
	case 3:
		start, stop, step = n[0], n[1], n[2]
	default:
		return exec.AsValue(exec.ErrInvalidCall(errors.New("range takes one to three integers")))
	}
	if step == 0 {
		return exec.AsValue(exec.ErrInvalidCall(errors.New("range step cannot be 0")))
	}
	var out []any
	for i := start; (step > 0 && i < stop) || (step < 0 && i > stop); i += step {
		if len(out) == maxRange {
			return exec.AsValue(exec.ErrInvalidCall(fmt.Errorf("range of more than %d items", maxRange)))
		}
		out = append(out, i)
	}
	if out == nil {
		out = []any{}
	}
	return exec.AsValue(out)
}

var rawEnd = regexp.MustCompile(`\{%-?\s*endraw\s*-?%\}`)

// rewrite turns Python-only syntax into what gonja parses.
func rewrite(src string) string {
	return rewriteConditionals(generationTag.ReplaceAllString(src, ""))
}

// cleanError shortens gonja's error chain and drops from it the template
// source (quoted in parse errors) and the text of the messages (quoted when a
// method fails on a value), so errors can be logged without the conversation.
func cleanError(err error, src string, msgs []Message) string {
	msg := err.Error()
	if src != "" {
		msg = strings.ReplaceAll(msg, src, "…")
	}
	for _, m := range msgs {
		for _, c := range []string{m.Content, strings.TrimSpace(m.Content)} {
			if len(c) >= 4 {
				msg = strings.ReplaceAll(msg, c, "…")
			}
		}
	}
	msg = strings.TrimPrefix(msg, "unable to execute template: ")
	const max = 600
	if len(msg) > max {
		msg = msg[:max] + "…"
	}
	return msg
}

// controlStructures are gonja's statements less those that load templates.
func controlStructures() *exec.ControlStructureSet {
	m := map[string]parser.ControlStructureParser{}
	for _, name := range []string{"autoescape", "block", "filter", "for", "if", "macro", "raw", "set", "with", "do", "break", "continue", "call"} {
		if p, ok := builtins.ControlStructures.Get(name); ok {
			m[name] = p
		}
	}
	return exec.NewControlStructureSet(m)
}

// namespaceFunction is namespace(): a mutable object for set ns.x = ... .
func namespaceFunction(_ *exec.Evaluator, params *exec.VarArgs) map[string]any {
	ns := map[string]any{}
	for _, a := range params.Args {
		if m, ok := a.Interface().(map[string]any); ok {
			for k, v := range m {
				ns[k] = v
			}
		}
	}
	for k, v := range params.KwArgs {
		ns[k] = v.Interface()
	}
	return ns
}

var compatFilters = map[string]exec.FilterFunction{
	"tojson": filterToJSON,
}

func filterToJSON(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	indent := -1
	if v, ok := params.KwArgs["indent"]; ok && !v.IsNil() {
		if !v.IsInteger() {
			return exec.AsValue(errors.New("tojson: indent must be an integer"))
		}
		indent = v.Integer()
	}
	if len(params.Args) > 0 && params.Args[0].IsInteger() {
		indent = params.Args[0].Integer()
	}
	var b strings.Builder
	if err := pyJSON(&b, in.Interface(), indent, 0); err != nil {
		return exec.AsValue(fmt.Errorf("tojson: %w", err))
	}
	return exec.AsSafeValue(b.String())
}

// pyJSON writes v as Python's json.dumps(v, ensure_ascii=False, indent=indent)
// does (indent < 0: on one line).
func pyJSON(b *strings.Builder, v any, indent, depth int) error {
	if depth > 100 {
		return errors.New("value nested too deeply")
	}
	newline := func(d int) {
		if indent >= 0 {
			b.WriteByte('\n')
			b.WriteString(strings.Repeat(" ", indent*d))
		}
	}
	sep := ", "
	if indent >= 0 {
		sep = ","
	}
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case *exec.Value:
		return pyJSON(b, x.Interface(), indent, depth)
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case string:
		writeJSONString(b, x)
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return errors.New("non-finite number")
		}
		if x == math.Trunc(x) && math.Abs(x) < 1e16 {
			b.WriteString(strconv.FormatFloat(x, 'f', 1, 64))
		} else {
			b.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
		}
	case int:
		b.WriteString(strconv.Itoa(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case []any:
		if len(x) == 0 {
			b.WriteString("[]")
			return nil
		}
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(sep)
			}
			newline(depth + 1)
			if err := pyJSON(b, e, indent, depth+1); err != nil {
				return err
			}
		}
		newline(depth)
		b.WriteByte(']')
	case *exec.Dict:
		if len(x.Pairs) == 0 {
			b.WriteString("{}")
			return nil
		}
		b.WriteByte('{')
		for i, p := range x.Pairs {
			if i > 0 {
				b.WriteString(sep)
			}
			newline(depth + 1)
			writeJSONString(b, p.Key.String())
			b.WriteString(": ")
			if err := pyJSON(b, p.Value, indent, depth+1); err != nil {
				return err
			}
		}
		newline(depth)
		b.WriteByte('}')
	case map[string]any:
		if len(x) == 0 {
			b.WriteString("{}")
			return nil
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sortKeys(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(sep)
			}
			newline(depth + 1)
			writeJSONString(b, k)
			b.WriteString(": ")
			if err := pyJSON(b, x[k], indent, depth+1); err != nil {
				return err
			}
		}
		newline(depth)
		b.WriteByte('}')
	default:
		rv := reflect.ValueOf(v)
		switch rv.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			b.WriteString(strconv.FormatInt(rv.Int(), 10))
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			b.WriteString(strconv.FormatUint(rv.Uint(), 10))
		case reflect.Float32:
			return pyJSON(b, rv.Float(), indent, depth)
		case reflect.Slice, reflect.Array:
			items := make([]any, rv.Len())
			for i := range items {
				items[i] = rv.Index(i).Interface()
			}
			return pyJSON(b, items, indent, depth)
		case reflect.Map:
			if rv.Type().Key().Kind() != reflect.String {
				return fmt.Errorf("cannot encode a map with %s keys", rv.Type().Key())
			}
			m := make(map[string]any, rv.Len())
			for _, k := range rv.MapKeys() {
				m[k.String()] = rv.MapIndex(k).Interface()
			}
			return pyJSON(b, m, indent, depth)
		default:
			return fmt.Errorf("cannot encode %T", v)
		}
	}
	return nil
}

// sortKeys orders map keys: the message keys this package builds in the
// order Python would have them (role first), then the rest sorted, since
// Go maps have no insertion order.
func sortKeys(keys []string) {
	rank := func(k string) int {
		switch k {
		case "role":
			return 0
		case "content":
			return 1
		}
		return 2
	}
	slices.SortFunc(keys, func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
}

func writeJSONString(b *strings.Builder, s string) {
	enc, _ := json.Marshal(s) // a string always encodes
	// encoding/json escapes <, >, & and U+2028/9 for HTML; Python does not.
	out := string(enc)
	out = strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&", `\u2028`, "\u2028", `\u2029`, "\u2029").Replace(out)
	b.WriteString(out)
}

// compatMethods are gonja's methods with the Python-compatible string
// methods replacing gonja's.
func compatMethods() exec.Methods {
	b := builtins.Methods
	str := pick(b.Str, []string{"capitalize", "casefold", "center", "count", "encode", "endswith", "expandtabs", "find",
		"format", "format_map", "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "islower", "isnumeric",
		"isprintable", "isspace", "istitle", "isupper", "join", "ljust", "lower", "partition", "removeprefix",
		"removesuffix", "replace", "rfind", "rjust", "rpartition", "rsplit", "splitlines", "startswith",
		"swapcase", "title", "upper", "zfill"})
	str["strip"] = stripMethod(strings.Trim, strings.TrimFunc)
	str["lstrip"] = stripMethod(strings.TrimLeft, strings.TrimLeftFunc)
	str["rstrip"] = stripMethod(strings.TrimRight, strings.TrimRightFunc)
	str["split"] = splitMethod
	return exec.Methods{
		Bool:  exec.NewMethodSet(pick(b.Bool, []string{"string", "int", "bit_length", "bit_count", "as_integer_ratio"})),
		Int:   exec.NewMethodSet(pick(b.Int, []string{"is_integer", "bit_length", "bit_count", "as_integer_ratio"})),
		Float: exec.NewMethodSet(pick(b.Float, []string{"is_integer", "as_integer_ratio", "hex"})),
		Str:   exec.NewMethodSet(str),
		Dict:  exec.NewMethodSet(pick(b.Dict, []string{"keys", "values", "items", "get", "pop", "setdefault", "update", "copy", "clear"})),
		List:  exec.NewMethodSet(pick(b.List, []string{"append", "reverse", "copy"})),
	}
}

func pick[I any](set *exec.MethodSet[I], names []string) map[string]exec.Method[I] {
	m := map[string]exec.Method[I]{}
	for _, n := range names {
		if fn, ok := set.Get(n); ok {
			m[n] = fn
		}
	}
	return m
}

// stripMethod is Python's str.strip family: no argument or None strips
// whitespace, a string strips the characters in it.
func stripMethod(chars func(string, string) string, space func(string, func(rune) bool) string) exec.Method[string] {
	return func(self string, _ *exec.Value, args *exec.VarArgs) (any, error) {
		if len(args.KwArgs) > 0 || len(args.Args) > 1 {
			return nil, exec.ErrInvalidCall(errors.New("takes at most one argument"))
		}
		if len(args.Args) == 0 || args.Args[0].IsNil() {
			return space(self, unicode.IsSpace), nil
		}
		if !args.Args[0].IsString() {
			return nil, exec.ErrInvalidCall(errors.New("argument must be a string or None"))
		}
		return chars(self, args.Args[0].String()), nil
	}
}

// splitMethod is Python's str.split(sep=None, maxsplit=-1).
func splitMethod(self string, _ *exec.Value, args *exec.VarArgs) (any, error) {
	var sep *exec.Value
	maxsplit := -1
	if len(args.Args) > 2 {
		return nil, exec.ErrInvalidCall(errors.New("takes at most two arguments"))
	}
	if len(args.Args) > 0 {
		sep = args.Args[0]
	}
	if v, ok := args.KwArgs["sep"]; ok {
		sep = v
	}
	if len(args.Args) > 1 {
		if !args.Args[1].IsInteger() {
			return nil, exec.ErrInvalidCall(errors.New("maxsplit must be an integer"))
		}
		maxsplit = args.Args[1].Integer()
	}
	if v, ok := args.KwArgs["maxsplit"]; ok && v.IsInteger() {
		maxsplit = v.Integer()
	}
	var parts []string
	switch {
	case sep == nil || sep.IsNil():
		parts = splitSpace(self, maxsplit)
	case !sep.IsString():
		return nil, exec.ErrInvalidCall(errors.New("separator must be a string or None"))
	case sep.String() == "":
		return nil, exec.ErrInvalidCall(errors.New("empty separator"))
	default:
		n := -1
		if maxsplit >= 0 {
			n = maxsplit + 1
		}
		parts = strings.SplitN(self, sep.String(), n)
	}
	out := make([]any, len(parts))
	for i, p := range parts {
		out[i] = p
	}
	return out, nil
}

// splitSpace splits on runs of whitespace, at most maxsplit times (< 0: no
// limit), as Python's str.split() does.
func splitSpace(s string, maxsplit int) []string {
	if maxsplit < 0 {
		return strings.Fields(s)
	}
	var parts []string
	s = strings.TrimLeftFunc(s, unicode.IsSpace)
	for s != "" {
		if len(parts) == maxsplit {
			parts = append(parts, s)
			break
		}
		i := strings.IndexFunc(s, unicode.IsSpace)
		if i < 0 {
			parts = append(parts, s)
			break
		}
		parts = append(parts, s[:i])
		s = strings.TrimLeftFunc(s[i:], unicode.IsSpace)
	}
	return parts
}
