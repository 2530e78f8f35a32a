#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# The image is FROM scratch with one file, a static drover built from the same sources as
# .output/drover (same version line), whose libmicrohttpd TLS references all land on
# drv_no_gnutls (deploy/image/no-gnutls.c); its entrypoint runs the agent on the ConfigMap's
# path, and that binary accepts deploy/base's drover.yaml.
set -eu
source "$(dirname "$0")/lib.sh"
require_root # podman's root store is where make image put the image
require_image
[ -x "$DROVER_STATIC" ] || fail "$DROVER_STATIC not built: make .output/drover-static"

readelf -lW "$DROVER_STATIC" | grep -q 'Requesting program interpreter' &&
	fail "$DROVER_STATIC has a program interpreter: not static"
readelf -dW "$DROVER_STATIC" 2>/dev/null | grep -q NEEDED && fail "$DROVER_STATIC needs shared libraries"
[ "$("$DROVER_STATIC" -V)" = "$("$DROVER" -V)" ] ||
	fail "static and dynamic drover differ: '$("$DROVER_STATIC" -V)' vs '$("$DROVER" -V)'"
log "static: $("$DROVER_STATIC" -V)"

# Every gnutls_* libmicrohttpd needs is drv_no_gnutls, except the two no-ops it calls without TLS.
stub=$(nm "$DROVER_STATIC" | awk '$3 == "drv_no_gnutls" { print $1 }')
[ -n "$stub" ] || fail "drv_no_gnutls is not in $DROVER_STATIC"
n=0
while read -r addr _ sym; do
	case $sym in gnutls_global_init | gnutls_global_deinit | gnutls_malloc) continue ;; esac
	[ "$addr" = "$stub" ] || fail "$sym is not drv_no_gnutls in $DROVER_STATIC: a real GnuTLS got linked?"
	n=$((n + 1))
done < <(nm "$DROVER_STATIC" | awk '$3 ~ /^gnutls_/')
[ "$n" -ge 10 ] || fail "only $n gnutls_* symbols point at drv_no_gnutls; expected libmicrohttpd's ~34"
log "$n GnuTLS symbols of libmicrohttpd.a resolve to drv_no_gnutls"

cfg=$(podman image inspect -f '{{json .Config}}' "$IMAGE")
jq -e '.Entrypoint == ["/usr/bin/drover"] and .Cmd == ["run", "config", "/etc/drover/drover.yaml"]' \
	<<<"$cfg" >/dev/null || fail "image entrypoint/cmd: $cfg"

# The files of the image, from the OCI archive make image wrote.
ARCHIVE=$IMG_TOP/.output/drover-image.tar
[ -f "$ARCHIVE" ] || fail "$ARCHIVE missing: make image"
files=$(python3 - "$ARCHIVE" <<'PY'
import io, json, sys, tarfile
t = tarfile.open(sys.argv[1])
blob = lambda d: t.extractfile("blobs/" + d.replace(":", "/")).read()
idx = json.loads(t.extractfile("index.json").read())
man = json.loads(blob(idx["manifests"][0]["digest"]))
for layer in man["layers"]:
    for m in tarfile.open(fileobj=io.BytesIO(blob(layer["digest"]))).getmembers():
        if not m.isdir():
            print(m.name.lstrip("./"), m.size, oct(m.mode))
PY
) || fail "cannot read $ARCHIVE"
log "image files: $files"
[ "$(echo "$files" | wc -l)" -eq 1 ] && [ "$(echo "$files" | cut -d' ' -f1)" = usr/bin/drover ] ||
	fail "the image must hold only usr/bin/drover, holds: $files"
size=$(echo "$files" | cut -d' ' -f2)
[ "$size" -lt $((16 * 1024 * 1024)) ] || fail "usr/bin/drover is $size bytes: more than 16 MiB"

# /etc/drover as the pod sees it: the ConfigMap's drover.yaml and the Secret's client certificate
# for the kube-apiserver check (a throwaway one here).
mkdir -p "$E2E_TMP/etc"
cp "$IMG_TOP/deploy/base/drover.yaml" "$E2E_TMP/etc/"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=drover-check \
	-keyout "$E2E_TMP/etc/apiserver-check.key" -out "$E2E_TMP/etc/apiserver-check.crt" 2>/dev/null ||
	fail "openssl could not make a test certificate"
out=$(podman run --rm --network none -v "$E2E_TMP/etc:/etc/drover:ro" \
	"$IMAGE" run config /etc/drover/drover.yaml --check 2>&1) || fail "the image refuses deploy/base/drover.yaml: $out"
log "in the image: $out"
[ "$(podman run --rm --network none "$IMAGE" -V)" = "$("$DROVER" -V)" ] || fail "the image's drover is not this build's"

# The image the tests run holds this clone's binary, byte for byte (make image strips
# $DROVER_STATIC into it): the version line above is the same in every clone's build.
on_exit "podman_rm $T-files"
podman create -q --name "$T-files" "$IMAGE" >/dev/null || fail "podman create $IMAGE failed"
podman cp "$T-files:/usr/bin/drover" "$E2E_TMP/image-drover" || fail "cannot copy /usr/bin/drover out of $IMAGE"
strip -o "$E2E_TMP/own-drover" "$DROVER_STATIC"
cmp -s "$E2E_TMP/image-drover" "$E2E_TMP/own-drover" ||
	fail "image $IMAGE holds another /usr/bin/drover ($(stat -c %s "$E2E_TMP/image-drover") bytes) than this clone's stripped $DROVER_STATIC ($(stat -c %s "$E2E_TMP/own-drover") bytes): the tests would run another build"
log "image $IMAGE: one static file, $((size / 1024)) KiB, this clone's build"
