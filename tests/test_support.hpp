// Helpers shared by the tests: real plugin registries, temporary folders, running the harness.
#pragma once

#include "plugin/registry.hpp"
#include "suite/suite.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <map>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <sys/wait.h>

namespace rpcbench::test {

inline const PluginRegistry& real_plugins() {
  static PluginRegistry* registry = [] {
    auto* r = new PluginRegistry();
    r->load_directory(RPCBENCH_PLUGIN_DIR);
    r->load_directory(std::string(RPCBENCH_FIXTURE_DIR) + "/good");
    return r;
  }();
  return *registry;
}

// A plugin's declared defaults, then `overrides` (the harness's own function).
inline Params declared_params(const PluginDescriptor& plugin, const std::map<std::string, ParamValue>& overrides) {
  return rpcbench::declared_params(plugin, overrides);
}

// A fresh folder under the system temp dir, removed when the object goes.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("rpcbench-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path write(const std::string& name, const std::string& text) const {
    const auto p = path_ / name;
    std::ofstream(p) << text;
    return p;
  }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

inline CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* f = popen((command + " 2>&1").c_str(), "r");
  std::array<char, 4096> buffer{};
  while (std::fgets(buffer.data(), buffer.size(), f) != nullptr) result.output += buffer.data();
  const int status = pclose(f);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

inline std::string harness() { return RPCBENCH_HARNESS; }

// A small, fast mi suite (one thread, separable 16/4 critic on a 4-d staircase) for tests that
// need a real run; `tail` adds objectives, gates or anything else.
inline std::string tiny_mi_suite(const std::string& name, const std::string& mi_levels, int steps_per_level,
                                 const std::string& tail) {
  return "[suite]\nname = \"" + name + "\"\ntask = \"mi\"\nthreads = 1\n"
         "[task]\nbatch_size = 16\nwindow = 10\n"
         "[encoder]\nplugin = \"separable\"\nhidden = 16\nembed = 4\n"
         "[[datasets]]\nplugin = \"gaussian_staircase\"\ndim = 4\nmi_levels = " + mi_levels +
         "\nsteps_per_level = " + std::to_string(steps_per_level) + "\n" + tail;
}

}  // namespace rpcbench::test
