"""Runs one ONNX file the way a user of the standard tools would: onnx.checker (full check,
with shape inference) and onnxruntime on the CPU. Usage: onnx_check.py MODEL OUT_DIR INPUT.npy...
(inputs in the model's input order); writes OUT_DIR/<output name>.npy."""
import sys

import numpy as np
import onnx
import onnxruntime as ort

model_path, out_dir, *input_files = sys.argv[1:]
onnx.checker.check_model(onnx.load(model_path), full_check=True)
session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
feeds = {i.name: np.load(f) for i, f in zip(session.get_inputs(), input_files)}
for output, value in zip(session.get_outputs(), session.run(None, feeds)):
    np.save(f"{out_dir}/{output.name}.npy", value)
