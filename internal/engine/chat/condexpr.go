package chat

import "strings"

// gonja parses the conditional expression "X if C else Y" only as the whole
// of a {{ }} output or a set value; templates also write it inside
// parentheses, brackets and call arguments ('...' + (prefix if loop.first
// else "") in Gemma 3's). rewriteConditionals rewrites each such element to
// ((C) and [X] or [Y])[0], which gonja parses and which evaluates like the
// original: and/or short-circuit and return their operands, and [X] is
// never false, so only the chosen branch is evaluated. Without else, Y is an
// undefined name, as Jinja's result is undefined.

const undefinedName = "__silo_undefined__"

// rewriteConditionals applies the rewrite inside every {{ }} and {% %} tag
// of a template, leaving text, comments and raw blocks alone.
func rewriteConditionals(src string) string {
	var b strings.Builder
	for i := 0; i < len(src); {
		switch {
		case strings.HasPrefix(src[i:], "{#"):
			end := strings.Index(src[i+2:], "#}")
			if end < 0 {
				b.WriteString(src[i:])
				return b.String()
			}
			end += i + 4
			b.WriteString(src[i:end])
			i = end
		case strings.HasPrefix(src[i:], "{{"), strings.HasPrefix(src[i:], "{%"):
			closer := "}}"
			if src[i+1] == '%' {
				closer = "%}"
			}
			end := tagEnd(src, i+2, closer)
			if end < 0 {
				b.WriteString(src[i:])
				return b.String()
			}
			body := src[i+2 : end]
			if closer == "%}" && isRawTag(body) {
				stop := rawEnd.FindStringIndex(src[end:])
				if stop == nil {
					b.WriteString(src[i:])
					return b.String()
				}
				b.WriteString(src[i : end+stop[1]])
				i = end + stop[1]
				continue
			}
			b.WriteString(src[i : i+2])
			b.WriteString(rewriteGroups(body))
			b.WriteString(closer)
			i = end + 2
		default:
			b.WriteByte(src[i])
			i++
		}
	}
	return b.String()
}

func isRawTag(body string) bool {
	return strings.TrimSpace(strings.Trim(strings.TrimSpace(body), "-+")) == "raw"
}

// tagEnd is the index of closer ending the tag whose body starts at i,
// skipping string literals; -1 if none.
func tagEnd(s string, i int, closer string) int {
	for i < len(s) {
		switch c := s[i]; {
		case c == '\'' || c == '"':
			i = skipString(s, i)
		case strings.HasPrefix(s[i:], closer):
			return i
		default:
			i++
		}
	}
	return -1
}

// skipString returns the index just past the string literal at s[i].
func skipString(s string, i int) int {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case q:
			return j + 1
		}
	}
	return len(s)
}

// matchClose returns the index of the bracket closing s[i], or -1.
func matchClose(s string, i int) int {
	depth := 0
	for j := i; j < len(s); {
		switch s[j] {
		case '\'', '"':
			j = skipString(s, j)
			continue
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
			if depth == 0 {
				return j
			}
		}
		j++
	}
	return -1
}

// rewriteGroups rewrites the conditionals in every (...) and [...] group of
// an expression, innermost first.
func rewriteGroups(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		switch c {
		case '\'', '"':
			j := skipString(s, i)
			b.WriteString(s[i:j])
			i = j
		case '(', '[', '{':
			j := matchClose(s, i)
			if j < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			inner := rewriteGroups(s[i+1 : j])
			if c != '{' {
				inner = rewriteElements(inner)
			}
			b.WriteByte(c)
			b.WriteString(inner)
			b.WriteByte(s[j])
			i = j + 1
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

// rewriteElements rewrites each comma-separated element of a group.
func rewriteElements(s string) string {
	parts := splitTopLevel(s, ',')
	for i, p := range parts {
		prefix := ""
		if k := keywordArgument(p); k > 0 {
			prefix, p = p[:k], p[k:]
		}
		parts[i] = prefix + rewriteConditional(p)
	}
	return strings.Join(parts, ",")
}

// keywordArgument returns the length of a leading "name=" (not "=="), or 0.
func keywordArgument(s string) int {
	i := 0
	for i < len(s) && s[i] == ' ' {
		i++
	}
	start := i
	for i < len(s) && isIdentByte(s[i]) {
		i++
	}
	if i == start {
		return 0
	}
	for i < len(s) && s[i] == ' ' {
		i++
	}
	if i < len(s) && s[i] == '=' && (i+1 == len(s) || s[i+1] != '=') {
		return i + 1
	}
	return 0
}

// rewriteConditional turns "X if C else Y" into ((C) and [X] or [Y])[0].
func rewriteConditional(s string) string {
	at := findKeyword(s, "if")
	if at < 0 || strings.TrimSpace(s[:at]) == "" {
		return s
	}
	x, rest := s[:at], s[at+2:]
	cond, alt := rest, undefinedName
	if e := findKeyword(rest, "else"); e >= 0 {
		cond, alt = rest[:e], rewriteConditional(rest[e+4:])
	}
	return "((" + strings.TrimSpace(cond) + ") and [" + strings.TrimSpace(x) + "] or [" + strings.TrimSpace(alt) + "])[0]"
}

// findKeyword finds the word kw outside strings and brackets, or -1.
func findKeyword(s, kw string) int {
	depth := 0
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == '\'' || c == '"':
			i = skipString(s, i)
			continue
		case c == '(' || c == '[' || c == '{':
			depth++
		case c == ')' || c == ']' || c == '}':
			depth--
		case depth == 0 && strings.HasPrefix(s[i:], kw) &&
			(i == 0 || !isIdentByte(s[i-1])) &&
			(i+len(kw) == len(s) || !isIdentByte(s[i+len(kw)])):
			return i
		}
		i++
	}
	return -1
}

// splitTopLevel splits s at sep outside strings and brackets.
func splitTopLevel(s string, sep byte) []string {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == '\'' || c == '"':
			i = skipString(s, i)
			continue
		case c == '(' || c == '[' || c == '{':
			depth++
		case c == ')' || c == ']' || c == '}':
			depth--
		case c == sep && depth == 0:
			parts = append(parts, s[start:i])
			start = i + 1
		}
		i++
	}
	return append(parts, s[start:])
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}
