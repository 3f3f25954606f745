"""Writes single-convolution ONNX files for comparing forms of stage 2's 3x3 convolutions
(16 inputs at 64², 32 or 16 outputs) under tract and onnxruntime:

- plain: the convolution as it is, 3x3 over [1, 16, 64, 64];
- pair: the picture with column pairs packed into channels ([1, 32, 64, 32]) and the output
  shifted by one column, so a 3x2 kernel over 2x the channels does it (1.37x the multiply-adds,
  a taller and deeper matrix product);
- s2d: 2x2 blocks packed into channels ([1, 64, 32, 32]), output shifted by one pixel, a 2x2
  kernel over 4x the channels (1.89x the multiply-adds);
- cols: the im2col written in the graph (Pad, nine Slices, Concat) and a 1x1 convolution over
  the 144 channels, so tract's own gather is not used;
- head_plain / head_taps: the image heads (3x3 to 3 channels, then tanh) at stage 1's and
  stage 2's sizes, as a plain convolution and as the export's taps form (one 1x1 convolution
  with 27 outputs over the padded input, nine shifted windows summed; `layers::to_image`).

Only the timing is of interest (random weights, no packing or unpacking in the file).

    .venv/bin/python bench/conv_forms.py runs/conv-forms
    target/release/examples/time_onnx_files runs/conv-forms/*.onnx
    .venv/bin/python bench/conv_forms.py runs/conv-forms --time   # onnxruntime, same files
"""

import argparse
import pathlib
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FORMS = [
    # name, inputs, height, width, outputs, kernel, pads (top, left, bottom, right)
    ("plain32", 16, 64, 64, 32, (3, 3), [1, 1, 1, 1]),
    ("pair32", 32, 64, 32, 64, (3, 2), [1, 1, 1, 1]),
    ("s2d32", 64, 32, 32, 128, (2, 2), [1, 1, 1, 1]),
    ("plain16", 16, 64, 64, 16, (3, 3), [1, 1, 1, 1]),
    ("pair16", 32, 64, 32, 32, (3, 2), [1, 1, 1, 1]),
    ("s2d16", 64, 32, 32, 64, (2, 2), [1, 1, 1, 1]),
]


def save(folder: pathlib.Path, name, nodes, inits, x_shape, y_shape):
    """One checked opset-13 file with input `x` and output `y`; returns its path."""
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    path = folder / f"{name}.onnx"
    onnx.save(model, path)
    return path


def random_kernel(rng, cout, cin, kh, kw):
    return (rng.standard_normal((cout, cin, kh, kw)) * 0.1).astype(np.float32)


def tensor(values, name, dtype=np.int64):
    return numpy_helper.from_array(np.asarray(values, dtype), name)


def write(folder: pathlib.Path, name, cin, h, w, cout, kernel, pads, rng):
    kh, kw = kernel
    oh, ow = h + pads[0] + pads[2] - kh + 1, w + pads[1] + pads[3] - kw + 1
    inits = [tensor(random_kernel(rng, cout, cin, kh, kw), "W", np.float32),
             tensor(np.zeros(cout), "B", np.float32)]
    nodes = [helper.make_node("Conv", ["x", "W", "B"], ["y"], kernel_shape=[kh, kw], pads=pads)]
    path = save(folder, name, nodes, inits, [1, cin, h, w], [1, cout, oh, ow])
    return name, path, oh * ow * cout * cin * kh * kw


