// The `contrastive` task: SimCLR-style pretraining. Each batch of N images gives 2N augmented
// views; encoder → h, projection head → z; scores z·z'/T (z L2-normalised or not); anchor a's
// positive is the other view of its image, its 2N − 2 negatives the remaining views
// (tasks/view_pairs.hpp). Any objective plugin gives the loss. Evaluation on frozen h: a linear
// probe and kNN, top-1 on the test split (or on a validation split held out of train, for
// tuning). A `random_init` control (the same encoder, untrained) runs beside the objectives.
#include "augment/simclr_augment.hpp"
#include "eval/probes.hpp"
#include "optim/lars.hpp"
#include "optim/lr_schedule.hpp"
#include "tasks/task.hpp"
#include "tasks/training.hpp"
#include "tasks/validation_split.hpp"
#include "tasks/view_pairs.hpp"
#include "util/errors.hpp"
#include "util/hash.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <filesystem>
#include <cmath>
#include <iomanip>
#include <map>
#include <sstream>

namespace rpcbench {
namespace {

constexpr std::int64_t kFlushEvery = 50;

// MLP head: [Linear, (BN), ReLU] × (layers − 1), Linear to `out`.
torch::nn::Sequential make_head(std::int64_t in, std::int64_t hidden, std::int64_t out, std::int64_t layers, bool bn) {
  torch::nn::Sequential head;
  std::int64_t width = in;
  for (std::int64_t l = 0; l + 1 < layers; ++l) {
    head->push_back(torch::nn::Linear(torch::nn::LinearOptions(width, hidden).bias(!bn)));
    if (bn) head->push_back(torch::nn::BatchNorm1d(hidden));
    head->push_back(torch::nn::ReLU());
    width = hidden;
  }
  head->push_back(torch::nn::Linear(width, out));
  return head;
}

class ContrastiveTask : public Task {
 public:
  std::string name() const override { return "contrastive"; }
  std::string summary() const override {
    return "SimCLR-style pretraining (2N views, projection head, any objective), then a linear probe "
           "and kNN on frozen features; a random_init control per dataset";
  }
  std::vector<ParamDecl> params() const override {
    auto p = [](const char* n, ParamType t, const char* d, const char* h) { return ParamDecl{n, t, d, false, h}; };
    std::vector<ParamDecl> params = {
        p("batch_size", ParamType::integer, "256", "images per step N (2N views)"),
        p("epochs", ParamType::integer, "1", "pretraining epochs"),
        p("optimizer", ParamType::text, "\"adam\"", "adam, sgd (momentum) or lars"),
        p("learning_rate", ParamType::real, "1e-3", "peak learning rate"),
        p("momentum", ParamType::real, "0.9", "sgd and lars momentum"),
        p("weight_decay", ParamType::real, "1e-6", "weight decay"),
        p("warmup_epochs", ParamType::real, "0.0", "linear warm-up, then cosine decay to 0"),
        p("temperature", ParamType::real, "0.5", "scores are z·z'/T (RPC's code: 128 with unnormalised z)"),
        p("normalize", ParamType::boolean, "true", "L2-normalise z before scoring"),
        p("head_layers", ParamType::integer, "2", "projection head depth (linear layers)"),
        p("head_hidden", ParamType::integer, "512", "projection head hidden width"),
        p("head_out", ParamType::integer, "128", "projection output width"),
        p("head_bn", ParamType::boolean, "false", "batch norm in the projection head"),
        p("crop_scale_min", ParamType::real, "0.08", "random resized crop: smallest area fraction"),
        p("flip_p", ParamType::real, "0.5", "horizontal flip probability"),
        p("jitter_p", ParamType::real, "0.8", "colour jitter probability"),
        p("jitter_strength", ParamType::real, "0.5", "SimCLR jitter strength s (0.8s, 0.8s, 0.8s, 0.2s)"),
        p("gray_p", ParamType::real, "0.2", "random grayscale probability (RGB only)"),
        p("blur_p", ParamType::real, "0.0", "Gaussian blur probability (SimCLR: 0 on CIFAR, 0.5 on ImageNet)"),
        p("validation_fraction", ParamType::real, "0.0",
          "hold out this fraction of train (a fixed subset) to score the probes instead of test: for tuning"),
        p("eval_every", ParamType::integer, "0", "evaluate every K epochs (0: only after the last)"),
        p("linear_epochs", ParamType::integer, "30", "linear probe epochs (Adam, rate cosine-decayed to 0)"),
        p("linear_lr", ParamType::real, "1e-2", "linear probe peak learning rate"),
        p("linear_weight_decay", ParamType::real, "1e-6", "linear probe weight decay"),
        p("knn_k", ParamType::integer, "200", "kNN neighbours"),
        p("knn_temperature", ParamType::real, "0.1", "kNN vote temperature"),
        p("control", ParamType::boolean, "true", "add a random_init case per dataset (untrained encoder)"),
        p("checkpoint_every", ParamType::integer, "0",
          "save a checkpoint every K epochs beside the database (0: never); `harness run --resume` continues from it"),
    };
    for (auto& each : training_params()) params.push_back(std::move(each));
    return params;
  }
  // Every epoch sees the whole training split whatever the batch: cost ∝ epochs (the control
  // only evaluates).
  double case_cost(const Case& c) const override {
    return c.objective ? static_cast<double>(c.task_params->get_int("epochs")) + 0.5 : 0.5;
  }

