"""Door 3, hybrid: the stored prediction when it is fresh, else the live pipeline and a write-back."""

from mleditor._exports import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "HybridService": "mleditor.hybrid.service",
    "HybridSettings": "mleditor.hybrid.settings",
    "StoreLookup": "mleditor.hybrid.lookup",
    "create_hybrid_app": "mleditor.hybrid.app",
})
