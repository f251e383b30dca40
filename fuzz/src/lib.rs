//! Fuzzing the engine's readers on stable Rust, where `cargo fuzz` (nightly) and coverage
//! instrumentation (a rebuild of all of Burn) are out of reach: a seeded mutation loop over a
//! corpus of real files, with the engine's own error messages as its feedback. An input whose
//! message (numbers and names stripped) was never seen before joins the corpus, so the loop
//! works its way into each reader's checks rather than bouncing off the first one.
//!
//! What counts as a finding: a panic (caught and recorded), a process that dies (an abort on a
//! failed allocation, a stack overflow: seen by the supervisor in `main.rs`), an input that
//! takes over a second, and a model that opens but answers non-finite scores without saying so.

pub mod mutate;
pub mod targets;

pub use mutate::{Mutator, Rng};
pub use targets::{Outcome, Target};

/// A message with its specifics taken out, so that the same check failing on other numbers,
/// names or garbled op types counts once: the loop's notion of "coverage". Quoted, bracketed
/// and parenthesised parts go, then the first six plain lower-case words are kept (what
/// follows them is mostly the specifics: op types, paths).
pub fn message_kind(message: &str) -> String {
    let mut plain = String::new();
    let mut depth = 0usize;
    let mut quoted = false;
    for c in message.chars() {
        match c {
            '\'' | '"' | '`' => quoted = !quoted,
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ if quoted || depth > 0 => {}
            _ => plain.push(c),
        }
    }
    plain
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() >= 3 && w.chars().all(|c| c.is_ascii_lowercase()))
        .take(6)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_differing_in_numbers_and_names_are_one_kind() {
        assert_eq!(
            message_kind("tensor 'a' with shape [1, 2] needs 8 bytes"),
            message_kind("tensor 'weight.3' with shape [100, 7] needs 2800 bytes")
        );
        assert_eq!(
            message_kind("the model uses 1 operator(s) UNPIC cannot run yet: Rxq (Rxq)"),
            message_kind("the model uses 2 operator(s) UNPIC cannot run yet: Cz, Q (Cz)")
        );
        assert_ne!(
            message_kind("tensor 'a' needs 8 bytes"),
            message_kind("node 'a' is not sorted")
        );
    }
}
