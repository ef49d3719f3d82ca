"""Rebuild services/essentia_api/models/msd_musicnn.onnx from the musicnn wheel's MSD checkpoint.

Run once, in a throw-away environment (TensorFlow is not a project dependency):

    python -m venv /tmp/mvenv && /tmp/mvenv/bin/pip install tensorflow-cpu==2.21.0 tf2onnx==1.17.0 \
        onnx onnxruntime && /tmp/mvenv/bin/pip download --no-deps musicnn==0.1.0 -d /tmp/musicnn \
        && (cd /tmp/musicnn && unzip -q musicnn-0.1.0-py3-none-any.whl)
    /tmp/mvenv/bin/python scripts/musicnn_to_onnx.py /tmp/musicnn/musicnn/MSD_musicnn/ out.onnx

musicnn's own code (TF1 tf.layers) does not run on TensorFlow 2.x, and import_meta_graph of the checkpoint
fails on its gradient nodes, so the inference sub-graph is cut from the .meta file, its variables replaced by
the checkpoint's values, is_training fixed to False (batch norm in inference mode), and converted by tf2onnx.
The script then checks the ONNX model against TensorFlow on random patches.
"""

from __future__ import annotations

import sys

import numpy as np


def main(checkpoint_dir: str, out_path: str) -> None:
    import tensorflow as tf
    import tf2onnx
    from tensorflow.core.framework import graph_pb2
    from tensorflow.core.protobuf import meta_graph_pb2
    from tensorflow.python.training import py_checkpoint_reader

    tf.compat.v1.disable_eager_execution()
    meta = meta_graph_pb2.MetaGraphDef()
    with open(checkpoint_dir + ".meta", "rb") as fh:
        meta.ParseFromString(fh.read())
    inference = tf.compat.v1.graph_util.extract_sub_graph(meta.graph_def, ["model/Sigmoid"])
    reader = py_checkpoint_reader.NewCheckpointReader(checkpoint_dir)
    frozen = graph_pb2.GraphDef()
    for node in inference.node:
        node.attr.pop("_output_shapes", None)  # inconsistent in the checkpoint; shapes are re-inferred
        if node.op in ("VariableV2", "Variable"):
            value = reader.get_tensor(node.name)
            const = frozen.node.add(name=node.name, op="Const")
            const.attr["dtype"].type = tf.as_dtype(value.dtype).as_datatype_enum
            const.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
        elif node.name == "model/Placeholder_2":  # is_training
            const = frozen.node.add(name=node.name, op="Const")
            const.attr["dtype"].type = tf.bool.as_datatype_enum
            const.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(False))
        else:
            frozen.node.add().CopyFrom(node)
    frozen = tf.compat.v1.graph_util.extract_sub_graph(frozen, ["model/Sigmoid"])
    tf2onnx.convert.from_graph_def(
        frozen, input_names=["model/Placeholder:0"], output_names=["model/Sigmoid:0"], opset=17,
        output_path=out_path,
    )

    import onnxruntime

    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(frozen, name="")
    patches = (np.random.default_rng(0).random((4, 187, 96)) * 4).astype(np.float32)
    with tf.compat.v1.Session(graph=graph) as session:
        expected = session.run("model/Sigmoid:0", {"model/Placeholder:0": patches})
    got = onnxruntime.InferenceSession(out_path).run(None, {"model/Placeholder:0": patches})[0]
    print(f"{out_path}: max |onnx - tensorflow| = {np.abs(got - expected).max():.2e}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: musicnn_to_onnx.py <musicnn/MSD_musicnn/ checkpoint dir> <out.onnx>")
    main(sys.argv[1], sys.argv[2])
