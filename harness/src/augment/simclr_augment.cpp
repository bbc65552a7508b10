#include "augment/simclr_augment.hpp"

#include <cmath>

namespace rpcbench {
namespace {

// U(lo, hi) per image, drawn on the CPU generator, moved to `device`.
torch::Tensor uniform(std::int64_t n, double lo, double hi, at::Generator& gen, const torch::Device& device) {
  return (torch::rand({n}, gen, torch::kFloat32) * (hi - lo) + lo).to(device);
}

torch::Tensor bernoulli(std::int64_t n, double p, at::Generator& gen, const torch::Device& device) {
  return (torch::rand({n}, gen, torch::kFloat32) < p).to(device);
}

// Per-image [N] → [N, 1, 1, 1] for broadcasting over pixels.
torch::Tensor per_image(const torch::Tensor& v) { return v.view({-1, 1, 1, 1}); }

torch::Tensor where_images(const torch::Tensor& mask, const torch::Tensor& a, const torch::Tensor& b) {
  return torch::where(per_image(mask), a, b);
}

}  // namespace

torch::Tensor to_grayscale(const torch::Tensor& images) {
  if (images.size(1) == 1) return images;
  return (0.299 * images.select(1, 0) + 0.587 * images.select(1, 1) + 0.114 * images.select(1, 2)).unsqueeze(1);
}

torch::Tensor resized_crop(const torch::Tensor& images, const torch::Tensor& boxes) {
  const std::int64_t n = images.size(0);
  const torch::Tensor z = torch::zeros({n}, boxes.options());
  // theta maps output coordinates to input coordinates: x_in = s_x·flip·x_out + c_x.
  const torch::Tensor theta =
      torch::stack({boxes.select(1, 0) * boxes.select(1, 4), z, boxes.select(1, 2), z, boxes.select(1, 1), boxes.select(1, 3)}, 1)
          .view({n, 2, 3});
  const torch::Tensor grid = torch::nn::functional::affine_grid(theta, images.sizes().vec(), /*align_corners=*/false);
  return torch::nn::functional::grid_sample(
      images, grid,
      torch::nn::functional::GridSampleFuncOptions().mode(torch::kBilinear).padding_mode(torch::kBorder).align_corners(false));
}

torch::Tensor gaussian_blur(const torch::Tensor& images, const torch::Tensor& sigma, std::int64_t kernel_size) {
  const std::int64_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  const auto half = static_cast<double>(kernel_size / 2);
  const torch::Tensor offsets = torch::linspace(-half, half, kernel_size, images.options());
  torch::Tensor kernel = torch::exp(-offsets.square().unsqueeze(0) / (2.0 * sigma.square().unsqueeze(1)));
  kernel = kernel / kernel.sum(1, true);                               // [N, k]
  const torch::Tensor weights = kernel.repeat_interleave(c, 0);        // [N·C, k]: one kernel per channel
  const torch::Tensor flat = images.reshape({1, n * c, h, w});
  namespace F = torch::nn::functional;
  const auto pad = kernel_size / 2;
  torch::Tensor out = F::pad(flat, F::PadFuncOptions({pad, pad, 0, 0}).mode(torch::kReflect));
  out = F::conv2d(out, weights.view({n * c, 1, 1, kernel_size}), F::Conv2dFuncOptions().groups(n * c));
  out = F::pad(out, F::PadFuncOptions({0, 0, pad, pad}).mode(torch::kReflect));
  out = F::conv2d(out, weights.view({n * c, 1, kernel_size, 1}), F::Conv2dFuncOptions().groups(n * c));
  return out.view({n, c, h, w});
}

torch::Tensor augment(const torch::Tensor& images, const AugmentConfig& cfg, at::Generator& gen) {
  torch::NoGradGuard no_grad;
  const std::int64_t n = images.size(0), h = images.size(2), w = images.size(3);
  const torch::Device device = images.device();
  const bool rgb = images.size(1) == 3;

  // Random resized crop + horizontal flip, one affine resampling. Area fraction s and aspect ratio
  // r give a crop of width sqrt(s·r) and height sqrt(s/r) (fractions of the image, capped at 1).
  const torch::Tensor area = uniform(n, cfg.crop_scale_min, cfg.crop_scale_max, gen, device);
  const torch::Tensor log_ratio = uniform(n, std::log(cfg.crop_ratio_min), std::log(cfg.crop_ratio_max), gen, device);
  const torch::Tensor sx = torch::sqrt(area * torch::exp(log_ratio)).clamp_max(1.0);
  const torch::Tensor sy = torch::sqrt(area / torch::exp(log_ratio)).clamp_max(1.0);
  const torch::Tensor cx = (uniform(n, -1.0, 1.0, gen, device)) * (1.0 - sx);
  const torch::Tensor cy = (uniform(n, -1.0, 1.0, gen, device)) * (1.0 - sy);
  const torch::Tensor flip = torch::where(bernoulli(n, cfg.flip_p, gen, device), -1.0f, 1.0f).to(device);
  torch::Tensor x = resized_crop(images, torch::stack({sx, sy, cx, cy, flip}, 1));

  // Colour jitter (fixed order: brightness, contrast, saturation, hue), each image with p.
  const torch::Tensor jitter = bernoulli(n, cfg.jitter_p, gen, device);
  const torch::Tensor b = uniform(n, std::max(0.0, 1.0 - cfg.brightness), 1.0 + cfg.brightness, gen, device);
  const torch::Tensor c = uniform(n, std::max(0.0, 1.0 - cfg.contrast), 1.0 + cfg.contrast, gen, device);
  const torch::Tensor s = uniform(n, std::max(0.0, 1.0 - cfg.saturation), 1.0 + cfg.saturation, gen, device);
  const torch::Tensor hue = uniform(n, -cfg.hue, cfg.hue, gen, device);
  torch::Tensor j = (x * per_image(b)).clamp(0.0, 1.0);
  const torch::Tensor mean = to_grayscale(j).mean({1, 2, 3}, true);
  j = ((j - mean) * per_image(c) + mean).clamp(0.0, 1.0);
  if (rgb) {
    const torch::Tensor gray = to_grayscale(j);
    j = ((j - gray) * per_image(s) + gray).clamp(0.0, 1.0);
    // Hue: rotate the chroma plane of YIQ by 2π·hue (a linear stand-in for HSV's hue shift).
    const torch::Tensor yiq_from_rgb = torch::tensor({0.299, 0.587, 0.114, 0.596, -0.274, -0.322, 0.211, -0.523, 0.312},
                                                     images.options()).view({3, 3});
    const torch::Tensor rgb_from_yiq = torch::inverse(yiq_from_rgb);
    const torch::Tensor yiq = torch::einsum("ij,njhw->nihw", {yiq_from_rgb, j});
    const torch::Tensor angle = per_image(hue * (2.0 * M_PI));
    const torch::Tensor i2 = yiq.select(1, 1).unsqueeze(1) * torch::cos(angle) - yiq.select(1, 2).unsqueeze(1) * torch::sin(angle);
    const torch::Tensor q2 = yiq.select(1, 1).unsqueeze(1) * torch::sin(angle) + yiq.select(1, 2).unsqueeze(1) * torch::cos(angle);
    j = torch::einsum("ij,njhw->nihw", {rgb_from_yiq, torch::cat({yiq.select(1, 0).unsqueeze(1), i2, q2}, 1)}).clamp(0.0, 1.0);
  }
  x = where_images(jitter, j, x);

  if (rgb) x = where_images(bernoulli(n, cfg.gray_p, gen, device), to_grayscale(x).expand_as(x), x);

  if (cfg.blur_p > 0.0) {
    // Kernel 10% of the image side, odd, at least 3 (SimCLR).
    std::int64_t k = std::max<std::int64_t>(3, static_cast<std::int64_t>(std::lround(0.1 * std::min(h, w))));
    if (k % 2 == 0) ++k;
    const torch::Tensor sigma = uniform(n, cfg.blur_sigma_min, cfg.blur_sigma_max, gen, device);
    x = where_images(bernoulli(n, cfg.blur_p, gen, device), gaussian_blur(x, sigma, k), x);
  }
  return x.contiguous();
}

}  // namespace rpcbench
