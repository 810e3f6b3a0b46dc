"""CMI: contrastive model inversion (Fang et al., 2021)."""

import keras
from keras import ops

from keras_dfkd import objectives
from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.backend import keras_shims
from keras_dfkd.generators.generator import Generator
from keras_dfkd.layers.best_batch import BestBatch
from keras_dfkd.layers.differentiable_resized_crop import (
    DifferentiableResizedCrop,
)
from keras_dfkd.layers.feature_bank import FeatureBank
from keras_dfkd.methods.pooled_synthesis import PooledSynthesis
from keras_dfkd.methods.pooled_synthesis import check_augmentation
from keras_dfkd.optimizers import generator_adam
from keras_dfkd.presets import PRESETS
from keras_dfkd.utils.arguments import derived_seed

#: A logit no softmax can pick: a negative the bank does not hold yet.
_MISSING_LOGIT = -1e9


def instance_means(features):
    """Per-image channel means of each BN input, concatenated: `(N, D)`."""
    means = []
    for x in features:
        x = ops.cast(x, "float32")
        axes = tuple(range(1, len(x.shape) - 1))
        means.append(ops.mean(x, axis=axes) if axes else x)
    return ops.concatenate(means, axis=-1)


def contrastive_objective(
    local, global_, bank_local, bank_global, valid, head, temperature
):
    """CMI's instance discrimination between two views, with bank negatives.

    Formula (`f`: a view's features, `h`: the L2-normalised head):

    ```
    q = h([f_local; bank_local]);  k = stop_gradient(h([f_global; bank_global]))
    logits = q k^T / temperature             # row i's positive: column i
    L = mean_{i new} CE_i + [bank non-empty] mean_{i cached} CE_i
    ```

    Cached rows the bank does not hold yet (`valid` false) are left out,
    as rows and as columns.

    Args:
        local, global_: `(N, D)` features of the batch's two views.
        bank_local, bank_global: `(k, D)` features from the bank.
        valid: bool `(k,)`, which bank rows exist.
        head: the projection head, `(M, D) -> (M, d)`, L2-normalised.
        temperature: float.

    Returns:
        A scalar.
    """
    count = local.shape[0]
    # Rows the bank does not hold are left out below; until then they
    # carry ones, not zeros, whose normalisation has no gradient.
    held_rows = valid[:, None]
    bank_local = ops.where(held_rows, bank_local, ops.ones_like(bank_local))
    bank_global = ops.where(held_rows, bank_global, ops.ones_like(bank_global))
    projected = head(
        ops.concatenate([local, bank_local, global_, bank_global], axis=0)
    )
    queries, keys = ops.split(projected, 2, axis=0)
    logits = ops.matmul(queries, ops.transpose(ops.stop_gradient(keys)))
    logits = logits / temperature
    columns = ops.concatenate([ops.ones((count,), "bool"), valid], axis=0)
    logits = ops.where(columns[None, :], logits, _MISSING_LOGIT)
    per_row = keras.losses.sparse_categorical_crossentropy(
        ops.arange(logits.shape[0]), logits, from_logits=True
    )
    new = ops.mean(per_row[:count])
    held = ops.sum(ops.cast(valid, "float32"))
    cached_sum = ops.sum(ops.where(valid, per_row[count:], 0.0))
    cached_mean = cached_sum / ops.maximum(held, 1.0)
    return new + ops.where(held > 0, cached_mean, 0.0)


