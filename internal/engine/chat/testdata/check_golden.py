#!/usr/bin/env python3
"""Renders every case of cases.json with Python Jinja2 the way transformers'
apply_chat_template does, and compares with the golden files that
`go test -run TestRealTemplates -update` writes. Exit status 1 on a difference.
Run from this directory: python3 check_golden.py
"""
import json
import os
import sys
from datetime import datetime

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

REJECTED = "chat: render template: chat template rejected the conversation: "


class Raised(Exception):
    pass


def raise_exception(message):
    raise Raised(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def main():
    spec = json.load(open("cases.json"))
    now = datetime.fromisoformat(spec["now"].replace("Z", "+00:00"))
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: now.strftime(fmt)
    env.filters["tojson"] = tojson
    bad = 0
    checked = 0
    for name, (bos, eos) in sorted(spec["tokens"].items()):
        tmpl = env.from_string(open(os.path.join("templates", name + ".jinja")).read())
        for conv, msgs in spec["conversations"].items():
            for v in spec["variants"]:
                if "only" in v and conv not in v["only"]:
                    continue
                path = os.path.join("golden", f"{name}.{conv}{v['suffix']}.txt")
                try:
                    want = tmpl.render(messages=msgs, add_generation_prompt=v["add_generation_prompt"],
                                       bos_token=bos, eos_token=eos)
                    exact = True
                except Raised as e:
                    want = REJECTED + str(e)
                    exact = True
                got = open(path, encoding="utf-8").read()
                checked += 1
                if got != want:
                    bad += 1
                    print(f"DIFF {path}\n  jinja2: {want!r}\n  golden: {got!r}")
    print(f"{checked} golden files checked, {bad} differ")
    sys.exit(1 if bad else 0)


main()
