// Loading real plugin modules: the good ones, and each way a library can be wrong.
#include "test_support.hpp"
#include "util/errors.hpp"

#include <boost/dll/shared_library.hpp>

#include <dlfcn.h>

namespace rpcbench {
namespace {

std::string fixture(const std::string& name) { return std::string(RPCBENCH_FIXTURE_DIR) + "/" + name; }

std::string load_error(const std::string& dir) {
  PluginRegistry registry;
  try {
    registry.load_directory(dir);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(Registry, LoadsEveryBuiltPluginWithItsInfo) {
  PluginRegistry registry;
  registry.load_directory(RPCBENCH_PLUGIN_DIR);
  for (const char* name : {"rpc", "infonce", "nwj", "js", "dv", "mine", "smile", "chi2"})
    EXPECT_NE(registry.find(PluginKind::objective, name), nullptr) << name;
  for (const char* name : {"separable", "concat", "bilinear"})
    EXPECT_NE(registry.find(PluginKind::encoder, name), nullptr) << name;
  const PluginDescriptor* rpc = registry.find(PluginKind::objective, "rpc");
  ASSERT_NE(rpc, nullptr);
  EXPECT_EQ(rpc->build_id, kBuildId);
  EXPECT_EQ(rpc->file_sha256.size(), 64u);
  ASSERT_EQ(rpc->params.size(), 4u);
  EXPECT_EQ(rpc->params[0].name, "alpha");
  EXPECT_EQ(rpc->params[0].default_value, "1.0");
  const PluginDescriptor* concat = registry.find(PluginKind::encoder, "concat");
  EXPECT_TRUE(concat->capabilities & kScoresPairs);
  EXPECT_EQ(registry.find(PluginKind::encoder, "rpc"), nullptr);  // kinds are separate namespaces
}

TEST(Registry, RefusesAnotherAbiNamingBothVersions) {
  const std::string error = load_error(fixture("wrong_abi"));
  EXPECT_NE(error.find("ABI " + std::to_string(kAbiVersion + 41)), std::string::npos) << error;
  EXPECT_NE(error.find("ABI " + std::to_string(kAbiVersion)), std::string::npos) << error;
  EXPECT_NE(error.find("rpcbench_objective_fixture_old_abi.so"), std::string::npos) << error;
}

TEST(Registry, RefusesAnotherToolchainNamingBothBuildIds) {
  const std::string error = load_error(fixture("wrong_build"));
  EXPECT_NE(error.find("cxx 0.0 other-compiler"), std::string::npos) << error;
  EXPECT_NE(error.find(kBuildId), std::string::npos) << error;
}

TEST(Registry, RefusesALibraryThatIsNotAPlugin) {
  const std::string error = load_error(fixture("not_a_plugin"));
  EXPECT_NE(error.find("is not an rpcbench plugin"), std::string::npos) << error;
}

TEST(Registry, RefusesPluginSymbolsThatArePlainFunctions) {
  // Before, import_alias read the function's first bytes as a function pointer: a segfault.
  const std::string error = load_error(fixture("plain_functions"));
  EXPECT_NE(error.find("but not as the alias"), std::string::npos) << error;
  EXPECT_NE(error.find("libfixture_plain_functions.so"), std::string::npos) << error;
}

TEST(Registry, ASymlinkLoopNamedLikeAPluginIsAnInputError) {
  test::TempDir dir;
  std::filesystem::create_symlink(dir.path() / "loop.so", dir.path() / "loop.so");
  const std::string error = load_error(dir.path().string());
  EXPECT_NE(error.find("cannot use 'loop.so'"), std::string::npos) << error;
  EXPECT_NE(error.find(dir.path().string()), std::string::npos) << error;
}

TEST(Registry, RefusesDuplicateNamesNamingBothFiles) {
  const std::string error = load_error(fixture("duplicate"));
  EXPECT_NE(error.find("duplicate objective plugin 'fixture_nan'"), std::string::npos) << error;
  EXPECT_NE(error.find("fixture_nan_copy.so"), std::string::npos) << error;
  EXPECT_NE(error.find("fixture_nan_again.so"), std::string::npos) << error;
}

TEST(Registry, MissingDirectoryIsAnInputError) {
  EXPECT_NE(load_error("/nonexistent/rpcbench").find("does not exist"), std::string::npos);
}

TEST(Registry, ConstructorExceptionIsCopiedIntoAnInputError) {
  PluginRegistry registry;
  registry.load_directory(fixture("throwing"));
  const PluginDescriptor* d = registry.find(PluginKind::objective, "fixture_throws");
  ASSERT_NE(d, nullptr);
  try {
    registry.make_objective(*d, Params("objective 'fixture_throws'", {{"unused", std::int64_t{0}}}));
    FAIL() << "expected an error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("fixture constructor refuses"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("fixture_throws"), std::string::npos) << e.what();
  }
}

TEST(Registry, ObjectsHoldTheirLibraryAndLibrariesStayLoaded) {
  std::shared_ptr<Objective> objective;
  std::filesystem::path path;
  {
    PluginRegistry registry;
    registry.load_directory(fixture("good"));
    const PluginDescriptor* d = registry.find(PluginKind::objective, "fixture_nan");
    ASSERT_NE(d, nullptr);
    path = d->path;
    objective = registry.make_objective(*d, declared_params(*d, {}));
  }
  // The object's deleter carries the library that made it, loaded, after the registry is gone.
  const auto* deleter = std::get_deleter<PluginObjectDeleter<Objective>>(objective);
  ASSERT_NE(deleter, nullptr) << "the object does not hold its library";
  ASSERT_TRUE(deleter->library && deleter->library->is_loaded());
  EXPECT_EQ(std::filesystem::path(deleter->library->location().string()), path);
  const auto r = objective->evaluate(torch::ones({3}), torch::zeros({3, 2}));
  EXPECT_DOUBLE_EQ(r.mi.item<double>(), 1.0);
  objective.reset();
  // Nothing made by it is alive and no registry holds it: still mapped (LibTorch's static
  // destructors make unloading unsafe). RTLD_NOLOAD only finds a library that is loaded.
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  EXPECT_NE(handle, nullptr) << path;
  if (handle != nullptr) dlclose(handle);
}

}  // namespace
}  // namespace rpcbench
