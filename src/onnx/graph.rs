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

/// A constant tensor of `data_type` whose little-endian bytes are `raw_data`.
fn tensor(name: &str, dims: &[i64], data_type: i32, raw_data: Vec<u8>) -> TensorProto {
    TensorProto { dims: dims.to_vec(), data_type, name: name.to_string(), raw_data, ..Default::default() }
}

fn f32_bytes(data: &[f32]) -> Vec<u8> {
    data.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A node of the default domain named `name`.
fn node_proto(name: String, op_type: &str, inputs: &[&str], outputs: &[&str], attrs: &[(&str, Attr)]) -> NodeProto {
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
    NodeProto {
        input: inputs.iter().map(|s| (*s).to_string()).collect(),
        output: outputs.iter().map(|s| (*s).to_string()).collect(),
        name,
        op_type: op_type.to_string(),
        attribute,
        ..Default::default()
    }
}

/// `Cast(input)` to float32 as `output`, a node named `Cast_{of}`.
fn cast_to_float(of: &str, input: &str, output: &str) -> NodeProto {
    node_proto(format!("Cast_{of}"), "Cast", &[input], &[output], &[("to", Attr::Int(i64::from(proto::FLOAT)))])
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

    /// Adds a float32 constant tensor (weights), stored little-endian in `raw_data`.
    pub fn initializer_f32(&mut self, name: &str, dims: &[i64], data: &[f32]) -> &mut Self {
        self.graph.initializer.push(tensor(name, dims, proto::FLOAT, f32_bytes(data)));
        self
    }

    /// Adds an int64 constant tensor (shapes, indices).
    pub fn initializer_i64(&mut self, name: &str, dims: &[i64], data: &[i64]) -> &mut Self {
        let raw_data = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.graph.initializer.push(tensor(name, dims, proto::INT64, raw_data));
        self
    }

    /// Adds an int8 constant tensor (quantised codes).
    pub fn initializer_i8(&mut self, name: &str, dims: &[i64], data: &[i8]) -> &mut Self {
        let raw_data = data.iter().map(|v| *v as u8).collect();
        self.graph.initializer.push(tensor(name, dims, proto::INT8, raw_data));
        self
    }

    /// Adds a node of the default domain.
    pub fn node(&mut self, op_type: &str, inputs: &[&str], outputs: &[&str], attrs: &[(&str, Attr)]) -> &mut Self {
        let name = format!("{op_type}_{}", self.graph.node.len());
        self.graph.node.push(node_proto(name, op_type, inputs, outputs, attrs));
        self
    }

    /// Appends the nodes and initializers of `other` with every value name prefixed by
    /// `prefix`, except the names in `shared` (inputs and tables both graphs read: a shared
    /// initializer is added once, by the first graph that has it) and empty names (omitted
    /// optional inputs). Returns the prefixed names of `other`'s outputs.
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
            if shared.contains(&tensor.name.as_str()) && self.graph.initializer.iter().any(|t| t.name == tensor.name) {
                continue;
            }
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

    /// Stores the graph's large float32 weights as float16 (see [`half_weights`]).
    pub fn half_weights(&mut self) -> &mut Self {
        half_weights(&mut self.graph, HALF_MIN_VALUES);
        self
    }

    /// Stores the initializer `name` as int8 columns (see [`int8_columns`]).
    pub fn int8_columns(&mut self, name: &str) -> &mut Self {
        int8_columns(&mut self.graph, name);
        self
    }

    /// The graph built so far.
    pub fn graph(&self) -> &GraphProto {
        &self.graph
    }

    /// The model encoded as ONNX protobuf bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.model().encode_to_vec()
    }
}

/// Initializers of at least this many float32 values are stored as float16 by
/// [`half_weights`]: the weight matrices and word tables, not biases or scalars.
pub const HALF_MIN_VALUES: usize = 16_384;

/// Stores each float32 initializer of `graph` with at least `min_values` values as float16
/// (`NAME.f16`), read through a `Cast` back to float32 under its old name: half the bytes
/// on disk, the same float32 arithmetic. ONNX Runtime folds the casts when it opens the
/// graph. Initializers already float16, or that are not plain float32, are left as they are.
pub fn half_weights(graph: &mut GraphProto, min_values: usize) {
    let mut casts = Vec::new();
    for tensor in &mut graph.initializer {
        let Some(values) = tensor_f32(tensor).filter(|v| tensor.data_type == proto::FLOAT && v.len() >= min_values)
        else {
            continue;
        };
        let half_name = format!("{}.f16", tensor.name);
        casts.push(cast_to_float(&tensor.name, &half_name, &tensor.name));
        let raw_data = values.iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()).collect();
        *tensor = self::tensor(&half_name, &tensor.dims, proto::FLOAT16, raw_data);
    }
    // Nodes must come in topological order: the casts read only initializers, so first.
    casts.append(&mut graph.node);
    graph.node = casts;
}

