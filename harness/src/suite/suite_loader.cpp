#include "suite/suite.hpp"

#include "tasks/task.hpp"
#include "util/errors.hpp"
#include "util/hash.hpp"

#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace rpcbench {
namespace {

using json = nlohmann::json;

const char* type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a bool";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
  }
}

// A table seen through profile overlays without copying, so every value keeps the source
// position it was written at (copied toml++ nodes lose theirs). Later layers win.
struct Layers {
  std::vector<const toml::table*> tables;

  const toml::node* get(const std::string& key) const {
    for (auto it = tables.rbegin(); it != tables.rend(); ++it)
      if (const toml::node* n = (*it)->get(key)) return n;
    return nullptr;
  }
  struct Item {
    std::string key;
    const toml::node* node;
    toml::source_region key_source;  // errors about the key itself point here
  };
  std::vector<Item> items() const {
    std::vector<Item> out;
    for (const toml::table* t : tables)
      for (auto&& [key, node] : *t) {
        const std::string k(key.str());
        if (std::none_of(out.begin(), out.end(), [&](const Item& i) { return i.key == k; }))
          out.push_back({k, get(k), key.source()});
      }
    for (auto& item : out)  // the source of the key whose value won
      for (const toml::table* t : tables)
        for (auto&& [key, node] : *t)
          if (&node == item.node) item.key_source = key.source();
    return out;
  }
  const toml::node* where() const { return tables.front(); }
};

class Loader {
 public:
  Loader(std::filesystem::path path, const PluginRegistry& registry, const TaskCatalog& tasks)
      : path_(std::move(path)), registry_(registry), tasks_(tasks) {}

  Suite load(const SuiteOptions& options);

 private:
  [[noreturn]] void fail_at(const toml::source_region& where, const std::string& message) const {
    std::ostringstream os;
    os << path_.string();
    if (where.begin.line > 0) os << ':' << where.begin.line << ':' << where.begin.column;
    os << ": " << message;
    throw InputError(os.str());
  }
  [[noreturn]] void fail_at(const toml::node* node, const std::string& message) const {
    fail_at(node != nullptr ? node->source() : toml::source_region{}, message);
  }

  const toml::table& require_table(const toml::table& parent, const std::string& key,
                                   const std::string& context) const {
    const toml::node* n = parent.get(key);
    if (n == nullptr) fail_at(&parent, "missing table [" + context + "]");
    if (!n->is_table()) fail_at(n, "'" + context + "' must be a table, got " + type_name(*n));
    return *n->as_table();
  }

  void allow_keys(const Layers& table, const std::set<std::string>& allowed,
                  const std::string& context) const {
    for (const auto& [key, node, key_source] : table.items()) {
      if (allowed.count(key) != 0) continue;
      std::string known;
      for (const auto& k : allowed) known += (known.empty() ? "" : ", ") + k;
      fail_at(key_source, "unknown key '" + key + "' in " + context + " (known: " + known + ")");
    }
  }

  std::string get_string(const Layers& t, const std::string& key, const std::string& context,
                         std::optional<std::string> fallback = std::nullopt) const {
    const toml::node* n = t.get(key);
    if (n == nullptr) {
      if (fallback) return *fallback;
      fail_at(t.where(), "missing key '" + key + "' in " + context);
    }
    if (!n->is_string()) fail_at(n, "'" + key + "' in " + context + " must be a string, got " + type_name(*n));
    return n->as_string()->get();
  }

  std::int64_t get_int(const Layers& t, const std::string& key, const std::string& context,
                       std::int64_t fallback, std::int64_t min) const {
    const toml::node* n = t.get(key);
    if (n == nullptr) return fallback;
    if (!n->is_integer()) fail_at(n, "'" + key + "' in " + context + " must be an integer, got " + type_name(*n));
    const std::int64_t v = n->as_integer()->get();
    if (v < min) fail_at(n, "'" + key + "' in " + context + " must be >= " + std::to_string(min));
    return v;
  }

