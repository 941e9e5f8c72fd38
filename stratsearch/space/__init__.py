"""space.yaml → one validated SpaceSpec: the DSL's dimensions, their checks, and sampling them.

Light by design: nothing here imports torch, so `validate` and `--help` start fast."""
