"""raylake."""
