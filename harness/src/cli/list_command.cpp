#include "cli/commands.hpp"
#include "cli/plugin_loading.hpp"
#include "tasks/task.hpp"
#include "util/errors.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

namespace rpcbench::cli {
namespace {

void print_params(const std::vector<ParamDecl>& params) {
  for (const auto& p : params)
    std::printf("      %-16s %-14s %-24s %s\n", p.name.c_str(), to_string(p.type),
                p.required ? "(required)" : ("= " + p.default_value).c_str(), p.help.c_str());
}

}  // namespace

void add_list(CLI::App& app, ListArgs& args) {
  app.add_option("what", args.what, "plugins, tasks, suites, or cases (with a SUITE: its expanded grid, nothing run)")
      ->check(CLI::IsMember({"plugins", "tasks", "suites", "cases"}))
      ->capture_default_str();
  app.add_option("suite", args.suite, "the suite whose cases `list cases` prints");
  app.add_option("--profile,-p", args.profile, "profile of the suite (`list cases`)");
  app.add_option("--plugins", args.plugin_dirs, "extra plugin directory (repeatable)");
  app.add_option("--suites-dir", args.suites_dir, "where `list suites` looks")->capture_default_str();
}

namespace {

// The cases `harness run` would run, in order, with their keys, seeds and config hashes.
int list_cases(const ListArgs& args) {
  if (args.suite.empty()) throw InputError("list cases: give the suite file (harness list cases SUITE [--profile P])");
  PluginRegistry registry;
  load_plugins(registry, args.plugin_dirs);
  TaskCatalog tasks;
  std::vector<std::filesystem::path> suites = suite_group_members(args.suite);
  if (suites.empty()) suites.push_back(args.suite);
  for (const auto& path : suites) {
    SuiteOptions options;
    options.profile = args.profile;
    const Suite suite = load_suite(path, options, registry, tasks);
    const auto cases = expand_cases(suite, tasks.find(suite.task)->adds_control(suite));
    std::printf("%s: suite '%s', task %s, profile %s: %zu cases\n", path.string().c_str(), suite.name.c_str(),
                suite.task.c_str(), suite.profile.empty() ? "default" : suite.profile.c_str(), cases.size());
    for (const Case& c : cases)
      std::printf("  %4zu  %-72s seed %-20llu config %.12s\n", c.index + 1, c.key.c_str(),
                  static_cast<unsigned long long>(c.seed), c.config_hash.c_str());
  }
  return kExitOk;
}

}  // namespace

int list_command(const ListArgs& args) {
  if (args.what == "cases") return list_cases(args);
  if (!args.suite.empty()) throw InputError("list " + args.what + ": takes no suite (only `list cases SUITE`)");
  if (args.what == "tasks") {
    TaskCatalog tasks;
    for (const auto& t : tasks.all()) {
      std::printf("%s: %s\n", t->name().c_str(), t->summary().c_str());
      print_params(t->params());
    }
    return kExitOk;
  }
  if (args.what == "suites") {
    std::error_code ec;
    if (!std::filesystem::is_directory(args.suites_dir, ec))
      throw InputError("suites directory '" + args.suites_dir + "' does not exist");
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(args.suites_dir))
      if (e.path().extension() == ".toml") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      try {
        const toml::table t = toml::parse_file(f.string());
        std::string profiles;
        if (const auto* p = t["profiles"].as_table())
          for (auto&& [k, v] : *p) profiles += (profiles.empty() ? "" : ", ") + std::string(k.str());
        std::printf("%s: %s (task %s) %s\n    profiles: %s\n", f.string().c_str(),
                    t["suite"]["name"].value_or(std::string("?")).c_str(),
                    t["suite"]["task"].value_or(std::string("?")).c_str(),
                    t["suite"]["description"].value_or(std::string()).c_str(),
                    profiles.empty() ? "none" : profiles.c_str());
      } catch (const toml::parse_error& e) {
        std::printf("%s: invalid TOML at %u:%u: %s\n", f.string().c_str(), e.source().begin.line,
                    e.source().begin.column, std::string(e.description()).c_str());
      }
    }
    return kExitOk;
  }
  PluginRegistry registry;
  load_plugins(registry, args.plugin_dirs);
  for (const PluginDescriptor* d : registry.all()) {
    std::printf("%-9s %-20s %-7s %s\n          %s\n", to_string(d->kind), d->name.c_str(),
                d->version.c_str(), d->summary.c_str(), d->path.string().c_str());
    print_params(d->params);
  }
  return kExitOk;
}

}  // namespace rpcbench::cli
