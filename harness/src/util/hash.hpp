#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace rpcbench {

// SHA-256 as lowercase hex (OpenSSL).
std::string sha256_hex(std::string_view data);
// SHA-256 of a file's bytes; throws InputError naming the file when it cannot be read.
std::string sha256_file(const std::filesystem::path& path);
// Stable 64-bit seed from a parent seed and a key: adding a case does not shift the others.
std::uint64_t derive_seed(std::uint64_t parent, std::string_view key);

}  // namespace rpcbench
