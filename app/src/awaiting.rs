//! Which answers the page still waits for, in one place. Every request the page sends is noted
//! under the purpose it serves, with the id the client gave it; a newer click for the same
//! purpose supersedes the earlier requests, so a late answer to an old click is recognised here
//! and dropped (the latest wins, as with Leptos resources keyed on their inputs). The page's
//! state asks this, never compares ids itself. Pure, tested natively.

/// What a request is for. Each purpose has one current round of requests: the last click's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The current image: reading a dataset image to open it, then classifying it.
    Image,
    /// The maps of the last Explain click, one request per method.
    Explanations,
    /// The last "does this map depend on the model?" check.
    Sanity,
    /// The shown image's activations at the Features view's layer.
    Activations,
    /// The deep dreams of the last click, one request per channel.
    Dreams,
    /// The dataset's evaluation.
    Evaluation,
    /// The t-SNE map.
    Tsne,
    /// The most activating images of a layer's channels.
    MaxActivations,
    /// Thumbnails for the galleries: every request stays wanted until the dataset changes.
    Thumbnails,
    /// Every common preprocessing scored on a sample of the dataset.
    PreprocessingCheck,
    /// Pairs of near-duplicate images of the dataset.
    NearDuplicates,
    /// The maps of many dataset images (a confusion cell, a class) and their mean.
    ClassMaps,
    /// Opening the second model of a comparison.
    SecondModel,
    /// The dataset's evaluation by the second model.
    SecondEvaluation,
    /// The current image classified by the second model.
    SecondImage,
    /// The second model's maps of the last Explain click, one request per method.
    SecondExplanations,
}

impl Purpose {
    const ALL: [Purpose; 16] = [
        Purpose::Image,
        Purpose::Explanations,
        Purpose::Sanity,
        Purpose::Activations,
        Purpose::Dreams,
        Purpose::Evaluation,
        Purpose::Tsne,
        Purpose::MaxActivations,
        Purpose::Thumbnails,
        Purpose::PreprocessingCheck,
        Purpose::NearDuplicates,
        Purpose::ClassMaps,
        Purpose::SecondModel,
        Purpose::SecondEvaluation,
        Purpose::SecondImage,
        Purpose::SecondExplanations,
    ];

    /// Whether the worker computes it in one go, so only a new worker stops it.
    pub fn one_go(self) -> bool {
        matches!(
            self,
            Purpose::Explanations | Purpose::Dreams | Purpose::SecondExplanations
        )
    }

    /// Whether the page shows its progress (a job over the dataset, or one-go work with steps;
    /// not the preprocessing check, which runs unasked).
    pub fn shows_progress(self) -> bool {
        !matches!(
            self,
            Purpose::Image
                | Purpose::Activations
                | Purpose::Thumbnails
                | Purpose::PreprocessingCheck
                | Purpose::SecondModel
                | Purpose::SecondImage
        )
    }

    /// Whether its failure is the user's to hear of: the preprocessing check runs unasked
    /// beside the evaluation, which reports the same problems (unreadable images, classes that
    /// do not match).
    pub fn reports_failure(self) -> bool {
        self != Purpose::PreprocessingCheck
    }
}

/// The requests of one purpose's current round.
#[derive(Debug, Clone, Default, PartialEq)]
struct Round {
    /// Counts the rounds, so a task started for one round can tell it was superseded.
    number: u64,
    /// The ids asked for in this round, in order, and whether each was answered.
    ids: Vec<(u64, bool)>,
}

/// What an answer was for (see [`Awaiting::answered`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answered {
    pub purpose: Purpose,
    /// Whether it was the last request of its round still unanswered.
    pub round_complete: bool,
}

/// The current round of every purpose.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Awaiting {
    rounds: Vec<(Purpose, Round)>,
}

impl Awaiting {
    fn round_mut(&mut self, purpose: Purpose) -> &mut Round {
        let i = match self.rounds.iter().position(|(p, _)| *p == purpose) {
            Some(i) => i,
            None => {
                self.rounds.push((purpose, Round::default()));
                self.rounds.len() - 1
            }
        };
        &mut self.rounds[i].1
    }

    fn round(&self, purpose: Purpose) -> Option<&Round> {
        self.rounds
            .iter()
            .find(|(p, _)| *p == purpose)
            .map(|(_, r)| r)
    }

    /// A new click for `purpose`: its requests `ids` supersede every earlier one.
    pub fn replace(&mut self, purpose: Purpose, ids: &[u64]) {
        let round = self.round_mut(purpose);
        round.number += 1;
        round.ids = ids.iter().map(|&id| (id, false)).collect();
    }

    /// One more request for `purpose`, beside those already awaited.
    pub fn add(&mut self, purpose: Purpose, id: u64) {
        self.round_mut(purpose).ids.push((id, false));
    }

    /// Waits no longer for `purpose` (cancelled, or what it was about is gone).
    pub fn forget(&mut self, purpose: Purpose) {
        self.replace(purpose, &[]);
    }

    /// Waits no longer for the requests of `purpose` sent before request `id` (ids grow with
    /// time): a new image's prediction drops the maps asked for the image before it, not those
    /// asked for it after its prediction was sent.
    pub fn forget_older(&mut self, purpose: Purpose, id: u64) {
        let round = self.round_mut(purpose);
        if round.ids.iter().any(|&(i, _)| i < id) {
            round.number += 1;
            round.ids.retain(|&(i, _)| i > id);
        }
    }

