"""The Textual console. The only package that imports Textual; it reads the engine through the bridge."""