  ParamValue convert(const toml::node& n, const ParamDecl& decl, const std::string& owner) const {
    const std::string what = owner + ": parameter '" + decl.name + "' must be " +
                             std::string(to_string(decl.type)) + ", got ";
    switch (decl.type) {
      case ParamType::boolean:
        if (n.is_boolean()) return n.as_boolean()->get();
        break;
      case ParamType::integer:
        if (n.is_integer()) return n.as_integer()->get();
        break;
      case ParamType::real:
        if (n.is_floating_point()) return n.as_floating_point()->get();
        if (n.is_integer()) return static_cast<double>(n.as_integer()->get());
        break;
      case ParamType::text:
        if (n.is_string()) return n.as_string()->get();
        break;
      case ParamType::real_list:
        if (n.is_array()) {
          std::vector<double> values;
          for (const toml::node& item : *n.as_array()) {
            if (item.is_floating_point()) values.push_back(item.as_floating_point()->get());
            else if (item.is_integer()) values.push_back(static_cast<double>(item.as_integer()->get()));
            else fail_at(&item, what + "an array holding " + type_name(item));
          }
          return values;
        }
        break;
    }
    fail_at(&n, what + type_name(n));
  }

  // Every declared parameter: from `table` when set there, else the declared default.
  Params resolve(const std::vector<ParamDecl>& decls, const Layers& table,
                 const std::set<std::string>& reserved, const std::string& owner) const {
    std::map<std::string, ParamValue> values;
    for (const ParamDecl& decl : decls) {
      if (const toml::node* n = table.get(decl.name)) {
        values[decl.name] = convert(*n, decl, owner);
      } else if (decl.required) {
        fail_at(table.where(), owner + ": missing required parameter '" + decl.name + "' (" + decl.help + ")");
      } else {
        toml::table parsed;
        try {
          parsed = toml::parse("v = " + decl.default_value);
        } catch (const toml::parse_error& e) {
          throw InputError(owner + ": its declared default for '" + decl.name + "' (" +
                           decl.default_value + ") is not valid TOML: " + std::string(e.description()));
        }
        values[decl.name] = convert(*parsed.get("v"), decl, owner + " (declared default)");
      }
    }
    for (const auto& [k, node, key_source] : table.items()) {
      if (reserved.count(k) != 0) continue;
      if (std::none_of(decls.begin(), decls.end(), [&](const ParamDecl& d) { return d.name == k; })) {
        std::vector<std::string> names;
        for (const auto& d : decls) names.push_back(d.name);
        std::sort(names.begin(), names.end());
        std::string known;
        for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
        fail_at(key_source, owner + ": unknown parameter '" + k + "' (known: " +
                           (known.empty() ? "none" : known) + ")");
      }
    }
    return Params(owner, std::move(values));
  }

  PluginUse resolve_plugin(PluginKind kind, const Layers& table, const std::string& context,
                           const std::set<std::string>& reserved = {"plugin", "label"}) const {
    const std::string name = get_string(table, "plugin", context);
    const PluginDescriptor* plugin = registry_.find(kind, name);
    if (plugin == nullptr)
      fail_at(table.get("plugin"), std::string("unknown ") + to_string(kind) + " plugin '" + name +
                                       "' (known: " + registry_.names(kind) + ")");
    PluginUse use;
    use.plugin = plugin;
    use.label = get_string(table, "label", context, name);
    if (use.label.empty() || use.label.find_first_not_of(
                                 "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") !=
                                 std::string::npos)
      fail_at(table.get("label"), "label '" + use.label + "' in " + context +
                                      " must be letters, digits, '_', '.' or '-'");
    use.params = resolve(plugin->params, table, reserved,
                         std::string(to_string(kind)) + " '" + use.label + "'");
    return use;
  }