    /// Waits no longer for any one-go work (a new worker replaced the one computing it).
    pub fn forget_one_go(&mut self) {
        for purpose in Purpose::ALL.into_iter().filter(|p| p.one_go()) {
            self.forget(purpose);
        }
    }

    /// The round `purpose` is in: a task begun in one round stops when this changes.
    pub fn round_number(&self, purpose: Purpose) -> u64 {
        self.round(purpose).map_or(0, |r| r.number)
    }

    /// What request `id` is for, while its answer is still wanted (progress along the way
    /// included); `None` for an answer to a superseded click.
    pub fn purpose_of(&self, id: u64) -> Option<Purpose> {
        self.rounds
            .iter()
            .find(|(_, r)| r.ids.iter().any(|&(i, answered)| i == id && !answered))
            .map(|(p, _)| *p)
    }

    /// Notes the final answer to request `id` (its result, or its failure): `None` if it is no
    /// longer wanted.
    pub fn answered(&mut self, id: u64) -> Option<Answered> {
        let purpose = self.purpose_of(id)?;
        let round = self.round_mut(purpose);
        for entry in round.ids.iter_mut().filter(|(i, _)| *i == id) {
            entry.1 = true;
        }
        let round_complete = round.ids.iter().all(|&(_, answered)| answered);
        Some(Answered {
            purpose,
            round_complete,
        })
    }

    /// How many of `purpose`'s current requests are answered, of how many.
    pub fn count(&self, purpose: Purpose) -> (usize, usize) {
        self.round(purpose).map_or((0, 0), |r| {
            (r.ids.iter().filter(|(_, a)| *a).count(), r.ids.len())
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_new_image_drops_only_the_maps_asked_before_it() {
        let mut a = Awaiting::default();
        a.replace(Purpose::Explanations, &[3, 4]);
        // The image was sent as 5; maps asked after it (6, 7) are of the new image.
        a.forget_older(Purpose::Explanations, 5);
        assert_eq!(a.purpose_of(3), None);
        a.replace(Purpose::Explanations, &[6, 7]);
        a.forget_older(Purpose::Explanations, 5);
        assert_eq!(a.purpose_of(6), Some(Purpose::Explanations));
        assert_eq!(a.purpose_of(7), Some(Purpose::Explanations));
        assert!(a.answered(6).is_some());
    }

    use super::*;

    #[test]
    fn a_newer_click_supersedes_the_earlier_one() {
        let mut a = Awaiting::default();
        a.replace(Purpose::Tsne, &[4]);
        a.replace(Purpose::Tsne, &[9]);
        assert_eq!(a.purpose_of(4), None);
        assert_eq!(
            a.answered(4),
            None,
            "a late answer to the first click is dropped"
        );
        assert_eq!(
            a.answered(9),
            Some(Answered {
                purpose: Purpose::Tsne,
                round_complete: true
            })
        );
        assert_eq!(a.answered(9), None, "an answer is applied once");
    }

    #[test]
    fn purposes_are_independent() {
        let mut a = Awaiting::default();
        a.replace(Purpose::Evaluation, &[1]);
        a.replace(Purpose::Image, &[2]);
        a.replace(Purpose::Image, &[3]);
        assert_eq!(a.purpose_of(1), Some(Purpose::Evaluation));
        assert_eq!(a.purpose_of(2), None);
        assert_eq!(a.purpose_of(3), Some(Purpose::Image));
        assert_eq!(a.purpose_of(77), None, "never asked for");
    }

    #[test]
    fn a_round_of_several_requests_completes_with_its_last_answer() {
        let mut a = Awaiting::default();
        a.replace(Purpose::Explanations, &[10, 11, 12]);
        // Progress of one map does not count as its answer.
        assert_eq!(a.purpose_of(11), Some(Purpose::Explanations));
        assert_eq!(a.answered(12).map(|x| x.round_complete), Some(false));
        assert_eq!(a.answered(10).map(|x| x.round_complete), Some(false));
        assert_eq!(a.count(Purpose::Explanations), (2, 3));
        assert_eq!(a.answered(11).map(|x| x.round_complete), Some(true));
        // The next click's maps are not mixed with this one's.
        a.replace(Purpose::Explanations, &[20]);
        assert_eq!(a.count(Purpose::Explanations), (0, 1));
    }

    #[test]
    fn forgetting_one_go_work_keeps_the_jobs() {
        let mut a = Awaiting::default();
        a.replace(Purpose::Explanations, &[1, 2]);
        a.replace(Purpose::Dreams, &[3]);
        a.replace(Purpose::Evaluation, &[4]);
        a.forget_one_go();
        assert_eq!(a.purpose_of(1), None);
        assert_eq!(a.purpose_of(3), None);
        assert_eq!(a.purpose_of(4), Some(Purpose::Evaluation));
    }

    #[test]
    fn thumbnails_accumulate_until_the_dataset_changes() {
        let mut a = Awaiting::default();
        a.forget(Purpose::Thumbnails);
        let round = a.round_number(Purpose::Thumbnails);
        a.add(Purpose::Thumbnails, 5);
        a.add(Purpose::Thumbnails, 6);
        assert_eq!(a.answered(5).map(|x| x.purpose), Some(Purpose::Thumbnails));
        assert_eq!(a.purpose_of(6), Some(Purpose::Thumbnails));
        assert_eq!(a.round_number(Purpose::Thumbnails), round);
        a.forget(Purpose::Thumbnails);
        assert_ne!(a.round_number(Purpose::Thumbnails), round);
        assert_eq!(
            a.answered(6),
            None,
            "an earlier dataset's images are not shown"
        );
    }
}
