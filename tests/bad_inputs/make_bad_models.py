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

# An initializer that declares 1e12 floats (dims [1000000, 1000000]) but holds 8 bytes: the
# declared size must be checked against the bytes present, not allocated.
nodes, inits = pooled([], [], "zero")
lying = helper.make_tensor("zero", TensorProto.FLOAT, [2], [0.0, 0.0])
del lying.dims[:]
lying.dims.extend([1000000, 1000000])
lying.raw_data = b"\0" * 8
del lying.float_data[:]
onnx.save(classifier(nodes, [*inits, lying]), HERE / "lying_initializer.onnx")

# Dims whose product overflows 64 bits: [2^40, 2^40] (no data at all).
nodes, inits = pooled([], [], "zero")
overflow = helper.make_tensor("zero", TensorProto.FLOAT, [2], [0.0, 0.0])
del overflow.dims[:]
overflow.dims.extend([1 << 40, 1 << 40])
del overflow.float_data[:]
onnx.save(classifier(nodes, [*inits, overflow]), HERE / "overflowing_dims.onnx")

# A cycle: a -> b -> a (no topological order exists).
nodes = [
    helper.make_node("ReduceMean", ["x"], ["m"], axes=[1, 2, 3], keepdims=0),
    helper.make_node("Unsqueeze", ["m", "one_axis"], ["m1"]),
    helper.make_node("Add", ["m1", "loop_b"], ["loop_a"]),
    helper.make_node("Relu", ["loop_a"], ["loop_b"]),
    helper.make_node("Concat", ["loop_b", "loop_b"], ["y"], axis=1),
]
onnx.save(classifier(nodes, [helper.make_tensor("one_axis", TensorProto.INT64, [1], [1])]),
          HERE / "cycle.onnx")

# An input with a zero-size dimension: [N, 0, 8, 8] (no channels).
nodes, inits = pooled([], [helper.make_tensor("zero", TensorProto.FLOAT, [2], [0.0, 0.0])], "zero")
zero_ch = classifier(nodes, inits)
zero_ch.graph.input[0].type.tensor_type.shape.dim[1].dim_value = 0
onnx.save(zero_ch, HERE / "zero_channels.onnx")

# A model with no classes: its output is [N, 0].
nodes = [
    helper.make_node("ReduceMean", ["x"], ["m"], axes=[1, 2, 3], keepdims=1),
    helper.make_node("Reshape", ["m", "flat"], ["f"]),
    helper.make_node("Slice", ["f", "s0", "s0", "s1"], ["y"]),
]
inits = [
    helper.make_tensor("flat", TensorProto.INT64, [2], [-1, 1]),
    helper.make_tensor("s0", TensorProto.INT64, [1], [0]),
    helper.make_tensor("s1", TensorProto.INT64, [1], [1]),
]
no_classes = classifier(nodes, inits)
no_classes.graph.output[0].type.tensor_type.shape.dim[1].dim_value = 0
onnx.save(no_classes, HERE / "no_classes.onnx")

# An output that is not [N, K]: a map [N, 1, 8, 8] (a segmentation-style model).
nodes = [helper.make_node("Relu", ["x"], ["y"])]
seg = classifier(nodes, [])
del seg.graph.output[:]
seg.graph.output.append(helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1, 8, 8]))
onnx.save(seg, HERE / "map_output.onnx")

# A graph 20,000 nodes deep (a chain of Relu): must not overflow the stack.
nodes = [helper.make_node("Relu", ["x" if i == 0 else f"r{i - 1}"], [f"r{i}"]) for i in range(20000)]
nodes += [
    helper.make_node("ReduceMean", ["r19999"], ["m"], axes=[1, 2, 3], keepdims=0),
    helper.make_node("Unsqueeze", ["m", "one_axis"], ["m1"]),
    helper.make_node("Concat", ["m1", "m1"], ["y"], axis=1),
]
onnx.save(classifier(nodes, [helper.make_tensor("one_axis", TensorProto.INT64, [1], [1])]),
          HERE / "deep_chain.onnx")

for f in sorted(HERE.glob("*.onnx")):
    print(f.name, f.stat().st_size, "bytes")
