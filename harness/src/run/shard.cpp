#include "run/shard.hpp"

#include "util/errors.hpp"

#include <algorithm>
#include <numeric>
#include <regex>

namespace rpcbench {

ShardSpec parse_shard(const std::string& text) {
  std::smatch m;
  if (!std::regex_match(text, m, std::regex("([0-9]{1,6})/([0-9]{1,6})")))
    throw InputError("--shard must be I/N (the I-th of N parts, 0 ≤ I < N), got '" + text + "'");
  ShardSpec s{std::stoi(m[1]), std::stoi(m[2])};
  if (s.count < 1 || s.index >= s.count)
    throw InputError("--shard " + text + ": I must be in [0, N) and N ≥ 1 (parts are numbered from 0)");
  return s;
}

std::vector<std::size_t> shard_cases(const std::vector<Case>& cases, const std::vector<double>& costs, ShardSpec spec) {
  std::vector<std::size_t> order(cases.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (costs[a] != costs[b]) return costs[a] > costs[b];
    return cases[a].key < cases[b].key;
  });
  std::vector<double> load(static_cast<std::size_t>(spec.count), 0.0);
  std::vector<std::size_t> mine;
  for (std::size_t i : order) {
    const auto part = static_cast<std::size_t>(std::min_element(load.begin(), load.end()) - load.begin());
    load[part] += costs[i];
    if (part == static_cast<std::size_t>(spec.index)) mine.push_back(i);
  }
  std::sort(mine.begin(), mine.end());
  return mine;
}

}  // namespace rpcbench
