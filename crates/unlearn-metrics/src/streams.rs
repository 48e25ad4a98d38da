//! The random streams of the metrics: one per purpose, derived from the metrics seed with
//! [`unlearn_data::rng::seeded`], as data, models and methods derive theirs. Each random
//! choice draws from its own stream, so adding or changing one never shifts another (the
//! DA reference subsample does not move when k-means draws more restarts).

use rand_chacha::ChaCha8Rng;

/// What a random stream of the metrics is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// The retain rows that enter the DA reference subspace (and the PCA figure's fit).
    DaReference,
    /// The rows a scatter figure draws.
    FigurePoints,
    /// The linear probe's stratified fit / evaluation split.
    ProbeSplit,
    /// k-means++ seeding over the restarts.
    KMeans,
    /// The permutations of the per-example tests' null band.
    ModelPermutations,
}

impl Purpose {
    /// The purpose label hashed with the seed.
    pub fn label(self) -> &'static str {
        match self {
            Self::DaReference => "metrics/da-reference",
            Self::FigurePoints => "metrics/figure-points",
            Self::ProbeSplit => "metrics/probe-split",
            Self::KMeans => "metrics/kmeans",
            Self::ModelPermutations => "metrics/model-permutations",
        }
    }
}

/// The stream for `purpose` under the metrics seed `seed`.
pub fn stream(seed: u64, purpose: Purpose) -> ChaCha8Rng {
    unlearn_data::rng::seeded(seed, purpose.label())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn each_purpose_has_its_own_stream_and_a_seed_repeats_it() {
        let all = [
            Purpose::DaReference,
            Purpose::FigurePoints,
            Purpose::ProbeSplit,
            Purpose::KMeans,
            Purpose::ModelPermutations,
        ];
        let first: Vec<u64> = all.iter().map(|&p| stream(0, p).random()).collect();
        for (i, a) in first.iter().enumerate() {
            for b in &first[i + 1..] {
                assert_ne!(a, b);
            }
        }
        let again: u64 = stream(0, Purpose::KMeans).random();
        assert_eq!(again, first[3]);
        let other: u64 = stream(1, Purpose::KMeans).random();
        assert_ne!(other, first[3]);
    }
}
