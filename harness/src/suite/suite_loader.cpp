#include "suite/suite.hpp"

#include "tasks/task.hpp"
#include "util/errors.hpp"
#include "util/format.hpp"
#include "util/hash.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <sstream>

namespace rpcbench {
namespace {

// Why `v` is not allowed as a suite string, or nothing: see check_string.
std::optional<std::string> string_problem(const std::string& v, bool multiline) {
  if (v.size() > kMaxStringBytes)
    return " is " + std::to_string(v.size()) + " bytes long; strings are limited to " + std::to_string(kMaxStringBytes);
  for (std::size_t i = 0; i < v.size(); ++i) {
    const auto c = static_cast<unsigned char>(v[i]);
    if ((c < 0x20 && c != '\t' && !(multiline && c == '\n')) || c == 0x7f) {
      char code[8];
      std::snprintf(code, sizeof code, "U+%04X", c);
      return std::string(" holds the control character ") + code + " at byte " + std::to_string(i);
    }
    const auto next = [&](std::size_t k) { return i + k < v.size() ? static_cast<unsigned char>(v[i + k]) : 0u; };
    // UTF-8: C1 controls U+0080…U+009F (C2 80…9F); U+061C (D8 9C); U+200E, U+200F, U+2028…U+202E
    // (E2 80 8E/8F/A8…AE); U+2066…U+2069 (E2 81 A6…A9).
    const bool c1 = c == 0xc2 && next(1) >= 0x80 && next(1) <= 0x9f;
    const bool bidi = (c == 0xd8 && next(1) == 0x9c) ||
                      (c == 0xe2 && next(1) == 0x80 && (next(2) == 0x8e || next(2) == 0x8f || (next(2) >= 0xa8 && next(2) <= 0xae))) ||
                      (c == 0xe2 && next(1) == 0x81 && next(2) >= 0xa6 && next(2) <= 0xa9);
    if (c1) return " holds a C1 control character at byte " + std::to_string(i);
    if (bidi) return " holds a Unicode bidirectional control or line separator character at byte " + std::to_string(i);
  }
  return std::nullopt;
}

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

bool declares(const PluginUse& use, const std::string& name) {
  return std::any_of(use.plugin->params.begin(), use.plugin->params.end(),
                     [&](const ParamDecl& d) { return d.name == name; });
}

Params with_value(const Params& params, const std::string& key, const ParamValue& value) {
  std::map<std::string, ParamValue> values = params.values();
  values[key] = value;
  return Params(params.owner(), std::move(values));
}

class Loader {
 public:
  Loader(std::filesystem::path path, const PluginRegistry& registry, const TaskCatalog& tasks,
         std::optional<std::string> text = std::nullopt)
      : path_(std::move(path)), registry_(registry), tasks_(tasks), text_(std::move(text)) {}

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

  // A string value within kMaxStringBytes and free of control characters (tab, and newline where
  // `multiline`), of C1 controls and of the Unicode characters that can make text read otherwise
  // (bidirectional controls, line and paragraph separators).
  void check_string(const toml::node& n, const std::string& what, bool multiline) const {
    if (const auto problem = string_problem(n.as_string()->get(), multiline)) fail_at(&n, what + *problem);
  }

  std::string get_string(const Layers& t, const std::string& key, const std::string& context,
                         std::optional<std::string> fallback = std::nullopt) const {
    const toml::node* n = t.get(key);
    if (n == nullptr) {
      if (fallback) return *fallback;
      fail_at(t.where(), "missing key '" + key + "' in " + context);
    }
    if (!n->is_string()) fail_at(n, "'" + key + "' in " + context + " must be a string, got " + type_name(*n));
    check_string(*n, "'" + key + "' in " + context, key == "description");
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
      case ParamType::path:
        if (n.is_string()) {
          check_string(n, owner + ": parameter '" + decl.name + "'", decl.type == ParamType::text);
          return n.as_string()->get();
        }
        break;
      case ParamType::real_list:
        if (n.is_array()) {
          if (n.as_array()->size() > kMaxListValues)
            fail_at(&n, owner + ": parameter '" + decl.name + "' lists " + std::to_string(n.as_array()->size()) +
                            " values; lists are limited to " + std::to_string(kMaxListValues));
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
  // A path parameter: resolved against the suite's folder, the file checked and hashed now.
  std::string resolve_file(const toml::node& n, const std::string& written, const std::string& owner,
                           const std::string& key, std::map<std::string, FileParam>* files) const {
    if (written.empty()) return written;  // no file
    std::filesystem::path file(written);
    if (file.is_relative()) file = std::filesystem::absolute(path_).parent_path() / file;
    file = file.lexically_normal();
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec))
      fail_at(&n, owner + ": parameter '" + key + "': no file '" + file.string() + "'" +
                      (std::filesystem::path(written).is_relative() ? " (relative paths are read from the suite's folder)" : ""));
    if (files == nullptr) fail_at(&n, owner + ": parameter '" + key + "' is a path, which only plugins may declare");
    (*files)[key] = FileParam{written, sha256_file(file)};
    return file.string();
  }

