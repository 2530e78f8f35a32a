#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
"""Check drover's alerting rules against a real /metrics answer of the agent, so the
rules cannot drift from the code (promtool, where installed, checks their syntax).

  promrules.py RULES PROMETHEUSRULE METRICS
      RULES (a Prometheus rule file) and PROMETHEUSRULE (the same groups in a
      monitoring.coreos.com/v1 PrometheusRule) must hold the same groups, and in
      every expression:
        - each metric is one METRICS serves (or `up`, the scrape's own);
        - each label matched, grouped by or templated ($labels.X) is one of those
          metrics' labels, or a target label (instance, job);
        - each value matched (=, !=, each word of a =~ or !~ alternation) is one
          METRICS has for that label; a regex matches at least one;
      every rule has alert, expr, labels.severity (critical, warning, info), a
      summary and a description. One line per problem, exit 1 if any.
  promrules.py --self-test RULES PROMETHEUSRULE METRICS
      the files must pass, and broken copies of them (one per check) must not.
"""
import copy
import os
import re
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import promlint  # noqa: E402

TARGET_LABELS = {"instance", "job"}
TARGET_METRICS = {"up": TARGET_LABELS}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
            "unless", "bool", "offset", "inf", "nan"}
SEVERITIES = {"critical", "warning", "info"}
DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")


def served(metrics_path):
    """{metric name: {label: set of values}} of a /metrics answer."""
    problems, _, series = promlint.parse(metrics_path)
    if problems:
        sys.exit("%s is not clean Prometheus text: %s" % (metrics_path, problems[0]))
    out = {}
    for (name, labels) in series:
        d = out.setdefault(name, {})
        for k, v in labels:
            d.setdefault(k, set()).add(v)
    return out


def check_expr(expr, have, err):
    """Problems of one PromQL expression; returns the labels its result may carry."""
    carried = set(TARGET_LABELS)
    grouped = None
    # Label lists of by/without/on/ignoring/group_*: their names are labels.
    lists = []

    def take_list(m):
        lists.append((m.group(1), [x.strip() for x in m.group(2).split(",") if x.strip()]))
        return " "

    rest = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", take_list,
                  expr)
    rest = re.sub(r"\[[^\]]*\]", " ", rest)  # range selectors: [5m]
    used = {}
    pos = 0
    tok = re.compile(r'"(?:\\.|[^"\\])*"|(%s)(\s*\{([^}]*)\})?|\{([^}]*)\}' % promlint.NAME)
    while True:
        m = tok.search(rest, pos)
        if not m:
            break
        pos = m.end()
        if m.group(1) is None:
            if m.group(4) is not None:
                err("a selector without a metric name: {%s}" % m.group(4))
            continue
        name = m.group(1)
        after = rest[m.end(1):].lstrip()
        if m.group(2) is None and (after.startswith("(") or name in KEYWORDS or
                                   re.fullmatch(r"\d.*", name)):
            continue  # a function call, a keyword
        labels = have.get(name)
        if labels is None and name in TARGET_METRICS:
            labels = {k: None for k in TARGET_METRICS[name]}
        if labels is None:
            err("metric %s is not served by the agent" % name)
            continue
        used[name] = labels
        for mm in re.finditer(r'\s*(%s)\s*(=~|!~|!=|=)\s*"((?:\\.|[^"\\])*)"\s*,?' % promlint.LABEL,
                              m.group(3) or ""):
            label, op, value = mm.groups()
            if label in TARGET_LABELS:
                continue
            if label not in labels:
                err("%s has no label %s (it has: %s)" % (name, label, ", ".join(sorted(labels)) or
                                                         "none"))
                continue
            values = labels[label]
            if op in ("=", "!="):
                words = [value]
            elif re.fullmatch(r"[A-Za-z0-9_.:-]+(\|[A-Za-z0-9_.:-]+)*", value):
                words = value.split("|")
            else:
                if not any(re.fullmatch(value, v) for v in values):
                    err('%s{%s%s"%s"} matches none of the values served: %s' %
                        (name, label, op, value, ", ".join(sorted(values))))
                continue
            for w in words:
                if w not in values:
                    err('%s{%s%s"%s"}: %s is not a value served for %s (served: %s)' %
                        (name, label, op, value, w, label, ", ".join(sorted(values))))
    if not used:
        err("no metric of the agent in: %s" % expr)
    for name, labels in used.items():
        carried |= set(labels)
    for kind, names in lists:
        for n in names:
            if n not in carried:
                err("%s (%s) is a label of none of %s" % (n, kind, ", ".join(sorted(used))))
        if kind == "by":
            grouped = set(names)
        elif kind == "without":
            grouped = carried - set(names)
    return carried if grouped is None else grouped


