#pragma once

#include "db/database.hpp"

#include <filesystem>

namespace rpcbench {

struct MergeStats {
  std::size_t runs_added = 0, runs_skipped = 0, cases = 0, samples = 0;
};

// Copies every run of `source` (with its plugins, cases, samples and summaries, provenance as
// recorded) into `target`, each run in one transaction. A run already there — the same host,
// pid, start time and resolved suite — is skipped, so merging twice changes nothing.
MergeStats merge_database(Database& target, const std::filesystem::path& source);

}  // namespace rpcbench
