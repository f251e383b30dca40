//! Preprocessing presets (explain-core's, shared with the CLI) and the parsing of the
//! preprocessing form (pure; tested natively).

pub use explain_core::data::Preset;

/// Parses "0.485, 0.456, 0.406" (or one number).
pub fn parse_floats(text: &str) -> Result<Vec<f32>, String> {
    let values: Result<Vec<f32>, _> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::parse::<f32>)
        .collect();
    match values {
        Ok(v) if !v.is_empty() => Ok(v),
        _ => Err(format!(
            "'{text}' is not a list of numbers such as 0.5 or 0.485, 0.456, 0.406"
        )),
    }
}

/// "0.485, 0.456, 0.406"
pub fn format_floats(values: &[f32]) -> String {
    values
        .iter()
        .map(|v| format!("{v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_lists_parse_and_reject_garbage() {
        assert_eq!(parse_floats("0.5, 0.25").expect("ok"), vec![0.5, 0.25]);
        assert!(parse_floats("half").is_err());
        assert!(parse_floats("").is_err());
        assert_eq!(format_floats(&[0.5, 0.25]), "0.5, 0.25");
    }
}
