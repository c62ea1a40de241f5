//! A dotted path of object keys in a message (`geo`, `.user.profile`): where a block puts what
//! it computed (the `http` block's answer, the `command` block's result).

use std::fmt;

use serde::Deserialize;

/// A dotted path of object keys: `geo`, `.user.profile`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct FieldPath {
    text: String,
    keys: Vec<String>,
}

impl TryFrom<String> for FieldPath {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let inner = text.strip_prefix('.').unwrap_or(&text);
        if inner.is_empty() || inner.split('.').any(str::is_empty) {
            return Err(format!("`{text}` is not a path such as `geo` or `.user.profile`"));
        }
        let keys = inner.split('.').map(str::to_owned).collect();
        Ok(Self { text, keys })
    }
}

impl fmt::Debug for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FieldPath({:?})", self.text)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FieldPath {
    /// Sets `value` at the path in `root`, creating objects on the way.
    ///
    /// # Errors
    /// A description when `root` or a value on the way is not an object.
    pub fn set(&self, root: &mut serde_json::Value, value: serde_json::Value) -> Result<(), String> {
        let mut at = root;
        for (depth, key) in self.keys.iter().enumerate() {
            let serde_json::Value::Object(object) = at else {
                let place = if depth == 0 { "the message".to_owned() } else { format!("`.{}`", self.keys[..depth].join(".")) };
                return Err(format!("cannot set `{self}`: {place} is not an object"));
            };
            at = object.entry(key.as_str()).or_insert(serde_json::Value::Null);
            if depth + 1 < self.keys.len() && at.is_null() {
                *at = serde_json::Value::Object(serde_json::Map::new());
            }
        }
        *at = value;
        Ok(())
    }

    /// The value at the path, if every key on the way is there.
    pub fn get<'a>(&self, root: &'a serde_json::Value) -> Option<&'a serde_json::Value> {
        self.keys.iter().try_fold(root, |at, key| at.get(key))
    }

    /// Takes the value at the path out of `root` (its key removed), if it is there.
    pub fn take(&self, root: &mut serde_json::Value) -> Option<serde_json::Value> {
        let (last, parents) = self.keys.split_last()?;
        let parent = parents.iter().try_fold(root, |at, key| at.get_mut(key))?;
        parent.as_object_mut()?.shift_remove(last)
    }
}
