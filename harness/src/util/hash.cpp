#include "util/hash.hpp"

#include "util/errors.hpp"

#include <openssl/evp.h>

#include <array>
#include <cstring>
#include <fstream>
#include <memory>

namespace rpcbench {
namespace {

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new(), &EVP_MD_CTX_free) {
    RPCBENCH_CHECK(ctx_ && EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) == 1,
                   "EVP_DigestInit_ex failed");
  }
  void update(const void* data, std::size_t size) {
    RPCBENCH_CHECK(EVP_DigestUpdate(ctx_.get(), data, size) == 1, "EVP_DigestUpdate failed");
  }
  std::array<unsigned char, 32> digest() {
    std::array<unsigned char, 32> out{};
    unsigned int size = 0;
    RPCBENCH_CHECK(EVP_DigestFinal_ex(ctx_.get(), out.data(), &size) == 1 && size == 32,
                   "EVP_DigestFinal_ex failed");
    return out;
  }
  std::string hex() {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string s;
    for (unsigned char b : digest()) {
      s += kDigits[b >> 4];
      s += kDigits[b & 15];
    }
    return s;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx_;
};

}  // namespace

std::string sha256_hex(std::string_view data) {
  Sha256 h;
  h.update(data.data(), data.size());
  return h.hex();
}

std::string sha256_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot read '" + path.string() + "'");
  Sha256 h;
  std::array<char, 1 << 16> buffer{};
  while (in) {
    in.read(buffer.data(), buffer.size());
    h.update(buffer.data(), static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad()) throw InputError("error while reading '" + path.string() + "'");
  return h.hex();
}

std::uint64_t derive_seed(std::uint64_t parent, std::string_view key) {
  Sha256 h;
  h.update(&parent, sizeof parent);
  h.update(key.data(), key.size());
  const auto d = h.digest();
  std::uint64_t seed = 0;
  std::memcpy(&seed, d.data(), sizeof seed);
  // LibTorch seeds are 64-bit but some consumers (Python's random, numpy) take 63: stay below.
  return seed >> 1;
}

}  // namespace rpcbench
