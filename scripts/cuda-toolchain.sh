#!/usr/bin/env bash
# Fetch a CUDA toolchain from PyPI (NVIDIA's wheels) so `--features cuda` can be
# built on a machine without a GPU or a system CUDA install (issue 7).
#
#   scripts/cuda-toolchain.sh            # install (idempotent) + print exports
#   eval "$(scripts/cuda-toolchain.sh)"  # install + export into this shell
#   CARGO_TARGET_DIR=target-cuda cargo build --release --features cuda -p unlearn-cli
#
# The binary links libcuda.so.1, libcudart.so.13, libcublas(Lt).so.13 and
# libcurand.so.10 dynamically (candle turns on cudarc's `dynamic-linking`), so
# it needs them at run time, on a GPU machine too (see docs/performance.md).
#
# Why CUDA 13.0 and not 12.x: the `nvidia-cuda-nvcc-cu12` wheels (12.0 .. 12.9.86)
# ship only `ptxas`, not the `nvcc` driver / cudafe++ / cicc that candle-kernels'
# build script (cudaforge) needs. NVIDIA's CUDA 13 wheels (`nvidia-cuda-nvcc`,
# `nvidia-cuda-crt`, `nvidia-nvvm`, ...) ship a complete nvcc. The pins below are
# the CUDA 13.0 Update 2 set, i.e. what `cuda-toolkit[...]==13.0.2` resolves to.
#
# Everything goes under target/cuda-toolchain (gitignored). Progress messages go
# to stderr; stdout carries only the `export` lines.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="${CUDA_TOOLCHAIN_DIR:-$repo_root/target/cuda-toolchain}"
site="$prefix/site"      # pip --target
root="$prefix/root"      # CUDA-root-like folder (symlinks into $site)
compute_cap="${CUDA_COMPUTE_CAP:-90}"   # 90 = sm_90 (H100 / H200)
python="${PYTHON:-python3}"

cuda_version="13.0"
wheels=(
  "nvidia-cuda-nvcc==13.0.88"     # nvcc, ptxas, fatbinary, nvlink, cudafe++
  "nvidia-cuda-crt==13.0.88"      # include/crt/* (host_config.h, ...) needed by nvcc
  "nvidia-nvvm==13.0.88"          # nvvm/bin/cicc + libdevice
  "nvidia-cuda-runtime==13.0.96"  # cuda_runtime.h, cuda.h, libcudart.so.13
  "nvidia-cuda-cccl==13.0.85"     # cub/thrust/cuda headers (cuda/std/...)
  "nvidia-cuda-nvrtc==13.0.88"    # libnvrtc.so.13 (cudarc links it)
  "nvidia-cublas==13.1.0.3"       # libcublas.so.13, libcublasLt.so.13 (cudarc links them)
  "nvidia-curand==10.4.0.35"      # libcurand.so.10 (cudarc links it)
)

die() { echo "cuda-toolchain: error: $*" >&2; exit 1; }
log() { echo "cuda-toolchain: $*" >&2; }

command -v "$python" >/dev/null || die "$python not found (set PYTHON=...)"
"$python" -m pip --version >/dev/null 2>&1 || die "pip is not available for $python"
command -v gcc >/dev/null || die "gcc not found: nvcc needs a host C++ compiler (CUDA 13.0 supports gcc 6..15)"
command -v g++ >/dev/null || die "g++ not found: nvcc needs a host C++ compiler"

stamp="$prefix/.installed"
want="$(printf '%s\n' "${wheels[@]}")"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$site/nvidia/cu13/bin/nvcc" ]]; then
  log "wheels already installed in $site"
else
  log "installing CUDA $cuda_version wheels into $site (about 1 GB download) ..."
  rm -rf "$site"
  mkdir -p "$site"
  "$python" -m pip install --quiet --disable-pip-version-check --no-deps \
    --target "$site" "${wheels[@]}" >&2 || die "pip install failed"
  printf '%s\n' "$want" > "$stamp"
fi

cu="$site/nvidia/cu13"
[[ -d "$cu" ]] || die "expected $cu after install; wheel layout changed?"
[[ -x "$cu/bin/nvcc" ]] || die "nvcc missing from $cu/bin"
[[ -f "$cu/include/cuda_runtime.h" ]] || die "cuda_runtime.h missing from $cu/include"

