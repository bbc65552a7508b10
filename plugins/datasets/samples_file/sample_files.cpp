#include "sample_files.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace rpcbench::datasets {
namespace {

// A field as an error message shows it: at most 60 bytes of it.
std::string shown(const std::string& text) {
  if (text.size() <= 60) return text;
  return text.substr(0, 60) + "… (" + std::to_string(text.size()) + " bytes)";
}

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& where, const std::string& what) {
  throw SampleFileError(path.string() + (where.empty() ? "" : ":" + where) + ": " + what);
}

std::string trim(const std::string& s) {
  const auto begin = s.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(" \t") - begin + 1);
}

// The fields of one line and the 1-based column where each starts.
struct Field {
  std::string text;
  std::size_t column;
};

std::vector<Field> split_fields(const std::string& line) {
  std::vector<Field> fields;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = line.find(',', start);
    const std::string raw = line.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const std::size_t lead = raw.find_first_not_of(" \t");
    fields.push_back({trim(raw), start + 1 + (lead == std::string::npos ? 0 : lead)});
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return fields;
}

// "X3" → 3 for prefix 'X'; 0 when the name is not of that form.
std::int64_t column_number(std::string name, char prefix) {
  if (name.size() >= 2 && name.front() == '"' && name.back() == '"') name = name.substr(1, name.size() - 2);
  if (name.size() < 2 || name[0] != prefix || name[1] == '0') return 0;  // X01 is not X1
  for (std::size_t i = 1; i < name.size(); ++i)
    if (name[i] < '0' || name[i] > '9') return 0;
  return std::strtoll(name.c_str() + 1, nullptr, 10);
}

}  // namespace

