#include "report/console_reporter.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <string>

namespace rpcbench {
namespace {

// Display width of UTF-8 text: count code points, not bytes ("±", "—").
std::size_t width(const std::string& s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char ch) { return (ch & 0xC0) != 0x80; }));
}

std::string duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<long>(seconds + 0.5);
  char buffer[32];
  if (s >= 3600) std::snprintf(buffer, sizeof buffer, "%ldh%02ldm", s / 3600, s / 60 % 60);
  else if (s >= 60) std::snprintf(buffer, sizeof buffer, "%ldm%02lds", s / 60, s % 60);
  else std::snprintf(buffer, sizeof buffer, "%lds", s);
  return buffer;
}

}  // namespace

ConsoleReporter::ConsoleReporter(std::FILE* out, std::FILE* err, bool quiet)
    : out_(out), err_(err), quiet_(quiet), tty_(isatty(fileno(err)) != 0) {}

void ConsoleReporter::run_started(const RunInfo& run) {
  case_count_ = run.case_count;
  if (quiet_) return;
  const auto& p = run.provenance;
  auto get = [&](const char* k) { auto it = p.find(k); return it == p.end() ? std::string("?") : it->second; };
  std::fprintf(err_, "suite %s (%s%s), task %s: %zu cases on %s, %s threads, seed %llu\n",
               run.suite->name.c_str(), run.suite->path.string().c_str(),
               run.suite->profile.empty() ? "" : (", profile " + run.suite->profile).c_str(),
               run.suite->task.c_str(), run.case_count, get("device").c_str(),
               get("threads").c_str(), static_cast<unsigned long long>(run.suite->seed));
}

void ConsoleReporter::case_started(const Case& c) { (void)c; }

void ConsoleReporter::progress(const Progress& p) {
  if (quiet_) return;
  const auto now = std::chrono::steady_clock::now();
  if (!tty_ && now - last_plain_line_ < std::chrono::seconds(10) && p.step != p.total_steps) return;
  last_plain_line_ = now;
  const double case_left = p.steps_per_second > 0 ? (p.total_steps - p.step) / p.steps_per_second : NAN;
  const double case_time = p.steps_per_second > 0 ? p.total_steps / p.steps_per_second : NAN;
  const double per_case = seconds_per_case_ > 0 ? seconds_per_case_ : case_time;
  const double eta = case_left + per_case * static_cast<double>(case_count_ - cases_done_ - 1);
  std::fprintf(err_, "%s[%zu/%zu] %s  step %lld/%lld  %.0f steps/s  ETA %s%s",
               tty_ ? "\r\033[K" : "", p.c->index + 1, case_count_, p.c->key.c_str(),
               static_cast<long long>(p.step), static_cast<long long>(p.total_steps),
               p.steps_per_second, duration(eta).c_str(), tty_ ? "" : "\n");
  std::fflush(err_);
  line_open_ = tty_;
}

void ConsoleReporter::case_finished(const CaseReport& report) {
  ++cases_done_;
  seconds_per_case_ += (report.wall_seconds - seconds_per_case_) / static_cast<double>(cases_done_);
  if (quiet_) return;
  if (line_open_) std::fprintf(err_, "\r\033[K");
  line_open_ = false;
  std::fprintf(err_, "[%zu/%zu] %s: %s%s%s (%.1fs)\n", report.c->index + 1, case_count_,
               report.c->key.c_str(), to_string(report.status), report.message.empty() ? "" : ": ",
               report.message.c_str(), report.wall_seconds);
}

void ConsoleReporter::run_finished(const RunEnd& end) {
  if (line_open_) std::fprintf(err_, "\n");
  for (const auto& table : end.tables) print_table(out_, table);
  std::fflush(out_);
}

void print_table(std::FILE* out, const ResultTable& table) {
  std::vector<std::size_t> widths(table.columns.size(), 0);
  for (std::size_t i = 0; i < table.columns.size(); ++i) widths[i] = width(table.columns[i]);
  for (const auto& row : table.rows)
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i)
      widths[i] = std::max(widths[i], width(row[i]));
  auto print_row = [&](const std::vector<std::string>& row) {
    for (std::size_t i = 0; i < widths.size(); ++i) {
      const std::string cell = i < row.size() ? row[i] : "";
      std::fprintf(out, "%s%s%s", i == 0 ? "" : "  ", cell.c_str(),
                   std::string(widths[i] - width(cell), ' ').c_str());
    }
    std::fprintf(out, "\n");
  };
  std::fprintf(out, "\n%s\n", table.title.c_str());
  print_row(table.columns);
  std::size_t total = 0;
  for (auto w : widths) total += w + 2;
  std::fprintf(out, "%s\n", std::string(total > 2 ? total - 2 : 0, '-').c_str());
  for (const auto& row : table.rows) print_row(row);
  for (const auto& note : table.notes) std::fprintf(out, "%s\n", note.c_str());
}

}  // namespace rpcbench
