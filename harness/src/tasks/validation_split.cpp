#include "tasks/validation_split.hpp"

#include "util/hash.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

namespace rpcbench {

EvalSplits eval_splits(const DatasetSpec& spec, double validation_fraction) {
  const std::int64_t train = spec.split_sizes.at("train");
  if (!(validation_fraction > 0))
    return {torch::arange(train, torch::kLong), "test", torch::arange(spec.split_sizes.at("test"), torch::kLong)};
  const auto held_out = std::min<std::int64_t>(
      train, static_cast<std::int64_t>(std::llround(validation_fraction * static_cast<double>(train))));
  at::Generator gen = at::detail::createCPUGenerator(derive_seed(0, "validation split"));
  const torch::Tensor order = torch::randperm(train, gen, torch::kLong);
  // Sorted, so features are read in the dataset's order.
  return {std::get<0>(order.narrow(0, held_out, train - held_out).sort()), "train",
          std::get<0>(order.narrow(0, 0, held_out).sort())};
}

}  // namespace rpcbench
