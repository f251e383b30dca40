"""Makes the hostile ONNX models of tests/bad_inputs (run with `pip install onnx`; the files are
committed, so the tests need no Python). Each is a valid protobuf that asks for something no
machine can give: the engine must answer with a message, never abort or panic."""
from pathlib import Path

import onnx
from onnx import TensorProto, helper

HERE = Path(__file__).parent


def classifier(nodes, initializers, height=8, width=8):
    """An 'image classifier' [N, 1, H, W] -> [N, 2] around `nodes`, which must turn 'x' into 'y'
    ([N, 2])."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, height, width])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])
    graph = helper.make_graph(nodes, "bad", [x], [y], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def pooled(extra_nodes, extra_inits, add_input):
    """x -> global average pool -> [N, 1] -> concat with itself [N, 2] -> + add_input."""
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["m"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Unsqueeze", ["m", "one_axis"], ["m1"]),
        helper.make_node("Concat", ["m1", "m1"], ["c"], axis=1),
        *extra_nodes,
        helper.make_node("Add", ["c", add_input], ["y"]),
    ]
    inits = [helper.make_tensor("one_axis", TensorProto.INT64, [1], [1]), *extra_inits]
    return nodes, inits


# ConstantOfShape of [100000, 100000] floats (40 GB), reduced to one value and added.
nodes, inits = pooled(
    [
        helper.make_node("ConstantOfShape", ["bomb_shape"], ["bomb"],
                         value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.0])),
        helper.make_node("ReduceSum", ["bomb"], ["bomb_sum"], keepdims=0),
    ],
    [helper.make_tensor("bomb_shape", TensorProto.INT64, [2], [100000, 100000])],
    "bomb_sum",
)
onnx.save(classifier(nodes, inits), HERE / "constant_of_shape_bomb.onnx")

# Range(0, 1e12, 1): a trillion int64 values, cast to float, summed and added.
nodes, inits = pooled(
    [
        helper.make_node("Range", ["r_start", "r_limit", "r_delta"], ["r"]),
        helper.make_node("Cast", ["r"], ["rf"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["rf"], ["r_sum"], keepdims=0),
    ],
    [
        helper.make_tensor("r_start", TensorProto.INT64, [], [0]),
        helper.make_tensor("r_limit", TensorProto.INT64, [], [10**12]),
        helper.make_tensor("r_delta", TensorProto.INT64, [], [1]),
    ],
    "r_sum",
)
onnx.save(classifier(nodes, inits), HERE / "range_bomb.onnx")

# A well-formed model whose input declares 100000 x 100000 pixels.
nodes, inits = pooled([], [helper.make_tensor("zero", TensorProto.FLOAT, [2], [0.0, 0.0])], "zero")
onnx.save(classifier(nodes, inits, 100000, 100000), HERE / "huge_input.onnx")

# The same model at 8 x 8: it must open (the control).
onnx.save(classifier(nodes, inits), HERE / "tiny_control.onnx")

# A model whose weights hold NaN: every score is NaN, which has no top class.
nodes, inits = pooled([], [helper.make_tensor("nan", TensorProto.FLOAT, [2], [float("nan"), 0.0])], "nan")
onnx.save(classifier(nodes, inits), HERE / "nan_weights.onnx")

for f in sorted(HERE.glob("*.onnx")):
    print(f.name, f.stat().st_size, "bytes")
