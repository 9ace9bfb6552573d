"""Door 6, federated learning: clients are authors, evaluation is per author over time.

`partition` splits each author's questions into earlier (training) and later (held-out) ones and
keeps a hashed set of authors out of training altogether; `user_features` computes an author's
history from strictly earlier questions only, as the gather step would serve it. Torch and
Flower are imported by the modules that need them, never here.
"""

__all__: list[str] = []
