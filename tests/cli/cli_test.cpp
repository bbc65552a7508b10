// The harness binary end to end: the quick MI suite into a fresh database, and each kind of bad
// input refused with exit 2 before any row is written.
#include "db/database.hpp"
#include "test_support.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstring>
#include <thread>

namespace rpcbench {
namespace {

using test::harness;
using test::run_command;

std::string suite_file(const std::string& name) { return std::string(RPCBENCH_SOURCE_DIR) + "/suites/" + name; }
std::string fixture(const std::string& name) { return std::string(RPCBENCH_FIXTURE_DIR) + "/" + name; }

std::int64_t count(const std::filesystem::path& db, const std::string& sql) {
  Database d(db, Database::Mode::read_only);
  auto s = d.prepare(sql);
  s.step();
  return s.column_int(0);
}

TEST(Cli, QuickMiSuiteRecordsEveryCaseWithProvenance) {
  test::TempDir dir;
  const auto db = dir.path() / "mi.db";
  const auto r = run_command(harness() + " run " + suite_file("mi.toml") + " --profile quick --threads 2 --db " +
                             db.string() + " --json " + (dir.path() / "mi.json").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("MI estimates on 'gaussian'"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("MI estimates on 'cubic'"), std::string::npos);
  EXPECT_NE(r.output.find("infonce (≤4.16)"), std::string::npos);  // the log N ceiling, N = 64

  EXPECT_EQ(count(db, "SELECT count(*) FROM runs WHERE status = 'finished' AND profile = 'quick' AND threads = 2 "
                      "AND length(git_sha) > 0 AND libtorch_version LIKE '1.%' AND length(cpu_model) > 0 "
                      "AND blas LIKE '%threads 2%' AND length(resolved_suite) > 100"),
            1);
  EXPECT_EQ(count(db, "SELECT count(*) FROM cases"), 16);
  EXPECT_EQ(count(db, "SELECT count(*) FROM cases WHERE status IN ('finished', 'diverged') AND length(config_hash) = 64"), 16);
  EXPECT_EQ(count(db, "SELECT count(DISTINCT seed) FROM cases"), 16);
  EXPECT_EQ(count(db, "SELECT count(*) FROM run_plugins WHERE length(file_sha256) = 64"), 10);
  // 5 levels × 150 steps of estimate, truth and loss for every finished case.
  EXPECT_EQ(count(db, "SELECT count(*) FROM samples s JOIN cases c USING (case_id) WHERE c.status = 'finished' AND s.name = 'mi'"),
            750 * count(db, "SELECT count(*) FROM cases WHERE status = 'finished'"));
  EXPECT_EQ(count(db, "SELECT count(*) FROM summaries WHERE name = 'mean' AND scope LIKE 'mi=%'"),
            5 * count(db, "SELECT count(*) FROM cases WHERE status = 'finished'"));
  EXPECT_EQ(count(db, "SELECT count(*) FROM summaries s JOIN cases c USING (case_id) WHERE c.objective = 'infonce' "
                      "AND s.name = 'mean' AND s.value > ln(64) + 1e-9"),
            0);

  std::ifstream json_file(dir.path() / "mi.json");
  const auto doc = nlohmann::json::parse(json_file);
  EXPECT_EQ(doc["cases"].size(), 16u);
  EXPECT_EQ(doc["status"], "finished");

  const auto csv = run_command(harness() + " query --db " + db.string() + " --format csv \"SELECT case_key, status FROM cases ORDER BY case_id LIMIT 2\"");
  ASSERT_EQ(csv.exit_code, 0) << csv.output;
  EXPECT_EQ(csv.output.rfind("case_key,status\ndataset=gaussian/objective=rpc/repeat=0,", 0), 0u) << csv.output;
  const auto js = run_command(harness() + " query --db " + db.string() + " --format json --suite mi");
  ASSERT_EQ(js.exit_code, 0);
  EXPECT_GT(nlohmann::json::parse(js.output).size(), 100u);
  const auto write = run_command(harness() + " query --db " + db.string() + " \"DELETE FROM runs\"");
  EXPECT_EQ(write.exit_code, 2) << write.output;
  EXPECT_NE(write.output.find("only read-only SQL"), std::string::npos);
  EXPECT_EQ(count(db, "SELECT count(*) FROM runs"), 1);
}

class BadInput : public ::testing::Test {
 protected:
  void SetUp() override { Database(db, Database::Mode::read_write); }
  // Runs the harness, expects exit 2 with `needle` in the message, and no row in the database.
  void expect_refused(const std::string& args, const std::string& needle) {
    const auto r = run_command(harness() + " run " + args + " --db " + db.string());
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos) << r.output;
    EXPECT_EQ(count(db, "SELECT count(*) FROM runs"), 0);
    EXPECT_EQ(count(db, "SELECT count(*) FROM cases"), 0);
  }
  std::string suite_with(const std::string& from, const std::string& to) {
    std::ifstream in(suite_file("mi.toml"));
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto at = text.find(from);
    EXPECT_NE(at, std::string::npos);
    return dir.write("bad.toml", text.replace(at, from.size(), to)).string();
  }
  test::TempDir dir;
  std::filesystem::path db = dir.path() / "results.db";
};

TEST_F(BadInput, MalformedToml) { expect_refused(suite_with("seed = 20210503", "seed = 2021 0503"), "bad.toml:8:"); }
TEST_F(BadInput, UnknownKey) { expect_refused(suite_with("window = 2000", "windw = 2000"), "unknown parameter 'windw'"); }
TEST_F(BadInput, WrongType) { expect_refused(suite_with("hidden = 256", "hidden = 2.5"), "must be integer, got a float"); }
TEST_F(BadInput, UnknownPlugin) { expect_refused(suite_with("plugin = \"dv\"", "plugin = \"dw\""), "unknown objective plugin 'dw' (known: chi2, dv"); }
TEST_F(BadInput, WrongAbiPlugin) { expect_refused(suite_file("mi.toml") + " --plugins " + fixture("wrong_abi"), "this harness has ABI"); }
TEST_F(BadInput, ThrowingPlugin) {
  expect_refused(suite_with("plugin = \"dv\"", "plugin = \"fixture_throws\"") + " --plugins " + fixture("throwing"),
                 "fixture constructor refuses");
}
TEST_F(BadInput, UnknownProfile) { expect_refused(suite_file("mi.toml") + " --profile quik", "unknown profile 'quik'"); }
TEST_F(BadInput, CudaOnCpuBuild) { expect_refused(suite_file("mi.toml") + " --device cuda", "--device cuda"); }
TEST_F(BadInput, MissingDatabaseDirectory) {
  const auto r = run_command(harness() + " run " + suite_file("mi.toml") + " --db " + (dir.path() / "no" / "r.db").string());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("does not exist"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "no"));
}
TEST_F(BadInput, UnwritableDatabasePath) {
  const auto r = run_command(harness() + " run " + suite_file("mi.toml") + " --db " + dir.path().string());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("cannot"), std::string::npos) << r.output;
}
TEST_F(BadInput, UsageErrors) {
  EXPECT_EQ(run_command(harness() + " run").exit_code, 2);
  EXPECT_EQ(run_command(harness() + " frobnicate").exit_code, 2);
  EXPECT_EQ(run_command(harness() + " run x.toml --threads -1").exit_code, 2);
}

