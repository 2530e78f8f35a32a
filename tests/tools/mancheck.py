#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
"""Check that the manual pages name everything the CLI and the config reference have.

mancheck.py DROVER MAN8 MAN5 AGENT_MD

- Every command, keyword and option of `DROVER help` and of `DROVER OBJECT help` (each OBJECT
  the top-level grammar names) must be set in bold somewhere in MAN8.
- Every key of the configuration reference of AGENT_MD (its "## Configuration reference"
  section: the first column of each table, the keys of the "Node:" paragraph and the presets)
  must be set in bold somewhere in MAN5.
- MAN8's and MAN5's .TH source field must be `drover VERSION` of `DROVER --version`.

Bold is read from what groff renders (-Tascii, old-style overstrike), so any way of writing
bold in roff counts, and a word that is only mentioned in passing does not. Prints one line per
missing item, naming it and where it came from, and exits 1 if any; prints counts on success.
"""
import re
import subprocess
import sys

GRAMMAR_SPLIT = re.compile(r"[\s\[\]{}|]+")
OPTION = re.compile(r"(?<![\w-])--?[a-zA-Z][\w-]*")


def run(argv):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        sys.exit(f"mancheck: `{' '.join(argv)}` exited {p.returncode}: {p.stderr.strip()}")
    return p.stdout


def grammar_words(text):
    """The literal words of the grammar: Usage: lines, their continuations, and the
    two-space-indented option lines (`  --check  only validate ...`)."""
    words = []
    in_usage = False
    for line in text.splitlines():
        if line.startswith("Usage:"):
            in_usage = True
            gram = line[len("Usage:"):]
        elif in_usage and line.startswith("       "):
            gram = line
        else:
            in_usage = False
            m = re.match(r"  (\S.*?)(?:\s{2,}|$)", line)
            if not m:
                continue
            gram = m.group(1)
        gram = re.sub(r"\([^)]*\)?", " ", gram)  # remarks such as (IPv4 or IPv6)
        for w in GRAMMAR_SPLIT.split(gram):
            w = w.rstrip(".")
            if not w or w in (":=", "drover") or re.search(r"[A-Z]", w):
                continue  # metavariables (IFNAME, SVC, LO-HI) are upper case
            words.append(w)
    # options named anywhere, descriptions too (`--bpffs`, `-j`)
    words += OPTION.findall(text)
    return words


def cli_items(drover):
    """(word, where) for the top-level help and each object's."""
    top = run([drover, "help"])
    items = [(w, "drover help") for w in grammar_words(top)]
    objects = []
    for line in top.splitlines():
        m = re.match(r"(?:Usage:)?\s+drover\s+(?:\[[^\]]*\]\s+)?([a-z][a-z-]*)\b", line)
        if m and m.group(1) not in objects:
            objects.append(m.group(1))
    if len(objects) < 5:
        sys.exit(f"mancheck: found only the objects {objects} in `{drover} help`")
    for obj in objects:
        items += [(w, f"drover {obj} help") for w in grammar_words(run([drover, obj, "help"]))]
    return items, objects


def config_items(agent_md):
    text = open(agent_md, encoding="utf-8").read()
    m = re.search(r"^## Configuration reference\n(.*?)(?=^## )", text, re.M | re.S)
    if not m:
        sys.exit(f"mancheck: no '## Configuration reference' section in {agent_md}")
    items = []
    para = ""
    for line in m.group(1).splitlines():
        where = f"{agent_md}, configuration reference"
        if line.startswith("|") and not re.match(r"\|[-| ]+\|$", line):
            cell = line.split("|")[1]
            items += [(k, where + " table") for k in re.findall(r"`([^`]+)`", cell)]
        elif line.startswith("Node:"):
            para = "node"
        elif not line.strip():
            para = ""
        if para == "node":
            for k in re.findall(r"`([a-z][a-z-]*)(?::[^`]*)?`", line):
                items.append((k, where + ", Node:"))
        pm = re.match(r"- `([a-z0-9-]+)`:", line)
        if pm:
            items.append((pm.group(1), where + ", Presets:"))
    return items


def bold_words(page):
    """Every word groff renders in bold in PAGE (a very long line: no hyphenation breaks)."""
    out = subprocess.run(["groff", "-man", "-Tascii", "-P-c", "-rLL=2000n", page],
                         capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"})
    if out.returncode != 0:
        sys.exit(f"mancheck: groff failed on {page}: {out.stderr.strip()}")
    words = set()
    for m in re.finditer(r"(?:(.)\x08\1)+", out.stdout):
        text = re.sub(r"(.)\x08\1", r"\1", m.group(0))
        for w in re.split(r"[\s\[\]{}|(),;]+", text):
            w = w.rstrip(".:")
            if w:
                words.add(w)
                words.add(w.split("=")[0])
    return words


def th_source(page):
    for line in open(page, encoding="utf-8"):
        if line.startswith(".TH "):
            return re.findall(r'"[^"]*"|\S+', line)[4].strip('"')
    return None


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__.split("\n\n")[1])
    drover, man8, man5, agent_md = sys.argv[1:]
    missing = []
    cli, objects = cli_items(drover)
    keys = config_items(agent_md)
    for page, items in ((man8, cli), (man5, keys)):
        bold = bold_words(page)
        seen = set()
        for word, where in items:
            if word in seen:
                continue
            seen.add(word)
            if word not in bold:
                missing.append(f"{page} does not document '{word}' (from {where})")
    version = run([drover, "--version"]).split()[1]
    for page in (man8, man5):
        if th_source(page) != f"drover {version}":
            missing.append(f"{page}: .TH says '{th_source(page)}', the binary is drover {version}")
    for line in missing:
        print(line)
    if missing:
        return 1
    print(f"mancheck: {man8} has all {len(set(w for w, _ in cli))} CLI words of "
          f"{len(objects) + 1} help texts; {man5} all {len(set(k for k, _ in keys))} config keys")
    return 0


if __name__ == "__main__":
    sys.exit(main())
