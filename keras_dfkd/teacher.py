"""Frozen teacher, its input domain, and the extractor of what methods read."""

import keras
import numpy as np
from keras import ops

from keras_dfkd import input_range_detection
from keras_dfkd.backend import keras_shims


def all_layers(model):
    """Every layer of `model`, nested models' layers included."""
    return keras_shims.flatten_layers(model, include_self=False)


def is_graph_model(layer):
    """Whether `layer` is a Functional or Sequential model (a graph)."""
    return isinstance(layer, keras.Model) and keras_shims.is_graph_model(layer)


def trace(model, inputs, on_call):
    """Calls `model`'s layers on `inputs` again, inside nested models too.

    Nested Functional and Sequential models are opened instead of being
    called as one layer, so the result is a graph of leaf layers reachable
    from `inputs`; `on_call(layer, inputs, outputs)` sees every leaf call.
    Keras has no forward hooks: this is how the inputs of BatchNorm layers
    inside a nested base model (`x = base(inputs)`) are reached.
    """

    def call(layer, *args, **kwargs):
        if is_graph_model(layer):
            return trace(layer, args[0], on_call)
        outputs = layer(*args, **kwargs)
        on_call(layer, args[0] if args else None, outputs)
        return outputs

    if isinstance(model, keras.Sequential):
        x = inputs
        for layer in model.layers:
            x = call(layer, x)
        return x
    return keras_shims.run_through_graph(model, inputs, call)


