// The `cpc` task: Contrastive Predictive Coding on raw audio (Oord et al. 2018; the CPC audio
// set-up of Rivière et al. 2020). Each step draws random windows of training audio; a sequence
// encoder gives frames z and an autoregressive context c; for k = 1 … K a linear predictor maps
// c_t to a prediction of z_{t+k}, scored against the true z_{t+k} (positive) and negatives drawn
// from the batch. Each k gives the objective its pos [M] and neg [M × count]; the loss is the mean
// over k. Evaluation on frozen features: a linear phoneme classifier per frame and a linear
// speaker classifier on utterance means, top-1 on the test split, beside a `random_init` control.
#include "tasks/cpc.hpp"
#include "tasks/task.hpp"
#include "tasks/training.hpp"
#include "util/errors.hpp"
#include "util/hash.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <numeric>
#include <sstream>

namespace rpcbench {
namespace cpc {

torch::Tensor sample_negatives(const std::vector<std::int64_t>& speakers, std::int64_t frames,
                               std::int64_t steps_ahead, std::int64_t count, bool same_speaker,
                               at::Generator& generator) {
  const auto b = static_cast<std::int64_t>(speakers.size());
  const std::int64_t anchors = frames - steps_ahead;
  RPCBENCH_CHECK(anchors > 0 && b > 0, "cpc: a window needs more frames than prediction steps");
  // Each window's pool: [first, first + size) in flat frame indices.
  std::vector<std::int64_t> first(b), size(b);
  for (std::int64_t w = 0; w < b; ++w) {
    std::int64_t lo = w, hi = w + 1;
    if (same_speaker) {
      while (lo > 0 && speakers[lo - 1] == speakers[w]) --lo;
      while (hi < b && speakers[hi] == speakers[w]) ++hi;
      for (std::int64_t v = 0; v < b; ++v)
        RPCBENCH_CHECK((v >= lo && v < hi) || speakers[v] != speakers[w],
                       "cpc: windows of a speaker must be contiguous");
    } else {
      lo = 0, hi = b;
    }
    first[w] = lo * frames;
    size[w] = (hi - lo) * frames;
  }
  const auto opts = torch::TensorOptions().dtype(torch::kInt64);
  const torch::Tensor first_t = torch::tensor(first, opts).view({b, 1, 1});
  const torch::Tensor size_t_ = torch::tensor(size, opts).view({b, 1, 1});
  // u uniform in [0, size − K): the pool minus the anchor's K positives, then skip over them.
  const torch::Tensor u = (torch::rand({b, anchors, count}, generator, torch::kFloat64) *
                           (size_t_ - steps_ahead).to(torch::kFloat64))
                              .floor()
                              .to(torch::kInt64)
                              .minimum(size_t_ - steps_ahead - 1);
  const torch::Tensor window = torch::arange(b, opts).view({b, 1, 1});
  const torch::Tensor t = torch::arange(anchors, opts).view({1, anchors, 1});
  const torch::Tensor skip_from =
      window * frames + t + 1 - first_t;  // first positive, relative to the pool
  return first_t + u + steps_ahead * (u >= skip_from).to(torch::kInt64);
}

StepScores step_scores(const torch::Tensor& predictions, const torch::Tensor& z, std::int64_t k,
                       const torch::Tensor& negatives, double temperature) {
  const std::int64_t b = predictions.size(0), w = predictions.size(1), d = predictions.size(2);
  const torch::Tensor p = predictions.reshape({b * w, d});
  const torch::Tensor target = z.narrow(1, k, w).reshape({b * w, d});
  StepScores s;
  s.pos = (p * target).sum(1) / temperature;
  s.neg = torch::bmm(negatives, p.unsqueeze(2)).squeeze(2) / temperature;
  return s;
}

Loss loss(Encoder& encoder, torch::nn::ModuleList& predictors, Objective& objective,
          const torch::Tensor& x, const std::vector<std::int64_t>& speakers,
          const LossConfig& config, at::Generator& negative_generator) {
  namespace F = torch::nn::functional;
  const std::int64_t n = x.size(0), k_max = config.steps_ahead;
  torch::Tensor z = encoder.encode_sequence(x);  // [B, F, D]
  const std::int64_t frames = x.size(-1) / encoder.frame_stride(), dim = encoder.output_dim();
  if (z.dim() != 3 || z.size(0) != n || z.size(1) != frames || z.size(2) != dim)
    throw std::runtime_error(
        "the encoder returned frames of shape " + c10::str(z.sizes()) + " for " +
        std::to_string(n) + " windows of " + std::to_string(x.size(-1)) + " samples; expected [" +
        std::to_string(n) + ", " + std::to_string(frames) + ", " + std::to_string(dim) + "]");
  const std::int64_t anchors = frames - k_max;
  const torch::Tensor c = encoder.context(z).narrow(1, 0, anchors);  // [B, W, H]
  if (config.normalize) z = F::normalize(z, F::NormalizeFuncOptions().dim(2));
  const torch::Tensor index = sample_negatives(speakers, frames, k_max, config.negatives,
                                               config.same_speaker, negative_generator);
  // One gather serves every k.
  const torch::Tensor negs = z.reshape({n * frames, dim})
                                 .index_select(0, index.flatten().to(z.device()))
                                 .view({n * anchors, config.negatives, dim});
  Loss out;
  for (std::int64_t k = 1; k <= k_max; ++k) {
    torch::Tensor prediction = predictors[k - 1]->as<torch::nn::Linear>()->forward(c);
    if (config.normalize) prediction = F::normalize(prediction, F::NormalizeFuncOptions().dim(2));
    const StepScores s = step_scores(prediction, z, k, negs, config.temperature);
    const ObjectiveResult r = objective.evaluate(s.pos, s.neg);
    const torch::Tensor accuracy =
        s.pos.detach().unsqueeze(1).gt(s.neg.detach()).all(1).to(torch::kFloat64).mean();
    out.loss = k == 1 ? r.loss : out.loss + r.loss;
    out.mi = k == 1 ? r.mi.detach() : out.mi + r.mi.detach();
    out.accuracy = k == 1 ? accuracy : out.accuracy + accuracy;
    for (const auto& [name, value] : r.diagnostics)
      out.diagnostics[name] =
          out.diagnostics.count(name) ? out.diagnostics[name] + value.detach() : value.detach();
  }
  const double kd = static_cast<double>(k_max);
  out.loss = out.loss / kd;
  out.mi = out.mi / kd;
  out.accuracy = out.accuracy / kd;
  for (auto& [name, value] : out.diagnostics) value = value / kd;
  return out;
}

void SpeechFeatures::add(const torch::Tensor& features, const torch::Tensor& labels,
                         const torch::Tensor& frames_valid, const torch::Tensor& speaker) {
  const std::int64_t f = std::min(features.size(1), labels.size(1));
  const torch::Tensor lab = labels.narrow(1, 0, f).to(features.device());
  const torch::Tensor labelled = lab.ge(0);
  frames.push_back(features.narrow(1, 0, f).index({labelled}));
  frame_labels.push_back(lab.index({labelled}));
  const torch::Tensor inside =
      torch::arange(features.size(1),
                    torch::TensorOptions().dtype(torch::kInt64).device(features.device()))
          .view({1, -1})
          .lt(frames_valid.to(features.device()).view({-1, 1}));
  const torch::Tensor weights = inside.to(features.dtype()).unsqueeze(2);
  pooled.push_back((features * weights).sum(1) / weights.sum(1).clamp_min(1.0));
  speakers.push_back(speaker.to(features.device()));
}

SpeechProbeResult speech_probes(const SpeechFeatures& train, const SpeechFeatures& test,
                                std::int64_t phoneme_classes, std::int64_t speakers,
                                const SpeechProbeConfig& config, at::Generator& generator) {
  SpeechProbeResult r;
  const torch::Tensor xtr = torch::cat(train.frames), ytr = torch::cat(train.frame_labels);
  const torch::Tensor xte = torch::cat(test.frames), yte = torch::cat(test.frame_labels);
  r.train_frames = xtr.size(0);
  r.test_frames = xte.size(0);
  const std::int64_t commonest =
      torch::bincount(ytr.cpu(), {}, phoneme_classes).argmax().item<std::int64_t>();
  r.phoneme_majority = yte.eq(commonest).to(torch::kFloat64).mean().item<double>();
  r.phoneme_top1 =
      linear_probe_top1(xtr, ytr, xte, yte, phoneme_classes, config.phoneme, generator);
  r.speaker_top1 = linear_probe_top1(torch::cat(train.pooled), torch::cat(train.speakers),
                                     torch::cat(test.pooled), torch::cat(test.speakers), speakers,
                                     config.speaker, generator);
  return r;
}

}  // namespace cpc

namespace {

constexpr std::int64_t kFlushEvery = 20;

class CpcTask : public Task {
 public:
  std::string name() const override { return "cpc"; }
  std::string summary() const override {
    return "CPC on raw audio (sequence encoder, GRU context, k-step predictions against in-batch "
           "negatives, any "
           "objective), then frame phoneme and utterance speaker linear probes; a random_init "
           "control per dataset";
  }
  std::vector<ParamDecl> params() const override {
    auto p = [](const char* n, ParamType t, const char* d, const char* h) {
      return ParamDecl{n, t, d, false, h};
    };
    std::vector<ParamDecl> params{
        p("batch_size", ParamType::integer, "32", "windows per step"),
        p("window", ParamType::integer, "20480",
          "samples per window (a multiple of the encoder's frame stride)"),
        p("epochs", ParamType::integer, "1", "training epochs"),
        p("steps_per_epoch", ParamType::integer, "0",
          "steps per epoch (0: the training audio once, i.e. train samples / (window × "
          "batch_size))"),
        p("predict_steps", ParamType::integer, "12", "K: predict z(t+1) … z(t+K) from c(t)"),
        p("negatives", ParamType::integer, "128", "negatives per anchor, drawn from the batch"),
        p("negative_sampling", ParamType::text, "\"batch\"",
          "\"batch\": any frame of any window; \"same_speaker\": frames of windows of the anchor's "
          "speaker"),
        p("speakers_per_batch", ParamType::integer, "0",
          "0: windows from any utterance; S > 0: each batch holds batch_size / S windows of each "
          "of S speakers"),
        p("learning_rate", ParamType::real, "2e-4", "Adam learning rate (CPC audio: 2e-4)"),
        p("weight_decay", ParamType::real, "0.0", "Adam weight decay"),
        p("temperature", ParamType::real, "1.0", "scores are ⟨prediction, z⟩ / T"),
        p("normalize", ParamType::boolean, "false",
          "L2-normalise predictions and z before scoring"),
        p("eval_every", ParamType::integer, "0",
          "evaluate every K epochs (0: only after the last)"),
        p("probe_features", ParamType::text, "\"context\"",
          "features the probes see: \"context\" (c) or \"encoder\" (z)"),
        p("probe_train_utterances", ParamType::integer, "0",
          "training utterances the probes learn from (0: all; N: N drawn with the case seed)"),
        p("phoneme_epochs", ParamType::integer, "10",
          "phoneme probe epochs (Adam, minibatches of 1024 frames)"),
        p("speaker_epochs", ParamType::integer, "100",
          "speaker probe epochs (Adam, minibatches of 256 utterances)"),
        p("probe_lr", ParamType::real, "1e-3", "probe learning rate (standardised features)"),
        p("probe_weight_decay", ParamType::real, "1e-6", "probe weight decay"),
        p("eval_batch", ParamType::integer, "16",
          "utterances per forward pass when extracting features"),
        p("control", ParamType::boolean, "true",
          "add a random_init case per dataset (untrained encoder)"),
        p("checkpoint_every", ParamType::integer, "0",
          "save a checkpoint every K epochs beside the database (0: never); `harness run --resume` "
          "continues from it"),
    };
    for (auto& each : training_params()) params.push_back(std::move(each));
    return params;
  }
  bool adds_control(const Suite& suite) const override {
    return suite.task_params.get_bool("control");
  }
  // Steps × windows × window length: the audio a case trains on (the control only evaluates).
  double case_cost(const Case& c) const override {
    const Params& p = *c.task_params;
    const double steps = static_cast<double>(p.get_int("epochs")) *
                         static_cast<double>(std::max<std::int64_t>(p.get_int("steps_per_epoch"), 100));
    return c.objective ? 1.0 + steps * static_cast<double>(p.get_int("batch_size") * p.get_int("window")) * 1e-7
                       : 1.0;
  }
  std::vector<PlotSpec> plots() const override {
    using K = PlotSpec::Kind;
    return {{K::summary_bars, "Frozen-feature probes on {dataset} (random_init = untrained control)", "top-1",
             {"phoneme_top1", "speaker_top1", "phoneme_majority"}, "", "", ""},
            {K::step_curves, "Training loss on {dataset}", "loss", {"loss"}, "", "", ""},
            {K::step_curves, "Share of anchors whose positive beats every negative on {dataset}",
             "prediction_accuracy", {"prediction_accuracy"}, "", "", ""},
            {K::step_curves, "MI estimate (mean over prediction steps) on {dataset}", "nats", {"mi"}, "", "", ""},
            {K::step_curves, "Phoneme probe top-1 during training on {dataset}", "top-1", {"phoneme_top1"}, "", "", ""},
            {K::step_curves, "Gradient norm on {dataset}", "grad_norm", {"grad_norm"}, "", "", ""}};
  }
  std::vector<HeadlineMetric> headline_metrics() const override {
    return {{"phoneme_top1", "phoneme top-1", true}, {"speaker_top1", "speaker top-1", true}};
  }