# Assemble a CUDA-root-like folder. The CUDA 13 wheels already share one tree
# (nvidia/cu13/{bin,include,lib,nvvm}); we add lib64 and lib64/stubs and the
# unversioned .so names the linker (-lcudart, -lcublas, ...) looks for.
rm -rf "$root"
mkdir -p "$root/lib64/stubs"
for d in bin include nvvm; do
  [[ -e "$cu/$d" ]] || die "$cu/$d missing"
  ln -s "$cu/$d" "$root/$d"
done
shopt -s nullglob
for so in "$cu"/lib/*.so.* "$cu"/lib/*.so; do
  ln -sf "$so" "$root/lib64/$(basename "$so")"
done
for lib in cudart nvrtc cublas cublasLt curand; do
  versioned=("$cu"/lib/lib$lib.so.[0-9]*)
  [[ ${#versioned[@]} -gt 0 ]] || die "lib$lib.so.* not found in $cu/lib"
  [[ -e "$root/lib64/lib$lib.so" ]] || ln -s "${versioned[0]}" "$root/lib64/lib$lib.so"
done
# libcuda (the driver API) is in no wheel, not even as NVIDIA's link stub, yet
# cudarc (candle enables its `dynamic-linking` feature) links `-lcuda`. Generate a
# stub: every cu* entry point of cuda.h (after the preprocessor has mapped names
# to their _v2/_v3 symbols), plus every name cudarc's driver bindings declare when
# cargo has already fetched cudarc; each returns CUDA_ERROR_STUB_LIBRARY (34). Its
# soname is libcuda.so.1, like the real driver's, so on a GPU machine the binary
# binds to the driver; on a GPU-less one, LD_LIBRARY_PATH=.../stubs lets it start
# and every CUDA call then fails cleanly.
stubdir="$prefix/stub"
mkdir -p "$stubdir"
{
  gcc -E -P -x c -I "$cu/include" "$cu/include/cuda.h" | tr '\n' ' ' \
    | grep -oE '(CUresult|void|int|unsigned int|size_t)[[:space:]]+cu[A-Z][A-Za-z0-9_]*[[:space:]]*\(' \
    | grep -oE 'cu[A-Z][A-Za-z0-9_]*'
  for f in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-*/src/driver/sys/mod.rs; do
    grep -oE 'pub (unsafe )?fn cu[A-Za-z0-9_]+' "$f" | awk '{print $NF}'
  done
} | sort -u > "$stubdir/symbols.txt"
[[ -s "$stubdir/symbols.txt" ]] || die "could not list the CUDA driver API from cuda.h"
awk '{print "int " $1 "(void) { return 34; }"}' "$stubdir/symbols.txt" > "$stubdir/libcuda_stub.c"
gcc -shared -fPIC -O1 -Wl,-soname,libcuda.so.1 -o "$stubdir/libcuda.so" "$stubdir/libcuda_stub.c" \
  || die "building the libcuda stub failed"
ln -s "$stubdir/libcuda.so" "$root/lib64/stubs/libcuda.so"
ln -s "$stubdir/libcuda.so" "$root/lib64/stubs/libcuda.so.1"
log "libcuda stub: $(wc -l < "$stubdir/symbols.txt") entry points in $stubdir/libcuda.so"
shopt -u nullglob

ver="$("$root/bin/nvcc" --version | sed -n 's/.*release \([0-9.]*\),.*/\1/p')"
[[ "$ver" == "$cuda_version" ]] || die "nvcc reports release '$ver', expected $cuda_version"
log "nvcc $ver ready in $root (compute capability $compute_cap)"

cat <<EOF
export CUDA_ROOT="$root"
export CUDA_PATH="$root"
export CUDA_HOME="$root"
export CUDA_TOOLKIT_ROOT_DIR="$root"
export NVCC="$root/bin/nvcc"
export PATH="$root/bin:\$PATH"
export CUDA_COMPUTE_CAP=$compute_cap
export CUDARC_CUDA_VERSION=13000
export LIBRARY_PATH="$root/lib64:$root/lib64/stubs\${LIBRARY_PATH:+:\$LIBRARY_PATH}"
# Run time on THIS (GPU-less) machine only; on a GPU machine point it at real libs:
# export LD_LIBRARY_PATH="$root/lib64:$root/lib64/stubs\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
EOF
