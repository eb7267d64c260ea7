//! The greedy Q-network as an ONNX model, for ONNX Runtime and the tools
//! that read ONNX: input `obs` `[batch, obs_dim]` (a dynamic batch, the
//! flat input the agent's network reads: stacked frames one after the
//! other), output `q` `[batch, n_actions]`, the Q-values the agent acts on.
//!
//! The graph is made of `Gemm` (each linear layer, its weight `[out, in]`
//! under its PyTorch name, `transB = 1`) and `Relu`; convolutions are a
//! `Reshape` of `obs` to `[batch, C, H, W]`, then `Conv` nodes (weight
//! `[out, in, k, k]`, `strides`, `pads`) each with its `Relu`, then a
//! `Flatten` (channel-major, PyTorch's) into the linear layers; dueling heads add
//! `ReduceMean`, `Sub` and `Add` (`Q = (V + A) − mean_a A`); a distribution
//! over atoms (C51) adds `Reshape`, `Softmax` over the atoms and a `MatMul`
//! with the support (`Q = Σ_j z_j p_j`). Noisy layers are written as their
//! mean weights, on which the agent's greedy action is taken. Opset 13.
//!
//! The protobuf messages are declared here by hand (the fields of
//! `onnx.proto` this writer sets, with their numbers) and encoded with
//! prost; the same network always gives the same bytes.

use agent::c51::Support;
use agent::{LayerKind, Layout, Mlp, TensorKind};

