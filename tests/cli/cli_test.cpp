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
                      "AND length(git_sha) > 0 AND libtorch_version = '" TORCH_VERSION "' AND length(cpu_model) > 0 "
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

  // Provenance: the commit the binary was built from, the checkout's, and whether they match.
  const std::string head = run_command("git -C " + std::string(RPCBENCH_SOURCE_DIR) + " rev-parse HEAD").output;
  Database ro(db, Database::Mode::read_only);
  auto p = ro.prepare("SELECT git_sha, json_extract(provenance, '$.checkout_git_sha'), "
                      "json_extract(provenance, '$.build_matches_checkout'), json_extract(provenance, '$.git_sha') FROM runs");
  ASSERT_TRUE(p.step());
  EXPECT_EQ(p.column_text(0), p.column_text(3));
  EXPECT_EQ(p.column_text(1) + "\n", head);
  const std::string matches = p.column_text(2);
  if (p.column_text(0) != p.column_text(1)) EXPECT_EQ(matches, "no");
  else EXPECT_NE(matches, "no");

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

// `query` runs one read-only statement on its one database, streams at most --limit rows (1000
// by default in the table format) and stops at --timeout, saying so each time.
TEST(Cli, QueryRunsOneStatementWithinItsLimits) {
  test::TempDir dir;
  const auto db = dir.path() / "q.db";
  Database(db, Database::Mode::read_write);
  const std::string q = harness() + " query --db " + db.string() + " ";
  const std::string endless = "\"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) ";

  const auto two = run_command(q + "\"SELECT 1; DROP TABLE runs\"");
  EXPECT_EQ(two.exit_code, 2) << two.output;
  EXPECT_NE(two.output.find("runs one statement; found more after the first: DROP TABLE runs"), std::string::npos)
      << two.output;
  for (const char* fine : {"\"SELECT 1;\"", "\"SELECT 1; -- a comment\"", "\"SELECT 1 ;; \""}) {
    const auto r = run_command(q + "-f csv " + fine);
    EXPECT_EQ(r.exit_code, 0) << fine << ": " << r.output;
    EXPECT_EQ(r.output, "1\n1\n") << fine;
  }
  const auto attach = run_command(q + "\"ATTACH '" + (dir.path() / "other.db").string() + "' AS other\"");
  EXPECT_EQ(attach.exit_code, 2) << attach.output;
  EXPECT_NE(attach.output.find("ATTACH and DETACH are refused"), std::string::npos) << attach.output;
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "other.db"));

  const auto table = run_command(q + endless + "SELECT i FROM n\"");
  EXPECT_EQ(table.exit_code, 0) << table.output.substr(0, 500);
  EXPECT_NE(table.output.find("1000 row(s) (cut at --limit 1000)"), std::string::npos);
  EXPECT_NE(table.output.find("query: output cut at --limit 1000 row(s); more rows follow"), std::string::npos);
  EXPECT_EQ(table.output.find("\n1001 "), std::string::npos);

  const auto csv = run_command(q + "-f csv --limit 3 " + endless + "SELECT i FROM n\"");
  EXPECT_EQ(csv.exit_code, 0);
  EXPECT_EQ(csv.output, "i\n1\n2\n3\nquery: output cut at --limit 3 row(s); more rows follow (--limit 0 for all)\n");
  const auto exact = run_command(q + "-f csv --limit 3 \"SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9\"");
  EXPECT_EQ(exact.output, "7\n7\n8\n9\n") << exact.output;  // all of it: no note

  const auto json = run_command(q + "-f json --limit 4 " + endless + "SELECT i, 'x' AS t FROM n\"");
  ASSERT_EQ(json.exit_code, 0) << json.output;
  const auto note = json.output.find("query: output cut at --limit 4");  // stderr, after the JSON on stdout
  ASSERT_NE(note, std::string::npos) << json.output;
  const auto rows = nlohmann::json::parse(json.output.substr(0, note));
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[3]["i"], 4);
  EXPECT_EQ(rows[3]["t"], "x");
  EXPECT_EQ(nlohmann::json::parse(run_command(q + "-f json \"SELECT 1 WHERE 0\"").output).size(), 0u);

  const auto start = std::chrono::steady_clock::now();
  const auto stopped = run_command(q + "--timeout 1 " + endless + "SELECT count(*) FROM n\"");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(stopped.exit_code, 1) << stopped.output;
  EXPECT_NE(stopped.output.find("query: stopped after --timeout 1 s"), std::string::npos) << stopped.output;
  EXPECT_LT(seconds, 60.0);  // not a timing test: it ends at all
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
// Grid values are checked against the data like [task] values, before any work.
TEST_F(BadInput, VisionGridValuesThatCannotRun) {
  std::ifstream in(suite_file("vision.toml"));
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  expect_refused(dir.write("v1.toml", text + "\n[sweep]\ntask.validation_fraction = [0.2, 0.000001]\n").string() +
                     " --profile quick",
                 "holds out no image of dataset 'fashion_mnist' (4096 training images)");
  expect_refused(dir.write("v2.toml", text + "\n[sweep]\ntask.batch_size = [64, 8192]\n").string() + " --profile quick",
                 "has 4096 training images, fewer than a batch of 8192");
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
  // A negative run id used to mean "the latest": it is refused, as is 0 (ids start at 1).
  for (const char* verb : {"report", "export", "claims"})
    for (const char* id : {"-5", "0"}) {
      const auto r = run_command(harness() + " " + verb + " --run " + id);
      EXPECT_EQ(r.exit_code, 2) << verb << " --run " << id << ": " << r.output;
    }
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
    return stop(start(suite_path), signal);
  }
  // Starts the harness in the background and returns its pid once it has committed samples.
  std::string start(const std::string& suite_path) {
    const std::string pid_file = (dir.path() / "pid").string();
    // One case at a time (--ensemble off): the run is stopped inside its first case.
    run_command(harness() + " run " + suite_path + " --quiet --ensemble off --db " + db.string() + " > " +
                (dir.path() / "log").string() + " 2>&1 & echo $! > " + pid_file);
    std::string pid;
    std::ifstream(pid_file) >> pid;
    for (int i = 0; i < 300; ++i) {  // until the first batch of samples is committed
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const auto n = run_command("sqlite3 " + db.string() + " 'SELECT count(*) FROM samples' 2>/dev/null").output;
      if (!n.empty() && std::isdigit(static_cast<unsigned char>(n[0])) && std::stoll(n) > 0)
        break;
    }
    return pid;
  }
  int stop(const std::string& pid, const std::string& signal) {
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

TEST_F(Interrupted, ResumingARunThatIsStillRunningIsRefused) {
  const std::string path = suite();
  const std::string pid = start(path);
  const auto second = run_command(harness() + " run " + path + " --resume --ensemble off --quiet --db " + db.string());
  EXPECT_EQ(second.exit_code, 2) << second.output;
  EXPECT_NE(second.output.find("still running under pid " + pid), std::string::npos) << second.output;
  ASSERT_EQ(stop(pid, "TERM"), 0);
  EXPECT_EQ(count(db, "SELECT count(*) FROM runs"), 1);
  EXPECT_EQ(count(db, "SELECT count(*) FROM cases"), 1);  // the refused process wrote nothing
}

TEST(Cli, ConcurrentRunsOnANewDatabaseLoseNothing) {
  // Four processes create, migrate and fill one new database at the same moment.
  test::TempDir dir;
  const std::string suite = dir.write("s.toml", test::tiny_mi_suite("concurrent", "[1.0, 2.0]", 300,
                                                                    "[[objectives]]\nplugin = \"infonce\"\n"
                                                                    "[[objectives]]\nplugin = \"rpc\"\n"))
                                .string();
  const auto db = dir.path() / "shared.db";
  std::string script;
  for (int i = 0; i < 4; ++i)
    script += "( " + harness() + " run " + suite + " --quiet --db " + db.string() + " > " + (dir.path() / ("log" + std::to_string(i))).string() +
              " 2>&1; echo $? > " + (dir.path() / ("rc" + std::to_string(i))).string() + " ) & ";
  run_command(script + "wait");
  for (int i = 0; i < 4; ++i) {
    std::ifstream rc(dir.path() / ("rc" + std::to_string(i))), log(dir.path() / ("log" + std::to_string(i)));
    int code = -1;
    rc >> code;
    const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
    EXPECT_EQ(code, 0) << "process " << i << ": " << text;
  }
  EXPECT_EQ(count(db, "SELECT count(*) FROM runs WHERE status = 'finished'"), 4);
  EXPECT_EQ(count(db, "SELECT count(*) FROM cases WHERE status = 'finished'"), 8);
  EXPECT_EQ(count(db, "SELECT count(*) FROM samples WHERE name = 'mi'"), 8 * 600);
  EXPECT_EQ(count(db, "SELECT count(*) FROM summaries WHERE name = 'mean'"), 8 * 2);
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

  const auto resumed = run_command(harness() + " run " + path + " --resume --ensemble off --quiet --db " + db.string());
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
  // An objective's own task settings (its tuned temperature) are in its recorded config; the
  // others keep the suite's.
  for (const auto& [objective, temperature] : std::vector<std::pair<std::string, std::string>>{
           {"rpc", "0.5"}, {"js", "0.5"}, {"chi2", "0.1"}, {"infonce", "0.2"}, {"nwj", "0.2"}, {"dv", "0.2"}})
    EXPECT_EQ(count(db, "SELECT count(*) FROM cases WHERE objective = '" + objective +
                            "' AND json_extract(config_text, '$.task_params.temperature') = " + temperature),
              1)
        << objective;

  // Training learned. Over its last 20 steps every objective finds each anchor's positive among
  // the 2N − 1 candidates at least ten times as often as chance (1/(2N − 1)), which a wrong pair
  // layout cannot; InfoNCE's loss ends well below chance, log(2N − 1); and every trained encoder
  // beats the untrained control on the linear probe (InfoNCE on kNN too).
  auto late_pair_top1 = [&](const std::string& objective) {
    Database d(db, Database::Mode::read_only);
    auto q = d.prepare("SELECT avg(value), count(*) FROM (SELECT s.value FROM samples s JOIN cases c USING (case_id) "
                       "WHERE c.objective = '" + objective + "' AND s.name = 'pair_top1' ORDER BY s.step DESC LIMIT 20)");
    EXPECT_TRUE(q.step());
    EXPECT_EQ(q.column_int(1), 20) << objective;
    return q.column_double(0);
  };
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
    EXPECT_GT(late_pair_top1(objective), 10.0 / (2.0 * n - 1.0));
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
// Ticks at round numbers: evenly spaced by 1, 2 or 5 × 10^k.
void expect_round_ticks(const std::string& svg_text) {
  std::vector<double> ticks;
  const std::string needle = "class=\"ytick\"";
  for (auto at = svg_text.find(needle); at != std::string::npos; at = svg_text.find(needle, at + 1)) {
    const auto open = svg_text.find('>', at), close = svg_text.find('<', open);
    ticks.push_back(std::stod(svg_text.substr(open + 1, close - open - 1)));
  }
  ASSERT_GE(ticks.size(), 3u) << svg_text.substr(0, 400);
  const double step = ticks[1] - ticks[0];
  const double mantissa = step / std::pow(10.0, std::floor(std::log10(step)));
  EXPECT_TRUE(std::abs(mantissa - 1) < 1e-6 || std::abs(mantissa - 2) < 1e-6 || std::abs(mantissa - 5) < 1e-6) << step;
  for (std::size_t i = 1; i < ticks.size(); ++i) EXPECT_NEAR(ticks[i] - ticks[i - 1], step, 1e-9 * std::abs(step) + 1e-12);
  for (double t : ticks) EXPECT_NEAR(t / step, std::round(t / step), 1e-6) << t;
}

TEST(CliReport, MiRunGivesStaircaseBiasVarianceLossAndProvenance) {
  test::TempDir dir;
  const auto db = dir.path() / "r.db";
  const std::string suite =
      dir.write("s.toml", test::tiny_mi_suite("reported", "[1.0, 2.0, 10.0]", 30,
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
  auto occurrences = [&](const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(occurrences(html, "<svg "), 5u);  // staircase, bias, variance, loss, gradient norm
  EXPECT_EQ(occurrences(html, "<svg "), occurrences(html, "</svg>"));
  EXPECT_NE(html.find("MI staircase on gaussian_staircase"), std::string::npos);
  EXPECT_NE(html.find("data-name=\"true MI\""), std::string::npos);
  EXPECT_NE(html.find("ceiling log N"), std::string::npos);
  EXPECT_EQ(occurrences(html, "class=\"divergence\""), 3u);  // on the staircase, loss and grad-norm plots
  EXPECT_GE(occurrences(html, "class=\"bar\""), 2u * 3u);     // bias and variance: levels × finished estimators
  EXPECT_EQ(occurrences(html, "data-name=\"infonce\""), 3u);
  // Levels in numeric order (text order would put mi=10 first), ticks at round numbers.
  const auto bias = html.find("bias per MI level");
  ASSERT_NE(bias, std::string::npos);
  EXPECT_LT(html.find(">mi=2<", bias), html.find(">mi=10<", bias));
  for (auto at = html.find("<svg "); at != std::string::npos; at = html.find("<svg ", at + 1))
    expect_round_ticks(html.substr(at, html.find("</svg>", at) - at));
  // Each series path has drawing commands, not an empty d="".
  EXPECT_EQ(html.find("d=\"\""), std::string::npos);
  EXPECT_NE(html.find("<th>git_sha</th>"), std::string::npos);
  EXPECT_NE(html.find("<th>threads</th><td>1</td>"), std::string::npos);
  EXPECT_EQ(run_command(harness() + " report --db " + (dir.path() / "none.db").string()).exit_code, 2);

  // Rendered by a real browser (Debian's chromium, installed by scripts/setup.sh): the DOM it
  // builds holds every chart, and a screenshot of the page is drawn.
  const std::string chromium = "chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
                               "--disable-background-networking --disable-component-update --disable-sync "
                               "--user-data-dir=" + (dir.path() / "profile").string();
  const auto dom = run_command(chromium + " --dump-dom file://" + (out / "index.html").string() + " 2>/dev/null");
  ASSERT_EQ(dom.exit_code, 0) << dom.output;
  EXPECT_EQ(occurrences(dom.output, "<svg "), 5u) << dom.output.substr(0, 500);
  EXPECT_EQ(occurrences(dom.output, "class=\"series\""), occurrences(html, "class=\"series\""));
  const auto shot = dir.path() / "report.png";
  const auto png = run_command(chromium + " --window-size=1200,2400 --screenshot=" + shot.string() + " file://" +
                               (out / "index.html").string() + " 2>&1");
  ASSERT_EQ(png.exit_code, 0) << png.output;
  EXPECT_GT(std::filesystem::file_size(shot), 20000u);  // charts, not a blank page
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

namespace rpcbench {
namespace {

TEST(CliGrid, ListCasesPrintsTheExpandedGridWithoutRunning) {
  test::TempDir dir;
  const std::string suite = dir.write("s.toml", test::tiny_mi_suite("grid", "[1.0]", 10,
                                                                    "[[objectives]]\nplugin = \"rpc\"\n"
                                                                    "[sweep]\nbatch_size = [8, 16]\nrepeats = 2\n"))
                                .string();
  const auto r = run_command(harness() + " list cases " + suite);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(": 4 cases"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("dataset=gaussian_staircase/objective=rpc/batch_size=16/repeat=1"), std::string::npos) << r.output;
  const auto bad = run_command(harness() + " list cases " + dir.write("b.toml", test::tiny_mi_suite("grid", "[1.0]", 10,
                                                                                                  "[[objectives]]\nplugin = \"rpc\"\n"
                                                                                                  "[sweep]\nbatch_size = []\n"))
                                                          .string());
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("non-empty array"), std::string::npos) << bad.output;
}

// The two suite groups of the paper's claims, quick profiles, into one database; then the verdict.
TEST(CliClaims, StabilityAndBatchSizeQuickProfilesThenTheVerdict) {
  test::TempDir dir;
  const auto db = dir.path() / "claims.db";
  auto stability = run_command(harness() + " run " + suite_file("stability.toml") + " --profile quick --quiet --db " + db.string());
  ASSERT_EQ(stability.exit_code, 0) << stability.output;
  auto batch = run_command(harness() + " run " + suite_file("batch_size.toml") + " --profile quick --quiet --db " + db.string());
  ASSERT_EQ(batch.exit_code, 0) << batch.output;
  // Four runs, one per member suite, all finished.
  EXPECT_EQ(count(db, "SELECT count(*) FROM runs WHERE status = 'finished'"), 4);
  // stability-mi: 2 datasets × 8 objectives × 2 seeds; each case has its stability summaries.
  EXPECT_EQ(count(db, "SELECT count(*) FROM cases c JOIN runs r USING (run_id) WHERE r.suite_name = 'stability-mi'"), 32);
  EXPECT_EQ(count(db, "SELECT count(*) FROM case_summaries WHERE suite_name = 'stability-mi' AND scope = '' AND "
                      "name = 'grad_norm_variance' AND value >= 0"),
            count(db, "SELECT count(*) FROM cases c JOIN runs r USING (run_id) WHERE r.suite_name = 'stability-mi' AND "
                      "c.status IN ('finished', 'diverged')"));
  // Seeds of each grid point: a divergence fraction with its Wilson interval per group.
  EXPECT_EQ(count(db, "SELECT count(*) FROM aggregates a JOIN runs r USING (run_id) WHERE r.suite_name = 'stability-mi' AND "
                      "a.name = 'diverged' AND a.statistic = 'fraction'"),
            16);
  EXPECT_EQ(count(db, "SELECT count(*) FROM aggregates a JOIN runs r USING (run_id) WHERE r.suite_name = 'stability-mi' AND "
                      "a.name = 'diverged' AND a.statistic = 'ci_high' AND a.value > 0"),
            16);
  // batch-size-vision: 6 objectives × 2 batch sizes + the control; a slope per objective and
  // headline metric across the batch sizes.
  EXPECT_EQ(count(db, "SELECT count(*) FROM cases c JOIN runs r USING (run_id) WHERE r.suite_name = 'batch-size-vision'"), 13);
  EXPECT_EQ(count(db, "SELECT count(*) FROM aggregates a JOIN runs r USING (run_id) WHERE r.suite_name = 'batch-size-vision' "
                      "AND a.statistic = 'slope_log2(batch_size)' AND a.name = 'linear_top1'"),
            6);
  EXPECT_EQ(count(db, "SELECT count(*) FROM aggregates a JOIN runs r USING (run_id) WHERE r.suite_name = 'batch-size-mi' "
                      "AND a.statistic = 'relative_drop_log2(batch_size)' AND a.name = 'mean_abs_bias'"),
            8);
  EXPECT_NE(batch.output.find("linear top-1 against batch_size"), std::string::npos) << batch.output;

  const auto claims = run_command(harness() + " claims --db " + db.string() + " --format json");
  ASSERT_EQ(claims.exit_code, 0) << claims.output;
  const auto doc = nlohmann::json::parse(claims.output);
  ASSERT_EQ(doc.size(), 3u);
  for (const auto& section : doc) {
    EXPECT_TRUE(section["missing"].is_null()) << section.dump();
    EXPECT_FALSE(section["rows"].empty()) << section["evidence"];
    for (const auto& row : section["rows"])
      EXPECT_TRUE(row["verdict"] == "supported" || row["verdict"] == "contradicted" || row["verdict"] == "inconclusive" ||
                  (row["verdict"] == "mixed" && row["pooled"] == true))
          << row.dump();
    EXPECT_FALSE(section["runs"].empty()) << section.dump();
  }
  // Claim 1 on the MI staircases compares the jitter the mi task recorded per level: finite values
  // on both sides, with a true MI in the context.
  bool jitter = false;
  for (const auto& row : doc[0]["rows"])
    jitter = jitter || (row["metric"].get<std::string>().rfind("jitter", 0) == 0 &&
                        row["context"].get<std::string>().find("true MI") != std::string::npos &&
                        row["subject_value"]["value"].is_number() && row["baseline_value"]["value"].is_number());
  EXPECT_TRUE(jitter) << doc[0].dump();
  // A group with --resume after it finished runs nothing again.
  auto again = run_command(harness() + " run " + suite_file("stability.toml") + " --profile quick --resume --quiet --db " + db.string());
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("nothing to resume"), std::string::npos) << again.output;
  EXPECT_EQ(count(db, "SELECT count(*) FROM runs"), 4);
  // The report of a stability run carries the verdict and the seed plots.
  const auto out = dir.path() / "report";
  ASSERT_EQ(run_command(harness() + " report --db " + db.string() + " --suite stability-mi --out " + out.string()).exit_code, 0);
  std::ifstream in(out / "index.html");
  const std::string html((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(html.find("<table class=\"claims\">"), std::string::npos);
  EXPECT_NE(html.find("Fraction of seeds that diverged on gaussian"), std::string::npos);
  EXPECT_NE(html.find("Training loss of rpc on gaussian, every seed"), std::string::npos);
  // Its own run's verdicts only, not those of the other evidence runs in the database.
  EXPECT_NE(html.find(" stability-mi, gaussian"), std::string::npos);
  EXPECT_EQ(html.find(" batch-size-vision, "), std::string::npos);
  EXPECT_EQ(html.find(" stability-vision, "), std::string::npos);
  const auto vision = dir.path() / "vision";
  ASSERT_EQ(run_command(harness() + " report --db " + db.string() + " --suite batch-size-vision --out " + vision.string()).exit_code, 0);
  std::ifstream vin(vision / "index.html");
  const std::string vhtml((std::istreambuf_iterator<char>(vin)), std::istreambuf_iterator<char>());
  EXPECT_NE(vhtml.find("linear top-1 against batch_size on fashion_mnist"), std::string::npos);
  EXPECT_NE(vhtml.find("class=\"band\" data-name=\"random_init (control)\""), std::string::npos);
}

TEST(CliClaims, AnEmptyDatabaseHasNoVerdict) {
  test::TempDir dir;
  const auto db = dir.path() / "empty.db";
  Database(db, Database::Mode::read_write);
  const auto r = run_command(harness() + " claims --db " + db.string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  const auto missing = run_command(harness() + " claims --run 7 --db " + db.string());
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_NE(missing.output.find("claims --run 7: no such run"), std::string::npos) << missing.output;
  std::size_t n = 0;
  for (auto at = r.output.find("NO VERDICT"); at != std::string::npos; at = r.output.find("NO VERDICT", at + 1)) ++n;
  EXPECT_EQ(n, 3u) << r.output;
  EXPECT_EQ(run_command(harness() + " claims --db " + (dir.path() / "absent.db").string()).exit_code, 2);
}

}  // namespace
}  // namespace rpcbench

namespace rpcbench {
namespace {

// Every sample and summary of two databases, matched by case key: equal bit for bit.
void expect_same_metrics(const std::filesystem::path& a, const std::filesystem::path& b) {
  Database db(a, Database::Mode::read_only);
  db.exec("ATTACH DATABASE '" + b.string() + "' AS other");
  auto count = [&](const std::string& sql) {
    auto s = db.prepare(sql);
    s.step();
    return s.column_int(0);
  };
  const auto samples = count("SELECT count(*) FROM samples");
  EXPECT_GT(samples, 0);
  EXPECT_EQ(count("SELECT count(*) FROM other.samples"), samples);
  EXPECT_EQ(count("SELECT count(*) FROM samples x JOIN cases cx ON cx.case_id = x.case_id JOIN other.cases cy ON "
                  "cy.case_key = cx.case_key JOIN other.samples y ON y.case_id = cy.case_id AND y.name = x.name AND "
                  "y.step = x.step WHERE x.value IS y.value"),
            samples);
  const auto summaries = count("SELECT count(*) FROM summaries WHERE name NOT LIKE '%second%'");
  EXPECT_EQ(count("SELECT count(*) FROM summaries x JOIN cases cx ON cx.case_id = x.case_id JOIN other.cases cy ON "
                  "cy.case_key = cx.case_key JOIN other.summaries y ON y.case_id = cy.case_id AND y.scope = x.scope AND "
                  "y.name = x.name WHERE x.value IS y.value AND x.name NOT LIKE '%second%'"),
            summaries);
}

TEST(CliScale, JobsAndShardsGiveTheSameMetricsAsOneProcess) {
  test::TempDir dir;
  const auto one = dir.path() / "one.db", two = dir.path() / "jobs.db";
  const std::string suite = suite_file("mi.toml") + " --profile quick --quiet";
  ASSERT_EQ(run_command(harness() + " run " + suite + " --db " + one.string()).exit_code, 0);
  const auto jobs = run_command(harness() + " run " + suite + " --jobs 2 --db " + two.string());
  ASSERT_EQ(jobs.exit_code, 0) << jobs.output;
  expect_same_metrics(one, two);
  EXPECT_EQ(count(two, "SELECT count(*) FROM runs WHERE json_extract(provenance, '$.jobs') = '2'"), 1);

  // Two shards into their own databases, merged: the same cases, the same metrics.
  const auto s0 = dir.path() / "s0.db", s1 = dir.path() / "s1.db", merged = dir.path() / "merged.db";
  ASSERT_EQ(run_command(harness() + " run " + suite + " --shard 0/2 --db " + s0.string()).exit_code, 0);
  ASSERT_EQ(run_command(harness() + " run " + suite + " --shard 1/2 --db " + s1.string()).exit_code, 0);
  EXPECT_EQ(count(s0, "SELECT count(*) FROM cases") + count(s1, "SELECT count(*) FROM cases"), 16);
  EXPECT_GT(count(s0, "SELECT count(*) FROM cases"), 0);
  ASSERT_EQ(run_command(harness() + " merge " + s0.string() + " " + s1.string() + " -o " + merged.string()).exit_code, 0);
  expect_same_metrics(one, merged);
  // The shards are one run again, each part's provenance kept, its aggregates over every case.
  EXPECT_EQ(count(merged, "SELECT count(*) FROM runs"), 1);
  EXPECT_EQ(count(merged, "SELECT count(*) FROM run_shards WHERE shard IN ('0/2', '1/2') AND length(provenance) > 100"), 2);
  {
    Database db(merged, Database::Mode::read_only);
    db.exec("ATTACH DATABASE '" + one.string() + "' AS one");
    auto q = db.prepare("SELECT (SELECT count(*) FROM one.aggregates WHERE name NOT LIKE '%second%'), count(*) FROM aggregates a "
                        "JOIN one.aggregates b ON a.grouping = b.grouping AND a.scope = b.scope AND a.name = b.name AND "
                        "a.statistic = b.statistic WHERE a.value IS b.value AND a.name NOT LIKE '%second%'");
    ASSERT_TRUE(q.step());
    EXPECT_GT(q.column_int(0), 100);
    EXPECT_EQ(q.column_int(1), q.column_int(0));  // bit for bit
  }
  // Merging the shards again changes nothing.
  ASSERT_EQ(run_command(harness() + " merge " + s0.string() + " " + s1.string() + " -o " + merged.string()).exit_code, 0);
  EXPECT_EQ(count(merged, "SELECT count(*) FROM runs"), 1);
  EXPECT_EQ(count(merged, "SELECT count(*) FROM cases"), 16);

  for (const char* bad : {"--shard 3/2", "--shard 2/2", "--shard x", "--jobs 0", "--jobs -1"}) {
    const auto r = run_command(harness() + " run " + suite + " " + bad + " --db " + (dir.path() / "bad.db").string());
    EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.output;
    EXPECT_FALSE(std::filesystem::exists(dir.path() / "bad.db")) << bad;
  }
}

TEST(CliBmi, QuickProfileRecordsEveryTaskAndRanksTheEstimators) {
  test::TempDir dir;
  const auto db = dir.path() / "bmi.db";
  const auto r = run_command(harness() + " run " + suite_file("mi-bmi.toml") + " --profile quick --jobs 2 --threads 1 --db " +
                             db.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // 14 tasks × 8 estimators × 2 seeds, each with its one level of statistics.
  EXPECT_EQ(count(db, "SELECT count(*) FROM cases"), 252);  // 14 tasks × 9 estimators × 2 seeds
  EXPECT_EQ(count(db, "SELECT count(DISTINCT dataset) FROM cases"), 14);
  EXPECT_EQ(count(db, "SELECT count(*) FROM summaries s JOIN cases c USING (case_id) WHERE s.name = 'true_mi'"),
            count(db, "SELECT count(*) FROM cases WHERE status = 'finished'"));
  auto truth = [&](const std::string& dataset) {
    Database d(db, Database::Mode::read_only);
    auto s = d.prepare("SELECT DISTINCT s.value FROM summaries s JOIN cases c USING (case_id) WHERE s.name = 'true_mi' AND c.dataset = ?1");
    s.bind(1, dataset);
    EXPECT_TRUE(s.step()) << dataset;
    const double v = s.column_double(0);
    EXPECT_FALSE(s.step()) << dataset << ": more than one true MI";
    return v;
  };
  EXPECT_NEAR(truth("1v1-normal-0.75"), -0.5 * std::log(1 - 0.75 * 0.75), 1e-9);
  EXPECT_NEAR(truth("1v1-additive-0.1"), 0.1 - std::log(0.2), 1e-9);  // bmi's: N ~ U(−0.1, 0.1)
  // A transform keeps the MI of its base task.
  EXPECT_EQ(truth("spiral-multinormal-sparse-5-5-2-0.8"), truth("multinormal-sparse-5-5-2-0.8"));
  EXPECT_EQ(truth("asinh-student-t-dof-1-1x1"), truth("student-t-dof-1-1x1"));
  // The ranking: per estimator, mean |bias| averaged over all 14 tasks, stored and printed.
  EXPECT_EQ(count(db, "SELECT count(*) FROM aggregates WHERE statistic = 'datasets' AND name = 'mean_abs_bias' AND value = 14"),
            count(db, "SELECT count(*) FROM aggregates WHERE statistic = 'mean_over_datasets' AND name = 'mean_abs_bias' AND value >= 0"));
  EXPECT_GE(count(db, "SELECT count(*) FROM aggregates WHERE statistic = 'mean_over_datasets' AND name = 'mean_abs_bias' AND value >= 0"), 1);
  EXPECT_NE(r.output.find("mean |bias| over levels averaged over the 14 datasets"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("estimates per task: mean over seeds ± seed-to-seed std (bias)"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace rpcbench