  // task_overrides: when given, entries may hold a `task` table, returned per entry (or null).
  std::vector<PluginUse> resolve_list(PluginKind kind, const toml::table& root, const std::string& key,
                                      const toml::table* overlay_all, const toml::table* overlay_by_label,
                                      std::vector<const toml::node*>* task_overrides = nullptr) const {
    const toml::node* n = root.get(key);
    if (n == nullptr) fail_at(&root, "missing [[" + key + "]]: the suite needs at least one");
    const toml::array* array = n->as_array();
    if (array == nullptr || !array->is_array_of_tables() || array->empty())
      fail_at(n, "'" + key + "' must be an array of tables ([[" + key + "]])");
    std::vector<PluginUse> uses;
    std::set<std::string> used_overlays;
    for (std::size_t i = 0; i < array->size(); ++i) {
      Layers table{{array->get(i)->as_table()}};
      const std::string context = "[[" + key + "]] #" + std::to_string(i + 1);
      if (overlay_all != nullptr) overlay(table, overlay_all);
      const std::string label = get_string(table, "label", context, get_string(table, "plugin", context));
      if (overlay_by_label != nullptr) {
        if (const toml::node* o = overlay_by_label->get(label)) {
          if (!o->is_table()) fail_at(o, "profile entry for '" + label + "' must be a table");
          table.tables.push_back(o->as_table());
          used_overlays.insert(label);
        }
      }
      PluginUse use = task_overrides != nullptr
                          ? resolve_plugin(kind, table, context, {"plugin", "label", "task"})
                          : resolve_plugin(kind, table, context);
      if (task_overrides != nullptr) task_overrides->push_back(table.get("task"));
      for (const auto& other : uses)
        if (other.label == use.label)
          fail_at(array->get(i), "duplicate label '" + use.label + "' in [[" + key +
                                     "]]: give each entry a distinct 'label'");
      uses.push_back(std::move(use));
    }
    if (overlay_by_label != nullptr)
      for (auto&& [k, node] : *overlay_by_label)
        if (used_overlays.count(std::string(k.str())) == 0)
          fail_at(&node, "profile names " + key + " entry '" + std::string(k.str()) +
                             "', which the suite does not have");
    return uses;
  }

  // A profile table that names another plugin replaces the entry; otherwise it overrides keys.
  static void overlay(Layers& base, const toml::table* profile) {
    if (profile->get("plugin") != nullptr) base.tables.clear();
    base.tables.push_back(profile);
  }

  const toml::table* profile_part(const toml::table* profile, const std::string& key,
                                  const std::string& profile_name) const {
    if (profile == nullptr) return nullptr;
    const toml::node* n = profile->get(key);
    if (n == nullptr) return nullptr;
    if (!n->is_table())
      fail_at(n, "profiles." + profile_name + "." + key + " must be a table, got " + type_name(*n));
    return n->as_table();
  }

  Suite resolve_profile(const toml::table& root, const std::string& profile_name,
                        const SuiteOptions& options) const;

