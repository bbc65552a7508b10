// The samples_file dataset: CSV and .npy readers against values written by the test, every bad
// file refused with its line and column, and batches of distinct rows.
#include "test_support.hpp"

#include <cstring>
#include <fstream>

namespace rpcbench {
namespace {

std::shared_ptr<Dataset> open(const std::map<std::string, ParamValue>& values) {
  const PluginDescriptor* d = test::real_plugins().find(PluginKind::dataset, "samples_file");
  if (d == nullptr) throw std::runtime_error("no samples_file plugin");
  return test::real_plugins().make_dataset(*d, test::declared_params(*d, values));
}

std::string error_of(const std::map<std::string, ParamValue>& values) {
  try {
    open(values);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

// A v1 .npy file of `values` (row-major unless fortran) with the given dtype and shape text.
void write_npy(const std::filesystem::path& path, const std::string& descr, const std::string& shape, const void* data,
               std::size_t bytes, bool fortran = false, int version = 1) {
  std::string header = "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
                       ", 'shape': " + shape + ", }";
  const std::size_t prefix = version == 1 ? 10 : 12;  // magic, version, then a 2- or 4-byte length
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  out.write(version == 1 ? "\x93NUMPY\x01\x00" : "\x93NUMPY\x02\x00", 8);
  const std::uint32_t length = static_cast<std::uint32_t>(header.size());
  for (std::size_t i = 0; i < prefix - 8; ++i) out.put(static_cast<char>((length >> (8 * i)) & 0xff));
  out << header;
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
}

class SamplesFile : public ::testing::Test {
 protected:
  std::string csv(const std::string& text) { return dir.write("s.csv", text).string(); }
  std::string csv_error(const std::string& text) { return error_of({{"path", csv(text)}}); }
  test::TempDir dir;
};

TEST_F(SamplesFile, ReadsACsvOfXAndYColumns) {
  auto ds = open({{"path", csv("X1,X2,Y1\n1,2,3\n4,5.5,-6e-1\r\n\n7, 8 ,9\n")}, {"standardize", false}});
  const DatasetSpec spec = ds->spec();
  EXPECT_EQ(spec.input.x_shape, std::vector<std::int64_t>({2}));
  EXPECT_EQ(spec.input.y_shape, std::vector<std::int64_t>({1}));
  EXPECT_EQ(spec.split_sizes.at("train"), 3);
  EXPECT_TRUE(std::isnan(ds->true_mi(0)));
  auto gen = at::detail::createCPUGenerator(1);
  const Batch b = ds->sample(0, 3, gen);
  // Every row once, each X with its own Y.
  std::map<float, std::pair<float, float>> rows;
  for (int i = 0; i < 3; ++i) rows[b.x[i][0].item<float>()] = {b.x[i][1].item<float>(), b.y[i][0].item<float>()};
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_FLOAT_EQ(rows[1].first, 2);
  EXPECT_FLOAT_EQ(rows[1].second, 3);
  EXPECT_FLOAT_EQ(rows[4].first, 5.5f);
  EXPECT_FLOAT_EQ(rows[4].second, -0.6f);
  EXPECT_FLOAT_EQ(rows[7].second, 9);
}

TEST_F(SamplesFile, StandardizesEachColumnAndKeepsTheTrueMiItIsGiven) {
  auto ds = open({{"path", csv("X1,Y1,Y2\n1,10,0\n2,20,1\n3,30,0\n4,40,1\n")}, {"true_mi", 0.25}});
  EXPECT_DOUBLE_EQ(ds->true_mi(7), 0.25);
  auto gen = at::detail::createCPUGenerator(2);
  const Batch b = ds->sample(0, 4, gen);
  const torch::Tensor both = torch::cat({b.x, b.y}, 1).to(torch::kFloat64);
  EXPECT_LT(both.mean(0).abs().max().item<double>(), 1e-6);
  EXPECT_LT((both.std(0) - 1.0).abs().max().item<double>(), 1e-6);
  const std::string constant = error_of({{"path", csv("X1,Y1\n1,5\n2,5\n3,5\n")}});
  EXPECT_NE(constant.find("column Y1 is constant or its spread overflows"), std::string::npos) << constant;
}

TEST_F(SamplesFile, BatchesHoldDistinctRowsAndRepeatWithTheGenerator) {
  std::string text = "X1,Y1\n";
  for (int i = 0; i < 50; ++i) text += std::to_string(i) + "," + std::to_string(2 * i) + "\n";
  auto ds = open({{"path", csv(text)}, {"standardize", false}});
  auto g1 = at::detail::createCPUGenerator(9), g2 = at::detail::createCPUGenerator(9);
  const Batch a = ds->sample(0, 40, g1), b = ds->sample(0, 40, g2);
  EXPECT_TRUE(torch::equal(a.x, b.x));
  EXPECT_EQ(std::get<0>(torch::_unique(a.x)).numel(), 40);
  EXPECT_TRUE(torch::equal(a.y, 2 * a.x));
  const Batch c = ds->sample(1, 40, g1);
  EXPECT_FALSE(torch::equal(a.x, c.x));
}

TEST_F(SamplesFile, BadCsvFilesNameTheLineAndColumn) {
  const std::string ragged = csv_error("X1,X2,Y1\n1,2,3\n4,5\n");
  EXPECT_NE(ragged.find("s.csv:3:4: 2 fields, but the header has 3"), std::string::npos) << ragged;
  const std::string longer = csv_error("X1,Y1\n1,2\n3,4,5\n");
  EXPECT_NE(longer.find("s.csv:3:5: 3 fields"), std::string::npos) << longer;
  const std::string word = csv_error("X1,Y1,Y2\n1,2,3\n4, abc,6\n");
  EXPECT_NE(word.find("s.csv:3:4: 'abc' in column Y1 is not a number"), std::string::npos) << word;
  const std::string empty_field = csv_error("X1,Y1\n1,\n3,4\n");
  EXPECT_NE(empty_field.find("s.csv:2:3: '' in column Y1 is not a number"), std::string::npos) << empty_field;
  const std::string nan = csv_error("X1,Y1\n1,nan\n3,4\n");
  EXPECT_NE(nan.find("s.csv:2:3: 'nan' in column Y1 is not a finite number"), std::string::npos) << nan;
  const std::string no_y = csv_error("X1,X2\n1,2\n3,4\n");
  EXPECT_NE(no_y.find("s.csv:1:6: the header has no Y columns"), std::string::npos) << no_y;
  const std::string no_x = csv_error("Y1,Y2\n1,2\n3,4\n");
  EXPECT_NE(no_x.find("s.csv:1:1: the header has no X columns"), std::string::npos) << no_x;
  const std::string gap = csv_error("X1,X3,Y1\n1,2,3\n4,5,6\n");
  EXPECT_NE(gap.find("s.csv:1:4: header column 'X3': expected X2 or Y1"), std::string::npos) << gap;
  const std::string one = csv_error("X1,Y1\n1,2\n");
  EXPECT_NE(one.find("1 sample after the header; at least 2 are needed"), std::string::npos) << one;
  const std::string nothing = csv_error("");
  EXPECT_NE(nothing.find("empty file"), std::string::npos) << nothing;
  // C99 hex floats, which strtod reads, are refused; a huge field is shown cut, not echoed whole.
  const std::string hex = csv_error("X1,Y1\n1,0x1p3\n3,4\n");
  EXPECT_NE(hex.find("s.csv:2:3: '0x1p3' in column Y1 is a hexadecimal number"), std::string::npos) << hex;
  const std::string huge_field = csv_error("X1,Y1\n1," + std::string(10u << 20, 'a') + "\n3,4\n");
  EXPECT_NE(huge_field.find("s.csv:2:3: '" + std::string(60, 'a') + "… (10485760 bytes)' in column Y1 is not a number"),
            std::string::npos)
      << huge_field.substr(0, 300);
  EXPECT_LT(huge_field.size(), 1000u);
  const std::string extension = error_of({{"path", dir.write("s.txt", "X1,Y1\n1,2\n3,4\n").string()}});
  EXPECT_NE(extension.find("must end in .csv"), std::string::npos) << extension;
}

TEST_F(SamplesFile, CsvEdgeCasesFromOtherTools) {
  // A byte-order mark (Excel's "CSV UTF-8"), quoted header names, values that underflow to
  // subnormals: all read. X01 is not X1; values beyond float32 are refused, naming the place.
  auto ds = open({{"path", csv("\xEF\xBB\xBF\"X1\",\"Y1\"\n1e-320,2\n3,4\n")}, {"standardize", false}});
  EXPECT_EQ(ds->spec().split_sizes.at("train"), 2);
  const std::string zero_padded = csv_error("X01,Y1\n1,2\n3,4\n");
  EXPECT_NE(zero_padded.find("s.csv:1:1: header column 'X01': expected X1"), std::string::npos) << zero_padded;
  const std::string huge = error_of({{"path", csv("X1,Y1\n1e300,2\n3,4\n")}, {"standardize", false}});
  EXPECT_NE(huge.find("row 1, column X1 is beyond float32's range"), std::string::npos) << huge;
  const std::string spread = csv_error("X1,Y1\n1e300,2\n-1e300,4\n5,6\n");
  EXPECT_NE(spread.find("column X1 is constant or its spread overflows"), std::string::npos) << spread;
  EXPECT_NO_THROW(open({{"path", dir.write("upper.CSV", "X1,Y1\n1,2\n3,5\n").string()}}));
}

TEST_F(SamplesFile, ReadsAnNpyPairInEveryLayoutItAccepts) {
  const double x[] = {1, 2, 3, 4, 5, 6};  // 3 × 2
  const float y[] = {10, 20, 30};         // (3,)
  const std::int64_t xi[] = {1, 3, 5, 2, 4, 6};  // the same X, column-major
  write_npy(dir.path() / "x.npy", "<f8", "(3, 2)", x, sizeof x);
  write_npy(dir.path() / "xf.npy", "<i8", "(3, 2)", xi, sizeof xi, /*fortran=*/true);
  write_npy(dir.path() / "y.npy", "<f4", "(3,)", y, sizeof y);
  // Format 2.0 (a 4-byte header length), int32, shape (N, 1): Y again.
  const std::int32_t yi[] = {10, 20, 30};
  write_npy(dir.path() / "y2.npy", "<i4", "(3, 1)", yi, sizeof yi, false, /*version=*/2);
  for (const char* name : {"x.npy", "xf.npy"}) {
    for (const char* y_name : {"y.npy", "y2.npy"}) {
      auto ds = open({{"path", (dir.path() / name).string()}, {"y_path", (dir.path() / y_name).string()},
                      {"standardize", false}});
      auto gen = at::detail::createCPUGenerator(3);
      const Batch b = ds->sample(0, 3, gen);
      for (int i = 0; i < 3; ++i) {
        const float x0 = b.x[i][0].item<float>();
        EXPECT_FLOAT_EQ(b.x[i][1].item<float>(), x0 + 1) << name << " " << y_name;
        EXPECT_FLOAT_EQ(b.y[i][0].item<float>(), 10 * (x0 + 1) / 2) << name << " " << y_name;
      }
    }
  }
}

TEST_F(SamplesFile, BadNpyFilesAreRefusedWithWhatIsWrong) {
  const double x[] = {1, 2, 3, 4};
  write_npy(dir.path() / "x.npy", "<f8", "(2, 2)", x, sizeof x);
  write_npy(dir.path() / "y3.npy", "<f8", "(3,)", x, 3 * sizeof(double));
  write_npy(dir.path() / "big.npy", ">f8", "(2, 2)", x, sizeof x);
  write_npy(dir.path() / "short.npy", "<f8", "(4, 2)", x, sizeof x);
  const auto err = [&](const std::string& xf, const std::string& yf) {
    return error_of({{"path", (dir.path() / xf).string()}, {"y_path", yf.empty() ? "" : (dir.path() / yf).string()}});
  };
  EXPECT_NE(err("x.npy", "y3.npy").find("y3.npy: 3 rows, but"), std::string::npos) << err("x.npy", "y3.npy");
  EXPECT_NE(err("big.npy", "x.npy").find("dtype '>f8' is not supported"), std::string::npos) << err("big.npy", "x.npy");
  EXPECT_NE(err("short.npy", "x.npy").find("shape (4, 2) of 8-byte values does not match the 32 bytes of data"),
            std::string::npos)
      << err("short.npy", "x.npy");
  // A shape whose size overflows, or a negative one, is refused before anything is allocated.
  write_npy(dir.path() / "huge.npy", "<f8", "(2305843009213693952, 8)", x, sizeof x);
  write_npy(dir.path() / "negative.npy", "<f8", "(-1, 2)", x, sizeof x);
  write_npy(dir.path() / "trailing.npy", "<f8", "(2,)", x, sizeof x);  // 4 values stored, 2 declared
  EXPECT_NE(err("huge.npy", "x.npy").find("does not match the 32 bytes"), std::string::npos) << err("huge.npy", "x.npy");
  EXPECT_NE(err("negative.npy", "x.npy").find("negative sizes"), std::string::npos) << err("negative.npy", "x.npy");
  EXPECT_NE(err("trailing.npy", "x.npy").find("does not match the 32 bytes"), std::string::npos) << err("trailing.npy", "x.npy");
  EXPECT_NE(err("x.npy", "").find("parameter 'y_path' must name the .npy of Y"), std::string::npos) << err("x.npy", "");
  // Cut after the magic and version: truncated, not an "unsupported format version".
  dir.write("cut.npy", std::string("\x93NUMPY\x01\x00", 8));
  EXPECT_NE(err("cut.npy", "x.npy").find("cut.npy: the .npy file is truncated"), std::string::npos) << err("cut.npy", "x.npy");
  dir.write("fake.npy", "X1,Y1\n1,2\n");
  EXPECT_NE(err("fake.npy", "x.npy").find("not an .npy file"), std::string::npos) << err("fake.npy", "x.npy");
}

}  // namespace
}  // namespace rpcbench
