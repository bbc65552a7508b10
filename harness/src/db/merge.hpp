#pragma once

#include "db/database.hpp"

#include <filesystem>
#include <vector>

namespace rpcbench {

struct MergeStats {
  std::size_t runs_added = 0, runs_skipped = 0, cases = 0, samples = 0;
  std::vector<std::int64_t> without_aggregates;  // added runs from an older schema: recompute them
};

// Copies every run of `source` (with its plugins, cases, samples and summaries, provenance as
// recorded) into `target`, each run in one transaction. A run already there — the same host,
// pid, start time and resolved suite — is skipped, so merging twice changes nothing.
MergeStats merge_database(Database& target, const std::filesystem::path& source);

// The shards of one suite run (the same resolved suite, provenance "shard" I/N for every I of N,
// each once) become one run: the cases join the run of shard 0, every shard's provenance is kept
// in run_shards, and the other shards' run rows go. Returns the ids of the combined runs, whose
// aggregates the caller recomputes (each shard's covered only its part).
// Sets that are incomplete or hold a part twice are left as they are, each with a line in `left`.
std::vector<std::int64_t> combine_shard_runs(Database& db, std::vector<std::string>* left = nullptr);

}  // namespace rpcbench
