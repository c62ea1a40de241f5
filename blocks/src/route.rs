//! The `route` block: named output ports, each with a jq condition, plus `unmatched`.

use indexmap::IndexMap;
use runnel_engine::{BlockConfig, BuildContext, BuildError, BuiltBlock, Component, Emitter, FunctionBlock, Message, PortId, Role, async_trait};
use serde::Deserialize;

use crate::jq::JqProgram;

/// The port that receives messages no route matched.
pub const UNMATCHED: &str = "unmatched";

/// Which routes a message takes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteMode {
    /// The first route, in file order, whose condition holds. The default.
    #[default]
    First,
    /// Every route whose condition holds (the message is shared, not copied).
    All,
}

/// Configuration of the `route` block.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Route name → jq condition, in order. Each name is an output port that downstream nodes
    /// read as `<block>.<name>`; messages no condition matched go to `<block>.unmatched`.
    pub routes: IndexMap<String, JqProgram>,
    /// `first` (default) sends a message to the first matching route, `all` to every one.
    #[serde(default)]
    pub mode: RouteMode,
}

impl Component for RouteConfig {
    const TYPE: &'static str = "route";
    const ROLE: Role = Role::Transform;
    const DESCRIPTION: &'static str = "Sends each message to the named port whose jq condition holds, or to `unmatched`.";
    const EXAMPLE: &'static str = "mode = \"first\"\n[routes]\nimportant = '.priority >= 5'\nchat = '.kind == \"chat\"'";
}

#[async_trait]
impl BlockConfig for RouteConfig {
    fn outputs(&self) -> Vec<String> {
        self.routes.keys().cloned().chain([UNMATCHED.to_owned()]).collect()
    }

    fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.routes.is_empty() {
            problems.push("`routes` needs at least one route".to_owned());
        }
        for name in self.routes.keys() {
            if name == UNMATCHED || name == runnel_engine::ERRORS_PORT {
                problems.push(format!("`{name}` is a reserved port name; pick another route name"));
            } else if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                problems.push(format!("route name `{name}` may only hold letters, digits, `_` and `-`"));
            }
        }
        problems
    }

    async fn build(&self, _cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        Ok(BuiltBlock::function(Route::new(self.routes.values().cloned().collect(), self.mode)))
    }
}

/// The running `route` block. Ports are numbered as declared: route `i` is port `i`, and
/// `unmatched` comes last.
#[derive(Debug)]
pub struct Route {
    conditions: Vec<JqProgram>,
    mode: RouteMode,
    matched: Vec<PortId>,
}

impl Route {
    /// A router over `conditions`, in port order.
    pub fn new(conditions: Vec<JqProgram>, mode: RouteMode) -> Self {
        Self { conditions, mode, matched: Vec::new() }
    }
}

impl FunctionBlock for Route {
    fn fork(&self) -> Option<Box<dyn FunctionBlock>> {
        Some(Box::new(Self { conditions: self.conditions.clone(), mode: self.mode, matched: Vec::new() }))
    }

    fn process(&mut self, message: Message, out: &mut Emitter) {
        self.matched.clear();
        for (port, condition) in self.conditions.iter().enumerate() {
            match condition.run_bool(message.value()) {
                Ok(true) => {
                    self.matched.push(port);
                    if self.mode == RouteMode::First {
                        break;
                    }
                }
                Ok(false) => {}
                Err(error) => {
                    out.fail(message, format!("route {port}: {error}"));
                    return;
                }
            }
        }
        let Some((&last, rest)) = self.matched.split_last() else {
            out.emit_to(self.conditions.len(), message);
            return;
        };
        for &port in rest {
            out.emit_to(port, message.clone());
        }
        out.emit_to(last, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runnel_engine::AckStatus;
    use serde_json::json;

    fn router(mode: &str) -> RouteConfig {
        toml::from_str(&format!("mode = \"{mode}\"\n[routes]\nbig = '.n > 10'\neven = '.n % 2 == 0'")).unwrap()
    }

    fn run(config: &RouteConfig, values: &[serde_json::Value]) -> Vec<Vec<i64>> {
        let mut block = Route::new(config.routes.values().cloned().collect(), config.mode);
        let mut out = Emitter::new(config.outputs().len());
        let mut ports = vec![Vec::new(); config.outputs().len()];
        for value in values {
            block.process(Message::new(value.clone()), &mut out);
        }
        for (port, seen) in ports.iter_mut().enumerate() {
            for message in out.take_port(port) {
                seen.push(message.value()["n"].as_i64().unwrap());
                message.ack(AckStatus::Delivered);
            }
        }
        ports
    }

    #[test]
    fn ports_are_the_routes_in_file_order_then_unmatched() {
        assert_eq!(router("first").outputs(), ["big", "even", "unmatched"]);
    }

    #[test]
    fn first_mode_takes_the_first_match() {
        let values: Vec<_> = [1, 4, 12, 13].iter().map(|n| json!({ "n": n })).collect();
        assert_eq!(run(&router("first"), &values), vec![vec![12, 13], vec![4], vec![1]]);
    }

    #[test]
    fn all_mode_takes_every_match() {
        let values: Vec<_> = [1, 4, 12, 13].iter().map(|n| json!({ "n": n })).collect();
        assert_eq!(run(&router("all"), &values), vec![vec![12, 13], vec![4, 12], vec![1]]);
    }

    #[test]
    fn reserved_names_are_rejected() {
        let config: RouteConfig = toml::from_str("[routes]\nunmatched = 'true'\nerrors = 'true'").unwrap();
        assert_eq!(config.validate().len(), 2);
    }
}
