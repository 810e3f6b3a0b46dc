"""The device a benchmark ran on, named for its JSON result."""

import os
import platform

import keras


def cpu_name():
    """`"CPU, <cores> cores (<model name>)"` from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo") as f:
            names = [line for line in f if line.startswith("model name")]
        name = names[0].split(":", 1)[1].strip()
    except (OSError, IndexError):
        name = platform.processor() or platform.machine()
    return f"CPU, {os.cpu_count()} cores ({name})"


def device_name():
    """The accelerator the backend uses, or the CPU when it has none."""
    if keras.config.backend() == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform != "cpu":
            return f"{device.platform.upper()}: {device.device_kind}"
        return cpu_name()
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return f"GPU: {gpus[0].name}" if gpus else cpu_name()
