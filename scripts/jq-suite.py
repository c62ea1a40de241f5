#!/usr/bin/env python3
"""Runs a jq test file (the format of jq's tests/jq.test) through `runnel jq` and prints how
many of its cases give jq's outputs.

    scripts/jq-suite.py path/to/jq.test [--runnel target/release/runnel] [--timeout-ms 1000] [--verbose]

jq's own suite is jqlang/jq's tests/jq.test; it is jq's file, so it is not in this repository:
fetch it. Each case is a program, an input line and the expected outputs, one JSON text a
line, separated from the next case by a blank line; `%%FAIL` cases (programs jq refuses) are
not counted. A case with no outputs marked `# Runtime error` passes when its input fails (exit
code 5). Outputs are compared as JSON values, numbers by value (2 and 2.0 are equal). A case
that does not pass is counted as:
- expected error wording: its program catches errors and the outputs differ only in strings,
  so what differs is the wording of jq's error messages;
- rejected: the program does not compile (exit code 3), or the input is not JSON;
- differs: anything else.

The same cases, counted the same way, run inside the test suite of runnel-blocks without a
binary: `RUNNEL_JQ_TEST=path/to/jq.test cargo test -p runnel-blocks jq_test_suite -- --nocapture`.
"""

import argparse
import json
import math
import subprocess
import sys

# How long one case may run: the blocks' own budget stops a program after a second.
CASE_TIMEOUT_SECONDS = 60


def cases(text):
    """The cases of a file in jq.test's format: (line, program, input, expected, fails)."""
    found = []
    group = []
    fails = False

    def flush():
        nonlocal group, fails
        refused = bool(group) and group[0][1].startswith("%%FAIL")
        if len(group) >= 2 and not refused:
            (line, program), (_, given), *expected = group
            found.append((line, program, given, [text for _, text in expected], fails))
        group, fails = [], False

    # Not `splitlines`, which also splits at U+0085, U+2028 and other characters inside a case.
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            flush()
        elif not line.startswith("#") or (group and group[0][1].startswith("%%FAIL")):
            group.append((number, line))
        elif len(group) >= 2 and line.startswith("# Runtime error"):
            fails = True
    flush()
    return found


def strict_json(text):
    """`text` parsed as JSON, refusing NaN and Infinity (Python reads them); None if not JSON."""

    def refuse(constant):
        raise ValueError(constant)

    try:
        return True, json.loads(text, parse_constant=refuse)
    except ValueError:
        return False, None


def same(a, b):
    """Whether two JSON values are equal, numbers by value."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(v, b[k]) for k, v in a.items())
    return type(a) is type(b) and a == b


def differ_in_strings(a, b):
    """Whether `a` and `b` have the same shape and differ only where both hold strings."""
    if isinstance(a, str) and isinstance(b, str):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(differ_in_strings(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(differ_in_strings(v, b[k]) for k, v in a.items())
    return same(a, b)


def run(runnel, timeout_ms, program, given, expected_texts, fails):
    """Runs one case: its verdict and what came out."""
    ok, _ = strict_json(given.lstrip("\ufeff"))
    if not ok:
        return "rejected", "input is not JSON"
    try:
        done = subprocess.run(
            [runnel, "jq", "--timeout-ms", str(timeout_ms), "--", program],
            input=given + "\n",
            capture_output=True,
            text=True,
            timeout=CASE_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        return "differs", "timed out"
    shown = f"exit {done.returncode}; stdout {done.stdout!r}; stderr {done.stderr.strip()!r}"
    if done.returncode == 3:
        return "rejected", shown
    outputs = []
    for line in done.stdout.split("\n")[:-1]:
        ok, value = strict_json(line)
        outputs.append(value if ok else object())
    expected = []
    for text in expected_texts:
        ok, value = strict_json(text)
        expected.append(value if ok else object())
    comparable = done.returncode == 0 and len(outputs) == len(expected)
    if comparable and all(same(got, want) for got, want in zip(outputs, expected)):
        return "pass", shown
    # jq fails without an output, and so does the input.
    if fails and not expected and not outputs and done.returncode == 5:
        return "pass", shown
    catches = "catch" in program or "?//" in program
    if catches and comparable and all(differ_in_strings(got, want) for got, want in zip(outputs, expected)):
        return "error wording", shown
    return "differs", shown


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", help="a jq test file, such as jq's tests/jq.test")
    parser.add_argument("--runnel", default="runnel", help="the runnel binary (default: runnel on PATH)")
    parser.add_argument(
        "--timeout-ms",
        type=int,
        default=1000,
        help="each case's time budget (default: the blocks' 1000; give more to a debug build, which runs jq about ten times slower)",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="list every case that does not pass")
    args = parser.parse_args()
    with open(args.file, encoding="utf-8") as file:
        found = cases(file.read())
    counts = {"pass": 0, "error wording": 0, "differs": 0, "rejected": 0}
    for line, program, given, expected, fails in found:
        verdict, shown = run(args.runnel, args.timeout_ms, program, given, expected, fails)
        counts[verdict] += 1
        if args.verbose and verdict != "pass":
            print(f"{verdict} at line {line}: {program}\n  input:    {given}\n  expected: {expected}\n  got:      {shown}")
    judged = len(found) - counts["error wording"]
    share = counts["pass"] * 100 / judged if judged else 0.0
    print(f"jq test suite: {len(found)} cases")
    print(f"  pass: {counts['pass']} ({share:.1f}% of the {judged} whose expected output is not jq's error wording)")
    print(f"  expected error wording: {counts['error wording']}")
    print(f"  differs: {counts['differs']}")
    print(f"  rejected: {counts['rejected']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
