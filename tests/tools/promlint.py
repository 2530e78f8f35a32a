#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
"""Lint a /metrics answer as a Prometheus server and `promtool check metrics` read it.

  promlint.py FILE              one line per problem ("FILE:LINE: what"), exit 1 if any,
                                0 and a one-line summary if none
  promlint.py --self-test FILE  FILE must pass; broken copies of it (one per rule) must not

What it enforces, from the text exposition format 0.0.4
(prometheus.io/docs/instrumenting/exposition_formats) and the naming rules of
prometheus.io/docs/practices/naming that promtool's lint (client_golang promlint)
checks. Debian ships promtool only inside the whole Prometheus server (package
prometheus: a 19 MB download, 96 MB installed, a daemon its install starts),
too much to add to scripts/install-deps.sh for one lint; tests run promtool
too where it is installed.

  - every line is a comment (# HELP, # TYPE, other), blank, or a sample
    NAME[{LABEL="VALUE",...}] VALUE [TIMESTAMP]; the answer ends with a newline;
  - metric and label names are valid, snake_case, label names not reserved (__*)
    and not le/quantile outside histograms and summaries, none twice in a sample;
  - label values use only the escapes \\\\, \\" and \\n; HELP text only \\\\ and \\n;
  - one HELP and one TYPE per family, both before its first sample; every sample's
    family has both; a family's samples are one block (no other family between);
  - no series twice (same name and label set, in any label order);
  - values are floats; counters are never negative nor NaN;
  - counters end in _total, other types do not; no _count/_sum/_bucket outside
    histograms and summaries; *_info gauges are 1;
  - units are base units: no _ms, _milliseconds, _microseconds, _nanoseconds,
    _minutes, _hours, _days, _kilobytes, _megabytes, _gigabytes, _bits, _percent;
    a name carries no type word (_counter, _gauge) either.
"""
import math
import re
import sys

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
SNAKE = re.compile(r"^[a-z_:][a-z0-9_:]*$")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}
BAD_UNITS = ("ms", "milliseconds", "microseconds", "nanoseconds", "us", "ns", "minutes", "hours",
             "days", "kilobytes", "megabytes", "gigabytes", "kb", "mb", "gb", "bits", "percent")
TYPE_WORDS = ("counter", "gauge", "histogram", "summary")
SUFFIXES = ("_bucket", "_count", "_sum")


def parse_labels(s, pos, line, err):
    """Labels from s[pos] == '{'; returns (list of (name, value), index after '}')."""
    labels = []
    i = pos + 1
    while True:
        if i < len(s) and s[i] == "}":
            return labels, i + 1
        m = re.compile(LABEL).match(s, i)
        if not m:
            err(line, "bad label name at column %d" % (i + 1))
            return None, None
        name = m.group(0)
        i = m.end()
        if s[i:i + 2] != '="':
            err(line, 'label %s: want ="VALUE"' % name)
            return None, None
        i += 2
        val = []
        while True:
            if i >= len(s):
                err(line, "label %s: value not closed" % name)
                return None, None
            c = s[i]
            if c == "\\":
                nxt = s[i + 1:i + 2]
                if nxt not in ("\\", '"', "n"):
                    err(line, "label %s: escape \\%s is not one of \\\\ \\\" \\n" % (name, nxt))
                    return None, None
                val.append({"n": "\n"}.get(nxt, nxt))
                i += 2
                continue
            if c == '"':
                i += 1
                break
            if c == "\n":
                err(line, "label %s: raw newline in a value" % name)
                return None, None
            val.append(c)
            i += 1
        labels.append((name, "".join(val)))
        if i < len(s) and s[i] == ",":
            i += 1
            continue
        if i < len(s) and s[i] == "}":
            return labels, i + 1
        err(line, "label %s: want , or } after its value" % name)
        return None, None


def parse_value(v):
    if v in ("+Inf", "Inf"):
        return math.inf
    if v == "-Inf":
        return -math.inf
    if v == "NaN":
        return math.nan
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", v):
        raise ValueError(v)
    return float(v)


def family_of(name, types):
    """The family a sample name belongs to (histogram/summary samples carry a suffix)."""
    if name in types:
        return name
    for suf in SUFFIXES:
        base = name[: -len(suf)]
        if name.endswith(suf) and types.get(base) in ("histogram", "summary"):
            return base
    return name


def series_str(key):
    """name{label="value",...} of a series key (labels sorted)."""
    name, labels = key
    return name + "{" + ",".join('%s="%s"' % kv for kv in labels) + "}"