  std::vector<Gate> parse_gates(const toml::table& root) const {
    std::vector<Gate> gates;
    const toml::node* n = root.get("gates");
    if (n == nullptr) return gates;
    const toml::array* array = n->as_array();
    if (array == nullptr || !array->is_array_of_tables()) fail_at(n, "'gates' must be an array of tables ([[gates]])");
    for (std::size_t i = 0; i < array->size(); ++i) {
      const Layers t{{array->get(i)->as_table()}};
      const std::string context = "[[gates]] #" + std::to_string(i + 1);
      allow_keys(t, {"metric", "scope", "better", "abs_tolerance", "rel_tolerance", "test", "alpha", "timing", "objectives"},
                 context);
      Gate g;
      g.metric = get_string(t, "metric", context);
      g.scope = get_string(t, "scope", context, std::string("*"));
      const std::string better = get_string(t, "better", context);
      if (better != "higher" && better != "lower")
        fail_at(t.get("better"), "'better' in " + context + " must be \"higher\" or \"lower\", got \"" + better + "\"");
      g.higher_is_better = better == "higher";
      for (const char* key : {"abs_tolerance", "rel_tolerance", "alpha"}) {
        const toml::node* v = t.get(key);
        if (v == nullptr) continue;
        if (!v->is_number()) fail_at(v, std::string("'") + key + "' in " + context + " must be a number, got " + type_name(*v));
        const double x = v->is_integer() ? static_cast<double>(v->as_integer()->get()) : v->as_floating_point()->get();
        if (!(x >= 0.0)) fail_at(v, std::string("'") + key + "' in " + context + " must be >= 0");
        if (std::string(key) == "abs_tolerance") g.abs_tolerance = x;
        else if (std::string(key) == "rel_tolerance") g.rel_tolerance = x;
        else g.alpha = x;
      }
      g.test = get_string(t, "test", context, std::string("none"));
      if (g.test != "none" && g.test != "mann_whitney" && g.test != "welch")
        fail_at(t.get("test"), "'test' in " + context + " must be \"none\", \"mann_whitney\" or \"welch\", got \"" + g.test + "\"");
      if (const toml::node* v = t.get("timing")) {
        if (!v->is_boolean()) fail_at(v, "'timing' in " + context + " must be a bool, got " + type_name(*v));
        g.timing = v->as_boolean()->get();
      }
      if (const toml::node* v = t.get("objectives")) {
        const toml::array* labels = v->as_array();
        if (labels == nullptr) fail_at(v, "'objectives' in " + context + " must be an array of objective labels");
        for (const toml::node& label : *labels) {
          if (!label.is_string()) fail_at(&label, "'objectives' in " + context + " must hold strings");
          g.objectives.push_back(label.as_string()->get());
        }
      }
      gates.push_back(g);
    }
    return gates;
  }

  std::filesystem::path path_;
  const PluginRegistry& registry_;
  const TaskCatalog& tasks_;
};

json to_json(const ParamValue& v) {
  // JSON has no inf/nan: spell them as TOML does, so `clip = inf` keeps a distinct config hash.
  if (const double* d = std::get_if<double>(&v); d != nullptr && !std::isfinite(*d))
    return std::isnan(*d) ? "nan" : (*d > 0 ? "inf" : "-inf");
  return std::visit([](const auto& x) { return json(x); }, v);
}

json plugin_json(const PluginUse& use) {
  json j{{"plugin", use.plugin->name},
         {"version", use.plugin->version},
         {"label", use.label},
         {"params", json::parse(params_json(use.params))}};
  if (use.task_params) j["task_params"] = json::parse(params_json(*use.task_params));
  return j;
}

