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

// Suites past the documented limits (suite.hpp) are refused at the key, before anything is
// expanded: a million-value sweep, a grid of too many cases, long or controlling strings.
TEST_F(SuiteLoader, RefusesSuitesPastTheLimitsAtTheKey) {
  auto values = [](std::size_t n, double scale) {
    std::string list = "[";
    for (std::size_t i = 0; i < n; ++i) list += (i ? ", " : "") + std::to_string(scale * static_cast<double>(i + 1));
    return list + "]";
  };
  std::string e = error(std::string(kValid) + "\n[sweep]\nlearning_rate = " + values(1001, 1e-6) + "\n");
  EXPECT_NE(e.find(":37:17: [sweep] 'learning_rate' lists 1001 values; an axis is limited to 1000"), std::string::npos) << e;
  // 1 dataset × (2 objectives + control) × 400 × 100 repeats = 120 000 cases
  e = error(replace(kValid, "seed = 5", "seed = 5\nrepeats = 100") + "\n[sweep]\nlearning_rate = " + values(400, 1e-6) + "\n");
  EXPECT_NE(e.find("the grid makes up to 120000 cases"), std::string::npos) << e;
  EXPECT_NE(e.find("limited to 100000"), std::string::npos) << e;
  EXPECT_EQ(error(replace(kValid, "seed = 5", "seed = 5\nrepeats = 1001")).find("'repeats' in [suite] is limited to 1000") ==
                std::string::npos,
            false);
  e = error(replace(kValid, "mi_levels = [1, 2.0]", "mi_levels = " + values(10001, 1e-3)));
  EXPECT_NE(e.find("parameter 'mi_levels' lists 10001 values; lists are limited to 10000"), std::string::npos) << e;

  e = error(replace(kValid, "name = \"tiny\"", "name = \"" + std::string(5000, 'n') + "\""));
  EXPECT_NE(e.find(":2:8: 'name' in [suite] is 5000 bytes long; strings are limited to 4096"), std::string::npos) << e;
  e = error(replace(kValid, "name = \"tiny\"", "name = \"ti\\u0000ny\""));
  EXPECT_NE(e.find(":2:8: 'name' in [suite] holds the control character U+0000 at byte 2"), std::string::npos) << e;
  e = error(replace(kValid, "name = \"tiny\"", "name = \"tiny\"\ndescription = \"abc\\u202Edef\""));
  EXPECT_NE(e.find("'description' in [suite] holds a Unicode bidirectional control or line separator character at byte 3"),
            std::string::npos)
      << e;
  // U+061C (a bidirectional mark), U+2028 (a line separator), U+009B (a one-byte terminal CSI), a
  // carriage return in a description (it overwrites a terminal line): each refused.
  for (const char* text : {"mi\\u061Cx", "mi\\u2028x", "mi\\u009B31mx"})
    EXPECT_NE(error(replace(kValid, "name = \"tiny\"", std::string("name = \"") + text + "\"")).find(":2:8: 'name' in [suite] holds"),
              std::string::npos)
        << text;
  EXPECT_NE(error(replace(kValid, "name = \"tiny\"", "name = \"tiny\"\ndescription = \"FAKE\\rreal\"")).find("U+000D"),
            std::string::npos);
  EXPECT_EQ(load(replace(kValid, "name = \"tiny\"", "name = \"tiny\"\ndescription = \"two\\nlines\"")).description, "two\nlines");
  e = error(replace(kValid, "plugin = \"separable\"", "plugin = \"separable\"\nactivation = \"re\\u001blu\""));
  EXPECT_NE(e.find("parameter 'activation' holds the control character U+001B"), std::string::npos) << e;

  e = error(std::string(kValid) + "# " + std::string(5u << 20, 'x') + "\n");
  EXPECT_NE(e.find("bytes; suites are limited to 4194304"), std::string::npos) << e.substr(0, 300);
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

TEST_F(SuiteLoader, OutOfRangeTaskParametersAreInputErrorsAtTheirPosition) {
  // Line 7 is `batch_size = 8` in [task], 8 `window = 5`.
  std::string e = error(replace(kValid, "batch_size = 8", "batch_size = 1"));
  EXPECT_NE(e.find("suite.toml:7:14"), std::string::npos) << e;
  EXPECT_NE(e.find("batch_size"), std::string::npos) << e;
  e = error(replace(kValid, "window = 5", "window = 0"));
  EXPECT_NE(e.find("suite.toml:8:10"), std::string::npos) << e;
  e = error(replace(kValid, "window = 5", "window = 5\nlearning_rate = -1"));
  EXPECT_NE(e.find("suite.toml:9:17"), std::string::npos) << e;
  EXPECT_NE(e.find("learning_rate"), std::string::npos) << e;
  // In a profile that is not the one being run: still caught, at the profile's line.
  e = error(replace(kValid, "batch_size = 4", "batch_size = 0"));
  EXPECT_NE(e.find("suite.toml:28:14"), std::string::npos) << e;
}

TEST_F(SuiteLoader, PluginParameterErrorsPointAtTheKey) {
  // Line 18 is mi_levels; a repeated level would overwrite another level's statistics.
  std::string e = error(replace(kValid, "mi_levels = [1, 2.0]", "mi_levels = [1, 2.0, 1.0]"));
  EXPECT_NE(e.find("suite.toml:18:13"), std::string::npos) << e;
  EXPECT_NE(e.find("twice"), std::string::npos) << e;
  e = error(replace(kValid, "steps_per_level = 10", "steps_per_level = 10\ntransform = \"square\""));
  EXPECT_NE(e.find("suite.toml:20:13"), std::string::npos) << e;
}

TEST_F(SuiteLoader, TheControlLabelIsReserved) {
  const std::string e = error(replace(kValid, "plugin = \"infonce\"", "plugin = \"infonce\"\nlabel = \"random_init\""));
  EXPECT_NE(e.find("suite.toml:26:9"), std::string::npos) << e;
  EXPECT_NE(e.find("reserved for the control case"), std::string::npos) << e;
}

const char* kSweep = "\n[sweep]\nbatch_size = [4, 8]\nobjectives.rpc.beta = [0.1, 0.2]\nrepeats = 2\n";

TEST_F(SuiteLoader, SweepExpandsTheGridIntoCasesWithTheirOwnParameters) {
  const Suite s = load(std::string(kValid) + kSweep);
  ASSERT_EQ(s.sweep.size(), 2u);
  EXPECT_EQ(s.repeats, 2);
  const auto cases = expand_cases(s);
  // rpc: 2 batch sizes × 2 betas × 2 seeds; infonce has no beta: 2 × 2.
  ASSERT_EQ(cases.size(), 12u);
  EXPECT_EQ(cases[0].key, "dataset=gaussian/objective=rpc/batch_size=4/objectives.rpc.beta=0.1/repeat=0");
  EXPECT_EQ(cases[1].key, "dataset=gaussian/objective=rpc/batch_size=4/objectives.rpc.beta=0.1/repeat=1");
  EXPECT_EQ(cases[2].key, "dataset=gaussian/objective=rpc/batch_size=4/objectives.rpc.beta=0.2/repeat=0");
  EXPECT_EQ(cases[8].key, "dataset=gaussian/objective=infonce/batch_size=4/repeat=0");
  EXPECT_EQ(cases[2].group, "dataset=gaussian/objective=rpc/batch_size=4/objectives.rpc.beta=0.2");
  EXPECT_EQ(cases[6].task_params->get_int("batch_size"), 8);
  EXPECT_DOUBLE_EQ(cases[6].objective->params.get_double("beta"), 0.2);
  EXPECT_DOUBLE_EQ(cases[6].coordinates[0].number, 8.0);
  EXPECT_EQ(cases[6].coordinates[1].value, "0.2");
  std::set<std::uint64_t> seeds;
  for (const auto& c : cases) seeds.insert(c.seed);
  EXPECT_EQ(seeds.size(), 12u);
  std::set<std::string> configs;
  for (const auto& c : cases) configs.insert(c.config_hash);
  EXPECT_EQ(configs.size(), 12u);  // the swept values are in each case's config
  // The quick profile overrides a task value that the grid then replaces: the grid wins.
  EXPECT_EQ(expand_cases(load(std::string(kValid) + kSweep, "quick"))[0].task_params->get_int("batch_size"), 4);
}

TEST_F(SuiteLoader, AddingAGridValueLeavesTheOtherCasesAlone) {
  const auto before = expand_cases(load(std::string(kValid) + kSweep));
  const auto after = expand_cases(load(replace(std::string(kValid) + kSweep, "batch_size = [4, 8]", "batch_size = [4, 8, 16]")));
  ASSERT_EQ(after.size(), 18u);
  std::map<std::string, std::pair<std::uint64_t, std::string>> by_key;
  for (const auto& c : after) by_key[c.key] = {c.seed, c.config_hash};
  for (const auto& c : before) {
    ASSERT_EQ(by_key.count(c.key), 1u) << c.key;
    EXPECT_EQ(by_key[c.key].first, c.seed) << c.key;
    EXPECT_EQ(by_key[c.key].second, c.config_hash) << c.key;
  }
  // And the order is deterministic.
  const auto again = expand_cases(load(std::string(kValid) + kSweep));
  for (std::size_t i = 0; i < before.size(); ++i) EXPECT_EQ(before[i].key, again[i].key);
}

TEST_F(SuiteLoader, BadGridsAreInputErrorsAtTheirPosition) {
  const std::string base = std::string(kValid) + "\n[sweep]\n";  // [sweep] is line 36
  std::string e = error(base + "batch_sise = [4, 8]\n");
  EXPECT_NE(e.find("suite.toml:37:1"), std::string::npos) << e;
  EXPECT_NE(e.find("no task, encoder, dataset or objective parameter"), std::string::npos) << e;
  e = error(base + "batch_size = []\n");
  EXPECT_NE(e.find("must be a non-empty array"), std::string::npos) << e;
  e = error(base + "batch_size = 8\n");
  EXPECT_NE(e.find("must be a non-empty array of values, got an integer"), std::string::npos) << e;
  e = error(base + "batch_size = [4, \"big\"]\n");
  EXPECT_NE(e.find("suite.toml:37:18"), std::string::npos) << e;
  EXPECT_NE(e.find("must be integer, got a string"), std::string::npos) << e;
  e = error(base + "batch_size = [4, 4]\n");
  EXPECT_NE(e.find("lists 4 twice"), std::string::npos) << e;
  e = error(base + "batch_size = [4, 1]\n");  // the task refuses batch_size 1
  EXPECT_NE(e.find("suite.toml:37:18"), std::string::npos) << e;
  EXPECT_NE(e.find("batch_size"), std::string::npos) << e;
  e = error(base + "objectives.rpc.beta = [0.1, -1.0]\n");  // the plugin refuses β < 0
  EXPECT_NE(e.find("suite.toml:37:29"), std::string::npos) << e;
  e = error(base + "objectives.rcp.beta = [0.1]\n");
  EXPECT_NE(e.find("names objective 'rcp'"), std::string::npos) << e;
  e = error(base + "repeats = 0\n");
  EXPECT_NE(e.find("'repeats' in [sweep]"), std::string::npos) << e;
  e = error(base + "batch_size = [16, 32]\ntask.batch_size = [8]\n");  // the same parameter twice
  EXPECT_NE(e.find("suite.toml:38:"), std::string::npos) << e;
  EXPECT_NE(e.find("one axis per parameter"), std::string::npos) << e;
  e = error(replace(std::string(kValid) + "\n[sweep]\nrepeats = 2\n", "seed = 5", "seed = 5\nrepeats = 3"));
  EXPECT_NE(e.find("set it in one place"), std::string::npos) << e;
}

TEST_F(SuiteLoader, GatesThatCannotFireAreRefused) {
  const std::string base = std::string(kValid) + "\n[[gates]]\nmetric = \"mse\"\nbetter = \"lower\"\n";
  EXPECT_NE(error(base + "abs_tolerance = inf\n").find("finite number"), std::string::npos);
  EXPECT_NE(error(base + "alpha = 7.0\n").find("must be in (0, 1)"), std::string::npos);
  EXPECT_NE(error(base + "alpha = 0.0\n").find("must be in (0, 1)"), std::string::npos);
  EXPECT_NE(error(base + "objectives = []\n").find("non-empty array"), std::string::npos);
  EXPECT_EQ(error(base + "alpha = 0.01\nobjectives = [\"rpc\"]\n"), "no error");
}

TEST_F(SuiteLoader, SuiteGroupsListTheirMembers) {
  dir.write("member.toml", kValid);
  const auto group = dir.write("group.toml", "[suite]\nname = \"g\"\nmembers = [\"member.toml\"]\n");
  const auto members = suite_group_members(group);
  ASSERT_EQ(members.size(), 1u);
  EXPECT_EQ(members[0], dir.path() / "member.toml");
  EXPECT_TRUE(suite_group_members(dir.path() / "member.toml").empty());
  auto group_error = [&](const std::string& text) {
    try {
      suite_group_members(dir.write("bad_group.toml", text));
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(group_error("[suite]\nmembers = [\"absent.toml\"]\n").find("bad_group.toml:2:12"), std::string::npos);
  EXPECT_NE(group_error("[suite]\nmembers = []\n").find("non-empty"), std::string::npos);
  EXPECT_NE(group_error("[suite]\nmembers = [\"member.toml\"]\n[task]\nx = 1\n").find("belongs in a member"),
            std::string::npos);
  // Groups do not nest and cannot cycle: a self-reference, a group member, a member twice.
  EXPECT_NE(group_error("[suite]\nmembers = [\"bad_group.toml\"]\n").find("cannot list itself"), std::string::npos);
  EXPECT_NE(group_error("[suite]\nmembers = [\"group.toml\"]\n").find("groups do not nest"), std::string::npos);
  EXPECT_NE(group_error("[suite]\nmembers = [\"member.toml\", \"./member.toml\"]\n").find("listed twice"),
            std::string::npos);
}

// A path parameter: read from the suite's folder, refused at its key when missing, and recorded
// as its content (the path as written and the file's SHA-256), never as where this machine keeps it.
TEST_F(SuiteLoader, PathParametersAreCheckedHashedAndRecordedByContent) {
  std::filesystem::create_directories(dir.path() / "data");
  const auto csv = dir.write("data/pairs.csv", "X1,Y1\n0.1,0.2\n0.3,0.1\n-1,2\n");
  const std::string suite_text = R"toml([suite]
name = "files"
task = "mi"
[task]
batch_size = 2
window = 2
[encoder]
plugin = "separable"
hidden = 8
embed = 2
[[datasets]]
plugin = "samples_file"
path = "data/pairs.csv"
steps = 3
[[objectives]]
plugin = "infonce"
)toml";
  const Suite suite = load(suite_text);
  ASSERT_EQ(suite.datasets.size(), 1u);
  EXPECT_EQ(suite.datasets[0].params.get_string("path"), (dir.path() / "data/pairs.csv").lexically_normal().string());
  ASSERT_EQ(suite.datasets[0].files.count("path"), 1u);
  const std::string sha = suite.datasets[0].files.at("path").sha256;
  EXPECT_EQ(sha.size(), 64u);
  const auto cases = expand_cases(suite);
  ASSERT_FALSE(cases.empty());
  EXPECT_NE(cases[0].config_text.find("\"path\":{\"sha256\":\"" + sha + "\"}"), std::string::npos) << cases[0].config_text;
  EXPECT_EQ(cases[0].config_text.find("pairs.csv"), std::string::npos) << cases[0].config_text;
  // The same content elsewhere, under another name: the same case.
  std::filesystem::create_directories(dir.path() / "moved");
  std::filesystem::copy_file(csv, dir.path() / "moved/renamed.csv");
  EXPECT_EQ(expand_cases(load(replace(suite_text, "data/pairs.csv", "moved/renamed.csv")))[0].config_hash, cases[0].config_hash);
  // Another file content: another case identity, same key.
  dir.write("data/pairs.csv", "X1,Y1\n0.1,0.2\n0.3,0.1\n-1,3\n");
  const auto changed = expand_cases(load(suite_text));
  EXPECT_EQ(changed[0].key, cases[0].key);
  EXPECT_NE(changed[0].config_hash, cases[0].config_hash);
  EXPECT_NE(load(suite_text).resolved_hash, suite.resolved_hash);

  const std::string missing = error(replace(suite_text, "data/pairs.csv", "data/none.csv"));
  EXPECT_NE(missing.find("suite.toml:13:8:"), std::string::npos) << missing;
  EXPECT_NE(missing.find("parameter 'path'"), std::string::npos) << missing;
  EXPECT_NE(missing.find("none.csv"), std::string::npos) << missing;
  const std::string swept = error(suite_text + "[sweep]\n\"datasets.path\" = [\"data/pairs.csv\"]\n");
  EXPECT_NE(swept.find("is a path parameter"), std::string::npos) << swept;
  // A dataset smaller than a batch is refused before any work.
  const std::string small = error(replace(suite_text, "batch_size = 2", "batch_size = 4"));
  EXPECT_NE(small.find("has 3 samples, fewer than a batch of 4"), std::string::npos) << small;
}

// An objective that asks for a critic gradient penalty is refused by tasks that cannot compute it.
TEST_F(SuiteLoader, TasksWithoutACriticPenaltyRefuseObjectivesThatNeedOne) {
  const std::string message = error(R"toml([suite]
name = "vision-wpc"
task = "contrastive"
[task]
batch_size = 16
[encoder]
plugin = "convnet"
width = 8
[[datasets]]
plugin = "fashion_mnist"
train_limit = 64
test_limit = 32
[[objectives]]
plugin = "wpc"
)toml");
  EXPECT_NE(message.find("suite.toml:13:1: objective 'wpc' asks for a critic gradient penalty"), std::string::npos) << message;
  EXPECT_NE(message.find("task 'contrastive'"), std::string::npos) << message;
}

TEST_F(SuiteLoader, MissingFileIsAnInputError) {
  TaskCatalog tasks;
  EXPECT_THROW(load_suite(dir.path() / "none.toml", {}, test::real_plugins(), tasks), InputError);
}

}  // namespace
}  // namespace rpcbench
