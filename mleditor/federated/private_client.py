"""The `ClientApp` a run deploys: `client_app`'s train and evaluate, with the update clipped for DP.

Invariant: with `clip=True` every train reply passes `clipping_mod` (Flower's `fixedclipping_mod`,
then the whole update re-measured) before it leaves, so the arrays sent are received +
(trained - received) * min(1, C / ||trained - received||): the update has L2 norm at most C, the
`clipping_norm` the server's DP wrapper puts in the config (`server_app.PrivateStrategy`, which then
adds the noise). A non-finite update keeps its NaN (its norm is NaN, its scale 1) and the server
screens it out; a reply whose array names differ from the received ones becomes an error reply.
Otherwise what leaves is what `client_app.train` sends: the network's named arrays and counts.
`mods` wrap the whole app (outermost first), so a mod given there sees each message as it leaves
the client, after the clipping.

    app = make_client_app(clip=True)                 # with make_strategy(ServerConfig(dp_noise=1.0, dp_clip=0.5), …)
    app = make_client_app(clip=False, mods=[count])  # `count` sees every reply as sent
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from flwr.app import Context, Message
from flwr.clientapp import ClientApp
from flwr.clientapp.mod import fixedclipping_mod
from flwr.clientapp.typing import ClientAppCallable, Mod
from flwr.supercore.differential_privacy import KEY_CLIPPING_NORM

from mleditor.federated import client_app
from mleditor.federated.client_app import from_arrays, to_arrays


def clipping_mod(msg: Message, context: Context, call_next: ClientAppCallable) -> Message:
    """Flower's `fixedclipping_mod`, then the whole update measured in float64 and scaled to norm <= C.

    Flower 1.42's mod leaves a 0-d array's update unclipped (`np.subtract` of two 0-d arrays gives
    a numpy scalar, which its in-place `*=` rebinds instead of scaling), and the network's output
    bias `b2` is 0-d: without the second step one scalar would escape the bound.
    """
    reply = fixedclipping_mod(msg, context, call_next)
    if reply.has_error():
        return reply
    clip = float(next(iter(msg.content.config_records.values()))[KEY_CLIPPING_NORM])  # type: ignore[arg-type]
    received = from_arrays(next(iter(msg.content.array_records.values())))
    key, record = next(iter(reply.content.array_records.items()))
    update = {name: value.astype(np.float64) - received[name] for name, value in from_arrays(record).items()}
    norm = math.sqrt(sum(float(np.sum(value**2)) for value in update.values()))
    if norm > clip:  # NaN compares False: a non-finite update goes on to the server's screening
        reply.content.array_records[key] = to_arrays({name: received[name] + value * (clip / norm)
                                                      for name, value in update.items()})
    return reply


def make_client_app(clip: bool, mods: Sequence[Mod] = ()) -> ClientApp:
    """`client_app.train` (clipped by `clipping_mod` when `clip`) and `client_app.evaluate`, inside `mods`."""
    app = ClientApp(mods=list(mods))
    app.train(mods=[clipping_mod] if clip else [])(client_app.train)
    app.evaluate()(client_app.evaluate)
    return app
