#include "cli/commands.hpp"
#include "report/html_report.hpp"

#include <cstdio>

namespace rpcbench::cli {

void add_report(CLI::App& app, ReportArgs& args) {
  app.add_option("--db", args.db, "results database")->capture_default_str();
  app.add_option("--suite", args.suite, "the latest run of this suite");
  app.add_option("--run", args.run, "run id (default: the latest started)")->check(CLI::PositiveNumber);
  app.add_option("--out", args.out, "output directory (index.html goes there)")->capture_default_str();
  app.add_option("--claims-subject", args.claims_subject, "objective label whose claims the report checks")
      ->capture_default_str();
}

int report_command(const ReportArgs& args) {
  const auto path = write_html_report(args.db, args.run >= 0 ? std::optional<std::int64_t>(args.run) : std::nullopt,
                                      args.suite, args.out, args.claims_subject);
  std::fprintf(stderr, "report: %s\n", path.string().c_str());
  return kExitOk;
}

}  // namespace rpcbench::cli
