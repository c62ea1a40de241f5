//! The pipeline graph as DOT (Graphviz) or Mermaid text.

use std::fmt::Write;

use petgraph::visit::EdgeRef;

use crate::component::Role;
use crate::graph::PipelineGraph;
use crate::output::DEFAULT_PORT;

/// The graph in Graphviz DOT: sources as inverted houses, sinks as houses, ports on edges.
pub(crate) fn to_dot(graph: &PipelineGraph) -> String {
    let mut out = String::from("digraph pipeline {\n  rankdir=LR;\n");
    for node in graph.node_weights() {
        let shape = match node.role {
            Role::Source => "invhouse",
            Role::Transform => "box",
            Role::Sink => "house",
        };
        let _ = writeln!(out, "  \"{}\" [shape={shape}, label=\"{}\\n({})\"];", node.name, node.name, node.type_name);
    }
    for edge in graph.edge_references() {
        let (from, to) = (&graph[edge.source()].name, &graph[edge.target()].name);
        let port = &edge.weight().port;
        if port == DEFAULT_PORT {
            let _ = writeln!(out, "  \"{from}\" -> \"{to}\";");
        } else {
            let _ = writeln!(out, "  \"{from}\" -> \"{to}\" [label=\"{port}\"];");
        }
    }
    out.push_str("}\n");
    out
}

/// The graph as a Mermaid flowchart.
pub(crate) fn to_mermaid(graph: &PipelineGraph) -> String {
    let mut out = String::from("flowchart LR\n");
    for node in graph.node_weights() {
        let id = mermaid_id(&node.name);
        let label = format!("{}<br/>({})", node.name, node.type_name);
        let _ = match node.role {
            Role::Source => writeln!(out, "  {id}[/\"{label}\"/]"),
            Role::Transform => writeln!(out, "  {id}[\"{label}\"]"),
            Role::Sink => writeln!(out, "  {id}[(\"{label}\")]"),
        };
    }
    for edge in graph.edge_references() {
        let (from, to) = (mermaid_id(&graph[edge.source()].name), mermaid_id(&graph[edge.target()].name));
        let port = &edge.weight().port;
        if port == DEFAULT_PORT {
            let _ = writeln!(out, "  {from} --> {to}");
        } else {
            let _ = writeln!(out, "  {from} -- {port} --> {to}");
        }
    }
    out
}

/// Mermaid ids may not contain `-`.
fn mermaid_id(name: &str) -> String {
    name.replace('-', "_")
}
