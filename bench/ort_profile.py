"""Where onnxruntime spends its time on one file of a bundle, node by node: the counterpart of
`device/examples/profile_bundle.rs` (tract), for comparing the two runtimes on the same graph.
One thread, random inputs of the manifest's shapes (frame_mask all ones), `--frames` for the
encoder's symbolic axis.

    .venv/bin/python bench/ort_profile.py runs/bundle-bench generator_stage2.onnx [--runs 40]
"""

import argparse
import collections
import json
import pathlib
import tempfile

import numpy as np
import onnxruntime as ort

from ort_common import single_thread_session


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", type=pathlib.Path)
    ap.add_argument("file")
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--top", type=int, default=14)
    args = ap.parse_args()
    manifest = json.loads((args.bundle / "manifest.json").read_text())
    entry = next((f for f in manifest["files"] if f["path"] == args.file), None)
    if entry is None:
        raise SystemExit(f"{args.bundle}/manifest.json lists no file {args.file}")
    session = single_thread_session(
        args.bundle / args.file, profile_prefix=pathlib.Path(tempfile.mkdtemp()) / "ort"
    )
    rng = np.random.default_rng(0)
    feeds = {}
    for tensor in entry["inputs"]:
        shape = [args.frames if isinstance(d, str) else d for d in tensor["shape"]]
        feeds[tensor["name"]] = (
            np.ones(shape, np.float32)
            if tensor["name"] == "frame_mask"
            else rng.uniform(-1, 1, shape).astype(np.float32)
        )
    for _ in range(args.runs):
        session.run(None, feeds)
    events = json.loads(pathlib.Path(session.end_profiling()).read_text())
    per_node = collections.defaultdict(float)
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            per_node[(e["name"][: -len("_kernel_time")], e["args"].get("op_name"))] += e["dur"]
    ms = {k: v / args.runs / 1e3 for k, v in per_node.items()}
    print(f"== {args.file} under onnxruntime {ort.__version__} ({sum(ms.values()):.2f} ms) ==")
    for (node, op), t in sorted(ms.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"  {t:7.3f} ms  {op:<16} {node}")


if __name__ == "__main__":
    main()
