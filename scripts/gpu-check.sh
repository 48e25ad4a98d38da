#!/usr/bin/env bash
# One run on a GPU machine that prints what docs/performance.md needs (issue 7): device
# facts, CPU-vs-GPU agreement, training/inference speed against PyTorch (eager and
# torch.compile), and a tiny unlearning pipeline on synthetic CIFAR-10 files, each part
# under its own time cap, going on after a part fails; a summary block at the end.
# No cargo needed there: it runs prebuilt binaries (see "GPU check: how to run it" in
# docs/performance.md), python3 with torch, and nvidia-smi.
#
#   scripts/gpu-check.sh                  # on the GPU machine (defaults below)
#   DEVICE=cpu QUICK=1 scripts/gpu-check.sh   # the CPU rehearsal: CPU builds in target/release
#
# Environment (all optional):
#   DEVICE        cuda (default) or cpu: where the timing and the pipeline run. With cpu,
#                 the CUDA probes still run (and fail cleanly without a GPU) and the
#                 agreement part also checks itself CPU-vs-CPU with candle's ops on one side.
#   UNLEARN_BIN, BENCH_BIN, AGREE_BIN
#                 the binaries; default target-cuda/release/{unlearn,examples/bench_step,
#                 examples/device_agreement} (target/release/... with DEVICE=cpu); when one is
#                 missing and BUNDLE exists, all three come from BUNDLE.
#   BUNDLE        archive from scripts/gpu-bundle.sh (default target/gpu-bundle/gpu-bins.tar.xz)
#   CUDA_LIBS     folders (colon-separated) with libcudart.so.13, libcublas.so.13,
#                 libcublasLt.so.13, libcurand.so.10; default `auto`: searched in the bundle,
#                 python3's site-packages (nvidia/*/lib, as torch's wheels install them),
#                 target/cuda-toolchain/site/nvidia/cu13/lib and /usr/local/cuda*. Folders
#                 named *stub* are never used: the driver's libcuda.so.1 must be the one loaded.
#                 Without any libcurand.so.10, the bundle's lib/curand-shim stands in (see
#                 scripts/gpu-bundle.sh; CURAND_SHIM=1 forces it, for tests).
#   PYTHON        python3 with torch (default python3)
#   OUT           if set, the log goes to $OUT/gpu-check.log (the device tool returns $OUT)
#   WORK          scratch folder (default: a new one under /tmp)
#   QUICK=1       small sizes for a CPU rehearsal (batch 16, tiny data set)
#   TIME_BUDGET   seconds (default 480): the extras are skipped once their cap could overrun it
#   HARD_LIMIT    seconds (default 560): every part's cap is cut so that the script ends by
#                 then, summary included (run it with the device tool's timeout_s=600)
#   BENCH_BATCH BENCH_STEPS BENCH_WARMUP BENCH_MAX_S AGREE_BATCH AGREE_BATCHES
#   N_TRAIN N_TEST EPOCHS   override the sizes (N_TRAIN: training images over the 5 files;
#                 unless given, it is cut so that one epoch of ours takes about 60 s when
#                 part 3 finds our training slower than that)
#   COMPILE=0     skip the torch.compile rows
set -uo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

DEVICE="${DEVICE:-cuda}"
QUICK="${QUICK:-0}"
PYTHON="${PYTHON:-python3}"
TIME_BUDGET="${TIME_BUDGET:-480}"
HARD_LIMIT="${HARD_LIMIT:-560}"
COMPILE="${COMPILE:-1}"
BUNDLE="${BUNDLE:-target/gpu-bundle/gpu-bins.tar.xz}"
CUDA_LIBS="${CUDA_LIBS:-auto}"
WORK="${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")}"
mkdir -p "$WORK/parts"
if [[ "$QUICK" == 1 ]]; then
  d_batch=16 d_steps=2 d_warmup=1 d_max=20 d_abatch=16 d_abatches=2 d_train=300 d_test=100
else
  d_batch=256 d_steps=10 d_warmup=3 d_max=40 d_abatch=32 d_abatches=3 d_train=2560 d_test=512
