#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
"""Compare two /metrics answers as Prometheus' rate() and increase() see them.

  promseries.py fell BEFORE AFTER [--except REGEX]
      Every counter series in both answers whose value fell (rate() takes a fall
      for a restart from 0 and counts the whole new value as increase). One line
      per series, exit 1 if any. Series whose name{labels} matches REGEX are left out.
  promseries.py get FILE 'name{label="value",...}'
      The value of exactly that series (labels in any order); exit 1 if absent.
"""
import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import promlint  # noqa: E402


def load(path):
    problems, types, series = promlint.parse(path)
    if problems:
        sys.exit("%s is not clean Prometheus text: %s" % (path, problems[0]))
    return types, series


def key_of(text):
    m = re.fullmatch(r"(%s)(\{.*\})?" % promlint.NAME, text)
    if not m:
        sys.exit("not a series: %r" % text)
    labels = []
    if m.group(2):
        labels, end = promlint.parse_labels(text, m.start(2), 0, lambda ln, what: sys.exit(what))
        if end != len(text):
            sys.exit("not a series: %r" % text)
    return (m.group(1), tuple(sorted(labels)))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fell")
    f.add_argument("before")
    f.add_argument("after")
    f.add_argument("--except", dest="exc")
    g = sub.add_parser("get")
    g.add_argument("file")
    g.add_argument("series")
    a = ap.parse_args()
    if a.cmd == "get":
        _, series = load(a.file)
        k = key_of(a.series)
        if k not in series:
            return 1
        v = series[k][1]
        print(int(v) if v == int(v) else v)
        return 0
    types, before = load(a.before)
    _, after = load(a.after)
    fell = 0
    for k, (_, v, fam) in sorted(before.items()):
        if types.get(fam) != "counter" or k not in after:
            continue
        s = promlint.series_str(k)
        if a.exc and re.search(a.exc, s):
            continue
        if after[k][1] < v:
            print("%s fell from %g to %g" % (s, v, after[k][1]))
            fell += 1
    return 1 if fell else 0


if __name__ == "__main__":
    sys.exit(main())
