// An in-memory labelled image set shared by the dataset plugins in this folder (not in the SDK):
// uint8 [N, C, H, W] images and int64 labels per split, served as float [0, 1] batches.
#pragma once

#include <rpcbench/plugin.hpp>

#include <map>
#include <string>

namespace rpcbench::datasets {

struct Split {
  torch::Tensor images;  // uint8 [N, C, H, W]
  torch::Tensor labels;  // int64 [N]
};

class ImageSet : public Dataset {
 public:
  DatasetSpec spec() const override {
    DatasetSpec spec;
    const auto& any = splits_.begin()->second.images;
    spec.input.x_shape = {any.size(1), any.size(2), any.size(3)};
    spec.input.num_classes = num_classes_;
    for (const auto& [name, split] : splits_) spec.split_sizes[name] = split.images.size(0);
    return spec;
  }

  Batch get(const std::string& split, const torch::Tensor& indices) override {
    auto it = splits_.find(split);
    if (it == splits_.end()) throw std::invalid_argument(name_ + ": no split '" + split + "'");
    Batch b;
    b.x = it->second.images.index_select(0, indices).to(torch::kFloat32).div_(255.0);
    b.labels = it->second.labels.index_select(0, indices);
    return b;
  }

 protected:
  ImageSet(std::string name, std::int64_t num_classes) : name_(std::move(name)), num_classes_(num_classes) {}

  // Keeps the first `limit` examples (0: all) and checks the labels.
  void add_split(const std::string& split, Split data, std::int64_t limit, const std::string& source) {
    if (data.labels.size(0) != data.images.size(0))
      throw std::runtime_error(source + ": " + std::to_string(data.images.size(0)) + " images but " +
                               std::to_string(data.labels.size(0)) + " labels");
    if (data.labels.numel() > 0) {
      const auto lo = data.labels.min().item<std::int64_t>(), hi = data.labels.max().item<std::int64_t>();
      if (lo < 0 || hi >= num_classes_)
        throw std::runtime_error(source + ": label " + std::to_string(lo < 0 ? lo : hi) + " outside [0, " +
                                 std::to_string(num_classes_ - 1) + "]");
    }
    if (limit > 0 && limit < data.images.size(0)) {
      data.images = data.images.narrow(0, 0, limit).clone();
      data.labels = data.labels.narrow(0, 0, limit).clone();
    }
    splits_[split] = std::move(data);
  }

  std::string name_;
  std::int64_t num_classes_;
  std::map<std::string, Split> splits_;
};

}  // namespace rpcbench::datasets