  Params resolve(const std::vector<ParamDecl>& decls, const Layers& table,
                 const std::set<std::string>& reserved, const std::string& owner,
                 std::map<std::string, FileParam>* files = nullptr) const {
    tables_by_owner_[owner] = table;
    std::map<std::string, ParamValue> values;
    for (const ParamDecl& decl : decls) {
      if (const toml::node* n = table.get(decl.name)) {
        values[decl.name] = convert(*n, decl, owner);
        if (decl.type == ParamType::path)
          values[decl.name] = resolve_file(*n, std::get<std::string>(values[decl.name]), owner, decl.name, files);
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
        if (decl.type == ParamType::path && !std::get<std::string>(values[decl.name]).empty())
          throw InputError(owner + ": its declared default for path '" + decl.name + "' must be \"\" (no file)");
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
                         std::string(to_string(kind)) + " '" + use.label + "'", &use.files);
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
      if (kind == PluginKind::objective && use.label == kControlLabel)
        fail_at(table.get("label") != nullptr ? table.get("label") : table.get("plugin"),
                "objective label '" + use.label + "' is reserved for the control case (the untrained encoder); give "
                "this entry another 'label'");
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
      const auto where = array->get(i)->source().begin;
      g.origin = path_.string() + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) + " (" + context + ")";
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
        if (!(x >= 0.0) || !std::isfinite(x))
          fail_at(v, std::string("'") + key + "' in " + context + " must be a finite number >= 0 (a gate that can never fire is no gate)");
        if (std::string(key) == "alpha" && !(x > 0.0 && x < 1.0))
          fail_at(v, "'alpha' in " + context + " must be in (0, 1), got " + format_general(x));
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
        if (labels == nullptr || labels->empty())
          fail_at(v, "'objectives' in " + context + " must be a non-empty array of objective labels (leave it out for all)");
        for (const toml::node& label : *labels) {
          if (!label.is_string()) fail_at(&label, "'objectives' in " + context + " must hold strings");
          check_string(label, "an entry of 'objectives' in " + context, false);
          g.objectives.push_back(label.as_string()->get());
        }
      }
      gates.push_back(g);
    }
    return gates;
  }

