"""Door 6, federated learning on Flower: clients are authors, evaluation is per author over time.

`partition` splits each author's questions into earlier (training) and later (held-out) ones and
keeps a hashed set of authors out of training altogether; `user_features` computes an author's
history from strictly earlier questions only. `client_app` and `server_app` are the Flower apps
(screened FedAvg, FedAvgM, FedAdam; client-side DP with `privacy`'s accountant; SecAgg+ in
`secagg`); `simulation` runs them in Flower's simulation engine and `deployment` on a real
SuperLink and SuperNodes on loopback (`deployed_apps`); `checkpoint` lets a run resume;
`personalize` fits per-author parts and `output` writes the model directory every door serves.
Torch and Flower are imported by the modules that need them, never here.
"""

__all__: list[str] = []