TEST(Cli, HelpForEveryVerbAndListing) {
  for (const char* verb : {"", " run", " list", " query"}) {
    const auto r = run_command(harness() + verb + " --help");
    EXPECT_EQ(r.exit_code, 0) << verb;
    EXPECT_NE(r.output.find("Usage"), std::string::npos) << verb;
  }
  const auto list = run_command(harness() + " list plugins");
  ASSERT_EQ(list.exit_code, 0) << list.output;
  for (const char* name : {"rpc", "infonce", "nwj", "js", "dv", "mine", "smile", "chi2", "separable", "concat",
                           "bilinear", "gaussian_staircase"})
    EXPECT_NE(list.output.find(std::string(" ") + name + " "), std::string::npos) << name;
  const auto tasks = run_command(harness() + " list tasks");
  EXPECT_NE(tasks.output.find("batch_size"), std::string::npos);
}

}  // namespace
}  // namespace rpcbench

namespace rpcbench {
namespace {

// A run stopped by SIGTERM keeps what it recorded, marks the case it was in, and --resume runs
// only what is missing. A SIGKILLed run is marked 'killed' by the next writer.
class Interrupted : public ::testing::Test {
 protected:
  std::string suite() {
    return dir.write("long.toml", test::tiny_mi_suite("long", "[1.0]", 400000,
                                                       "[[objectives]]\nplugin = \"infonce\"\n"
                                                       "[[objectives]]\nplugin = \"dv\"\n"))
        .string();
  }
  // Starts the harness in the background, waits until it has written samples, sends `signal`.
  int run_and_signal(const std::string& suite_path, const std::string& signal) {
    const std::string pid_file = (dir.path() / "pid").string();
    run_command(harness() + " run " + suite_path + " --quiet --db " + db.string() + " > " +
                (dir.path() / "log").string() + " 2>&1 & echo $! > " + pid_file);
    std::string pid;
    std::ifstream(pid_file) >> pid;
    for (int i = 0; i < 300; ++i) {  // until the first batch of samples is committed
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const auto n = run_command("sqlite3 " + db.string() + " 'SELECT count(*) FROM samples' 2>/dev/null").output;
      if (!n.empty() && std::isdigit(static_cast<unsigned char>(n[0])) && std::stoll(n) > 0)
        break;
    }
    run_command("kill -" + signal + " " + pid);
    // Gone, or a zombie nobody reaped (state Z): either way it no longer runs. At most 30 s.
    return run_command("for i in $(seq 300); do s=$(awk '{print $3}' /proc/" + pid +
                       "/stat 2>/dev/null); case \"$s\" in ''|Z) exit 0;; esac; sleep 0.1; done; exit 1")
        .exit_code;
  }
  test::TempDir dir;
  std::filesystem::path db = dir.path() / "r.db";
};

TEST_F(Interrupted, SigtermKeepsSamplesAndMarksTheCaseKilled) {
  ASSERT_EQ(run_and_signal(suite(), "TERM"), 0);
  EXPECT_EQ(count(db, "SELECT count(*) FROM runs WHERE status = 'killed'"), 1);
  EXPECT_EQ(count(db, "SELECT count(*) FROM cases WHERE status = 'killed' AND message LIKE 'interrupted at step%'"), 1);
  EXPECT_GT(count(db, "SELECT count(*) FROM samples"), 0);
  EXPECT_EQ(count(db, "SELECT count(*) FROM cases WHERE status = 'running'"), 0);
}

TEST_F(Interrupted, SigkilledRunIsMarkedAndResumeFinishesOnlyWhatIsMissing) {
  std::string text = suite();
  std::ifstream in(text);
  std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  body.replace(body.find("400000"), 6, "3000");
  const std::string path = dir.write("short.toml", body).string();
  ASSERT_EQ(run_and_signal(path, "KILL"), 0);
  EXPECT_EQ(count(db, "SELECT count(*) FROM cases WHERE status = 'running'"), 1);  // no one could mark it
  EXPECT_GT(count(db, "SELECT count(*) FROM samples"), 0);                         // its samples are there

  const auto resumed = run_command(harness() + " run " + path + " --resume --quiet --db " + db.string());
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resuming run 1"), std::string::npos) << resumed.output;
  EXPECT_EQ(count(db, "SELECT count(*) FROM runs"), 1);
  EXPECT_EQ(count(db, "SELECT count(*) FROM runs WHERE status = 'finished'"), 1);
  EXPECT_EQ(count(db, "SELECT count(*) FROM cases WHERE status = 'finished'"), 2);
  // Each case has exactly one sample per step: the interrupted attempt's samples were replaced.
  EXPECT_EQ(count(db, "SELECT count(*) FROM samples WHERE name = 'mi'"), 2 * 3000);
}

}  // namespace
}  // namespace rpcbench