  // [sweep]: `repeats`, and axes `NAME = [v, …]` (the one component that declares NAME) or qualified
  // `task.NAME`, `encoder.NAME`, `datasets.NAME`, `objectives.NAME`, `objectives.LABEL.NAME`.
  void resolve_sweep(Suite& suite, const Task& task, const Layers& table) const {
    const std::vector<ParamDecl> task_params = task.params();
    auto declares = [](const std::vector<ParamDecl>& decls, const std::string& name) -> const ParamDecl* {
      for (const auto& d : decls)
        if (d.name == name) return &d;
      return nullptr;
    };
    // Dotted keys (objectives.rpc.beta) are nested tables in TOML: flatten each layer, later
    // layers (the profile) overriding earlier ones key by key.
    std::vector<Layers::Item> items;
    std::function<void(const toml::table&, const std::string&)> flatten = [&](const toml::table& t, const std::string& prefix) {
      for (auto&& [k, node] : t) {
        const std::string key = prefix + std::string(k.str());
        if (const toml::table* inner = node.as_table()) {
          flatten(*inner, key + ".");
          continue;
        }
        auto it = std::find_if(items.begin(), items.end(), [&](const Layers::Item& i) { return i.key == key; });
        if (it != items.end()) *it = {key, &node, k.source()};
        else items.push_back({key, &node, k.source()});
      }
    };
    for (const toml::table* layer : table.tables) flatten(*layer, "");
    for (const auto& [key, node, key_source] : items) {
      if (key == "repeats") {
        if (!node->is_integer() || node->as_integer()->get() < 1)
          fail_at(node, "'repeats' in [sweep] must be an integer >= 1 (seeds per grid point)");
        if (node->as_integer()->get() > kMaxRepeats)
          fail_at(node, "'repeats' in [sweep] is limited to " + std::to_string(kMaxRepeats));
        if (repeats_set_in_suite_)
          fail_at(key_source, "'repeats' is set both in [suite] (or a profile's [suite]) and in [sweep]: set it in one place");
        suite.repeats = node->as_integer()->get();
        continue;
      }
      SweepAxis axis;
      axis.key = key;
      std::vector<std::string> parts;
      for (std::size_t start = 0;;) {
        const auto dot = key.find('.', start);
        parts.push_back(key.substr(start, dot - start));
        if (dot == std::string::npos) break;
        start = dot + 1;
      }
      axis.name = parts.back();
      // Which components declare the parameter, and with which declaration.
      std::vector<std::pair<SweepAxis::Target, const ParamDecl*>> found;
      auto consider = [&](SweepAxis::Target target, const std::string& label = "") {
        const ParamDecl* d = nullptr;
        if (target == SweepAxis::Target::task) d = declares(task_params, axis.name);
        if (target == SweepAxis::Target::encoder) d = declares(suite.encoder.plugin->params, axis.name);
        if (target == SweepAxis::Target::datasets)
          for (const auto& u : suite.datasets) d = d ? d : declares(u.plugin->params, axis.name);
        if (target == SweepAxis::Target::objectives)
          for (const auto& u : suite.objectives)
            if (label.empty() || u.label == label) d = d ? d : declares(u.plugin->params, axis.name);
        if (d != nullptr) found.push_back({target, d});
      };
      static const std::map<std::string, SweepAxis::Target> kTargets = {
          {"task", SweepAxis::Target::task},
          {"encoder", SweepAxis::Target::encoder},
          {"datasets", SweepAxis::Target::datasets},
          {"objectives", SweepAxis::Target::objectives}};
      if (parts.size() == 1) {
        for (const auto& [word, target] : kTargets) consider(target);
      } else if (parts.size() == 2 && kTargets.count(parts[0]) != 0) {
        consider(kTargets.at(parts[0]));
      } else if (parts.size() == 3 && parts[0] == "objectives") {
        axis.objective_label = parts[1];
        if (std::none_of(suite.objectives.begin(), suite.objectives.end(),
                         [&](const PluginUse& u) { return u.label == parts[1]; }))
          fail_at(key_source, "[sweep] key '" + key + "' names objective '" + parts[1] + "', which the suite does not have");
        consider(SweepAxis::Target::objectives, parts[1]);
      } else {
        fail_at(key_source, "[sweep] key '" + key + "' must be NAME, task.NAME, encoder.NAME, datasets.NAME, "
                            "objectives.NAME or objectives.LABEL.NAME");
      }
      if (found.empty())
        fail_at(key_source, "[sweep] key '" + key + "': no " + (parts.size() == 1 ? std::string("task, encoder, dataset or objective") : parts[0]) +
                                " parameter of this suite is called '" + axis.name + "'");
      if (found.size() > 1)
        fail_at(key_source, "[sweep] key '" + key + "' is ambiguous: several components declare '" + axis.name +
                                "'; write task." + axis.name + ", encoder." + axis.name + ", datasets." + axis.name +
                                " or objectives." + axis.name);
      axis.target = found[0].first;
      const ParamDecl& decl = *found[0].second;
      for (const SweepAxis& other : suite.sweep)
        if (other.target == axis.target && other.name == axis.name &&
            (other.objective_label.empty() || axis.objective_label.empty() || other.objective_label == axis.objective_label))
          fail_at(key_source, "[sweep] '" + key + "' and '" + other.key + "' both set parameter '" + axis.name +
                                  "': one axis per parameter (case keys would not say what ran)");
      if (!node->is_array() || node->as_array()->empty())
        fail_at(node, "[sweep] '" + key + "' must be a non-empty array of values, got " +
                          (node->is_array() ? std::string("an empty array") : type_name(*node)));
      if (decl.type == ParamType::path)
        fail_at(key_source, "[sweep] '" + key + "' is a path parameter: give each file its own entry instead");
      if (node->as_array()->size() > kMaxSweepValues)
        fail_at(node, "[sweep] '" + key + "' lists " + std::to_string(node->as_array()->size()) +
                          " values; an axis is limited to " + std::to_string(kMaxSweepValues));
      axis.numeric = decl.type == ParamType::integer || decl.type == ParamType::real;
      std::set<std::string> seen;
      for (const toml::node& item : *node->as_array()) {
        const ParamValue value = convert(item, decl, "[sweep] '" + key + "'");
        const std::string text = param_value_text(value);
        if (!seen.insert(text).second) fail_at(&item, "[sweep] '" + key + "' lists " + text + " twice");
        try {
          construct_with(suite, task, axis, value);
        } catch (const std::exception& e) {  // ParamError, or a plugin's error copied by the registry
          fail_at(&item, "[sweep] '" + key + "' = " + text + ": " + e.what());
        }
        axis.values.push_back(value);
        axis.texts.push_back(text);
      }
      suite.sweep.push_back(std::move(axis));
    }
  }

  // An objective that asks for a critic gradient penalty runs only in a task that computes one.
  void refuse_critic_penalty(const Task& task, const Objective& objective, const PluginUse& use) const {
    if (task.computes_critic_penalty()) return;
    const double lambda = objective.critic_gradient_penalty();
    if (!(lambda > 0.0)) return;
    const std::string message = "objective '" + use.label + "' asks for a critic gradient penalty (λ = " +
                                format_general(lambda) + "), which task '" + task.name() +
                                "' does not compute: only the 'mi' task scores (x, y) pairs it can differentiate";
    const auto entry = tables_by_owner_.find("objective '" + use.label + "'");
    if (entry != tables_by_owner_.end()) fail_at(entry->second.where(), message);  // at the objective's entry
    throw InputError(path_.string() + ": " + message);
  }

