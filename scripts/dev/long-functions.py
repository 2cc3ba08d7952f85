#!/usr/bin/env python3
"""Lists C++ functions longer than a limit (default 80 lines), lambdas counted in their function.

Usage: scripts/dev/long-functions.py [--limit N] PATH...   (exit 1 when any is found)
A brace matcher, not a parser: string and character literals and comments are blanked first.
Tests (tests/) and benchmarks (bench/) are not held to the limit; nor are the functions in EXEMPT,
each with its reason. Run by ctest as lint:function-length over core/ and plugins/.
"""
import re
import sys
from pathlib import Path

KEYWORDS = {"if", "for", "while", "switch", "catch", "return", "else", "do", "try"}
HEADER = re.compile(r"([~\w:<>,\s\*&]+?)\s*\((.*)\)\s*(const)?\s*(noexcept)?\s*(override)?\s*(->\s*[\w:<>,\s\*&]+)?\s*(:.*)?$", re.S)


# (file name, function): why it may be longer.
EXEMPT = {
    ("lua_patterns.cpp", "match"): "Lua 5.4's own pattern matcher (lstrlib.c), kept as close to upstream as the step budget allows",
}
SKIPPED_DIRS = {"tests", "bench"}


def blank(src):
    out = re.sub(r"//[^\n]*", "", src)
    out = re.sub(r"/\*.*?\*/", lambda m: re.sub(r"[^\n]", " ", m.group()), out, flags=re.S)
    out = re.sub(r'R"(\w*)\((.*?)\)\1"', lambda m: re.sub(r"[^\n]", " ", m.group()), out, flags=re.S)
    out = re.sub(r'"(\\.|[^"\\\n])*"', '""', out)
    out = re.sub(r"'(\\.|[^'\\\n])+'", "' '", out)
    return out


def functions(text):
    depth, stmt_start, in_func = 0, 0, None
    line = 1
    for i, ch in enumerate(text):
        if ch == "\n":
            line += 1
        elif ch in ";}":
            if ch == "}":
                depth -= 1
                if in_func and depth == in_func[0]:
                    yield in_func[1], in_func[2], line - in_func[3] + 1
                    in_func = None
            stmt_start = i + 1
        elif ch == "{":
            if in_func is None:
                head = text[stmt_start:i].strip()
                m = HEADER.match(head) if "(" in head else None
                if m and "](" not in head and "=" not in m.group(1):
                    words = re.findall(r"[~\w:]+", m.group(1))
                    if words and words[-1] not in KEYWORDS:
                        in_func = (depth, words[-1], head.count("\n"), line - head.count("\n"))
            depth += 1
            stmt_start = i + 1


def main(argv):
    limit = 80
    if argv[:1] == ["--limit"]:
        limit, argv = int(argv[1]), argv[2:]
    found = 0
    for root in argv:
        paths = [Path(root)] if Path(root).is_file() else sorted(Path(root).rglob("*.[ch]pp"))
        for p in paths:
            if SKIPPED_DIRS & set(p.parts):
                continue
            for name, _, length in functions(blank(p.read_text(errors="replace"))):
                if length > limit and (p.name, name) not in EXEMPT:
                    found += 1
                    print(f"{length:4d} {p}: {name}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
