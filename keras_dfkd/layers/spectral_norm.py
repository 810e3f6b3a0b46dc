"""`SpectralNorm`: spectral normalisation with PyTorch's semantics."""

import math

import keras
from keras import ops

from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.utils.arguments import check_int


@keras_dfkd_export("keras_dfkd.layers.SpectralNorm")
class SpectralNorm(keras.layers.Wrapper):
    """Divides a kernel by its largest singular value in the forward pass.

    The semantics of PyTorch's `torch.nn.utils.spectral_norm`, which the
    papers ran: the wrapped layer's kernel stays the free, trained
    parameter (PyTorch's `weight_orig`), and every call uses

    ```
    W = reshape(kernel, (-1, units))^T              # (units, fan_in)
    training:  v = normalize(W^T u);  u = normalize(W v)   (power_iterations x)
               u, v stored, no gradient through them
    sigma = u^T W v                                 # gradient flows through W
    y = layer(x) with kernel / sigma                # kernel left untouched
    ```

    Keras's own `keras.layers.SpectralNormalization` instead writes
    `kernel / sigma` back into the kernel on each training call, so the
    optimizer updates an already normalised kernel and no gradient passes
    through `sigma`.

    Args:
        layer: a `keras.layers.Layer` with a `kernel` whose last axis is
            the output units (`Dense`, `Conv2D`, ...).
        power_iterations: int >= 1. Power iterations per training call.
            Defaults to `1` (PyTorch's).
        epsilon: float. Floor of the norms in `normalize`. Defaults to
            `1e-12` (PyTorch's).
        **kwargs: standard layer arguments such as `name`.

    Call arguments:
        inputs: the wrapped layer's input.
        training: bool. Whether to run the power iterations and store
            `u` and `v`; inference reuses the stored vectors.

    Example:

    >>> layer = keras_dfkd.layers.SpectralNorm(keras.layers.Dense(4))
    >>> tuple(layer(keras.ops.ones((2, 3)), training=True).shape)
    (2, 4)

    Reference:
        - [Miyato et al., 2018. Spectral Normalization for Generative
          Adversarial Networks](https://arxiv.org/abs/1802.05957)
    """

    def __init__(self, layer, power_iterations=1, epsilon=1e-12, **kwargs):
        super().__init__(layer, **kwargs)
        check_int("power_iterations", power_iterations)
        self.power_iterations = power_iterations
        self.epsilon = epsilon

    def build(self, input_shape=None):
        if not self.layer.built:
            self.layer.build(input_shape)
        if not hasattr(self.layer, "kernel"):
            raise ValueError(
                f"SpectralNorm needs a layer with a `kernel`; "
                f"{type(self.layer).__name__} has none."
            )
        units = self.layer.kernel.shape[-1]
        fan_in = math.prod(self.layer.kernel.shape[:-1])
        # PyTorch draws u and v from N(0, 1) and normalises them.
        self.u = self.add_weight(
            shape=(units,),
            initializer=keras.initializers.RandomNormal(stddev=1.0),
            trainable=False,
            name="u",
        )
        self.v = self.add_weight(
            shape=(fan_in,),
            initializer=keras.initializers.RandomNormal(stddev=1.0),
            trainable=False,
            name="v",
        )
        self.u.assign(self._normalize(self.u.value))
        self.v.assign(self._normalize(self.v.value))
        self.built = True

    def _normalize(self, x):
        return x / ops.maximum(ops.sqrt(ops.sum(ops.square(x))), self.epsilon)

    def sigma(self, training=False):
        """`u^T W v` after the power iterations of a `training` call."""
        kernel = self.layer.kernel.value
        matrix = ops.reshape(kernel, (-1, kernel.shape[-1]))  # (fan_in, units)
        u, v = self.u.value, self.v.value
        if training:
            frozen = ops.stop_gradient(matrix)
            for _ in range(self.power_iterations):
                v = self._normalize(ops.matmul(frozen, u))
                u = self._normalize(ops.matmul(v, frozen))
            self.u.assign(u)
            self.v.assign(v)
        return ops.sum(u * ops.matmul(v, matrix))

    def call(self, inputs, training=False):
        kernel = self.layer.kernel
        normalized = kernel.value / self.sigma(training=training)
        # Run the layer with the normalised kernel without assigning it:
        # every variable of the layer is mapped, so the others keep the
        # values of any enclosing stateless scope (JAX's training step).
        mapping = [
            (variable, normalized if variable is kernel else variable.value)
            for variable in self.layer.variables
        ]
        with keras.StatelessScope(state_mapping=mapping):
            return self.layer(inputs, training=training)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "power_iterations": self.power_iterations,
                "epsilon": self.epsilon,
            }
        )
        return config
