//! t-SNE against openTSNE (tests/fixtures/oracle/tsne: 1000 penultimate-layer features of the
//! Fashion-MNIST SmallCNN, openTSNE 1.0.4's embedding with its defaults). Embeddings are not
//! unique, so the comparison is on quality measured the same way for both: the exact KL under
//! one shared P (scikit-learn's joint probabilities, perplexity 30) must be within 3% of
//! openTSNE's, and 10-NN preservation at least openTSNE's.

use std::path::PathBuf;

use explain_core::embed::tsne::{
    TsneMethod, TsneSettings, exact_affinities, kl_divergence, knn_preservation, tsne,
};
use explain_core::explain::Silent;
use explain_core::npy::read_f32;

fn load(file: &str) -> explain_core::npy::HostTensor {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/oracle/tsne")
        .join(file);
    read_f32(&std::fs::read(&path).expect("fixture"), file).expect(file)
}

/// openTSNE's embedding of the same points.
fn opentsne_points() -> Vec<[f64; 2]> {
    load("openTSNE.npy")
        .data
        .chunks(2)
        .map(|p| [p[0] as f64, p[1] as f64])
        .collect()
}

#[test]
fn tsne_matches_opentsne_quality_on_1000_fashion_features() {
    let features = load("features_1000x64.npy");
    let (n, d) = (features.shape[0], features.shape[1]);
    let start = std::time::Instant::now();
    let ours = tsne(&features.data, n, d, &TsneSettings::default(), &mut Silent).expect("t-SNE");
    let seconds = start.elapsed().as_secs_f64();
    let theirs = opentsne_points();
    let x: Vec<f64> = features.data.iter().map(|&v| v as f64).collect();
    let p = exact_affinities(&x, n, d, 30.0);
    let (kl_ours, kl_theirs) = (kl_divergence(&p, &ours.points), kl_divergence(&p, &theirs));
    let (knn_ours, knn_theirs) = (
        knn_preservation(&x, d, &ours.points, 10),
        knn_preservation(&x, d, &theirs, 10),
    );
    println!(
        "t-SNE 1000 points: {seconds:.1} s; exact KL ours {kl_ours:.4} openTSNE {kl_theirs:.4}; \
         10-NN ours {knn_ours:.3} openTSNE {knn_theirs:.3}"
    );
    // openTSNE's KL under this P is 0.5128 in the kit's results.json.
    assert!(
        (kl_theirs - 0.5128).abs() < 2e-3,
        "shared P differs from the kit's: {kl_theirs}"
    );
    assert!(
        kl_ours <= 1.03 * kl_theirs,
        "KL {kl_ours} vs openTSNE {kl_theirs}"
    );
    assert!(
        knn_ours >= knn_theirs,
        "10-NN {knn_ours} vs openTSNE {knn_theirs}"
    );
    assert!(
        (ours.kl - kl_ours).abs() < 1e-9,
        "reported KL is the exact KL"
    );
}

/// The Barnes-Hut path (what sets above 2,000 points use), checked on the same 1000 points.
#[test]
fn barnes_hut_tsne_is_within_5_percent_of_opentsne() {
    let features = load("features_1000x64.npy");
    let (n, d) = (features.shape[0], features.shape[1]);
    let settings = TsneSettings {
        method: TsneMethod::BarnesHut,
        ..TsneSettings::default()
    };
    let ours = tsne(&features.data, n, d, &settings, &mut Silent).expect("t-SNE");
    assert!(!ours.exact);
    let theirs = opentsne_points();
    let x: Vec<f64> = features.data.iter().map(|&v| v as f64).collect();
    let p = exact_affinities(&x, n, d, 30.0);
    let (kl_ours, kl_theirs) = (kl_divergence(&p, &ours.points), kl_divergence(&p, &theirs));
    println!("Barnes-Hut: exact KL ours {kl_ours:.4} openTSNE {kl_theirs:.4}");
    assert!(
        kl_ours <= 1.05 * kl_theirs,
        "KL {kl_ours} vs openTSNE {kl_theirs}"
    );
    assert!(knn_preservation(&x, d, &ours.points, 10) >= 0.6);
}
