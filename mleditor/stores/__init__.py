"""State that several doors share: the prediction store family, and the accounts store (API keys, profiles).

Data flows one way: `core → stores → doors`. Nothing here imports a door.
"""

from mleditor._exports import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "AccountStore": "mleditor.stores.accounts",
    "ApiKeyAuthorizer": "mleditor.stores.keys",
    "PredictionRecord": "mleditor.stores.predictions.records",
    "PredictionStore": "mleditor.stores.predictions.base",
    "SqliteProfiles": "mleditor.stores.profiles",
    "create_api_key": "mleditor.stores.keys",
    "list_api_keys": "mleditor.stores.keys",
    "open_store": "mleditor.stores.predictions.factory",
    "revoke_api_key": "mleditor.stores.keys",
    "upsert_profile": "mleditor.stores.profiles",
})
