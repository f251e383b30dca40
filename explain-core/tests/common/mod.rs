//! Comparisons shared by the parity tests.

/// Largest |a − b| over paired values.
pub fn max_abs_diff(got: &[f32], expected: &[f32]) -> f32 {
    assert_eq!(got.len(), expected.len(), "different lengths");
    got.iter()
        .zip(expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max)
}

/// Largest |value|.
#[allow(dead_code)] // Not every test crate uses every helper.
pub fn max_abs(values: &[f32]) -> f32 {
    values.iter().fold(0f32, |m, v| m.max(v.abs()))
}

/// max − min.
#[allow(dead_code)]
pub fn value_range(values: &[f32]) -> f32 {
    let (lo, hi) = values
        .iter()
        .fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    hi - lo
}
