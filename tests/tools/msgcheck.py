#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
"""Check the form of the messages drover's commands print (pr_warn in FILES):

- each opens with the word that says what it is: "Error: ", "Warning: " or
  "Note: " (the agent's log puts its level in that word's place);
- each Error: and Warning: says what to do: a clause after its cause (after
  ';', ':', '(' or ',') holds an advice verb or a command to run.

A text that is only "Error: %s\\n" prints a message built elsewhere (said
there) and is skipped; a call that passes a hint (an argument naming one,
as drv_root_err_hint(err)) gives its advice there. Prints each offence as
FILE:LINE: why: text, and exits 1 if there is any.
Usage: msgcheck.py FILE.c...
"""
import re
import sys

ADVICE = re.compile(
    r"\b(run|rerun|retry|attach|detach|give|pass|use|check|remove|mount|fix|see|free|raise|"
    r"set|stop|take|try|leave|add|load|upgrade|install|grant|make|write|allow|let|delete|"
    r"rename|wait|reload|turn|drop|unload|rm|mkdir|ip|sysctl|bpftool|drover|systemctl|"
    r"kill|manage|restore|update|choose|change|tried again|retrying)\b")
CALL = re.compile(r"\bpr_warn\s*\(\s*((?:\"(?:[^\"\\]|\\.)*\"\s*)+)([^;]*)")
LIT = re.compile(r"\"((?:[^\"\\]|\\.)*)\"")
WORDS = ("Error: ", "Warning: ", "Note: ")


def offences(path):
    src = open(path, encoding="utf-8").read()
    for m in CALL.finditer(src):
        line = src.count("\n", 0, m.start()) + 1
        text = "".join(LIT.findall(m.group(1)))
        if not text.startswith(WORDS):
            yield line, text, "opens with no Error:, Warning: or Note:"
            continue
        if text.startswith("Note: ") or re.fullmatch(r"(Error|Warning): %s(\\n)?", text):
            continue
        if re.search(r"hint", m.group(2)):
            continue
        body = text.split(": ", 1)[1]
        # the advice follows the failure and its cause: a later clause
        clauses = re.split(r"; |: |\(|, ", body)[1:]
        if not any(ADVICE.search(c) for c in clauses):
            yield line, text, "says what failed but not what to do"


def main(argv):
    bad = 0
    for path in argv[1:]:
        for line, text, why in offences(path):
            print(f"{path}:{line}: {why}: {text}")
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
