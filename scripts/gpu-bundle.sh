#!/usr/bin/env bash
# Pack the binaries that scripts/gpu-check.sh runs into one small archive that the device
# tool can carry to a GPU machine (issue 7; its carry limit is 64 MiB for the whole working
# tree, ~15 MB of which is the tracked files).
#
#   eval "$(scripts/cuda-toolchain.sh)"
#   CARGO_TARGET_DIR=target-cuda cargo build --release --features cuda \
#       -p unlearn-cli -p unlearn-models --examples
#   scripts/gpu-bundle.sh                 # -> target/gpu-bundle/gpu-bins.tar.xz
#
# The release binaries keep debug info (224 MB for `unlearn`); stripped they are ~68 MB
# each, most of it candle's CUDA kernels (the same in all three), so the archive is one
# solid xz stream with a dictionary larger than one binary: the copies compress to almost
# nothing. gpu-check.sh unpacks it with python3's tarfile/lzma (no xz needed there).
#
# The CUDA libraries do not fit (libcublasLt.so.13 alone is 541 MB, libcurand.so.10 133 MB,
# 41 MB as xz: with the tracked files that is over the limit); gpu-check.sh takes them from
# the GPU machine's torch environment (nvidia/cu13/lib). As a last resort the bundle holds
# lib/curand-shim/libcurand.so.10, a few-KB stand-in built here: candle creates a cuRAND
# generator when it opens the device, but this project draws no random numbers on the GPU
# (initial values and augmentation come from seeded CPU streams), so the shim lets the
# binaries start when the real cuRAND is missing; a GPU random draw then fails with an
# error (CURAND_STATUS_INTERNAL_ERROR). gpu-check.sh uses it only when no libcurand.so.10
# is found, and says so.
#
# Env: TARGET_DIR (default target-cuda), BUNDLE_DIR (default target/gpu-bundle).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
target="${TARGET_DIR:-target-cuda}"
out="${BUNDLE_DIR:-target/gpu-bundle}"
for a in "$@"; do
  case "$a" in
    -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
    *) echo "gpu-bundle: unknown argument $a" >&2; exit 1 ;;
  esac
done

bins=(
  "$target/release/unlearn"
  "$target/release/examples/bench_step"
  "$target/release/examples/device_agreement"
)
for b in "${bins[@]}"; do
  [[ -x "$b" ]] || { echo "gpu-bundle: $b missing (build it first, see the header)" >&2; exit 1; }
done

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib/curand-shim" "$out"
for b in "${bins[@]}"; do
  strip --strip-debug -o "$stage/bin/$(basename "$b")" "$b"
done
# The cuRAND stand-in: the 8 entry points the binaries import, under the real library's
# symbol version (libcurand.so.10), so the loader binds them without complaint.
cat > "$stage/curand_shim.c" <<'EOF'
/* libcurand.so.10 stand-in (scripts/gpu-bundle.sh): generators can be made, seeded, bound
   to a stream and destroyed; every draw fails with CURAND_STATUS_INTERNAL_ERROR (999). */
#include <stddef.h>
static int dummy_generator;
int curandCreateGenerator(void **gen, int type) { (void)type; *gen = &dummy_generator; return 0; }
int curandDestroyGenerator(void *gen) { (void)gen; return 0; }
int curandSetStream(void *gen, void *stream) { (void)gen; (void)stream; return 0; }
int curandSetPseudoRandomGeneratorSeed(void *gen, unsigned long long seed) { (void)gen; (void)seed; return 0; }
int curandGenerateUniform(void *g, float *o, size_t n) { (void)g; (void)o; (void)n; return 999; }
int curandGenerateUniformDouble(void *g, double *o, size_t n) { (void)g; (void)o; (void)n; return 999; }
int curandGenerateNormal(void *g, float *o, size_t n, float m, float s) { (void)g; (void)o; (void)n; (void)m; (void)s; return 999; }
int curandGenerateNormalDouble(void *g, double *o, size_t n, double m, double s) { (void)g; (void)o; (void)n; (void)m; (void)s; return 999; }
EOF
echo 'libcurand.so.10 { global: curand*; local: *; };' > "$stage/curand_shim.map"
missing=$(nm -D --undefined-only "${bins[@]}" | sed -n 's/.* U \(curand[A-Za-z]*\).*/\1/p' | sort -u \
  | while read -r f; do grep -q " $f(" "$stage/curand_shim.c" || echo "$f"; done)
[[ -z "$missing" ]] || { echo "gpu-bundle: the cuRAND shim lacks: $missing" >&2; exit 1; }
gcc -shared -fPIC -O1 -Wl,-soname,libcurand.so.10 -Wl,--version-script="$stage/curand_shim.map" \
  -o "$stage/lib/curand-shim/libcurand.so.10" "$stage/curand_shim.c"
# Which CUDA build the binaries are: gpu-check.sh prints it.
{
  echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) from $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo '+dirty')"
  for b in "${bins[@]}"; do
    echo "$(basename "$b"): $(stat -c %s "$b") bytes unstripped, needs: $(readelf -d "$b" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | tr '\n' ' ')"
  done
} > "$stage/BUNDLE-INFO"

archive="$out/gpu-bins.tar.xz"
rm -f "$archive"
# A solid stream with a 256 MiB dictionary: the three binaries share ~60 MB of kernels.
tar -C "$stage" -cf - BUNDLE-INFO bin lib \
  | nice -n 19 xz -T1 --lzma2=preset=9,dict=256MiB -c > "$archive.tmp"
mv "$archive.tmp" "$archive"
ls -l "$stage/bin" "$stage/lib" >&2
size=$(stat -c %s "$archive")
echo "gpu-bundle: wrote $archive ($size bytes, $((size / 1048576)) MiB)" >&2
tracked=$(git ls-files -z | xargs -0 stat -c %s 2>/dev/null | awk '{s+=$1} END {print s+0}')
total=$((size + tracked))
echo "gpu-bundle: with the tracked files ($tracked bytes) the device tool would carry $total bytes ($((total / 1048576)) MiB of the 64 MiB limit)" >&2
if (( total > 64 * 1048576 )); then
  echo "gpu-bundle: warning: over the 64 MiB carry limit" >&2
  exit 2
fi
