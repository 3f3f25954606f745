#!/usr/bin/env bash
# Remakes models/default from nothing: draw the synthetic birds, train the edge SEN, extract its
# caption embeddings, train the edge RDG, train the attribute probe, evaluate both networks, export
# the bundle, and speak its samples. Every step is seeded; the seed of each is the default of
# its command (0 for the data and the probe, 200 for the SEN and RDG presets).
#
# On the 2-core x86 machine this was made on: data 3 min, SEN 40 min (one core), RDG about two
# CPU hours, probe 6 min, evaluation and export a few minutes. A CUDA machine is much faster
# (the trainers use it when present). Re-running skips finished steps; FORCE=1 redoes them.
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/dev-env.sh

DATA=${DATA:-.data/synth-birds-2000}
RUNS=${RUNS:-runs/default}
OUT=${OUT:-models/default}
THREADS=${THREADS:-2}
host() { cargo run --release --locked -q -p s2i-host -- "$@"; }
done_or_force() { [[ -z "${FORCE:-}" && -e "$1" ]]; }

mkdir -p "$RUNS"
done_or_force "$DATA/dataset.json" || host data synth --kind birds --images 2000 --captions 10 --out "$DATA"

done_or_force "$RUNS/sen/best.safetensors" ||
    host sen train --data "$DATA" --preset edge --out "$RUNS/sen" --threads 1 --validate-every 5
done_or_force "$RUNS/sen/embeddings.safetensors" || host sen extract --sen "$RUNS/sen" --data "$DATA"
done_or_force "$RUNS/sen/eval_test.json" || host sen eval --sen "$RUNS/sen" --data "$DATA"

# The edge generator (embedding scale 16, 100 epochs); --max-minutes keeps it to the CPU budget,
# and a second run of this script continues it (--resume) instead of starting over.
if [[ -e "$RUNS/rdg/last.safetensors" ]]; then
    resume=(--resume)
else
    resume=()
fi
done_or_force "$RUNS/rdg/.finished" || {
    host rdg train --data "$DATA" --sen "$RUNS/sen" --preset edge --out "$RUNS/rdg" \
        --threads "$THREADS" --max-minutes "${RDG_MINUTES:-120}" "${resume[@]}"
    touch "$RUNS/rdg/.finished"
}

done_or_force "$RUNS/probe/probe.safetensors" || host probe train --data "$DATA" --out "$RUNS/probe"
# Evaluate what the bundle will draw: BN statistics re-estimated for the EMA weights, as export does.
host rdg eval --rdg "$RUNS/rdg" --data "$DATA" --probe "$RUNS/probe" --bn recalibrated

# f32 and int8 (activation scales calibrated on training utterances of $DATA):
host export --sen "$RUNS/sen" --rdg "$RUNS/rdg" --out "$OUT" --force --int8

# Spoken samples: the "subtle differences" captions (3 body × 3 wing colours).
mkdir -p "$OUT/samples"
for body in yellow red grey; do
    for wing in brown black blue; do
        espeak-ng -v en-us -s 150 -w "$OUT/samples/${body}_body_${wing}_wings.wav" \
            "this bird has a $body body and $wing wings"
    done
done
cargo run --release --locked -q -p s2i-device --bin s2i -- check --bundle "$OUT"
