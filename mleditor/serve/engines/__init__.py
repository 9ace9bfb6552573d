"""Ways to run the serve door on an existing engine: Ray Serve (`ray.py`, extra `ray`)."""