  // Each plugin a sweep value reaches, made once with that value (and each task-parameter value
  // checked), so a value that would be refused is an input error at its position before any work.
  void construct_with(const Suite& suite, const Task& task, const SweepAxis& axis, const ParamValue& value) const {
    switch (axis.target) {
      case SweepAxis::Target::task:  // in each objective's own task parameters too
        task.check_params(with_value(suite.task_params, axis.name, value));
        for (const auto& o : suite.objectives)
          if (o.task_params) task.check_params(with_value(*o.task_params, axis.name, value));
        return;
      case SweepAxis::Target::objectives:
        for (const auto& o : suite.objectives)
          if ((axis.objective_label.empty() || axis.objective_label == o.label) && declares(o, axis.name)) {
            refuse_critic_penalty(task, *registry_.make_objective(*o.plugin, with_value(o.params, axis.name, value)), o);
          }
        return;
      case SweepAxis::Target::datasets:
        for (const auto& d : suite.datasets)
          if (declares(d, axis.name)) registry_.make_dataset(*d.plugin, with_value(d.params, axis.name, value));
        return;
      case SweepAxis::Target::encoder: {
        const auto dataset = registry_.make_dataset(*suite.datasets.front().plugin, suite.datasets.front().params);
        registry_.make_encoder(*suite.encoder.plugin, with_value(suite.encoder.params, axis.name, value),
                               dataset->spec().input);
        return;
      }
    }
  }

  // A ParamError's message names its owner and key ("dataset 'cubic': parameter 'mi_levels' …",
  // from Params::fail, also when a plugin threw it); the key's position in the profile resolved
  // last makes it an input error at file:line:col.
  [[noreturn]] void fail_located(const std::string& message) const {
    static const std::regex pattern("((?:task|objective|encoder|dataset) '[^']+'(?: for objective '[^']+')?): parameter '([^']+)'");
    std::smatch m;
    if (std::regex_search(message, m, pattern)) {
      auto it = tables_by_owner_.find(m[1].str());
      if (it != tables_by_owner_.end()) {
        for (const auto& item : it->second.items())
          if (item.key == m[2].str()) fail_at(item.node->source(), message);
        fail_at(it->second.where(), message);  // a default value: point at the entry
      }
    }
    throw InputError(message);
  }