namespace rpcbench {
namespace {

TEST(CliVision, QuickProfileRecordsTheControlAndAccuracies) {
  test::TempDir dir;
  const auto db = dir.path() / "vision.db";
  const auto r = run_command(harness() + " run " + suite_file("vision.toml") + " --profile quick --quiet --db " + db.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("random_init (control)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("protocol:"), std::string::npos);
  EXPECT_EQ(count(db, "SELECT count(*) FROM cases"), 7);
  EXPECT_EQ(count(db, "SELECT count(*) FROM cases WHERE status = 'finished'"), 7);
  EXPECT_EQ(count(db, "SELECT count(*) FROM cases WHERE objective = 'random_init'"), 1);
  for (const char* metric : {"linear_top1", "knn_top1"})
    EXPECT_EQ(count(db, std::string("SELECT count(*) FROM summaries WHERE name = '") + metric + "' AND value BETWEEN 0 AND 1"), 7)
        << metric;
  // Better than chance on 10 classes even untrained; every trained case logged loss, lr, grad norm.
  EXPECT_EQ(count(db, "SELECT count(*) FROM summaries WHERE name = 'linear_top1' AND value > 0.2"), 7);
  EXPECT_EQ(count(db, "SELECT count(DISTINCT case_id) FROM samples WHERE name = 'grad_norm'"), 6);
  // RPC's entry overrides the task: unnormalised scores at temperature 128, recorded in its config.
  EXPECT_EQ(count(db, "SELECT count(*) FROM cases WHERE objective = 'rpc' AND config_text LIKE '%\"normalize\":false%' "
                      "AND config_text LIKE '%\"temperature\":128.0%'"),
            1);

  // Training learned. Every objective finds each anchor's positive among the 2N − 1 candidates
  // far more often than chance (1/(2N − 1) < 0.4 %), which a wrong pair layout cannot; InfoNCE's
  // loss ends well below chance, log(2N − 1); and every trained encoder beats the untrained
  // control on the linear probe (InfoNCE on kNN too).
  auto value = [&](const std::string& objective, const std::string& name) {
    Database d(db, Database::Mode::read_only);
    auto q = d.prepare("SELECT s.value FROM summaries s JOIN cases c USING (case_id) WHERE s.scope = '' AND c.objective = '" +
                       objective + "' AND s.name = '" + name + "'");
    EXPECT_TRUE(q.step()) << objective << " " << name;
    return q.column_double(0);
  };
  const std::int64_t n = count(db, "SELECT json_extract(config_text, '$.task_params.batch_size') FROM cases WHERE objective = 'infonce'");
  ASSERT_GE(n, 2);
  const double control_linear = value("random_init", "linear_top1"), control_knn = value("random_init", "knn_top1");
  for (const char* objective : {"rpc", "infonce", "js", "nwj", "dv", "chi2"}) {
    SCOPED_TRACE(objective);
    EXPECT_GT(value(objective, "final_pair_top1"), 0.2);
    EXPECT_GT(value(objective, "linear_top1"), control_linear);
  }
  EXPECT_LT(value("infonce", "final_loss"), 0.6 * std::log(2.0 * n - 1.0));
  EXPECT_GT(value("infonce", "knn_top1"), control_knn);
}

}  // namespace
}  // namespace rpcbench

namespace rpcbench {
namespace {

// A contrastive case stopped after its first checkpoint and resumed records exactly what an
// uninterrupted run records: every sample, bit for bit, and the same accuracies.
TEST(CliVision, CheckpointResumeEqualsAnUninterruptedRun) {
  test::TempDir a, b;
  const char* suite = R"toml([suite]
name = "ckpt"
task = "contrastive"
threads = 1
[task]
batch_size = 64
epochs = 6
linear_epochs = 2
knn_k = 20
control = false
checkpoint_every = 1
[encoder]
plugin = "convnet"
width = 8
[[datasets]]
plugin = "fashion_mnist"
train_limit = 512
test_limit = 256
[[objectives]]
plugin = "infonce"
)toml";
  const auto suite_a = a.write("s.toml", suite), suite_b = b.write("s.toml", suite);
  const auto db_a = a.path() / "r.db", db_b = b.path() / "r.db";
  ASSERT_EQ(run_command(harness() + " run " + suite_a.string() + " --quiet --db " + db_a.string()).exit_code, 0);
  EXPECT_FALSE(std::filesystem::exists(a.path() / "checkpoints") &&
               !std::filesystem::is_empty(a.path() / "checkpoints"));  // removed when the case finished