  std::vector<PlotSpec> plots() const override {
    using K = PlotSpec::Kind;
    return {{K::summary_bars, "Top-1 accuracy on {dataset} (random_init = untrained control)", "top-1",
             {"linear_top1", "knn_top1"}, "", "", ""},
            {K::step_curves, "Training loss on {dataset} (dashed: InfoNCE at chance, log(2N − 1))", "loss", {"loss"}, "",
             "infonce_chance_loss", ""},
            {K::step_curves, "Gradient norm on {dataset}", "grad_norm", {"grad_norm"}, "", "", ""}};
  }
  std::vector<HeadlineMetric> headline_metrics() const override {
    return {{"linear_top1", "linear top-1", true}, {"knn_top1", "kNN top-1", true}};
  }
  bool adds_control(const Suite& suite) const override { return suite.task_params.get_bool("control"); }

  void validate(const Suite& suite, const PluginRegistry& registry) const override {
    if ((suite.encoder.plugin->capabilities & kEncodes) == 0)
      throw InputError(suite.path.string() + ": task 'contrastive' needs a feature encoder; encoder '" +
                       suite.encoder.plugin->name + "' does not encode(x)");
    for (const auto& d : suite.datasets) {
      auto dataset = registry.make_dataset(*d.plugin, d.params);
      const DatasetSpec spec = dataset->spec();
      if (spec.input.num_classes <= 0 || spec.split_sizes.count("train") == 0 || spec.split_sizes.count("test") == 0 ||
          spec.input.x_shape.size() != 3)
        throw InputError(suite.path.string() + ": task 'contrastive' needs a labelled image dataset with train and "
                         "test splits; dataset '" + d.label + "' is not one");
      // Every setting a case can get (the suite's, each objective's own, each grid value) against
      // the data: a hold-out must hold out images and leave a batch to train on.
      for (const Params& each : task_param_variants(suite)) {
        const double fraction = each.get_double("validation_fraction");
        const EvalSplits splits = eval_splits(spec, fraction);
        if (fraction > 0 && splits.eval.size(0) == 0)
          each.fail("validation_fraction", "holds out no image of dataset '" + d.label + "' (" +
                                               std::to_string(spec.split_sizes.at("train")) + " training images)");
        const std::int64_t size = each.get_int("batch_size");
        if (splits.train.size(0) < size)
          throw InputError(suite.path.string() + ": dataset '" + d.label + "' has " + std::to_string(splits.train.size(0)) +
                           " training images" + (fraction > 0 ? " outside the validation split" : "") +
                           ", fewer than a batch of " + std::to_string(size) + ": no training step would run");
      }
      registry.make_encoder(*suite.encoder.plugin, suite.encoder.params, spec.input);
    }
    for (const auto& o : suite.objectives) registry.make_objective(*o.plugin, o.params);
  }