  std::filesystem::path path_;
  const PluginRegistry& registry_;
  const TaskCatalog& tasks_;
  std::optional<std::string> text_;  // the suite's text when it is not read from path_
  mutable std::map<std::string, Layers> tables_by_owner_;
  mutable bool repeats_set_in_suite_ = false;
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
  // A file is its content (its hash), not where it is kept: the path goes to the run's provenance.
  for (const auto& [key, file] : use.files) j["params"][key] = {{"sha256", file.sha256}};
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
    allow_keys(Layers{{profile}}, {"description", "suite", "task", "encoder", "datasets", "objectives", "sweep"},
               "[profiles." + profile_name + "]");
  }

  Suite suite;
  suite.path = path_;
  suite.profile = profile_name;

  Layers head{{&require_table(root, "suite", "suite")}};
  if (const toml::table* o = profile_part(profile, "suite", profile_name)) {
    allow_keys(Layers{{o}}, {"seed", "repeats", "threads", "ensemble"}, "[profiles." + profile_name + ".suite]");
    head.tables.push_back(o);
  }
  allow_keys(head, {"name", "task", "description", "seed", "repeats", "threads", "ensemble", "evidence"}, "[suite]");
  suite.name = get_string(head, "name", "[suite]");
  suite.task = get_string(head, "task", "[suite]");
  suite.description = get_string(head, "description", "[suite]", std::string());
  suite.seed = static_cast<std::uint64_t>(get_int(head, "seed", "[suite]", 0, 0));
  if (options.seed) suite.seed = *options.seed;
  suite.repeats = get_int(head, "repeats", "[suite]", 1, 1);
  if (suite.repeats > kMaxRepeats) fail_at(head.get("repeats"), "'repeats' in [suite] is limited to " + std::to_string(kMaxRepeats));
  repeats_set_in_suite_ = head.get("repeats") != nullptr;
  suite.threads = get_int(head, "threads", "[suite]", 0, 0);
  suite.ensemble = get_string(head, "ensemble", "[suite]", std::string("auto"));
  if (suite.ensemble != "auto" && suite.ensemble != "off")
    fail_at(head.get("ensemble"), "'ensemble' in [suite] must be \"auto\" or \"off\", got \"" + suite.ensemble + "\"");
  if (const toml::node* e = head.get("evidence")) {
    // The claims of `harness claims` these results bear on.
    static const std::set<std::string> kEvidence = {"stability", "batch_size", "mi_estimation"};
    const toml::array* list = e->as_array();
    if (list == nullptr) fail_at(e, "'evidence' in [suite] must be an array of claim names");
    for (const toml::node& item : *list) {
      if (!item.is_string() || kEvidence.count(item.as_string()->get()) == 0)
        fail_at(&item, "'evidence' in [suite] holds \"stability\", \"batch_size\" or \"mi_estimation\"");
      suite.evidence.push_back(item.as_string()->get());
    }
  }

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
  // A profile's [[profiles.P.objectives]] array replaces the suite's list (e.g. a tuning grid, one
  // labelled entry per point); a [profiles.P.objectives.LABEL] table overrides one entry's keys.
  const toml::node* own_objectives = profile != nullptr ? profile->get("objectives") : nullptr;
  if (own_objectives != nullptr && own_objectives->is_array())
    suite.objectives = resolve_list(PluginKind::objective, *profile, "objectives", nullptr, nullptr, &task_overrides);
  else
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
  Layers sweep_table{{&kEmpty}};
  if (const toml::node* t = root.get("sweep")) {
    if (!t->is_table()) fail_at(t, "'sweep' must be a table ([sweep])");
    sweep_table.tables = {t->as_table()};
  }
  if (const toml::table* o = profile_part(profile, "sweep", profile_name)) sweep_table.tables.push_back(o);
  // Before the grid, so that an objective the task cannot serve is refused for itself rather than
  // at the first sweep value that reaches it.
  try {
    // Only a task without the penalty needs the objectives made here (validate makes them anyway).
    if (!task->computes_critic_penalty())
      for (const auto& o : suite.objectives) refuse_critic_penalty(*task, *registry_.make_objective(*o.plugin, o.params), o);
  } catch (const ParamError& e) {
    fail_located(e.what());
  } catch (const InputError& e) {
    const std::string message = e.what();
    if (message.rfind(path_.string() + ":", 0) == 0) throw;
    fail_located(message);
  }
  resolve_sweep(suite, *task, sweep_table);
  // Before anything is expanded: datasets × (objectives + a control) × every axis × repeats.
  double cases = static_cast<double>(suite.datasets.size()) * static_cast<double>(suite.objectives.size() + 1) *
                 static_cast<double>(suite.repeats);
  for (const SweepAxis& axis : suite.sweep) cases *= static_cast<double>(axis.values.size());
  if (cases > kMaxCases)
    fail_at(root.get("sweep") != nullptr ? root.get("sweep") : head.where(),
            "the grid makes up to " + format_general(cases) + " cases (datasets × objectives × sweep values × repeats); "
            "a suite is limited to " + format_general(kMaxCases));
  try {
    task->check_params(suite.task_params);
    for (const auto& o : suite.objectives)
      if (o.task_params) task->check_params(*o.task_params);
  } catch (const ParamError& e) {
    fail_located(e.what());
  }

  json resolved{{"suite", {{"name", suite.name}, {"task", suite.task}, {"profile", suite.profile},
                           {"seed", suite.seed}, {"repeats", suite.repeats}}},
                {"task", json::parse(params_json(suite.task_params))},
                {"encoder", plugin_json(suite.encoder)},
                {"datasets", json::array()},
                {"objectives", json::array()}};
  for (const auto& d : suite.datasets) resolved["datasets"].push_back(plugin_json(d));
  for (const auto& o : suite.objectives) resolved["objectives"].push_back(plugin_json(o));
  if (!suite.evidence.empty()) resolved["suite"]["evidence"] = suite.evidence;
  for (const SweepAxis& axis : suite.sweep) {
    json values = json::array();
    for (const ParamValue& v : axis.values) values.push_back(to_json(v));
    resolved["sweep"].push_back({{"key", axis.key}, {"values", values}});
  }
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
  if (!text_ && !std::filesystem::is_regular_file(path_, ec))
    throw InputError(path_.string() + ": suite file does not exist or is not a file");
  const std::uintmax_t bytes = text_ ? text_->size() : std::filesystem::file_size(path_, ec);
  if (bytes > kMaxSuiteFileBytes)
    throw InputError(path_.string() + ": suite file is " + std::to_string(bytes) + " bytes; suites are limited to " +
                     std::to_string(kMaxSuiteFileBytes));
  toml::table root;
  try {
    root = text_ ? toml::parse(*text_, path_.string()) : toml::parse_file(path_.string());
  } catch (const toml::parse_error& e) {
    throw InputError(path_.string() + ":" + std::to_string(e.source().begin.line) + ":" +
                     std::to_string(e.source().begin.column) + ": TOML syntax error: " +
                     std::string(e.description()));
  }
  allow_keys(Layers{{&root}}, {"suite", "task", "encoder", "datasets", "objectives", "profiles", "gates", "sweep"},
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
  suite.file_sha256 = text_ ? sha256_hex(*text_) : sha256_file(path_);
  try {
    tasks_.find(suite.task)->validate(suite, registry_);
  } catch (const ParamError& e) {
    fail_located(e.what());
  } catch (const InputError& e) {
    const std::string message = e.what();
    if (message.rfind(path_.string() + ":", 0) == 0) throw;  // already placed
    fail_located(message);
  }
  return suite;
}

}  // namespace

