// Discovers plugin libraries, checks their ABI, and makes objects that keep their library alive.
#pragma once

#include <rpcbench/plugin.hpp>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace boost::dll {
class shared_library;
}

namespace rpcbench {

// One declared parameter of a plugin or a task, in host-owned strings.
struct ParamDecl {
  std::string name;
  ParamType type{};
  std::string default_value;  // TOML text; empty when required
  bool required = false;
  std::string help;
};

// A plugin's info record, copied out of the library into host-owned strings.
struct PluginDescriptor {
  PluginKind kind{};
  std::string name;
  std::string version;
  std::string summary;
  std::string build_id;
  std::uint32_t capabilities = 0;
  std::vector<ParamDecl> params;
  std::filesystem::path path;
  std::string file_sha256;
};

// The deleter of every object a plugin makes: it holds the plugin's library, so the code of the
// object's destructor is still mapped when the object dies, whatever happened to the registry.
template <class T>
struct PluginObjectDeleter {
  std::shared_ptr<boost::dll::shared_library> library;
  void operator()(T* object) const { delete object; }
};

class PluginRegistry {
 public:
  PluginRegistry();
  ~PluginRegistry();
  PluginRegistry(const PluginRegistry&) = delete;
  PluginRegistry& operator=(const PluginRegistry&) = delete;

  // Loads every *.so in `dir` (sorted by name). Throws InputError naming the file on a library
  // that is not a plugin, has another ABI or build id, or repeats a name.
  void load_directory(const std::filesystem::path& dir);
  void load_file(const std::filesystem::path& path);

  const PluginDescriptor* find(PluginKind kind, const std::string& name) const;
  std::vector<const PluginDescriptor*> list(PluginKind kind) const;
  std::vector<const PluginDescriptor*> all() const;
  // "a, b, c": for error messages that list what is known.
  std::string names(PluginKind kind) const;

  // Factories. A plugin's exception is copied into an InputError naming the plugin; the object
  // returned holds its library.
  std::shared_ptr<Objective> make_objective(const PluginDescriptor& plugin,
                                            const Params& params) const;
  std::shared_ptr<Encoder> make_encoder(const PluginDescriptor& plugin, const Params& params,
                                        const InputSpec& input) const;
  std::shared_ptr<Dataset> make_dataset(const PluginDescriptor& plugin,
                                        const Params& params) const;

 private:
  struct Entry;
  const Entry& entry(const PluginDescriptor& plugin) const;
  std::vector<std::unique_ptr<Entry>> entries_;
};

// Where plugins are looked for: plugins/ beside the executable (build tree), ../lib/rpcbench/plugins
// (install), RPCBENCH_PLUGIN_PATH
// (colon-separated), then each --plugins DIR, in that order.
std::vector<std::filesystem::path> default_plugin_dirs();

}  // namespace rpcbench
