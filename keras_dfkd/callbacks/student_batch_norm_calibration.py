"""`StudentBatchNormCalibration`: the student's BN statistics, re-estimated."""

import keras

from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.teacher import all_layers


def batch_norm_layers(model):
    """Every `BatchNormalization` layer of `model`, nested ones included."""
    return [
        layer
        for layer in all_layers(model)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]


@keras_dfkd_export("keras_dfkd.callbacks.StudentBatchNormCalibration")
class StudentBatchNormCalibration(keras.callbacks.Callback):
    """Re-estimates the student's BatchNorm statistics on synthetic images.

    A student learns in training mode, normalising each synthetic batch by
    its own statistics; in inference mode it uses the moving averages,
    which trail the weights by about `1 / (1 - momentum)` steps (100 at
    Keras' default `momentum=0.99`, 10 at PyTorch's default). A
    distillation of a few hundred student steps, on images whose
    distribution moves with the generator, leaves them far from the
    statistics of the final weights: measured on the zoo's MobileNet-like
    student after DAFL, 13 % real test accuracy in inference mode against
    44 % with batch statistics. At each epoch end (before later callbacks
    evaluate or save the student) this callback replaces every moving mean
    and variance of the student with their average over `batches` fresh
    synthetic batches, each normalised as in training:

    ```
    moving_mean = mean_k mean(x_k),  moving_variance = mean_k var(x_k)
    ```

    (the cumulative average of `torch.optim.swa_utils.update_bn`, data-free
    here: the images are the method's, from `distiller.generate`, made
    in training mode as the student's own batches are). The method's own
    BN statistics are left as they were. `fit` adds it by default; pass
    your own instance to change `batches`, or `batches=0` to keep the
    moving averages as training left them.

    Args:
        batches: int. Synthetic batches per calibration; `0` turns it
            off. Defaults to `8`.
        batch_size: int or `None`. Images per batch; `None` means the
            method's `batch_size`. Defaults to `None`.

    Example:

    ```python
    distiller.fit(steps=1000, steps_per_epoch=100, callbacks=[
        keras_dfkd.callbacks.StudentBatchNormCalibration(batches=16)])
    ```
    """

    def __init__(self, batches=8, batch_size=None):
        super().__init__()
        if not isinstance(batches, int) or batches < 0:
            raise ValueError(
                "`batches` must be an int >= 0 (0 turns the calibration "
                f"off); received {batches!r}."
            )
        if batch_size is not None and (
            not isinstance(batch_size, int) or batch_size < 2
        ):
            raise ValueError(
                "`batch_size` must be None or an int >= 2 (a variance "
                f"needs two images); received {batch_size!r}."
            )
        self.batches = batches
        self.batch_size = batch_size

    def on_epoch_end(self, epoch, logs=None):
        if self.batches:
            self.calibrate()

    def calibrate(self):
        """Re-estimates the statistics now; returns the layers updated."""
        distiller = self.model
        layers = batch_norm_layers(distiller.student)
        if not layers:
            return []
        method_statistics = [
            (variable, keras.ops.copy(variable.value))
            for layer in batch_norm_layers(distiller.method)
            for variable in (layer.moving_mean, layer.moving_variance)
        ]
        batch_size = self.batch_size or distiller.method.batch_size
        momenta = [layer.momentum for layer in layers]
        try:
            for k in range(1, self.batches + 1):
                # Momentum (k - 1) / k makes the moving average the plain
                # mean of the k batch statistics seen so far.
                for layer in layers:
                    layer.momentum = (k - 1.0) / k
                images = distiller.method.generate(batch_size, training=True)
                distiller.student(images, training=True)
        finally:
            for layer, momentum in zip(layers, momenta):
                layer.momentum = momentum
            for variable, value in method_statistics:
                variable.assign(value)
        return layers

    def get_config(self):
        return {"batches": self.batches, "batch_size": self.batch_size}
