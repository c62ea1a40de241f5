//! What an invocation's answer means (§1.5 and §1.6 of Lambda's semantics): success, a partial
//! failure reported by `batchItemFailures`, or a failure of the whole batch.

use serde_json::Value;

use super::handler::HandlerError;
use super::record::Record;

/// The verdict on one invocation.
#[derive(Debug, PartialEq)]
pub(super) enum Verdict {
    /// Every record was processed; `state` is the window's new state under a tumbling window.
    Success { state: Option<Value> },
    /// The first `ok` records were processed (at least one); the rest are to be retried.
    Partial { ok: usize, state: Option<Value> },
    /// The whole batch failed, for this reason.
    Failure(String),
}

/// Judges `response` to an invocation with `records`: `report_failures` is the
/// `report_batch_item_failures` setting, `window` whether a tumbling window is on (the response
/// must then hold `state`).
pub(super) fn judge(response: Result<Value, HandlerError>, records: &[Record], report_failures: bool, window: bool) -> Verdict {
    let response = match response {
        Ok(response) => response,
        Err(error) => return Verdict::Failure(error.to_string()),
    };
    let state = if window {
        match response.get("state") {
            Some(state) => Some(state.clone()),
            None => return Verdict::Failure("the response has no `state`, which every answer under a tumbling window must have".to_owned()),
        }
    } else {
        None
    };
    if !report_failures {
        return Verdict::Success { state };
    }
    match first_failed(&response, records) {
        Ok(None) => Verdict::Success { state },
        Ok(Some(0)) => Verdict::Failure("the handler reported the batch's first record as failed".to_owned()),
        Ok(Some(ok)) => Verdict::Partial { ok, state },
        Err(problem) => Verdict::Failure(problem),
    }
}

/// The position in `records` of the lowest failed record a partial batch response names, `None`
/// for a complete success (`null`, `{}`, a null or empty `batchItemFailures`); an error for a
/// response that fails the whole batch.
fn first_failed(response: &Value, records: &[Record]) -> Result<Option<usize>, String> {
    let failures = match response {
        Value::Null => return Ok(None),
        Value::Object(fields) => match fields.get("batchItemFailures") {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Array(failures)) => failures,
            Some(other) => return Err(format!("malformed partial batch response: `batchItemFailures` is {other}, not a list")),
        },
        other => return Err(format!("malformed partial batch response: {other} is not an object")),
    };
    let mut lowest: Option<usize> = None;
    for failure in failures {
        let id = match failure.get("itemIdentifier") {
            Some(Value::String(id)) if !id.is_empty() => id,
            Some(Value::String(_)) => return Err("an `itemIdentifier` is empty".to_owned()),
            Some(Value::Null) | None => return Err(format!("a batch item failure has no `itemIdentifier`: {failure}")),
            Some(other) => return Err(format!("an `itemIdentifier` is {other}, not a sequence number")),
        };
        let Some(position) = records.iter().position(|record| record.sequence() == id) else {
            return Err(format!("`itemIdentifier` {id:?} is not the sequence number of a record in the batch"));
        };
        lowest = Some(lowest.map_or(position, |lowest| lowest.min(position)));
    }
    Ok(lowest)
}
