// Compiles the precompiled header that every target of the build reuses.
