// `--shard I/N`: a deterministic part of a suite's cases, for running one suite on many machines
// (a SLURM job array) and merging the parts afterwards.
#pragma once

#include "suite/suite.hpp"

#include <string>
#include <vector>

namespace rpcbench {

struct ShardSpec {
  int index = 0, count = 1;  // the index-th (0-based) of count parts
};

// "I/N" with 0 ≤ I < N; InputError otherwise ("3/2", "a/b", "1/0").
ShardSpec parse_shard(const std::string& text);

// The indices (into `cases`, ascending) of shard `spec`: cases are dealt largest expected cost
// first (ties by key) to the part with the least cost so far (ties to the lowest index), so the
// parts are balanced, every case is in exactly one, and the partition depends only on the cases,
// their costs and N.
std::vector<std::size_t> shard_cases(const std::vector<Case>& cases, const std::vector<double>& costs, ShardSpec spec);

}  // namespace rpcbench
