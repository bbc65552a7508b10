#include "run/workers.hpp"

#include "run/environment.hpp"
#include "util/errors.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <map>
#include <set>
#include <cstring>
#include <thread>

extern char** environ;

namespace rpcbench {
namespace {

using json = nlohmann::json;

// JSON has no NaN or infinity: they travel as text, and every finite double round-trips exactly.
json number(double v) {
  if (std::isfinite(v)) return v;
  return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
}
double number(const json& j) {
  if (j.is_number()) return j.get<double>();
  const std::string s = j.get<std::string>();
  return s == "nan" ? NAN : (s == "inf" ? INFINITY : -INFINITY);
}

struct Worker {
  pid_t pid = -1;
  int fd = -1;
  std::vector<const Case*> cases;  // one unit: a case, or an ensemble's members
  std::set<const Case*> started, finished;
  std::string buffer;
  // The case an event is about: its "key" (a worker of one case may omit it).
  const Case* find(const json& event) const {
    if (!event.contains("key")) return cases.front();
    const std::string key = event["key"].get<std::string>();
    for (const Case* c : cases)
      if (c->key == key) return c;
    return nullptr;
  }
};

// Spawns the worker with its events pipe as descriptor 3; its stdout and stderr are the parent's
// stderr, so nothing a plugin prints can corrupt an event.
Worker spawn(const std::vector<std::string>& command, const std::vector<const Case*>& unit) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("--jobs: cannot create a pipe");
  // Above the events descriptor, so that dup2 onto it always makes a new, inheritable descriptor.
  const int high = fcntl(fds[1], F_DUPFD_CLOEXEC, 10);
  close(fds[1]);
  fds[1] = high;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], kEventsDescriptor);
  posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO);
  std::vector<std::string> args = command;
  for (const Case* c : unit) {
    args.push_back("--worker-case");
    args.push_back(c->key);
    args.push_back("--worker-config-hash");  // the worker loads the suite again: it must be this case
    args.push_back(c->config_hash);
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  Worker w;
  const int rc = posix_spawn(&w.pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    throw std::runtime_error("--jobs: cannot start a worker (" + args[0] + "): " + std::strerror(rc));
  }
  w.fd = fds[0];
  w.cases = unit;
  return w;
}

}  // namespace

void PipeReporter::line(const std::string& text) {
  // (Texts are dumped with invalid UTF-8 replaced: a plugin's message must not kill the worker.)
  std::fputs(text.c_str(), out_);
  std::fputc('\n', out_);
  std::fflush(out_);
}

void PipeReporter::case_started(const Case& c) { line(json{{"event", "started"}, {"key", c.key}}.dump(-1, ' ', false, json::error_handler_t::replace)); }

void PipeReporter::metrics(const Case& c, const std::vector<MetricSample>& samples) {
  json rows = json::array();
  for (const auto& m : samples) rows.push_back({m.step, m.name, number(m.value)});
  line(json{{"event", "metrics"}, {"key", c.key}, {"samples", rows}}.dump(-1, ' ', false, json::error_handler_t::replace));
}

void PipeReporter::progress(const Progress& p) {
  line(json{{"event", "progress"}, {"key", p.c->key}, {"step", p.step}, {"total", p.total_steps}, {"rate", number(p.steps_per_second)}}
           .dump(-1, ' ', false, json::error_handler_t::replace));
}

void PipeReporter::case_finished(const CaseReport& r) {
  json summary = json::array();
  for (const auto& v : r.summary) summary.push_back({v.group, v.name, number(v.value)});
  json j{{"event", "finished"},       {"key", r.c->key}, {"status", to_string(r.status)}, {"message", r.message},
         {"summary", summary},        {"started_at", r.started_at},   {"finished_at", r.finished_at},
         {"wall_seconds", r.wall_seconds}};
  if (r.stopped_step) j["stopped_step"] = *r.stopped_step;
  line(j.dump(-1, ' ', false, json::error_handler_t::replace));
}

