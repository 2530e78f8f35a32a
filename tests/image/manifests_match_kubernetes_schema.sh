#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# Every kustomize directory of deploy/ renders and passes, offline: the Kubernetes schema
# (kubernetes-models), the unknown-field check (tsc + kubernetes-types), the API server's Go
# rules and drover's invariants (manifests.py rules). Each checker must also reject a broken
# copy, so a checker that accepts anything fails this test.
set -eu
source "$(dirname "$0")/lib.sh"

[ -d "$NPM_DIR/node_modules/kubernetes-models" ] || fail "npm tools missing: run scripts/install-image-deps.sh"
M=$IMG_TOP/tests/image/manifests.py
V=$IMG_TOP/tests/image/k8s-validate.js
n=0
for d in "$IMG_TOP"/deploy/*/; do
	[ -f "$d/kustomization.yaml" ] || continue
	name=$(basename "$d")
	python3 "$M" render "$d" > "$E2E_TMP/$name.json" || fail "deploy/$name does not render"
	if command -v kubectl >/dev/null 2>&1; then
		# The renderer must agree with kustomize itself wherever kubectl is installed.
		kubectl kustomize "$d" > "$E2E_TMP/$name.k.yaml" || fail "kubectl kustomize deploy/$name failed"
		python3 - "$E2E_TMP/$name.json" "$E2E_TMP/$name.k.yaml" <<'PY' || fail "deploy/$name: manifests.py render differs from kubectl kustomize"
import json, sys, yaml
a = json.load(open(sys.argv[1]))
b = [d for d in yaml.safe_load_all(open(sys.argv[2])) if d]
k = lambda o: (o["kind"], o["metadata"]["name"])
sys.exit(0 if sorted(a, key=k) == sorted(b, key=k) else 1)
PY
		log "deploy/$name: render == kubectl kustomize"
	else
		log "kubectl not installed: render not compared with kustomize (the checks below still run)"
	fi
	python3 "$M" rules "$E2E_TMP/$name.json" || fail "deploy/$name breaks the rules above"
	n=$((n + $(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$E2E_TMP/$name.json")))
	files+=("$E2E_TMP/$name.json")
done
[ "$n" -ge 4 ] || fail "expected at least 4 objects under deploy/, found $n"
node "$V" "$NPM_DIR" "${files[@]}" || fail "schema or unknown fields: see above"
log "$n objects from ${#files[@]} kustomize directories: schema, fields and rules ok"

# The checkers must catch each kind of mistake.
python3 - "$E2E_TMP/base.json" "$E2E_TMP" <<'PY'
import copy, json, sys
objs = json.load(open(sys.argv[1]))
def ds(o):
    return [x for x in o if x["kind"] == "DaemonSet"][0]
def c0(o):
    return ds(o)["spec"]["template"]["spec"]["containers"][0]
cases = {
    "unknown_field": lambda o: ds(o)["spec"]["template"]["spec"].__setitem__("hostNetwrok", True),
    "wrong_type": lambda o: c0(o)["readinessProbe"]["httpGet"].__setitem__("path", 5),
    "missing_required": lambda o: c0(o).pop("name"),
    "bidirectional_unprivileged": lambda o: c0(o)["volumeMounts"][0].__setitem__("mountPropagation", "Bidirectional"),
    "extra_capability": lambda o: c0(o)["securityContext"]["capabilities"]["add"].append("SYS_ADMIN"),
    "probe_on_node_ip": lambda o: c0(o)["livenessProbe"]["httpGet"].pop("host"),
    # a value of the right type the API's enum does not have: only the schema validator sees it
    "enum_value": lambda o: c0(o).__setitem__("imagePullPolicy", "Sometimes"),
}
for name, mutate in cases.items():
    o = copy.deepcopy(objs)
    mutate(o)
    json.dump(o, open(f"{sys.argv[2]}/bad_{name}.json", "w"))
PY
# Every copy goes to both: the rules and one run of the schema/field checker, whose output
# names the file of every problem. The schema's own cases must be caught by the schema checker
# (not only by a rule that happens to look at the same field), every case by at least one.
node "$V" "$NPM_DIR" "$E2E_TMP"/bad_*.json >"$E2E_TMP/bad.out" 2>&1 || true
for f in "$E2E_TMP"/bad_*.json; do
	name=$(basename "$f" .json)
	by_schema=0 by_rules=0
	grep -q "^$f: " "$E2E_TMP/bad.out" && by_schema=1
	python3 "$M" rules "$f" >/dev/null 2>&1 || by_rules=1
	case $name in
	bad_unknown_field | bad_wrong_type | bad_missing_required | bad_enum_value)
		[ $by_schema = 1 ] || fail "$name: the schema checker accepted it: $(cat "$E2E_TMP/bad.out")" ;;
	*) [ $((by_schema + by_rules)) -gt 0 ] || fail "$name: the checkers accepted a broken manifest" ;;
	esac
done
log "7 broken copies rejected (the 4 schema mistakes by the schema checker itself)"

# The ConfigMap's config is examples/rancher.yaml (the agent's documented Rancher example) but for
# metrics.listen. (image_holds_only_a_static_drover.sh runs the image's `run --check` on it.)
python3 - "$IMG_TOP/deploy/base/drover.yaml" "$IMG_TOP/examples/rancher.yaml" <<'PY' ||
import sys, yaml
a, b = (yaml.safe_load(open(f)) for f in sys.argv[1:3])
a.get("metrics", {}).pop("listen", None)
b.get("metrics", {}).pop("listen", None)
sys.exit(0 if a == b else 1)
PY
	fail "deploy/base/drover.yaml differs from examples/rancher.yaml beyond metrics.listen: copy it again"
log "deploy/base/drover.yaml = examples/rancher.yaml but metrics.listen"

# The manifests deploy the image `make image` builds.
want=localhost/drover:$IMAGE_VERSION
for f in "${files[@]}"; do
	got=$(jq -r '.[] | select(.kind == "DaemonSet") | .spec.template.spec | (.initContainers // []) + .containers | .[] | .image | select(startswith("localhost/drover"))' "$f" | sort -u)
	[ -z "$got" ] || [ "$got" = "$want" ] || fail "$(basename "$f" .json) deploys $got, make image builds $want"
done
log "manifests deploy $want"
