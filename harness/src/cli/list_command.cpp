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
  app.add_option("what", args.what, "plugins, tasks or suites")
      ->check(CLI::IsMember({"plugins", "tasks", "suites"}))
      ->capture_default_str();
  app.add_option("--plugins", args.plugin_dirs, "extra plugin directory (repeatable)");
  app.add_option("--suites-dir", args.suites_dir, "where `list suites` looks")->capture_default_str();
}

int list_command(const ListArgs& args) {
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
