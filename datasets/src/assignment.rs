//! One-to-one matching for the evaluator, on top of `pathfinding`'s Kuhn–Munkres (Hungarian) solver.

use pathfinding::kuhn_munkres::kuhn_munkres;
use pathfinding::matrix::Matrix;

/// Pairs rows with columns one-to-one: as many pairs as the allowed edges permit and, among matchings of
/// that size, the one with the smallest total cost. This is what py-motmetrics gets from its solver with
/// forbidden pairs priced at a large constant, and what event matching wants (most matches, then closest
/// in time).
///
/// `cost(row, col)` is `None` for a pair that may not be matched, else a cost in `0..=max_cost`.
/// Returns `(row, col)` pairs sorted by row.
pub(crate) fn min_cost_max_matching(
    rows: usize,
    cols: usize,
    max_cost: i64,
    cost: impl Fn(usize, usize) -> Option<i64>,
) -> Vec<(usize, usize)> {
    if rows == 0 || cols == 0 {
        return Vec::new();
    }
    let max_cost = max_cost.max(0);
    let size = rows.min(cols) as i64;
    // Every allowed edge weighs more than `size` times the worst cost, so one more pair always beats any
    // saving in cost, and 0 marks a forbidden pair (filtered out below).
    let big = max_cost.saturating_mul(size + 1).saturating_add(1);
    let weight = |r: usize, c: usize| match cost(r, c) {
        Some(value) => big - value.clamp(0, max_cost),
        None => 0,
    };
    // kuhn_munkres wants no more rows than columns.
    let transposed = rows > cols;
    let (n_rows, n_cols) = if transposed {
        (cols, rows)
    } else {
        (rows, cols)
    };
    let mut weights = Matrix::new(n_rows, n_cols, 0i64);
    for r in 0..n_rows {
        for c in 0..n_cols {
            weights[(r, c)] = if transposed {
                weight(c, r)
            } else {
                weight(r, c)
            };
        }
    }
    let (_, assignment) = kuhn_munkres(&weights);
    let mut pairs: Vec<(usize, usize)> = assignment
        .into_iter()
        .enumerate()
        .filter(|&(r, c)| weights[(r, c)] > 0)
        .map(|(r, c)| if transposed { (c, r) } else { (r, c) })
        .collect();
    pairs.sort_unstable();
    pairs
}

/// Pairs rows with columns one-to-one to maximise the total weight (`weight(row, col) >= 0`); pairs of
/// weight 0 are left out of the result. Returns `(row, col)` pairs sorted by row.
pub(crate) fn max_weight_matching(
    rows: usize,
    cols: usize,
    weight: impl Fn(usize, usize) -> i64,
) -> Vec<(usize, usize)> {
    if rows == 0 || cols == 0 {
        return Vec::new();
    }
    let transposed = rows > cols;
    let (n_rows, n_cols) = if transposed {
        (cols, rows)
    } else {
        (rows, cols)
    };
    let mut weights = Matrix::new(n_rows, n_cols, 0i64);
    for r in 0..n_rows {
        for c in 0..n_cols {
            let w = if transposed {
                weight(c, r)
            } else {
                weight(r, c)
            };
            weights[(r, c)] = w.max(0);
        }
    }
    let (_, assignment) = kuhn_munkres(&weights);
    let mut pairs: Vec<(usize, usize)> = assignment
        .into_iter()
        .enumerate()
        .filter(|&(r, c)| weights[(r, c)] > 0)
        .map(|(r, c)| if transposed { (c, r) } else { (r, c) })
        .collect();
    pairs.sort_unstable();
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefers_more_pairs_over_lower_cost() {
        // Row 0 could take column 0 cheaply, but then row 1 (which only fits column 0) goes unmatched.
        let cost = |r: usize, c: usize| match (r, c) {
            (0, 0) => Some(0),
            (0, 1) => Some(9),
            (1, 0) => Some(9),
            _ => None,
        };
        assert_eq!(min_cost_max_matching(2, 2, 9, cost), vec![(0, 1), (1, 0)]);
    }

    #[test]
    fn max_weight_prefers_weight_over_count() {
        // One heavy pair beats two light ones.
        let weights = [[10, 4], [4, 0]];
        assert_eq!(
            max_weight_matching(2, 2, |r, c| weights[r][c]),
            vec![(0, 0)]
        );
        let tall = [[1], [5], [2]];
        assert_eq!(max_weight_matching(3, 1, |r, c| tall[r][c]), vec![(1, 0)]);
    }

    #[test]
    fn picks_lowest_cost_and_handles_tall_matrices() {
        let costs = [[5, 1], [1, 5], [0, 0]];
        let pairs = min_cost_max_matching(3, 2, 5, |r, c| Some(costs[r][c]));
        let total: i64 = pairs.iter().map(|&(r, c)| costs[r][c]).sum();
        assert_eq!(pairs.len(), 2);
        assert_eq!(total, 1);
        assert!(min_cost_max_matching(0, 3, 1, |_, _| Some(0)).is_empty());
        assert!(min_cost_max_matching(2, 2, 1, |_, _| None).is_empty());
    }
}
