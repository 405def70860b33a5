"""The hypercluster MILP: one module per constraint family, assembled by `build_model`."""

from twin.model.build import BuiltModel, build_model

__all__ = ["BuiltModel", "build_model"]
