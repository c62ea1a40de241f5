//! Event logs decoded with a JSON ABI (the file solc and every toolchain write): the event found
//! by its selector (the first topic), its indexed parameters read from the topics and the others
//! from the data, each as JSON: addresses as checksummed hex, integers as decimal strings (a
//! `uint256` does not fit a JSON number), bytes as 0x hex, arrays and tuples as arrays. An
//! indexed string, bytes or array is only its hash in the topics, and stays that hash.

use std::collections::HashMap;

use alloy_dyn_abi::{DynSolValue, EventExt};
use alloy_json_abi::{Event, JsonAbi};
use alloy_primitives::{B256, hex};
use serde_json::{Map, Value};

/// The events of an ABI, by selector.
#[derive(Debug)]
pub(crate) struct Abi {
    events: HashMap<B256, Decoder>,
}

/// An event with what each decoded log repeats, made once.
#[derive(Debug)]
struct Decoder {
    event: Event,
    /// The event's name, as the message's `event`.
    name: Value,
    /// Each parameter's name in `args`.
    args: Vec<String>,
}

impl Decoder {
    fn new(event: &Event) -> Self {
        let args =
            event.inputs.iter().enumerate().map(|(i, input)| if input.name.is_empty() { format!("_{i}") } else { input.name.clone() }).collect();
        Self { event: event.clone(), name: Value::from(event.name.as_str()), args }
    }
}

impl Abi {
    /// Reads a JSON ABI: a list of entries, or an object with an `abi` list (as Hardhat and
    /// Foundry write artifacts).
    ///
    /// # Errors
    /// Why the text is not an ABI.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let list = match value {
            Value::Object(mut artifact) if artifact.contains_key("abi") => artifact.remove("abi").unwrap_or_default(),
            other => other,
        };
        let abi: JsonAbi = serde_json::from_value(list).map_err(|e| format!("not an ABI: {e}"))?;
        let events: HashMap<B256, Decoder> = abi.events().filter(|e| !e.anonymous).map(|e| (e.selector(), Decoder::new(e))).collect();
        if events.is_empty() {
            return Err("it declares no (non-anonymous) event".into());
        }
        Ok(Self { events })
    }

    /// The event's name and arguments (by parameter name, or `_<index>` for unnamed ones) of a
    /// log object.
    ///
    /// # Errors
    /// Why the log does not decode: the ABI declares no event with its first topic (or it has
    /// none), or a declared event's parameters do not match the log (the ABI does not match
    /// the contract).
    pub(crate) fn decode(&self, log: &Map<String, Value>) -> Result<(Value, Value), String> {
        let topics: Vec<B256> = match log.get("topics") {
            Some(Value::Array(topics)) => {
                topics.iter().map(|t| t.as_str().and_then(|t| t.parse().ok()).ok_or("a topic is not 32 bytes of hex")).collect::<Result<_, _>>()?
            }
            _ => return Err("a log without `topics`".into()),
        };
        let Some(selector) = topics.first() else { return Err("a log without topics (an anonymous event): the ABI cannot name it".into()) };
        let Some(decoder) = self.events.get(selector) else { return Err(format!("the ABI declares no event with topic0 {selector}")) };
        let data = log.get("data").and_then(Value::as_str).unwrap_or("0x");
        let data = hex::decode(data.strip_prefix("0x").unwrap_or(data)).map_err(|_| "`data` is not hex")?;
        let event = &decoder.event;
        let decoded = event.decode_log_parts(topics, &data).map_err(|e| format!("event {} does not decode: {e}", event.name))?;
        let (mut indexed, mut body) = (decoded.indexed.into_iter(), decoded.body.into_iter());
        let mut args = Map::new();
        for (input, name) in event.inputs.iter().zip(&decoder.args) {
            let value = if input.indexed { indexed.next() } else { body.next() };
            args.insert(name.clone(), value.map_or(Value::Null, |v| json(&v)));
        }
        Ok((decoder.name.clone(), Value::Object(args)))
    }
}

fn hex_text(bytes: &[u8]) -> String {
    hex::encode_prefixed(bytes)
}

