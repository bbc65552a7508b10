#include "cli/commands.hpp"
#include "compare/compare.hpp"
#include "db/merge.hpp"
#include "run/aggregates.hpp"
#include "util/errors.hpp"

#include <sqlite3.h>

#include <cstdio>
#include <filesystem>

namespace rpcbench::cli {

void add_merge(CLI::App& app, MergeArgs& args) {
  app.add_option("inputs", args.inputs, "results databases to merge")->required();
  app.add_option("--output,-o", args.output, "the merged database (created, or added to)")->required();
}

int merge_command(const MergeArgs& args) {
  std::error_code ec;
  for (const auto& input : args.inputs) {
    if (!std::filesystem::exists(input, ec)) throw InputError("merge: '" + input + "' does not exist");
    if (std::filesystem::exists(args.output, ec) && std::filesystem::equivalent(input, args.output, ec))
      throw InputError("merge: '" + input + "' is also the output");
  }
  // Every input valid before anything is written: the schema (on open) and each run's contents,
  // with the checks `harness import` applies to an export.
  for (const auto& input : args.inputs) {
    Database in(input, Database::Mode::read_only);
    std::vector<std::int64_t> runs;
    for (auto s = in.prepare("SELECT run_id FROM runs ORDER BY run_id"); s.step();) runs.push_back(s.column_int(0));
    for (std::int64_t run : runs)
      check_export(run_export(in, run), "merge: " + input + ": run " + std::to_string(run), /*check_resolved_hash=*/true);
  }
  Database out(args.output, Database::Mode::read_write);
  // Another merge into the same output may hold the write lock for a whole run's samples: wait
  // for it (then skip what it added) rather than fail after the usual 10 s.
  sqlite3_busy_timeout(out.handle(), 600000);
  for (const auto& input : args.inputs) {
    const MergeStats s = merge_database(out, input);
    std::fprintf(stderr, "%s: %zu run(s) added (%zu cases, %zu samples), %zu already present\n", input.c_str(),
                 s.runs_added, s.cases, s.samples, s.runs_skipped);
    for (std::int64_t run : s.without_aggregates) recompute_aggregates(out, run);  // from an older schema
  }
  std::vector<std::string> left;
  const std::vector<std::int64_t> combined = combine_shard_runs(out, &left);
  for (const auto& line : left) std::fprintf(stderr, "warning: %s\n", line.c_str());
  for (std::int64_t run : combined) {
    recompute_aggregates(out, run);  // over every shard's cases now
    std::fprintf(stderr, "shards of run %lld combined into one run\n", static_cast<long long>(run));
  }
  return kExitOk;
}

}  // namespace rpcbench::cli