fi
BENCH_BATCH="${BENCH_BATCH:-$d_batch}"
BENCH_STEPS="${BENCH_STEPS:-$d_steps}"
BENCH_WARMUP="${BENCH_WARMUP:-$d_warmup}"
BENCH_MAX_S="${BENCH_MAX_S:-$d_max}"
AGREE_BATCH="${AGREE_BATCH:-$d_abatch}"
AGREE_BATCHES="${AGREE_BATCHES:-$d_abatches}"
n_train_given="${N_TRAIN:-}"
N_TRAIN="${N_TRAIN:-$d_train}"
N_TEST="${N_TEST:-$d_test}"
EPOCHS="${EPOCHS:-1}"
# anyhow errors without a backtrace (panics keep theirs if RUST_BACKTRACE is set).
export RUST_LIB_BACKTRACE="${RUST_LIB_BACKTRACE:-0}"
# The driver JIT-compiles candle's PTX on first use; keep all of it in its cache.
export CUDA_CACHE_MAXSIZE="${CUDA_CACHE_MAXSIZE:-2147483648}"

if [[ -n "${OUT:-}" ]]; then
  mkdir -p "$OUT"
  LOG="$OUT/gpu-check.log"
else
  LOG="$WORK/gpu-check.log"
fi
: > "$LOG"
exec > >(tee -a "$LOG") 2>&1
tee_pid=$!

now() { date +%s.%N; }
T0=$(now)
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
elapsed() { awk -v a="$T0" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }'; }
say() { echo "gpu-check: $*"; }

declare -A RC SECS
ORDER=()

# part NAME CAP CMD...: runs CMD under `timeout CAP`, output to the log and to
# $WORK/parts/NAME.out; records exit status and wall seconds; never stops the script.
# CAP is cut to what is left before HARD_LIMIT (less 15 s for the summary).
part() {
  local name=$1 cap=$2
  shift 2
  ORDER+=("$name")
  local left=$((HARD_LIMIT - $(elapsed) - 15))
  if ((left < 5)); then
    RC[$name]=skipped
    SECS[$name]=0
    echo
    echo "=== [$name] skipped: HARD_LIMIT ${HARD_LIMIT}s reached"
    return 0
  fi
  ((cap > left)) && cap=$left
  echo
  echo "=== [$name] cap ${cap}s, at $(elapsed)s: $*"
  local t
  t=$(now)
  timeout --kill-after=10 "$cap" "$@" 2>&1 | tee "$WORK/parts/$name.out"
  local rc=${PIPESTATUS[0]}
  RC[$name]=$rc
  SECS[$name]=$(since "$t")
  case $rc in
    0) echo "=== [$name] ok, ${SECS[$name]} s" ;;
    124 | 137) echo "=== [$name] TIMED OUT after ${cap} s (exit $rc)" ;;
    *) echo "=== [$name] FAILED: exit $rc after ${SECS[$name]} s" ;;
  esac
  return "$rc"
}

# opt_part NAME CAP CMD...: like part, but skipped when it could run past TIME_BUDGET.
opt_part() {
  local name=$1 cap=$2
  local e
  e=$(elapsed)
  if ((e + cap > TIME_BUDGET)); then
    ORDER+=("$name")
    RC[$name]=skipped
    SECS[$name]=0
    echo
    echo "=== [$name] skipped: at ${e}s, its cap ${cap}s would pass TIME_BUDGET ${TIME_BUDGET}s"
    return 0
  fi
  part "$@"
}

# The value after `key` on the first line of a part's output that has it.
field() { sed -n "s/.*$2 \([^ ,;%]*\).*/\1/p" "$WORK/parts/$1.out" 2>/dev/null | head -1; }
ips() { [[ "${RC[$1]:-}" == 0 ]] && field "$1" images_per_s; }

say "started $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname), DEVICE=$DEVICE QUICK=$QUICK, work $WORK, log $LOG"
say "sizes: bench batch $BENCH_BATCH, $BENCH_STEPS steps (<= ${BENCH_MAX_S}s) after $BENCH_WARMUP warm-up;" \
  "agreement batch $AGREE_BATCH x $AGREE_BATCHES; pipeline $N_TRAIN train + $N_TEST test images, $EPOCHS epoch(s)"

