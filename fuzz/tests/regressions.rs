//! Every input the fuzzer found a bug with (tests/bad_inputs/fuzz/TARGET/) runs again: each
//! must now be accepted or refused with a message, never panic or answer wrong.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use unpic_fuzz::{Outcome, Target};

#[test]
fn every_saved_finding_is_now_answered_with_a_message() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/bad_inputs/fuzz");
    let mut ran = 0;
    for target in Target::ALL {
        let Ok(entries) = std::fs::read_dir(root.join(target.name())) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            let bytes = std::fs::read(&path).expect("a saved finding");
            let outcome = catch_unwind(AssertUnwindSafe(|| target.run(&bytes)))
                .unwrap_or_else(|_| panic!("{} panics", path.display()));
            assert!(
                !matches!(outcome, Outcome::Wrong(_)),
                "{}: {outcome:?}",
                path.display()
            );
            ran += 1;
        }
    }
    assert!(ran >= 5, "the saved findings were found ({ran})");
}

/// A short, seeded run per target on the seeds in the repository finds nothing new: the
/// mutation loop itself works (a mutant differs from its seed and gets an answer).
#[test]
fn a_short_seeded_run_of_each_target_answers_every_mutant() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    for (target, seed) in [
        (Target::Onnx, "tests/bad_inputs/tiny_control.onnx"),
        (Target::Zip, "fuzz/seeds/small_set.zip"),
        (Target::Image, "fuzz/seeds/seed.bmp"),
        (Target::Npy, "tests/bad_inputs/wrong_shape.npy"),
        (Target::Labels, "fuzz/seeds/labels.txt"),
    ] {
        let input = std::fs::read(root.join(seed)).expect("seed");
        let mut mutator = unpic_fuzz::Mutator::new(42, 1 << 16);
        let (mut accepted, mut refused) = (0, 0);
        for _ in 0..200 {
            let mutant = mutator.mutate(&input, &input);
            match catch_unwind(AssertUnwindSafe(|| target.run(&mutant)))
                .unwrap_or_else(|_| panic!("{target:?} panics on a mutant of {seed}"))
            {
                Outcome::Accepted => accepted += 1,
                Outcome::Refused(_) => refused += 1,
                Outcome::Wrong(w) => panic!("{target:?}: {w}"),
            }
        }
        assert_eq!(accepted + refused, 200, "{target:?}");
        assert!(
            refused > 0,
            "{target:?}: mutants of {seed} are refused sometimes"
        );
    }
}
