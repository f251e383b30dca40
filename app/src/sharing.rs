//! How a job is cut into shares for several compute workers and joined again: the request each
//! worker gets, the request that finishes a map from its summed shares, and that sum. Pure (the
//! browser's side, which starts the workers and routes their answers, is `ui/pool.rs`), so it
//! is tested natively.

use crate::protocol::{ExplainPart, Request, Shard, bytes_f32, f32_bytes};

/// `request`, a whole explanation or evaluation, as the share `index` of `count` workers;
/// `None` for any other request.
pub fn share(request: &Request, index: usize, count: usize) -> Option<Request> {
    let shard = Shard { index, count };
    let mut share = request.clone();
    match &mut share {
        Request::Explain { part, .. } => *part = ExplainPart::Share(shard),
        Request::Evaluate { shard: s, .. } => *s = Some(shard),
        _ => return None,
    }
    Some(share)
}

/// The page's request as the main worker alone does it (when the helpers failed): a whole
/// evaluation or explanation as it was asked; `None` for anything else.
pub fn whole(request: Request) -> Option<Request> {
    match request {
        r @ (Request::Evaluate { shard: None, .. }
        | Request::Explain {
            part: ExplainPart::Whole,
            ..
        }) => Some(r),
        _ => None,
    }
}

/// The page's explanation request, to be finished from the summed map of its shares.
pub fn finishing(request: Request) -> Option<Request> {
    let mut finish = request;
    match &mut finish {
        Request::Explain { part, .. } => *part = ExplainPart::Joined,
        _ => return None,
    }
    Some(finish)
}

/// The elementwise sum of float32 byte arrays of one length (`None` if they differ).
pub fn sum_f32(shares: &[Vec<u8>]) -> Option<Vec<u8>> {
    let len = shares.first()?.len();
    if len % 4 != 0 || shares.iter().any(|s| s.len() != len) {
        return None;
    }
    let mut sum = vec![0f32; len / 4];
    for share in shares {
        sum.iter_mut()
            .zip(bytes_f32(share))
            .for_each(|(s, v)| *s += v);
    }
    Some(f32_bytes(&sum))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ExplainMethod;

    fn explain() -> Request {
        Request::Explain {
            id: 7,
            method: ExplainMethod::IntegratedGradients,
            target: Some(3),
            layer: Some("conv".into()),
            probability: true,
            sum_channels: false,
            part: ExplainPart::Whole,
        }
    }

    #[test]
    fn a_share_keeps_every_setting_and_names_its_part() {
        let Some(Request::Explain {
            id,
            target,
            layer,
            probability,
            part,
            ..
        }) = share(&explain(), 1, 3)
        else {
            panic!("an explanation");
        };
        assert_eq!(
            (id, target, layer.as_deref(), probability),
            (7, Some(3), Some("conv"), true)
        );
        assert_eq!(part, ExplainPart::Share(Shard { index: 1, count: 3 }));
        assert!(share(&Request::Cancel, 0, 2).is_none());
    }

    #[test]
    fn only_whole_jobs_run_again_on_the_main_worker_and_maps_finish_joined() {
        assert!(whole(explain()).is_some());
        let shared = share(&explain(), 0, 2).expect("share");
        assert!(
            whole(shared).is_none(),
            "a share is never the page's request"
        );
        let Some(Request::Explain { part, id, .. }) = finishing(explain()) else {
            panic!("an explanation");
        };
        assert_eq!((part, id), (ExplainPart::Joined, 7));
    }

    #[test]
    fn shares_sum_elementwise_and_ragged_ones_are_refused() {
        let a = f32_bytes(&[1.0, -2.0]);
        let b = f32_bytes(&[0.5, 4.0]);
        assert_eq!(
            bytes_f32(&sum_f32(&[a.clone(), b]).expect("sum")),
            [1.5, 2.0]
        );
        assert!(sum_f32(&[a, f32_bytes(&[1.0])]).is_none());
        assert!(sum_f32(&[]).is_none());
    }
}