def parse(path):
    """(problems, {family: type}, {(name, sorted labels): (line, value, family)}) of a file."""
    with open(path, encoding="utf-8") as f:
        return lint(f.read())


def enter(fam, current, closed, ln, err):
    """A line of family @fam: its group (HELP, TYPE, samples) must be one block."""
    if fam == current:
        return current
    if fam in closed:
        err(ln, "%s: its lines are split in two groups (another family between)" % fam)
    if current is not None:
        closed.add(current)
    return fam


def lint(text):
    problems = []

    def err(line, what):
        problems.append("%d: %s" % (line, what))

    if text and not text.endswith("\n"):
        err(text.count("\n") + 1, "the answer does not end with a newline")
    helps, types = {}, {}
    seen_sample = {}  # family -> line of its first sample
    series = {}
    closed = set()  # families whose block of samples has ended
    current = None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for ln, raw in enumerate(lines, 1):
        if raw.strip() == "":
            continue
        if raw.startswith("#"):
            parts = raw.split(None, 3)
            if len(parts) >= 2 and parts[1] in ("HELP", "TYPE"):
                if len(parts) < 3 or not re.fullmatch(NAME, parts[2]):
                    err(ln, "# %s without a valid metric name" % parts[1])
                    continue
                fam = parts[2]
                rest = parts[3] if len(parts) > 3 else ""
                current = enter(fam, current, closed, ln, err)
                if fam in seen_sample:
                    err(ln, "# %s %s after its samples (line %d)" % (parts[1], fam, seen_sample[fam]))
                if parts[1] == "HELP":
                    if fam in helps:
                        err(ln, "second HELP for %s (first at line %d)" % (fam, helps[fam]))
                    if re.search(r"\\[^\\n]", rest) or rest.endswith("\\") and not rest.endswith("\\\\"):
                        err(ln, "HELP %s: escape other than \\\\ or \\n" % fam)
                    if not rest.strip():
                        err(ln, "HELP %s is empty" % fam)
                    helps[fam] = ln
                else:
                    if fam in types:
                        err(ln, "second TYPE for %s" % fam)
                    if rest not in TYPES:
                        err(ln, "TYPE %s: unknown type %r" % (fam, rest))
                    types[fam] = rest
                    lint_name(fam, rest, ln, err)
            continue
        m = re.compile(NAME).match(raw)
        if not m:
            err(ln, "not a sample: %r" % raw)
            continue
        name = m.group(0)
        i = m.end()
        labels = []
        if i < len(raw) and raw[i] == "{":
            labels, i = parse_labels(raw, i, ln, err)
            if labels is None:
                continue
        rest = raw[i:]
        if not rest.startswith(" "):
            err(ln, "%s: want a space before the value" % name)
            continue
        fields = rest.split(" ")[1:]
        if len(fields) not in (1, 2):
            err(ln, "%s: want VALUE [TIMESTAMP], got %r" % (name, rest.strip()))
            continue
        try:
            value = parse_value(fields[0])
        except ValueError:
            err(ln, "%s: value %r is not a float" % (name, fields[0]))
            continue
        if len(fields) == 2 and not re.fullmatch(r"-?\d+", fields[1]):
            err(ln, "%s: timestamp %r is not integer milliseconds" % (name, fields[1]))
        fam = family_of(name, types)
        if fam not in types:
            err(ln, "%s has no # TYPE before it" % name)
        if fam not in helps:
            err(ln, "%s has no # HELP before it" % name)
        current = enter(fam, current, closed, ln, err)
        seen_sample.setdefault(fam, ln)
        names = [k for k, _ in labels]
        for k in names:
            if k.startswith("__"):
                err(ln, "%s: label %s is reserved (__*)" % (name, k))
            if not SNAKE.match(k):
                err(ln, "%s: label %s is not snake_case" % (name, k))
        dup = {k for k in names if names.count(k) > 1}
        if dup:
            err(ln, "%s: label %s given twice" % (name, ", ".join(sorted(dup))))
        t = types.get(fam)
        if t not in ("histogram", "summary"):
            for k in ("le", "quantile"):
                if k in names:
                    err(ln, "%s: label %s belongs to histograms and summaries" % (name, k))
        if t == "counter" and (math.isnan(value) or value < 0):
            err(ln, "counter %s is %s" % (name, fields[0]))
        if t == "gauge" and fam.endswith("_info") and value != 1:
            err(ln, "info metric %s is %s, not 1" % (name, fields[0]))
        key = (name, tuple(sorted(labels)))
        if key in series:
            err(ln, "series %s given twice (first at line %d)" % (series_str(key), series[key][0]))
        else:
            series[key] = (ln, value, fam)
    for fam in sorted(set(types) - set(helps)):
        err(0, "%s has a TYPE but no HELP" % fam)
    for fam in sorted(set(helps) - set(types)):
        err(0, "%s has a HELP but no TYPE" % fam)
    return problems, types, series