RunEnd run_suite_in_workers(RunRequest& request, const std::vector<Case>& cases, Reporter& reporter, int jobs,
                            const std::vector<std::string>& worker_command) {
  static const std::atomic<bool> never{false};
  const std::atomic<bool>& stop = request.stop_requested ? *request.stop_requested : never;
  request.info.suite = request.suite;
  request.info.case_count = cases.size();
  reporter.run_started(request.info);

  std::vector<CaseReport> reports;
  std::vector<const Case*> to_run;
  for (const Case& c : cases) {
    if (request.skip_case_keys.count(c.key) == 0) {
      to_run.push_back(&c);
      continue;
    }
    auto done = request.completed.find(c.key);
    if (done == request.completed.end()) continue;
    CaseReport report = done->second;
    report.c = &c;
    reports.push_back(std::move(report));
  }
  const std::vector<std::vector<const Case*>> queue = plan_units(request, to_run, static_cast<std::size_t>(jobs));
  std::size_t next = 0;
  std::vector<Worker> running;
  bool stop_sent = false;
  CaseStatus status = CaseStatus::finished;

  auto handle = [&](Worker& w, const std::string& text) {
    const json j = json::parse(text, nullptr, false);
    if (!j.is_object()) return;  // not ours: ignore (a plugin printing to stdout)
    const std::string event = j.value("event", "");
    const Case* c = w.find(j);
    if (c == nullptr) return;  // a key this worker was not given: not ours
    if (event == "started") {
      w.started.insert(c);
      reporter.case_started(*c);
    } else if (event == "metrics") {
      std::vector<MetricSample> samples;
      for (const auto& row : j["samples"]) samples.push_back({row[0].get<std::int64_t>(), row[1].get<std::string>(), number(row[2])});
      reporter.metrics(*c, samples);
    } else if (event == "progress") {
      reporter.progress({c, j["step"].get<std::int64_t>(), j["total"].get<std::int64_t>(), number(j["rate"])});
    } else if (event == "finished") {
      CaseReport r;
      r.c = c;
      r.status = case_status_from(j["status"].get<std::string>());
      r.message = j["message"].get<std::string>();
      if (j.contains("stopped_step")) r.stopped_step = j["stopped_step"].get<std::int64_t>();
      for (const auto& v : j["summary"]) r.summary.push_back({v[0].get<std::string>(), v[1].get<std::string>(), number(v[2])});
      r.started_at = j["started_at"].get<std::string>();
      r.finished_at = j["finished_at"].get<std::string>();
      r.wall_seconds = j["wall_seconds"].get<double>();
      w.finished.insert(c);
      reporter.case_finished(r);
      if (r.status == CaseStatus::failed) status = CaseStatus::failed;
      reports.push_back(std::move(r));
    }
  };

  while (next < queue.size() || !running.empty()) {
    if (stop.load() && !stop_sent) {
      for (const Worker& w : running) kill(w.pid, SIGTERM);  // they stop at their next step
      stop_sent = true;
    }
    while (!stop.load() && running.size() < static_cast<std::size_t>(jobs) && next < queue.size())
      running.push_back(spawn(worker_command, queue[next++]));
    if (running.empty()) break;
    std::vector<pollfd> fds;
    for (const Worker& w : running) fds.push_back({w.fd, POLLIN, 0});
    if (poll(fds.data(), fds.size(), 200) < 0 && errno != EINTR) throw std::runtime_error("--jobs: poll failed");
    for (std::size_t i = 0; i < running.size(); ++i) {
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      Worker& w = running[i];
      char chunk[65536];
      const ssize_t n = read(w.fd, chunk, sizeof chunk);
      if (n > 0) {
        w.buffer.append(chunk, static_cast<std::size_t>(n));
        for (auto eol = w.buffer.find('\n'); eol != std::string::npos; eol = w.buffer.find('\n')) {
          handle(w, w.buffer.substr(0, eol));
          w.buffer.erase(0, eol + 1);
        }
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      // End of its output: the worker is done, one way or another.
      close(w.fd);
      int wstatus = 0;
      waitpid(w.pid, &wstatus, 0);
      for (const Case* c : w.cases) {
        if (w.finished.count(c) != 0) continue;
        if (w.started.count(c) == 0) reporter.case_started(*c);
        CaseReport r;
        r.c = c;
        r.status = stop.load() ? CaseStatus::killed : CaseStatus::failed;
        r.message = WIFSIGNALED(wstatus) ? "worker process killed by signal " + std::to_string(WTERMSIG(wstatus))
                                         : "worker process exited with status " + std::to_string(WEXITSTATUS(wstatus)) +
                                               " before reporting its case";
        r.finished_at = utc_now();
        reporter.case_finished(r);
        if (r.status == CaseStatus::failed) status = CaseStatus::failed;
        reports.push_back(std::move(r));
      }
      running.erase(running.begin() + static_cast<long>(i));
      break;  // the pollfd indices no longer match: poll again
    }
  }
  // Tables and aggregates see the cases in suite order, as a --jobs 1 run does.
  std::sort(reports.begin(), reports.end(), [](const CaseReport& a, const CaseReport& b) { return a.c->index < b.c->index; });
  if (stop.load()) status = CaseStatus::killed;
  return finish_run(request, reports, reporter, status);
}

}  // namespace rpcbench