PairedSamples read_samples_csv(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) fail(path, "", "cannot open the file");
  std::string line;
  std::int64_t line_number = 0;
  // The header: X1..Xn, then Y1..Ym, in order.
  while (std::getline(in, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!trim(line).empty()) break;
  }
  if (line_number == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // a UTF-8 byte-order mark
  if (trim(line).empty()) fail(path, "", "empty file (expected a header X1..Xn,Y1..Ym and at least two rows)");
  const std::vector<Field> header = split_fields(line);
  PairedSamples samples;
  for (const Field& f : header) {
    const std::string where = std::to_string(line_number) + ":" + std::to_string(f.column);
    const bool in_x = samples.y.cols == 0;
    if (in_x && column_number(f.text, 'X') == samples.x.cols + 1) {
      ++samples.x.cols;
    } else if (column_number(f.text, 'Y') == samples.y.cols + 1) {
      ++samples.y.cols;
    } else {
      const std::string expected = in_x ? "X" + std::to_string(samples.x.cols + 1) +
                                              (samples.x.cols > 0 ? " or Y1" : "")
                                        : "Y" + std::to_string(samples.y.cols + 1);
      fail(path, where, "header column '" + shown(f.text) + "': expected " + expected + " (the header is X1..Xn,Y1..Ym)");
    }
  }
  if (samples.x.cols == 0) fail(path, std::to_string(line_number) + ":1", "the header has no X columns (expected X1..Xn,Y1..Ym)");
  if (samples.y.cols == 0)
    fail(path, std::to_string(line_number) + ":" + std::to_string(line.size() + 1),
         "the header has no Y columns (expected X1..Xn,Y1..Ym)");
  const std::size_t width = header.size();
  while (std::getline(in, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (trim(line).empty()) continue;
    const std::vector<Field> fields = split_fields(line);
    if (fields.size() != width)
      fail(path, std::to_string(line_number) + ":" + std::to_string(fields.size() < width ? line.size() + 1 : fields[width].column),
           std::to_string(fields.size()) + " fields, but the header has " + std::to_string(width));
    for (std::size_t i = 0; i < width; ++i) {
      const Field& f = fields[i];
      const char* begin = f.text.c_str();
      char* end = nullptr;
      errno = 0;
      const double v = std::strtod(begin, &end);
      const std::string column = i < static_cast<std::size_t>(samples.x.cols)
                                     ? "X" + std::to_string(i + 1)
                                     : "Y" + std::to_string(i + 1 - samples.x.cols);
      if (f.text.empty() || end != begin + f.text.size())
        fail(path, std::to_string(line_number) + ":" + std::to_string(f.column),
             "'" + shown(f.text) + "' in column " + column + " is not a number");
      // strtod also reads C99 hex floats (0x1p3); a CSV of samples holds decimal numbers.
      if (f.text.find_first_of("xX") != std::string::npos)
        fail(path, std::to_string(line_number) + ":" + std::to_string(f.column),
             "'" + shown(f.text) + "' in column " + column + " is a hexadecimal number; write decimal numbers");
      // ERANGE on underflow (1e-320) still gives a usable value; only overflow is refused.
      if (!std::isfinite(v) || (errno == ERANGE && std::abs(v) == HUGE_VAL))
        fail(path, std::to_string(line_number) + ":" + std::to_string(f.column),
             "'" + shown(f.text) + "' in column " + column + " is not a finite number");
      (i < static_cast<std::size_t>(samples.x.cols) ? samples.x : samples.y).values.push_back(v);
    }
    ++samples.x.rows, ++samples.y.rows;
  }
  if (samples.x.rows < 2)
    fail(path, "", std::to_string(samples.x.rows) + " sample" + (samples.x.rows == 1 ? "" : "s") +
                       " after the header; at least 2 are needed");
  return samples;
}

SampleMatrix read_npy(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "", "cannot open the file");
  char magic[8] = {};
  in.read(magic, 8);
  if (!in || std::memcmp(magic, "\x93NUMPY", 6) != 0) fail(path, "", "not an .npy file (no \\x93NUMPY magic)");
  const int major = static_cast<unsigned char>(magic[6]);
  if (major < 1 || major > 3) fail(path, "", "unsupported .npy format version " + std::to_string(major));
  std::uint32_t header_length = 0;
  unsigned char length_bytes[4] = {};
  in.read(reinterpret_cast<char*>(length_bytes), major == 1 ? 2 : 4);
  if (!in) fail(path, "", "the .npy file is truncated (it ends inside its header length)");
  for (int i = (major == 1 ? 1 : 3); i >= 0; --i) header_length = header_length << 8 | length_bytes[i];
  std::error_code size_error;
  if (header_length > std::filesystem::file_size(path, size_error) || size_error)
    fail(path, "", "the .npy header length " + std::to_string(header_length) + " exceeds the file");
  std::string header(header_length, '\0');
  in.read(header.data(), header_length);
  if (!in) fail(path, "", "the .npy header is truncated");
  // {'descr': '<f8', 'fortran_order': False, 'shape': (1000, 2), }
  auto value_of = [&](const std::string& key) {
    const std::size_t at = header.find("'" + key + "'");
    if (at == std::string::npos) fail(path, "", "the .npy header has no '" + key + "': " + header);
    const std::size_t colon = header.find(':', at);
    return trim(header.substr(colon + 1));
  };
  const std::string descr = value_of("descr");
  std::size_t item = 0;
  bool is_float = false;
  if (descr.rfind("'<f8'", 0) == 0) item = 8, is_float = true;
  else if (descr.rfind("'<f4'", 0) == 0) item = 4, is_float = true;
  else if (descr.rfind("'<i8'", 0) == 0) item = 8;
  else if (descr.rfind("'<i4'", 0) == 0) item = 4;
  else fail(path, "", "dtype " + descr.substr(0, descr.find(',')) + " is not supported (expected float64, float32, int64 or int32, little-endian)");
  const bool fortran = value_of("fortran_order").rfind("True", 0) == 0;
  const std::string shape_text = value_of("shape");
  const std::size_t open = shape_text.find('('), close = shape_text.find(')');
  if (open == std::string::npos || close == std::string::npos) fail(path, "", "unreadable shape in the .npy header: " + header);
  std::vector<std::int64_t> shape;
  std::stringstream dims(shape_text.substr(open + 1, close - open - 1));
  for (std::string d; std::getline(dims, d, ',');)
    if (!trim(d).empty()) shape.push_back(std::strtoll(trim(d).c_str(), nullptr, 10));
  if (shape.empty() || shape.size() > 2)
    fail(path, "", "shape (" + shape_text.substr(open + 1, close - open - 1) + ") must be (N,) or (N, d)");
  SampleMatrix m;
  m.rows = shape[0];
  m.cols = shape.size() == 2 ? shape[1] : 1;
  if (m.rows < 0 || m.cols < 1) fail(path, "", "shape (" + shape_text.substr(open + 1, close - open - 1) + ") has no columns or negative sizes");
  // The data must be exactly the shape's worth of bytes: checked before anything is allocated.
  const std::uintmax_t data_start = static_cast<std::uintmax_t>(in.tellg());
  std::error_code ec;
  const std::uintmax_t file_size = std::filesystem::file_size(path, ec);
  const std::uintmax_t available = ec || file_size < data_start ? 0 : file_size - data_start;
  if (static_cast<unsigned __int128>(m.rows) * static_cast<unsigned __int128>(m.cols) * item != available)  // no overflow
    fail(path, "", "shape (" + shape_text.substr(open + 1, close - open - 1) + ") of " + std::to_string(item) +
                       "-byte values does not match the " + std::to_string(available) + " bytes of data in the file");
  const std::size_t count = static_cast<std::size_t>(m.rows * m.cols);
  std::vector<char> raw(count * item);
  in.read(raw.data(), static_cast<std::streamsize>(raw.size()));
  if (!in) fail(path, "", "the data are truncated: expected " + std::to_string(count) + " values of " + std::to_string(item) + " bytes");
  m.values.resize(count);
  for (std::size_t i = 0; i < count; ++i) {
    const char* p = raw.data() + i * item;
    double v = 0;
    if (is_float && item == 8) { double d; std::memcpy(&d, p, 8); v = d; }
    else if (is_float) { float f; std::memcpy(&f, p, 4); v = f; }
    else if (item == 8) { std::int64_t k; std::memcpy(&k, p, 8); v = static_cast<double>(k); }
    else { std::int32_t k; std::memcpy(&k, p, 4); v = k; }
    // Row-major index of the i-th stored value (Fortran order stores columns first).
    const std::size_t at = fortran ? (i % m.rows) * m.cols + i / m.rows : i;
    if (!std::isfinite(v))
      fail(path, "", "value at row " + std::to_string(at / m.cols + 1) + ", column " + std::to_string(at % m.cols + 1) + " is not finite");
    m.values[at] = v;
  }
  if (m.rows < 2) fail(path, "", std::to_string(m.rows) + " sample(s); at least 2 are needed");
  return m;
}

PairedSamples read_npy_pair(const std::filesystem::path& x_path, const std::filesystem::path& y_path) {
  PairedSamples s{read_npy(x_path), read_npy(y_path)};
  if (s.x.rows != s.y.rows)
    fail(y_path, "", std::to_string(s.y.rows) + " rows, but " + x_path.string() + " has " + std::to_string(s.x.rows) +
                         ": X and Y must pair row by row");
  return s;
}

}  // namespace rpcbench::datasets
