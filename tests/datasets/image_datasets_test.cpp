// The image readers on files the test writes (good, plain, truncated, wrong magic, wrong label
// range, corrupt gzip) and on the real Fashion-MNIST that scripts/setup.sh installs.
#include "test_support.hpp"
#include "util/errors.hpp"

#include <zlib.h>

namespace rpcbench {
namespace {

namespace fs = std::filesystem;

std::vector<std::uint8_t> be32(std::uint32_t v) {
  return {std::uint8_t(v >> 24), std::uint8_t(v >> 16), std::uint8_t(v >> 8), std::uint8_t(v)};
}

void write_bytes(const fs::path& path, const std::vector<std::uint8_t>& bytes, bool gzip) {
  if (gzip) {
    gzFile f = gzopen(path.c_str(), "wb");
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
  } else {
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
}

// n images of 4×3 pixels, pixel value = image index + row + col; labels = index % 10.
void write_idx(const fs::path& dir, const std::string& prefix, std::uint32_t n, bool gzip,
               std::uint8_t bad_label = 255, std::uint32_t image_magic = 0x803) {
  std::vector<std::uint8_t> images = be32(image_magic), labels = be32(0x801);
  for (auto v : {n, 4u, 3u}) for (auto b : be32(v)) images.push_back(b);
  for (auto b : be32(n)) labels.push_back(b);
  for (std::uint32_t i = 0; i < n; ++i) {
    for (int r = 0; r < 4; ++r)
      for (int c = 0; c < 3; ++c) images.push_back(static_cast<std::uint8_t>(i + r + c));
    labels.push_back(i == 1 && bad_label != 255 ? bad_label : static_cast<std::uint8_t>(i % 10));
  }
  const std::string ext = gzip ? ".gz" : "";
  write_bytes(dir / (prefix + "-images-idx3-ubyte" + ext), images, gzip);
  write_bytes(dir / (prefix + "-labels-idx1-ubyte" + ext), labels, gzip);
}

std::shared_ptr<Dataset> make(const std::string& plugin, std::map<std::string, ParamValue> params) {
  const auto& registry = test::real_plugins();
  return registry.make_dataset(*registry.find(PluginKind::dataset, plugin), Params("dataset '" + plugin + "'", std::move(params)));
}

std::shared_ptr<Dataset> fmnist(const fs::path& dir) {
  return make("fashion_mnist", {{"path", dir.string()}, {"train_limit", std::int64_t{0}}, {"test_limit", std::int64_t{0}}});
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}

TEST(FashionMnist, ReadsGzippedAndPlainIdx) {
  for (bool gzip : {true, false}) {
    test::TempDir dir;
    write_idx(dir.path(), "train", 12, gzip);
    write_idx(dir.path(), "t10k", 5, gzip);
    auto ds = fmnist(dir.path());
    const DatasetSpec spec = ds->spec();
    EXPECT_EQ(spec.split_sizes.at("train"), 12);
    EXPECT_EQ(spec.split_sizes.at("test"), 5);
    EXPECT_EQ(spec.input.x_shape, (std::vector<std::int64_t>{1, 4, 3}));
    EXPECT_EQ(spec.input.num_classes, 10);
    const Batch b = ds->get("train", torch::tensor({11, 2}, torch::kLong));
    EXPECT_EQ(b.x.sizes(), (std::vector<std::int64_t>{2, 1, 4, 3}));
    EXPECT_FLOAT_EQ(b.x[0][0][2][1].item<float>(), (11 + 2 + 1) / 255.0f);
    EXPECT_EQ(b.labels[0].item<std::int64_t>(), 1);
    EXPECT_EQ(b.labels[1].item<std::int64_t>(), 2);
  }
}

TEST(FashionMnist, LimitsKeepTheFirstImages) {
  test::TempDir dir;
  write_idx(dir.path(), "train", 12, true);
  write_idx(dir.path(), "t10k", 5, true);
  auto ds = make("fashion_mnist", {{"path", dir.path().string()}, {"train_limit", std::int64_t{4}}, {"test_limit", std::int64_t{2}}});
  EXPECT_EQ(ds->spec().split_sizes.at("train"), 4);
  EXPECT_EQ(ds->spec().split_sizes.at("test"), 2);
}

TEST(FashionMnist, BadFilesNameTheFileAndWhatIsWrong) {
  test::TempDir dir;
  write_idx(dir.path(), "t10k", 5, true);
  write_idx(dir.path(), "train", 12, false, 255, 0x1234);
  std::string e = error_of([&] { fmnist(dir.path()); });
  EXPECT_NE(e.find("train-images-idx3-ubyte' is not an IDX image file"), std::string::npos) << e;

  write_idx(dir.path(), "train", 12, false, /*bad_label=*/12);
  e = error_of([&] { fmnist(dir.path()); });
  EXPECT_NE(e.find("label 12 outside [0, 9]"), std::string::npos) << e;

  write_idx(dir.path(), "train", 12, false);
  fs::resize_file(dir.path() / "train-images-idx3-ubyte", 16 + 12 * 12 - 5);
  e = error_of([&] { fmnist(dir.path()); });
  EXPECT_NE(e.find("train-images-idx3-ubyte' is truncated"), std::string::npos) << e;
  EXPECT_NE(e.find("header says 12 images"), std::string::npos) << e;
}

TEST(FashionMnist, TruncatedGzipStreamAndMissingFolder) {
  test::TempDir dir;
  write_idx(dir.path(), "train", 200, true);
  write_idx(dir.path(), "t10k", 5, true);
  fs::resize_file(dir.path() / "train-images-idx3-ubyte.gz", fs::file_size(dir.path() / "train-images-idx3-ubyte.gz") / 2);
  std::string e = error_of([&] { fmnist(dir.path()); });
  EXPECT_NE(e.find("train-images-idx3-ubyte.gz"), std::string::npos) << e;
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;
  e = error_of([&] { fmnist(dir.path() / "nope"); });
  EXPECT_NE(e.find("does not exist"), std::string::npos) << e;
  EXPECT_NE(e.find("dataset-fashion-mnist"), std::string::npos) << e;
}

TEST(FashionMnist, TheRealDataInstalledBySetup) {
  auto ds = fmnist("/usr/share/datasets/fashion-mnist");
  const DatasetSpec spec = ds->spec();
  EXPECT_EQ(spec.split_sizes.at("train"), 60000);
  EXPECT_EQ(spec.split_sizes.at("test"), 10000);
  EXPECT_EQ(spec.input.x_shape, (std::vector<std::int64_t>{1, 28, 28}));
  const Batch b = ds->get("test", torch::arange(10000, torch::kLong));
  EXPECT_EQ(torch::bincount(b.labels).min().item<std::int64_t>(), 1000);  // balanced: 1000 a class
  EXPECT_GE(b.x.min().item<float>(), 0.0f);
  EXPECT_LE(b.x.max().item<float>(), 1.0f);
}

// CIFAR records: label byte(s), then 3072 pixel bytes.
void write_cifar(const fs::path& file, int records, int label_bytes, int label_base, bool truncate = false) {
  std::vector<std::uint8_t> bytes;
  for (int i = 0; i < records; ++i) {
    for (int l = 0; l < label_bytes; ++l) bytes.push_back(static_cast<std::uint8_t>((label_base + i + l) % 10));
    for (int p = 0; p < 3072; ++p) bytes.push_back(static_cast<std::uint8_t>((i * 7 + p) % 256));
  }
  if (truncate) bytes.resize(bytes.size() - 100);
  write_bytes(file, bytes, false);
}

TEST(Cifar, TenAndHundredReadTheirBinaryFormat) {
  test::TempDir dir;
  for (int i = 1; i <= 5; ++i) write_cifar(dir.path() / ("data_batch_" + std::to_string(i) + ".bin"), 3, 1, i);
  write_cifar(dir.path() / "test_batch.bin", 4, 1, 0);
  auto c10 = make("cifar10", {{"path", dir.path().string()}, {"train_limit", std::int64_t{0}}, {"test_limit", std::int64_t{0}}});
  EXPECT_EQ(c10->spec().split_sizes.at("train"), 15);
  EXPECT_EQ(c10->spec().input.x_shape, (std::vector<std::int64_t>{3, 32, 32}));
  const Batch b = c10->get("train", torch::tensor({3}, torch::kLong));  // batch 2, record 0
  EXPECT_EQ(b.labels[0].item<std::int64_t>(), 2);
  EXPECT_FLOAT_EQ(b.x[0][1][0][0].item<float>(), (1024 % 256) / 255.0f);  // green plane starts at byte 1024

  write_cifar(dir.path() / "test_batch.bin", 4, 1, 0, /*truncate=*/true);
  const std::string e = error_of([&] {
    make("cifar10", {{"path", dir.path().string()}, {"train_limit", std::int64_t{0}}, {"test_limit", std::int64_t{0}}});
  });
  EXPECT_NE(e.find("test_batch.bin' is truncated"), std::string::npos) << e;

  write_cifar(dir.path() / "train.bin", 6, 2, 0);
  write_cifar(dir.path() / "test.bin", 2, 2, 0);
  for (const std::string labels : {"fine", "coarse"}) {
    auto c100 = make("cifar100", {{"path", dir.path().string()}, {"labels", labels},
                                  {"train_limit", std::int64_t{0}}, {"test_limit", std::int64_t{0}}});
    EXPECT_EQ(c100->spec().input.num_classes, labels == "fine" ? 100 : 20);
    // Record 0 has coarse label 0 and fine label 1.
    EXPECT_EQ(c100->get("train", torch::tensor({0}, torch::kLong)).labels[0].item<std::int64_t>(), labels == "fine" ? 1 : 0);
  }
  EXPECT_NE(error_of([&] { make("cifar10", {{"path", "/nonexistent"}, {"train_limit", std::int64_t{0}}, {"test_limit", std::int64_t{0}}}); })
                .find("cifar-10-binary"),
            std::string::npos);
}

}  // namespace
}  // namespace rpcbench
