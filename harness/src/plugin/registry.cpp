#include "plugin/registry.hpp"

#include "util/errors.hpp"
#include "util/hash.hpp"

#include <boost/dll/import.hpp>
#include <boost/dll/library_info.hpp>
#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>

#include <algorithm>
#include <cstdlib>
#include <sstream>

namespace rpcbench {
namespace fs = std::filesystem;

struct PluginRegistry::Entry {
  PluginDescriptor descriptor;
  std::shared_ptr<boost::dll::shared_library> library;
};

namespace {

// Libraries linked to LibTorch must never be unloaded (static destructors at exit touch LibTorch
// globals), so every library the process opens stays open until it ends.
void keep_loaded_forever(const std::shared_ptr<boost::dll::shared_library>& library) {
  static auto* const kept = new std::vector<std::shared_ptr<boost::dll::shared_library>>();
  kept->push_back(library);
}

std::string text(const char* s) { return s == nullptr ? std::string() : std::string(s); }

template <class Factory, class... Args>
auto call_factory(const PluginDescriptor& plugin, Factory& factory, Args&&... args) {
  const std::string who = std::string(to_string(plugin.kind)) + " '" + plugin.name + "'";
  try {
    auto object = factory(std::forward<Args>(args)...);
    if (!object) throw InputError(who + ": factory returned no object");
    return object;
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& e) {
    // Copied: the exception object belongs to the plugin's code.
    throw InputError(who + " (" + plugin.path.string() + ") failed to construct: " + e.what());
  } catch (...) {
    throw InputError(who + " (" + plugin.path.string() + ") failed to construct: unknown exception");
  }
}

// The object's deleter holds the library, so the code of its destructor outlives it.
template <class T>
std::shared_ptr<T> hold(std::unique_ptr<T> object,
                        const std::shared_ptr<boost::dll::shared_library>& library) {
  return std::shared_ptr<T>(object.release(), PluginObjectDeleter<T>{library});
}

}  // namespace

PluginRegistry::PluginRegistry() = default;
PluginRegistry::~PluginRegistry() = default;

void PluginRegistry::load_directory(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw InputError("plugin directory '" + dir.string() + "' does not exist or is not a directory");
  std::vector<fs::path> files;
  for (const auto& item : fs::directory_iterator(dir, ec)) {
    if (item.path().extension() != ".so") continue;
    std::error_code item_ec;  // a symbolic-link loop or a dangling link named *.so: said, not thrown raw
    const bool regular = item.is_regular_file(item_ec);
    if (item_ec)
      throw InputError("plugin directory '" + dir.string() + "': cannot use '" + item.path().filename().string() +
                       "': " + item_ec.message());
    if (regular) files.push_back(item.path());
  }
  if (ec) throw InputError("cannot list plugin directory '" + dir.string() + "': " + ec.message());
  std::sort(files.begin(), files.end());
  for (const auto& file : files) load_file(file);
}

void PluginRegistry::load_file(const fs::path& path) {
  const fs::path absolute = fs::absolute(path).lexically_normal();
  for (const auto& e : entries_)
    if (fs::equivalent(e->descriptor.path, absolute)) return;  // the same file twice: fine

  auto library = std::make_shared<boost::dll::shared_library>();
  boost::dll::fs::error_code ec;
  library->load(absolute.string(), boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, ec);
  if (ec) throw InputError("cannot load plugin '" + absolute.string() + "': " + ec.message());
  keep_loaded_forever(library);
  if (!library->has(kInfoSymbol) || !library->has(kFactorySymbol))
    throw InputError("'" + absolute.string() + "' is not an rpcbench plugin: it does not export " +
                     kInfoSymbol + " and " + kFactorySymbol +
                     " (build it with rpcbench_add_plugin and an RPCBENCH_* macro)");
  // import_alias reads each symbol as a pointer to the function: a plain function of that name
  // would be called through its own machine code. BOOST_DLL_ALIAS puts the pointers in the
  // "boostdll" section of the file; anything else is refused before it is touched.
  std::vector<std::string> aliases;
  try {
    aliases = boost::dll::library_info(absolute.string()).symbols("boostdll");
  } catch (const std::exception& e) {
    throw InputError("cannot read the symbol table of plugin '" + absolute.string() + "': " + e.what());
  }
  for (const char* symbol : {kInfoSymbol, kFactorySymbol})
    if (std::find(aliases.begin(), aliases.end(), symbol) == aliases.end())
      throw InputError("'" + absolute.string() + "' exports " + symbol + " but not as the alias RPCBENCH_* macros make "
                       "(BOOST_DLL_ALIAS, section boostdll): a plain function of that name cannot be imported; "
                       "build it with rpcbench_add_plugin and an RPCBENCH_* macro");

  const PluginInfo* info = boost::dll::import_alias<InfoFunction>(*library, kInfoSymbol)();
  if (info == nullptr) throw InputError("'" + absolute.string() + "': plugin info is null");
  // Only the first two fields are read before the ABI matches.
  if (info->abi_version != kAbiVersion)
    throw InputError("plugin '" + absolute.string() + "' was built for plugin ABI " +
                     std::to_string(info->abi_version) + ", this harness has ABI " +
                     std::to_string(kAbiVersion) + ": rebuild the plugin against this harness");
  if (text(info->build_id) != kBuildId)
    throw InputError("plugin '" + absolute.string() + "' was built with \"" + text(info->build_id) +
                     "\", this harness with \"" + kBuildId +
                     "\": plugin and harness need the same compiler and LibTorch");

  auto entry = std::make_unique<Entry>();
  PluginDescriptor& d = entry->descriptor;
  d.kind = info->kind;
  d.name = text(info->name);
  d.version = text(info->version);
  d.summary = text(info->summary);
  d.build_id = text(info->build_id);
  d.capabilities = info->capabilities;
  d.path = absolute;
  if (d.kind != PluginKind::objective && d.kind != PluginKind::encoder &&
      d.kind != PluginKind::dataset)
    throw InputError("plugin '" + absolute.string() + "' declares an unknown kind " +
                     std::to_string(static_cast<std::uint32_t>(d.kind)));
  if (d.name.empty()) throw InputError("plugin '" + absolute.string() + "' has an empty name");
  for (std::size_t i = 0; i < info->param_count; ++i) {
    const ParamSpec& spec = info->params[i];
    d.params.push_back({text(spec.name), spec.type, text(spec.default_value),
                        spec.default_value == nullptr, text(spec.help)});
  }
  if (const PluginDescriptor* other = find(d.kind, d.name))
    throw InputError(std::string("duplicate ") + to_string(d.kind) + " plugin '" + d.name +
                     "': '" + absolute.string() + "' and '" + other->path.string() + "'");
  d.file_sha256 = sha256_file(absolute);
  entry->library = std::move(library);
  entries_.push_back(std::move(entry));
}

const PluginDescriptor* PluginRegistry::find(PluginKind kind, const std::string& name) const {
  for (const auto& e : entries_)
    if (e->descriptor.kind == kind && e->descriptor.name == name) return &e->descriptor;
  return nullptr;
}

std::vector<const PluginDescriptor*> PluginRegistry::list(PluginKind kind) const {
  std::vector<const PluginDescriptor*> out;
  for (const auto& e : entries_)
    if (e->descriptor.kind == kind) out.push_back(&e->descriptor);
  std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return a->name < b->name; });
  return out;
}

