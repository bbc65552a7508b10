// A suite: one task, its datasets, encoder and objectives with resolved parameters, expanded into
// cases (dataset × objective × repeat) with seeds derived from the suite seed and the case key.
#pragma once

#include "plugin/registry.hpp"

#include <rpcbench/plugin.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace rpcbench {

class TaskCatalog;

// A path parameter's file: as the suite wrote it, and its content's SHA-256.
struct FileParam {
  std::string written;
  std::string sha256;
};

struct PluginUse {
  const PluginDescriptor* plugin = nullptr;
  std::string label;  // unique within its list; the plugin name unless the suite sets one
  Params params;      // every declared parameter, defaults filled in
  // Objectives only: the task's parameters for this objective when its entry has a `task` table
  // (e.g. RPC's unnormalised scores with temperature 128 beside InfoNCE's 0.5).
  std::optional<Params> task_params;
  std::map<std::string, FileParam> files;  // its path parameters (params hold the absolute path)
};

// A regression gate for `harness compare` ([[gates]] in a suite).
struct Gate {
  std::string metric;         // a summary name ("mse", "linear_top1")
  std::string scope = "*";    // a summary scope ("mi=4"), "" for case-level values, "*" for any
  bool higher_is_better = true;
  std::optional<double> abs_tolerance, rel_tolerance;  // a change must exceed both that are set
  std::string test = "none";  // "none", "mann_whitney" or "welch" (over repeats)
  double alpha = 0.05;
  bool timing = false;        // timing metrics gate only when marked so
  std::vector<std::string> objectives;  // only cases of these objective labels (empty: all)
  std::string origin;  // where it was written, for messages: "suites/mi.toml:87:1 ([[gates]] #1)"
};

// One axis of a suite's grid ([sweep]): a parameter and the values it takes. Cases are
// dataset × objective × every applicable axis × repeat.
struct SweepAxis {
  enum class Target { task, encoder, datasets, objectives };
  std::string key;   // as written: "batch_size", "task.learning_rate", "objectives.rpc.alpha"
  std::string name;  // the parameter
  Target target = Target::task;
  std::string objective_label;      // objectives only: just this one (empty: each that declares it)
  std::vector<ParamValue> values;   // converted to the declared type
  std::vector<std::string> texts;   // each value as it appears in case keys ("0.001", "64")
  bool numeric = false;             // integer or float: tables and slopes can use it as an axis
};

struct Suite {
  std::filesystem::path path;
  std::string file_sha256;
  std::string name;
  std::string task;
  std::string description;
  std::string profile;  // "" for the default profile
  std::vector<std::string> profiles;
  std::uint64_t seed = 0;
  std::int64_t repeats = 1;
  std::int64_t threads = 0;  // the suite's thread count (0: all cores); --threads overrides
  std::string ensemble = "auto";  // "auto" or "off" (how cases run, like threads: not in resolved_text); --ensemble overrides
  Params task_params;
  PluginUse encoder;
  std::vector<PluginUse> datasets;
  std::vector<PluginUse> objectives;
  std::vector<SweepAxis> sweep;
  std::vector<std::string> evidence;  // the claims these results bear on (`harness claims`)
  std::vector<Gate> gates;
  std::string resolved_text;  // canonical JSON of everything above that affects results
  std::string resolved_hash;
};

// One coordinate of a case on the suite's grid.
struct Coordinate {
  std::string axis;   // SweepAxis::key
  std::string value;  // SweepAxis::texts[i]
  double number = 0;  // the value when the axis is numeric (NaN otherwise)
};

// A case owns its resolved parameters: sweep values are applied to copies of the suite's entries.
struct Case {
  std::size_t index = 0;
  // "dataset=gaussian/objective=rpc/batch_size=64/repeat=0": stable across suite edits; adding a
  // value to an axis adds cases without changing the others' keys or seeds.
  std::string key;
  std::string group;  // the key without "/repeat=N": the cases that differ only in seed
  std::shared_ptr<const PluginUse> dataset;
  std::shared_ptr<const PluginUse> encoder;
  std::shared_ptr<const PluginUse> objective;  // null: the task's control case (e.g. random_init)
  std::int64_t repeat = 0;
  std::uint64_t seed = 0;
  std::shared_ptr<const Params> task_params;  // the suite's or the objective's, with sweep values
  std::vector<Coordinate> coordinates;
  std::string config_text;  // canonical JSON: task, plugins, parameters, seed
  std::string config_hash;
};

