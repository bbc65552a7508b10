#include "tasks/view_pairs.hpp"

#include <stdexcept>
#include <string>

namespace rpcbench {

ViewPairScores split_view_scores(const torch::Tensor& scores) {
  if (scores.dim() != 2 || scores.size(0) != scores.size(1) || scores.size(0) < 4 || scores.size(0) % 2 != 0)
    throw std::invalid_argument("split_view_scores: needs a square 2N×2N score matrix with N ≥ 2, got " +
                                std::to_string(scores.dim()) + "-d " + std::to_string(scores.size(0)));
  const std::int64_t views = scores.size(0), n = views / 2;
  const auto index_options = torch::TensorOptions().dtype(torch::kLong).device(scores.device());
  const torch::Tensor idx = torch::arange(views, index_options);
  const torch::Tensor positive_of = (idx + n) % views;
  torch::Tensor negative = torch::ones({views, views}, torch::TensorOptions().dtype(torch::kBool).device(scores.device()));
  negative.index_put_({idx, idx}, false);
  negative.index_put_({idx, positive_of}, false);
  return {scores.gather(1, positive_of.unsqueeze(1)).squeeze(1), scores.masked_select(negative).view({views, views - 2})};
}

ViewPairScores split_paired_scores(const torch::Tensor& scores) {
  if (scores.dim() != 2 || scores.size(0) != scores.size(1) || scores.size(0) < 2)
    throw std::invalid_argument("split_paired_scores: needs a square N×N score matrix with N ≥ 2, got " +
                                std::to_string(scores.dim()) + "-d " + std::to_string(scores.size(0)));
  return split_paired_scores(scores, off_diagonal_mask(scores.size(0), scores.device()));
}

torch::Tensor off_diagonal_mask(std::int64_t n, const torch::Device& device) {
  return ~torch::eye(n, torch::TensorOptions().dtype(torch::kBool).device(device));
}

ViewPairScores split_paired_scores(const torch::Tensor& scores, const torch::Tensor& off_diagonal) {
  std::vector<std::int64_t> neg_shape = scores.sizes().vec();  // [..., N, N − 1]
  neg_shape.back() -= 1;
  return {scores.diagonal(0, -2, -1), scores.masked_select(off_diagonal).view(neg_shape)};
}

double pair_top1(const ViewPairScores& s) {
  torch::NoGradGuard no_grad;
  return s.pos.gt(std::get<0>(s.neg.max(1))).to(torch::kFloat64).mean().item<double>();
}

}  // namespace rpcbench
