//! Byte-level mutations, biased the way file formats break: interesting integers written over
//! lengths and dimensions (protobuf varints, zip headers, PNG chunk sizes), chunks removed,
//! repeated or taken from another corpus file, and files cut short.

/// xorshift64*: small, seedable and good enough to pick mutations (no crate needed for that).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// Values that sit on the edges of sizes and counts.
const INTERESTING: [u64; 14] = [
    0,
    1,
    2,
    0x7f,
    0x80,
    0xff,
    0x7fff,
    0xffff,
    0x7fff_ffff,
    0xffff_ffff,
    1 << 31,
    1 << 40,
    u64::MAX >> 1,
    u64::MAX,
];

/// Applies one to eight mutations to a copy of an input.
pub struct Mutator {
    pub rng: Rng,
    /// The longest input produced (mutations that grow stop there).
    pub max_len: usize,
}

impl Mutator {
    pub fn new(seed: u64, max_len: usize) -> Self {
        Self {
            rng: Rng::new(seed),
            max_len,
        }
    }

    /// A mutant of `input`; `other` is a second corpus file to splice from.
    pub fn mutate(&mut self, input: &[u8], other: &[u8]) -> Vec<u8> {
        let mut out = input.to_vec();
        let rounds = 1 + self.rng.below(8);
        for _ in 0..rounds {
            self.mutate_once(&mut out, other);
        }
        out.truncate(self.max_len);
        out
    }

    fn mutate_once(&mut self, out: &mut Vec<u8>, other: &[u8]) {
        if out.is_empty() {
            out.push(self.rng.next_u64() as u8);
            return;
        }
        let at = self.rng.below(out.len());
        match self.rng.below(10) {
            0 => out[at] ^= 1 << self.rng.below(8),
            1 => out[at] = self.rng.next_u64() as u8,
            2 => {
                // An interesting integer, little-endian, 1/2/4/8 bytes wide.
                let value = INTERESTING[self.rng.below(INTERESTING.len())];
                let width = 1 << self.rng.below(4);
                for (i, b) in value.to_le_bytes().iter().take(width).enumerate() {
                    if let Some(slot) = out.get_mut(at + i) {
                        *slot = *b;
                    }
                }
            }
            3 => {
                // An interesting integer as a protobuf varint (ONNX dims, lengths, counts).
                let mut value = INTERESTING[self.rng.below(INTERESTING.len())];
                let mut varint = Vec::new();
                loop {
                    let byte = (value & 0x7f) as u8;
                    value >>= 7;
                    if value == 0 {
                        varint.push(byte);
                        break;
                    }
                    varint.push(byte | 0x80);
                }
                let end = (at + varint.len()).min(out.len());
                out.splice(at..end, varint);
            }
            4 => {
                let len = 1 + self.rng.below(64.min(out.len() - at));
                out.drain(at..at + len);
            }
            5 => {
                let len = 1 + self.rng.below(64.min(out.len() - at));
                let chunk = out[at..at + len].to_vec();
                let to = self.rng.below(out.len());
                out.splice(to..to, chunk);
            }
            6 if !other.is_empty() => {
                let from = self.rng.below(other.len());
                let len = 1 + self.rng.below(256.min(other.len() - from));
                let end = (at + len).min(out.len());
                out.splice(at..end, other[from..from + len].iter().copied());
            }
            7 => out.truncate(at.max(1)),
            8 => {
                let len = 1 + self.rng.below(16);
                let bytes: Vec<u8> = (0..len).map(|_| self.rng.next_u64() as u8).collect();
                out.splice(at..at, bytes);
            }
            _ => {
                // Swap two bytes far apart (reorders fields).
                let to = self.rng.below(out.len());
                out.swap(at, to);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_mutants() {
        let input: Vec<u8> = (0..200).map(|i| i as u8).collect();
        let mut a = Mutator::new(7, 1 << 20);
        let mut b = Mutator::new(7, 1 << 20);
        for _ in 0..100 {
            assert_eq!(a.mutate(&input, b"other"), b.mutate(&input, b"other"));
        }
        let mut c = Mutator::new(8, 1 << 20);
        let differ = (0..100).any(|_| a.mutate(&input, b"x") != c.mutate(&input, b"x"));
        assert!(differ, "another seed, other mutants");
    }

    #[test]
    fn mutants_respect_the_length_limit_and_change_the_input() {
        let input = vec![0u8; 1000];
        let mut m = Mutator::new(1, 1200);
        let mut changed = 0;
        for _ in 0..1000 {
            let out = m.mutate(&input, &[1; 300]);
            assert!(out.len() <= 1200, "{}", out.len());
            changed += usize::from(out != input);
        }
        assert!(changed > 950, "{changed} of 1000 changed");
    }
}
