"""State that several doors share: the prediction store family, and the accounts store (API keys, profiles).

Data flows one way: `core → stores → doors`. Nothing here imports a door.
"""