/// `onnx.proto`'s messages, the fields used here.
mod proto {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ModelProto {
        #[prost(int64, tag = "1")]
        pub ir_version: i64,
        #[prost(string, tag = "2")]
        pub producer_name: String,
        #[prost(string, tag = "6")]
        pub doc_string: String,
        #[prost(message, optional, tag = "7")]
        pub graph: Option<GraphProto>,
        #[prost(message, repeated, tag = "8")]
        pub opset_import: Vec<OperatorSetIdProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct OperatorSetIdProto {
        #[prost(string, tag = "1")]
        pub domain: String,
        #[prost(int64, tag = "2")]
        pub version: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GraphProto {
        #[prost(message, repeated, tag = "1")]
        pub node: Vec<NodeProto>,
        #[prost(string, tag = "2")]
        pub name: String,
        #[prost(message, repeated, tag = "5")]
        pub initializer: Vec<TensorProto>,
        #[prost(message, repeated, tag = "11")]
        pub input: Vec<ValueInfoProto>,
        #[prost(message, repeated, tag = "12")]
        pub output: Vec<ValueInfoProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct NodeProto {
        #[prost(string, repeated, tag = "1")]
        pub input: Vec<String>,
        #[prost(string, repeated, tag = "2")]
        pub output: Vec<String>,
        #[prost(string, tag = "3")]
        pub name: String,
        #[prost(string, tag = "4")]
        pub op_type: String,
        #[prost(message, repeated, tag = "5")]
        pub attribute: Vec<AttributeProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AttributeProto {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(int64, tag = "3")]
        pub i: i64,
        #[prost(int64, repeated, tag = "8")]
        pub ints: Vec<i64>,
        /// `AttributeType`: 2 INT, 7 INTS.
        #[prost(int32, tag = "20")]
        pub r#type: i32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TensorProto {
        #[prost(int64, repeated, tag = "1")]
        pub dims: Vec<i64>,
        /// `DataType`: 1 FLOAT, 7 INT64.
        #[prost(int32, tag = "2")]
        pub data_type: i32,
        #[prost(string, tag = "8")]
        pub name: String,
        /// Little-endian values, row-major.
        #[prost(bytes = "vec", tag = "9")]
        pub raw_data: Vec<u8>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ValueInfoProto {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(message, optional, tag = "2")]
        pub r#type: Option<TypeProto>,
    }

    /// The `value` oneof with its one member used, `tensor_type` (the same
    /// bytes on the wire).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TypeProto {
        #[prost(message, optional, tag = "1")]
        pub tensor_type: Option<TensorType>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TensorType {
        #[prost(int32, tag = "1")]
        pub elem_type: i32,
        #[prost(message, optional, tag = "2")]
        pub shape: Option<TensorShapeProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TensorShapeProto {
        #[prost(message, repeated, tag = "1")]
        pub dim: Vec<Dimension>,
    }

    /// The `value` oneof as two optional fields, exactly one set.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Dimension {
        #[prost(int64, optional, tag = "1")]
        pub dim_value: Option<i64>,
        #[prost(string, optional, tag = "2")]
        pub dim_param: Option<String>,
    }
}

use proto::{
    AttributeProto, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto,
    TensorType, TypeProto, ValueInfoProto,
};

const FLOAT: i32 = 1;
const INT64: i32 = 7;
const OPSET: i64 = 13;
/// The IR version that goes with opset 13.
const IR_VERSION: i64 = 7;

/// What the network's outputs are.
#[derive(Debug, Clone, Copy)]
pub enum QHead<'a> {
    /// The Q-values themselves.
    Values,
    /// Each action's distribution over these atoms, as logits
    /// (`n_actions × n_atoms`, row-major); Q is its expected value.
    Distribution(&'a Support),
}

/// A graph being built: nodes in order, and the initializers they read.
struct Graph {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
}

fn int_attribute(name: &str, i: i64) -> AttributeProto {
    AttributeProto { name: name.into(), i, ints: Vec::new(), r#type: 2 }
}

fn ints_attribute(name: &str, ints: Vec<i64>) -> AttributeProto {
    AttributeProto { name: name.into(), i: 0, ints, r#type: 7 }
}

/// A width as ONNX stores it (an `i64`; a network's widths are far smaller).
fn dim(n: usize) -> i64 {
    i64::try_from(n).expect("a network's widths fit an i64")
}

impl Graph {
    /// Adds a node whose one output is named after the node; returns it.
    fn node(&mut self, op: &str, name: String, inputs: Vec<String>, attribute: Vec<AttributeProto>) -> String {
        self.nodes.push(NodeProto {
            input: inputs,
            output: vec![name.clone()],
            name: name.clone(),
            op_type: op.into(),
            attribute,
        });
        name
    }

    fn floats(&mut self, name: String, dims: Vec<i64>, values: impl Iterator<Item = f32>) -> String {
        let raw_data = values.flat_map(f32::to_le_bytes).collect();
        self.initializers.push(TensorProto { dims, data_type: FLOAT, name: name.clone(), raw_data });
        name
    }

    /// A shape for `Reshape` (`0` keeps the input's dimension: the batch).
    fn shape(&mut self, name: &str, dims: &[i64]) -> String {
        let raw_data = dims.iter().flat_map(|d| d.to_le_bytes()).collect();
        self.initializers.push(TensorProto {
            dims: vec![dim(dims.len())],
            data_type: INT64,
            name: name.into(),
            raw_data,
        });
        name.into()
    }

    fn reshape(&mut self, name: &str, input: String, dims: &[i64]) -> String {
        let shape = self.shape(&format!("{name}.shape"), dims);
        self.node("Reshape", name.into(), vec![input, shape], Vec::new())
    }

    /// Layer `l` of `net` applied to `input`, with a ReLU after it if `relu`.
    fn linear(&mut self, net: &Mlp<f32>, l: usize, input: String, relu: bool) -> String {
        let shape = net.shape();
        let layer = &net.params().layers()[l];
        let (outputs, inputs) = layer.weight.dim();
        let weight_dims = match layer.kind {
            LayerKind::Linear => vec![dim(outputs), dim(inputs)],
            LayerKind::Conv2d(c) => vec![dim(outputs), dim(c.in_channels), dim(c.kernel), dim(c.kernel)],
        };
        let weight = self.floats(shape.tensor_name(l, TensorKind::Weight), weight_dims, layer.weight.iter().copied());
        let bias = self.floats(shape.tensor_name(l, TensorKind::Bias), vec![dim(outputs)], layer.bias.iter().copied());
        let prefix = shape.layer_name(l);
        let out = match layer.kind {
            LayerKind::Linear => {
                self.node("Gemm", format!("{prefix}.gemm"), vec![input, weight, bias], vec![int_attribute("transB", 1)])
            }
            LayerKind::Conv2d(c) => {
                let (k, s, p) = (dim(c.kernel), dim(c.stride), dim(c.padding));
                let attributes = vec![
                    ints_attribute("kernel_shape", vec![k, k]),
                    ints_attribute("strides", vec![s, s]),
                    ints_attribute("pads", vec![p, p, p, p]),
                ];
                self.node("Conv", format!("{prefix}.conv"), vec![input, weight, bias], attributes)
            }
        };
        if relu { self.node("Relu", format!("{prefix}.relu"), vec![out], Vec::new()) } else { out }
    }

    /// The convolutions of `net` (its first layers) on the flat `obs`: a
    /// reshape to the image, each convolution and its ReLU, a flatten;
    /// returns the flat output and the first layer after them.
    fn convolutions(&mut self, net: &Mlp<f32>, obs: String) -> (String, usize) {
        let layers = net.params().layers();
        let Some(LayerKind::Conv2d(first)) = layers.first().map(|l| l.kind) else { return (obs, 0) };
        let image = [0, dim(first.in_channels), dim(first.height), dim(first.width)];
        let mut x = self.reshape("image", obs, &image);
        let convs = net.params().convs();
        for l in 0..convs {
            x = self.linear(net, l, x, true);
        }
        (self.node("Flatten", "flatten".into(), vec![x], vec![int_attribute("axis", 1)]), convs)
    }

    /// Layers `from..to` in a chain from `input`, ReLU after each but the
    /// last (and after the last too if `relu_last`).
    fn chain(&mut self, net: &Mlp<f32>, from: usize, to: usize, mut x: String, relu_last: bool) -> String {
        for l in from..to {
            x = self.linear(net, l, x, relu_last || l + 1 < to);
        }
        x
    }
}

/// The ONNX model of `net`'s greedy Q-values (see the module's
/// documentation); `head` says whether its outputs are Q-values or
/// distributions, and must fit its outputs (the caller's configuration
/// made both).
///
/// # Panics
/// If a distribution's atoms do not divide the network's outputs.
#[must_use]
pub fn onnx_model(net: &Mlp<f32>, head: QHead<'_>) -> Vec<u8> {
    let mut g = Graph { nodes: Vec::new(), initializers: Vec::new() };
    let n_layers = net.params().layers().len();
    let atoms = match head {
        QHead::Values => 1,
        QHead::Distribution(support) => support.n_atoms(),
    };
    assert_eq!(net.output_dim() % atoms, 0, "the atoms divide the outputs");
    let n_actions = net.output_dim() / atoms;
    let (a, g_atoms) = (dim(n_actions), dim(atoms));
    let (obs, first) = g.convolutions(net, "obs".to_string());
    // The outputs: [batch, n_actions·atoms], or [batch, n_actions, atoms]
    // once a distribution's are grouped by action.
    let mut out = match net.layout() {
        Layout::Sequential => g.chain(net, first, n_layers, obs, false),
        Layout::Dueling { trunk, value, .. } => {
            let h = g.chain(net, first, trunk, obs, true);
            let v = g.chain(net, trunk, trunk + value, h.clone(), false);
            let adv = g.chain(net, trunk + value, n_layers, h, false);
            // A distribution's streams grouped by action: [batch, 1, atoms]
            // and [batch, n_actions, atoms]; the mean is over actions either way.
            let (v, adv) = if atoms == 1 {
                (v, adv)
            } else {
                (g.reshape("value.atoms", v, &[0, 1, g_atoms]), g.reshape("advantage.atoms", adv, &[0, a, g_atoms]))
            };
            let mean = g.node(
                "ReduceMean",
                "advantage.mean".into(),
                vec![adv.clone()],
                vec![ints_attribute("axes", vec![1]), int_attribute("keepdims", 1)],
            );
            let sum = g.node("Add", "dueling.sum".into(), vec![v, adv], Vec::new());
            g.node("Sub", "dueling.q".into(), vec![sum, mean], Vec::new())
        }
    };
    if let QHead::Distribution(support) = head {
        if !matches!(net.layout(), Layout::Dueling { .. }) {
            out = g.reshape("logits", out, &[0, a, g_atoms]);
        }
        let probs = g.node("Softmax", "probs".into(), vec![out], vec![int_attribute("axis", 2)]);
        let atoms_tensor = g.floats("support".into(), vec![g_atoms, 1], (0..atoms).map(|j| support.atom(j)));
        let expected = g.node("MatMul", "expected".into(), vec![probs, atoms_tensor], Vec::new());
        out = g.reshape("q", expected, &[0, a]);
    }
    // The graph's output, the last node's, is named `q`.
    let last = g.nodes.last_mut().expect("a network has at least one layer");
    debug_assert_eq!(last.output, [out]);
    last.output = vec!["q".into()];
    let tensor = |name: &str, width: usize| ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorType {
                elem_type: FLOAT,
                shape: Some(TensorShapeProto {
                    dim: vec![
                        Dimension { dim_value: None, dim_param: Some("batch".into()) },
                        Dimension { dim_value: Some(dim(width)), dim_param: None },
                    ],
                }),
            }),
        }),
    };
    let graph = GraphProto {
        node: g.nodes,
        name: "dqn_rs_q_network".into(),
        initializer: g.initializers,
        input: vec![tensor("obs", net.input_dim())],
        output: vec![tensor("q", n_actions)],
    };
    let model = ModelProto {
        ir_version: IR_VERSION,
        producer_name: "dqn-rs".into(),
        doc_string: format!("greedy Q-values of a DQN policy [{}]", net.shape()),
        graph: Some(graph),
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: OPSET }],
    };
    prost::Message::encode_to_vec(&model)
}
