// harness: run suites, list plugins, query results. Exit codes: 0 ok, 1 failure, 2 input error.
#include "cli/commands.hpp"
#include "run/environment.hpp"
#include "util/errors.hpp"

#include <c10/util/Exception.h>

#include <cstdio>

int main(int argc, char** argv) {
  using namespace rpcbench::cli;
  rpcbench::keep_freed_memory();
  CLI::App app{"rpcbench harness: contrastive objectives and MI estimators, benchmarked reproducibly"};
  app.set_version_flag("--version", rpcbench::harness_version());
  app.require_subcommand(1);
  app.footer("Exit codes: 0 ok, 1 a case failed, the run was interrupted or compare found a regression, "
             "2 usage or input error.");
  RunArgs run_args;
  ListArgs list_args;
  QueryArgs query_args;
  CompareArgs compare_args;
  ExportArgs export_args;
  MergeArgs merge_args;
  ReportArgs report_args;
  ImportArgs import_args;
  ClaimsArgs claims_args;
  EstimateArgs estimate_args;
  add_run(*app.add_subcommand("run", "run a suite and record its results"), run_args);
  add_estimate(*app.add_subcommand("estimate", "estimate MI from paired samples in a file (CSV or .npy) and record the run"),
               estimate_args);
  add_list(*app.add_subcommand("list", "list plugins, tasks, suites or a suite's cases"), list_args);
  add_query(*app.add_subcommand("query", "query a results database"), query_args);
  add_compare(*app.add_subcommand("compare", "compare two runs under a suite's gates (CI regression gate)"),
              compare_args);
  add_claims(*app.add_subcommand("claims", "the RPC paper's claims against the recorded evidence: a verdict per pair"),
             claims_args);
  add_report(*app.add_subcommand("report", "write a static HTML page with SVG plots of a run"), report_args);
  add_import(*app.add_subcommand("import", "add exported runs (harness export) to a database"), import_args);
  add_merge(*app.add_subcommand("merge", "merge results databases (runs from several machines)"), merge_args);
  add_export(*app.add_subcommand("export", "write a run's summaries as JSON text (a committable baseline)"),
             export_args);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitInputError;
  }
  std::string command_line;
  for (int i = 0; i < argc; ++i) command_line += (i ? " " : "") + std::string(argv[i]);
  try {
    if (app.got_subcommand("run")) return run_command(run_args, command_line);
    if (app.got_subcommand("list")) return list_command(list_args);
    if (app.got_subcommand("estimate")) return estimate_command(estimate_args, command_line);
    if (app.got_subcommand("query")) return query_command(query_args);
    if (app.got_subcommand("compare")) return compare_command(compare_args);
    if (app.got_subcommand("export")) return export_command(export_args);
    if (app.got_subcommand("merge")) return merge_command(merge_args);
    if (app.got_subcommand("report")) return report_command(report_args);
    if (app.got_subcommand("import")) return import_command(import_args);
    if (app.got_subcommand("claims")) return claims_command(claims_args);
  } catch (const rpcbench::InputError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return kExitInputError;
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what_without_backtrace());
    return kExitFailure;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return kExitFailure;
  }
  return kExitInputError;
}
