//! Point parameters: the sweep coordinates of a point (`cores`, `resident_bytes`, ...).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One parameter value of a point.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Param {
    /// A whole number (sizes in bytes, counts).
    Int(i64),
    /// A label (a variant name such as `same-core`).
    Text(String),
}

impl std::fmt::Display for Param {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Param::Int(v) => write!(f, "{v}"),
            Param::Text(s) => f.write_str(s),
        }
    }
}

/// A point's parameters by name, sorted by name (so numbers sort as numbers inside a name).
pub type Params = BTreeMap<String, Param>;

/// Builds [`Params`] from `(name, value)` pairs.
pub fn params<'a>(pairs: impl IntoIterator<Item = (&'a str, Param)>) -> Params {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// The parameters as `name=value` pairs joined by spaces (`-` when there are none): exact, for
/// keys and machine-readable labels.
pub fn params_label(params: &Params) -> String {
    if params.is_empty() {
        return "-".to_owned();
    }
    params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Like [`params_label`], for people: a whole number of KiB, MiB or GiB in a `_bytes` parameter
/// is written so (`resident_bytes=64 MiB`).
pub fn params_display(params: &Params) -> String {
    if params.is_empty() {
        return "-".to_owned();
    }
    params
        .iter()
        .map(|(k, v)| match v {
            Param::Int(n) if k.ends_with("_bytes") && *n > 0 => {
                let unit = [(1_i64 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")]
                    .into_iter()
                    .find(|(size, _)| n % size == 0);
                match unit {
                    Some((size, name)) => format!("{k}={} {name}", n / size),
                    None => format!("{k}={n}"),
                }
            }
            _ => format!("{k}={v}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_display() {
        let p = params([
            ("resident_bytes", Param::Int(64 << 20)),
            ("odd_bytes", Param::Int(1000)),
            ("cores", Param::Text("same-core".into())),
        ]);
        assert_eq!(
            params_display(&p),
            "cores=same-core odd_bytes=1000 resident_bytes=64 MiB"
        );
        assert_eq!(
            params_label(&p),
            "cores=same-core odd_bytes=1000 resident_bytes=67108864"
        );
        assert_eq!(params_label(&Params::new()), "-");
    }

    #[test]
    fn json_is_untagged() {
        let p = params([("a", Param::Int(3)), ("b", Param::Text("x".into()))]);
        let json = serde_json::to_string(&p).expect("json");
        assert_eq!(json, r#"{"a":3,"b":"x"}"#);
        assert_eq!(serde_json::from_str::<Params>(&json).expect("back"), p);
    }
}
