//! Kubernetes' `DefaultNormalizeScore`: scale raw scores so the best node gets the maximum,
//! optionally reversed (fewer is better).

/// Scales `scores` to `0..=max` relative to the largest; `reverse` turns the scale around.
/// All-zero scores become all `max` when reversed and stay 0 otherwise.
pub fn default_normalize_score(max: i64, reverse: bool, scores: &mut [i64]) {
    let highest = scores.iter().copied().max().unwrap_or(0).max(0);
    if highest == 0 {
        if reverse {
            scores.iter_mut().for_each(|s| *s = max);
        }
        return;
    }
    for score in scores.iter_mut() {
        let scaled = max * *score / highest;
        *score = if reverse { max - scaled } else { scaled };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_and_reverses() {
        let mut scores = [0, 2, 4];
        default_normalize_score(100, false, &mut scores);
        assert_eq!(scores, [0, 50, 100]);
        let mut scores = [0, 2, 4];
        default_normalize_score(100, true, &mut scores);
        assert_eq!(scores, [100, 50, 0]);
        let mut zeros = [0, 0];
        default_normalize_score(100, true, &mut zeros);
        assert_eq!(zeros, [100, 100]);
    }
}
