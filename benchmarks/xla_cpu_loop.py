"""Benchmark: a convolution's gradients inside XLA:CPU loops and branches.

Why the JAX backend unrolls a phase's steps on CPU (and so compiles
longer the more steps a round has), and why skipping the warm-up's
student steps with `lax.cond` does not pay there: XLA:CPU runs some
convolutions inside a `while` body or a `cond` branch far slower than at
the top level of the program (jax-ml/jax#12868). Five gradient steps of
one 3x3 convolution (batch 100, 16x16x64, NHWC), each way:

    KERAS_BACKEND=jax python benchmarks/xla_cpu_loop.py \
        --output=benchmarks/results/xla_cpu_loop.json

The kernel gradient computed as patches x output gradient (a matmul)
instead of XLA's backward-filter convolution shows whether that one op
is the cause.
"""

import json
import os
import sys
import time

import jax
import jax.numpy as jnp
from absl import app
from absl import flags
from jax import lax

sys.path.insert(0, os.path.dirname(__file__))

from device_info import cpu_name  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("steps", 5, "Gradient steps per program.")
flags.DEFINE_string("output", None, "Where to write the JSON result.")

NUMBERS = ("NHWC", "HWIO", "NHWC")


def conv(x, w):
    return lax.conv_general_dilated(
        x, w, (1, 1), "SAME", dimension_numbers=NUMBERS
    )


def kernel_gradient_by_patches(x, dy, kernel_shape):
    """d sum(conv(x, w) * dy) / dw as a matmul of patches and dy."""
    height, width, channels, filters = kernel_shape
    patches = lax.conv_general_dilated_patches(
        x, (height, width), (1, 1), "SAME", dimension_numbers=NUMBERS
    )
    grad = jnp.einsum("nhwk,nhwo->ko", patches, dy)
    # Patches are ordered channel-major: (C, H, W).
    return grad.reshape(channels, height, width, filters).transpose(1, 2, 0, 3)


@jax.custom_vjp
def conv_with_matmul_kernel_gradient(x, w):
    return conv(x, w)


def _forward(x, w):
    return conv(x, w), (x, w)


def _backward(residuals, dy):
    x, w = residuals
    dx = jax.vjp(lambda x: conv(x, w), x)[1](dy)[0]
    return dx, kernel_gradient_by_patches(x, dy, w.shape)


conv_with_matmul_kernel_gradient.defvjp(_forward, _backward)


def loss(conv_fn):
    return lambda w, x: jnp.sum(conv_fn(x, w) ** 2)


def programs(steps):
    """`{name: jitted (w, x) -> w}` doing `steps` gradient steps each."""

    def step(conv_fn, argnum):
        grad = jax.grad(loss(conv_fn), argnums=argnum)

        def update(w, x):
            return (
                w - 1e-6 * jnp.mean(grad(w, x))
                if argnum
                else w - 1e-6 * grad(w, x)
            )

        return update

    def unrolled(update):
        def run(w, x):
            for _ in range(steps):
                w = update(w, x)
            return w

        return run

    def fori(update):
        return lambda w, x: lax.fori_loop(
            0, steps, lambda i, w: update(w, x), w
        )

    def in_cond(update):
        body = unrolled(update)
        # The predicate is an argument: a constant one is folded away.
        return lambda w, x, run: lax.cond(run, body, lambda w, x: w, w, x)

    result = {}
    for grad_name, conv_fn, argnum in (
        ("kernel_gradient", conv, 0),
        ("input_gradient", conv, 1),
        ("kernel_gradient_by_matmul", conv_with_matmul_kernel_gradient, 0),
    ):
        update = step(conv_fn, argnum)
        result[f"{grad_name}/unrolled"] = unrolled(update)
        result[f"{grad_name}/fori_loop"] = fori(update)
        result[f"{grad_name}/cond_of_unrolled"] = in_cond(update)
    return {name: jax.jit(fn) for name, fn in result.items()}


def main(argv):
    del argv
    x = jnp.ones((100, 16, 16, 64))
    w = jnp.ones((3, 3, 64, 64)) * 0.01
    seconds = {}
    for name, fn in programs(FLAGS.steps).items():
        args = (w, x, jnp.bool_(True)) if "cond" in name else (w, x)
        fn(*args).block_until_ready()  # Compiles.
        start = time.perf_counter()
        fn(*args).block_until_ready()
        seconds[name] = round(time.perf_counter() - start, 4)
        print(f"{name:45s} {seconds[name]:8.4f} s", flush=True)
    result = {
        "benchmark": "xla_cpu_loop",
        "device": cpu_name(),
        "jax": jax.__version__,
        "steps": FLAGS.steps,
        "seconds": seconds,
    }
    if FLAGS.output:
        with open(FLAGS.output, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    app.run(main)
