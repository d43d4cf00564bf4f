"""Small shared helpers: user-facing errors (:mod:`.errors`), device detection and names
(:mod:`.devices`), the config resolvers (:mod:`.resolvers`), FPS and model size
(:mod:`.timing`)."""