Suite Loader::resolve_profile(const toml::table& root, const std::string& profile_name,
                              const SuiteOptions& options) const {
  const toml::table* profile = nullptr;
  if (!profile_name.empty()) {
    const toml::node* profiles = root.get("profiles");
    const toml::node* p = profiles != nullptr && profiles->is_table()
                              ? profiles->as_table()->get(profile_name)
                              : nullptr;
    if (p == nullptr || !p->is_table()) {
      std::string known;
      if (profiles != nullptr && profiles->is_table())
        for (auto&& [k, v] : *profiles->as_table()) known += (known.empty() ? "" : ", ") + std::string(k.str());
      throw InputError(path_.string() + ": unknown profile '" + profile_name +
                       "' (known: " + (known.empty() ? "none" : known) + ")");
    }
    profile = p->as_table();
    allow_keys(Layers{{profile}}, {"description", "suite", "task", "encoder", "datasets", "objectives"},
               "[profiles." + profile_name + "]");
  }

  Suite suite;
  suite.path = path_;
  suite.profile = profile_name;

  Layers head{{&require_table(root, "suite", "suite")}};
  if (const toml::table* o = profile_part(profile, "suite", profile_name)) {
    allow_keys(Layers{{o}}, {"seed", "repeats", "threads"}, "[profiles." + profile_name + ".suite]");
    head.tables.push_back(o);
  }
  allow_keys(head, {"name", "task", "description", "seed", "repeats", "threads"}, "[suite]");
  suite.name = get_string(head, "name", "[suite]");
  suite.task = get_string(head, "task", "[suite]");
  suite.description = get_string(head, "description", "[suite]", std::string());
  suite.seed = static_cast<std::uint64_t>(get_int(head, "seed", "[suite]", 0, 0));
  if (options.seed) suite.seed = *options.seed;
  suite.repeats = get_int(head, "repeats", "[suite]", 1, 1);
  suite.threads = get_int(head, "threads", "[suite]", 0, 0);

  const Task* task = tasks_.find(suite.task);
  if (task == nullptr)
    fail_at(head.get("task"), "unknown task '" + suite.task + "' (known: " + tasks_.names() + ")");

  static const toml::table kEmpty;
  Layers task_table{{&kEmpty}};
  if (const toml::node* t = root.get("task")) {
    if (!t->is_table()) fail_at(t, "'task' must be a table ([task])");
    task_table.tables = {t->as_table()};
  }
  if (const toml::table* o = profile_part(profile, "task", profile_name)) task_table.tables.push_back(o);
  suite.task_params = resolve(task->params(), task_table, {}, "task '" + suite.task + "'");

  Layers encoder_table{{&require_table(root, "encoder", "encoder")}};
  if (const toml::table* o = profile_part(profile, "encoder", profile_name)) overlay(encoder_table, o);
  suite.encoder = resolve_plugin(PluginKind::encoder, encoder_table, "[encoder]");

  suite.datasets = resolve_list(PluginKind::dataset, root, "datasets",
                                profile_part(profile, "datasets", profile_name), nullptr);
  std::vector<const toml::node*> task_overrides;
  suite.objectives = resolve_list(PluginKind::objective, root, "objectives", nullptr,
                                  profile_part(profile, "objectives", profile_name), &task_overrides);
  for (std::size_t i = 0; i < task_overrides.size(); ++i) {
    const toml::node* o = task_overrides[i];
    if (o == nullptr) continue;
    if (!o->is_table()) fail_at(o, "'task' in objective '" + suite.objectives[i].label + "' must be a table");
    Layers layers = task_table;
    layers.tables.push_back(o->as_table());
    suite.objectives[i].task_params =
        resolve(task->params(), layers, {}, "task '" + suite.task + "' for objective '" + suite.objectives[i].label + "'");
  }

  json resolved{{"suite", {{"name", suite.name}, {"task", suite.task}, {"profile", suite.profile},
                           {"seed", suite.seed}, {"repeats", suite.repeats}}},
                {"task", json::parse(params_json(suite.task_params))},
                {"encoder", plugin_json(suite.encoder)},
                {"datasets", json::array()},
                {"objectives", json::array()}};
  for (const auto& d : suite.datasets) resolved["datasets"].push_back(plugin_json(d));
  for (const auto& o : suite.objectives) resolved["objectives"].push_back(plugin_json(o));
  suite.gates = parse_gates(root);
  for (const Gate& g : suite.gates) {
    json j{{"metric", g.metric}, {"scope", g.scope}, {"better", g.higher_is_better ? "higher" : "lower"},
           {"test", g.test}, {"alpha", g.alpha}, {"timing", g.timing}};
    if (g.abs_tolerance) j["abs_tolerance"] = *g.abs_tolerance;
    if (g.rel_tolerance) j["rel_tolerance"] = *g.rel_tolerance;
    if (!g.objectives.empty()) j["objectives"] = g.objectives;
    resolved["gates"].push_back(j);
  }
  suite.resolved_text = resolved.dump();
  suite.resolved_hash = sha256_hex(suite.resolved_text);
  return suite;
}

