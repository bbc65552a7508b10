#include "claims/claims.hpp"
#include "cli/commands.hpp"
#include "report/console_reporter.hpp"
#include "util/errors.hpp"
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
  app.add_option("--run", args.runs, "only this run (repeatable); default: the latest complete run of each suite, profile and "
                                     "resolved suite")
      ->check(CLI::PositiveNumber);
  app.footer(
      "Reads the runs of every suite that declares `evidence` (stability, batch_size, mi_estimation) — for each suite, "
      "profile and resolved suite the latest by start time that finished, is not a lone shard and has no case left "
      "running — and prints, per claim of the RPC paper, the runs used, the metric, the subject's value and each "
      "baseline's with 95% intervals, and a verdict per pair at every grid point: supported, contradicted, or "
      "inconclusive at this budget (intervals overlap, bias not comparable, cases lost). A pooled row per dataset "
      "carries its grid points' verdict when they all agree and 'mixed' otherwise. A claim without runs says so. "
      "Exit 0 whatever the verdicts; 2 on bad input.");
}

int claims_command(const ClaimsArgs& args) {
  Database db(args.db, Database::Mode::read_only);
  db.require_current_schema();
  ClaimsQuery query{args.subject, {}};
  for (long long id : args.runs) {
    auto s = db.prepare("SELECT 1 FROM runs WHERE run_id = ?1");
    s.bind(1, static_cast<std::int64_t>(id));
    if (!s.step()) throw InputError("claims --run " + std::to_string(id) + ": no such run in '" + args.db + "'");
    query.runs.push_back(id);
  }
  const std::vector<ClaimSection> sections = evaluate_claims(db, query);
  if (args.format == "json") {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& s : sections) {
      nlohmann::json rows = nlohmann::json::array();
      for (const auto& r : s.rows)
        rows.push_back({{"context", r.context}, {"metric", r.metric}, {"baseline", r.baseline},
                        {"subject_value", estimate_json(r.subject_value)}, {"baseline_value", estimate_json(r.baseline_value)},
                        {"verdict", to_string(r.verdict)}, {"reason", r.reason}, {"pooled", r.pooled}});
      out.push_back({{"evidence", s.evidence}, {"statement", s.statement}, {"budget", s.budget}, {"runs", s.runs},
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
                        (r.pooled ? "pooled: " : "") + std::string(to_string(r.verdict)) + (r.reason.empty() ? "" : ": " + r.reason)});
    }
    std::map<ClaimVerdict, int> pooled;
    for (const auto& r : s.rows)
      if (r.pooled) ++pooled[r.verdict], --count[r.verdict];
    auto counts = [](std::map<ClaimVerdict, int>& c) {
      return std::to_string(c[ClaimVerdict::supported]) + " supported, " + std::to_string(c[ClaimVerdict::contradicted]) +
             " contradicted, " + std::to_string(c[ClaimVerdict::inconclusive]) + " inconclusive";
    };
    t.notes.push_back("verdicts at single grid points: " + counts(count));
    if (!pooled.empty()) t.notes.push_back("pooled over grid points: " + counts(pooled) + ", " + std::to_string(pooled[ClaimVerdict::mixed]) + " mixed");
    print_table(stdout, t);

    // The tally per baseline: what a reader of the verdicts wants first.
    ResultTable tally;
    tally.title = "Claim " + s.evidence + ": verdicts per baseline (supported/contradicted/inconclusive)";
    tally.columns = {"baseline", "at grid points", "pooled over grid points (+ mixed)"};
    std::vector<std::string> order;
    std::map<std::string, std::pair<std::map<ClaimVerdict, int>, std::map<ClaimVerdict, int>>> by;
    for (const auto& r : s.rows) {
      if (by.count(r.baseline) == 0) order.push_back(r.baseline);
      ++(r.pooled ? by[r.baseline].second : by[r.baseline].first)[r.verdict];
    }
    auto scm = [](std::map<ClaimVerdict, int>& c, bool with_mixed) {
      return std::to_string(c[ClaimVerdict::supported]) + "/" + std::to_string(c[ClaimVerdict::contradicted]) + "/" +
             std::to_string(c[ClaimVerdict::inconclusive]) + (with_mixed ? " + " + std::to_string(c[ClaimVerdict::mixed]) : "");
    };
    std::map<ClaimVerdict, int> all_points, all_pooled;
    for (const auto& b : order) {
      auto& [points, pools] = by[b];
      for (const auto& [v, n] : points) all_points[v] += n;
      for (const auto& [v, n] : pools) all_pooled[v] += n;
      tally.rows.push_back({b, scm(points, false), pools.empty() ? "—" : scm(pools, true)});
    }
    tally.rows.push_back({"all", scm(all_points, false), all_pooled.empty() ? "—" : scm(all_pooled, true)});
    print_table(stdout, tally);
  }
  return kExitOk;
}

}  // namespace rpcbench::cli