  void check_params(const Params& p) const override {
    p.get_int_in("batch_size", 1, 1 << 16);
    p.get_int_in("window", 1);
    p.get_int_in("epochs", 1);
    p.get_int_in("steps_per_epoch", 0);
    p.get_int_in("predict_steps", 1, 1024);
    p.get_int_in("negatives", 1, 1 << 16);
    const std::string& ns = p.get_string("negative_sampling");
    if (ns != "batch" && ns != "same_speaker")
      p.fail("negative_sampling", "must be batch or same_speaker, got \"" + ns + "\"");
    const std::int64_t spb = p.get_int_in("speakers_per_batch", 0);
    if (spb > 0 && p.get_int("batch_size") % spb != 0)
      p.fail("speakers_per_batch", "must divide batch_size (" +
                                       std::to_string(p.get_int("batch_size")) + "), got " +
                                       std::to_string(spb));
    if (!(p.get_double("learning_rate") > 0)) p.fail("learning_rate", "must be > 0");
    p.get_double_in("weight_decay", 0.0, 1e3);
    if (!(p.get_double("temperature") > 0)) p.fail("temperature", "must be > 0");
    p.get_int_in("eval_every", 0);
    const std::string& pf = p.get_string("probe_features");
    if (pf != "context" && pf != "encoder")
      p.fail("probe_features", "must be context or encoder, got \"" + pf + "\"");
    p.get_int_in("probe_train_utterances", 0);
    p.get_int_in("phoneme_epochs", 1);
    p.get_int_in("speaker_epochs", 1);
    if (!(p.get_double("probe_lr") > 0)) p.fail("probe_lr", "must be > 0");
    p.get_double_in("probe_weight_decay", 0.0, 1e3);
    p.get_int_in("eval_batch", 1);
    p.get_int_in("checkpoint_every", 0);
    check_training_params(p);
  }