  run_command(harness() + " run " + suite_b.string() + " --quiet --db " + db_b.string() + " > " +
              (b.path() / "log").string() + " 2>&1 & echo $! > " + (b.path() / "pid").string());
  std::string pid;
  std::ifstream(b.path() / "pid") >> pid;
  bool checkpointed = false;
  for (int i = 0; i < 3000 && !checkpointed; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::error_code ec;
    if (std::filesystem::is_directory(b.path() / "checkpoints", ec))
      for (const auto& f : std::filesystem::directory_iterator(b.path() / "checkpoints"))
        checkpointed |= f.path().extension() == ".pt";
  }
  ASSERT_TRUE(checkpointed);
  run_command("kill -TERM " + pid + "; while kill -0 " + pid + " 2>/dev/null; do sleep 0.05; done");
  ASSERT_EQ(count(db_b, "SELECT count(*) FROM cases WHERE status = 'killed'"), 1);
  const auto resumed = run_command(harness() + " run " + suite_b.string() + " --resume --quiet --db " + db_b.string());
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;

  auto rows = [](const std::filesystem::path& db) {
    Database d(db, Database::Mode::read_only);
    std::vector<std::tuple<std::string, std::int64_t, double>> out;
    auto s = d.prepare("SELECT name, step, value FROM samples WHERE name NOT IN ('images_per_second') ORDER BY name, step");
    while (s.step()) out.emplace_back(s.column_text(0), s.column_int(1), s.column_double(2));
    auto v = d.prepare("SELECT name, value FROM summaries WHERE name IN ('linear_top1', 'knn_top1', 'final_loss', 'steps') ORDER BY name");
    while (v.step()) out.emplace_back(v.column_text(0), -1, v.column_double(1));
    return out;
  };
  const auto ra = rows(db_a), rb = rows(db_b);
  ASSERT_GT(ra.size(), 6u * 8u * 4u);
  ASSERT_EQ(ra.size(), rb.size());
  for (std::size_t i = 0; i < ra.size(); ++i) {
    ASSERT_EQ(std::get<0>(ra[i]), std::get<0>(rb[i]));
    ASSERT_EQ(std::get<1>(ra[i]), std::get<1>(rb[i]));
    const double x = std::get<2>(ra[i]), y = std::get<2>(rb[i]);
    ASSERT_EQ(std::memcmp(&x, &y, sizeof x), 0) << std::get<0>(ra[i]) << " at step " << std::get<1>(ra[i]);
  }
}

}  // namespace
}  // namespace rpcbench

namespace rpcbench {
namespace {

// The HTML report of a real MI run: structure validated (CI has no browser): one SVG per plot, a
// path per estimator, the truth and the InfoNCE ceiling as references, a divergence marker, and
// the provenance panel.
TEST(CliReport, MiRunGivesStaircaseBiasVarianceLossAndProvenance) {
  test::TempDir dir;
  const auto db = dir.path() / "r.db";
  const std::string suite =
      dir.write("s.toml", test::tiny_mi_suite("reported", "[1.0, 2.0, 3.0]", 30,
                                              "[[objectives]]\nplugin = \"infonce\"\n"
                                              "[[objectives]]\nplugin = \"rpc\"\n"
                                              "[[objectives]]\nplugin = \"fixture_nan\"\nlabel = \"diverges\"\n"
                                              "nan_at_call = 40\n"))
          .string();
  ASSERT_EQ(run_command(harness() + " run " + suite + " --quiet --plugins " + fixture("good") + " --db " + db.string()).exit_code, 0);
  const auto out = dir.path() / "report";
  const auto r = run_command(harness() + " report --db " + db.string() + " --out " + out.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream in(out / "index.html");
  const std::string html((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto occurrences = [&](const std::string& needle) {
    std::size_t n = 0;
    for (auto at = html.find(needle); at != std::string::npos; at = html.find(needle, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(occurrences("<svg "), 5u);  // staircase, bias, variance, loss, gradient norm
  EXPECT_EQ(occurrences("<svg "), occurrences("</svg>"));
  EXPECT_NE(html.find("MI staircase on gaussian_staircase"), std::string::npos);
  EXPECT_NE(html.find("data-name=\"true MI\""), std::string::npos);
  EXPECT_NE(html.find("ceiling log N"), std::string::npos);
  EXPECT_EQ(occurrences("class=\"divergence\""), 3u);  // on the staircase, loss and grad-norm plots
  EXPECT_GE(occurrences("class=\"bar\""), 2u * 3u);     // bias and variance: levels × finished estimators
  EXPECT_EQ(occurrences("data-name=\"infonce\""), 3u);
  // Each series path has drawing commands, not an empty d="".
  EXPECT_EQ(html.find("d=\"\""), std::string::npos);
  EXPECT_NE(html.find("<th>git_sha</th>"), std::string::npos);
  EXPECT_NE(html.find("<th>threads</th><td>1</td>"), std::string::npos);
  EXPECT_EQ(run_command(harness() + " report --db " + (dir.path() / "none.db").string()).exit_code, 2);
}

}  // namespace
}  // namespace rpcbench

namespace rpcbench {
namespace {

// A NaN loss in the contrastive task is data too: the case is diverged at its step, its message
// says nan, the control and the other objectives finish.
TEST(CliVision, NanLossMarksTheCaseDivergedAndTheSuiteGoesOn) {
  test::TempDir dir;
  const auto db = dir.path() / "r.db";
  const auto suite = dir.write("s.toml", R"toml([suite]
name = "nan"
task = "contrastive"
threads = 1
[task]
batch_size = 32
linear_epochs = 1
knn_k = 10
[encoder]
plugin = "convnet"
width = 8
[[datasets]]
plugin = "fashion_mnist"
train_limit = 128
test_limit = 64
[[objectives]]
plugin = "fixture_nan"
label = "diverges"
nan_at_call = 2
[[objectives]]
plugin = "infonce"
)toml");
  const auto r = run_command(harness() + " run " + suite.string() + " --quiet --plugins " + fixture("good") +
                             " --db " + db.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(count(db, "SELECT count(*) FROM cases WHERE objective = 'diverges' AND status = 'diverged' "
                      "AND stopped_step = 2 AND message = 'loss is nan at step 2'"),
            1);
  EXPECT_EQ(count(db, "SELECT count(*) FROM cases WHERE status = 'finished'"), 2);  // control and infonce
  EXPECT_NE(r.output.find("diverged @2"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace rpcbench