  void check_params(const Params& p) const override {
    p.get_int_in("batch_size", 2, 1 << 16);
    p.get_int_in("epochs", 1);
    const std::string& opt = p.get_string("optimizer");
    if (opt != "adam" && opt != "sgd" && opt != "lars") p.fail("optimizer", "must be adam, sgd or lars, got \"" + opt + "\"");
    if (!(p.get_double("learning_rate") > 0)) p.fail("learning_rate", "must be > 0");
    if (!(p.get_double("temperature") > 0)) p.fail("temperature", "must be > 0");
    p.get_double_in("warmup_epochs", 0.0, 1e6);
    p.get_int_in("head_layers", 1, 8);
    p.get_int_in("head_hidden", 1);
    p.get_int_in("head_out", 1);
    p.get_double_in("crop_scale_min", 1e-3, 1.0);
    for (const char* key : {"flip_p", "jitter_p", "gray_p", "blur_p"}) p.get_double_in(key, 0.0, 1.0);
    p.get_double_in("jitter_strength", 0.0, 10.0);
    p.get_int_in("eval_every", 0);
    p.get_double_in("validation_fraction", 0.0, 0.9);
    p.get_int_in("linear_epochs", 1);
    p.get_int_in("knn_k", 1);
    p.get_int_in("checkpoint_every", 0);
    if (!(p.get_double("knn_temperature") > 0)) p.fail("knn_temperature", "must be > 0");
    check_training_params(p);
  }

  CaseOutcome run(CaseRun& r) const override;
  std::vector<ResultTable> tables(const Suite& suite, const std::vector<CaseReport>& cases) const override;
};

// Features h of the given images, in eval mode, in chunks.
std::pair<torch::Tensor, torch::Tensor> features(Encoder& encoder, Dataset& dataset, const std::string& split,
                                                 const torch::Tensor& indices, const torch::Device& device) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> hs, ys;
  const std::int64_t size = indices.size(0);
  for (std::int64_t start = 0; start < size; start += 512) {
    const Batch b = dataset.get(split, indices.narrow(0, start, std::min<std::int64_t>(512, size - start)));
    hs.push_back(encoder.encode(b.x.to(device)).to(torch::kFloat32));
    ys.push_back(b.labels.to(device));
  }
  return {torch::cat(hs), torch::cat(ys)};
}

CaseOutcome ContrastiveTask::run(CaseRun& r) const {
  const Params& tp = *r.c.task_params;
  const std::int64_t n = tp.get_int("batch_size"), epochs = tp.get_int("epochs");
  torch::manual_seed(r.c.seed);
  auto dataset = r.registry.make_dataset(*r.c.dataset->plugin, r.c.dataset->params);
  const DatasetSpec spec = dataset->spec();
  auto encoder = r.registry.make_encoder(*r.c.encoder->plugin, r.c.encoder->params, spec.input);
  std::shared_ptr<Objective> objective;
  if (r.c.objective != nullptr) objective = r.registry.make_objective(*r.c.objective->plugin, r.c.objective->params);
  torch::nn::Sequential head = make_head(encoder->output_dim(), tp.get_int("head_hidden"), tp.get_int("head_out"),
                                         tp.get_int("head_layers"), tp.get_bool("head_bn"));
  encoder->module().to(r.device);
  head->to(r.device);

  std::vector<torch::Tensor> parameters = encoder->module().parameters();
  for (const auto& p : head->parameters()) parameters.push_back(p);
  const std::string opt = tp.get_string("optimizer");
  const double lr = tp.get_double("learning_rate"), wd = tp.get_double("weight_decay"), mom = tp.get_double("momentum");
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::unique_ptr<Lars> lars;
  if (opt == "adam") optimizer = std::make_unique<torch::optim::Adam>(parameters, torch::optim::AdamOptions(lr).weight_decay(wd));
  else if (opt == "sgd")
    optimizer = std::make_unique<torch::optim::SGD>(parameters, torch::optim::SGDOptions(lr).momentum(mom).weight_decay(wd));
  else lars = std::make_unique<Lars>(parameters, mom, wd);

  AugmentConfig aug;
  aug.crop_scale_min = tp.get_double("crop_scale_min");
  aug.flip_p = tp.get_double("flip_p");
  aug.jitter_p = tp.get_double("jitter_p");
  aug.set_jitter_strength(tp.get_double("jitter_strength"));
  aug.gray_p = tp.get_double("gray_p");
  aug.blur_p = tp.get_double("blur_p");

  at::Generator order_gen = at::detail::createCPUGenerator(derive_seed(r.c.seed, "order"));
  at::Generator aug_gen = at::detail::createCPUGenerator(derive_seed(r.c.seed, "augment"));
  at::Generator probe_gen = at::detail::createCPUGenerator(derive_seed(r.c.seed, "probe"));
  const EvalSplits splits = eval_splits(spec, tp.get_double("validation_fraction"));
  const std::int64_t train_size = splits.train.size(0);
  const std::int64_t steps_per_epoch = train_size / n;  // the last partial batch is dropped
  const std::int64_t total = objective ? steps_per_epoch * epochs : 0;
  const double warmup = tp.get_double("warmup_epochs") * static_cast<double>(steps_per_epoch);
  const bool normalize = tp.get_bool("normalize");
  const double temperature = tp.get_double("temperature");

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
    const auto [train_h, train_y] = features(*encoder, *dataset, "train", splits.train, r.device);
    const auto [test_h, test_y] = features(*encoder, *dataset, splits.eval_split, splits.eval, r.device);
    LinearProbeConfig probe;
    probe.epochs = tp.get_int("linear_epochs");
    probe.learning_rate = tp.get_double("linear_lr");
    probe.weight_decay = tp.get_double("linear_weight_decay");
    const double linear = linear_probe_top1(train_h, train_y, test_h, test_y, spec.input.num_classes, probe, probe_gen);
    const double knn = knn_top1(train_h, train_y, test_h, test_y, spec.input.num_classes, tp.get_int("knn_k"),
                                tp.get_double("knn_temperature"));
    encoder->module().train();
    pending.push_back({step, "linear_top1", linear});
    pending.push_back({step, "knn_top1", knn});
    flush();
    return std::make_pair(linear, knn);
  };

  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  auto last_progress = start - std::chrono::seconds(1);
  double train_seconds = 0.0, final_loss = NAN, final_top1 = NAN;
  std::vector<double> losses, estimates, grad_norms;  // the completed steps, from a checkpoint on too
  const DivergenceLimits limits(tp);
  std::int64_t step = 0, first_epoch = 0;

