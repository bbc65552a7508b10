#include "cli/plugin_loading.hpp"

namespace rpcbench::cli {

void load_plugins(PluginRegistry& registry, const std::vector<std::string>& extra_dirs) {
  for (const auto& dir : default_plugin_dirs()) registry.load_directory(dir);
  for (const auto& dir : extra_dirs) registry.load_directory(dir);
}

}  // namespace rpcbench::cli
