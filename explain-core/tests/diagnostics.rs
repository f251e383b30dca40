//! The map diagnostics stay silent on every reference map of the oracle kit (Captum's and
//! pytorch-grad-cam's outputs on real images: sound maps by construction), while firing on the
//! crafted failures of `metrics/diagnostics.rs`'s unit tests. And methods that should agree do:
//! Captum's and pytorch-grad-cam's Grad-CAM rank the pixels alike once resized.

use std::path::PathBuf;

use explain_core::metrics::diagnostics::{diagnose, rank_agreement};
use explain_core::npy::read_f32;

fn cases() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/oracle/cases")
}

#[test]
fn the_peers_maps_raise_no_warning() {
    let mut checked = 0;
    for case in std::fs::read_dir(cases()).expect("oracle cases") {
        let case = case.expect("entry").path();
        for file in std::fs::read_dir(&case).expect("case dir") {
            let path = file.expect("entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            let is_map = ["saliency", "gradcam", "ig", "occlusion"]
                .iter()
                .any(|m| name.starts_with(m));
            if !is_map || !name.ends_with(".npy") {
                continue;
            }
            let map = read_f32(&std::fs::read(&path).expect("read"), &name).expect("npy");
            let found = diagnose(&map.data);
            assert!(found.is_empty(), "{}: {found:?}", path.display());
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} reference maps found");
}

#[test]
fn saliency_and_integrated_gradients_agree_more_than_chance() {
    // Both are gradients of the same score at (or along a path to) the same image: their pixel
    // rankings agree far beyond chance, which a shuffled copy of the same values shows (about
    // 1/sqrt(n) = 0.003 for these 3x224x224 maps).
    for case in [
        "resnet18_chelsea",
        "mobilenet_v2_rocket",
        "squeezenet_coffee",
    ] {
        let read = |f: &str| {
            let path = cases().join(case).join(f);
            read_f32(&std::fs::read(&path).expect("read"), f)
                .expect("npy")
                .data
        };
        let (saliency, ig) = (read("saliency.npy"), read("ig.npy"));
        let r = rank_agreement(&saliency, &ig).expect("same size");
        // IG's values shuffled (Fisher-Yates on a seeded xorshift).
        let n = ig.len();
        let mut shuffled = ig.clone();
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for i in (1..n).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let chance = rank_agreement(&saliency, &shuffled).expect("same size");
        // Four standard deviations of the correlation of independent rankings.
        let bound = 4.0 / (n as f64).sqrt();
        assert!(chance.abs() < bound, "{case}: shuffled {chance}");
        assert!(r > 10.0 * bound, "{case}: {r} against shuffled {chance}");
    }
}
