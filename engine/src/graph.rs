//! The graph rules, one function each: unique and well-formed names, inputs that exist, ports
//! that exist, sources without inputs and the rest with some, no input read twice, edges of a
//! bounded size, no cycles, no resource used twice,
//! references to other nodes that exist and provide what they need, and a warning for outputs
//! nobody reads. Every rule reports all it finds. `build_order` says in which order the
//! nodes are built: every node after the nodes it refers to.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroUsize;

use petgraph::graph::{DiGraph, NodeIndex};

use crate::channel::WhenFull;
use crate::component::Role;
use crate::config::{Diagnostic, InputSpec, Location, NodeSpec, PipelineSettings};
use crate::output::{DEFAULT_PORT, ERRORS_PORT};

/// An edge of the pipeline graph: which port of the upstream node it reads, and its channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EdgeSpec {
    /// The upstream node's port.
    pub port: String,
    /// The channel's capacity in batches.
    pub capacity: NonZeroUsize,
    /// What the sender does when the channel is full.
    pub when_full: WhenFull,
}

/// The checked graph: nodes are [`NodeSpec`]s, edges run from producer to consumer.
pub(crate) type PipelineGraph = DiGraph<NodeSpec, EdgeSpec>;

/// The output ports of `node`, errors port included.
pub(crate) fn ports(node: &NodeSpec) -> Vec<String> {
    let mut ports = if node.role == Role::Sink { Vec::new() } else { node.config.outputs() };
    ports.push(ERRORS_PORT.to_owned());
    ports
}

/// Builds the graph and applies every rule. Returns `None` if any error was found.
pub(crate) fn check(nodes: Vec<NodeSpec>, settings: &PipelineSettings, diagnostics: &mut Vec<Diagnostic>) -> Option<PipelineGraph> {
    let before = errors(diagnostics);
    check_names(&nodes, diagnostics);
    check_resources(&nodes, diagnostics);
    let mut graph = PipelineGraph::new();
    let mut index = HashMap::new();
    for node in nodes {
        let name = node.name.clone();
        let at = graph.add_node(node);
        index.entry(name).or_insert(at);
    }
    let edges = check_inputs(&graph, &index, settings, diagnostics);
    check_inputs_read_once(&graph, &edges, diagnostics);
    check_edge_sizes(&graph, &edges, settings, diagnostics);
    for edge in edges {
        graph.add_edge(edge.from, edge.to, edge.spec);
    }
    check_cycles(&graph, diagnostics);
    check_references(&graph, &index, diagnostics);
    warn_unread(&graph, diagnostics);
    (errors(diagnostics) == before).then_some(graph)
}

fn errors(diagnostics: &[Diagnostic]) -> usize {
    diagnostics.iter().filter(|d| d.severity == crate::config::Severity::Error).count()
}

fn check_names(nodes: &[NodeSpec], diagnostics: &mut Vec<Diagnostic>) {
    let mut seen: HashMap<&str, &NodeSpec> = HashMap::new();
    for node in nodes {
        if !valid_name(&node.name) {
            let message = "a node name may only hold letters, digits, `_` and `-`";
            diagnostics.push(Diagnostic::error(node.location.clone(), Some(&node.name), message));
        }
        if let Some(first) = seen.insert(&node.name, node) {
            let message = format!(
                "duplicate name: also a node in [{}]{}",
                first.role.section(),
                first.location.as_ref().map(|l| format!(" at {l}")).unwrap_or_default()
            );
            diagnostics.push(Diagnostic::error(node.location.clone(), Some(&node.name), message));
        }
    }
}

/// Node names are letters, digits, `_` and `-`: `.` separates a port in `inputs`.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// An edge found in a node's `inputs`, with where it is written.
struct InputEdge {
    from: NodeIndex,
    to: NodeIndex,
    spec: EdgeSpec,
    /// The position in `to`'s `inputs` of the entry it comes from.
    input: usize,
}

