// Which images pretrain and fit the probes, and which score them. Without a validation fraction:
// all of "train", scored on "test". With a fraction v > 0 (for tuning): a fixed subset of
// round(v·|train|) training images is held out and scores the probes, the rest pretrains and fits
// them, and the test split is never read. The subset comes from a constant seed: the same for
// every case, seed and objective, so each tuning grid point is scored on the same images.
#pragma once

#include <rpcbench/plugin.hpp>

#include <string>

namespace rpcbench {

struct EvalSplits {
  torch::Tensor train;     // indices into "train": pretraining and probe fitting (sorted)
  std::string eval_split;  // "test", or "train" for the held-out validation images
  torch::Tensor eval;      // indices into eval_split (sorted)
};

EvalSplits eval_splits(const DatasetSpec& spec, double validation_fraction);

}  // namespace rpcbench
