// CIFAR-100, binary version: train.bin and test.bin (2 label bytes per record: coarse, fine).
#include "../common/cifar_reader.hpp"

namespace {

using rpcbench::ParamType;
namespace ds = rpcbench::datasets;

constexpr rpcbench::ParamSpec kParams[] = {
    {"path", ParamType::text, "\"data/cifar-100-binary\"",
     "folder of the CIFAR-100 binary version (cifar-100-binary.tar.gz, unpacked)"},
    {"labels", ParamType::text, "\"fine\"", "\"fine\" (100 classes) or \"coarse\" (20 superclasses)"},
    {"train_limit", ParamType::integer, "0", "keep the first N training images (0: all 50000)"},
    {"test_limit", ParamType::integer, "0", "keep the first N test images (0: all 10000)"},
};

std::int64_t classes(const rpcbench::Params& p) {
  const std::string& labels = p.get_string("labels");
  if (labels != "fine" && labels != "coarse") p.fail("labels", "must be \"fine\" or \"coarse\", got \"" + labels + "\"");
  return labels == "fine" ? 100 : 20;
}

class Cifar100 : public ds::ImageSet {
 public:
  explicit Cifar100(const rpcbench::Params& p) : ImageSet("cifar100", classes(p)) {
    const std::filesystem::path dir = p.get_string("path");
    ds::require_directory("cifar100", dir,
                          "download the CIFAR-100 binary version (cifar-100-binary.tar.gz), unpack it and "
                          "set `path` to its cifar-100-binary folder");
    const std::int64_t byte = p.get_string("labels") == "fine" ? 1 : 0;
    add_split("train", ds::read_cifar({dir / "train.bin"}, 2, byte), p.get_int_in("train_limit", 0),
              (dir / "train.bin").string());
    add_split("test", ds::read_cifar({dir / "test.bin"}, 2, byte), p.get_int_in("test_limit", 0),
              (dir / "test.bin").string());
  }
};

}  // namespace

RPCBENCH_DATASET(Cifar100, "cifar100", "1.0.0", "CIFAR-100 (binary version), fine or coarse labels", kParams)