  void validate(const Suite& suite, const PluginRegistry& registry) const override {
    if ((suite.encoder.plugin->capabilities & kEncodesSequences) == 0)
      throw InputError(suite.path.string() + ": task 'cpc' needs a sequence encoder; encoder '" +
                       suite.encoder.plugin->name + "' does not encode_sequence(x)");
    for (const auto& d : suite.datasets) {
      auto dataset = registry.make_dataset(*d.plugin, d.params);
      const DatasetSpec spec = dataset->spec();
      if (spec.frame_stride <= 0 || spec.input.num_classes <= 0 || spec.num_groups <= 0 ||
          !spec.lengths.count("train") || !spec.lengths.count("test") ||
          !spec.groups.count("train") || !spec.groups.count("test"))
        throw InputError(
            suite.path.string() +
            ": task 'cpc' needs a speech dataset (variable-length audio, frame labels, "
            "speakers, train and test splits); dataset '" +
            d.label + "' is not one");
      for (const char* split : {"train", "test"})
        if (spec.lengths.at(split).empty())
          throw InputError(suite.path.string() + ": dataset '" + d.label + "' has an empty " +
                           split + " split");
      auto encoder = registry.make_encoder(*suite.encoder.plugin, suite.encoder.params, spec.input);
      if (encoder->frame_stride() != spec.frame_stride)
        throw InputError(suite.path.string() + ": encoder '" + suite.encoder.label +
                         "' gives a frame per " + std::to_string(encoder->frame_stride()) +
                         " samples but dataset '" + d.label + "' labels one per " +
                         std::to_string(spec.frame_stride));
      const std::int64_t longest =
          *std::max_element(spec.lengths.at("train").begin(), spec.lengths.at("train").end());
      for (const Params& variant : task_param_variants(suite)) {  // each grid value too
        const Params* each = &variant;
        const std::int64_t window = each->get_int("window"), k = each->get_int("predict_steps");
        if (window % spec.frame_stride != 0)
          each->fail("window", "must be a multiple of the frame stride " +
                                   std::to_string(spec.frame_stride) + ", got " +
                                   std::to_string(window));
        if (window / spec.frame_stride <= k)
          each->fail("window", "must hold more than predict_steps (" + std::to_string(k) +
                                   ") frames, got " + std::to_string(window / spec.frame_stride));
        if (longest < window)
          each->fail("window", "is longer than every training utterance of dataset '" + d.label +
                                   "' (longest: " + std::to_string(longest) + " samples)");
        const std::int64_t spb = each->get_int("speakers_per_batch");
        std::map<std::int64_t, bool> usable;
        for (std::size_t u = 0; u < spec.lengths.at("train").size(); ++u)
          if (spec.lengths.at("train")[u] >= window) usable[spec.groups.at("train")[u]] = true;
        if (spb > static_cast<std::int64_t>(usable.size()))
          each->fail("speakers_per_batch", "asks for " + std::to_string(spb) +
                                               " speakers but only " +
                                               std::to_string(usable.size()) +
                                               " have an utterance as long as the window");
      }
    }
    for (const auto& o : suite.objectives) registry.make_objective(*o.plugin, o.params);
  }

