"""JVM options RayDP needs on Java 17 (DESIGN.md: without them ``from_spark`` kills executors)."""

from __future__ import annotations

_OPENS = (
    "java.base/java.lang",
    "java.base/java.lang.invoke",
    "java.base/java.lang.reflect",
    "java.base/java.io",
    "java.base/java.net",
    "java.base/java.nio",
    "java.base/java.math",
    "java.base/java.text",
    "java.base/java.time",
    "java.base/java.util",
    "java.base/java.util.concurrent",
    "java.base/java.util.concurrent.atomic",
    "java.base/java.util.concurrent.locks",
    "java.base/java.util.regex",
    "java.base/java.security",
    "java.base/jdk.internal.ref",
    "java.base/jdk.internal.misc",
    "java.base/sun.nio.ch",
    "java.base/sun.nio.cs",
    "java.base/sun.security.action",
    "java.base/sun.util.calendar",
)

ADD_OPENS: tuple[str, ...] = tuple(f"--add-opens={pkg}=ALL-UNNAMED" for pkg in _OPENS)

# Netty (Arrow, Spark shuffle) needs this on Java 9+ to use direct buffers.
EXTRA: tuple[str, ...] = ("-Dio.netty.tryReflectionSetAccessible=true",)

JVM_OPTIONS: tuple[str, ...] = ADD_OPENS + EXTRA


def java_options_string() -> str:
    """The options as one string, as Spark's ``extraJavaOptions`` settings expect."""
    return " ".join(JVM_OPTIONS)
