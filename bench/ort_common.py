"""onnxruntime as every bench script here runs it: one thread, sequential, CPU."""

import onnxruntime as ort


def single_thread_session(path, profile_prefix=None):
    """A session on one thread; with `profile_prefix`, per-node profiling on (files there)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if profile_prefix is not None:
        opts.enable_profiling = True
        opts.profile_file_prefix = str(profile_prefix)
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
