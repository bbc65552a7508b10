// SimCLR's augmentations, batched in LibTorch on the images' device. Every random draw comes from
// one CPU generator, so a seed gives the same views on any device.
#pragma once

#include <torch/torch.h>

namespace rpcbench {

struct AugmentConfig {
  double crop_scale_min = 0.08, crop_scale_max = 1.0;    // area fraction of the crop
  double crop_ratio_min = 3.0 / 4.0, crop_ratio_max = 4.0 / 3.0;
  double flip_p = 0.5;
  double jitter_p = 0.8;                                  // colour jitter applied with this p
  double brightness = 0.4, contrast = 0.4, saturation = 0.4, hue = 0.1;
  double gray_p = 0.2;                                    // random grayscale (RGB only)
  double blur_p = 0.0;                                    // Gaussian blur (SimCLR ImageNet: 0.5)
  double blur_sigma_min = 0.1, blur_sigma_max = 2.0;

  // SimCLR's colour jitter at strength s: brightness, contrast, saturation 0.8·s, hue 0.2·s.
  void set_jitter_strength(double s) {
    brightness = contrast = saturation = 0.8 * s;
    hue = 0.2 * s;
  }
};

// images: float [N, C, H, W] in [0, 1], C = 1 or 3. Returns a new batch of the same shape, values
// in [0, 1]. On grayscale images only brightness and contrast apply.
torch::Tensor augment(const torch::Tensor& images, const AugmentConfig& config, at::Generator& generator);

// The building blocks, exposed for tests.
// Crop boxes as affine maps: for each image, (scale_x, scale_y, centre_x, centre_y, flip ±1) in
// normalised coordinates; the crop is resampled to the input size (bilinear).
torch::Tensor resized_crop(const torch::Tensor& images, const torch::Tensor& boxes);
torch::Tensor gaussian_blur(const torch::Tensor& images, const torch::Tensor& sigma, std::int64_t kernel_size);
torch::Tensor to_grayscale(const torch::Tensor& images);  // [N, 1, H, W] luma of RGB (or the image)

}  // namespace rpcbench
