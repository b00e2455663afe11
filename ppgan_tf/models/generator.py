"""The PP-GAN generator G: a pix2pix U-Net whose middle dropout is the noise z."""

import math
import weakref

import keras
import numpy as np
import tensorflow as tf

from ppgan_tf.data.pipeline import to_model_range, to_uint8
from ppgan_tf.seeds import noise_of_seeds


@keras.saving.register_keras_serializable(package="ppgan_tf")
class NoiseDropout(keras.layers.Layer):
    """Dropout that stays on at inference: the generator's noise z.

    The mask keeps a unit where `uniform >= rate`, `uniform` being values in
    [0, 1) of the input's shape. Given explicitly, they make the output
    reproducible and portable (exported models take them as an input);
    without them the layer draws its own from its seed generator.

    Args:
        rate: float, fraction of units dropped.
        seed: int or None, seed of the layer's own draws.
        **kwargs: standard `keras.layers.Layer` arguments, e.g. `dtype`.

    Example:
    >>> layer = NoiseDropout(rate=0.5)
    >>> y = layer(tf.ones([2, 4, 4, 8]), uniform=tf.random.uniform([2, 4, 4, 8]))
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, uniform=None):
        if uniform is None:
            uniform = keras.random.uniform(tf.shape(inputs), seed=self.seed_generator)
        keep = tf.cast(uniform >= self.rate, inputs.dtype)
        return inputs * keep * tf.cast(1.0 / (1.0 - self.rate), inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config


# One traced inference function per generator, kept off the model so that
# saving and exporting it never see the function.
_COMPILED = weakref.WeakKeyDictionary()


def _compiled_deidentify(generator):
    """uint8 faces, noise -> uint8 faces through `generator`, traced once (eager calls cost 3x)."""
    if generator not in _COMPILED:
        size, channels = generator.image_size, generator.channels
        _COMPILED[generator] = tf.function(
            lambda faces, noise: to_uint8(generator(to_model_range(faces), training=False, noise=noise)),
            input_signature=[tf.TensorSpec([None, size, size, channels], tf.uint8),
                             tf.TensorSpec([None, generator.noise_size], tf.float32)],
            autograph=False,
        )
    return _COMPILED[generator]


@keras.saving.register_keras_serializable(package="ppgan_tf")
class NearestUpsampling(keras.layers.Layer):
    """Doubles height and width, each pixel copied into a 2x2 block (as `UpSampling2D` nearest).

    Written as depth-to-space so that TFLite's XNNPACK delegate takes the
    whole generator: `UpSampling2D` lowers to reshapes and tiles, and a
    nearest resize to an op it does not take either (15 and 8 parts).

    Args:
        **kwargs: standard `keras.layers.Layer` arguments, e.g. `dtype`.

    Example:
    >>> NearestUpsampling()(tf.ones([1, 4, 4, 8])).shape
    TensorShape([1, 8, 8, 8])
    """

    def call(self, inputs):
        # Four copies of the channels rearranged into 2x2 blocks: the copy in every block.
        return tf.nn.depth_to_space(tf.concat([inputs] * 4, axis=-1), 2)

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        return (batch, 2 * height, 2 * width, channels)


@keras.saving.register_keras_serializable(package="ppgan_tf")
class UNetGenerator(keras.Model):
    """Pix2pix U-Net mapping a face to a de-identified face of the same size.

    Stride-2 convolutions halve the image down to a 1x1 embedding of
    `max_filters` channels; a mirrored decoder with skip connections brings
    it back. The two innermost decoder blocks end in `NoiseDropout`, active
    at inference too: it is the only source of randomness (the noise z).

    Args:
        image_size: int, side of the square input; a power of two (128 in
            the paper). The encoder has `log2(image_size)` blocks.
        channels: int, 1 (grey, as in the paper) or 3 (colour).
        base_filters: int, filters of the first encoder block; doubled per
            block up to `max_filters`.
        max_filters: int, cap on filters, and so the embedding width.
        dropout_rate: float, rate of the noise dropout layers.
        noise_layers: int, how many innermost decoder blocks carry noise.
        upsampling: `"transpose"` (pix2pix's transposed convolutions) or
            `"resize"` (nearest-neighbour resize then convolution, which
            avoids checkerboard artefacts).
        dtype: string or `keras.DTypePolicy`, passed to every sub-layer. The
            output layer always computes in float32.
        **kwargs: standard `keras.Model` arguments, e.g. `name`.

    Example:
    >>> generator = UNetGenerator(image_size=128, channels=1)
    >>> faces = tf.random.uniform([2, 128, 128, 1], -1.0, 1.0)
    >>> fakes = generator(faces, noise_seeds=tf.constant([7, 8]))  # or noise=[2, noise_size]
    >>> fakes.shape
    TensorShape([2, 128, 128, 1])
    """

    def __init__(
        self,
        image_size=128,
        channels=1,
        base_filters=32,
        max_filters=256,
        dropout_rate=0.5,
        noise_layers=2,
        upsampling="transpose",
        dtype=None,
        **kwargs,
    ):
        depth = int(round(math.log2(image_size)))
        if 2**depth != image_size or depth < 3:
            raise ValueError(f"image_size must be a power of two >= 8, got {image_size}")
        if upsampling not in ("transpose", "resize"):
            raise ValueError(f"upsampling must be 'transpose' or 'resize', got {upsampling!r}")
        if not 0 <= noise_layers <= depth - 1:
            raise ValueError(f"noise_layers must be in [0, {depth - 1}], got {noise_layers}")
        super().__init__(dtype=dtype, **kwargs)

        # === Config ===
        self.image_size = image_size
        self.channels = channels
        self.base_filters = base_filters
        self.max_filters = max_filters
        self.dropout_rate = dropout_rate
        self.noise_layers = noise_layers
        self.upsampling = upsampling
        filters = [min(base_filters * 2**i, max_filters) for i in range(depth)]

        # === Layers ===
        init = keras.initializers.RandomNormal(stddev=0.02)
        self.encoder_blocks = []
        for i, f in enumerate(filters):
            # No norm on the first block (pix2pix) nor on the 1x1 embedding,
            # where batch statistics of a single pixel are meaningless.
            normalize = 0 < i < depth - 1
            self.encoder_blocks.append(
                self._block(f, "down", normalize, init, dtype, f"encoder_{i}")
            )
        self.decoder_blocks = [
            self._block(f, "up", True, init, dtype, f"decoder_{j}")
            for j, f in enumerate(reversed(filters[:-1]))
        ]
        self.noise_dropouts = [
            NoiseDropout(dropout_rate, dtype=dtype, name=f"noise_{j}") for j in range(noise_layers)
        ]
        # Decoder block j outputs 2^(j+1) pixels a side with the filters of
        # the encoder block it mirrors.
        self.noise_shapes = [
            (2 ** (j + 1), 2 ** (j + 1), filters[depth - 2 - j]) for j in range(noise_layers)
        ]
        self.noise_size = sum(h * w * c for h, w, c in self.noise_shapes)
        self.concat = keras.layers.Concatenate(dtype=dtype)
        self.output_conv = self._upsample(channels, init, dtype, "output_conv", use_bias=True)
        self.output_activation = keras.layers.Activation(
            "tanh", dtype="float32", name="output_tanh"
        )

    def _upsample(self, filters, init, dtype, name, use_bias=False):
        if self.upsampling == "transpose":
            return keras.layers.Conv2DTranspose(
                filters, 4, strides=2, padding="same", use_bias=use_bias,
                kernel_initializer=init, dtype=dtype, name=name,
            )
        return keras.Sequential(
            [
                NearestUpsampling(dtype=dtype),
                keras.layers.Conv2D(
                    filters, 3, padding="same", use_bias=use_bias,
                    kernel_initializer=init, dtype=dtype,
                ),
            ],
            name=name,
        )

    def _block(self, filters, direction, normalize, init, dtype, name):
        if direction == "down":
            layers = [
                keras.layers.Conv2D(
                    filters, 4, strides=2, padding="same", use_bias=not normalize,
                    kernel_initializer=init, dtype=dtype,
                )
            ]
        else:
            layers = [self._upsample(filters, init, dtype, f"{name}_up")]
        if normalize:
            # Synchronized: a replica's statistics are those of the global batch,
            # so distributed training matches one-device training.
            layers.append(keras.layers.BatchNormalization(synchronized=True, dtype=dtype))
        if direction == "down":
            layers.append(keras.layers.LeakyReLU(0.2, dtype=dtype))
        else:
            layers.append(keras.layers.ReLU(dtype=dtype))
        return keras.Sequential(layers, name=name)

    def noise_from_seeds(self, noise_seeds):
        """The noise of each seed: float32 `[batch, noise_size]` in [0, 1).

        A stateless function of the seed alone, so a seed gives the same
        face on any device, in any batch, on any replica.
        """
        return noise_of_seeds(noise_seeds, self.noise_size)

    def deidentify(self, faces_uint8, noise_seeds=None, noise=None, batch_size=32):
        """uint8 faces -> de-identified uint8 faces (numpy), in batches, the noise from seeds or given.

        Every path that turns faces and seeds into new faces with a Keras
        generator (training's samples and metrics, the Keras backend, the
        exports' references, packaging) goes through this.

        Example:
        >>> fakes = generator.deidentify(faces_uint8, noise_seeds=np.arange(len(faces_uint8)))
        """
        if noise is None:
            noise = self.noise_from_seeds(noise_seeds)
        noise = tf.cast(noise, tf.float32)
        compiled = _compiled_deidentify(self)
        return np.concatenate([compiled(faces_uint8[i:i + batch_size], noise[i:i + batch_size]).numpy()
                               for i in range(0, len(faces_uint8), batch_size)])

    def call(self, inputs, training=None, noise_seeds=None, noise=None):
        """De-identifies `inputs` in [-1, 1].

        The noise comes from `noise` (float `[batch, noise_size]` in [0, 1)),
        else from `noise_seeds` (int `[batch]`), else is drawn at random.
        """
        if noise is None and noise_seeds is not None:
            noise = self.noise_from_seeds(noise_seeds)
        uniforms = [None] * len(self.noise_dropouts)
        if noise is not None:
            sizes = [h * w * c for h, w, c in self.noise_shapes]
            uniforms = [
                tf.reshape(chunk, [-1, *shape])
                for chunk, shape in zip(tf.split(tf.cast(noise, tf.float32), sizes, axis=1), self.noise_shapes)
            ]
        x = inputs
        skips = []
        for block in self.encoder_blocks:
            x = block(x, training=training)
            skips.append(x)
        for j, (block, skip) in enumerate(zip(self.decoder_blocks, reversed(skips[:-1]))):
            x = block(x, training=training)
            if j < len(self.noise_dropouts):
                x = self.noise_dropouts[j](x, uniform=uniforms[j])
            x = self.concat([x, skip])
        return self.output_activation(self.output_conv(x))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_size": self.image_size,
                "channels": self.channels,
                "base_filters": self.base_filters,
                "max_filters": self.max_filters,
                "dropout_rate": self.dropout_rate,
                "noise_layers": self.noise_layers,
                "upsampling": self.upsampling,
            }
        )
        return config
