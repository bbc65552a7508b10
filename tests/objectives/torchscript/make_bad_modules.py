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


def save(module: torch.nn.Module, name: str, **kwargs) -> None:
    torch.jit.script(module).save(f"{out}/{name}", **kwargs)


save(WrongArity(), "wrong_arity.pt")
save(WrongReturns(), "wrong_returns.pt")
save(WrongDiagnostics(), "wrong_diagnostics.pt")
save(NotScalar(), "not_scalar.pt")
save(NoGradient(), "no_gradient.pt")
save(Learnable(), "learnable.pt")
# A PyTorch archive that is not TorchScript (torch.save of a tensor), and a file that is no archive.
torch.save(torch.zeros(3), f"{out}/tensor.pt")
with open(f"{out}/text.pt", "w") as f:
    f.write("def forward(pos, neg): return pos\n")

# What a newer PyTorch writes: an archive format version past this LibTorch's, and (loadable, but
# not forward compatible) a module whose version record names PyTorch 2.1.
with zipfile.ZipFile(f"{out}/infonce.pt") as src, zipfile.ZipFile(f"{out}/newer_format.pt", "w") as dst:
    for item in src.infolist():
        data = src.read(item)
        dst.writestr(item, b"11\n" if item.filename.endswith("/version") else data)
scripted = torch.jit.load(f"{out}/infonce.pt")
scripted.save(f"{out}/newer_torch.pt", _extra_files={"torch_version": "2.1.0"})

# What Python says the docs' InfoNCE's code is (scripted.code): the harness must record this text.
sys.path.insert(0, out)
from objectives import InfoNCE  # noqa: E402 (the page's code, written to DIR by export_modules.sh)

with open(f"{out}/infonce.code.txt", "w") as f:
    f.write(torch.jit.script(InfoNCE()).code)
