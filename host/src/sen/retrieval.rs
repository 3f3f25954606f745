//! Retrieval figures: average precision, the paper's SEN mAP protocol (spec §4.4) and recall@k,
//! with their chance levels measured the same way.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Non-interpolated AP of one ranking: (1/R) Σ_k k / rank_k over the R relevant items.
pub fn average_precision(ranked_relevance: &[bool]) -> f64 {
    let mut found = 0usize;
    let mut sum = 0.0;
    for (i, &rel) in ranked_relevance.iter().enumerate() {
        if rel {
            found += 1;
            sum += found as f64 / (i + 1) as f64;
        }
    }
    if found == 0 {
        0.0
    } else {
        sum / found as f64
    }
}

/// Row-major `[n, d]` unit vectors.
pub struct Embeddings<'a> {
    pub data: &'a [f32],
    pub dim: usize,
}

impl Embeddings<'_> {
    pub fn len(&self) -> usize {
        self.data.len() / self.dim.max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64) * (*y as f64))
        .sum()
}

/// Gallery indices by descending similarity to `query` (ties by index, for determinism).
fn ranking(query: &[f32], gallery: &Embeddings) -> Vec<usize> {
    let scores: Vec<f64> = (0..gallery.len())
        .map(|j| dot(query, gallery.row(j)))
        .collect();
    let mut order: Vec<usize> = (0..gallery.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order
}

/// The paper's SEN mAP: for each class, the first sample (in the given order) of that class
/// is the speech query; all images are ranked by cosine; relevant = same class.
pub fn sen_map(speech: &Embeddings, images: &Embeddings, classes: &[usize]) -> f64 {
    mean(
        class_average_precisions(speech, images, classes)
            .iter()
            .map(|(_, ap)| *ap),
    )
}

/// The AP of each class's query under the paper's protocol, as (class id, AP) in class order:
/// with a dozen test classes one query moves the mAP by several points, so the report names them.
pub fn class_average_precisions(
    speech: &Embeddings,
    images: &Embeddings,
    classes: &[usize],
) -> Vec<(usize, f64)> {
    class_queries(classes)
        .into_iter()
        .map(|q| (classes[q], query_ap(q, speech, images, classes)))
        .collect()
}

/// The same ranking with every utterance as a query: a steadier figure than one query per class.
pub fn all_queries_map(speech: &Embeddings, images: &Embeddings, classes: &[usize]) -> f64 {
    mean((0..speech.len()).map(|q| query_ap(q, speech, images, classes)))
}

/// Within one modality (image → image or speech → speech), every item a query against all the
/// others: tells which side of the matching fails to separate the classes.
pub fn within_modality_map(items: &Embeddings, classes: &[usize]) -> f64 {
    mean((0..items.len()).map(|q| {
        let rel: Vec<bool> = ranking(items.row(q), items)
            .into_iter()
            .filter(|&j| j != q)
            .map(|j| classes[j] == classes[q])
            .collect();
        average_precision(&rel)
    }))
}

fn query_ap(q: usize, speech: &Embeddings, images: &Embeddings, classes: &[usize]) -> f64 {
    let rel: Vec<bool> = ranking(speech.row(q), images)
        .into_iter()
        .map(|j| classes[j] == classes[q])
        .collect();
    average_precision(&rel)
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

/// The first index of each class, in class order.
fn class_queries(classes: &[usize]) -> Vec<usize> {
    let mut first = std::collections::BTreeMap::new();
    for (i, &c) in classes.iter().enumerate() {
        first.entry(c).or_insert(i);
    }
    first.into_values().collect()
}

/// Expected SEN mAP of a random ranking, estimated over `rounds` shuffles (seeded).
pub fn sen_map_chance(classes: &[usize], rounds: usize) -> f64 {
    let queries = class_queries(classes);
    if queries.is_empty() {
        return 0.0;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(0x5e4);
    let mut order: Vec<usize> = (0..classes.len()).collect();
    let mut total = 0.0;
    for _ in 0..rounds {
        for &q in &queries {
            order.shuffle(&mut rng);
            let rel: Vec<bool> = order.iter().map(|&j| classes[j] == classes[q]).collect();
            total += average_precision(&rel);
        }
    }
    total / (rounds * queries.len()) as f64
}

/// Speech → image recall@k: the share of speech queries whose own image (same row) is in the
/// top k of all images.
pub fn recall_at_k(speech: &Embeddings, images: &Embeddings, ks: &[usize]) -> Vec<f64> {
    let n = speech.len();
    let mut hits = vec![0usize; ks.len()];
    for i in 0..n {
        let rank = ranking(speech.row(i), images)
            .iter()
            .position(|&j| j == i)
            .unwrap_or(n);
        for (h, &k) in hits.iter_mut().zip(ks) {
            if rank < k {
                *h += 1;
            }
        }
    }
    hits.iter().map(|&h| h as f64 / n.max(1) as f64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ap_of_hand_made_rankings() {
        assert_eq!(average_precision(&[true, true, false]), 1.0);
        // Relevant at ranks 2 and 4: (1/2 + 2/4) / 2 = 0.5.
        assert!((average_precision(&[false, true, false, true]) - 0.5).abs() < 1e-12);
        // Ranks 1, 3, 6: (1 + 2/3 + 3/6) / 3.
        let want = (1.0 + 2.0 / 3.0 + 0.5) / 3.0;
        assert!((average_precision(&[true, false, true, false, false, true]) - want).abs() < 1e-12);
        assert_eq!(average_precision(&[false, false]), 0.0);
    }

    #[test]
    fn sen_map_with_known_geometry() {
        // Two classes on the x and y axes; the class-1 query points between.
        let speech = [1.0f32, 0.0, 0.9, 0.1, 0.6, 0.8, 0.0, 1.0];
        let images = [1.0f32, 0.0, 0.0, 1.0, 0.7, 0.7, 0.1, 0.9];
        let classes = [0, 0, 1, 1];
        let s = Embeddings {
            data: &speech,
            dim: 2,
        };
        let v = Embeddings {
            data: &images,
            dim: 2,
        };
        // Query class 0 = row 0 = (1,0): scores 1, 0, .7, .1 → order 0, 2, 3, 1 → relevant at
        // ranks 1 and 4: AP = (1 + 2/4)/2 = 0.75.
        // Query class 1 = row 2 = (.6,.8): scores .6, .8, .98, .78 → order 2, 1, 3, 0 →
        // relevant at 1 and 3: AP = (1 + 2/3)/2.
        let want = (0.75 + (1.0 + 2.0 / 3.0) / 2.0) / 2.0;
        assert!((sen_map(&s, &v, &classes) - want).abs() < 1e-9);
        let per_class = class_average_precisions(&s, &v, &classes);
        assert_eq!(per_class.len(), 2);
        assert_eq!(per_class[0], (0, 0.75));
        assert!((per_class[1].1 - 5.0 / 6.0).abs() < 1e-12);
        // Every row a query: row 1 (.9,.1) ranks 0, 2, 3, 1 (AP .75); row 3 (0,1) ranks
        // 1, 3, 2, 0, its class at ranks 2 and 3 (AP (1/2 + 2/3)/2).
        let all = (0.75 + 0.75 + 5.0 / 6.0 + (0.5 + 2.0 / 3.0) / 2.0) / 4.0;
        assert!((all_queries_map(&s, &v, &classes) - all).abs() < 1e-9);
        // One modality alone, self excluded: (.8,.2) of class 1 ranks (1,0), (.9,.1), then its
        // class-mate (0,1): AP 1/3; every other item finds its class-mate first.
        let alone = [1.0f32, 0.0, 0.9, 0.1, 0.0, 1.0, 0.8, 0.2];
        let alone = Embeddings {
            data: &alone,
            dim: 2,
        };
        let want = (3.0 + 1.0 / 3.0) / 4.0;
        assert!((within_modality_map(&alone, &classes) - want).abs() < 1e-9);
        let r = recall_at_k(&s, &v, &[1, 2, 4]);
        // Row 0 → own image 1st; row 1 (.9,.1) → order 0, 2, 3, 1: own at 4th; row 2 → 1st;
        // row 3 (0,1) → order 1, 3, 2, 0: own (3) 2nd.
        assert_eq!(r, vec![0.5, 0.75, 1.0]);
    }

    #[test]
    fn chance_is_near_the_share_of_relevant_items() {
        let classes: Vec<usize> = (0..400).map(|i| i % 10).collect();
        let chance = sen_map_chance(&classes, 50);
        // With R = 40 of N = 400 the expected AP is a little above R/N.
        assert!(chance > 0.1 && chance < 0.14, "{chance}");
    }
}