std::vector<const PluginDescriptor*> PluginRegistry::all() const {
  std::vector<const PluginDescriptor*> out;
  for (PluginKind k : {PluginKind::dataset, PluginKind::encoder, PluginKind::objective})
    for (auto* d : list(k)) out.push_back(d);
  return out;
}

std::string PluginRegistry::names(PluginKind kind) const {
  std::string out;
  for (auto* d : list(kind)) out += (out.empty() ? "" : ", ") + d->name;
  return out.empty() ? "none found" : out;
}

const PluginRegistry::Entry& PluginRegistry::entry(const PluginDescriptor& plugin) const {
  for (const auto& e : entries_)
    if (&e->descriptor == &plugin) return *e;
  RPCBENCH_CHECK(false, "descriptor does not belong to this registry");
}

std::shared_ptr<Objective> PluginRegistry::make_objective(const PluginDescriptor& plugin,
                                                          const Params& params) const {
  RPCBENCH_CHECK(plugin.kind == PluginKind::objective, "make_objective on a non-objective");
  const Entry& e = entry(plugin);
  auto factory = boost::dll::import_alias<ObjectiveFactory>(*e.library, kFactorySymbol);
  return hold(call_factory(plugin, factory, params), e.library);
}

std::shared_ptr<Encoder> PluginRegistry::make_encoder(const PluginDescriptor& plugin,
                                                      const Params& params,
                                                      const InputSpec& input) const {
  RPCBENCH_CHECK(plugin.kind == PluginKind::encoder, "make_encoder on a non-encoder");
  const Entry& e = entry(plugin);
  auto factory = boost::dll::import_alias<EncoderFactory>(*e.library, kFactorySymbol);
  return hold(call_factory(plugin, factory, params, input), e.library);
}

std::shared_ptr<Dataset> PluginRegistry::make_dataset(const PluginDescriptor& plugin,
                                                      const Params& params) const {
  RPCBENCH_CHECK(plugin.kind == PluginKind::dataset, "make_dataset on a non-dataset");
  const Entry& e = entry(plugin);
  auto factory = boost::dll::import_alias<DatasetFactory>(*e.library, kFactorySymbol);
  return hold(call_factory(plugin, factory, params), e.library);
}

std::vector<fs::path> default_plugin_dirs() {
  std::vector<fs::path> dirs;
  std::error_code ec;
  const fs::path exe = boost::dll::program_location().string();
  // The build tree puts plugins beside the harness; an install puts them under lib/.
  const fs::path beside = exe.parent_path() / "plugins";
  if (fs::is_directory(beside, ec)) dirs.push_back(beside);
  const fs::path installed = exe.parent_path().parent_path() / "lib" / "rpcbench" / "plugins";
  if (fs::is_directory(installed, ec)) dirs.push_back(installed);
  if (const char* env = std::getenv("RPCBENCH_PLUGIN_PATH")) {
    std::stringstream ss(env);
    std::string dir;
    while (std::getline(ss, dir, ':'))
      if (!dir.empty()) dirs.emplace_back(dir);
  }
  return dirs;
}

}  // namespace rpcbench
