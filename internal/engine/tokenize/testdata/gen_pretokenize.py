#!/usr/bin/env python3
"""Writes pretokenize.json: the pieces each pre-tokenizer's regular expressions
give for a set of texts, using Python's `regex` module (which has \\p{..} and
lookahead), applied the way llama.cpp's unicode_regex_split does: expressions
in order, each splitting every piece of the previous one, text between matches
kept as pieces of its own. Run from this directory: python3 gen_pretokenize.py
"""
import json
import regex

GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
PRE = {
    "llama-bpe": [r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"],
    "qwen2": [r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"],
    "gpt2": [GPT2],
    "smollm": [r"\p{N}", GPT2],
    "default": [r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", r"[0-9][0-9][0-9]"],
}
TEXTS = [
    "Hello world", " Hello  world ", "I'm don't WE'LL They'Ve 'S 'x", "1234567 89 0",
    "3.14159, 2,718!", "a\n\nb\r\n  c \n", "   leading", "trailing   ", "\t\ttabs\tand  \t more",
    "x  \n  y", "!!!???...\n\nok", " (paren) [x]{y}", "emoji 😀🦙 ok", "中文测试 日本語 한국어",
    "Ⅻ ½ ١٢٣ ٤٥", "e\u0301 cafe\u0301", "\u00a0nbsp\u2009thin\u3000ideo", "a\u00a0\u00a0b",
    "$5+3=8 <x> ^~|", "code: for (int i=0;i<n;++i){x[i]*=2;}", "https://example.com/a?b=c&d=e",
    "    indented\n        more", "'", " ", "  ", "\n", "a", "999999", " 12 345",
]

def split(exprs, text):
    pieces = [text]
    for e in exprs:
        out = []
        for p in pieces:
            last = 0
            for m in regex.finditer(e, p):
                if m.start() > last:
                    out.append(p[last:m.start()])
                if m.end() > m.start():
                    out.append(m.group())
                last = m.end()
            if last < len(p):
                out.append(p[last:])
        pieces = out
    return pieces

cases = [{"pre": pre, "text": t, "pieces": split(exprs, t)} for pre, exprs in PRE.items() for t in TEXTS]
with open("pretokenize.json", "w", encoding="utf-8") as f:
    json.dump(cases, f, ensure_ascii=False, indent=1)
    f.write("\n")