def write_cols(folder: pathlib.Path, name, cin, side, cout, rng):
    """The 3x3 convolution (padding 1) as Pad → nine shifted Slices → Concat → 1x1 Conv."""
    weight = random_kernel(rng, cout, cin, 3, 3)
    inits = [
        tensor([0, 0, 1, 1, 0, 0, 1, 1], "pads"),
        tensor([2, 3], "axes"),
        # Channels in (tap, input) order, as the Concat below stacks them.
        tensor(weight.transpose(0, 2, 3, 1).reshape(cout, 9 * cin, 1, 1), "W", np.float32),
        tensor(np.zeros(cout), "B", np.float32),
    ]
    nodes = [helper.make_node("Pad", ["x", "pads"], ["padded"])]
    taps = []
    for ky in range(3):
        for kx in range(3):
            t = f"tap{ky}{kx}"
            inits += [tensor([ky, kx], f"{t}.starts"), tensor([ky + side, kx + side], f"{t}.ends")]
            nodes.append(
                helper.make_node("Slice", ["padded", f"{t}.starts", f"{t}.ends", "axes"], [t])
            )
            taps.append(t)
    nodes += [
        helper.make_node("Concat", taps, ["columns"], axis=1),
        helper.make_node("Conv", ["columns", "W", "B"], ["y"], kernel_shape=[1, 1]),
    ]
    path = save(folder, name, nodes, inits, [1, cin, side, side], [1, cout, side, side])
    return name, path, side * side * cout * cin * 9


def write_head(folder: pathlib.Path, form, cin, side, rng):
    """An image head, 3x3 (padding 1) to 3 channels then tanh, plain or as nine taps."""
    weight = random_kernel(rng, 3, cin, 3, 3)
    if form == "plain":
        inits = [tensor(weight, "W", np.float32), tensor(np.zeros(3), "B", np.float32)]
        nodes = [helper.make_node("Conv", ["x", "W", "B"], ["sum"], kernel_shape=[3, 3],
                                  pads=[1, 1, 1, 1])]
    else:
        # [o, c, ky, kx] -> [(ky, kx, o), c, 1, 1]; tap (ky, kx)'s window starts at (ky, kx).
        inits = [tensor(weight.transpose(2, 3, 0, 1).reshape(27, cin, 1, 1), "T", np.float32),
                 tensor(np.zeros(27), "B27", np.float32),
                 tensor([1, 2, 3], "axes")]
        nodes = [helper.make_node("Conv", ["x", "T", "B27"], ["taps"], kernel_shape=[1, 1],
                                  pads=[1, 1, 1, 1])]
        windows = []
        for tap in range(9):
            ky, kx = divmod(tap, 3)
            end = [3 * tap + 3] + [np.iinfo(np.int64).max if k == 2 else k - 2 for k in (ky, kx)]
            inits += [tensor([3 * tap, ky, kx], f"s{tap}"), tensor(end, f"e{tap}")]
            nodes.append(helper.make_node("Slice", ["taps", f"s{tap}", f"e{tap}", "axes"],
                                          [f"window{tap}"]))
            windows.append(f"window{tap}")
        nodes.append(helper.make_node("Sum", windows, ["sum"]))
    nodes.append(helper.make_node("Tanh", ["sum"], ["y"]))
    name = f"head_{form}_{cin}in_{side}"
    path = save(folder, name, nodes, inits, [1, cin, side, side], [1, 3, side, side])
    return name, path, side * side * 3 * cin * 9


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=pathlib.Path)
    ap.add_argument("--time", action="store_true", help="also time them under onnxruntime")
    ap.add_argument("--runs", type=int, default=50)
    args = ap.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    written = [write(args.folder, *f, rng) for f in FORMS]
    written += [write_cols(args.folder, n, 16, 64, c, rng)
                for n, c in [("cols32", 32), ("cols16", 16)]]
    written += [write_head(args.folder, form, cin, side, rng)
                for cin, side in [(16, 64), (8, 128)] for form in ("plain", "taps")]
    for name, path, macs in written:
        print(f"{path}: {macs / 1e6:.1f} M multiply-adds")
    if args.time:
        from ort_common import single_thread_session

        sessions = []
        for name, path, _ in written:
            s = single_thread_session(path)
            x = rng.uniform(-1, 1, s.get_inputs()[0].shape).astype(np.float32)
            s.run(None, {"x": x})
            sessions.append((name, s, x, []))
        for _ in range(args.runs):
            for _, s, x, times in sessions:
                t = time.perf_counter()
                s.run(None, {"x": x})
                times.append((time.perf_counter() - t) * 1e3)
        for name, _, _, times in sessions:
            print(f"onnxruntime {name:<8} {sorted(times)[len(times) // 2]:.3f} ms")


if __name__ == "__main__":
    main()