/// Resolves every node's `inputs` to edges: the nodes exist, have the port, and only sources
/// have no inputs.
fn check_inputs(
    graph: &PipelineGraph,
    index: &HashMap<String, NodeIndex>,
    settings: &PipelineSettings,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<InputEdge> {
    let mut edges = Vec::new();
    for to in graph.node_indices() {
        let node = &graph[to];
        let here = |d: &mut Vec<Diagnostic>, location, message: String| d.push(Diagnostic::error(location, Some(&node.name), message));
        match (node.role, node.inputs.is_empty()) {
            (Role::Source, false) => here(diagnostics, node.location.clone(), "a source takes no `inputs`".into()),
            (Role::Transform | Role::Sink, true) => here(diagnostics, node.location.clone(), "missing `inputs`: nothing feeds this node".into()),
            _ => {}
        }
        if node.role == Role::Source {
            continue;
        }
        for (position, input) in node.inputs.iter().enumerate() {
            let Some(&from) = index.get(&input.node) else {
                here(diagnostics, input.location.clone(), format!("unknown input `{}`: no node has that name", input.node));
                continue;
            };
            let upstream = &graph[from];
            if !upstream.checked {
                // Its ports are unknown; its own errors are reported already.
                let port = input.port.clone().unwrap_or_else(|| DEFAULT_PORT.to_owned());
                let capacity = input.capacity.unwrap_or(settings.capacity);
                edges.push(InputEdge { from, to, spec: EdgeSpec { port, capacity, when_full: settings.when_full }, input: position });
                continue;
            }
            let available = ports(upstream);
            let port = match &input.port {
                Some(port) => port.clone(),
                None if upstream.role == Role::Sink => ERRORS_PORT.to_owned(),
                None => available.first().cloned().unwrap_or_else(|| DEFAULT_PORT.to_owned()),
            };
            if input.port.is_none() && upstream.role == Role::Sink {
                here(diagnostics, input.location.clone(), format!("`{}` is a sink: read its failures with `{}.errors`", input.node, input.node));
                continue;
            }
            if !available.contains(&port) {
                let message = format!("node `{}` has no output port `{port}` (its ports: {})", input.node, available.join(", "));
                here(diagnostics, input.location.clone(), message);
                continue;
            }
            let capacity = input.capacity.unwrap_or(settings.capacity);
            let when_full = input.when_full.unwrap_or(settings.when_full);
            edges.push(InputEdge { from, to, spec: EdgeSpec { port, capacity, when_full }, input: position });
        }
    }
    edges
}

/// A node reads each port of another node once: listing it twice (`["in", "in"]`, or `in` and
/// `in.out` when `out` is its default port) would deliver every message twice.
fn check_inputs_read_once(graph: &PipelineGraph, edges: &[InputEdge], diagnostics: &mut Vec<Diagnostic>) {
    let mut first: HashMap<(NodeIndex, NodeIndex, &str), &InputSpec> = HashMap::new();
    for edge in edges {
        if !graph[edge.from].checked {
            // Its ports are unknown, so two spellings may not be the same port.
            continue;
        }
        let node = &graph[edge.to];
        let input = &node.inputs[edge.input];
        let earlier = match first.entry((edge.from, edge.to, edge.spec.port.as_str())) {
            Entry::Vacant(entry) => {
                entry.insert(input);
                continue;
            }
            Entry::Occupied(entry) => *entry.get(),
        };
        let message = format!(
            "input `{}` reads port `{}` of `{}`, as `{}` before it does: every message would arrive twice",
            written(input),
            edge.spec.port,
            input.node,
            written(earlier)
        );
        diagnostics.push(Diagnostic::error(input.location.clone().or_else(|| node.location.clone()), Some(&node.name), message));
    }
}

/// An edge's own `capacity`, with the pipeline's `batch_size`, stays within
/// [`MAX_EDGE_MESSAGES`](crate::channel::MAX_EDGE_MESSAGES) (the pipeline-wide `capacity` is
/// checked with the settings).
fn check_edge_sizes(graph: &PipelineGraph, edges: &[InputEdge], settings: &PipelineSettings, diagnostics: &mut Vec<Diagnostic>) {
    if settings.batch_size.get() > crate::channel::MAX_BATCH_SIZE {
        return;
    }
    for edge in edges {
        let node = &graph[edge.to];
        let input = &node.inputs[edge.input];
        let Some(problem) = input.capacity.and_then(|capacity| crate::channel::edge_size_problem(capacity, settings.batch_size)) else {
            continue;
        };
        let message = format!("input `{}`: {problem}", written(input));
        diagnostics.push(Diagnostic::error(input.location.clone().or_else(|| node.location.clone()), Some(&node.name), message));
    }
}

/// An input as it is written in `inputs`.
fn written(input: &InputSpec) -> String {
    match &input.port {
        Some(port) => format!("{}.{port}", input.node),
        None => input.node.clone(),
    }
}

fn check_cycles(graph: &PipelineGraph, diagnostics: &mut Vec<Diagnostic>) {
    for component in petgraph::algo::tarjan_scc(graph) {
        let looped = component.len() > 1 || graph.contains_edge(component[0], component[0]);
        if !looped {
            continue;
        }
        let mut names: Vec<&str> = component.iter().map(|&n| graph[n].name.as_str()).collect();
        names.sort_unstable();
        let first = component.iter().map(|&n| &graph[n]).min_by_key(|n| n.name.as_str()).expect("non-empty");
        let message = format!("cycle through {}", names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(" → "));
        diagnostics.push(Diagnostic::error(first.location.clone(), Some(&first.name), message));
    }
}

fn check_resources(nodes: &[NodeSpec], diagnostics: &mut Vec<Diagnostic>) {
    let mut owners: BTreeMap<crate::component::Resource, &NodeSpec> = BTreeMap::new();
    for node in nodes {
        for resource in node.config.resources() {
            if let Some(owner) = owners.get(&resource) {
                let message = format!("{resource} is already used by node `{}`", owner.name);
                diagnostics.push(Diagnostic::error(node.location.clone(), Some(&node.name), message));
            } else {
                owners.insert(resource, node);
            }
        }
    }
}

fn warn_unread(graph: &PipelineGraph, diagnostics: &mut Vec<Diagnostic>) {
    for at in graph.node_indices() {
        let node = &graph[at];
        let read = graph.edges_directed(at, petgraph::Direction::Outgoing).any(|e| e.weight().port != ERRORS_PORT);
        if node.role != Role::Sink && !read {
            diagnostics.push(Diagnostic::warning(node.location.clone(), Some(&node.name), "nothing reads this node's output"));
        }
    }
}

/// Where the value of `field` of `node` is written, or the node itself.
fn field_location(node: &NodeSpec, field: &str) -> Option<Location> {
    node.field_locations.get(field).cloned().or_else(|| node.location.clone())
}

fn check_references(graph: &PipelineGraph, index: &HashMap<String, NodeIndex>, diagnostics: &mut Vec<Diagnostic>) {
    for at in graph.node_indices() {
        let node = &graph[at];
        for reference in node.config.references() {
            let here = field_location(node, reference.field);
            let Some(&target) = index.get(&reference.node) else {
                let message = format!("`{} = \"{}\"`: no node has that name", reference.field, reference.node);
                diagnostics.push(Diagnostic::error(here, Some(&node.name), message));
                continue;
            };
            let target = &graph[target];
            if target.checked && !target.config.provides().contains(&reference.kind) {
                let message = format!(
                    "`{} = \"{}\"`: node `{}` is a {} `{}`, not a `{}`",
                    reference.field,
                    reference.node,
                    target.name,
                    target.role.noun(),
                    target.type_name,
                    reference.kind
                );
                diagnostics.push(Diagnostic::error(here, Some(&node.name), message));
            } else if target.name == node.name {
                let message = format!("`{} = \"{}\"`: a node cannot refer to itself", reference.field, reference.node);
                diagnostics.push(Diagnostic::error(here, Some(&node.name), message));
            }
        }
    }
    if let Err(cycle) = petgraph::algo::toposort(&references(graph), None) {
        let node = &graph[cycle.node_id()];
        diagnostics.push(Diagnostic::error(node.location.clone(), Some(&node.name), "nodes refer to each other in a circle"));
    }
}

/// The references between nodes, as edges from the node referred to to the node referring.
fn references(graph: &PipelineGraph) -> DiGraph<(), ()> {
    let index: HashMap<&str, NodeIndex> = graph.node_indices().map(|at| (graph[at].name.as_str(), at)).collect();
    let mut refs = DiGraph::with_capacity(graph.node_count(), 0);
    for _ in graph.node_indices() {
        refs.add_node(());
    }
    for at in graph.node_indices() {
        for reference in graph[at].config.references() {
            if let Some(&target) = index.get(reference.node.as_str()).filter(|&&t| t != at) {
                refs.add_edge(target, at, ());
            }
        }
    }
    refs
}

/// The order in which to build the nodes of a checked graph: every node after the nodes it
/// refers to, and otherwise in the order they were declared.
pub(crate) fn build_order(graph: &PipelineGraph) -> Vec<NodeIndex> {
    let refs = references(graph);
    let mut waiting: Vec<usize> = refs.node_indices().map(|at| refs.neighbors_directed(at, petgraph::Direction::Incoming).count()).collect();
    let mut order = Vec::with_capacity(graph.node_count());
    let mut ready: std::collections::BTreeSet<NodeIndex> = refs.node_indices().filter(|at| waiting[at.index()] == 0).collect();
    while let Some(at) = ready.pop_first() {
        order.push(at);
        for next in refs.neighbors_directed(at, petgraph::Direction::Outgoing) {
            waiting[next.index()] -= 1;
            if waiting[next.index()] == 0 {
                ready.insert(next);
            }
        }
    }
    order
}