  // A checkpoint holds everything the rest of the case depends on: weights and BN statistics,
  // optimiser state, the three generators, counters, and the samples recorded so far (re-emitted
  // on resume, so the case's record is whole). Resuming gives the same metrics bit for bit.
  const std::filesystem::path checkpoint = r.checkpoint_dir / (r.c.config_hash + ".pt");
  auto save_checkpoint = [&](std::int64_t next_epoch) {
    torch::serialize::OutputArchive out, enc, hd, opt;
    encoder->module().save(enc);
    head->save(hd);
    out.write("encoder", enc);
    out.write("head", hd);
    if (optimizer) {
      optimizer->save(opt);
      out.write("optimizer", opt);
    } else {
      lars->save(out);
    }
    out.write("epoch", torch::tensor(next_epoch));
    out.write("step", torch::tensor(step));
    out.write("train_seconds", torch::tensor(train_seconds, torch::kFloat64));
    out.write("final_loss", torch::tensor(final_loss, torch::kFloat64));
    out.write("final_pair_top1", torch::tensor(final_top1, torch::kFloat64));
    out.write("order_gen", order_gen.get_state());
    out.write("aug_gen", aug_gen.get_state());
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
    torch::serialize::InputArchive in, enc, hd, opt;
    in.load_from(checkpoint.string());
    in.read("encoder", enc);
    in.read("head", hd);
    encoder->module().load(enc);
    head->load(hd);
    if (optimizer) {
      in.read("optimizer", opt);
      optimizer->load(opt);
    } else {
      lars->load(in);
    }
    // A fresh tensor per read: InputArchive::read set_()s into a defined one.
    auto read = [&](const char* key) {
      torch::Tensor t;
      in.read(key, t);
      return t;
    };
    first_epoch = read("epoch").item<std::int64_t>();
    step = read("step").item<std::int64_t>();
    train_seconds = read("train_seconds").item<double>();
    final_loss = read("final_loss").item<double>();
    final_top1 = read("final_pair_top1").item<double>();
    for (auto [key, gen] : {std::pair<const char*, at::Generator*>{"order_gen", &order_gen}, {"aug_gen", &aug_gen},
                            {"probe_gen", &probe_gen}})
      gen->set_state(read(key));
    c10::IValue names;
    in.read("history_names", names);
    const torch::Tensor steps = read("history_steps"), values = read("history_values");
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
  head->train();
  const std::int64_t eval_every = tp.get_int("eval_every");
  for (std::int64_t epoch = first_epoch; objective && epoch < epochs && outcome.status == CaseStatus::finished; ++epoch) {
    const torch::Tensor order = splits.train.index_select(0, torch::randperm(train_size, order_gen, torch::kLong));
    for (std::int64_t b = 0; b < steps_per_epoch; ++b, ++step) {
      if (r.stop_requested.load()) {
        outcome.status = CaseStatus::killed;
        outcome.message = "interrupted at step " + std::to_string(step);
        outcome.stopped_step = step;
        break;
      }
      const auto t0 = clock::now();
      const Batch batch = dataset->get("train", order.narrow(0, b * n, n));
      const torch::Tensor images = batch.x.to(r.device);
      const torch::Tensor views =
          torch::cat({augment(images, aug, aug_gen), augment(images, aug, aug_gen)});  // [2N, C, H, W]
      torch::Tensor z = head->forward(encoder->encode(views));
      if (normalize) z = torch::nn::functional::normalize(z, torch::nn::functional::NormalizeFuncOptions().dim(1));
      const torch::Tensor scores = torch::matmul(z, z.t()) / temperature;
      const ViewPairScores pairs = split_view_scores(scores);
      const ObjectiveResult result = objective->evaluate(pairs.pos, pairs.neg);
      const double loss = result.loss.item<double>(), mi = result.mi.item<double>(), top1 = pair_top1(pairs);
      const double rate = warmup_cosine_lr(step, total, warmup, lr);
      pending.push_back({step, "loss", loss});
      pending.push_back({step, "pair_top1", top1});
      pending.push_back({step, "mi", mi});
      pending.push_back({step, "lr", rate});
      for (const auto& [name, value] : result.diagnostics)
        pending.push_back({step, diagnostic_metric_name(name), value.item<double>()});
      std::string diverged = limits.check_loss(loss, mi);
      double grad_norm = NAN;
      if (diverged.empty()) {
        if (optimizer) {
          for (auto& group : optimizer->param_groups()) group.options().set_lr(rate);
          optimizer->zero_grad();
        } else {
          lars->zero_grad();
        }
        result.loss.backward();
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
      if (optimizer) optimizer->step(); else lars->step(rate);
      final_loss = loss;
      final_top1 = top1;
      losses.push_back(loss);
      estimates.push_back(mi);
      grad_norms.push_back(grad_norm);
      const double seconds = std::chrono::duration<double>(clock::now() - t0).count();
      train_seconds += seconds;
      pending.push_back({step, "images_per_second", static_cast<double>(n) / seconds});
      if ((step + 1) % kFlushEvery == 0) flush();
      const auto now = clock::now();
      if (now - last_progress > std::chrono::milliseconds(500)) {
        r.events.progress({&r.c, step + 1, total, (step + 1) / std::chrono::duration<double>(now - start).count()});
        last_progress = now;
      }
    }
    flush();
    if (outcome.status == CaseStatus::finished && eval_every > 0 && (epoch + 1) % eval_every == 0 && epoch + 1 < epochs)
      evaluate(step);
    if (outcome.status == CaseStatus::finished && checkpoints && (epoch + 1) % checkpoint_every == 0 && epoch + 1 < epochs)
      save_checkpoint(epoch + 1);
  }
  flush();
  if (outcome.status == CaseStatus::finished) {
    const auto eval_start = clock::now();
    const auto [linear, knn] = evaluate(step);
    outcome.summary.push_back({"", "linear_top1", linear});
    outcome.summary.push_back({"", "knn_top1", knn});
    outcome.summary.push_back({"", "eval_seconds", std::chrono::duration<double>(clock::now() - eval_start).count()});
  }
  if (outcome.status == CaseStatus::finished && checkpoints) {
    std::error_code ec;
    std::filesystem::remove(checkpoint, ec);  // done: a later run starts afresh
  }
  if (objective)
    add_stability_summary(outcome.summary, losses, estimates, grad_norms,
                          static_cast<std::size_t>(tp.get_int("stability_window")),
                          outcome.status == CaseStatus::diverged ? outcome.stopped_step : std::nullopt);
  outcome.summary.push_back({"", "steps", static_cast<double>(step)});
  outcome.summary.push_back({"", "final_loss", final_loss});
  outcome.summary.push_back({"", "final_pair_top1", final_top1});
  // InfoNCE's loss when the positive is no more likely than any of the 2N − 2 negatives.
  outcome.summary.push_back({"", "infonce_chance_loss", std::log(2.0 * static_cast<double>(n) - 1.0)});
  outcome.summary.push_back({"", "train_seconds", train_seconds});
  outcome.summary.push_back({"", "images_per_second", train_seconds > 0 ? step * n / train_seconds : NAN});
  return outcome;
}

std::string param_text(const ParamValue& v) {
  if (const bool* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  if (const std::int64_t* i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
  if (const double* d = std::get_if<double>(&v)) {
    std::ostringstream os;
    os << *d;
    return os.str();
  }
  if (const std::string* t = std::get_if<std::string>(&v)) return *t;
  return "[…]";
}

std::vector<ResultTable> ContrastiveTask::tables(const Suite& suite, const std::vector<CaseReport>& cases) const {
  std::vector<ResultTable> tables;
  const Params& tp = suite.task_params;
  for (const auto& dataset : suite.datasets) {
    ResultTable t;
    const double fraction = tp.get_double("validation_fraction");
    t.title = "'" + dataset.label + "' with encoder '" + suite.encoder.label + "': top-1 on the " +
              (fraction > 0 ? "validation split (" + format_fixed(100 * fraction, 0) + "% of train held out)" : "test split");
    t.columns = {"objective", "linear top-1", "kNN top-1", "final loss", "pair top-1", "train s", "images/s", "status"};
    for (const auto& report : cases) {
      if (report.c->dataset->label != dataset.label) continue;
      std::map<std::string, double> v;
      for (const auto& s : report.summary) v[s.name] = s.value;
      auto get = [&](const char* k) { return v.count(k) ? v[k] : NAN; };
      std::string status = to_string(report.status);
      if (report.stopped_step) status += " @" + std::to_string(*report.stopped_step);
      t.rows.push_back({row_label(suite, *report.c),
                        format_fixed(get("linear_top1"), 4, "—"), format_fixed(get("knn_top1"), 4, "—"), format_fixed(get("final_loss"), 4, "—"),
                        format_fixed(get("final_pair_top1"), 3, "—"),
                        format_fixed(get("train_seconds"), 1, "—"), format_fixed(get("images_per_second"), 0, "—"), status});
    }
    std::ostringstream note;
    note << "protocol: " << tp.get_int("epochs") << " epoch(s), batch " << tp.get_int("batch_size") << " (2N views), "
         << tp.get_string("optimizer") << " lr " << tp.get_double("learning_rate") << ", T " << tp.get_double("temperature")
         << (tp.get_bool("normalize") ? " (normalised z)" : " (unnormalised z)") << "; linear probe: standardised "
         << "features, " << tp.get_int("linear_epochs") << " epochs Adam lr " << tp.get_double("linear_lr") << " cosine-decayed"
         << "; kNN: k " << tp.get_int("knn_k") << ", cosine, T " << tp.get_double("knn_temperature");
    t.notes.push_back(note.str());
    // Objectives with their own task settings (tuned temperatures, RPC's unnormalised scores).
    std::ostringstream own;
    for (const auto& o : suite.objectives) {
      if (!o.task_params) continue;
      std::string changed;
      for (const auto& [key, value] : o.task_params->values())
        if (!(tp.values().count(key) != 0 && tp.values().at(key) == value))
          changed += (changed.empty() ? "" : ", ") + key + " " + param_text(value);
      if (!changed.empty()) own << (own.tellp() > 0 ? "; " : "") << o.label << ": " << changed;
    }
    if (own.tellp() > 0) t.notes.push_back("per-objective task settings: " + own.str());
    tables.push_back(std::move(t));
  }
  return tables;
}

}  // namespace

std::unique_ptr<Task> make_contrastive_task() { return std::make_unique<ContrastiveTask>(); }

}  // namespace rpcbench
