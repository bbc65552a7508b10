// Suite parsing and validation: every error names file:line:col and the key.
#include "suite/suite.hpp"
#include "tasks/task.hpp"
#include "test_support.hpp"
#include "util/errors.hpp"

namespace rpcbench {
namespace {

const char* kValid = R"toml([suite]
name = "tiny"
task = "mi"
seed = 5

[task]
batch_size = 8
window = 5

[encoder]
plugin = "separable"
hidden = 16

[[datasets]]
plugin = "gaussian_staircase"
label = "gaussian"
dim = 4
mi_levels = [1, 2.0]
steps_per_level = 10

[[objectives]]
plugin = "rpc"

[[objectives]]
plugin = "infonce"

[profiles.quick.task]
batch_size = 4

[profiles.quick.datasets]
steps_per_level = 3

[profiles.quick.objectives.rpc]
beta = 0.5
)toml";

class SuiteLoader : public ::testing::Test {
 protected:
  Suite load(const std::string& text, const std::string& profile = "") {
    const auto path = dir.write("suite.toml", text);
    SuiteOptions options;
    options.profile = profile;
    return load_suite(path, options, test::real_plugins(), tasks);
  }
  std::string error(const std::string& text, const std::string& profile = "") {
    try {
      load(text, profile);
    } catch (const InputError& e) {
      return e.what();
    }
    return "no error";
  }
  static std::string replace(std::string text, const std::string& from, const std::string& to) {
    const auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return text.replace(at, from.size(), to);
  }
  test::TempDir dir;
  TaskCatalog tasks;
};

TEST_F(SuiteLoader, ResolvesDefaultsAndExpandsCases) {
  const Suite s = load(kValid);
  EXPECT_EQ(s.name, "tiny");
  EXPECT_EQ(s.task_params.get_int("batch_size"), 8);
  EXPECT_DOUBLE_EQ(s.task_params.get_double("learning_rate"), 5e-4);  // the task's default
  EXPECT_EQ(s.encoder.params.get_int("hidden"), 16);
  EXPECT_EQ(s.encoder.params.get_int("embed"), 32);  // the plugin's default
  EXPECT_EQ(s.datasets[0].params.get_reals("mi_levels"), (std::vector<double>{1.0, 2.0}));
  EXPECT_DOUBLE_EQ(s.objectives[0].params.get_double("beta"), 1e-4);
  const auto cases = expand_cases(s);
  ASSERT_EQ(cases.size(), 2u);
  EXPECT_EQ(cases[0].key, "dataset=gaussian/objective=rpc/repeat=0");
  EXPECT_NE(cases[0].seed, cases[1].seed);
  EXPECT_EQ(cases[0].config_hash.size(), 64u);
  EXPECT_EQ(s.profiles, std::vector<std::string>{"quick"});
}

TEST_F(SuiteLoader, ProfileOverridesTaskDatasetsAndOneObjective) {
  const Suite s = load(kValid, "quick");
  EXPECT_EQ(s.task_params.get_int("batch_size"), 4);
  EXPECT_EQ(s.datasets[0].params.get_int("steps_per_level"), 3);
  EXPECT_DOUBLE_EQ(s.objectives[0].params.get_double("beta"), 0.5);
  EXPECT_NE(s.resolved_hash, load(kValid).resolved_hash);
}

TEST_F(SuiteLoader, ProfileWithItsOwnObjectiveListReplacesTheSuites) {
  const std::string text = std::string(kValid) + R"toml(
[profiles.grid]
description = "one entry per grid point"

[[profiles.grid.objectives]]
plugin = "rpc"
label = "rpc-b0.1"
beta = 0.1

[[profiles.grid.objectives]]
plugin = "rpc"
label = "rpc-b0.2"
beta = 0.2
task = { learning_rate = 0.01 }
)toml";
  const Suite s = load(text, "grid");
  ASSERT_EQ(s.objectives.size(), 2u);
  EXPECT_EQ(s.objectives[0].label, "rpc-b0.1");
  EXPECT_DOUBLE_EQ(s.objectives[1].params.get_double("beta"), 0.2);
  EXPECT_FALSE(s.objectives[0].task_params.has_value());
  ASSERT_TRUE(s.objectives[1].task_params.has_value());
  EXPECT_DOUBLE_EQ(s.objectives[1].task_params->get_double("learning_rate"), 0.01);
  EXPECT_EQ(load(text).objectives.size(), 2u);  // the default profile keeps the suite's list
  EXPECT_EQ(load(text).objectives[1].label, "infonce");
  const std::string duplicate = replace(text, "label = \"rpc-b0.2\"", "label = \"rpc-b0.1\"");
  EXPECT_NE(error(duplicate, "grid").find("duplicate label 'rpc-b0.1'"), std::string::npos);
}