def check(rules_path, pr_path, metrics_path, rules=None, pr=None):
    problems = []
    with open(rules_path) as f:
        rules = rules if rules is not None else yaml.safe_load(f)
    with open(pr_path) as f:
        pr = pr if pr is not None else yaml.safe_load(f)
    have = served(metrics_path)
    if pr.get("kind") != "PrometheusRule" or pr.get("apiVersion") != "monitoring.coreos.com/v1":
        problems.append("%s is not a monitoring.coreos.com/v1 PrometheusRule" % pr_path)
    if pr.get("spec", {}).get("groups") != rules.get("groups"):
        problems.append("%s's spec.groups differ from %s's groups: copy them over" %
                        (pr_path, rules_path))
    n = 0
    for g in rules.get("groups") or []:
        for r in g.get("rules") or []:
            n += 1
            what = r.get("alert") or r.get("record") or "rule %d" % n

            def err(msg, what=what):
                problems.append("%s: %s: %s" % (rules_path, what, msg))

            if "alert" not in r:
                err("not an alerting rule")
            if not isinstance(r.get("expr"), str):
                err("no expr")
                continue
            carried = check_expr(r["expr"], have, err)
            if "for" in r and not DURATION.match(str(r["for"])):
                err("for: %r is not a duration" % r["for"])
            sev = (r.get("labels") or {}).get("severity")
            if sev not in SEVERITIES:
                err("labels.severity is %r, not one of %s" % (sev, ", ".join(sorted(SEVERITIES))))
            ann = r.get("annotations") or {}
            for k in ("summary", "description"):
                if not ann.get(k):
                    err("no annotations.%s" % k)
            for k, text in list(ann.items()) + list((r.get("labels") or {}).items()):
                for lab in re.findall(r"\$labels\.(\w+)", str(text)):
                    if lab not in carried:
                        err("%s uses $labels.%s, which its expression's result does not carry "
                            "(it carries: %s)" % (k, lab, ", ".join(sorted(carried))))
    if not n:
        problems.append("%s holds no rule" % rules_path)
    return problems, n


def self_test(rules_path, pr_path, metrics_path):
    problems, n = check(rules_path, pr_path, metrics_path)
    if problems:
        print("promrules --self-test: the files must pass first: %s" % problems[0])
        return 1
    with open(rules_path) as f:
        rules = yaml.safe_load(f)
    with open(pr_path) as f:
        pr = yaml.safe_load(f)

    def edited(fn):
        r = copy.deepcopy(rules)
        fn(r["groups"][0]["rules"])
        p = copy.deepcopy(pr)
        p["spec"]["groups"] = copy.deepcopy(r["groups"])
        return r, p

    def by_expr(pattern):
        return lambda rs: next(x for x in rs if re.search(pattern, x["expr"]))

    def sub(pattern, a, b, key="expr"):
        def fn(rs):
            x = by_expr(pattern)(rs)
            x[key] = x[key].replace(a, b) if key == "expr" else b
        return fn

    def ann(pattern, text):
        def fn(rs):
            by_expr(pattern)(rs)["annotations"]["summary"] = text
        return fn

    cases = [
        ("a metric renamed", edited(sub("drover_ready", "drover_ready", "drover_is_ready"))),
        ("a label value the agent never serves",
         edited(sub("snat_exhausted", "snat_exhausted", "snat_exhaustion"))),
        ("a label the metric lacks", edited(sub(r"map=\"flows\"", 'map="flows"', 'table="flows"'))),
        ("a by() label no metric has", edited(sub(r"by \(", "reason)", "cause)"))),
        ("a $labels the result lacks",
         edited(ann(r"by \(", "{{ $labels.service }} drops"))),
        ("no severity", edited(lambda rs: rs[0]["labels"].pop("severity"))),
        ("the PrometheusRule's groups differ", (rules, dict(pr, spec={"groups": []}))),
    ]
    bad = 0
    for what, (r, p) in cases:
        if not check(rules_path, pr_path, metrics_path, r, p)[0]:
            print("promrules --self-test: a copy with %s passed" % what)
            bad += 1
    if bad:
        return 1
    print("promrules --self-test: %d broken copies rejected" % len(cases))
    return 0


def main():
    args = sys.argv[1:]
    if len(args) == 4 and args[0] == "--self-test":
        return self_test(*args[1:])
    if len(args) != 3:
        sys.exit("usage: promrules.py [--self-test] RULES PROMETHEUSRULE METRICS")
    problems, n = check(*args)
    for p in problems:
        print(p)
    if problems:
        return 1
    print("promrules: %d rules use only metrics, labels and values the agent serves" % n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
