// The CIFAR binary format: records of `label_bytes` label bytes then 3072 pixel bytes
// (1024 red, 1024 green, 1024 blue, row-major 32×32).
#pragma once

#include "file_bytes.hpp"
#include "image_set.hpp"

namespace rpcbench::datasets {

inline constexpr std::int64_t kCifarPixels = 3 * 32 * 32;

// Reads and concatenates `files`; `label_byte` picks which of the label bytes is the label.
inline Split read_cifar(const std::vector<std::filesystem::path>& files, std::int64_t label_bytes,
                        std::int64_t label_byte) {
  std::vector<torch::Tensor> images, labels;
  const std::int64_t record = label_bytes + kCifarPixels;
  for (const auto& file : files) {
    std::error_code ec;
    if (!std::filesystem::exists(file, ec))
      throw std::runtime_error("'" + file.string() + "' does not exist");
    const auto bytes = read_file_bytes(file);
    if (bytes.empty() || bytes.size() % record != 0)
      throw std::runtime_error("'" + file.string() + "' is truncated or not a CIFAR binary file: " +
                               std::to_string(bytes.size()) + " bytes is not a multiple of the " +
                               std::to_string(record) + "-byte record");
    const auto n = static_cast<std::int64_t>(bytes.size()) / record;
    const torch::Tensor all =
        torch::from_blob(const_cast<std::uint8_t*>(bytes.data()), {n, record}, torch::kUInt8);
    labels.push_back(all.select(1, label_byte).to(torch::kInt64));
    images.push_back(all.narrow(1, label_bytes, kCifarPixels).reshape({n, 3, 32, 32}).clone());
  }
  return {torch::cat(images), torch::cat(labels)};
}

}  // namespace rpcbench::datasets
