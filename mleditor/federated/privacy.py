"""What a differentially private federated run spent: ε at δ from Google's `dp-accounting` (RDP).

Invariant: ε is computed for the mechanism the server actually runs, and only for the rounds whose
noised aggregate was released (`RunRecord.released`). Each round Flower samples exactly K of the N
clients uniformly without replacement (`clients_per_round` / clients is the sampling rate), every
sampled update is clipped to L2 norm C, and the average Σ/K gets Gaussian noise of std sigma·C/K (that
is sigma·C on the sum). With a fixed sample size the matching neighbouring relation is *replace one
client's data* (N is public), under which the sum of clipped updates has L2 sensitivity 2C, so the
accounted event is `SampledWithoutReplacementDpEvent(N, K, GaussianDpEvent(sigma / 2))` (Wang, Balle,
Kasiviswanathan 2019), composed once per released round in an `RdpAccountant`. The guarantee is
client level (all of one author's questions) and covers the model weights the server releases;
the counts and training losses a client also reports are not covered.

    spent = privacy_spent(noise=1.0, clip=0.5, sampled=20, population=1300, releases=50, delta=1e-5)
    spent.epsilon
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

ACCOUNTANT = ("dp-accounting RDP: uniform sampling of K of N clients without replacement, replace-one "
              "neighbouring (sensitivity 2C), noise std sigma*C on the sum")


@dataclass(frozen=True)
class PrivacySpent:
    """ε at δ after `releases` noised rounds, and the configuration it was computed for."""

    epsilon: float
    delta: float
    releases: int
    noise_multiplier: float
    clip: float
    sampled: int
    population: int

    @property
    def sampling_rate(self) -> float:
        return self.sampled / self.population

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "sampling_rate": round(self.sampling_rate, 6), "accountant": ACCOUNTANT}


def epsilon(noise: float, sampled: int, population: int, releases: int, delta: float) -> float:
    """ε at δ of `releases` rounds, each sampling `sampled` of `population` clients, with noise multiplier `noise`."""
    if not 0 < sampled <= population:
        raise ValueError(f"sampled={sampled!r} is not valid; expected 1..population ({population})")
    if releases == 0:
        return 0.0
    import dp_accounting  # type: ignore[import-untyped, import-not-found, unused-ignore]
    from dp_accounting import rdp  # type: ignore[import-untyped, import-not-found, unused-ignore]

    accountant = rdp.RdpAccountant(neighboring_relation=dp_accounting.NeighboringRelation.REPLACE_ONE)
    event = dp_accounting.SampledWithoutReplacementDpEvent(population, sampled,
                                                           dp_accounting.GaussianDpEvent(noise / 2.0))
    accountant.compose(event, releases)
    return float(accountant.get_epsilon(delta))


def privacy_spent(noise: float, clip: float, sampled: int, population: int, releases: int,
                  delta: float) -> PrivacySpent:
    """The account of a run: ε (`epsilon`) with the configuration it holds for."""
    return PrivacySpent(epsilon(noise, sampled, population, releases, delta), delta, releases, noise, clip,
                        sampled, population)
