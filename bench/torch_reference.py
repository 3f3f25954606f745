"""PyTorch reference of s2igan-edge's exported networks, and the Python half of the export
benchmark (issue 6, "Benchmark (not a test)").

Usage:
    nice -n 19 .venv/bin/python bench/torch_reference.py [--out runs/bench-python.json]

What it does, single-threaded throughout:

1. Defines the speech encoder (SED) and the generator (DG) in PyTorch, transcribed from the Rust
   networks (host/src/sen/speech_encoder.rs, host/src/rdg/{generator,blocks,conditioning}.rs),
   and loads our safetensors checkpoints into them unchanged.
2. Checks that reference against our bundle's ONNX files under onnxruntime (same weights: the
   bundle must be exported with `--recalibration-batches 0`, since recalibration rewrites the
   generator's BN statistics). Every output must agree to 1e-4 relative, or the script stops:
   a benchmark of two different networks would mean nothing.
3. (a) exports the reference with `torch.onnx.export` (opset 17), the path a user would take
   without our exporter, and (d) takes our bundle's files; runs both under onnxruntime and times
   the encoder on 300 frames (3 s of speech), stage 1 and stage 2, chained as the board runs them.
4. Writes the milliseconds and the image PSNR of (d) against (a) to `--out` (JSON), and beside it
   the exact inputs and (a)'s images as .npy.
5. Runs rows (b) our f32 files and (c) our int8 files under tract on those same inputs
   (`device/examples/tract_rows.rs --serve`, a second process that runs one round per request,
   taking its turn in the same rotation as the onnxruntime passes), so the four rows are timed
   side by side in one run of this script; `--no-tract` skips them.

The bundle for rows (b)-(d) must be exported from the same checkpoints with
`--recalibration-batches 0 --int8`.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import time
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F
from safetensors import safe_open
from torch import nn

from ort_common import single_thread_session

REPO = Path(__file__).resolve().parent.parent

# Same tolerance as the exporter's own tch-vs-tract check (issue 6).
MAX_RELATIVE_ERROR = 1e-4
OPSET = 17
BN_EPS = 1e-5  # every BN in the project is built with PyTorch's default


# --------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------


def read_checkpoint(path, prefix):
    """Tensors under `prefix` (stripped) and the run config stored in the file's metadata."""
    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["s2i"])
        tensors = {k[len(prefix):]: f.get_tensor(k) for k in f.keys() if k.startswith(prefix)}
    return tensors, meta["config"]