class Teacher:
    """A frozen teacher, its input domain and a functional extractor.

    The extractor maps the teacher's input to its logits, the features
    DAFL's activation term reads (the input of the classifier head, or a
    layer chosen with `use_feature_layer`) and the input of
    every `BatchNormalization` layer, nested base models included (the
    features the BN-statistics loss compares with the layer's moving
    statistics). Keras has no forward hooks, so the teacher must be a
    Functional or Sequential model; a BN layer hidden inside a custom
    layer cannot be reached, which only matters to methods that read BN
    statistics (`require_batch_norm`).

    The input domain (`input_range`) is the one given; else the one the
    teacher declares (a `Rescaling` or `Normalization` first layer, a
    keras-hub image converter); else `InputRange.standardized()`, with a
    warning when the teacher's first BatchNorm statistics say otherwise
    (see `keras_dfkd.input_range_detection`).

    The teacher is frozen (`trainable = False`) only once every check has
    passed, and always runs with `training=False`, so its weights and
    moving statistics never change.

    Args:
        model: a built Functional or Sequential `keras.Model` whose input is
            an image batch `(N, H, W, C)` and whose output is logits `(N, K)`.
        input_range: `None` or anything `InputRange.get` reads.
    """

    def __init__(self, model, input_range=None):
        inputs, output = _check_model(model)
        self.model = model
        self.input_shape = tuple(inputs.shape[1:])
        self.num_classes = int(output.shape[-1])
        self._inputs = inputs
        self._trace_extractor(inputs)
        self.input_range, self.input_range_source = (
            input_range_detection.resolve_input_range(
                model, input_range, self.input_shape[-1]
            )
        )
        self._check_outputs()
        if self.input_range_source == "default":
            input_range_detection.warn_if_not_standardized(self)
        model.trainable = False

    def _trace_extractor(self, inputs, feature_layer=None):
        batch_norm_inputs, produced, producer, by_name = [], {}, {}, {}

        def record(layer, layer_inputs, outputs):
            if isinstance(layer, keras.layers.BatchNormalization):
                batch_norm_inputs.append((layer, layer_inputs))
            if layer_inputs is not None:
                produced[id(outputs)] = layer_inputs
                producer[id(outputs)] = layer
            by_name[layer.name] = outputs

        fresh = keras.Input(batch_shape=inputs.shape, dtype=inputs.dtype)
        try:
            logits = trace(self.model, fresh, record)
        except Exception as error:  # A layer that cannot be re-called.
            raise ValueError(
                f"Could not trace the teacher {self.model.name!r} layer by "
                f"layer: {error}. keras_dfkd reads the teacher through its "
                "functional graph; rebuild it with the functional API."
            ) from error
        if isinstance(logits, dict):
            (logits,) = logits.values()  # _check_model allows one entry.
        if feature_layer is None:
            features = _head_input(logits, produced, producer)
        elif feature_layer in by_name:
            features = by_name[feature_layer]
        else:
            raise ValueError(
                f"The teacher {self.model.name!r} has no layer named "
                f"{feature_layer!r} to read features from; its layers are "
                f"{sorted(by_name)}. Pass one of them as `feature_layer`, "
                "or None for the input of the classifier head."
            )
        self.feature_layer = feature_layer
        self._has_features = features is not None and features is not fresh
        self.batch_norm_layers = [layer for layer, _ in batch_norm_inputs]
        outputs = [logits] + ([features] if self._has_features else [])
        self.extractor = keras.Model(
            fresh,
            outputs + [x for _, x in batch_norm_inputs],
            name=f"{self.model.name}_extractor",
        )
        self._unreachable_batch_norm = [
            layer.name
            for layer in all_layers(self.model)
            if isinstance(layer, keras.layers.BatchNormalization)
            and layer not in self.batch_norm_layers
        ]

    def use_feature_layer(self, name):
        """Reads `"features"` from the output of the layer `name`.

        Args:
            name: str, the name of a layer of the teacher (nested models'
                layers included), or `None` for the default: the input of
                the classifier head, the trailing `Dense` layers with the
                normalisation, activation and dropout between them (on
                LeNet-5 the flattened 120-d `conv3` output DAFL reads; on
                a ResNet the pooled features).
        """
        if name != self.feature_layer:
            self._trace_extractor(self._inputs, name)

    def probe(self, batch_size=16, seed=0):
        """Smooth random images in the teacher's input domain (numpy)."""
        return input_range_detection.probe_images(
            self.input_range, (batch_size,) + self.input_shape, seed
        )

    def _check_outputs(self):
        """Refuses NaN/inf logits and probabilities on a probe batch."""
        logits = self(self.probe())["logits"]
        logits = np.asarray(ops.convert_to_numpy(logits), "float64")
        name = self.model.name
        if not np.all(np.isfinite(logits)):
            raise ValueError(
                f"The teacher {name!r} returns NaN or inf logits on a batch "
                f"of images in its input range {self.input_range}: its "
                "weights or BN statistics are probably corrupt (check the "
                "loaded file, or evaluate it on real data first). "
                "Distilling it would only propagate the non-finite values."
            )
        rows = logits.sum(axis=-1)
        if (
            logits.shape[-1] > 1
            and np.all(logits >= 0)
            and np.allclose(rows, 1.0, atol=1e-3)
        ):
            raise ValueError(
                f"The teacher {name!r} outputs probabilities (every output "
                "row is non-negative and sums to 1 on a probe batch): a "
                "softmax somewhere before its end. keras_dfkd needs logits: "
                "rebuild the model from the layer before the softmax, e.g. "
                "keras.Model(teacher.input, softmax_layer.input), or "
                "remove the activation."
            )

    @property
    def batch_norm_input_shapes(self):
        """Channels-last shapes of the BN inputs, in extractor order."""
        return [
            tuple(_channels_last(keras.KerasTensor(x.shape), bn.axis).shape)
            for x, bn in zip(
                self.extractor.outputs[2 if self._has_features else 1 :],
                self.batch_norm_layers,
            )
        ]

    @property
    def has_features(self):
        return self._has_features

    @property
    def has_batch_norm(self):
        return bool(self.batch_norm_layers)

    def require_batch_norm(self, method_name):
        if self._unreachable_batch_norm:
            raise ValueError(
                f"{method_name} matches the teacher's BatchNormalization "
                "statistics, but these BatchNormalization layers of "
                f"{self.model.name!r} sit inside custom (subclassed) layers "
                "whose inputs keras_dfkd cannot read: "
                f"{self._unreachable_batch_norm}. Build those blocks with "
                "the functional API, or use a method that does not read BN "
                "statistics (DAFL, DFAD)."
            )
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
            A dict with `"logits"`, `"features"` (see `use_feature_layer`;
            `None` when the teacher has no layer before its output) and
            `"batch_norm_inputs"` (a list, one per BN layer, channels
            last).
        """
        outputs = self.extractor(images, training=False)
        # Losses run in float32 under a mixed-precision policy.
        logits = ops.cast(outputs[0], "float32")
        rest = list(outputs[1:])
        features = rest.pop(0) if self._has_features else None
        if features is not None:
            features = ops.cast(features, "float32")
        rest = [
            _channels_last(x, layer.axis)
            for x, layer in zip(rest, self.batch_norm_layers)
        ]
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


#: Layers of a classifier head: Dense and what sits between Dense layers.
_HEAD_LAYERS = (
    keras.layers.Dense,
    keras.layers.BatchNormalization,
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.Dropout,
)


def _head_input(logits, produced, producer):
    """The input of the trailing classifier head, else the last layer's.

    Walks back from the logits over `_HEAD_LAYERS` and returns the input
    of the earliest `Dense` met; when the last layer is no `Dense` (a
    convolutional head), the last layer's input.
    """
    features, x = None, logits
    while isinstance(producer.get(id(x)), _HEAD_LAYERS):
        layer, x = producer[id(x)], produced[id(x)]
        if isinstance(layer, keras.layers.Dense):
            features = x
    return produced.get(id(logits)) if features is None else features


def _channels_last(x, axis):
    rank = len(x.shape)
    axis = axis % rank
    return x if axis == rank - 1 else ops.moveaxis(x, axis, -1)


def _check_model(model):
    """The teacher's input and output tensors, after the structural checks."""
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"The teacher must be a keras.Model; received "
            f"{type(model).__name__}."
        )
    if keras.config.image_data_format() != "channels_last":
        raise ValueError(
            "keras_dfkd works on channels-last images (N, H, W, C), but "
            "keras.config.image_data_format() is "
            f"{keras.config.image_data_format()!r}. Call keras.config."
            "set_image_data_format('channels_last') (or set "
            "'image_data_format' in ~/.keras/keras.json) before building "
            "the models."
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
    structure = getattr(model, "output", None)
    if isinstance(structure, dict) and len(structure) != 1:
        raise ValueError(
            f"The teacher {model.name!r} returns a dict of {len(structure)} "
            f"outputs {sorted(structure)}; keras_dfkd needs one logits "
            "output. Pass a single-output view of it, e.g. keras.Model("
            "teacher.input, teacher.output['logits'])."
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
    first_layers = [
        layer
        for layer in all_layers(model)
        if getattr(layer, "data_format", None) == "channels_first"
    ]
    if first_layers:
        raise ValueError(
            f"The teacher {model.name!r} has channels_first layers "
            f"({[layer.name for layer in first_layers][:3]}); keras_dfkd "
            "synthesises channels-last images (N, H, W, C). Rebuild the "
            "teacher with data_format='channels_last' (the Keras default) "
            "and copy its weights."
        )
    output_shape = tuple(outputs[0].shape[1:])
    if len(output_shape) != 1:
        raise ValueError(
            "The teacher's output must be class logits of shape (N, K); "
            f"received {tuple(outputs[0].shape)}."
        )
    _refuse_probability_output(model)
    return inputs[0], outputs[0]


def _refuse_probability_output(model):
    """Raises when the teacher's last layer is a softmax (or sigmoid).

    Every method reads logits: temperatures, KL and the BN-free losses all
    assume unnormalised scores, and softmax outputs would be squashed a
    second time. A softmax further up is caught on the probe batch.
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