  CaseOutcome run(CaseRun& r) const override;
  std::vector<ResultTable> tables(const Suite& suite,
                                  const std::vector<CaseReport>& cases) const override;
};

// Reads one tensor from a checkpoint (a fresh tensor: InputArchive::read set_()s into a defined
// one).
torch::Tensor read_tensor(torch::serialize::InputArchive& in, const char* key) {
  torch::Tensor t;
  in.read(key, t);
  return t;
}

CaseOutcome CpcTask::run(CaseRun& r) const {
  const Params& tp = *r.c.task_params;
  torch::manual_seed(r.c.seed);  // encoder and predictor initialisation
  auto dataset = r.registry.make_dataset(*r.c.dataset->plugin, r.c.dataset->params);
  const DatasetSpec spec = dataset->spec();
  auto encoder = r.registry.make_encoder(*r.c.encoder->plugin, r.c.encoder->params, spec.input);
  std::shared_ptr<Objective> objective;
  if (r.c.objective != nullptr) objective = r.registry.make_objective(*r.c.objective->plugin, r.c.objective->params);

  const std::int64_t n = tp.get_int("batch_size"), window = tp.get_int("window"),
                     steps_ahead = tp.get_int("predict_steps");
  const std::int64_t stride = spec.frame_stride, frames = window / stride;
  const std::int64_t dim = encoder->output_dim(), context_dim = encoder->context_dim();
  const std::int64_t spb = tp.get_int("speakers_per_batch");
  cpc::LossConfig loss_config;
  loss_config.steps_ahead = steps_ahead;
  loss_config.negatives = tp.get_int("negatives");
  loss_config.same_speaker = tp.get_string("negative_sampling") == "same_speaker";
  loss_config.normalize = tp.get_bool("normalize");
  loss_config.temperature = tp.get_double("temperature");
  torch::nn::ModuleList predictors;
  for (std::int64_t k = 0; k < steps_ahead; ++k)
    predictors->push_back(torch::nn::Linear(context_dim, dim));
  encoder->module().to(r.device);
  predictors->to(r.device);
  std::vector<torch::Tensor> parameters = encoder->module().parameters();
  for (const auto& p : predictors->parameters()) parameters.push_back(p);
  torch::optim::Adam optimizer(parameters, torch::optim::AdamOptions(tp.get_double("learning_rate"))
                                               .weight_decay(tp.get_double("weight_decay")));

  at::Generator window_gen = at::detail::createCPUGenerator(derive_seed(r.c.seed, "windows"));
  at::Generator negative_gen = at::detail::createCPUGenerator(derive_seed(r.c.seed, "negatives"));
  at::Generator probe_gen = at::detail::createCPUGenerator(derive_seed(r.c.seed, "probe"));

  // Training windows come from utterances at least one window long, chosen in proportion to the
  // number of windows each holds (uniform over the usable audio), at a uniform offset.
  const auto& train_lengths = spec.lengths.at("train");
  const auto& train_speakers = spec.groups.at("train");
  std::map<std::int64_t, std::vector<std::int64_t>> usable_by_speaker;
  std::vector<std::int64_t> usable;
  double train_samples = 0, test_samples = 0;
  for (std::size_t u = 0; u < train_lengths.size(); ++u) {
    train_samples += static_cast<double>(train_lengths[u]);
    if (train_lengths[u] < window) continue;
    usable.push_back(static_cast<std::int64_t>(u));
    usable_by_speaker[train_speakers[u]].push_back(static_cast<std::int64_t>(u));
  }
  for (auto len : spec.lengths.at("test")) test_samples += static_cast<double>(len);
  std::vector<std::int64_t> usable_speakers;
  for (const auto& [s, list] : usable_by_speaker) usable_speakers.push_back(s);
  auto weights_of = [&](const std::vector<std::int64_t>& list) {
    std::vector<double> w;
    for (auto u : list) w.push_back(static_cast<double>(train_lengths[u] - window + 1));
    return torch::tensor(w, torch::kFloat64);
  };
  const torch::Tensor all_weights = weights_of(usable);
  struct Window {
    std::int64_t utterance, offset, speaker;
  };
  auto draw_windows = [&] {
    std::vector<Window> out;
    auto draw_from = [&](const std::vector<std::int64_t>& list, const torch::Tensor& weights,
                         std::int64_t count) {
      const torch::Tensor pick =
          torch::multinomial(weights, count, /*replacement=*/true, window_gen);
      const torch::Tensor where = torch::rand({count}, window_gen, torch::kFloat64);
      for (std::int64_t i = 0; i < count; ++i) {
        const std::int64_t u = list[pick[i].item<std::int64_t>()];
        const std::int64_t room = train_lengths[u] - window + 1;
        const auto offset = std::min(
            room - 1,
            static_cast<std::int64_t>(where[i].item<double>() * static_cast<double>(room)));
        out.push_back({u, offset, train_speakers[u]});
      }
    };
    if (spb == 0) {
      draw_from(usable, all_weights, n);
    } else {
      const torch::Tensor chosen = torch::randperm(
          static_cast<std::int64_t>(usable_speakers.size()), window_gen, torch::kLong);
      for (std::int64_t s = 0; s < spb; ++s) {
        const auto& list = usable_by_speaker.at(usable_speakers[chosen[s].item<std::int64_t>()]);
        draw_from(list, weights_of(list), n / spb);
      }
    }
    // Windows of one speaker side by side: same-speaker negative pools are contiguous.
    std::stable_sort(out.begin(), out.end(),
                     [](const Window& a, const Window& b) { return a.speaker < b.speaker; });
    return out;
  };
  auto window_audio = [&](const std::vector<Window>& windows) {
    std::vector<std::int64_t> utterances;
    for (const auto& w : windows) utterances.push_back(w.utterance);
    std::sort(utterances.begin(), utterances.end());
    utterances.erase(std::unique(utterances.begin(), utterances.end()), utterances.end());
    const Batch batch = dataset->get("train", torch::tensor(utterances, torch::kInt64));
    std::vector<torch::Tensor> xs;
    for (const auto& w : windows) {
      const auto row =
          std::lower_bound(utterances.begin(), utterances.end(), w.utterance) - utterances.begin();
      xs.push_back(batch.x[row].narrow(-1, w.offset, window));
    }
    return torch::stack(xs);  // [B, 1, window]
  };

  const std::int64_t steps_per_epoch =
      tp.get_int("steps_per_epoch") > 0
          ? tp.get_int("steps_per_epoch")
          : std::max<std::int64_t>(
                1, static_cast<std::int64_t>(train_samples / static_cast<double>(window * n)));
  const std::int64_t epochs = tp.get_int("epochs");
  const std::int64_t total = objective ? steps_per_epoch * epochs : 0;

  // Probe utterances: all of the test split; all of the train split or a seeded subset.
  std::vector<std::int64_t> probe_train(train_lengths.size());
  std::iota(probe_train.begin(), probe_train.end(), 0);
  if (const std::int64_t limit = tp.get_int("probe_train_utterances");
      limit > 0 && limit < static_cast<std::int64_t>(probe_train.size())) {
    at::Generator pick_gen =
        at::detail::createCPUGenerator(derive_seed(r.c.seed, "probe_utterances"));
    const torch::Tensor perm =
        torch::randperm(static_cast<std::int64_t>(probe_train.size()), pick_gen, torch::kLong);
    probe_train.assign(perm.data_ptr<std::int64_t>(), perm.data_ptr<std::int64_t>() + limit);
  }
  std::vector<std::int64_t> probe_test(spec.lengths.at("test").size());
  std::iota(probe_test.begin(), probe_test.end(), 0);
  const bool probe_context = tp.get_string("probe_features") == "context";
  const std::int64_t eval_batch = tp.get_int("eval_batch");
  auto features = [&](const std::string& split, std::vector<std::int64_t> members) {
    torch::NoGradGuard no_grad;
    const auto& lengths = spec.lengths.at(split);
    // Similar lengths together: less padding.
    std::stable_sort(members.begin(), members.end(),
                     [&](auto a, auto b) { return lengths[a] < lengths[b]; });
    cpc::SpeechFeatures out;
    for (std::size_t start = 0; start < members.size(); start += eval_batch) {
      const std::vector<std::int64_t> chunk(
          members.begin() + start, members.begin() + std::min(members.size(), start + eval_batch));
      const Batch b = dataset->get(split, torch::tensor(chunk, torch::kInt64));
      const std::int64_t padded = (b.x.size(-1) + stride - 1) / stride * stride;
      const torch::Tensor x = torch::constant_pad_nd(b.x, {0, padded - b.x.size(-1)}).to(r.device);
      const torch::Tensor z = encoder->encode_sequence(x);
      const torch::Tensor f = (probe_context ? encoder->context(z) : z).to(torch::kFloat32);
      out.add(f, b.labels, torch::div(b.lengths, stride, "floor").clamp_min(1), b.groups);
    }
    return out;
  };
  cpc::SpeechProbeConfig probe_config;
  probe_config.phoneme.epochs = tp.get_int("phoneme_epochs");
  probe_config.phoneme.batch_size = 1024;
  probe_config.speaker.epochs = tp.get_int("speaker_epochs");
  probe_config.speaker.batch_size = 256;
  for (auto* c : {&probe_config.phoneme, &probe_config.speaker}) {
    c->learning_rate = tp.get_double("probe_lr");
    c->weight_decay = tp.get_double("probe_weight_decay");
  }

  CaseOutcome outcome;
  std::vector<MetricSample> pending, history;  // history: every sample, kept for checkpoints
  const std::int64_t checkpoint_every = tp.get_int("checkpoint_every");
  const bool checkpoints = checkpoint_every > 0 && !r.checkpoint_dir.empty();
  auto flush = [&] {
    if (pending.empty()) return;
    r.events.metrics(r.c, pending);
    if (checkpoints) history.insert(history.end(), pending.begin(), pending.end());
    pending.clear();
  };
  auto evaluate = [&](std::int64_t step) {
    encoder->module().eval();
    const cpc::SpeechFeatures train = features("train", probe_train),
                              test = features("test", probe_test);
    const cpc::SpeechProbeResult result = cpc::speech_probes(
        train, test, spec.input.num_classes, spec.num_groups, probe_config, probe_gen);
    encoder->module().train();
    pending.push_back({step, "phoneme_top1", result.phoneme_top1});
    pending.push_back({step, "speaker_top1", result.speaker_top1});
    flush();
    return result;
  };

  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  auto last_progress = start - std::chrono::seconds(1);
  double train_seconds = 0.0, final_loss = NAN, final_mi = NAN, final_accuracy = NAN;
  std::vector<double> losses, estimates, grad_norms;  // the completed steps, from a checkpoint on too
  const DivergenceLimits limits(tp);
  std::int64_t step = 0, first_epoch = 0;

  // A checkpoint holds everything the rest of the case depends on (weights, optimiser state, the
  // generators, counters, and the samples so far, re-emitted on resume): resuming gives the same
  // metrics bit for bit.
  const std::filesystem::path checkpoint = r.checkpoint_dir / (r.c.config_hash + ".pt");
  auto save_checkpoint = [&](std::int64_t next_epoch) {
    torch::serialize::OutputArchive out, enc, pred, opt;
    encoder->module().save(enc);
    predictors->save(pred);
    optimizer.save(opt);
    out.write("encoder", enc);
    out.write("predictors", pred);
    out.write("optimizer", opt);
    out.write("epoch", torch::tensor(next_epoch));
    out.write("step", torch::tensor(step));
    out.write("train_seconds", torch::tensor(train_seconds, torch::kFloat64));
    out.write("final", torch::tensor({final_loss, final_mi, final_accuracy}, torch::kFloat64));
    out.write("window_gen", window_gen.get_state());
    out.write("negative_gen", negative_gen.get_state());
    out.write("probe_gen", probe_gen.get_state());
    c10::List<std::string> names;
    std::vector<std::int64_t> steps;
    std::vector<double> values;
    for (const auto& m : history) {
      names.push_back(m.name);
      steps.push_back(m.step);
      values.push_back(m.value);
    }
    out.write("history_names", c10::IValue(names));
    out.write("history_steps", torch::tensor(steps, torch::kInt64));
    out.write("history_values", torch::tensor(values, torch::kFloat64));
    std::filesystem::create_directories(r.checkpoint_dir);
    const std::string tmp = checkpoint.string() + ".tmp";
    out.save_to(tmp);
    std::filesystem::rename(tmp, checkpoint);  // a kill mid-write leaves the previous one intact
  };
  if (checkpoints && r.resuming && objective && std::filesystem::exists(checkpoint)) {
    torch::serialize::InputArchive in, enc, pred, opt;
    in.load_from(checkpoint.string());
    in.read("encoder", enc);
    in.read("predictors", pred);
    in.read("optimizer", opt);
    encoder->module().load(enc);
    predictors->load(pred);
    optimizer.load(opt);
    first_epoch = read_tensor(in, "epoch").item<std::int64_t>();
    step = read_tensor(in, "step").item<std::int64_t>();
    train_seconds = read_tensor(in, "train_seconds").item<double>();
    const torch::Tensor last = read_tensor(in, "final");
    final_loss = last[0].item<double>(), final_mi = last[1].item<double>(),
    final_accuracy = last[2].item<double>();
    for (auto [key, gen] : {std::pair<const char*, at::Generator*>{"window_gen", &window_gen},
                            {"negative_gen", &negative_gen},
                            {"probe_gen", &probe_gen}})
      gen->set_state(read_tensor(in, key));
    c10::IValue names;
    in.read("history_names", names);
    const torch::Tensor steps = read_tensor(in, "history_steps"),
                        values = read_tensor(in, "history_values");
    const auto list = names.toList();
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string& name = list.get(i).toStringRef();
      const double v = values[i].item<double>();
      pending.push_back({steps[i].item<std::int64_t>(), name, v});
      // The stability summaries cover the whole case, the steps before the checkpoint included.
      if (name == "loss") losses.push_back(v);
      if (name == "mi") estimates.push_back(v);
      if (name == "grad_norm") grad_norms.push_back(v);
    }
    flush();
  }