def load_exactly(module, tensors):
    """load_state_dict, tolerating only PyTorch's BN step counters (which our files do not have)."""
    missing, unexpected = module.load_state_dict(tensors, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise SystemExit(f"checkpoint does not fit the reference: missing {missing}, "
                         f"unexpected {unexpected}")


# --------------------------------------------------------------------------------------------
# Speech encoder (host/src/sen/speech_encoder.rs), batch 1, no padding
# --------------------------------------------------------------------------------------------


class SpeechEncoder(nn.Module):
    """conv1d+BN twice (no activation) → 2-layer bi-GRU → per-channel attention pooling → L2.

    Our trainer runs one unidirectional GRU per direction and reverses each utterance within its
    length; for a single unpadded utterance that is exactly a bidirectional nn.GRU, so each layer
    is one here, with the `_bwd` weights loaded as the `_reverse` ones.
    """

    def __init__(self, cfg):
        super().__init__()
        c0, c1 = cfg["conv_channels"]
        k, s = cfg["conv_kernel"], cfg["conv_stride"]
        self.conv1 = nn.Conv1d(cfg["n_mels"], c0, k, stride=s)
        self.bn1 = nn.BatchNorm1d(c0, eps=BN_EPS)
        self.conv2 = nn.Conv1d(c0, c1, k, stride=s)
        self.bn2 = nn.BatchNorm1d(c1, eps=BN_EPS)
        hidden, width = cfg["gru_hidden"], c1
        self.gru_layers = cfg["gru_layers"]
        for layer in range(self.gru_layers):
            setattr(self, f"gru{layer}",
                    nn.GRU(width, hidden, batch_first=True, bidirectional=True))
            width = 2 * hidden
        self.attention_hidden = nn.Linear(2 * hidden, cfg["attention_hidden"])
        self.attention_out = nn.Linear(cfg["attention_hidden"], 2 * hidden)

    def forward(self, features):  # [1, n_mels, frames] → [1, D]
        x = self.bn2(self.conv2(self.bn1(self.conv1(features))))
        h = x.transpose(1, 2)  # [1, T', C]
        for layer in range(self.gru_layers):
            h, _ = getattr(self, f"gru{layer}")(h)  # forward ‖ backward, as our trainer concatenates
        # One softmax over time for each of the D channels.
        logits = self.attention_out(torch.tanh(self.attention_hidden(h)))
        pooled = (torch.softmax(logits, dim=1) * h).sum(dim=1)
        return pooled / pooled.norm(dim=1, keepdim=True).clamp_min(1e-12)


def speech_encoder_from(path):
    tensors, config = read_checkpoint(path, "model/sed.")
    cfg = config["speech"]
    sed = SpeechEncoder(cfg)
    # Our names: gru{l}_fwd.weight_ih_l0 …; PyTorch's bidirectional GRU: gru{l}.weight_ih_l0(_reverse).
    renamed = {}
    for name, t in tensors.items():
        head, _, param = name.partition(".")
        if head.endswith("_fwd"):
            name = f"{head[:-4]}.{param}"
        elif head.endswith("_bwd"):
            name = f"{head[:-4]}.{param}_reverse"
        renamed[name] = t
    load_exactly(sed, renamed)
    return sed.eval(), cfg


# --------------------------------------------------------------------------------------------
# Generator (host/src/rdg/{generator,blocks,conditioning}.rs), inference mode, c = μ
# --------------------------------------------------------------------------------------------


def conv3x3(cin, cout):
    """3×3, padding 1, no bias: BN's β is the bias."""
    return nn.Conv2d(cin, cout, 3, padding=1, bias=False)


def tile(vector, side):
    """[B, D] → [B, D, S, S]: how a stage joins the condition to its feature map."""
    b, d = vector.shape
    return vector.view(b, d, 1, 1).expand(b, d, side, side)


class UpBlock(nn.Module):
    """nearest ×2 → conv3×3 in→2·out → BN → GLU."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv = conv3x3(cin, 2 * cout)
        self.bn = nn.BatchNorm2d(2 * cout, eps=BN_EPS)

    def forward(self, x):
        return F.glu(self.bn(self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))), dim=1)


class JoinBlock(nn.Module):
    """conv3×3 in→2·out → BN → GLU at the same resolution."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv = conv3x3(cin, 2 * cout)
        self.bn = nn.BatchNorm2d(2 * cout, eps=BN_EPS)

    def forward(self, x):
        return F.glu(self.bn(self.conv(x)), dim=1)


class ResBlock(nn.Module):
    """x + BN(conv(GLU(BN(conv(x))))), no activation after the sum."""

    def __init__(self, channels):
        super().__init__()
        self.conv1 = conv3x3(channels, 2 * channels)
        self.bn1 = nn.BatchNorm2d(2 * channels, eps=BN_EPS)
        self.conv2 = conv3x3(channels, channels)
        self.bn2 = nn.BatchNorm2d(channels, eps=BN_EPS)

    def forward(self, x):
        return x + self.bn2(self.conv2(F.glu(self.bn1(self.conv1(x)), dim=1)))


class ToImage(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = conv3x3(channels, 3)

    def forward(self, x):
        return torch.tanh(self.conv(x))


class ConditioningAugmentation(nn.Module):
    """embedding → linear → GLU → μ ‖ log σ²; we keep μ (the bundle's default, deterministic)."""

    def __init__(self, embedding_dim, condition_dim):
        super().__init__()
        self.fc = nn.Linear(embedding_dim, 4 * condition_dim)
        self.condition_dim = condition_dim

    def forward(self, embedding):
        return F.glu(self.fc(embedding), dim=1)[:, : self.condition_dim]


class InitStage(nn.Module):
    """[c, z] → linear (no bias) → BN1d → GLU → 16·ngf×4×4 → four up-blocks → image 64²."""

    SIDE, UPSAMPLES = 4, 4

    def __init__(self, cfg):
        super().__init__()
        self.width = 16 * cfg["ngf"]
        fc_out = 2 * self.width * self.SIDE * self.SIDE
        self.fc = nn.Linear(cfg["condition_dim"] + cfg["z_dim"], fc_out, bias=False)
        self.bn = nn.BatchNorm1d(fc_out, eps=BN_EPS)
        ch = self.width
        for i in range(1, self.UPSAMPLES + 1):
            setattr(self, f"up{i}", UpBlock(ch, ch // 2))
            ch //= 2
        self.to_image = ToImage(ch)

    def forward(self, c, z):
        x = F.glu(self.bn(self.fc(torch.cat([c, z], dim=1))), dim=1)
        h = x.view(-1, self.width, self.SIDE, self.SIDE)  # channel-major, as our code
        for i in range(1, self.UPSAMPLES + 1):
            h = getattr(self, f"up{i}")(h)
        return self.to_image(h), h


class RefineStage(nn.Module):
    """[tile(c), h] → join → residual blocks → r → [r, h] (dense) → up-block → image at 2S."""

    def __init__(self, cfg, k):
        super().__init__()
        n = cfg["ngf"] >> (k - 2)
        self.join = JoinBlock(cfg["condition_dim"] + n, n)
        self.residual_blocks = cfg["residual_blocks"]
        for i in range(1, self.residual_blocks + 1):
            setattr(self, f"res{i}", ResBlock(n))
        self.dense = cfg["dense"]
        self.up = UpBlock(2 * n if self.dense else n, n // 2)
        self.to_image = ToImage(n // 2)

    def forward(self, h, c):
        r = self.join(torch.cat([tile(c, h.shape[2]), h], dim=1))
        for i in range(1, self.residual_blocks + 1):
            r = getattr(self, f"res{i}")(r)
        nxt = self.up(torch.cat([r, h], dim=1) if self.dense else r)
        return self.to_image(nxt), nxt


class Generator(nn.Module):
    """Holds the stages under our variable names (ca, stage1, stage2, …)."""

    def __init__(self, cfg):
        super().__init__()
        self.stages = cfg["stages"]
        self.embedding_scale = cfg.get("embedding_scale", 1.0)
        self.ca = ConditioningAugmentation(cfg["embedding_dim"], cfg["condition_dim"])
        self.stage1 = InitStage(cfg)
        for k in range(2, self.stages + 1):
            setattr(self, f"stage{k}", RefineStage(cfg, k))

    def condition(self, embedding):
        # Our trainer scales the embedding before the CA (unit vectors → unit-size components).
        return self.ca(embedding * self.embedding_scale)


class Stage1Graph(nn.Module):
    """Exported interface of stage 1: embedding, noise → image, features, condition."""

    def __init__(self, gen):
        super().__init__()
        self.gen = gen

    def forward(self, embedding, noise):
        c = self.gen.condition(embedding)
        image, features = self.gen.stage1(c, noise)
        return image, features, c


class RefineGraph(nn.Module):
    """Exported interface of stage k ≥ 2: previous_features, condition → image, features."""

    def __init__(self, gen, k):
        super().__init__()
        self.stage = getattr(gen, f"stage{k}")

    def forward(self, previous_features, condition):
        return self.stage(previous_features, condition)


def generator_from(path):
    tensors, cfg = read_checkpoint(path, "generator/g.")
    gen = Generator(cfg)
    load_exactly(gen, tensors)
    return gen.eval(), cfg


# --------------------------------------------------------------------------------------------
# The three graphs, their interfaces, and onnxruntime
# --------------------------------------------------------------------------------------------

GRAPHS = {
    # role: (input names, output names), as in our bundle's manifest
    "speech_encoder": (["features"], ["embedding"]),
    "generator_stage1": (["embedding", "noise"], ["image", "features", "condition"]),
    "generator_stage2": (["previous_features", "condition"], ["image", "features"]),
}


def reference_modules(sed, gen):
    return {
        "speech_encoder": sed,
        "generator_stage1": Stage1Graph(gen).eval(),
        "generator_stage2": RefineGraph(gen, 2).eval(),
    }


def export_with_torch(modules, example_inputs, folder):
    """(a): PyTorch's own exporter (TorchScript path, opset 17), frames dynamic for the encoder."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for role, module in modules.items():
        inputs, outputs = GRAPHS[role]
        path = folder / f"{role}.onnx"
        dynamic = {"features": {2: "frames"}} if role == "speech_encoder" else None
        # The TorchScript exporter is chosen on purpose (opset 17, ONNX GRU ops; the dynamo one
        # needs onnxscript), and batch 1 is all we export: silence the two warnings about that.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export")
            warnings.filterwarnings("ignore", message=".*batch_size other than 1.*GRU")
            torch.onnx.export(module, tuple(torch.from_numpy(a) for a in example_inputs[role]),
                              str(path), input_names=inputs, output_names=outputs,
                              opset_version=OPSET, dynamic_axes=dynamic, dynamo=False)
        onnx.checker.check_model(str(path))
        paths[role] = path
    return paths


def bundle_files(bundle):
    manifest = json.loads((bundle / "manifest.json").read_text())
    files = {f["role"]: bundle / f["path"] for f in manifest["files"]
             if f.get("precision", "f32") == "f32"}
    if manifest["hyper_parameters"].get("bn_recalibration_batches", 0) != 0:
        raise SystemExit(f"{bundle}: exported with BN recalibration, so its generator's BN "
                         "statistics are not the checkpoint's; export one with "
                         "--recalibration-batches 0 for a like-for-like comparison")
    return files


class Pipeline:
    """One way of running the three graphs under onnxruntime, chained as the board runs them."""

    def __init__(self, name, paths):
        self.name = name
        self.sessions = {role: single_thread_session(p) for role, p in paths.items()}

    def run(self, role, *arrays):
        inputs, outputs = GRAPHS[role]
        session = self.sessions[role]
        feeds = dict(zip(inputs, arrays))
        if role == "speech_encoder" and any(i.name == "frame_mask" for i in session.get_inputs()):
            # Our encoder also takes the padding mask (the board pads to fixed lengths under
            # tract); onnxruntime runs any length, so every frame is speech here.
            frames = arrays[0].shape[2]
            feeds["frame_mask"] = np.ones((1, 1, frames), np.float32)
        return session.run(outputs, feeds)

    def end_to_end(self, features, noise):
        """Returns ({stage: ms}, {stage: image})."""
        ms = {}
        t = time.perf_counter()
        (embedding,) = self.run("speech_encoder", features)
        ms["speech_encoder"] = 1e3 * (time.perf_counter() - t)
        t = time.perf_counter()
        image1, h1, c = self.run("generator_stage1", embedding, noise)
        ms["stage1"] = 1e3 * (time.perf_counter() - t)
        t = time.perf_counter()
        image2, _ = self.run("generator_stage2", h1, c)
        ms["stage2"] = 1e3 * (time.perf_counter() - t)
        ms["end_to_end"] = sum(ms.values())
        return ms, {"stage1": image1, "stage2": image2}


# --------------------------------------------------------------------------------------------
# Checks and measures
# --------------------------------------------------------------------------------------------


def relative_error(reference, other):
    """max |a − b| / max |a|, as host/src/export/check.rs."""
    reference, other = np.asarray(reference, np.float64), np.asarray(other, np.float64)
    scale = np.abs(reference).max()
    diff = np.abs(reference - other).max()
    return float(diff / scale) if scale > 0 else float(diff)


def psnr(reference, other, peak_to_peak=2.0):
    """Images in [-1, 1]; None when identical (JSON has no infinity)."""
    mse = float(np.mean((np.asarray(reference, np.float64) - np.asarray(other, np.float64)) ** 2))
    return None if mse == 0 else 10 * np.log10(peak_to_peak**2 / mse)


def check_inputs(cfg_sed, cfg_gen, rng):
    """Random inputs of each graph's interface, several encoder lengths (as the exporter checks)."""
    unit = rng.standard_normal((1, cfg_gen["embedding_dim"])).astype(np.float32)
    unit /= np.linalg.norm(unit)
    side, n = 64, cfg_gen["ngf"]
    return {
        "speech_encoder": [[rng.standard_normal((1, cfg_sed["n_mels"], t)).astype(np.float32)]
                           for t in (16, 57, 300, 1000)],
        "generator_stage1": [[unit, rng.standard_normal((1, cfg_gen["z_dim"])).astype(np.float32)]],
        "generator_stage2": [[rng.standard_normal((1, n, side, side)).astype(np.float32),
                              rng.standard_normal((1, cfg_gen["condition_dim"])).astype(np.float32)]],
    }


def worst_errors(modules, pipeline, inputs):
    """Per graph, the worst relative error of `pipeline` against the PyTorch reference."""
    worst = {}
    for role, cases in inputs.items():
        errors = []
        for arrays in cases:
            with torch.no_grad():
                expected = modules[role](*(torch.from_numpy(a) for a in arrays))
            expected = expected if isinstance(expected, tuple) else (expected,)
            got = pipeline.run(role, *arrays)
            errors += [relative_error(e.numpy(), g) for e, g in zip(expected, got)]
        worst[role] = max(errors)
    return worst


def require_agreement(label, errors):
    bad = {r: e for r, e in errors.items() if not e < MAX_RELATIVE_ERROR}
    if bad:
        raise SystemExit(f"{label}: relative error above {MAX_RELATIVE_ERROR:g}: {bad}; "
                         "the reference and the exported graphs are not the same network")


def time_interleaved(pipelines, features, noise, warmup, runs, tract=None):
    """Medians over `runs` end-to-end passes, the pipelines alternating (and their order too) so
    that the shared machine's load drifts affect all alike. `tract` (a TractRows) runs one
    round of rows (b) and (c) in its own process at its turn in the same rotation."""
    for _ in range(warmup):
        for p in pipelines:
            p.end_to_end(features, noise)
    samples = {p.name: [] for p in pipelines}
    turns = list(pipelines) + ([tract] if tract else [])
    for i in range(runs):
        for p in turns if i % 2 == 0 else reversed(turns):
            if p is tract:
                tract.one_round()
            else:
                samples[p.name].append(p.end_to_end(features, noise)[0])
    return {name: {f"{stage}_ms": statistics.median(p[stage] for p in passes)
                   for stage in passes[0]}
            for name, passes in samples.items()}


# The instruction sets that decide which matrix kernels the runtimes pick (int8 above all):
# a VM's "model name" often does not say, and the shared machine is not always the same CPU.
KERNEL_FEATURES = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "amx_bf16",
                   "asimddp", "i8mm")


def machine():
    cpu, flags = None, None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and cpu is None:
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith(("flags", "Features")) and flags is None:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    cpu, flags = cpu or platform.processor(), flags or set()
    return {"cpu": cpu, "cpu_features": [f for f in KERNEL_FEATURES if f in flags],
            "logical_cores": os.cpu_count(), "threads": 1,
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(), "torch": torch.__version__,
            "onnxruntime": ort.__version__, "onnx": onnx.__version__}


class TractRows:
    """Rows (b) and (c): the same inputs through our bundle's f32 and int8 files under tract
    (device/examples/tract_rows.rs --serve), one round per call, between the onnxruntime
    passes: ratios taken side by side, not from two stretches of a drifting machine."""

    def __init__(self, bundle, arrays, warmup):
        build = ["cargo", "build", "--release", "--locked", "-q", "-p", "s2i-device",
                 "--example", "tract_rows"]
        print("building", " ".join(build), flush=True)
        subprocess.run(build, cwd=REPO, check=True)
        cmd = [str(REPO / "target/release/examples/tract_rows"), "--bundle", str(bundle),
               "--arrays", str(arrays), "--warmup", str(warmup), "--serve"]
        self.process = subprocess.Popen(cmd, cwd=REPO, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        self.expect("ready")

    def expect(self, word):
        line = self.process.stdout.readline().strip()
        if line != word:
            self.process.kill()
            raise SystemExit(f"tract_rows: expected {word!r}, got {line!r} (see its stderr)")

    def one_round(self):
        self.process.stdin.write("pass\n")
        self.process.stdin.flush()
        self.expect("ok")

    def finish(self):
        out, _ = self.process.communicate("done\n")
        if self.process.returncode != 0:
            raise SystemExit(f"tract_rows failed (exit {self.process.returncode})")
        return json.loads(out)


def print_table(result):
    rows = [("(a) torch.onnx.export + onnxruntime", "torch_export_onnxruntime"),
            ("(b) ours + tract, f32", "tract_f32"),
            ("(c) ours + tract, int8", "tract_int8"),
            ("(d) ours + onnxruntime", "ours_onnxruntime")]
    rows = [r for r in rows if r[1] in result]
    base = result["torch_export_onnxruntime"]
    cols = ["speech_encoder_ms", "stage1_ms", "stage2_ms", "end_to_end_ms"]
    print(f"{'ms, median, 1 thread':38}{'encoder':>9}{'stage 1':>9}{'stage 2':>9}"
          f"{'total':>9}{'vs (a)':>8}{'PSNR 1':>9}{'PSNR 2':>9}")
    for label, key in rows:
        r = result[key]
        ratio = r["end_to_end_ms"] / base["end_to_end_ms"]
        if key != "torch_export_onnxruntime":
            p = (result["psnr_vs_torch_export"] if key == "ours_onnxruntime"
                 else r["psnr_vs_torch_export"])
            fmt = lambda v: "  same" if v is None else f"{v:6.1f}"
            psnrs = f"{fmt(p['stage1_db']):>9}{fmt(p['stage2_db']):>9}"
        else:
            psnrs = f"{'ref':>9}{'ref':>9}"
        print(f"{label:38}" + "".join(f"{r[c]:9.2f}" for c in cols) + f"{ratio:7.2f}x" + psnrs)


# --------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sen", type=Path, default=REPO / "runs/sen-edge-ld/best.safetensors")
    ap.add_argument("--generator", type=Path, default=REPO / "runs/gen-e35.safetensors")
    ap.add_argument("--bundle", type=Path, default=REPO / "runs/bundle-e35-raw",
                    help="our bundle, exported from the same checkpoints with "
                         "--recalibration-batches 0")
    ap.add_argument("--export-dir", type=Path, default=REPO / "runs/bench-torch-export")
    ap.add_argument("--out", type=Path, default=REPO / "runs/bench-python.json")
    ap.add_argument("--features", type=Path,
                    help="[1, n_mels, frames] .npy of real features; default: N(0, 1) noise, "
                         "the statistics of our CMVN-normalised log-mels")
    ap.add_argument("--frames", type=int, default=300, help="3 s of speech at 100 frames/s")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-tract", action="store_true",
                    help="only the onnxruntime rows (no Rust build)")
    args = ap.parse_args()

    # The machine is shared: one thread everywhere, for the reference and for both runtimes.
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    rng = np.random.default_rng(args.seed)

    sed, cfg_sed = speech_encoder_from(args.sen)
    gen, cfg_gen = generator_from(args.generator)
    if cfg_gen["stages"] != 2:
        raise SystemExit("this bench times the edge preset's two stages")
    modules = reference_modules(sed, gen)

    # The benchmark's inputs: features, and the noise of one picture.
    if args.features:
        features = np.load(args.features).astype(np.float32)
    else:
        features = rng.standard_normal((1, cfg_sed["n_mels"], args.frames)).astype(np.float32)
    noise = rng.standard_normal((1, cfg_gen["z_dim"])).astype(np.float32)

    checks = check_inputs(cfg_sed, cfg_gen, rng)
    examples = {role: cases[0] for role, cases in checks.items()}
    torch_export = Pipeline("torch_export_onnxruntime",
                            export_with_torch(modules, examples, args.export_dir))
    ours = Pipeline("ours_onnxruntime", bundle_files(args.bundle))

    # Same network on both sides, or nothing to compare.
    errors = {"ours_vs_reference": worst_errors(modules, ours, checks),
              "torch_export_vs_reference": worst_errors(modules, torch_export, checks)}
    for label, e in errors.items():
        require_agreement(label, e)

    # Inputs and (a)'s outputs beside the JSON, for the tract rows (read from these files).
    _, reference_images = torch_export.end_to_end(features, noise)
    _, our_images = ours.end_to_end(features, noise)
    (embedding,) = torch_export.run("speech_encoder", features)
    _, stage1_features, condition = torch_export.run("generator_stage1", embedding, noise)
    arrays = {"input_features": features, "input_embedding": embedding, "input_noise": noise,
              "torch_export_stage1_image": reference_images["stage1"],
              "torch_export_stage1_features": stage1_features,
              "torch_export_condition": condition,
              "torch_export_stage2_image": reference_images["stage2"]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    array_paths = {}
    for name, a in arrays.items():
        path = args.out.with_name(f"{args.out.stem}.{name}.npy")
        np.save(path, np.ascontiguousarray(a, dtype=np.float32))
        array_paths[name] = str(path)

    tract = None if args.no_tract else TractRows(args.bundle, args.out.with_suffix(""),
                                                 args.warmup)
    load_before = os.getloadavg()
    timings = time_interleaved([torch_export, ours], features, noise, args.warmup, args.runs,
                               tract)

    result = {
        **timings,
        "psnr_vs_torch_export": {f"{k}_db": psnr(reference_images[k], our_images[k])
                                 for k in ("stage1", "stage2")},
        "machine": {**machine(), "load_average_before_timing": [round(x, 2) for x in load_before]},
        "setup": {"exporter": f"torch.onnx.export (TorchScript, opset {OPSET})",
                  "frames": int(features.shape[2]), "runs": args.runs, "warmup": args.warmup,
                  "timing": "median of interleaved end-to-end passes (encoder → stage 1 → "
                            "stage 2, each pipeline chained on its own outputs)",
                  "features": str(args.features) if args.features else f"N(0,1), seed {args.seed}",
                  "sen": str(args.sen), "generator": str(args.generator),
                  "bundle": str(args.bundle), "torch_export_dir": str(args.export_dir)},
        "max_relative_error": errors,
        "arrays": array_paths,
    }
    if tract:
        result.update(tract.finish())
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)
    m = result["machine"]
    print(f"on {m['cpu']} ({' '.join(m['cpu_features']) or 'no listed features'}), "
          f"{m['logical_cores']} logical cores, one thread per runtime")
    print("max relative error vs the PyTorch reference: "
          + ", ".join(f"{label} {max(e.values()):.1e}" for label, e in errors.items()))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