# ---------------------------------------------------------------------------------------
# Binaries: the given ones, else the bundle's.
if [[ "$DEVICE" == cpu ]]; then bdir=target/release; else bdir=target-cuda/release; fi
UNLEARN_BIN="${UNLEARN_BIN:-$bdir/unlearn}"
BENCH_BIN="${BENCH_BIN:-$bdir/examples/bench_step}"
AGREE_BIN="${AGREE_BIN:-$bdir/examples/device_agreement}"
BUNDLE_LIB=""
if [[ ! -x "$UNLEARN_BIN" || ! -x "$BENCH_BIN" || ! -x "$AGREE_BIN" ]]; then
  if [[ -f "$BUNDLE" ]]; then
    say "unpacking $BUNDLE into $WORK/bundle"
    "$PYTHON" -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' \
      "$BUNDLE" "$WORK/bundle" || say "error: could not unpack $BUNDLE"
    cat "$WORK/bundle/BUNDLE-INFO" 2>/dev/null
    UNLEARN_BIN="$WORK/bundle/bin/unlearn"
    BENCH_BIN="$WORK/bundle/bin/bench_step"
    AGREE_BIN="$WORK/bundle/bin/device_agreement"
    BUNDLE_LIB="$WORK/bundle/lib"
  fi
fi
for b in "$UNLEARN_BIN" "$BENCH_BIN" "$AGREE_BIN"; do
  [[ -x "$b" ]] || say "error: $b missing: the parts that need it will fail"
done
say "binaries: $UNLEARN_BIN, $BENCH_BIN, $AGREE_BIN"