/// The values of a float32 or float16 initializer as float32, or `None` for another type
/// or a tensor whose data does not match its dims.
pub fn tensor_f32(tensor: &TensorProto) -> Option<Vec<f32>> {
    let expected: i64 = tensor.dims.iter().product();
    let values: Vec<f32> = match tensor.data_type {
        proto::FLOAT if tensor.raw_data.is_empty() => tensor.float_data.clone(),
        proto::FLOAT => tensor.raw_data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        proto::FLOAT16 => {
            tensor.raw_data.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect()
        }
        _ => return None,
    };
    (values.len() as i64 == expected).then_some(values)
}

/// The float values of `graph`'s initializer `name`, whether stored as float32, as float16
/// under `NAME.f16` ([`half_weights`]) or as int8 columns under `NAME.i8` and `NAME.scale`
/// ([`int8_columns`]), with its dims.
pub fn initializer_values(graph: &GraphProto, name: &str) -> Option<(Vec<f32>, Vec<i64>)> {
    let find = |n: &str| graph.initializer.iter().find(|t| t.name == n);
    if let (Some(codes), Some(scales)) = (find(&format!("{name}.i8")), find(&format!("{name}.scale"))) {
        let scales = tensor_f32(scales)?;
        let expected: i64 = codes.dims.iter().product();
        if codes.data_type != proto::INT8
            || codes.dims.len() != 2
            || scales.len() as i64 != codes.dims[1]
            || codes.raw_data.len() as i64 != expected
        {
            return None;
        }
        let values = codes.raw_data.iter().zip(scales.iter().cycle()).map(|(c, s)| f32::from(*c as i8) * s).collect();
        return Some((values, codes.dims.clone()));
    }
    let tensor = find(name).or_else(|| find(&format!("{name}.f16")))?;
    Some((tensor_f32(tensor)?, tensor.dims.clone()))
}

/// The codes and dims of `graph`'s int8 initializer `name`.
pub fn initializer_i8(graph: &GraphProto, name: &str) -> Option<(Vec<i8>, Vec<i64>)> {
    let tensor = graph.initializer.iter().find(|t| t.name == name && t.data_type == proto::INT8)?;
    let expected: i64 = tensor.dims.iter().product();
    (tensor.raw_data.len() as i64 == expected)
        .then(|| (tensor.raw_data.iter().map(|b| *b as i8).collect(), tensor.dims.clone()))
}

/// The values of `graph`'s int64 initializer `name`.
pub fn initializer_i64(graph: &GraphProto, name: &str) -> Option<Vec<i64>> {
    let tensor = graph.initializer.iter().find(|t| t.name == name && t.data_type == proto::INT64)?;
    if tensor.raw_data.is_empty() {
        return Some(tensor.int64_data.clone());
    }
    Some(
        tensor
            .raw_data
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
            .collect(),
    )
}

/// `values` (`[rows, columns]`, row-major) as int8 with one scale per column, `max |v| /
/// 127` (1 for a column of zeros): the codes and the scales. A value is read back as
/// `code · scale`.
pub fn int8_columns_of(values: &[f32], columns: usize) -> (Vec<i8>, Vec<f32>) {
    let mut scales = vec![0.0f32; columns];
    for row in values.chunks_exact(columns) {
        for (s, v) in scales.iter_mut().zip(row) {
            *s = s.max(v.abs());
        }
    }
    for s in &mut scales {
        *s = if *s > 0.0 { *s / 127.0 } else { 1.0 };
    }
    let codes = values
        .chunks_exact(columns)
        .flat_map(|row| row.iter().zip(&scales).map(|(v, s)| (v / s).round().clamp(-127.0, 127.0) as i8))
        .collect();
    (codes, scales)
}

/// Stores the float initializer `name` (`[rows, columns]`) as int8 codes `NAME.i8` with one
/// scale per column `NAME.scale`, read back to float32 under its old name through `Cast`
/// and `Mul` (which ONNX Runtime folds when it opens the graph): a quarter of float32's
/// bytes, for a table whose columns are vectors that tolerate about 0.4 % of rounding.
/// Returns false, changing nothing, when there is no such two-dimensional initializer.
pub fn int8_columns(graph: &mut GraphProto, name: &str) -> bool {
    let Some(index) = graph.initializer.iter().position(|t| t.name == name && t.dims.len() == 2) else {
        return false;
    };
    let Some(values) = tensor_f32(&graph.initializer[index]) else { return false };
    let dims = graph.initializer[index].dims.clone();
    let (codes, scales) = int8_columns_of(&values, dims[1] as usize);
    let (codes_name, scale_name, float_name) = (format!("{name}.i8"), format!("{name}.scale"), format!("{name}.f32"));
    graph.initializer[index] = tensor(&codes_name, &dims, proto::INT8, codes.iter().map(|c| *c as u8).collect());
    graph.initializer.push(tensor(&scale_name, &[dims[1]], proto::FLOAT, f32_bytes(&scales)));
    let mut nodes = vec![
        cast_to_float(name, &codes_name, &float_name),
        node_proto(format!("Scale_{name}"), "Mul", &[&float_name, &scale_name], &[name], &[]),
    ];
    nodes.append(&mut graph.node);
    graph.node = nodes;
    true
}
