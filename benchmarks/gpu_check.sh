#!/usr/bin/env bash
# The GPU checks of one device call: the paper's efficiency protocol on CUDA, then a short CUDA
# pretraining run with the pure-PyTorch scan and, when mamba_ssm imports, with mamba_ssm's kernel.
#
#   OUT=gpu_results bash benchmarks/gpu_check.sh
#
# The GPU image has torch but not soundfile or soxr, and no network: carry their wheels (and a
# mamba_ssm wheel built for that torch, if you have one) in .whl/ (benchmarks/README.md says how).
# DEVICE and BENCH_ARGS override the device and the bench options (a CPU dry run of this script:
# DEVICE=cpu BENCH_ARGS="--tokens 128 --attn sdpa --repeats 1 --warmup 0").
set -uo pipefail
OUT=${OUT:-gpu_results}
DEVICE=${DEVICE:-cuda}
BENCH_ARGS=${BENCH_ARGS:---preset paper --time-budget 60}
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
ssamba() { python3 -m ssamba.cli.main "$@"; }

{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
  python3 -c "import mamba_ssm; print('mamba_ssm', mamba_ssm.__version__)" 2>&1 | tail -n 1
} | tee "$OUT/environment.txt"

# 1. The paper's protocol (spec 4.3): every size, batch 2 and 4, eager attention.
# shellcheck disable=SC2086  # BENCH_ARGS holds several options
timeout 400 ssamba bench $BENCH_ARGS --device "$DEVICE" --out "$OUT/bench" 2>&1 | tail -n 60 | tee "$OUT/bench.log"

# 2. Pretraining on the device: 32 synthetic one-second clips, 20 steps, per scan backend.
python3 - "$OUT/smoke" <<'PY'
import json, math, random, struct, sys, wave
from pathlib import Path

folder = Path(sys.argv[1])
folder.mkdir(parents=True, exist_ok=True)
rows = []
for index in range(32):
    path = folder / f"clip{index:02d}.wav"
    pitch = random.Random(index).uniform(200.0, 2000.0)
    samples = [int(8000 * math.sin(2 * math.pi * pitch * t / 16000)) for t in range(16000)]
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(16000)
        out.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    rows.append({"audio": str(path.resolve()), "split": "train" if index < 24 else "test"})
(folder / "clips.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
PY
backends=(chunked)
python3 -c "import mamba_ssm" 2>/dev/null && backends+=(cuda)
for backend in "${backends[@]}"; do
  SSAMBA_SCAN_BACKEND=$backend timeout 300 ssamba pretrain --config recipes/pretrain/fsdd_cpu.yaml \
    --out "$OUT/pretrain_$backend" --overwrite --set model=ssamba_tiny --set train.device="$DEVICE" \
    --set "data.train_manifests=[$OUT/smoke/clips.jsonl]" --set "data.valid_manifest=$OUT/smoke/clips.jsonl" \
    --set train.max_steps=20 --set train.log_every=5 --set train.val_every=20 --set train.num_workers=0 \
    2>&1 | tail -n 20 | tee "$OUT/pretrain_$backend.log"
  echo "scan backend $backend: exit ${PIPESTATUS[0]}" | tee -a "$OUT/summary.txt"
done
