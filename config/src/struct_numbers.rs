//! Istio hands a WasmPlugin's `pluginConfig` to Envoy through a protobuf `Struct`,
//! whose only number type is a double: `300` may arrive as `300.0` or `3e2`. The
//! schema's integers are read back from such doubles when they are whole and in range,
//! so one config text serves every deploy target.

use serde_json::{Number, Value};

/// Replaces every whole-valued double in `value` by the integer it names (2^53 and
/// beyond are left as they are: a double cannot say which integer it was).
pub fn integers_from_doubles(value: &mut Value) {
    match value {
        Value::Number(number) => {
            if let Some(whole) = whole_number(number) {
                *number = whole;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integers_from_doubles),
        Value::Object(fields) => fields.values_mut().for_each(integers_from_doubles),
        Value::Null | Value::Bool(_) | Value::String(_) => {}
    }
}

/// Largest magnitude below which every integer is exactly a double.
const EXACT_LIMIT: f64 = 9_007_199_254_740_992.0;

fn whole_number(number: &Number) -> Option<Number> {
    if number.is_i64() || number.is_u64() {
        return None;
    }
    let double = number.as_f64()?;
    if double.fract() != 0.0 || double.abs() >= EXACT_LIMIT {
        return None;
    }
    // In range and whole, so the cast is exact.
    #[allow(clippy::cast_possible_truncation)]
    let whole = double as i64;
    Some(Number::from(whole))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn whole_doubles_become_integers_everywhere() {
        let mut value: Value =
            serde_json::from_str(r#"{"a": 300.0, "b": [3e2, -2.0, {"c": 0.0}], "s": "1.0"}"#)
                .unwrap();
        integers_from_doubles(&mut value);
        assert_eq!(
            value,
            json!({"a": 300, "b": [300, -2, {"c": 0}], "s": "1.0"})
        );
        assert!(value["a"].is_u64());
    }

    #[test]
    fn fractions_and_inexact_doubles_stay() {
        let mut value: Value = serde_json::from_str("[1.5, 9007199254740992.0, 7]").unwrap();
        integers_from_doubles(&mut value);
        assert_eq!(value[0].as_f64(), Some(1.5));
        assert!(value[1].is_f64());
        assert_eq!(value[2].as_u64(), Some(7));
    }
}