# ---------------------------------------------------------------------------------------
# CUDA user-space libraries (the binaries link libcudart.so.13, libcublas(Lt).so.13 and
# libcurand.so.10; libcuda.so.1 comes from the driver). Never a stub folder.
needs_cuda_libs() { ldd "$1" 2>/dev/null | grep -q 'libcudart\|libcublas\|libcuda\.so'; }
cuda_lib_dirs=()
add_dir() {
  local d=$1 x
  [[ "$d" == *stub* ]] && return
  for x in "${cuda_lib_dirs[@]}"; do [[ "$x" == "$d" ]] && return; done
  cuda_lib_dirs+=("$d")
}
if needs_cuda_libs "$UNLEARN_BIN" || [[ "$CUDA_LIBS" != auto ]]; then
  if [[ "$CUDA_LIBS" != auto ]]; then
    IFS=: read -r -a given <<< "$CUDA_LIBS"
    for d in "${given[@]}"; do add_dir "$d"; done
  else
    candidates=()
    [[ -n "$BUNDLE_LIB" ]] && candidates+=("$BUNDLE_LIB")
    while IFS= read -r d; do candidates+=("$d"); done < <("$PYTHON" - <<'EOF' 2>/dev/null
import glob, os, site, sys
roots = list(site.getsitepackages()) + [site.getusersitepackages()] + sys.path
seen = []
for r in roots:
    for pat in ("nvidia/*/lib", "nvidia/*/lib64", "nvidia/cu*/lib"):
        for d in sorted(glob.glob(os.path.join(r, pat))):
            d = os.path.realpath(d)
            if d not in seen:
                seen.append(d)
                print(d)
EOF
    )
    candidates+=(target/cuda-toolchain/site/nvidia/cu13/lib /usr/local/cuda/lib64
      /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda-13*/lib64)
    for lib in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcurand.so.10; do
      found=""
      for d in "${candidates[@]}"; do
        [[ "$d" == *stub* ]] && continue
        if [[ -e "$d/$lib" ]]; then found="$d"; break; fi
      done
      shim="$BUNDLE_LIB/curand-shim"
      if [[ $lib == libcurand.so.10 && -n "$BUNDLE_LIB" && -e "$shim/$lib" ]] \
        && [[ -z "$found" || "${CURAND_SHIM:-0}" == 1 ]]; then
        say "warning: $lib: using the bundle's stand-in $shim (no GPU random numbers;" \
          "this project draws none there)${found:+; CURAND_SHIM=1 set, real one in $found}"
        add_dir "$shim"
      elif [[ -n "$found" ]]; then
        say "$lib: $found"
        add_dir "$(cd "$found" && pwd)"
      else
        say "warning: $lib not found in ${candidates[*]}"
      fi
    done
  fi
  # Keep the caller's LD_LIBRARY_PATH minus any stub folder.
  kept=()
  IFS=: read -r -a old <<< "${LD_LIBRARY_PATH:-}"
  for d in "${old[@]}"; do [[ -n "$d" && "$d" != *stub* ]] && kept+=("$d"); done
  joined=""
  for d in "${cuda_lib_dirs[@]}" "${kept[@]}"; do joined="${joined:+$joined:}$d"; done
  export LD_LIBRARY_PATH="$joined"

  # The driver's libcuda.so.1: normally on the loader's default path; if not, ask torch.
  if ldd "$UNLEARN_BIN" 2>/dev/null | grep -q 'libcuda.so.1 => not found'; then
    drv=$("$PYTHON" -c '
import torch
torch.cuda.init()
for l in open("/proc/self/maps"):
    if "libcuda.so" in l:
        print(l.split()[-1]); break' 2>/dev/null)
    if [[ -n "$drv" && "$drv" != *stub* ]]; then
      say "libcuda.so.1 from torch's process: $drv"
      LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$(dirname "$drv")"
    else
      say "warning: libcuda.so.1 (the NVIDIA driver) not found: the CUDA build cannot start here"
    fi
  fi
  say "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
fi

# ---------------------------------------------------------------------------------------
echo
say "--- 1. device facts"
part facts-gpu 30 nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv
part facts-smi 30 nvidia-smi
part facts-torch 120 "$PYTHON" -c '
import platform, torch
print("python", platform.python_version())
print("torch", torch.__version__)
print("torch_cuda", torch.version.cuda)
print("cudnn", torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None)
ok = torch.cuda.is_available()
print("cuda_available", ok)
if ok:
    p = torch.cuda.get_device_properties(0)
    print("gpu", p.name.replace(" ", "_"), "capability", f"{p.major}.{p.minor}",
          "sms", p.multi_processor_count, "memory_gib", round(p.total_memory / 2**30, 1))
'
part facts-cpu 30 sh -c 'nproc; grep -m1 "model name" /proc/cpuinfo; free -g | head -2'
part facts-bins 30 sh -c 'for b in "$@"; do echo "$b:"; ldd "$b" | grep -v "linux-vdso\|ld-linux"; done' _ \
  "$UNLEARN_BIN" "$BENCH_BIN" "$AGREE_BIN"
part facts-unlearn 30 "$UNLEARN_BIN" --version
# Our binary on the GPU: one small forward pass with --device cuda (fails cleanly without one).
part gpu-probe 120 "$BENCH_BIN" --device cuda --model small-cnn --mode infer --batch 8 --steps 1 --warmup 0

# ---------------------------------------------------------------------------------------
echo
say "--- 2. CPU-vs-GPU agreement (same seed, same batches; tolerances in device_agreement.rs)"
part agree-cuda 240 "$AGREE_BIN" --a cpu --b cuda --model all --batch "$AGREE_BATCH" --batches "$AGREE_BATCHES"
if [[ "$DEVICE" == cpu ]]; then
  # Rehearsal without a GPU: the comparison itself, against candle's ops (what CUDA runs).
  part agree-cpu-ref 300 "$AGREE_BIN" --a cpu --b cpu --b-reference --model all \
    --batch "$AGREE_BATCH" --batches "$AGREE_BATCHES"
fi

# ---------------------------------------------------------------------------------------
echo
say "--- 3. speed: ResNet-18 (CIFAR stem), batch $BENCH_BATCH, synthetic input, images/s (median step)"
nthreads=$(nproc)
bench_args=(--model resnet18-cifar --batch "$BENCH_BATCH" --steps "$BENCH_STEPS" --warmup "$BENCH_WARMUP" --max-seconds "$BENCH_MAX_S")
part ours-train 180 "$BENCH_BIN" --device "$DEVICE" --mode train "${bench_args[@]}"
part ours-infer 120 "$BENCH_BIN" --device "$DEVICE" --mode infer "${bench_args[@]}"
part torch-train 150 "$PYTHON" scripts/bench_torch.py --device "$DEVICE" --threads "$nthreads" --mode train "${bench_args[@]}"
part torch-infer 120 "$PYTHON" scripts/bench_torch.py --device "$DEVICE" --threads "$nthreads" --mode infer "${bench_args[@]}"
part torch-train-fp32 150 "$PYTHON" scripts/bench_torch.py --device "$DEVICE" --threads "$nthreads" --mode train --tf32 off "${bench_args[@]}"

# ---------------------------------------------------------------------------------------
o_ips=$(ips ours-train)
if [[ -z "$n_train_given" && -n "$o_ips" ]]; then
  fit=$(awk -v r="$o_ips" 'BEGIN { n = int(r * 60 / 500) * 500; if (n < 500) n = 500; print n }')
  if ((fit < N_TRAIN)); then
    say "ours trains at $o_ips images/s: the pipeline gets $fit training images (about 60 s an epoch)"
    N_TRAIN=$fit
  fi
fi
echo
say "--- 4. tiny pipeline on synthetic CIFAR-10 files ($N_TRAIN + $N_TEST images), --device $DEVICE"
D="$WORK/cifar10"
P="$WORK/pipe"
mkdir -p "$P"
part pipe-data 120 "$PYTHON" -c '
import os, random, sys
d, n_train, n_test = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(d, exist_ok=True)
def records(n, seed):
    # 1 label byte + 3,072 pixel bytes (red, green, blue planes); random pixels with a
    # bright 8x6 patch in the red plane whose place depends on the class (learnable).
    rng = random.Random(seed)
    out = bytearray()
    for _ in range(n):
        label = rng.randrange(10)
        px = bytearray(rng.randbytes(3072))
        y0, x0 = (label // 5) * 16 + 4, (label % 5) * 6 + 1
        for y in range(y0, y0 + 8):
            px[y * 32 + x0 : y * 32 + x0 + 6] = b"\xff" * 6
        out.append(label)
        out += px
    return bytes(out)
per_file = n_train // 5
for b in range(1, 6):
    with open(os.path.join(d, f"data_batch_{b}.bin"), "wb") as f:
        f.write(records(per_file, b))
with open(os.path.join(d, "test_batch.bin"), "wb") as f:
    f.write(records(n_test, 9))
print(f"wrote {5 * per_file} training and {n_test} test records to {d}")
' "$D" "$N_TRAIN" "$N_TEST"
U="$UNLEARN_BIN"
data=(--data "cifar10:$D")
part pipe-split 60 "$U" split "${data[@]}" --scenario random:0.1 --seed 0 --out "$P/split.json"
train=(train "${data[@]}" --split "$P/split.json" --arch resnet18-cifar --preset cifar10 --epochs "$EPOCHS" --device "$DEVICE" --quiet --no-resume)
part pipe-train-original 300 "$U" "${train[@]}" --subset train --out "$P/original.safetensors"
part pipe-train-retrain 300 "$U" "${train[@]}" --subset retain --out "$P/retrain.safetensors"
forget=(forget "${data[@]}" --split "$P/split.json" --checkpoint "$P/original.safetensors" --device "$DEVICE" --quiet --set "epochs=$EPOCHS")
part pipe-forget-ft 240 "$U" "${forget[@]}" --method ft --out "$P/ft.safetensors"
part pipe-forget-muda 240 "$U" "${forget[@]}" --method muda --out "$P/muda.safetensors"
for m in original retrain ft muda; do
  part "pipe-features-$m" 120 "$U" features "${data[@]}" --split "$P/split.json" \
    --checkpoint "$P/$m.safetensors" --device "$DEVICE" --quiet --out "$P/$m.features.safetensors"
done
for m in original ft muda; do
  part "pipe-metrics-$m" 120 "$U" metrics --features "$P/$m.features.safetensors" \
    --reference "$P/retrain.features.safetensors"
done

# ---------------------------------------------------------------------------------------
# PyTorch at its fastest (after the pipeline: its compilation can take minutes; whatever is
# left before HARD_LIMIT caps it).
echo
say "--- 3b. PyTorch torch.compile + channels-last + bf16 autocast"
if [[ "$COMPILE" == 1 ]]; then
  fast=(--compile --channels-last --bf16)
  part torch-compiled-train 240 "$PYTHON" scripts/bench_torch.py --device "$DEVICE" --threads "$nthreads" --mode train "${fast[@]}" "${bench_args[@]}"
  part torch-compiled-infer 150 "$PYTHON" scripts/bench_torch.py --device "$DEVICE" --threads "$nthreads" --mode infer "${fast[@]}" "${bench_args[@]}"
fi

# ---------------------------------------------------------------------------------------
# Extras, when time is left: determinism on the device, TF32 on both sides.
echo
say "--- extras (only within TIME_BUDGET=${TIME_BUDGET}s)"
# Same seed twice on the same device: the same checkpoint bytes? (true on the CPU)
opt_part pipe-train-again 90 "$U" "${train[@]}" --subset train --out "$P/original-again.safetensors"
if [[ "${RC[pipe-train-again]:-}" == 0 ]]; then
  part pipe-same-bytes 30 sh -c 'sha256sum "$1" "$2"; cmp -s "$1" "$2" && echo "same_bytes yes" || echo "same_bytes no"' _ \
    "$P/original.safetensors" "$P/original-again.safetensors"
fi
opt_part agree-cuda-tf32 90 "$AGREE_BIN" --a cpu --b cuda --tf32 --model resnet18-cifar --batch "$AGREE_BATCH" --batches "$AGREE_BATCHES"
opt_part ours-train-tf32 90 "$BENCH_BIN" --device "$DEVICE" --tf32 --mode train "${bench_args[@]}"
opt_part torch-train-bf16-eager 60 "$PYTHON" scripts/bench_torch.py --device "$DEVICE" --threads "$nthreads" --mode train --channels-last --bf16 "${bench_args[@]}"

# ---------------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else printf "n/a" }'; }
or_na() { if [[ -n "$1" ]]; then echo "$1"; else echo "n/a"; fi; }
status() {
  local rc=${RC[$1]:-not run}
  case $rc in
    0) echo ok ;;
    124 | 137) echo "timed out" ;;
    skipped) echo skipped ;;
    "not run") echo "not run" ;;
    *) echo "failed ($rc)" ;;
  esac
}
gpu_line=$(sed -n 2p "$WORK/parts/facts-gpu.out" 2>/dev/null)
cuda_ver=$(sed -n 's/.*CUDA Version: *\([0-9.]*\).*/\1/p' "$WORK/parts/facts-smi.out" 2>/dev/null | head -1)
agree_verdict() {
  [[ -f "$WORK/parts/$1.out" ]] || { echo "not run"; return; }
  local v
  v=$(sed -n 's/^agreement \(PASS\|FAIL\|ERROR\)$/\1/p' "$WORK/parts/$1.out" | tail -1)
  local per
  per=$(sed -n 's/^agreement \([a-z0-9-]*\) \(PASS\|FAIL\)$/\1 \2/p' "$WORK/parts/$1.out" | paste -sd, - | sed 's/,/, /g')
  echo "$(or_na "$v")${per:+ ($per)} [$(status "$1")]"
}
o_tr=$(ips ours-train) o_in=$(ips ours-infer) t_tr=$(ips torch-train) t_in=$(ips torch-infer)
t_tr32=$(ips torch-train-fp32) c_tr=$(ips torch-compiled-train) c_in=$(ips torch-compiled-infer)
o_tr_tf=$(ips ours-train-tf32) t_bf=$(ips torch-train-bf16-eager)