namespace {

std::vector<std::string> components(const std::string& key) {
  std::vector<std::string> out;
  for (std::size_t start = 0;;) {
    const auto slash = key.find('/', start);
    out.push_back(key.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) return out;
    start = slash + 1;
  }
}

}  // namespace

std::string case_group(const std::string& key) { return with_component(key, "repeat", ""); }

std::string key_component(const std::string& key, const std::string& name) {
  for (const auto& c : components(key))
    if (c.size() > name.size() && c.compare(0, name.size(), name) == 0 && c[name.size()] == '=') return c.substr(name.size() + 1);
  return "";
}

std::string with_component(const std::string& key, const std::string& name, const std::string& value) {
  std::string out;
  for (const auto& c : components(key)) {
    const bool match = c.size() > name.size() && c.compare(0, name.size(), name) == 0 && c[name.size()] == '=';
    if (match && value.empty()) continue;
    out += (out.empty() ? "" : "/") + (match ? name + "=" + value : c);
  }
  return out;
}

std::string param_value_text(const ParamValue& v) {
  if (const auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  if (const auto* i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
  if (const auto* d = std::get_if<double>(&v)) return fmt::format("{}", *d);
  if (const auto* t = std::get_if<std::string>(&v)) return *t;
  std::string out = "[";
  for (double d : std::get<std::vector<double>>(v)) out += (out.size() > 1 ? "," : "") + fmt::format("{}", d);
  return out + "]";
}

std::vector<std::filesystem::path> suite_group_members(const std::filesystem::path& path) {
  std::error_code ec;
  const auto canonical = std::filesystem::weakly_canonical(path, ec);
  if (!std::filesystem::is_regular_file(path, ec))
    throw InputError(path.string() + ": suite file does not exist or is not a file");
  if (const auto bytes = std::filesystem::file_size(path, ec); bytes > kMaxSuiteFileBytes)
    throw InputError(path.string() + ": suite file is " + std::to_string(bytes) + " bytes; suites are limited to " +
                     std::to_string(kMaxSuiteFileBytes));
  toml::table root;
  try {
    root = toml::parse_file(path.string());
  } catch (const toml::parse_error& e) {
    throw InputError(path.string() + ":" + std::to_string(e.source().begin.line) + ":" +
                     std::to_string(e.source().begin.column) + ": TOML syntax error: " + std::string(e.description()));
  }
  const toml::table* head = root["suite"].as_table();
  const toml::node* members = head != nullptr ? head->get("members") : nullptr;
  if (members == nullptr) return {};
  auto fail = [&](const toml::node& n, const std::string& message) {
    throw InputError(path.string() + ":" + std::to_string(n.source().begin.line) + ":" +
                     std::to_string(n.source().begin.column) + ": " + message);
  };
  for (auto&& [key, node] : root)
    if (key.str() != "suite") fail(node, "a suite group has only a [suite] table with `members`; '" + std::string(key.str()) + "' belongs in a member suite");
  for (auto&& [key, node] : *head)
    if (key.str() != "name" && key.str() != "description" && key.str() != "members")
      fail(node, "unknown key '" + std::string(key.str()) + "' in the [suite] of a suite group (known: description, members, name)");
  for (const char* key : {"name", "description"})
    if (const toml::node* n = head->get(key)) {
      if (!n->is_string()) fail(*n, std::string("'") + key + "' in the [suite] of a suite group must be a string");
      if (const auto problem = string_problem(n->as_string()->get(), std::string(key) == "description"))
        fail(*n, std::string("'") + key + "' in [suite]" + *problem);
    }
  const toml::array* list = members->as_array();
  if (list == nullptr || list->empty()) fail(*members, "'members' must be a non-empty array of suite files");
  std::vector<std::filesystem::path> paths;
  for (const toml::node& item : *list) {
    if (!item.is_string()) fail(item, "'members' must hold suite file names (strings)");
    const std::filesystem::path member = path.parent_path() / item.as_string()->get();
    if (!std::filesystem::is_regular_file(member, ec)) fail(item, "member suite '" + member.string() + "' does not exist");
    const auto member_canonical = std::filesystem::weakly_canonical(member, ec);
    if (member_canonical == canonical) fail(item, "a group cannot list itself");
    for (const auto& earlier : paths)
      if (std::filesystem::weakly_canonical(earlier, ec) == member_canonical)
        fail(item, "member '" + member.string() + "' is listed twice");
    // Groups do not nest (so no cycle can form): a member is an ordinary suite.
    const toml::table member_root = [&] {
      try {
        return toml::parse_file(member.string());
      } catch (const toml::parse_error& e) {
        throw InputError(member.string() + ":" + std::to_string(e.source().begin.line) + ":" +
                         std::to_string(e.source().begin.column) + ": TOML syntax error: " + std::string(e.description()));
      }
    }();
    if (const toml::table* member_head = member_root["suite"].as_table(); member_head && member_head->get("members"))
      fail(item, "member '" + member.string() + "' is itself a group (groups do not nest)");
    paths.push_back(member);
  }
  return paths;
}

void check_resolved_suite(const json& r, const std::string& where) {
  auto fail = [&](const std::string& at, const std::string& what) { throw InputError(where + at + ": " + what); };
  auto object = [&](const json& parent, const char* key, const std::string& at) -> const json& {
    if (!parent.contains(key) || !parent.at(key).is_object()) fail(at, std::string("missing object '") + key + "'");
    return parent.at(key);
  };
  auto array = [&](const json& parent, const char* key, const std::string& at, bool required) {
    if (!parent.contains(key)) {
      if (required) fail(at, std::string("missing array '") + key + "'");
      return;
    }
    if (!parent.at(key).is_array()) fail(at + "/" + key, "expected an array");
  };
  auto typed = [&](const json& parent, const char* key, const std::string& at, const char* kind, bool required) {
    if (!parent.contains(key)) {
      if (required) fail(at, std::string("missing ") + kind + " '" + key + "'");
      return;
    }
    const json& v = parent.at(key);
    const std::string k = kind;
    const bool ok = k == "string" ? v.is_string() : k == "integer" ? v.is_number_integer() : k == "number" ? v.is_number() : v.is_boolean();
    if (!ok) fail(at + "/" + key, std::string(k == "integer" ? "expected an " : "expected a ") + k);
  };
  if (!r.is_object()) fail("", "expected an object (the resolved suite)");
  const json& suite = object(r, "suite", "");
  for (const char* key : {"name", "task", "profile"}) typed(suite, key, "/suite", "string", true);
  typed(suite, "seed", "/suite", "integer", true);
  typed(suite, "repeats", "/suite", "integer", true);
  const auto repeats = suite.at("repeats").get<std::int64_t>();
  if (repeats < 1 || repeats > kMaxRepeats) fail("/suite/repeats", "must be in 1 … " + std::to_string(kMaxRepeats));
  array(suite, "evidence", "/suite", false);
  if (suite.contains("evidence"))
    for (const auto& e : suite.at("evidence"))
      if (!e.is_string()) fail("/suite/evidence", "expected strings");
  object(r, "task", "");
  object(r, "encoder", "");
  for (const char* key : {"datasets", "objectives"}) {
    array(r, key, "", true);
    for (const auto& entry : r.at(key))
      if (!entry.is_object()) fail(std::string("/") + key, "expected objects");
  }
  array(r, "sweep", "", false);
  if (r.contains("sweep"))
    for (std::size_t i = 0; i < r.at("sweep").size(); ++i) {
      const json& axis = r.at("sweep").at(i);
      const std::string at = "/sweep/" + std::to_string(i);
      if (!axis.is_object()) fail(at, "expected {key, values}");
      typed(axis, "key", at, "string", true);
      array(axis, "values", at, true);
      if (axis.at("values").empty()) fail(at + "/values", "is empty");
      for (const auto& v : axis.at("values"))
        if (!v.is_number() && !v.is_string() && !v.is_boolean()) fail(at + "/values", "expected numbers, strings or booleans");
    }
  array(r, "gates", "", false);
  if (r.contains("gates"))
    for (std::size_t i = 0; i < r.at("gates").size(); ++i) {
      const json& g = r.at("gates").at(i);
      const std::string at = "/gates/" + std::to_string(i);
      if (!g.is_object()) fail(at, "expected an object");
      typed(g, "metric", at, "string", true);
      for (const char* key : {"scope", "better", "test"}) typed(g, key, at, "string", false);
      for (const char* key : {"abs_tolerance", "rel_tolerance", "alpha"}) typed(g, key, at, "number", false);
      typed(g, "timing", at, "boolean", false);
      array(g, "objectives", at, false);
      if (g.contains("objectives"))
        for (const auto& o : g.at("objectives"))
          if (!o.is_string()) fail(at + "/objectives", "expected strings");
    }
}

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
    g.origin = "[[gates]] #" + std::to_string(gates.size() + 1);
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

Params declared_params(const PluginDescriptor& plugin, const std::map<std::string, ParamValue>& overrides) {
  const std::string owner = std::string(to_string(plugin.kind)) + " '" + plugin.name + "'";
  std::map<std::string, ParamValue> values = overrides;
  for (const ParamDecl& decl : plugin.params) {
    if (values.count(decl.name) != 0) continue;
    if (decl.required) throw InputError(owner + ": missing required parameter '" + decl.name + "' (" + decl.help + ")");
    toml::table parsed;
    try {
      parsed = toml::parse("v = " + decl.default_value);
    } catch (const toml::parse_error& e) {
      throw InputError(owner + ": its declared default for '" + decl.name + "' is not valid TOML");
    }
    const toml::node& v = *parsed.get("v");
    if (v.is_boolean()) values[decl.name] = v.as_boolean()->get();
    else if (v.is_integer() && decl.type == ParamType::integer) values[decl.name] = v.as_integer()->get();
    else if (v.is_integer() || v.is_floating_point()) values[decl.name] = v.value<double>().value();
    else if (v.is_string()) values[decl.name] = v.as_string()->get();
    else if (v.is_array()) {
      std::vector<double> list;
      for (const auto& item : *v.as_array()) list.push_back(item.value<double>().value_or(NAN));
      values[decl.name] = list;
    } else {
      throw InputError(owner + ": its declared default for '" + decl.name + "' has an unsupported type");
    }
  }
  return Params(owner, std::move(values));
}

Suite load_suite_text(const std::string& text, const std::filesystem::path& origin, const SuiteOptions& options,
                      const PluginRegistry& registry, const TaskCatalog& tasks) {
  return Loader(origin, registry, tasks, text).load(options);
}

namespace {

bool applies(const SweepAxis& axis, const PluginUse& dataset, const PluginUse* objective, bool control) {
  switch (axis.target) {
    case SweepAxis::Target::task: return !control;  // the control does not train
    case SweepAxis::Target::encoder: return true;
    case SweepAxis::Target::datasets: return declares(dataset, axis.name);
    case SweepAxis::Target::objectives:
      if (objective == nullptr) return false;
      if (!axis.objective_label.empty() && axis.objective_label != objective->label) return false;
      return declares(*objective, axis.name);
  }
  return false;
}

}  // namespace

std::vector<Case> expand_cases(const Suite& suite, bool with_control) {
  std::vector<Case> cases;
  auto add = [&](const PluginUse& dataset, const PluginUse* objective) {
    const bool control = objective == nullptr;
    std::vector<const SweepAxis*> axes;
    for (const auto& axis : suite.sweep)
      if (applies(axis, dataset, objective, control)) axes.push_back(&axis);
    // Every point of the applicable axes, the first axis varying slowest.
    std::vector<std::size_t> at(axes.size(), 0);
    while (true) {
      auto data = std::make_shared<PluginUse>(dataset);
      auto encoder = std::make_shared<PluginUse>(suite.encoder);
      std::shared_ptr<PluginUse> obj = control ? nullptr : std::make_shared<PluginUse>(*objective);
      Params task_params = objective && objective->task_params ? *objective->task_params : suite.task_params;
      std::vector<Coordinate> coordinates;
      for (std::size_t i = 0; i < axes.size(); ++i) {
        const SweepAxis& axis = *axes[i];
        const ParamValue& v = axis.values[at[i]];
        switch (axis.target) {
          case SweepAxis::Target::task: task_params = with_value(task_params, axis.name, v); break;
          case SweepAxis::Target::encoder: encoder->params = with_value(encoder->params, axis.name, v); break;
          case SweepAxis::Target::datasets: data->params = with_value(data->params, axis.name, v); break;
          case SweepAxis::Target::objectives: obj->params = with_value(obj->params, axis.name, v); break;
        }
        double number = NAN;
        if (const auto* iv = std::get_if<std::int64_t>(&v)) number = static_cast<double>(*iv);
        if (const auto* dv = std::get_if<double>(&v)) number = *dv;
        coordinates.push_back({axis.key, axis.texts[at[i]], number});
      }
      if (obj && objective->task_params) obj->task_params = task_params;
      std::string group = "dataset=" + dataset.label + "/objective=" + (control ? kControlLabel : objective->label);
      for (const auto& c : coordinates) group += "/" + c.axis + "=" + c.value;
      for (std::int64_t repeat = 0; repeat < suite.repeats; ++repeat) {
        Case c;
        c.index = cases.size();
        c.group = group;
        c.key = group + "/repeat=" + std::to_string(repeat);
        c.dataset = data;
        c.encoder = encoder;
        c.objective = obj;
        c.repeat = repeat;
        c.seed = derive_seed(suite.seed, c.key);
        c.task_params = std::make_shared<Params>(task_params);
        c.coordinates = coordinates;
        const json config{{"task", suite.task},
                          {"task_params", json::parse(params_json(*c.task_params))},
                          {"dataset", plugin_json(*data)},
                          {"encoder", plugin_json(*encoder)},
                          {"objective", obj ? plugin_json(*obj) : json(kControlLabel)},
                          {"repeat", repeat},
                          {"seed", c.seed}};
        c.config_text = config.dump();
        c.config_hash = sha256_hex(c.config_text);
        cases.push_back(std::move(c));
      }
      std::size_t i = axes.size();
      while (i > 0 && ++at[i - 1] == axes[i - 1]->values.size()) at[--i] = 0;
      if (i == 0) break;
    }
  };
  for (const auto& dataset : suite.datasets) {
    if (with_control) add(dataset, nullptr);
    for (const auto& objective : suite.objectives) add(dataset, &objective);
  }
  return cases;
}

}  // namespace rpcbench
