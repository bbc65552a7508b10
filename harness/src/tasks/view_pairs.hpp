// SimCLR's pair layout: which entries of the 2N×2N view-score matrix are an anchor's positive
// and which its negatives. Views are stacked [first views of images 0..N−1; second views of the
// same images], so view a's positive is view (a + N) mod 2N. Its negatives are the other 2N − 2
// views (itself and its positive dropped), in column order. The task and the benchmarks use this
// one function, so a layout mistake cannot hide in a copy. The MI task's layout is here too.
#pragma once

#include <torch/torch.h>

namespace rpcbench {

struct ViewPairScores {
  torch::Tensor pos;  // [2N]
  torch::Tensor neg;  // [2N, 2N − 2]
};

// The index of view a's positive among 2N views.
inline std::int64_t positive_view(std::int64_t a, std::int64_t n) { return (a + n) % (2 * n); }

// scores: [2N, 2N], scores[a][b] = score of view b as a candidate for anchor view a.
ViewPairScores split_view_scores(const torch::Tensor& scores);

// The MI task's layout: scores [N, N], scores[i][j] = f(x_j, y_i). Anchor i's positive is its own
// pair (the diagonal), its negatives the rest of row i in column order: pos [N], neg [N, N − 1].
ViewPairScores split_paired_scores(const torch::Tensor& scores);
// The same with the N×N off-diagonal mask made once by the caller (the MI task's step loop). Also
// for an ensemble's stacked scores [M, N, N]: pos [M, N], neg [M, N, N − 1].
ViewPairScores split_paired_scores(const torch::Tensor& scores, const torch::Tensor& off_diagonal);
torch::Tensor off_diagonal_mask(std::int64_t n, const torch::Device& device);

// Fraction of anchors whose positive scores strictly above every negative: the task's own
// measure of learning, whichever objective trains (chance: about 1/(2N − 1)).
double pair_top1(const ViewPairScores& s);

}  // namespace rpcbench
