#pragma once

#include "plugin/registry.hpp"

#include <string>
#include <vector>

namespace rpcbench::cli {

// Default plugin folders, then each --plugins DIR.
void load_plugins(PluginRegistry& registry, const std::vector<std::string>& extra_dirs);

}  // namespace rpcbench::cli
