//! Writes the trained network as an ONNX model (opset 13): Conv, BatchNormalization, Relu,
//! MaxPool, Flatten and Gemm, with tensor names a user recognises in the layer picker
//! (`block2/relu`, `fc1`, ...). Only the handful of ONNX messages this needs are declared, with
//! prost's derive and the field numbers of `onnx.proto`.

use anyhow::{Result, ensure};
use burn::{module::Param, tensor::Tensor};
use explain_core::model::Classifier;

use crate::net::{ConvBlock, FashionCnn, IMAGE_SIZE};

/// The model's input and output names.
pub const INPUT: &str = "image";
pub const OUTPUT: &str = "logits";

const FLOAT: i32 = 1;
const ATTRIBUTE_FLOAT: i32 = 1;
const ATTRIBUTE_INT: i32 = 2;
const ATTRIBUTE_INTS: i32 = 7;

#[derive(Clone, PartialEq, prost::Message)]
struct ModelProto {
    #[prost(int64, tag = "1")]
    ir_version: i64,
    #[prost(string, tag = "2")]
    producer_name: String,
    #[prost(string, tag = "6")]
    doc_string: String,
    #[prost(message, optional, tag = "7")]
    graph: Option<GraphProto>,
    #[prost(message, repeated, tag = "8")]
    opset_import: Vec<OperatorSetIdProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct OperatorSetIdProto {
    #[prost(string, tag = "1")]
    domain: String,
    #[prost(int64, tag = "2")]
    version: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    node: Vec<NodeProto>,
    #[prost(string, tag = "2")]
    name: String,
    #[prost(message, repeated, tag = "5")]
    initializer: Vec<TensorProto>,
    #[prost(message, repeated, tag = "11")]
    input: Vec<ValueInfoProto>,
    #[prost(message, repeated, tag = "12")]
    output: Vec<ValueInfoProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct NodeProto {
    #[prost(string, repeated, tag = "1")]
    input: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    output: Vec<String>,
    #[prost(string, tag = "3")]
    name: String,
    #[prost(string, tag = "4")]
    op_type: String,
    #[prost(message, repeated, tag = "5")]
    attribute: Vec<AttributeProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct AttributeProto {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(float, tag = "2")]
    f: f32,
    #[prost(int64, tag = "3")]
    i: i64,
    #[prost(int64, repeated, tag = "8")]
    ints: Vec<i64>,
    #[prost(int32, tag = "20")]
    r#type: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
struct TensorProto {
    #[prost(int64, repeated, tag = "1")]
    dims: Vec<i64>,
    #[prost(int32, tag = "2")]
    data_type: i32,
    #[prost(string, tag = "8")]
    name: String,
    #[prost(bytes = "vec", tag = "9")]
    raw_data: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ValueInfoProto {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, optional, tag = "2")]
    r#type: Option<TypeProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct TypeProto {
    #[prost(message, optional, tag = "1")]
    tensor_type: Option<TensorTypeProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct TensorTypeProto {
    #[prost(int32, tag = "1")]
    elem_type: i32,
    #[prost(message, optional, tag = "2")]
    shape: Option<TensorShapeProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct TensorShapeProto {
    #[prost(message, repeated, tag = "1")]
    dim: Vec<Dimension>,
}

/// One dimension: a fixed size or a named (dynamic) one; on the wire the two fields are ONNX's oneof.
#[derive(Clone, PartialEq, prost::Message)]
struct Dimension {
    #[prost(int64, optional, tag = "1")]
    dim_value: Option<i64>,
    #[prost(string, optional, tag = "2")]
    dim_param: Option<String>,
}

/// The serialised ONNX model of `model` (in inference mode: running batch-norm statistics, no dropout).
pub fn to_onnx(model: &FashionCnn, classes: usize) -> Vec<u8> {
    let mut graph = GraphBuilder::default();
    let mut x = INPUT.to_string();
    for (name, block, pool) in [
        ("block1", &model.block1, Some("pool1")),
        ("block2", &model.block2, Some("pool2")),
        ("block3", &model.block3, None),
    ] {
        x = graph.conv_block(name, block, &x);
        if let Some(pool) = pool {
            x = graph.node(
                "MaxPool",
                pool,
                &[&x],
                vec![ints("kernel_shape", &[2, 2]), ints("strides", &[2, 2])],
            );
        }
    }
    x = graph.node("Flatten", "flatten", &[&x], vec![int("axis", 1)]);
    x = graph.gemm("fc1", &model.fc1.weight, model.fc1.bias.as_ref(), &x);
    x = graph.node("Relu", "fc1/relu", &[&x], vec![]);
    let logits = graph.gemm(OUTPUT, &model.fc2.weight, model.fc2.bias.as_ref(), &x);

    let batch = || Dimension {
        dim_value: None,
        dim_param: Some("batch".into()),
    };
    let fixed = |n: usize| Dimension {
        dim_value: Some(n as i64),
        dim_param: None,
    };
    let value_info = |name: &str, dim: Vec<Dimension>| ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: FLOAT,
                shape: Some(TensorShapeProto { dim }),
            }),
        }),
    };
    let model = ModelProto {
        ir_version: 8,
        producer_name: "unpic-train".into(),
        doc_string:
            "UNPIC demo: a small CNN trained on Fashion-MNIST. Input: grey 28x28 scaled to [0, 1]."
                .into(),
        graph: Some(GraphProto {
            node: graph.nodes,
            name: "fashion_cnn".into(),
            initializer: graph.initializers,
            input: vec![value_info(
                INPUT,
                vec![batch(), fixed(1), fixed(IMAGE_SIZE), fixed(IMAGE_SIZE)],
            )],
            output: vec![value_info(&logits, vec![batch(), fixed(classes)])],
        }),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
    };
    prost::Message::encode_to_vec(&model)
}