def lint_name(fam, typ, ln, err):
    if not SNAKE.match(fam):
        err(ln, "%s is not snake_case" % fam)
    if ":" in fam:
        err(ln, "%s: colons are for recording rules" % fam)
    words = fam.split("_")
    if typ == "counter" and not fam.endswith("_total"):
        err(ln, "counter %s does not end in _total" % fam)
    if typ != "counter" and fam.endswith("_total"):
        err(ln, "%s %s ends in _total, which is for counters" % (typ, fam))
    if typ not in ("histogram", "summary"):
        for suf in SUFFIXES:
            if fam.endswith(suf):
                err(ln, "%s %s ends in %s, which is for histograms and summaries" % (typ, fam, suf))
    for u in BAD_UNITS:
        if u in words:
            err(ln, "%s: unit %s is not a base unit (seconds, bytes, ratio)" % (fam, u))
    for w in TYPE_WORDS:
        if w in words:
            err(ln, "%s: the name holds its type (%s)" % (fam, w))


# Broken copies of a good answer, each one rule's violation: the lint must reject every one.
def mutations(text):
    lines = text.split("\n")
    first = {}  # family -> index of its first sample line
    types = {}
    for i, l in enumerate(lines):
        if l.startswith("# TYPE "):
            _, _, fam, typ = l.split(" ", 3)
            types[fam] = typ
        elif l and not l.startswith("#"):
            first.setdefault(re.match(NAME, l).group(0), i)
    counter = next(f for f, t in types.items() if t == "counter" and f in first)
    gauge = next(f for f, t in types.items() if t == "gauge" and f in first)
    labelled = next(i for i in sorted(first.values()) if "{" in lines[i])
    c, g = first[counter], first[gauge]

    def edit(i, new):
        out = list(lines)
        out[i] = new
        return "\n".join(out)

    def move(i, to):
        out = list(lines)
        out.insert(to, out.pop(i))
        return "\n".join(out)

    return [
        ("duplicate series", edit(g, lines[g] + "\n" + lines[g])),
        ("a sample after another family", move(g, len(lines) - 1)),
        ("TYPE after the samples", move(g - 1, g)),
        ("no HELP", text.replace("# HELP %s " % gauge, "# XHELP %s " % gauge, 1)),
        ("gauge ending in _total", text.replace("# TYPE %s counter" % counter,
                                                "# TYPE %s gauge" % counter, 1)),
        ("counter without _total", text.replace(counter, counter[: -len("_total")])),
        ("unit not a base unit", text.replace(gauge, gauge + "_ms")),
        ("bad escape in a label value", edit(labelled, lines[labelled].replace('="', '="\\q', 1))),
        ("label given twice", edit(labelled, lines[labelled].replace("{", '{x="1",x="2",', 1))),
        ("reserved label name", edit(labelled, lines[labelled].replace("{", '{__x="1",', 1))),
        ("negative counter", edit(c, lines[c].rsplit(" ", 1)[0] + " -1")),
        ("value not a float", edit(g, lines[g].rsplit(" ", 1)[0] + " one")),
        ("sample of no family", edit(g, "drover_undeclared 1\n" + lines[g])),
        ("no final newline", text.rstrip("\n")),
    ]


def self_test(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    problems = lint(text)[0]
    if problems:
        print("promlint --self-test: %s must pass first: %s" % (path, problems[0]))
        return 1
    bad = 0
    for what, broken in mutations(text):
        if not lint(broken)[0]:
            print("promlint --self-test: a copy with %s passed" % what)
            bad += 1
    if bad:
        return 1
    print("promlint --self-test: %d broken copies rejected" % len(mutations(text)))
    return 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--self-test":
        return self_test(sys.argv[2])
    if len(sys.argv) != 2:
        sys.exit("usage: promlint.py FILE | --self-test FILE")
    problems, types, series = parse(sys.argv[1])
    for p in problems[:50]:
        print("%s:%s" % (sys.argv[1], p))
    if len(problems) > 50:
        print("%s: ... and %d more" % (sys.argv[1], len(problems) - 50))
    if problems:
        return 1
    print("promlint: %d families, %d series: ok" % (len(types), len(series)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
