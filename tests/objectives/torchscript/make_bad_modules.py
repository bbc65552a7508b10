# Writes the modules the torchscript objective must refuse (and a few helpers) into DIR.
#   python3 make_bad_modules.py DIR     (DIR already holds the docs' infonce.pt)
import sys
import zipfile
from typing import Dict, Tuple

import torch
from torch import Tensor

out = sys.argv[1]


class WrongArity(torch.nn.Module):
    def forward(self, pos: Tensor) -> Tuple[Tensor, Tensor]:
        return -pos.mean(), pos.mean().detach()


class WrongReturns(torch.nn.Module):
    def forward(self, pos: Tensor, neg: Tensor) -> Tensor:
        return neg.logsumexp(1).mean() - pos.mean()


class WrongDiagnostics(torch.nn.Module):
    def forward(self, pos: Tensor, neg: Tensor) -> Tuple[Tensor, Tensor, Dict[str, float]]:
        loss = neg.logsumexp(1).mean() - pos.mean()
        return loss, -loss.detach(), {"k": float(neg.size(1))}


class NotScalar(torch.nn.Module):  # the loss per anchor instead of its mean
    def forward(self, pos: Tensor, neg: Tensor) -> Tuple[Tensor, Tensor]:
        loss = neg.logsumexp(1) - pos
        return loss, -loss.mean().detach()


class NoGradient(torch.nn.Module):
    def forward(self, pos: Tensor, neg: Tensor) -> Tuple[Tensor, Tensor]:
        loss = (neg.logsumexp(1) - pos).mean().detach()
        return loss, -loss


class Learnable(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.log_temperature = torch.nn.Parameter(torch.zeros([]))

    def forward(self, pos: Tensor, neg: Tensor) -> Tuple[Tensor, Tensor]:
        logits = torch.cat([pos.unsqueeze(1), neg], 1) / self.log_temperature.exp()
        loss = -(logits.select(1, 0) - torch.logsumexp(logits, 1)).mean()
        return loss, -loss.detach()


class TopK(torch.nn.Module):  # needs K >= k negatives: the probe's 15 fall short of the default
    def __init__(self):
        super().__init__()
        self.k = 20

    def forward(self, pos: Tensor, neg: Tensor) -> Tuple[Tensor, Tensor]:
        hardest = torch.topk(neg, self.k, 1)[0]
        loss = torch.logsumexp(hardest, 1).mean() - pos.mean()
        return loss, -loss.detach()


class Asserts(torch.nn.Module):
    def forward(self, pos: Tensor, neg: Tensor) -> Tuple[Tensor, Tensor]:
        assert neg.size(1) >= 100, "needs at least 100 negatives"
        loss = neg.logsumexp(1).mean() - pos.mean()
        return loss, -loss.detach()


class InPlaceState(torch.nn.Module):  # a moving average updated in place: backward fails
    def __init__(self):
        super().__init__()
        self.register_buffer("average", torch.ones([]))

    def forward(self, pos: Tensor, neg: Tensor) -> Tuple[Tensor, Tensor]:
        partition = torch.exp(neg).mean()
        loss = partition / self.average - pos.mean()  # division saves self.average for backward
        if self.training:
            with torch.no_grad():
                self.average.mul_(0.9).add_(0.1 * partition)
        return loss, -loss.detach()


class NoDependency(torch.nn.Module):  # a loss with a gradient, but not to the scores
    def forward(self, pos: Tensor, neg: Tensor) -> Tuple[Tensor, Tensor]:
        loss = torch.zeros([]).requires_grad_() * 2.0
        return loss, (pos.mean() - neg.mean()).detach()


class InfiniteGradient(torch.nn.Module):  # sqrt at 0: a finite loss, an infinite gradient
    def forward(self, pos: Tensor, neg: Tensor) -> Tuple[Tensor, Tensor]:
        loss = torch.sqrt(pos - pos.detach()).mean() + neg.logsumexp(1).mean()
        return loss, -loss.detach()


class MetricNamedDiagnostic(torch.nn.Module):
    def forward(self, pos: Tensor, neg: Tensor) -> Tuple[Tensor, Tensor, Dict[str, Tensor]]:
        loss = neg.logsumexp(1).mean() - pos.mean()
        return loss, -loss.detach(), {"grad_norm": loss.detach()}


class Attributes(torch.nn.Module):  # attributes of each kind, in a submodule too
    def __init__(self):
        super().__init__()
        self.scale = 0.1
        self.count = 3
        self.flag = True
        self.name = "not recorded"
        self.inner = TopK()

    def forward(self, pos: Tensor, neg: Tensor) -> Tuple[Tensor, Tensor]:
        loss = self.scale * (neg.logsumexp(1).mean() - pos.mean())
        return loss, -loss.detach()


def save(module: torch.nn.Module, name: str, **kwargs) -> None:
    torch.jit.script(module).save(f"{out}/{name}", **kwargs)


save(WrongArity(), "wrong_arity.pt")
save(WrongReturns(), "wrong_returns.pt")
save(WrongDiagnostics(), "wrong_diagnostics.pt")
save(NotScalar(), "not_scalar.pt")
save(NoGradient(), "no_gradient.pt")
save(Learnable(), "learnable.pt")
save(TopK(), "topk.pt")
save(Asserts(), "asserts.pt")
save(InPlaceState(), "inplace_state.pt")
save(NoDependency(), "no_dependency.pt")
save(InfiniteGradient(), "infinite_gradient.pt")
save(MetricNamedDiagnostic(), "metric_named_diagnostic.pt")
save(Attributes(), "attributes.pt")
# A PyTorch archive that is not TorchScript (torch.save of a tensor), and a file that is no archive.
torch.save(torch.zeros(3), f"{out}/tensor.pt")
with open(f"{out}/text.pt", "w") as f:
    f.write("def forward(pos, neg): return pos\n")

# What a newer PyTorch writes: an archive format version past this LibTorch's, and (loadable, but
# not forward compatible) a module whose version record names the next minor release of this
# PyTorch (python3-torch and libtorch-dev are one Debian source package: the same version).
with zipfile.ZipFile(f"{out}/infonce.pt") as src, zipfile.ZipFile(f"{out}/newer_format.pt", "w") as dst:
    for item in src.infolist():
        data = src.read(item)
        dst.writestr(item, b"11\n" if item.filename.endswith("/version") else data)
scripted = torch.jit.load(f"{out}/infonce.pt")
major, minor = (int(part) for part in torch.__version__.split(".")[:2])
scripted.save(f"{out}/newer_torch.pt", _extra_files={"torch_version": f"{major}.{minor + 1}.0"})
# What PyTorch 2.x usually writes: format 10 or below, no version record, and code that calls an
# operator this LibTorch lacks (here a made-up one in place of logsumexp).
with zipfile.ZipFile(f"{out}/infonce.pt") as src, zipfile.ZipFile(f"{out}/unknown_op.pt", "w") as dst:
    for item in src.infolist():
        if item.filename.endswith("extra/torch_version") or item.filename.endswith(".debug_pkl"):
            continue
        data = src.read(item)
        if "/code/" in item.filename and item.filename.endswith(".py"):
            data = data.replace(b"torch.logsumexp(", b"torch.logsumexp_from_the_future(")
        dst.writestr(item, data)

# What Python says the docs' InfoNCE's code is (scripted.code): the harness must record this text.
sys.path.insert(0, out)
from objectives import InfoNCE  # noqa: E402 (the page's code, written to DIR by export_modules.sh)

with open(f"{out}/infonce.code.txt", "w") as f:
    f.write(torch.jit.script(InfoNCE()).code)
