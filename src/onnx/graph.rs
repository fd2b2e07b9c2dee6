//! Builds an ONNX model from named tensors and nodes.

use prost::Message;

use super::proto::{
    self, AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto,
    TypeProto, ValueInfoProto, attribute_type, tensor_shape_proto::Dimension, tensor_shape_proto::dimension,
    type_proto,
};

/// ONNX Runtime 1.31 reads IR versions up to 10 with opset 18 (see TOOLCHAIN.md).
pub const IR_VERSION: i64 = 10;
/// The default-domain opset Glimpse writes.
pub const OPSET: i64 = 18;

/// One dimension of a graph input or output.
#[derive(Clone, Debug)]
pub enum Dim {
    /// A fixed size.
    Fixed(i64),
    /// A size chosen at run time, such as the batch.
    Named(&'static str),
}

/// An attribute value for a node.
#[derive(Clone, Debug)]
pub enum Attr {
    /// A single integer.
    Int(i64),
    /// A single float.
    Float(f32),
    /// A list of integers.
    Ints(Vec<i64>),
    /// A list of floats.
    Floats(Vec<f32>),
    /// A string.
    Str(String),
}

/// Collects inputs, outputs, initializers and nodes, then encodes an ONNX model.
#[derive(Default)]
pub struct GraphBuilder {
    graph: GraphProto,
    metadata: Vec<(String, String)>,
}

fn value_info(name: &str, elem_type: i32, dims: &[Dim]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Dim::Fixed(n) => dimension::Value::DimValue(*n),
                Dim::Named(s) => dimension::Value::DimParam((*s).to_string()),
            }),
        })
        .collect();
    ValueInfoProto {
        name: name.to_string(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type,
                shape: Some(TensorShapeProto { dim }),
            })),
        }),
        doc_string: String::new(),
    }
}

impl GraphBuilder {
    /// An empty graph with the given name.
    pub fn new(name: &str) -> Self {
        GraphBuilder { graph: GraphProto { name: name.to_string(), ..Default::default() }, metadata: Vec::new() }
    }

    /// Declares a float32 graph input.
    pub fn input_f32(&mut self, name: &str, dims: &[Dim]) -> &mut Self {
        self.graph.input.push(value_info(name, proto::FLOAT, dims));
        self
    }

    /// Declares an int64 graph input.
    pub fn input_i64(&mut self, name: &str, dims: &[Dim]) -> &mut Self {
        self.graph.input.push(value_info(name, proto::INT64, dims));
        self
    }

    /// Declares a float32 graph output.
    pub fn output_f32(&mut self, name: &str, dims: &[Dim]) -> &mut Self {
        self.graph.output.push(value_info(name, proto::FLOAT, dims));
        self
    }

    /// Adds a constant tensor of `data_type` whose little-endian bytes are `raw_data`.
    fn initializer(&mut self, name: &str, dims: &[i64], data_type: i32, raw_data: Vec<u8>) -> &mut Self {
        self.graph.initializer.push(TensorProto {
            dims: dims.to_vec(),
            data_type,
            name: name.to_string(),
            raw_data,
            ..Default::default()
        });
        self
    }

    /// Adds a float32 constant tensor (weights), stored little-endian in `raw_data`.
    pub fn initializer_f32(&mut self, name: &str, dims: &[i64], data: &[f32]) -> &mut Self {
        self.initializer(name, dims, proto::FLOAT, data.iter().flat_map(|v| v.to_le_bytes()).collect())
    }

    /// Adds a float16 constant tensor, rounded from `data` and stored little-endian in
    /// `raw_data`: half the bytes of float32, for large tables that tolerate the rounding.
    pub fn initializer_f16(&mut self, name: &str, dims: &[i64], data: &[f32]) -> &mut Self {
        let raw_data = data.iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()).collect();
        self.initializer(name, dims, proto::FLOAT16, raw_data)
    }

    /// Adds an int64 constant tensor (shapes, indices).
    pub fn initializer_i64(&mut self, name: &str, dims: &[i64], data: &[i64]) -> &mut Self {
        self.initializer(name, dims, proto::INT64, data.iter().flat_map(|v| v.to_le_bytes()).collect())
    }

    /// Adds a node of the default domain.
    pub fn node(&mut self, op_type: &str, inputs: &[&str], outputs: &[&str], attrs: &[(&str, Attr)]) -> &mut Self {
        let attribute = attrs
            .iter()
            .map(|(name, value)| {
                let mut a = AttributeProto { name: (*name).to_string(), ..Default::default() };
                match value {
                    Attr::Int(i) => {
                        a.r#type = attribute_type::INT;
                        a.i = *i;
                    }
                    Attr::Float(f) => {
                        a.r#type = attribute_type::FLOAT;
                        a.f = *f;
                    }
                    Attr::Ints(v) => {
                        a.r#type = attribute_type::INTS;
                        a.ints = v.clone();
                    }
                    Attr::Floats(v) => {
                        a.r#type = attribute_type::FLOATS;
                        a.floats = v.clone();
                    }
                    Attr::Str(s) => {
                        a.r#type = attribute_type::STRING;
                        a.s = s.clone().into_bytes();
                    }
                }
                a
            })
            .collect();
        let index = self.graph.node.len();
        self.graph.node.push(NodeProto {
            input: inputs.iter().map(|s| (*s).to_string()).collect(),
            output: outputs.iter().map(|s| (*s).to_string()).collect(),
            name: format!("{op_type}_{index}"),
            op_type: op_type.to_string(),
            attribute,
            ..Default::default()
        });
        self
    }

    /// Appends the nodes and initializers of `other` with every value name prefixed by
    /// `prefix`, except the names in `shared` (inputs both graphs read) and empty names
    /// (omitted optional inputs). Returns the prefixed names of `other`'s outputs.
    pub fn include(&mut self, other: &GraphProto, prefix: &str, shared: &[&str]) -> Vec<String> {
        let rename = |name: &str| {
            if name.is_empty() || shared.contains(&name) { name.to_string() } else { format!("{prefix}{name}") }
        };
        for node in &other.node {
            let mut node = node.clone();
            node.input = node.input.iter().map(|n| rename(n)).collect();
            node.output = node.output.iter().map(|n| rename(n)).collect();
            if !node.name.is_empty() {
                node.name = format!("{prefix}{}", node.name);
            }
            self.graph.node.push(node);
        }
        for tensor in &other.initializer {
            let mut tensor = tensor.clone();
            tensor.name = rename(&tensor.name);
            self.graph.initializer.push(tensor);
        }
        other.output.iter().map(|o| rename(&o.name)).collect()
    }

    /// Records a key/value pair in the model's metadata.
    pub fn metadata(&mut self, key: &str, value: &str) -> &mut Self {
        self.metadata.push((key.to_string(), value.to_string()));
        self
    }

    /// The finished model message.
    pub fn model(&self) -> ModelProto {
        ModelProto {
            ir_version: IR_VERSION,
            opset_import: vec![OperatorSetIdProto { domain: String::new(), version: OPSET }],
            producer_name: "glimpse".to_string(),
            producer_version: env!("CARGO_PKG_VERSION").to_string(),
            graph: Some(self.graph.clone()),
            metadata_props: self
                .metadata
                .iter()
                .map(|(key, value)| proto::StringStringEntryProto { key: key.clone(), value: value.clone() })
                .collect(),
            ..Default::default()
        }
    }

    /// The model encoded as ONNX protobuf bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.model().encode_to_vec()
    }
}