  encoder->module().train();
  predictors->train();
  const std::int64_t eval_every = tp.get_int("eval_every");
  for (std::int64_t epoch = first_epoch;
       objective && epoch < epochs && outcome.status == CaseStatus::finished; ++epoch) {
    for (std::int64_t b = 0; b < steps_per_epoch; ++b, ++step) {
      if (r.stop_requested.load()) {
        outcome.status = CaseStatus::killed;
        outcome.message = "interrupted at step " + std::to_string(step);
        outcome.stopped_step = step;
        break;
      }
      const auto t0 = clock::now();
      const std::vector<Window> windows = draw_windows();
      std::vector<std::int64_t> speakers;
      for (const auto& w : windows) speakers.push_back(w.speaker);
      const cpc::Loss step_loss =
          cpc::loss(*encoder, predictors, *objective, window_audio(windows).to(r.device), speakers,
                    loss_config, negative_gen);
      const double loss = step_loss.loss.item<double>(), mi = step_loss.mi.item<double>(),
                   accuracy = step_loss.accuracy.item<double>();
      pending.push_back({step, "loss", loss});
      pending.push_back({step, "mi", mi});
      pending.push_back({step, "prediction_accuracy", accuracy});
      for (const auto& [name, value] : step_loss.diagnostics)
        pending.push_back({step, diagnostic_metric_name(name), value.item<double>()});
      std::string diverged = limits.check_loss(loss, mi);
      double grad_norm = NAN;
      if (diverged.empty()) {
        optimizer.zero_grad();
        step_loss.loss.backward();
        grad_norm = gradient_norm(parameters);
        pending.push_back({step, "grad_norm", grad_norm});
        diverged = limits.check_gradient(grad_norm);
      }
      if (!diverged.empty()) {
        outcome.status = CaseStatus::diverged;
        outcome.message = diverged + " at step " + std::to_string(step);
        outcome.stopped_step = step;
        break;
      }
      optimizer.step();
      final_loss = loss;
      final_mi = mi;
      final_accuracy = accuracy;
      losses.push_back(loss);
      estimates.push_back(mi);
      grad_norms.push_back(grad_norm);
      const double seconds = std::chrono::duration<double>(clock::now() - t0).count();
      train_seconds += seconds;
      pending.push_back({step, "frames_per_second", static_cast<double>(n * frames) / seconds});
      if ((step + 1) % kFlushEvery == 0) flush();
      const auto now = clock::now();
      if (now - last_progress > std::chrono::milliseconds(500)) {
        r.events.progress({&r.c, step + 1, total,
                           (step + 1) / std::chrono::duration<double>(now - start).count()});
        last_progress = now;
      }
    }
    flush();
    if (outcome.status == CaseStatus::finished && eval_every > 0 && (epoch + 1) % eval_every == 0 &&
        epoch + 1 < epochs)
      evaluate(step);
    if (outcome.status == CaseStatus::finished && checkpoints &&
        (epoch + 1) % checkpoint_every == 0 && epoch + 1 < epochs)
      save_checkpoint(epoch + 1);
  }
  flush();
  if (outcome.status == CaseStatus::finished) {
    const auto eval_start = clock::now();
    const cpc::SpeechProbeResult result = evaluate(step);
    outcome.summary.insert(
        outcome.summary.end(),
        {{"", "phoneme_top1", result.phoneme_top1},
         {"", "speaker_top1", result.speaker_top1},
         {"", "phoneme_majority", result.phoneme_majority},
         {"", "speaker_chance", 1.0 / static_cast<double>(spec.num_groups)},
         {"", "probe_train_frames", static_cast<double>(result.train_frames)},
         {"", "probe_test_frames", static_cast<double>(result.test_frames)},
         {"", "eval_seconds", std::chrono::duration<double>(clock::now() - eval_start).count()}});
  }
  if (outcome.status == CaseStatus::finished && checkpoints) {
    std::error_code ec;
    std::filesystem::remove(checkpoint, ec);  // done: a later run starts afresh
  }
  if (objective)
    add_stability_summary(outcome.summary, losses, estimates, grad_norms,
                          static_cast<std::size_t>(tp.get_int("stability_window")),
                          outcome.status == CaseStatus::diverged ? outcome.stopped_step : std::nullopt);
  const double sample_rate = spec.sample_rate > 0 ? static_cast<double>(spec.sample_rate) : NAN;
  outcome.summary.insert(
      outcome.summary.end(),
      {{"", "steps", static_cast<double>(step)},
       {"", "final_loss", final_loss},
       {"", "final_mi", final_mi},
       {"", "prediction_accuracy", final_accuracy},
       {"", "train_seconds", train_seconds},
       {"", "frames_per_second", train_seconds > 0 ? step * n * frames / train_seconds : NAN},
       {"", "train_hours", train_samples / sample_rate / 3600.0},
       {"", "test_hours", test_samples / sample_rate / 3600.0}});
  return outcome;
}

std::vector<ResultTable> CpcTask::tables(const Suite& suite,
                                         const std::vector<CaseReport>& cases) const {
  std::vector<ResultTable> tables;
  const Params& tp = suite.task_params;
  for (const auto& dataset : suite.datasets) {
    ResultTable t;
    t.title = "'" + dataset.label + "' with encoder '" + suite.encoder.label +
              "': frozen-feature probes, top-1 on the test split";
    t.columns = {"objective", "phoneme top-1", "speaker top-1", "final loss", "pred. acc.",
                 "train s",   "eval s",        "frames/s",      "status"};
    std::map<std::string, double> corpus;
    for (const auto& report : cases) {
      if (report.c->dataset->label != dataset.label) continue;
      std::map<std::string, double> v;
      for (const auto& s : report.summary) v[s.name] = s.value;
      auto get = [&](const char* k) { return v.count(k) ? v[k] : NAN; };
      for (const char* k : {"train_hours", "test_hours", "phoneme_majority", "speaker_chance",
                            "probe_train_frames"})
        if (v.count(k)) corpus[k] = v[k];
      std::string status = to_string(report.status);
      if (report.stopped_step) status += " @" + std::to_string(*report.stopped_step);
      t.rows.push_back(
          {row_label(suite, *report.c),
           format_fixed(get("phoneme_top1"), 4, "—"), format_fixed(get("speaker_top1"), 4, "—"),
           format_fixed(get("final_loss"), 4, "—"),
           format_fixed(get("prediction_accuracy"), 3, "—"),
           format_fixed(get("train_seconds"), 1, "—"), format_fixed(get("eval_seconds"), 1, "—"),
           format_fixed(get("frames_per_second"), 0, "—"), status});
    }
    std::ostringstream note;
    note << "protocol: " << tp.get_int("epochs") << " epoch(s) of batches of "
         << tp.get_int("batch_size") << " windows × " << tp.get_int("window")
         << " samples, K = " << tp.get_int("predict_steps") << " steps ahead, "
         << tp.get_int("negatives") << " negatives (" << tp.get_string("negative_sampling")
         << "), Adam lr " << tp.get_double("learning_rate") << ", scores ⟨p, z⟩/"
         << tp.get_double("temperature") << (tp.get_bool("normalize") ? " (normalised)" : "")
         << "; probes on frozen " << tp.get_string("probe_features")
         << " features, standardised: phoneme per frame (" << tp.get_int("phoneme_epochs")
         << " epochs), speaker on utterance "
         << "means (" << tp.get_int("speaker_epochs") << " epochs), Adam lr "
         << tp.get_double("probe_lr");
    t.notes.push_back(note.str());
    if (corpus.count("train_hours")) {
      std::ostringstream c;
      c << "data: " << format_fixed(corpus["train_hours"], 2) << " h train, "
        << format_fixed(corpus["test_hours"], 2)
        << " h test; always answering the commonest phoneme scores "
        << format_fixed(corpus["phoneme_majority"], 4) << ", guessing the speaker "
        << format_fixed(corpus["speaker_chance"], 4);
      t.notes.push_back(c.str());
    }
    tables.push_back(std::move(t));
  }
  return tables;
}

}  // namespace

std::unique_ptr<Task> make_cpc_task() { return std::make_unique<CpcTask>(); }

}  // namespace rpcbench
