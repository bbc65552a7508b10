#include "claims/claims.hpp"
#include "cli/commands.hpp"
#include "report/console_reporter.hpp"
#include "util/format.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <map>

namespace rpcbench::cli {
namespace {

std::string estimate_text(const Estimate& e) {
  if (std::isnan(e.value)) return "—";
  return format_general(e.value, 3) + " [" + format_general(e.low, 3) + ", " + format_general(e.high, 3) + "] n " +
         std::to_string(e.n);
}

nlohmann::json estimate_json(const Estimate& e) {
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  return {{"value", num(e.value)}, {"low", num(e.low)}, {"high", num(e.high)}, {"n", e.n}};
}

}  // namespace

void add_claims(CLI::App& app, ClaimsArgs& args) {
  app.add_option("--db", args.db, "results database")->capture_default_str();
  app.add_option("--subject", args.subject, "objective label whose claims are checked")->capture_default_str();
  app.add_option("--format,-f", args.format, "table or json")->check(CLI::IsMember({"table", "json"}))->capture_default_str();
  app.footer(
      "Reads the latest finished run of every suite that declares `evidence` (stability, batch_size, mi_estimation) "
      "and prints, per claim of the RPC paper, the metric, the subject's value and each baseline's with 95% "
      "intervals, and a verdict per pair: supported, contradicted, or inconclusive at this budget (intervals "
      "overlap). A claim without runs says so. Exit 0 whatever the verdicts; 2 on bad input.");
}

int claims_command(const ClaimsArgs& args) {
  Database db(args.db, Database::Mode::read_only);
  db.require_current_schema();
  const std::vector<ClaimSection> sections = evaluate_claims(db, args.subject);
  if (args.format == "json") {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& s : sections) {
      nlohmann::json rows = nlohmann::json::array();
      for (const auto& r : s.rows)
        rows.push_back({{"context", r.context}, {"metric", r.metric}, {"baseline", r.baseline},
                        {"subject_value", estimate_json(r.subject_value)}, {"baseline_value", estimate_json(r.baseline_value)},
                        {"verdict", to_string(r.verdict)}, {"reason", r.reason}});
      out.push_back({{"evidence", s.evidence}, {"statement", s.statement}, {"budget", s.budget},
                     {"missing", s.missing.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.missing)}, {"rows", rows}});
    }
    std::printf("%s\n", out.dump(2).c_str());
    return kExitOk;
  }
  for (const auto& s : sections) {
    ResultTable t;
    t.title = "Claim " + s.statement;
    for (const auto& line : s.budget) t.notes.push_back("measured at: " + line);
    if (!s.missing.empty()) {
      t.notes.push_back("NO VERDICT: " + s.missing);
      print_table(stdout, t);
      continue;
    }
    t.columns = {"where", "metric", "baseline", args.subject, "baseline value", "verdict"};
    std::map<ClaimVerdict, int> count;
    for (const auto& r : s.rows) {
      ++count[r.verdict];
      t.rows.push_back({r.context, r.metric, r.baseline, estimate_text(r.subject_value), estimate_text(r.baseline_value),
                        std::string(to_string(r.verdict)) + (r.reason.empty() ? "" : ": " + r.reason)});
    }
    t.notes.push_back("verdicts: " + std::to_string(count[ClaimVerdict::supported]) + " supported, " +
                      std::to_string(count[ClaimVerdict::contradicted]) + " contradicted, " +
                      std::to_string(count[ClaimVerdict::inconclusive]) + " inconclusive");
    print_table(stdout, t);
  }
  return kExitOk;
}

}  // namespace rpcbench::cli
