//! How the model's floats read in JSON: scores to 2 decimals, other model floats as the
//! shortest decimal that is the same `f32`, never the noise of widening it (`6.532564640045166`).

use serde::Serializer;

/// A score to 2 decimals.
pub(super) fn score<S: Serializer>(value: &f32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((f64::from(*value) * 100.0).round() / 100.0)
}

/// As [`score`], or null.
#[expect(clippy::ref_option, reason = "serde's serialize_with passes a reference to the field")]
pub(super) fn score_opt<S: Serializer>(value: &Option<f32>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => score(v, s),
        None => s.serialize_none(),
    }
}

/// The shortest decimal that reads back as the same `f32` (non-finite values as `f32` would).
pub(super) fn shortest<S: Serializer>(value: &f32, s: S) -> Result<S::Ok, S::Error> {
    match value.to_string().parse::<f64>() {
        Ok(v) if value.is_finite() => s.serialize_f64(v),
        _ => s.serialize_f32(*value),
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Serialize)]
    struct Row {
        #[serde(serialize_with = "super::score")]
        score: f32,
        #[serde(serialize_with = "super::score_opt")]
        maybe: Option<f32>,
        #[serde(serialize_with = "super::shortest")]
        factor: f32,
    }

    #[test]
    fn scores_read_to_two_decimals_and_factors_without_widening_noise() {
        let row = Row { score: 6.532_564_6, maybe: None, factor: 0.1 };
        let json = serde_json::to_value(&row).unwrap().to_string();
        assert_eq!(json, r#"{"factor":0.1,"maybe":null,"score":6.53}"#);
        let row = Row { score: 10.0, maybe: Some(5.999), factor: 0.004_25 };
        let json = serde_json::to_string(&row).unwrap();
        assert_eq!(json, r#"{"score":10.0,"maybe":6.0,"factor":0.00425}"#);
    }
}