echo
echo "==================== gpu-check summary (paste into docs/performance.md) ===================="
echo
echo "- date: $(date -u +%Y-%m-%d), host $(hostname), DEVICE=$DEVICE, QUICK=$QUICK, total $(elapsed) s"
echo "- GPU (nvidia-smi name, driver, memory, compute capability): $(or_na "$gpu_line")"
echo "- driver's CUDA version: $(or_na "$cuda_ver"); torch $(or_na "$(field facts-torch torch)") (CUDA $(or_na "$(field facts-torch torch_cuda)"), cuDNN $(or_na "$(field facts-torch cudnn)")), cuda available: $(or_na "$(field facts-torch cuda_available)"); python $(or_na "$(field facts-torch python)")"
echo "- CPU: $(sed -n 2p "$WORK/parts/facts-cpu.out" 2>/dev/null | sed 's/model name[[:space:]]*: //'), $(head -1 "$WORK/parts/facts-cpu.out" 2>/dev/null) threads"
echo "- our binary on the GPU (bench_step --device cuda, one forward): $(status gpu-probe)"
echo "- agreement CPU vs CUDA (strict f32, batch $AGREE_BATCH): $(agree_verdict agree-cuda)"
echo "- agreement CPU vs CUDA (TF32): $(agree_verdict agree-cuda-tf32)"
[[ "$DEVICE" == cpu ]] && echo "- agreement CPU fast kernels vs candle ops (rehearsal): $(agree_verdict agree-cpu-ref)"
if grep -qs '^agreement small-cnn FAIL' "$WORK"/parts/agree-*.out; then
  echo "  (small-cnn FAIL: check its 'parameter updates' line; |b|/|a| ≈ 0.25 or 0.0625 in conv* would mean candle's max_pool2d backward (1/k²) is back in the CUDA path, see kernels::max_pool2d)"
