"""Ray lifecycle and Spark on Ray (RayDP)."""

from raylake.compute.ray_runtime import RayRuntime
from raylake.compute.spark import SparkOnRay

__all__ = ["RayRuntime", "SparkOnRay"]
