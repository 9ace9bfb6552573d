"""Door 3, hybrid: the stored prediction when it is fresh, else the live pipeline and a write-back."""