fi
echo
echo "ResNet-18 (CIFAR stem), batch $BENCH_BATCH, synthetic input, $DEVICE, images/s (median step):"
echo
echo "| what | train | infer | status (train / infer) |"
echo "|---|---:|---:|---|"
echo "| ours (candle, strict f32) | $(or_na "$o_tr") | $(or_na "$o_in") | $(status ours-train) / $(status ours-infer) |"
echo "| ours, cuBLAS TF32 | $(or_na "$o_tr_tf") | | $(status ours-train-tf32) |"
echo "| PyTorch eager (defaults: cuDNN TF32) | $(or_na "$t_tr") | $(or_na "$t_in") | $(status torch-train) / $(status torch-infer) |"
echo "| PyTorch eager, strict f32 (--tf32 off) | $(or_na "$t_tr32") | | $(status torch-train-fp32) |"
echo "| PyTorch eager, channels-last + bf16 autocast | $(or_na "$t_bf") | | $(status torch-train-bf16-eager) |"
echo "| PyTorch torch.compile + channels-last + bf16 autocast | $(or_na "$c_tr") | $(or_na "$c_in") | $(status torch-compiled-train) / $(status torch-compiled-infer) |"
echo
echo "ratios (ours / theirs): train vs eager $(ratio "$o_tr" "$t_tr"), vs eager strict f32 $(ratio "$o_tr" "$t_tr32"), vs compiled $(ratio "$o_tr" "$c_tr"); infer vs eager $(ratio "$o_in" "$t_in"), vs compiled $(ratio "$o_in" "$c_in")"
echo
echo "Tiny pipeline (ResNet-18, cifar10 preset, $EPOCHS epoch(s), $N_TRAIN + $N_TEST synthetic images, random:0.1), wall seconds per step:"
echo
echo "| step | seconds | status |"
echo "|---|---:|---|"
for n in "${ORDER[@]}"; do
  [[ "$n" == pipe-* ]] || continue
  echo "| ${n#pipe-} | ${SECS[$n]} | $(status "$n") |"
done
acc_o=$(sed -n 's/.*test accuracy \([0-9.]*\)%.*/\1/p' "$WORK/parts/pipe-train-original.out" 2>/dev/null | tail -1)
acc_r=$(sed -n 's/.*test accuracy \([0-9.]*\)%.*/\1/p' "$WORK/parts/pipe-train-retrain.out" 2>/dev/null | tail -1)
echo
echo "original test accuracy $(or_na "${acc_o:+$acc_o%}"), retrain $(or_na "${acc_r:+$acc_r%}") (synthetic data; a smoke test, not a result);" \
  "same seed twice, same bytes: $(or_na "$(field pipe-same-bytes same_bytes)")"
echo
echo "parts: $(for n in "${ORDER[@]}"; do printf '%s=%s ' "$n" "$(status "$n" | tr ' ' '_')"; done)"
echo "log: $LOG"
echo "=============================================================================================="
# Let tee write the last lines before the script ends.
exec 1>&- 2>&-
wait "$tee_pid" 2>/dev/null
exit 0
