// Readers of paired samples written by other tools: a CSV with header X1..Xn,Y1..Ym (as bmi writes
// them for external estimators) or an .npy pair (one [N, n] array for X, one [N, m] for Y).
// Every refusal names the file and, for CSV, the line and column (1-based).
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace rpcbench::datasets {

class SampleFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Row-major samples of one variable: rows × cols values.
struct SampleMatrix {
  std::int64_t rows = 0, cols = 0;
  std::vector<double> values;
};

struct PairedSamples {
  SampleMatrix x, y;
};

PairedSamples read_samples_csv(const std::filesystem::path& path);
SampleMatrix read_npy(const std::filesystem::path& path);
// X from `x_path`, Y from `y_path`; the row counts must agree.
PairedSamples read_npy_pair(const std::filesystem::path& x_path, const std::filesystem::path& y_path);

}  // namespace rpcbench::datasets