@keras_dfkd_export("keras_dfkd.methods.CMI")
class CMI(PooledSynthesis):
    """CMI: a generator per batch, pushed to make images unlike past ones.

    Each round re-initialises a generator and its input noise, trains both
    for `generator_steps` steps on the BN-statistics objective plus a
    contrastive term that tells this batch's images apart from each other
    and from past batches (kept as features in a
    `keras_dfkd.layers.FeatureBank`), and pools the lowest-loss images:

    ```
    G <- N(0, 0.02) weights;  z ~ N(0, I);  y ~ U{0..K-1}, sorted
    repeat generator_steps:
        x = G(z);  g = norm(crop_flip(x));  l = norm(resized_crop_flip(x))
        t = T(g);  f_g, f_l = instance means of T's BN inputs on g and l
        L = bn * L_bn + oh * CE(t, y) - adv * masked_KL(t, S(g))
            + cr * contrastive(f_l, f_g; bank negatives; head, cr_T)
        keep x and [f_l, f_g] if L is the lowest loss of the batch
        Adam step on G and z (fresh slots), and on the head (kept)
    pool.add(lowest-loss x);  bank.add(its [f_l, f_g])
    student_steps KD steps on the pool
    ```

    (the round of `keras_dfkd.methods.PooledSynthesis`; see
    `contrastive_objective`). The head is an MLP `D -> D -> head_dim`
    with an L2-normalised output, trained throughout by its own Adam.

    The defaults are CMI's CIFAR-10 script (`scripts/cmi_cifar.sh`: 200
    steps at 1e-3, BN 1, CE 1, adversarial 0.5, contrastive 0.8 at
    temperature 0.2, a bank of 40,960 with 4,096 negatives, a head of 256)
    with the CIFAR harness's student (400 KD steps of 256 at temperature
    20, SGD 0.1). Differences from the code: the negatives are drawn
    inside the compiled step as a fixed-size sample with a mask (the same
    distinct rows, without replacement); a resized crop larger than the
    image is clipped, not redrawn.

    Args:
        batch_size: int. Defaults to `256`.
        generator_steps: int. Defaults to `200`.
        latent_dim: int. Defaults to `256`.
        generator_width: int. Defaults to `64`.
        generator_learning_rate: float. Adam's rate on G, z and the head.
            Defaults to `1e-3`.
        batch_norm_weight: float. Defaults to `1.0`.
        one_hot_weight: float. Defaults to `1.0`.
        adversarial_weight: float. Defaults to `0.5`.
        contrastive_weight: float. `cr`. Defaults to `0.8`.
        contrastive_temperature: float. `cr_T`. Defaults to `0.2`.
        bank_size: int. Feature rows kept. Defaults to `40960`.
        negatives: int. Bank rows drawn per step. Defaults to `4096`.
        head_dim: int. Defaults to `256`.
        student_steps: int. Defaults to `400`.
        student_batch_size: int. Defaults to `256`.
        warmup_rounds: int. Defaults to `0`.
        temperature: float. Defaults to `20.0`.
        augmentation, pool_capacity, pool_policy, pool_dtype: see `NAYER`
            (`"crop"` also drops the flip from the local view).
        batch_norm_momentum: float. Defaults to `0.0`.
        student_optimizer, student_learning_rate, student_weight_decay,
            decay_rounds, min_student_learning_rate: see `NAYER`.
        seed: int or `None`. Defaults to `None`.
        **kwargs: standard layer arguments.

    Example:

    ```python
    method = keras_dfkd.methods.CMI.from_preset("cmi_cpu", seed=0)
    distiller = keras_dfkd.DataFreeDistiller(teacher, student, method)
    distiller.compile()
    distiller.fit(steps=50)
    ```

    Reference:
        - [Fang et al., 2021. Contrastive Model Inversion for Data-Free
          Knowledge Distillation](https://arxiv.org/abs/2105.08584)
    """

    presets = PRESETS["CMI"]
    fresh_groups = ("generator",)

    @property
    def synthesis_groups(self):
        # Without the contrastive term nothing trains the head.
        return (
            ("generator", "head") if self.contrastive_weight else ("generator",)
        )

    @property
    def synthesis_logs(self):
        contrastive = ("contrastive",) if self.contrastive_weight else ()
        return (*objectives.BATCH_NORM_LOGS, "adversarial", *contrastive)

    def __init__(
        self,
        batch_size=256,
        generator_steps=200,
        latent_dim=256,
        generator_width=64,
        generator_learning_rate=1e-3,
        batch_norm_weight=1.0,
        one_hot_weight=1.0,
        adversarial_weight=0.5,
        contrastive_weight=0.8,
        contrastive_temperature=0.2,
        bank_size=40960,
        negatives=4096,
        head_dim=256,
        student_steps=400,
        student_batch_size=256,
        warmup_rounds=0,
        temperature=20.0,
        augmentation="auto",
        pool_capacity=50000,
        pool_policy="ring",
        pool_dtype="uint8",
        batch_norm_momentum=0.0,
        student_optimizer="auto",
        student_learning_rate=None,
        student_weight_decay=1e-4,
        decay_rounds="fit",
        min_student_learning_rate=2e-4,
        seed=None,
        **kwargs,
    ):
        super().__init__(batch_size=batch_size, seed=seed, **kwargs)
        augmentation = check_augmentation(augmentation)
        if isinstance(negatives, int) and isinstance(bank_size, int):
            if negatives > bank_size:
                raise ValueError(
                    f"`negatives` ({negatives}) must be at most `bank_size` "
                    f"({bank_size}): they are distinct rows of the bank."
                )
        self.store_arguments(
            locals(),
            positive=(
                "generator_steps",
                "latent_dim",
                "generator_width",
                "bank_size",
                "negatives",
                "head_dim",
                "student_steps",
                "student_batch_size",
                "decay_rounds",
            ),
            non_negative=("warmup_rounds",),
        )

    def build_synthesizer(self, teacher, student):
        self.generator = Generator(
            self.image_shape,
            latent_dim=self.latent_dim,
            width=self.generator_width,
            output_activation="sigmoid",
            conv_bias=False,
            name="generator",
        )
        self.generator.build()
        self.latent = self.add_weight(
            shape=(self.batch_size, self.latent_dim),
            initializer="zeros",
            name="latent",
        )
        self.labels = self.add_weight(
            shape=(self.batch_size,),
            dtype="int32",
            initializer="zeros",
            trainable=False,
            name="labels",
        )
        self.build_pool()
        self.local_view = DifferentiableResizedCrop(
            flip=self.augmentation == "auto",
            seed=derived_seed(self.seed, 3),
            name="local_view",
        )
        self.local_view.build((None,) + self.image_shape)
        dim = sum(shape[-1] for shape in teacher.batch_norm_input_shapes)
        self.head = keras.Sequential(
            [
                keras.layers.Dense(dim, activation="relu"),
                keras.layers.Dense(self.head_dim),
                keras.layers.UnitNormalization(),
            ],
            name="head",
        )
        self.head.build((None, dim))
        self.bank = FeatureBank(
            self.bank_size,
            2 * dim,
            seed=derived_seed(self.seed, 4),
            name="bank",
        )
        self.bank.build()
        self.best_features = BestBatch(
            (2 * dim,), self.batch_size, name="best_features"
        )
        self.best_features.build()

    def trainable_groups(self, student):
        groups = super().trainable_groups(student)
        groups["generator"] = [*groups["generator"], self.latent]
        groups["head"] = self.head.trainable_variables
        return groups

    def default_optimizers(self):
        return {
            "generator": generator_adam(self.generator_learning_rate),
            "head": keras.optimizers.Adam(self.generator_learning_rate),
            "student": self.default_student_optimizer(),
        }

    def new_batch(self):
        _reinitialize(self.generator, self.seed_generator)
        self.latent.assign(
            keras.random.normal(self.latent.shape, seed=self.seed_generator)
        )
        labels = keras.random.randint(
            self.labels.shape,
            0,
            self.num_classes,
            seed=self.seed_generator,
            dtype="int32",
        )
        self.labels.assign(ops.sort(labels))
        self.best_features.reset()

    def synthesis_loss(self, student):
        images = self.generator(self.latent.value, training=True)
        global_view = self.to_input_range(self.augment(images))
        local_view = self.to_input_range(self.local_view(images, training=True))
        teacher_out = self.teacher(global_view)
        loss, logs = self.teacher_objective(
            global_view, self.labels.value, student, teacher_out=teacher_out
        )
        global_features = instance_means(teacher_out["batch_norm_inputs"])
        local_features = instance_means(
            self.teacher(local_view)["batch_norm_inputs"]
        )
        if self.contrastive_weight:
            cached, valid = self.bank.sample(self.negatives)
            cached_local, cached_global = ops.split(cached, 2, axis=1)
            contrastive = contrastive_objective(
                local_features,
                global_features,
                cached_local,
                cached_global,
                valid,
                self.head,
                self.contrastive_temperature,
            )
            loss = loss + self.contrastive_weight * contrastive
            logs.update(contrastive=contrastive, generator_loss=loss)
        self.best_features.update(
            ops.concatenate([local_features, global_features], axis=-1), loss
        )
        return images, loss, logs

    def end_batch(self):
        self.bank.add(self.best_features.images.value)

    def current_images(self, training=False):
        return self.generator(self.latent.value, training=training)


def _reinitialize(generator, seed):
    """CMI's `reset_model`: weights N(0, 0.02), BN scales N(1, 0.02), 0 bias."""
    for layer in keras_shims.flatten_layers(generator):
        if isinstance(layer, keras.layers.BatchNormalization):
            if layer.gamma is not None:
                layer.gamma.assign(
                    keras.random.normal(layer.gamma.shape, 1.0, 0.02, seed=seed)
                )
            if layer.beta is not None:
                layer.beta.assign(ops.zeros(layer.beta.shape))
        elif isinstance(layer, (keras.layers.Dense, keras.layers.Conv2D)):
            layer.kernel.assign(
                keras.random.normal(layer.kernel.shape, 0.0, 0.02, seed=seed)
            )
            if layer.bias is not None:
                layer.bias.assign(ops.zeros(layer.bias.shape))