struct SuiteOptions {
  std::string profile;
  std::optional<std::uint64_t> seed;  // overrides the suite's seed
};

// Parses and validates everything before any work. Throws InputError with file:line:col.
Suite load_suite(const std::filesystem::path& path, const SuiteOptions& options,
                 const PluginRegistry& registry, const TaskCatalog& tasks);

// A plugin's parameters as a suite that sets only `overrides` would give them: its declared
// defaults (TOML text) filled in. For code that makes plugins without a suite (tests, benchmarks).
// Throws InputError on a required parameter left unset or a default that is not valid TOML.
Params declared_params(const PluginDescriptor& plugin, const std::map<std::string, ParamValue>& overrides);

// A suite from text (a command that writes its own suite, e.g. `harness estimate`): `origin` names
// it in messages and relative paths are read from its folder.
Suite load_suite_text(const std::string& text, const std::filesystem::path& origin, const SuiteOptions& options,
                      const PluginRegistry& registry, const TaskCatalog& tasks);

// dataset × objective × sweep point × repeat, plus (with_control) a control case per dataset ×
// repeat (× the points of encoder and dataset axes: the control does not train), first.
std::vector<Case> expand_cases(const Suite& suite, bool with_control = false);

// The member suites of a suite group (a file whose [suite] lists `members`), resolved against the
// group file's folder; empty for an ordinary suite. Throws InputError (file:line:col) on a bad list.
std::vector<std::filesystem::path> suite_group_members(const std::filesystem::path& path);

inline constexpr const char* kControlLabel = "random_init";

// What a suite may hold (input errors at the key past them, before any work): a file of at most
// 4 MiB; strings of at most 4096 bytes, without control characters (tab and newline allowed in
// descriptions and text parameters) or Unicode bidirectional controls; lists of at most 10 000
// numbers; sweep axes of at most 1000 values; at most 1000 repeats; at most 100 000 cases.
inline constexpr std::uintmax_t kMaxSuiteFileBytes = 4u << 20;
inline constexpr std::size_t kMaxStringBytes = 4096;
inline constexpr std::size_t kMaxListValues = 10000;
inline constexpr std::size_t kMaxSweepValues = 1000;
inline constexpr std::int64_t kMaxRepeats = 1000;
inline constexpr double kMaxCases = 100000;
inline const std::string& objective_label(const Case& c) {
  static const std::string control = kControlLabel;
  return c.objective != nullptr ? c.objective->label : control;
}

// Gates from a resolved suite's canonical JSON (as stored in runs.resolved_suite).
std::vector<Gate> gates_from_resolved(const std::string& resolved_text);

// The shape of a stored resolved suite that report, claims, compare and the aggregates read:
// suite {name, task, profile, seed, repeats, evidence?}, task and encoder objects, datasets and
// objectives arrays, sweep [{key, values}], gates [{metric, scope, better, …}], each with its
// type. Throws InputError naming the JSON path below `where` (a stored one can be edited by hand,
// an export can be crafted).
void check_resolved_suite(const nlohmann::json& resolved, const std::string& where);

// Case keys are "dataset=D/objective=O[/AXIS=VALUE…]/repeat=R", components in that order; a
// group is a key without its repeat. Labels and axis keys hold no '/' or '='.
std::string case_group(const std::string& key);
// The value of component `name` ("objective", an axis key) in a key or group; "" when absent.
std::string key_component(const std::string& key, const std::string& name);
// The key or group with component `name` set to `value` (it must be there), or removed when
// `value` is empty.
std::string with_component(const std::string& key, const std::string& name, const std::string& value);

// A parameter value as it appears in case keys: the shortest text that reads back the same.
std::string param_value_text(const ParamValue& v);

// Parameter values as canonical JSON text ({"alpha":1.0,...}).
std::string params_json(const Params& params);

}  // namespace rpcbench
