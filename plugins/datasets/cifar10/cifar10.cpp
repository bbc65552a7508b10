// CIFAR-10, binary version: data_batch_{1..5}.bin and test_batch.bin (1 label byte per record).
#include "../common/cifar_reader.hpp"

namespace {

using rpcbench::ParamType;
namespace ds = rpcbench::datasets;

constexpr rpcbench::ParamSpec kParams[] = {
    {"path", ParamType::text, "\"data/cifar-10-batches-bin\"",
     "folder of the CIFAR-10 binary version (cifar-10-binary.tar.gz, unpacked)"},
    {"train_limit", ParamType::integer, "0", "keep the first N training images (0: all 50000)"},
    {"test_limit", ParamType::integer, "0", "keep the first N test images (0: all 10000)"},
};

class Cifar10 : public ds::ImageSet {
 public:
  explicit Cifar10(const rpcbench::Params& p) : ImageSet("cifar10", 10) {
    const std::filesystem::path dir = p.get_string("path");
    ds::require_directory("cifar10", dir,
                          "download the CIFAR-10 binary version (cifar-10-binary.tar.gz), unpack it and "
                          "set `path` to its cifar-10-batches-bin folder");
    std::vector<std::filesystem::path> train;
    for (int i = 1; i <= 5; ++i) train.push_back(dir / ("data_batch_" + std::to_string(i) + ".bin"));
    add_split("train", ds::read_cifar(train, 1, 0), p.get_int_in("train_limit", 0), (dir / "data_batch_*.bin").string());
    add_split("test", ds::read_cifar({dir / "test_batch.bin"}, 1, 0), p.get_int_in("test_limit", 0),
              (dir / "test_batch.bin").string());
  }
};

}  // namespace

RPCBENCH_DATASET(Cifar10, "cifar10", "1.0.0", "CIFAR-10 (binary version)", kParams)
