// Fashion-MNIST (and MNIST, given its path): the IDX files, gzipped or not.
// IDX: big-endian magic 0x00000803 (images: count, rows, cols) or 0x00000801 (labels: count).
#include "../common/file_bytes.hpp"
#include "../common/image_set.hpp"

#include <array>

namespace {

using rpcbench::ParamType;
namespace ds = rpcbench::datasets;
namespace fs = std::filesystem;

constexpr rpcbench::ParamSpec kParams[] = {
    {"path", ParamType::text, "\"/usr/share/datasets/fashion-mnist\"",
     "folder with {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] (Debian: dataset-fashion-mnist)"},
    {"train_limit", ParamType::integer, "0", "keep the first N training images (0: all 60000)"},
    {"test_limit", ParamType::integer, "0", "keep the first N test images (0: all 10000)"},
};

std::uint32_t big_endian(const std::vector<std::uint8_t>& b, std::size_t at) {
  return (std::uint32_t{b[at]} << 24) | (std::uint32_t{b[at + 1]} << 16) | (std::uint32_t{b[at + 2]} << 8) | b[at + 3];
}

fs::path find_file(const fs::path& dir, const std::string& stem) {
  for (const fs::path& p : {dir / (stem + ".gz"), dir / stem})
    if (fs::exists(p)) return p;
  throw std::runtime_error("fashion_mnist: neither '" + (dir / (stem + ".gz")).string() + "' nor '" +
                           (dir / stem).string() + "' exists");
}

ds::Split read_idx_pair(const fs::path& dir, const std::string& prefix) {
  const fs::path image_path = find_file(dir, prefix + "-images-idx3-ubyte");
  const fs::path label_path = find_file(dir, prefix + "-labels-idx1-ubyte");
  const auto images = ds::read_file_bytes(image_path);
  const auto labels = ds::read_file_bytes(label_path);
  if (images.size() < 16 || big_endian(images, 0) != 0x803)
    throw std::runtime_error("'" + image_path.string() + "' is not an IDX image file (magic 0x00000803 expected)");
  if (labels.size() < 8 || big_endian(labels, 0) != 0x801)
    throw std::runtime_error("'" + label_path.string() + "' is not an IDX label file (magic 0x00000801 expected)");
  const std::int64_t n = big_endian(images, 4), rows = big_endian(images, 8), cols = big_endian(images, 12);
  const std::int64_t n_labels = big_endian(labels, 4);
  if (static_cast<std::int64_t>(images.size()) != 16 + n * rows * cols)
    throw std::runtime_error("'" + image_path.string() + "' is truncated or padded: header says " + std::to_string(n) +
                             " images of " + std::to_string(rows) + "×" + std::to_string(cols) + " (" +
                             std::to_string(16 + n * rows * cols) + " bytes), the file has " +
                             std::to_string(images.size()));
  if (static_cast<std::int64_t>(labels.size()) != 8 + n_labels)
    throw std::runtime_error("'" + label_path.string() + "' is truncated or padded: header says " +
                             std::to_string(n_labels) + " labels, the file has " + std::to_string(labels.size() - 8));
  if (n_labels != n)
    throw std::runtime_error("'" + image_path.string() + "' has " + std::to_string(n) + " images but '" +
                             label_path.string() + "' has " + std::to_string(n_labels) + " labels");
  ds::Split split;
  split.images = torch::from_blob(const_cast<std::uint8_t*>(images.data()) + 16, {n, 1, rows, cols}, torch::kUInt8).clone();
  split.labels = torch::from_blob(const_cast<std::uint8_t*>(labels.data()) + 8, {n}, torch::kUInt8).to(torch::kInt64);
  return split;
}

class FashionMnist : public ds::ImageSet {
 public:
  explicit FashionMnist(const rpcbench::Params& p) : ImageSet("fashion_mnist", 10) {
    const fs::path dir = p.get_string("path");
    ds::require_directory("fashion_mnist", dir,
                          "install Debian's dataset-fashion-mnist (scripts/setup.sh does) or set `path` "
                          "to a folder with the IDX files");
    const auto train_limit = p.get_int_in("train_limit", 0), test_limit = p.get_int_in("test_limit", 0);
    add_split("train", read_idx_pair(dir, "train"), train_limit, (dir / "train-*").string());
    add_split("test", read_idx_pair(dir, "t10k"), test_limit, (dir / "t10k-*").string());
  }
};

}  // namespace

RPCBENCH_DATASET(FashionMnist, "fashion_mnist", "1.0.0", "Fashion-MNIST / MNIST from IDX files", kParams)
