"""Frozen teacher and the functional extractor of its BN inputs."""

import keras
import numpy as np


class Teacher:
    """A frozen teacher plus a functional extractor of what methods read.

    The extractor maps the teacher's input to its logits, the input of its
    final layer (the penultimate features DAFL reads) and the input of
    every `BatchNormalization` layer (the features the BN-statistics loss
    compares with the layer's moving statistics). Keras has no forward
    hooks, so the teacher must be a Functional or Sequential model.

    The teacher is frozen here (`trainable = False`), and is always run with
    `training=False`, so its weights and moving statistics never change.

    Args:
        model: a built Functional or Sequential `keras.Model` whose input is
            an image batch `(N, H, W, C)` and whose output is logits `(N, K)`.
    """

    def __init__(self, model):
        if not isinstance(model, keras.Model):
            raise TypeError(
                "The teacher must be a keras.Model; received "
                f"{type(model).__name__}."
            )
        try:
            inputs, outputs = model.inputs, model.outputs
        except (AttributeError, ValueError):
            inputs = outputs = None
        if not inputs or not outputs:
            raise ValueError(
                f"The teacher {model.name!r} is a subclassed or unbuilt "
                "model. keras_dfkd reads the teacher's BatchNormalization "
                "inputs through a functional extractor, which needs a "
                "Functional or Sequential model: rebuild it with the "
                "functional API (keras.Input -> layers -> keras.Model) or "
                "start a Sequential with keras.Input(shape)."
            )
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(
                "The teacher must have exactly one input and one output; "
                f"received {len(inputs)} inputs and {len(outputs)} outputs."
            )
        input_shape = tuple(inputs[0].shape[1:])
        if len(input_shape) != 3 or None in input_shape:
            raise ValueError(
                "The teacher's input must be a batch of images with a fixed "
                f"shape (H, W, C); received {tuple(inputs[0].shape)}. Data-"
                "free distillation synthesises images, so non-image teachers "
                "are not supported."
            )
        output_shape = tuple(outputs[0].shape[1:])
        if len(output_shape) != 1:
            raise ValueError(
                "The teacher's output must be class logits of shape (N, K); "
                f"received {tuple(outputs[0].shape)}."
            )
        _refuse_probability_output(model)
        model.trainable = False
        self.model = model
        self.input_shape = input_shape
        self.num_classes = int(output_shape[0])
        self.batch_norm_layers = [
            layer
            for layer in model._flatten_layers(include_self=False)
            if isinstance(layer, keras.layers.BatchNormalization)
        ]
        final = model.layers[-1]
        feature_outputs = [final.input] if final.input is not inputs[0] else []
        try:
            self.extractor = keras.Model(
                inputs,
                [outputs[0]]
                + feature_outputs
                + [bn.input for bn in self.batch_norm_layers],
                name=f"{model.name}_extractor",
            )
        except ValueError as error:
            raise ValueError(
                "Could not build a feature extractor for the teacher "
                f"{model.name!r}: its BatchNormalization layers must be "
                "reachable in its functional graph (nested subclassed "
                f"blocks are not). Original error: {error}"
            ) from error
        self._has_features = bool(feature_outputs)
        self._check_finite()

    def _check_finite(self):
        """Refuses a teacher whose logits on a small batch are NaN/inf."""
        probe = keras.random.normal((2,) + self.input_shape, seed=0)
        logits = keras.ops.convert_to_numpy(self.model(probe, training=False))
        if not np.all(np.isfinite(logits)):
            raise ValueError(
                f"The teacher {self.model.name!r} returns NaN or inf logits "
                "on a batch of standard-normal images: its weights or BN "
                "statistics are probably corrupt (check the loaded file, "
                "or evaluate it on real data first). Distilling it would "
                "only propagate the non-finite values."
            )

    @property
    def batch_norm_input_shapes(self):
        return [tuple(bn.input.shape) for bn in self.batch_norm_layers]

    @property
    def has_features(self):
        return self._has_features

    @property
    def has_batch_norm(self):
        return bool(self.batch_norm_layers)

    def require_batch_norm(self, method_name):
        if not self.batch_norm_layers:
            raise ValueError(
                f"{method_name} matches the teacher's BatchNormalization "
                f"statistics, but the teacher {self.model.name!r} has no "
                "BatchNormalization layer. Use a teacher trained with BN, "
                "or a method that does not need it (DAFL, DFAD)."
            )

    def __call__(self, images):
        """Runs the teacher in inference mode.

        Returns:
            A dict with `"logits"`, `"features"` (input of the final layer,
            or `None`) and `"batch_norm_inputs"` (a list, one per BN layer).
        """
        outputs = self.extractor(images, training=False)
        logits, rest = outputs[0], list(outputs[1:])
        features = rest.pop(0) if self._has_features else None
        return {
            "logits": logits,
            "features": features,
            "batch_norm_inputs": rest,
        }

    def batch_norm_statistics(self):
        """Returns the lists of moving means and moving variances."""
        means = [bn.moving_mean.value for bn in self.batch_norm_layers]
        variances = [bn.moving_variance.value for bn in self.batch_norm_layers]
        return means, variances


def _refuse_probability_output(model):
    """Raises when the teacher ends in a softmax (or sigmoid).

    Every method reads logits: temperatures, KL and the BN-free losses all
    assume unnormalised scores, and softmax outputs would be squashed a
    second time.
    """
    final = model.layers[-1]
    activation = getattr(final, "activation", None)
    name = getattr(activation, "__name__", "")
    if isinstance(final, keras.layers.Softmax) or name in (
        "softmax",
        "sigmoid",
    ):
        raise ValueError(
            f"The teacher {model.name!r} ends in a {name or 'softmax'} "
            f"(layer {final.name!r}), so it outputs probabilities; "
            "keras_dfkd needs logits. Rebuild the last layer without the "
            "activation (e.g. Dense(K) instead of Dense(K, "
            "activation='softmax'), copying its weights), or drop a final "
            "Softmax layer: keras.Model(teacher.input, "
            "teacher.layers[-1].input)."
        )
