//! The dataset images that activate each channel most, kept as a running top-k per channel
//! while the set streams through in batches: memory is channels × k, never the set's
//! activations (the original held them all).

use serde::{Deserialize, Serialize};

/// Running top-k images per channel by a per-image channel score (the channel's mean
/// activation over positions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopImages {
    pub k: usize,
    /// Per channel: `(score, image index)`, best first.
    pub best: Vec<Vec<(f32, usize)>>,
}

impl TopImages {
    pub fn new(channels: usize, k: usize) -> Self {
        Self {
            k,
            best: vec![Vec::with_capacity(k + 1); channels],
        }
    }

    /// Adds one image's per-channel scores.
    pub fn add(&mut self, image: usize, scores: &[f32]) {
        for (list, &score) in self.best.iter_mut().zip(scores) {
            if !score.is_finite() || (list.len() == self.k && score <= list[self.k - 1].0) {
                continue;
            }
            // Insert after equal scores, so earlier images win ties (a stable order).
            let at = list.partition_point(|&(s, _)| s >= score);
            list.insert(at, (score, image));
            list.truncate(self.k);
        }
    }

    /// Adds a batch: `scores` holds `images.len()` rows of one score per channel.
    pub fn add_batch(&mut self, images: &[usize], scores: &[f32]) {
        let channels = self.best.len();
        for (i, &image) in images.iter().enumerate() {
            self.add(image, &scores[i * channels..(i + 1) * channels]);
        }
    }
}

/// Per-image, per-channel mean over positions of an activation batch laid out as `[N, C, P]`
/// (channels first) or `[N, P, C]` (channels last).
pub fn channel_means(values: &[f32], n: usize, channels: usize, channels_last: bool) -> Vec<f32> {
    let per_image = values.len() / n.max(1);
    let positions = per_image / channels.max(1);
    let mut out = vec![0.0; n * channels];
    for i in 0..n {
        let image = &values[i * per_image..(i + 1) * per_image];
        for c in 0..channels {
            let sum: f32 = if channels_last {
                (0..positions).map(|p| image[p * channels + c]).sum()
            } else {
                image[c * positions..(c + 1) * positions].iter().sum()
            };
            out[i * channels + c] = sum / positions as f32;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_top_k_equals_a_full_sort() {
        // 200 images x 3 channels of pseudo-random scores, streamed in uneven batches.
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) % 1000) as f32 / 10.0
        };
        let scores: Vec<f32> = (0..600).map(|_| next()).collect();
        let mut top = TopImages::new(3, 7);
        let mut start = 0;
        for size in [1, 13, 50, 64, 72] {
            let images: Vec<usize> = (start..start + size).collect();
            top.add_batch(&images, &scores[start * 3..(start + size) * 3]);
            start += size;
        }
        for c in 0..3 {
            let mut all: Vec<(f32, usize)> = (0..200).map(|i| (scores[i * 3 + c], i)).collect();
            all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            all.truncate(7);
            assert_eq!(top.best[c], all, "channel {c}");
        }
    }

    #[test]
    fn channel_means_read_both_layouts() {
        let first = channel_means(&[1.0, 3.0, 10.0, 20.0], 1, 2, false);
        assert_eq!(first, vec![2.0, 15.0]);
        let last = channel_means(&[1.0, 10.0, 3.0, 20.0], 1, 2, true);
        assert_eq!(last, vec![2.0, 15.0]);
    }
}
