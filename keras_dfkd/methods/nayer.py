"""NAYER: noisy-layer data generation (Tran et al., CVPR 2024)."""

from keras import ops

from keras_dfkd import objectives
from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.generators.nayer_generator import NAYERGenerator
from keras_dfkd.methods.pooled_synthesis import PooledSynthesis
from keras_dfkd.methods.pooled_synthesis import check_augmentation
from keras_dfkd.optimizers import generator_adam
from keras_dfkd.presets import PRESETS
from keras_dfkd.utils.text_encoding import check_label_source
from keras_dfkd.utils.text_encoding import label_embedding_table


@keras_dfkd_export("keras_dfkd.methods.NAYER")
class NAYER(PooledSynthesis):
    """NAYER: label-text embeddings through a noisy layer, and an image pool.

    The generator's input is the frozen text embedding of each class name
    (LTE) and its randomness a noisy layer redrawn from N(0, 1) for every
    synthesis batch (`keras_dfkd.generators.NAYERGenerator`). One round is
    one synthesis batch followed by the student's steps:

    ```
    redraw the noisy layer; zero the generator optimizer's slots
    every `generator_life` rounds: re-initialise the whole generator
    y = [0..K-1, 0..K-1, ...]                    # class-balanced, ordered
    repeat generator_steps:
        x = G(y);  t = T(norm(aug(x)));  s = S(norm(aug(x)))
        L = bn * L_bn(EMA momentum) + oh * CE(t, y)
            - adv * [round >= warmup] * masked_KL(t, s)
        keep x if L is the lowest loss of this batch;  Adam step on G
    pool.add(lowest-loss x);  fold the batch statistics into the EMA
    if round >= warmup_rounds, repeat student_steps:
        x ~ pool;  L_S = KL(softmax(T(x')/tau) || softmax(S(x')/tau)) tau^2
    ```

    with `x' = norm(aug(x))`: the round of
    `keras_dfkd.methods.PooledSynthesis`, whose pool
    (`keras_dfkd.replay.ImagePool`) is held in the model's variables.

    The defaults are NAYER's CIFAR-10 settings mapped to rounds (one round
    = one of NAYER's synthesis loops): 200 student steps per round are its
    400 per epoch of 2 loops, 200 warm-up rounds its 20 epochs of 10 loops,
    a new generator every 20 rounds its 10 epochs of 2 loops. For 28-32 px
    grey-scale images on a CPU, see the `"nayer_cpu"` and
    `"nayer_lenet_cpu"` presets (`keras_dfkd/presets.py`).

    Differences from the reference code, on purpose: each synthesis batch
    keeps its own lowest-loss images (the code carries its best loss over
    the loops of an epoch, so a later loop may store its first, untrained
    batch); the pool is bounded (the code writes every batch as PNG files
    and rebuilds a loader over all of them); see `Method` on weight decay.

    Args:
        class_names: list of str, one per teacher class in label order, or
            `None` when `label_embeddings` is given. Defaults to `None`.
        label_embeddings: `None` (encode the class names with
            `text_encoder`), an array `(num_classes, dim)` of embeddings,
            or `"one_hot"` (the ablation without text). Defaults to `None`.
        text_encoder: str. Encoder for the class-name prompts: a keras-hub
            preset name or directory, or `"all_minilm_l6_v2"` (offline).
            See `keras_dfkd.utils.encode_texts`. Defaults to
            `"all_minilm_l6_v2"`.
        prompt_template: str with one `{}`. Defaults to
            `"a photo of a {}"`.
        batch_size: int. Synthesis batch size, a multiple of the number of
            classes. Defaults to `400`.
        generator_steps: int. Generator steps per synthesis batch.
            Defaults to `30`.
        student_steps: int. Student steps per round. Defaults to `200`.
        student_batch_size: int. Defaults to `512`.
        warmup_rounds: int. Rounds without student steps and without the
            adversarial term. Defaults to `200`.
        generator_life: int or `None`. Re-initialise the generator every
            this many rounds (`None`: never). Defaults to `20`.
        noise_dim: int. Output size of the noisy layer. Defaults to `1000`.
        generator_width: int. Defaults to `64`.
        batch_norm_weight: float. Defaults to `10.0`.
        one_hot_weight: float. Defaults to `0.5`.
        adversarial_weight: float. Defaults to `1.33`.
        batch_norm_momentum: float. Defaults to `0.9`.
        temperature: float. Defaults to `20.0`.
        augmentation: `"auto"` (pad-and-crop by 1/8 of the size plus a
            horizontal flip, NAYER's CIFAR augmentation), `"crop"` (the
            pad-and-crop alone, for classes that mirroring changes, such
            as digits), `None`, or a layer. Applied to the generator's and
            the pool's images. Defaults to `"auto"`.
        pool_capacity: int. Images kept in the pool. Defaults to `50000`.
        pool_policy: `"ring"` or `"reservoir"`. Defaults to `"ring"`.
        pool_dtype: storage dtype of the pool (`"uint8"` like NAYER's
            PNGs, or a float dtype). Defaults to `"uint8"`.
        generator_learning_rate: float. Defaults to `4e-3`.
        student_optimizer, student_learning_rate, student_weight_decay,
            decay_rounds: see `Method` (NAYER's SGD rate is `0.2`).
            Default to `"auto"`, `None`, `1e-4` and `"fit"` (NAYER's cosine
            spans its run).
        min_student_learning_rate: float. Where the decay ends (at most
            the learning rate). Defaults to `2e-4`.
        seed: int or `None`. Defaults to `None`.
        **kwargs: standard layer arguments.

    Example:

    ```python
    method = keras_dfkd.methods.NAYER.from_preset(
        "nayer_lenet_cpu",
        class_names=keras_dfkd.datasets.get_info("mnist").class_names)
    distiller = keras_dfkd.DataFreeDistiller(
        teacher, student, method, input_range=((0.1307,), (0.3081,)))
    distiller.compile()
    distiller.fit(steps=200)
    ```

    Reference:
        - [Tran et al., NAYER, CVPR 2024](https://arxiv.org/abs/2310.00258)
    """

    presets = PRESETS["NAYER"]
    synthesis_logs = (*objectives.BATCH_NORM_LOGS, "adversarial")

    paper_student_learning_rate = 0.2

    def __init__(
        self,
        class_names=None,
        label_embeddings=None,
        text_encoder="all_minilm_l6_v2",
        prompt_template="a photo of a {}",
        batch_size=400,
        generator_steps=30,
        student_steps=200,
        student_batch_size=512,
        warmup_rounds=200,
        generator_life=20,
        noise_dim=1000,
        generator_width=64,
        batch_norm_weight=10.0,
        one_hot_weight=0.5,
        adversarial_weight=1.33,
        batch_norm_momentum=0.9,
        temperature=20.0,
        augmentation="auto",
        pool_capacity=50000,
        pool_policy="ring",
        pool_dtype="uint8",
        generator_learning_rate=4e-3,
        student_optimizer="auto",
        student_learning_rate=None,
        student_weight_decay=1e-4,
        decay_rounds="fit",
        min_student_learning_rate=2e-4,
        seed=None,
        **kwargs,
    ):
        super().__init__(batch_size=batch_size, seed=seed, **kwargs)
        class_names, label_embeddings = check_label_source(
            class_names, label_embeddings
        )
        augmentation = check_augmentation(augmentation)
        self.store_arguments(
            locals(),
            positive=(
                "generator_steps",
                "student_steps",
                "student_batch_size",
                "generator_life",
                "decay_rounds",
            ),
            non_negative=("warmup_rounds",),
            optional=("generator_life",),
        )

    # Synthesiser.

    def build_synthesizer(self, teacher, student):
        table = self._embedding_table()
        self.generator = NAYERGenerator(
            self.image_shape,
            num_classes=self.num_classes,
            embedding_dim=table.shape[1],
            batch_size=self.batch_size,
            embeddings=table,
            noise_dim=self.noise_dim,
            width=self.generator_width,
            name="generator",
        )
        self.generator.build()
        self.build_pool()

    def _embedding_table(self):
        table = label_embedding_table(
            self.num_classes,
            self.class_names,
            self.label_embeddings,
            self.text_encoder,
            self.prompt_template,
        )
        if self.label_embeddings is None:
            # Kept so that get_config (and .keras files) need no encoder.
            self.label_embeddings = table
        return table

    def default_optimizers(self):
        return {
            "generator": generator_adam(self.generator_learning_rate),
            "student": self.default_student_optimizer(),
        }

    def new_batch(self):
        if self.generator_life is not None:
            self.generator.recreate(
                self.seed_generator,
                ops.equal(ops.mod(self.rounds, self.generator_life), 0),
            )
        self.generator.reinitialize_noise(self.seed_generator)

    # Losses.

    def synthesis_loss(self, student):
        labels = self.generator.ordered_labels()
        images = self.generator(labels, training=True)
        loss, logs = self.teacher_objective(
            self.to_input_range(self.augment(images)),
            labels,
            student,
            adversarial_scale=ops.cast(self.warm(), "float32"),
        )
        return images, loss, logs

    def current_images(self, training=False):
        labels = self.generator.ordered_labels()
        return self.generator(labels, training=training)
