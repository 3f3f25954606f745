#!/usr/bin/env bash
# Quick checkpoints for the export bench (bench/torch_reference.py): timings do not depend on the
# weights, so a 10-minute SEN and a 15-minute generator on 600 synthetic birds will do (about
# 30 minutes on one core of a 2-core x86), then the bundle the bench compares against.
# Re-running skips finished steps.
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/dev-env.sh
host() { cargo run --release --locked -q -p s2i-host -- "$@"; }
D=.data/synth-birds-600
[ -e $D/dataset.json ] || host data synth --kind birds --images 600 --captions 5 --out $D
[ -e runs/sen-bench/best.safetensors ] ||
    host sen train --data $D --out runs/sen-bench --threads 1 --epochs 30 --validate-every 5 --max-minutes 10
[ -e runs/sen-bench/embeddings.safetensors ] || host sen extract --sen runs/sen-bench --data $D
[ -e runs/rdg-bench/generator.safetensors ] ||
    host rdg train --data $D --sen runs/sen-bench --preset edge --out runs/rdg-bench --threads 1 --max-minutes 15
# The same weights as the checkpoints (no BN re-estimation), f32 and int8:
host export --sen runs/sen-bench --rdg runs/rdg-bench --out runs/bundle-bench --int8 \
    --recalibration-batches 0 --force
