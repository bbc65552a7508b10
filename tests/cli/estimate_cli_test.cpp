// `harness estimate` end to end: a Gaussian sample file with known MI in, one number on stdout,
// the run recorded like any other; bad files and options refused (exit 2) before anything is written.
#include "db/database.hpp"
#include "test_support.hpp"

#include <cmath>
#include <fstream>
#include <random>

namespace rpcbench {
namespace {

using test::harness;
using test::run_command;

// x ~ N(0, 1), y = ρx + √(1 − ρ²)ε: MI = −½ log(1 − ρ²).
std::filesystem::path gaussian_csv(const test::TempDir& dir, double rho, int rows) {
  std::mt19937_64 rng(17);
  std::normal_distribution<double> normal;
  std::ofstream out(dir.path() / "gauss.csv");
  out << "X1,Y1\n";
  for (int i = 0; i < rows; ++i) {
    const double x = normal(rng);
    out << x << "," << rho * x + std::sqrt(1 - rho * rho) * normal(rng) << "\n";
  }
  return dir.path() / "gauss.csv";
}

test::CommandResult estimate(const std::string& args, const std::filesystem::path& stderr_file) {
  // Braces keep the command's own stderr in the file; stdout alone comes back.
  return run_command("{ " + harness() + " estimate " + args + " 2>" + stderr_file.string() + "; }");
}

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(CliEstimate, PrintsTheEstimateAndRecordsTheRun) {
  test::TempDir dir;
  const double rho = 0.8, truth = -0.5 * std::log(1 - rho * rho);  // 0.511 nats
  const auto csv = gaussian_csv(dir, rho, 3000);
  const auto db = dir.path() / "e.db";
  const std::string args = "--objective infonce --steps 800 --batch-size 64 --window 200 --true-mi " +
                           std::to_string(truth) + " --db " + db.string() + " " + csv.string();
  const auto r = estimate(args, dir.path() / "err");
  ASSERT_EQ(r.exit_code, 0) << r.output << read(dir.path() / "err");
  // stdout is the number and nothing else (bmi's external-estimator protocol).
  ASSERT_EQ(r.output.find('\n'), r.output.size() - 1) << r.output;
  const double printed = std::stod(r.output);
  EXPECT_NEAR(printed, truth, 0.2) << read(dir.path() / "err");

  Database d(db, Database::Mode::read_only);
  auto run = d.prepare("SELECT r.suite_name, r.status, c.status, c.config_text, c.objective FROM runs r JOIN cases c USING (run_id)");
  ASSERT_TRUE(run.step());
  EXPECT_EQ(run.column_text(0), "estimate");
  EXPECT_EQ(run.column_text(1), "finished");
  EXPECT_EQ(run.column_text(2), "finished");
  EXPECT_EQ(run.column_text(4), "infonce");
  const std::string config = run.column_text(3);
  const auto sha = run_command("sha256sum " + csv.string()).output.substr(0, 64);
  EXPECT_NE(config.find("\"sha256\":\"" + sha + "\""), std::string::npos) << config;
  EXPECT_FALSE(run.step());  // one case
  auto mean = d.prepare("SELECT value FROM summaries WHERE name = 'mean' AND scope LIKE 'mi=%'");
  ASSERT_TRUE(mean.step());
  EXPECT_NEAR(mean.column_double(0), printed, 1e-7 * std::max(1.0, std::abs(printed)));
  auto bias = d.prepare("SELECT value FROM summaries WHERE name = 'bias' AND scope LIKE 'mi=%'");
  ASSERT_TRUE(bias.step());
  EXPECT_NEAR(bias.column_double(0), printed - truth, 1e-6);

  // Same samples, same seed: the same number, bit for bit — under another file name too (tools
  // hand over temporary files).
  const auto again = estimate(args, dir.path() / "err2");
  EXPECT_EQ(again.output, r.output);
  const auto renamed = dir.path() / "tmp-8f3a.csv";
  std::filesystem::copy_file(csv, renamed);
  std::string renamed_args = args;
  renamed_args.replace(renamed_args.find(csv.string()), csv.string().size(), renamed.string());
  EXPECT_EQ(estimate(renamed_args, dir.path() / "err3").output, r.output);
}

// Without a truth the steps still form one level: the estimate is the mean of the last --window
// recorded estimates (not the last step's), and no bias is made up.
TEST(CliEstimate, AnUnknownTruthIsOneLevelAndTheEstimateIsTheWindowMean) {
  test::TempDir dir;
  const auto csv = gaussian_csv(dir, 0.5, 400);
  const auto db = dir.path() / "e.db";
  const auto r = estimate("--objective rpc --steps 50 --batch-size 32 --window 20 --db " + db.string() + " " + csv.string(),
                          dir.path() / "err");
  ASSERT_EQ(r.exit_code, 0) << read(dir.path() / "err");
  const double printed = std::stod(r.output);
  Database d(db, Database::Mode::read_only);
  auto levels = d.prepare("SELECT DISTINCT scope FROM summaries WHERE scope LIKE 'mi=%'");
  ASSERT_TRUE(levels.step());
  EXPECT_EQ(levels.column_text(0), "mi=nan");
  EXPECT_FALSE(levels.step());
  auto window = d.prepare("SELECT value FROM summaries WHERE scope = 'mi=nan' AND name = 'window'");
  ASSERT_TRUE(window.step());
  EXPECT_EQ(window.column_double(0), 20.0);
  auto bias = d.prepare("SELECT value FROM summaries WHERE scope = 'mi=nan' AND name = 'bias'");
  ASSERT_TRUE(bias.step());
  EXPECT_TRUE(bias.is_null(0));
  auto tail = d.prepare("SELECT avg(value) FROM samples WHERE name = 'mi' AND step >= 30");
  ASSERT_TRUE(tail.step());
  EXPECT_NEAR(printed, tail.column_double(0), 1e-6);
}

TEST(CliEstimate, BadFilesAndOptionsExitTwoAndWriteNothing) {
  test::TempDir dir;
  const auto db = dir.path() / "e.db";
  const auto err = dir.path() / "err";
  const auto expect_refused = [&](const std::string& args, const std::string& says) {
    const auto r = estimate("--steps 10 --batch-size 4 --db " + db.string() + " " + args, err);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << read(err);
    EXPECT_NE(read(err).find(says), std::string::npos) << args << "\n" << read(err);
    EXPECT_FALSE(std::filesystem::exists(db)) << args;
  };
  expect_refused("-o infonce " + dir.write("ragged.csv", "X1,Y1\n1,2\n3\n4,5\n").string(), "ragged.csv:3:2: 1 fields, but the header has 2");
  expect_refused("-o infonce " + dir.write("word.csv", "X1,Y1\n1,2\n3,x\n4,5\n").string(), "word.csv:3:3: 'x' in column Y1 is not a number");
  expect_refused("-o infonce " + dir.write("noy.csv", "X1,X2\n1,2\n3,4\n").string(), "the header has no Y columns");
  expect_refused("-o infonce " + dir.write("one.csv", "X1,Y1\n1,2\n").string(), "1 sample after the header; at least 2 are needed");
  expect_refused("-o infonce " + dir.write("few.csv", "X1,Y1\n1,2\n2,1\n3,3\n").string(), "has 3 samples, fewer than a batch of 4");
  expect_refused("-o infonce " + (dir.path() / "none.csv").string(), "none.csv: no such file");
  const auto good = gaussian_csv(dir, 0.5, 50).string();
  expect_refused("-o infonce --param temperature=-1 " + good, "temperature");
  expect_refused("-o infonce --param nosuch=1 " + good, "unknown parameter 'nosuch'");
  expect_refused("--objective nosuch " + good, "unknown objective plugin 'nosuch'");
}

}  // namespace
}  // namespace rpcbench