#[derive(Default)]
struct GraphBuilder {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
}

impl GraphBuilder {
    /// Adds a node whose single output is named like the node; returns that name.
    fn node(
        &mut self,
        op: &str,
        name: &str,
        inputs: &[&str],
        attribute: Vec<AttributeProto>,
    ) -> String {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![name.into()],
            name: name.into(),
            op_type: op.into(),
            attribute,
        });
        name.into()
    }

    fn weight<const D: usize>(&mut self, name: String, tensor: Tensor<D>) -> String {
        let dims = tensor.dims().iter().map(|&d| d as i64).collect();
        let values = tensor
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap_or_default();
        let raw_data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializers.push(TensorProto {
            dims,
            data_type: FLOAT,
            name: name.clone(),
            raw_data,
        });
        name
    }

    fn conv_block(&mut self, name: &str, block: &ConvBlock, x: &str) -> String {
        let weight = self.weight(format!("{name}.conv.weight"), block.conv.weight.val());
        let x = self.node(
            "Conv",
            &format!("{name}/conv"),
            &[x, &weight],
            vec![
                ints("kernel_shape", &[3, 3]),
                ints("pads", &[1, 1, 1, 1]),
                ints("strides", &[1, 1]),
            ],
        );
        let norm = &block.norm;
        let scale = self.weight(format!("{name}.norm.scale"), norm.gamma.val());
        let bias = self.weight(format!("{name}.norm.bias"), norm.beta.val());
        let mean = self.weight(format!("{name}.norm.mean"), norm.running_mean.value());
        let var = self.weight(format!("{name}.norm.var"), norm.running_var.value());
        let epsilon = AttributeProto {
            name: "epsilon".into(),
            f: norm.epsilon as f32,
            r#type: ATTRIBUTE_FLOAT,
            ..Default::default()
        };
        let x = self.node(
            "BatchNormalization",
            &format!("{name}/norm"),
            &[&x, &scale, &bias, &mean, &var],
            vec![epsilon],
        );
        self.node("Relu", &format!("{name}/relu"), &[&x], vec![])
    }

    /// `Gemm(x, W, b)` with Burn's `[in, out]` weight as is (transB = 0).
    fn gemm(
        &mut self,
        name: &str,
        weight: &Param<Tensor<2>>,
        bias: Option<&Param<Tensor<1>>>,
        x: &str,
    ) -> String {
        let w = self.weight(format!("{name}.weight"), weight.val());
        let mut inputs = vec![x.to_string(), w];
        if let Some(bias) = bias {
            inputs.push(self.weight(format!("{name}.bias"), bias.val()));
        }
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        self.node("Gemm", name, &inputs, vec![])
    }
}

fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        ints: values.to_vec(),
        r#type: ATTRIBUTE_INTS,
        ..Default::default()
    }
}

fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        i: value,
        r#type: ATTRIBUTE_INT,
        ..Default::default()
    }
}

/// Runs `images` through the Burn network and through the exported file in UNPIC's importer;
/// returns the largest logit difference and the largest |logit|.
pub fn compare_with_importer(
    model: &FashionCnn,
    onnx: &[u8],
    images: Tensor<4>,
) -> Result<(f32, f32)> {
    let n = images.dims()[0];
    let classifier = Classifier::from_bytes(onnx, &images.device())?;
    let expected = model
        .forward(images.clone())
        .into_data()
        .try_into_vec::<f32>()
        .unwrap_or_default();
    let pixels = images.into_data().try_into_vec::<f32>().unwrap_or_default();
    let got = classifier.logits(classifier.batch(pixels, n)?)?.to_vec()?;
    ensure!(
        got.len() == expected.len(),
        "the exported model gives {} logits, not {}",
        got.len(),
        expected.len()
    );
    let scale = expected.iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = expected
        .iter()
        .zip(&got)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    Ok((diff, scale))
}

#[cfg(test)]
mod tests {
    use burn::{
        module::Module,
        tensor::{Device, Distribution},
    };

    use super::*;

    /// An untrained network (random weights, batch-norm statistics moved off their defaults by
    /// one training-mode pass) exports to a file that UNPIC's importer runs to the same logits,
    /// with the layer names a user sees.
    #[test]
    fn the_export_runs_to_the_same_logits_in_our_importer() {
        let device = Device::flex();
        device.seed(7);
        let train = Device::flex().autodiff();
        let model = FashionCnn::new(10, &train);
        let warm = Tensor::<4>::random([8, 1, 28, 28], Distribution::Uniform(0.0, 1.0), &train);
        let _ = model.forward(warm);
        let model = model.valid();
        let onnx = to_onnx(&model, 10);
        let images = Tensor::<4>::random([4, 1, 28, 28], Distribution::Uniform(0.0, 1.0), &device);
        let (diff, scale) = compare_with_importer(&model, &onnx, images).expect("imports and runs");
        assert!(
            diff <= 1e-5 * scale.max(1.0),
            "max |diff| {diff}, max |logit| {scale}"
        );
        let classifier = Classifier::from_bytes(&onnx, &device).expect("import");
        let table = classifier.layer_table();
        assert_eq!(table.gradcam_layer.as_deref(), Some("block3/relu"));
        assert!(table.layers.iter().any(|l| l.name == "block2/norm"));
    }
}
