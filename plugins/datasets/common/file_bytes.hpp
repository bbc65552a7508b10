// Whole-file reads through zlib, which reads gzip and plain files alike.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace rpcbench::datasets {

inline std::vector<std::uint8_t> read_file_bytes(const std::filesystem::path& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) throw std::runtime_error("cannot open '" + path.string() + "'");
  gzbuffer(f, 1 << 20);
  std::vector<std::uint8_t> data;
  std::vector<std::uint8_t> chunk(1 << 20);
  while (true) {
    const int n = gzread(f, chunk.data(), static_cast<unsigned>(chunk.size()));
    if (n < 0) {
      int code = 0;
      const std::string message = gzerror(f, &code);
      gzclose(f);
      throw std::runtime_error("'" + path.string() + "' is truncated or corrupt: " + message);
    }
    if (n == 0) break;
    data.insert(data.end(), chunk.begin(), chunk.begin() + n);
  }
  // A gzip stream cut short reads as a short file without error; gzclose reports it.
  const int rc = gzclose(f);
  if (rc != Z_OK && rc != Z_BUF_ERROR)
    throw std::runtime_error("'" + path.string() + "' is corrupt (gzip stream error " + std::to_string(rc) + ")");
  if (rc == Z_BUF_ERROR)
    throw std::runtime_error("'" + path.string() + "' is truncated (the gzip stream ends early)");
  return data;
}

inline void require_directory(const std::string& owner, const std::filesystem::path& dir,
                              const std::string& how_to_get) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    throw std::runtime_error(owner + ": data directory '" + dir.string() + "' does not exist; " + how_to_get);
}

}  // namespace rpcbench::datasets