Suite Loader::load(const SuiteOptions& options) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path_, ec))
    throw InputError(path_.string() + ": suite file does not exist or is not a file");
  toml::table root;
  try {
    root = toml::parse_file(path_.string());
  } catch (const toml::parse_error& e) {
    throw InputError(path_.string() + ":" + std::to_string(e.source().begin.line) + ":" +
                     std::to_string(e.source().begin.column) + ": TOML syntax error: " +
                     std::string(e.description()));
  }
  allow_keys(Layers{{&root}}, {"suite", "task", "encoder", "datasets", "objectives", "profiles", "gates"},
             "the suite");

  std::vector<std::string> profiles;
  if (const toml::node* p = root.get("profiles")) {
    if (!p->is_table()) fail_at(p, "'profiles' must be a table ([profiles.NAME])");
    for (auto&& [k, v] : *p->as_table()) {
      if (!v.is_table()) fail_at(&v, "profile '" + std::string(k.str()) + "' must be a table");
      profiles.emplace_back(k.str());
    }
  }
  // Every profile is resolved, so a mistake in one that is not run today is still caught.
  for (const auto& name : profiles) resolve_profile(root, name, options);
  Suite suite = resolve_profile(root, options.profile, options);
  suite.profiles = profiles;
  suite.file_sha256 = sha256_file(path_);
  // A task's own checks (Params::fail) are input errors too: exit 2, named after the suite file.
  try {
    tasks_.find(suite.task)->validate(suite, registry_);
  } catch (const ParamError& e) {
    throw InputError(path_.string() + ": " + e.what());
  }
  return suite;
}

}  // namespace

std::vector<Gate> gates_from_resolved(const std::string& resolved_text) {
  std::vector<Gate> gates;
  const json doc = json::parse(resolved_text, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("gates")) return gates;
  for (const auto& j : doc["gates"]) {
    Gate g;
    g.metric = j.value("metric", "");
    g.scope = j.value("scope", "*");
    g.higher_is_better = j.value("better", "higher") == "higher";
    if (j.contains("abs_tolerance")) g.abs_tolerance = j["abs_tolerance"].get<double>();
    if (j.contains("rel_tolerance")) g.rel_tolerance = j["rel_tolerance"].get<double>();
    g.test = j.value("test", "none");
    g.alpha = j.value("alpha", 0.05);
    g.timing = j.value("timing", false);
    if (j.contains("objectives")) g.objectives = j["objectives"].get<std::vector<std::string>>();
    gates.push_back(g);
  }
  return gates;
}

std::string params_json(const Params& params) {
  json j = json::object();
  for (const auto& [k, v] : params.values()) j[k] = to_json(v);
  return j.dump();
}

Suite load_suite(const std::filesystem::path& path, const SuiteOptions& options,
                 const PluginRegistry& registry, const TaskCatalog& tasks) {
  return Loader(path, registry, tasks).load(options);
}

std::vector<Case> expand_cases(const Suite& suite, bool with_control) {
  std::vector<Case> cases;
  auto add = [&](const PluginUse& dataset, const PluginUse* objective, std::int64_t repeat) {
    Case c;
    c.index = cases.size();
    c.key = "dataset=" + dataset.label + "/objective=" + (objective ? objective->label : kControlLabel) +
            "/repeat=" + std::to_string(repeat);
    c.dataset = &dataset;
    c.encoder = &suite.encoder;
    c.objective = objective;
    c.repeat = repeat;
    c.seed = derive_seed(suite.seed, c.key);
    c.task_params = objective && objective->task_params ? &*objective->task_params : &suite.task_params;
    const json config{{"task", suite.task},
                      {"task_params", json::parse(params_json(*c.task_params))},
                      {"dataset", plugin_json(dataset)},
                      {"encoder", plugin_json(suite.encoder)},
                      {"objective", objective ? plugin_json(*objective) : json(kControlLabel)},
                      {"repeat", repeat},
                      {"seed", c.seed}};
    c.config_text = config.dump();
    c.config_hash = sha256_hex(c.config_text);
    cases.push_back(std::move(c));
  };
  for (const auto& dataset : suite.datasets) {
    for (std::int64_t repeat = 0; with_control && repeat < suite.repeats; ++repeat) add(dataset, nullptr, repeat);
    for (const auto& objective : suite.objectives)
      for (std::int64_t repeat = 0; repeat < suite.repeats; ++repeat) add(dataset, &objective, repeat);
  }
  return cases;
}

}  // namespace rpcbench