TEST_F(SuiteLoader, CaseSeedsDoNotShiftWhenACaseIsAdded) {
  const auto before = expand_cases(load(kValid));
  const auto after = expand_cases(load(replace(kValid, "[[objectives]]\nplugin = \"infonce\"",
                                               "[[objectives]]\nplugin = \"dv\"\n\n[[objectives]]\nplugin = \"infonce\"")));
  ASSERT_EQ(after.size(), 3u);
  EXPECT_EQ(before[1].key, after[2].key);
  EXPECT_EQ(before[1].seed, after[2].seed);
  EXPECT_EQ(before[1].config_hash, after[2].config_hash);
}

TEST_F(SuiteLoader, MalformedTomlNamesLineAndColumn) {
  const std::string e = error(replace(kValid, "seed = 5", "seed = = 5"));
  EXPECT_NE(e.find("suite.toml:4:"), std::string::npos) << e;
  EXPECT_NE(e.find("TOML syntax error"), std::string::npos) << e;
}

TEST_F(SuiteLoader, UnknownKeysAreErrorsWithTheirPosition) {
  std::string e = error(replace(kValid, "hidden = 16", "hidden = 16\nhiden = 3"));
  EXPECT_NE(e.find("suite.toml:13:1"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown parameter 'hiden'"), std::string::npos) << e;
  EXPECT_NE(e.find("known: activation, embed, hidden, layers"), std::string::npos) << e;
  e = error(replace(kValid, "seed = 5", "seed = 5\ncolour = 1"));
  EXPECT_NE(e.find("unknown key 'colour' in [suite]"), std::string::npos) << e;
  e = error(replace(kValid, "batch_size = 8", "batch_sise = 8"));
  EXPECT_NE(e.find("unknown parameter 'batch_sise'"), std::string::npos) << e;
}

TEST_F(SuiteLoader, WrongTypesNameExpectedAndActual) {
  std::string e = error(replace(kValid, "hidden = 16", "hidden = \"wide\""));
  EXPECT_NE(e.find("suite.toml:12:10"), std::string::npos) << e;
  EXPECT_NE(e.find("parameter 'hidden' must be integer, got a string"), std::string::npos) << e;
  e = error(replace(kValid, "mi_levels = [1, 2.0]", "mi_levels = [1, \"two\"]"));
  EXPECT_NE(e.find("'mi_levels' must be list of floats"), std::string::npos) << e;
}

TEST_F(SuiteLoader, UnknownPluginListsTheKnownOnes) {
  const std::string e = error(replace(kValid, "plugin = \"infonce\"", "plugin = \"infonse\""));
  EXPECT_NE(e.find("unknown objective plugin 'infonse'"), std::string::npos) << e;
  EXPECT_NE(e.find("infonce"), std::string::npos) << e;
  EXPECT_NE(e.find("rpc"), std::string::npos) << e;
}

TEST_F(SuiteLoader, UnknownProfileTaskAndDuplicateLabels) {
  EXPECT_NE(error(kValid, "slow").find("unknown profile 'slow' (known: quick)"), std::string::npos);
  EXPECT_NE(error(replace(kValid, "task = \"mi\"", "task = \"vision\"")).find("unknown task 'vision'"),
            std::string::npos);
  EXPECT_NE(error(replace(kValid, "plugin = \"infonce\"", "plugin = \"rpc\"")).find("duplicate label 'rpc'"),
            std::string::npos);
  EXPECT_NE(error(replace(kValid, "[profiles.quick.objectives.rpc]", "[profiles.quick.objectives.rcp]"))
                .find("'rcp', which the suite does not have"),
            std::string::npos);
}

TEST_F(SuiteLoader, MistakesInAnotherProfileAreCaughtToo) {
  const std::string e = error(replace(kValid, "batch_size = 4", "batch_size = 4.5"));  // default profile run
  EXPECT_NE(e.find("batch_size"), std::string::npos) << e;
}

TEST_F(SuiteLoader, PluginConstructorErrorsAreInputErrors) {
  const std::string e = error(replace(kValid, "steps_per_level = 10", "steps_per_level = 10\ntransform = \"square\""));
  EXPECT_NE(e.find("transform"), std::string::npos) << e;
  EXPECT_NE(e.find("square"), std::string::npos) << e;
}

TEST_F(SuiteLoader, MissingFileIsAnInputError) {
  TaskCatalog tasks;
  EXPECT_THROW(load_suite(dir.path() / "none.toml", {}, test::real_plugins(), tasks), InputError);
}

}  // namespace
}  // namespace rpcbench