/// A decoded value as JSON.
fn json(value: &DynSolValue) -> Value {
    match value {
        DynSolValue::Bool(b) => Value::Bool(*b),
        DynSolValue::Int(i, _) => Value::String(i.to_string()),
        DynSolValue::Uint(u, _) => Value::String(u.to_string()),
        DynSolValue::FixedBytes(word, size) => Value::String(hex_text(&word[..*size])),
        DynSolValue::Address(address) => Value::String(address.to_checksum(None)),
        DynSolValue::Bytes(bytes) => Value::String(hex_text(bytes)),
        DynSolValue::String(text) => Value::String(text.clone()),
        DynSolValue::Array(items) | DynSolValue::FixedArray(items) | DynSolValue::Tuple(items) => Value::Array(items.iter().map(json).collect()),
        other => Value::String(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ERC20: &str = r#"[{"type":"event","name":"Transfer","anonymous":false,"inputs":[
        {"name":"from","type":"address","indexed":true},
        {"name":"to","type":"address","indexed":true},
        {"name":"value","type":"uint256","indexed":false}]},
        {"type":"event","name":"Note","anonymous":false,"inputs":[
        {"name":"","type":"string","indexed":false},{"name":"flags","type":"bool[]","indexed":false},{"name":"tag","type":"bytes4","indexed":false}]}]"#;

    #[test]
    fn a_transfer_decodes_with_its_indexed_addresses_and_its_amount_as_a_decimal_string() {
        let abi = Abi::parse(ERC20).expect("an ABI");
        let log = json!({
            "topics": [
                "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef",
                "0x00000000000000000000000090f8bf6a479f320ead074411a4b0e7944ea8c9c1",
                "0x000000000000000000000000ffcf8fdee72ac11b5c542428b35eef5769c409f0"
            ],
            "data": "0x00000000000000000000000000000000000000000000000000000000000f4240ffffffff"[..66].to_string()
        });
        let (event, args) = abi.decode(log.as_object().expect("an object")).expect("decodes");
        assert_eq!(event, "Transfer");
        assert_eq!(
            args,
            json!({"from": "0x90F8bf6A479f320ead074411a4B0e7944Ea8c9C1", "to": "0xFFcf8FDEE72ac11b5c542428B35EEF5769C409f0", "value": "1000000"})
        );
    }

    #[test]
    fn unnamed_parameters_strings_arrays_and_fixed_bytes_decode() {
        let abi = Abi::parse(&format!("{{\"abi\": {ERC20}}}")).expect("an artifact");
        let selector = abi.events.values().find(|d| d.event.name == "Note").expect("Note").event.selector();
        // ("hi", [true, false], 0xdeadbeef), ABI-encoded: three head words, then the tails.
        let words = [
            "0000000000000000000000000000000000000000000000000000000000000060",
            "00000000000000000000000000000000000000000000000000000000000000a0",
            "deadbeef00000000000000000000000000000000000000000000000000000000",
            "0000000000000000000000000000000000000000000000000000000000000002",
            "6869000000000000000000000000000000000000000000000000000000000000",
            "0000000000000000000000000000000000000000000000000000000000000002",
            "0000000000000000000000000000000000000000000000000000000000000001",
            "0000000000000000000000000000000000000000000000000000000000000000",
        ];
        let log = json!({"topics": [selector.to_string()], "data": format!("0x{}", words.concat())});
        let (event, args) = abi.decode(log.as_object().expect("an object")).expect("decodes");
        assert_eq!(event, "Note");
        assert_eq!(args, json!({"_0": "hi", "flags": [true, false], "tag": "0xdeadbeef"}));
    }

    #[test]
    fn an_undeclared_event_and_a_mismatch_are_errors_naming_them() {
        let abi = Abi::parse(ERC20).expect("an ABI");
        let unknown = json!({"topics": ["0x1111111111111111111111111111111111111111111111111111111111111111"], "data": "0x"});
        assert_eq!(
            abi.decode(unknown.as_object().expect("an object")),
            Err("the ABI declares no event with topic0 0x1111111111111111111111111111111111111111111111111111111111111111".into())
        );
        let anonymous = json!({"topics": [], "data": "0x"});
        assert!(abi.decode(anonymous.as_object().expect("an object")).expect_err("no topic0").contains("anonymous"));
        let short = json!({"topics": ["0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"], "data": "0x"});
        assert!(abi.decode(short.as_object().expect("an object")).expect_err("mismatch").starts_with("event Transfer does not decode"));
        assert!(Abi::parse("[]").is_err());
        assert!(Abi::parse("{").expect_err("not JSON").starts_with("not JSON"));
    }
}
